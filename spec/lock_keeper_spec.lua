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
      ("sleep 6 >/dev/null 2>&1 & echo $! > %s"):format(q(dir .. "/job.pid")) })
    assert.equal(0, code, err)
    assert.equal("", out)
    local job = math.tointeger(tonumber(H.read(dir .. "/job.pid")))
    L.own(job)
    assert.is_true(core.alive(job))
    -- tasknum lock said so, naming the job
    assert.matches("pid " .. job, err, 1, true)
    assert.matches("sleep 6", err, 1, true)
    -- the two protocols agree: the kernel lock and the folder are both held
    assert.is_true(core.probe(L.lock_path(state)))
    assert.is_true(L.exists(folder), "the legacy folder is gone while the job holds the lock")
    assert.is_true(core.alive(info_pid()))
    local r
    r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    assert.equal(job, r.error.holder.pid, r.error.details)
    assert.matches("sleep 6", r.error.holder.command, 1, true)
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

-- Old scripts that judge by pid read info, check the pid with kill -0 and
-- then rm -rf the folder: if the holder they read ends in between and the
-- next one makes its folder, they remove the next one's (seen in most of
-- such scripts' breaks in the chaos run). tasknum's side of it.
describe("old scripts that break a folder by a pid gone since they read it", function()
  local dir, state, folder

  before_each(function()
    dir, state = H.project(H.state_text(10))
    folder = L.folder(state)
  end)

  after_each(function()
    L.kill_owned()
    H.cleanup()
  end)

  -- Makes what such a script makes once it has removed the folder: its
  -- own, naming a live process (returned).
  local function script_takes_folder()
    local pid = L.bg_owned("exec sleep 60")
    assert(L.wait_until(function() return core.alive(pid) end, 5))
    os.execute(("rm -rf %s && mkdir %s && echo %d:%d > %s"):format(H.q(folder), H.q(folder), pid, os.time(),
      H.q(folder .. "/info")))
    return pid
  end

  it("find the keeper alive for a while after it removed its folder", function()
    local out = H.run({ "lock", "--state", state, "--", "sh", "-c",
      "cut -d: -f1 " .. H.q(folder .. "/info") })
    local keeper = math.tointeger(tonumber(out:match("^(%d+)")))
    assert.is_truthy(keeper, out)
    assert.is_false(L.exists(folder))
    assert.is_true(core.alive(keeper), "the keeper named in info was gone as soon as the folder")
    assert(L.wait_until(function() return not core.alive(keeper) end, 15), "the keeper did not end")
  end)

  it("do not get an allocation to write beside them: it waits for the script and runs again", function()
    H.write(dir .. "/hold.lua", [[
      local tasknum = require "tasknum"
      local r = tasknum.transaction({ state = arg[1], timeout = 20 }, function(txn)
        io.open(arg[2], "a"):write("run\n"):close()
        while not io.open(arg[3]) do os.execute("sleep 0.02") end
        txn:take(1)
      end)
      io.open(arg[4], "w"):write(require("tasknum.json").encode(r)):close()
    ]])
    local runs, go, answer = dir .. "/runs", dir .. "/go", dir .. "/answer"
    L.bg_owned(("exec %s run %s %s %s %s %s"):format(H.q(H.bin), H.q(dir .. "/hold.lua"), H.q(state),
      H.q(runs), H.q(go), H.q(answer)))
    assert(L.wait_until(function() return H.read(runs) end, 10), "the transaction did not start")
    local script = script_takes_folder()
    H.write(go, "")
    -- the step found its folder taken: nothing written, waiting for the script
    core.sleep(0.5)
    assert.matches('"next_project_number": 10', H.read(state), 1, true)
    assert.is_nil(H.read(answer), "the step ended beside the script")
    assert.equal(script .. ":", H.read(folder .. "/info"):match("^%d+:"))
    -- the script writes its number and leaves
    H.write(state, H.state_text(11))
    os.execute("rm -rf " .. H.q(folder))
    -- whole: the file is there (empty) from its open until the write
    assert(L.wait_until(function() return (H.read(answer) or ""):find("}$") end, 10), "the step did not run again")
    local r = cjson.decode(H.read(answer))
    assert.equal("success", r.status)
    assert.same({ 11 }, r.allocated_numbers)
    assert.equal("run\nrun\n", H.read(runs))
  end)

  -- The keeper of a `tasknum lock`, once it has named itself in info.
  local function keeper_of(holder_started)
    local keeper
    assert(L.wait_until(function()
      keeper = math.tointeger(tonumber((H.read(folder .. "/info") or ""):match("^(%d+):")))
      return keeper and (H.read("/proc/" .. keeper .. "/comm") or ""):match("^tasknum%-keeper")
        and (holder_started == nil or L.exists(holder_started))
    end, 10), "no keeper named in " .. folder)
    return keeper
  end

  it("find the folder of a running command put back at once: the script waits, no number twice", function()
    if not H.ok("command -v strace >/dev/null 2>&1") then error("needs strace to stall the script") end
    -- the script reads info naming a live holder, then stalls before its
    -- kill -0 (strace holds the kill for 3 s); meanwhile that holder ends
    -- and a `tasknum lock` starts a command that reads the counter and
    -- waits; the script's kill -0 fails, it rm -rf's the command's folder
    -- and mkdirs; the command writes once the script has written, or 2 s
    -- after its break
    local holder = L.bg_owned("exec sleep 60")
    assert(L.wait_until(function() return core.alive(holder) end, 5))
    L.make_folder(state, holder .. ":" .. os.time() .. "\n")
    local out, err = dir .. "/script.out", dir .. "/script.err"
    local tracer = L.bg_owned("export LEGACY_JUDGE=pid; exec strace -f -qq -o /dev/null -e trace=kill "
      .. "-e inject=kill:delay_enter=3000000:when=1 sh " .. H.q(LEGACY) .. " " .. H.q(state)
      .. " 1 >" .. H.q(out) .. " 2>" .. H.q(err))
    assert(L.wait_until(function() -- stopped at the entry of kill (62 on x86_64)
      for pid in H.sh("env -u LD_PRELOAD pgrep -P " .. tracer):gmatch("%d+") do
        if (H.read("/proc/" .. pid .. "/syscall") or ""):match("^62 ") then return true end
      end
    end, 10), "the script did not get to its kill -0")
    L.kill_group(holder)
    assert(L.wait_until(function() return not core.alive(holder) end, 5))
    local q = H.q
    L.bg_owned(L.cmd({ "lock", "--state", state, "--timeout", "30", "--", "sh", "-c",
      ("n=$(jq .next_project_number %s); : > %s; i=0; until grep -q broke %s || [ $i -ge 400 ]; do "
      .. "sleep 0.05; i=$((i + 1)); done; i=0; until [ -s %s ] || [ $i -ge 40 ]; do sleep 0.05; i=$((i + 1)); "
      .. "done; jq \".next_project_number = $((n + 1))\" %s > %s.cmd && mv %s.cmd %s && echo $n > %s")
      :format(q(state), q(dir .. "/read"), q(err), q(out), q(state), q(state), q(state), q(state),
        q(dir .. "/command.out")) }, dir .. "/holder"))
    assert(L.wait_until(function() return L.exists(dir .. "/read") end, 10), "the command did not start")
    assert.is_nil((H.read(err) or ""):find("broke"), "the script struck before the command started")
    local _, code = L.result(dir .. "/holder", 30)
    assert.equal(0, code, H.read(dir .. "/holder.err"))
    assert(L.wait_until(function() return not H.ok("kill -0 " .. tracer .. " 2>/dev/null") end, 20))
    local said = (H.read(err) or "") .. (H.read(out) or "")
    assert.is_truthy(said:find("broke .*: pid " .. holder .. " is gone"), "the script did not break: " .. said)
    local taken = { tonumber(H.read(dir .. "/command.out")), tonumber(H.read(out)) }
    assert.same({ 10, 11 }, taken, "the script got in beside the command")
    assert.matches('"next_project_number": 12', H.read(state), 1, true)
    assert.is_false(L.exists(folder))
  end)

  it("find the folder of a running command whole after their exit trap's rm -f info; rmdir", function()
    local started, go = dir .. "/started", dir .. "/go"
    L.bg_owned(L.cmd({ "lock", "--state", state, "--timeout", "20", "--", "sh", "-c",
      ": > " .. H.q(started) .. "; while [ ! -e " .. H.q(go) .. " ]; do sleep 0.02; done" }, dir .. "/holder"))
    local keeper = keeper_of(started)
    -- what a script's exit trap does once someone broke its own folder,
    -- and what a pid-judging script does after a kill -0 on a pid it read
    -- before; each followed at once by a script's mkdir
    local q = H.q(folder)
    for _, remove in ipairs({ "rm -f " .. q .. "/info; rmdir " .. q, "rm -rf " .. q }) do
      H.ok("{ " .. remove .. "; } 2>/dev/null")
      assert(L.wait_until(function()
        return (H.read(folder .. "/info") or ""):match("^%d+:") == keeper .. ":"
      end, 2), "the folder was not put back after: " .. remove)
    end
    H.write(go, "")
    local _, code = L.result(dir .. "/holder", 20)
    assert.equal(0, code, H.read(dir .. "/holder.err"))
    assert(L.wait_until(function() return not L.exists(folder) end, 5), "the folder stayed")
    assert.equal("", H.sh("ls -A " .. H.q(dir .. "/.opencode/specs") .. " | grep 'state.lock.tmp' || true"))
  end)

  it("do not get tasknum lock to start its command beside them", function()
    if not H.ok("command -v strace >/dev/null 2>&1") then error("needs strace to stop tasknum lock there") end
    -- strace holds tasknum lock's first clock_nanosleep (its look again,
    -- 50 ms after making the folder) for 1.5 s; the script strikes then,
    -- with the keeper stopped (SIGSTOP) so that it is first to make its
    -- folder: the keeper, continued, leaves it to the script
    local started = dir .. "/started"
    local tracer = L.bg_owned("strace -f -qq -o /dev/null -e trace=clock_nanosleep "
      .. "-e inject=clock_nanosleep:delay_enter=1500000:when=1 "
      .. L.cmd({ "lock", "--state", state, "--timeout", "20", "--", "touch", started }, dir .. "/holder"))
    local victim
    assert(L.wait_until(function() -- stopped at the entry of clock_nanosleep (230 on x86_64)
      victim = victim or tonumber(H.sh("env -u LD_PRELOAD pgrep -x tasknum -s " .. tracer):match("%d+"))
      local st = victim and H.read("/proc/" .. victim .. "/stat") or ""
      return st:match("%) t ") and (H.read("/proc/" .. victim .. "/syscall") or ""):match("^230 ")
        and L.exists(folder .. "/info")
    end, 10), "tasknum lock did not get to its look again")
    local keeper = keeper_of()
    os.execute("kill -STOP " .. keeper)
    local script = script_takes_folder()
    os.execute("kill -CONT " .. keeper)
    core.sleep(2)
    assert.is_false(L.exists(started), "the command started beside the script")
    assert.equal(script .. ":", H.read(folder .. "/info"):match("^%d+:"))
    os.execute("rm -rf " .. H.q(folder))
    local _, code = L.result(dir .. "/holder", 20)
    assert.equal(0, code, H.read(dir .. "/holder.err"))
    assert.is_true(L.exists(started))
  end)
end)
