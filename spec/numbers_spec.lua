-- Issue 13.1: a number an active project holds is held however it is
-- written. `jq --arg n 5` writes "5", other tools write 5.0 or 5e0; an
-- entry may give project_number twice, a state active_projects twice. None
-- of them may let the number be handed out again, and `tasknum check`
-- reports each of them.
local H = require "spec_helper"
local core = require "tasknum.core"

-- A state with counter next whose active_projects holds the entries given
-- as JSON texts.
local function state(next, entries, extra)
  return string.format('{\n  "next_project_number": %d,\n  "active_projects": [\n    %s\n  ]%s\n}\n',
    next, table.concat(entries, ",\n    "), extra or "")
end

local function entry(number_text, name)
  return string.format('{"project_number": %s, "project_name": "%s"}', number_text, name or "loose")
end

-- Runs argv on a project holding text: the answer, the exit status, the
-- project folder and the state's path.
local function run(text, args)
  local dir, path = H.project(text)
  local r, code = H.run_json(args, { cwd = dir })
  return r, code, dir, path
end

-- Nothing left behind by a failed step: the state as it was, no temp file,
-- no legacy lock folder.
local function untouched(dir, path, text)
  assert.are.equal(text, H.read(path))
  assert.is_nil(H.ls(dir .. "/.opencode/specs"):match("tmp%-"))
  assert.is_nil(H.ls(dir .. "/.opencode/specs"):match("%.state%.lock"))
end

local function checks_of(r)
  local kinds = {}
  for _, p in ipairs(r.error and r.error.problems or {}) do kinds[#kinds + 1] = p.check end
  table.sort(kinds)
  return table.concat(kinds, " ")
end

-- Every spelling of 5 that the README lists as held.
local SPELLINGS_OF_5 = { '"5"', "5.0", "5e0", "5E+0", "50e-1", "0.5e1", "500e-2", "5.000",
  '"005"', '" 5 "', '"+5"', '"5.0"', '"5e0"', '"\\u0035"' }

describe("numbers written loosely (issue 13.1)", function()
  after_each(H.cleanup)

  describe("core.whole", function()
    local function whole(t) return core.whole(t, 1, #t) end

    it("reads every spelling of a whole number", function()
      for _, t in ipairs(SPELLINGS_OF_5) do assert.are.equal(5, whole(t), t) end
      for _, t in ipairs{ "-0", "-0.0", "0e999", "0.000", '"-0"', '"000"' } do
        assert.are.equal(0, whole(t), t)
        assert.are.equal("integer", math.type(whole(t)))
      end
      assert.are.equal(-5, whole('"-05"'))
      assert.are.equal(math.maxinteger, whole("922337203685477580.7e1"))
      assert.are.equal(math.mininteger, whole("-9223372036854775808.0"))
      assert.are.equal(math.mininteger, whole('"-9223372036854775808"'))
      assert.are.equal(1, whole("0." .. string.rep("0", 200) .. "1e201"))
    end)

    it("refuses what is not a whole number, exactly, and says which", function()
      for _, t in ipairs{ "5.5", "5.0000000000000001", "1e-400", '"5."', '".5"', '"0x5"', '"five"',
          '"5 apples"', '"- 5"', '""', '" "', '"5\\n"', "null", "true", "[5]", '{"n":5}' } do
        assert.are.same({ nil, "not a whole number" }, { whole(t) }, t)
      end
      for _, t in ipairs{ "1e400", "9223372036854775808", "-9223372036854775809", '"1e19"',
          "92233720368547758.08e2", "1.5e400" } do
        assert.are.same({ nil, "out of range" }, { whole(t) }, t)
      end
    end)

    it("agrees with core.integer wherever that one reads a number", function()
      for _, t in ipairs{ "0", "-1", "42", "9223372036854775807", "-9223372036854775808" } do
        assert.are.equal(core.integer(t, 1, #t), whole(t))
      end
    end)
  end)

  describe("the default conflict policy", function()
    for _, spelled in ipairs(SPELLINGS_OF_5) do
      it("does not hand out 5 when an active project holds it as " .. spelled, function()
        local text = state(5, { entry(spelled, "loose_" .. #spelled) })
        local r, code, dir, path = run(text, { "allocate" })
        assert.are.equal(69, code)
        assert.are.equal("NUMBER_CONFLICT", r.error_code)
        assert.are.equal(5, r.error.conflicts[1].project_number)
        untouched(dir, path, text)
      end)
    end

    it("holds 0 written -0, -0.0 or \"-0\"", function()
      for _, spelled in ipairs{ "-0", "-0.0", '"-0"' } do
        local text = state(0, { entry(spelled) })
        local r, code = run(text, { "allocate" })
        assert.are.equal(69, code, spelled)
        assert.are.equal(0, r.error.conflicts[1].project_number)
      end
    end)

    it("holds nothing for values that are no whole number (5.5, \"five\", 5.0000000000000001)", function()
      local text = state(5, { entry("5.5"), entry('"five"'), entry("5.0000000000000001"), entry('"0x5"') })
      local r, code = run(text, { "allocate" })
      assert.are.equal(0, code)
      assert.are.same({ 5 }, r.allocated_numbers)
    end)

    it("holds every value of a project_number given twice (jq reads the last, others the first)", function()
      local text = state(5, { '{"project_number": 7, "project_name": "twice", "project_number": "5"}' })
      local r, code, dir, path = run(text, { "allocate" })
      assert.are.equal(69, code)
      assert.are.equal("twice", r.error.conflicts[1].project_name)
      untouched(dir, path, text)
      text = state(7, { '{"project_number": 7, "project_name": "twice", "project_number": "5"}' })
      r, code = run(text, { "allocate" })
      assert.are.equal(69, code)
      assert.are.equal(7, r.error.conflicts[1].project_number)
      text = state(6, { '{"project_number": 7, "project_number": 5, "project_number": 6}' })
      r, code = run(text, { "allocate" })
      assert.are.equal(69, code, "the middle one of three")
    end)

    it("refuses a state with active_projects twice: STATE_CORRUPT, untouched, a backup kept", function()
      local text = state(5, { entry("5") }, ',\n  "active_projects": []')
      local r, code, dir, path = run(text, { "allocate" })
      assert.are.equal(65, code)
      assert.are.equal("STATE_CORRUPT", r.error_code)
      assert.matches("active_projects appears twice", r.error_message, 1, true)
      untouched(dir, path, text)
      assert.are.equal(text, H.read(path .. ".backup"))
      r, code = run(text, { "add-task", "--name", "new_one" })
      assert.are.equal(65, code)
      assert.are.equal("STATE_CORRUPT", r.error_code)
    end)

    it("counts loose spellings in status's room and next_active", function()
      local r = run(state(3, { entry('"5"', "five"), entry("9") }), { "status", "--json" })
      assert.are.equal(2, r.room)
      assert.are.same({ project_number = 5, project_name = "five" }, r.next_active)
    end)

    it("add-task --if-absent answers an existing task whose number is written \"5\"", function()
      local text = state(8, { entry('"5"', "fix_parser") })
      local r, code, dir, path = run(text, { "add-task", "--name", "fix_parser", "--if-absent" })
      assert.are.equal(0, code)
      assert.are.equal(5, r.project_number)
      assert.is_true(r.existing)
      untouched(dir, path, text)
    end)
  end)

  describe("team policies through txn:held", function()
    local function example(name) return H.read(H.root .. "/scripts/examples/" .. name) end

    it("conflict-skip.lua skips numbers written loosely", function()
      local text = state(5, { entry('"6"'), entry("7.0"), entry("8e0") })
      local dir, path = H.project(text)
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-skip.lua"))
      local r, code = H.run_json({ "allocate", "--count", "2" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 5, 9 }, r.allocated_numbers)
      assert.are.same({ 6, 7, 8 }, r.skipped_numbers)
      assert.matches('"next_project_number": 10,', H.read(path), 1, true)
    end)

    it("conflict-pending.lua refuses pending_tasks given twice instead of seeing none", function()
      local text = state(4, { entry("2") }, ',\n  "pending_tasks": [{"project_number": 4}],\n'
        .. '  "pending_tasks": []')
      local dir, path = H.project(text)
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-pending.lua"))
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(65, code)
      assert.are.equal("STATE_CORRUPT", r.error_code)
      assert.matches("pending_tasks appears twice", r.error_message, 1, true)
      untouched(dir, path, text)
      assert.are.equal(text, H.read(path .. ".backup"))
    end)
  end)

  describe("the merge driver", function()
    it("sees 5 given to two tasks when one branch wrote it \"5\"", function()
      local dir = H.tmpdir()
      local function side(name, entries) H.write(dir .. "/" .. name, state(6, entries)) end
      H.write(dir .. "/base", '{\n  "next_project_number": 5,\n  "active_projects": [\n  ]\n}\n')
      side("ours", { entry("5", "ours") })
      side("theirs", { entry('"5"', "theirs") })
      local _, code, err = H.run({ "merge", dir .. "/base", dir .. "/ours", dir .. "/theirs" })
      assert.are.equal(1, code)
      assert.matches("project number 5 was given to two different tasks", err, 1, true)
    end)
  end)

  describe("tasknum check", function()
    it("reports each loose spelling, with the number it holds", function()
      local r, code = run(state(100, { entry('"5"', "a"), entry("6.0", "b"), entry("-0", "c"), entry("7", "d") }),
        { "check" })
      assert.are.equal(1, code)
      assert.are.equal("CHECK_FAILED", r.error_code)
      assert.are.equal("loose loose loose", checks_of(r))
      local p = r.error.problems
      assert.are.same({ 5, '"5"' }, { p[1].project_number, p[1].written })
      assert.are.same({ 6, "6.0" }, { p[2].project_number, p[2].written })
      assert.are.same({ 0, "-0" }, { p[3].project_number, p[3].written })
      assert.matches('active project entry 1 (a) writes its project_number as "5"', p[1].message, 1, true)
    end)

    it("reports a project_number that holds no number", function()
      local r, code = run(state(100, { entry("5.5"), entry('"TBD"'), entry("null") }), { "check" })
      assert.are.equal(1, code)
      assert.are.equal("not-whole not-whole not-whole", checks_of(r))
    end)

    it("reports keys given twice, in an entry and at the top level", function()
      local text = state(100, { '{"project_number": 7, "project_name": "twice", "project_number": "5"}',
        '{"project_number": 8, "status": "a", "status": "b"}' }, ',\n  "pending_tasks": [],\n  "pending_tasks": []')
      local r, code = run(text, { "check" })
      assert.are.equal(1, code)
      assert.are.equal("duplicate-key duplicate-key duplicate-key loose", checks_of(r))
      local keys = {}
      for _, p in ipairs(r.error.problems) do
        if p.check == "duplicate-key" then keys[#keys + 1] = p.key .. "@" .. tostring(math.tointeger(p.entry)) end
      end
      table.sort(keys)
      assert.are.same({ "pending_tasks@nil", "project_number@1", "status@2" }, keys)
    end)

    it("finds the number held twice when one of them is written loosely", function()
      local r, code = run(state(100, { entry("5", "a"), entry('"5"', "b") }), { "check" })
      assert.are.equal(1, code)
      assert.are.equal("duplicate loose", checks_of(r))
    end)

    it("finds the counter held by a loose spelling", function()
      local r, code = run(state(5, { entry("5e0", "a") }), { "check" })
      assert.are.equal(1, code)
      assert.are.equal("ahead loose", checks_of(r))
    end)

    it("reports active_projects twice as not well-formed", function()
      local r, code = run(state(5, { entry("1") }, ',\n  "active_projects": []'), { "check" })
      assert.are.equal(65, code)
      assert.are.equal("well-formed", checks_of(r))
      assert.matches("active_projects appears twice", r.error.problems[1].message, 1, true)
    end)

    it("reports an active_projects that is not an array", function()
      local r, code = run('{"next_project_number": 5, "active_projects": {"5": {"project_number": 5}}}\n',
        { "check" })
      assert.are.equal(1, code)
      assert.are.equal("not-array", checks_of(r))
    end)

    it("lists the first 1000 problems, counts the rest, and keeps those that stop an allocation", function()
      local entries = {}
      for i = 1, 1200 do entries[i] = entry(string.format('"%d"', 100 + i), "t" .. i) end
      local r, code, _, path = run(state(101, entries), { "check" })
      assert.are.equal(1, code)
      assert.are.equal(1000, #r.error.problems)
      assert.are.equal(201, r.error.problems_left_out) -- 1200 loose + 1 ahead, less 1000
      assert.are.equal("ahead", r.error.problems[1].check)
      assert.matches("^1201 problems in " .. path:gsub("%p", "%%%0") .. ": the counter 101 is held", r.error_message)
      assert.matches("; and 1191 more %(error.problems lists the first 1000%)$", r.error_message)
    end)

    it("passes a state written plainly", function()
      local r, code = run(state(100, { entry("5"), entry("6") }), { "check" })
      assert.are.equal(0, code)
      assert.are.same({}, r.problems)
    end)
  end)
end)
