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
  local n, plain = core.whole(text, vs, ve)
  if not n then return nil end
  return n, not plain
end

-- numbers(a) -> iterator over the numbers entry a holds
function M.numbers(a)
  local list, i = a.numbers, 0
  return function()
    i = i + 1
    if list then return list[i] end
    if i == 1 then return a.number end
  end
end

-- The members of one entry, filled in place by core.pairs for each entry
-- in turn: a state of 100,000 entries makes no garbage table per entry
-- (nor does seen, active()'s key -> index of the last entry giving it).
local scratch = {}

-- One entry of active_projects, as light as it can be for the common
-- case: { index, number, name }. Only when there is something to say:
-- vs, ve and loose for a project_number written loosely ("5", 5.0: loose
-- = true, number set) or holding no number (number nil); values, a list
-- of {number, loose, vs, ve}, and numbers, every number held, for a
-- project_number given twice (readers disagree on which counts, so each
-- is held); dup_keys, the names given twice. A state of 66,000 entries
-- all written "5" then costs no table per entry beyond the entry's own.
local function entry_of(text, es, ee, index, seen, entry)
  if entry then
    entry.index, entry.number, entry.name, entry.numbers, entry.values, entry.dup_keys =
      index, nil, nil, nil, nil, nil
    entry.vs, entry.ve, entry.loose = nil, nil, nil
  else
    entry = { index = index }
  end
  if text:byte(es) ~= 123 then return entry end -- "{"
  local list, n = core.pairs(text, es, ee, scratch)
  if not list then return entry end
  local values, first, fs, fe, loose = nil, nil, nil, nil, nil
  for i = 1, n, 3 do
    local key, vs, ve = list[i], list[i + 1], list[i + 2]
    if seen[key] == index then
      entry.dup_keys = entry.dup_keys or {}
      entry.dup_keys[#entry.dup_keys + 1] = key
    end
    seen[key] = index
    if key == "project_number" then
      local number, is_loose = number_of(text, vs, ve)
      if not fs then
        first, fs, fe, loose = number, vs, ve, is_loose
      else -- given twice: every value is held, each reported
        values = values or { { number = first, loose = loose, vs = fs, ve = fe } }
        values[#values + 1] = { number = number, loose = is_loose, vs = vs, ve = ve }
      end
    elseif key == "project_name" and entry.name == nil then
      entry.name = core.string(text, vs, ve) or false
    end
  end
  entry.name = entry.name or nil
  entry.number = first
  if not values then
    if fs and (loose or not first) then entry.vs, entry.ve, entry.loose = fs, fe, loose end
    return entry
  end
  for _, v in ipairs(values) do
    if v.number then
      entry.numbers = entry.numbers or {}
      entry.numbers[#entry.numbers + 1] = v.number
    end
  end
  entry.number, entry.values = entry.numbers and entry.numbers[1], values
  return entry
end

-- odd(a) -> the project_number values of entry a worth a word, as a list
-- of {number, loose, vs, ve}: those written loosely or holding no number,
-- and all of them when the key is given twice (nil when there is none).
function M.odd(a)
  if a.values then return a.values end
  if a.vs then return { { number = a.number, loose = a.loose, vs = a.vs, ve = a.ve } } end
end

-- each(text, info, fn [, keep]) -> calls fn(entry) for the entries of
-- active_projects in file order (see entry_of: index, number, name, and
-- numbers, values, dup_keys when there is something to say) until fn
-- returns true; returns the kind of the value when active_projects is
-- there but is not an array ("an object", "null", ...). info is
-- state.parse's answer (which refuses active_projects twice). Without
-- keep, fn gets the same table each time, refilled: a lookup over 100,000
-- entries then makes no garbage table per entry (their garbage, freed,
-- still counts in the process's memory).
function M.each(text, info, fn, keep)
  local found = info.top and info.top.active_projects
  local s, e
  if found then s, e = found[1], found[2] else s, e = core.member(text, info.root_start, info.root_stop, "active_projects") end
  if not s then return nil end
  local first = text:sub(s, s)
  if first ~= "[" then
    return ({ ["{"] = "an object", ['"'] = "a string", t = "true", f = "false", n = "null" })[first]
        or "a number"
  end
  local seen, cursor, index, reused = {}, nil, 0, not keep and {} or nil
  while true do
    local es, ee = core.next_element(text, s, e, cursor)
    if not es then return nil end
    index, cursor = index + 1, ee
    if fn(entry_of(text, es, ee, index, seen, reused)) then return nil end
  end
end

-- active(text, info) -> the list of each()'s entries, and the kind of a
-- value that is not an array
function M.active(text, info)
  local list = {}
  local kind = M.each(text, info, function(entry) list[#list + 1] = entry end, true)
  return list, kind
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
    for n in M.numbers(a) do
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
-- lines that do not decode are skipped. nil, message when unreadable or
-- not a regular file (a FIFO there is refused, never waited on).
function M.lines(path, from)
  local f, msg = core.openread(path)
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
