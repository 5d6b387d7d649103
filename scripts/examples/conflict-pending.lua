-- conflict-pending.lua: a conflict policy that treats a number as taken
-- when an entry of active_projects OR of another array (pending_tasks,
-- ...) holds it. Install it for a project:
--   cp conflict-pending.lua .opencode/tasknum/conflict.lua
-- Set SKIP to true to pass over taken numbers instead of failing.
local M = {}

-- The top-level arrays whose entries' project_number is taken.
local ARRAYS = { "active_projects", "pending_tasks" }
local SKIP = false

M.max_count = 10

-- number -> { array = key, name = project_name } for every taken number
local function taken(txn)
  local all = {}
  for _, key in ipairs(ARRAYS) do
    for n, span in pairs(txn:held(key, "project_number")) do
      if not all[n] then
        local entry = txn:element(span)
        all[n] = { array = key, name = type(entry) == "table" and entry.project_name or nil }
      end
    end
  end
  return all
end

local function describe(n, t)
  return string.format("%d (%s in %s)", n, tostring(t.name or "?"), t.array)
end

function M.pick(txn, count)
  local all = taken(txn)
  if SKIP then
    -- numbers left to look at after this one, unsigned (see conflict-skip.lua)
    local numbers, after = {}, txn.info.max - txn.info.min
    while #numbers < count do
      if all[txn.counter] then txn:skip(1) else numbers[#numbers + 1] = txn:take(1)[1] end
      if #numbers < count and after == 0 then
        txn:fail("NUMBER_CONFLICT", "not enough free numbers in the range")
      end
      after = after - 1
    end
    return numbers
  end
  local numbers, conflicts, names = txn:take(count), {}, {}
  for _, n in ipairs(numbers) do
    local t = all[n]
    if t then
      conflicts[#conflicts + 1] = { project_number = n, project_name = t.name, array = t.array }
      names[#names + 1] = describe(n, t)
    end
  end
  if #conflicts > 0 then
    txn:fail("NUMBER_CONFLICT", "number already taken: " .. table.concat(names, ", "),
      "finish or archive those entries, or move next_project_number past them",
      { conflicts = conflicts })
  end
  return numbers
end

return M
