-- lock_helper: what the lock, legacy, status and stress specs share:
-- background processes, waiting for a condition, the audit log, the
-- legacy folder of a state.
local H = require "spec_helper"
local core = require "tasknum.core"

local L = {}

-- The legacy lock folder and the audit log beside a state path.
function L.folder(state) return state:match("^(.*)/") .. "/.state.lock" end
function L.audit_path(state) return state:match("^(.*)/") .. "/.state.json.audit.jsonl" end
function L.lock_path(state) return state:match("^(.*)/") .. "/.state.json.lock" end

-- Starts `sh -c cmd` in the background in a session (and process group)
-- of its own; returns its pid, which is also the group's id.
function L.bg(cmd)
  local p = io.popen("setsid sh -c " .. H.q(cmd) .. " </dev/null >/dev/null 2>&1 & echo $!")
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

-- A tasknum command line for sh, with its output, stderr and exit status
-- going to files under prefix (prefix.out, prefix.err, prefix.rc).
function L.cmd(args, prefix)
  local words = { H.q(H.bin) }
  for i, a in ipairs(args) do words[i + 1] = H.q(a) end
  return table.concat(words, " ") .. " >" .. H.q(prefix .. ".out") .. " 2>" .. H.q(prefix .. ".err")
    .. "; echo $? >" .. H.q(prefix .. ".rc")
end

L.wait_until = H.wait_until

-- Waits for a background L.cmd run; returns its decoded answer (or the raw
-- output), exit status and stderr.
function L.result(prefix, seconds)
  assert(L.wait_until(function() return H.read(prefix .. ".rc") ~= nil
    and H.read(prefix .. ".rc"):match("%d") end, seconds or 20), "no exit status in " .. prefix .. ".rc")
  local out = H.read(prefix .. ".out") or ""
  local ok, r = pcall(require("cjson").decode, out)
  return ok and r or out, tonumber(H.read(prefix .. ".rc")), H.read(prefix .. ".err")
end

-- Kills a background process group, and waits until its leader is gone.
function L.kill_group(pid, sig)
  os.execute("kill -" .. (sig or "KILL") .. " -" .. pid .. " 2>/dev/null") -- dash: no "--"
  L.wait_until(function() return not core.alive(pid) end, 5)
end

-- The audit log of a state, decoded line by line.
function L.audit(state)
  local lines = {}
  for line in (H.read(L.audit_path(state)) or ""):gmatch("[^\n]+") do
    lines[#lines + 1] = require("cjson").decode(line)
  end
  return lines
end

-- Seconds since the epoch of an ISO timestamp such as the audit log's.
function L.epoch(ts)
  local y, mo, d, h, mi, s, ms = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z$")
  local t = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false })
  -- os.time reads the table as local time; the timestamp is UTC
  local offset = os.time(os.date("!*t", t)) - t
  return t - offset + tonumber(ms) / 1000
end

-- A pid that no process has: one that just ended.
function L.dead_pid()
  local p = io.popen("sh -c 'echo $$'")
  local pid = tonumber(p:read("l"))
  p:close()
  assert(L.wait_until(function() return not core.alive(pid) end, 5))
  return pid
end

-- Makes the legacy folder of state with info text (nil: no info file).
function L.make_folder(state, info)
  local folder = L.folder(state)
  assert(core.mkdir(folder))
  if info then H.write(folder .. "/info", info) end
  return folder
end

function L.exists(path)
  return core.stat(path) ~= nil
end

return L
