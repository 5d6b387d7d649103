-- reserve.lua: takes a block of numbers from the team's remote numbering
-- for an agent that will run offline.
--   tasknum reserve K [--purpose TEXT] [--state PATH] [--timeout S]
--                     [--authority SPEC] [--format json|NAME] [--verbose]
-- One step while the remote (git:REMOTE, postgresql://...) can be reached:
-- the remote's mark moves K numbers on, and the block is kept in this
-- clone's local mark. Allocations then hand out the block first, without
-- the network, and go to the remote again once it is used up. `tasknum
-- status` shows what is left. Numbers of a block never used are a gap,
-- never handed out twice.
local tasknum = require "tasknum"
local cli = require "tasknum.cli"

local opts, rest = cli.parse({ ... }, cli.allocating {})
if #rest ~= 1 then
  tasknum.errors.raise("INVALID_ARGUMENT", #rest == 0 and "reserve needs a count: tasknum reserve K"
    or "unexpected argument " .. rest[2])
end
local count = rest[1]:match("^%d+$") and math.tointeger(tonumber(rest[1]))
if not count or count < 1 then
  tasknum.errors.raise("INVALID_ARGUMENT", "reserve takes a whole number >= 1, got " .. rest[1])
end
if opts.todo and opts.no_todo then
  tasknum.errors.raise("INVALID_ARGUMENT", "--todo and --no-todo exclude each other")
end
if opts.no_todo then opts.todo, opts.no_todo = false, nil end
opts.count = count
opts.format = opts.format or "json"
return cli.emit(tasknum.reserve(opts))
