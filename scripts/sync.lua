-- sync.lua: moves the state's counter up to its numbering's mark, never
-- down (and a mark behind the counter up to it): one locked, audited step
-- that hands out no number.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "move the state's counter up to its numbering's mark (never down)",
  options = {
    cli.option "--state",
    cli.option "--authority",
    { "--timeout", "seconds", "S", "how long to wait for the locks (default 30, fractions allowed, 0 tries once)" },
    cli.option "--stale",
    cli.option "--todo",
    cli.option "--no-todo",
    { "--format", "string", "F", "json (default; text at a terminal), plain, text, or a team's format/F.lua",
      complete = "format" },
  },
  text = [[
After a rewind (a checkout, a reset, a merge that took the older side), or in a worktree whose committed counter is behind the others', the next allocation continues after the numbering's mark anyway; sync moves the counter now, so that what gets committed is not behind. A counter ahead of the mark (edited by hand) moves the mark up instead. Nothing is handed out; the step is locked and audited like an allocation, and in a git working tree it makes sure of the .gitignore beside the state.

The answer: sync ("counter": the counter moved, see counter_adjusted; "mark": the mark moved up to the counter, see mark_moved; "level"; "new": a mark was started from the state) and mark, the next number the numbering gives.]],
}
local tasknum = require "tasknum"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
opts.purpose = "sync"
return cli.emit(tasknum.sync(cli.step(opts)))
