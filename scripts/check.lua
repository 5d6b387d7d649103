-- check.lua: validates a state file, for CI and pre-commit hooks.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "validate the state file, for CI and pre-commit hooks",
  options = {
    cli.option "--state",
    cli.option "--authority",
    { "--format", "string", "F", "json (default; text at a terminal) or text", complete = "format" },
  },
  text = [[
Reads the state without the lock and changes nothing. Checks that it is a JSON object tasknum can use (the counter a plain integer inside a valid range), that no number is held by two active projects, that the next allocations (10 numbers, one at a time) get through the team's conflict policy (with the shipped one: no active project holds the counter or one of the 10 numbers after it; with a policy that skips taken numbers, such a project is no problem), and that the counter is not behind its numbering's mark (tasknum sync moves it up). With the worktrees authority it also checks that no other worktree of the clone gives one of the state's numbers to a task of another name.]],
  exits = { { 0, "no problem: {\"status\":\"success\",...,\"problems\":[]}" }, "CHECK_FAILED", "STATE_CORRUPT",
    "STATE_NOT_FOUND", "SCRIPT_ERROR", "SYSTEM_ERROR", "AUTHORITY_UNAVAILABLE", "INVALID_ARGUMENT", "UNTRUSTED" },
}
local tasknum = require "tasknum"
local answer = require "tasknum.answer"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
local r = tasknum.check(opts)
local fmt = cli.formatter(cli.format_of(opts), r.state_path)
return cli.emit(r, fmt and answer.render(r, fmt, opts.format))
