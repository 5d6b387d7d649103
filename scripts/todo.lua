-- todo.lua: checks, under the state lock, that the TODO.md front matter's
-- next_project_number: agrees with the state's counter, and sets it to the
-- state's counter when it does not (the state is the record of truth).
-- The answer: {"status":"success","in_step":..,"state_next":..,
-- "todo_next":..,"todo_path":..,"repaired":..,"advice":..}
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "put TODO.md's next_project_number: in step with the state",
  options = {
    { "--check", "flag", false, "only report: exit 1 when TODO.md is not in step" },
    { "--todo", "string", "PATH", "the TODO.md (default: beside the state)", complete = "file" },
    cli.option "--state",
    cli.option "--timeout",
  },
  text = [[
Under the state lock, compares the next_project_number: line of TODO.md's front matter with the state's counter and, unless --check, sets it to the counter (the state is the record of truth).]],
  exits = { { 0, "in step, or put in step" }, { 1, "with --check: TODO.md is not in step" },
    "INVALID_ARGUMENT", "STATE_CORRUPT", "STATE_NOT_FOUND", "SCRIPT_ERROR", "SYSTEM_ERROR",
    "LOCK_TIMEOUT", "UNTRUSTED", "INTERRUPTED" },
}
local tasknum = require "tasknum"
local todo = require "tasknum.todo"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

local result = tasknum.transaction({ state = opts.state, timeout = opts.timeout,
  purpose = opts.check and "todo --check" or "todo", todo = false }, function(txn)
  local path = opts.todo or todo.path(txn.path)
  local report = todo.check(txn.counter, path)
  if not report then
    txn:fail("INVALID_ARGUMENT", "no next_project_number: line in the front matter of " .. path)
  end
  report.repaired = false
  if not opts.check and not report.in_step then
    todo.stage(txn, path)
    report.repaired = true
  end
  return report
end)
local code = cli.emit(result)
if code == 0 and opts.check and not result.in_step then return 1 end
return code
