-- lock_spec.lua: `tasknum lock -- COMMAND`, LOCK_TIMEOUT that names the
-- holder, waking waiters, SIGKILLed holders, and tasknum commands run under
-- the lock they are started in. Timing bounds are generous on purpose (a
-- noisy 2-core machine); the wake-up gap is printed for the record.
local H = require "spec_helper"
local L = require "lock_helper"
local core = require "tasknum.core"

describe("tasknum lock", function()
  local dir, state

  before_each(function()
    dir, state = H.project(H.state_text(10))
  end)

  after_each(function()
    H.cleanup()
  end)

  local function run(args, opts)
    local all = { "lock", "--state", state }
    for _, a in ipairs(args) do all[#all + 1] = a end
    return H.run(all, opts)
  end

  -- Starts `tasknum lock -- COMMAND...` in the background; once it holds
  -- the lock and has started COMMAND (and the keeper of the legacy folder:
  -- the record names both then; a kill before left a folder naming it,
  -- to be broken), returns the process group to kill and tasknum's own pid.
  local function hold(...)
    local args = { "lock", "--state", state, "--", ... }
    local group = L.bg(L.cmd(args, dir .. "/holder"))
    local record
    assert(L.wait_until(function()
      local ok, r = pcall(require("cjson").decode, core.holder(L.lock_path(state)) or "")
      record = ok and r
      return core.probe(L.lock_path(state)) == true and record and record.command_pid
        and L.exists(L.folder(state) .. "/info")
    end, 10), "the holder did not take the lock")
    return group, math.tointeger(record.pid)
  end

  it("runs the command, exits with its status and prints only its output", function()
    local out, code = run({ "--", "sh", "-c", "echo hello; exit 7" })
    assert.equal("hello\n", out)
    assert.equal(7, code)
    out, code = run({ "--", "true" })
    assert.equal("", out)
    assert.equal(0, code)
  end)

  it("reports a command killed by a signal as 128 + the signal", function()
    local _, code = run({ "--", "sh", "-c", "kill -TERM $$" })
    assert.equal(143, code)
  end)

  it("exits 127 for a command not found and 126 for one not executable", function()
    local out, code, err = run({ "--", "no-such-command-xyz" })
    assert.equal(127, code)
    assert.equal("", out)
    assert.matches("no%-such%-command%-xyz: No such file or directory", err)
    H.write(dir .. "/not-exec", "#!/bin/sh\n")
    out, code = run({ "--", dir .. "/not-exec" })
    assert.equal(126, code)
    assert.is_false(core.probe(L.lock_path(state)))
  end)

  it("needs a command and an existing state", function()
    local r, code = H.run_json({ "lock", "--state", state })
    assert.equal(64, code)
    assert.equal("INVALID_ARGUMENT", r.error_code)
    r, code = H.run_json({ "lock", "--state", dir .. "/nope.json", "--", "true" })
    assert.equal(66, code)
    assert.equal("STATE_NOT_FOUND", r.error_code)
  end)

  it("holds the state lock and the legacy folder while the command runs, and names it", function()
    local out = run({ "--", "sh", "-c", "cat " .. H.q(L.folder(state) .. "/info") .. "; cat "
      .. H.q(L.lock_path(state)) .. "; " .. H.q(H.bin) .. " status --json --state " .. H.q(state) })
    local info, record, status = out:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n$")
    assert.matches("^%d+:%d+$", info)
    local r = require("cjson").decode(record)
    -- the folder names the keeper that tasknum lock started for it
    assert.equal(tonumber(info:match("^%d+")), r.keeper_pid)
    assert.are_not.equal(r.pid, r.keeper_pid)
    assert.matches("status %-%-json", r.command)
    local s = require("cjson").decode(status)
    assert.is_true(s.lock.held)
    assert.equal(r.pid, s.lock.holder.pid)
    assert.is_true(s.legacy.present and s.legacy.mine)
    assert.is_false(L.exists(L.folder(state)))
    assert.is_false(core.probe(L.lock_path(state)))
  end)

  it("makes an allocation with a short timeout fail with the holder named", function()
    local group, pid = hold("sleep", "30")
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    assert.equal("LOCK_TIMEOUT", r.error_code)
    assert.is_true(r.retry_suggested)
    local holder = r.error.holder
    assert.equal("kernel", holder.lock)
    assert.equal("sleep 30", holder.command)
    assert.equal(pid, holder.pid)
    assert.is_true(holder.age_s >= 0)
    assert.matches("held by pid " .. math.floor(holder.pid), r.error.details, 1, true)
    assert.matches("command: sleep 30", r.error.details, 1, true)
    assert.matches("retry", r.error.details)
    assert.is_true(r.lock_wait_ms >= 290, "gave up after " .. r.lock_wait_ms .. " ms")
    -- the timed-out attempt is logged too (without the lock)
    local last = L.audit(state)[#L.audit(state)]
    assert.equal("LOCK_TIMEOUT", last.error_code)
    L.kill_group(group)
  end)

  it("with --timeout 0 tries once", function()
    local group = hold("sleep", "30")
    local t0 = core.clock()
    local r, code = H.run_json({ "lock", "--state", state, "--timeout", "0", "--", "true" })
    assert.equal(75, code)
    assert.equal("LOCK_TIMEOUT", r.error_code)
    assert.is_true(core.clock() - t0 < 2)
    L.kill_group(group)
  end)

  it("wakes a waiter within milliseconds of the release", function()
    local gaps = {}
    for round = 1, 3 do
      local _, pid = hold("sleep", "0.4")
      local waiter = dir .. "/waiter" .. round
      L.bg(L.cmd({ "allocate", "--state", state, "--timeout", "10", "--purpose", "waiter" }, waiter))
      local r, code = L.result(waiter)
      assert.equal(0, code, H.read(waiter .. ".err"))
      assert.is_true(r.lock_wait_ms > 100, "did not wait: " .. r.lock_wait_ms .. " ms")
      assert(L.wait_until(function() return not core.alive(pid) end, 5))
      -- the holder logs just before it releases; the waiter's hold starts
      -- when it has the lock: both on the wall clock, to the millisecond
      local released, acquired
      for _, e in ipairs(L.audit(state)) do
        if e.command == "sleep 0.4" and e.pid == pid then released = L.epoch(e.timestamp) end
      end
      for _, e in ipairs(L.audit(state)) do
        if e.purpose == "waiter" and e.numbers[1] == r.allocated_numbers[1] then
          acquired = L.epoch(e.timestamp) - e.hold_ms / 1000
        end
      end
      assert.is_not_nil(released, "no audit line of the holder")
      gaps[round] = (acquired - released) * 1000
    end
    table.sort(gaps)
    print(string.format("\n# waiter wake-up gap after release: %.1f / %.1f / %.1f ms (min/median/max of 3)",
      gaps[1], gaps[2], gaps[3]))
    assert.is_true(gaps[2] > -2 and gaps[2] < 100, "median gap " .. gaps[2] .. " ms")
  end)

  it("is freed at once when its holder is killed with SIGKILL", function()
    local group = hold("sleep", "30")
    L.kill_group(group, "KILL")
    local t0 = core.clock()
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "5" })
    assert.equal(0, code)
    assert.is_true(core.clock() - t0 < 2, "took " .. core.clock() - t0 .. " s")
    -- the keeper (in a session of its own) removed the legacy folder
    -- before anyone could take the lock: nothing was left to break
    local last = L.audit(state)[#L.audit(state)]
    assert.equal(r.allocated_numbers[1], last.numbers[1])
    assert.is_false(last.stale_break)
    assert.is_false(L.exists(L.folder(state)))
  end)

  it("passes a SIGTERM on to the command and keeps the lock until it ends", function()
    -- the command says when its trap is set: a TERM passed on before that
    -- would end sh with 143 instead of 9 (seen under load)
    local trapped = dir .. "/trapped"
    local _, pid = hold("sh", "-c", "trap 'sleep 0.3; exit 9' TERM; : > " .. H.q(trapped)
      .. "; while :; do sleep 0.05; done")
    local deadline = core.clock() + 10
    while not H.read(trapped) and core.clock() < deadline do core.sleep(0.01) end
    assert.is_truthy(H.read(trapped), "the command never set its trap")
    os.execute("kill -TERM " .. pid)          -- tasknum only, not its group
    local _, code = L.result(dir .. "/holder")
    assert.equal(9, code)
    assert.is_false(core.probe(L.lock_path(state)))
    assert.is_false(L.exists(L.folder(state)))
  end)

  describe("tasknum commands run by the command", function()
    it("allocate at once under the held lock, even with --timeout 0", function()
      local out, code = run({ "--", "sh", "-c", H.q(H.bin) .. " allocate --timeout 0; "
        .. H.q(H.bin) .. " allocate --timeout 0 --count 2" })
      assert.equal(0, code, out)
      local a, b = out:match("^([^\n]*)\n([^\n]*)\n$")
      local r1, r2 = require("cjson").decode(a), require("cjson").decode(b)
      assert.same({ 10 }, r1.allocated_numbers)
      assert.same({ 11, 12 }, r2.allocated_numbers)
      assert.is_true(r1.lock_wait_ms < 1000)
      assert.matches('"next_project_number": 13,', H.read(state), 1, true)
      local nested = 0
      for _, e in ipairs(L.audit(state)) do if e.nested then nested = nested + 1 end end
      assert.equal(2, nested)
    end)

    it("take turns when several run at once", function()
      local script = ("for i in 1 2 3 4 5 6; do %s allocate --format plain --timeout 20 >> %s & done; wait")
        :format(H.q(H.bin), H.q(dir .. "/numbers"))
      local _, code = run({ "--", "sh", "-c", script })
      assert.equal(0, code)
      local seen, n = {}, 0
      for num in H.read(dir .. "/numbers"):gmatch("%d+") do
        assert.is_nil(seen[num], "number " .. num .. " handed out twice")
        seen[num], n = true, n + 1
      end
      assert.equal(6, n)
      assert.matches('"next_project_number": 16,', H.read(state), 1, true)
    end)

    it("include a tasknum lock inside tasknum lock", function()
      local out, code = run({ "--", H.bin, "lock", "--timeout", "0", "--", H.bin, "allocate",
        "--timeout", "0", "--format", "plain" })
      assert.equal(0, code)
      assert.equal("10\n", out)
    end)

    it("still wait for an outside holder when the variables are left over", function()
      local out, code = H.run({ "allocate", "--state", state, "--timeout", "0" },
        { env = { TASKNUM_LOCK_FD = "0", TASKNUM_LOCK_BYTE = "0",
                  TASKNUM_LOCK_PATH = L.lock_path(core.realpath(state)) } })
      assert.equal(0, code, out)
      local group = hold("sleep", "30")
      local r
      r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.2" },
        { env = { TASKNUM_LOCK_FD = "0", TASKNUM_LOCK_BYTE = "0",
                  TASKNUM_LOCK_PATH = L.lock_path(core.realpath(state)) } })
      assert.equal(75, code)
      assert.equal("LOCK_TIMEOUT", r.error_code)
      L.kill_group(group)
    end)
  end)
end)
