-- File-system faults (SPEC guarantee 6): an unreadable state, a read-only
-- folder, a read-only file system, a full disk, a lock file that cannot be
-- made. Each is SYSTEM_ERROR (exit 71) naming the path and the errno text,
-- with the state byte for byte as it was and no temp file left. Then what
-- lives beside the state: temp files of a killed writer are swept by the
-- next allocation, a symlinked state is written at its target, the file
-- keeps its mode and owner.
--
-- Permissions do not stop root, so those cases run the binary as nobody
-- (setpriv; from a checkout nobody cannot enter, a copy of the binary that
-- nobody can run); the file-system cases mount a tmpfs. Where that is not
-- possible (not root) the case is pending with the reason, never passed.
local H = require "spec_helper"
local core = require "tasknum.core"

local sh, capture = H.ok, H.capture

local is_root, as_nobody = H.is_root, H.as_nobody

-- A tmpfs of that size mounted on a fresh folder, or nil and why not.
local function mount_tmpfs(size)
  if not is_root() then return nil, "needs root to mount a tmpfs" end
  local dir = H.tmpdir()
  if not sh(("mount -t tmpfs -o size=%s,mode=0755 tmpfs %s 2>/dev/null"):format(size, H.q(dir))) then
    return nil, "cannot mount a tmpfs here"
  end
  return dir
end

local function temps_in(dir)
  local names = H.ls(dir)
  return names:find(".tmp-", 1, true) and names or nil
end

-- The names in dir when the state's own temp file is among them (not the
-- legacy folder an allocation prepares as .state.lock.tmp-PID).
local function state_temp_in(dir)
  local names = H.ls(dir)
  return names:find(".state.json.tmp-", 1, true) and names or nil
end

-- Runs allocate and checks the SYSTEM_ERROR contract: exit 71, the path
-- and the errno text in the details, the state untouched, no temp file.
local function system_error(args, opts, state, text, path_named, errno_text)
  local r, code, err = H.run_json(args, opts)
  assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
  assert.are.equal(71, code)
  assert.matches("tasknum: SYSTEM_ERROR", err, 1, true)
  assert.matches(path_named, r.error.details, 1, true)
  assert.matches(path_named, r.error.message, 1, true)
  assert.matches(errno_text, r.error.details, 1, true)
  assert.is_false(r.lock_acquired and r.status == "success")
  assert.are.equal(text, H.read(state), "the state changed")
  local folder = state:match("^(.*)/")
  assert.is_nil(temps_in(folder), "temp file left")
  assert.is_nil(H.read(state .. ".backup"), "a sound state was backed up as corrupt")
  return r
end

-- A project whose folders nobody may enter; returns dir, specs folder, state.
local function open_project(text)
  local dir, path = H.project(text)
  sh("chmod 755 " .. H.q(dir) .. " " .. H.q(dir .. "/.opencode") .. " " .. H.q(dir .. "/.opencode/specs"))
  return dir, dir .. "/.opencode/specs", path
end

describe("file-system faults give SYSTEM_ERROR (71)", function()
  after_each(H.cleanup)

  it("an unreadable state file", function()
    local prefix, why = as_nobody()
    if not prefix then pending(why) return end
    local text = H.state_text(5)
    local dir, specs, path = open_project(text)
    sh("chown nobody " .. H.q(specs) .. " && chmod 600 " .. H.q(path))
    system_error({ "allocate" }, { cwd = dir, prefix = prefix }, path, text, path, "Permission denied")
  end)

  it("a read-only folder (the temp file cannot be made)", function()
    local prefix, why = as_nobody()
    if not prefix then pending(why) return end
    local text = H.state_text(5)
    local dir, specs, path = open_project(text)
    -- nobody may lock and write the state, but not create files beside it
    H.write(specs .. "/.state.json.lock", "")
    sh("chown nobody " .. H.q(path) .. " " .. H.q(specs .. "/.state.json.lock"))
    -- whatever needs the folder first (the legacy lock folder, the temp
    -- file) fails; the answer names the folder
    system_error({ "allocate" }, { cwd = dir, prefix = prefix }, path, text, specs, "Permission denied")
  end)

  it("a read-only folder: core.replace cannot make its temp file", function()
    local prefix, why = as_nobody()
    if not prefix then pending(why) return end
    local text = H.state_text(5)
    local dir, specs, path = open_project(text)
    sh("chown nobody " .. H.q(path))
    H.write(dir .. "/replace.lua", [[
      local core = require "tasknum.core"
      local ok, msg, errno = core.replace(arg[1], "new")
      io.write(tostring(ok), "|", tostring(msg), "|", tostring(errno), "\n")]])
    local out = H.run({ "run", dir .. "/replace.lua", path }, { prefix = prefix })
    assert.are.equal("nil|" .. specs .. ": Permission denied|" .. core.EACCES .. "\n", out)
    assert.are.equal(text, H.read(path))
    assert.is_nil(temps_in(specs))
  end)

  it("an unreadable state is reported, not skipped for an outer project's", function()
    local prefix, why = as_nobody()
    if not prefix then pending(why) return end
    local outer = H.state_text(900)
    local dir, _, outer_path = open_project(outer)
    local inner = dir .. "/inner/specs/state.json"
    H.write(inner, H.state_text(5))
    sh("chmod 755 " .. H.q(dir .. "/inner") .. " " .. H.q(dir .. "/inner/specs") .. " && chmod 600 " .. H.q(inner))
    local r = system_error({ "allocate" }, { cwd = dir .. "/inner", prefix = prefix }, inner,
      H.state_text(5), inner, "Permission denied")
    assert.are.equal(inner, r.state_path or inner)
    assert.are.equal(outer, H.read(outer_path))
  end)

  it("a lock file that cannot be created (read-only folder)", function()
    local prefix, why = as_nobody()
    if not prefix then pending(why) return end
    local text = H.state_text(5)
    local dir, specs, path = open_project(text)
    sh("chown nobody " .. H.q(path))
    local r = system_error({ "allocate" }, { cwd = dir, prefix = prefix }, path, text,
      specs .. "/.state.json.lock", "Permission denied")
    assert.is_false(r.lock_acquired)
    assert.are.equal("state.json ", H.ls(specs))
  end)

  it("a lock file that cannot be opened: a folder in its place", function()
    local text = H.state_text(5)
    local dir, path = H.project(text)
    sh("mkdir " .. H.q(dir .. "/.opencode/specs/.state.json.lock"))
    system_error({ "allocate" }, { cwd = dir }, path, text, ".state.json.lock", "is a folder, not a regular file")
  end)

  it("a lock file that cannot be opened: a symlink in its place is not followed", function()
    local text = H.state_text(5)
    local dir, path = H.project(text)
    sh("ln -s " .. H.q(dir .. "/elsewhere") .. " " .. H.q(dir .. "/.opencode/specs/.state.json.lock"))
    system_error({ "allocate" }, { cwd = dir }, path, text, ".state.json.lock", "is a symbolic link")
    assert.is_nil(H.read(dir .. "/elsewhere"), "the lock followed the symlink")
  end)

  it("a read-only file system", function()
    local mnt, why = mount_tmpfs("1m")
    if not mnt then pending(why) return end
    finally(function() sh("umount " .. H.q(mnt)) end)
    local text = H.state_text(5)
    local path = mnt .. "/state.json"
    H.write(path, text)
    assert.is_true(sh("mount -o remount,ro " .. H.q(mnt)))
    system_error({ "allocate", "--state", path }, {}, path, text, mnt, "Read-only file system")
  end)

  it("a read-only file system where the lock file exists already", function()
    local mnt, why = mount_tmpfs("1m")
    if not mnt then pending(why) return end
    finally(function() sh("umount " .. H.q(mnt)) end)
    local text = H.state_text(5)
    local path = mnt .. "/state.json"
    H.write(path, text)
    H.write(mnt .. "/.state.json.lock", "")
    assert.is_true(sh("mount -o remount,ro " .. H.q(mnt)))
    system_error({ "allocate", "--state", path }, {}, path, text, mnt, "Read-only file system")
  end)

  it("a full disk: the temp file cannot be written", function()
    local mnt, why = mount_tmpfs("64k")
    if not mnt then pending(why) return end
    finally(function() sh("umount " .. H.q(mnt)) end)
    -- a valid state of ~40 KB: its copy does not fit in what is left
    local active = {}
    for i = 1, 400 do active[i] = 100 + i end
    local text = H.state_text(5, { active = active })
    assert.is_true(#text > 36 * 1024 and #text < 48 * 1024, #text)
    local path = mnt .. "/state.json"
    H.write(path, text)
    local r = system_error({ "allocate", "--state", path }, {}, path, text, mnt, "No space left on device")
    assert.is_true(r.lock_acquired)
    -- with room again, the same state allocates
    sh("mount -o remount,size=1m " .. H.q(mnt))
    local ok = H.run_json({ "allocate", "--state", path })
    assert.are.equal("success", ok.status)
    assert.are.same({ 5 }, ok.allocated_numbers)
  end)
end)

describe("a state that is not a regular file, or too big for memory", function()
  after_each(H.cleanup)

  for _, case in ipairs({ { "a FIFO (an open would block)", "mkfifo %s" },
                          { "a character device like /dev/zero (a read would never end)", "mknod %s c 1 5" } }) do
    it(case[1] .. " is SYSTEM_ERROR, and nothing is made beside it", function()
      local dir = H.tmpdir()
      local path = dir .. "/state.json"
      if not sh(case[2]:format(H.q(path)) .. " 2>/dev/null") then pending("cannot make one here") return end
      local r, code = H.run_json({ "allocate", "--state", path, "--timeout", "1" })
      assert.are.equal("SYSTEM_ERROR", r.error_code)
      assert.are.equal(71, code)
      assert.matches("not a regular file", r.error.message, 1, true)
      assert.matches(path, r.error.details, 1, true)
      assert.are.equal("state.json ", H.ls(dir))
    end)
  end

  it("running out of memory is SYSTEM_ERROR (ENOMEM), with an answer and the state untouched", function()
    if H.wrap ~= "" or (os.getenv("TASKNUM_BUILD") or ""):find("san") then
      pending("an address-space limit cannot work under valgrind or ASan") return
    end
    if not sh("command -v prlimit >/dev/null") then pending("needs prlimit (util-linux)") return end
    local dir = H.tmpdir()
    local path = dir .. "/state.json"
    sh("truncate -s 300M " .. H.q(path))
    local r, code = H.run_json({ "allocate", "--state", path }, { prefix = "prlimit --as=450000000" })
    assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
    assert.are.equal(71, code)
    assert.are.equal("out of memory", r.error.message)
    assert.is_true(r.retry_suggested)
    assert.are.equal("300M", capture("du -h --apparent-size " .. H.q(path) .. " | cut -f1"))
    assert.is_nil(temps_in(dir))
  end)
end)

describe("beside the state", function()
  after_each(H.cleanup)

  it("the next allocation removes the temp files of killed writers, and only those", function()
    local dir, path = H.project(H.state_text(5))
    local specs = dir .. "/.opencode/specs"
    for _, name in ipairs({ ".state.json.tmp-Ab12Cd", ".state.json.tmp-000000" }) do
      H.write(specs .. "/" .. name, '{"half": "writ')
    end
    local keep = { ".state.json.tmp-toolong7", ".other.json.tmp-abcdef", "state.json.tmp-abcdef",
                   ".state.json.tmp-ab.def" }
    for _, name in ipairs(keep) do H.write(specs .. "/" .. name, "not ours") end
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("success", r.status)
    assert.is_nil(H.read(specs .. "/.state.json.tmp-Ab12Cd"))
    assert.is_nil(H.read(specs .. "/.state.json.tmp-000000"))
    for _, name in ipairs(keep) do assert.are.equal("not ours", H.read(specs .. "/" .. name), name) end
  end)

  it("a folder in a temp file's name is foreign: an error naming it, left in place", function()
    local text = H.state_text(5)
    local dir, path = H.project(text)
    local specs = dir .. "/.opencode/specs"
    sh("mkdir " .. H.q(specs .. "/.state.json.tmp-Dir123") .. " && touch " .. H.q(specs .. "/.state.json.tmp-Dir123/x"))
    local r, code = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.are.equal(71, code)
    assert.matches(specs .. "/.state.json.tmp-Dir123: is a folder", r.error.message, 1, true)
    assert.are.equal(text, H.read(path))
    assert.is_true(sh("test -f " .. H.q(specs .. "/.state.json.tmp-Dir123/x")))
  end)

  it("a writer killed between its fsync and its rename leaves a temp file the next one removes", function()
    if not sh("command -v strace >/dev/null") then pending("needs strace to hold the writer in fsync") return end
    local dir, path = H.project(H.state_text(5))
    local specs = dir .. "/.opencode/specs"
    -- strace holds the first fsync (the temp file's) for 3 s: time to kill it
    local tracer = tonumber(capture(string.format(
      "strace -f -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=3000000:when=1 %s allocate --state %s"
      .. " >/dev/null 2>&1 & echo $!", H.q(H.bin), H.q(path))))
    local writer
    for _ = 1, 500 do
      writer = tonumber(capture("env -u LD_PRELOAD pgrep -P " .. tracer .. " 2>/dev/null | head -1"))
      if writer and state_temp_in(specs) then break end
      sh("sleep 0.01")
    end
    assert.is_truthy(writer, "the writer did not start")
    assert.is_truthy(state_temp_in(specs), "the writer made no temp file")
    sh("kill -9 " .. writer)
    sh("while kill -0 " .. tracer .. " 2>/dev/null; do sleep 0.01; done")
    assert.is_truthy(state_temp_in(specs), "the killed writer's temp file is gone already")
    assert.are.equal(H.state_text(5), H.read(path))
    local r = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.is_nil(temps_in(specs), "the temp file was not swept")
  end)

  it("a symlinked state is written at its target, the temp file beside the target", function()
    local prefix, why = as_nobody()
    if not prefix then pending(why) return end
    local dir = H.tmpdir()
    sh("chmod 755 " .. H.q(dir))
    local real = dir .. "/real/state.json"
    H.write(real, H.state_text(5))
    sh("chown -R nobody " .. H.q(dir .. "/real"))
    -- the link's folder is root's: nothing could be created beside the link
    sh("mkdir -p " .. H.q(dir .. "/.opencode/specs") .. " && chmod -R 755 " .. H.q(dir .. "/.opencode"))
    sh("ln -s ../../real/state.json " .. H.q(dir .. "/.opencode/specs/state.json"))
    local r, code = H.run_json({ "allocate" }, { cwd = dir, prefix = prefix })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.is_nil(r.audit_error)
    assert.are.equal(H.state_text(6), H.read(real))
    assert.are.equal("symbolic link", capture("stat -c %F " .. H.q(dir .. "/.opencode/specs/state.json")))
    assert.are.equal("state.json ", H.ls(dir .. "/.opencode/specs"))
    assert.matches(".state.json.lock", H.ls(dir .. "/real"), 1, true)
    assert.matches(".state.json.audit.jsonl", H.ls(dir .. "/real"), 1, true)
  end)

  it("keeps the state's mode, owner and group (running as root)", function()
    if not is_root() then pending("needs root to give the file another owner") return end
    local dir, path = H.project(H.state_text(5))
    sh("chown nobody:nogroup " .. H.q(path) .. " && chmod 0604 " .. H.q(path))
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("success", r.status)
    assert.are.equal("604 nobody nogroup", capture("stat -c '%a %U %G' " .. H.q(path)))
  end)

  it("the lock file is never replaced or removed", function()
    local dir = H.project(H.state_text(5))
    local lock = dir .. "/.opencode/specs/.state.json.lock"
    H.run_json({ "allocate" }, { cwd = dir })
    local inode = capture("stat -c %i " .. H.q(lock))
    H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal(inode, capture("stat -c %i " .. H.q(lock)))
    assert.is_false(core.probe(lock))
  end)
end)
