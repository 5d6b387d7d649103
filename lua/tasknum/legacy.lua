-- tasknum.legacy (internal): the old lock protocol, both ways. Shell scripts that
-- predate tasknum lock the state with `mkdir .state.lock` beside it (for
-- .opencode/specs/state.json: .opencode/specs/.state.lock) and write
-- "PID:EPOCH" into its info file. While tasknum holds the state it keeps
-- that folder too, so those scripts wait; before it takes it, it waits for
-- a live holder of the folder and breaks a folder whose holder is gone.
--
-- Every name here is reached relative to the state's folder without
-- following links (core's *at functions): a link, a FIFO or a file with
-- other names where the folder, its info or their temp names belong is an
-- error naming it, never followed, written or removed.
--
-- Judging, breaking, entering and leaving the folder run under tasknum's
-- kernel lock: two tasknum processes never judge and break the same
-- folder at once, so a break can never let two of them in (the race of
-- lock-by-mkdir libraries). The folder has no kernel wake-up, so waiting
-- for it sleeps with a short backoff. Only what touches no name another
-- live process uses runs before the lock (prepare(): the folder made, info
-- inside, under this process's private name NAME.tmp-PID, and the private
-- folders of gone processes swept), so that entering under the lock is one
-- rename; and after it (the folder left, renamed away to the private
-- name under the lock by leave(), is removed).
local core = require "tasknum.core"
local fs = require "tasknum.fs"

local M = {}

M.DEFAULT_STALE = 60
-- How often a holder that shares its lock (`tasknum lock`) renews EPOCH in
-- info and the folder's mtime, whatever --stale says: scripts that break a
-- folder older than a couple of seconds never take it for a dead one.
M.REFRESH = 1
-- An EPOCH (or mtime) more than this ahead of the wall clock says nothing
-- about the folder's age: a clock stepped back, or a script's mistake.
M.FUTURE_SLACK = 1
-- Old scripts that judge a folder by its pid read info, check the pid with
-- kill -0 and break the folder with rm -rf: if the holder they read ended
-- in between and another made its folder, they remove that one. Their
-- check takes milliseconds; `tasknum lock` looks again this long after
-- making its folder, before its command starts.
M.SETTLE = 0.05
M.PID_MAX = 4194304   -- the kernel's largest pid_max
local FIRST_SLEEP, MAX_SLEEP = 0.001, 0.05
local EEXIST, ENOENT, EINVAL, ETIMEDOUT, EINTR = core.EEXIST, core.ENOENT,
  core.EINVAL, core.ETIMEDOUT, core.EINTR
-- what the *at functions say of a foreign object in a name
local FOREIGN = { [core.ELOOP] = true, [core.ENXIO] = true, [core.EMLINK] = true,
  [core.EISDIR] = true, [core.ENOTDIR] = true }

-- path(state) -> the legacy folder beside the (real) state file, or nil:
-- old scripts lock STATE.json with .STATE.lock; a state whose name does
-- not end in .json has none (its lock file is .NAME.lock already).
-- Then the folder it is in and the folder's name. dir and base: the
-- state's folder and last name, when the caller has them.
local FOLDER = ".%s.lock"
function M.path(state_path, dir, base)
  if not state_path:match("[^/]%.json$") then return nil end
  if not dir then dir, base = fs.split(state_path) end
  local name = string.format(FOLDER, (base:gsub("%.json$", "")))
  return state_path:sub(1, -#base - 1) .. name, dir, name -- the state's last name replaced
end

-- The folder in which a held folder is, and its name: found once, when it
-- was prepared (a held table made elsewhere has only its path).
local function where(held)
  if held.dir then return held.dir, held.name end
  return fs.split(held.path)
end

-- gone(pid [, since_boot]) -> "dead" when no process has that pid on this
-- host, "reused" when the one that has it started after since_boot (a
-- reading of the boot clock, core.boottime(), taken when the pid was known
-- to name its holder), else nil: it may well be the holder. The boot clock
-- is what no step of the wall clock moves: compared on the wall clock, a
-- clock stepped forward made live holders look younger than their locks.
function M.gone(pid, since_boot)
  if core.alive(pid) == false then return "dead" end
  local started = since_boot and core.started_boot(pid)
  if started and started > since_boot then return "reused" end
  return nil
end

-- When this process first saw each folder with the info it has now, on
-- the boot clock: a pid whose process started after that is not the one
-- that wrote the info. (The wall clock cannot tell: EPOCH and the
-- folder's times are all moved by a clock step.)
local sightings, nsightings = {}, 0
local function first_seen(folder, info)
  local key = folder .. "\0" .. (info or "")
  if not sightings[key] then
    if nsightings >= 64 then sightings, nsightings = {}, 0 end
    sightings[key], nsightings = core.boottime(), nsightings + 1
  end
  return sightings[key]
end

-- info_at(dir, name) -> the info of folder name in dir as inspect() keeps
-- it (its first 256 bytes, trailing blanks cut) | nil, message, errno
local function info_at(dir, name)
  local info, msg, errno = core.readat(dir, name .. "/info", 256)
  if not info then return nil, msg, errno end
  return (info:gsub("%s+$", ""))
end

-- info_of(folder) -> info_at() of a folder given by its path
local function info_of(folder) return info_at(fs.split(folder)) end

-- What a reader makes of the folder: nil when there is none, else
-- { path, info (trimmed), pid, epoch, age_s, verdict } with verdict "live", "dead"
-- (no such process on this host), "reused" (that pid now belongs to a
-- process started after this process first saw the folder with that
-- info), "aged" (older than stale seconds, judged from EPOCH, or the
-- folder's mtime without a usable info or with an EPOCH in the future;
-- future says so, and unknown_age when the mtime is in the future too) or
-- "foreign" (a link or a FIFO as info).
function M.inspect(folder, stale)
  local st, msg, errno = core.statat(fs.split(folder))
  if not st then
    if errno == ENOENT then return nil end
    return { path = folder, verdict = "unreadable", error = msg }
  end
  local info, imsg, ierrno = nil, nil, nil
  if st.type == "directory" then info, imsg, ierrno = info_of(folder) end
  local pid, epoch = (info or ""):match("^%s*(%d+):(%d+)$")
  pid, epoch = math.tointeger(tonumber(pid)), tonumber(epoch)
  if pid and (pid <= 0 or pid > M.PID_MAX) then pid = nil end
  local sec, nsec = core.time()
  local now = sec + nsec / 1e9
  local found = { path = folder, info = info, pid = pid, epoch = epoch, kind = st.type }
  local since = epoch
  if epoch and epoch > now + M.FUTURE_SLACK then found.future, since = true, nil end
  since = since or st.mtime
  if since > now + M.FUTURE_SLACK then found.unknown_age, since = true, now end
  found.age_s = now - since
  -- asked once: a second look could find the process ended in between,
  -- and say nothing where the first said "reused"
  local gone = st.type == "directory" and pid and M.gone(pid, first_seen(folder, info))
  if st.type ~= "directory" then
    found.verdict = "not a folder"
  elseif FOREIGN[ierrno] then -- a FIFO or a link as info: nothing to judge, nothing to break
    found.verdict, found.error = "foreign", imsg
  elseif gone then
    found.verdict = gone
  elseif found.age_s > (stale or M.DEFAULT_STALE) then
    found.verdict = "aged"
  else
    found.verdict = "live"
  end
  return found
end

-- clock_note(found) -> what the clock made of the folder's age, for people
function M.clock_note(found)
  if found.unknown_age then
    return "; its EPOCH and mtime are in the future (the clock went back?), so its age is unknown"
  elseif found.future then
    return "; its EPOCH is in the future, so its age is judged from the folder's mtime"
  end
  return ""
end

-- describe(found) -> one line for people
function M.describe(found)
  local who = found.pid and ("pid " .. found.pid) or "a holder that wrote no usable info"
  return string.format("legacy lock folder %s (%s, info %q, %.1f s old%s): %s", found.path, who,
    found.info or "", found.age_s or 0, M.clock_note(found), found.verdict)
end

-- Removes the folder and the names in it (info, an info.tmp-PID of
-- refresh(), a script's own files): only the names, never what a link
-- among them points to; a folder inside, or a non-folder in its place, is
-- foreign and left there (nil, message).
local function remove_now(folder)
  local dir, name = fs.split(folder)
  local ok, msg, errno = core.removeat(dir, name, "tree")
  if ok or errno == ENOENT then return true end
  return nil, msg
end

-- take_away(folder, pid) -> the private name that sweep() knows, to which
-- the folder was renamed | false (there was none) | nil, message.
-- Removing info and then the folder would leave, if killed between the
-- two, a folder without info that every caller would have to wait out for
-- the whole stale age; a folder renamed away is swept instead.
local function take_away(folder, pid)
  local dir, name = fs.split(folder)
  local away = string.format("%s.tmp-%d", name, pid)
  local ok, msg, errno = core.renameat(dir, name, away, "folder")
  if not ok and errno ~= ENOENT and not FOREIGN[errno] then -- an old folder of that name in the way
    local cleared, cmsg = remove_now(dir .. "/" .. away)
    if not cleared then return nil, cmsg end
    ok, msg, errno = core.renameat(dir, name, away, "folder")
  end
  if ok then return dir .. "/" .. away end
  if errno == ENOENT then return false end
  return nil, msg
end

-- Removes the folder and its info file. -> true | nil, message.
local function remove(folder, pid)
  if folder:match("%.tmp%-%d+$") then return remove_now(folder) end
  local away, msg = take_away(folder, pid)
  if away == nil then return nil, msg end
  return not away or remove_now(away)
end

-- remove_if(folder, pid, info) -> true once the folder is removed, false
-- when it is not the folder whose info was info (trimmed; nil: none)
-- after all, or nil, message. Taken away first, then checked: an old
-- script may have broken the folder and made its own between our look and
-- our rename (scripts break with rm -rf, which no lock orders with ours).
-- That folder is put back, and stays theirs.
local function remove_if(folder, pid, info)
  local away, msg = take_away(folder, pid)
  if not away then return away, msg end
  if info_of(away) ~= info then
    local dir, name = fs.split(folder) -- put back, best effort: someone may have made yet another
    core.renameat(dir, select(2, fs.split(away)), name, "folder", true)
    return false
  end
  return remove_now(away)
end

local function mine(pid, epoch)
  return string.format("%d:%d\n", pid, epoch or (core.time()))
end

-- Writes info into a folder just made (a new file, never one found there).
local function write_info(folder, text, like)
  local dir, name = fs.split(folder)
  return core.writeat(dir, name .. "/info", text, like)
end

-- make(folder) -> info | nil, message, errno (EEXIST: it is there). The
-- folder appears with its info already inside: made under a private name,
-- then renamed into place without replacing anything. A tasknum killed
-- half-way thus leaves no folder, or one naming its dead pid that the next
-- one breaks at once; never one without info, which every caller would
-- have to wait out for the whole stale age. Where the file system cannot
-- rename without replacing (EINVAL), mkdir and then info, as scripts do.
-- Folder and info take the state's (like's) group and mode, so that the
-- team's old scripts can remove them.
local function make(folder, pid, epoch, like)
  local dir, name = fs.split(folder)
  local info, tmpname = mine(pid, epoch), string.format("%s.tmp-%d", name, pid)
  local tmp = dir .. "/" .. tmpname
  local ok, msg, errno = core.mkdirat(dir, tmpname, like)
  if not ok and errno == EEXIST then -- left by a process that had our pid
    remove(tmp, pid)
    ok, msg, errno = core.mkdirat(dir, tmpname, like)
  end
  if ok then
    ok, msg, errno = write_info(tmp, info, like)
    if not ok then remove(tmp, pid) return nil, "cannot write " .. tmp .. "/info: " .. tostring(msg), errno end
    ok, msg, errno = core.renameat(dir, tmpname, name, "folder", true)
    if ok then return info end
    remove(tmp, pid)
    if errno ~= EINVAL then return nil, msg, errno end
  end
  ok, msg, errno = core.mkdirat(dir, name, like)
  if not ok then return nil, msg, errno end
  local written, werr = write_info(folder, info, like)
  if written then return info end
  remove(folder, pid)
  return nil, "cannot write " .. folder .. "/info: " .. tostring(werr)
end

-- prepare(state, pid, epoch [, dir, base]) -> the folder's place { path,
-- dir, name } (M.path(state, dir, base); nil: the state has none), for
-- enter(), then the private name NAME.tmp-PID of the folder made beside it
-- with its info ("PID:EPOCH", the state's group and mode) and that info,
-- for enter() to rename into place | false: it could not be made here
-- (enter() makes it as it always did, and says why it cannot) | nil,
-- message: a foreign object (a link, a FIFO) in a gone process's private
-- name, named and left in place. Runs before the kernel lock: first it
-- removes the private folders of gone processes (killed between making
-- and entering theirs, or between leaving and removing it; one whose pid
-- lives again stays until that process ends), never those of live ones,
-- which may be waiting for the lock with theirs prepared. One call into
-- the core (lockdir.c).
function M.prepare(state, pid, epoch, state_dir, base)
  local folder, dir, name = M.path(state, state_dir, base)
  if not folder then return nil end
  local place = { path = folder, dir = dir, name = name }
  local info = mine(pid, epoch)
  local tmp, msg, _, stage = core.lockdir_prepare(dir, name, pid, info, state)
  if tmp then return place, tmp, info end
  if stage == "sweep" then return place, nil, msg end
  return place, false
end

-- discard(place, prepared): removes a folder prepare() made that was
-- not entered. -> true | nil, message
function M.discard(place, prepared)
  return remove_now(place.dir .. "/" .. prepared)
end

-- enter(place, opts) -> held | nil, message, found, errno. place: what
-- prepare() gave (path, dir, name of the folder). opts: like
-- (the state file, whose group and mode the folder and info take), pid
-- (this process's), epoch (now, whole seconds, for info), stale (seconds), deadline (a core.clock() value; nil
-- waits forever), breaks (a list that gets what each break found),
-- interrupted (a function: true to give up), prepared and info (what
-- prepare() gave: the folder is then entered by renaming it into place;
-- opts.prepared is set to nil once it is entered or gone; a caller that
-- gets nil removes what is left with discard()). held is { path, dir, name, info, pid,
-- waited (seconds spent waiting for another holder) } for leave(); errno is core.ETIMEDOUT when the deadline passed, core.EINTR
-- when interrupted() said so, the errno of a failed mkdir, or nil; found
-- is the folder as last seen.
function M.enter(place, opts)
  local delay, pid, since, vanished = FIRST_SLEEP, opts.pid, nil, 0
  local folder, dir, name = place.path, place.dir, place.name
  while true do
    local info, msg, errno
    if opts.prepared then
      local ok
      ok, msg, errno = core.renameat(dir, opts.prepared, name, "folder", true)
      if ok then
        info, opts.prepared = opts.info, nil
      elseif errno ~= EEXIST then
        -- gone (an older tasknum swept it under its lock, or a break of
        -- ours took its name), or a file system that cannot rename
        -- without replacing: made here, as before
        if errno ~= ENOENT then remove_now(dir .. "/" .. opts.prepared) end
        opts.prepared = nil
      end
    end
    if not info and not opts.prepared then info, msg, errno = make(folder, pid, opts.epoch, opts.like) end
    if info then
      return { path = folder, dir = dir, name = name, info = info, pid = pid, like = opts.like,
        waited = since and core.clock() - since or 0 }
    end
    if errno == ENOENT and vanished < 3 then
      -- the private folder went while it was made: swept by a process that
      -- took it for the one a killed process with our pid left there (a pid
      -- reused within seconds, as in a storm of SIGKILLs); made again
      vanished = vanished + 1
      goto again
    end
    if errno ~= EEXIST then return nil, msg, nil, errno end
    local found = M.inspect(folder, opts.stale)
    if found and (found.verdict == "dead" or found.verdict == "reused" or found.verdict == "aged") then
      local removed, rerr = remove_if(folder, pid, found.info)
      if removed == nil then return nil, "cannot break " .. M.describe(found) .. ": " .. rerr, found end
      if removed then opts.breaks[#opts.breaks + 1] = found end
    elseif found and found.verdict ~= "live" then
      return nil, M.describe(found) .. (found.error and (": " .. found.error) or ""), found
    elseif found then
      local now = core.clock()
      since = since or now
      if opts.prepared and now - since > M.REFRESH then
        -- a long wait for another holder: the folder prepared before it
        -- would look that much older to scripts that judge by its mtime;
        -- it is made when our turn comes, as before
        remove_now(dir .. "/" .. opts.prepared)
        opts.prepared = nil
      end
      local left = opts.deadline and opts.deadline - now
      if left and left <= 0 then return nil, "timed out waiting for the folder", found, ETIMEDOUT end
      if opts.interrupted and opts.interrupted() then
        return nil, "interrupted while waiting for the folder", found, EINTR
      end
      core.sleep(left and math.min(delay, left) or delay)
      delay = math.min(delay * 2, MAX_SLEEP)
    end
    ::again::
  end
end

-- refresh(held) -> true | nil, message. For long holds (tasknum lock):
-- a fresh EPOCH and folder mtime, so that scripts judging age by either
-- do not take a live holder for a stale one.
function M.refresh(held)
  local info = mine(held.pid)
  -- info is replaced by a rename, never truncated in place: killed
  -- half-way it still names this (then dead) process, not nobody.
  local dir, name = where(held)
  local tmp = string.format("%s/info.tmp-%d", name, held.pid)
  core.removeat(dir, tmp) -- one of ours left by a refresh killed half-way
  local ok, msg = core.writeat(dir, tmp, info, held.like)
  if ok then ok, msg = core.renameat(dir, tmp, name .. "/info", "file") end
  if not ok then
    core.removeat(dir, tmp)
    return nil, tostring(msg)
  end
  held.info = info
  return core.touchat(dir, name)
end

-- intact(held) -> whether the folder entered still holds our info (an old
-- script that breaks folders by rm -rf may have removed it).
function M.intact(held)
  return info_at(where(held)) == (held.info and (held.info:gsub("%s+$", "")))
end

-- names(folder, pid) -> whether the folder's info names pid
function M.names(folder, pid)
  local info = info_of(folder)
  return info ~= nil and math.tointeger(tonumber(info:match("^%s*(%d+):"))) == pid
end

-- leave(held) -> true | false, message (someone broke and took the folder
-- meanwhile) | nil, message. Takes the folder away if it is
-- still ours (renamed to this process's private name, one call into the
-- core: lockdir.c); one that someone broke and took meanwhile is left to
-- its holder. Under the kernel lock; what was taken away, held.away =
-- { folder, name } (the private name below the state's folder), is for
-- the caller to remove (core.removeat(folder, name, "tree")) once the
-- kernel lock is released: killed before, it is swept by the next
-- prepare().
function M.leave(held)
  local dir, name = where(held)
  local away = string.format("%s.tmp-%d", name, held.pid)
  local ours, why = core.lockdir_leave(dir, name, away, held.info and (held.info:gsub("%s+$", "")))
  if ours == false then
    return false, "the legacy lock folder " .. held.path .. " was taken over by another holder"
  elseif not ours then
    return nil, why
  end
  held.away = { dir, away }
  return true
end

return M
