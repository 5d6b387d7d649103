-- chaos.lua: `make chaos` (not in CI: minutes long). The crash spec's mixed
-- storm for CHAOS_MINUTES (default 10): 8 allocator loops and 2 `tasknum
-- lock -- jq ...` loops under a killer that SIGKILLs a random tasknum
-- process of theirs every few milliseconds (`tasknum lock` included, whose
-- command then finishes alone), old-protocol scripts judging a held folder
-- by its pid and by its age, and `tasknum check` every second. Every
-- number from an exit-0 answer, a finished lock command or an old script
-- is unique and below the final counter (a number two old scripts both
-- took, their own protocol's race, is counted and printed instead:
-- support.mixed); every check passes.
-- A failed run keeps its folder (the old scripts' "broke" lines in
-- legacy-*.log.err, the numbers file, the audit log) and says where; so
-- does every run with CHAOS_KEEP=1.
local H = require "spec_helper"
local mixed = require "support.mixed"

local MINUTES = tonumber(os.getenv("CHAOS_MINUTES") or "") or 10

describe("chaos", function()
  local kept
  after_each(function()
    if kept then print("\n# chaos: the run's folder is kept: " .. kept) else H.cleanup() end
  end)

  it(string.format("every kind of writer under SIGKILLs for %g min: no number twice", MINUTES), function()
    local dir, path = H.project(H.state_text(0, { max = 999999999 }))
    kept = dir
    local t0 = os.time()
    local r = mixed.run(dir, path, MINUTES * 60, finally)
    local final = tonumber(H.read(path):match('"next_project_number":%s*(%d+)'))
    assert.is_truthy(final, "no counter in the state")
    local n = mixed.check(r, final)
    local out, code = H.run({ "check", "--state", path })
    assert.equal(0, code, out)
    print(string.format("\n# chaos, %.1f min: %s", (os.time() - t0) / 60, mixed.report(n, final)))
    if os.getenv("CHAOS_KEEP") ~= "1" then kept = nil end
  end)
end)
