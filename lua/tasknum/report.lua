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

-- active(text, info) -> the entries of active_projects in file order, each
-- { index, number (integer or nil), name }; info is state.parse's answer.
function M.active(text, info)
  local s, e = core.member(text, info.root_start, info.root_stop, "active_projects")
  local list = {}
  if not s or text:sub(s, s) ~= "[" then return list end
  local spans = core.elements(text, s, e)
  for i = 1, #spans, 2 do
    local es, ee = spans[i], spans[i + 1]
    local entry = { index = #list + 1 }
    if text:sub(es, es) == "{" then
      local vs, ve = core.member(text, es, ee, "project_number")
      entry.number = vs and core.integer(text, vs, ve) or nil
      local ns, ne = core.member(text, es, ee, "project_name")
      local name = ns and decode(text:sub(ns, ne))
      entry.name = type(name) == "string" and name or nil
    end
    list[#list + 1] = entry
  end
  return list
end

-- How many numbers the counter hands out from next before it reaches n,
-- wrapping from max to min.
local function distance(next, n, min, max)
  if n >= next then return n - next end
  return (max - next) + (n - min) + 1
end

-- room(info, active) -> free numbers from the counter on before it would
-- hand out one that an active project holds, and that project (nil, and
-- the size of the range, when no active project is in the range).
function M.room(info, active)
  local best, nearest
  for _, a in ipairs(active) do
    if a.number and a.number >= info.min and a.number <= info.max then
      local d = distance(info.next, a.number, info.min, info.max)
      if not best or d < best then best, nearest = d, a end
    end
  end
  return best or (info.max - info.min + 1), nearest
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
