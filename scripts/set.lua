-- set.lua: moves the counter and/or changes the range, one locked, audited
-- step (tasknum.set): how a state whose counter is outside its range is
-- repaired, and how a numbering is moved on on purpose.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "move the counter or change the range (locked, audited)",
  forms = { "--next N [OPTIONS]", "--min A --max B [--next N] [OPTIONS]" },
  options = cli.allocating {
    { "--next", "integer", "N", "the counter's new value: the next number to hand out" },
    { "--min", "integer", "A", "the range's new lowest number" },
    { "--max", "integer", "B", "the range's new highest number" },
    { "--force", "flag", false, "move the counter back over numbers handed out already" },
  },
  text = [[
Under the state's lock, like an allocation: sets next_project_number and project_numbering's min and max (adding the block when the state has none), writes the state durably and logs the step. Only those members change; a TODO.md beside the state follows the counter.

It refuses (INVALID_ARGUMENT, nothing written) a counter outside the new range, min > max, and a counter moved back (below the one the state holds, as the numbering's mark has it) unless --force: those numbers were handed out, and one could reach two tasks. With a numbering kept apart from the state (worktrees, dir:PATH, ...) the mark moves with the counter; a mark never goes down, so a forced move back takes the numbering to the next cycle of the range at N.

It also reads a state whose counter is outside its range (STATE_CORRUPT for every other command), to repair it: `tasknum set --max 1999` makes the range hold a counter of 1001, `tasknum set --next 65 --force` moves it back into the range.]],
  exits = { { 0, "set (or nothing to change: changed is false)" }, "INVALID_ARGUMENT", "STATE_CORRUPT",
    "STATE_NOT_FOUND", "SCRIPT_ERROR", "SYSTEM_ERROR", "LOCK_TIMEOUT", "AUTHORITY_UNAVAILABLE", "UNTRUSTED",
    "INTERRUPTED" },
}
local tasknum = require "tasknum"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
return cli.emit(tasknum.set(cli.step(opts)))
