-- spec/support/authority_alloc.lua: drives a numbering authority the way a
-- transaction does, for the specs of the remote authorities (run with
-- `tasknum run`): acquire, read, commit(mark, mark + 1), release, with a
-- lost race read again after a jittered pause, all within the timeout.
--   tasknum run authority_alloc.lua SPEC STATE N TIMEOUT [HOLD]
-- prints per allocation "ok SERIAL RETRIES" or "err CODE MESSAGE | DETAILS".
-- HOLD: after the first read, touch the file HOLD and sleep there for ever
-- (a holder for the specs to kill).
local core = require "tasknum.core"

local spec, state, n, timeout, hold = arg[1], arg[2], tonumber(arg[3] or "1"), tonumber(arg[4] or "30"), arg[5]
io.stdout:setvbuf("line")
math.randomseed(core.pid() * 7919 + math.floor(core.clock() * 1e6))

local function open()
  local f = { path = state, real = core.realpath(state) or state }
  local kind, rest = spec:match("^(%a+):(.*)$")
  if kind == "git" then return require("tasknum.authority.git").open(rest, f, spec) end
  return require("tasknum.authority.postgresql").open(rest, f, spec)
end

local a = assert(open())
local holder = { pid = core.pid(), host = core.hostname(), purpose = "spec allocation" }

local function one()
  local deadline = timeout >= 0 and core.clock() + timeout or nil
  local ok, err = a:acquire(deadline, holder, timeout)
  if not ok then return nil, err end
  local retries = 0
  while true do
    local mark, rerr = a:read()
    if mark == nil then a:release() return nil, rerr end
    if hold then
      io.open(hold, "w"):close()
      while true do core.sleep(1) end
    end
    local done, cerr = a:commit(mark, (mark or 0) + 1)
    if done then a:release() return (mark or 0) + 1, retries end
    if not cerr.retry or (deadline and core.clock() > deadline) then a:release() return nil, cerr end
    retries = retries + 1
    core.sleep(math.random() * 0.01 * math.min(retries, 10))
  end
end

for _ = 1, n do
  local serial, e = one()
  if serial then
    print("ok " .. serial .. " " .. e)
  else
    print("err " .. tostring(e.code) .. " " .. tostring(e.message) .. " | " .. tostring(e.details))
  end
end
