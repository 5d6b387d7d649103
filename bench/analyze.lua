#!/usr/bin/env lua5.4
-- analyze.lua: the analyzer and report writer of `make bench`.
--
--   analyze.lua record KEY=VALUE...          one record line (for the driver)
--   analyze.lua run KEY=VALUE... -- DIR...   stats and correctness of one
--                                            measurement (runner output dirs)
--   analyze.lua report RESULTS              markdown report on stdout
--
-- Records are lines `R{...}` (Lua table constructors) appended to a results
-- file; `report` loads them back. Keys of `run`: kind, name, p, k, start,
-- final (counters before and after), width (size of the number range),
-- valid (1 when the state is still valid JSON), leftover (files left in the
-- state folder that should not be there), size (state bytes).

local function ser(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    local s
    if type(v) == "number" then
      s = math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
    elseif type(v) == "boolean" then
      s = tostring(v)
    else
      s = string.format("%q", tostring(v)):gsub("\\\n", "\\n")
    end
    parts[#parts + 1] = k .. "=" .. s
  end
  return "R{" .. table.concat(parts, ",") .. "}"
end

local function kv(args, from, to)
  local t = {}
  for i = from, to do
    local k, v = args[i]:match("^([%w_]+)=(.*)$")
    if not k then error("not KEY=VALUE: " .. args[i]) end
    t[k] = math.tointeger(tonumber(v)) or (v:match("^%-?%d+%.?%d*$") and tonumber(v)) or v
  end
  return t
end

local function percentile(sorted, p)
  local n = #sorted
  if n == 0 then return nil end
  local i = math.ceil(p / 100 * n)
  if i < 1 then i = 1 end
  return sorted[i]
end

-- The tallies run() keeps over every dir of a measurement.
local function tally()
  return { lat = {}, codes = {}, calls = 0, failed = 0, allocs = 0, garbage = 0, maxrss = 0, wall = 0,
    seen = {}, dups = 0, holds = {}, waits = {}, rounds = {}, errlines = {}, errorder = {} }
end

-- wNNN.lat: "start end code rss" per call; the round's first start and
-- last end
local function read_lat(t, path, span)
  local f = io.open(path)
  if not f then return end
  for line in f:lines() do
    local s, e, code, rss = line:match("^(%d+) (%d+) (%d+) (%d+)$")
    if s then
      s, e, code, rss = math.tointeger(s), math.tointeger(e), math.tointeger(code), math.tointeger(rss)
      t.calls = t.calls + 1
      t.lat[#t.lat + 1] = (e - s) / 1e6
      if code ~= 0 then
        t.failed = t.failed + 1
        t.codes[code] = (t.codes[code] or 0) + 1
      end
      if rss > t.maxrss then t.maxrss = rss end
      if not span.first or s < span.first then span.first = s end
      if not span.last or e > span.last then span.last = e end
    end
  end
  f:close()
end

-- wNNN.out: the numbers handed out; anything else is garbage
local function read_out(t, path)
  local f = io.open(path)
  if not f then return end
  local text = f:read("a")
  f:close()
  for tok in text:gmatch("[^%s,]+") do
    local n = math.tointeger(tonumber(tok))
    if not n or not tok:match("^%-?%d+$") then
      t.garbage = t.garbage + 1
    else
      t.allocs = t.allocs + 1
      if t.seen[n] then t.dups = t.dups + 1 else t.seen[n] = true end
      if not t.lo or n < t.lo then t.lo = n end
      if not t.hi or n > t.hi then t.hi = n end
    end
  end
end

-- wNNN.err: lock hold times a contender tells (c-floor with BENCH_HOLD
-- set), and what the calls said on stderr
local function read_err(t, path)
  local f = io.open(path)
  if not f then return end
  for line in f:lines() do
    local h = line:match("hold_ms=([%d.]+)")
    if h then
      t.holds[#t.holds + 1] = tonumber(h)
    elseif line:match("%S") then
      line = line:sub(1, 160)
      if not t.errlines[line] then t.errlines[line] = 0; t.errorder[#t.errorder + 1] = line end
      t.errlines[line] = t.errlines[line] + 1
    end
  end
  f:close()
end

-- tasknum's audit log: "hold_ms" and "wait_ms" of each call
local function read_audit(t, path)
  local f = path and path ~= "" and io.open(path)
  if not f then return end
  for line in f:lines() do
    local h = line:match('"hold_ms":%s*([%d.eE+-]+)')
    if h then t.holds[#t.holds + 1] = tonumber(h) end
    local wt = line:match('"wait_ms":%s*([%d.eE+-]+)')
    if wt then t.waits[#t.waits + 1] = tonumber(wt) end
  end
  f:close()
end

-- One dir (a round) of p workers.
local function read_round(t, dir, p)
  local span, before = {}, t.allocs
  for w = 0, p - 1 do
    read_lat(t, string.format("%s/w%03d.lat", dir, w), span)
    read_out(t, string.format("%s/w%03d.out", dir, w))
  end
  if span.first then
    local seconds = (span.last - span.first) / 1e9
    t.wall = t.wall + seconds
    t.rounds[#t.rounds + 1] = string.format("%.6g", (t.allocs - before) / seconds)
  end
  for w = 0, p - 1 do read_err(t, string.format("%s/w%03d.err", dir, w)) end
end

-- Lock hold and wait percentiles into r.
local function hold_stats(r, t)
  table.sort(t.holds)
  table.sort(t.waits)
  if #t.holds > 0 then
    r.hold_n, r.hold_p50, r.hold_p99, r.hold_max = #t.holds, percentile(t.holds, 50), percentile(t.holds, 99),
      t.holds[#t.holds]
  end
  if #t.waits > 0 then r.wait_p50, r.wait_max = percentile(t.waits, 50), t.waits[#t.waits] end
end

-- The failures by exit status, and the three commonest stderr lines.
local function failure_stats(r, t)
  local fc = {}
  for code, n in pairs(t.codes) do fc[#fc + 1] = string.format("exit %d ×%d", code, n) end
  table.sort(fc)
  r.calls, r.failed, r.fail_codes = t.calls, t.failed, table.concat(fc, ", ")
  table.sort(t.errorder, function(a, b) return t.errlines[a] > t.errlines[b] end)
  local es = {}
  for i = 1, math.min(3, #t.errorder) do
    es[#es + 1] = string.format("%s (×%d)", t.errorder[i], t.errlines[t.errorder[i]])
  end
  r.stderr = table.concat(es, "; ")
end

-- Latency and throughput into r.
local function latency_stats(r, t)
  table.sort(t.lat)
  local sum = 0
  for _, v in ipairs(t.lat) do sum = sum + v end
  r.wall = t.wall
  r.thr_rounds = table.concat(t.rounds, " ")
  r.thr = t.wall > 0 and t.allocs / t.wall or 0
  r.p50, r.p99, r.max = percentile(t.lat, 50), percentile(t.lat, 99), t.lat[#t.lat]
  r.mean = t.calls > 0 and sum / t.calls or nil
  r.maxrss_kb = t.maxrss
end

-- Numbers expected: start, start+1, ... (allocs of them), in a range wide
-- enough that the bench never wraps; the counter moved by exactly that.
local function safety(r, t)
  local outside = 0
  if r.start then
    for n in pairs(t.seen) do
      if n < r.start or n >= r.start + t.allocs then outside = outside + 1 end
    end
  end
  r.allocs, r.garbage, r.dups, r.outside = t.allocs, t.garbage, t.dups, outside
  r.advanced = r.final and r.start and ((r.final - r.start) % (r.width or math.maxinteger)) or nil
  r.counter_ok = r.advanced == t.allocs
  r.valid = r.valid == 1
  r.leftover = r.leftover or ""
  r.safe = t.dups == 0 and t.garbage == 0 and outside == 0 and r.counter_ok and r.valid
  r.ok = r.safe and t.failed == 0 and t.calls > 0 and r.leftover == ""
end

-- run: read every wNNN.lat / wNNN.out / wNNN.err of the dirs (and the
-- audit log) and print the record.
local function run(args)
  local sep
  for i, a in ipairs(args) do if a == "--" then sep = i break end end
  assert(sep, "run: -- DIR... missing")
  local r = kv(args, 2, sep - 1)
  local p = assert(r.p, "run: p= missing")
  local t = tally()
  for d = sep + 1, #args do read_round(t, args[d], p) end
  read_audit(t, r.audit)
  hold_stats(r, t)
  failure_stats(r, t)
  latency_stats(r, t)
  safety(r, t)
  print(ser(r))
end

---------------------------------------------------------------------------
-- report
---------------------------------------------------------------------------
local function fmt(v, unit)
  if v == nil then return "–" end
  if type(v) ~= "number" then return tostring(v) end
  local a = math.abs(v)
  local s
  if a == 0 then s = "0"
  elseif a >= 100 then s = string.format("%.0f", v)
  elseif a >= 10 then s = string.format("%.1f", v)
  elseif a >= 1 then s = string.format("%.2f", v)
  else s = string.format("%.3f", v) end
  return s .. (unit or "")
end

local function ratio(a, b)
  if not a or not b or b == 0 then return nil end
  return a / b
end

local function fr(v) -- a ratio
  if not v then return "–" end
  return fmt(v) .. "×"
end

local function mb(kb) return kb and kb / 1024 or nil end

local SIZE_LABELS = { "40K", "1M", "20M" }

-- A measurement: a record whose numbers the whole-run checks count.
local function is_measurement(r)
  return r.kind == "seq" or r.kind == "cont" or r.kind == "size"
end

-- What every section of the report shares, built once from the records
-- file: c.recs (the records, in file order), c.env (the env record, with
-- duration_s and load_end from the end record), c.names (the contenders, in
-- report order), c.procs (the contention levels) and c.pmax (the last one),
-- c.has_tasknum, c.REF (the contender ratios are against), c.find(kind, name,
-- p, size) (the first record that matches; a nil argument matches any) and
-- c.w(...) (appends one line, its arguments concatenated, to c.out).
local function context(file)
  local recs = {}
  local chunk = assert(loadfile(file, "t", { R = function(t) recs[#recs + 1] = t end }))
  chunk()
  local c = { recs = recs, env = {}, names = {}, procs = {}, has_tasknum = false, out = {} }
  for _, r in ipairs(recs) do if r.kind == "env" then c.env = r end end
  for _, r in ipairs(recs) do
    if r.kind == "end" then c.env.duration_s, c.env.load_end = r.duration_s, r.load_end end
  end
  for n in tostring(c.env.contenders or ""):gmatch("%S+") do c.names[#c.names + 1] = n end
  for n in tostring(c.env.procs or ""):gmatch("%d+") do c.procs[#c.procs + 1] = math.tointeger(tonumber(n)) end
  c.pmax = c.procs[#c.procs]
  for _, n in ipairs(c.names) do if n == "tasknum" then c.has_tasknum = true end end
  c.REF = c.has_tasknum and "tasknum" or "c-floor"
  function c.find(kind, name, p, size)
    for _, r in ipairs(recs) do
      if r.kind == kind and (not name or r.name == name) and (not p or r.p == p)
         and (not size or r.size_label == size) then return r end
    end
  end
  function c.w(...) c.out[#c.out + 1] = table.concat({ ... }) end
  return c
end

-- The records of one kind, in file order.
local function of_kind(c, kind)
  local list = {}
  for _, r in ipairs(c.recs) do if r.kind == kind then list[#list + 1] = r end end
  return list
end

-- Header -------------------------------------------------------------------
local function header(c)
  local E, w = c.env, c.w
  w("# tasknum benchmark: `make bench`")
  w("")
  w("- **Date:** ", E.date or "?", " (the run took ", fmt(E.duration_s), " s)")
  w("- **Machine:** ", E.nproc or "?", " CPUs (", E.cpu or "?", "), ", E.mem or "?",
    ", kernel ", E.kernel or "?", "; load average at start ", E.load_start or "?", ", at end ", E.load_end or "?")
  w("- **Temp dir:** `", E.tmpdir or "?", "` on ", E.fs or "?")
  w("- **tasknum:** ", E.tasknum or "not built", "")
  w("- **Tools:** ", E.tools or "?")
  w("- **Config:** ", E.config or "?")
  w("- Latency is a whole call as a caller sees it: posix_spawn to wait4 in `bench/runner`",
    " (process start included); percentiles are nearest-rank. Ratios compare figures of this run only.",
    " Every contender is called as `CONTENDER STATE COUNT` except tasknum, called directly as",
    " `build/tasknum allocate --state STATE --count N --format plain` (no wrapper).")
  w("")
end

-- Targets ------------------------------------------------------------------
-- The targets of issue 6, a group of rows a function, in table order (see
-- TARGETS). A row is one call target(what, value, op, limit, figures, used),
-- used being the records the figure comes from: to add a row, add a call.

-- The verdict of one target: a figure from a run whose checks failed gives
-- none.
local function held(v, op, limit, used)
  local bad = false
  for _, u in ipairs(used or {}) do
    if not u.safe or ((u.name == "tasknum" or u.name == "c-floor" or tostring(u.kind):match("^auth_")
        or u.strict)
        and not u.ok) then
      bad = true
    end
  end
  if v == nil then return "not measured"
  elseif bad then return "**no verdict**: a check failed"
  elseif op == "<=" then return v <= limit and "**held**" or "**not held**" end
  return v >= limit and "**held**" or "**not held**"
end

local function sequential_targets(c, target)
  local seqT, seqF = c.find("seq", "tasknum"), c.find("seq", "c-floor")
  target("sequential p50: tasknum ÷ c-floor", ratio(seqT and seqT.p50, seqF and seqF.p50), "<=", 1.3,
    string.format("%s vs %s ms", fmt(seqT and seqT.p50), fmt(seqF and seqF.p50)), { seqT, seqF })
end

local function contention_targets(c, target)
  for _, P in ipairs({ 16, 64 }) do
    local t = c.find("cont", "tasknum", P)
    for _, alt in ipairs({ { "c-floor", 0.8 }, { "sqlite", 3 }, { "sqlite", 1.5, " (issue 17)" }, { "mkdir-jq", 50 } }) do
      local a = c.find("cont", alt[1], P)
      target(string.format("P=%d throughput: tasknum ÷ %s%s", P, alt[1], alt[3] or ""), ratio(t and t.thr, a and a.thr),
        ">=", alt[2], string.format("%s vs %s allocs/s", fmt(t and t.thr), fmt(a and a.thr)), { t, a })
    end
  end
  local t64, f64 = c.find("cont", "tasknum", 64), c.find("cont", "c-floor", 64)
  target("P=64 max latency: tasknum ÷ c-floor", ratio(t64 and t64.max, f64 and f64.max), "<=", 1.5,
    string.format("%s vs %s ms", fmt(t64 and t64.max), fmt(f64 and f64.max)), { t64, f64 })
end

local function size_targets(c, target)
  local tz, fz = c.find("size", "tasknum", nil, "20M"), c.find("size", "c-floor", nil, "20M")
  target("20 MB state p50: tasknum ÷ c-floor", ratio(tz and tz.p50, fz and fz.p50), "<=", 1.5,
    string.format("%s vs %s ms", fmt(tz and tz.p50), fmt(fz and fz.p50)), { tz, fz })
  -- Linear growth: cost per MB from 1 MB to 20 MB against 40 KB to 1 MB.
  local s0, s1, s2 = c.find("size", "tasknum", nil, "40K"), c.find("size", "tasknum", nil, "1M"), tz
  if s0 and s1 and s2 then
    local lo = (s1.p50 - s0.p50) / ((s1.size - s0.size) / 1048576)
    local hi = (s2.p50 - s1.p50) / ((s2.size - s1.size) / 1048576)
    target("growth with size: tasknum ms/MB (1→20 MB) ÷ ms/MB (40 KB→1 MB)", ratio(hi, lo), "<=", 1.5,
      string.format("%s ms/MB vs %s ms/MB: ≤ 1.5 is linear (or better)", fmt(hi), fmt(lo)), { s0, s1, s2 })
  end
end

-- Peak RSS of every command (issue 17): allocate from the size runs, the
-- others (add-task, check, status) from their own records (cmd_rss).
local RSS_COMMANDS = { "add-task", "check", "status" }

local function rss_targets(c, target)
  for _, sz in ipairs(SIZE_LABELS) do
    local s = c.find("size", "tasknum", nil, sz)
    if s then
      local limit = (3 * s.size + 4 * 1048576) / 1024
      target(string.format("peak RSS, %s state: tasknum ÷ (3 × size + 4 MB)", sz), ratio(s.maxrss_kb, limit), "<=", 1,
        string.format("%s MB of %s MB allowed", fmt(mb(s.maxrss_kb)), fmt(mb(limit))), { s })
    end
    for _, name in ipairs(RSS_COMMANDS) do
      local r = c.find("cmd_rss", name, nil, sz)
      if r then
        local limit = (3 * r.size + 4 * 1048576) / 1024
        local ok = r.ok == 1
        target(string.format("peak RSS, %s state: tasknum %s ÷ (3 × size + 4 MB) (issue 17)", sz, name),
          ratio(r.maxrss_kb, limit), "<=", 1, string.format("%s MB of %s MB allowed%s", fmt(mb(r.maxrss_kb)),
            fmt(mb(limit)), ok and "" or (", exit " .. tostring(r.exits))), { { name = "tasknum", safe = ok, ok = ok } })
      end
    end
  end
end

local function mcp_targets(c, target)
  local m = c.find("mcp", "mcp")
  target("`tasknum mcp` allocate tool call p50 ÷ CLI allocation p50 (issue 16)", ratio(m and m.mcp_p50,
    m and m.cli_p50), "<=", 1, string.format("%s vs %s ms", fmt(m and m.mcp_p50), fmt(m and m.cli_p50)), { m })
end

-- The local authorities (issue 10): the worktrees authority beside the
-- file authority, and 16 processes over 4 worktrees against 1.
local function authority_targets(c, target)
  local f, w, floor = c.find("auth_seq", "file"), c.find("auth_seq", "worktrees"), c.find("auth_seq", "c-floor")
  -- each local authority against c-floor measured in the same rounds (issue 17)
  for _, a in ipairs({ { "file", f }, { "worktrees", w } }) do
    local r = a[2]
    if r and floor then
      target(string.format("sequential p50, %s authority: tasknum ÷ c-floor, same rounds (issue 17)", a[1]),
        ratio(r.p50, floor.p50), "<=", 1.3, string.format("%s vs %s ms", fmt(r.p50), fmt(floor.p50)), { r, floor })
    end
  end
  target("sequential p50: worktrees authority ÷ file authority (issue 10)", ratio(w and w.p50, f and f.p50), "<=",
    1.15, string.format("%s vs %s ms", fmt(w and w.p50), fmt(f and f.p50)), { w, f })
  local one, four = c.find("auth_cont", "1 worktree", 16), c.find("auth_cont", "4 worktrees", 16)
  target("P=16 throughput, worktrees authority: 4 worktrees ÷ 1 (issue 10)", ratio(four and four.thr, one and one.thr),
    ">=", 0.9, string.format("%s vs %s allocs/s", fmt(four and four.thr), fmt(one and one.thr)), { four, one })
end

-- The remote authorities (issue 11, bench/remote.sh): records of kind
-- remote (uncontended: NAME, and NAME-floor the engine's own floor) and
-- remote_cont (processes contending).
local REMOTES = { { "git-file", "git:origin over file://" }, { "git-daemon", "git:origin over git daemon" },
  { "pg", "postgresql:// over TCP" } }

local function remote_targets(c, target)
  for _, e in ipairs(REMOTES) do
    local ours, floor = c.find("remote", e[1]), c.find("remote", e[1] .. "-floor")
    if ours or floor then
      target("uncontended p50, " .. e[2] .. ": tasknum ÷ the engine's floor (issue 11)",
        ratio(ours and ours.p50, floor and floor.p50), "<=", 1.5,
        string.format("%s vs %s ms", fmt(ours and ours.p50), fmt(floor and floor.p50)), { ours, floor })
    end
  end
end

local TARGETS = { sequential_targets, contention_targets, size_targets, rss_targets, mcp_targets, authority_targets,
  remote_targets }

-- The rows of the targets table: { what, value, op, limit, verdict, figures }.
local function target_rows(c)
  local rows = {}
  local function target(what, v, op, limit, detail, used)
    rows[#rows + 1] = { what, v, op, limit, held(v, op, limit, used), detail or "" }
  end
  for _, group in ipairs(TARGETS) do group(c, target) end
  return rows
end

local function targets(c)
  local w = c.w
  if not c.has_tasknum then
    w("**tasknum was not measured** (build/tasknum missing or left out): ratios below are against c-floor.")
    w("")
    return
  end
  w("## Targets (issue 6)")
  w("")
  w("| target | measured | limit | held | figures |")
  w("|---|---:|---:|---|---|")
  for _, t in ipairs(target_rows(c)) do
    w("| ", t[1], " | ", fr(t[2]), " | ", t[3] == "<=" and "≤ " or "≥ ", fmt(t[4]), "× | ", t[5], " | ", t[6], " |")
  end
  w("")
end

-- Where tasknum's time goes ----------------------------------------------------
-- The lock hold measured from outside (strace), when both were measured.
local function outside_hold_row(c)
  local thT, thF = c.find("truehold", "tasknum"), c.find("truehold", "c-floor")
  if thT and thF then
    c.w("| lock held, measured from outside (strace: kernel lock taken → lock fd closed / exit; ", thT.calls,
      " calls; each close() traced on the way adds ~20 µs, so an upper bound) | ",
      fmt(thT.p50), " | ", fmt(thF.p50), " | ", fmt(thT.p50 - thF.p50), " |")
  end
end

-- Where tasknum's extra time goes, sequentially.
local function breakdown(c)
  local w = c.w
  local seqT, seqF = c.find("seq", "tasknum"), c.find("seq", "c-floor")
  if not (seqT and seqF and seqT.hold_p50 and seqF.hold_p50) then return end
  local spawn = c.find("floor", "/bin/true")
  w("### Where tasknum's time goes (sequential, ~40 KB state, p50)")
  w("")
  w("| part | tasknum ms | c-floor ms | tasknum − c-floor ms |")
  w("|---|---:|---:|---:|")
  w("| whole call, as the caller sees it | ", fmt(seqT.p50), " | ", fmt(seqF.p50), " | ", fmt(seqT.p50 - seqF.p50), " |")
  w("| lock held, as each reports it (read, check, write, 2 fsyncs, …) | ", fmt(seqT.hold_p50), " | ", fmt(seqF.hold_p50), " | ",
    fmt(seqT.hold_p50 - seqF.hold_p50), " |")
  outside_hold_row(c)
  w("| the rest: process start, start-up, exit (for tasknum also the lock-file record and legacy folder) | ", fmt(seqT.p50 - seqT.hold_p50), " | ",
    fmt(seqF.p50 - seqF.hold_p50), " | ", fmt((seqT.p50 - seqT.hold_p50) - (seqF.p50 - seqF.hold_p50)), " |")
  if spawn then
    w("| of which spawning `/bin/true` (reference) | ", fmt(spawn.p50), " | ", fmt(spawn.p50), " | 0 |")
  end
  w("")
  w("Peak RSS: tasknum ", fmt(mb(seqT.maxrss_kb)), " MB, c-floor ", fmt(mb(seqF.maxrss_kb)), " MB.",
    " Instruction counts are in the callgrind section below.")
  w("")
end

-- The most contended level, every contender, in one line.
local function contention_verdict(c)
  if not c.pmax then return end
  local parts = {}
  for _, n in ipairs(c.names) do
    local r = c.find("cont", n, c.pmax)
    if r then
      local v = r.ok and "ok" or (r.safe and "safe but **" .. r.failed .. " calls failed** (" .. r.fail_codes .. ")" or "**FAILED**")
      parts[#parts + 1] = string.format("%s %s (%d numbers, %d duplicates, counter +%s)", n, v, r.allocs, r.dups, tostring(r.advanced))
    end
  end
  c.w("**Correctness under ", c.pmax, "-way contention, checked in this run:** ", table.concat(parts, "; "), ".")
  c.w("")
end

-- Summary ------------------------------------------------------------------
-- A contender's verdict over all its measurements.
local function all_runs_verdict(c, n)
  local nruns, bad, fails = 0, {}, 0
  for _, r in ipairs(c.recs) do
    if r.name == n and is_measurement(r) then
      nruns = nruns + 1
      if not r.safe then bad[#bad + 1] = r.kind .. (r.p and r.kind == "cont" and ("/P=" .. r.p) or "") end
      fails = fails + (r.failed or 0)
    end
  end
  local verdict = #bad == 0 and string.format("ok (%d runs, no dup, counter exact)", nruns)
    or ("**UNSAFE** in " .. table.concat(bad, ", "))
  if fails > 0 then verdict = verdict .. string.format("; **%d calls failed**", fails) end
  return verdict
end

local function summary_row(c, n)
  local find = c.find
  local base = n == c.REF and (c.has_tasknum and "c-floor" or nil) or c.REF
  local function cell(v, ref)
    if not base or v == nil then return fmt(v) end
    return fmt(v) .. " (" .. fr(ratio(v, ref)) .. ")"
  end
  local s, sb = find("seq", n), find("seq", base)
  local row = { "| ", n, " | ", cell(s and s.p50, sb and sb.p50), " |" }
  for _, P in ipairs(c.procs) do
    local r, rb = find("cont", n, P), find("cont", base, P)
    row[#row + 1] = " " .. cell(r and r.thr, rb and rb.thr) .. " |"
  end
  if c.pmax then
    local r, rb = find("cont", n, c.pmax), find("cont", base, c.pmax)
    row[#row + 1] = " " .. cell(r and r.max, rb and rb.max) .. " |"
  end
  row[#row + 1] = " " .. all_runs_verdict(c, n) .. " |"
  c.w(table.concat(row))
end

local function summary(c)
  local w, REF = c.w, c.REF
  w("## Summary: ratios to ", REF, " (same run)")
  w("")
  w("Each cell: the figure, then the contender ÷ ", REF, ". For throughput a ratio below 1 means slower;",
    " for latency a ratio above 1 means slower.", c.has_tasknum and " The tasknum row shows tasknum ÷ c-floor." or "")
  w("")
  local hdr = { "| contender | seq p50 ms |" }
  local al = { "|---|---:|" }
  for _, P in ipairs(c.procs) do hdr[#hdr + 1] = string.format(" P=%d allocs/s |", P); al[#al + 1] = "---:|" end
  if c.pmax then hdr[#hdr + 1] = string.format(" P=%d max ms |", c.pmax); al[#al + 1] = "---:|" end
  hdr[#hdr + 1] = " correct, all runs |"; al[#al + 1] = "---|"
  w(table.concat(hdr)); w(table.concat(al))
  for _, n in ipairs(c.names) do summary_row(c, n) end
  w("")
end

-- Correctness under contention -----------------------------------------------
local function correctness_row(c, n, P, r)
  local said = (r.stderr or "") ~= "" and (": `" .. tostring(r.stderr):gsub("[`|]", "'") .. "`") or ""
  c.w("| ", n, " | ", P, " | ", r.calls, " | ", r.failed == 0 and "0" or (r.failed .. " (" .. r.fail_codes .. said .. ")"),
    " | ", r.allocs, " | ", r.dups, " | ", r.outside, " | ", tostring(r.advanced),
    r.counter_ok and " ✓" or " ✗", " | ", r.valid and "yes" or "**no**", " | ",
    r.leftover == "" and "–" or ("`" .. r.leftover .. "`"), " | ",
    r.ok and "ok" or (r.safe and "safe, **not ok**" or "**FAIL**"), " |")
end

local function correctness(c)
  local w = c.w
  w("## Correctness under contention (every run, checked)")
  w("")
  w("All printed numbers collected: no number twice, all in start…start+total−1 (range 0..999999: no wrap),",
    " counter advanced by exactly the total printed, state still valid JSON, nothing but numbers printed,",
    " no temp file or lock folder left behind, no failed call.")
  w("")
  w("| contender | P | calls | failed | numbers | duplicates | outside | counter advanced | valid JSON | left behind | verdict |")
  w("|---|---:|---:|---|---:|---:|---:|---:|---|---|---|")
  for _, P in ipairs(c.procs) do
    for _, n in ipairs(c.names) do
      local r = c.find("cont", n, P)
      if r then correctness_row(c, n, P, r) end
    end
  end
  w("")
end

-- Sequential ---------------------------------------------------------------
local function sequential(c)
  local w, REF = c.w, c.REF
  w("## Sequential latency (one process at a time, ", c.env.seq_rounds or "?", " interleaved rounds, ~40 KB state)")
  w("")
  w("| contender | calls | mean ms | p50 ms | p99 ms | max ms | p50 ÷ ", REF, " | peak RSS MB | correct |")
  w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
  local sr = c.find("seq", REF)
  for _, n in ipairs(c.names) do
    local s = c.find("seq", n)
    if s then
      w("| ", n, " | ", s.calls, " | ", fmt(s.mean), " | ", fmt(s.p50), " | ", fmt(s.p99), " | ", fmt(s.max), " | ",
        fr(ratio(s.p50, sr and sr.p50)), " | ", fmt(mb(s.maxrss_kb)), " | ", s.ok and "ok" or "**no**", " |")
    end
  end
  w("")
end

-- Contention -----------------------------------------------------------------
-- The throughput ratio of each round of r to the same round of ref.
local function per_round(r, ref)
  if not ref then return "–" end
  local a, b = {}, {}
  for x in tostring(r.thr_rounds or ""):gmatch("%S+") do a[#a + 1] = tonumber(x) end
  for x in tostring(ref.thr_rounds or ""):gmatch("%S+") do b[#b + 1] = tonumber(x) end
  local out = {}
  for i = 1, math.min(#a, #b) do out[#out + 1] = fr(ratio(a[i], b[i])) end
  return #out > 0 and table.concat(out, " / ") or "–"
end

local function contention_rows(c, P)
  local REF = c.REF
  local cr = c.find("cont", REF, P)
  for _, n in ipairs(c.names) do
    local r = c.find("cont", n, P)
    if r then
      c.w("| ", n, " | ", P, " | ", r.k, " | ", r.allocs, " | ", fmt(r.wall), " | ", fmt(r.thr), " | ",
        fr(ratio(r.thr, cr and cr.thr)), " | ", fmt(r.p50), " | ", fmt(r.p99), " | ", fmt(r.max), " | ",
        fr(ratio(r.max, cr and cr.max)), " | ",
        per_round(r, (n == REF and c.has_tasknum) and c.find("cont", "c-floor", P) or cr), " |")
    end
  end
end

local function contention(c)
  local w, REF = c.w, c.REF
  w("## Contention (P processes started together, K calls each, one allocation per call; ", c.env.cont_rounds or 1,
    " interleaved round(s) pooled, K per round)")
  w("")
  w("The last column shows the throughput ratio of each round on its own (tasknum's row: ÷ c-floor): how far apart the rounds are",
    " tells how noisy the machine was.")
  w("")
  w("| contender | P | K | allocs | wall s | allocs/s | ÷ ", REF, " | p50 ms | p99 ms | max ms | max ÷ ", REF,
    " | allocs/s ÷ ", REF, ", each round |")
  w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for _, P in ipairs(c.procs) do contention_rows(c, P) end
  w("")
end

-- Lock hold ----------------------------------------------------------------
local function hold_rows(c, kind, p, label, size)
  for _, n in ipairs(c.names) do
    local r = c.find(kind, n, p, size)
    local fl = c.find(kind, "c-floor", p, size)
    if r and r.hold_n then
      c.w("| ", n, " | ", label, " | ", r.hold_n, " | ", fmt(r.hold_p50), " | ", fmt(r.hold_p99), " | ", fmt(r.hold_max),
        " | ", fr(ratio(r.hold_p50, fl and fl.hold_p50)), " | ", fmt(r.wait_p50), " | ", fmt(r.wait_max), " |")
    end
  end
end

local function lock_hold(c)
  local w, any = c.w, false
  for _, r in ipairs(c.recs) do if r.hold_n then any = true end end
  if not any then return end
  w("## Lock hold time, as the contenders report it")
  w("")
  w("c-floor tells it on stderr (BENCH_HOLD): from the kernel lock taken to the numbers printed after the folder fsync.",
    " tasknum's comes from its audit log (`hold_ms`, `wait_ms`): from the moment it holds both the kernel lock and the",
    " legacy lock folder to the audit line, so the lock-file record, the legacy folder and the audit write itself are",
    " outside it; the true hold is somewhat longer.",
    " At P ≥ 2 the lock is the bottleneck, so allocs/s ≈ 1000 ÷ mean hold ms at best.")
  w("")
  w("| contender | run | calls | hold p50 ms | hold p99 ms | hold max ms | hold p50 ÷ c-floor | wait p50 ms | wait max ms |")
  w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
  hold_rows(c, "seq", nil, "sequential")
  for _, P in ipairs(c.procs) do hold_rows(c, "cont", P, "P=" .. P) end
  for _, sz in ipairs(SIZE_LABELS) do hold_rows(c, "size", nil, sz .. " state", sz) end
  w("")
end

-- Sizes ------------------------------------------------------------------------
-- The size labels measured, in the order they first appear.
local function size_labels(c)
  local labels, seen = {}, {}
  for _, r in ipairs(of_kind(c, "size")) do
    local l = r.size_label
    if l ~= nil and not seen[l] then seen[l] = true; labels[#labels + 1] = l end
  end
  return labels
end

local function size_rows(c, n, labels)
  local prev
  for _, sz in ipairs(labels) do
    local s, f = c.find("size", n, nil, sz), c.find("size", "c-floor", nil, sz)
    if s then
      local slope = prev and (s.p50 - prev.p50) / ((s.size - prev.size) / 1048576) or nil
      c.w("| ", n, " | ", sz, " (", s.size, " B) | ", s.calls, " | ", fmt(s.p50), " | ", fmt(s.p99), " | ", fmt(s.max),
        " | ", fr(ratio(s.p50, f and f.p50)), " | ", fmt(slope), " | ", fmt(mb(s.maxrss_kb)), " | ",
        fmt((3 * s.size + 4 * 1048576) / 1048576), " |")
      prev = s
    end
  end
end

local function state_sizes(c)
  local w, labels = c.w, size_labels(c)
  if #labels == 0 then return end
  w("## State size (one process at a time, the same file for every contender)")
  w("")
  w("| contender | state | calls | p50 ms | p99 ms | max ms | p50 ÷ c-floor | ms per MB over the previous size | peak RSS MB | RSS limit MB (3 × size + 4) |")
  w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for _, n in ipairs(c.names) do size_rows(c, n, labels) end
  w("")
end

-- tasknum mcp ------------------------------------------------------------------
local function mcp(c)
  local w, m = c.w, c.find("mcp", "mcp")
  if not m then return end
  w("## `tasknum mcp`: one allocate tool call on a warm server (issue 16)")
  w("")
  w("bench/mcp_bench starts `tasknum mcp --state STATE` once (initialize, then ", m.warm, " untimed calls of each kind),",
    " then times ", m.calls, " `tools/call allocate` requests, from writing the request line to reading the answer line,",
    " in turns with as many `tasknum allocate --state STATE2 --format plain` runs (posix_spawn to wait4, as",
    " bench/runner times them), on two fresh copies of the same 40 KB state. Counters advanced by ",
    m.advanced_mcp, " (server) and ", m.advanced_cli, " (CLI), ", m.safe and "as expected." or "**not as expected**.")
  w("")
  w("| one allocation | p50 ms | p90 ms | p99 ms | mean ms | min ms |")
  w("|---|---:|---:|---:|---:|---:|")
  for _, row in ipairs({ { "tool call on a warm `tasknum mcp`", "mcp" }, { "`tasknum allocate`, whole process", "cli" } }) do
    local k = row[2]
    w("| ", row[1], " | ", fmt(m[k .. "_p50"]), " | ", fmt(m[k .. "_p90"]), " | ", fmt(m[k .. "_p99"]), " | ",
      fmt(m[k .. "_mean"]), " | ", fmt(m[k .. "_min"]), " |")
  end
  local ratios = {}
  for i, k in ipairs({ "p50", "p90", "p99", "mean", "min" }) do
    ratios[i] = fr(ratio(m["cli_" .. k], m["mcp_" .. k]))
  end
  w("| CLI ÷ tool call | ", table.concat(ratios, " | "), " |")
  w("")
end

-- The local authorities (issue 10) -----------------------------------------------
local function authorities(c)
  local w = c.w
  local f, wt = c.find("auth_seq", "file"), c.find("auth_seq", "worktrees")
  if not (f or wt) then return end
  w("## The local authorities: worktrees beside file (issue 10)")
  w("")
  w("The same `tasknum allocate --state STATE --count 1 --format plain`, with `--authority file` (the state's own lock,",
    " its counter the mark) and `--authority worktrees` (then also the numbering's lock and mark in the clone's common",
    " git dir, the mark written in place and fdatasynced before the state), in interleaved sequential rounds on two",
    " fresh 40 KB states; then 16 processes with the worktrees authority in one worktree, and spread over 4 worktrees",
    " of one clone (4 each, `runner -m 4`). Counters checked against the numbering's mark.")
  w("")
  w("| run | calls | p50 ms | p99 ms | max ms | allocs/s | hold p50 ms | correct |")
  w("|---|---:|---:|---:|---:|---:|---:|---|")
  local rows = { { "sequential, file authority", f }, { "sequential, worktrees authority", wt },
    { "P=16, worktrees, 1 worktree", c.find("auth_cont", "1 worktree", 16) },
    { "P=16, worktrees, 4 worktrees", c.find("auth_cont", "4 worktrees", 16) } }
  for _, row in ipairs(rows) do
    local r = row[2]
    if r then
      w("| ", row[1], " | ", r.calls, " | ", fmt(r.p50), " | ", fmt(r.p99), " | ", fmt(r.max), " | ", fmt(r.thr), " | ",
        fmt(r.hold_p50), " | ", r.ok and "ok" or ("**no** (" .. tostring(r.dups) .. " dup, " .. tostring(r.failed)
          .. " failed, counter +" .. tostring(r.advanced) .. ", left: " .. tostring(r.leftover) .. ")"), " |")
    end
  end
  local g = c.find("nogit", "worktrees")
  if g then
    w("")
    w("Processes a worktrees allocation starts: ", g.git_run == 0 and "no `git` (a tripwire `git` first on PATH was not run)"
      or "**`git` was run**", g.execs and g.execs >= 0 and string.format("; under strace: %d execve (tasknum itself), "
        .. "%d fork or non-thread clone", g.execs, g.procs) or "", ".")
  end
  w("")
end

-- Remote authorities ---------------------------------------------------------------
local function verdict(r) return r.ok and (r.agree ~= 0) and "ok" or (r.safe and "safe, **not ok**" or "**FAIL**") end

local function remote(c)
  local w = c.w
  local rows, conts = {}, of_kind(c, "remote_cont")
  for _, e in ipairs(REMOTES) do
    local ours, floor = c.find("remote", e[1]), c.find("remote", e[1] .. "-floor")
    if ours and floor then rows[#rows + 1] = { e[2], ours, floor } end
  end
  if #rows == 0 and #conts == 0 then return end
  w("## Remote authorities (issue 11)")
  w("")
  w("bench/remote.sh. Uncontended: one process at a time, interleaved rounds, a 40 KB state in a clone of a bare",
    " repository (git) or a folder (PostgreSQL, a cluster made with initdb, fsync on); each call is a whole",
    " `tasknum allocate --authority ...` process. The floor is what the engine itself needs for one number:",
    " bench/git-floor (one `git ls-remote` and one `git push --force-with-lease` of a commit made beforehand)",
    " and bench/pg_floor (a libpq client: connect, one `UPDATE ... RETURNING`, disconnect).")
  w("")
  if #rows > 0 then
    w("| authority | calls | tasknum p50 ms | p99 ms | max ms | floor p50 ms | floor p99 ms | p50 ÷ floor | correct |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for _, row in ipairs(rows) do
      local o, f = row[2], row[3]
      w("| ", row[1], " | ", o.calls, " | ", fmt(o.p50), " | ", fmt(o.p99), " | ", fmt(o.max), " | ", fmt(f.p50), " | ",
        fmt(f.p99), " | ", fr(ratio(o.p50, f.p50)), " | ", verdict(o), verdict(f) == "ok" and "" or (" (floor: " .. verdict(f) .. ")"), " |")
    end
    w("")
  end
  if #conts > 0 then
    w("Contended: P processes started together, each on a state of its own (8 clones of one repository over",
      " git daemon; 16 projects sharing one PostgreSQL row), K calls each. A lost race (another clone moved the ref",
      " between the read and the push) runs the step again: the retries come from the audit logs.")
    w("")
    w("| run | P | K | numbers | wall s | allocs/s | p50 ms | p99 ms | max ms | retries | per allocation | correct |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for _, r in ipairs(conts) do
      w("| ", r.name, " | ", r.p, " | ", r.k, " | ", r.allocs, " | ", fmt(r.wall), " | ", fmt(r.thr), " | ", fmt(r.p50), " | ",
        fmt(r.p99), " | ", fmt(r.max), " | ", tostring(r.retries), " | ",
        fmt(r.allocs > 0 and (r.retries or 0) / r.allocs or nil), " | ", verdict(r),
        r.failed > 0 and (" (" .. r.failed .. " failed: " .. r.fail_codes .. ")") or "", " |")
    end
    w("")
  end
end

-- Sanity -----------------------------------------------------------------------
local function sanity(c)
  local w = c.w
  if #of_kind(c, "sanity") == 0 then return end
  w("## Sanity (range 0..999, next 997: allocate 1, then 3)")
  w("")
  w("Expected `997`, then `998 999 0`, counter 1, valid JSON. Lines changed: lines of state.json that differ afterwards",
    " (1 = only the counter line; jq rewrites the whole file; sqlite keeps its counter elsewhere).")
  w("")
  w("| contender | COUNT=1 | COUNT=3 | exits | counter after | valid JSON | lines changed | files in the folder | ok |")
  w("|---|---|---|---|---:|---|---:|---|---|")
  for _, n in ipairs(c.names) do
    local s = c.find("sanity", n)
    if s then
      w("| ", n, " | `", s.out1, "` | `", s.out3, "` | ", s.exits, " | ", s.counter, " | ", s.valid == 1 and "yes" or "**no**",
        " | ", s.changed, " | `", s.files, "` | ", s.ok == 1 and "ok" or "**no**", " |")
    end
  end
  w("")
end

-- Floors -----------------------------------------------------------------------
local function floors(c)
  local w, fl = c.w, of_kind(c, "floor")
  if #fl == 0 then return end
  w("## Floors (what any CLI pays: process start through the same runner)")
  w("")
  w("| command | calls | p50 ms | p99 ms | peak RSS MB |")
  w("|---|---:|---:|---:|---:|")
  for _, r in ipairs(fl) do
    w("| `", r.name, "` | ", r.calls, " | ", fmt(r.p50), " | ", fmt(r.p99), " | ", fmt(mb(r.maxrss_kb)), " |")
  end
  w("")
end

-- Instruction profile -----------------------------------------------------------
-- The inclusive counts of tasknum's profiles tp: counts[label][i] is the
-- count of label in tp[i]; order, the labels as they first appear.
local function profile_counts(tp)
  local counts, order = {}, {}
  for i, r in ipairs(tp) do
    for item in tostring(r.top):gmatch("[^|]+") do
      local label, n = item:match("^(.*)=(%d+)$")
      if label then
        if not counts[label] then counts[label] = {}; order[#order + 1] = label end
        counts[label][i] = tonumber(n)
      end
    end
  end
  return counts, order
end

-- One column pair (Minstr, %) per profile of tasknum, one row per function.
local function profile_table(c, tp)
  local w = c.w
  local counts, order = profile_counts(tp)
  local hdr, al = { "| tasknum, inclusive |" }, { "|---|" }
  for _, r in ipairs(tp) do
    hdr[#hdr + 1] = " " .. r.size_label .. " Minstr | % |"
    al[#al + 1] = "---:|---:|"
  end
  w(table.concat(hdr)); w(table.concat(al))
  for _, label in ipairs(order) do
    local row = { "| " .. label .. " |" }
    for i, r in ipairs(tp) do
      local n = counts[label][i]
      row[#row + 1] = n and string.format(" %s | %.1f |", fmt(n / 1e6), 100 * n / r.total) or " – | – |"
    end
    w(table.concat(row))
  end
  w("")
  w("Inclusive counts overlap (a function includes what it calls). `liblua lua_load`/`luaL_loadbufferx` is loading",
    " the embedded Lua chunks; `core/json.c` work runs under the lock; `lua_close` is the interpreter's teardown.")
  w("")
end

local function instructions(c)
  local w, profs = c.w, of_kind(c, "profile")
  if #profs == 0 then return end
  w("## Where the instructions go (callgrind, one call, no noise)")
  w("")
  local tot, tp = {}, {}
  for _, r in ipairs(profs) do
    tot[#tot + 1] = string.format("%s on %s: %s M instructions", r.name, r.size_label, fmt(r.total / 1e6))
    if r.name == "tasknum" and r.top ~= "" then tp[#tp + 1] = r end
  end
  w(table.concat(tot, "; "), ".")
  w("")
  if #tp > 0 then profile_table(c, tp) end
end

-- Totals -------------------------------------------------------------------
local function totals(c)
  local runs, nums, dups, unsafe, failed = 0, 0, 0, 0, 0
  for _, r in ipairs(c.recs) do
    if is_measurement(r) then
      runs = runs + 1
      nums = nums + r.allocs
      dups = dups + r.dups
      if not r.safe then unsafe = unsafe + 1 end
      failed = failed + r.failed
    end
  end
  c.w(string.format("**Correctness, whole run:** %d measurements, %d numbers handed out, %d duplicates, %d unsafe measurements, %d failed calls.",
    runs, nums, dups, unsafe, failed))
end

-- The report, section by section, in order.
local SECTIONS = { header, targets, breakdown, contention_verdict, summary, correctness, sequential,
  contention, lock_hold, state_sizes, mcp, authorities, remote, sanity, floors, instructions, totals }

local function report(file)
  local c = context(file)
  for _, section in ipairs(SECTIONS) do section(c) end
  io.write(table.concat(c.out, "\n"), "\n")
end

-- profile: `callgrind_annotate --inclusive=yes` output on stdin -> a record
-- with the total instruction count and the inclusive counts of the
-- functions worth naming: the program's own C (core/), the Lua C API entry
-- points, the dynamic loader and malloc.
local function profile(args)
  local r = kv(args, 2, #args)
  local total
  local picked = {}
  -- Wrappers that include nearly everything, and duplicates.
  local skip = { pmain = true, lua_pcallk = true, lua_callk = true, lua_setfield = true, lua_load = true,
    luaL_requiref = true, lua_getfield = true, lua_rawgeti = true, lua_gettable = true }
  for line in io.lines() do
    local n, rest = line:match("^%s*([%d,]+) %(%s*[%d.]+%%%)%s+(.*)$")
    if n then
      n = math.tointeger(tonumber((n:gsub(",", ""))))
      if rest:match("^PROGRAM TOTALS") then
        total = n
      elseif not rest:find("'", 1, true) then
        local file, fn = rest:match("^(%S+):(%S+)")
        local label
        if skip[fn] then
          label = nil
        elseif file and file:match("core/[%w_]+%.c$") and fn ~= "main" then
          label = file:match("([%w_]+%.c)$") .. ":" .. fn
        elseif file == "???" and fn:match("^luaL?_") then
          label = "liblua " .. fn
        elseif fn == "_dl_start" then
          label = "ld.so: loading and linking shared libraries"
        elseif file and file:match("malloc%.c$") and (fn == "malloc" or fn == "realloc" or fn == "free") then
          label = "libc " .. fn
        end
        if label and not picked[label] then picked[label] = n end
      end
    end
  end
  local list = {}
  for label, n in pairs(picked) do
    if total and n >= total * 0.015 then list[#list + 1] = { label, n } end
  end
  table.sort(list, function(a, b) return a[2] > b[2] end)
  local parts = {}
  for i = 1, math.min(#list, 18) do parts[#parts + 1] = list[i][1] .. "=" .. list[i][2] end
  r.kind = "profile"
  r.total = total
  r.top = table.concat(parts, "|")
  print(ser(r))
end

local cmd = arg[1]
if cmd == "profile" then
  profile(arg)
elseif cmd == "record" then
  print(ser(kv(arg, 2, #arg)))
elseif cmd == "run" then
  run(arg)
elseif cmd == "report" then
  report(assert(arg[2], "report RESULTS"))
else
  io.stderr:write("usage: analyze.lua record KEY=VALUE... | run KEY=VALUE... -- DIR... | report RESULTS\n")
  os.exit(64)
end
