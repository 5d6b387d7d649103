-- check.lua: validates a state file, for CI and pre-commit hooks.
--   tasknum check [--state PATH]
-- Reads the state without taking the lock and changes nothing. Checks: the
-- file is a JSON object tasknum can use (the counter a plain integer inside
-- a valid range), no number is held by two active projects, and no active
-- project holds the counter or one of the AHEAD numbers after it (the next
-- allocations would fail with NUMBER_CONFLICT).
-- Exit 0 with {"status":"success",...,"problems":[]} when all is well;
-- otherwise exit 65 with a STATE_CORRUPT answer whose error.problems lists
-- each problem ({check, message, ...}); STATE_NOT_FOUND (66) and
-- SYSTEM_ERROR (71) as usual when there is no file to check.
local tasknum = require "tasknum"
local cli = require "tasknum.cli"

local opts, rest = cli.parse({ ... }, { ["--state"] = { "state", "string" } })
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
return cli.emit(tasknum.check(opts))
