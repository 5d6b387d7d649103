-- Many allocators at once on one state: every number unique, and the counter
-- advanced by exactly the sum handed out. A holder killed with SIGKILL never
-- blocks the next allocation.
local H = require "spec_helper"

-- Starts a shell snippet in the background; returns its pid.
local function spawn(cmd)
  return tonumber(H.sh("(" .. cmd .. ") >/dev/null 2>&1 & echo $!"):match("%d+"))
end

describe("concurrency", function()
  after_each(H.cleanup)

  it("16 processes x 50 allocations of random counts: unique, none lost", function()
    local dir, path = H.project(H.state_text(0, { max = 999999 }))
    local workers = 16
    for w = 1, workers do
      -- counts 1..5 from the shell's RANDOM, seeded per worker
      H.write(dir .. "/w" .. w .. ".sh", string.format([[
        RANDOM=%d
        for i in $(seq 50); do
          c=$(( RANDOM %% 5 + 1 ))
          %s allocate --state %s --count $c --timeout 60 --format plain >> %s/out%d || echo FAIL >> %s/out%d
        done
      ]], w, H.q(H.bin), H.q(path), H.q(dir), w, H.q(dir), w))
    end
    local cmd = ""
    for w = 1, workers do cmd = cmd .. "bash " .. H.q(dir .. "/w" .. w .. ".sh") .. " & " end
    os.execute(cmd .. "wait")
    local seen, total = {}, 0
    for w = 1, workers do
      local out = H.read(dir .. "/out" .. w)
      assert.is_nil(out:find("FAIL"), "an allocation failed")
      local lines = 0
      for line in out:gmatch("[^\n]+") do
        lines = lines + 1
        for n in line:gmatch("%d+") do
          n = tonumber(n)
          assert.is_nil(seen[n], "number handed out twice: " .. n)
          seen[n] = true
          total = total + 1
        end
      end
      assert.are.equal(50, lines)
    end
    -- numbers 0..total-1, each once: no gap and no duplicate
    for n = 0, total - 1 do assert.is_true(seen[n], "gap at " .. n) end
    assert.matches('"next_project_number": ' .. total .. ",", H.read(path), 1, true)
    assert.are.equal(H.state_text(total, { max = 999999 }), H.read(path))
  end)

  -- Starts a tasknum that takes the lock on path, takes one number, and
  -- spins under the lock until killed; returns its pid once it holds the
  -- lock. A failed case does not leave it behind (finally).
  local function holder(dir, path)
    local marker = dir .. "/holding"
    H.write(dir .. "/hold.lua", [[
      local tasknum = require "tasknum"
      tasknum.transaction({ state = arg[1] }, function(txn)
        txn:take(1)
        io.open(arg[2], "w"):close()
        while true do os.execute("sleep 0.02") end
      end)]])
    local pid = spawn(string.format("exec %s run %s %s %s", H.q(H.bin),
      H.q(dir .. "/hold.lua"), H.q(path), H.q(marker)))
    finally(function() os.execute("kill -9 " .. pid .. " 2>/dev/null") end)
    H.wait_until(function() return H.read(marker) end, 5)
    assert.is_truthy(H.read(marker), "the holder never took the lock")
    return pid
  end

  it("a holder killed with SIGKILL frees the lock at once", function()
    local dir, path = H.project(H.state_text(3))
    local pid = holder(dir, path)
    local r = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
    assert.are.equal("LOCK_TIMEOUT", r.error_code)
    os.execute("kill -9 " .. pid)
    os.execute("sleep 0.1")
    r = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
    assert.are.equal("success", r.status)
    -- the killed holder had taken 3 but never wrote it: 3 is handed out now
    assert.are.same({ 3 }, r.allocated_numbers)
  end)

  it("a waiter gets the lock when the holder is killed mid-wait", function()
    local dir, path = H.project(H.state_text(3))
    local pid = holder(dir, path)
    os.execute(string.format("(sleep 0.3; kill -9 %d) &", pid))
    local r = H.run_json({ "allocate", "--timeout", "20" }, { cwd = dir })
    assert.are.equal("success", r.status)
    assert.is_true(r.lock_wait_ms >= 200, "waited only " .. r.lock_wait_ms .. " ms")
    assert.is_true(r.lock_wait_ms < 10000)
  end)
end)
