-- Crashes and durability order (SPEC guarantee 2).
--
-- The crash test: 8 allocators in loops while a killer SIGKILLs a random one
-- of their tasknum processes every few milliseconds. Afterwards the state is
-- valid (byte for byte the original with a new counter), every number that
-- was printed in a success answer (by a run that exited 0, or one killed
-- after printing) is unique and below the final counter, and a fresh
-- allocation succeeds at once.
--
-- The order test: under strace, the temp file is written and fsynced before
-- the rename, the folder is fsynced after it, and the answer is written to
-- stdout only after the folder fsync.
local H = require "spec_helper"
local cjson = require "cjson"
local core = require "tasknum.core"
local storm = require "support.storm"
local mixed = require "support.mixed"
local L = require "lock_helper"

local sh = H.ok

local MAX = 99999999
local SECONDS = tonumber(os.getenv("TASKNUM_CRASH_SECONDS") or "") or 6

describe("crash test", function()
  after_each(H.cleanup)

  it(string.format("8 allocators, random SIGKILLs every few ms for %g s: nothing lost", SECONDS), function()
    local dir, path = H.project(H.state_text(0, { max = MAX }))
    local states = {}
    for w = 1, 8 do states[w] = path end
    local logs, kills = storm.run(dir, states, SECONDS, finally)

    -- the state: valid, and the original text with only the counter moved
    local text = H.read(path)
    local final = tonumber(text:match('"next_project_number": (%d+),'))
    assert.is_truthy(final, "no counter in the state: " .. text:sub(1, 200))
    assert.are.equal(H.state_text(final, { max = MAX }), text)
    local n = storm.check(logs, final)

    -- a fresh allocation at once: no lock stuck, temp files swept
    local r = H.run_json({ "allocate", "--state", path, "--timeout", "0" })
    assert.are.equal("success", r.status, r.error_message)
    assert.are.same({ final }, r.allocated_numbers)
    assert.is_true(r.lock_wait_ms < 1000, "waited " .. r.lock_wait_ms .. " ms")
    assert.is_nil(H.ls(dir .. "/.opencode/specs"):find(".tmp-", 1, true), "temp files left")
    print(string.format("\n# crash test: %d runs, %d exited 0, %d killed (%d of them after printing), "
      .. "%d kills sent, counter %d", n.runs, n.ok_runs, n.killed, n.printed_by_killed, kills, final))
  end)
end)

describe("crash test with every kind of writer", function()
  after_each(H.cleanup)

  -- support.mixed: allocators and `tasknum lock -- jq ...` loops under the
  -- killer (which SIGKILLs `tasknum lock` too: its command then finishes
  -- its read-modify-write alone), an old script judging a held folder by
  -- its pid and by its age in turn, `tasknum check` every second. One old
  -- script at a time: two race each other whatever tasknum does (a
  -- pid-judging one breaks the other's live folder), and tasknum can then
  -- find no folder and go in beside the one inside; here any number twice
  -- is tasknum's. `make chaos` runs two old scripts at once, for minutes.
  it(string.format("allocators, killed `tasknum lock`s, an old script of both kinds for %g s: no number twice",
    SECONDS), function()
    local dir, path = H.project(H.state_text(0, { max = MAX }))
    local r = mixed.run(dir, path, SECONDS, finally, { one_old_script = true })
    local final = tonumber(H.read(path):match('"next_project_number":%s*(%d+)'))
    assert.is_truthy(final, "no counter in the state: " .. H.read(path):sub(1, 200))
    local n = mixed.check(r, final)
    assert.is_true(n.lock_runs > 0 and n.legacy_runs.turns > 0,
      "the lock commands and old scripts did not run")
    local r2 = H.run_json({ "allocate", "--state", path, "--timeout", "0" })
    assert.are.equal("success", r2.status, r2.error_message)
    assert.are.same({ final }, r2.allocated_numbers)
    assert.is_false(L.exists(L.folder(path)), "a legacy folder was left")
    print("\n# mixed crash test: " .. mixed.report(n, final))
  end)
end)

describe("a tasknum killed while it makes, refreshes or removes the legacy lock folder", function()
  after_each(H.cleanup)

  -- Found by the crash test: the folder used to be made by mkdir and then
  -- given its info, and removed by deleting info and then the folder, so a
  -- tasknum killed between two of those steps left a folder without info,
  -- which every later run had to wait out for the whole stale age (60 s).
  -- Now it appears with its info inside and is renamed away before it is
  -- emptied. strace holds the run for 3 s at the named syscall (its
  -- when-th call: the folder is reached with *at calls, unlinkat removes
  -- both its info and, AT_REMOVEDIR, the folder itself).
  local function killed_at(syscall, ready, when)
    if not sh("command -v strace >/dev/null 2>&1") then pending("needs strace to stop it there") return end
    local dir, path = H.project(H.state_text(5))
    local specs = dir .. "/.opencode/specs"
    local tracer = tonumber(H.sh(string.format("strace -f -qq -o /dev/null -e trace=%s "
      .. "-e inject=%s:delay_enter=3000000:when=%d %s allocate --state %s >/dev/null 2>&1 & echo $!",
      syscall, syscall, when or 1, H.q(H.bin), H.q(path))):match("%d+"))
    local victim
    local deadline = core.clock() + 10
    repeat
      sh("sleep 0.01")
      victim = tonumber(H.sh("env -u LD_PRELOAD pgrep -P " .. tracer .. " | head -1"):match("%d+"))
    until (victim and ready(specs, path)) or core.clock() > deadline
    assert.is_truthy(victim, "the run did not start")
    assert.is_truthy(ready(specs, path), "the run did not get there: " .. H.ls(specs))
    sh("kill -9 " .. victim)
    sh("while kill -0 " .. tracer .. " 2>/dev/null; do sleep 0.01; done")
    assert.is_nil(H.ls(specs):find(".state.lock ", 1, true), "a legacy folder was left: " .. H.ls(specs))
    local r = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
    assert.are.equal("success", r.status, r.error_message)
    assert.is_true(r.lock_wait_ms < 1000)
    assert.is_nil(H.ls(specs):find(".state.lock", 1, true), "not swept: " .. H.ls(specs))
    return r
  end

  it("before it renames its new folder into place: the next run does not wait", function()
    local r = killed_at("renameat2", function(specs)
      return H.ls(specs):find(".state.lock.tmp-", 1, true) -- made, not yet in place
    end)
    if r then assert.are.same({ 5 }, r.allocated_numbers) end
  end)

  it("after it emptied its folder, before the rmdir: the next run does not wait", function()
    -- unlinkat: info first, then the folder (AT_REMOVEDIR), the last step
    local r = killed_at("unlinkat", function(specs, path)
      -- written, and the folder renamed away: removing it is the last step
      return H.read(path) == H.state_text(6) and H.ls(specs):find(".state.lock.tmp-", 1, true)
    end, 2)
    if r then assert.are.same({ 6 }, r.allocated_numbers) end -- the killed run had written 5
  end)

  it("while the keeper of `tasknum lock` refreshes info: another takes over, the next run does not wait", function()
    -- strace holds each process's third renameat(2) for 3 s: the keeper's
    -- first refresh (its first named it in info, its second wrote the info
    -- of the spare folder it keeps ready); it is killed there
    if not sh("command -v strace >/dev/null 2>&1") then pending("needs strace to stop it there") return end
    local dir, path = H.project(H.state_text(5))
    local specs = dir .. "/.opencode/specs"
    local folder = specs .. "/.state.lock"
    local tracer = tonumber(H.sh(string.format("strace -f -qq -o /dev/null -e trace=renameat "
      .. "-e inject=renameat:delay_enter=3000000:when=3 %s lock --state %s -- sleep 6 >/dev/null 2>&1 & echo $!",
      H.q(H.bin), H.q(path))):match("%d+"))
    finally(function() sh("kill -9 " .. tracer .. " 2>/dev/null") end)
    local keeper
    assert(H.wait_until(function()
      keeper = tonumber((H.read(folder .. "/info") or ""):match("^(%d+):"))
      return keeper and H.ls(folder):find("info.tmp-" .. keeper, 1, true)
    end, 10), "the keeper did not get to its refresh: " .. H.ls(folder))
    sh("kill -9 " .. keeper)
    local next_keeper
    assert(H.wait_until(function()
      next_keeper = tonumber((H.read(folder .. "/info") or ""):match("^(%d+):"))
      return next_keeper and next_keeper ~= keeper and core.alive(next_keeper)
    end, 5), "no keeper took over from the killed one")
    sh("while kill -0 " .. tracer .. " 2>/dev/null; do sleep 0.01; done")
    local r = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
    assert.are.equal("success", r.status, r.error_message)
    assert.is_true(r.lock_wait_ms < 1000)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.is_nil(H.ls(specs):find(".state.lock", 1, true), "not swept: " .. H.ls(specs))
  end)
end)

-- The strace lines of one traced run, in order.
local function trace(args, opts)
  return H.strace(args, "fsync,fdatasync,rename,renameat,renameat2,write", { cwd = opts and opts.cwd })
end

local find = H.find_line

local function escape(s) return (s:gsub("[%p]", "%%%0")) end

-- Checks the order for a run whose state file really lives at real.
local function durable_order(lines, real)
  local folder, base = real:match("^(.*)/([^/]+)$")
  local temp = escape(folder .. "/." .. base .. ".tmp-") .. "%w+"
  local all = table.concat(lines, "\n")
  local first_write = find(lines, "write%(%d+<" .. temp .. ">")
  local temp_sync = find(lines, "f[data]*sync%(%d+<" .. temp .. ">%) = 0")
  local rename = find(lines, "rename[at2]*%(.-" .. temp .. "\", .-" .. escape(real) .. "\".-%) = 0")
  local dir_sync = rename and find(lines, "f[data]*sync%(%d+<" .. escape(folder) .. ">%) = 0", rename)
  local answer = find(lines, "write%(1<")
  assert(first_write, "no write to the temp file:\n" .. all)
  assert(temp_sync, "the temp file was never fsynced:\n" .. all)
  assert(rename, "no rename of the temp file over the state:\n" .. all)
  assert(dir_sync, "the folder was not fsynced after the rename:\n" .. all)
  assert(answer, "no answer on stdout:\n" .. all)
  assert(first_write < temp_sync and temp_sync < rename, "fsync after the rename:\n" .. all)
  assert(rename < dir_sync and dir_sync < answer, "answered before the folder fsync:\n" .. all)
  assert.is_nil(find(lines, "write%(%d+<" .. temp .. ">", temp_sync), "written after its fsync")
  return lines[answer]
end

describe("durability order under strace", function()
  after_each(H.cleanup)
  local has_strace = sh("command -v strace >/dev/null 2>&1")

  it("temp fsync, rename, folder fsync, then the answer", function()
    if not has_strace then pending("strace is not installed") return end
    local dir, path = H.project(H.state_text(5))
    local lines, out, code, err = trace({ "allocate", "--count", "3" }, { cwd = dir })
    assert.are.equal(0, code, err)
    assert.are.same({ 5, 6, 7 }, cjson.decode(out).allocated_numbers)
    local answer = durable_order(lines, path)
    assert.is_truthy(answer:find('"status\\":\\"success', 1, true), answer)
  end)

  it("the same for --format plain", function()
    if not has_strace then pending("strace is not installed") return end
    local dir, path = H.project(H.state_text(5))
    local lines, out, code = trace({ "allocate", "--format", "plain" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal("5\n", out)
    assert.is_truthy(durable_order(lines, path):find('"5\\n"', 1, true))
  end)

  it("for a symlinked state: at the target, and the target's folder is fsynced", function()
    if not has_strace then pending("strace is not installed") return end
    local dir = H.tmpdir()
    local real = dir .. "/real/state.json"
    H.write(real, H.state_text(5))
    sh("mkdir -p " .. H.q(dir .. "/.opencode/specs"))
    sh("ln -s ../../real/state.json " .. H.q(dir .. "/.opencode/specs/state.json"))
    local lines, _, code = trace({ "allocate" }, { cwd = dir })
    assert.are.equal(0, code)
    durable_order(lines, real)
  end)
end)
