-- support/storm.lua: the SIGKILL storm of the crash specs. Allocator
-- loops, one per state path given (several may share a state), while a
-- killer SIGKILLs a random one of their tasknum processes every few
-- milliseconds; then every answer they logged, checked.
local H = require "spec_helper"
local cjson = require "cjson"
local core = require "tasknum.core"
local assert = require "luassert" -- a required module sees the plain assert

local M = {}

M.ENOUGH = 25 -- runs killed, and runs that succeeded, for a storm to mean something

-- An allocator loop: only builtins besides tasknum, so every child of the
-- loop's shell is a tasknum process. Each run appends "exit<TAB>stdout".
M.WORKER = [[
BIN=$1 STATE=$2 STOP=$3 LOG=$4 CUR=$4.cur
while [ ! -e "$STOP" ]; do
  "$BIN" allocate --state "$STATE" --count $(( (RANDOM % 3) + 1 )) --timeout 60 > "$CUR" 2>/dev/null
  code=$?
  line=
  IFS= read -r line < "$CUR"
  printf '%s\t%s\n' "$code" "$line" >> "$LOG"
done
]]

-- Kills a random tasknum child of the worker shells every 2-12 ms; counts
-- the kills in $3.
M.KILLER = [[
STOP=$1 PIDS=$2 COUNT=$3 n=0
# no process started in the loop (a busy machine starts them slowly, and
# pgrep hangs under a preloaded ASan): the children from /proc, builtin
# kill, and a sleep that is a read with a timeout on a FIFO nobody writes
mkfifo "$COUNT.fifo" && exec 9<>"$COUNT.fifo"
IFS=, read -r -a workers <<< "$PIDS"
while [ ! -e "$STOP" ]; do
  kids=()
  for w in "${workers[@]}"; do
    k=()
    read -r -a k < "/proc/$w/task/$w/children" 2>/dev/null # no line end there: read says 1
    kids+=("${k[@]}")
  done
  if [ ${#kids[@]} -gt 0 ]; then
    v=${kids[RANDOM % ${#kids[@]}]}
    comm=
    IFS= read -r comm < "/proc/$v/comm" 2>/dev/null
    if [ "$comm" = tasknum ] && kill -9 "$v" 2>/dev/null; then n=$((n + 1)); fi
  fi
  read -r -t "0.00$(( (RANDOM % 10) + 2 ))" -u 9 _
done
echo "$n" > "$COUNT"
]]

-- run(dir, states, seconds, finally [, also]) -> the logs (one per worker),
-- the kills sent (finally: the spec's, to stop the loops whatever happens).
-- One allocator loop per entry of states (a state path); the scripts and
-- logs go in dir. also: the pids of more loops (support.mixed) whose
-- tasknum children the killer kills too; they stop when dir/stop appears.
function M.run(dir, states, seconds, finally, also)
  H.write(dir .. "/worker.sh", M.WORKER)
  H.write(dir .. "/killer.sh", M.KILLER)
  local stop = dir .. "/stop"
  finally(function() H.write(stop, "") end)
  local pids, logs = {}, {}
  for w, state in ipairs(states) do
    logs[w] = dir .. "/w" .. w .. ".log"
    local out = H.sh(string.format("bash %s %s %s %s %s >/dev/null 2>&1 & echo $!",
      H.q(dir .. "/worker.sh"), H.q(H.bin), H.q(state), H.q(stop), H.q(logs[w])))
    pids[w] = assert(tonumber(out:match("%d+")))
  end
  local targets = table.move(also or {}, 1, #(also or {}), #pids + 1, table.move(pids, 1, #pids, 1, {}))
  H.ok(string.format("bash %s %s %s %s >/dev/null 2>&1 &", H.q(dir .. "/killer.sh"), H.q(stop),
    table.concat(targets, ","), H.q(dir .. "/kills")))
  -- seconds at least; then on (up to 5 times as long, on a busy machine)
  -- until enough runs were killed and enough succeeded to mean something
  H.ok("sleep " .. seconds)
  local enough = core.clock() + 4 * seconds
  while core.clock() < enough do
    local ok_runs, killed = 0, 0
    for _, log in ipairs(logs) do
      local text = H.read(log) or ""
      for _ in text:gmatch("%f[^\n%z]0\t") do ok_runs = ok_runs + 1 end
      for _ in text:gmatch("%f[^\n%z]137\t") do killed = killed + 1 end
    end
    -- runs killed, as check() counts them (a kill sent may find its run
    -- already ending, or hit a `tasknum lock` of support.mixed)
    if ok_runs >= M.ENOUGH and killed >= M.ENOUGH then break end
    H.ok("sleep 0.2")
  end
  H.write(stop, "")
  -- the loops end after their current run; the killer writes its count
  local deadline = core.clock() + 120
  while core.clock() < deadline do
    if H.read(dir .. "/kills") then
      local alive = false
      for _, p in ipairs(pids) do alive = alive or H.ok("kill -0 " .. p .. " 2>/dev/null") end
      if not alive then break end
    end
    H.ok("sleep 0.05")
  end
  local kills = tonumber(H.read(dir .. "/kills"))
  assert.is_truthy(kills, "the killer did not finish")
  return logs, kills
end

-- check(logs, final [, seen [, old_scripts]]) -> counts {runs, ok_runs,
-- killed, printed_by_killed, numbers, withheld}. Every run exited 0 with a
-- success answer or was killed (137), or, with old_scripts (pid-judging
-- old scripts ran beside), was refused because one broke its legacy
-- folder while it wrote the state (75, its numbers withheld: withheld); every number printed in a success answer (by a run
-- that exited 0, or one killed after printing) is unique and below final
-- (and not in seen, the numbers other writers took, each naming who took
-- it, which it joins);
-- enough runs did each to mean something.
function M.check(logs, final, seen, old_scripts)
  seen = seen or {}
  local n = { runs = 0, ok_runs = 0, killed = 0, printed_by_killed = 0, numbers = 0, withheld = 0 }
  for _, log in ipairs(logs) do
    for code, line in (H.read(log) or ""):gmatch("(%d+)\t([^\n]*)") do
      n.runs = n.runs + 1
      code = tonumber(code)
      if code == 137 then n.killed = n.killed + 1 end
      local okj, r = pcall(cjson.decode, line)
      if code == 0 then
        assert(okj and r.status == "success", "exit 0 without a success answer: " .. line)
        n.ok_runs = n.ok_runs + 1
      elseif old_scripts and code == 75 and okj and type(r) == "table"
          and tostring(r.error_message):find("old-protocol script while tasknum wrote", 1, true) then
        n.withheld = n.withheld + 1
      else
        assert(code == 137, "a run failed without being killed: " .. code .. " " .. line)
      end
      if okj and type(r) == "table" and r.status == "success" then
        if code ~= 0 then n.printed_by_killed = n.printed_by_killed + 1 end
        for _, x in ipairs(r.allocated_numbers) do
          local who = string.format("an allocation answered at %s (in %s)", tostring(r.timestamp), log)
          assert.is_nil(seen[x], string.format("number %d printed twice: by %s and by %s", x, tostring(seen[x]), who))
          assert.is_true(x < final, x .. " was printed but the counter is only " .. final)
          seen[x], n.numbers = who, n.numbers + 1
        end
      end
    end
  end
  assert.is_true(n.ok_runs >= 20, "too few successful runs to mean anything: " .. n.ok_runs)
  assert.is_true(n.killed >= 20, "too few runs were killed to mean anything: " .. n.killed)
  return n
end

return M
