-- check.lua: validates a state file, for CI and pre-commit hooks.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "validate the state file, for CI and pre-commit hooks",
  options = {
    cli.option "--state",
    cli.option "--authority",
  },
  text = [[
Reads the state without the lock and changes nothing. Checks that it is a JSON object tasknum can use (the counter a plain integer inside a valid range), that no number is held by two active projects, that no active project holds the counter or one of the 10 numbers after it, and that the counter is not behind its numbering's mark (tasknum sync moves it up). With the worktrees authority it also checks that no other worktree of the clone gives one of the state's numbers to a task of another name.]],
  exits = { { 0, "no problem: {\"status\":\"success\",...,\"problems\":[]}" },
    { 65, "STATE_CORRUPT: a problem was found; error.problems lists each" },
    "STATE_NOT_FOUND", "SYSTEM_ERROR", "AUTHORITY_UNAVAILABLE", "INVALID_ARGUMENT", "UNTRUSTED" },
}
local tasknum = require "tasknum"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
return cli.emit(tasknum.check(opts))
