-- tasknum.status (internal): what `tasknum status` and `tasknum check`
-- read, without taking any lock: status(opts) gathers the facts, check(opts)
-- judges the state. Both go through the authorities for anything about
-- locks and marks.
local answer = require "tasknum.answer"
local authority = require "tasknum.authority"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local policy = require "tasknum.policy"
local report = require "tasknum.report"
local state = require "tasknum.state"

local M = {}

M.RECENT = 5  -- allocations status lists
M.AHEAD = 10  -- the most one allocation hands out under the default policy

local function error_fields(e)
  return { code = e.code, message = e.message, details = e.details }
end

-- The counter, the range and the room before the next active project.
local function counter(s, text)
  local info, err = state.parse(text)
  if not info then
    s.state_error = error_fields(err)
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

local function audit_status(s, path, policies)
  local log = report.audit_path(path, policies)
  local st = core.stat(log)
  s.audit = { path = log, bytes = st and st.size or 0 }
  local recent = report.recent(log, M.RECENT, function(e)
    return type(e.numbers) == "table" and #e.numbers > 0
  end)
  s.recent = json.array({})
  for i, e in ipairs(recent) do
    s.recent[i] = { timestamp = e.timestamp, numbers = json.array(e.numbers), pid = e.pid,
      host = e.host, user = e.user, purpose = e.purpose, command = e.command }
  end
end

-- status(opts) -> the facts (see tasknum.status); a state that cannot be
-- found is the failure answer.
function M.status(opts)
  local path, real = state.find(opts.state)
  if not path then return answer.failure(real) end
  local s = answer.success{ state_path = path }
  local text, err = state.read(path)
  if text then counter(s, text) else s.state_error = error_fields(err) end
  local f = authority.file(path, real, { stale = opts.stale })
  local fs = f:status(opts.stale)
  s.lock, s.legacy, s.temp_files = fs.lock, fs.legacy, fs.temp_files
  local policies, perr = policy.policies(path)
  if not policies then s.policy_error = error_fields(perr) end
  audit_status(s, path, policies)
  s.policies = { dirs = json.array(policy.dirs(path)),
    loaded = json.array(table.move(policy.loaded, 1, #policy.loaded, 1, {})) }
  return s
end

-- --- check ------------------------------------------------------------------

local function name_of(a)
  return string.format("%d (%s)", a.number, a.name or "no name")
end

local function duplicates(active, problems)
  local first = {}
  for _, a in ipairs(active) do
    if a.number then
      local other = first[a.number]
      if other then
        problems[#problems + 1] = { check = "duplicate", project_number = a.number,
          message = string.format("project number %d is held by active projects %s and %s "
            .. "(entries %d and %d)", a.number, other.name or "?", a.name or "?", other.index, a.index) }
      else
        first[a.number] = a
      end
    end
  end
end

-- Active projects that the next AHEAD numbers from the counter run into.
local function ahead(info, active, problems)
  local room, nearest = report.room(info, active)
  if nearest and room < M.AHEAD then
    problems[#problems + 1] = { check = "ahead", project_number = nearest.number, room = room,
      message = room == 0
        and string.format("the counter %d is held by active project %s", info.next, name_of(nearest))
        or string.format("active project %s is only %d number%s after the counter %d", name_of(nearest),
          room, room == 1 and "" or "s", info.next) }
  end
end

-- problems(text) -> the list of what is wrong with a state text
function M.problems(text)
  local problems = {}
  local info, err = state.parse(text)
  if not info then
    problems[1] = { check = "well-formed", message = err.message, details = err.details }
    return problems
  end
  local active = report.active(text, info)
  duplicates(active, problems)
  ahead(info, active, problems)
  return problems
end

-- check(opts) -> success with problems = [], or STATE_CORRUPT listing them
function M.check(opts)
  local path, err = state.find(opts.state)
  if not path then return answer.failure(err) end
  local text, rerr = state.read(path)
  if not text then return answer.failure(rerr, { state_path = path }) end
  local problems = M.problems(text)
  if #problems == 0 then
    return answer.success{ state_path = path, problems = json.array({}) }
  end
  local lines = {}
  for i, p in ipairs(problems) do lines[i] = p.message end
  return answer.failure(errors.new("STATE_CORRUPT", string.format("%d problem%s in %s: %s", #problems,
    #problems == 1 and "" or "s", path, table.concat(lines, "; ")),
    "the state file was not changed; fix it by hand (archive finished projects, "
      .. "renumber duplicates) and run tasknum check again", nil, { problems = problems }),
    { state_path = path })
end

return M
