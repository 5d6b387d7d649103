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
    local cmd = ""
    for i = 1, 12 do
      cmd = cmd .. string.format("%s add-task --name t%d --timeout 60 --format plain > %s/out%d 2>&1 & ",
        H.q(H.bin), i, H.q(dir), i)
    end
    os.execute("cd " .. H.q(dir) .. " || exit 1; " .. cmd .. "wait")
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
      it_(name .. ": only the counter line changes and the entry's lines are added", function()
        local old = assert(H.read(fixtures .. "/" .. name))
        local dir = H.tmpdir()
        local path = dir .. (name:match("^opencode") and "/.opencode/specs/state.json" or "/specs/state.json")
        H.write(path, old)
        local r, code = H.run_json({ "add-task", "--name", "tasknum_check", "--description",
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
