-- check.lua: validates a state file, for CI and pre-commit hooks.
--   tasknum check [--state PATH]
-- Reads the state without taking the lock and changes nothing. Checks: the
-- file is a JSON object tasknum can use (the counter a plain integer inside
-- a valid range), no number is held by two active projects, and no active
-- project holds the counter or one of the AHEAD numbers after it (the next
-- allocations would fail with NUMBER_CONFLICT).
-- Exit 0 with {"status":"success",...,"problems":[]} when all is well;
-- otherwise exit 65 with a STATE_CORRUPT answer whose error.problems lists
-- each problem ({check, message, ...}); STATE_NOT_FOUND (66) and
-- SYSTEM_ERROR (71) as usual when there is no file to check.
local cli = require "tasknum.cli"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local report = require "tasknum.report"
local state = require "tasknum.state"
local txn = require "tasknum.txn"

local AHEAD = 10 -- the most one allocation hands out under the default policy

local opts, rest = cli.parse({ ... }, { ["--state"] = { "state", "string" } })
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

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
  if nearest and room < AHEAD then
    problems[#problems + 1] = { check = "ahead", project_number = nearest.number, room = room,
      message = room == 0
        and string.format("the counter %d is held by active project %s", info.next, name_of(nearest))
        or string.format("active project %s is only %d number%s after the counter %d", name_of(nearest),
          room, room == 1 and "" or "s", info.next) }
  end
end

local path = state.find(opts.state)
local text = state.read(path)
local problems = {}
local ok, info = pcall(state.parse, text)
if not ok then
  if not errors.is(info) then error(info, 0) end
  problems[1] = { check = "well-formed", message = info.message, details = info.details }
else
  local active = report.active(text, info)
  duplicates(active, problems)
  ahead(info, active, problems)
end

local answer = { status = "success", state_path = path, timestamp = txn.timestamp(),
  problems = json.array({}) }
if #problems > 0 then
  local lines = {}
  for i, p in ipairs(problems) do lines[i] = p.message end
  local err = errors.new("STATE_CORRUPT", string.format("%d problem%s in %s: %s", #problems,
    #problems == 1 and "" or "s", path, table.concat(lines, "; ")),
    "the state file was not changed; fix it by hand (archive finished projects, "
      .. "renumber duplicates) and run tasknum check again", nil, { problems = problems })
  answer = cli.failure(err)
  answer.state_path = path
end
return cli.emit(answer, "json", path)
