-- core_spec.lua: the C core through its Lua binding, tasknum.core: the
-- allocation arithmetic, the OFD lock (held by real other processes), the
-- durable replace and the sweeping of leftover temp files.
--
-- Cases that need root (owner kept, read-only and full file systems, which
-- are made with tmpfs mounts) are reported pending otherwise, never passed.
local H = require "spec_helper"
local core = require "tasknum.core"

local LUA = os.getenv("TASKNUM_LUA") or "lua5.4"
local CPATH = H.build .. "/lib/?.so;;"   -- for the child lua5.4 processes

-- errno values, as the module exports them
local ENOENT, EACCES, ENOSPC, EROFS, ELOOP = core.ENOENT, core.EACCES, core.ENOSPC, core.EROFS, core.ELOOP

local MAXI, MINI = math.maxinteger, math.mininteger

-- --- helpers --------------------------------------------------------------

local q, readfile, writefile, tmpdir = H.q, H.read, H.write, H.tmpdir

local sh, capture, wait_until = H.ok, H.capture, H.wait_until

local function is_root()
  return capture("id -u") == "0"
end

local function stat(fmt, path)
  return capture("stat -c " .. fmt .. " " .. q(path))
end

-- Names in dir that look like temp files of any kind.
local function temps_in(dir)
  local found = {}
  for _, name in ipairs(assert(core.listdir(dir))) do
    if name:find(".tmp-", 1, true) then found[#found + 1] = name end
  end
  return found
end


-- Times one call; returns the seconds it took, then its results.
local function timed(f, ...)
  local t0 = core.clock()
  local r = table.pack(f(...))
  return core.clock() - t0, table.unpack(r, 1, r.n)
end

-- A stock lua5.4 process that takes the lock on path with a holder record
-- and keeps it until its stdin closes (child:close()), or, with hold_for, for
-- that many seconds, then releases it and writes the release instant (on
-- the shared monotonic clock) to stamp.
local function spawn_holder(path, hold_for, stamp)
  local keep = "io.read('a')"
  if hold_for then
    keep = ("os.execute('sleep %s'); local t = core.clock(); h:release(); "
      .. "local f = io.open(%q, 'w'); f:write(string.format('%%.9f', t)); f:close()")
      :format(hold_for, stamp)
  end
  local script = ([[
    local core = require "tasknum.core"
    local h = assert(core.lock(%q, 10,
      '{"pid":' .. core.pid() .. ',"purpose":"spec holder"}'))
    %s]]):format(path, keep)
  local child = assert(io.popen(("LUA_CPATH=%s exec %s -e %s"):format(
    q(CPATH), LUA, q(script)), "w"))
  assert(wait_until(function() return core.probe(path) == true end, 10),
    "the holder process did not take the lock")
  return child
end

local function holder_pid(path)
  return tonumber(assert(core.holder(path)):match('"pid":(%d+)'))
end

-- Mounts a tmpfs of the given size at a fresh folder (root only).
local function mount_tmpfs(size)
  if not is_root() then return nil, "needs root (mounts a tmpfs)" end
  local dir = tmpdir()
  if not sh(("mount -t tmpfs -o size=%s tmpfs %s 2>/dev/null"):format(size, q(dir))) then
    return nil, "cannot mount a tmpfs here"
  end
  return dir
end

local function unmount(dir)
  sh("umount " .. q(dir))
end

-- --- arithmetic ----------------------------------------------------------

describe("core.take", function()
  local function take(...)
    local numbers, new_next, wrapped = core.take(...)
    assert.is_table(numbers, "take failed: " .. tostring(new_next))
    return numbers, new_next, wrapped
  end

  local function refused(next, count, min, max)
    local ok, numbers, msg, code = pcall(core.take, next, count, min, max)
    -- a refusal is nil + message (the range check), or a raised error for
    -- a count the binding will not list; never a list of numbers
    assert.is_true(not ok or numbers == nil,
      ("take(%d, %d, %d, %d) handed out numbers"):format(next, count, min, max))
    if ok then
      assert.is_string(msg)
      assert.is_not_nil(code)
    end
  end

  it("hands out consecutive numbers", function()
    assert.same({ { 5, 6, 7 }, 8, false }, { take(5, 3, 0, 999) })
  end)

  it("stops just short of max without wrapping", function()
    assert.same({ { 997, 998 }, 999, false }, { take(997, 2, 0, 999) })
  end)

  it("wraps when the counter passes max, even for [max] alone", function()
    assert.same({ { 999 }, 0, true }, { take(999, 1, 0, 999) })
    assert.same({ { 998, 999, 0 }, 1, true }, { take(998, 3, 0, 999) })
    assert.same({ { 997, 998, 999 }, 0, true }, { take(997, 3, 0, 999) })
  end)

  it("hands out the whole range when count equals its size", function()
    local numbers, new_next, wrapped = take(500, 1000, 0, 999)
    assert.equal(1000, #numbers)
    assert.same({ 500, 999, 0, 499 },
      { numbers[1], numbers[500], numbers[501], numbers[1000] })
    assert.equal(500, new_next)
    assert.is_true(wrapped)
    local seen = {}
    for _, n in ipairs(numbers) do
      assert.is_nil(seen[n], "duplicate " .. n)
      seen[n] = true
    end
    assert.same({ { 0, 1 }, 0, true }, { take(0, 2, 0, 1) })
  end)

  it("handles a one-number range and negative ranges", function()
    assert.same({ { 7 }, 7, true }, { take(7, 1, 7, 7) })
    assert.same({ { -2, -1, -3 }, -2, true }, { take(-2, 3, -3, -1) })
  end)

  it("is exact at the 64-bit extremes", function()
    assert.same({ { MAXI, MINI }, MINI + 1, true }, { take(MAXI, 2, MINI, MAXI) })
    assert.same({ { MINI, MINI + 1 }, MINI + 2, false }, { take(MINI, 2, MINI, MAXI) })
    assert.same({ { -1, 0, 1 }, 2, false }, { take(-1, 3, MINI, MAXI) })
    assert.same({ { MAXI }, 0, true }, { take(MAXI, 1, 0, MAXI) })
    assert.same({ { MAXI, MAXI - 1 }, MAXI, true }, { take(MAXI, 2, MAXI - 1, MAXI) })
    assert.same({ { MINI + 1, MINI }, MINI + 1, true }, { take(MINI + 1, 2, MINI, MINI + 1) })
  end)

  it("refuses a count below 1 or beyond the range", function()
    refused(0, 0, 0, 999)
    refused(0, -1, 0, 999)
    refused(0, MINI, 0, 999)
    refused(0, 1001, 0, 999)
    refused(5, 2, 5, 5)
    refused(0, MAXI, 0, 999)
    refused(1, MAXI, 1, MAXI)           -- fits the range, far too many to list
  end)

  it("refuses bad ranges and a counter outside the range", function()
    refused(0, 1, 1, 0)
    refused(MAXI, 1, MAXI, MINI)
    refused(-1, 1, 0, 999)
    refused(1000, 1, 0, 999)
    refused(MINI, 1, MINI + 1, MAXI)
    refused(MAXI, 1, MINI, MAXI - 1)
  end)

  it("raises on non-integer arguments", function()
    assert.has_error(function() core.take(1.5, 1, 0, 999) end)
    assert.has_error(function() core.take(1, nil, 0, 999) end)
  end)
end)

-- --- lock ----------------------------------------------------------------

describe("core.lock", function()
  local dir, path, child

  before_each(function()
    dir = tmpdir()
    path = dir .. "/state.lock"
  end)

  after_each(function()
    if child then
      child:close()                    -- its stdin closes: it exits
      child = nil
    end
    H.cleanup()
  end)

  it("takes a free lock, creating the file, and releases it", function()
    local h = assert(core.lock(path, 0))
    assert.is_true(core.probe(path))
    assert.equal("0", capture("test -f " .. q(path) .. " && echo 0"))
    h:release()
    assert.is_false(core.probe(path))
    h:release()                         -- idempotent
    assert.matches("released", tostring(h))
    assert.has_error(function() h:describe("x") end)
  end)

  it("is per open file: a second handle in the same process must wait", function()
    local h = assert(core.lock(path, 0))
    local none, msg, code = core.lock(path, 0)
    assert.is_nil(none)
    assert.is_string(msg)
    assert.equal(core.ETIMEDOUT, code)
    h:release()
    assert(core.lock(path, 0)):release()
  end)

  it("is released by <close> and by garbage collection", function()
    do
      local h <close> = assert(core.lock(path, 0))
      assert.is_true(core.probe(path))
    end
    assert.is_false(core.probe(path))
    local h = assert(core.lock(path, 0))
    assert.is_true(core.probe(path))
    h = nil                             -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_false(core.probe(path))
  end)

  it("with timeout 0 tries once and reports a held lock as a timeout", function()
    child = spawn_holder(path)
    local took, h, msg, code = timed(core.lock, path, 0)
    assert.is_nil(h)
    assert.is_string(msg)
    assert.equal(core.ETIMEDOUT, code)
    assert.is_true(took < 0.5, "timeout 0 took " .. took .. " s") -- one try, no wait (a loose bound: a busy machine)
  end)

  it("honours a fractional timeout", function()
    child = spawn_holder(path)
    local took, h, _, code = timed(core.lock, path, 0.05)
    assert.is_nil(h)
    assert.equal(core.ETIMEDOUT, code)
    assert.is_true(took >= 0.049, "gave up early: " .. took .. " s")
    assert.is_true(took < 2, "gave up late: " .. took .. " s")
    took, h, _, code = timed(core.lock, path, 0.25)
    assert.equal(core.ETIMEDOUT, code)
    assert.is_true(took >= 0.249 and took < 2.5, "0.25 s took " .. took .. " s")
  end)

  it("lets a waiter read the holder's record", function()
    child = spawn_holder(path)
    local record = assert(core.holder(path))
    assert.matches('"purpose":"spec holder"', record, 1, true)
    local pid = holder_pid(path)
    assert.is_true(pid > 0 and pid ~= core.pid())
  end)

  it("describe replaces the whole record", function()
    local h = assert(core.lock(path, 0, "a long first record"))
    assert.equal("a long first record", core.holder(path))
    assert.is_true(h:describe("short"))
    assert.equal("short", core.holder(path))
    h:release()
  end)

  it("can be taken again once released", function()
    child = spawn_holder(path)
    assert.equal(core.ETIMEDOUT, select(3, core.lock(path, 0)))
    child:close()
    child = nil
    assert.is_false(core.probe(path))
    local h = assert(core.lock(path, 0))
    h:release()
  end)

  -- A waiter traced while a holder keeps the lock for 0.6 s: one try
  -- (F_OFD_SETLK), then one blocking F_OFD_SETLKW that the kernel ends at
  -- the release, and the caller asleep in one ppoll until then; a poller
  -- would show a try or a sleep per tick. Counted, not timed: a busy
  -- machine cannot make it fail, a loop cannot make it pass.
  it("wakes a waiter when the holder releases, without polling (strace)", function()
    if not sh("command -v strace >/dev/null") then pending("needs strace to count the waiter's calls") return end
    local stamp, trace = dir .. "/released", dir .. "/trace"
    child = spawn_holder(path, 0.6, stamp)
    local waiter = ([[
      local core = require "tasknum.core"
      local h = assert(core.lock(%q, 30))
      io.write(string.format("%%.9f", core.clock()))
      h:release()]]):format(path)
    local out = capture(("LUA_CPATH=%s strace -f -qq -o %s "
      .. "-e trace=fcntl,ppoll,poll,select,pselect6,nanosleep,clock_nanosleep %s -e %s"):format(
      q(CPATH), q(trace), LUA, q(waiter)))
    child:close()                      -- the stamp is written by now
    child = nil
    local acquired, released = tonumber(out), tonumber(readfile(stamp))
    assert.is_truthy(acquired, "the waiter said: " .. tostring(out))
    assert.is_true(acquired >= released, "the waiter got the lock before the holder let it go")
    local log = readfile(trace)
    local function count(pattern)
      local n = 0
      for _ in log:gmatch(pattern) do n = n + 1 end
      return n
    end
    assert.equal(1, count("F_OFD_SETLK,"), log)
    assert.equal(1, count("F_OFD_SETLKW,"), log)
    assert.equal(0, count("nanosleep%(") + count("select%(") + count("[^p]poll%("), log)
    assert.is_true(count("ppoll%(") <= 2, log)
  end)

  it("is freed at once when its holder is killed with SIGKILL", function()
    child = spawn_holder(path)
    local pid = holder_pid(path)
    assert.is_true(sh("kill -KILL " .. pid))
    local took, h = timed(core.lock, path, 10)
    assert.is_not_nil(h)
    assert.is_true(took < 5, "took " .. took .. " s after the kill")
    h:release()
  end)

  it("never opens the lock file through a symlink", function()
    assert.is_true(sh("ln -s " .. q(dir .. "/elsewhere") .. " " .. q(path)))
    local h, msg, code = core.lock(path, 0)
    assert.is_nil(h)
    assert.is_string(msg)
    assert.equal(ELOOP, code)
    assert.is_false(sh("test -e " .. q(dir .. "/elsewhere")))
  end)

  it("probe and holder on a missing lock file", function()
    assert.is_false(core.probe(path))
    local none, msg, code = core.holder(path)
    assert.is_nil(none)
    assert.matches(path, msg, 1, true)
    assert.equal(ENOENT, code)
  end)
end)

-- --- durable replace -----------------------------------------------------

describe("core.replace", function()
  local dir, path

  before_each(function()
    dir = tmpdir()
    path = dir .. "/state.json"
  end)

  after_each(function()
    H.cleanup()
  end)

  it("replaces the content and leaves no temp file", function()
    writefile(path, "old\n")
    assert.is_true(core.replace(path, '{"next_project_number": 1}\n'))
    assert.equal('{"next_project_number": 1}\n', readfile(path))
    assert.same({}, temps_in(dir))
    assert.equal(0, core.temps(path))
  end)

  it("writes every byte, NULs and all", function()
    local text = "a\0b\r\n" .. string.rep("x", 100000) .. "\255"
    assert.is_true(core.replace(path, text))
    assert.equal(text, readfile(path))
    assert.is_true(core.replace(path, ""))
    assert.equal("", readfile(path))
  end)

  it("creates a missing file with 0644 less the umask", function()
    local umask = tonumber(capture("umask"), 8)
    assert.is_true(core.replace(path, "new"))
    assert.equal(("%o"):format(0x1a4 & ~umask), stat("%a", path))   -- 0x1a4 = 0644
  end)

  it("keeps the file's mode", function()
    for _, mode in ipairs({ "600", "664", "444" }) do
      writefile(path, "old")
      assert.is_true(sh("chmod " .. mode .. " " .. q(path)))
      assert.is_true(core.replace(path, "new " .. mode))
      assert.equal(mode, stat("%a", path))
      assert.equal("new " .. mode, readfile(path))
      sh("rm -f " .. q(path))
    end
  end)

  it("keeps the file's owner and group when running as root", function()
    if not is_root() then pending("needs root to chown") end
    writefile(path, "old")
    assert.is_true(sh("chown 1234:1234 " .. q(path) .. " && chmod 640 " .. q(path)))
    assert.is_true(core.replace(path, "new"))
    assert.equal("1234:1234 640", stat("'%u:%g %a'", path))
  end)

  it("follows a symlink: the link stays, its target gets the content", function()
    assert.is_true(sh("mkdir " .. q(dir .. "/real")))
    local target = dir .. "/real/state.json"
    writefile(target, "old")
    assert.is_true(sh("chmod 600 " .. q(target)))
    assert.is_true(sh("ln -s real/state.json " .. q(path)))
    assert.is_true(core.replace(path, "via the link"))
    assert.is_true(sh("test -L " .. q(path)))
    assert.equal("via the link", readfile(target))
    assert.equal("600", stat("%a", target))
    assert.same({}, temps_in(dir))
    assert.same({}, temps_in(dir .. "/real"))
  end)

  it("fails cleanly when the folder is missing", function()
    local none, msg, code = core.replace(dir .. "/nope/state.json", "x")
    assert.is_nil(none)
    assert.matches(dir .. "/nope", msg, 1, true)
    assert.equal(ENOENT, code)
  end)

  it("fails cleanly in a folder it may not write", function()
    if is_root() then pending("root ignores permissions; see the read-only file system case") end
    writefile(path, "old")
    assert.is_true(sh("chmod 555 " .. q(dir)))
    local none, msg, code = core.replace(path, "new")
    sh("chmod 755 " .. q(dir))
    assert.is_nil(none)
    assert.matches(dir, msg, 1, true)
    assert.equal(EACCES, code)
    assert.equal("old", readfile(path))
    assert.same({}, temps_in(dir))
  end)

  it("fails cleanly on a read-only file system", function()
    local mnt, why = mount_tmpfs("64k")
    if not mnt then pending(why) end
    finally(function() unmount(mnt) end)
    writefile(mnt .. "/state.json", "old")
    assert.is_true(sh("mount -o remount,ro " .. q(mnt)))
    local none, msg, code = core.replace(mnt .. "/state.json", "new")
    assert.is_nil(none)
    assert.matches(mnt, msg, 1, true)
    assert.equal(EROFS, code)
    assert.equal("old", readfile(mnt .. "/state.json"))
    assert.same({}, temps_in(mnt))
  end)

  it("fails cleanly on a full file system", function()
    local mnt, why = mount_tmpfs("64k")
    if not mnt then pending(why) end
    finally(function() unmount(mnt) end)
    writefile(mnt .. "/state.json", "old")
    local none, msg, code = core.replace(mnt .. "/state.json", string.rep("x", 256 * 1024))
    assert.is_nil(none)
    assert.matches(mnt, msg, 1, true)
    assert.equal(ENOSPC, code)
    assert.equal("old", readfile(mnt .. "/state.json"))
    assert.same({}, temps_in(mnt))
    assert.equal(0, core.temps(mnt .. "/state.json"))
  end)
end)

-- --- leftover temp files -------------------------------------------------

describe("core.sweep and core.temps", function()
  local dir, path

  before_each(function()
    dir = tmpdir()
    path = dir .. "/state.json"
    writefile(path, "{}")
  end)

  after_each(function()
    H.cleanup()
  end)

  local matching = { ".state.json.tmp-abc123", ".state.json.tmp-XYZ789" }
  local others = {
    ".state.json.tmp-abc12",            -- five characters
    ".state.json.tmp-abc1234",          -- seven
    ".state.json.tmp-ab_123",           -- not what mkostemp makes
    ".other.json.tmp-abc123",           -- another file's temp
    "state.json.tmp-abc123",            -- no leading dot
    ".state.jsonXtmp-abc123",
    "state.json.backup",
  }

  local function populate(where)
    for _, name in ipairs(matching) do writefile(where .. "/" .. name, "partial") end
    for _, name in ipairs(others) do writefile(where .. "/" .. name, "keep") end
  end

  it("counts and removes exactly the temp files of that file", function()
    populate(dir)
    assert.equal(2, core.temps(path))
    assert.equal(2, core.sweep(path))
    assert.equal(0, core.temps(path))
    for _, name in ipairs(matching) do
      assert.is_false(sh("test -e " .. q(dir .. "/" .. name)), name)
    end
    for _, name in ipairs(others) do
      assert.equal("keep", readfile(dir .. "/" .. name), name)
    end
    assert.equal("{}", readfile(path))
    assert.equal(0, core.sweep(path))
  end)

  it("leaves a foreign object in a temp file's name in place and names it", function()
    -- a folder, a link to a folder full of files, a FIFO: none is a temp
    -- file tasknum made; sweeping never follows or removes them
    writefile(dir .. "/victim/a", "keep")
    for _, case in ipairs({
      { "mkdir %s", "is a folder", core.EISDIR },
      { "ln -s victim %s", "is a symbolic link", core.ELOOP },
      { "mkfifo %s", "is a FIFO", core.ENXIO },
    }) do
      local name = dir .. "/.state.json.tmp-for123"
      assert.is_true(sh(case[1]:format(q(name))))
      for _, f in ipairs({ core.temps, core.sweep }) do
        local none, msg, errno = f(path)
        assert.is_nil(none)
        assert.matches(name .. ": " .. case[2], msg, 1, true)
        assert.equal(case[3], errno)
      end
      assert.is_true(sh("test -e " .. q(name) .. " -o -L " .. q(name)), case[2])
      assert.equal("keep", readfile(dir .. "/victim/a"))
      assert.is_true(sh("rm -rf " .. q(name)))
    end
  end)

  it("looks beside the symlink's real target", function()
    assert.is_true(sh("mkdir " .. q(dir .. "/real")))
    writefile(dir .. "/real/state.json", "{}")
    local link = dir .. "/link"
    assert.is_true(sh("mkdir " .. q(link) .. " && ln -s ../real/state.json " .. q(link .. "/state.json")))
    populate(dir .. "/real")
    writefile(link .. "/.state.json.tmp-aaaaaa", "beside the link")
    assert.equal(2, core.temps(link .. "/state.json"))
    assert.equal(2, core.sweep(link .. "/state.json"))
    assert.equal("beside the link", readfile(link .. "/.state.json.tmp-aaaaaa"))
  end)

  it("fails with nil, message, errno when the folder is missing", function()
    local none, msg, code = core.sweep(dir .. "/nope/state.json")
    assert.is_nil(none)
    assert.is_string(msg)
    assert.equal(ENOENT, code)
    assert.is_nil((core.temps(dir .. "/nope/state.json")))
  end)
end)

-- --- one failure shape ---------------------------------------------------

-- Every OS failure is nil, message, errno with errno an integer that Lua
-- compares with the module's own constants; the JSON scanner keeps its
-- nil, reason, offset family.
describe("core.overwrite (a record rewritten in place)", function()
  after_each(function() H.cleanup() end)

  it("writes the bytes of a regular file in place", function()
    local dir = tmpdir()
    writefile(dir .. "/mark", "aaaa")
    assert.is_true(core.overwrite(dir .. "/mark", 1, "bb"))
    assert.equal("abba", readfile(dir .. "/mark"))
  end)

  it("never through a link, on a FIFO or on a file with other names", function()
    local dir = tmpdir()
    writefile(dir .. "/victim", "keep")
    assert.is_true(sh("ln -s victim " .. q(dir .. "/link") .. " && ln " .. q(dir .. "/victim") .. " "
      .. q(dir .. "/hard") .. " && mkfifo " .. q(dir .. "/fifo")))
    for _, case in ipairs({ { "link", core.ELOOP }, { "hard", core.EMLINK }, { "fifo", core.ENXIO } }) do
      local ok, msg, errno = core.overwrite(dir .. "/" .. case[1], 0, "XX")
      assert.is_nil(ok, case[1])
      assert.matches(dir .. "/" .. case[1], msg, 1, true)
      assert.equal(case[2], errno, case[1])
    end
    assert.equal("keep", readfile(dir .. "/victim"))
  end)
end)

describe("the failure shape of tasknum.core", function()
  local SEAM = { "ENOENT", "EEXIST", "EINTR", "ETIMEDOUT", "ERANGE", "EACCES", "ENOTDIR",
    "EINVAL", "EAGAIN", "EBUSY", "ENOMEM", "ENOSPC", "EROFS", "EISDIR", "ELOOP", "EPERM",
    "EMFILE", "ENFILE", "EIO", "ESTALE", "EBADF", "EXDEV", "ENOTEMPTY" }

  after_each(function()
    H.cleanup()
  end)

  -- Asserts the triple nil, a string, the errno named want (an integer).
  local function fails_with(want, none, msg, code)
    assert.is_nil(none)
    assert.is_string(msg)
    assert.equal("integer", math.type(code), "errno " .. tostring(code) .. " is not an integer")
    assert.equal(core[want], code, "expected " .. want .. ", got " .. tostring(code))
  end

  it("exports every errno constant as a distinct positive integer", function()
    local seen = {}
    for _, name in ipairs(SEAM) do
      local v = core[name]
      assert.equal("integer", math.type(v), name .. " is not an integer")
      assert.is_true(v > 0, name)
      assert.is_nil(seen[v], name .. " has the value of " .. tostring(seen[v]))
      seen[v] = name
    end
    for k, v in pairs(core) do
      if k:match("^E[A-Z]+$") then assert.equal("integer", math.type(v), k) end
    end
  end)

  it("a lock wait that runs out of time gives ETIMEDOUT", function()
    local path = tmpdir() .. "/state.lock"
    local h = assert(core.lock(path, 0))
    fails_with("ETIMEDOUT", core.lock(path, 0))
    fails_with("ETIMEDOUT", core.lock(path, 0.02))
    h:release()
  end)

  it("a lock wait that the host's stop flag ends gives EINTR", function()
    local dir = tmpdir()
    H.write(dir .. "/wait.lua", [[
      local core = require "tasknum.core"
      local h = assert(core.lock(arg[1], 0))
      local f = io.open(arg[2], "w") f:write(core.pid()) f:close()
      local none, msg, code = core.lock(arg[1], 30)
      io.write(tostring(none), "|", tostring(msg), "|", math.type(code) or type(code), "|",
        tostring(code == core.EINTR), "\n")]])
    -- Run by the binary, whose SIGTERM handler raises the flag; a signal
    -- that comes before the wait starts ends it just the same.
    local out = io.popen(("exec %s run %s %s %s 2>&1"):format(q(H.bin), q(dir .. "/wait.lua"),
      q(dir .. "/state.lock"), q(dir .. "/pid")))
    assert(wait_until(function() return (H.read(dir .. "/pid") or ""):match("%d+") end, 10))
    assert.is_true(sh("kill -TERM " .. H.read(dir .. "/pid")))
    local line = out:read("a")
    out:close()
    assert.equal("nil|interrupted while waiting for the lock|integer|true\n", line)
  end)

  it("take out of range gives ERANGE", function()
    fails_with("ERANGE", core.take(0, 0, 0, 999))
    fails_with("ERANGE", core.take(1000, 1, 0, 999))
    fails_with("ERANGE", core.take(0, 1, 1, 0))
  end)

  it("readfile of a missing file gives ENOENT, of a folder EISDIR", function()
    local dir = tmpdir()
    fails_with("ENOENT", core.readfile(dir .. "/missing"))
    fails_with("EISDIR", core.readfile(dir))
  end)

  it("a child still running when the wait runs out gives ETIMEDOUT", function()
    local child = assert(core.spawn({ "sleep", "5" }))
    fails_with("ETIMEDOUT", child:wait(0.02))
    assert.is_true(core.kill(child:pid(), 9))
    assert.equal(128 + 9, child:wait())
  end)

  it("the JSON scanner gives nil, reason, offset (1-based, nil when none)", function()
    assert.same({ n = 3, nil, "expected a member name", 2 }, table.pack(core.validate("{")))
    assert.same({ n = 3, nil, "absent", nil }, table.pack(core.member("{}", 1, 2, "a")))
    assert.same({ n = 3, nil, "not an integer", nil }, table.pack(core.integer("1.5", 1, 3)))
    assert.same({ n = 3, nil, "not an array", nil }, table.pack(core.elements("{}", 1, 2)))
  end)
end)

-- --- C resources held during a call --------------------------------------

describe("core calls that hold a descriptor, a folder or a string", function()
  after_each(function()
    H.cleanup()
  end)

  -- Open descriptors, once whatever earlier cases left to the collector
  -- (a popen'd file) has been closed.
  local function fds()
    collectgarbage()
    collectgarbage()
    return #assert(core.listdir("/proc/self/fd"))
  end

  it("release it on success and on failure", function()
    local dir = tmpdir()
    writefile(dir .. "/f", "text")
    local before = fds()
    for _ = 1, 50 do
      assert.equal("text", core.readfile(dir .. "/f"))
      assert.is_nil(core.readfile(dir .. "/missing"))
      assert.is_nil(core.readfile(dir))
      assert.same({ "f" }, core.listdir(dir))
      assert.is_nil(core.listdir(dir .. "/missing"))
      assert.is_string(core.cwd())
      assert.equal(dir .. "/f", core.realpath(dir .. "/./f"))
      assert.is_nil(core.realpath(dir .. "/missing"))
    end
    assert.equal(before, fds())
  end)

  -- A file that claims 15 TiB makes readfile's buffer allocation raise
  -- "not enough memory" with the file open: the handle made before the
  -- open closes it when collected (the fd leaked for good before). Run in
  -- the binary so that a sanitized build may return NULL for the
  -- allocation instead of aborting.
  it("release it when a Lua call raises in between (out of memory)", function()
    if capture("cat /proc/sys/vm/overcommit_memory") == "1" then
      pending("overcommit_memory is 1: a 15 TiB allocation could succeed")
      return
    end
    local dir = tmpdir()
    if not sh("truncate -s 15T " .. q(dir .. "/huge") .. " 2>/dev/null") then
      pending("this file system has no sparse 15 TiB files")
      return
    end
    writefile(dir .. "/raise.lua", [[
      local core = require "tasknum.core"
      local function fds() return #core.listdir("/proc/self/fd") end
      local before = fds()
      for _ = 1, 10 do
        local ok, err = pcall(core.readfile, arg[1])
        assert(not ok, "read 15 TiB")
        assert(tostring(err):find("memory"), err)
      end
      collectgarbage() collectgarbage()
      io.write(before, " ", fds(), "\n")]])
    local asan = (os.getenv("ASAN_OPTIONS") or "") .. ":allocator_may_return_null=1"
    local out, code, err = H.run({ "run", dir .. "/raise.lua", dir .. "/huge" },
      { env = { ASAN_OPTIONS = asan } })
    assert.equal(0, code, err)
    local before, after = out:match("^(%d+) (%d+)\n$")
    assert.is_not_nil(before, out)
    assert.equal(before, after)
  end)
end)
