-- Signals (issue 3): SIGINT or SIGTERM while waiting for the lock, while
-- holding it before the write, or while writing ends the run cleanly: a JSON
-- INTERRUPTED answer naming the signal, exit 128 + the signal (130, 143),
-- the state byte for byte as it was, no temp file, the lock not held. A
-- signal after the rename does not undo the allocation: it is reported.
--
-- What each case really covers: "waiting" signals a run blocked in the
-- kernel lock wait behind a holder; "holding" signals a run inside a team's
-- conflict policy (under the lock, before the write); "writing" holds the
-- run inside the temp file's fsync with strace's syscall delay and signals
-- it there, so the rename has not happened yet.
local H = require "spec_helper"
local cjson = require "cjson"
local core = require "tasknum.core"

local sh, capture, wait_until = H.ok, H.capture, H.wait_until

local SIGNALS = { SIGINT = 130, SIGTERM = 143 }
local LOCK = "/.opencode/specs/.state.json.lock"

-- Starts `prefix tasknum args` in the background in dir. Returns a handle
-- whose pid is the tasknum process's own (the shell execs it).
local started = 0
local function start(dir, args, prefix)
  started = started + 1
  local base = dir .. "/bg" .. started
  local run = { dir = dir, out = base .. ".out", err = base .. ".err",
                code = base .. ".code", pidfile = base .. ".pid" }
  local words = {}
  for i, a in ipairs(args) do words[i] = H.q(a) end
  local inner = string.format("echo $$ > %s; exec %s %s %s", H.q(run.pidfile), prefix or "",
    H.q(H.bin), table.concat(words, " "))
  sh(string.format("cd %s && (sh -c %s > %s 2> %s </dev/null; echo $? > %s) &", H.q(dir),
    H.q(inner), H.q(run.out), H.q(run.err), H.q(run.code)))
  assert(wait_until(function() return (H.read(run.pidfile) or ""):match("%d+") end, 10))
  run.pid = tonumber(H.read(run.pidfile):match("%d+"))
  return run
end

-- Waits for a started run to end: answer, exit status, stderr.
local function finish(run)
  assert(wait_until(function() return (H.read(run.code) or ""):match("%d+") end, 60),
    "the run did not end")
  local out = H.read(run.out)
  local ok, r = pcall(cjson.decode, out)
  assert(ok and type(r) == "table", "not one JSON answer: " .. out .. " / " .. H.read(run.err))
  assert.are.equal(1, select(2, out:gsub("\n", "")))
  return r, tonumber(H.read(run.code):match("%d+")), H.read(run.err)
end

-- A tasknum run script that holds the state lock (inside a transaction)
-- until the file stop exists, 60 s at most; it touches held once it has
-- the lock.
local HOLD = [[
  local tasknum = require "tasknum"
  local core = require "tasknum.core"
  tasknum.transaction({ state = arg[1], purpose = "spec holder" }, function()
    io.open(arg[2], "w"):close()
    local t = core.clock()
    while not io.open(arg[3]) and core.clock() - t < 60 do core.sleep(0.02) end
  end)]]

-- Starts a holder; returns release(), which ends it (by SIGKILL if it does
-- not end by itself: a failed case must not leave it behind).
local function hold(dir, path)
  H.write(dir .. "/hold.lua", HOLD)
  local held, stop = dir .. "/held", dir .. "/stop"
  local holder = start(dir, { "run", dir .. "/hold.lua", path, held, stop })
  local function release()
    H.write(stop, "")
    if not wait_until(function() return H.read(holder.code) end, 10) then
      sh("kill -9 " .. holder.pid)
    end
  end
  finally(release)
  assert(wait_until(function() return H.read(held) end, 10), "the holder never took the lock")
  return release
end

local function threads(pid)
  return tonumber(capture("ls /proc/" .. pid .. "/task 2>/dev/null | wc -l")) or 0
end

-- The INTERRUPTED contract for a run stopped by sig.
local function interrupted(r, code, err, sig, during)
  assert.are.equal("INTERRUPTED", r.error_code, cjson.encode(r))
  assert.are.equal("INTERRUPTED", r.error.code)
  assert.are.equal(sig, r.error.signal)
  assert.are.equal(SIGNALS[sig], code)
  assert.is_false(r.retry_suggested)
  assert.matches("interrupted by " .. sig .. " " .. during, r.error.message, 1, true)
  assert.matches("tasknum: INTERRUPTED", err, 1, true)
end

local function no_temps(dir)
  local names = H.ls(dir .. "/.opencode/specs")
  assert.is_nil(names:find(".tmp-", 1, true), "temp file left: " .. names)
end

describe("a signal", function()
  after_each(H.cleanup)

  for sig in pairs(SIGNALS) do
    it(sig .. " while waiting for the lock", function()
      local dir, path = H.project(H.state_text(5))
      local release = hold(dir, path)
      local run = start(dir, { "allocate", "--timeout", "30" })
      -- the wait runs in a helper thread: once it exists, the run is waiting
      wait_until(function() return threads(run.pid) >= 2 end, 5)
      sh("sleep 0.1")
      sh("kill -s " .. sig:sub(4) .. " " .. run.pid)
      local r, code, err = finish(run)
      interrupted(r, code, err, sig, "while waiting for the state lock")
      assert.is_false(r.lock_acquired)
      assert.is_true(r.lock_wait_ms >= 100, "it did not wait: " .. r.lock_wait_ms)
      assert.is_true(core.probe(dir .. LOCK), "the holder lost the lock")
      release()
      assert.are.equal(H.state_text(5), H.read(path))
      no_temps(dir)
      local again = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
      assert.are.same({ 5 }, again.allocated_numbers)
    end)

    it(sig .. " while holding the lock, before the write", function()
      local dir, path = H.project(H.state_text(5))
      -- a conflict policy that takes its numbers, says so, and spins a while
      H.write(dir .. "/.opencode/tasknum/conflict.lua", [[
        local core = require "tasknum.core"
        return { pick = function(txn, n)
          local numbers = txn:take(n)
          io.open(os.getenv("MARK"), "w"):close()
          local t = core.clock()
          while core.clock() - t < 2 do end
          return numbers
        end }]])
      local mark = dir .. "/picking"
      local run = start(dir, { "allocate" }, "env MARK=" .. H.q(mark))
      assert(wait_until(function() return H.read(mark) end, 10), "the policy never ran")
      sh("kill -s " .. sig:sub(4) .. " " .. run.pid)
      local r, code, err = finish(run)
      interrupted(r, code, err, sig, "before writing the state")
      assert.are.equal(H.state_text(5), H.read(path))
      no_temps(dir)
      assert.is_false(core.probe(dir .. LOCK), "the lock is still held")
    end)

    it(sig .. " while writing (held in the temp file's fsync by strace)", function()
      if not sh("command -v strace >/dev/null") then pending("needs strace to hold the write") return end
      local dir, path = H.project(H.state_text(5))
      local specs = dir .. "/.opencode/specs"
      -- the first fsync is the temp file's; strace delays its entry by 1 s
      local run = start(dir, { "allocate" },
        "strace -f -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=1000000:when=1")
      local writer
      assert(wait_until(function()
        writer = tonumber(capture("env -u LD_PRELOAD pgrep -P " .. run.pid .. " | head -1"))
        -- the state's own temp: the legacy folder is made under a
        -- .state.lock.tmp-PID name first, before the lock (seen under ASan)
        return writer and H.ls(specs):find(".state.json.tmp-", 1, true)
      end, 10), "the writer made no temp file")
      sh("kill -s " .. sig:sub(4) .. " " .. writer)
      local r, code, err = finish(run)
      interrupted(r, code, err, sig, "while writing the state")
      assert.is_true(r.lock_acquired)
      assert.are.equal(H.state_text(5), H.read(path))
      no_temps(dir)
      assert.is_false(core.probe(dir .. LOCK), "the lock is still held")
    end)
  end

  it("a second one ends a script that never looks at the first; the lock is freed", function()
    local dir, path = H.project(H.state_text(5))
    H.write(dir .. "/spin.lua", [[
      local tasknum = require "tasknum"
      tasknum.transaction({ state = arg[1] }, function(txn)
        txn:take(1)
        io.open(arg[2], "w"):close()
        while true do end
      end)]])
    local mark = dir .. "/spinning"
    local run = start(dir, { "run", dir .. "/spin.lua", path, mark })
    finally(function() sh("kill -9 " .. run.pid .. " 2>/dev/null") end)
    assert(wait_until(function() return H.read(mark) end, 10), "the script never ran")
    sh("kill -s INT " .. run.pid)
    sh("sleep 0.3")
    assert.is_true(sh("kill -0 " .. run.pid), "the first signal killed it")
    sh("kill -s INT " .. run.pid)
    assert(wait_until(function() return (H.read(run.code) or ""):match("%d") end, 10), "it did not end")
    assert.are.equal(130, tonumber(H.read(run.code)))   -- the shell's 128 + SIGINT
    assert.are.equal(H.state_text(5), H.read(path))
    assert.is_false(core.probe(dir .. LOCK), "the lock is still held")
    local r = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
    assert.are.same({ 5 }, r.allocated_numbers)
  end)

  it("after the rename does not undo the allocation: success is reported", function()
    local dir, path = H.project(H.state_text(5))
    -- an audit policy (it runs after the write) that spins a while
    H.write(dir .. "/.opencode/tasknum/audit.lua", [[
      local core = require "tasknum.core"
      return { record = function()
        io.open(os.getenv("MARK"), "w"):close()
        local t = core.clock()
        while core.clock() - t < 2 do end
        return true
      end }]])
    local mark = dir .. "/auditing"
    local run = start(dir, { "allocate" }, "env MARK=" .. H.q(mark))
    assert(wait_until(function() return H.read(mark) end, 10), "the audit policy never ran")
    sh("kill -s TERM " .. run.pid)
    local r, code = finish(run)
    assert.are.equal("success", r.status)
    assert.are.equal(0, code)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.are.equal(H.state_text(6), H.read(path))
  end)
end)
