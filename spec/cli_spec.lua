-- The command line against the contract: every error code with its exit
-- status, the state byte-identical after each failure, no temp file, the
-- lock free; discovery; script lookup.
local H = require "spec_helper"
local cjson = require "cjson"

local function no_leftovers(dir)
  local names = H.ls(dir .. "/.opencode/specs")
  assert.is_nil(names:find("tmp%-"), "temp file left: " .. names)
end

-- The lock is free: an allocation that may not wait succeeds.
local function lock_free(path)
  local r = H.run_json({ "allocate", "--state", path, "--timeout", "0" })
  return r.status == "success" or r.error_code ~= "LOCK_TIMEOUT"
end

-- Runs args in a project whose state is text; checks the failure contract.
local function fails_with(code, exit, text, args, opts)
  local dir, path = H.project(text)
  local before = H.read(path)
  local r, status, err = H.run_json(args or { "allocate" }, { cwd = dir, env = opts and opts.env })
  assert.are.equal("error", r.status)
  assert.are.equal(code, r.error_code)
  assert.are.equal(code, r.error.code)
  assert.are.equal(exit, status)
  assert.is_string(r.error.message)
  assert.are.equal(r.error.message, r.error_message)
  assert.is_boolean(r.retry_suggested)
  assert.is_string(r.timestamp)
  assert.matches("tasknum: " .. code, err, 1, true)
  assert.are.equal(before, H.read(path))
  no_leftovers(dir)
  return r, dir, path
end

describe("tasknum allocate", function()
  after_each(H.cleanup)

  it("hands out the next number and moves the counter by one", function()
    local dir, path = H.project(H.state_text(41))
    local r, code = H.run_json({ "allocate", "--purpose", "first" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.same({ 41 }, r.allocated_numbers)
    assert.are.equal(1, r.allocation_count)
    assert.are.equal(41, r.previous_next_number)
    assert.are.equal(42, r.new_next_number)
    assert.is_false(r.wrapped)
    assert.is_true(r.lock_acquired)
    assert.are.equal("first", r.purpose)
    assert.are.equal(path, r.state_path)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.timestamp)
    assert.is_number(r.lock_wait_ms)
    assert.is_number(r.lock_duration_ms)
    assert.are.equal(H.state_text(42), H.read(path))
  end)

  it("wraps from max to min and says so", function()
    local dir, path = H.project(H.state_text(998))
    local r = H.run_json({ "allocate", "--count", "3" }, { cwd = dir })
    assert.are.same({ 998, 999, 0 }, r.allocated_numbers)
    assert.are.equal(1, r.new_next_number)
    assert.is_true(r.wrapped)
    r = H.run_json({ "allocate", "--state", path, "--count", "1" })
    assert.is_false(r.wrapped)
  end)

  it("counts [max] with next becoming min as wrapped", function()
    local dir = H.project(H.state_text(999))
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.same({ 999 }, r.allocated_numbers)
    assert.are.equal(0, r.new_next_number)
    assert.is_true(r.wrapped)
  end)

  it("uses 0..999 when the state has no project_numbering", function()
    local dir, path = H.project(H.state_text(999, { norange = true }))
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.same({ 999 }, r.allocated_numbers)
    assert.matches('"next_project_number": 0,', H.read(path), 1, true)
  end)

  it("prints plain numbers for shells", function()
    local dir = H.project(H.state_text(7))
    local out, code = H.run({ "allocate", "--count", "3", "--format", "plain" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal("7 8 9\n", out)
  end)

  it("takes --opt=value and fractional timeouts", function()
    local dir = H.project(H.state_text(7))
    local out = H.run({ "allocate", "--count=2", "--timeout=0.5", "--format=plain" }, { cwd = dir })
    assert.are.equal("7 8\n", out)
  end)

  it("appends one audit line per attempt beside the state", function()
    local dir, path = H.project(H.state_text(5))
    H.run({ "allocate", "--purpose", "audited" }, { cwd = dir })
    H.run({ "allocate", "--count", "0" }, { cwd = dir })
    local log = H.read(dir .. "/.opencode/specs/.state.json.audit.jsonl")
    local lines = {}
    for line in log:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
    assert.are.equal(2, #lines)
    assert.are.same({ 5 }, lines[1].numbers)
    assert.are.equal("audited", lines[1].purpose)
    assert.are.equal("success", lines[1].status)
    assert.are.equal("INVALID_ARGUMENT", lines[2].error_code)
    assert.are.equal(H.state_text(6), H.read(path))
  end)
end)

describe("errors", function()
  after_each(H.cleanup)

  for _, case in ipairs({
    { "count 0", { "allocate", "--count", "0" } },
    { "count 11 (default policy allows 1..10)", { "allocate", "--count", "11" } },
    { "count not a number", { "allocate", "--count", "abc" } },
    { "count fraction", { "allocate", "--count", "1.5" } },
    { "count huge", { "allocate", "--count", "99999999999999999999999" } },
    { "unknown option", { "allocate", "--frobnicate" } },
    { "unknown format", { "allocate", "--format", "xml" } },
    { "negative timeout", { "allocate", "--timeout", "-1" } },
    { "timeout not a number", { "allocate", "--timeout", "soon" } },
    { "option without value", { "allocate", "--count" } },
    { "stray argument", { "allocate", "extra" } },
    { "unknown command", { "frobnicate" } },
    { "unknown top-level option", { "--frobnicate" } },
  }) do
    it("INVALID_ARGUMENT (64): " .. case[1], function()
      local r = fails_with("INVALID_ARGUMENT", 64, H.state_text(3), case[2])
      assert.is_false(r.retry_suggested)
    end)
  end

  it("lists what exists for an unknown command", function()
    local r = fails_with("INVALID_ARGUMENT", 64, H.state_text(3), { "frobnicate" })
    assert.matches("allocate", r.error.message, 1, true)
    assert.matches("init", r.error.message, 1, true)
  end)

  for _, case in ipairs({
    { "empty file", "" },
    { "not JSON", "next_project_number = 5\n" },
    { "truncated", H.state_text(5):sub(1, 60) },
    { "an array", "[1, 2, 3]\n" },
    { "counter missing", '{"active_projects": []}\n' },
    { "counter a string", H.state_text('"5"') },
    { "counter 5.0", H.state_text("5.0") },
    { "counter 1e2", H.state_text("1e2") },
    { "counter null", H.state_text("null") },
    { "counter past max", H.state_text(1000) },
    { "counter below min", H.state_text(-1) },
    { "counter too big for 64 bits", H.state_text("99999999999999999999") },
    { "min greater than max", H.state_text(5, { min = 10, max = 1 }) },
    { "counter twice", '{"next_project_number": 1, "next_project_number": 2}\n' },
  }) do
    it("STATE_CORRUPT (65): " .. case[1], function()
      local r, dir = fails_with("STATE_CORRUPT", 65, case[2])
      assert.is_false(r.retry_suggested)
      assert.are.equal(case[2], H.read(dir .. "/.opencode/specs/state.json.backup"))
    end)
  end

  it("says how to fix a counter past the end of the range", function()
    local r = fails_with("STATE_CORRUPT", 65, H.state_text(1001, { norange = true }))
    assert.matches("1001", r.error.message, 1, true)
    assert.matches("`tasknum set --max 1001`", r.error.details, 1, true)
  end)

  it("keeps an older backup that differs", function()
    local dir, path = H.project("{broken\n")
    H.write(path .. ".backup", "older backup\n")
    H.run({ "allocate" }, { cwd = dir })
    assert.are.equal("older backup\n", H.read(path .. ".backup"))
    assert.are.equal("{broken\n", H.read(path .. ".backup.1"))
  end)

  it("STATE_NOT_FOUND (66) when nothing is found, and creates nothing", function()
    local dir = H.tmpdir()
    local r, code = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("STATE_NOT_FOUND", r.error_code)
    assert.are.equal(66, code)
    assert.are.equal("", H.ls(dir))
  end)

  it("STATE_NOT_FOUND (66) for a --state that does not exist", function()
    local dir = H.tmpdir()
    local r, code = H.run_json({ "allocate", "--state", dir .. "/nope/state.json" })
    assert.are.equal("STATE_NOT_FOUND", r.error_code)
    assert.are.equal(66, code)
    assert.are.equal("", H.ls(dir))
  end)

  it("NUMBER_CONFLICT (69) names the active projects that hold the numbers", function()
    local r = fails_with("NUMBER_CONFLICT", 69, H.state_text(10, { active = { 11, 12, 40 } }),
      { "allocate", "--count", "3" })
    assert.matches("11 %(task_11%)", r.error.message)
    assert.matches("12 %(task_12%)", r.error.message)
    assert.matches("archive", r.error.details, 1, true)
    assert.are.same({ 11, 12 }, { r.error.conflicts[1].project_number, r.error.conflicts[2].project_number })
    assert.are.equal("task_11", r.error.conflicts[1].project_name)
  end)

  it("SCRIPT_ERROR (70) with the traceback when a script raises", function()
    local dir = H.project(H.state_text(3))
    H.write(dir .. "/boom.lua", "local function f() error('kaboom') end\nf()\n")
    local r, code = H.run_json({ "run", dir .. "/boom.lua" }, { cwd = dir })
    assert.are.equal("SCRIPT_ERROR", r.error_code)
    assert.are.equal(70, code)
    assert.matches("kaboom", r.error.message, 1, true)
    assert.matches("stack traceback", r.error.details, 1, true)
  end)

  it("SCRIPT_ERROR (70) when a team's conflict policy raises; nothing written", function()
    local dir, path = H.project(H.state_text(3))
    H.write(dir .. "/.opencode/tasknum/conflict.lua",
      "return { pick = function(txn, n) txn:take(n) error('policy broke') end }\n")
    local r, code = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("SCRIPT_ERROR", r.error_code)
    assert.are.equal(70, code)
    assert.matches("policy broke", r.error.message, 1, true)
    assert.are.equal(H.state_text(3), H.read(path))
    assert.is_true(lock_free(path))
  end)

  it("SYSTEM_ERROR (71) naming the path and the errno text", function()
    local dir = H.project(H.state_text(3))
    os.execute("mkdir -p " .. H.q(dir .. "/.opencode/specs/.state.json.lock"))
    local r, code = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.are.equal(71, code)
    assert.matches(".state.json.lock", r.error.details, 1, true)
    assert.matches("Is a directory", r.error.details, 1, true)
  end)

  it("a state.json that is a folder is no state: STATE_NOT_FOUND, nothing made", function()
    local dir = H.tmpdir()
    os.execute("mkdir -p " .. H.q(dir .. "/.opencode/specs/state.json"))
    local r, code = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("STATE_NOT_FOUND", r.error_code)
    assert.are.equal(66, code)
    assert.matches("state.json is a folder", r.error.message, 1, true)
    assert.are.equal("state.json ", H.ls(dir .. "/.opencode/specs"))
  end)

  it("LOCK_TIMEOUT (75) names the holder, and retrying is suggested", function()
    local dir, path = H.project(H.state_text(3))
    local marker = dir .. "/holding"
    H.write(dir .. "/hold.lua", [[
      local tasknum = require "tasknum"
      tasknum.transaction({ state = arg[1], purpose = "holding on" }, function()
        io.open(arg[2], "w"):close()
        while not io.open(arg[2] .. ".stop") do os.execute("sleep 0.02") end
      end)]])
    os.execute(string.format("%s run %s %s %s >/dev/null 2>&1 &", H.q(H.bin),
      H.q(dir .. "/hold.lua"), H.q(path), H.q(marker)))
    for _ = 1, 500 do
      if H.read(marker) then break end
      os.execute("sleep 0.01")
    end
    local r, code = H.run_json({ "allocate", "--timeout", "0.2" }, { cwd = dir })
    H.write(marker .. ".stop", "")
    assert.are.equal("LOCK_TIMEOUT", r.error_code)
    assert.are.equal(75, code)
    assert.is_true(r.retry_suggested)
    assert.is_false(r.lock_acquired)
    assert.matches("holding on", r.error.details, 1, true)
    assert.matches("pid %d+", r.error.details)
    assert.is_true(r.lock_wait_ms >= 150)
    -- the holder finishes and the next caller gets the lock
    local again = H.run_json({ "allocate", "--timeout", "10" }, { cwd = dir })
    assert.are.equal("success", again.status)
    assert.are.same({ 3 }, again.allocated_numbers)
  end)
end)

describe("state discovery", function()
  after_each(H.cleanup)

  it("walks up from a subfolder", function()
    local dir, path = H.project(H.state_text(12))
    os.execute("mkdir -p " .. H.q(dir .. "/a/b/c"))
    local r = H.run_json({ "allocate" }, { cwd = dir .. "/a/b/c" })
    assert.are.equal(path, r.state_path)
    assert.are.same({ 12 }, r.allocated_numbers)
  end)

  it("finds specs/state.json, and prefers .opencode/specs/state.json in one folder", function()
    local dir = H.tmpdir()
    H.write(dir .. "/specs/state.json", H.state_text(100))
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal(dir .. "/specs/state.json", r.state_path)
    H.write(dir .. "/.opencode/specs/state.json", H.state_text(200))
    r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal(dir .. "/.opencode/specs/state.json", r.state_path)
    assert.are.same({ 200 }, r.allocated_numbers)
  end)

  it("takes $TASKNUM_STATE, and --state over it", function()
    local a, pa = H.project(H.state_text(1))
    local _, pb = H.project(H.state_text(50))
    local r = H.run_json({ "allocate" }, { cwd = a, env = { TASKNUM_STATE = pb } })
    assert.are.equal(pb, r.state_path)
    r = H.run_json({ "allocate", "--state", pa }, { cwd = a, env = { TASKNUM_STATE = pb } })
    assert.are.equal(pa, r.state_path)
  end)

  it("makes a relative --state absolute in the answer", function()
    local dir, path = H.project(H.state_text(1))
    local r = H.run_json({ "allocate", "--state", ".opencode/specs/state.json" }, { cwd = dir })
    assert.are.equal(path, r.state_path)
  end)
end)

describe("tasknum init", function()
  after_each(H.cleanup)

  it("creates .opencode/specs/state.json with its folders", function()
    local dir = H.tmpdir()
    local r, code = H.run_json({ "init", "--next", "7", "--min", "5", "--max", "50" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal("success", r.status)
    local a = H.run_json({ "allocate", "--count", "2" }, { cwd = dir })
    assert.are.same({ 7, 8 }, a.allocated_numbers)
  end)

  it("lets exactly one of eight concurrent inits create the state", function()
    local dir = H.tmpdir()
    local cmd = ""
    for i = 1, 8 do
      cmd = cmd .. string.format("(cd %s && %s init --next %d > out%d 2>/dev/null; echo $? >> out%d) & ",
        H.q(dir), H.q(H.bin), i, i, i)
    end
    os.execute(cmd .. "wait")
    local winners, refused = {}, 0
    for i = 1, 8 do
      local out = H.read(dir .. "/out" .. i)
      if out:find('"success"', 1, true) then winners[#winners + 1] = i
      elseif out:find('"STATE_EXISTS"', 1, true) and out:match("73\n$") then
        refused = refused + 1
      end
    end
    assert.are.equal(1, #winners)
    assert.are.equal(7, refused)
    assert.matches('"next_project_number": ' .. winners[1] .. ",",
      H.read(dir .. "/.opencode/specs/state.json"), 1, true)
    assert.are.equal("state.json ", H.ls(dir .. "/.opencode/specs"))
  end)

  it("refuses to touch an existing state", function()
    local dir, path = H.project(H.state_text(3))
    local r, code = H.run_json({ "init" }, { cwd = dir })
    assert.are.equal("STATE_EXISTS", r.error_code)
    assert.are.equal(73, code)
    assert.are.equal(H.state_text(3), H.read(path))
  end)
end)

describe("scripts and help", function()
  after_each(H.cleanup)

  it("--version and --help", function()
    local out, code = H.run({ "--version" })
    assert.are.equal(0, code)
    assert.matches("^tasknum %d+%.%d+%.%d+\n", out)
    out, code = H.run({ "--help" })
    assert.are.equal(0, code)
    assert.matches("tasknum help COMMAND", out, 1, true)
  end)

  it("looks up TASKNUM_PATH, then the project's .opencode/tasknum/commands, then shipped", function()
    local dir = H.project(H.state_text(3))
    local lib = H.tmpdir()
    H.write(dir .. "/.opencode/tasknum/commands/hello.lua", "print('project', ...)\n")
    local out = H.run({ "hello", "a", "b" }, { cwd = dir })
    assert.are.equal("project\ta\tb\n", out)
    H.write(lib .. "/commands/hello.lua", "print('path', arg[1], arg[0] ~= nil)\n")
    out = H.run({ "run", "hello.lua", "x" }, { cwd = dir, env = { TASKNUM_PATH = lib } })
    assert.are.equal("path\tx\ttrue\n", out)
    out = H.run({ "run", "hello", "y" }, { cwd = dir, env = { TASKNUM_PATH = lib } })
    assert.are.equal("path\ty\ttrue\n", out)
    -- a team's allocate.lua replaces the shipped one only when the caller says so
    H.write(dir .. "/.opencode/tasknum/commands/allocate.lua", "print('team allocate')\n")
    local r, code, err = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.same({ 3 }, r.allocated_numbers)
    assert.matches("TASKNUM_OVERRIDE=allocate", err, 1, true)
    out = H.run({ "allocate" }, { cwd = dir, env = { TASKNUM_OVERRIDE = "allocate" } })
    assert.are.equal("team allocate\n", out)
  end)

  it("runs a script's exit status", function()
    local dir = H.tmpdir()
    H.write(dir .. "/s.lua", "return 3\n")
    local _, code = H.run({ "run", dir .. "/s.lua" })
    assert.are.equal(3, code)
  end)
end)

-- The host's last resort (core/main.c): an error that escapes tasknum.cli's
-- own protected call. The script sets a return hook that raises as soon as
-- the xpcall (or pcall) that ran it returns, outside of it.
describe("the host", function()
  after_each(H.cleanup)

  local function raise_outside(expr)
    local dir = H.tmpdir()
    H.write(dir .. "/raise.lua", [[
      local errors = require "tasknum.errors"
      debug.sethook(function()
        local f = debug.getinfo(2, "f").func
        if f == xpcall or f == pcall then
          debug.sethook()
          error(]] .. expr .. [[, 0)
        end
      end, "r")]])
    local out, code, err = H.run({ "run", dir .. "/raise.lua" })
    local ok, r = pcall(cjson.decode, out)
    assert(ok and type(r) == "table", "not one JSON answer: " .. out .. " / stderr: " .. err)
    assert.are.equal(70, code)
    assert.are.equal("SCRIPT_ERROR", r.error_code)
    return r, err
  end

  it("prints an error value as CODE: message, by its __tostring", function()
    local r, err = raise_outside('errors.new("SYSTEM_ERROR", "raised outside the CLI")')
    assert.are.equal("SYSTEM_ERROR: raised outside the CLI", r.error.message)
    assert.are.equal("tasknum: SYSTEM_ERROR: raised outside the CLI\n", err)
  end)

  it("names the type of an error object without __tostring", function()
    local r = raise_outside("{}")
    assert.matches("^%(error object is a table value%)", r.error.message)
  end)

  it("the modules built into it keep their file names and lines for tracebacks", function()
    local dir = H.tmpdir()
    H.write(dir .. "/bad.lua", 'require("tasknum.state").parse(nil)\n')
    local r, code = H.run_json({ "run", dir .. "/bad.lua" })
    assert.are.equal(70, code)
    assert.matches("^lua/tasknum/state%.lua:%d+: bad argument #1 to '%a+'", r.error_message)
    assert.matches("\n%s*lua/tasknum/state%.lua:%d+: in function 'tasknum%.state%.parse'", r.error.details)
  end)

  -- A shipped command that is over exits without closing the Lua state;
  -- anything where a team's code ran closes it, so its finalizers run.
  local GC = [[setmetatable({}, { __gc = function() local f = io.open(%q, "w") f:write("closed") f:close() end })
]]

  it("closes the Lua state after a team's command or a script run by path: __gc runs", function()
    local dir = H.project(H.state_text(3))
    local marker = dir .. "/gc-ran"
    H.write(dir .. "/.opencode/tasknum/commands/hello.lua", GC:format(marker) .. "print('hi')\n")
    local out, code = H.run({ "hello" }, { cwd = dir })
    assert.are.equal("hi\n", out)
    assert.are.equal(0, code)
    assert.are.equal("closed", H.read(marker))
    os.remove(marker)
    H.write(dir .. "/s.lua", GC:format(marker) .. "return 4\n")
    _, code = H.run({ "run", dir .. "/s.lua" }, { cwd = dir })
    assert.are.equal(4, code)
    assert.are.equal("closed", H.read(marker))
  end)

  it("closes it after a shipped command that ran a team's policy: __gc runs", function()
    local dir = H.project(H.state_text(3))
    local marker = dir .. "/gc-ran"
    H.write(dir .. "/.opencode/tasknum/format/mine.lua", GC:format(marker)
      .. "return function(r) return 'mine ' .. tostring(r.allocated_numbers[1]) .. '\\n' end\n")
    local out, code = H.run({ "allocate", "--format", "mine" }, { cwd = dir })
    assert.are.equal("mine 3\n", out)
    assert.are.equal(0, code)
    assert.are.equal("closed", H.read(marker))
  end)
end)
