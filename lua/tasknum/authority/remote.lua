-- tasknum.authority.remote (internal): a numbering kept on a remote,
-- `git:REMOTE[#REF]` (tasknum.authority.git) or `postgresql://...[#KEY]`
-- (tasknum.authority.postgresql), as the transaction uses it: the remote
-- object plus this clone's local mark (tasknum.authority.marks), and what
-- the remote kinds share (passwords kept out of every text).
--
-- The local mark is the one the `worktrees` authority keeps (the common git
-- dir's tasknum/KEY.mark and KEY.lock), or, for a state outside a git
-- working tree, .STATE.numbering.mark beside the state. It follows the
-- remote's mark: it is moved in the same step, after the remote, so it never
-- falls behind what this clone handed out, and the processes of one clone
-- queue on its lock instead of racing each other over the network.
--
-- A reserved block (`tasknum reserve K`, for agents that will be offline):
-- one step moves the remote's mark K serials past the state's, and keeps the
-- block in the local mark as "limit": the serials from the local mark up to
-- limit are this clone's alone. While the local mark is inside a block, an
-- allocation is served from it without asking the remote (the answer's
-- authority says reserved: true); a step that needs more than is left takes
-- the numbers after the block from the remote when nobody moved it since
-- the block was taken, and otherwise gives up the rest of the block (a gap,
-- never a duplicate) and runs again on the remote (err.retry). Once used
-- up, allocations go to the remote again.
--
-- The steps of a transaction (see tasknum.authority for the interface):
--   acquire  the local mark's lock (no network); holder.reserve = K asks for
--            a block of K in this step
--   read     the local mark; inside a block: that is the mark; else the
--            remote's lock and mark (connect, ls-remote), the larger of the
--            two when both are kept for the same range (a remote that lost
--            its mark never makes this clone reissue)
--   commit   the remote (unless the block serves), then the local mark:
--            synced when it keeps a block; following the remote, it costs
--            no flush of its own
local errors = require "tasknum.errors"

local M = {}

-- redact(text [, secret]) -> text with the password secret (when known)
-- replaced by ***, and so any user:password@ of a URI, ?password=... of a
-- URI query, and password=... of a keyword/value connection string.
function M.redact(s, secret)
  s = tostring(s or "")
  if secret and secret ~= "" then
    local i = 1
    while true do
      local a, b = s:find(secret, i, true)
      if not a then break end
      s = s:sub(1, a - 1) .. "***" .. s:sub(b + 1)
      i = a + 3
    end
  end
  s = s:gsub("(%a[%w+.-]*://[^/@:%s]*):[^/@%s]*@", "%1:***@")
  s = s:gsub("([?&]password=)[^&%s]*", "%1***")
  s = s:gsub("(password%s*=%s*)'[^']*'", "%1***"):gsub("(password%s*=%s*)[^%s']+", "%1***")
  return s
end

-- secret(url) -> the password of a URL's user:password@, or nil
function M.secret(url)
  return tostring(url or ""):match("^%a[%w+.-]*://[^/@:]*:([^/@]*)@")
end

-- --- the local mark ---------------------------------------------------------------

local Remote = {}
Remote.__index = Remote

-- local_mark(f, kind) -> the marks object of this state's local mark | nil, err
function M.local_mark(f, kind)
  local fs = require "tasknum.fs"
  local gitdir = require "tasknum.gitdir"
  local marks = require "tasknum.authority.marks"
  local tree, err = gitdir.find(f.real)
  if tree == nil then return nil, err end
  if tree then
    return marks.new{ kind = "worktrees", folder = tree.common .. "/tasknum", key = marks.key(tree.path),
      make = true, like = tree.common, called = "the " .. kind .. " numbering", hint = "the " .. kind .. " numbering keeps this clone's mark in the repository's common git dir" }
  end
  local dir, name = fs.split(f.real)
  return marks.new{ kind = "local", folder = dir, key = marks.key("." .. name .. ".numbering"), like = f.real,
    called = "the " .. kind .. " numbering", hint = "the " .. kind .. " numbering keeps this state's mark beside it" }
end

-- open(rest, f, spec) -> the authority for spec (git:... or postgresql://...)
-- | nil, err
function M.open(rest, f, spec)
  local module = spec:match("^git:") and "tasknum.authority.git" or "tasknum.authority.postgresql"
  local inner, err = require(module).open(rest, f, spec)
  if not inner then return nil, err end
  local mark, merr = M.local_mark(f, inner.kind)
  if not mark then return nil, merr end
  return setmetatable({ kind = inner.kind, where = inner.where, spec = inner.spec or M.redact(spec, inner.secret),
    inner = inner, mark = mark }, Remote)
end

local function same(a, b)
  return a and b and a.min == b.min and a.max == b.max
end

function Remote:acquire(deadline, holder, timeout)
  self.deadline, self.who, self.timeout = deadline, holder, timeout
  self.reserving = holder and math.tointeger(holder.reserve) or nil
  return self.mark:acquire(deadline, holder, timeout)
end

-- The remote's lock and mark: serial, range | false | nil, err
function Remote:remote_read()
  local ok, err = self.inner:acquire(self.deadline, self.who, self.timeout)
  if not ok then return nil, err end
  self.inner_held = true
  local r, range = self.inner:read()
  if r == nil then return nil, range end
  self.inner_old, self.inner_range = r, range
  return r, range
end

function Remote:read()
  local m, range = self.mark:read()
  if m == nil then return nil, range end
  local kept = self.mark.kept
  self.local_old, self.local_range = m, m and range or nil
  self.limit = m and kept and kept.limit and m < kept.limit and kept.limit or nil
  if self.limit and not self.reserving then
    self.reserved = true -- served from this clone's block: the remote is not asked
    return m, range
  end
  local r, rrange = self:remote_read()
  if r == nil then
    if m and kept and kept.limit and m >= kept.limit and errors.is(rrange) then
      rrange.details = tostring(rrange.details) .. "; this clone's reserved block is used up: reserve "
        .. "another (`tasknum reserve K`) while the remote can be reached"
    end
    return nil, rrange
  end
  if m and (r == false or (same(range, rrange) and m > r)) then return m, range end
  return r, rrange
end

-- The error for a block too small for a step, when the remote cannot be
-- asked for more.
function Remote:short(old, new, err)
  local left = self.limit - old
  local e = errors.new("AUTHORITY_UNAVAILABLE", string.format("%d number%s left of this clone's reserved block, "
    .. "%d needed, and the %s authority cannot be reached for more", left, left == 1 and " is" or "s are",
    new - old, self.kind), (err and err.details and (err.details .. "; ") or "")
    .. string.format("ask for at most %d, or reserve more (`tasknum reserve K`) while %s can be reached",
      left, self.where))
  e.retry = err and err.retry
  return e
end

-- A step that needs more than its block holds: the numbers after the block
-- from the remote, when nobody moved it since the block was taken; else
-- the rest of the block is given up and the step runs again (err.retry).
function Remote:overflow(old, new, range)
  local r, rrange = self:remote_read()
  if r == nil then return nil, self:short(old, new, rrange) end
  if r == self.limit and same(rrange, range) then
    local ok, err = self.inner:commit(r, new, range)
    if ok then return self.mark:commit(self.local_old, new, range) end
    if not err.retry then return nil, self:short(old, new, err) end
  end
  -- the block given up: the local mark past it (the same serial without the
  -- limit would not be told from the copy with it)
  local ok, err = self.mark:commit(self.local_old, self.limit, range)
  if not ok then return nil, err end
  local e = errors.new("AUTHORITY_UNAVAILABLE", "this clone's reserved block was too small for the step",
    string.format("%d left, %d needed, and %s has moved past the block since it was reserved: the rest of "
      .. "the block is given up (a gap), nothing was written", self.limit - old, new - old, self.where))
  e.retry = true
  return nil, e
end

-- commit(old, new, range): the remote first (unless the block serves: no
-- network), then the local mark; with a block asked for, the remote moves K
-- further than the state and the local mark keeps the block.
function Remote:commit(old, new, range)
  if self.reserved then
    if new > self.limit then return self:overflow(old, new, range) end
    return self.mark:commit(self.local_old, new, range, self.limit) -- kept: "used up" for status
  end
  local target = new + (self.reserving or 0)
  if self.inner_old == false or target > self.inner_old or not same(range, self.inner_range) then
    local ok, err = self.inner:commit(self.inner_old, target, range)
    if not ok then return nil, err end
  end
  if self.local_old and new < self.local_old then return true end -- kept for another range
  -- following the remote needs no flush of its own (a crash that loses it
  -- leaves the local mark behind the remote, which still holds the mark);
  -- a block must be synced: its serials are handed out from here alone
  return self.mark:commit(self.local_old, new, range, target > new and target or nil, target == new)
end

function Remote:release()
  if self.inner_held then
    self.inner:release()
    self.inner_held = nil
  end
  self.mark:release()
  self.reserved, self.limit, self.local_old, self.inner_old = nil, nil, nil, nil
end
Remote.__close = Remote.release

function Remote:holder()
  local h, line = self.mark:holder()
  if h then return h, line end
  return self.inner:holder()
end

-- status() -> what tasknum.status reads of a numbering, taking nothing:
-- { kind, where, serial (the one this clone continues from: the block's
-- while one serves, else the larger of the remote's and the local mark's;
-- false: none yet), range, lock (this clone's), held, holder, reservation
-- {serial, limit, left} | nil, remote {serial, range} | nil, error }. No
-- network while a block serves.
function Remote:status()
  local l = self.mark:status()
  local s = { kind = self.kind, where = self.where, lock = l.lock, held = l.held, holder = l.holder,
    error = l.error, corrupt = l.corrupt }
  if l.error then return s end
  if l.serial and l.limit and l.serial < l.limit then
    s.serial, s.range = l.serial, l.range
    s.reservation = { serial = l.serial, limit = l.limit, left = l.limit - l.serial }
    return s
  end
  local r = self.inner:status()
  if r.error then
    s.error = r.error
    return s
  end
  local rs, rr = false, nil
  if r.mark then
    rs = r.mark.serial
    rr = r.mark.min and r.mark.max and { min = r.mark.min, max = r.mark.max } or nil
  end
  s.remote = { serial = rs, range = rr }
  if l.serial and (rs == false or (same(l.range, rr) and l.serial > rs)) then
    s.serial, s.range = l.serial, l.range
  else
    s.serial, s.range = rs, rr
  end
  if not s.held and r.held then s.held, s.holder = true, r.holder end
  return s
end

return M
