-- init_spec.lua: `tasknum init` never restarts a numbering (issue 14 item
-- 2): a state that tasknum would find from the new file's folder (the
-- other layout in the same folder, or one above) is named and left alone,
-- --force makes a separate numbering on purpose, --layout picks specs/ or
-- .opencode/specs/, and the answer says what .gitignore needs.
local H = require "spec_helper"
local R = require "support.repo"
local gitignore = require "tasknum.gitignore"

local function ls(dir) return H.ls(dir) end

describe("init", function()
  after_each(H.cleanup)

  it("refuses beside a specs/state.json: .opencode/ would win and restart the numbering at 0", function()
    local dir = H.tmpdir()
    local text = H.state_text(82)
    H.write(dir .. "/specs/state.json", text)
    local r, code, err = H.run_json({ "init" }, { cwd = dir })
    assert.are.equal(73, code)
    assert.are.equal("STATE_EXISTS", r.error_code)
    assert.are.equal(dir .. "/specs/state.json", r.error.found)
    assert.matches("tasknum already finds a state here: " .. dir .. "/specs/state.json", r.error_message, 1, true)
    assert.matches("restart the numbering at 0", r.error_message, 1, true)
    assert.matches("`tasknum init --force`", r.error.details, 1, true)
    -- humans read stderr: the line says what to run
    assert.matches("tasknum: STATE_EXISTS: .*`tasknum init %-%-force`", err)
    assert.is_nil(H.read(dir .. "/.opencode/specs/state.json"))
    assert.are.equal("specs ", ls(dir))
    assert.are.equal(text, H.read(dir .. "/specs/state.json"))
    -- and allocation still finds the project's state
    local a = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.same({ 82 }, a.allocated_numbers)
  end)

  it("refuses in a subfolder of a project (it would shadow the project's state)", function()
    local dir = H.project(H.state_text(239))
    local sub = dir .. "/src/deep"
    os.execute("mkdir -p " .. H.q(sub))
    for _, args in ipairs({ { "init" }, { "init", "--layout", "claude", "--next", "5" },
                            { "init", "--state", sub .. "/x/state.json" } }) do
      local r, code = H.run_json(args, { cwd = sub })
      assert.are.equal(73, code, table.concat(args, " "))
      assert.are.equal(dir .. "/.opencode/specs/state.json", r.error.found)
      assert.matches("shadow it", r.error_message, 1, true)
    end
    local r = H.run_json({ "init", "--layout", "claude", "--next", "5" }, { cwd = sub })
    assert.matches("`tasknum init --force --layout claude --next 5`", r.error.details, 1, true)
    assert.are.equal("", ls(sub))
  end)

  it("--force makes a separate numbering on purpose, and says which state it shadows", function()
    local dir = H.project(H.state_text(239))
    local sub = dir .. "/nested"
    os.execute("mkdir -p " .. H.q(sub))
    local r, code = H.run_json({ "init", "--force", "--layout", "claude", "--next", "7" }, { cwd = sub })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal(sub .. "/specs/state.json", r.created)
    assert.are.equal(dir .. "/.opencode/specs/state.json", r.shadows)
    assert.are.same({ 7 }, H.run_json({ "allocate" }, { cwd = sub }).allocated_numbers)
    assert.are.same({ 239 }, H.run_json({ "allocate" }, { cwd = dir }).allocated_numbers)
  end)

  it("never touches an existing file, --force or not", function()
    local dir, path = H.project(H.state_text(3))
    for _, args in ipairs({ { "init" }, { "init", "--force" }, { "init", "--state", path } }) do
      local r, code = H.run_json(args, { cwd = dir })
      assert.are.same({ "STATE_EXISTS", 73 }, { r.error_code, code })
      assert.matches("a state file is there already: " .. path, r.error_message, 1, true)
    end
    assert.are.equal(H.state_text(3), H.read(path))
  end)

  it("--layout claude|opencode, and the default from the folder", function()
    local dir = H.tmpdir()
    local r, code = H.run_json({ "init", "--layout", "claude" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ dir .. "/specs/state.json", "claude" }, { r.created, r.layout })
    -- a .claude/ folder alone: the claude layout
    dir = H.tmpdir()
    os.execute("mkdir " .. H.q(dir .. "/.claude"))
    r = H.run_json({ "init" }, { cwd = dir })
    assert.are.same({ dir .. "/specs/state.json", "claude" }, { r.created, r.layout })
    -- otherwise (and with both) .opencode/specs/state.json
    dir = H.tmpdir()
    os.execute("mkdir " .. H.q(dir .. "/.claude") .. " " .. H.q(dir .. "/.opencode"))
    r = H.run_json({ "init" }, { cwd = dir })
    assert.are.same({ dir .. "/.opencode/specs/state.json", "opencode" }, { r.created, r.layout })
    dir = H.tmpdir()
    r = H.run_json({ "init", "--state", dir .. "/elsewhere/numbers.json" }, { cwd = dir })
    assert.are.same({ dir .. "/elsewhere/numbers.json", "custom" }, { r.created, r.layout })
  end)

  it("refuses a bad layout, or --layout with --state, creating nothing", function()
    local dir = H.tmpdir()
    for _, args in ipairs({ { "init", "--layout", "vscode" }, { "init", "--layout", "claude", "--state", "x.json" },
                            { "init", "--next", "5", "--max", "3" } }) do
      local r, code = H.run_json(args, { cwd = dir })
      assert.are.same({ "INVALID_ARGUMENT", 64 }, { r.error_code, code }, table.concat(args, " "))
    end
    assert.are.equal("", ls(dir))
  end)

  it("$TASKNUM_STATE names the file to create (and the refusals name what they found)", function()
    local dir = H.tmpdir()
    local r, code = H.run_json({ "init" }, { cwd = dir, env = { TASKNUM_STATE = dir .. "/t/state.json" } })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal(dir .. "/t/state.json", r.created)
  end)

  it("outside git: the answer lists the .gitignore lines, and writes no .gitignore", function()
    local dir = H.tmpdir()
    local r = H.run_json({ "init", "--layout", "claude" }, { cwd = dir })
    local real = dir .. "/specs/state.json"
    local want = gitignore.patterns(real)
    table.insert(want, 1, gitignore.HEADER)
    assert.are.same({ "none", dir .. "/specs/.gitignore", want },
      { r.gitignore.action, r.gitignore.path, r.gitignore.lines })
    assert.matches("not in a git working tree", r.gitignore.advice, 1, true)
    assert.is_nil(H.read(dir .. "/specs/.gitignore"))
  end)

  it("in a git working tree: appends the block to the .gitignore beside the state", function()
    local dir = R.repo({ ["README"] = "x\n" })
    local r, code = H.run_json({ "init", "--layout", "claude" }, { cwd = dir, env = R.ENV })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ "added", dir .. "/specs/.gitignore" }, { r.gitignore.action, r.gitignore.path })
    local text = H.read(dir .. "/specs/.gitignore")
    assert.matches(gitignore.HEADER, text, 1, true)
    R.must(dir, "git add -A")
    -- the state and the .gitignore are committed; the lock and the log never are
    H.run_json({ "allocate" }, { cwd = dir, env = R.ENV })
    assert.are.equal("A  specs/.gitignore\nA  specs/state.json\n",
      R.must(dir, "git add -A && git status --porcelain"))
  end)
end)
