-- Which code tasknum runs (issue 12, item 2). A team's scripts and
-- policies are looked for only in the state's own project (and
-- $TASKNUM_PATH), and only run when nobody else could have written them;
-- policies are never commands; a shipped command is replaced only on the
-- caller's word; os.exit under the lock is a SCRIPT_ERROR answer, never
-- an exit 0 with nothing printed.
--
-- Each case runs tasknum as root and as unprivileged users that the spec
-- creates (and removes), with a copy of the binary in a folder they can
-- reach (the checkout may sit under a 0700 home). Where users cannot be
-- made (not root) the cases are pending with the reason, never passed.
local H = require "spec_helper"

local sh, capture = H.ok, H.capture

local function is_root() return capture("id -u") == "0" end

-- A conflict policy that leaves a marker when it is loaded, then behaves.
local function marking(marker)
  return string.format("io.open(%q, 'w'):close()\nreturn require 'tasknum.policy.conflict'\n", marker)
end

-- --- users ----------------------------------------------------------------------

local users = {}
local BIN -- a copy of the binary that every user can run

local function make_users()
  if not is_root() then return nil, "needs root to create users and run tasknum as them" end
  local base = "tnt" .. capture("echo $$")
  for _, suffix in ipairs({ "a", "b" }) do
    local name = base .. suffix
    if not sh("useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "
      .. name .. " 2>/dev/null") then
      return nil, "useradd " .. name .. " failed"
    end
    users[#users + 1] = name
  end
  local dir = io.popen("mktemp -d /tmp/tasknum-trustbin.XXXXXX"):read("l")
  assert(sh("chmod 755 " .. H.q(dir) .. " && cp " .. H.q(H.bin) .. " " .. H.q(dir .. "/tasknum")
    .. " && chmod 755 " .. H.q(dir .. "/tasknum")))
  BIN = dir .. "/tasknum"
  return true
end

local function remove_users()
  for _, name in ipairs(users) do sh("userdel " .. name .. " 2>/dev/null") end
  users = {}
  if BIN then sh("rm -rf " .. H.q(BIN:match("^(.*)/"))) end
end

-- as(user) -> the prefix that runs a command as that user
local function as(user)
  return "setpriv --reuid=" .. user .. " --regid=" .. user .. " --clear-groups"
end

-- A project every user can enter: the folders 0755, owned by owner (root
-- by default). Returns dir, state path.
local function project(owner, text)
  local parent = H.tmpdir()
  sh("chmod 755 " .. H.q(parent))
  local dir = parent .. "/proj"
  local path = dir .. "/.opencode/specs/state.json"
  H.write(path, text or H.state_text(5))
  sh("chmod -R u+rwX,go+rX,go-w " .. H.q(dir))
  if owner then sh("chown -R " .. owner .. ": " .. H.q(dir)) end
  return dir, path
end

-- The options with which H.run runs the binary copy (as opts.user, when
-- given), with a HOME that holds no trust file unless the case makes one.
local function copy(opts)
  opts = opts or {}
  opts.bin = BIN
  if opts.user then opts.prefix = as(opts.user) end
  opts.env = opts.env or {}
  opts.env.HOME = opts.env.HOME or "/nonexistent"
  return opts
end

local function run(args, opts) return H.run(args, copy(opts)) end
local function run_json(args, opts) return H.run_json(args, copy(opts)) end

-- The state is as it was, no legacy folder or temp file is left, the lock is free.
local function untouched(path, text)
  assert.are.equal(text, H.read(path))
  local folder = path:match("^(.*)/")
  assert.is_nil(H.ls(folder):find("state.lock", 1, true), "legacy folder left: " .. H.ls(folder))
  assert.is_nil(H.ls(folder):find(".tmp-", 1, true), "temp file left")
  local s = H.run_json({ "status", "--json", "--state", path })
  assert.is_false(s.lock.held, "the lock is still held")
end

local function refused(r, code, file)
  assert.are.equal("UNTRUSTED", r.error_code, r.error_message)
  assert.are.equal(77, code)
  assert.matches("not running " .. file, r.error.message, 1, true)
  assert.matches("TASKNUM_TRUST=", r.error.details, 1, true)
  assert.are.equal(file, r.error.path)
end

describe("which code tasknum runs", function()
  local ready, why
  setup(function() ready, why = make_users() end)
  teardown(remove_users)
  after_each(H.cleanup)

  local function need()
    if not ready then pending(why) return false end
    return true
  end

  describe("where it looks", function()
    it("never above the project: another user's .opencode/tasknum above the current folder does not run, as root or as a user", function()
      if not need() then return end
      local a = users[1]
      -- a shared folder (like /tmp) with another user's policy and command at its top
      local shared = H.tmpdir()
      sh("chmod 1777 " .. H.q(shared))
      local marker = shared .. "/ran"
      H.write(shared .. "/.opencode/tasknum/conflict.lua", marking(marker))
      H.write(shared .. "/.opencode/tasknum/commands/hello.lua", marking(marker))
      sh("chown -R " .. users[2] .. ": " .. H.q(shared .. "/.opencode"))
      local _, path = project(nil)
      local _, upath = project(a)
      sh("mkdir -p " .. H.q(shared .. "/work") .. " && chmod 1777 " .. H.q(shared .. "/work"))
      for _, case in ipairs({ { nil, path }, { a, upath } }) do
        local r, code = run_json({ "allocate", "--state", case[2] }, { cwd = shared .. "/work", user = case[1] })
        assert.are.equal(0, code, r.error_message)
        assert.is_nil(H.read(marker), "the policy above the current folder ran")
        r, code = run_json({ "hello" }, { cwd = shared .. "/work", user = case[1],
          env = { TASKNUM_STATE = case[2] } })
        assert.are.equal(64, code)
        assert.matches("unknown command: hello", r.error_message, 1, true)
        assert.is_nil(H.read(marker), "the command above the current folder ran")
      end
    end)

    it("finds the project's files from a state given with --state, and a state outside a layout by its git top level", function()
      if not need() then return end
      local dir, path = project(nil)
      H.write(dir .. "/.opencode/tasknum/commands/hello.lua", "print('hello from the project')\n")
      local out = run({ "hello", "--state", path }, { cwd = "/" })
      assert.are.equal("hello from the project\n", out)
      -- numbers.json at the top of a git checkout: the team folder is the checkout's
      local repo = H.tmpdir()
      sh("chmod 755 " .. H.q(repo) .. " && mkdir " .. H.q(repo .. "/.git"))
      H.write(repo .. "/numbers.json", H.state_text(7))
      H.write(repo .. "/.opencode/tasknum/format/word.lua", "return function(r) return 'n=' .. tostring(r.allocated_numbers and r.allocated_numbers[1]) .. '\\n' end\n")
      out = run({ "allocate", "--state", repo .. "/numbers.json", "--format", "word" }, { cwd = "/" })
      assert.are.equal("n=7\n", out)
      -- without a .git there is no project: nothing beside the file is looked at
      local bare = H.tmpdir()
      sh("chmod 755 " .. H.q(bare))
      H.write(bare .. "/numbers.json", H.state_text(7))
      H.write(bare .. "/.opencode/tasknum/format/word.lua", "return function() return 'team\\n' end\n")
      local r, code = run_json({ "allocate", "--state", bare .. "/numbers.json", "--format", "word" }, { cwd = "/" })
      assert.are.equal(64, code)
      assert.matches("unknown format word", r.error_message, 1, true)
    end)
  end)

  describe("who may have written it", function()
    it("refuses a policy in a folder another user owns, as root; nothing written, lock free, no legacy folder", function()
      if not need() then return end
      local dir, path = project(nil)
      local marker = dir .. "/ran"
      local file = dir .. "/.opencode/tasknum/conflict.lua"
      H.write(file, marking(marker))
      sh("chown -R " .. users[1] .. ": " .. H.q(dir .. "/.opencode/tasknum"))
      local text = H.read(path)
      local r, code, err = run_json({ "allocate" }, { cwd = dir })
      refused(r, code, file)
      assert.matches("is owned by " .. users[1], r.error.message, 1, true)
      assert.matches("tasknum: UNTRUSTED", err, 1, true)
      assert.is_nil(H.read(marker))
      untouched(path, text)
      -- trusted by the caller: it runs
      r, code = run_json({ "allocate" }, { cwd = dir, env = { TASKNUM_TRUST = dir } })
      assert.are.equal(0, code, r.error_message)
      assert.is_not_nil(H.read(marker))
    end)

    it("refuses, as a user, a project root owned by another user, and a folder writable by a group that is not the caller's", function()
      if not need() then return end
      local a, b = users[1], users[2]
      -- the project root is b's; the team folder is a's
      local dir, path = project(b)
      local file = dir .. "/.opencode/tasknum/conflict.lua"
      H.write(file, "return require 'tasknum.policy.conflict'\n")
      sh("chown -R " .. a .. ": " .. H.q(dir .. "/.opencode"))
      sh("chmod 666 " .. H.q(path))
      local r, code = run_json({ "allocate", "--state", path }, { user = a, cwd = "/" })
      refused(r, code, file)
      assert.matches(dir .. " is owned by " .. b, r.error.message, 1, true)
      -- the whole project a's, but the team folder root's and group-writable
      dir, path = project(a)
      file = dir .. "/.opencode/tasknum/conflict.lua"
      H.write(file, "return require 'tasknum.policy.conflict'\n")
      sh("chown root:root " .. H.q(dir .. "/.opencode/tasknum") .. " && chmod 775 " .. H.q(dir .. "/.opencode/tasknum"))
      r, code = run_json({ "allocate", "--state", path }, { user = a, cwd = "/" })
      refused(r, code, file)
      assert.matches("writable by the group root and is not yours", r.error.message, 1, true)
      -- root runs root's own group-writable folder, but not in a project a owns
      -- (as git's safe.directory) until it is trusted
      r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
      refused(r, code, file)
      assert.matches(dir .. " is owned by " .. a, r.error.message, 1, true)
      r, code = run_json({ "allocate", "--state", path }, { cwd = "/", env = { TASKNUM_TRUST = dir } })
      assert.are.equal(0, code, r.error_message)
    end)

    it("takes files owned by root or the caller, and a sticky folder; refuses a file anyone can write", function()
      if not need() then return end
      local a = users[1]
      local dir, path = project(a)
      local file = dir .. "/.opencode/tasknum/conflict.lua"
      H.write(file, "return require 'tasknum.policy.conflict'\n") -- root's, 0644
      sh("chown root: " .. H.q(file))
      local r, code = run_json({ "allocate", "--state", path }, { user = a, cwd = "/" })
      assert.are.equal(0, code, r.error_message)
      sh("chmod 1777 " .. H.q(dir .. "/.opencode/tasknum"))
      r, code = run_json({ "allocate", "--state", path }, { user = a, cwd = "/" })
      assert.are.equal(0, code, r.error_message)
      sh("chown " .. a .. ": " .. H.q(file) .. " && chmod 666 " .. H.q(file))
      r, code = run_json({ "allocate", "--state", path }, { user = a, cwd = "/" })
      refused(r, code, file)
      assert.matches("it is writable by everyone", r.error.message, 1, true)
    end)

    it("checks where a symlinked team folder really is", function()
      if not need() then return end
      local a = users[1]
      local dir, path = project(nil)
      local elsewhere = H.tmpdir()
      sh("chmod 755 " .. H.q(elsewhere))
      H.write(elsewhere .. "/team/conflict.lua", "return require 'tasknum.policy.conflict'\n")
      sh("chown -R " .. a .. ": " .. H.q(elsewhere .. "/team"))
      sh("ln -s " .. H.q(elsewhere .. "/team") .. " " .. H.q(dir .. "/.opencode/tasknum"))
      local r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
      refused(r, code, dir .. "/.opencode/tasknum/conflict.lua")
      assert.matches(elsewhere .. "/team is owned by " .. a, r.error.message, 1, true)
    end)

    it("refuses a team command or a $TASKNUM_PATH folder another user owns, and a trust file others can write", function()
      if not need() then return end
      local a = users[1]
      local dir, path = project(nil)
      local marker = dir .. "/ran"
      local file = dir .. "/.opencode/tasknum/commands/hello.lua"
      H.write(file, string.format("io.open(%q, 'w'):close()\n", marker))
      sh("chown " .. a .. ": " .. H.q(file))
      local r, code = run_json({ "hello" }, { cwd = dir })
      refused(r, code, file)
      local lib = H.tmpdir()
      H.write(lib .. "/commands/bye.lua", string.format("io.open(%q, 'w'):close()\n", marker))
      sh("chown -R " .. a .. ": " .. H.q(lib))
      r, code = run_json({ "run", "bye" }, { cwd = dir, env = { TASKNUM_PATH = lib } })
      refused(r, code, lib .. "/commands/bye.lua")
      assert.is_nil(H.read(marker))
      -- the caller's trust file names the folder: it runs
      local home = H.tmpdir()
      H.write(home .. "/.config/tasknum/trust", "# folders I trust\n" .. dir .. "\n")
      local out, status = run({ "hello" }, { cwd = dir, env = { HOME = home } })
      assert.are.equal(0, status, out)
      assert.is_not_nil(H.read(marker))
      os.remove(marker)
      -- a trust file others can write is no trust at all
      sh("chmod 666 " .. H.q(home .. "/.config/tasknum/trust"))
      r, code = run_json({ "hello" }, { cwd = dir, env = { HOME = home } })
      assert.are.equal("UNTRUSTED", r.error_code)
      assert.are.equal(77, code)
      assert.matches("the trust file " .. home .. "/.config/tasknum/trust is writable by everyone",
        r.error_message, 1, true)
      assert.is_nil(H.read(marker))
      -- $XDG_CONFIG_HOME names another place for the trust file; "*" trusts everything
      local config = H.tmpdir()
      H.write(config .. "/tasknum/trust", dir .. "\n")
      out, status = run({ "hello" }, { cwd = dir, env = { HOME = home, XDG_CONFIG_HOME = config } })
      assert.are.equal(0, status, out)
      assert.is_not_nil(H.read(marker))
      os.remove(marker)
      out, status = run({ "hello" }, { cwd = dir, env = { TASKNUM_TRUST = "/nowhere:*" } })
      assert.are.equal(0, status, out)
      assert.is_not_nil(H.read(marker))
    end)
  end)

  describe("policies and commands apart", function()
    it("never runs a policy file as a command", function()
      if not need() then return end
      local dir = project(nil)
      local marker = dir .. "/ran"
      for _, name in ipairs({ "conflict", "audit" }) do
        H.write(dir .. "/.opencode/tasknum/" .. name .. ".lua", marking(marker))
      end
      H.write(dir .. "/.opencode/tasknum/format/env.lua", marking(marker))
      for _, args in ipairs({ { "conflict" }, { "audit" }, { "run", "conflict" }, { "run", "conflict.lua" } }) do
        local r, code = run_json(args, { cwd = dir })
        assert.are.equal(64, code)
        assert.matches("unknown command: " .. args[#args], r.error_message, 1, true)
        assert.matches("commands/ folder", r.error.details, 1, true)
        assert.is_nil(r.error_message:find("conflict,", 1, true), "a policy listed as a command")
      end
      assert.is_nil(H.read(marker), "a policy file ran as a command")
      local out = run({ "--help" }, { cwd = dir })
      assert.is_nil(out:find("\n  conflict", 1, true))
      assert.is_nil(out:find("\n  audit", 1, true))
    end)

    it("replaces allocate, add-task and todo only with TASKNUM_OVERRIDE", function()
      if not need() then return end
      local dir, path = project(nil)
      for _, name in ipairs({ "allocate", "add-task", "todo" }) do
        H.write(dir .. "/.opencode/tasknum/commands/" .. name .. ".lua", "print('team " .. name .. "')\n")
      end
      local r, code, err = run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 5 }, r.allocated_numbers)
      assert.matches("not running " .. dir .. "/.opencode/tasknum/commands/allocate.lua", err, 1, true)
      r, code = run_json({ "add-task", "--name", "x" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.equal(6, r.project_number)
      local out, status = run({ "allocate" }, { cwd = dir, env = { TASKNUM_OVERRIDE = "allocate,todo" } })
      assert.are.equal("team allocate\n", out)
      assert.are.equal(0, status)
      out = run({ "todo" }, { cwd = dir, env = { TASKNUM_OVERRIDE = "allocate,todo" } })
      assert.are.equal("team todo\n", out)
      assert.matches('"next_project_number": 7', H.read(path), 1, true)
    end)
  end)

  describe("os.exit", function()
    local POLICY = [[
      local default = require "tasknum.policy.conflict"
      return { pick = function(txn, n) local got = default.pick(txn, n) os.exit(%s) return got end }
    ]]

    for _, user in ipairs({ "root", "a user" }) do
      it("in a conflict policy under the lock is a SCRIPT_ERROR answer, released, nothing written (" .. user .. ")", function()
        if not need() then return end
        local u = user ~= "root" and users[1] or nil
        local dir, path = project(u)
        H.write(dir .. "/.opencode/tasknum/conflict.lua", POLICY:format("0"))
        if u then sh("chown -R " .. u .. ": " .. H.q(dir)) end
        local text = H.read(path)
        for _, args in ipairs({ { "allocate" }, { "add-task", "--name", "x" } }) do
          local r, code, err = run_json(args, { cwd = dir, user = u })
          assert.are.equal(70, code)
          assert.are.equal("SCRIPT_ERROR", r.error_code)
          assert.matches("os.exit was called", r.error_message, 1, true)
          assert.matches("tasknum: SCRIPT_ERROR", err, 1, true)
          untouched(path, text)
        end
      end)
    end

    it("while loading a policy, in a format and in an audit record", function()
      if not need() then return end
      local dir, path = project(nil)
      local text = H.read(path)
      H.write(dir .. "/.opencode/tasknum/conflict.lua", "os.exit(true)\n")
      local r, code = run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.matches("os.exit was called", r.error.details, 1, true)
      os.remove(dir .. "/.opencode/tasknum/conflict.lua")
      H.write(dir .. "/.opencode/tasknum/format/bye.lua", "return function() os.exit(0) end\n")
      r, code = run_json({ "allocate", "--format", "bye" }, { cwd = dir })
      assert.are.equal(70, code) -- the failure in JSON, since the format itself failed
      assert.matches("os.exit was called", r.error_message, 1, true)
      untouched(path, text)
      H.write(dir .. "/.opencode/tasknum/audit.lua", "return { record = function() os.exit(0) end }\n")
      r, code = run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 5 }, r.allocated_numbers)
      assert.matches("os.exit was called", r.audit_error, 1, true)
    end)

    it("in a script: its status at the top level, a SCRIPT_ERROR while a step holds the lock", function()
      if not need() then return end
      local dir, path = project(nil)
      local text = H.read(path)
      H.write(dir .. "/three.lua", "io.write('three') os.exit(3)\n")
      local out, status = run({ "run", dir .. "/three.lua" }, { cwd = dir })
      assert.are.equal("three", out)
      assert.are.equal(3, status)
      H.write(dir .. "/held.lua", [[
        local tasknum = require "tasknum"
        local txn = tasknum.begin{}
        txn:take(1)
        os.exit(0)]])
      local r, code = run_json({ "run", dir .. "/held.lua" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.matches("os.exit was called", r.error_message, 1, true)
      untouched(path, text)
      H.write(dir .. "/body.lua", [[
        local tasknum = require "tasknum"
        local r = tasknum.transaction({}, function(txn) txn:take(1) os.exit(0) end)
        print(r.error_code)
        return r.status == "success"]])
      out, status = run({ "run", dir .. "/body.lua" }, { cwd = dir })
      assert.are.equal("SCRIPT_ERROR\n", out)
      assert.are.equal(1, status)
      untouched(path, text)
    end)
  end)
end)

describe("a team file swapped after tasknum judged it", function()
  after_each(H.cleanup)

  it("a link out of the project to a file root owns, swapped for the folder owner's own file before the load: that file is not run", function()
    -- review 3: check() judged the link's target (root's, so it passed)
    -- and loadfile() then opened the path again, through the folder its
    -- owner can change: an owner looping link <-> own file had root run
    -- their code within a dozen allocations. strace holds the load (the
    -- second open of that name) while the owner swaps it.
    if not is_root() then pending("needs root to give the project to another uid") return end
    if not sh("command -v strace >/dev/null") then pending("needs strace to hold the load") return end
    local other = "setpriv --reuid=42001 --regid=42001 --clear-groups"
    local dir, path = H.project(H.state_text(5))
    local good = H.tmpdir()
    assert(sh("chmod 755 " .. H.q(good)))
    H.write(good .. "/conflict.lua", "return require 'tasknum.policy.conflict'\n")
    local marker = H.tmpdir() .. "/ran"
    H.write(dir .. "/evil.lua", marking(marker))
    local team = dir .. "/.opencode/tasknum"
    assert(sh("mkdir -p " .. H.q(team) .. " && ln -s " .. H.q(good .. "/conflict.lua") .. " "
      .. H.q(team .. "/conflict.lua") .. " && chown -R -h 42001:42001 " .. H.q(dir)))
    local out = dir .. "/run"
    local p = io.popen("strace -f -qq -o /dev/null -P " .. H.q(team .. "/conflict.lua")
      .. " -e trace=openat -e inject=openat:delay_enter=1500000:when=2 env HOME=/nonexistent "
      .. H.q(H.bin) .. " allocate --format plain --state " .. H.q(path) .. " >" .. H.q(out) .. " 2>/dev/null & "
      .. "sleep 0.7; " .. other .. " sh -c " .. H.q("cp " .. H.q(dir .. "/evil.lua") .. " " .. H.q(team .. "/c2")
        .. " && mv -f " .. H.q(team .. "/c2") .. " " .. H.q(team .. "/conflict.lua")) .. "; wait")
    p:read("a")
    p:close()
    assert.is_nil(H.read(marker), "the folder owner's file ran as root")
    assert.are.equal("5\n", H.read(out), H.read(out))
    -- and judged now, as it is: refused
    local r, code = H.run_json({ "allocate", "--state", path }, { env = { HOME = "/nonexistent" } })
    assert.are.equal("UNTRUSTED", r.error_code)
    assert.are.equal(77, code)
    assert.is_nil(H.read(marker))
  end)
end)
