-- status.lua: what is going on with a state, without taking its lock.
--   tasknum status [--state PATH] [--stale S] [--json]
-- Text for people by default; --json prints one line of JSON. Exits 0
-- whenever it could look (a state that does not parse is reported in the
-- answer: `tasknum check` is the command that fails on it).
local cli = require "tasknum.cli"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local legacy = require "tasknum.legacy"
local policy = require "tasknum.policy"
local report = require "tasknum.report"
local state = require "tasknum.state"
local txn = require "tasknum.txn"

local RECENT = 5

local opts, rest = cli.parse({ ... }, {
  ["--state"] = { "state", "string" },
  ["--stale"] = { "stale", "seconds" },
  ["--json"] = { "json", "flag" },
})
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

local function error_fields(e)
  if errors.is(e) then return { code = e.code, message = e.message, details = e.details } end
  return { code = "SCRIPT_ERROR", message = tostring(e) }
end

-- The counter, the range and the room before the next active project.
local function counter(s, text)
  local ok, info = pcall(state.parse, text)
  if not ok then
    s.state_error = error_fields(info)
    return
  end
  local active = report.active(text, info)
  local room, nearest = report.room(info, active)
  s.next_project_number = info.next
  s.range = { min = info.min, max = info.max }
  s.active_project_count = #active
  s.room = room
  s.next_active = nearest and { project_number = nearest.number, project_name = nearest.name }
    or json.null
end

local function lock_status(s, lock_path)
  local held, msg = core.probe(lock_path)
  s.lock = { path = lock_path, held = held == true }
  if held == nil then s.lock.error = msg end
  if held then
    local holder, line = txn.holder(lock_path)
    s.lock.holder, s.lock.description = holder, line
  end
end

local function legacy_status(s, real)
  local folder = legacy.path(real)
  local found = legacy.inspect(folder, opts.stale)
  s.legacy = { path = folder, present = found ~= nil, stale_after_s = opts.stale or legacy.DEFAULT_STALE }
  if found then
    s.legacy.pid, s.legacy.verdict, s.legacy.age_s = found.pid, found.verdict, json.ms(found.age_s) / 1000
    s.legacy.info = found.info
    s.legacy.stale = found.verdict == "dead" or found.verdict == "reused" or found.verdict == "aged"
    s.legacy.mine = s.lock.holder and s.lock.holder.pid == found.pid or false
  end
end

local function audit_status(s, path, policies)
  local log = report.audit_path(path, policies)
  local st = core.stat(log)
  s.audit = { path = log, bytes = st and st.size or 0 }
  local recent = report.recent(log, RECENT, function(e)
    return type(e.numbers) == "table" and #e.numbers > 0
  end)
  s.recent = json.array({})
  for i, e in ipairs(recent) do
    s.recent[i] = { timestamp = e.timestamp, numbers = json.array(e.numbers), pid = e.pid,
      host = e.host, user = e.user, purpose = e.purpose, command = e.command }
  end
end

local function gather()
  local path = state.find(opts.state)
  local real = core.realpath(path) or path
  local s = { status = "success", state_path = path, timestamp = txn.timestamp() }
  local ok, text = pcall(state.read, path)
  if ok then counter(s, text) else s.state_error = error_fields(text) end
  lock_status(s, txn.lock_path(real))
  legacy_status(s, real)
  s.temp_files = core.temps(path) or 0
  local pok, policies = pcall(policy.policies, path)
  if not pok then s.policy_error = error_fields(policies) end
  audit_status(s, path, pok and policies or nil)
  s.policies = { dirs = json.array(policy.dirs(path)), loaded = json.array(table.move(policy.loaded, 1, #policy.loaded, 1, {})) }
  return s
end

-- --- text for people ---------------------------------------------------------

local function line(out, label, text)
  out[#out + 1] = string.format("%-12s %s", label, text)
end

local function room_text(s)
  if not s.room then return "?" end
  if s.next_active == json.null then
    return string.format("%d numbers (no active project in the range)", s.room)
  end
  return string.format("%d numbers before active project %d (%s)", s.room,
    s.next_active.project_number, tostring(s.next_active.project_name or "no name"))
end

local function legacy_text(l)
  if not l.present then return "none (" .. l.path .. ")" end
  local who = l.pid and ("pid " .. l.pid) or "no info"
  if l.mine then return "present, kept by the lock holder (" .. who .. ")" end
  local text = string.format("present: %s, %s, %.1f s old", l.verdict, who, l.age_s)
  if l.stale then text = text .. "; stale: the next allocation breaks it" end
  return text .. " (" .. l.path .. ")"
end

local function recent_text(out, s)
  if #s.recent == 0 then line(out, "recent", "no allocations logged") end
  for i = #s.recent, 1, -1 do
    local e = s.recent[i]
    local nums = {}
    for k, n in ipairs(e.numbers) do nums[k] = tostring(n) end
    local what = e.purpose and ("  purpose: " .. tostring(e.purpose))
      or e.command and ("  command: " .. tostring(e.command)) or ""
    line(out, i == #s.recent and "recent" or "", string.format("%s  %s  pid %s%s",
      tostring(e.timestamp), table.concat(nums, " "), tostring(e.pid), what))
  end
end

local function text(s)
  local out = {}
  line(out, "state", s.state_path)
  if s.state_error then
    line(out, "problem", s.state_error.code .. ": " .. s.state_error.message)
  else
    line(out, "next", string.format("%d (range %d..%d)", s.next_project_number, s.range.min, s.range.max))
    line(out, "room", room_text(s))
    line(out, "active", string.format("%d project%s", s.active_project_count,
      s.active_project_count == 1 and "" or "s"))
  end
  line(out, "lock", s.lock.held and ("held: " .. s.lock.description) or "free")
  line(out, "legacy lock", legacy_text(s.legacy))
  line(out, "temp files", s.temp_files == 0 and "none"
    or s.temp_files .. " left by killed writers (the next allocation removes them)")
  line(out, "audit log", string.format("%s (%d bytes)", s.audit.path, s.audit.bytes))
  recent_text(out, s)
  line(out, "policy dirs", #s.policies.dirs > 0 and table.concat(s.policies.dirs, ", ") or "none (shipped defaults)")
  line(out, "loaded", #s.policies.loaded > 0 and table.concat(s.policies.loaded, ", ") or "shipped defaults only")
  if s.policy_error then line(out, "problem", s.policy_error.message) end
  return table.concat(out, "\n") .. "\n"
end

local s = gather()
io.stdout:write(opts.json and (json.encode(s) .. "\n") or text(s))
return 0
