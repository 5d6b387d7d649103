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
  -- How many numbers of the range are left to look at after this one:
  -- max - min, unsigned (a range of all 64 bits holds 2^64 numbers, one
  -- more than an integer counts, so "max - min + 1" would be 0).
  local after = txn.info.max - txn.info.min
  local numbers = {}
  while #numbers < count do
    if held[txn.counter] then
      txn:skip(1)
    else
      numbers[#numbers + 1] = txn:take(1)[1]
    end
    if #numbers < count and after == 0 then
      txn:fail("NUMBER_CONFLICT",
        string.format("only %d free numbers in %d..%d, %d asked for",
          #numbers, txn.info.min, txn.info.max, count),
        "every other number is held by an active project; archive the finished ones")
    end
    after = after - 1
  end
  return numbers
end

return M
