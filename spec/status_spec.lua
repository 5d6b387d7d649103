-- status_spec.lua: `tasknum status`, `tasknum check`, the audit log after a
-- mix of successes and failures, and `tasknum stats` over it.
local H = require "spec_helper"
local L = require "lock_helper"
local core = require "tasknum.core"

local cjson = require "cjson"

describe("tasknum status", function()
  after_each(function() H.cleanup() end)

  local function status(state, ...)
    local r, code = H.run_json({ "status", "--state", state, "--json", ... })
    assert.equal(0, code)
    assert.equal("success", r.status)
    return r
  end

  it("--json describes a quiet state", function()
    local dir, state = H.project(H.state_text(10, { active = { 3, 25, 4 } }))
    local s = status(state)
    assert.equal(state, s.state_path)
    assert.equal(10, s.next_project_number)
    assert.same({ min = 0, max = 999 }, s.range)
    assert.equal(3, s.active_project_count)
    assert.equal(15, s.room)                       -- 10..24 are free, 25 is taken
    assert.same({ project_number = 25, project_name = "task_25" }, s.next_active)
    assert.is_false(s.lock.held)
    assert.is_false(s.legacy.present)
    assert.equal(0, s.temp_files)
    assert.same({}, s.recent)
    assert.equal(dir .. "/.opencode/specs/.state.json.audit.jsonl", s.audit.path)
    assert.is_table(s.policies.dirs)
    assert.is_table(s.policies.loaded)
  end)

  it("counts the room across the wrap and without active projects", function()
    local _, state = H.project(H.state_text(998, { active = { 1, 500 } }))
    assert.equal(3, status(state).room)            -- 998, 999, 0
    _, state = H.project(H.state_text(5, { min = 5, max = 9 }))
    local s = status(state)
    assert.equal(5, s.room)
    assert.equal(cjson.null, s.next_active)
  end)

  it("shows the holder, a stale legacy folder, temp files and recent allocations", function()
    local dir, state = H.project(H.state_text(0))
    for i = 1, 3 do H.run_json({ "allocate", "--state", state, "--purpose", "p" .. i }) end
    H.write(dir .. "/.opencode/specs/.state.json.tmp-abc123", "{")
    local group = L.bg(L.cmd({ "lock", "--state", state, "--", "sleep", "30" }, dir .. "/holder"))
    -- the record names the command from the start; the folder names the
    -- keeper once it has started (after the lock was taken)
    assert(L.wait_until(function() local w = status(state) return w.lock.held
      and w.lock.holder.command == "sleep 30" and w.legacy.keeper end, 10))
    local s = status(state)
    assert.equal("kernel", s.lock.holder.lock)
    assert.matches("command: sleep 30", s.lock.description, 1, true)
    assert.is_true(s.legacy.present and s.legacy.mine)
    assert.is_true(s.legacy.keeper, "the folder of tasknum lock is kept by its keeper")
    assert.equal(1, s.temp_files)
    assert.equal(3, #s.recent)
    assert.same({ 2 }, s.recent[3].numbers)
    assert.equal("p3", s.recent[3].purpose)
    local text = H.run({ "status", "--state", state })
    assert.matches("lock +held: .*command: sleep 30", text)
    assert.matches("legacy lock +present, kept for the lock holder by its keeper %(pid %d+%)", text)
    assert.matches("recent +%S+ +2 +pid %d+ +purpose: p3", text)
    L.kill_group(group)
    -- the keeper of the folder removes it once nothing holds the lock
    assert(L.wait_until(function() return not status(state).lock.held end, 5))
    assert(L.wait_until(function() return not status(state).legacy.present end, 5))
    L.make_folder(state, L.dead_pid() .. ":" .. os.time() .. "\n")
    s = status(state)
    assert.is_true(s.legacy.present)
    assert.equal("dead", s.legacy.verdict)
    assert.is_true(s.legacy.stale)
    assert.matches("stale: the next allocation breaks it", H.run({ "status", "--state", state }))
  end)

  it("reports a state it cannot parse instead of failing", function()
    local _, state = H.project("{not json\n")
    local s = status(state)
    assert.equal("STATE_CORRUPT", s.state_error.code)
    assert.is_nil(s.next_project_number)
    assert.matches("problem +STATE_CORRUPT", H.run({ "status", "--state", state }))
  end)

  it("fails with STATE_NOT_FOUND when there is no state", function()
    local dir = H.tmpdir()
    local r, code = H.run_json({ "status", "--json" }, { cwd = dir })
    assert.equal(66, code)
    assert.equal("STATE_NOT_FOUND", r.error_code)
  end)
end)

describe("tasknum check", function()
  after_each(function() H.cleanup() end)

  local function check(text)
    local _, state = H.project(text)
    local r, code, err = H.run_json({ "check", "--state", state })
    assert.equal(text, H.read(state), "check changed the state")
    return r, code, err
  end

  it("passes a good state with exit 0", function()
    local r, code = check(H.state_text(10, { active = { 3, 4, 500 } }))
    assert.equal(0, code)
    assert.equal("success", r.status)
    assert.same({}, r.problems)
  end)

  it("fails on duplicate active numbers, listing them", function()
    local r, code, err = check(H.state_text(10, { active = { 3, 500, 3 } }))
    assert.equal(1, code)
    assert.equal("CHECK_FAILED", r.error_code)
    assert.equal(1, #r.error.problems)
    assert.equal("duplicate", r.error.problems[1].check)
    assert.equal(3, r.error.problems[1].project_number)
    assert.matches("project number 3 is held by active projects task_3 and task_3", err, 1, true)
  end)

  it("fails when an active project holds the counter or is just after it", function()
    local r, code = check(H.state_text(10, { active = { 10 } }))
    assert.equal(1, code)
    assert.equal("ahead", r.error.problems[1].check)
    assert.matches("counter 10 is held by active project 10", r.error.problems[1].message, 1, true)
    r, code = check(H.state_text(998, { active = { 2 } }))   -- 998, 999, 0, 1, then 2
    assert.equal(1, code)
    assert.equal(4, r.error.problems[1].room)
    r, code = check(H.state_text(10, { active = { 20, 9 } }))
    assert.equal(0, code)
  end)

  it("fails on a state that is not well-formed or out of range", function()
    for _, text in ipairs({ "", "[1]\n", "{\"next_project_number\": 5.0}\n",
                            H.state_text(1000), H.state_text(3, { min = 5, max = 1 }) }) do
      local r, code = check(text)
      assert.equal(65, code, text)
      assert.equal("STATE_CORRUPT", r.error_code)
      assert.equal("well-formed", r.error.problems[1].check)
    end
  end)

  it("lists every problem at once", function()
    local r, code = check(H.state_text(10, { active = { 11, 30, 30 } }))
    assert.equal(1, code)
    assert.equal(2, #r.error.problems)
    assert.matches("^2 problems", r.error_message)
  end)

  it("fails with STATE_NOT_FOUND (66) when there is no state", function()
    local r, code = H.run_json({ "check", "--state", H.tmpdir() .. "/state.json" })
    assert.equal(66, code)
    assert.equal("STATE_NOT_FOUND", r.error_code)
  end)
end)

describe("the audit log", function()
  after_each(function() H.cleanup() end)

  it("has one line per attempt, successes and failures alike, and stats sums it up", function()
    local dir, state = H.project(H.state_text(997, { active = { 3 } }))
    local function alloc(...) return H.run_json({ "allocate", "--state", state, ... }) end
    alloc("--purpose", "first")                           -- 997
    alloc("--count", "2", "--purpose", "wraps")           -- 998, 999: next is 0, wrapped
    alloc("--count", "11")                                -- INVALID_ARGUMENT
    alloc("--count", "3")                                 -- 0, 1, 2
    local r = alloc()                                     -- 3 is taken: NUMBER_CONFLICT
    assert.equal("NUMBER_CONFLICT", r.error_code)
    L.make_folder(state, L.dead_pid() .. ":" .. os.time() .. "\n")
    L.bg(L.cmd({ "lock", "--state", state, "--", "sleep", "1" }, dir .. "/holder"))
    assert(L.wait_until(function() return core.probe(L.lock_path(state)) end, 10))
    r = alloc("--timeout", "0.1")
    assert.equal("LOCK_TIMEOUT", r.error_code)
    local _, code = L.result(dir .. "/holder")
    assert.equal(0, code)

    local lines = L.audit(state)
    assert.equal(7, #lines)
    for _, e in ipairs(lines) do
      for _, k in ipairs({ "timestamp", "pid", "host", "user", "numbers", "wait_ms", "hold_ms",
                           "wrapped", "conflict", "stale_break", "status" }) do
        assert.is_not_nil(e[k], k .. " missing in " .. cjson.encode(e))
      end
      assert.is_true(e.error_code ~= nil or e.status == "success")
    end
    assert.same({ 997 }, lines[1].numbers)
    assert.equal("first", lines[1].purpose)
    assert.is_true(lines[2].wrapped)
    assert.equal("INVALID_ARGUMENT", lines[3].error_code)
    assert.same({}, lines[3].numbers)
    assert.same({ 0, 1, 2 }, lines[4].numbers)
    assert.is_true(lines[5].conflict)
    assert.equal("NUMBER_CONFLICT", lines[5].error_code)
    assert.equal("LOCK_TIMEOUT", lines[6].error_code)   -- logged without the lock
    assert.is_true(lines[6].wait_ms >= 90)
    assert.equal("dead", lines[7].stale_break[1].reason) -- the lock command broke it
    assert.equal("sleep 1", lines[7].command)
    assert.equal(0, lines[7].command_status)
    assert.is_true(lines[7].hold_ms >= 900)

    local s
    s, code = H.run_json({ "stats", "--state", state, "--json" })
    assert.equal(0, code)
    assert.equal(7, s.attempts)
    assert.equal(3, s.allocations)
    assert.equal(6, s.numbers)
    assert.equal(1, s.lock_commands)
    assert.equal(1, s.timeouts)
    assert.equal(1, s.wraps)
    assert.equal(1, s.conflicts)
    assert.equal(1, s.stale_breaks)
    assert.same({ INVALID_ARGUMENT = 1, NUMBER_CONFLICT = 1, LOCK_TIMEOUT = 1 }, s.errors)
    -- times of the attempts that reached the lock (not the bad count's);
    -- the timeout's wait, but no hold
    assert.equal(6, s.wait_ms.n)
    assert.is_true(s.wait_ms.max >= 90 and s.wait_ms.p50 <= s.wait_ms.p99)
    assert.equal(5, s.hold_ms.n)
    assert.is_true(s.hold_ms.max >= 900)
    local text = H.run({ "stats", "--state", state })
    assert.matches("allocations +3 %(6 numbers%)", text)
    assert.matches("lock wait ms +p50 [%d.]+ +p99 [%d.]+ +max [%d.]+", text)
  end)
end)
