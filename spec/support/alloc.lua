-- spec/support/alloc.lua: running spec/support/authority_alloc.lua (an
-- authority driven the way a transaction drives it) in processes of their
-- own, and reading what they handed out.
local H = require "spec_helper"

local M = {}

M.DRIVER = H.root .. "/spec/support/authority_alloc.lua"

-- cmd(spec, state, n [, timeout [, hold [, env]]]) -> a shell command
function M.cmd(spec, state, n, timeout, hold, env)
  return (env or "") .. " " .. H.q(H.bin) .. " run " .. H.q(M.DRIVER) .. " " .. H.q(spec) .. " "
    .. H.q(state) .. " " .. n .. " " .. (timeout or 60) .. (hold and (" " .. H.q(hold)) or "")
end

-- parse(text) -> serials handed out, error lines, retries
function M.parse(text)
  local oks, errs, retries = {}, {}, 0
  for line in (text or ""):gmatch("[^\n]+") do
    local s, r = line:match("^ok (%d+) (%d+)$")
    if s then
      oks[#oks + 1] = tonumber(s)
      retries = retries + tonumber(r)
    else
      errs[#errs + 1] = line
    end
  end
  return oks, errs, retries
end

-- alloc(spec, state, n [, timeout [, env]]) -> serials, error lines
function M.alloc(spec, state, n, timeout, env)
  return M.parse(H.sh(M.cmd(spec, state, n, timeout, nil, env)))
end

-- parallel(jobs, dir) -> serials, error lines, retries of every job
-- {spec, state, n [, timeout]}, all started at once.
function M.parallel(jobs, dir)
  local cmd = ""
  for i, j in ipairs(jobs) do
    cmd = cmd .. M.cmd(j[1], j[2], j[3], j[4]) .. " > " .. H.q(dir .. "/out" .. i) .. " 2>&1 & "
  end
  os.execute(cmd .. "wait")
  local all, errs, retries = {}, {}, 0
  for i = 1, #jobs do
    local oks, e, r = M.parse(H.read(dir .. "/out" .. i))
    for _, s in ipairs(oks) do all[#all + 1] = s end
    for _, l in ipairs(e) do errs[#errs + 1] = l end
    retries = retries + r
  end
  return all, errs, retries
end

-- holder(spec, state, marker) -> pid of a driver that holds the
-- authority's lock (after its first read) until killed
function M.holder(spec, state, marker)
  return tonumber(H.sh("(" .. M.cmd(spec, state, 1, 60, marker) .. " >/dev/null 2>&1 & echo $!)"):match("%d+"))
end

function M.assert_unique(serials)
  local seen = {}
  for _, s in ipairs(serials) do
    assert(not seen[s], "serial handed out twice: " .. s)
    seen[s] = true
  end
end

return M
