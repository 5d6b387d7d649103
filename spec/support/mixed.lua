-- support/mixed.lua: the SIGKILL storm (support.storm) with every kind of
-- writer tasknum lives beside on one state: allocator loops, `tasknum lock
-- -- jq ...` loops whose `tasknum lock` the killer SIGKILLs too (the
-- command then finishes its read-modify-write alone), old-protocol scripts
-- that judge a held folder by its pid and by its age (never killed: they
-- cannot clean up), and `tasknum check` every second. Every number any of
-- them took must be unique and below the final counter. The crash spec
-- runs it for seconds, `make chaos` for minutes.
local H = require "spec_helper"
local storm = require "support.storm"
local assert = require "luassert"

local M = {}

-- A `tasknum lock` loop: the command reads the counter with jq, writes it
-- back moved on by one with jq and mv, and only then logs the number it
-- took (so a command whose `tasknum lock` was killed still logs its own).
-- The loop logs each run's exit status; numbers go to NUMS as
-- "number<TAB>who pid when".
M.LOCKER = [[
BIN=$1 STATE=$2 STOP=$3 LOG=$4 NUMS=$5
while [ ! -e "$STOP" ]; do
  "$BIN" lock --state "$STATE" --timeout 60 -- sh -c '
    n=$(jq .next_project_number "$1") || exit 65
    jq ".next_project_number = $((n + 1))" "$1" > "$1.jq.$$" && mv "$1.jq.$$" "$1" || exit 71
    printf "%s\tlock %s %s\n" "$n" "$$" "$(date +%s.%N)" >> "$2"' sh "$STATE" "$NUMS" 2>>"$LOG.err"
  echo "$?" >> "$LOG"
done
]]

-- An old-protocol loop (spec/legacy_alloc.sh, judging by pid or by age;
-- "turns": by pid and by age in turn, one script at a time).
M.LEGACY = [[
JUDGE=$1 SCRIPT=$2 STATE=$3 STOP=$4 LOG=$5 NUMS=$6
turn=0
while [ ! -e "$STOP" ]; do
  judge=$JUDGE
  if [ "$JUDGE" = turns ]; then
    if [ $((turn % 2)) -eq 0 ]; then judge=pid; else judge=age; fi
    turn=$((turn + 1))
  fi
  n=$(LEGACY_JUDGE=$judge LEGACY_STALE=10 sh "$SCRIPT" "$STATE" 1 2>>"$LOG.err")
  code=$?
  [ -n "$n" ] && printf '%s\tlegacy-%s %s\n' "$n" "$judge" "$(date +%s.%N)" >> "$NUMS"
  echo "$code" >> "$LOG"
  sleep 0.0$(( RANDOM % 5 ))
done
]]

-- `tasknum check` every second.
M.CHECKER = [[
BIN=$1 STATE=$2 STOP=$3 LOG=$4
while [ ! -e "$STOP" ]; do
  "$BIN" check --state "$STATE" >/dev/null 2>>"$LOG.err"
  echo "$?" >> "$LOG"
  sleep 1
done
]]

local function start(dir, name, script, args)
  H.write(dir .. "/" .. name .. ".sh", script)
  local words = {}
  for i, a in ipairs(args) do words[i] = H.q(a) end
  return assert(tonumber(H.sh(string.format("bash %s %s >/dev/null 2>&1 & echo $!",
    H.q(dir .. "/" .. name .. ".sh"), table.concat(words, " "))):match("%d+")))
end

-- The exit statuses logged in a file, counted: { [status] = n }, total.
local function statuses(log)
  local by, total = {}, 0
  for code in (H.read(log) or ""):gmatch("%d+") do
    code = tonumber(code)
    by[code], total = (by[code] or 0) + 1, total + 1
  end
  return by, total
end

-- run(dir, path, seconds, finally [, opts]) -> what happened, for check():
-- 8 allocator loops, opts.locks (2) `tasknum lock` loops, one old script
-- judging by pid and one by age (opts.one_old_script: a single loop
-- judging by pid and by age in turn, so that no two old scripts race each
-- other: their own protocol's race, which can pull tasknum in, see
-- check()), and a `tasknum check` loop on the state
-- at path, under the killer, for seconds (at least).
function M.run(dir, path, seconds, finally, opts)
  opts = opts or {}
  local stop, nums = dir .. "/stop", dir .. "/numbers"
  finally(function() H.write(stop, "") end)
  local r = { nums = nums, lockers = {}, legacy = {}, others = {} }
  for i = 1, opts.locks or 2 do
    local log = dir .. "/lock" .. i .. ".log"
    r.lockers[i] = { log = log, pid = start(dir, "locker", M.LOCKER, { H.bin, path, stop, log, nums }) }
  end
  for _, judge in ipairs(opts.one_old_script and { "turns" } or { "pid", "age" }) do
    local log = dir .. "/legacy-" .. judge .. ".log"
    r.legacy[#r.legacy + 1] = { judge = judge, log = log, pid = start(dir, "legacy", M.LEGACY,
      { judge, H.root .. "/spec/legacy_alloc.sh", path, stop, log, nums }) }
  end
  r.check = { log = dir .. "/check.log" }
  r.check.pid = start(dir, "checker", M.CHECKER, { H.bin, path, stop, r.check.log })
  local killable = {}
  for i, l in ipairs(r.lockers) do killable[i] = l.pid end
  local states = {}
  for w = 1, 8 do states[w] = path end
  r.logs, r.kills = storm.run(dir, states, seconds, finally, killable)
  -- the other loops end after their current run
  local waiting = { r.check.pid }
  for _, l in ipairs(r.lockers) do waiting[#waiting + 1] = l.pid end
  for _, l in ipairs(r.legacy) do waiting[#waiting + 1] = l.pid end
  for _, pid in ipairs(waiting) do
    assert(H.wait_until(function() return not H.ok("kill -0 " .. pid .. " 2>/dev/null") end, 120),
      "a loop did not stop: " .. pid)
  end
  return r
end

-- check(r, final) -> counts: every number taken by any writer unique and
-- below final; every `tasknum lock` run exited 0 or was killed (137);
-- every old-script run exited 0 (or 75, starved); every `tasknum check`
-- exited 0.
--
-- One exception, counted and said, never passed over silently: a number
-- two OLD scripts both took. A pid-judging script that removes another old
-- script's live folder (its kill -0 was on a pid read before the folder
-- changed hands) lets itself in beside that script: the old protocol's
-- own race, which happens without tasknum (README, Old scripts). Any
-- number twice where tasknum took one (an allocation's answer or a
-- `tasknum lock` command) fails.
function M.check(r, final)
  local seen, by, taken, between_old = {}, {}, 0, {}
  for n, who in (H.read(r.nums) or ""):gmatch("(%d+)\t([^\n]*)") do
    n = tonumber(n)
    if seen[n] and by[n]:match("^legacy%-") and who:match("^legacy%-") then
      between_old[#between_old + 1] = string.format("%d (%s and %s)", n, by[n], who)
    else
      assert.is_nil(seen[n], string.format("number %d taken twice: by %s and by %s", n, tostring(by[n]), who))
    end
    assert.is_true(n < final, n .. " was taken but the counter is only " .. final)
    seen[n], by[n], taken = by[n] or who, by[n] or who, taken + 1
  end
  local n = storm.check(r.logs, final, seen, true)
  n.taken_by_others, n.kills, n.between_old = taken, r.kills, between_old
  n.lock_runs, n.lock_killed, n.legacy_runs, n.checks = 0, 0, {}, 0
  for _, l in ipairs(r.lockers) do
    local by, total = statuses(l.log)
    n.lock_runs, n.lock_killed = n.lock_runs + total, n.lock_killed + (by[137] or 0)
    assert.equal(total, (by[0] or 0) + (by[137] or 0),
      "a `tasknum lock` run failed: " .. (H.read(l.log .. ".err") or ""))
  end
  n.legacy_starved = 0
  for _, l in ipairs(r.legacy) do
    local by, total = statuses(l.log)
    n.legacy_runs[l.judge] = by[0] or 0
    -- polling every 0.1 s, an old script may find the folder taken each
    -- time for its 30 s (exit 75): starved, not wrong
    n.legacy_starved = n.legacy_starved + (by[75] or 0)
    assert.equal(total, (by[0] or 0) + (by[75] or 0), "an old script failed: " .. (H.read(l.log .. ".err") or ""))
  end
  local by, total = statuses(r.check.log)
  n.checks = total
  assert.equal(total, by[0] or 0, "tasknum check failed: " .. (H.read(r.check.log .. ".err") or ""))
  return n
end

-- report(n, final) -> one line of what happened, for the record
function M.report(n, final)
  return string.format("%d allocator runs (%d exited 0, %d killed, %d of them after printing), "
    .. "%d `tasknum lock` runs (%d of them SIGKILLed), old scripts %s (%d starved), "
    .. "%d numbers from lock commands and old scripts, %d checks, %d kills sent, counter %d, %d "
    .. "allocations withheld (their folder broken by a pid-judging script while they wrote), no number "
    .. "twice where tasknum took one%s",
    n.runs, n.ok_runs, n.killed, n.printed_by_killed, n.lock_runs, n.lock_killed,
    n.legacy_runs.turns and string.format("%d (one at a time, by pid and by age in turn)", n.legacy_runs.turns)
      or string.format("%d by pid + %d by age", n.legacy_runs.pid or 0, n.legacy_runs.age or 0), n.legacy_starved, n.taken_by_others, n.checks,
    n.kills, final, n.withheld, #n.between_old == 0 and "" or string.format("; taken twice by two old scripts, "
      .. "their own race (a pid-judging script broke the other's live folder): %s",
      table.concat(n.between_old, ", ")))
end

return M
