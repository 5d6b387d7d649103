-- tasknum add-task: a number and the new active_projects entry in one
-- locked, durable write; every other byte of the state stays.
local H = require "spec_helper"

local function lines(text)
  local list = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do list[#list + 1] = line end
  if text:sub(-1) == "\n" then list[#list] = nil end
  return list
end

-- What changed from old to new, as `diff` says it: { changed = {...},
-- added = {...}, removed = {...} } line texts.
local function changes(old, new)
  local dir = H.tmpdir()
  H.write(dir .. "/old", old)
  H.write(dir .. "/new", new)
  local out = H.sh("diff " .. H.q(dir .. "/old") .. " " .. H.q(dir .. "/new"))
  local c = { added = {}, removed = {}, hunks = {} }
  for line in out:gmatch("[^\n]+") do
    if line:match("^%d") then c.hunks[#c.hunks + 1] = line
    elseif line:sub(1, 2) == "> " then c.added[#c.added + 1] = line:sub(3)
    elseif line:sub(1, 2) == "< " then c.removed[#c.removed + 1] = line:sub(3)
    end
  end
  return c
end

-- Asserts that new is old with the counter line changed and `count` lines
-- added, nothing else; returns the added lines.
local function assert_only_counter_and_insert(old, new, count)
  local c = changes(old, new)
  assert.are.equal(1, #c.removed, "more than the counter line changed: " .. table.concat(c.removed, "\n"))
  assert.matches('"next_project_number"', c.removed[1], 1, true)
  local counter_line
  for i, l in ipairs(c.added) do
    if l:find('"next_project_number"', 1, true) then counter_line = table.remove(c.added, i) break end
  end
  assert.is_truthy(counter_line, "the counter line is not among the changes")
  if count then assert.are.equal(count, #c.added) end
  return c.added
end

-- Starts n runs of the binary at once in dir, run i with the arguments
-- args(i) gives (shell words) and --timeout 60, its output in dir/out<i>;
-- returns when all have ended.
local function at_once(dir, n, args)
  local cmd = ""
  for i = 1, n do
    cmd = cmd .. string.format("%s %s --timeout 60 > %s/out%d 2>&1 & ", H.q(H.bin), args(i), H.q(dir), i)
  end
  os.execute("cd " .. H.q(dir) .. " || exit 1; " .. cmd .. "wait")
end

describe("add-task", function()
  after_each(H.cleanup)

  it("inserts the entry at the front of active_projects, indented like its neighbours", function()
    local old = H.state_text(7, { active = { 3, 4 } })
    local dir, path = H.project(old)
    local r, code = H.run_json({ "add-task", "--name", "fix_parser", "--description", "Fix a/b \"parser\"",
      "--field", "language=lean4", "--field", "dependencies:=[3, 4]", "--field", "effort:=1.0" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal("success", r.status)
    assert.are.same({ 7 }, r.allocated_numbers)
    assert.are.equal(7, r.project_number)
    assert.are.equal("fix_parser", r.project_name)
    local new = H.read(path)
    local added = assert_only_counter_and_insert(old, new, 10)
    local created = assert(new:match('"created": "(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ)"'))
    local expected = old:gsub('"next_project_number": 7', '"next_project_number": 8')
      :gsub('"active_projects": %[\n', '"active_projects": [\n' .. table.concat({
        '    {',
        '      "project_number": 7,',
        '      "project_name": "fix_parser",',
        '      "status": "not_started",',
        '      "created": "' .. created .. '",',
        '      "description": "Fix a/b \\"parser\\"",',
        '      "language": "lean4",',
        '      "dependencies": [3, 4],',
        '      "effort": 1.0',
        '    },', '' }, "\n"))
    assert.are.equal(expected, new)
    assert.are.equal(10, #added)
  end)

  it("--field status=... replaces the default in place; project_number cannot be set", function()
    local dir, path = H.project(H.state_text(1, { active = { 9 } }))
    local _, code = H.run_json({ "add-task", "--name", "x", "--field", "status=planned" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.matches('"project_name": "x",\n      "status": "planned",\n      "created"', H.read(path), 1, true)
    local r
    r, code = H.run_json({ "add-task", "--name", "y", "--field", "project_number=3" }, { cwd = dir })
    assert.are.equal(64, code)
    assert.matches("cannot set project_number", r.error_message, 1, true)
  end)

  it("refuses bad arguments before taking the lock, writing nothing", function()
    local old = H.state_text(1)
    local dir, path = H.project(old)
    for _, args in ipairs({
      { "add-task" },
      { "add-task", "--name", "has space" },
      { "add-task", "--name", "x", "--field", "novalue" },
      { "add-task", "--name", "x", "--field", "deps:=[1," },
      { "add-task", "--name", "x", "extra" },
      { "add-task", "--name", "x", "--todo", "T.md", "--no-todo" },
      { "add-task", "--name", "x", "--format", "nope" },
    }) do
      local r, code = H.run_json(args, { cwd = dir })
      assert.are.equal(64, code, table.concat(args, " "))
      assert.are.equal("INVALID_ARGUMENT", r.error_code)
    end
    assert.are.equal(old, H.read(path))
  end)

  it("fills an empty active_projects with the file's indentation", function()
    local old = '{\n    "next_project_number": 5,\n    "active_projects": []\n}\n'
    local dir, path = H.project(old)
    local _, code = H.run_json({ "add-task", "--name", "first" }, { cwd = dir })
    assert.are.equal(0, code)
    local created = H.read(path):match('"created": "([^"]+)"')
    assert.are.equal('{\n    "next_project_number": 6,\n    "active_projects": [\n'
      .. '        {\n            "project_number": 5,\n            "project_name": "first",\n'
      .. '            "status": "not_started",\n            "created": "' .. created .. '"\n'
      .. '        }\n    ]\n}\n', H.read(path))
  end)

  it("adds active_projects when the state has none", function()
    local dir, path = H.project('{\n  "next_project_number": 5,\n  "x": "a/b"\n}\n')
    local _, code = H.run_json({ "add-task", "--name", "first" }, { cwd = dir })
    assert.are.equal(0, code)
    local new = H.read(path)
    local created = new:match('"created": "([^"]+)"')
    assert.are.equal('{\n  "next_project_number": 6,\n  "x": "a/b",\n  "active_projects": [\n'
      .. '    {\n      "project_number": 5,\n      "project_name": "first",\n'
      .. '      "status": "not_started",\n      "created": "' .. created .. '"\n    }\n  ]\n}\n', new)
  end)

  it("an active_projects that is not an array: STATE_CORRUPT naming it, nothing written; null takes the task", function()
    for _, v in ipairs({ "{}", '"none"', "7" }) do
      local old = '{\n  "next_project_number": 5,\n  "active_projects": ' .. v .. '\n}\n'
      local dir, path = H.project(old)
      local r, code = H.run_json({ "add-task", "--name", "first" }, { cwd = dir })
      assert.are.equal("STATE_CORRUPT", r.error_code, v .. ": " .. tostring(r.error_message))
      assert.are.equal(65, code)
      assert.matches("active_projects is not an array", r.error_message, 1, true)
      assert.are.equal(old, H.read(path))
      assert.is_nil(H.ls(dir .. "/.opencode/specs"):find(".tmp-", 1, true))
    end
    local dir, path = H.project('{\n  "next_project_number": 5,\n  "active_projects": null\n}\n')
    local r, code = H.run_json({ "add-task", "--name", "first" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    local created = H.read(path):match('"created": "([^"]+)"')
    assert.are.equal('{\n  "next_project_number": 6,\n  "active_projects": [\n'
      .. '    {\n      "project_number": 5,\n      "project_name": "first",\n'
      .. '      "status": "not_started",\n      "created": "' .. created .. '"\n    }\n  ]\n}\n', H.read(path))
  end)

  it("keeps a one-line state on one line, and CRLF line endings", function()
    local dir, path = H.project('{"next_project_number":5,"active_projects":[{"project_number":1,"project_name":"a"}]}')
    H.run_json({ "add-task", "--name", "b" }, { cwd = dir })
    local new = H.read(path)
    local created = new:match('"created":"([^"]+)"')
    assert.are.equal('{"next_project_number":6,"active_projects":[{"project_number":5,"project_name":"b",'
      .. '"status":"not_started","created":"' .. created .. '"},{"project_number":1,"project_name":"a"}]}', new)

    local crlf = H.state_text(2, { active = { 1 } }):gsub("\n", "\r\n")
    H.write(path, crlf)
    H.run_json({ "add-task", "--name", "c" }, { cwd = dir })
    new = H.read(path)
    assert.is_nil(new:gsub("\r\n", ""):find("\n"), "a bare LF crept in")
    assert.matches('"active_projects": [\r\n    {\r\n      "project_number": 2,\r\n', new, 1, true)
  end)

  it("uses the team's conflict policy: NUMBER_CONFLICT by default, skipping with conflict-skip.lua", function()
    local old = H.state_text(3, { active = { 3, 4 } })
    local dir, path = H.project(old)
    local r, code = H.run_json({ "add-task", "--name", "x" }, { cwd = dir })
    assert.are.equal(69, code)
    assert.are.equal("NUMBER_CONFLICT", r.error_code)
    assert.are.equal(old, H.read(path))
    H.write(dir .. "/.opencode/tasknum/conflict.lua", H.read(H.root .. "/scripts/examples/conflict-skip.lua"))
    r, code = H.run_json({ "add-task", "--name", "x" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal(5, r.project_number)
    assert.are.same({ 3, 4 }, r.skipped_numbers)
    assert.matches('"next_project_number": 6,', H.read(path), 1, true)
  end)

  it("--format plain and todo", function()
    local dir = H.project(H.state_text(81))
    local out, code = H.run({ "add-task", "--name", "fp_witness_theorem", "--format", "todo" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal("### 81. Fp witness theorem\n", out)
    out = H.run({ "add-task", "--name", "next_one", "--format", "plain" }, { cwd = dir })
    assert.are.equal("82\n", out)
  end)

  it("runs 12 at once: distinct numbers, every entry there, the counter up by 12", function()
    local dir, path = H.project(H.state_text(100, { active = { 1 } }))
    at_once(dir, 12, function(i) return "add-task --name t" .. i .. " --format plain" end)
    local seen = {}
    for i = 1, 12 do
      local n = tonumber(H.read(dir .. "/out" .. i):match("^(%d+)\n$"))
      assert.is_truthy(n, "run " .. i .. ": " .. H.read(dir .. "/out" .. i))
      assert.is_nil(seen[n], "number twice: " .. n)
      seen[n] = i
    end
    local state = require("cjson").decode(H.read(path))
    assert.are.equal(112, state.next_project_number)
    assert.are.equal(13, #state.active_projects)
    for _, p in ipairs(state.active_projects) do
      if p.project_number ~= 1 then
        assert.are.equal("t" .. seen[p.project_number], p.project_name)
      end
    end
  end)

  describe("--if-absent (safe to retry)", function()
    it("adds the task once; again, answers its number with existing = true and writes nothing", function()
      local dir, path = H.project(H.state_text(40, { active = { 3 } }))
      H.write(dir .. "/.opencode/specs/TODO.md", "---\nnext_project_number: 40\n---\n# TODO\n")
      local r, code = H.run_json({ "add-task", "--name", "fix_parser", "--if-absent" }, { cwd = dir })
      assert.are.equal(0, code, r.error_message)
      assert.are.same({ 40 }, r.allocated_numbers)
      assert.are.equal(40, r.project_number)
      assert.are.equal(false, r.existing)
      local after_first, todo_first = H.read(path), H.read(dir .. "/.opencode/specs/TODO.md")
      assert.matches("next_project_number: 41", todo_first, 1, true)

      r, code = H.run_json({ "add-task", "--name", "fix_parser", "--if-absent",
        "--description", "a retry with other text" }, { cwd = dir })
      assert.are.equal(0, code, r.error_message)
      assert.are.equal(true, r.existing)
      assert.are.equal(40, r.project_number)
      assert.are.equal("fix_parser", r.project_name)
      assert.are.same({}, r.allocated_numbers)
      assert.are.equal(0, r.allocation_count)
      assert.are.equal(41, r.previous_next_number)
      assert.are.equal(41, r.new_next_number)
      assert.are.equal(after_first, H.read(path), "the state was written")
      assert.are.equal(todo_first, H.read(dir .. "/.opencode/specs/TODO.md"))
      -- the attempt is logged, naming the task it found
      local log = H.read(dir .. "/.opencode/specs/.state.json.audit.jsonl")
      local last = require("cjson").decode(log:match("([^\n]+)\n$"))
      assert.are.equal(40, last.existing_project_number)
      assert.are.equal(0, #last.numbers)

      -- plain and todo print the task that is there
      local out = H.run({ "add-task", "--name", "fix_parser", "--if-absent", "--format", "plain" }, { cwd = dir })
      assert.are.equal("40\n", out)
      out = H.run({ "add-task", "--name", "fix_parser", "--if-absent", "--format", "todo" }, { cwd = dir })
      assert.are.equal("### 40. Fix parser\n", out)
      assert.are.equal(after_first, H.read(path))

      -- without --if-absent the same name is added again (a second task)
      r = H.run_json({ "add-task", "--name", "fix_parser" }, { cwd = dir })
      assert.are.equal(41, r.project_number)
      assert.is_nil(r.existing)
      local state = require("cjson").decode(H.read(path))
      assert.are.equal(3, #state.active_projects)
    end)

    it("finds the task whatever its status, and only an entry that holds a number", function()
      local old = '{\n  "next_project_number": 9,\n  "active_projects": [\n'
        .. '    {"project_name": "no_number", "status": "planned"},\n'
        .. '    {"project_number": 7, "project_name": "done_one", "status": "completed"}\n  ]\n}\n'
      local dir, path = H.project(old)
      local r = H.run_json({ "add-task", "--name", "done_one", "--if-absent" }, { cwd = dir })
      assert.are.equal(true, r.existing)
      assert.are.equal(7, r.project_number)
      assert.are.equal(old, H.read(path))
      r = H.run_json({ "add-task", "--name", "no_number", "--if-absent" }, { cwd = dir })
      assert.are.equal(false, r.existing)
      assert.are.equal(9, r.project_number)
    end)

    it("8 retries at once add one entry, and all answer its number", function()
      local dir, path = H.project(H.state_text(200, { active = { 1 } }))
      at_once(dir, 8, function() return "add-task --name same_task --if-absent" end)
      local new = 0
      for i = 1, 8 do
        local r = require("cjson").decode(H.read(dir .. "/out" .. i))
        assert.are.equal("success", r.status, H.read(dir .. "/out" .. i))
        assert.are.equal(200, math.tointeger(r.project_number))
        if r.existing == false then new = new + 1 else assert.are.equal(true, r.existing) end
      end
      assert.are.equal(1, new)
      local state = require("cjson").decode(H.read(path))
      assert.are.equal(201, state.next_project_number)
      assert.are.equal(2, #state.active_projects)
    end)
  end)

  describe("from Lua: tasknum.add_task", function()
    local tasknum = require "tasknum"
    local edit = require "tasknum.edit"

    it("takes fields as ordered pairs or as a table, and the same answer as the CLI", function()
      local _, path = H.project(H.state_text(5, { active = { 1 } }))
      local r = tasknum.add_task{ state = path, name = "from_lua", description = "x",
        fields = { { "language", "lean4" }, { "effort", edit.raw("1.0") }, { "deps", { 1, 2 } } } }
      assert.are.equal("success", r.status, r.error_message)
      assert.are.equal(5, r.project_number)
      assert.are.equal("from_lua", r.project_name)
      assert.are.same({ 5 }, r.allocated_numbers)
      assert.matches('"description": "x",\n      "language": "lean4",\n      "effort": 1.0,\n'
        .. '      "deps": [\n        1,\n        2\n      ]\n    },', H.read(path), 1, true)
      r = tasknum.add_task{ state = path, name = "map_fields", fields = { zeta = true, alpha = "a" } }
      assert.are.equal(6, r.project_number)
      assert.matches('"alpha": "a",\n      "zeta": true\n', H.read(path), 1, true)
    end)

    it("answers INVALID_ARGUMENT for a bad name or field, writing nothing; raises on misuse", function()
      local old = H.state_text(5)
      local _, path = H.project(old)
      for _, o in ipairs({ { name = "has space" }, {}, { name = "x", fields = { { "project_number", 3 } } },
                           { name = "x", fields = { { "", "v" } } } }) do
        o.state = path
        local r = tasknum.add_task(o)
        assert.are.equal("INVALID_ARGUMENT", r.error_code)
        assert.are.equal(path, r.state_path)
      end
      assert.are.equal(old, H.read(path))
      assert.has_error(function() tasknum.add_task{ state = path, name = 5 } end)
      assert.has_error(function() tasknum.add_task{ state = path, name = "x", if_absent = "yes" } end)
      assert.has_error(function() tasknum.add_task{ state = path, name = "x", fields = "a=b" } end)
      assert.are.equal(old, H.read(path))
    end)

    it("if_absent = true: the existing number, nothing written", function()
      local _, path = H.project(H.state_text(5, { active = { 3 } }))
      local before = H.read(path)
      local r = tasknum.add_task{ state = path, name = "task_3", if_absent = true }
      assert.are.equal(true, r.existing)
      assert.are.equal(3, r.project_number)
      assert.are.equal(before, H.read(path))
    end)
  end)

  describe("on the real state files in ../shared/fixtures", function()
    local fixtures = H.shared .. "/fixtures"
    local have = H.read(fixtures .. "/README.md") ~= nil

    local names = {}
    if have then
      for name in H.sh("ls " .. H.q(fixtures)):gmatch("[^\n]+") do
        if name:match("%.json$") then names[#names + 1] = name end
      end
    else
      names[1] = "(none: no ../shared/fixtures)"
    end
    for _, name in ipairs(names) do
      local it_ = have and it or pending
      it_(name .. ": with --no-bookkeeping only the counter line changes and the entry's lines are added", function()
        local old = assert(H.read(fixtures .. "/" .. name))
        local dir = H.tmpdir()
        local path = dir .. (name:match("^opencode") and "/.opencode/specs/state.json" or "/specs/state.json")
        H.write(path, old)
        local r, code = H.run_json({ "add-task", "--name", "tasknum_check", "--no-bookkeeping", "--description",
          "Entry from tasknum's spec: a/b, ünïcode" }, { cwd = dir })
        local decoded = require("cjson").decode(old)
        local range = decoded.project_numbering or { min = 0, max = 999 }
        local counter = decoded.next_project_number
        if counter < range.min or counter > range.max then
          -- past the range: refused, untouched
          assert.are.equal(65, code)
          assert.are.equal("STATE_CORRUPT", r.error_code)
          assert.are.equal(old, H.read(path))
          return
        end
        assert.are.equal(0, code, r.error_message)
        local new = H.read(path)
        assert_only_counter_and_insert(old, new, 7)
        local n = math.tointeger(old:match('"next_project_number": (%d+)'))
        assert.are.equal(n, math.tointeger(r.project_number))
        -- with the counter put back, new is old with one block of lines
        -- right after `"active_projects": [`, indented like the element
        -- that follows it
        local back = new:gsub('"next_project_number": ' .. (n + 1) .. ",", '"next_project_number": ' .. n .. ",")
        local _, p = old:find('"active_projects": [\n', 1, true)
        local block = back:sub(p + 1, p + #back - #old)
        assert.are.equal(old, back:sub(1, p) .. back:sub(p + #block + 1))
        local indent = old:match("^[ \t]*", p + 1)
        local got = lines(block)
        assert.are.equal(7, #got)
        assert.are.equal(indent .. "{", got[1])
        assert.are.equal(indent .. '  "project_number": ' .. n .. ",", got[2])
        assert.are.equal(indent .. '  "description": "Entry from tasknum\'s spec: a/b, ünïcode"', got[6])
        assert.are.equal(indent .. "},", got[7])
      end)
    end
  end)
end)
