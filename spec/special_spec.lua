-- Special files and names beside the state (issue 12, items 5 and 6). A
-- FIFO where tasknum reads or writes one of its files must never block it
-- (under the lock, past --timeout, or in `tasknum status`): it is refused
-- at once with a SYSTEM_ERROR naming it. Any regular file name is a state
-- (not only *.json); a folder is not, and nothing is made for it. Every
-- run is bounded by `timeout`, so that a hang fails the case instead of
-- the suite; each case runs as root and as an unprivileged user.
local H = require "spec_helper"

local sh, q = H.ok, H.q

local LIMIT = 15 -- seconds before a run counts as hung (exit 137)

-- A project of the caller's: dir, specs folder, state path.
local function project(who, text)
  local dir, path = H.project(text or H.state_text(5))
  local specs = dir .. "/.opencode/specs"
  H.give(who, dir)
  return dir, specs, path
end

-- run(who, args, opts) -> decoded answer, exit code, seconds taken
local function run(who, args, opts)
  local core = require "tasknum.core"
  local t0 = core.clock()
  local prefix = "timeout -s KILL " .. LIMIT .. " " .. (who.prefix or "")
  local out, code, err = H.run(args, setmetatable({ prefix = prefix, bin = H.public_bin() },
    { __index = opts or {} }))
  assert.are_not.equal(137, code, "hung: killed after " .. LIMIT .. " s")
  local ok, r = pcall(require("cjson").decode, out)
  return ok and r or out, code, core.clock() - t0, err
end

local function mkfifo(path, who)
  assert.is_true(sh("mkfifo " .. q(path)))
  H.give(who, path)
end

H.each_caller("item 5: a FIFO beside the state never blocks", function(who)
  it("at the audit log: the allocation stands, at once, and says why there is no line", function()
    if not who.prefix then pending(who.why) return end
    local dir, specs, path = project(who)
    mkfifo(specs .. "/.state.json.audit.jsonl", who)
    local r, code, took = run(who, { "allocate", "--timeout", "2" }, { cwd = dir })
    assert.are.equal(0, code, tostring(r.error_message))
    assert.is_true(took < 5, took .. " s")
    assert.matches(".state.json.audit.jsonl: is a FIFO", r.audit_error, 1, true)
    assert.are.equal(H.state_text(6), H.read(path))
  end)

  it("at the audit log, with a reader: nothing is written into it either", function()
    if not who.prefix then pending(who.why) return end
    local dir, specs = project(who)
    local fifo = specs .. "/.state.json.audit.jsonl"
    mkfifo(fifo, who)
    local got = H.tmpdir() .. "/got"
    sh("timeout 5 cat " .. q(fifo) .. " > " .. q(got) .. " 2>/dev/null &")
    local r, code = run(who, { "allocate" }, { cwd = dir })
    assert.are.equal(0, code, tostring(r.error_message))
    assert.matches("is a FIFO", r.audit_error, 1, true)
    sh("echo > " .. q(fifo)) -- lets cat end
    assert.is_true(H.wait_until(function() return H.read(got) ~= nil end, 5))
    assert.is_nil((H.read(got) or ""):find("numbers", 1, true))
  end)

  it("at the legacy folder's info: SYSTEM_ERROR at once, naming it, nothing broken", function()
    if not who.prefix then pending(who.why) return end
    local dir, specs, path = project(who)
    assert.is_true(sh("mkdir " .. q(specs .. "/.state.lock")))
    mkfifo(specs .. "/.state.lock/info", who)
    local r, code, took = run(who, { "allocate", "--timeout", "3" }, { cwd = dir })
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.are.equal(71, code)
    assert.is_true(took < 3, took .. " s")
    assert.matches(specs .. "/.state.lock/info: is a FIFO", r.error.message, 1, true)
    assert.are.equal(H.state_text(5), H.read(path))
    assert.is_true(sh("test -p " .. q(specs .. "/.state.lock/info")))
  end)

  for _, name in ipairs({ ".state.json.lock", "TODO.md" }) do
    it("at " .. name .. ": SYSTEM_ERROR naming it, the state not written", function()
      if not who.prefix then pending(who.why) return end
      local dir, specs, path = project(who)
      mkfifo(specs .. "/" .. name, who)
      local r, code = run(who, { "allocate" }, { cwd = dir })
      assert.are.equal("SYSTEM_ERROR", r.error_code)
      assert.are.equal(71, code)
      assert.matches(specs .. "/" .. name .. ": is a FIFO", r.error.message, 1, true)
      assert.are.equal(H.state_text(5), H.read(path))
    end)
  end

  it("`tasknum status` and `tasknum stats` answer with FIFOs everywhere", function()
    if not who.prefix then pending(who.why) return end
    local dir, specs = project(who)
    assert.is_true(sh("mkdir " .. q(specs .. "/.state.lock")))
    for _, name in ipairs({ ".state.json.audit.jsonl", ".state.lock/info", ".state.json.lock", "TODO.md" }) do
      mkfifo(specs .. "/" .. name, who)
    end
    local out, code, took = run(who, { "status" }, { cwd = dir })
    assert.are.equal(0, code, out)
    assert.is_true(took < 5, took .. " s")
    local s, scode = run(who, { "status", "--json" }, { cwd = dir })
    assert.are.equal(0, scode)
    assert.are.equal("foreign", s.legacy.verdict)
    local st, stcode = run(who, { "stats", "--json" }, { cwd = dir }) -- text commands fail in JSON when asked
    assert.are.equal(71, stcode, tostring(st))
    assert.matches(".state.json.audit.jsonl: is a FIFO", st.error.details, 1, true)
  end)
end)

H.each_caller("item 6: names and paths", function(who)

  for _, name in ipairs({ "numbers", "state", "tasks.txt", "my state v2", "ünï.códe" }) do
    it("a state named " .. name .. " works like state.json, without a legacy folder", function()
      if not who.prefix then pending(who.why) return end
      local dir = H.tmpdir()
      sh("chmod 755 " .. q(dir))
      local path = dir .. "/" .. name
      H.write(path, H.state_text(5))
      H.give(who, dir)
      for n = 5, 7 do
        local r, code = run(who, { "allocate", "--state", path })
        assert.are.equal(0, code, tostring(r.error_message))
        assert.are.same({ n }, r.allocated_numbers)
      end
      local r, code = run(who, { "lock", "--state", path, "--", "true" })
      assert.are.equal(0, code, tostring(r))
      local s, scode = run(who, { "status", "--json", "--state", path })
      assert.are.equal(0, scode)
      assert.is_false(s.legacy.present)
      assert.are.equal(H.state_text(8), H.read(path))
      local want = { "." .. name .. ".audit.jsonl", "." .. name .. ".lock", name }
      table.sort(want)
      assert.are.equal(table.concat(want, " ") .. " ", H.ls(dir))
    end)
  end

  it("a folder given as the state is INVALID_ARGUMENT and nothing is made beside it", function()
    if not who.prefix then pending(who.why) return end
    local top = H.tmpdir()
    sh("chmod 777 " .. q(top) .. " && mkdir -m 777 " .. q(top .. "/specs"))
    for _, given in ipairs({ top .. "/specs", top .. "/specs/", top .. "/specs/." }) do
      for _, how in ipairs({ "option", "env" }) do
        local args = how == "option" and { "allocate", "--state", given } or { "allocate" }
        local r, code = run(who, args, { env = how == "env" and { TASKNUM_STATE = given } or nil, cwd = top })
        assert.are.equal("INVALID_ARGUMENT", r.error_code, given)
        assert.are.equal(64, code)
        assert.matches("is a folder, not a state file", r.error.message, 1, true)
      end
    end
    assert.are.equal("specs ", H.ls(top))
    assert.are.equal("", H.ls(top .. "/specs"))
  end)

  it("--state / is INVALID_ARGUMENT: no /..lock, no /..audit.jsonl", function()
    if not who.prefix then pending(who.why) return end
    local before = { lock = sh("test -e /..lock"), log = sh("test -e /..audit.jsonl") }
    for _, cmd in ipairs({ "allocate", "lock", "status", "check", "stats", "add-task" }) do
      local args = { cmd, "--state", "/" }
      if cmd == "lock" then args = { "lock", "--state", "/", "--", "true" } end
      if cmd == "add-task" then args = { "add-task", "--name", "x", "--state", "/" } end
      if cmd == "status" or cmd == "stats" then args[#args + 1] = "--json" end -- text commands
      local r, code = run(who, args)
      assert.are.equal(64, code, cmd .. ": " .. tostring(r.error_message or r))
      assert.are.equal("INVALID_ARGUMENT", r.error_code, cmd)
    end
    assert.are.equal(before.lock, sh("test -e /..lock"), "/..lock")
    assert.are.equal(before.log, sh("test -e /..audit.jsonl"), "/..audit.jsonl")
  end)
end)
