-- legacy_clock_spec.lua: judging an old script's lock folder when the wall
-- clock cannot be trusted (issue 13, item 5). An EPOCH in the future says
-- nothing about the folder's age (it used to make the folder unbreakable);
-- a clock stepped forward makes a live holder's EPOCH look old, which must
-- not make it look like a pid reused by a later process.
local H = require "spec_helper"
local L = require "lock_helper"
local core = require "tasknum.core"

describe("the legacy folder and the clock", function()
  local dir, state, folder, holder

  before_each(function()
    dir, state = H.project(H.state_text(10))
    folder = L.folder(state)
  end)

  after_each(function()
    if holder then L.kill_group(holder) end
    holder = nil
    H.cleanup()
  end)

  local function last_break()
    local lines = L.audit(state)
    return lines[#lines].stale_break
  end

  it("breaks a folder whose EPOCH is in the future by its mtime, when that is old", function()
    -- no valid pid, EPOCH a day ahead, the folder two years old
    L.make_folder(state, "0:" .. (os.time() + 86400) .. "\n")
    os.execute("touch -d '2 years ago' " .. H.q(folder))
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "2" })
    assert.equal(0, code, r.error and r.error.details)
    local b = last_break()[1]
    assert.equal("aged", b.reason)
    assert.is_true(b.age_s > 86400 * 365, "age " .. b.age_s)
  end)

  it("the same with a live pid in info", function()
    L.make_folder(state, "1:" .. (os.time() + 86400) .. "\n")
    os.execute("touch -d '2 years ago' " .. H.q(folder))
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "2" })
    assert.equal(0, code, r.error and r.error.details)
    assert.equal("aged", last_break()[1].reason)
  end)

  it("waits for a folder whose EPOCH is in the future and whose mtime is young, and says why", function()
    L.make_folder(state, "0:" .. (os.time() + 86400) .. "\n")
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "0.3" })
    assert.equal(75, code)
    assert.is_true(r.error.holder.age_s >= 0 and r.error.holder.age_s < 60, "age " .. r.error.holder.age_s)
    assert.matches("in the future", r.error.details)
    local s = require("cjson").decode((H.run({ "status", "--json", "--state", state })))
    assert.equal("live", s.legacy.verdict)
  end)

  it("does not take a live holder for a reused pid after the clock stepped forward", function()
    -- what a holder looks like after a 30 s step: its EPOCH and the
    -- folder's times read 30 s old, while its process started a moment
    -- ago on the boot clock
    local ready = dir .. "/ready"
    holder = L.bg(("mkdir %s && echo \"$$:$(( $(date +%%s) - 30 ))\" > %s/info && touch -d '30 seconds ago' %s %s/info"
      .. " && : > %s && exec sleep 60"):format(H.q(folder), H.q(folder), H.q(folder), H.q(folder), H.q(ready)))
    assert(L.wait_until(function() return L.exists(ready) end, 10))
    local r, code = H.run_json({ "allocate", "--state", state, "--timeout", "1", "--stale", "1000" })
    assert.equal(75, code, "a live holder was broken: " .. require("cjson").encode(last_break() or {}))
    assert.equal("legacy", r.error.holder.lock)
    assert.equal(holder, r.error.holder.pid)
    assert.is_true(L.exists(folder))
    assert.matches('"next_project_number": 10', H.read(state), 1, true)
  end)
end)
