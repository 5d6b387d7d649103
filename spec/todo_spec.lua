-- TODO.md in step with the state: the front matter's next_project_number:
-- follows every counter move under the same lock, written before the
-- state so that a failure or a crash between the two hands out nothing, and
-- `tasknum todo` finds and repairs a drift.
local H = require "spec_helper"
local todo = require "tasknum.todo"

local HEAD = "---\nnext_project_number: %d\nrepository_health:\n  overall_score: 92\n---\n\n# TODO\n\n"
  .. "## Tasks\n\nnext_project_number: 1 (outside the front matter: not touched)\n"

local function project_with_todo(next, todo_next)
  local dir, path = H.project(H.state_text(next))
  local todo_path = dir .. "/.opencode/specs/TODO.md"
  H.write(todo_path, HEAD:format(todo_next or next))
  return dir, path, todo_path
end

describe("todo", function()
  after_each(H.cleanup)

  describe("counter()", function()
    it("finds the number on the front matter's line only", function()
      local text = HEAD:format(81)
      local n, s, e = todo.counter(text)
      assert.are.equal(81, n)
      assert.are.equal("81", text:sub(s, e))
      assert.are.equal(81, (todo.counter(text:gsub("\n", "\r\n"))))
      assert.is_nil(todo.counter("# TODO\nnext_project_number: 3\n"))
      assert.is_nil(todo.counter("---\ntitle: x\n---\nnext_project_number: 3\n"))
      assert.is_nil(todo.counter("---\nnext_project_number: soon\n---\n"))
    end)

    it("reads the shared fixture's front matter", function()
      local text = H.read(H.shared .. "/fixtures/claude-TODO-head.md")
      if not text then return pending("no ../shared/fixtures") end
      assert.are.equal(81, (todo.counter(text)))
    end)
  end)

  it("allocate and add-task keep the TODO.md beside the state in step; one line changes", function()
    local dir, path, todo_path = project_with_todo(81)
    local r, code = H.run_json({ "allocate", "--count", "2" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal(todo_path, r.todo_path)
    assert.are.equal(HEAD:format(83), H.read(todo_path))
    r, code = H.run_json({ "add-task", "--name", "x" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal(HEAD:format(84), H.read(todo_path))
    assert.matches('"next_project_number": 84,', H.read(path), 1, true)
  end)

  it("follows a counter into the negative part of a range, and on from there", function()
    local dir = H.project(H.state_text(9, { min = -10, max = 10 }))
    local todo_path = dir .. "/.opencode/specs/TODO.md"
    H.write(todo_path, HEAD:format(9))
    local r, code = H.run_json({ "allocate", "--count", "3" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 9, 10, -10 }, r.allocated_numbers)
    assert.are.equal(HEAD:format(-9), H.read(todo_path))
    H.run_json({ "allocate" }, { cwd = dir }) -- a "-9" it wrote was a line it could not read
    assert.are.equal(HEAD:format(-8), H.read(todo_path))
    r, code = H.run_json({ "todo", "--check" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
  end)

  it("repairs a drifted TODO.md on the next allocation (82 vs 81, as in the fixtures)", function()
    local dir, _, todo_path = project_with_todo(82, 81)
    H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal(HEAD:format(83), H.read(todo_path))
  end)

  it("--no-todo leaves it; --todo PATH names another; a TODO.md without the line is left alone", function()
    local dir, _, todo_path = project_with_todo(5)
    H.run_json({ "allocate", "--no-todo" }, { cwd = dir })
    assert.are.equal(HEAD:format(5), H.read(todo_path))
    local elsewhere = H.tmpdir() .. "/TODO.md"
    H.write(elsewhere, HEAD:format(0))
    local r = H.run_json({ "allocate", "--todo", elsewhere }, { cwd = dir })
    assert.are.equal(elsewhere, r.todo_path)
    assert.are.equal(HEAD:format(7), H.read(elsewhere))
    H.write(todo_path, "# TODO\n\nno front matter\n")
    r = H.run_json({ "allocate" }, { cwd = dir })
    assert.is_nil(r.todo_path)
    assert.are.equal("# TODO\n\nno front matter\n", H.read(todo_path))
  end)

  it("an explicit --todo that does not exist allocates nothing", function()
    local dir, path = H.project(H.state_text(5))
    local r, code = H.run_json({ "allocate", "--todo", dir .. "/missing.md" }, { cwd = dir })
    assert.are.equal(64, code)
    assert.matches("no such file", r.error_message, 1, true)
    assert.are.equal(H.state_text(5), H.read(path))
  end)

  describe("when the state cannot be written", function()
    local core = require "tasknum.core"
    local tasknum = require "tasknum"
    local replace = core.replace
    after_each(function() core.replace = replace end)

    it("TODO.md gets its old text back and nothing is handed out", function()
      local _, path, todo_path = project_with_todo(10)
      core.replace = function(p, ...)
        if p == path then return nil, p .. ": No space left on device", 28 end
        return replace(p, ...)
      end
      local r = tasknum.allocate{ state = path }
      assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
      assert.are.equal(HEAD:format(10), H.read(todo_path))
      assert.are.equal(H.state_text(10), H.read(path))
    end)

    it("and TODO.md cannot be written: the state is not written either", function()
      local _, path, todo_path = project_with_todo(10)
      core.replace = function(p, ...)
        if p == todo_path then return nil, p .. ": Permission denied", 13 end
        return replace(p, ...)
      end
      local r = tasknum.allocate{ state = path }
      assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
      assert.matches("TODO.md", r.error_message, 1, true)
      assert.are.equal(H.state_text(10), H.read(path))
    end)
  end)

  describe("tasknum todo", function()
    it("--check says whether the two agree (exit 0) or not (TODO_AHEAD, exit 1, with advice)", function()
      local dir, _, todo_path = project_with_todo(12)
      local r, code = H.run_json({ "todo", "--check" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.is_true(r.in_step)
      -- what a crash between the two writes leaves: TODO.md ahead
      H.write(todo_path, HEAD:format(14))
      local err
      r, code, err = H.run_json({ "todo", "--check" }, { cwd = dir })
      assert.are.equal(1, code)
      assert.are.equal("error", r.status)
      assert.are.equal("TODO_AHEAD", r.error_code)
      assert.is_false(r.in_step)
      assert.are.equal(14, r.todo_next)
      assert.are.equal(12, r.state_next)
      assert.are.equal(14, r.error.todo_next)
      assert.matches("ahead", r.error.details, 1, true)
      assert.matches("tasknum: TODO_AHEAD: .*`tasknum todo`", err)
      assert.are.equal(HEAD:format(14), H.read(todo_path))
    end)

    it("sets TODO.md to the state's counter, under the lock", function()
      local dir, path, todo_path = project_with_todo(12, 14)
      local r, code = H.run_json({ "todo" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.is_true(r.repaired)
      assert.are.equal(HEAD:format(12), H.read(todo_path))
      assert.are.equal(H.state_text(12), H.read(path))
      r = H.run_json({ "todo" }, { cwd = dir })
      assert.is_false(r.repaired)
    end)

    it("a counter past 64 bits is out of step: --check names it, an allocation puts the state's in", function()
      local dir, path, todo_path = project_with_todo(12)
      local huge = HEAD:format(12):gsub("next_project_number: 12", "next_project_number: 99999999999999999999", 1)
      H.write(todo_path, huge)
      local r, code, err = H.run_json({ "todo", "--check" }, { cwd = dir })
      assert.are.equal(1, code)
      assert.are.equal("TODO_AHEAD", r.error_code)
      assert.are.equal("99999999999999999999", r.todo_next)
      assert.matches("next_project_number: 99999999999999999999 is ahead of the state's 12", r.error_message, 1, true)
      assert.matches("64-bit", r.error.details, 1, true)
      assert.matches("tasknum: TODO_AHEAD", err, 1, true)
      assert.are.equal(huge, H.read(todo_path))
      H.write(todo_path, (huge:gsub("99999999999999999999", "-99999999999999999999")))
      r = H.run_json({ "todo", "--check" }, { cwd = dir })
      assert.are.equal("TODO_BEHIND", r.error_code)
      r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code, r.error_message)
      assert.are.same({ 12 }, r.allocated_numbers)
      assert.are.equal(HEAD:format(13), H.read(todo_path))
      assert.are.equal(H.state_text(13), H.read(path))
    end)

    it("a project without the line is INVALID_ARGUMENT", function()
      local dir = H.project(H.state_text(1))
      local r, code = H.run_json({ "todo", "--check" }, { cwd = dir })
      assert.are.equal(64, code)
      assert.matches("TODO.md", r.error_message, 1, true)
    end)
  end)

  it("--format todo prints the TODO.md heading line", function()
    local fmt = require "tasknum.format.todo"
    assert.are.equal("### 82. Fix parser bug\n",
      fmt{ status = "success", allocated_numbers = { 82 }, project_name = "fix_parser_bug" })
    assert.are.equal("### 5.\n### 6.\n", fmt{ status = "success", allocated_numbers = { 5, 6 } })
    assert.are.equal("", fmt{ status = "error" })
  end)
end)
