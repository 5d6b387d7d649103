-- lock_share_spec.lua: the variables with which `tasknum lock` shares its
-- lock with the commands it runs (TASKNUM_LOCK_FD, _BYTE, _PATH) let a
-- process in only when its descriptor is proven to hold the lock now (issue
-- 12, item 8), and holders are always named: a long command in the holder
-- record, and nesting deeper than tasknum can share fails at once instead
-- of waiting for itself (issue 13, item 7).
local H = require "spec_helper"
local L = require "lock_helper"
local core = require "tasknum.core"
local cjson = require "cjson"

local NOBODY = "setpriv --reuid=nobody --regid=nogroup --clear-groups"

describe("sharing the lock of tasknum lock", function()
  local dir, state, lock

  before_each(function()
    dir, state = H.project(H.state_text(10))
    lock = L.lock_path(core.realpath(state))
  end)

  after_each(function()
    L.kill_owned()
    H.cleanup()
  end)

  -- `tasknum lock -- COMMAND...` in the background; returns once it holds
  -- the lock and has named COMMAND in its record.
  local function hold(...)
    L.bg_owned(L.cmd({ "lock", "--state", state, "--", ... }, dir .. "/holder"))
    assert(L.wait_until(function()
      local ok, r = pcall(cjson.decode, core.holder(lock) or "")
      return core.probe(lock) == true and ok and r.command
    end, 10), "the holder did not take the lock")
  end

  -- Runs `tasknum allocate` from a shell that opened the lock file
  -- read-write on descriptor 3 (a description of its own, not the
  -- holder's) and exports the sharing variables with byte.
  local function intruder(byte, prefix)
    local cmd = ("exec 3<>%s; TASKNUM_LOCK_FD=3 TASKNUM_LOCK_BYTE=%d TASKNUM_LOCK_PATH=%s %s %s allocate "
      .. "--state %s --timeout 0.3"):format(H.q(lock), byte, H.q(lock), prefix or "", H.q(H.bin), H.q(state))
    local p = io.popen("sh -c " .. H.q(cmd) .. " 2>/dev/null")
    local out = p:read("a")
    local _, _, code = p:close()
    local ok, r = pcall(cjson.decode, out)
    return ok and r or out, code
  end

  for _, byte in ipairs({ 0, 1, 5, 62, 63 }) do
    it("does not let in a descriptor of another description with TASKNUM_LOCK_BYTE=" .. byte, function()
      hold("sleep", "30")
      local r, code = intruder(byte)
      assert.equal(75, code, "got in while tasknum lock held the state: " .. cjson.encode(r))
      assert.equal("LOCK_TIMEOUT", r.error_code)
      assert.matches('"next_project_number": 10', H.read(state), 1, true)
    end)
  end

  it("treats unproven variables as left over when nobody holds the lock: the lock is taken anew", function()
    H.write(lock, "")
    local r, code = intruder(5)
    assert.equal(0, code, cjson.encode(r))
    assert.same({ 10 }, r.allocated_numbers)
    local last = L.audit(state)[#L.audit(state)]
    assert.is_falsy(last.nested, "allocated as if under a tasknum lock")
  end)

  it("does not let in another user's process either (as nobody)", function()
    if not H.ok(NOBODY .. " true 2>/dev/null") or not H.ok(NOBODY .. " test -x " .. H.q(H.bin)) then
      error("this spec runs as root with setpriv and a binary nobody can run")
    end
    os.execute("chmod 777 " .. H.q(dir) .. " " .. H.q(dir .. "/.opencode") .. " " .. H.q(dir .. "/.opencode/specs")
      .. "; chmod 666 " .. H.q(state))
    H.write(lock, "")
    os.execute("chmod 666 " .. H.q(lock))
    hold("sleep", "30")
    for _, byte in ipairs({ 0, 3 }) do
      local r, code = intruder(byte, NOBODY)
      assert.equal(75, code, "nobody got in with byte " .. byte .. ": " .. cjson.encode(r))
    end
    assert.matches('"next_project_number": 10', H.read(state), 1, true)
  end)

  it("still lets the command's own tasknum commands in at once", function()
    local out, code = H.run({ "lock", "--state", state, "--", "sh", "-c",
      H.q(H.bin) .. " allocate --timeout 0 --format plain; " .. H.q(H.bin)
        .. " lock --timeout 0 -- " .. H.q(H.bin) .. " allocate --timeout 0 --format plain" })
    assert.equal(0, code, out)
    assert.equal("10\n11\n", out)
  end)
end)

describe("holders are always named", function()
  local dir, state

  before_each(function()
    dir, state = H.project(H.state_text(10))
  end)

  after_each(H.cleanup)

  it("with a command of many kilobytes", function()
    local long = string.rep("x", 6000)
    local group = L.bg(L.cmd({ "lock", "--state", state, "--", "sh", "-c", "sleep 30 # " .. long },
      dir .. "/holder"))
    finally(function() L.kill_group(group) end)
    assert(L.wait_until(function() return core.probe(L.lock_path(state)) == true end, 10))
    assert(L.wait_until(function() return L.exists(L.folder(state)) end, 10))
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    local h = r.error.holder
    assert.is_number(h.pid, r.error.details)
    assert.is_true(core.alive(h.pid))
    assert.matches("^sh %-c 'sleep 30 # xxxx", h.command)
    assert.matches("held by pid " .. math.tointeger(h.pid), r.error.details, 1, true)
    local s = cjson.decode((H.run({ "status", "--json", "--state", state })))
    assert.equal(h.pid, s.lock.holder.pid)
  end)

  it("with a purpose of many kilobytes", function()
    H.write(dir .. "/hold.lua", [[
      require("tasknum").transaction({ state = arg[1], purpose = string.rep("p", 9000) }, function()
        io.open(arg[2], "w"):close()
        os.execute("sleep 30")
      end)]])
    local group = L.bg(("exec %s run %s %s %s"):format(H.q(H.bin), H.q(dir .. "/hold.lua"), H.q(state),
      H.q(dir .. "/holding")))
    finally(function() L.kill_group(group) end)
    assert(L.wait_until(function() return L.exists(dir .. "/holding") end, 10))
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    assert.equal(group, r.error.holder.pid, r.error.details)
    assert.matches("^pppp", r.error.holder.purpose)
  end)

  -- levels of `tasknum lock --` around one allocation, as one argv
  local function nested(levels)
    local args = {}
    for level = 1, levels do
      for _, a in ipairs({ H.bin, "lock", "--state", state, "--timeout", "5", "--" }) do
        if level > 1 or a ~= H.bin then args[#args + 1] = a end
      end
    end
    for _, a in ipairs({ H.bin, "allocate", "--state", state, "--timeout", "5" }) do args[#args + 1] = a end
    return args
  end

  it("nested deeper than the lock can be shared: fails at once, naming the depth", function()
    -- 63 levels share it (bytes 0 to 62; the allocation takes byte 63)
    local r, code = H.run_json(nested(63))
    assert.equal(0, code, r.error and r.error.details)
    assert.same({ 10 }, r.allocated_numbers)
    -- one more level and there is no byte left for the allocation
    local t0 = core.clock()
    r, code = H.run_json(nested(64))
    local took = core.clock() - t0
    assert.are_not.equal("LOCK_TIMEOUT", r.error_code, "waited for itself: " .. tostring(r.error_message))
    assert.equal(64, code, r.error_message)
    assert.equal("INVALID_ARGUMENT", r.error_code)
    assert.matches("63", r.error.message)
    print(string.format("\n# 64 nested tasknum lock levels and an allocation: refused in %.1f s", took))
    assert.matches('"next_project_number": 11', H.read(state), 1, true)
  end)
end)
