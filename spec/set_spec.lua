-- set_spec.lua: `tasknum set` (issue 14 item 6): the counter and the range
-- moved through tasknum, locked, validated and audited, never back over
-- numbers handed out without --force, with the numbering's mark; the
-- repair the past-max fixture's STATE_CORRUPT asks for.
local H = require "spec_helper"
local R = require "support.repo"
local cjson = require "cjson"
local marks = require "tasknum.authority.marks"

local function audit_last(path)
  local log = assert(H.read(path:gsub("state%.json$", ".state.json.audit.jsonl")))
  return cjson.decode(log:match("([^\n]+)\n$"))
end

-- The checks of a refusal: the code, the state as it was, nothing left beside it but the lock and log.
local function refused(r, code, path, text, pattern)
  assert.are.same({ "INVALID_ARGUMENT", 64 }, { r.error_code, code }, r.error_message)
  if pattern then assert.matches(pattern, r.error_message .. " " .. tostring(r.error.details), 1, true) end
  assert.are.equal(text, H.read(path))
  assert.is_nil(H.ls(path:match("^(.*)/")):find("tmp", 1, true))
end

describe("tasknum set", function()
  after_each(H.cleanup)

  it("repairs the past-max fixture as its error says: --max, or --next with --force", function()
    local old = H.read(H.shared .. "/fixtures/claude-state-next1001-past-max.json")
    if not old then return pending("no ../shared/fixtures") end
    local dir = H.tmpdir()
    local path = dir .. "/specs/state.json"
    H.write(path, old)
    local r, code, err = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.same({ "STATE_CORRUPT", 65 }, { r.error_code, code })
    assert.matches("`tasknum set --max 1001`", r.error.details, 1, true)
    assert.matches("`tasknum set --max 1001`", err, 1, true) -- on the stderr line too
    -- the range made to hold the counter: one block added at the end, nothing else
    r, code = H.run_json({ "set", "--max", "1999" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 1001, 1001, true }, { r.previous_next_number, r.new_next_number, r.changed })
    assert.are.same({ { min = 0, max = 999 }, { min = 0, max = 1999 } }, { r.previous_numbering, r.project_numbering })
    local fixed = H.read(path)
    assert.are.equal(old:gsub("\n  %]\n}\n$", "\n  ],\n  \"project_numbering\": {\n    \"min\": 0,\n"
      .. "    \"max\": 1999\n  }\n}\n"), fixed)
    assert.are.same({ 1001 }, H.run_json({ "allocate" }, { cwd = dir }).allocated_numbers)
    -- or back into 0..999: refused without --force, done with it
    local before = H.read(path)
    r, code = H.run_json({ "set", "--max", "999", "--next", "67" }, { cwd = dir })
    refused(r, code, path, before, "refusing to move the counter back from 1002 to 67")
    assert.matches("--force", r.error.details, 1, true)
    r, code = H.run_json({ "set", "--max", "999", "--next", "67", "--force" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 1002, 67 }, { r.previous_next_number, r.new_next_number })
    assert.matches('"next_project_number": 67,', H.read(path), 1, true)
    assert.matches('"max": 999\n', H.read(path), 1, true)
    local last = audit_last(path)
    assert.are.same({ "success", 1002, 67, { next = 67, max = 999, force = true } },
      { last.status, last.previous_next_number, last.new_next_number, last.set })
    assert.are.same({ 67 }, H.run_json({ "allocate" }, { cwd = dir }).allocated_numbers)
  end)

  it("reads a counter past the range (for --next alone too) and writes only a valid state", function()
    local text = H.state_text(1005, { norange = true })
    local dir, path = H.project(text)
    local r, code = H.run_json({ "set", "--next", "1006" }, { cwd = dir })
    refused(r, code, path, text, "the counter 1006 would be outside the range 0..999")
    r, code = H.run_json({ "set", "--next", "20", "--force" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal(text:gsub("1005", "20"), H.read(path))
  end)

  it("moves forward freely; TODO.md follows; the audit line says what was asked", function()
    local dir, path = H.project(H.state_text(40))
    H.write(dir .. "/.opencode/specs/TODO.md", "---\nnext_project_number: 40\n---\n")
    local r, code = H.run_json({ "set", "--next", "300", "--purpose", "skip the 2xx" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 40, 300, {} }, { r.previous_next_number, r.new_next_number, r.allocated_numbers })
    assert.are.equal(H.state_text(300), H.read(path))
    assert.are.equal("---\nnext_project_number: 300\n---\n", H.read(dir .. "/.opencode/specs/TODO.md"))
    assert.are.same({ "skip the 2xx", { next = 300 } }, { audit_last(path).purpose, audit_last(path).set })
    -- the same value again: nothing to change, nothing written, still logged
    r = H.run_json({ "set", "--next", "300" }, { cwd = dir })
    assert.are.same({ "success", false }, { r.status, r.changed })
    assert.are.equal(H.state_text(300), H.read(path))
  end)

  it("changes the range: only min and max move, and increment_modulo_N follows the size", function()
    local dir, path = H.project(H.state_text(40))
    local r, code = H.run_json({ "set", "--min", "10", "--max", "4999" }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal(H.state_text(40, { min = 10, max = 4999 }), H.read(path))
    -- init's block says increment_modulo_1000
    dir = H.tmpdir()
    H.run_json({ "init" }, { cwd = dir })
    r = H.run_json({ "set", "--max", "1999" }, { cwd = dir })
    assert.are.equal(0, select(2, H.run_json({ "check" }, { cwd = dir })), r.error_message)
    assert.matches('"project_numbering": {"min": 0, "max": 1999, "policy": "increment_modulo_2000"}',
      H.read(dir .. "/.opencode/specs/state.json"), 1, true)
  end)

  it("refuses what would not be a valid state, or nothing to do, writing nothing", function()
    local text = H.state_text(40, { min = 10, max = 99 })
    local dir, path = H.project(text)
    for _, case in ipairs({
      { { "set" }, "set needs --next N" },
      { { "set", "--min", "50", "--max", "20" }, "--min 50 is greater than --max 20" },
      { { "set", "--min", "120" }, "the range would be 120..99" },
      { { "set", "--max", "30" }, "give --next N too" },
      { { "set", "--next", "100" }, "outside the range 10..99" },
      { { "set", "--next", "39" }, "refusing to move the counter back from 40 to 39" },
      { { "set", "--next", "x" }, "--next takes a whole number" },
    }) do
      local r, code = H.run_json(case[1], { cwd = dir })
      refused(r, code, path, text, case[2])
    end
  end)

  it("moves the worktrees numbering's mark with the counter, and never down", function()
    local main = R.repo({ ["specs/state.json"] = H.state_text(82) })
    local wt = H.tmpdir() .. "/w2"
    R.must(main, "git worktree add -q -b w2 " .. H.q(wt) .. " main")
    local function run(dir, args) return H.run_json(args, { cwd = dir, env = R.ENV }) end
    local function mark() return marks.parse(H.read(main .. "/.git/tasknum/specs%2Fstate.json.mark")) end
    assert.are.same({ 82 }, run(main, { "allocate", "--no-todo" }).allocated_numbers)
    local r, code = run(main, { "set", "--next", "500" })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ "worktrees", 500 }, { r.authority.kind, mark().serial })
    -- the other worktree continues after it
    r = run(wt, { "allocate", "--no-todo" })
    assert.are.same({ { 500 }, 82, 500 }, { r.allocated_numbers, r.counter_adjusted.from, r.counter_adjusted.to })
    -- back, forced: the mark goes on to the next cycle of the range, where the counter is
    r, code = run(main, { "set", "--next", "480", "--force" })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 500, 501, 480, 1480 }, { r.previous_next_number, r.counter_adjusted.to, r.new_next_number,
      mark().serial })
    assert.are.same({ 480 }, run(main, { "allocate", "--no-todo" }).allocated_numbers)
    assert.are.equal(1481, mark().serial)
  end)
end)
