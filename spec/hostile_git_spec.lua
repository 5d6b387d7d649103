-- The git:REMOTE authority in repositories others control (review 2): a
-- state committed by a stranger, a repository another user owns, files a
-- teammate plants in a shared common git dir. None of them may make
-- tasknum run a command, write through a link, or hang.
local H = require "spec_helper"
local G = require "support.gitd"

-- A bare remote, a clone of it with a state; -> dir, clone, state
local function clone()
  local dir = H.tmpdir()
  local bare = G.bare(dir .. "/team.git")
  local top, state = G.clone("file://" .. bare, dir .. "/a")
  return dir, top, state
end

describe("git authority in hostile repositories", function()
  after_each(H.cleanup)

  it("a remote that starts with - is never an option to git (committed or given)", function()
    local dir, top, state = clone()
    local marker = dir .. "/ran"
    local spec = "git:--upload-pack=touch " .. marker .. ";"
    local text = H.state_text(5):gsub('"policy": "increment"', '"policy": "increment", "authority": '
      .. require("cjson").encode(spec))
    H.write(state, text)
    local r, code = H.run_json({ "allocate" }, { cwd = top })
    assert.are.equal("INVALID_ARGUMENT", r.error_code)
    assert.are.equal(64, code)
    assert.is_nil(H.read(marker))
    r = H.run_json({ "allocate", "--authority", spec, "--state", state })
    assert.are.equal("INVALID_ARGUMENT", r.error_code)
    assert.is_nil(H.read(marker))
    assert.are.equal(text, H.read(state))
  end)

  it("a repository another user owns: its config runs nothing (git's safe.directory holds)", function()
    local prefix, why = H.as(42001)
    if not prefix then return pending(why) end
    local dir, top, state = clone()
    local marker = dir .. "/ran"
    G.git("-C", top, "config", "remote.origin.uploadpack", "touch " .. marker .. "; git-upload-pack")
    G.git("-C", top, "config", "remote.origin.receivepack", "touch " .. marker .. "; git-receive-pack")
    assert(H.ok("chown -R 42001:42001 " .. H.q(dir)))
    local r, code = H.run_json({ "allocate", "--authority", "git:origin", "--state", state })
    assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code, code)
    assert.matches("safe.directory", r.error.details, 1, true)
    assert.is_nil(H.read(marker))
    -- its owner still allocates there
    r = H.run_json({ "allocate", "--authority", "git:origin", "--state", state }, { prefix = prefix })
    assert.are.equal("success", r.status, require("cjson").encode(r))
  end)

  it("the cache of serials: never written through a link, a FIFO does not hang", function()
    local dir, top, state = clone()
    local r = H.run_json({ "allocate", "--authority", "git:origin", "--state", state })
    assert.are.equal("success", r.status)
    local remote = top .. "/.git/tasknum/remote/"
    local cache = remote .. "specs%2Fstate.json.cache"
    assert.truthy(H.read(cache))
    -- a link planted at the temp file's name (the pid is the process's own)
    H.write(dir .. "/victim", "keep me\n")
    local out = H.sh("cd " .. H.q(top) .. " && sh -c 'ln -s " .. H.q(dir .. "/victim") .. " "
      .. H.q(cache .. ".tmp-") .. "$$; exec " .. H.q(H.bin) .. " allocate --authority git:origin'")
    assert.matches('"status":"success"', out, 1, true)
    assert.are.equal("keep me\n", H.read(dir .. "/victim"))
    -- a FIFO in the cache's name: an answer within the timeout
    os.remove(cache)
    assert(H.ok("mkfifo " .. H.q(cache)))
    local t0 = os.time()
    out = H.sh("cd " .. H.q(top) .. " && timeout 20 " .. H.q(H.bin)
      .. " allocate --authority git:origin --timeout 2")
    assert.truthy(os.time() - t0 < 15, out)
    assert.matches('"status":"success"', out, 1, true)
  end)

  -- Another user's .git above a state that has none (a 1777 folder such as
  -- /tmp): not the state's repository, as git's safe.directory rule says.
  H.each_caller("a .git another user planted above the state", function(who)
    it("is not used: no numbering kept in it, none kept apart either, unless trusted", function()
      local planter = H.as(42002)
      if not planter or (who.uid and not who.prefix) then return pending("needs root and setpriv") end
      local dir = H.tmpdir()
      local pub = dir .. "/pub"
      assert(H.ok("mkdir -m 1777 " .. H.q(pub) .. " && chmod 755 " .. H.q(dir)))
      assert(H.ok(planter .. " sh -c " .. H.q("mkdir -m 777 " .. pub .. "/.git " .. pub .. "/.git/tasknum "
        .. "&& mkdir -p " .. pub .. "/.opencode/tasknum && echo 'error(\"planted\")' > "
        .. pub .. "/.opencode/tasknum/conflict.lua")))
      local mine = pub .. "/proj"
      H.write(mine .. "/specs/state.json", H.state_text(5))
      H.write(mine .. "/numbers.json", H.state_text(7))
      H.give(who, mine)
      -- (as git: refused, never quietly numbered apart from the worktrees
      -- of a repository whose folder and .git have different owners)
      for _, case in ipairs({ { "specs/state.json" }, { "numbers.json" },
          { "specs/state.json", "worktrees" }, { "specs/state.json", "dir:" .. mine } }) do
        local args = { "allocate", "--state", mine .. "/" .. case[1] }
        if case[2] then args[#args + 1] = "--authority" args[#args + 1] = case[2] end
        local r, code = H.run_json(args, { prefix = who.prefix })
        assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code, require("cjson").encode(r))
        assert.are.equal(76, code)
        assert.matches(pub .. "/.git belongs to 42002", r.error.message, 1, true)
        assert.matches("TASKNUM_TRUST=" .. pub, r.error.details, 1, true)
      end
      assert.are.equal(H.state_text(5), H.read(mine .. "/specs/state.json"))
      assert.are.equal("", H.ls(pub .. "/.git/tasknum"))
      local r = H.run_json({ "allocate", "--authority", "file", "--state", mine .. "/numbers.json" },
        { prefix = who.prefix })
      assert.are.same({ 7 }, r.allocated_numbers)
      -- trusted, it is the repository
      r = H.run_json({ "allocate", "--state", mine .. "/specs/state.json" },
        { prefix = who.prefix, env = { TASKNUM_TRUST = pub } })
      assert.are.same({ 5 }, r.allocated_numbers)
      assert.are.equal("worktrees", r.authority.kind)
    end)

    it("a .git of the folder's owner is used, whoever runs", function()
      local dir = H.tmpdir()
      local top = dir .. "/proj"
      assert(H.ok("git init -q " .. H.q(top)))
      H.write(top .. "/specs/state.json", H.state_text(5))
      assert(H.ok("chown -R 42002:42002 " .. H.q(top) .. " && chmod -R a+rwX " .. H.q(top)
        .. " && chmod 755 " .. H.q(dir)))
      local r = H.run_json({ "allocate", "--state", top .. "/specs/state.json" }, { prefix = who.prefix })
      assert.are.equal("success", r.status, require("cjson").encode(r))
      assert.are.equal("worktrees", r.authority.kind)
    end)
  end)

  it("a linked worktree whose commondir cannot be read: no numbering of its own, no number twice", function()
    local dir = H.tmpdir()
    local main, other = dir .. "/main", dir .. "/other"
    assert(H.ok("git init -q " .. H.q(main)))
    H.write(main .. "/specs/state.json", H.state_text(5))
    G.git("-C", main, "add", ".")
    G.git("-C", main, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "state")
    G.git("-C", main, "worktree", "add", "-q", other)
    local r = H.run_json({ "allocate", "--state", other .. "/specs/state.json" })
    assert.are.same({ 5 }, r.allocated_numbers)
    local commondir = main .. "/.git/worktrees/other/commondir"
    local text = H.read(commondir)
    os.remove(commondir)
    assert(H.ok("mkfifo " .. H.q(commondir)))
    r = H.run_json({ "allocate", "--state", other .. "/specs/state.json" })
    assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code)
    assert.matches("commondir", r.error.message, 1, true)
    os.remove(commondir)
    H.write(commondir, text)
    local got = {}
    for _, state in ipairs({ main .. "/specs/state.json", other .. "/specs/state.json" }) do
      r = H.run_json({ "allocate", "--state", state })
      got[#got + 1] = r.allocated_numbers[1]
    end
    assert.are.same({ 6, 7 }, got)
  end)

  it("a link at the worktrees mark is refused, its target never read nor copied; calling again does not help", function()
    local dir = H.tmpdir()
    local top = dir .. "/proj"
    assert(H.ok("git init -q " .. H.q(top)))
    local state = top .. "/specs/state.json"
    H.write(state, H.state_text(5))
    H.write(dir .. "/secret", "not a mark\n")
    local folder = top .. "/.git/tasknum"
    assert(H.ok("mkdir " .. H.q(folder) .. " && ln -s " .. H.q(dir .. "/secret") .. " "
      .. H.q(folder .. "/specs%2Fstate.json.mark")))
    local r, code = H.run_json({ "allocate", "--state", state })
    assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code, require("cjson").encode(r))
    assert.are.equal(76, code)
    assert.is_false(r.retry_suggested)
    assert.are.equal("specs%2Fstate.json.lock specs%2Fstate.json.mark ", H.ls(folder))
    assert.are.equal(H.state_text(5), H.read(state))
    -- a dangling one: not created through, and no retry advised either
    os.remove(folder .. "/specs%2Fstate.json.mark")
    assert(H.ok("ln -s " .. H.q(dir .. "/made") .. " " .. H.q(folder .. "/specs%2Fstate.json.mark")))
    r = H.run_json({ "allocate", "--state", state })
    assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code)
    assert.is_false(r.retry_suggested)
    assert.is_nil(H.read(dir .. "/made"))
  end)
end)
