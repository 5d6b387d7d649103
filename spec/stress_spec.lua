-- stress_spec.lua: the three kinds of writer teams run side by side on one
-- state: old-protocol shell scripts (mkdir .state.lock, jq, mv), jq edits
-- wrapped in `tasknum lock --`, and tasknum allocations. No number may be
-- handed out twice and no update may be lost: the counter ends exactly the
-- total handed out past where it started.
local H = require "spec_helper"
local L = require "lock_helper"

local LEGACY = H.root .. "/spec/legacy_alloc.sh"
local ROUNDS = 8       -- per writer
local WRITERS = 3      -- of each kind

describe("mixed writers on one state", function()
  after_each(function() H.cleanup() end)

  it("never hand out a number twice and never lose an update", function()
    local dir, state = H.project(H.state_text(10))
    local q, bin = H.q, H.q(H.bin)
    -- each writer appends the numbers it was given to its own file, only
    -- after its write succeeded, and touches a .done file at the end
    local kinds = {
      legacy = ("sh %s %s 1"):format(q(LEGACY), q(state)),
      wrapped = ("%s lock --state %s --timeout 60 -- sh -c %s"):format(bin, q(state), q(
        ("n=$(jq .next_project_number %s) && jq \".next_project_number = $((n + 1))\" %s > %s.jq.$$ "
          .. "&& mv %s.jq.$$ %s && echo $n"):format(q(state), q(state), q(state), q(state), q(state)))),
      tasknum = ("%s allocate --state %s --timeout 60 --format plain --count $((i %% 2 + 1))")
        :format(bin, q(state)),
    }
    local outs = {}
    for kind, cmd in pairs(kinds) do
      for w = 1, WRITERS do
        local out = ("%s/%s%d"):format(dir, kind, w)
        outs[#outs + 1] = out
        L.bg(("i=0; while [ $i -lt %d ]; do i=$((i + 1)); %s >> %s 2>>%s.err || echo \"exit $?\" >> %s.err; done; touch %s.done")
          :format(ROUNDS, cmd, q(out), q(out), q(out), q(out)))
      end
    end
    for _, out in ipairs(outs) do
      assert(L.wait_until(function() return L.exists(out .. ".done") end, 240), out .. " did not finish")
    end

    local seen, total = {}, 0
    for _, out in ipairs(outs) do
      assert.is_nil(H.read(out .. ".err") ~= "" and H.read(out .. ".err") or nil)
      for n in (H.read(out) or ""):gmatch("%d+") do
        assert.is_nil(seen[n], "number " .. n .. " handed out twice")
        seen[n], total = true, total + 1
      end
    end
    -- 3 x 8 legacy + 3 x 8 wrapped + 3 x (4 x 1 + 4 x 2) tasknum
    assert.equal(WRITERS * ROUNDS * 2 + WRITERS * ROUNDS * 3 / 2, total)
    local final = tonumber(H.read(state):match('"next_project_number":%s*(%d+)'))
    assert.equal(10 + total, final)
    for i = 10, final - 1 do assert.is_true(seen[tostring(i)], "number " .. i .. " was never handed out") end
    local r, code = H.run_json({ "check", "--state", state })
    assert.equal(0, code, r.error_message)
    assert.is_false(L.exists(L.folder(state)))
    local lines = L.audit(state)
    assert.equal(WRITERS * ROUNDS * 2, #lines)      -- one per tasknum attempt
    print(string.format("\n# mixed stress: %d numbers by %d writers, no duplicate, counter %d -> %d",
      total, #outs, 10, final))
  end)
end)
