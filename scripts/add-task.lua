-- add-task.lua: the whole /task step of an agent command in one locked,
-- durable write (tasknum.add_task, which the MCP server's add_task tool
-- calls too).
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "allocate a number and add the task to active_projects, one write",
  forms = { "--name SLUG [OPTIONS]" },
  options = cli.allocating {
    { "--name", "string", "SLUG", "the task's project_name (letters, digits, _ and -)" },
    { "--description", "string", "TEXT", "the task's description" },
    { "--description-file", "string", "FILE|-", "the description read from FILE, or stdin for - "
      .. "(a quoted heredoc: no shell quoting)", key = "description", read = true, complete = "file" },
    { "--title", "string", "TEXT", "the title in the answer's todo_heading (default: the slug made words)" },
    { "--field", "list", "K=TEXT|K:=JSON", "one more member of the entry, text or JSON (repeatable)",
      key = "fields" },
    { "--if-absent", "flag", false, "answer an active task already named SLUG instead of adding it twice" },
    { "--no-bookkeeping", "flag", false, "leave last_updated, metadata.total_tasks and task_counts alone" },
  },
  text = [[
Takes the next number with the team's conflict policy and inserts the new entry at the front of active_projects, indented like its neighbours; nothing else in the state changes. The entry: project_number, project_name, status "not_started", created (UTC, seconds), description, then the fields in the order given; --field status=planned or created=... replaces those defaults.

With --if-absent an entry of active_projects already named SLUG is answered with its number and "existing": true, and nothing is written: safe to retry after a lost answer. The TODO.md beside the state, if its front matter has next_project_number:, follows the counter.

In the same write, the team's bookkeeping policy keeps in step the members real /task commands maintain, when the state has them: last_updated and _last_updated (the created time), metadata.total_tasks and task_counts (total, active and the new task's status, + 1 each); the entry gets last_updated when its neighbour has one. The answer's bookkeeping lists what changed; --no-bookkeeping leaves them.

The answer gives the task's title and todo_heading, the TODO.md heading line ("### 82. Fix parser"). Text arguments (--description-file, --purpose-file) can come from a file or from stdin, so that an agent's text needs no shell quoting:

  tasknum add-task --if-absent --name fix_parser --description-file - <<'TASKNUM_TEXT'
  any text: `backticks`, $HOME, "quotes", 'quotes', several lines
  TASKNUM_TEXT

One final newline (the heredoc's) is dropped.]],
}
local tasknum = require "tasknum"
local edit = require "tasknum.edit"

local function bad(message) tasknum.errors.raise("INVALID_ARGUMENT", message) end

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then bad("unexpected argument " .. rest[1]) end
if not opts.name then bad("add-task needs --name SLUG") end

-- --field KEY=TEXT is a string, KEY:=JSON any JSON value written as given.
local fields = {}
for i, spec in ipairs(opts.fields or {}) do
  local key, op, value = spec:match("^([^=:]+)(:?=)(.*)$")
  if not key then bad("--field takes KEY=TEXT or KEY:=JSON, got " .. spec) end
  if op == ":=" then
    local ok, raw = pcall(edit.raw, value)
    if not ok then bad("--field " .. key .. ":= takes one JSON value, got " .. value) end
    value = raw
  end
  fields[i] = { key, value }
end
opts.fields = fields
if opts.no_bookkeeping then opts.bookkeeping, opts.no_bookkeeping = false, nil end
-- The format is a policy like the others: found before the lock (an unknown
-- one writes nothing), rendered under it before the write (one that raises
-- writes nothing).
return cli.emit(tasknum.add_task(cli.step(opts)))
