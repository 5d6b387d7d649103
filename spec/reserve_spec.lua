-- `tasknum reserve K`: a block of numbers taken from the remote numbering
-- while it can be reached, handed out locally (offline) until used up,
-- then the remote again. Real servers: a bare repository over file:// and a
-- PostgreSQL cluster. Gaps are fine; a number twice never is.
local H = require "spec_helper"
local G = require "support.gitd"
local C = require "support.cli_alloc"
local cjson = require "cjson"

local REF = "refs/tasknum/specs%2Fstate.json"

local function tasknum(args, env)
  local r, code = H.run_json(args, { env = env })
  r.rc = code
  return r
end

local function alloc(state, authority, args)
  local words = { "allocate", "--state", state, "--authority", authority }
  for _, a in ipairs(args or {}) do words[#words + 1] = a end
  return tasknum(words)
end

local function reserve(state, authority, k)
  return tasknum({ "reserve", tostring(k), "--state", state, "--authority", authority })
end

-- cuts a clone off its remote (and back)
local function offline(clone) G.git("-C", clone, "remote", "set-url", "origin", "/nonexistent/team.git") end
local function online(clone, bare) G.git("-C", clone, "remote", "set-url", "origin", "file://" .. bare) end

local function setup_git()
  local dir = H.tmpdir()
  local t = G.team(dir, 2)
  return dir, t.bare, t.clones[1], t.states[1], t.clones[2], t.states[2]
end

describe("tasknum reserve", function()
  after_each(H.cleanup)

  it("a reserved block is used up locally, offline, then the numbering goes back to the remote", function()
    local _, bare, ca, a, _, b = setup_git()
    assert.are.same({ 0 }, alloc(a, "git:origin").allocated_numbers)
    local r = reserve(a, "git:origin", 5)
    assert.are.equal(0, r.rc)
    assert.are.same({ count = 5, first = 1, last = 5 }, r.reserved)
    assert.are.same({}, r.allocated_numbers)
    assert.are.equal(1, C.counter(a))
    assert.are.equal(6, G.serial(bare, REF))
    offline(ca)
    -- status shows what is left, offline; check passes (the counter is at the block)
    local st = tasknum({ "status", "--json", "--state", a, "--authority", "git:origin" })
    assert.are.equal("git", st.authority.kind)
    assert.are.same({ left = 5, first = 1, last = 5 }, st.authority.reservation)
    assert.are.equal(1, st.authority.mark)
    assert.are.equal("level", st.authority.counter)
    assert.are.equal(0, tasknum({ "check", "--state", a, "--authority", "git:origin" }).rc)
    local text = H.run({ "status", "--state", a, "--authority", "git:origin" })
    assert.matches("reserved%s+5 left %(1..5%), handed out here without asking the remote", text)
    local nums = {}
    for i = 1, 5 do
      r = alloc(a, "git:origin")
      assert.are.equal(0, r.rc)
      assert.are.same({ i }, r.allocated_numbers)
      assert.is_true(r.authority.reserved)
      nums[#nums + 1] = i
    end
    -- meanwhile another clone, online, goes on after the block
    r = alloc(b, "git:origin")
    assert.are.same({ 6 }, r.allocated_numbers)
    nums[#nums + 1] = 6
    -- used up, still offline: fails closed, saying so
    local before = H.read(a)
    r = alloc(a, "git:origin")
    C.assert_unavailable(r, "origin " .. REF)
    assert.matches("reserved block is used up", r.error.details, 1, true)
    assert.are.equal(before, H.read(a))
    -- back online: after everything handed out; status says where the remote is
    online(ca, bare)
    st = tasknum({ "status", "--json", "--state", a, "--authority", "git:origin" })
    assert.is_nil(st.authority.reservation)
    assert.are.equal(7, st.authority.mark)
    assert.are.equal("behind", st.authority.counter)
    r = alloc(a, "git:origin")
    assert.are.same({ 7 }, r.allocated_numbers)
    assert.is_nil(r.authority.reserved)
    assert.are.same({ from = 6, to = 7 }, { from = r.counter_adjusted.from, to = r.counter_adjusted.to })
    nums[#nums + 1] = 7
    C.assert_unique(nums)
  end)

  it("worktrees of one clone share its block", function()
    local dir, bare, ca, a = setup_git()
    G.git("-C", ca, "add", "specs/state.json")
    G.git("-C", ca, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-m", "state")
    G.git("-C", ca, "worktree", "add", "-q", dir .. "/a2")
    local a2 = dir .. "/a2/specs/state.json"
    assert.are.equal(0, reserve(a, "git:origin", 4).rc)
    offline(ca) -- the worktrees share the clone's config, so both are offline
    local nums = {}
    for _, s in ipairs({ a, a2, a, a2 }) do
      local r = alloc(s, "git:origin")
      assert.are.equal(0, r.rc)
      assert.is_true(r.authority.reserved)
      nums[#nums + 1] = r.allocated_numbers[1]
    end
    table.sort(nums)
    assert.are.same({ 0, 1, 2, 3 }, nums)
    C.assert_unavailable(alloc(a2, "git:origin"))
    online(ca, bare)
    assert.are.same({ 4 }, alloc(a2, "git:origin").allocated_numbers)
  end)

  it("a step that needs more than is left: the next numbers from the remote, else a gap and a retry",
    function()
      local _, bare, ca, a, _, b = setup_git()
      -- nobody moved the remote since: the block and the numbers after it
      assert.are.same({ first = 0, last = 1 }, (function()
        local r = reserve(a, "git:origin", 2).reserved
        return { first = r.first, last = r.last }
      end)())
      local r = alloc(a, "git:origin", { "--count", "3" })
      assert.are.same({ 0, 1, 2 }, r.allocated_numbers)
      assert.is_nil(r.retries)
      assert.are.equal(3, G.serial(bare, REF))
      -- another clone moved it: the rest of the block is given up, and the
      -- step runs again on the remote
      assert.are.equal(3, reserve(a, "git:origin", 2).reserved.first) -- 3, 4
      assert.are.same({ 5 }, alloc(b, "git:origin").allocated_numbers)
      r = alloc(a, "git:origin", { "--count", "3" })
      assert.are.same({ 6, 7, 8 }, r.allocated_numbers)
      assert.are.equal(1, r.retries)
      assert.are.equal(9, C.counter(a))
      -- offline: never more than is left, and the block stays
      assert.are.equal(9, reserve(a, "git:origin", 2).reserved.first) -- 9, 10
      offline(ca)
      local before = H.read(a)
      r = alloc(a, "git:origin", { "--count", "3" })
      C.assert_unavailable(r)
      assert.matches("2 numbers are left", r.error_message, 1, true)
      assert.matches("ask for at most 2", r.error.details, 1, true)
      assert.are.equal(before, H.read(a))
      assert.are.same({ 9, 10 }, alloc(a, "git:origin", { "--count", "2" }).allocated_numbers)
    end)

  it("a new block gives up what was left of the last one", function()
    local _, bare, _, a = setup_git()
    assert.are.equal(0, reserve(a, "git:origin", 5).rc)
    assert.are.same({ 0 }, alloc(a, "git:origin").allocated_numbers)
    local r = reserve(a, "git:origin", 3)
    assert.are.same({ count = 3, first = 5, last = 7, given_up = 4 }, r.reserved)
    assert.are.equal(5, r.counter_adjusted.to)
    assert.are.equal(8, G.serial(bare, REF))
    assert.are.same({ 5 }, alloc(a, "git:origin").allocated_numbers)
  end)

  it("needs the remote, a remote numbering and a sensible K", function()
    local _, _, ca, a = setup_git()
    local before = H.read(a)
    for _, args in ipairs({ { "0" }, { "x" }, {}, { "2", "3" } }) do
      local words = { "reserve", "--state", a, "--authority", "git:origin" }
      for _, w in ipairs(args) do words[#words + 1] = w end
      local r = tasknum(words)
      assert.are.equal(64, r.rc)
      assert.are.equal("INVALID_ARGUMENT", r.error_code)
    end
    local r = reserve(a, "git:origin", 5000000)
    assert.are.equal(64, r.rc)
    assert.matches("cannot reserve 5000000 numbers from the range 0..999999", r.error_message, 1, true)
    for _, spec in ipairs({ "file", "worktrees" }) do
      r = reserve(a, spec, 3)
      assert.are.equal(64, r.rc)
      assert.matches("needs a numbering kept on a remote", r.error_message, 1, true)
    end
    offline(ca)
    C.assert_unavailable(reserve(a, "git:origin", 3), "origin " .. REF)
    assert.are.equal(before, H.read(a))
    assert.are.equal("", C.leftovers(a:match("^(.*)/")))
  end)
end)

describe("tasknum reserve near the end of the serials", function()
  after_each(H.cleanup)

  -- points the remote's ref at a new commit whose tree holds serial s
  local function set_serial(bare, s)
    local gd = "git --git-dir=" .. H.q(bare)
    local out, code = H.sh("b=$(printf '%d\\n' " .. s .. " | " .. gd .. " hash-object -w --stdin) && "
      .. "t=$(printf '100644 blob %s\\tserial\\n' $b | " .. gd .. " mktree) && "
      .. "c=$(" .. gd .. " commit-tree $t -m edited) && " .. gd .. " update-ref " .. H.q(REF) .. " $c")
    assert(code == 0, out)
  end

  it("a block that would take the remote's serial past 2^63-1: STATE_CORRUPT, no block claimed", function()
    local _, bare, _, a = setup_git()
    assert.are.same({ 0 }, alloc(a, "git:origin").allocated_numbers)
    local s = math.maxinteger // 1000000 * 1000000 + 1 -- shows 1, the state's counter
    set_serial(bare, s)
    local before = H.read(a)
    local r = reserve(a, "git:origin", 999999)
    assert.are.equal("STATE_CORRUPT", r.error_code, r.error_message)
    assert.are.equal(65, r.rc)
    assert.is_nil(r.reserved)
    assert.matches("2^63-1", r.error_message, 1, true)
    assert.are.equal(s, G.serial(bare, REF))
    assert.are.equal(before, H.read(a))
    assert.are.equal("", C.leftovers(a:match("^(.*)/")))
  end)
end)

describe("tasknum reserve with postgresql://", function()
  local P = require "support.pg"
  local cluster
  setup(function() cluster = P.start() end)
  teardown(function() if cluster then cluster.destroy() end end)
  after_each(H.cleanup)

  it("the block serves while the server is down; then the server again, after the block", function()
    local dir = H.tmpdir()
    local spec = cluster.uri("tasknum") .. "#reserve"
    local a, b = dir .. "/a/state.json", dir .. "/b/state.json"
    H.write(a, H.state_text(0, { max = 999999 }))
    H.write(b, H.state_text(0, { max = 999999 }))
    local r = reserve(a, spec, 3)
    assert.are.same({ count = 3, first = 0, last = 2 }, r.reserved)
    assert.are.same({ 3 }, alloc(b, spec).allocated_numbers)
    cluster.stop("fast")
    local ok, err = pcall(function()
      for i = 0, 2 do
        r = alloc(a, spec)
        assert.are.same({ i }, r.allocated_numbers)
        assert.is_true(r.authority.reserved)
      end
      r = alloc(a, spec)
      C.assert_unavailable(r, "#reserve")
      assert.matches("reserved block is used up", r.error.details, 1, true)
    end)
    cluster.start()
    assert(ok, err)
    r = alloc(a, spec)
    assert.are.same({ 4 }, r.allocated_numbers)
    assert.are.equal("4", cjson.encode(r.allocated_numbers[1]))
    -- the local mark of a state outside git lives beside it
    assert.matches("%.state%.json%.numbering%.mark", H.ls(dir .. "/a"))
  end)
end)
