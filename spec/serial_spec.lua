-- serial_spec.lua: serials (tasknum.serial), the one place where a state's
-- counter is compared with a numbering's mark (SPEC rule 10).
local serial = require "tasknum.serial"

describe("tasknum.serial", function()
  it("maps a serial into the range, wrapping, and back in the first cycle", function()
    assert.are.equal(997, serial.display(997, 0, 999))
    assert.are.equal(2, serial.display(1002, 0, 999))
    assert.are.equal(22, serial.display(1002, 10, 999)) -- 990 numbers: 10 + 1002 % 990
    assert.are.equal(0, serial.first(10, 10, 999))
    assert.are.equal(41, serial.display(serial.first(41, 0, 999), 0, 999))
  end)

  it("places a counter on the serial nearest the mark, as SPEC rule 10 says", function()
    -- a file rewound to 100 under a mark of 103 is 3 behind
    assert.are.equal(-3, serial.offset(100, 103, 0, 999))
    -- a mark of 2 reached by wrapping past 999 (serial 1002) is ahead of 998
    assert.are.equal(-4, serial.offset(998, 1002, 0, 999))
    assert.are.equal(998, serial.near(998, 1002, 0, 999))
    -- and a counter that wrapped is ahead of a mark that did not
    assert.are.equal(5, serial.offset(3, 998, 0, 999))
    assert.are.equal(1003, serial.near(3, 998, 0, 999))
  end)

  it("counts exactly half a range as ahead, and more than half behind as ahead by the rest", function()
    -- the merge driver's rule: a move of more than half the range is a step back
    assert.are.equal(500, serial.offset(600, 100, 0, 999))
    assert.are.equal(-499, serial.offset(601, 100, 0, 999))
    assert.are.equal(400, serial.offset(500, 1100, 0, 999)) -- 600 behind reads as 400 ahead
    -- an odd range has no tie
    assert.are.equal(499, serial.offset(599, 100, 0, 998))
    assert.are.equal(-499, serial.offset(600, 100, 0, 998))
  end)

  it("agrees with tasknum merge on which of two counters is further on", function()
    -- merge.lua: moved = (to - from) mod R, minus R when more than R/2
    for _, case in ipairs({ { 995, 3 }, { 83, 80 }, { 0, 500 }, { 0, 501 }, { 999, 0 } }) do
      local from, to = case[1], case[2]
      local d = (to - from) % 1000
      if d > 500 then d = d - 1000 end
      assert.are.equal(d, serial.offset(to, serial.first(from, 0, 999), 0, 999))
    end
  end)

  it("reconciles: behind continues at the mark, ahead moves the mark, level stays", function()
    local r = serial.reconcile(100, 103, 0, 999)
    assert.are.same({ serial = 103, counter = 103, behind = 3 }, r)
    r = serial.reconcile(998, 1002, 0, 999)
    assert.are.same({ serial = 1002, counter = 2, behind = 4 }, r)
    r = serial.reconcile(110, 103, 0, 999)
    assert.are.same({ serial = 110, counter = 110, ahead = 7 }, r)
    r = serial.reconcile(3, 1003, 0, 999)
    assert.are.same({ serial = 1003, counter = 3 }, r)
  end)

  it("seeds a new mark from the counter, past the active projects just above it", function()
    local asked = 0
    local function numbers() asked = asked + 1 return { 60, 85, 84, 990, 5000 } end
    local r = serial.reconcile(82, false, 0, 999, { numbers = numbers })
    assert.are.same({ serial = 86, counter = 86, seeded = true, past = 85 }, r)
    -- a run with holes of up to SEED_GAP (tasks finished since); not beyond
    r = serial.reconcile(23, false, 0, 999, { numbers = function() return { 23, 30, 40, 51, 52 } end })
    assert.are.same({ serial = 41, counter = 41, seeded = true, past = 40 }, r)
    -- numbers below the counter (from before a wrap) or far above it (the
    -- real claude state at 82 holds 619 and 953 from the last cycle) do not count
    r = serial.reconcile(150, false, 0, 999, { numbers = function() return { 58, 60, 619, 953, 998 } end })
    assert.are.same({ serial = 150, counter = 150, seeded = true }, r)
    r = serial.reconcile(5, false, 0, 999, { numbers = function() return { 990, 999, 0, 4 } end })
    assert.are.same({ serial = 5, counter = 5, seeded = true }, r)
    r = serial.reconcile(998, false, 0, 999, { numbers = function() return { 999 } end })
    assert.are.same({ serial = 1000, counter = 0, seeded = true, past = 999 }, r)
    -- only asked for when seeding
    serial.reconcile(82, 82, 0, 999, { numbers = numbers })
    assert.are.equal(1, asked)
  end)

  it("rebases a mark kept for another range: the counter stands, the serial goes on", function()
    local r = serial.reconcile(234, 1234, 0, 9999, { range = { min = 0, max = 999 } })
    assert.are.same({ serial = 10234, counter = 234, rebased = true }, r)
    r = serial.reconcile(1500, 1234, 0, 9999, { range = { min = 0, max = 999 } })
    assert.are.same({ serial = 1500, counter = 1500, rebased = true }, r)
  end)

  it("never wraps a range too wide for its size", function()
    local min, max = math.mininteger, math.maxinteger
    assert.is_nil(serial.size(min, max))
    assert.are.equal(-5, serial.display(-5, min, max))
    assert.are.same({ serial = 7, counter = 7, behind = 3 }, serial.reconcile(4, 7, min, max))
  end)
end)
