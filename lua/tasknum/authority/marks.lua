-- tasknum.authority.marks (internal): a numbering kept in a folder of
-- marks, the shared part of the local authorities `worktrees` (the folder
-- is the repository's common git dir + /tasknum) and `dir:PATH` (the folder
-- is PATH). Per numbering (KEY: the state's path inside its working tree,
-- %-encoded) the folder holds:
--
--   KEY.lock   an exclusive kernel (OFD) lock, taken after the state file's
--              own lock; its holder writes its record in it, as the state's
--              lock file has
--   KEY.mark   the mark: the serial the numbering has reached (see
--              tasknum.serial), and the range it is kept for
--
-- The mark file holds two copies of the mark, at bytes 0 and 4096 (each in
-- a page of its own), each one line of JSON with a check:
--
--   {"serial":1234,"next":234,"min":0,"max":999,"check":"5c0e1a2b"}
--
-- A numbering kept on a remote (git:REMOTE, postgresql://) keeps its local
-- mark here too (tasknum.authority.remote): it follows the remote's, and a
-- block reserved there for this clone (`tasknum reserve K`) adds "limit":
-- the serials from "serial" up to "limit" (excluded) are this clone's to
-- hand out without asking the remote:
--
--   {"serial":1234,"next":234,"min":0,"max":999,"limit":1284,"check":"..."}
--
-- A new mark overwrites the line of the copy holding the older serial
-- (the first 256 bytes of its slot), in place, and is synced (fdatasync)
-- before the state file is written: one flush, where
-- a temp file and a rename cost two. A crash in the middle of that write
-- can spoil only the copy being written, whose step never reached the
-- state; the other copy is the mark. The file is created whole (temp file,
-- fsync, link). A file with no valid copy is corrupt: it is never
-- overwritten; the step fails with STATE_CORRUPT and a copy is kept beside
-- it. See tasknum.authority for the interface.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
local file = require "tasknum.authority.file"
local serial = require "tasknum.serial"

local M = {}

local Marks = {}
Marks.__index = Marks

M.SLOT = 4096

-- key(path) -> one file name for the state's path inside its tree: every
-- byte outside [A-Za-z0-9_.-] as %XX ("specs/state.json" ->
-- "specs%2Fstate.json")
function M.key(path)
  return (path:gsub("[^%w_.-]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- new{kind, folder, key, make (create the folder when missing), like, ...}
-- -> the authority; other fields are kept (tree, spec, source). like: the
-- path whose group and mode the folder, lock and mark take when they are
-- made (the common git dir, the dir: folder, the state): in a repository
-- a team shares, one member's first allocation must not lock the others out.
-- o.called: what messages call the numbering ("the worktrees numbering"
-- by default, from o.kind; a remote's local mark is called by the remote's kind).
function M.new(o)
  local base = o.folder .. "/" .. o.key
  o.lock_path, o.mark_path, o.where = base .. ".lock", base .. ".mark", base .. ".mark"
  o.called = o.called or "the " .. o.kind .. " numbering"
  return setmetatable(o, Marks)
end

-- --- errors -------------------------------------------------------------------

local PERMANENT = { [core.EACCES] = true, [core.EPERM] = true, [core.ENOENT] = true,
                    [core.ENOTDIR] = true, [core.ELOOP] = true, [core.EROFS] = true,
                    [core.ENOSPC] = true, [core.EEXIST] = true, [core.ENXIO] = true,
                    [core.EISDIR] = true }

-- The error for a file of the numbering that cannot be used.
function Marks:unavailable(what, msg, errno)
  local e = errors.new("AUTHORITY_UNAVAILABLE", self.called .. " cannot be used: "
    .. what, tostring(msg) .. " (tried " .. self.folder .. ")"
    .. (self.hint and "; " .. self.hint or ""), errno)
  if PERMANENT[errno] then e.retry = false end
  return e
end

local RETRY = "; retry in a few seconds or wait longer with --timeout; `tasknum status` shows the holder"

local function left(deadline)
  if not deadline then return -1 end
  return math.max(0, deadline - core.clock())
end

-- --- the lock -------------------------------------------------------------------

function Marks:acquire(deadline, holder, timeout)
  local record = file.record(holder)
  local lock, msg, errno = core.lock(self.lock_path, left(deadline), record, self.like)
  if not lock and errno == core.ENOENT and self.make then
    local parent, name = fs.split(self.folder)
    local ok, mmsg, merrno = core.mkdirat(parent, name, self.like)
    if not ok and merrno ~= core.EEXIST then
      return nil, self:unavailable("cannot create the folder " .. self.folder, mmsg, merrno)
    end
    lock, msg, errno = core.lock(self.lock_path, left(deadline), record, self.like)
  end
  if lock then
    self.lock = lock
    return true
  elseif errno == core.ETIMEDOUT then
    local h, who = file.holder(self.lock_path)
    return nil, errors.new("LOCK_TIMEOUT", string.format("numbering lock still held after %g s",
      timeout or 0), self.called .. " is shared with other worktrees or clones; "
      .. who .. RETRY, nil, { holder = h })
  elseif errno == core.EINTR then
    return nil, errors.interrupted(core.interrupted(), "while waiting for the numbering lock")
  end
  return nil, self:unavailable("cannot open its lock " .. self.lock_path, msg, errno)
end

function Marks:release()
  if self.lock then
    self.lock:release()
    self.lock = nil
  end
end
Marks.__close = Marks.release

function Marks:holder() return file.held_by(self.lock_path) end

-- --- the mark -------------------------------------------------------------------

-- FNV-1a, 32 bits, as 8 hex digits: catches a torn or edited copy
local function check(text)
  local h = 2166136261
  for i = 1, #text do h = ((h ~ text:byte(i)) * 16777619) & 0xffffffff end
  return string.format("%08x", h)
end

-- One copy of the mark: a line of JSON padded with blanks to LINE bytes
-- (the part of a slot a new mark overwrites: the rest of the slot stays
-- the blanks it was made with).
M.LINE = 256
local REST = string.rep(" ", M.SLOT - M.LINE - 1) .. "\n"

function M.line(s, min, max, limit)
  local body = string.format('{"serial":%d,"next":%d,"min":%d,"max":%d', s, serial.display(s, min, max),
    min, max) .. (limit and string.format(',"limit":%d', limit) or "")
  local line = body .. ',"check":"' .. check(body) .. '"}'
  return line .. string.rep(" ", M.LINE - #line - 1) .. "\n"
end

-- A whole slot, for a new mark file.
function M.slot(s, min, max, limit)
  return M.line(s, min, max, limit) .. REST
end

local function int(s) return s and math.tointeger(tonumber(s)) end

local PLAIN = '^({"serial":(%d+),"next":(%-?%d+),"min":(%-?%d+),"max":(%-?%d+)),"check":"(%x+)"}'
local LIMITED = '^({"serial":(%d+),"next":(%-?%d+),"min":(%-?%d+),"max":(%-?%d+),"limit":(%d+)),"check":"(%x+)"}'

-- parse_slot(text [, at]) -> { serial, min, max [, limit] } | nil when the
-- copy that starts at byte at (default 1) is not whole
function M.parse_slot(text, at)
  local limit
  local body, s, n, min, max, sum = text:match(PLAIN, at)
  if not body then body, s, n, min, max, limit, sum = text:match(LIMITED, at) end
  s, n, min, max, limit = int(s), int(n), int(min), int(max), int(limit)
  if not (s and n and min and max) or sum ~= check(body) or min > max
      or serial.display(s, min, max) ~= n then
    return nil
  end
  return { serial = s, min = min, max = max, limit = limit }
end

-- parse(text) -> mark {serial, min, max[, limit]}, the slot to write next
-- (0 or 1) | nil when no copy is whole. The copy with the larger serial is
-- the mark; of two with the same serial, the one with the larger limit (a
-- block reserved at the serial the mark had: the only write that keeps the
-- serial and must win).
function M.parse(text)
  local a = #text == 2 * M.SLOT and M.parse_slot(text, 1)
  local b = #text == 2 * M.SLOT and M.parse_slot(text, M.SLOT + 1)
  if a and (not b or a.serial > b.serial or (a.serial == b.serial and (a.limit or -1) >= (b.limit or -1))) then
    return a, 1
  end
  if b then return b, 0 end
  return nil
end

-- The error for a mark file with no whole copy: left as it is, a copy kept.
function Marks:corrupt(text)
  local where, why = require("tasknum.state").backup(self.mark_path, text)
  return errors.new("STATE_CORRUPT", self.called .. "'s mark " .. self.mark_path
    .. " is corrupt", "it was left untouched" .. (where and ", a copy is in " .. where
      or " (no backup: " .. tostring(why) .. ")") .. "; tasknum never writes over it. Move it "
      .. "away: the next allocation starts a new mark from the state it runs on (run it where "
      .. "the counter is furthest on), then `tasknum sync` in the other worktrees or clones")
end

-- read() -> serial, range {min, max} | false (no mark yet) | nil, err
function Marks:read()
  -- never through a link (a mark is only ever written without following
  -- one): a link in a shared folder must not have its target read and
  -- copied beside it as a "corrupt" mark
  local text, msg, errno = core.readfile(self.mark_path, true)
  if not text then
    if errno == core.ENOENT then
      self.spare = nil
      return false
    end
    return nil, self:unavailable("cannot read its mark " .. self.mark_path, msg, errno)
  end
  local mark, spare = M.parse(text)
  if not mark then return nil, self:corrupt(text) end
  self.spare, self.kept = spare, mark
  return mark.serial, { min = mark.min, max = mark.max }
end

-- commit(old, new, range [, limit [, unsynced]]) -> true | nil, err: the
-- mark moved from old (read()'s serial, or false) to new for the range
-- {min, max}, durably; limit: the end of a reserved block (see above), if
-- any. unsynced: no fdatasync, for a mark that only follows one kept
-- elsewhere (a crash may lose the write; the remote still has the mark).
function Marks:commit(old, new, range, limit, unsynced)
  local k = self.kept
  if old and new < old then error("tasknum: a mark never goes down (" .. old .. " -> " .. new .. ")", 2) end
  if old and new == old and k and k.min == range.min and k.max == range.max and k.limit == limit then
    return true
  end
  local line = M.line(new, range.min, range.max, limit)
  local ok, msg, errno
  if not old then
    core.sweep(self.mark_path) -- temp files of a create that was killed
    ok, msg, errno = core.create(self.mark_path, line .. REST .. line .. REST, self.like)
  else
    ok, msg, errno = core.overwrite(self.mark_path, self.spare * M.SLOT, line, not unsynced)
  end
  if not ok then
    if errno == core.EINTR and core.interrupted() then
      return nil, errors.interrupted(core.interrupted(), "while writing the numbering's mark")
    end
    return nil, self:unavailable("cannot write its mark " .. self.mark_path, msg, errno)
  end
  self.kept, self.spare = { serial = new, min = range.min, max = range.max, limit = limit },
    self.spare and 1 - self.spare or 1
  return true
end

-- status() -> { kind, where, serial, range, held, holder, lock, error,
-- corrupt } without taking anything (the shape the remote authorities'
-- status() has too): serial is the mark, false when there is none yet,
-- nil with error when it cannot be read (corrupt: the file is spoiled)
function Marks:status()
  local lock = file.lock_status(self.lock_path)
  local s = { kind = self.kind, where = self.where, lock = lock, held = lock.held, holder = lock.holder }
  local text, msg, errno = core.readfile(self.mark_path, true)
  if text then
    local mark = M.parse(text)
    if mark then
      s.serial, s.range, s.limit = mark.serial, { min = mark.min, max = mark.max }, mark.limit
    else
      s.error, s.corrupt = self.called .. "'s mark " .. self.mark_path .. " is corrupt", true
    end
  elseif errno == core.ENOENT then
    s.serial = false
  else
    s.error = self:unavailable("cannot read its mark " .. self.mark_path, msg, errno).message .. ": " .. tostring(msg)
  end
  return s
end

return M
