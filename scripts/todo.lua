-- todo.lua: checks, under the state lock, that the TODO.md front matter's
-- next_project_number: agrees with the state's counter, and sets it to the
-- state's counter when it does not (the state is the record of truth).
--   tasknum todo [--check] [--todo PATH] [--state PATH] [--timeout S]
-- --check only reports: exit 0 when in step, 1 when not. The answer:
-- {"status":"success","in_step":..,"state_next":..,"todo_next":..,
--  "todo_path":..,"repaired":..,"advice":..}
local tasknum = require "tasknum"
local cli = require "tasknum.cli"
local todo = require "tasknum.todo"

local opts, rest = cli.parse({ ... }, {
  ["--check"] = { "check", "flag" },
  ["--todo"] = { "todo", "string" },
  ["--state"] = { "state", "string" },
  ["--timeout"] = { "timeout", "seconds" },
})
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
