-- A committed authority in a state others could have written (issue 12,
-- review 2 "a committed authority chooses where tasknum connects and
-- writes"). project_numbering.authority = dir:, git: or postgresql:// is
-- used only when the state file passes tasknum.trust (as a team's files
-- must), or the caller trusts its folder; otherwise UNTRUSTED (77) before
-- anything is made where it points or connected to. What the caller names
-- (--authority, $TASKNUM_AUTHORITY) is never checked; file and worktrees
-- need no trust.
--
-- The cases run as root (the suite's user here) against files another uid
-- owns, and as that uid (setpriv, no passwd entry needed); not root, they
-- are pending with the reason, never passed.
local H = require "spec_helper"
local G = require "support.gitd"
local cjson = require "cjson"

local sh = H.ok
local OTHER = 42001

local function need_root()
  local prefix, why = H.as(OTHER)
  if not prefix then pending(why) end
  return prefix
end

-- the state text with project_numbering.authority = spec
local function committing(spec, next)
  return (H.state_text(next or 5):gsub('"policy": "increment"', '"policy": "increment", "authority": '
    .. cjson.encode(spec)))
end

-- A project every user can enter (dir/specs/state.json committing spec),
-- owned by uid owner when given (else root's). -> dir, state path, text
local function project(spec, owner)
  local parent = H.tmpdir()
  assert(sh("chmod 755 " .. H.q(parent)))
  local dir = parent .. "/proj"
  local path = dir .. "/specs/state.json"
  local text = committing(spec)
  H.write(path, text)
  assert(sh("chmod -R u+rwX,go+rX,go-w " .. H.q(dir)))
  if owner then assert(sh(("chown -R %d:%d %s"):format(owner, owner, H.q(dir)))) end
  return dir, path, text
end

-- An empty folder anyone may write in: the one a dir: authority names.
local function folder()
  local d = H.tmpdir()
  assert(sh("chmod 777 " .. H.q(d)))
  return d
end

-- runs with a HOME that holds no trust file unless the case gives one
local function run_json(args, opts)
  opts = opts or {}
  opts.env = opts.env or {}
  opts.env.HOME = opts.env.HOME or "/nonexistent"
  return H.run_json(args, opts)
end

-- The state is as it was: same bytes, no temp file, no legacy folder, the lock free.
local function untouched(path, text)
  assert.are.equal(text, H.read(path))
  local dir = path:match("^(.*)/")
  assert.is_nil(H.ls(dir):find(".tmp-", 1, true), "temp file left: " .. H.ls(dir))
  assert.is_nil(H.ls(dir):find("state.lock", 1, true), "legacy folder left: " .. H.ls(dir))
  local s = run_json({ "status", "--json", "--state", path, "--authority", "file" })
  assert.is_false(s.lock.held, "the lock is still held")
end

-- an UNTRUSTED answer for the authority shown, committed in path
local function refused(r, code, path, shown)
  assert.are.equal("UNTRUSTED", r.error_code, r.error_message)
  assert.are.equal(77, code)
  assert.are.equal(path, r.error.path)
  assert.are.equal(shown, r.error.authority)
  assert.matches("not using the authority " .. shown .. " that " .. path .. " commits", r.error_message, 1, true)
  assert.matches("TASKNUM_TRUST=" .. r.error.trust, r.error.details, 1, true)
  assert.matches("--authority SPEC or TASKNUM_AUTHORITY=SPEC", r.error.details, 1, true)
  assert.is_false(r.retry_suggested)
end

describe("a committed authority in a state others could have written", function()
  after_each(H.cleanup)

  it("dir: in a state another user owns: UNTRUSTED for every command, as root; the folder stays empty", function()
    if not need_root() then return end
    local marks = folder()
    local spec = "dir:" .. marks
    local dir, path, text = project(spec, OTHER)
    for _, args in ipairs({ { "allocate" }, { "allocate", "--count", "3" }, { "add-task", "--name", "x" },
                            { "sync" }, { "reserve", "2" }, { "check" }, { "set", "--next", "9" } }) do
      table.insert(args, "--state")
      table.insert(args, path)
      local r, code, err = run_json(args, { cwd = "/" })
      refused(r, code, path, spec)
      assert.matches(dir .. " is owned by " .. OTHER, r.error_message, 1, true)
      assert.are.equal(dir, r.error.trust)
      assert.matches("tasknum: UNTRUSTED", err, 1, true)
      assert.are.equal("", H.ls(marks), table.concat(args, " ") .. " made files in " .. marks)
      untouched(path, text)
    end
    -- a relative dir: (taken from the state's folder) too
    local rel = committing("dir:../../../" .. marks:match("[^/]+$"))
    H.write(path, rel)
    local r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
    assert.are.equal("UNTRUSTED", r.error_code, r.error_message)
    assert.are.equal(77, code)
    assert.are.equal("", H.ls(marks))
    untouched(path, rel)
  end)

  it("the caller trusts the folder (TASKNUM_TRUST, the trust file): used", function()
    if not need_root() then return end
    local marks = folder()
    local dir, path = project("dir:" .. marks, OTHER)
    local r, code = run_json({ "allocate", "--state", path }, { cwd = "/", env = { TASKNUM_TRUST = dir } })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.are.equal("dir", r.authority.kind)
    assert.matches("%.mark ", H.ls(marks))
    local home = H.tmpdir()
    H.write(home .. "/.config/tasknum/trust", "# mine\n" .. dir .. "\n")
    r, code = run_json({ "allocate", "--state", path }, { cwd = "/", env = { HOME = home } })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 6 }, r.allocated_numbers)
    -- trusting another folder does not cover it
    r, code = run_json({ "allocate", "--state", path }, { cwd = "/", env = { TASKNUM_TRUST = marks } })
    assert.are.equal("UNTRUSTED", r.error_code)
    assert.are.equal(77, code)
  end)

  it("chosen by the caller (--authority, $TASKNUM_AUTHORITY) on the same state: used, never checked", function()
    if not need_root() then return end
    local marks = folder()
    local _, path = project("dir:" .. marks, OTHER)
    local r, code = run_json({ "allocate", "--state", path, "--authority", "dir:" .. marks }, { cwd = "/" })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.are.equal("dir", r.authority.kind)
    r, code = run_json({ "allocate", "--state", path }, { cwd = "/", env = { TASKNUM_AUTHORITY = "dir:" .. marks } })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 6 }, r.allocated_numbers)
    -- or another numbering altogether
    r, code = run_json({ "allocate", "--state", path, "--authority", "file" }, { cwd = "/" })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("file", r.authority.kind)
  end)

  it("a state folder anyone can write, or a state file a group that is not the caller's can write: refused", function()
    local prefix = need_root()
    if not prefix then return end
    local marks = folder()
    local spec = "dir:" .. marks
    -- root's own project, but its specs folder writable by everyone
    local dir, path, text = project(spec)
    assert(sh("chmod 777 " .. H.q(dir .. "/specs")))
    local r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
    refused(r, code, path, spec)
    assert.matches(dir .. "/specs is writable by everyone", r.error_message, 1, true)
    untouched(path, text)
    -- the user's project, with a state file root's group may write
    dir, path, text = project(spec, OTHER)
    assert(sh("chown root:root " .. H.q(path) .. " && chmod 664 " .. H.q(path)))
    r, code = run_json({ "allocate", "--state", path }, { cwd = "/", prefix = prefix })
    refused(r, code, path, spec)
    assert.matches("it is writable by the group root and is not yours", r.error_message, 1, true)
    assert.are.equal("", H.ls(marks))
    assert.are.equal(text, H.read(path))
  end)

  it("your own state: used, as root and as the user who owns it", function()
    local prefix = need_root()
    if not prefix then return end
    local marks = folder()
    local _, path = project("dir:" .. marks)
    local r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("dir", r.authority.kind)
    local mine = folder()
    local _, upath = project("dir:" .. mine, OTHER)
    r, code = run_json({ "allocate", "--state", upath }, { cwd = "/", prefix = prefix })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("dir", r.authority.kind)
    assert.matches("%.mark ", H.ls(mine))
  end)

  it("file and worktrees committed in another user's state need no trust", function()
    if not need_root() then return end
    local _, path = project("file", OTHER)
    local r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("file", r.authority.kind)
    local dir, wpath = project("worktrees", OTHER)
    assert(sh("git init -q " .. H.q(dir) .. " && chown -R " .. OTHER .. ":" .. OTHER .. " " .. H.q(dir)))
    r, code = run_json({ "allocate", "--state", wpath }, { cwd = "/" })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("worktrees", r.authority.kind)
  end)

  it("status reports it without opening it; check and the MCP allocate tool refuse it", function()
    if not need_root() then return end
    local marks = folder()
    local spec = "dir:" .. marks
    local dir, path, text = project(spec, OTHER)
    local s, code = run_json({ "status", "--json", "--state", path }, { cwd = "/" })
    assert.are.equal(0, code)
    assert.are.equal(5, s.next_project_number)
    assert.are.same({ code = "UNTRUSTED", source = "state", spec = spec, trust = dir },
      { code = s.authority.code, source = s.authority.source, spec = s.authority.spec, trust = s.authority.trust })
    assert.matches("not using the authority " .. spec, s.authority.error, 1, true)
    local out
    out, code = H.run({ "status", "--state", path }, { cwd = "/", env = { HOME = "/nonexistent" } })
    assert.are.equal(0, code, out)
    assert.matches("authority    UNTRUSTED: not using the authority " .. spec, out, 1, true)
    assert.matches("not used: trust it (TASKNUM_TRUST=" .. dir .. ")", out, 1, true)
    -- trusted, status shows the numbering itself
    s = run_json({ "status", "--json", "--state", path }, { cwd = "/", env = { TASKNUM_TRUST = dir } })
    assert.are.equal("dir", s.authority.kind)
    assert.is_nil(s.authority.code)
    -- one allocate tool call over MCP
    local input = H.tmpdir() .. "/mcp.in"
    H.write(input, '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
      .. '"capabilities":{},"clientInfo":{"name":"spec","version":"1"}}}\n'
      .. '{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
      .. '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"allocate","arguments":{"count":1}}}\n')
    out = H.capture("HOME=/nonexistent " .. H.q(H.bin) .. " mcp --state " .. H.q(path) .. " < " .. H.q(input)
      .. " 2>/dev/null")
    local result
    for line in out:gmatch("[^\n]+") do
      local m = cjson.decode(line)
      if m.id == 2 then result = m.result end
    end
    assert.is_true(result.isError)
    assert.are.equal("UNTRUSTED", result.structuredContent.error_code)
    assert.are.equal("", H.ls(marks))
    untouched(path, text)
  end)

  it("postgresql:// in an untrusted state: UNTRUSTED, nothing connects to the host it names, no password shown",
    function()
      if not need_root() then return end
      if not sh("command -v node >/dev/null 2>&1") then
        return pending("needs node (sh scripts/setup.sh installs it) for the loopback listener")
      end
      -- a loopback listener that records every connection (and closes it)
      local tmp = H.tmpdir()
      local log, portfile = tmp .. "/connects", tmp .. "/port"
      H.write(tmp .. "/listen.js", string.format([[
const fs = require("fs");
const s = require("net").createServer(c => { fs.appendFileSync(%q, "connect\n"); c.destroy(); });
s.listen(0, "127.0.0.1", () => fs.writeFileSync(%q, String(s.address().port)));
]], log, portfile))
      local pid = H.capture("node " .. H.q(tmp .. "/listen.js") .. " >/dev/null 2>&1 & echo $!")
      finally(function() sh("kill " .. pid .. " 2>/dev/null") end)
      assert.is_true(H.wait_until(function() return H.read(portfile) ~= nil and H.read(portfile) ~= "" end, 20),
        "the listener did not start")
      local port = H.read(portfile)
      local spec = "postgresql://agent:s3cretpw@127.0.0.1:" .. port .. "/numbers"
      local shown = "postgresql://agent:***@127.0.0.1:" .. port .. "/numbers"
      local _, path, text = project(spec, OTHER)
      local env = { PGPASSWORD = "pgpass-env", PGCONNECT_TIMEOUT = "2" }
      for _, args in ipairs({ { "allocate" }, { "check" }, { "reserve", "3" } }) do
        table.insert(args, "--state")
        table.insert(args, path)
        local r, code, err = run_json(args, { cwd = "/", env = env })
        assert.is_nil(H.read(log), "tasknum connected to the host a stranger's state named")
        refused(r, code, path, shown)
        assert.is_nil((cjson.encode(r) .. err):find("s3cretpw", 1, true), "the password is shown")
        untouched(path, text)
      end
      local s = run_json({ "status", "--json", "--state", path }, { cwd = "/", env = env })
      assert.are.equal("UNTRUSTED", s.authority.code)
      assert.are.equal(shown, s.authority.spec)
      assert.is_nil(H.read(log), "tasknum connected to the host a stranger's state named")
      -- the listener does see a connection: the same spec chosen by the caller
      local r, code = run_json({ "allocate", "--state", path, "--authority", spec, "--timeout", "2" },
        { cwd = "/", env = env })
      assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code, r.error_message)
      assert.are.equal(76, code)
      assert.is_true(H.wait_until(function() return H.read(log) ~= nil end, 5), "the listener saw nothing")
      assert.are.equal(text, H.read(path))
    end)

  it("git: in a clone whose specs folder another user owns: UNTRUSTED, the remote gets no ref; trusted, it does", function()
    if not need_root() then return end
    local dir = H.tmpdir()
    assert(sh("chmod 755 " .. H.q(dir)))
    local bare = G.bare(dir .. "/team.git")
    local top, path = G.clone("file://" .. bare, dir .. "/a")
    local spec = "git:file://" .. bare
    local text = committing(spec)
    H.write(path, text)
    -- root's clone (git itself would work in it), the state's folder another user's
    assert(sh(("chown -R %d:%d %s"):format(OTHER, OTHER, H.q(top .. "/specs"))))
    local r, code = run_json({ "allocate", "--state", path }, { cwd = "/" })
    assert.are.equal("", G.git("--git-dir=" .. bare, "for-each-ref"), "a ref reached the remote")
    refused(r, code, path, spec)
    assert.matches(top .. "/specs is owned by " .. OTHER, r.error_message, 1, true)
    untouched(path, text)
    r, code = run_json({ "allocate", "--state", path }, { cwd = "/", env = { TASKNUM_TRUST = top } })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("git", r.authority.kind)
    assert.matches("refs/tasknum/", G.git("--git-dir=" .. bare, "for-each-ref"), 1, true)
  end)
  it("a state its folder's owner moves away, or swaps for a link to a trusted one, while it is judged: UNTRUSTED", function()
    if not need_root() then return end
    if not H.ok("command -v strace >/dev/null") then pending("needs strace to hold the judgement") return end
    local L = require "lock_helper"
    -- review 3: the trust check looked at the state's path again after the
    -- text was read; gone by then (realpath failed) it passed, and a link
    -- to a file root owns passed as that file. Outside a project, the trust
    -- check asks for DIR/.git (the project root) a second time, after the
    -- step read the state (the first is the policies' lookup): strace holds
    -- that look while the owner of DIR acts.
    local mine = H.tmpdir()
    assert(sh("chmod 755 " .. H.q(mine)))
    H.write(mine .. "/state.json", committing("file"))
    for _, swap in ipairs({ "mv state.json away.json", "mv state.json away.json; ln -s "
        .. H.q(mine .. "/state.json") .. " state.json" }) do
      local marks = folder()
      local parent = H.tmpdir()
      assert(sh("chmod 755 " .. H.q(parent)))
      local dir = parent .. "/theirs"
      local path = dir .. "/state.json"
      H.write(path, committing("dir:" .. marks))
      assert(sh(("chmod -R go-w %s && chown -R %d:%d %s"):format(H.q(dir), OTHER, OTHER, H.q(dir))))
      local run = parent .. "/run"
      L.bg("HOME=/nonexistent strace -f -qq -o /dev/null -P " .. H.q(dir .. "/.git") .. " -e trace=newfstatat "
        .. "-e inject=newfstatat:delay_exit=2000000:when=2 " .. L.cmd({ "allocate", "--state", path }, run))
      assert(L.wait_until(function() return H.ls(dir):find(".state.json.audit", 1, true) == nil
        and H.ok("test -e " .. H.q(dir .. "/.state.json.lock")) end, 20), "the step took no lock")
      H.sh("sleep 0.5; cd " .. H.q(dir) .. " && " .. swap)
      local r, code = L.result(run)
      assert.are.equal("UNTRUSTED", r.error_code, r.error_message)
      assert.are.equal(77, code)
      assert.is_truthy(r.error_message:find(path .. " is gone since tasknum read it", 1, true)
        or r.error_message:find(path .. " now leads to " .. mine .. "/state.json, not to the file tasknum read",
          1, true), r.error_message)
      assert.are.equal("", H.ls(marks), swap .. ": made files in " .. marks)
    end
  end)
end)

describe("dir:PATH that is not a folder", function()
  after_each(H.cleanup)

  it("a regular file, a path through one, a name too long: AUTHORITY_UNAVAILABLE saying so (no mkdir -p advice), nothing written", function()
    local dir = H.tmpdir()
    local file = dir .. "/marks"
    H.write(file, "not a folder\n")
    local _, path = H.project(H.state_text(3))
    local text = H.read(path)
    local r, code = run_json({ "allocate", "--state", path, "--authority", "dir:" .. file })
    assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code)
    assert.are.equal(76, code)
    assert.matches(file .. " is a regular file", r.error_message, 1, true)
    assert.is_nil(r.error.details:find("mkdir", 1, true), r.error.details)
    assert.is_false(r.retry_suggested)
    assert.are.equal("not a folder\n", H.read(file))
    untouched(path, text)
    -- a path under that file, or a name too long for any folder: no mkdir -p either
    for _, bad in ipairs({ file .. "/sub", dir .. "/" .. string.rep("n", 300) }) do
      r, code = run_json({ "allocate", "--state", path, "--authority", "dir:" .. bad })
      assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code)
      assert.are.equal(76, code)
      assert.matches("cannot be used: " .. bad .. ": ", r.error_message, 1, true)
      assert.is_nil(r.error.details:find("mkdir", 1, true), r.error.details)
      untouched(path, text)
    end
  end)
end)
