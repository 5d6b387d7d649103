-- tasknum.serial (internal): serials, and the one place where a state's
-- counter is compared with a numbering's mark (SPEC rule 10).
--
-- A numbering authority keeps a serial: an integer that counts every number
-- ever handed out (or passed over) and never wraps or goes down. The number
-- people see is the serial mapped into the range:
--
--   displayed = min + serial % (max - min + 1)
--
-- A state file only holds a displayed counter, so it is compared with a
-- mark by the serial congruent to it that lies nearest the mark: at most
-- half a range ahead of it, or less than half a range behind. The tie, a
-- counter exactly half a (even) range from the mark, counts as ahead, and a
-- counter more than half a range behind reads as ahead by the rest: the
-- same rule as the merge driver's (a move of more than half the range is a
-- step back, never a wrap), so that `tasknum merge` and an allocation never
-- disagree on which of two counters is further on.
--
-- A range too wide for its size to fit an integer never wraps: the serial
-- is then the displayed number itself.
local M = {}

-- size(min, max) -> the count of numbers in the range, or nil when it does
-- not fit an integer (a range that never wraps)
function M.size(min, max)
  local size = max - min + 1
  if size <= 0 or max < min then return nil end
  return size
end

-- display(serial, min, max) -> the number that serial shows in the range
function M.display(serial, min, max)
  local size = M.size(min, max)
  if not size then return serial end
  return min + serial % size
end

-- first(counter, min, max) -> the serial of a counter in the first cycle of
-- its range (where a numbering without a mark starts)
function M.first(counter, min, max)
  if not M.size(min, max) then return counter end
  return counter - min
end

-- offset(counter, mark, min, max) -> how far the counter is ahead of the
-- mark (negative: behind), as the nearest serial says: in
-- (-size/2, size/2], ties ahead
function M.offset(counter, mark, min, max)
  local size = M.size(min, max)
  if not size then return counter - mark end
  local d = (counter - min - mark) % size
  if d > size // 2 then d = d - size end
  return d
end

-- near(counter, mark, min, max) -> the serial congruent to counter that
-- lies nearest mark
function M.near(counter, mark, min, max)
  return mark + M.offset(counter, mark, min, max)
end

-- at_or_after(counter, mark, min, max) -> the first serial at or after mark
-- that shows counter (for a mark kept for another range: the serial goes
-- on from where it was, to the counter the state now holds)
function M.at_or_after(counter, mark, min, max)
  local size = M.size(min, max)
  if not size then return math.max(counter, mark) end
  return mark + (counter - min - mark) % size
end

-- How far apart the active projects just above a rewound counter may lie
-- and still count as handed out after it (the most one allocation takes
-- with the default policy; tasks finished since leave holes).
M.SEED_GAP = 10

-- seed(counter, min, max, numbers) -> the serial a new mark starts from:
-- the counter's in the first cycle, moved past the active projects
-- (numbers: their project_numbers) that lie just above it: the run of
-- them that starts within SEED_GAP of the counter, each within SEED_GAP
-- of the one before (a counter rewound behind the tasks it numbered).
-- Numbers further on are not taken for a rewind: a number below the
-- counter, or far above it, is from before a wrap or a block of the
-- team's own, and the conflict policy meets it when the counter gets
-- there. Also the number that moved it, if any.
function M.seed(counter, min, max, numbers)
  local above = {}
  for _, n in ipairs(numbers or {}) do
    if math.type(n) == "integer" and n >= counter and n <= max then above[#above + 1] = n end
  end
  table.sort(above)
  local top
  for _, n in ipairs(above) do
    if n - (top or counter - 1) > M.SEED_GAP then break end
    top = n
  end
  if not top then return M.first(counter, min, max), nil end
  return M.first(top, min, max) + 1, top
end

-- reconcile(counter, mark, min, max [, opts]) -> a decision table:
--   serial   the serial the step continues from
--   counter  the counter it shows (the state's counter moves there)
--   behind   how far the state's counter was behind the mark (it moves
--            forward to the mark)
--   ahead    how far it was ahead (the mark moves forward to it)
--   seeded   the numbering kept no mark yet: it starts from the state;
--            past, the active project's number it was moved past, if any
--   rebased  the mark was kept for another range
-- mark: the authority's serial, or false when it keeps none yet. opts:
-- range, the {min, max} the mark was kept for (when the authority says);
-- numbers(), the project_numbers of active_projects (asked for only when
-- a new mark is seeded).
function M.reconcile(counter, mark, min, max, opts)
  opts = opts or {}
  if not mark then
    local serial, past = M.seed(counter, min, max, opts.numbers and opts.numbers())
    return { serial = serial, counter = M.display(serial, min, max), seeded = true, past = past }
  end
  local range = opts.range
  if range and (range.min ~= min or range.max ~= max) then
    return { serial = M.at_or_after(counter, mark, min, max), counter = counter, rebased = true }
  end
  local d = M.offset(counter, mark, min, max)
  if d < 0 then
    return { serial = mark, counter = M.display(mark, min, max), behind = -d }
  end
  return { serial = mark + d, counter = counter, ahead = d > 0 and d or nil }
end

return M
