-- git:REMOTE and postgresql:// through the CLI (`tasknum allocate`,
-- `add-task`, `mcp`, the Lua API), against real servers started here:
-- bare repositories over file:// and `git daemon`, a PostgreSQL cluster
-- made with initdb. Every run is checked the same way: no number twice,
-- every failure AUTHORITY_UNAVAILABLE (exit 76, retry suggested, details
-- naming what was tried, never a password) with the state untouched and
-- nothing left behind, and every state agreeing with its answers.
local H = require "spec_helper"
local G = require "support.gitd"
local C = require "support.cli_alloc"
local core = require "tasknum.core"
local cjson = require "cjson"

local REF = "refs/tasknum/specs%2Fstate.json"
local WHERE = "origin " .. REF

local function alloc(state, authority, args, env)
  local words = { "allocate", "--state", state }
  if authority then words[#words + 1] = "--authority"; words[#words + 1] = authority end
  for _, a in ipairs(args or {}) do words[#words + 1] = a end
  local r, code, err = H.run_json(words, { env = env })
  r.rc = code
  return r, err
end

-- A failure that wrote nothing: the state's bytes as they were, nothing
-- new beside it.
local function assert_untouched(state, before, r)
  C.assert_unavailable(r)
  assert.are.equal(before, H.read(state))
  assert.are.equal("", C.leftovers(state:match("^(.*)/")))
end

-- A commit in the bare repository holding serial n on top of the ref, for
-- a hook to move the ref to (another clone winning the race).
local function rival_commit(bare, n)
  local g = "git --git-dir=" .. H.q(bare)
  local blob = H.capture("echo " .. n .. " | " .. g .. " hash-object -w --stdin")
  local tree = H.capture("printf '100644 blob %s\\tserial\\n' " .. blob .. " | " .. g .. " mktree")
  return H.capture("GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x "
    .. g .. " commit-tree -m rival -p " .. H.q(G.ref(bare, REF)) .. " " .. tree)
end

-- A pre-receive hook that, once (while the file move-once is there), moves
-- the ref to commit just before the pushed update lands: the push then
-- loses the compare-and-swap.
local function lose_once(bare, commit)
  H.write(bare .. "/move-once", "")
  G.hook(bare, "pre-receive", "if [ -e " .. H.q(bare .. "/move-once") .. " ]; then rm -f "
    .. H.q(bare .. "/move-once") .. "; env -u GIT_QUARANTINE_PATH git update-ref " .. H.q(REF) .. " "
    .. commit .. "; fi; cat >/dev/null; exit 0")
end

describe("git:origin through the CLI", function()
  after_each(H.cleanup)

  for _, transport in ipairs({ "file", "daemon" }) do
    it("3 clones x 4 processes x 5 allocations over " .. transport .. ": all unique, each state agrees",
      function()
        local dir = H.tmpdir()
        local t = G.team(dir, 3, transport)
        finally(t.stop)
        local bare, states, jobs = t.bare, t.states, {}
        for c = 1, 3 do
          for _ = 1, 4 do jobs[#jobs + 1] = { state = states[c], n = 5, authority = "git:origin" } end
        end
        local answers = C.parallel(jobs, dir)
        local nums, failures = C.numbers(answers)
        assert.are.same({}, failures)
        assert.are.equal(60, #nums)
        C.assert_unique(nums)
        table.sort(nums)
        assert.are.equal(0, nums[1])
        assert.are.equal(59, nums[60]) -- no gap either: nothing failed
        assert.are.equal(60, G.serial(bare, REF))
        for c = 1, 3 do
          local mine = {}
          for j = 4 * c - 3, 4 * c do
            for _, r in ipairs(C.of_job(answers, j)) do mine[#mine + 1] = r end
          end
          C.assert_agrees(states[c], mine)
          assert.are.equal("", C.leftovers(states[c]:match("^(.*)/")))
        end
        local retries = 0
        for _, r in ipairs(answers) do
          assert.are.same({ kind = "git", where = WHERE }, r.authority)
          retries = retries + (r.retries or 0)
        end
        print(string.format("\n# git %s, 3 clones x 4 x 5: %.2f retries per allocation", transport, retries / 60))
      end)
  end

  it("8 clones contending: every allocation gets through, none starves", function()
    local dir = H.tmpdir()
    local jobs = {}
    for _, state in ipairs(G.team(dir, 8).states) do
      jobs[#jobs + 1] = { state = state, n = 4, authority = "git:origin" }
    end
    local t0 = core.clock()
    local answers = C.parallel(jobs, dir)
    local nums, failures = C.numbers(answers)
    assert.are.same({}, failures)
    assert.are.equal(32, #nums)
    C.assert_unique(nums)
    local retries, most = 0, 0
    for _, r in ipairs(answers) do
      retries = retries + (r.retries or 0)
      most = math.max(most, r.retries or 0)
    end
    print(string.format("\n# git, 8 clones x 4: %.1f s, %.2f retries per allocation, at most %d for one",
      core.clock() - t0, retries / 32, most))
  end)

  it("a clone that was behind never reissues: counter_adjusted", function()
    local t = G.team(H.tmpdir(), 2)
    local a, b = t.states[1], t.states[2]
    local r = alloc(a, "git:origin", { "--count", "3" })
    assert.are.same({ 0, 1, 2 }, r.allocated_numbers)
    assert.is_nil(r.counter_adjusted)
    r = alloc(b, "git:origin")
    assert.are.same({ 3 }, r.allocated_numbers)
    assert.are.equal(0, r.counter_adjusted.from)
    assert.are.equal(3, r.counter_adjusted.to)
    assert.are.equal(4, C.counter(b))
    -- a rewound state (a checkout of the committed one) continues after the mark
    H.write(a, H.state_text(0, { max = 999999 }))
    r = alloc(a, "git:origin")
    assert.are.same({ 4 }, r.allocated_numbers)
    assert.are.same({ from = 0, to = 4 }, { from = r.counter_adjusted.from, to = r.counter_adjusted.to })
    assert.are.equal(5, C.counter(a))
  end)

  it("a corrupt local mark is called the git numbering's, not the worktrees one", function()
    local t = G.team(H.tmpdir(), 1)
    local a = t.states[1]
    assert.are.same({ 0 }, alloc(a, "git:origin").allocated_numbers)
    local top = a:match("^(.*)/specs/state.json$")
    local mark = H.sh("ls " .. H.q(top) .. "/.git/tasknum/*.mark"):match("[^\n]+")
    H.write(mark, '{"serial": 12}\n')
    local before = H.read(a)
    local r = alloc(a, "git:origin")
    assert.are.equal("STATE_CORRUPT", r.error_code)
    assert.matches("the git numbering's mark " .. mark .. " is corrupt", r.error_message, 1, true)
    assert.are.equal(before, H.read(a))
    local s = H.run_json({ "status", "--json", "--state", a, "--authority", "git:origin" })
    assert.matches("the git numbering's mark", cjson.encode(s), 1, true)
  end)

  it("the committed project_numbering.authority and $TASKNUM_AUTHORITY choose it; add-task and mcp use it",
    function()
      local dir = H.tmpdir()
      local t = G.team(dir, 2)
      local bare, a, b = t.bare, t.states[1], t.states[2]
      H.write(a, (H.state_text(0, { max = 999999 }):gsub('"policy": "increment"',
        '"policy": "increment", "authority": "git:origin"')))
      local r = alloc(a)
      assert.are.same({ 0 }, r.allocated_numbers)
      assert.are.equal("git", r.authority.kind)
      r = alloc(b, nil, nil, { TASKNUM_AUTHORITY = "git:origin" })
      assert.are.same({ 1 }, r.allocated_numbers)
      local out, code = H.run({ "add-task", "--state", a, "--name", "remote-task" })
      assert.are.equal(0, code, out)
      r = cjson.decode(out)
      assert.are.equal(2, r.project_number or r.allocated_numbers[1])
      assert.are.equal("git", r.authority.kind)
      -- one allocate tool call over MCP, from clone b with the environment's choice
      local req = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        .. '"capabilities":{},"clientInfo":{"name":"spec","version":"1"}}}\n'
        .. '{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
        .. '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"allocate","arguments":{"count":2}}}\n'
      H.write(dir .. "/mcp.in", req)
      out = H.capture("TASKNUM_AUTHORITY=git:origin " .. H.q(H.bin) .. " mcp --state " .. H.q(b) .. " < "
        .. H.q(dir .. "/mcp.in") .. " 2>/dev/null")
      local answer
      for line in out:gmatch("[^\n]+") do
        local m = cjson.decode(line)
        if m.id == 2 then answer = m.result.structuredContent end
      end
      assert.are.same({ 3, 4 }, answer.allocated_numbers)
      assert.are.equal("git", answer.authority.kind)
      assert.are.equal(5, G.serial(bare, REF))
    end)

  it("a lost race is run again after re-reading (retries); with --timeout 0 it is AUTHORITY_UNAVAILABLE",
    function()
      local t = G.team(H.tmpdir(), 1)
      local bare, a = t.bare, t.states[1]
      assert.are.same({ 0 }, alloc(a, "git:origin").allocated_numbers)
      lose_once(bare, rival_commit(bare, 50))
      local r = alloc(a, "git:origin")
      assert.are.same({ 50 }, r.allocated_numbers)
      assert.are.equal(1, r.retries)
      assert.are.equal(51, C.counter(a))
      assert.are.equal(51, G.serial(bare, REF))
      -- no time to run it again: nothing written, try again later
      lose_once(bare, rival_commit(bare, 60))
      local before = H.read(a)
      r = alloc(a, "git:origin", { "--timeout", "0" })
      assert_untouched(a, before, r)
      assert.matches("another clone moved", r.error_message, 1, true)
      assert.matches(WHERE, r.error.details, 1, true)
      assert.are.equal(60, G.serial(bare, REF))
      assert.are.same({ 60 }, alloc(a, "git:origin").allocated_numbers)
    end)

  it("a begin() handle that loses the race answers AUTHORITY_UNAVAILABLE and writes nothing", function()
    local dir = H.tmpdir()
    local t = G.team(dir, 1)
    local bare, a = t.bare, t.states[1]
    assert.are.same({ 0 }, alloc(a, "git:origin").allocated_numbers)
    lose_once(bare, rival_commit(bare, 20))
    H.write(dir .. "/handle.lua", [[
local tasknum = require "tasknum"
local t = assert(tasknum.begin{ state = arg[1], authority = "git:origin" })
local got = t:take(1)
local r = t:commit()
print(require("cjson").encode({ got = got, code = r.error_code, retry = r.retry_suggested }))
]])
    local before = H.read(a)
    local out = H.capture(H.q(H.bin) .. " run " .. H.q(dir .. "/handle.lua") .. " " .. H.q(a))
    local r = cjson.decode(out)
    assert.are.same({ 1 }, r.got)
    assert.are.equal("AUTHORITY_UNAVAILABLE", r.code)
    assert.is_true(r.retry)
    assert.are.equal(before, H.read(a))
    assert.are.same({ 20 }, alloc(a, "git:origin").allocated_numbers)
  end)

  it("faults: remote gone, push refused, push stopped half-way, credentials failing", function()
    local dir = H.tmpdir()
    local t = G.team(dir, 1)
    local bare, a = t.bare, t.states[1]
    assert.are.same({ 0, 1 }, alloc(a, "git:origin", { "--count", "2" }).allocated_numbers)
    local before = H.read(a)
    -- refused by a hook: its words in the details, nothing written
    G.hook(bare, "pre-receive", "cat >/dev/null; echo no pushes today >&2; exit 1")
    local r = alloc(a, "git:origin")
    assert_untouched(a, before, r)
    assert.matches("no pushes today", r.error_message, 1, true)
    assert.matches(WHERE, r.error.details, 1, true)
    -- stopped half-way: the hook accepts after longer than --timeout 0 gives
    G.hook(bare, "pre-receive", "cat >/dev/null; sleep 4")
    r = alloc(a, "git:origin", { "--timeout", "0" })
    assert_untouched(a, before, r)
    G.unhook(bare, "pre-receive")
    os.execute("sleep 3")
    local landed = G.serial(bare, REF)
    assert.is_true(landed == 2 or landed == 3, "the remote holds " .. tostring(landed))
    assert.are.same({ landed }, alloc(a, "git:origin").allocated_numbers)
    before = H.read(a)
    -- the remote gone
    os.execute("mv " .. H.q(bare) .. " " .. H.q(bare .. ".away"))
    r = alloc(a, "git:origin")
    assert_untouched(a, before, r)
    assert.matches(WHERE, r.error.details, 1, true)
    os.execute("mv " .. H.q(bare .. ".away") .. " " .. H.q(bare))
    -- credentials that fail (HTTP 401): at once, no prompt, no password shown
    local s = G.refusing(dir)
    finally(function() s.stop() end)
    G.git("-C", t.clones[1], "remote", "add", "locked", s.url("team.git", "agent:hunter2secret"))
    local t0 = core.clock()
    local out, code, err = H.run({ "allocate", "--state", a, "--authority", "git:locked" })
    assert.is_true(core.clock() - t0 < 10)
    r = cjson.decode(out)
    r.rc = code
    assert_untouched(a, before, r)
    assert.is_nil((out .. err):find("hunter2secret", 1, true), out .. err)
    assert.matches("tried locked " .. REF, r.error.details, 1, true)
    -- and after all that, the numbering goes on after the mark
    assert.are.same({ landed + 1 }, alloc(a, "git:origin").allocated_numbers)
  end)

  it("clients killed with SIGKILL mid-push: no duplicate, every state past what it answered", function()
    local dir = H.tmpdir()
    local t = G.team(dir, 2, "mixed")
    finally(t.stop)
    local bare, states = t.bare, t.states
    local answers = {}
    for round = 1, 8 do
      local kids = {}
      for i = 1, 4 do
        local out = dir .. "/r" .. round .. "-" .. i
        kids[i] = { out = out, state = states[i % 2 + 1], child = assert(core.spawn({ "sh", "-c",
          "exec " .. H.q(H.bin) .. " allocate --authority git:origin --state " .. H.q(states[i % 2 + 1])
            .. " > " .. H.q(out) .. " 2>/dev/null" })) }
      end
      os.execute("sleep 0." .. math.random(3, 15))
      core.kill(kids[math.random(1, 4)].child:pid(), 9)
      for _, k in ipairs(kids) do
        local status = k.child:wait(60)
        local text = H.read(k.out) or ""
        if text ~= "" then
          local r = cjson.decode(text)
          r.rc, r.state = status, k.state
          answers[#answers + 1] = r
        end
      end
    end
    local nums, failures = C.numbers(answers)
    for _, f in ipairs(failures) do C.assert_unavailable(f) end
    for c = 1, 2 do
      local mine = {}
      for _, r in ipairs(answers) do if r.state == states[c] then mine[#mine + 1] = r end end
      local top = -1
      for _, r in ipairs(mine) do
        if r.rc == 0 then top = math.max(top, r.allocated_numbers[1]) end
      end
      assert.is_true(C.counter(states[c]) > top, "state " .. c .. " is behind a number it handed out")
    end
    -- after the storm both clones go on after everything that landed
    local top = G.serial(bare, REF)
    local x = alloc(states[1], "git:origin")
    local y = alloc(states[2], "git:origin")
    assert.are.same({ top }, x.allocated_numbers)
    assert.are.same({ top + 1 }, y.allocated_numbers)
    nums[#nums + 1] = top
    nums[#nums + 1] = top + 1
    C.assert_unique(nums)
    for c = 1, 2 do assert.are.equal("", C.leftovers(states[c]:match("^(.*)/"))) end
  end)
end)

describe("postgresql:// through the CLI", function()
  local P = require "support.pg"
  local cluster
  setup(function() cluster = P.start() end)
  teardown(function() if cluster then cluster.destroy() end end)
  after_each(H.cleanup)

  local function states(dir, n)
    local list = {}
    for i = 1, n do
      list[i] = dir .. "/p" .. i .. "/specs/state.json"
      H.write(list[i], H.state_text(0, { max = 999999 }))
    end
    return list
  end

  it("8 processes x 10 allocations from 8 projects sharing a key: all unique, each state agrees", function()
    local dir = H.tmpdir()
    local spec = cluster.uri("agent", P.PASSWORD) .. "#eight"
    local list = states(dir, 8)
    local jobs = {}
    for i = 1, 8 do jobs[i] = { state = list[i], n = 10, authority = spec } end
    local answers = C.parallel(jobs, dir)
    local nums, failures = C.numbers(answers)
    assert.are.same({}, failures)
    assert.are.equal(80, #nums)
    C.assert_unique(nums)
    table.sort(nums)
    assert.are.same({ 0, 79 }, { nums[1], nums[80] })
    for i = 1, 8 do C.assert_agrees(list[i], C.of_job(answers, i)) end
    for _, r in ipairs(answers) do
      assert.are.equal("postgresql", r.authority.kind)
      assert.is_nil(r.authority.where:find(P.PASSWORD, 1, true))
    end
    assert.are.equal("80", cluster.psql("SELECT serial FROM tasknum_numbering WHERE key = 'eight'"))
  end)

  it("a project that was behind never reissues: counter_adjusted", function()
    local dir = H.tmpdir()
    local spec = cluster.tcp_uri("tasknum") .. "#behind"
    local list = states(dir, 2)
    assert.are.same({ 0, 1, 2 }, alloc(list[1], spec, { "--count", "3" }).allocated_numbers)
    local r = alloc(list[2], spec)
    assert.are.same({ 3 }, r.allocated_numbers)
    assert.are.equal(0, r.counter_adjusted.from)
    assert.are.equal(3, r.counter_adjusted.to)
  end)

  it("server stopped mid-run and restarted: only successes or AUTHORITY_UNAVAILABLE, then after the mark",
    function()
      local dir = H.tmpdir()
      local spec = cluster.uri("tasknum") .. "#restart"
      local list = states(dir, 3)
      local jobs = {}
      for i = 1, 3 do jobs[i] = { state = list[i], n = 30, authority = spec, args = { "--timeout", "1" } } end
      local cmd = ""
      for i, j in ipairs(jobs) do cmd = cmd .. "( " .. C.loop(j) .. " ) > " .. H.q(dir .. "/answers" .. i) .. " & " end
      os.execute(cmd .. " sleep 0.5")
      cluster.stop("fast")
      os.execute("sleep 1.5")
      cluster.start()
      os.execute("wait; sleep 0") -- the loops are children of the shell that started them
      assert(H.wait_until(function()
        for i = 1, 3 do
          local _, n = (H.read(dir .. "/answers" .. i) or ""):gsub("#rc", "")
          if n < 30 then return false end
        end
        return true
      end, 120), "the allocation loops did not finish")
      local answers = {}
      for i = 1, 3 do
        for _, r in ipairs(C.parse(H.read(dir .. "/answers" .. i), i)) do answers[#answers + 1] = r end
      end
      local nums, failures = C.numbers(answers)
      assert.is_true(#failures > 0, "the stop was not seen")
      for _, f in ipairs(failures) do
        C.assert_unavailable(f)
        assert.matches("tried postgresql://tasknum@/numbers", f.error.details, 1, true)
      end
      C.assert_unique(nums)
      for i = 1, 3 do C.assert_agrees(list[i], C.of_job(answers, i)) end
      local top = math.tointeger(tonumber(cluster.psql("SELECT serial FROM tasknum_numbering WHERE key = 'restart'")))
      local r = alloc(list[1], spec)
      assert.are.same({ top }, r.allocated_numbers)
      for _, n in ipairs(nums) do assert.is_true(n < top) end
    end)

  it("faults: wrong password, server down: AUTHORITY_UNAVAILABLE, no password shown, nothing written",
    function()
      local dir = H.tmpdir()
      local list = states(dir, 1)
      local before = H.read(list[1])
      for _, spec in ipairs({ cluster.uri("agent", "wrong-hunter2secret"), cluster.tcp_uri("agent", "wrong-hunter2secret") }) do
        local out, code, err = H.run({ "allocate", "--state", list[1], "--authority", spec })
        local r = cjson.decode(out)
        r.rc = code
        assert_untouched(list[1], before, r)
        assert.is_nil((out .. err):find("hunter2secret", 1, true), out .. err)
        assert.matches("postgresql://agent@", r.error.details, 1, true)
      end
      local down = "postgresql://tasknum@127.0.0.1:1/numbers"
      local r = alloc(list[1], down)
      assert_untouched(list[1], before, r)
      assert.matches("127.0.0.1:1", r.error.details, 1, true)
    end)
end)
