-- A state reached through a link is followed only when the link's owner
-- owns its target (README Security). The owner of such a link in a sticky
-- folder may swap what it leads to at any instant: the file tasknum works
-- on must be the one it judged, never what the link leads to a moment
-- later (review 2).
local H = require "spec_helper"

-- The attacker's loop: sw/ and other/ swap names as fast as rename goes,
-- so that L -> sw/state.json leads to the attacker's own state and to a
-- link to the victim's, in turn.
local SWAPPER = [[
local dir, seconds = ...
local stop = os.time() + tonumber(seconds)
while os.time() < stop do
  for _ = 1, 2000 do
    os.rename(dir .. "/sw", dir .. "/t")
    os.rename(dir .. "/other", dir .. "/sw")
    os.rename(dir .. "/t", dir .. "/other")
  end
end
]]

H.each_caller("a state link swapped while tasknum judges it", function(who)
  it("never writes the file the link led to after the judgement", function()
    local attacker = H.as(42002)
    if not attacker or (who.uid and not who.prefix) then return pending("needs root and setpriv") end
    local dir = H.tmpdir()
    local race, vict = dir .. "/race", dir .. "/vict"
    assert(H.ok("chmod 755 " .. H.q(dir) .. " && mkdir -m 1777 " .. H.q(race) .. " && mkdir -m 700 " .. H.q(vict)))
    local victim = H.state_text(500)
    H.write(vict .. "/state.json", victim)
    H.give(who, vict)
    H.write(race .. "/swapper.lua", SWAPPER)
    assert(H.ok(attacker .. " sh -c " .. H.q("cd " .. race .. " && mkdir -m 777 sw other && ln -s "
      .. vict .. "/state.json other/state.json && ln -s sw/state.json L")))
    H.write(race .. "/sw/state.json", H.state_text(5))
    assert(H.ok("chmod 666 " .. H.q(race .. "/sw/state.json")))
    assert(H.ok("chown -R 42002:42002 " .. H.q(race .. "/sw") .. " " .. H.q(race .. "/swapper.lua")))
    local pid = H.capture(attacker .. " sh -c " .. H.q("lua5.4 " .. race .. "/swapper.lua " .. race
      .. " 30 >/dev/null 2>&1 & echo $!"))
    local ok, refused = 0, 0
    for _ = 1, 400 do
      local out = H.run({ "allocate", "--state", race .. "/L" }, { prefix = who.prefix })
      if out:find('"status":"success"', 1, true) then ok = ok + 1 else refused = refused + 1 end
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
    assert.are.equal(victim, H.read(vict .. "/state.json"))
    assert.are.equal("state.json ", H.ls(vict))
    -- (how many get through depends on the machine: a run sees the attacker's
    -- file only when every lookup of its step falls between two swaps)
    assert.is_true(refused > 0, ok .. " allocated, " .. refused .. " refused: the swap did not happen")
  end)
end)
