-- The git:REMOTE authority against real servers started here: bare
-- repositories over file:// and over `git daemon --enable=receive-pack` on
-- loopback. Allocations run in separate processes (spec/support/
-- authority_alloc.lua under `tasknum run`), the way clones on separate
-- machines would; the remote's ledger (the ref's history) is checked after.
local H = require "spec_helper"
local G = require "support.gitd"
local core = require "tasknum.core"
local git = require "tasknum.authority.git"

local A = require "support.alloc"
local REF = "refs/tasknum/specs%2Fstate.json"
local driver_cmd, parse, alloc, parallel, assert_unique = A.cmd, A.parse, A.alloc, A.parallel, A.assert_unique

-- The remote's history: every commit one more than its parent (the driver
-- takes one at a time), newest first, down to 1.
local function assert_ledger(bare, ref, top)
  local chain = G.chain(bare, ref)
  assert.are.equal(top, chain[1])
  for i = 1, #chain - 1 do assert.are.equal(chain[i] - 1, chain[i + 1]) end
  assert.are.equal(1, chain[#chain])
end

local function open(state, rest)
  return assert(git.open(rest or "origin", { path = state, real = core.realpath(state) }))
end

local function holder() return { pid = core.pid(), host = core.hostname(), purpose = "spec" } end

describe("git authority", function()
  after_each(H.cleanup)

  for _, transport in ipairs({ "file", "daemon" }) do
    it("3 clones x 4 processes x 5 allocations over " .. transport .. ": all unique, the ledger whole",
      function()
        local dir = H.tmpdir()
        local bare = G.bare(dir .. "/srv/team.git")
        local d = transport == "daemon" and G.daemon(dir .. "/srv") or nil
        finally(function() if d then d.stop() end end)
        local url = d and d.url("team.git") or ("file://" .. bare)
        local jobs = {}
        for c = 1, 3 do
          local _, state = G.clone(url, dir .. "/clone" .. c)
          for _ = 1, 4 do jobs[#jobs + 1] = { "git:origin", state, 5 } end
        end
        local all, errs = parallel(jobs, dir)
        assert.are.same({}, errs)
        assert.are.equal(60, #all)
        assert_unique(all)
        assert_ledger(bare, REF, 60)
      end)
  end

  it("8 clones contending: none starves, all unique", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local jobs = {}
    for c = 1, 8 do
      local _, state = G.clone("file://" .. bare, dir .. "/clone" .. c)
      jobs[#jobs + 1] = { "git:origin", state, 8 }
    end
    local all, errs, retries = parallel(jobs, dir)
    assert.are.same({}, errs)
    assert.are.equal(64, #all)
    assert_unique(all)
    assert_ledger(bare, REF, 64)
    print(string.format("\n# 8 clones x 8 allocations: %d retries (%.2f per allocation)", retries, retries / 64))
  end)

  it("two writers with the same mark build different commits; one wins, the other re-reads", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    local _, s2 = G.clone("file://" .. bare, dir .. "/b")
    local a, b = open(s1), open(s2)
    assert(a:acquire(core.clock() + 30, holder()))
    assert(b:acquire(core.clock() + 30, holder()))
    assert.is_false(a:read())
    assert.is_false(b:read())
    -- same old, same new, same second: the nonce keeps the commits apart
    assert.are_not.equal(a:build(false, 1), b:build(false, 1))
    assert.is_true(a:commit(false, 1))
    local ok, err = b:commit(false, 1)
    assert.is_nil(ok)
    assert.are.equal("AUTHORITY_UNAVAILABLE", err.code)
    assert.is_true(err.retry)
    assert.are.equal(1, G.serial(bare, REF))
    -- both at 1 now: again the same old and new, again one winner
    assert.are.equal(1, b:read())
    assert.are.equal(1, a:read())
    assert.is_true(b:commit(1, 2))
    ok, err = a:commit(1, 2)
    assert.is_nil(ok)
    assert.is_true(err.retry)
    -- the loser reads again and continues after the winner
    assert.are.equal(2, a:read())
    assert.is_true(a:commit(2, 3))
    a:release()
    b:release()
    assert_ledger(bare, REF, 3)
  end)

  it("2 git processes per allocation when this clone saw the last update, 4 when another moved it",
    function()
      local dir = H.tmpdir()
      local bare = G.bare(dir .. "/team.git")
      local ca, s1 = G.clone("file://" .. bare, dir .. "/a")
      local _, s2 = G.clone("file://" .. bare, dir .. "/b")
      local a, b = open(s1), open(s2)
      local function one(x)
        local before = x.calls
        assert(x:acquire(core.clock() + 30, holder()))
        local m = x:read()
        assert.is_true(x:commit(m, (m or 0) + 1))
        x:release()
        return x.calls - before
      end
      -- the commit's objects are written without git: ls-remote and push
      assert.are.equal(2, one(a))   -- first use: ls-remote (no ref), push
      assert.are.equal(2, one(a))
      assert.are.equal(4, one(b))   -- a moved it: fetch and cat-file too
      assert.are.equal(2, one(b))
      assert.are.equal(4, one(a))
      -- the old commit packed here (fetched, then a gc): git fast-import builds on it
      assert.are.equal(4, one(b))
      G.git("-C", ca, "fetch", "-q", "origin", "+" .. REF .. ":refs/tasknum-local/specs%2Fstate.json")
      G.git("-C", ca, "gc", "-q")
      assert.are.equal(5, one(a))   -- ls-remote, fetch, cat-file, fast-import, push
      assert.are.equal(2, one(a))
      assert_ledger(bare, REF, 8)
      -- what git itself makes of the commits tasknum wrote
      local fsck = G.git("--git-dir=" .. bare, "fsck", "--strict", "--no-dangling") -- asserts exit 0
      assert.is_nil(fsck:lower():find("error") or fsck:lower():find("warning") or fsck:find("missing"), fsck)
      assert(a:acquire(core.clock() + 30, holder()))
      local m = a:read()
      assert.is_true(a:commit(m, m + 1, { min = 0, max = 999 }))
      a:release()
      assert.are.equal("0 999\n", G.git("--git-dir=" .. bare, "cat-file", "blob", REF .. ":range"))
      assert.are.same({ "range", "serial" }, (function()
        local names = {}
        for n in G.git("--git-dir=" .. bare, "ls-tree", "--name-only", REF):gmatch("[^\n]+") do names[#names + 1] = n end
        return names
      end)())
    end)

  it("a clone that was behind never reissues", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    local _, s2 = G.clone("file://" .. bare, dir .. "/b")
    local oks = alloc("git:origin", s2, 2)
    assert.are.same({ 1, 2 }, oks)
    oks = alloc("git:origin", s1, 5)
    assert.are.same({ 3, 4, 5, 6, 7 }, oks)
    -- b's cache knows 2 only; the remote says 7
    oks = alloc("git:origin", s2, 1)
    assert.are.same({ 8 }, oks)
  end)

  it("works in a shallow clone, and with the branch ref fetched shallow", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    -- a project with history, and a numbering that has moved a few times
    local _, s0 = G.clone("file://" .. bare, dir .. "/seed")
    for i = 1, 3 do
      G.git("-C", dir .. "/seed", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
        "--allow-empty", "-m", "c" .. i)
    end
    G.git("-C", dir .. "/seed", "push", "-q", "origin", "HEAD:refs/heads/main")
    assert.are.same({ 1, 2, 3 }, (alloc("git:origin#heads", s0, 3)))
    local _, s1 = G.clone("file://" .. bare, dir .. "/shallow", { depth = 1, no_single_branch = true })
    assert.is_truthy(H.read(dir .. "/shallow/.git/shallow"))
    -- the clone holds refs/remotes/origin/tasknum/... one commit deep
    assert.matches("tasknum/", G.git("-C", dir .. "/shallow", "branch", "-r"))
    assert.are.same({ 4, 5 }, (alloc("git:origin#heads", s1, 2)))
    assert.are.same({ 6 }, (alloc("git:origin#heads", s0, 1)))
    assert.are.same({ 7 }, (alloc("git:origin#heads", s1, 1)))
    assert_ledger(bare, "refs/heads/tasknum/specs%2Fstate.json", 7)
    -- and refs/tasknum/ from a shallow clone
    assert.are.same({ 1, 2 }, (alloc("git:origin", s1, 2)))
  end)

  it("needs no remote-tracking ref: a clone that never fetched", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    assert.are.same({ 1, 2 }, (alloc("git:origin", s1, 2)))
    G.git("init", "-q", dir .. "/fresh")
    G.git("-C", dir .. "/fresh", "remote", "add", "origin", "file://" .. bare)
    local state = dir .. "/fresh/specs/state.json"
    H.write(state, H.state_text(0))
    assert.are.equal("", G.git("-C", dir .. "/fresh", "for-each-ref"))
    assert.are.same({ 3 }, (alloc("git:origin", state, 1)))
    -- a URL instead of a remote's name is the same numbering
    assert.are.same({ 4 }, (alloc("git:file://" .. bare, state, 1)))
  end)

  it("a remote that refuses refs outside refs/heads/: AUTHORITY_UNAVAILABLE, and #heads works", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    G.hook(bare, "pre-receive", [[
while read old new ref; do
  case "$ref" in refs/heads/*) ;; *) echo "only branches here: $ref" >&2; exit 1;; esac
done]])
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    local oks, errs = alloc("git:origin", s1, 1)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE .*refused.*pre%-receive hook declined", errs[1])
    assert.matches("git:origin#heads", errs[1], 1, true)
    assert.is_nil(G.ref(bare, REF))
    assert.are.same({ 1, 2 }, (alloc("git:origin#heads", s1, 2)))
    assert.are.equal(2, G.serial(bare, "refs/heads/tasknum/specs%2Fstate.json"))
    -- an explicit ref name
    assert.are.same({ 1 }, (alloc("git:origin#refs/heads/numbers", s1, 1)))
  end)

  it("a push refused by a hook writes nothing; the next one continues after the mark", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    assert.are.same({ 1, 2 }, (alloc("git:origin", s1, 2)))
    G.hook(bare, "pre-receive", "echo no pushes today >&2; exit 1")
    local oks, errs = alloc("git:origin", s1, 1)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE ", errs[1])
    assert.matches("no pushes today", errs[1], 1, true)
    assert.are.equal(2, G.serial(bare, REF))
    G.unhook(bare, "pre-receive")
    assert.are.same({ 3 }, (alloc("git:origin", s1, 1)))
  end)

  for _, transport in ipairs({ "file", "daemon" }) do
    it("a push stopped half-way (" .. transport .. "): read back, never a duplicate", function()
      local dir = H.tmpdir()
      local bare = G.bare(dir .. "/srv/team.git")
      local d = transport == "daemon" and G.daemon(dir .. "/srv") or nil
      finally(function() if d then d.stop() end end)
      local url = d and d.url("team.git") or ("file://" .. bare)
      local _, s1 = G.clone(url, dir .. "/a")
      local _, s2 = G.clone(url, dir .. "/b")
      assert.are.same({ 1 }, (alloc("git:origin", s1, 1)))
      -- the hook accepts, after longer than the 2 s a push gets with --timeout 0
      G.hook(bare, "pre-receive", "cat >/dev/null; sleep 4")
      local t0 = core.clock()
      local oks, errs = alloc("git:origin", s1, 1, 0)
      assert.is_true(core.clock() - t0 < 4, "the push was not stopped at the deadline")
      assert.are.same({}, oks)
      assert.matches("^err AUTHORITY_UNAVAILABLE .*no answer within", errs[1])
      G.unhook(bare, "pre-receive")
      os.execute("sleep 3") -- a daemon's receive-pack may still land it: a gap, not a duplicate
      local landed = G.serial(bare, REF)
      assert.is_true(landed == 1 or landed == 2, "the remote holds " .. tostring(landed))
      assert.are.same({ landed + 1 }, (alloc("git:origin", s2, 1)))
      assert.are.same({ landed + 2 }, (alloc("git:origin", s1, 1)))
    end)
  end

  it("clients killed with SIGKILL mid-push: nothing handed out twice, the ledger whole", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/srv/team.git")
    local d = G.daemon(dir .. "/srv")
    finally(function() d.stop() end)
    local states = {}
    for c = 1, 2 do
      local _, s = G.clone(c == 1 and ("file://" .. bare) or d.url("team.git"), dir .. "/c" .. c)
      states[c] = s
    end
    local pids = {}
    for i = 1, 6 do
      local out = dir .. "/out" .. i
      pids[i] = tonumber(H.sh("(" .. driver_cmd("git:origin", states[i % 2 + 1], 200, 60) .. " > "
        .. H.q(out) .. " 2>&1 & echo $!)"):match("%d+"))
    end
    -- a kill every 150 ms, while pushes are under way
    for round = 1, 6 do
      os.execute("sleep 0.15")
      core.kill(pids[round], 9)
    end
    os.execute("sleep 1")
    local all = {}
    for i = 1, 6 do
      local oks = parse(H.read(dir .. "/out" .. i))
      for _, s in ipairs(oks) do all[#all + 1] = s end
    end
    -- after the storm: both clones continue after everything that landed
    local top = G.serial(bare, REF)
    local after = alloc("git:origin", states[1], 2)
    local after2 = alloc("git:origin", states[2], 2)
    assert.are.same({ top + 1, top + 2 }, after)
    assert.are.same({ top + 3, top + 4 }, after2)
    for _, s in ipairs(after) do all[#all + 1] = s end
    for _, s in ipairs(after2) do all[#all + 1] = s end
    assert_unique(all)
    assert_ledger(bare, REF, top + 4)
  end)

  it("credentials that fail: AUTHORITY_UNAVAILABLE at once, no prompt, no password shown", function()
    local dir = H.tmpdir()
    local s = G.refusing(dir)
    finally(function() s.stop() end)
    G.git("init", "-q", dir .. "/a")
    G.git("-C", dir .. "/a", "remote", "add", "origin", s.url("team.git", "agent:hunter2secret"))
    G.git("-C", dir .. "/a", "remote", "add", "anon", s.url("team.git"))
    local state = dir .. "/a/specs/state.json"
    H.write(state, H.state_text(0))
    for _, spec in ipairs({ "git:origin", "git:anon", "git:" .. s.url("team.git", "agent:hunter2secret") }) do
      local t0 = core.clock()
      local oks, errs = alloc(spec, state, 1, 30)
      assert.is_true(core.clock() - t0 < 10)
      assert.are.same({}, oks)
      assert.matches("^err AUTHORITY_UNAVAILABLE ", errs[1])
      assert.is_nil(errs[1]:find("hunter2secret", 1, true), errs[1])
    end
    local a = open(state, s.url("team.git", "agent:hunter2secret"))
    assert.is_nil(a.where:find("hunter2secret", 1, true))
    assert.matches("agent:***@", a.where, 1, true)
  end)

  it("a remote that is down: AUTHORITY_UNAVAILABLE naming what was tried", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/srv/team.git")
    local d = G.daemon(dir .. "/srv")
    local _, s1 = G.clone(d.url("team.git"), dir .. "/a")
    assert.are.same({ 1 }, (alloc("git:origin", s1, 1)))
    d.stop()
    local oks, errs = alloc("git:origin", s1, 1)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE .*origin refs/tasknum/specs%%2Fstate.json", errs[1])
    assert.matches("Connection refused", errs[1], 1, true)
    assert.are.equal(1, G.serial(bare, REF))
    -- a file:// remote that is gone
    G.git("-C", dir .. "/a", "remote", "add", "gone", "file://" .. dir .. "/nowhere.git")
    oks, errs = alloc("git:gone", s1, 1)
    assert.matches("^err AUTHORITY_UNAVAILABLE ", errs[1])
    -- an unknown remote name
    oks, errs = alloc("git:upstream", s1, 1)
    assert.matches("^err AUTHORITY_UNAVAILABLE ", errs[1])
  end)

  it("processes of one clone queue on the local lock; another clone is not held up", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    local _, s2 = G.clone("file://" .. bare, dir .. "/b")
    local marker = dir .. "/holding"
    local pid = A.holder("git:origin", s1, marker)
    finally(function() core.kill(pid, 9) end)
    assert.is_true(H.wait_until(function() return H.read(marker) end, 10))
    local oks, errs = alloc("git:origin", s1, 1, 0.3)
    assert.are.same({}, oks)
    assert.matches("^err LOCK_TIMEOUT .*pid " .. pid, errs[1])
    assert.are.same({ 1 }, (alloc("git:origin", s2, 1, 5)))
    core.kill(pid, 9)
    os.execute("sleep 0.1")
    assert.are.same({ 2 }, (alloc("git:origin", s1, 1, 5)))
  end)

  it("a cached commit gone from the clone is fetched again", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    assert.are.same({ 1, 2 }, (alloc("git:origin", s1, 2)))
    G.git("-C", dir .. "/a", "update-ref", "-d", "refs/tasknum-local/specs%2Fstate.json")
    G.git("-C", dir .. "/a", "-c", "gc.reflogExpire=now", "-c", "gc.reflogExpireUnreachable=now",
      "gc", "-q", "--prune=now")
    assert.are.same({ 3 }, (alloc("git:origin", s1, 1)))
  end)

  it("the temp file of a cache write killed before its rename is removed by the next write", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    assert.are.same({ 1 }, (alloc("git:origin", s1, 1)))
    local cache = dir .. "/a/.git/tasknum/remote/specs%2Fstate.json.cache"
    local dead = math.tointeger(tonumber(H.capture("sh -c 'echo $$'")))
    H.write(cache .. ".tmp-" .. dead, "0123 1\n")
    H.write(cache .. ".tmp-" .. core.pid(), "0123 1\n") -- a live writer's: left to it
    assert.are.same({ 2 }, (alloc("git:origin", s1, 1)))
    assert.is_nil(H.read(cache .. ".tmp-" .. dead))
    assert.are.equal("0123 1\n", H.read(cache .. ".tmp-" .. core.pid()))
    assert.matches("^%x+ 2\n", H.read(cache)) -- the write itself went on
  end)

  it("a ref that holds no serial is left alone: AUTHORITY_UNAVAILABLE", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    G.git("-C", dir .. "/a", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
      "--allow-empty", "-m", "not a serial")
    G.git("-C", dir .. "/a", "push", "-q", "origin", "HEAD:" .. REF)
    local before = G.ref(bare, REF)
    local oks, errs = alloc("git:origin", s1, 1)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE .*holds no serial", errs[1])
    assert.are.equal(before, G.ref(bare, REF))
  end)

  it("refuses specs it cannot use: no remote, a bad ref, a state outside a clone", function()
    local dir = H.tmpdir()
    local bare = G.bare(dir .. "/team.git")
    local _, s1 = G.clone("file://" .. bare, dir .. "/a")
    local f = { path = s1, real = core.realpath(s1) }
    local a, err = git.open("", f)
    assert.is_nil(a)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    a, err = git.open("origin#refs/x..y", f)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    a, err = git.open("origin#nobranch", f)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    H.write(dir .. "/loose/state.json", H.state_text(0))
    a, err = git.open("origin", { path = dir .. "/loose/state.json" })
    assert.are.equal("INVALID_ARGUMENT", err.code)
    assert.matches("not inside a git working tree", err.details, 1, true)
  end)

  it("keys: one ref component per path, distinct paths distinct keys", function()
    assert.are.equal("specs%2Fstate.json", git.key("specs/state.json"))
    assert.are.equal("%2Eopencode%2Fspecs%2Fstate.json", git.key(".opencode/specs/state.json"))
    assert.are.equal("a.%2Eb%2Fx.lock%2F%2Elock", git.key("a..b/x.lock/.lock"))
    assert.are.equal("x%2Elock", git.key("x.lock"))
    assert.are_not.equal(git.key("a/b"), git.key("a%2Fb"))
    for _, p in ipairs({ "specs/state.json", ".opencode/specs/state.json", "a..b/x.lock/.lock",
      "a b/c~d^e:f?g*h[i\\j", "x.lock", "trailing." }) do
      local out, code = H.sh("git check-ref-format " .. H.q("refs/tasknum/" .. git.key(p)))
      assert.are.equal(0, code, p .. ": " .. out)
    end
  end)
end)
