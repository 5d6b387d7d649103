-- tasknum.txn: one locked step on a state file. run(opts, body) finds the
-- state, takes the lock, reads and checks the state, calls body(txn) to
-- decide on numbers and edits, writes the result durably, logs the attempt
-- and releases the lock, whatever happens; it returns the answer table.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local policy = require "tasknum.policy"
local state = require "tasknum.state"

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

function Txn:holder_record()
  local sec = core.time()
  return json.encode({ pid = core.pid(), host = core.hostname(),
    purpose = self.purpose, command = self.command,
    since = M.timestamp(), since_epoch = sec }) .. "\n"
end

local function describe_holder(lock_path)
  local text = core.holder(lock_path)
  local ok, h = pcall(require("cjson").decode, text or "")
  if not ok or type(h) ~= "table" then return nil, "the holder did not say who it is" end
  local age = h.since_epoch and (core.time() - h.since_epoch) or nil
  local what = h.command and ("command " .. tostring(h.command))
      or h.purpose and ("purpose " .. tostring(h.purpose)) or "no purpose given"
  h.age_s = age
  return h, string.format("held by pid %s on %s (%s) for %s s", tostring(h.pid),
    tostring(h.host), what, age and tostring(age) or "?")
end

function Txn:acquire()
  local t0 = core.clock()
  local lock, msg, code = core.lock(self.lock_path, self.timeout, self:holder_record())
  self.wait = core.clock() - t0
  if lock then
    self.lock, self.locked_at = lock, core.clock()
    return
  end
  if code == "timeout" then
    local holder, who = describe_holder(self.lock_path)
    errors.raise("LOCK_TIMEOUT", string.format("state lock still held after %g s", self.timeout),
      "kernel lock on " .. self.lock_path .. " " .. who .. "; retry later", nil,
      { holder = holder })
  elseif code == "interrupted" then
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

-- fail(code, message [, details [, data]]): ends the step with that error.
function Txn:fail(code, message, details, data)
  errors.raise(code, message, details, nil, data)
end

-- span(key [, subkey ...]) -> start, stop of a member's value, or nil
function Txn:span(...)
  local s, e = self.info.root_start, self.info.root_stop
  for i = 1, select("#", ...) do
    s, e = core.member(self.text, s, e, (select(i, ...)))
    if not s then return nil end
  end
  return s, e
end

-- held(array_key, field) -> { [number] = {start, stop} of its element } for
-- the elements of the top-level array whose field is an integer.
function Txn:held(array_key, field)
  local s, e = self:span(array_key)
  local held = {}
  if not s or self.text:sub(s, s) ~= "[" then return held end
  local spans = core.elements(self.text, s, e)
  for i = 1, #spans, 2 do
    local es, ee = spans[i], spans[i + 1]
    if self.text:sub(es, es) == "{" then
      local vs, ve = core.member(self.text, es, ee, field)
      local n = vs and core.integer(self.text, vs, ve)
      if n and not held[n] then held[n] = { es, ee } end
    end
  end
  return held
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

function Txn:commit()
  if self.counter == self.previous and not self.dirty then return end
  local i = self.info
  local text = self.text:sub(1, i.next_start - 1) .. tostring(self.counter)
      .. self.text:sub(i.next_stop + 1)
  -- Guarantee 5: whatever the body did, nothing invalid reaches the disk.
  local ok, check = pcall(state.parse, text)
  if not ok or check.next ~= self.counter then
    self:fail("SCRIPT_ERROR", "refusing to write: the new state failed its own check",
      ok and "the counter would read " .. tostring(check.next) .. ", not " .. tostring(self.counter)
      or (errors.is(check) and check.message or tostring(check)))
  end
  local sig = core.interrupted()
  if sig then error(errors.interrupted(sig, "before writing the state"), 0) end
  local done, msg, errno = core.replace(self.path, text)
  if not done then
    if errno == 4 and core.interrupted() then
      error(errors.interrupted(core.interrupted(), "while writing the state"), 0)
    end
    error(errors.system(msg, errno, "cannot write the state file"), 0)
  end
  self.text, self.committed = text, true
end

function Txn:close()
  if self.lock then
    self.hold = core.clock() - self.locked_at
    self.lock:release()
  end
end
Txn.__close = Txn.close

-- --- the answer and the audit line ------------------------------------------

local function ms(seconds) return json.ms(seconds or 0) end

function Txn:result(err)
  local r = { timestamp = M.timestamp(), state_path = self.path, purpose = self.purpose,
              lock_acquired = self.lock ~= nil, lock_wait_ms = ms(self.wait) }
  if not err then
    r.status = "success"
    r.allocated_numbers = json.array(self.numbers)
    r.allocation_count = #self.numbers
    r.previous_next_number, r.new_next_number = self.previous, self.counter
    r.wrapped = self.wrapped
    r.lock_duration_ms = ms(self.hold)
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

function Txn:audit(err)
  local audit = self.policies and self.policies.audit
  if not audit or not self.path then return end
  local entry = { timestamp = M.timestamp(), pid = core.pid(), host = core.hostname(),
    user = os.getenv("USER") or os.getenv("LOGNAME"), purpose = self.purpose,
    command = self.command, numbers = json.array(self.committed and self.numbers or {}),
    previous_next_number = self.previous, new_next_number = self.committed and self.counter or nil,
    wait_ms = ms(self.wait), hold_ms = self.locked_at and ms(core.clock() - self.locked_at) or 0,
    wrapped = self.committed and self.wrapped or false,
    conflict = err ~= nil and err.code == "NUMBER_CONFLICT",
    status = err and "error" or "success", error_code = err and err.code or nil }
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

-- run(opts, body) -> answer table. opts: state, timeout, purpose, command,
-- policies (else looked up), prepare(txn) (runs before the lock is taken).
-- body(txn) may return a table of extra answer fields.
function M.run(opts, body)
  local txn = setmetatable({ purpose = opts.purpose, command = opts.command,
    timeout = opts.timeout or M.DEFAULT_TIMEOUT, numbers = {}, wrapped = false }, Txn)
  local ok, extra = xpcall(function()
    txn.path = state.find(opts.state)
    txn.real = core.realpath(txn.path) or txn.path
    txn.lock_path = M.lock_path(txn.real)
    txn.policies = opts.policies or policy.policies(txn.path)
    if opts.prepare then opts.prepare(txn) end -- checks that need no lock
    txn:acquire()
    txn:load()
    local more = body(txn)
    txn:commit()
    return more
  end, handler)
  local err = not ok and extra or nil
  txn:audit(err)
  txn:close()
  local r = txn:result(err)
  if txn.audit_error then r.audit_error = txn.audit_error end
  if ok and type(extra) == "table" then
    for k, v in pairs(extra) do r[k] = v end
  end
  return r, txn
end

return M
