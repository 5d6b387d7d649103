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

-- Processes a spec started and must not leave behind: L.own(pid) adds
-- one, L.bg_owned(cmd) starts one as L.bg does, L.kill_owned() kills their
-- groups (in an after_each).
local owned = {}
function L.own(pid) owned[#owned + 1] = pid return pid end
function L.bg_owned(cmd) return L.own(L.bg(cmd)) end
function L.kill_owned()
  for _, pid in ipairs(owned) do
    os.execute("kill -KILL " .. pid .. " 2>/dev/null") -- one that leads no group
    L.kill_group(pid)
  end
  owned = {}
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

-- A new process (sleep 60, in a group of its own) with pid, which no
-- process has now: the kernel's ns_last_pid (root) makes it the next pid,
-- tried until no other fork on the machine comes first. Its pid, or nil.
function L.reuse_pid(pid)
  for _ = 1, 200 do
    local p = io.popen(("sh -c 'echo %d > /proc/sys/kernel/ns_last_pid || exit 1; "
      .. "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!' 2>/dev/null"):format(pid - 1))
    local got = tonumber(p:read("l") or "")
    p:close()
    if not got then return nil end
    if got == pid then return got end
    os.execute("kill -9 " .. got .. " 2>/dev/null")
  end
  return nil
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
