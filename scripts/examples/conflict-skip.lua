-- conflict-skip.lua: a conflict policy that skips the numbers active
-- projects hold instead of failing, and fails only when the whole range
-- has fewer free numbers than were asked for. Install it for a project:
--   cp conflict-skip.lua .opencode/tasknum/conflict.lua
-- The numbers passed over are listed in the answer's skipped_numbers.
local M = {}

-- Largest count one call may ask for.
M.max_count = 10

function M.pick(txn, count)
  local held = txn:held("active_projects", "project_number")
  local size = txn.info.max - txn.info.min + 1
  local numbers, looked = {}, 0
  while #numbers < count do
    if looked == size then
      txn:fail("NUMBER_CONFLICT",
        string.format("only %d free numbers in %d..%d, %d asked for",
          #numbers, txn.info.min, txn.info.max, count),
        "every other number is held by an active project; archive the finished ones")
    end
    looked = looked + 1
    if held[txn.counter] then
      txn:skip(1)
    else
      numbers[#numbers + 1] = txn:take(1)[1]
    end
  end
  return numbers
end

return M
