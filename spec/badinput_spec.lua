-- Bad and odd input (SPEC guarantees 5 and 6): every state-file content the
-- README's "Exit codes and errors" section names gets the code and exit
-- status it says, with the state byte for byte as it was, a backup kept, no
-- temp file and no lock left; the contents it accepts allocate and keep every
-- other byte. Then huge states, odd --purpose texts and random argument
-- vectors: one line of valid JSON and an exit status of the contract, never a
-- crash.
local H = require "spec_helper"
local cjson = require "cjson"
local core = require "tasknum.core"

local STATE = "/.opencode/specs/state.json"
local LOCK = "/.opencode/specs/.state.json.lock"

-- Every exit status the contract allows (INTERRUPTED needs a signal).
local EXITS = { [0] = true, [64] = true, [65] = true, [66] = true, [69] = true,
                [70] = true, [71] = true, [73] = true, [75] = true }

-- The answer must be exactly one line of JSON, valid UTF-8.
local function one_json_line(out, err)
  assert.is_truthy(utf8.len(out), "stdout is not valid UTF-8")
  assert.are.equal(1, select(2, out:gsub("\n", "")), "not one line: " .. out:sub(1, 300))
  assert.are.equal("\n", out:sub(-1))
  local ok, r = pcall(cjson.decode, out)
  assert(ok and type(r) == "table", "not JSON: " .. out:sub(1, 300) .. " / " .. tostring(err))
  return r
end

-- The state's folder holds no temp file and nobody holds the lock.
local function clean(dir)
  local names = H.ls(dir .. "/.opencode/specs")
  assert.is_nil(names:find(".tmp-", 1, true), "temp file left: " .. names)
  assert.is_false(core.probe(dir .. LOCK) == true, "the lock is still held")
end

-- A byte string with the counter literal in place of @N@.
local function fill(template, n) return (template:gsub("@N@", function() return n end)) end

-- A file whose only problem is what is named (plus the counter literal).
local function doc(member, counter)
  return '{\n  "next_project_number": ' .. (counter or "7") .. ',\n  "project_numbering": '
    .. '{"min": 0, "max": 999},\n  "other": ' .. member .. '\n}\n'
end

-- Text nested n levels deep with arrays.
local function nested(n) return string.rep("[", n) .. string.rep("]", n) end

local CORRUPT = {
  -- the counter
  { "counter 1e2", doc("1", "1e2"), "plain integer" },
  { "counter 1E+2", doc("1", "1E+2"), "plain integer" },
  { "counter 1.0", doc("1", "1.0"), "plain integer" },
  { "counter 1e400", doc("1", "1e400"), "plain integer" },
  { "counter -1e400", doc("1", "-1e400"), "plain integer" },
  { "counter 2^63", doc("1", "9223372036854775808"), "out of range" },
  { "counter 10^40", doc("1", "1" .. string.rep("0", 40)), "out of range" },
  { "counter a string", doc("1", '"7"'), "plain integer" },
  { "counter true", doc("1", "true"), "plain integer" },
  { "counter an array", doc("1", "[7]"), "plain integer" },
  { "counter an object", doc("1", '{"n": 7}'), "plain integer" },
  { "counter -0 below min 1", '{"next_project_number": -0, "project_numbering": {"min": 1, "max": 9}}',
    "outside the range" },
  { "counter -1", doc("1", "-1"), "outside the range" },
  { "counter 1000 past max", doc("1", "1000"), "outside the range" },
  { "counter only inside a nested object", '{"a": {"next_project_number": 5}}\n', "missing" },
  { "counter only inside a string", '{"a": "\\"next_project_number\\": 5"}\n', "missing" },
  -- the range
  { "min 1.5", '{"next_project_number": 2, "project_numbering": {"min": 1.5, "max": 9}}', "plain integer" },
  { "max a string", '{"next_project_number": 2, "project_numbering": {"min": 0, "max": "9"}}', "plain integer" },
  { "min greater than max", '{"next_project_number": 2, "project_numbering": {"min": 9, "max": 1}}', "greater than max" },
  { "project_numbering an array", '{"next_project_number": 2, "project_numbering": [0, 9]}', "object" },
  -- duplicate keys that decide the numbers
  { "counter twice", '{"next_project_number": 1, "next_project_number": 2}\n', "twice" },
  { "counter twice, once escaped", '{"next_project_number": 1, "next\\u005fproject_number": 2}\n', "twice" },
  { "project_numbering twice", '{"next_project_number": 1, "project_numbering": {"min": 0, "max": 9},'
    .. ' "project_numbering": {"min": 0, "max": 99}}', "twice" },
  { "max twice", '{"next_project_number": 1, "project_numbering": {"min": 0, "max": 9, "max": 99}}', "twice" },
  -- not JSON at all
  { "empty", "", "empty" },
  { "only white space", " \n\t\r\n", "not valid JSON" },
  { "only a BOM", "\239\187\191", "not valid JSON" },
  { "two BOMs", "\239\187\191\239\187\191" .. doc("1"), "not valid JSON" },
  { "a UTF-16 BOM", "\255\254" .. doc("1"), "not valid JSON" },
  { "truncated mid-string", doc('"abcdef"'):sub(1, 70), "not valid JSON" },
  { "truncated after a key", '{"next_project_number"', "not valid JSON" },
  { "trailing comma", '{"next_project_number": 1,}', "not valid JSON" },
  { "a comment", '{"next_project_number": 1 // next\n}', "not valid JSON" },
  { "single quotes", "{'next_project_number': 1}", "not valid JSON" },
  { "NaN elsewhere", doc("NaN"), "not valid JSON" },
  { "a leading zero elsewhere", doc("007"), "not valid JSON" },
  { "two values", doc("1") .. doc("1"), "not valid JSON" },
  { "a NUL after the object", doc("1") .. "\0", "not valid JSON" },
  { "a raw NUL in a string", doc('"a\0b"'), "not valid JSON" },
  { "a raw newline in a string", doc('"a\nb"'), "not valid JSON" },
  { "a bad escape", doc('"\\x41"'), "not valid JSON" },
  { "a short \\u escape", doc('"\\u12"'), "not valid JSON" },
  -- not an object
  { "an array", "[1, 2, 3]\n", "not a JSON object" },
  { "a number", "7\n", "not a JSON object" },
  { "null", "null", "not a JSON object" },
  -- invalid UTF-8 inside strings (and keys)
  { "a lone 0xFF byte", doc('"caf\255"'), "UTF-8" },
  { "a lone continuation byte", doc('"\128"'), "UTF-8" },
  { "an overlong slash", doc('"\192\175"'), "UTF-8" },
  { "an overlong 3-byte NUL", doc('"\224\128\128"'), "UTF-8" },
  { "a UTF-16 surrogate", doc('"\237\160\128"'), "UTF-8" },
  { "past U+10FFFF", doc('"\244\144\128\128"'), "UTF-8" },
  { "a sequence cut by the quote", doc('"\226\130"'), "UTF-8" },
  { "Latin-1 in a key", '{"caf\233": 1, "next_project_number": 1}', "UTF-8" },
  -- nesting past the scanner's limit (JSON_MAX_DEPTH, 512 with the root)
  { "513 levels elsewhere", doc(nested(512)), "too deep" },
  { "100,000 open brackets", doc(string.rep("[", 100000)), "too deep" },
  { "100,000 nested objects", doc(string.rep('{"a":', 100000) .. "1" .. string.rep("}", 100000)), "too deep" },
}

describe("a state that cannot be trusted is STATE_CORRUPT (65), untouched, backed up", function()
  after_each(H.cleanup)

  for _, case in ipairs(CORRUPT) do
    local name, text, says = case[1], case[2], case[3]
    it(name, function()
      local dir, path = H.project(text)
      local out, code, err = H.run({ "allocate" }, { cwd = dir })
      local r = one_json_line(out, err)
      assert.are.equal("STATE_CORRUPT", r.error_code, out)
      assert.are.equal(65, code)
      assert.is_false(r.retry_suggested)
      assert.matches(says, r.error.message, 1, true)
      assert.matches("tasknum: STATE_CORRUPT", err, 1, true)
      assert.are.equal(text, H.read(path), "the state changed")
      assert.are.equal(text, H.read(path .. ".backup"), "no faithful backup")
      clean(dir)
    end)
  end

  it("says where invalid UTF-8 is: line, column and byte offset", function()
    local text = '{\n  "next_project_number": 1,\n  "name": "ab\255"\n}\n'
    local dir = H.project(text)
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("STATE_CORRUPT", r.error_code)
    assert.matches("line 3, column %d+ %(byte %d+%)", r.error.message)
    local at = text:find("\255", 1, true)
    assert.matches("line 3, column 14 (byte " .. at .. ")", r.error.message, 1, true)
  end)
end)

-- Accepted as they are: allocation succeeds, every other byte stays.
local ACCEPTED = {
  { "a UTF-8 BOM", "\239\187\191{\"next_project_number\": @N@, \"a\": \"\226\156\147\"}\n" },
  { "duplicate keys that are not the counter or the range",
    '{"a": 1, "a": 2, "next_project_number": @N@, "active_projects": '
    .. '[{"project_number": 1, "project_number": 2, "x": {"y": 1, "y": 1}}]}\n' },
  { "odd numbers elsewhere",
    '{"big": 1e400, "neg0": -0, "one": 1.0, "e": 1E+2, "tiny": -1e-400, '
    .. '"long": 123456789012345678901234567890, "next_project_number": @N@}' },
  { "511 levels of nesting elsewhere", '{"deep": ' .. nested(510) .. ', "next_project_number": @N@}' },
  { "the counter under an escaped key", '{"next\\u005fproject_number": @N@, "s": "\\ud83d\\ude00\\/"}' },
  { "escapes and unicode around the counter",
    '{"s": "\\"next_project_number\\": 1 \\\\ \\u0000", "k\\u00e9": "日本", "next_project_number":@N@}' },
  { "white space of every kind", ' \t\r\n{ \t\r\n"next_project_number" \t\r\n: \t\r\n@N@ \t\r\n} \t\r\n' },
}

describe("accepted as they are, and kept byte for byte", function()
  after_each(H.cleanup)

  for _, case in ipairs(ACCEPTED) do
    it(case[1], function()
      local dir, path = H.project(fill(case[2], "41"))
      local out, code, err = H.run({ "allocate", "--count", "2" }, { cwd = dir })
      local r = one_json_line(out, err)
      assert.are.equal("success", r.status, out)
      assert.are.equal(0, code)
      assert.are.same({ 41, 42 }, r.allocated_numbers)
      assert.are.equal(fill(case[2], "43"), H.read(path))
      clean(dir)
    end)
  end

  it("a counter of -0 reads as 0 and is written back as digits", function()
    local dir, path = H.project('{"next_project_number": -0, "keep": -0}\n')
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.same({ 0 }, r.allocated_numbers)
    assert.are.equal('{"next_project_number": 1, "keep": -0}\n', H.read(path))
  end)
end)

describe("the new text is checked again before the rename", function()
  after_each(H.cleanup)

  -- A script body that goes around txn:splice and breaks the text.
  local function breaks(body)
    local dir, path = H.project(H.state_text(5))
    H.write(dir .. "/break.lua", [[
      local tasknum = require "tasknum"
      local cli = require "tasknum.cli"
      local r = tasknum.transaction({ state = arg[1] }, function(txn)
        txn:take(1)
        ]] .. body .. [[
      end)
      return cli.emit(r)]])
    local r, code = H.run_json({ "run", dir .. "/break.lua", path }, { cwd = dir })
    assert.are.equal("SCRIPT_ERROR", r.error_code)
    assert.are.equal(70, code)
    assert.matches("failed its own check", r.error.message, 1, true)
    assert.are.equal(H.state_text(5), H.read(path))
    clean(dir)
    return r
  end

  it("refuses text that is no longer JSON", function()
    breaks([[txn.text = txn.text:sub(1, #txn.text - 3)]])
  end)

  it("refuses a counter outside the range", function()
    local r = breaks([[txn.counter = 5000]])
    assert.matches("outside the range", r.error.details, 1, true)
  end)

  it("refuses a second counter slipped in", function()
    breaks([[txn.text = txn.text:gsub("{", '{"next_project_number": 1, ', 1)]])
  end)
end)

-- --- large states ----------------------------------------------------------

-- A state of about mb megabytes: n active projects numbered 0..n-1, each
-- with some text, the counter at n in 0..n*2.
local function big_state(n, pad)
  local parts = { '{\n  "_schema_version": "1.1.0",\n  "next_project_number": ' .. n .. ',\n'
    .. '  "project_numbering": {"min": 0, "max": ' .. (2 * n) .. ', "policy": "increment"},\n'
    .. '  "active_projects": [\n' }
  local blurb = string.rep("Ünïcödé ✓ \\\"quoted\\\" and a/b ", pad)
  for i = 0, n - 1 do
    parts[#parts + 1] = string.format('    {\n      "project_number": %d,\n      "project_name": '
      .. '"task_%d",\n      "status": "%s",\n      "ratio": 8.0,\n      "description": "%s"\n    }%s\n',
      i, i, i % 3 == 0 and "completed" or "in_progress", blurb, i < n - 1 and "," or "")
  end
  parts[#parts + 1] = "  ]\n}\n"
  return table.concat(parts)
end

describe("a 20 MB state with 50,000 active projects", function()
  after_each(H.cleanup)

  it("allocates correctly and keeps every other byte", function()
    local text = big_state(50000, 8)
    assert.is_true(#text >= 20e6 and #text < 23e6, "size " .. #text)
    local dir, path = H.project(text)
    local t0 = core.clock()
    local r, code = H.run_json({ "allocate", "--count", "3" }, { cwd = dir })
    local took = core.clock() - t0
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 50000, 50001, 50002 }, r.allocated_numbers)
    local want = text:gsub('"next_project_number": 50000,', '"next_project_number": 50003,', 1)
    assert.is_true(H.read(path) == want, "bytes other than the counter changed")
    clean(dir)
    print(string.format("\n# 20 MB state: one allocation took %.3f s", took))
  end)

  it("finds a conflict at its far end", function()
    local text = big_state(50000, 8):gsub('"next_project_number": 50000,', '"next_project_number": 49999,', 1)
    local dir, path = H.project(text)
    local r, code = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("NUMBER_CONFLICT", r.error_code)
    assert.are.equal(69, code)
    assert.are.equal("task_49999", r.error.conflicts[1].project_name)
    assert.is_true(H.read(path) == text)
    clean(dir)
  end)
end)

-- --- odd --purpose texts -----------------------------------------------------

-- What the JSON should say for s: invalid UTF-8 bytes become U+FFFD.
local function as_utf8(s)
  local out, i = {}, 1
  while i <= #s do
    local len, bad = utf8.len(s, i)
    if len then out[#out + 1] = s:sub(i) break end
    out[#out + 1] = s:sub(i, bad - 1) .. "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(out)
end

local function controls()
  local t = {}
  for b = 1, 31 do t[#t + 1] = string.char(b) end
  return table.concat(t) .. "\127"
end

local PURPOSES = {
  { "newlines", "line one\nline two\r\nline three\r" },
  { "quotes and backslashes", [["double" 'single' \back\slash\ \" \\" \u0041 /slash/]] },
  { "every control character", controls() },
  { "unicode", "café ✓ 日本語 🎉 \u{2028}\u{2029} \u{FEFF}" },
  { "invalid UTF-8", "ok \255\254 overlong \192\175 surrogate \237\160\128 cut \226\130" },
  { "JSON that might be mistaken for fields", '","status":"success","allocated_numbers":[1]}\n{' },
  { "100 KB (near the kernel's 128 KB limit for one argument)", string.rep("0123456789abcdé\n", 6000) },
}

-- The last line of the audit log, decoded after checking it is valid UTF-8.
local function last_audit(dir)
  local log = H.read(dir .. "/.opencode/specs/.state.json.audit.jsonl")
  assert.is_truthy(log, "no audit log")
  assert.is_truthy(utf8.len(log), "the audit log is not valid UTF-8")
  local last = log:match("([^\n]*)\n$")
  return cjson.decode(last), select(2, log:gsub("\n", ""))
end

-- The audit line keeps a purpose whole up to 4 KB; a longer one is cut to
-- its first 4 KB (never half a character) and the line says how long it was.
local function audit_purpose(entry, raw)
  if #raw <= 4096 then
    assert.are.equal(as_utf8(raw), entry.purpose)
    assert.is_nil(entry.truncated)
    return
  end
  assert.are.same({ purpose = #raw }, entry.truncated)
  assert.is_true(#entry.purpose >= 4096 - 3 and as_utf8(raw):sub(1, #entry.purpose) == entry.purpose,
    "the audit log's purpose is not the start of the purpose")
end

describe("--purpose is escaped in the answer and in the audit log", function()
  after_each(H.cleanup)

  for _, case in ipairs(PURPOSES) do
    it(case[1], function()
      local dir = H.project(H.state_text(5))
      local out, code, err = H.run({ "allocate", "--purpose", case[2] }, { cwd = dir })
      local r = one_json_line(out, err)
      assert.are.equal(0, code)
      assert.are.equal(as_utf8(case[2]), r.purpose)
      local entry, lines = last_audit(dir)
      assert.are.equal(1, lines)
      audit_purpose(entry, case[2])
      assert.are.same({ 5 }, entry.numbers)
    end)
  end

  it("a megabyte of text through the Lua API (one argv string may not exceed 128 KB)", function()
    local dir, path = H.project(H.state_text(5))
    local purpose = string.rep("line \"x\"\t\1 ✓ \255\n", 1024 * 1024 // 16)
    assert.is_true(#purpose >= 1024 * 1024)
    H.write(dir .. "/purpose.txt", purpose)
    H.write(dir .. "/big.lua", [[
      local tasknum = require "tasknum"
      local f = assert(io.open(arg[2], "rb"))
      local r = tasknum.allocate{ state = arg[1], purpose = f:read("a") }
      f:close()
      return require("tasknum.cli").emit(r)]])
    local out, code, err = H.run({ "run", dir .. "/big.lua", path, dir .. "/purpose.txt" })
    local r = one_json_line(out, err)
    assert.are.equal(0, code, err)
    assert.is_true(r.purpose == as_utf8(purpose), "the purpose came back different")
    local entry = last_audit(dir)
    audit_purpose(entry, purpose)
    assert.are.equal(H.state_text(6), H.read(path))
  end)
end)

-- --- random argument vectors ---------------------------------------------------

-- Words an argument vector is made of: options, their edge values, junk.
local WORDS = {
  "--count", "--purpose", "--state", "--timeout", "--format", "--next", "--min", "--max",
  "--", "-", "", " ", "0", "1", "3", "10", "11", "-1", "-0", "+1", "1.5", "1e3", "0x10",
  "nan", "inf", "-inf", "1e308", "9223372036854775807", "9223372036854775808",
  "-9223372036854775808", "99999999999999999999999999", string.rep("9", 5000),
  "json", "xml", "../nope/state.json", "/", "sub/state.json", "state.json",
  "--count=", "--count=2", "--timeout=0.01", "--timeout=", "--purpose=", "--state=",
  "--format=", "--format=json", "--count==1", "%s%d%n", "$(false)", "'", '"', "\\",
  "\255\254", "日本", "a\nb", "\t", "--help", "--version", "-h",
}

local function random_word(rnd)
  local w = WORDS[rnd(#WORDS)]
  if rnd(8) == 1 then -- raw bytes (no NUL: argv cannot hold one)
    local b = {}
    for i = 1, rnd(12) do b[i] = string.char(rnd(255)) end
    w = table.concat(b)
  end
  return w
end

-- The first words: built-in commands that answer in JSON, and junk.
local HEADS = {
  { "allocate" }, { "allocate" }, { "allocate" }, { "allocate" }, { "init" },
  { "run", "allocate.lua" }, { "run", "init.lua" }, { "run", "no_such_script" },
  { "frobnicate" }, { "--frobnicate" }, { "-x" }, { "allocate.lua" },
}

describe("any argument vector", function()
  after_each(H.cleanup)

  -- Fewer under a slow wrapper (valgrind); the seed makes a failure repeatable.
  local seed = tonumber(os.getenv("TASKNUM_ARGV_SEED") or "") or 20261127
  local n = H.wrap ~= "" and 40 or 300

  it(string.format("gives one JSON line and a contract exit status (%d vectors, seed %d)", n, seed),
    function()
      local dir, path = H.project(H.state_text(0, { max = 999999 }))
      local rng = math.random
      math.randomseed(seed)
      for i = 1, n do
        local args = {}
        for _, w in ipairs(HEADS[rng(#HEADS)]) do args[#args + 1] = w end
        for _ = 1, rng(0, 6) do args[#args + 1] = random_word(rng) end
        local out, code, err = H.run(args, { cwd = dir })
        local shown = string.format("vector %d: %q -> exit %s, stderr %s", i,
          table.concat(args, " "):sub(1, 200), tostring(code), err:sub(1, 300))
        assert.is_nil(err:find("AddressSanitizer", 1, true), shown)
        assert.is_nil(err:find("runtime error", 1, true), shown)
        assert.is_true(EXITS[code] == true, shown)
        -- --help (or -h) where an option may stand: the command's help, exit 0
        local asked = false
        for _, a in ipairs(args) do asked = asked or a == "--help" or a == "-h" end
        if asked and code == 0 and out:match("^usage: tasknum ") then goto next end
        local ok, r = pcall(one_json_line, out, err)
        assert(ok, shown .. "\nstdout: " .. out:sub(1, 300))
        assert.are_not.equal("SCRIPT_ERROR", r.error_code, shown .. "\n" .. out:sub(1, 600))
        assert.are.equal(code == 0, r.status == "success", shown)
        if code ~= 0 then assert.are.equal(r.error_code, r.error.code, shown) end
        ::next::
      end
      -- whatever happened, the state is still valid and its own
      local r = H.run_json({ "allocate", "--state", path, "--timeout", "0" })
      assert.are.equal("success", r.status)
      clean(dir)
    end)
end)
