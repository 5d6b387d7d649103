-- Issue 13.8: the shipped example policies work on any range, the whole of
-- 64 bits included. On main, conflict-skip.lua counted the range as
-- max - min + 1, which is 0 for min = math.mininteger, max =
-- math.maxinteger, and refused at once with "only 0 free numbers".
local H = require "spec_helper"

local MIN, MAX = math.mininteger, math.maxinteger

local function example(name)
  return assert(H.read(H.root .. "/scripts/examples/" .. name), "no example " .. name)
end

-- A project over min..max with the counter at next and active projects
-- holding the numbers in active, using the policy text given.
local function project(policy, next, min, max, active)
  local entries = {}
  for i, n in ipairs(active) do entries[i] = string.format('{"project_number": %d}', n) end
  local text = string.format('{\n  "next_project_number": %d,\n  "project_numbering": {"min": %d, "max": %d},\n'
    .. '  "active_projects": [%s]\n}\n', next, min, max, table.concat(entries, ", "))
  local dir, path = H.project(text)
  H.write(dir .. "/.opencode/tasknum/conflict.lua", policy)
  return dir, path, text
end

local SKIPPING = {
  ["conflict-skip.lua"] = example("conflict-skip.lua"),
  ["conflict-pending.lua with SKIP = true"] =
    (example("conflict-pending.lua"):gsub("local SKIP = false", "local SKIP = true")),
}

describe("the example policies on any range (issue 13.8)", function()
  after_each(H.cleanup)

  for name, policy in pairs(SKIPPING) do
    describe(name, function()
      it("skips held numbers across the whole 64-bit range, wrapping from max to min", function()
        local dir, path = project(policy, MAX - 1, MIN, MAX, { MAX, MIN })
        -- read as text: lua-cjson decodes numbers past 2^53 as doubles
        local out, code = H.run({ "allocate", "--count", "3" }, { cwd = dir })
        assert.are.equal(0, code, out)
        assert.matches(string.format('"allocated_numbers":[%d,%d,%d]', MAX - 1, MIN + 1, MIN + 2), out, 1, true)
        assert.matches(string.format('"skipped_numbers":[%d,%d]', MAX, MIN), out, 1, true)
        assert.matches('"wrapped":true', out, 1, true)
        assert.matches(string.format('"new_next_number":%d,', MIN + 3), out, 1, true)
        assert.matches(string.format('"next_project_number": %d,', MIN + 3), H.read(path), 1, true)
      end)

      it("works on 0..math.maxinteger and on a range of one number", function()
        local dir = project(policy, 0, 0, MAX, { 0, 1 })
        local r, code = H.run_json({ "allocate" }, { cwd = dir })
        assert.are.equal(0, code, tostring(r.error_message))
        assert.are.same({ 2 }, r.allocated_numbers)
        dir = project(policy, 7, 7, 7, {})
        r, code = H.run_json({ "allocate" }, { cwd = dir })
        assert.are.equal(0, code, tostring(r.error_message))
        assert.are.same({ 7 }, r.allocated_numbers)
      end)

      it("still fails, writing nothing, when the range has fewer free numbers than asked", function()
        local dir, path, text = project(policy, 7, 7, 7, { 7 })
        local r, code = H.run_json({ "allocate" }, { cwd = dir })
        assert.are.equal(69, code)
        assert.are.equal("NUMBER_CONFLICT", r.error_code)
        assert.are.equal(text, H.read(path))
        dir, path, text = project(policy, 0, 0, 2, { 1 })
        r, code = H.run_json({ "allocate", "--count", "3" }, { cwd = dir })
        assert.are.equal(69, code)
        assert.are.equal(text, H.read(path))
      end)
    end)
  end

  it("status and check count the room across the whole 64-bit range", function()
    local dir = project(example("conflict-skip.lua"), MAX, MIN, MAX, { MIN + 1 })
    local out, code = H.run({ "status", "--json" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.matches('"room":2,', out, 1, true) -- MAX, then MIN, then MIN + 1 is held
    -- check asks the policy: skipping MIN + 1 is no problem
    local r
    r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    -- the shipped policy would fail there: check says so, after 2 numbers
    os.remove(dir .. "/.opencode/tasknum/conflict.lua")
    r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.equal(1, code)
    assert.are.same({ "ahead", 2 }, { r.error.problems[1].check, r.error.problems[1].room })
    dir = project(example("conflict-skip.lua"), 0, MIN, MAX, {})
    out = H.run({ "status", "--json" }, { cwd = dir })
    assert.matches(string.format('"room":%d,', MAX), out, 1, true) -- 2^64, capped
    r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.equal(0, code)
  end)
end)
