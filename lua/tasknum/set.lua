-- tasknum.set (internal): `tasknum set`, behind tasknum.set: moves the
-- counter and changes the range in one locked, audited, durable step, the
-- repair a STATE_CORRUPT "outside the range" asks for (such a state is read,
-- not refused; the new one must be valid, checked in full before the
-- rename as every write is).
--
-- Rules:
--   - the counter never moves back (to a number below the one it holds)
--     without force: those numbers were handed out, and a second task
--     could get one of them;
--   - the counter must lie in the (new) range; min <= max;
--   - a numbering kept apart from the state (worktrees, dir:, ...) moves
--     with it: its mark goes to the first serial at or after the mark
--     that shows the new counter in the new range. A mark never goes down,
--     so a forced move back starts the next cycle of the range there.
-- Only the members that change are written: next_project_number, and
-- project_numbering's min and max (the block is added when the state has
-- none; a "policy": "increment_modulo_N" in it follows the new size).
local edit = require "tasknum.edit"
local serial = require "tasknum.serial"
local txn = require "tasknum.txn"

local M = {}

local function int_or_nil(v, name, fname)
  if v ~= nil and math.type(v) ~= "integer" then
    error(string.format("%s: %s must be an integer, got %s", fname, name, math.type(v) or type(v)), 4)
  end
end

-- Writes the new range into project_numbering (adding the block, or the
-- member, when missing).
local function set_range(t, min, max, was)
  local s = t:span("project_numbering")
  if not s then
    edit.set(t, "project_numbering", edit.object { { "min", min }, { "max", max } })
    return
  end
  if min ~= was.min then edit.set(t, { "project_numbering", "min" }, min) end
  if max ~= was.max then edit.set(t, { "project_numbering", "max" }, max) end
  local ps, pe = t:span("project_numbering", "policy")
  local old = serial.size(was.min, was.max)
  local size = serial.size(min, max)
  if ps and old and size and t.text:sub(ps, pe) == '"increment_modulo_' .. old .. '"' then
    edit.set(t, { "project_numbering", "policy" }, "increment_modulo_" .. size)
  end
end

-- run(opts) -> answer [, text]. opts: next, min, max (integers), force,
-- and the step's options (state, timeout, stale, purpose, todo, format,
-- authority). The answer: previous_next_number, new_next_number,
-- previous_numbering and project_numbering ({min, max}), changed, and set
-- (what was asked).
function M.run(opts)
  local fname = "tasknum.set"
  int_or_nil(opts.next, "next", fname)
  int_or_nil(opts.min, "min", fname)
  int_or_nil(opts.max, "max", fname)
  if opts.force ~= nil and type(opts.force) ~= "boolean" then
    error(fname .. ": force must be a boolean, got " .. type(opts.force), 3)
  end
  local asked = { next = opts.next, min = opts.min, max = opts.max, force = opts.force or nil }
  local run = setmetatable({ repair = true, purpose = opts.purpose or "set",
    prepare = function(t)
      if opts.next == nil and opts.min == nil and opts.max == nil then
        t:fail("INVALID_ARGUMENT", "set needs --next N, or --min A and/or --max B (or both)")
      end
      if opts.min and opts.max and opts.min > opts.max then
        t:fail("INVALID_ARGUMENT", string.format("--min %d is greater than --max %d", opts.min, opts.max))
      end
      if opts.prepare then opts.prepare(t) end
    end }, { __index = opts })
  return txn.run(run, function(t)
    t.audit_extra = { set = asked }
    local i = t.info
    local was = { min = i.min, max = i.max }
    local min, max = opts.min or i.min, opts.max or i.max
    if min > max then
      t:fail("INVALID_ARGUMENT", string.format("the range would be %d..%d: min greater than max", min, max))
    end
    if t.auth ~= t.file and not serial.size(min, max) then
      t:fail("INVALID_ARGUMENT", string.format("the range %d..%d is too wide for the %s numbering: it holds "
        .. "more than 2^63-1 numbers", min, max, t.auth.kind), "a numbering kept apart from the state counts "
        .. "in 64-bit serials: give a narrower range, or keep the numbering in the state alone (--authority file)")
    end
    local from = t.counter -- after a numbering's mark moved it on (counter_adjusted)
    local to = opts.next or from
    if to < min or to > max then
      t:fail("INVALID_ARGUMENT", string.format("the counter %d would be outside the range %d..%d", to, min,
        max),
        opts.next and "give a --next inside the range, or a range that holds it"
          or "give --next N too: the counter's place in the new range")
    end
    if to < from and not opts.force then
      t:fail("INVALID_ARGUMENT", string.format("refusing to move the counter back from %d to %d", from, to),
        string.format("numbers %d..%d were handed out already: handing them out again can give one "
          .. "number to two tasks; add --force when you know they are free (renumbered, archived)",
          to, from - 1))
    end
    if min ~= was.min or max ~= was.max then set_range(t, min, max, was) end
    t.counter = to
    if t.auth ~= t.file then -- the numbering's mark moves with the counter, never down
      local base = t.serial or t.mark
      t.serial = base and serial.at_or_after(to, base, min, max) or serial.first(to, min, max)
      t.moved = 0
    end
    return { set = asked, previous_numbering = was, project_numbering = { min = min, max = max },
      changed = to ~= t.previous or min ~= was.min or max ~= was.max }
  end)
end

return M
