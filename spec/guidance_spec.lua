-- guidance_spec.lua: errors that guide (issue 14 item 8): a corrupt state
-- points at git or the last good copy (not at the backup, the same broken
-- text), a backup only when none holds the text, git's conflict markers
-- named and merged again with tasknum's driver, a wrong $TASKNUM_STATE
-- named as such, the hint on the stderr line, Lua's message and line for a
-- policy that does not load, text commands failing in text.
local H = require "spec_helper"
local R = require "support.repo"

local STATE = "specs/state.json"

describe("a corrupt state", function()
  after_each(H.cleanup)

  it("in git: the advice is git's command for the committed version; the backup is named as broken", function()
    local dir = R.repo({ [STATE] = H.state_text(5) })
    local path = dir .. "/" .. STATE
    H.write(path, "{\"next_project_number\": 5,\n")
    local r, code, err = H.run_json({ "allocate" }, { cwd = dir, env = R.ENV })
    assert.are.same({ "STATE_CORRUPT", 65 }, { r.error_code, code })
    local want = "`git -C " .. dir .. " checkout -- " .. STATE .. "`"
    assert.matches(want, r.error.details, 1, true)
    assert.matches("`git -C " .. dir .. " log -p -- " .. STATE .. "`", r.error.details, 1, true)
    assert.matches("broken text copied to " .. path .. ".backup for reference (not a good copy)", r.error.details, 1, true)
    assert.is_nil(r.error.details:find("restore it from git or state.json.backup", 1, true))
    assert.matches(want, err, 1, true) -- the stderr line carries it
    -- doing what it says works
    R.must(dir, "git -C " .. dir .. " checkout -- " .. STATE)
    assert.are.same({ 5 }, H.run_json({ "allocate" }, { cwd = dir, env = R.ENV }).allocated_numbers)
  end)

  it("outside git: the last good copy; a backup only when no backup holds that text yet", function()
    local dir, path = H.project("{broken\n")
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.matches("restore the last good version of the file (from git, or a copy of your own)", r.error.details, 1, true)
    assert.are.equal("{broken\n", H.read(path .. ".backup"))
    -- the same broken text again: no second copy
    H.run_json({ "allocate" }, { cwd = dir })
    H.run_json({ "allocate" }, { cwd = dir })
    assert.is_nil(H.read(path .. ".backup.1"))
    -- another broken text: the next free name; then the first again: none
    H.write(path, "{broken again\n")
    r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("{broken again\n", H.read(path .. ".backup.1"))
    os.remove(path .. ".backup")
    H.write(path .. ".backup.3", "{broken\n")
    H.write(path, "{broken\n")
    r = H.run_json({ "allocate" }, { cwd = dir })
    assert.matches("copied to " .. path .. ".backup.3", r.error.details, 1, true)
    assert.is_nil(H.read(path .. ".backup"))
  end)

  it("git's conflict markers: named, and merged again with tasknum's driver as the advice says", function()
    local dir = R.repo({ [STATE] = H.state_text(5) })
    local env = R.ENV
    R.must(dir, "git checkout -q -b b")
    assert.are.equal(0, select(2, H.run_json({ "add-task", "--name", "on_b" }, { cwd = dir, env = env })))
    R.must(dir, "git commit -qam b && git checkout -q main")
    assert.are.equal(0, select(2, H.run_json({ "add-task", "--name", "on_main" }, { cwd = dir, env = env })))
    R.must(dir, "git commit -qam main")
    local out, code = R.sh(dir, "git merge -q b -m merge")
    assert.are_not.equal(0, code, out)
    local conflicted = H.read(dir .. "/" .. STATE)
    local r, rc, err = H.run_json({ "allocate" }, { cwd = dir, env = env })
    assert.are.same({ "STATE_CORRUPT", 65 }, { r.error_code, rc })
    assert.matches("^unresolved merge conflict in the state file: git's conflict markers at line %d+$", r.error_message)
    local again = "git -C " .. dir .. " checkout -m -- " .. STATE
    assert.matches("`tasknum merge --install`", r.error.details, 1, true)
    assert.matches("`" .. again .. "`", r.error.details, 1, true)
    assert.matches("unresolved merge conflict", err, 1, true)
    assert.are.equal(conflicted, H.read(dir .. "/" .. STATE))
    -- check and status say the same
    r = H.run_json({ "check" }, { cwd = dir, env = env })
    assert.matches("`" .. again .. "`", r.error.problems[1].details, 1, true)
    -- following the advice: the file is merged, both tasks kept
    assert.are.equal(0, select(2, H.run_json({ "merge", "--install" }, { cwd = dir, env = env })))
    R.must(dir, again)
    r = H.run_json({ "check" }, { cwd = dir, env = env })
    assert.are.equal("success", r.status, r.error_message)
    local names = {}
    for name in H.read(dir .. "/" .. STATE):gmatch('"project_name": "([^"]+)"') do names[#names + 1] = name end
    table.sort(names)
    assert.are.same({ "on_b", "on_main" }, names)
  end)
end)

describe("where the state path came from", function()
  after_each(H.cleanup)

  it("a wrong $TASKNUM_STATE is named, and init is not the advice", function()
    local dir = H.project(H.state_text(5))
    local wrong = dir .. "/nope/state.json"
    local r, code, err = H.run_json({ "allocate" }, { cwd = dir, env = { TASKNUM_STATE = wrong } })
    assert.are.same({ "STATE_NOT_FOUND", 66 }, { r.error_code, code })
    assert.are.equal("state file not found: " .. wrong .. " (from $TASKNUM_STATE)", r.error_message)
    assert.matches("$TASKNUM_STATE names a file that is not there", r.error.details, 1, true)
    assert.is_nil(r.error.details:find("tasknum init", 1, true))
    assert.matches("(from $TASKNUM_STATE); $TASKNUM_STATE names a file", err, 1, true)
    r = H.run_json({ "allocate", "--state", wrong }, { cwd = dir, env = { TASKNUM_STATE = wrong } })
    assert.are.equal("state file not found: " .. wrong .. " (--state)", r.error_message)
  end)
end)

describe("the stderr line", function()
  after_each(H.cleanup)

  it("carries the hint, which --format plain callers read alone", function()
    local dir = H.tmpdir()
    local out, code, err = H.run({ "allocate", "--format", "plain" }, { cwd = dir })
    assert.are.same({ "", 66 }, { out, code })
    assert.matches("^tasknum: STATE_NOT_FOUND: no state file found; looked for .* `tasknum init`\n$", err)
    -- a traceback (several lines) is not put on it
    dir = H.project(H.state_text(5))
    H.write(dir .. "/.opencode/tasknum/conflict.lua", "return { pick = function() error('boom') end }\n")
    out, code, err = H.run({ "allocate", "--format", "plain" }, { cwd = dir })
    assert.are.equal(70, code)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    assert.matches("boom", err, 1, true)
  end)

  it("a policy that does not load: Lua's message and line", function()
    local dir = H.project(H.state_text(5))
    H.write(dir .. "/.opencode/tasknum/audit.lua", "return {\n  record = function(e)\n    return true\n  end,,\n}\n")
    local r, code, err = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.same({ "SCRIPT_ERROR", 70 }, { r.error_code, code })
    assert.matches("cannot load policy " .. dir .. "/.opencode/tasknum/audit.lua:4: unexpected symbol near ','",
      r.error_message, 1, true)
    assert.matches("audit.lua:4: unexpected symbol", err, 1, true)
    H.write(dir .. "/.opencode/tasknum/audit.lua", "error('not today')\n")
    r = H.run_json({ "allocate" }, { cwd = dir })
    assert.matches("policy " .. dir .. "/.opencode/tasknum/audit.lua raised an error: " .. dir
      .. "/.opencode/tasknum/audit.lua:1: not today", r.error_message, 1, true)
  end)
end)

describe("text commands", function()
  after_each(H.cleanup)

  it("status and stats fail in text: stderr only, unless --json or --format json", function()
    local dir = H.tmpdir()
    for _, name in ipairs({ "status", "stats" }) do
      local out, code, err = H.run({ name }, { cwd = dir })
      assert.are.same({ "", 66 }, { out, code }, name)
      assert.matches("^tasknum: STATE_NOT_FOUND: no state file found; ", err)
      out, code = H.run({ name, "--bogus" }, { cwd = dir })
      assert.are.same({ "", 64 }, { out, code })
      for _, args in ipairs({ { name, "--json" }, { name, "--format", "json" }, { name, "--format=json" } }) do
        local r, c = H.run_json(args, { cwd = dir })
        assert.are.same({ "STATE_NOT_FOUND", 66 }, { r.error_code, c })
      end
      local r = H.run_json({ name, "--format", "yaml", "--json" }, { cwd = dir })
      assert.are.equal("INVALID_ARGUMENT", r.error_code)
    end
    -- success is unchanged: text, or JSON when asked
    dir = H.project(H.state_text(5))
    assert.matches("^state ", H.run({ "status" }, { cwd = dir }))
    assert.are.equal(5, H.run_json({ "status", "--format", "json" }, { cwd = dir }).next_project_number)
  end)
end)
