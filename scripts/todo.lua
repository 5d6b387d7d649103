-- todo.lua: TODO.md's front matter `next_project_number:` against the
-- state's counter. --check only reads (no lock, no audit line, nothing
-- written) and fails with TODO_BEHIND or TODO_AHEAD when the two differ;
-- without it, under the state lock, the line is set to the state's counter
-- (the state is the record of truth).
-- The answer: {"status":"success","in_step":..,"state_next":..,
-- "todo_next":..,"todo_path":..,"repaired":..}
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "put TODO.md's next_project_number: in step with the state",
  options = {
    { "--check", "flag", false, "only read and report: TODO_BEHIND or TODO_AHEAD (exit 1) when not in step" },
    { "--todo", "string", "PATH", "the TODO.md (default: beside the state)", complete = "file" },
    cli.option "--state",
    { "--timeout", "seconds", "S", "how long to wait for the lock (default 30; not used by --check)" },
    { "--format", "string", "F", "json (default; text at a terminal) or text", complete = "format" },
  },
  text = [[
Compares the next_project_number: line of TODO.md's front matter with the state's counter and, unless --check, sets it to the counter under the state lock (the state is the record of truth; the step is audited).

--check takes no lock and writes nothing, not even an audit line: in step it succeeds (exit 0); otherwise the answer is an error, TODO_BEHIND or TODO_AHEAD (exit 1), with todo_next, state_next and todo_path, and the stderr line says what to run. TODO.md ahead of the state is what a crash between a step's two writes leaves (no number of that step was handed out).]],
  exits = { { 0, "in step, or put in step" }, "TODO_BEHIND", "TODO_AHEAD",
    "INVALID_ARGUMENT", "STATE_CORRUPT", "STATE_NOT_FOUND", "SCRIPT_ERROR", "SYSTEM_ERROR",
    "LOCK_TIMEOUT", "UNTRUSTED", "INTERRUPTED" },
}
local tasknum = require "tasknum"
local answer = require "tasknum.answer"
local errors = require "tasknum.errors"
local state = require "tasknum.state"
local todo = require "tasknum.todo"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

local function no_line(path)
  return "no next_project_number: line in the front matter of " .. path
end

-- --check: read the two files, change nothing.
local function check()
  local path, real = state.find(opts.state)
  if not path then return answer.failure(real) end
  local fmt = cli.formatter(cli.format_of(opts), path)
  local text, rerr = state.read(path)
  if not text then return answer.failure(rerr, { state_path = path }), fmt end
  local info, perr = state.parse(text)
  if not info then return answer.failure(perr, { state_path = path }), fmt end
  local todo_path = opts.todo or todo.path(path)
  local ok, report = pcall(todo.check, info.next, todo_path)
  if not ok then return answer.failure(report, { state_path = path }), fmt end
  if not report then
    return answer.failure(errors.new("INVALID_ARGUMENT", no_line(todo_path)), { state_path = path }), fmt
  end
  report.state_path, report.repaired = path, false
  if report.in_step then return answer.success(report), fmt end
  local code = report.ahead and "TODO_AHEAD" or "TODO_BEHIND"
  local err = errors.new(code, string.format("%s: next_project_number: %s is %s the state's %d", todo_path,
    report.todo_next, code == "TODO_AHEAD" and "ahead of" or "behind", report.state_next), report.advice,
    nil, { todo_path = todo_path, todo_next = report.todo_next, state_next = report.state_next })
  report.advice, report.ahead = nil, nil
  return answer.failure(err, report), fmt
end

if opts.check then
  local r, fmt = check()
  return cli.emit(r, fmt and answer.render(r, fmt, opts.format))
end

local format = cli.format_of(opts)
local result, text = tasknum.transaction({ state = opts.state, timeout = opts.timeout, purpose = "todo",
  todo = false, format = format }, function(txn)
  local path = opts.todo or todo.path(txn.path)
  local report = todo.check(txn.counter, path)
  if not report then txn:fail("INVALID_ARGUMENT", no_line(path)) end
  report.repaired, report.ahead = false, nil
  if not report.in_step then
    todo.stage(txn, path)
    report.repaired = true
  end
  return report
end)
return cli.emit(result, text)
