-- sync.lua: moves the state's counter up to its numbering's mark, never
-- down (and a mark behind the counter up to it): one locked, audited step
-- that hands out no number.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "move the state's counter up to its numbering's mark (never down)",
  options = {
    { "--state", "string", "PATH", "the state file (else $TASKNUM_STATE, else found from here)", complete = "file" },
    { "--authority", "string", "SPEC", "where the numbering lives: file, worktrees, dir:PATH, git:REMOTE, "
      .. "postgresql://... (else $TASKNUM_AUTHORITY, the state's project_numbering.authority, the default)" },
    { "--timeout", "seconds", "S", "how long to wait for the locks (default 30, fractions allowed, 0 tries once)" },
    { "--stale", "seconds", "S", "when a legacy .state.lock folder counts as stale (default 60)" },
    { "--todo", "string", "PATH", "the TODO.md that follows the counter (default: beside the state)",
      complete = "file" },
    { "--no-todo", "flag", false, "leave TODO.md alone" },
    { "--format", "string", "F", "the answer's shape: json (default), plain, or a team's format/F.lua",
      complete = "format" },
  },
  text = [[
After a rewind (a checkout, a reset, a merge that took the older side), or in a worktree whose committed counter is behind the others', the next allocation continues after the numbering's mark anyway; sync moves the counter now, so that what gets committed is not behind. A counter ahead of the mark (edited by hand) moves the mark up instead. Nothing is handed out; the step is locked and audited like an allocation, and in a git working tree it makes sure of the .gitignore beside the state.

The answer: sync ("counter": the counter moved, see counter_adjusted; "mark": the mark moved up to the counter, see mark_moved; "level"; "new": a mark was started from the state) and mark, the next number the numbering gives.]],
}
local tasknum = require "tasknum"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
if opts.todo and opts.no_todo then
  tasknum.errors.raise("INVALID_ARGUMENT", "--todo and --no-todo exclude each other")
end
if opts.no_todo then opts.todo, opts.no_todo = false, nil end
opts.format, opts.purpose = opts.format or "json", "sync"
return cli.emit(tasknum.sync(opts))
