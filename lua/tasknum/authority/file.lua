-- tasknum.authority.file (internal): the state file's own authority, used by
-- every transaction. Its lock is an exclusive kernel lock on the lock file
-- beside the real state (.state.json.lock, never renamed or removed) plus
-- the legacy `.state.lock/` folder that pre-tasknum scripts take with mkdir;
-- its mark is the state's own counter; its commit is the durable replace of
-- the state (temp file, fsync, rename, folder fsync). See
-- tasknum.authority for the interface every authority shares.
local answer = require "tasknum.answer"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local legacy = require "tasknum.legacy"
local fs = require "tasknum.fs"

local M = {}

local File = {}
File.__index = File

local RETRY = "; retry in a few seconds or wait longer with --timeout; `tasknum status` shows the holder"

-- lock_path(real) -> the lock file beside the real state file
local LOCK = ".%s.lock"
function M.lock_path(real)
  return fs.beside(real, LOCK)
end

-- new(path, real [, opts]) -> the file authority of a state; opts.stale:
-- the age after which a legacy folder is broken (seconds). Its dir and
-- base: the real state's folder and name, for the files kept beside it.
function M.new(path, real, opts)
  local dir, base, lock_path = fs.place(real, LOCK)
  return setmetatable({ kind = "file", where = real, path = path, real = real, dir = dir, base = base,
    lock_path = lock_path, stale = opts and opts.stale }, File)
end

local function seconds(s) return s and string.format("%.1f s", s) or "an unknown time" end

-- The holder record keeps this many bytes of a purpose or a command (the
-- rest is cut, with "…"): a record stays well under a page.
M.RECORD_TEXT = 1024

-- cut(s) -> s, or its first RECORD_TEXT bytes (never half a UTF-8
-- character) and "…"
function M.cut(s)
  if type(s) ~= "string" or #s <= M.RECORD_TEXT then return s end
  local i = M.RECORD_TEXT
  while i > 0 and (s:byte(i + 1) & 0xC0) == 0x80 do i = i - 1 end
  return s:sub(1, i) .. "…"
end

-- record(holder) -> the holder record as written into a lock file: one
-- JSON line, its purpose and command cut (M.cut)
local function record(holder)
  local r = {}
  for k, v in pairs(holder) do r[k] = v end
  r.purpose, r.command = M.cut(r.purpose), M.cut(r.command)
  return json.encode(r) .. "\n"
end
M.record = record

local function epoch_now()
  local sec, nsec = core.time()
  return sec + nsec // 1000000 / 1000
end

-- The command line of a process of this host, as one line (cut), or nil.
local function cmdline(pid)
  local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
  local text = f and f:read(M.RECORD_TEXT + 1)
  if f then f:close() end
  if not text or text == "" then return nil end
  return M.cut((text:gsub("%z+$", ""):gsub("%z", " ")))
end

-- found(lock_path [, skip]) -> the processes of this host that /proc shows
-- holding a lock on the lock file, as { pid, command, bytes = {first, last
-- or "EOF"} } (this process and the pids in skip left out), first the one
-- with the lowest byte: the holders of the first byte lead.
function M.found(lock_path, skip)
  local locks = core.holders(lock_path) or {}
  table.sort(locks, function(a, b) return a.start < b.start or a.start == b.start and a.pid < b.pid end)
  local out, seen = {}, { [core.pid()] = true }
  for _, pid in ipairs(skip or {}) do seen[pid] = true end
  for _, l in ipairs(locks) do
    if not seen[l.pid] then
      seen[l.pid] = true
      out[#out + 1] = { pid = l.pid, command = cmdline(l.pid) or json.null,
        bytes = json.array({ l.start, l.stop or "EOF" }) }
    end
  end
  return out
end

-- holder(lock_path) -> who holds the kernel lock, from the record its
-- holder wrote (lock = "kernel", path, pid, age_s, ...), and one line for
-- people. The record outlives its writer: when the process it names is
-- gone, the command it started (tasknum lock) is named if it lives, else
-- what /proc shows holding the lock (a holder that wrote no record).
function M.holder(lock_path)
  local text = core.holder(lock_path)
  local ok, h = pcall(require("cjson").decode, text or "")
  if not ok or type(h) ~= "table" then h = {} end
  h.lock, h.path, h.pid = "kernel", lock_path, math.tointeger(h.pid)
  h.age_s = type(h.since_epoch) == "number" and answer.ms(epoch_now() - h.since_epoch) / 1000 or nil
  local here = h.host == nil or h.host == core.hostname()
  local boot = type(h.since_boot) == "number" and h.since_boot or nil
  local last = h.pid
  if h.pid and here and legacy.gone(h.pid, boot) then
    local cmd = math.tointeger(h.command_pid)
    local cboot = type(h.command_boot) == "number" and h.command_boot or nil
    if cmd and not legacy.gone(cmd, cboot) then
      h.started_by, h.pid = h.pid, cmd
      return h, string.format("the kernel lock on %s is held by pid %d on %s (command: %s) for %s; "
        .. "the `tasknum lock` (pid %d) that started it is gone", lock_path, cmd, tostring(h.host),
        tostring(h.command), seconds(h.age_s), h.started_by)
    end
    h.stale_record, h.pid = true, nil
  end
  if not h.pid and here then
    local found = M.found(lock_path, { math.tointeger(h.keeper_pid) })
    if found[1] then
      h.pid, h.command, h.purpose, h.holders = found[1].pid, found[1].command, nil, json.array(found)
      h.found_in = "/proc"
      return h, string.format("the kernel lock on %s is held by pid %d (%s), which wrote no record "
        .. "(found in /proc)%s", lock_path, h.pid, tostring(h.command),
        last and string.format("; the last record names pid %d, which is gone", last) or "")
    end
  end
  if not h.pid then
    h.pid = last
    if last and h.stale_record then
      return h, string.format("the kernel lock on %s is held by a process that wrote no record "
        .. "(the last one names pid %d, which is gone)", lock_path, last)
    end
    return h, "the kernel lock on " .. lock_path .. " is held by a process that wrote no record"
  end
  local what = h.command and ("command: " .. tostring(h.command))
      or h.purpose and ("purpose: " .. tostring(h.purpose)) or "no purpose given"
  return h, string.format("the kernel lock on %s is held by pid %d on %s (%s) for %s", lock_path,
    h.pid, tostring(h.host), what, seconds(h.age_s))
end

-- held_by(lock_path) -> M.holder(lock_path) when the lock is held, else nil
function M.held_by(lock_path)
  if not core.probe(lock_path) then return nil end
  return M.holder(lock_path)
end

function File:holder() return M.held_by(self.lock_path) end

-- lock_status(lock_path) -> { path, held, error, holder, description }:
-- the kernel lock on lock_path as `tasknum status` shows it, taking nothing
function M.lock_status(lock_path)
  local held, msg = core.probe(lock_path)
  local lock = { path = lock_path, held = held == true, error = held == nil and msg or nil }
  if held then lock.holder, lock.description = M.holder(lock_path) end
  return lock
end

-- The error for a kernel lock that was not taken (errno from tasknum.core).
local function lock_error(self, msg, errno, timeout, why)
  if errno == core.ETIMEDOUT then
    local holder, who = M.holder(self.lock_path)
    return errors.new("LOCK_TIMEOUT", string.format("state lock still held after %g s", timeout),
      (why or "") .. who .. RETRY, nil, { holder = holder })
  elseif errno == core.EINTR then
    return errors.interrupted(core.interrupted(), "while waiting for the state lock")
  end
  return errors.system(msg, errno, "cannot open the lock file")
end

-- The lock a `tasknum lock` above this process holds on this state, as it
-- exported it (see share()): descriptor and byte, or nil.
local function inherited(lock_path)
  if os.getenv("TASKNUM_LOCK_PATH") ~= lock_path then return nil end
  local fd = math.tointeger(tonumber(os.getenv("TASKNUM_LOCK_FD") or ""))
  local byte = math.tointeger(tonumber(os.getenv("TASKNUM_LOCK_BYTE") or ""))
  if fd and byte and fd >= 0 and fd <= 0x7fffffff and byte >= 0 and byte < core.LOCK_MAX_DEPTH then
    return fd, byte
  end
end

local function left(deadline)
  if not deadline then return -1 end
  return math.max(0, deadline - core.clock())
end

-- Under `tasknum lock`: uses the lock it holds (no waiting for ourselves),
-- taking turns with the other commands it runs; the legacy folder is its
-- business. The inherited descriptor must be proven to hold the lock now
-- (core.adopt). -> true, false (nothing inherited, or nothing proven:
-- take the lock anew), or nil, err.
function File:adopt(deadline, timeout)
  local fd, byte = inherited(self.lock_path)
  if not fd then return false end
  local lock, msg, errno = core.adopt(fd, byte, self.lock_path, left(deadline))
  if lock then
    self.lock, self.lock_byte, self.nested = lock, byte + 1, true
    return true
  elseif errno == core.ETIMEDOUT or errno == core.EINTR then
    return nil, lock_error(self, msg, errno, timeout,
      "another tasknum command run under the same `tasknum lock` kept its turn; ")
  elseif errno == core.ELOOP then
    return nil, errors.new("INVALID_ARGUMENT", string.format("`tasknum lock` is nested %d levels deep "
      .. "here, and at most %d can share the lock with the commands they run", byte + 1,
      core.LOCK_MAX_DEPTH - 1), "the lock is held by the `tasknum lock` this runs under, which "
      .. "cannot share it one level further; run this from a `tasknum lock` fewer levels down")
  end
  return false -- variables left over in the environment, or not our holder's
end

-- Before the kernel lock: the legacy folder made under this process's
-- private name with its info (legacy.prepare), so that entering it under
-- the lock is one rename. -> true | nil, err (a foreign object where a
-- gone process's folder was). Not made here (false): enter_legacy()
-- makes it under the lock as it always did, and says why it cannot.
function File:prepare_legacy()
  local place, prepared, info = legacy.prepare(self.real, self.pid, self.epoch, self.dir, self.base)
  self.legacy_place = place
  if not place then return true end -- a state not named *.json: no old scripts
  if prepared == nil then return nil, errors.system(info, nil, "cannot take the legacy lock folder") end
  self.prepared, self.prepared_info = prepared or nil, info
  return true
end

-- Removes the prepared folder when it was not entered.
function File:discard()
  if self.prepared then
    legacy.discard(self.legacy_place, self.prepared)
    self.prepared = nil
  end
end

-- Waits for (or breaks) the legacy lock folder and makes it ours, within
-- the same deadline. Runs under the kernel lock, after prepare_legacy().
function File:enter_legacy(deadline, timeout)
  local place = self.legacy_place
  self.stale_breaks = {}
  if not place then return true end -- a state not named *.json: no old scripts
  local folder = place.path
  local opts = { like = self.real, pid = self.pid, epoch = self.epoch, prepared = self.prepared,
    info = self.prepared_info, stale = self.stale, breaks = self.stale_breaks, deadline = deadline,
    interrupted = core.interrupted }
  local held, msg, found, errno = legacy.enter(place, opts)
  self.prepared = opts.prepared -- nil once entered or gone; else release() removes it
  if held then
    self.legacy, self.legacy_wait = held, held.waited
    return true
  elseif errno == core.ETIMEDOUT then
    local holder = { lock = "legacy", path = folder, pid = found.pid, info = found.info,
      age_s = answer.ms(found.age_s) / 1000, verdict = found.verdict }
    return nil, errors.new("LOCK_TIMEOUT", string.format("state lock still held after %g s", timeout),
      string.format("the legacy lock folder %s is held by %s (info %q) for %s%s; it is broken "
        .. "when that process ends or after --stale %g s", folder,
        found.pid and ("live pid " .. found.pid) or found.info and "a script whose info names no pid"
        or "a script that wrote no info", found.info or "", seconds(found.age_s),
        legacy.clock_note(found), self.stale or legacy.DEFAULT_STALE)
        .. RETRY, nil, { holder = holder })
  elseif errno == core.EINTR then
    return nil, errors.interrupted(core.interrupted(), "while waiting for the legacy lock folder")
  end
  return nil, errors.system(msg, errno, "cannot take the legacy lock folder")
end

-- acquire(deadline, holder [, timeout]) -> true | nil, err: the lock of a
-- `tasknum lock` above us, else the kernel lock and then the legacy
-- folder, prepared before the kernel lock (prepare_legacy) and entered
-- under it. holder is the record waiters read; timeout (seconds) only
-- words a LOCK_TIMEOUT.
function File:acquire(deadline, holder, timeout)
  self.pid, self.epoch = holder.pid, holder.since_epoch and math.floor(holder.since_epoch)
  self.record = holder
  local adopted, err = self:adopt(deadline, timeout)
  if adopted ~= false then return adopted, err end
  local prepared, perr = self:prepare_legacy()
  if not prepared then return nil, perr end
  -- the caller has just set the deadline: timeout is what is left of it
  local lock, msg, errno = core.lock(self.lock_path, timeout or left(deadline), record(holder), self.real)
  if not lock then
    self:discard()
    return nil, lock_error(self, msg, errno, timeout)
  end
  self.lock = lock
  if msg > legacy.REFRESH then
    -- a long wait for the kernel lock: a folder prepared before it would
    -- look that much older to scripts that judge by its mtime or EPOCH;
    -- it is made afresh under the lock instead
    self:discard()
    self.epoch = nil
  end
  local ok, lerr = self:enter_legacy(deadline, timeout)
  if not ok then self:release() end
  return ok, lerr
end

-- The state file keeps no mark apart from its counter.
function File.read() return false end
function File.commit() return true end

-- load() -> the state's text | nil, err. Removes first the temp files of
-- writers killed mid-write: only safe under the lock. The state is read at
-- its real path, not following a link put there since it was found.
function File:load()
  local text, msg, errno, stage = core.load(self.real)
  if text then return text end
  if stage == "sweep" then
    return nil, errors.system(msg, errno, "cannot sweep the temp files beside the state")
  end
  return nil, errors.system(msg, errno, "cannot read the state file")
end

-- The error of a step whose legacy folder such a script broke while the
-- state was written: it may have read the state before the rename, so the
-- step's numbers are withheld (a gap at worst). Not run again by itself:
-- the state was written, and a task added may be in it. edited: the
-- numbers of a step that edited the state (add-task): its write holds
-- them, so they are not withheld, and running it again would add the
-- task twice: no retry is suggested.
local function taken_while_writing(folder, edited)
  local broke = "a script that judges " .. folder .. " by its pid broke it (rm -rf), having read the pid "
    .. "of an earlier holder, and may have read the state before tasknum's write"
  if edited then
    local e = errors.new("LOCK_TIMEOUT", "the legacy lock folder was taken by an old-protocol script "
      .. "while tasknum wrote the state", broke .. ": the state holds this step's edit"
      .. (#edited == 0 and "" or (" with the number" .. (#edited == 1 and " " or "s ")
        .. table.concat(edited, ", ") .. ", which the script may hand out too,"))
      .. " unless the script wrote over it; look at the state and at what the script did "
      .. "before running this step again: run again, it would make the edit twice")
    e.retry = false
    return e
  end
  return errors.new("LOCK_TIMEOUT", "the legacy lock folder was taken by an old-protocol script "
    .. "while tasknum wrote the state", broke .. ": this step's numbers are withheld, never handed "
    .. "out twice (a gap at worst); the state has tasknum's write unless the script wrote over it, "
    .. "so look at it before adding a task again" .. RETRY)
end

-- write(text [, s, e, bytes [, edited]]) -> true | true, err | nil, err:
-- the durable replace of the state, with text, or with text[s..e]
-- replaced by bytes (written in three pieces, the new text never built).
-- true, err: written, but the legacy folder was lost meanwhile
-- (taken_while_writing; edited: the numbers of a step that edited the
-- state, which its write holds).
function File:write(text, s, e, bytes, edited)
  local intact, lost = self:intact()
  if not intact then return nil, lost end
  local done, msg, errno = core.replace(self.real, text, s, e, bytes)
  if done then
    -- The legacy folder is left at once, after the rename, not at release:
    -- a script that breaks it from now on reads the new state, while one
    -- that broke it before (leave() finds it taken over) may have read the
    -- old one and will hand out this step's numbers too.
    if self:leave() ~= false then return true end
    return true, taken_while_writing(self.left_legacy.path, edited)
  end
  if errno == core.EINTR and core.interrupted() then
    return nil, errors.interrupted(core.interrupted(), "while writing the state")
  end
  return nil, errors.system(msg, errno, "cannot write the state file")
end

-- leave() -> true | false (someone else broke and took the folder
-- meanwhile: it is theirs) | nil (it could not be left): leaves the legacy
-- folder entered, if any; what went wrong is kept in legacy_error.
function File:leave()
  local held = self.legacy
  if not held then return true end
  self.legacy, self.left_legacy = nil, held
  local ok, why = legacy.leave(held)
  if not ok then self.legacy_error = why end
  return ok
end

-- release(): leaves the legacy folder (if write() has not) and the kernel
-- lock; idempotent. The folder left is renamed away under the lock and
-- removed after it.
function File:release()
  self:leave()
  self:discard()
  if self.lock then
    self.lock:release()
    self.lock = nil
  end
  local left = self.left_legacy
  self.left_legacy = nil
  local away = left and left.away
  if away then -- renamed away under the lock by leave(): removed after it
    local ok, why, errno = core.removeat(away[1], away[2], "tree")
    if not ok and errno ~= core.ENOENT then self.legacy_error = self.legacy_error or why end
  end
  if self.keeper then self.left = self:settle() end
end
File.__close = File.release

-- The error of a step whose legacy folder an old script broke and took
-- while the step held the state: nothing was written; the step is run
-- again (err.retry) within its timeout, waiting for the script this time.
local function taken(folder)
  local e = errors.new("LOCK_TIMEOUT", "the legacy lock folder was taken by an old-protocol script",
    "a script that judges " .. folder .. " by its pid broke it (rm -rf) while tasknum held the state, "
    .. "having read the pid of the holder before: nothing was written" .. RETRY)
  e.retry = true
  return e
end

-- intact() -> true | nil, err: before the state is written, the legacy
-- folder entered is still ours.
function File:intact()
  if not self.legacy or legacy.intact(self.legacy) then return true end
  return nil, taken(self.legacy.path)
end

-- share() -> the environment with which a child shares the held lock
-- (`tasknum lock`) | nil, err: the lock is narrowed to this level's byte,
-- which the child adopts (see adopt()). The legacy folder is handed to a
-- keeper (core.keep), a process of its own that keeps it fresh and removes
-- it exactly when no process holds the shared lock any more: the child and
-- whatever it starts may outlive this process (killed, or a command that
-- leaves a job in the background), and old scripts must see a live holder
-- for as long as they hold the state.
function File:share()
  local byte = self.lock_byte or 0
  assert(self.lock:narrow(byte))
  if self.legacy then
    local ok, err = self:keep(self.pid)
    if not ok then return nil, err end
    self:describe({}) -- the record names the keeper before any child reads it
    core.sleep(legacy.SETTLE)
    if not legacy.names(self.kept, self.keeper:pid()) then return nil, taken(self.kept) end
  end
  return { TASKNUM_LOCK_FD = tostring(self.lock:fd()), TASKNUM_LOCK_BYTE = tostring(byte),
    TASKNUM_LOCK_PATH = self.lock_path, TASKNUM_STATE = self.path }
end

-- keep(named) -> true | nil, err: starts the keeper of the legacy folder,
-- whose info names pid `named` now (this process, or a keeper that died).
function File:keep(named)
  local folder = self.legacy and self.legacy.path or self.kept
  local keeper, msg, errno = core.keep(self.lock_path, self.lock_byte or 0, folder, named, legacy.REFRESH)
  -- broken by a script meanwhile: taken by another (ESTALE), or gone (ENOENT)
  if not keeper and (errno == core.ESTALE or errno == core.ENOENT) then return nil, taken(folder) end
  if not keeper then
    return nil, errors.system(msg, errno, "cannot start the keeper of the legacy lock folder " .. folder)
  end
  self.keeper, self.kept, self.legacy = keeper, folder, nil
  return true
end

-- watch(child [, seen]) -> the status of child (a command started with
-- share()) | nil, message, errno as child:wait (EINTR: a signal other than
-- seen arrived). Meanwhile a keeper killed is replaced at once; if none
-- can be started, this process keeps the folder fresh itself.
function File:watch(child, seen)
  while true do
    if self.keeper then
      local which, status, errno = core.wait_any({ child, self.keeper }, -1, seen)
      if not which then return nil, status, errno end
      if which == 1 then return status end
      local dead = self.keeper:pid()
      self.keeper = nil
      if not self:keep(dead) then -- the folder names a dead pid: keep it ourselves
        self.legacy = { path = self.kept, pid = self.pid }
        legacy.refresh(self.legacy)
      end
    else
      local status, msg, errno = child:wait(self.legacy and legacy.REFRESH or -1, seen)
      if status or errno ~= core.ETIMEDOUT then return status, msg, errno end
      self:refresh()
    end
  end
end

-- describe(fields): adds fields to the holder record (the command's pid).
function File:describe(fields)
  if self.nested then return true end -- the record is the outer holder's
  for k, v in pairs(fields) do self.record[k] = v end
  if self.keeper then self.record.keeper_pid = self.keeper:pid() end
  if self.lock then return self.lock:describe(record(self.record)) end
  return core.describe(self.lock_path, record(self.record))
end

-- settle([grace]) -> the processes that still hold the shared lock after
-- this one released it: empty once the keeper has seen the lock free and
-- removed the folder (and is reaped). Otherwise the processes that /proc
-- shows holding the shared byte, which the holder record then names
-- (waiters and `tasknum status` see them); { unseen = true } when none
-- can be seen (another user's?) after some seconds. release() calls it
-- and keeps what it found in self.left: a hold whose lock was shared
-- returns only once the keeper is done or the processes are named.
function File:settle(grace)
  local keeper = self.keeper
  if not keeper then return {} end
  self.keeper = nil
  local byte, skip = self.lock_byte or 0, { keeper:pid() }
  local waited, limit = grace or 0.2, 5
  local status = keeper:settled(waited)
  while not status do
    local holding = {}
    for _, h in ipairs(M.found(self.lock_path, skip)) do
      local first, last = h.bytes[1], h.bytes[2]
      if first <= byte and (last == "EOF" or last >= byte) then holding[#holding + 1] = h end
    end
    if #holding > 0 then
      self.record.left_by = { pid = self.pid, command = M.cut(self.record.command) }
      self.record.pid, self.record.command, self.record.purpose = holding[1].pid, holding[1].command, nil
      self.record.command_pid, self.record.since_boot, self.record.command_boot = nil, core.boottime(), nil
      self.record.holders, self.record.keeper_pid = json.array(holding), keeper:pid()
      core.describe(self.lock_path, record(self.record))
      return holding
    end
    if waited >= limit then return { unseen = true } end
    status = keeper:settled(1)
    waited = waited + 1
  end
  return {}
end

function File:fd() return self.lock:fd() end

-- refresh(): a fresh EPOCH and mtime on the legacy folder, for long holds;
-- best effort (the folder may be read-only).
function File:refresh()
  if self.legacy then return legacy.refresh(self.legacy) end
end

-- status([stale]) -> what the lock, the legacy folder and the leftover
-- temp files look like, without taking anything.
function File:status(stale)
  local lock = M.lock_status(self.lock_path)
  local folder = legacy.path(self.real)
  local found = folder and legacy.inspect(folder, stale)
  local l = { path = folder, present = found ~= nil and found ~= false, stale_after_s = stale or legacy.DEFAULT_STALE }
  if found then
    l.pid, l.verdict, l.age_s, l.info = found.pid, found.verdict, answer.ms(found.age_s) / 1000, found.info
    l.stale = found.verdict == "dead" or found.verdict == "reused" or found.verdict == "aged"
    l.mine = lock.holder and (lock.holder.pid == found.pid or lock.holder.started_by == found.pid
      or math.tointeger(lock.holder.keeper_pid) == found.pid) or false
    l.keeper = lock.holder and math.tointeger(lock.holder.keeper_pid) == found.pid or nil
  end
  local temps, terr = core.temps(self.real)
  return { kind = self.kind, where = self.where, lock = lock, legacy = l,
    temp_files = temps or 0, temp_error = terr }
end

return M
