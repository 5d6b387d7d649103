-- bookkeeping_spec.lua: add-task does what real /task commands do (issue
-- 14 item 5): the members they keep in step (last_updated, _last_updated,
-- metadata.total_tasks, task_counts) move in the same write, through the
-- team's bookkeeping policy, only when the state has them; --title and the
-- TODO.md heading in the answer.
local H = require "spec_helper"
local cjson = require "cjson"

local FIXTURES = H.shared .. "/fixtures"

-- diff old new -> { removed = {lines}, added = {lines} }
local function changes(old, new)
  local dir = H.tmpdir()
  H.write(dir .. "/old", old)
  H.write(dir .. "/new", new)
  local c = { added = {}, removed = {} }
  for line in H.sh("diff " .. H.q(dir .. "/old") .. " " .. H.q(dir .. "/new")):gmatch("[^\n]+") do
    if line:sub(1, 2) == "> " then c.added[#c.added + 1] = line:sub(3)
    elseif line:sub(1, 2) == "< " then c.removed[#c.removed + 1] = line:sub(3) end
  end
  return c
end

local function fixture(name)
  local text = H.read(FIXTURES .. "/" .. name)
  if not text then pending("no ../shared/fixtures") end
  return text
end

describe("add-task bookkeeping", function()
  after_each(H.cleanup)

  it("keeps metadata.total_tasks, task_counts and last_updated of the claude fixture in step, one write", function()
    local old = fixture("claude-state-next82.json")
    if not old then return end
    local dir = H.tmpdir()
    local path = dir .. "/specs/state.json"
    H.write(path, old)
    local r, code = H.run_json({ "add-task", "--name", "prove_density", "--description", "d" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ "last_updated", "metadata.total_tasks", "task_counts.total", "task_counts.active",
      "task_counts.not_started" }, r.bookkeeping)
    local new = H.read(path)
    local created = assert(new:match('"created": "([^"]+)"'))
    local c = changes(old, new)
    assert.are.same({ '    "total_tasks": 24,', '  "next_project_number": 82,', '    "active": 12,',
      '    "not_started": 6,', '    "total": 750,', '  "last_updated": "2026-03-19T00:00:00Z",' }, c.removed)
    assert.are.same({ '    "total_tasks": 25,',
      '      "project_number": 82,', '      "project_name": "prove_density",', '      "status": "not_started",',
      '      "created": "' .. created .. '",', '      "description": "d",',
      '      "last_updated": "' .. created .. '"', "    },", "    {",
      '  "next_project_number": 83,', '    "active": 13,', '    "not_started": 7,', '    "total": 751,',
      '  "last_updated": "' .. created .. '",' }, c.added)
    -- one durable write: no temp file, one audit line
    assert.is_nil(H.ls(dir .. "/specs"):find("tmp", 1, true))
  end)

  it("the opencode fixture: _last_updated only (it has no metadata.total_tasks or task_counts)", function()
    local old = fixture("opencode-state-next239.json")
    if not old then return end
    local dir, path = H.project(old)
    local r = H.run_json({ "add-task", "--name", "x", "--field", "status=planned" }, { cwd = dir })
    assert.are.same({ "_last_updated" }, r.bookkeeping)
    local c = changes(old, H.read(path))
    assert.are.same({ '  "_last_updated": "2025-12-29T05:34:54Z",', '  "next_project_number": 239,' }, c.removed)
    local state = cjson.decode(H.read(path))
    assert.is_nil(state.task_counts)
    assert.is_nil(state.metadata)
    -- its first entry has last_updated: so does the new one
    assert.are.equal(state.active_projects[1].created, state.active_projects[1].last_updated)
  end)

  it("adds nothing a state lacks, and leaves members of another type alone", function()
    local old = '{\n  "next_project_number": 3,\n  "metadata": {"total_tasks": "24"},\n'
      .. '  "task_counts": {"total": 1.0, "active": 2, "planned": 0},\n  "last_updated": null,\n'
      .. '  "active_projects": []\n}\n'
    local dir, path = H.project(old)
    local r = H.run_json({ "add-task", "--name", "y", "--field", "status=planned" }, { cwd = dir })
    assert.are.same({ "task_counts.active", "task_counts.planned" }, r.bookkeeping)
    local state = H.read(path)
    assert.matches('"total_tasks": "24"', state, 1, true)
    assert.matches('"total": 1.0, "active": 3, "planned": 1', state, 1, true)
    assert.matches('"last_updated": null', state, 1, true)
    -- a state with none of them: nothing but the counter and the entry
    dir, path = H.project(H.state_text(5))
    r = H.run_json({ "add-task", "--name", "z" }, { cwd = dir })
    assert.is_nil(r.bookkeeping)
  end)

  it("--no-bookkeeping, and --if-absent finding the task, change none of them", function()
    local old = '{\n  "next_project_number": 3,\n  "task_counts": {"total": 1, "active": 1},\n'
      .. '  "active_projects": []\n}\n'
    local dir, path = H.project(old)
    local r = H.run_json({ "add-task", "--name", "a", "--no-bookkeeping" }, { cwd = dir })
    assert.is_nil(r.bookkeeping)
    assert.matches('"total": 1, "active": 1', H.read(path), 1, true)
    r = H.run_json({ "add-task", "--name", "b", "--if-absent" }, { cwd = dir })
    assert.matches('"total": 2, "active": 2', H.read(path), 1, true)
    local before = H.read(path)
    r = H.run_json({ "add-task", "--name", "b", "--if-absent" }, { cwd = dir })
    assert.is_true(r.existing)
    assert.is_nil(r.bookkeeping)
    assert.are.equal(before, H.read(path))
  end)

  it("a team's bookkeeping.lua replaces the shipped one; one that raises writes nothing", function()
    local dir, path = H.project('{\n  "next_project_number": 3,\n  "added": 0,\n  "active_projects": []\n}\n')
    H.write(dir .. "/.opencode/tasknum/bookkeeping.lua", [[
      local edit = require "tasknum.edit"
      return { added = function(txn, task)
        local s, e = txn:span("added")
        edit.set(txn, "added", tonumber(txn.text:sub(s, e)) + 1)
        task.members[#task.members + 1] = { "owner", "team" }
        return { "added" }
      end }]])
    local r, code, err = H.run_json({ "add-task", "--name", "t", "--verbose" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ "added" }, r.bookkeeping)
    assert.matches("tasknum: bookkeeping policy " .. dir .. "/.opencode/tasknum/bookkeeping.lua", err, 1, true)
    local state = cjson.decode(H.read(path))
    assert.are.same({ 1, "team" }, { state.added, state.active_projects[1].owner })
    H.write(dir .. "/.opencode/tasknum/bookkeeping.lua",
      "return { added = function(txn) error('no bookkeeping today') end }\n")
    local before = H.read(path)
    r, code = H.run_json({ "add-task", "--name", "u" }, { cwd = dir })
    assert.are.same({ "SCRIPT_ERROR", 70 }, { r.error_code, code })
    assert.matches("no bookkeeping today", r.error_message, 1, true)
    assert.are.equal(before, H.read(path))
    H.write(dir .. "/.opencode/tasknum/bookkeeping.lua", "return 42\n")
    r, code = H.run_json({ "add-task", "--name", "u" }, { cwd = dir })
    assert.are.same({ "SCRIPT_ERROR", 70 }, { r.error_code, code })
    assert.matches("must return a table with an added", r.error_message, 1, true)
    assert.are.equal(before, H.read(path))
  end)
end)

describe("add-task --title and the TODO.md heading", function()
  after_each(H.cleanup)

  it("the answer carries title and todo_heading; --format todo prints it", function()
    local dir = H.project(H.state_text(82))
    local r = H.run_json({ "add-task", "--name", "fix_modal_evaluator" }, { cwd = dir })
    assert.are.same({ "Fix modal evaluator", "### 82. Fix modal evaluator" }, { r.title, r.todo_heading })
    r = H.run_json({ "add-task", "--name", "t2", "--title", "Prove \"density\"\nof the order" }, { cwd = dir })
    assert.are.same({ "Prove \"density\" of the order", "### 83. Prove \"density\" of the order" },
      { r.title, r.todo_heading })
    local out = H.run({ "add-task", "--name", "t3", "--title", "Third", "--format", "todo" }, { cwd = dir })
    assert.are.equal("### 84. Third\n", out)
    -- an existing task: its number, with the title given now
    r = H.run_json({ "add-task", "--name", "t2", "--if-absent", "--title", "Again" }, { cwd = dir })
    assert.are.same({ true, "### 83. Again" }, { r.existing, r.todo_heading })
  end)

  it("from Lua too: tasknum.add_task{title = ...}", function()
    local _, path = H.project(H.state_text(9))
    local r = require("tasknum").add_task{ state = path, name = "lua_task", title = "From Lua", todo = false }
    assert.are.same({ "success", "### 9. From Lua" }, { r.status, r.todo_heading })
    assert.has_error(function() require("tasknum").add_task{ state = path, name = "x", title = 5 } end)
  end)
end)
