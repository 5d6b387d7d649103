-- checks_spec.lua: checks that agree with themselves (issue 14 item 7):
-- `todo --check` only reads and fails with TODO_BEHIND/TODO_AHEAD as its
-- exit says; `check` asks the team's conflict policy and calls problems in
-- a valid file CHECK_FAILED, not STATE_CORRUPT; status says "1 number".
local H = require "spec_helper"
local errors = require "tasknum.errors"

local function copy_example(dir, name)
  H.write(dir .. "/.opencode/tasknum/conflict.lua", assert(H.read(H.root .. "/scripts/examples/" .. name)))
end

describe("todo --check", function()
  after_each(H.cleanup)

  it("takes no lock, logs nothing, writes nothing; its status and exit agree", function()
    local dir, path = H.project(H.state_text(82))
    local todo = dir .. "/.opencode/specs/TODO.md"
    for _, case in ipairs({ { 82, 0, nil }, { 81, 1, "TODO_BEHIND" }, { 90, 1, "TODO_AHEAD" } }) do
      local text = "---\nnext_project_number: " .. case[1] .. "\n---\n"
      H.write(todo, text)
      local r, code, err = H.run_json({ "todo", "--check" }, { cwd = dir })
      assert.are.equal(case[2], code)
      if case[3] then
        assert.are.same({ "error", case[3], false }, { r.status, r.error_code, r.in_step })
        assert.are.same({ case[1], 82, todo }, { r.error.todo_next, r.error.state_next, r.error.todo_path })
        assert.matches("tasknum: " .. case[3] .. ": " .. todo .. ": next_project_number: " .. case[1], err, 1, true)
        assert.matches("`tasknum todo` sets it to the state's counter", err, 1, true)
        assert.are.equal(case[2], errors.exit[case[3]])
      else
        assert.are.same({ "success", true }, { r.status, r.in_step })
        assert.are.equal("", err)
      end
      assert.are.equal(text, H.read(todo))
    end
    assert.are.equal(H.state_text(82), H.read(path))
    -- read-only: neither the lock file nor an audit line was made
    assert.are.equal("TODO.md state.json ", H.ls(dir .. "/.opencode/specs"))
    -- while another holds the lock, --check still answers at once
    local out = H.sh("cd " .. H.q(dir) .. " && " .. H.q(H.bin) .. " lock -- " .. H.q(H.bin)
      .. " todo --check --timeout 0; echo \"exit $?\"")
    assert.matches("TODO_AHEAD.*exit 1", out)
  end)

  it("without --check it repairs under the lock, audited, as before", function()
    local dir = H.project(H.state_text(82))
    H.write(dir .. "/.opencode/specs/TODO.md", "---\nnext_project_number: 81\n---\n")
    local r, code = H.run_json({ "todo" }, { cwd = dir })
    assert.are.same({ 0, true }, { code, r.repaired })
    assert.matches("audit", H.ls(dir .. "/.opencode/specs"), 1, true)
  end)
end)

describe("check", function()
  after_each(H.cleanup)

  it("asks the team's conflict policy: a project just ahead is fine under the skip policy", function()
    local dir, path = H.project(H.state_text(10, { active = { 12 } }))
    local r, code, err = H.run_json({ "check" }, { cwd = dir })
    assert.are.same({ "CHECK_FAILED", 1 }, { r.error_code, code })
    assert.are.same({ "ahead", 12, 2, "(shipped) tasknum.policy.conflict" }, { r.error.problems[1].check,
      r.error.problems[1].project_number, r.error.problems[1].room, r.error.problems[1].policy })
    assert.matches("tasknum: CHECK_FAILED: 1 problem", err, 1, true)
    assert.is_nil(err:find("CORRUPT", 1, true))
    copy_example(dir, "conflict-skip.lua")
    r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.same({ "success", 0 }, { r.status, code }, r.error_message)
    -- and it agrees with allocation: the skip policy hands out around it
    r = H.run_json({ "allocate", "--count", "3" }, { cwd = dir })
    assert.are.same({ { 10, 11, 13 }, { 12 } }, { r.allocated_numbers, r.skipped_numbers })
    assert.matches('"next_project_number": 14', H.read(path), 1, true)
  end)

  it("sees what the team's policy takes: numbers held in pending_tasks", function()
    local dir = H.project('{"next_project_number": 5, "active_projects": [],\n'
      .. ' "pending_tasks": [{"project_number": 7, "project_name": "later"}]}\n')
    assert.are.equal(0, select(2, H.run_json({ "check" }, { cwd = dir })))
    copy_example(dir, "conflict-pending.lua")
    local r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.same({ "CHECK_FAILED", 1, 7, 2 }, { r.error_code, code, r.error.problems[1].project_number,
      r.error.problems[1].room })
    assert.matches("active project 7 (later) is only 2 numbers after the counter 5", r.error_message, 1, true)
  end)

  it("a policy that fails: its error, Lua's message and line", function()
    local dir = H.project(H.state_text(10))
    H.write(dir .. "/.opencode/tasknum/conflict.lua", "local M = {}\nlocal x = = 1\nreturn M\n")
    local r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.same({ "SCRIPT_ERROR", 70 }, { r.error_code, code })
    assert.matches(dir .. "/.opencode/tasknum/conflict.lua:2: unexpected symbol near '='", r.error_message, 1, true)
    H.write(dir .. "/.opencode/tasknum/conflict.lua",
      "return { pick = function(t, n) error('the team says no') end }\n")
    r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.same({ "CHECK_FAILED", "policy" }, { r.error_code, r.error.problems[1].check })
    assert.matches("the team says no", r.error.problems[1].message, 1, true)
  end)

  it("a file that is no usable state stays STATE_CORRUPT (65)", function()
    local dir = H.project("{\"next_project_number\": 5,\n")
    local r, code = H.run_json({ "check" }, { cwd = dir })
    assert.are.same({ "STATE_CORRUPT", 65, "well-formed" }, { r.error_code, code, r.error.problems[1].check })
  end)
end)

describe("status", function()
  after_each(H.cleanup)

  it("says 1 number, 2 numbers", function()
    local dir = H.project(H.state_text(10, { active = { 11 } }))
    assert.matches("\nroom         1 number before active project 11 (task_11)\n", H.run({ "status" }, { cwd = dir }), 1, true)
    dir = H.project(H.state_text(10, { active = { 12 } }))
    assert.matches("\nroom         2 numbers before active project 12", H.run({ "status" }, { cwd = dir }), 1, true)
    dir = H.project(H.state_text(0, { min = 0, max = 0 }))
    assert.matches("\nroom         1 number (no active project in the range)\n", H.run({ "status" }, { cwd = dir }), 1, true)
  end)
end)
