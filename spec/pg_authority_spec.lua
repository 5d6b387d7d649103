-- The postgresql:// authority against a real PostgreSQL cluster that this
-- file makes (initdb) and runs (pg_ctl) in a temp folder, on a Unix socket
-- and on a loopback port. Allocations run in separate processes
-- (spec/support/authority_alloc.lua under `tasknum run`).
local H = require "spec_helper"
local P = require "support.pg"
local core = require "tasknum.core"
local pg = require "tasknum.authority.postgresql"

local A = require "support.alloc"
local driver_cmd, parse, alloc, parallel, assert_unique = A.cmd, A.parse, A.alloc, A.parallel, A.assert_unique

local function max(list)
  local m = 0
  for _, v in ipairs(list) do if v > m then m = v end end
  return m
end

describe("postgresql authority", function()
  local c
  local n = 0

  setup(function() c = P.start() end)
  teardown(function() if c then c.destroy() end end)
  after_each(H.cleanup)

  -- a fresh numbering key per case, in one table
  local function spec_for(uri)
    n = n + 1
    return uri .. "#case" .. n
  end

  local function state()
    local _, path = H.project(H.state_text(0))
    return path
  end

  local function row(key)
    return c.psql("SELECT serial FROM tasknum_numbering WHERE key = '" .. key .. "'")
  end

  it("8 processes x 10 allocations, on the socket and over TCP: all unique", function()
    local dir = H.tmpdir()
    local s = state()
    local spec = spec_for(c.uri("tasknum"))
    local key = spec:match("#(.*)$")
    local jobs = {}
    for i = 1, 8 do
      jobs[#jobs + 1] = { i <= 4 and spec or (c.tcp_uri("tasknum") .. "#" .. key), s, 10 }
    end
    local all, errs = parallel(jobs, dir)
    assert.are.same({}, errs)
    assert.are.equal(80, #all)
    assert_unique(all)
    assert.are.equal(80, max(all))
    assert.are.equal("80", row(key))
  end)

  it("first use by 8 processes at once: the table is made once, nobody fails", function()
    c.psql("DROP TABLE IF EXISTS tasknum_numbering")
    local dir = H.tmpdir()
    local s = state()
    local spec = spec_for(c.uri("tasknum"))
    local jobs = {}
    for _ = 1, 8 do jobs[#jobs + 1] = { spec, s, 2 } end
    local all, errs = parallel(jobs, dir)
    assert.are.same({}, errs)
    assert_unique(all)
    assert.are.equal(16, max(all))
  end)

  it("a holder killed with SIGKILL: the server drops the row lock at once", function()
    local dir = H.tmpdir()
    local s = state()
    local spec = spec_for(c.uri("tasknum"))
    assert.are.same({ 1 }, (alloc(spec, s, 1)))
    local marker = dir .. "/holding"
    local pid = A.holder(spec, s, marker)
    finally(function() core.kill(pid, 9) end)
    assert.is_true(H.wait_until(function() return H.read(marker) end, 10))
    local t0 = core.clock()
    local oks, errs = alloc(spec, s, 1, 0.4)
    local waited = core.clock() - t0
    assert.are.same({}, oks)
    assert.matches("^err LOCK_TIMEOUT ", errs[1])
    assert.matches("tasknum " .. pid .. "@", errs[1], 1, true)   -- names the holder
    assert.is_true(waited < 1.8, "waited " .. waited .. " s for a 0.4 s timeout")
    core.kill(pid, 9)
    t0 = core.clock()
    assert.are.same({ 2 }, (alloc(spec, s, 1, 10)))
    assert.is_true(core.clock() - t0 < 5)
  end)

  it("the server stopped mid-run and restarted: failures are AUTHORITY_UNAVAILABLE, never a duplicate",
    function()
      local dir = H.tmpdir()
      local s = state()
      local spec = spec_for(c.uri("tasknum"))
      local key = spec:match("#(.*)$")
      assert.are.same({ 1 }, (alloc(spec, s, 1)))
      -- 4 drivers of N allocations each, a 1 s deadline apiece. The stop
      -- comes once every driver has handed out a number (so all are mid-run,
      -- not starting or done: under ASan and load a fixed pause was either),
      -- and the server stays down until each has failed at least once; then
      -- it is started again and they run to the end.
      local N, cmd = 100, ""
      local function out(i) return H.read(dir .. "/out" .. i) or "" end
      local function each(pred) for i = 1, 4 do if not pred(out(i)) then return false end end return true end
      for i = 1, 4 do
        cmd = cmd .. driver_cmd(spec, s, N, 1) .. " > " .. H.q(dir .. "/out" .. i) .. " 2>&1 & "
      end
      os.execute("(" .. cmd .. " wait) &")
      assert(H.wait_until(function() return each(function(t) return t:find("^ok ") end) end, 60),
        "the drivers did not start")
      c.stop("fast")
      local failed = H.wait_until(function() return each(function(t) return t:find("\nerr ") end) end, 60)
      c.start()
      assert(failed, "with the server down, a driver did not fail within 60 s")
      assert(H.wait_until(function()
        return each(function(t) return select(2, t:gsub("\n", "")) >= N end)
      end, 300), "the drivers did not finish")
      local all = { 1 }
      for i = 1, 4 do
        local oks, errs = parse(out(i))
        for _, v in ipairs(oks) do all[#all + 1] = v end
        for _, e in ipairs(errs) do assert.matches("^err AUTHORITY_UNAVAILABLE ", e) end
      end
      assert_unique(all)
      local top = tonumber(row(key))
      assert.is_true(top >= max(all))
      -- allocation continues after the mark
      assert.are.same({ top + 1 }, (alloc(spec, s, 1)))
    end)

  it("a server that is down: AUTHORITY_UNAVAILABLE at once, naming what was tried", function()
    local s = state()
    local dir = H.tmpdir()
    local spec = "postgresql://tasknum@/numbers?host=" .. dir .. "&port=5#k"
    local t0 = core.clock()
    local oks, errs = alloc(spec, s, 1, 30)
    assert.is_true(core.clock() - t0 < 5)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE .*tried postgresql://tasknum@/numbers%?host=", errs[1])
    assert.matches("No such file or directory", errs[1], 1, true)
  end)

  it("a server that stops answering: the deadline holds", function()
    local s = state()
    local spec = spec_for(c.tcp_uri("tasknum"))
    assert.are.same({ 1 }, (alloc(spec, s, 1)))
    local postmaster = tonumber(H.read(c.data .. "/postmaster.pid"):match("^%d+"))
    core.kill(postmaster, 19) -- SIGSTOP: connections are accepted by the kernel, never answered
    finally(function() core.kill(postmaster, 18) end)
    local t0 = core.clock()
    local oks, errs = alloc(spec, s, 1, 0.5)
    local took = core.clock() - t0
    core.kill(postmaster, 18)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE .*no answer within", errs[1])
    assert.is_true(took < pg.MIN_NET + 2, "took " .. took .. " s")
    assert.are.same({ 2 }, (alloc(spec, s, 1)))
  end)

  it("authentication failed: AUTHORITY_UNAVAILABLE, the password never shown", function()
    local s = state()
    local spec = spec_for(c.uri("tasknum"))
    assert.are.same({ 1 }, (alloc(spec, s, 1)))
    c.psql("GRANT SELECT, INSERT, UPDATE ON tasknum_numbering TO agent")
    local key = spec:match("#(.*)$")
    for _, uri in ipairs({ c.uri("agent", "wrong-" .. P.PASSWORD), c.tcp_uri("agent", "wrong-" .. P.PASSWORD) }) do
      local oks, errs = alloc(uri .. "#" .. key, s, 1)
      assert.are.same({}, oks)
      assert.matches("^err AUTHORITY_UNAVAILABLE .*password authentication failed", errs[1])
      assert.is_nil(errs[1]:find(P.PASSWORD, 1, true), errs[1])
    end
    -- no password at all: libpq does not prompt, it fails
    local oks, errs = alloc(c.uri("agent") .. "#" .. key, s, 1, 10, "PGPASSWORD= PGPASSFILE=/nonexistent")
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE ", errs[1])
    -- the right one, in the URI or from PGPASSWORD as libpq reads it
    assert.are.same({ 2 }, (alloc(c.uri("agent", P.PASSWORD) .. "#" .. key, s, 1)))
    assert.are.same({ 3 }, (alloc(c.tcp_uri("agent") .. "#" .. key, s, 1, 10, "PGPASSWORD=" .. P.PASSWORD)))
    local a = assert(pg.open(nil, { path = s }, c.tcp_uri("agent", P.PASSWORD) .. "#" .. key))
    assert.is_nil(a.where:find(P.PASSWORD, 1, true))
    assert.are.equal("postgresql://agent@127.0.0.1:" .. c.port .. "/numbers#" .. key, a.where)
  end)

  it("a user who may not create the table: AUTHORITY_UNAVAILABLE with the SQL to run", function()
    c.psql("CREATE DATABASE locked", "postgres")
    local s = state()
    local uri = "postgresql://agent:" .. P.PASSWORD .. "@/locked?host=" .. c.sock .. "&port=" .. c.port
    local oks, errs = alloc(uri .. "#k", s, 1)
    assert.are.same({}, oks)
    assert.matches("^err AUTHORITY_UNAVAILABLE .*SQLSTATE 42501", errs[1])
    assert.matches("CREATE TABLE IF NOT EXISTS tasknum_numbering", errs[1], 1, true)
    assert.is_nil(errs[1]:find(P.PASSWORD, 1, true))
  end)

  it("the row lock waits out the deadline, not MIN_NET", function()
    local dir = H.tmpdir()
    local s = state()
    local spec = spec_for(c.uri("tasknum"))
    local marker = dir .. "/holding"
    local pid = A.holder(spec, s, marker)
    finally(function() core.kill(pid, 9) end)
    assert.is_true(H.wait_until(function() return H.read(marker) end, 10))
    for _, timeout in ipairs({ 0, 0.3, 1 }) do
      local t0 = core.clock()
      local oks, errs = alloc(spec, s, 1, timeout)
      local took = core.clock() - t0
      assert.are.same({}, oks)
      assert.matches("^err LOCK_TIMEOUT ", errs[1])
      assert.is_true(took >= timeout and took < timeout + 1.5, timeout .. " s took " .. took)
    end
  end)

  it("one table, one row per numbering: keys from # or from the state's place in its clone", function()
    local s = state()
    local base = c.uri("tasknum")
    assert.are.same({ 1, 2 }, (alloc(base .. "#alpha", s, 2)))
    assert.are.same({ 1 }, (alloc(base .. "#beta", s, 1)))
    assert.are.same({ 3 }, (alloc(base .. "#alpha", s, 1)))
    assert.are.equal("3", row("alpha"))
    assert.are.equal("1", row("beta"))
    -- inside a git working tree: the path there, the same in every clone
    local dir = H.tmpdir()
    os.execute("git init -q " .. H.q(dir .. "/clone"))
    H.write(dir .. "/clone/specs/state.json", H.state_text(0))
    local a = assert(pg.open(nil, { path = dir .. "/clone/specs/state.json" }, base))
    assert.are.equal("specs/state.json", a.key)
    -- outside one: the real path
    a = assert(pg.open(nil, { path = s }, base))
    assert.are.equal(core.realpath(s), a.key)
  end)

  it("a connection string it cannot parse: INVALID_ARGUMENT, the password never echoed", function()
    local a, err = pg.open(nil, { path = "/x/state.json" }, "postgresql://u:s3cretpw@h/db?bogus=1")
    assert.is_nil(a)
    assert.are.equal("INVALID_ARGUMENT", err.code)
    assert.is_nil(tostring(err):find("s3cretpw", 1, true))
    assert.is_nil((err.details or ""):find("s3cretpw", 1, true))
    -- parsed, but refused by libpq when connecting
    a = assert(pg.open(nil, { path = "/x/state.json" }, "postgresql://u:s3cretpw@h:notaport/db"))
    assert.are.equal("postgresql://u@h:notaport/db#/x/state.json", a.where)
    local ok
    ok, err = a:acquire(core.clock() + 5, {})
    assert.is_nil(ok)
    assert.are.equal("AUTHORITY_UNAVAILABLE", err.code)
    assert.matches('invalid integer value "notaport"', err.details, 1, true)
    assert.is_nil(tostring(err):find("s3cretpw", 1, true))
    assert.is_nil((err.details or ""):find("s3cretpw", 1, true))
  end)

  it("redacts passwords wherever they appear", function()
    assert.are.equal("postgresql://u:***@h/db", pg.redact("postgresql://u:pw@h/db"))
    assert.are.equal("x ?password=*** y", pg.redact("x ?password=pw y"))
    assert.are.equal("host=h password=*** user=u", pg.redact("host=h password=pw user=u"))
    assert.are.equal("said *** twice ***", pg.redact("said hunter2 twice hunter2", "hunter2"))
  end)
end)

-- libpq is opened only when a postgresql:// authority is used (core/pqlib.h):
-- linked in, it and the libraries it pulls in tripled the instructions of
-- every allocation, whatever the authority.
describe("libpq", function()
  after_each(H.cleanup)

  it("is not linked into the binary, nor mapped by a tasknum that never talks to a database", function()
    local ldd = H.sh("ldd " .. H.q(H.bin))
    assert.is_nil(ldd:find("libpq", 1, true), ldd)
    local _, path = H.project(H.state_text(0))
    -- COMMAND's parent is the `tasknum lock` holding the state: its mappings
    local maps, code = H.run({ "lock", "--state", path, "--", "sh", "-c", "cat /proc/$PPID/maps" })
    assert.are.equal(0, code, maps)
    assert.matches("tasknum", maps, 1, true)
    assert.is_nil(maps:find("libpq", 1, true), "libpq is mapped")
  end)
end)
