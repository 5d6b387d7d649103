-- Issue 13.8: one number syntax for every option, and the one-line stderr
-- report. On main `--timeout 0x10` waited 16 s while `--count 0x3` was
-- refused (tonumber for seconds, digits for counts), and the line
-- `tasknum: CODE: message` split wherever a message held a newline.
local H = require "spec_helper"

-- Each option that takes a number, with the command around it; "%s" is
-- the value. lock runs `true` when it gets the lock.
local SECONDS = {
  { "allocate", "--timeout", "%s" },
  { "allocate", "--stale", "%s" },
  { "add-task", "--name", "opt_check", "--timeout", "%s" },
  { "todo", "--timeout", "%s" },
  { "status", "--json", "--stale", "%s" },
  { "lock", "--timeout", "%s", "--", "true" },
  { "lock", "--stale", "%s", "--", "true" },
}
local WHOLE = {
  { "allocate", "--count", "%s" },
  { "init", "--state", "new/state.json", "--next", "%s" },
  { "init", "--state", "new/state.json", "--min", "%s" },
  { "init", "--state", "new/state.json", "--max", "%s" },
}

local function with(args, value)
  local out = {}
  for i, a in ipairs(args) do out[i] = a == "%s" and value or a end
  return out
end

-- What no option takes: hex (0x10, which tonumber read as 16), exponents,
-- hex floats, blanks, a sign on seconds, infinities, digit separators.
local REFUSED = { "0x10", "0X3", "1e1", "1E0", "0x1p4", " 5", "5 ", "+5", "5.", "inf", "nan",
  "1_000", "", "five", "١" }

describe("option numbers (issue 13.8)", function()
  after_each(H.cleanup)

  local function refused(args, value)
    local dir, path = H.project(H.state_text(3))
    local before = H.read(path)
    local r, code, err = H.run_json(with(args, value), { cwd = dir })
    local name = table.concat(with(args, value), " ")
    assert.are.equal(64, code, name)
    assert.are.equal("INVALID_ARGUMENT", r.error_code, name)
    assert.matches("decimal digits", r.error_message, 1, true)
    assert.are.equal(before, H.read(path), name)
    local left = H.ls(dir .. "/.opencode/specs")
    assert.is_nil(left:match("tmp%-") or left:match("%.state%.lock "), name .. ": " .. left)
    assert.is_nil(H.read(dir .. "/new/state.json"), name)
    assert.are.equal(1, select(2, err:gsub("\n", "")), name)
  end

  for _, args in ipairs(SECONDS) do
    it(table.concat(with(args, "S"), " ") .. " takes decimal seconds only", function()
      for _, value in ipairs(REFUSED) do refused(args, value) end
      refused(args, "-1")
      for _, value in ipairs{ "0", "2", "0.5", ".5", "007" } do
        local dir = H.project(H.state_text(3))
        H.write(dir .. "/.opencode/specs/TODO.md", "---\nnext_project_number: 3\n---\n") -- for todo
        local _, code = H.run(with(args, value), { cwd = dir })
        assert.are.equal(0, code, table.concat(with(args, value), " "))
      end
    end)
  end

  for _, args in ipairs(WHOLE) do
    it(table.concat(with(args, "N"), " ") .. " takes a decimal whole number only", function()
      for _, value in ipairs(REFUSED) do refused(args, value) end
      refused(args, "0.5")
      refused(args, "3.0")
      -- one past either end of 64 bits (the first was read as the last that fits)
      refused(args, "-9223372036854775809")
      refused(args, "9223372036854775808")
    end)
  end

  it("reads 03 as 3 and a --min of -5 as -5", function()
    local dir = H.project(H.state_text(3))
    local r, code = H.run_json({ "allocate", "--count", "03" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.same({ 3, 4, 5 }, r.allocated_numbers)
    r, code = H.run_json({ "init", "--force", "--state", "n/state.json", "--min", "-5", "--next", "-5" },
      { cwd = dir })
    assert.are.equal(0, code, tostring(r.error_message))
    assert.matches('"next_project_number": %-5', H.read(dir .. "/n/state.json"))
  end)
end)

describe("the stderr line (issue 13.8)", function()
  after_each(H.cleanup)

  -- err is exactly one line: "tasknum: CODE: message", no control
  -- character in it but its final newline.
  local function one_line(err, code)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    assert.are.equal("\n", err:sub(-1))
    assert.is_nil(err:sub(1, -2):find("%c"), err)
    assert.are.equal("tasknum: " .. code .. ": ", err:sub(1, #code + 11))
  end

  it("stays one line when the message quotes a newline, a tab or an escape sequence", function()
    local dir = H.project(H.state_text(3))
    local r, code, err = H.run_json({ "allocate", "--count", "1\n2\t3\27[31m" }, { cwd = dir })
    assert.are.equal(64, code)
    one_line(err, "INVALID_ARGUMENT")
    assert.matches("got 1\\n2\\t3\\x1b[31m", err, 1, true)
    assert.are.equal("--count takes a whole number in decimal digits, got 1\n2\t3\27[31m", r.error_message)
  end)

  it("stays one line for an unknown option and a state path with a newline", function()
    local dir = H.project(H.state_text(3))
    local _, code, err = H.run_json({ "allocate", "--no\nsuch" }, { cwd = dir })
    assert.are.equal(64, code)
    one_line(err, "INVALID_ARGUMENT")
    _, code, err = H.run_json({ "allocate", "--state", dir .. "/a\nb/state.json" }, { cwd = dir })
    assert.are.equal(66, code)
    one_line(err, "STATE_NOT_FOUND")
    assert.matches("/a\\nb/state.json", err, 1, true)
  end)

  it("stays one line for a name add-task quotes with %q (a backslash-newline)", function()
    local dir = H.project(H.state_text(3))
    local _, code, err = H.run_json({ "add-task", "--name", "two\nlines" }, { cwd = dir })
    assert.are.equal(64, code)
    one_line(err, "INVALID_ARGUMENT")
  end)

  it("stays one line for a team policy's message", function()
    local dir = H.project(H.state_text(3))
    H.write(dir .. "/.opencode/tasknum/conflict.lua", [[
      return { pick = function(txn) txn:fail("NUMBER_CONFLICT", "first\nsecond\r\nthird\0fourth") end }]])
    local r, code, err = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal(69, code)
    one_line(err, "NUMBER_CONFLICT")
    assert.are.equal("tasknum: NUMBER_CONFLICT: first\\nsecond\\r\\nthird\\x00fourth\n", err)
    assert.are.equal("first\nsecond\r\nthird\0fourth", r.error_message)
  end)

  it("tasknum lock's own line stays one line for a command that cannot start", function()
    local dir = H.project(H.state_text(3))
    local out, code, err = H.run({ "lock", "--", "/no\nsuch" }, { cwd = dir })
    assert.are.equal(127, code)
    assert.are.equal("", out)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    assert.matches("^tasknum: lock: /no\\nsuch", err)
  end)
end)
