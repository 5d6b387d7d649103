-- stats.lua: a summary of the audit log of a state (errors by code, wraps,
-- stale legacy folders broken, lock wait and hold p50/p99/max in ms).
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "sum up the audit log: attempts, errors, lock wait and hold times",
  options = {
    cli.option "--state",
    { "--json", "flag", false, "one line of JSON instead of text" },
    { "--format", "string", "F", "text (the default, also at a terminal) or json (as --json)" },
  },
  output = "text",
  text = [[
Reads the whole log, one line at a time, without taking the lock.]],
  exits = { { 0, "the summary was printed" }, "INVALID_ARGUMENT", "STATE_NOT_FOUND", "SYSTEM_ERROR",
    "UNTRUSTED" },
}
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local policy = require "tasknum.policy"
local report = require "tasknum.report"
local printable = require("tasknum.text").printable
local state = require "tasknum.state"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
opts.json = cli.json_asked(opts)

local function count(s, entry)
  s.attempts = s.attempts + 1
  local numbers = type(entry.numbers) == "table" and #entry.numbers or 0
  if numbers > 0 then s.allocations, s.numbers = s.allocations + 1, s.numbers + numbers end
  if entry.command then s.lock_commands = s.lock_commands + 1 end
  if entry.error_code then
    s.errors[entry.error_code] = (s.errors[entry.error_code] or 0) + 1
  end
  if entry.wrapped == true then s.wraps = s.wraps + 1 end
  if entry.conflict == true then s.conflicts = s.conflicts + 1 end
  if type(entry.stale_break) == "table" then s.stale_breaks = s.stale_breaks + #entry.stale_break end
  s.first, s.last = s.first or entry.timestamp, entry.timestamp or s.last
end

local function summary(values)
  table.sort(values)
  return { n = #values, p50 = report.percentile(values, 50) or json.null,
    p99 = report.percentile(values, 99) or json.null, max = values[#values] or json.null }
end

local function gather()
  local path, err = state.find(opts.state)
  if not path then error(err, 0) end
  local log = report.audit_path(path, policy.policies(path))
  local s = { status = "success", state_path = path, audit_log = log, attempts = 0,
    allocations = 0, numbers = 0, lock_commands = 0, errors = {}, wraps = 0, conflicts = 0,
    stale_breaks = 0 }
  local waits, holds = {}, {}
  local iter, msg = report.lines(log)
  if not iter and core.stat(log) then errors.raise("SYSTEM_ERROR", "cannot read the audit log", msg) end
  for entry in iter or function() end do
    count(s, entry)
    -- times of attempts that got the lock, or waited for it in vain; not of
    -- those refused before (a bad count, say), whose times are 0
    local held = type(entry.hold_ms) == "number" and entry.hold_ms > 0
    if type(entry.wait_ms) == "number" and (held or entry.error_code == "LOCK_TIMEOUT") then
      waits[#waits + 1] = entry.wait_ms
    end
    if held then holds[#holds + 1] = entry.hold_ms end
  end
  s.timeouts = s.errors.LOCK_TIMEOUT or 0
  s.wait_ms, s.hold_ms = summary(waits), summary(holds)
  return s
end

local function ms_line(label, t)
  if t.n == 0 then return string.format("%-14s -", label) end
  return string.format("%-14s p50 %.3f  p99 %.3f  max %.3f  (%d)", label, t.p50, t.p99, t.max, t.n)
end

-- The summary for people; the log's codes and times are anyone's text, and
-- what a terminal would act on is escaped (tasknum.text).
local function text(s)
  local codes = {}
  for code, n in pairs(s.errors) do codes[#codes + 1] = tostring(code) .. " " .. n end
  table.sort(codes)
  local lines = {
    string.format("%-14s %s", "audit log", s.audit_log),
    string.format("%-14s %s .. %s", "period", tostring(s.first or "-"), tostring(s.last or "-")),
    string.format("%-14s %d", "attempts", s.attempts),
    string.format("%-14s %d (%d numbers)", "allocations", s.allocations, s.numbers),
    string.format("%-14s %d", "lock commands", s.lock_commands),
    string.format("%-14s %s", "errors", #codes > 0 and table.concat(codes, ", ") or "none"),
    string.format("%-14s %d", "timeouts", s.timeouts),
    string.format("%-14s %d", "wraps", s.wraps),
    string.format("%-14s %d", "conflicts", s.conflicts),
    string.format("%-14s %d", "stale breaks", s.stale_breaks),
    ms_line("lock wait ms", s.wait_ms),
    ms_line("lock hold ms", s.hold_ms),
  }
  for i, l in ipairs(lines) do lines[i] = printable(l) end
  return table.concat(lines, "\n") .. "\n"
end

local s = gather()
io.stdout:write(opts.json and cli.json(s) or text(s))
return 0
