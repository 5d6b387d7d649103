-- tasknum.report (internal): what `tasknum status`, `check` and `stats` read, without
-- taking the lock: the active projects in a state text, the room before the
-- counter runs into one of them, and the audit log.
local core = require "tasknum.core"

local M = {}

-- lua-cjson gives every number as a float and null as a light userdata:
-- whole numbers become integers again, nulls go.
local function tidy(v)
  if type(v) == "number" then return math.tointeger(v) or v end
  if v == require("cjson").null then return nil end
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = tidy(x) end
  end
  return v
end

local function decode(text)
  local ok, v = pcall(require("cjson").decode, text)
  if ok then return tidy(v) end
end

-- The number a project_number value holds, however it is spelled
-- (core.whole: "5", 5.0, 5e0 ...): n, and whether the spelling is loose
-- (anything but the plain digits a %d gives); nil when it holds none.
local function number_of(text, vs, ve)
  local n = core.whole(text, vs, ve)
  if not n then return nil end
  return n, text:sub(vs, ve) ~= string.format("%d", n)
end

-- One entry of active_projects: its numbers (every value of project_number,
-- even when the key is given twice: readers disagree on which one counts),
-- its name, and what a check reports about it.
local function entry_of(text, es, ee, index)
  local entry = { index = index, numbers = {}, values = {}, dup_keys = {} }
  if text:sub(es, es) ~= "{" then return entry end
  local pairs_list = core.pairs(text, es, ee) or {}
  local seen = {}
  for i = 1, #pairs_list, 3 do
    local key, vs, ve = pairs_list[i], pairs_list[i + 1], pairs_list[i + 2]
    if seen[key] == 1 then entry.dup_keys[#entry.dup_keys + 1] = key end
    seen[key] = (seen[key] or 0) + 1
    if key == "project_number" then
      local n, loose = number_of(text, vs, ve)
      entry.values[#entry.values + 1] = { text = text:sub(vs, math.min(ve, vs + 60)), number = n, loose = loose }
      if n then entry.numbers[#entry.numbers + 1] = n end
    elseif key == "project_name" and entry.name == nil then
      local name = decode(text:sub(vs, ve))
      entry.name = type(name) == "string" and name or false
    end
  end
  entry.name = entry.name or nil
  entry.number = entry.numbers[1]
  return entry
end

-- active(text, info) -> the entries of active_projects in file order, each
-- { index, number (the first it holds, or nil), numbers (all it holds),
-- values ({text, number, loose} for each project_number member),
-- dup_keys (names given twice), name }, and the kind of the value when
-- active_projects is there but is not an array ("object", ...); info is
-- state.parse's answer (which refuses active_projects twice).
function M.active(text, info)
  local found = info.top and info.top.active_projects
  local s, e
  if found then s, e = found[1], found[2] else s, e = core.member(text, info.root_start, info.root_stop, "active_projects") end
  local list = {}
  if not s then return list end
  local first = text:sub(s, s)
  if first ~= "[" then
    return list, ({ ["{"] = "an object", ['"'] = "a string", t = "true", f = "false", n = "null" })[first]
        or "a number"
  end
  local spans = core.elements(text, s, e)
  for i = 1, #spans, 2 do
    list[#list + 1] = entry_of(text, spans[i], spans[i + 1], #list + 1)
  end
  return list
end

-- How many numbers the counter hands out from next before it reaches n,
-- wrapping from max to min; unsigned (a range may span all 64 bits).
local function distance(next, n, min, max)
  if n >= next then return n - next end
  return (max - next) + (n - min) + 1
end

-- An unsigned count as a JSON integer: past math.maxinteger it is capped.
local function capped(u)
  return u < 0 and math.maxinteger or u
end

-- room(info, active) -> free numbers from the counter on before it would
-- hand out one that an active project holds, that project and that
-- number (nil, and the size of the range, when no active project is in
-- the range).
function M.room(info, active)
  local best, nearest, number
  for _, a in ipairs(active) do
    for _, n in ipairs(a.numbers or { a.number }) do
      if n >= info.min and n <= info.max then
        local d = distance(info.next, n, info.min, info.max)
        if not best or math.ult(d, best) then best, nearest, number = d, a, n end
      end
    end
  end
  if best then return capped(best), nearest, number end
  local size = info.max - info.min + 1 -- 0 when the range spans all 64 bits
  return size == 0 and math.maxinteger or capped(size)
end

-- audit_path(state_path, policies) -> where the audit policy logs: its
-- path(state_path) if it has one, else the shipped default's.
function M.audit_path(state_path, policies)
  local audit = policies and policies.audit
  if type(audit) == "table" and type(audit.path) == "function" then
    return audit.path(state_path)
  end
  return require("tasknum.policy.audit").path(state_path)
end

-- lines(path [, from]) -> iterator over the decoded lines of a JSON-lines
-- file (from: byte offset to start at, skipping the partial line there);
-- lines that do not decode are skipped. nil, message when unreadable.
function M.lines(path, from)
  local f, msg = io.open(path, "rb")
  if not f then return nil, msg end
  if from and from > 0 then
    f:seek("set", from - 1)
    if f:read(1) ~= "\n" then f:read("l") end
  end
  return function()
    for line in f:lines() do
      local v = decode(line)
      if type(v) == "table" then return v end
    end
    f:close()
  end
end

-- recent(path, n, want) -> the last n entries of the log for which
-- want(entry) is true, oldest first; reads at most the last 256 KB.
function M.recent(path, n, want)
  local st = core.stat(path)
  if not st then return {} end
  local ring = {}
  local iter = M.lines(path, math.max(0, st.size - 262144))
  for entry in iter or function() end do
    if want(entry) then
      ring[#ring + 1] = entry
      if #ring > n then table.remove(ring, 1) end
    end
  end
  return ring
end

-- percentile(sorted, p) -> the nearest-rank p-th percentile (0 < p <= 100)
function M.percentile(sorted, p)
  if #sorted == 0 then return nil end
  return sorted[math.max(1, math.ceil(p / 100 * #sorted))]
end

return M
