-- Team policy in Lua: each piece (conflict, audit, format) is replaced by a
-- file in the project's .opencode/tasknum/ (or .claude/tasknum/, or a
-- $TASKNUM_PATH folder) while the others keep the shipped default, and a
-- policy that raises writes nothing and leaves the lock free.
local H = require "spec_helper"

local function example(name)
  return assert(H.read(H.root .. "/scripts/examples/" .. name), "no example " .. name)
end

local function audit_lines(path)
  local dir, base = path:match("^(.*)/([^/]*)$")
  local text = H.read(dir .. "/." .. base .. ".audit.jsonl") or ""
  return select(2, text:gsub("\n", ""))
end

describe("team policy", function()
  after_each(H.cleanup)

  describe("conflict", function()
    it("conflict-skip.lua in .opencode/tasknum skips held numbers; audit and format stay shipped", function()
      local dir, path = H.project(H.state_text(5, { active = { 5, 6, 8 } }))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-skip.lua"))
      local r, code = H.run_json({ "allocate", "--count", "2" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 7, 9 }, r.allocated_numbers)
      assert.are.same({ 5, 6, 8 }, r.skipped_numbers)
      assert.are.equal(10, r.new_next_number)
      assert.are.equal(H.state_text(10, { active = { 5, 6, 8 } }), H.read(path))
      assert.are.equal(1, audit_lines(path)) -- the shipped audit log
    end)

    it("conflict-skip.lua fails only when the whole range is taken, and writes nothing", function()
      local text = H.state_text(1, { min = 0, max = 3, active = { 0, 1, 3 } })
      local dir, path = H.project(text)
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-skip.lua"))
      local r, code = H.run_json({ "allocate", "--count", "2" }, { cwd = dir })
      assert.are.equal(69, code) -- one free number, two asked for
      assert.are.equal("NUMBER_CONFLICT", r.error_code)
      assert.are.equal(text, H.read(path))
      r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 2 }, r.allocated_numbers)
      assert.are.same({ 1 }, r.skipped_numbers)
      text = H.state_text(1, { min = 0, max = 3, active = { 0, 1, 2, 3 } })
      H.write(path, text)
      r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(69, code)
      assert.matches("only 0 free numbers", r.error_message, 1, true)
      assert.are.equal(text, H.read(path))
    end)

    it("conflict-skip.lua wraps past max to min", function()
      local dir, path = H.project(H.state_text(8, { min = 0, max = 9, active = { 8, 9, 0 } }))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-skip.lua"))
      local r = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.same({ 1 }, r.allocated_numbers)
      assert.is_true(r.wrapped)
      assert.matches('"next_project_number": 2,', H.read(path), 1, true)
    end)

    it("conflict-pending.lua also counts pending_tasks as taken", function()
      local text = H.state_text(4, { active = { 2 } }):gsub('\n}\n$',
        ',\n  "pending_tasks": [\n    {"project_number": 4, "project_name": "waiting"}\n  ]\n}\n')
      local dir, path = H.project(text)
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-pending.lua"))
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(69, code)
      assert.are.equal("NUMBER_CONFLICT", r.error_code)
      assert.are.equal("pending_tasks", r.error.conflicts[1].array)
      assert.matches("waiting", r.error_message, 1, true)
      assert.are.equal(text, H.read(path))
      -- without the policy the shipped default sees only active_projects
      os.remove(dir .. "/.opencode/tasknum/conflict.lua")
      r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 4 }, r.allocated_numbers)
    end)

    it("a team's policy can build on the shipped one", function()
      local dir = H.project(H.state_text(0))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", [[
        local default = require "tasknum.policy.conflict"
        return { max_count = 2, pick = default.pick }
      ]])
      local r, code = H.run_json({ "allocate", "--count", "3" }, { cwd = dir })
      assert.are.equal(64, code)
      assert.matches("from 1 to 2", r.error_message, 1, true)
    end)

    it("a team's pick set on the shipped module (monkeypatched, then returned) is the one called", function()
      -- review 3: the step applied the shipped data itself whenever the
      -- policy's pick was the shipped module's pick field, which is the
      -- team's function once the team has replaced it there
      local dir, path = H.project(H.state_text(5))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", [[
        local c = require "tasknum.policy.conflict"
        local shipped = c.pick
        c.pick = function(txn, count) txn:skip(1) return shipped(txn, count) end
        return c
      ]])
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code, r.error_message)
      assert.are.same({ 6 }, r.allocated_numbers)
      assert.are.same({ 5 }, r.skipped_numbers)
      assert.matches('"next_project_number": 7', H.read(path), 1, true)
    end)
  end)

  describe("audit", function()
    it("audit-tsv.lua logs to the team's own file, and conflicts keep the shipped check", function()
      local dir, path = H.project(H.state_text(1, { active = { 2 } }))
      H.write(dir .. "/.opencode/tasknum/audit.lua", example("audit-tsv.lua"))
      local r, code = H.run_json({ "allocate", "--purpose", "tab\there" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 1 }, r.allocated_numbers)
      r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(69, code) -- 2 is held: the shipped conflict check
      local tsv = H.read(dir .. "/.opencode/tasknum/allocations.tsv")
      local lines = {}
      for line in tsv:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.are.equal(2, #lines)
      assert.matches("^%S+\tsuccess\t%-\t1\t[^\t]+\ttab here$", lines[1])
      assert.matches("^%S+\terror\tNUMBER_CONFLICT\t%-\t", lines[2])
      assert.are.equal(2, audit_lines(path)) -- and the shipped log too
    end)

    it("TASKNUM_AUDIT_FILE names another place", function()
      local dir = H.project(H.state_text(1))
      H.write(dir .. "/.opencode/tasknum/audit.lua", example("audit-tsv.lua"))
      local log = H.tmpdir() .. "/team.tsv"
      local _, code = H.run_json({ "allocate" }, { cwd = dir, env = { TASKNUM_AUDIT_FILE = log } })
      assert.are.equal(0, code)
      assert.matches("\tsuccess\t", H.read(log), 1, true)
    end)

    it("an audit policy that raises while loading writes nothing (SCRIPT_ERROR, 70)", function()
      local dir, path = H.project(H.state_text(1))
      H.write(dir .. "/.opencode/tasknum/audit.lua", "error('no log today')\n")
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.are.equal("SCRIPT_ERROR", r.error_code)
      assert.matches("no log today", r.error.details, 1, true)
      assert.matches("traceback", r.error.details, 1, true)
      assert.are.equal(H.state_text(1), H.read(path))
    end)

    it("an audit record that raises after the write: the numbers stand, audit_error says why", function()
      local dir, path = H.project(H.state_text(1))
      H.write(dir .. "/.opencode/tasknum/audit.lua",
        "return { record = function() error('log server down') end }\n")
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.same({ 1 }, r.allocated_numbers)
      assert.matches("log server down", r.audit_error, 1, true)
      assert.are.equal(H.state_text(2), H.read(path))
    end)
  end)

  describe("format", function()
    it("format/env.lua adds --format env; json and plain stay", function()
      local dir = H.project(H.state_text(7))
      H.write(dir .. "/.opencode/tasknum/format/env.lua", example("format-env.lua"))
      local out, code = H.run({ "allocate", "--count", "2", "--format", "env" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.are.equal("TASK_NUMBER=7\nTASK_NUMBERS='7 8'\n", out)
      out = H.run({ "allocate", "--format", "plain" }, { cwd = dir })
      assert.are.equal("9\n", out)
      local r = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.same({ 10 }, r.allocated_numbers)
    end)

    it("a format in the state's project is found with --state from elsewhere", function()
      local dir, path = H.project(H.state_text(7))
      H.write(dir .. "/.opencode/tasknum/format/env.lua", example("format-env.lua"))
      local out, code = H.run({ "allocate", "--state", path, "--format", "env" }, { cwd = H.tmpdir() })
      assert.are.equal(0, code)
      assert.are.equal("TASK_NUMBER=7\nTASK_NUMBERS='7'\n", out)
    end)

    it("a format that raises writes nothing (SCRIPT_ERROR, 70, traceback)", function()
      local dir, path = H.project(H.state_text(7))
      H.write(dir .. "/.opencode/tasknum/format/broken.lua",
        "return function(r) return r.allocated_numbers[1] .. nil end\n")
      local r, code = H.run_json({ "allocate", "--format", "broken" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.are.equal("SCRIPT_ERROR", r.error_code)
      assert.matches("traceback", r.error.details, 1, true)
      assert.are.equal(H.state_text(7), H.read(path))
      -- and the lock is free at once
      local _, code2 = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
      assert.are.equal(0, code2)
    end)

    it("an unknown format allocates nothing (INVALID_ARGUMENT)", function()
      local dir, path = H.project(H.state_text(7))
      local r, code = H.run_json({ "allocate", "--format", "nope" }, { cwd = dir })
      assert.are.equal(64, code)
      assert.matches("unknown format nope", r.error_message, 1, true)
      assert.are.equal(H.state_text(7), H.read(path))
    end)
  end)

  describe("a conflict policy that raises", function()
    it("under the lock: SCRIPT_ERROR, traceback, nothing written, lock free", function()
      local dir, path = H.project(H.state_text(3))
      H.write(dir .. "/.opencode/tasknum/conflict.lua",
        "return { pick = function(txn, n) txn:take(n); local t = nil; return t.x end }\n")
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.are.equal("SCRIPT_ERROR", r.error_code)
      assert.is_true(r.lock_acquired)
      assert.matches("conflict.lua:1", r.error.details, 1, true)
      assert.matches("traceback", r.error.details, 1, true)
      assert.are.equal(H.state_text(3), H.read(path))
      assert.are.equal(1, audit_lines(path)) -- the failed attempt is logged
      os.remove(dir .. "/.opencode/tasknum/conflict.lua")
      local r2 = H.run_json({ "allocate", "--timeout", "0" }, { cwd = dir })
      assert.are.same({ 3 }, r2.allocated_numbers)
    end)

    it("with a syntax error: SCRIPT_ERROR before the lock, the file named", function()
      local dir, path = H.project(H.state_text(3))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", "return {\n")
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.is_false(r.lock_acquired)
      assert.matches("conflict.lua", r.error_message, 1, true)
      assert.are.equal(H.state_text(3), H.read(path))
    end)

    it("returning no pick function is a SCRIPT_ERROR naming the file", function()
      local dir = H.project(H.state_text(3))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", "return {}\n")
      local r, code = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal(70, code)
      assert.matches("/.opencode/tasknum/conflict.lua must return a table with a pick", r.error_message, 1, true)
    end)
  end)

  describe("where tasknum looks", function()
    local RAISE = "return { pick = function(txn, n) txn:fail('NUMBER_CONFLICT', '%s') end }\n"

    it("$TASKNUM_PATH wins over the project's folder", function()
      local dir = H.project(H.state_text(0))
      local lib = H.tmpdir()
      H.write(dir .. "/.opencode/tasknum/conflict.lua", RAISE:format("from the project"))
      H.write(lib .. "/conflict.lua", RAISE:format("from TASKNUM_PATH"))
      local r = H.run_json({ "allocate" }, { cwd = dir, env = { TASKNUM_PATH = "/nonexistent:" .. lib } })
      assert.are.equal("from TASKNUM_PATH", r.error_message)
      r = H.run_json({ "allocate" }, { cwd = dir })
      assert.are.equal("from the project", r.error_message)
    end)

    it("specs/state.json projects use .claude/tasknum too", function()
      local dir = H.tmpdir()
      H.write(dir .. "/specs/state.json", H.state_text(0))
      H.write(dir .. "/.claude/tasknum/conflict.lua", RAISE:format("from .claude"))
      local r = H.run_json({ "allocate" }, { cwd = dir .. "/specs" })
      assert.are.equal("from .claude", r.error_message)
    end)

    it("the state's project wins over the folder the command runs in", function()
      local dir, path = H.project(H.state_text(0))
      local other = H.project(H.state_text(0))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", RAISE:format("the state project"))
      H.write(other .. "/.opencode/tasknum/conflict.lua", RAISE:format("cwd's project"))
      local r = H.run_json({ "allocate", "--state", path }, { cwd = other })
      assert.are.equal("the state project", r.error_message)
    end)

    it("--verbose lists the files in use on stderr", function()
      local dir, path = H.project(H.state_text(0))
      H.write(dir .. "/.opencode/tasknum/conflict.lua", example("conflict-skip.lua"))
      local _, code, err = H.run_json({ "allocate", "--verbose" }, { cwd = dir })
      assert.are.equal(0, code)
      assert.matches("state " .. path, err, 1, true)
      assert.matches("conflict policy " .. dir .. "/.opencode/tasknum/conflict.lua", err, 1, true)
      assert.matches("audit policy (shipped) tasknum.policy.audit", err, 1, true)
      assert.matches("format (shipped) tasknum.format.json", err, 1, true)
    end)
  end)

  it("the README shows each example file in full", function()
    local readme = H.read(H.root .. "/README.md")
    for _, name in ipairs({ "conflict-skip.lua", "conflict-pending.lua", "audit-tsv.lua", "format-env.lua" }) do
      assert.is_truthy(readme:find(example(name), 1, true), name .. " is not in the README as it is")
    end
  end)
end)
