-- status.lua: what is going on with a state, without taking its lock.
-- Text for people by default; --json prints one line of JSON.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "what is going on with the state, without taking its lock",
  options = {
    cli.option "--state",
    cli.option "--stale",
    { "--json", "flag", false, "one line of JSON with the same facts instead of text" },
    { "--format", "string", "F", "text (the default, also at a terminal) or json (as --json)" },
    cli.option "--authority",
  },
  output = "text",
  text = [[
The state, its counter, range and room, the active projects, where the numbering lives and its mark (and whether the counter is behind it), who holds the lock, the legacy .state.lock folder, leftover temp files, the audit log and the last allocations, the policy folders and files in use.]],
  exits = { { 0, "it could look (a state that does not parse is shown, not failed on)" },
    "INVALID_ARGUMENT", "STATE_NOT_FOUND", "SYSTEM_ERROR" },
}
local tasknum = require "tasknum"
local json = require "tasknum.json"
local printable = require("tasknum.text").printable

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end
opts.json = cli.json_asked(opts)

-- --- text for people ---------------------------------------------------------
-- Every line may carry others' text (purposes, commands, info, paths): what
-- a terminal would act on is escaped (tasknum.text).

local function line(out, label, text)
  out[#out + 1] = string.format("%-12s %s", label, printable(text))
end

local function room_text(s)
  if not s.room then return "?" end
  if s.next_active == json.null then
    return string.format("%d number%s (no active project in the range)", s.room, s.room == 1 and "" or "s")
  end
  return string.format("%d number%s before active project %d (%s)", s.room, s.room == 1 and "" or "s",
    s.next_active.project_number, tostring(s.next_active.project_name or "no name"))
end

local function legacy_text(l)
  if not l.path then return "none (a state not named *.json has no legacy folder)" end
  if not l.present then return "none (" .. l.path .. ")" end
  local who = l.pid and ("pid " .. l.pid) or "no info"
  if l.keeper then return "present, kept for the lock holder by its keeper (" .. who .. ")" end
  if l.mine then return "present, kept by the lock holder (" .. who .. ")" end
  local text = string.format("present: %s, %s, %.1f s old", l.verdict, who, l.age_s)
  if l.stale then text = text .. "; stale: the next allocation breaks it" end
  return text .. " (" .. l.path .. ")"
end

local function authority_text(out, a)
  if a.code then
    line(out, "authority", string.format("%s: %s", a.code, a.error))
    if a.trust then
      line(out, "", string.format("not used: trust it (TASKNUM_TRUST=%s) or choose one (--authority, "
        .. "$TASKNUM_AUTHORITY)", a.trust))
    end
    return
  end
  line(out, "authority", string.format("%s (%s) %s", a.kind, a.source, tostring(a.where)))
  if a.kind == "file" then return end
  local mark
  if a.error then mark = "unreadable: " .. a.error
  elseif a.counter == "new" then mark = "none yet: the next allocation starts it from the state"
  elseif a.counter == "behind" then
    mark = string.format("%d (serial %d); the counter is %d behind it: the next allocation continues at "
      .. "%d (tasknum sync moves the counter now)", a.mark, a.serial, a.by, a.mark)
  elseif a.counter == "ahead" then
    mark = string.format("%d (serial %d); the counter is %d ahead: the next allocation moves the mark",
      a.mark, a.serial, a.by)
  elseif a.serial then
    mark = string.format("%d (serial %d), level with the counter", a.mark, a.serial)
  else
    mark = "serial " .. tostring(a.serial)
  end
  line(out, "mark", mark)
  local b = a.reservation
  if b then
    line(out, "reserved", string.format("%d left (%d..%d), handed out here without asking the remote",
      b.left, b.first, b.last))
  end
  if a.lock and a.lock.held then line(out, "numbering", "locked: " .. tostring(a.lock.description)) end
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
  authority_text(out, s.authority)
  line(out, "lock", s.lock.held and ("held: " .. s.lock.description) or "free")
  line(out, "legacy lock", legacy_text(s.legacy))
  line(out, "temp files", s.temp_error and ("cannot count them: " .. s.temp_error)
    or s.temp_files == 0 and "none"
    or s.temp_files .. " left by killed writers (the next allocation removes them)")
  line(out, "audit log", string.format("%s (%d bytes)", s.audit.path, s.audit.bytes))
  recent_text(out, s)
  line(out, "policy dirs", #s.policies.dirs > 0 and table.concat(s.policies.dirs, ", ") or "none (shipped defaults)")
  line(out, "loaded", #s.policies.loaded > 0 and table.concat(s.policies.loaded, ", ") or "shipped defaults only")
  if s.policy_error then line(out, "problem", s.policy_error.message) end
  return table.concat(out, "\n") .. "\n"
end

local s = tasknum.status(opts)
if s.status ~= "success" then return cli.emit(s) end
io.stdout:write(opts.json and cli.json(s) or text(s))
return 0
