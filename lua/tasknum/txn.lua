-- tasknum.txn: one locked step on a state file. run(opts, body) finds the
-- state, takes the lock, reads and checks the state, calls body(txn) to
-- decide on numbers and edits, writes the result durably, logs the attempt
-- and releases the lock, whatever happens; it returns the answer table.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local legacy = require "tasknum.legacy"
local policy = require "tasknum.policy"
local state = require "tasknum.state"
local todo = require "tasknum.todo"

local M = {}
M.DEFAULT_TIMEOUT = 30

local Txn = {}
Txn.__index = Txn

function M.timestamp()
  local sec, nsec = core.time()
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%03dZ", nsec // 1000000)
end

-- The lock file beside the real state file: never renamed or removed.
function M.lock_path(real)
  local dir, base = real:match("^(.*)/([^/]*)$")
  return dir .. "/." .. base .. ".lock"
end

-- --- finding and locking ------------------------------------------------

local function epoch_now()
  local sec, nsec = core.time()
  return sec + nsec // 1000000 / 1000
end

function Txn:holder_record()
  return json.encode({ pid = core.pid(), host = core.hostname(),
    purpose = self.purpose, command = self.command,
    since = M.timestamp(), since_epoch = epoch_now() }) .. "\n"
end

local RETRY = "; retry in a few seconds or wait longer with --timeout; `tasknum status` shows the holder"

local function seconds(s) return s and string.format("%.1f s", s) or "an unknown time" end

-- holder(lock_path) -> who holds the kernel lock, from the record its
-- holder wrote (the table has lock = "kernel", path and age_s), and one
-- line for people. The record outlives its writer: a holder that is not
-- tasknum (or not this host's) may be behind a record that names another.
function M.holder(lock_path)
  local text = core.holder(lock_path)
  local ok, h = pcall(require("cjson").decode, text or "")
  if not ok or type(h) ~= "table" then h = {} end
  h.lock, h.path, h.pid = "kernel", lock_path, math.tointeger(h.pid)
  h.age_s = type(h.since_epoch) == "number" and json.ms(epoch_now() - h.since_epoch) / 1000 or nil
  if not h.pid then
    return h, "the kernel lock on " .. lock_path .. " is held by a process that wrote no record"
  end
  if h.host == core.hostname() and legacy.gone(h.pid, h.since_epoch) then
    h.stale_record = true
    return h, string.format("the kernel lock on %s is held by a process that wrote no record "
      .. "(the last one names pid %d, which is gone)", lock_path, h.pid)
  end
  local what = h.command and ("command: " .. tostring(h.command))
      or h.purpose and ("purpose: " .. tostring(h.purpose)) or "no purpose given"
  return h, string.format("the kernel lock on %s is held by pid %d on %s (%s) for %s", lock_path,
    h.pid, tostring(h.host), what, seconds(h.age_s))
end

-- The lock a `tasknum lock` above this process holds on this state, as
-- it exported it: descriptor and byte, or nil.
local function inherited(lock_path)
  if os.getenv("TASKNUM_LOCK_PATH") ~= lock_path then return nil end
  local fd = math.tointeger(tonumber(os.getenv("TASKNUM_LOCK_FD") or ""))
  local byte = math.tointeger(tonumber(os.getenv("TASKNUM_LOCK_BYTE") or ""))
  if fd and byte and fd >= 0 and byte >= 0 and byte < 62 then return fd, byte end
end

-- Under `tasknum lock`: uses the lock it holds (no waiting for ourselves),
-- taking turns with other commands it runs. The legacy folder is its
-- business. Returns false when the variables do not describe a lock held
-- for this process (left over in the environment): then it is taken anew.
function Txn:adopt()
  local fd, byte = inherited(self.lock_path)
  if not fd then return false end
  local t0 = core.clock()
  local lock, _, code = core.adopt(fd, byte, self.lock_path, self.timeout)
  self.wait = core.clock() - t0
  if lock then
    self.lock, self.lock_byte, self.nested = lock, byte + 1, true
    return true
  elseif code == core.ETIMEDOUT then
    local holder, who = M.holder(self.lock_path)
    errors.raise("LOCK_TIMEOUT", string.format("state lock still held after %g s", self.timeout),
      "another tasknum command run under the same `tasknum lock` kept its turn; " .. who .. RETRY,
      nil, { holder = holder })
  elseif code == core.EINTR then
    error(errors.interrupted(core.interrupted(), "while waiting for the state lock"), 0)
  end
  return false
end

-- Waits for (or breaks) the legacy lock folder and creates it, within the
-- time left of the same timeout. Runs under the kernel lock.
function Txn:enter_legacy(t0)
  local folder = legacy.path(self.real)
  self.stale_breaks = {}
  local l0 = core.clock()
  local held, why, found, errno = legacy.enter(folder, { stale = self.stale, breaks = self.stale_breaks,
    deadline = t0 + self.timeout, interrupted = core.interrupted })
  self.legacy_wait = core.clock() - l0
  self.wait = core.clock() - t0
  if held then
    self.legacy = held
  elseif errno == core.ETIMEDOUT then
    local holder = { lock = "legacy", path = folder, pid = found.pid, info = found.info,
      age_s = json.ms(found.age_s) / 1000, verdict = found.verdict }
    errors.raise("LOCK_TIMEOUT", string.format("state lock still held after %g s", self.timeout),
      string.format("the legacy lock folder %s is held by %s (info %q) for %s; it is broken "
        .. "when that process ends or after --stale %g s", folder,
        found.pid and ("live pid " .. found.pid) or "a script that wrote no info",
        found.info or "", seconds(found.age_s), self.stale or legacy.DEFAULT_STALE)
        .. RETRY, nil, { holder = holder })
  elseif errno == core.EINTR then
    error(errors.interrupted(core.interrupted(), "while waiting for the legacy lock folder"), 0)
  else
    error(errors.system(why, errno, "cannot take the legacy lock folder"), 0)
  end
end

-- acquire(): the state lock, whatever it takes: the lock of a `tasknum
-- lock` above us, else the kernel lock and then the legacy folder.
function Txn:acquire()
  local t0 = core.clock()
  if not self:adopt() then
    self:kernel_lock(t0)
    self.locked_at = core.clock()
    self:enter_legacy(t0)
  end
  self.locked_at = core.clock()
  self.wait, self.acquired = self.locked_at - t0, true
end

function Txn:kernel_lock(t0)
  local lock, msg, code = core.lock(self.lock_path, self.timeout, self:holder_record())
  self.wait = core.clock() - t0
  if lock then
    self.lock = lock
    return
  end
  if code == core.ETIMEDOUT then
    local holder, who = M.holder(self.lock_path)
    errors.raise("LOCK_TIMEOUT", string.format("state lock still held after %g s", self.timeout),
      who .. RETRY, nil, { holder = holder })
  elseif code == core.EINTR then
    error(errors.interrupted(core.interrupted(), "while waiting for the state lock"), 0)
  end
  error(errors.system(msg, code, "cannot open the lock file"), 0)
end

function Txn:load()
  core.sweep(self.path) -- temp files of killed writers; only safe under the lock
  self.text = state.read(self.path)
  local ok, info = pcall(state.parse, self.text)
  if not ok then
    if errors.is(info) and info.code == "STATE_CORRUPT" then
      local where, why = state.backup(self.real, self.text)
      info.details = (info.details or "") .. "; the file was left untouched"
        .. (where and ", a copy is in " .. where or " (no backup: " .. tostring(why) .. ")")
    end
    error(info, 0)
  end
  self.info, self.previous, self.counter = info, info.next, info.next
  self.checked = self.text -- the text parse() accepted, for write()'s fast path
end

-- --- what a body may do ----------------------------------------------------

-- take(count) -> the next count numbers from the counter, which moves on.
function Txn:take(count)
  local numbers, new_next, wrapped = core.take(self.counter, count, self.info.min, self.info.max)
  if not numbers then
    self:fail("INVALID_ARGUMENT", string.format("cannot hand out %d numbers from the range %d..%d",
      count, self.info.min, self.info.max))
  end
  for _, n in ipairs(numbers) do self.numbers[#self.numbers + 1] = n end
  self.counter, self.wrapped = new_next, self.wrapped or wrapped
  return numbers
end

-- skip(count) -> the next count numbers, passed over: the counter moves
-- past them but they are not handed out (the answer lists them in
-- skipped_numbers). For policies that skip numbers that are taken.
function Txn:skip(count)
  local numbers, new_next, wrapped = core.take(self.counter, count, self.info.min, self.info.max)
  if not numbers then
    self:fail("INVALID_ARGUMENT", string.format("cannot skip %d numbers of the range %d..%d",
      count, self.info.min, self.info.max))
  end
  for _, n in ipairs(numbers) do self.skipped[#self.skipped + 1] = n end
  self.counter, self.wrapped = new_next, self.wrapped or wrapped
  return numbers
end

-- pick(count) -> count numbers chosen by the team's conflict policy.
function Txn:pick(count)
  local before = #self.numbers
  self.policies.conflict.pick(self, count)
  return { table.unpack(self.numbers, before + 1) }
end

-- stage(path, text, old): another file to write in this step (TODO.md).
-- Staged files are written, durably, before the state, whose rename is the
-- commit point of the step; if the state cannot be written they get their
-- old text back.
function Txn:stage(path, text, old)
  for _, f in ipairs(self.staged) do
    if f.path == path then f.text = text return end
  end
  self.staged[#self.staged + 1] = { path = path, text = text, old = old }
end

-- fail(code, message [, details [, data]]): ends the step with that error.
function Txn:fail(code, message, details, data)
  errors.raise(code, message, details, nil, data)
end

-- span(key [, subkey ...]) -> start, stop of a member's value, or nil
function Txn:span(...)
  local s, e = self.info.root_start, self.info.root_stop
  local first = self.info.top[(...)]
  if first ~= nil then -- found by parse(); false: a duplicate
    if not first then return nil end
    if select("#", ...) == 1 then return first[1], first[2] end
  end
  for i = 1, select("#", ...) do
    s, e = core.member(self.text, s, e, (select(i, ...)))
    if not s then return nil end
  end
  return s, e
end

-- held(array_key, field [, numbers]) -> { [number] = {start, stop} of its
-- element } for the elements of the top-level array whose field is an
-- integer (the first element wins); only for the given numbers, if any.
function Txn:held(array_key, field, numbers)
  local s, e = self:span(array_key)
  if not s or self.text:sub(s, s) ~= "[" then return {} end
  return core.held(self.text, s, e, field, numbers)
end

-- element({start, stop}) -> that part of the state decoded with lua-cjson
function Txn:element(span)
  local ok, v = pcall(require("cjson").decode, self.text:sub(span[1], span[2]))
  return ok and v or nil
end

-- decoded() -> the whole state decoded with lua-cjson (read-only view)
function Txn:decoded()
  if not self.view then
    self.view = require("cjson").decode(self.text:sub(self.info.root_start, self.info.root_stop))
  end
  return self.view
end

-- splice(start, stop, text): replaces those bytes of the state; the state
-- must stay valid. Spans found before a splice are stale after it.
function Txn:splice(s, e, text)
  self.text = self.text:sub(1, s - 1) .. text .. self.text:sub(e + 1)
  self.view = nil
  local ok, info = pcall(state.parse, self.text)
  if not ok then
    self:fail("SCRIPT_ERROR", "an edit would leave the state invalid",
      errors.is(info) and info.message or tostring(info))
  end
  if info.next ~= self.previous then
    self:fail("SCRIPT_ERROR", "edits must not change next_project_number; use txn:take()")
  end
  self.info, self.dirty = info, true
end

-- --- committing -------------------------------------------------------------

-- Puts the staged files back as they were; returns what could not be.
function Txn:unstage(written)
  local failed = {}
  for i = #written, 1, -1 do
    local f = written[i]
    local ok, msg = core.replace(f.path, f.old)
    if not ok then failed[#failed + 1] = msg end
  end
  return failed
end

-- Writes the staged files, in order; on a failure puts back those written.
function Txn:write_staged()
  local written = {}
  for _, f in ipairs(self.staged) do
    local ok, msg, errno = core.replace(f.path, f.text)
    if not ok then
      self:unstage(written)
      error(errors.system(msg, errno, "cannot write " .. f.path .. "; the state was not written"), 0)
    end
    written[#written + 1] = f
  end
  return written
end

-- write(): the step's durable write. The TODO.md that mirrors the counter
-- is staged first (unless opts.todo is false), then staged files are
-- written, then the state, whose rename commits the step.
function Txn:write()
  if self.counter ~= self.previous and self.todo ~= false then
    self.todo_path = todo.stage(self, self.todo)
  end
  if self.counter == self.previous and not self.dirty then
    self:write_staged()
    return
  end
  local i, literal = self.info, string.format("%d", self.counter)
  local text, done, msg, errno
  -- The fast path only when the text is still the one parse() accepted
  -- and the counter is in the range: anything else (a body that went
  -- around txn:splice, a counter set by hand) is parsed again in full.
  local fast = not self.dirty and rawequal(self.text, self.checked)
      and math.type(self.counter) == "integer" and self.counter >= i.min and self.counter <= i.max
  if not fast then
    text = self.text:sub(1, i.next_start - 1) .. literal .. self.text:sub(i.next_stop + 1)
    -- Guarantee 5: whatever the body did, nothing invalid reaches the disk.
    local ok, check = pcall(state.parse, text)
    if not ok or check.next ~= self.counter then
      self:fail("SCRIPT_ERROR", "refusing to write: the new state failed its own check",
        ok and "the counter would read " .. tostring(check.next) .. ", not " .. tostring(self.counter)
        or (errors.is(check) and check.message or tostring(check)))
    end
  end
  -- On the fast path only the counter changes: the new text is the text
  -- checked at load with one integer literal replaced by another in the
  -- range, valid by construction, and core.replace writes it as three
  -- pieces around the span without building it.
  local sig = core.interrupted()
  if sig then error(errors.interrupted(sig, "before writing the state"), 0) end
  local written = self:write_staged()
  if text then
    done, msg, errno = core.replace(self.path, text)
  else
    done, msg, errno = core.replace(self.path, self.text, i.next_start, i.next_stop, literal)
  end
  if not done then
    local stuck = self:unstage(written)
    if errno == core.EINTR and core.interrupted() then
      error(errors.interrupted(core.interrupted(), "while writing the state"), 0)
    end
    local err = errors.system(msg, errno, "cannot write the state file")
    if #stuck > 0 then
      err.details = err.details .. "; could not put back " .. table.concat(stuck, ", ")
        .. ": `tasknum todo` sets TODO.md to the state's counter"
    end
    error(err, 0)
  end
  -- The step is over: the written text is not kept (building it would copy
  -- the whole state under the lock for nothing).
  self.text, self.committed = nil, true
end

function Txn:close()
  if self.legacy then
    local ok, why = legacy.leave(self.legacy)
    if not ok then self.legacy_error = why end
    self.legacy = nil
  end
  if self.lock then
    self.hold = core.clock() - self.locked_at
    self.lock:release()
  end
end
-- A transaction left unfinished rolls back when its <close> variable goes
-- out of scope; one merely forgotten releases its lock when collected.
function Txn:__close(err)
  if not self.answer then self:rollback(err) end
end

function Txn:__gc()
  if not self.answer then self:close() end
end

-- --- the answer and the audit line ------------------------------------------

local function ms(seconds) return json.ms(seconds or 0) end

function Txn:result(err)
  local r = { timestamp = M.timestamp(), state_path = self.path, purpose = self.purpose,
              lock_acquired = self.acquired == true, lock_wait_ms = ms(self.wait) }
  if not err then
    r.status = "success"
    r.allocated_numbers = json.array(self.numbers)
    r.allocation_count = #self.numbers
    r.previous_next_number, r.new_next_number = self.previous, self.counter
    r.wrapped = self.wrapped
    r.lock_duration_ms = ms(self.hold)
    if #self.skipped > 0 then r.skipped_numbers = json.array(self.skipped) end
    r.todo_path = self.todo_path
    return r
  end
  local e = { code = err.code, message = err.message, details = err.details }
  for k, v in pairs(err.data or {}) do e[k] = v end
  r.status, r.error = "error", e
  r.error_code, r.error_message = err.code, err.message
  r.retry_suggested = errors.retry_suggested(err)
  if self.lock then r.lock_duration_ms = ms(self.hold) end
  return r
end

-- What each stale legacy folder broken in this step looked like.
function Txn:breaks()
  local list = {}
  for i, f in ipairs(self.stale_breaks) do
    list[i] = { reason = f.verdict, path = f.path, pid = f.pid, epoch = f.epoch,
      info = f.info or json.null, age_s = json.ms(f.age_s) / 1000 }
  end
  return list
end

function Txn:audit(err)
  local audit = self.policies and self.policies.audit
  if not audit or not self.path then return end
  local entry = { timestamp = M.timestamp(), pid = core.pid(), host = core.hostname(),
    user = self.user or json.null,
    purpose = self.purpose or json.null,
    command = self.command, numbers = json.array(self.committed and self.numbers or {}),
    previous_next_number = self.previous, new_next_number = self.committed and self.counter or nil,
    wait_ms = ms(self.wait), hold_ms = self.locked_at and ms(core.clock() - self.locked_at) or 0,
    wrapped = self.committed and self.wrapped or false,
    conflict = err ~= nil and err.code == "NUMBER_CONFLICT",
    stale_break = self.stale_breaks and #self.stale_breaks > 0 and self:breaks() or false,
    legacy_wait_ms = self.legacy_wait and ms(self.legacy_wait) or nil, nested = self.nested,
    status = err and "error" or "success", error_code = err and err.code or json.null }
  for k, v in pairs(self.audit_extra or {}) do entry[k] = v end
  local ok, done, why = pcall(audit.record, entry, self)
  if not ok or done == nil then
    -- the step's outcome stands; the answer says the log was not written
    self.audit_error = tostring(ok and why or done)
  end
end

-- --- the whole step ---------------------------------------------------------

local function handler(e)
  if errors.is(e) then return e end
  return errors.new("SCRIPT_ERROR", tostring(e), debug.traceback(tostring(e), 2))
end

local function new(opts)
  -- who runs this, looked up before the lock: without $USER, getpwuid()
  -- reads nsswitch.conf and /etc/passwd and may ask nscd over a socket
  return setmetatable({ user = os.getenv("USER") or os.getenv("LOGNAME") or core.user(),
    purpose = opts.purpose, command = opts.command, stale = opts.stale,
    timeout = opts.timeout or M.DEFAULT_TIMEOUT, hold_only = opts.hold_only, check = opts.check,
    todo = opts.todo, numbers = {}, skipped = {}, staged = {}, wrapped = false }, Txn)
end

-- begin(opts) -> txn, holding the lock with the state read and checked, or
-- nil and the error answer. opts: state, timeout, purpose, command, stale
-- (legacy folder age, seconds), todo (TODO.md path, or false for none),
-- policies (else looked up), prepare(txn) (runs before the lock is taken),
-- check(txn) (runs under the lock right before the write; raising rolls
-- back), hold_only (take the lock but neither read nor write the state:
-- `tasknum lock`). The handle ends with txn:commit() or txn:rollback().
function M.begin(opts)
  local txn = new(opts)
  local ok, err = xpcall(function()
    txn.path = state.find(opts.state)
    txn.real = core.realpath(txn.path) or txn.path
    txn.lock_path = M.lock_path(txn.real)
    txn.policies = opts.policies or policy.policies(txn.path)
    if opts.prepare then opts.prepare(txn) end -- checks that need no lock
    txn:acquire()
    if not opts.hold_only then txn:load() end
  end, handler)
  if not ok then return nil, txn:finish(err) end
  return txn
end

-- finish(err [, extra]) -> the answer. Without err: runs opts.check and
-- writes; then logs the attempt and releases the lock. extra: fields added
-- to a success answer. A transaction finishes once.
function Txn:finish(err, extra)
  if self.answer then error("tasknum: this transaction is finished already", 3) end
  self.answer = true
  if err ~= nil and not errors.is(err) then err = errors.from(err) end
  if not err and not self.hold_only then
    local ok, e = xpcall(function()
      if self.check then self.check(self) end
      self:write()
    end, handler)
    if not ok then err = e end
  end
  self:audit(err)
  self:close()
  local r = self:result(err)
  if self.audit_error then r.audit_error = self.audit_error end
  if not err and type(extra) == "table" then
    for k, v in pairs(extra) do r[k] = v end
  end
  self.answer = r
  return r
end

-- commit([extra]) -> the answer: writes the step durably (or, if that
-- fails, nothing) and releases the lock.
function Txn:commit(extra)
  return self:finish(nil, extra)
end

-- rollback([err]) -> the answer: writes nothing and releases the lock. err
-- (a tasknum error, or any error value: SCRIPT_ERROR) is the answer's
-- error; without one the answer says the step was rolled back.
function Txn:rollback(err)
  if err == nil then
    err = errors.new("SCRIPT_ERROR", "rolled back: nothing was written")
  elseif not errors.is(err) then
    err = errors.new("SCRIPT_ERROR", tostring(err))
  end
  return self:finish(err)
end

-- run(opts, body) -> answer table: begin(opts), body(txn) under the lock,
-- then commit (body may return a table of extra answer fields) or, if body
-- raised, roll back.
function M.run(opts, body)
  local txn, failed = M.begin(opts)
  if not txn then return failed end
  local ok, extra = xpcall(body, handler, txn)
  if not ok then return txn:finish(extra), txn end
  return txn:finish(nil, extra), txn
end

return M
