-- reserve.lua: a block of numbers from the team's remote numbering, for an
-- agent that will run where the remote cannot be reached.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "take K numbers from a remote numbering, to hand out offline",
  forms = { "K [OPTIONS]" },
  options = cli.allocating {},
  text = [[
One step while the numbering's remote (git:REMOTE or postgresql://...; --authority, $TASKNUM_AUTHORITY or project_numbering.authority) can be reached: the remote's mark moves K numbers past the state's counter, and the block is kept in this clone's local mark (the repository's common git dir, or beside a state outside git). Allocations then hand out the block first, with no network, and go to the remote again once it is used up; worktrees of the clone share it. The answer's reserved: {count, first, last}; the state's counter stays at the block's first number.

A step that needs more numbers than are left takes the ones after the block from the remote when nobody moved it since, else gives up the rest of the block (a gap) and runs on the remote; offline it fails with AUTHORITY_UNAVAILABLE saying how many are left. A new reservation gives up what was left of the last one (reserved.given_up). Numbers never handed out are a gap, never a duplicate. `tasknum status` shows what is left.]],
}
local tasknum = require "tasknum"

local function bad(message) tasknum.errors.raise("INVALID_ARGUMENT", message) end

local opts, rest = cli.parse({ ... }, command)
if #rest ~= 1 then
  bad(#rest == 0 and "reserve needs a count: tasknum reserve K" or "unexpected argument " .. rest[2])
end
local count = rest[1]:match("^%d+$") and math.tointeger(tonumber(rest[1]))
if not count or count < 1 then bad("reserve takes a whole number K >= 1, got " .. rest[1]) end
opts.count = count
return cli.emit(tasknum.reserve(cli.step(opts)))
