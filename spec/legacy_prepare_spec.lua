-- legacy_prepare_spec.lua: less under the lock (issue 17, item 2). The
-- legacy folder is made with its info under a private name before the
-- kernel lock (.state.lock.tmp-PID), entered under it by one rename, taken
-- away under it by one rename and removed after it. Private folders of
-- live waiters are never swept; those of killed ones are, by the next run.
local H = require "spec_helper"
local L = require "lock_helper"
local core = require "tasknum.core"

local function has_strace() return H.ok("command -v strace >/dev/null 2>&1") end

-- The strace lines of one traced allocation.
local function traced(args)
  return H.strace(args, "mkdir,mkdirat,openat,write,rename,renameat,renameat2,unlink,unlinkat,rmdir,fcntl,close")
end

local find = H.find_line

local function count(lines, pattern, from, to)
  local n = 0
  for i = from, to do
    if lines[i]:find(pattern) then n = n + 1 end
  end
  return n
end

-- The lines from the kernel lock's grant to its release (the lock file's
-- descriptor closed).
local function under_lock(lines)
  local got = find(lines, "F_OFD_SETLKW?, {l_type=F_WRLCK.-%) = 0")
  assert(got, "no lock taken:\n" .. table.concat(lines, "\n"))
  local fd = lines[got]:match("^%d*%s*fcntl%((%d+)<[^>]*%.state%.json%.lock>")
  assert(fd, "the lock was not taken on the lock file: " .. lines[got])
  local released = find(lines, "close%(" .. fd .. "<[^>]*%.state%.json%.lock>%) = 0", got)
  assert(released, "the lock file was never closed:\n" .. table.concat(lines, "\n"))
  return got, released
end

-- An allocation (after a long wait) whose folder, prepared before the
-- lock, is dropped under it and made again before it is entered.
local function allocated_afresh(specs, state)
  local lines, out, code = traced({ "allocate", "--state", state, "--format", "plain", "--timeout", "20" })
  assert.equal(0, code, out)
  assert.equal("10\n", out)
  local all = table.concat(lines, "\n")
  local got, released = under_lock(lines)
  local tmp = "%.state%.lock%.tmp%-%d+"
  assert(find(lines, "mkdirat%(.-\"" .. tmp .. "\"") < got, "not prepared before the lock:\n" .. all)
  local dropped = find(lines, "unlinkat%(.-\"" .. tmp .. "\", AT_REMOVEDIR%) = 0", got)
  assert(dropped and dropped < released, "the one prepared was not dropped:\n" .. all)
  local again = find(lines, "mkdirat%(.-\"" .. tmp .. "\"", dropped)
  assert(again and again < released, "not made again under the lock:\n" .. all)
  assert(find(lines, "renameat2%(.-\"" .. tmp .. "\", .-\"%.state%.lock\", RENAME_NOREPLACE%) = 0", again),
    "the new one not entered:\n" .. all)
  assert.is_nil(H.ls(specs):find(".state.lock", 1, true), "left: " .. H.ls(specs))
end

describe("the legacy lock folder, prepared before the kernel lock", function()
  local dir, state, specs

  before_each(function()
    dir, state = H.project(H.state_text(10))
    specs = state:match("^(.*)/")
  end)

  after_each(function()
    L.kill_owned()
    H.cleanup()
  end)

  it("is entered by one rename under the lock, taken away by one, and removed after it", function()
    if not has_strace() then pending("needs strace to see the system calls") return end
    local lines, out, code = traced({ "allocate", "--state", state, "--format", "plain" })
    assert.equal(0, code, out)
    assert.equal("10\n", out)
    local all = table.concat(lines, "\n")
    local got, released = under_lock(lines)
    local tmp = "%.state%.lock%.tmp%-%d+"
    local made = find(lines, "mkdirat%(.-\"" .. tmp .. "\"")
    local info = find(lines, "openat%(%d+<[^>]*" .. tmp .. ">, \"info\", O_WRONLY|O_CREAT|O_EXCL")
    assert(made and made < got, "the folder was not made before the lock:\n" .. all)
    assert(info and info < got, "its info was not written before the lock:\n" .. all)
    local enter = find(lines, "renameat2%(.-\"" .. tmp .. "\", .-\"%.state%.lock\", RENAME_NOREPLACE%) = 0", got)
    local leave = find(lines, "renameat2?%(.-\"%.state%.lock\", .-\"" .. tmp .. "\".-%) = 0", got)
    assert(enter and enter < released, "not entered by a rename under the lock:\n" .. all)
    assert(leave and enter < leave and leave < released, "not taken away by a rename under the lock:\n" .. all)
    assert.equal(2, count(lines, "renameat2?%(.-%.state%.lock", got, released), "renames under the lock:\n" .. all)
    assert.equal(0, count(lines, "mkdir", got, released), "a folder made under the lock:\n" .. all)
    assert.equal(0, count(lines, "unlink", got, released), "a name removed under the lock:\n" .. all)
    assert.equal(0, count(lines, "rmdir", got, released), "a folder removed under the lock:\n" .. all)
    assert.equal(0, count(lines, "O_CREAT.-" .. "%.state%.lock", got, released), "info written under the lock:\n" .. all)
    local removed = find(lines, "unlinkat%(.-\"" .. tmp .. "\", AT_REMOVEDIR%) = 0", released)
    assert(removed, "the folder taken away was not removed after the lock:\n" .. all)
    assert.is_nil(H.ls(specs):find(".state.lock", 1, true), "left: " .. H.ls(specs))
  end)

  it("of a live waiter is left alone by the others; one killed while waiting is swept", function()
    local holder = L.bg_owned(L.cmd({ "lock", "--state", state, "--", "sleep", "3" }, dir .. "/holder"))
    assert(L.wait_until(function() return core.probe(L.lock_path(state)) and L.exists(L.folder(state)) end, 10),
      "the holder did not get the lock")
    local function private()
      local pids = {}
      for pid in H.ls(specs):gmatch("%.state%.lock%.tmp%-(%d+)") do -- not the keeper's spare
        if not (H.read("/proc/" .. pid .. "/comm") or ""):match("^tasknum%-keeper") then pids[#pids + 1] = tonumber(pid) end
      end
      return pids
    end
    L.bg_owned(L.cmd({ "allocate", "--state", state, "--timeout", "20" }, dir .. "/a"))
    assert(L.wait_until(function() return #private() == 1 end, 10), "no folder prepared: " .. H.ls(specs))
    local a = private()[1]
    local victim = L.bg_owned("exec " .. L.cmd({ "allocate", "--state", state, "--timeout", "20" }, dir .. "/v"))
    assert(L.wait_until(function() return #private() == 2 end, 10), "no second folder prepared: " .. H.ls(specs))
    local v = private()[1] == a and private()[2] or private()[1]
    os.execute("kill -KILL " .. v .. " 2>/dev/null")
    L.kill_group(victim)
    assert(L.wait_until(function() return not core.alive(v) end, 5))
    -- another run, while the lock is held: it gives up at once, sweeping
    -- the killed one's folder and leaving the live waiter's
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0" })
    assert.equal(75, code, r.error_message)
    assert.equal("LOCK_TIMEOUT", r.error_code)
    assert.are.same({ a }, private(), H.ls(specs))
    assert.is_true(L.exists(specs .. "/.state.lock.tmp-" .. a .. "/info"))
    -- the holder ends; the waiter enters its folder and allocates
    local ra, ca = L.result(dir .. "/a", 20)
    assert.equal(0, ca, type(ra) == "table" and ra.error_message or ra)
    assert.are.same({ 10 }, ra.allocated_numbers)
    assert(L.wait_until(function() return not core.alive(holder) end, 10))
    assert.is_nil(H.ls(specs):find(".state.lock", 1, true), "left: " .. H.ls(specs))
    assert.matches('"next_project_number": 11', H.read(state), 1, true)
  end)

  it("after a long wait for the lock, is made afresh under it (its mtime and EPOCH are not that old)", function()
    if not has_strace() then pending("needs strace to see the system calls") return end
    L.bg_owned(L.cmd({ "lock", "--state", state, "--", "sleep", "1.6" }, dir .. "/holder"))
    assert(L.wait_until(function() return core.probe(L.lock_path(state)) and L.exists(L.folder(state)) end, 10),
      "the holder did not get the lock")
    allocated_afresh(specs, state)
  end)

  it("after a long wait for an old script's folder, is made when its turn comes (its mtime is not that old)", function()
    if not has_strace() then pending("needs strace to see the system calls") return end
    local script = L.bg_owned("exec sleep 60")
    assert(L.wait_until(function() return core.alive(script) end, 5))
    L.make_folder(state, script .. ":" .. os.time() .. "\n")
    L.bg_owned("sleep 1.6; rm -rf " .. H.q(L.folder(state)))
    allocated_afresh(specs, state)
  end)
end)
