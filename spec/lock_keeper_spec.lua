-- lock_keeper_spec.lua: the legacy folder of `tasknum lock` tells the truth
-- for as long as anything holds the kernel lock (issue 13, items 2 to 4):
-- after `tasknum lock` itself is SIGKILLed while its command runs on, when
-- the command leaves a background job holding the lock's descriptor, and
-- whatever --stale says about other people's folders. Old-protocol scripts
-- of both kinds (judging the holder by its pid, or by the folder's age)
-- must wait while the state is held, so no number is handed out twice.
local H = require "spec_helper"
local L = require "lock_helper"
local core = require "tasknum.core"
local cjson = require "cjson"

local LEGACY = H.root .. "/spec/legacy_alloc.sh"

describe("the legacy folder of tasknum lock", function()
  local dir, state, folder
  local bg = L.bg_owned

  before_each(function()
    dir, state = H.project(H.state_text(10))
    folder = L.folder(state)
  end)

  after_each(function()
    L.kill_owned()
    H.cleanup()
  end)

  -- The pid named in the folder's info, or nil.
  local function info_pid()
    return math.tointeger(tonumber((H.read(folder .. "/info") or ""):match("^(%d+):")))
  end

  -- A jq read-modify-write of the counter as a command for sh, slow on
  -- purpose (sleep between the read and the write), that appends the
  -- number it took to numbers and says when it has read the counter.
  local function slow_rmw(seconds)
    local q, s = H.q, H.q(state)
    return ("echo $$ > %s; n=$(jq .next_project_number %s); : > %s; sleep %s; "
      .. "jq \".next_project_number = $((n + 1))\" %s > %s.cmd.$$ && mv %s.cmd.$$ %s && echo $n >> %s")
      :format(q(dir .. "/cmd.pid"), s, q(dir .. "/read"), seconds, s, s, s, s, q(dir .. "/numbers"))
  end

  -- The numbers handed out, each checked to be handed out once, and the
  -- counter of the state checked to account for every one of them.
  local function handed_out(expected)
    local seen, list = {}, {}
    for n in (H.read(dir .. "/numbers") or ""):gmatch("%d+") do
      assert.is_nil(seen[n], "number " .. n .. " handed out twice: " .. H.read(dir .. "/numbers"))
      seen[n], list[#list + 1] = true, tonumber(n)
    end
    assert.equal(expected, #list, "numbers: " .. (H.read(dir .. "/numbers") or ""))
    assert.matches('"next_project_number": ' .. (10 + expected), H.read(state), 1, true)
    return list
  end

  it("still keeps old scripts out, and names the command, after tasknum lock is SIGKILLed", function()
    bg(L.cmd({ "lock", "--state", state, "--", "sh", "-c", slow_rmw(5) }, dir .. "/holder"))
    assert(L.wait_until(function() return L.exists(dir .. "/read") end, 10), "the command did not start")
    local record = cjson.decode(core.holder(L.lock_path(state)))
    local lock_pid, cmd_pid = math.tointeger(record.pid), math.tointeger(tonumber(H.read(dir .. "/cmd.pid")))
    os.execute("kill -KILL " .. lock_pid)
    assert(L.wait_until(function() return not core.alive(lock_pid) end, 5))
    assert.is_true(core.alive(cmd_pid), "the command died with tasknum lock")

    -- the folder names a live process, and a waiter names the command
    local named = info_pid()
    assert.is_truthy(named, "no pid in the legacy folder")
    assert.is_true(core.alive(named), "the legacy folder names pid " .. named .. ", which is gone")
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    assert.equal(cmd_pid, r.error.holder.pid, r.error.details)
    assert.matches("sh %-c", r.error.holder.command)
    assert.matches("held by pid " .. cmd_pid, r.error.details, 1, true)

    -- old scripts of both kinds, started while the command is between its
    -- read and its write: they wait for it (the one judging by age would
    -- break a folder not refreshed for 3 s)
    local q = H.q
    bg(("LEGACY_JUDGE=pid sh %s %s 1 >> %s; touch %s"):format(q(LEGACY), q(state), q(dir .. "/numbers"),
      q(dir .. "/pid.done")))
    bg(("LEGACY_STALE=3 sh %s %s 1 >> %s; touch %s"):format(q(LEGACY), q(state), q(dir .. "/numbers"),
      q(dir .. "/age.done")))
    assert(L.wait_until(function() return L.exists(dir .. "/pid.done") and L.exists(dir .. "/age.done") end, 40))
    assert.is_false(core.alive(cmd_pid))
    assert.same({ 10, 11, 12 }, (function(l) table.sort(l) return l end)(handed_out(3)))
    assert(L.wait_until(function() return not L.exists(folder) end, 10), "the legacy folder was left behind")
    assert.is_false(core.probe(L.lock_path(state)))
  end)

  it("is refreshed about once a second with --stale 0, not a thousand times", function()
    local holder = bg(L.cmd({ "lock", "--state", state, "--stale", "0", "--", "sleep", "3" }, dir .. "/h1"))
    assert(L.wait_until(function() return L.exists(folder .. "/info") end, 10))
    local seen, distinct = {}, 0
    local t0 = core.clock()
    while core.clock() - t0 < 2 do
      local st = core.stat(folder)
      if st and not seen[st.mtime] then seen[st.mtime], distinct = true, distinct + 1 end
      core.sleep(0.005)
    end
    assert.is_true(distinct <= 20, distinct .. " different folder mtimes in 2 s")
    L.kill_group(holder)
  end)

  it("is refreshed about once a second with --stale 400, not every 100 s", function()
    -- 60-second scripts broke a long hold by age
    bg(L.cmd({ "lock", "--state", state, "--stale", "400", "--", "sleep", "7" }, dir .. "/h2"))
    assert(L.wait_until(function() return L.exists(folder .. "/info") end, 10))
    local oldest, epoch_oldest = 0, 0
    local t0 = core.clock()
    while core.clock() - t0 < 5.5 do
      local st, info = core.stat(folder), H.read(folder .. "/info")
      local now = core.time()
      if st then oldest = math.max(oldest, now - st.mtime) end
      local epoch = tonumber((info or ""):match(":(%d+)"))
      if epoch then epoch_oldest = math.max(epoch_oldest, now - epoch) end
      core.sleep(0.05)
    end
    assert.is_true(oldest < 4, string.format("the folder went %.1f s without a refresh", oldest))
    assert.is_true(epoch_oldest < 5, string.format("EPOCH in info went %d s old", epoch_oldest))
  end)

  it("stays, naming who holds the lock, while a job the command left in the background has it", function()
    local q = H.q
    local out, code, err = H.run({ "lock", "--state", state, "--", "sh", "-c",
      ("sleep 4 >/dev/null 2>&1 & echo $! > %s"):format(q(dir .. "/job.pid")) })
    assert.equal(0, code, err)
    assert.equal("", out)
    local job = math.tointeger(tonumber(H.read(dir .. "/job.pid")))
    L.own(job)
    assert.is_true(core.alive(job))
    -- tasknum lock said so, naming the job
    assert.matches("pid " .. job, err, 1, true)
    assert.matches("sleep 4", err, 1, true)
    -- the two protocols agree: the kernel lock and the folder are both held
    assert.is_true(core.probe(L.lock_path(state)))
    assert.is_true(L.exists(folder), "the legacy folder is gone while the job holds the lock")
    assert.is_true(core.alive(info_pid()))
    local r
    r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    assert.equal(job, r.error.holder.pid, r.error.details)
    assert.matches("sleep 4", r.error.holder.command, 1, true)
    -- an old script judging by pid gets in only once the job is over
    local numbers
    numbers, code = H.sh("LEGACY_JUDGE=pid sh " .. q(LEGACY) .. " " .. q(state) .. " 1")
    assert.equal("10\n", numbers)
    assert.is_false(core.alive(job), "the old script got in while the job held the lock")
    r, code = H.run_json({ "allocate", "--state", state, "--timeout", "5" })
    assert.equal(0, code, r.error and r.error.details)
    assert.same({ 11 }, r.allocated_numbers)
    local audit = L.audit(state)
    assert.is_false(audit[#audit].stale_break, "a folder was left to break")
  end)
end)
