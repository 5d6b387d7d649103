-- tasknum.answer (internal): the one place that builds answers. Every
-- command and every Lua API call ends in one of these tables, success or
-- failure; the CLI prints it with the chosen format and exits with
-- exit_status(). The keys come out in ORDER (then sorted) wherever an
-- answer or an audit line is encoded.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"

local M = {}

M.ORDER = {
  "status", "error", "code", "message", "details",
  "allocated_numbers", "allocation_count", "previous_next_number",
  "new_next_number", "wrapped", "counter_adjusted", "mark_moved", "authority", "retries", "error_code", "error_message",
  "retry_suggested", "lock_acquired", "lock_wait_ms", "lock_duration_ms",
  "timestamp", "state_path", "purpose", "from", "to", "reason",
}
local RANK = {}
for i, k in ipairs(M.ORDER) do RANK[k] = i end

-- timestamp([sec, nsec]) -> UTC with milliseconds: 2026-11-27T06:40:00.123Z
function M.timestamp(sec, nsec)
  if not sec then sec, nsec = core.time() end
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%03dZ", nsec // 1000000)
end

-- encode(value) -> one line of JSON, keys in the answer's order
function M.encode(v)
  return json.encode(v, RANK)
end

-- json(answer) -> its line of JSON, newline included: the default output
-- format (tasknum.format.json is this function)
function M.json(r)
  return M.encode(r) .. "\n"
end

local function merge(r, fields)
  for k, v in pairs(fields or {}) do r[k] = v end
  return r
end

-- success(fields) -> a success answer: status, timestamp, and fields
function M.success(fields)
  return merge({ status = "success", timestamp = fields.timestamp or M.timestamp() }, fields)
end

-- failure(err [, fields]) -> a failure answer. err is an error value (any
-- other value is a SCRIPT_ERROR); its data fields join the error object.
-- fields (lock_acquired, state_path, wait and hold times, ...) are added.
function M.failure(err, fields)
  err = errors.from(err)
  local e = merge({ code = err.code, message = err.message, details = err.details }, err.data)
  return merge({ status = "error", error = e, error_code = err.code, error_message = err.message,
    retry_suggested = errors.retryable(err), lock_acquired = false,
    timestamp = M.timestamp() }, fields)
end

-- invalid(message) -> the INVALID_ARGUMENT answer for a caller's bad input
function M.invalid(message)
  return M.failure(errors.new("INVALID_ARGUMENT", message))
end

-- exit_status(answer) -> the process exit status for an answer: 0 for a
-- success, 128 + the signal for INTERRUPTED, else its code's.
function M.exit_status(r)
  if r.status == "success" then return 0 end
  local sig = r.error_code == "INTERRUPTED" and type(r.error) == "table" and r.error.signal
  if sig and errors.SIGNALS[sig] then return 128 + errors.SIGNALS[sig] end
  return errors.exit[r.error_code] or errors.exit.SCRIPT_ERROR
end

-- --- a transaction step's answer and audit entry -------------------------------
-- Built from what the step knows (a tasknum.txn): path, purpose, acquired,
-- wait, decided and hold (seconds), sec0 and nsec0 (the wall clock at the
-- step's monotonic t0; the answer's time is it moved on to decided_at),
-- numbers, skipped, previous,
-- counter, wrapped, committed, todo_path, auth (the numbering's authority:
-- kind, where), adjusted (counter_adjusted: from, to, reason),
-- mark_moved (from, to, reason: the mark moved up to the counter) and
-- retries; for the
-- audit entry also pid, host, user, command, audited_at, audit_extra and
-- the file authority's stale_breaks, legacy_wait and nested.

local ARRAY = json.array_mt -- lists that are written [] when empty
local function array(t) return setmetatable(t, ARRAY) end

local function ms(seconds) return math.floor(seconds * 1e6 + 0.5) / 1e3 end
M.ms = ms

-- The numbering's authority as answers and audit lines give it.
local function authority(f)
  return f.auth and { kind = f.auth.kind, where = f.auth.where, reserved = f.auth.reserved } or nil
end

-- How many times the step was run again after losing the race for the
-- numbering's mark (nil: never).
local function retried(f)
  return f.retries and f.retries > 0 and f.retries or nil
end

-- later(sec, nsec, seconds) -> a wall clock reading moved on by seconds
-- (measured on the monotonic clock): one clock reading less under the lock
function M.later(sec, nsec, seconds)
  local ns = nsec + math.floor(seconds * 1e9 + 0.5)
  return sec + ns // 1000000000, ns % 1000000000
end

-- The wall clock when the step decided its answer (nil: it did not).
local function decided_time(f)
  if f.decided_at and f.sec0 then return M.later(f.sec0, f.nsec0, f.decided_at - f.t0) end
end

-- step(facts [, err [, extra]]) -> the step's answer: a success with the
-- numbers (extra: fields the body added), or the failure err
function M.step(f, err, extra)
  local common = { state_path = f.path, purpose = f.purpose, lock_acquired = f.acquired == true,
    lock_wait_ms = ms(f.wait or 0), authority = authority(f), retries = retried(f) }
  if err then
    common.lock_duration_ms = f.acquired and ms(f.hold or 0) or nil
    return M.failure(err, common)
  end
  local sec, nsec = decided_time(f)
  common.timestamp = sec and M.timestamp(sec, nsec)
  local r = merge(M.success(common), { lock_duration_ms = ms(f.decided or 0),
    allocated_numbers = array(f.numbers), allocation_count = #f.numbers,
    previous_next_number = f.previous, new_next_number = f.counter, wrapped = f.wrapped,
    counter_adjusted = f.adjusted, mark_moved = f.mark_moved,
    skipped_numbers = #f.skipped > 0 and array(f.skipped) or nil, todo_path = f.todo_path,
    gitignore = f.gitignore })
  return type(extra) == "table" and merge(r, extra) or r
end

-- decided(facts [, extra [, fmt, name]]) -> the step's success answer
-- and, when name (the format asked for) is given, its text rendered with
-- fmt (see render) | the answer, nil, err: decided and rendered in one go,
-- under the lock, so that a format that raises writes nothing.
function M.decided(f, extra, fmt, name)
  local r = M.step(f, nil, extra)
  if not name then return r end
  return r, M.render(r, fmt, name)
end

-- What each stale legacy folder broken in the step looked like.
local function breaks(list)
  local out = {}
  for i, b in ipairs(list) do
    out[i] = { reason = b.verdict, path = b.path, pid = b.pid, epoch = b.epoch,
      info = b.info or json.null, age_s = ms(b.age_s) / 1000 }
  end
  return out
end

-- The wall clock when the entry is made: the decision's, moved on.
local function audit_time(f)
  local sec, nsec = decided_time(f)
  if not (sec and f.audited_at) then return M.timestamp() end
  return M.timestamp(M.later(sec, nsec, f.audited_at - f.decided_at))
end

-- entry(facts [, err]) -> the audit line of the step (see
-- tasknum.policy.audit): who, what was handed out, how long it waited and
-- held, what went wrong
function M.entry(f, err)
  local file = f.file or {}
  local e = { timestamp = audit_time(f),
    pid = f.pid, host = f.host, user = f.user or json.null, purpose = f.purpose or json.null,
    command = f.command, numbers = array(f.committed and f.numbers or {}),
    previous_next_number = f.previous, new_next_number = f.committed and f.counter or nil,
    wait_ms = ms(f.wait or 0), hold_ms = f.hold and ms(f.hold) or 0,
    wrapped = f.committed and f.wrapped or false,
    conflict = err ~= nil and err.code == "NUMBER_CONFLICT",
    stale_break = file.stale_breaks and #file.stale_breaks > 0 and breaks(file.stale_breaks) or false,
    legacy_wait_ms = file.legacy_wait and ms(file.legacy_wait) or nil, nested = file.nested,
    status = err and "error" or "success", error_code = err and err.code or json.null,
    authority = authority(f), counter_adjusted = f.committed and f.adjusted or nil,
    mark_moved = f.committed and f.mark_moved or nil, retries = retried(f) }
  return merge(e, f.audit_extra)
end

-- --- the shape of an answer, for tools that describe it ------------------------
-- In tasknum.schema, loaded by the tools that describe answers (MCP): no
-- command needs it.

-- describe(type, description [, extra]) -> a JSON Schema for one value
function M.describe(...) return require("tasknum.schema").describe(...) end

-- schema(more, success) -> the JSON Schema of an answer (tasknum.schema)
function M.schema(...) return require("tasknum.schema").schema(...) end

-- explain(r) -> a failure in words for people and models (tasknum.schema)
function M.explain(...) return require("tasknum.schema").explain(...) end

-- render(r, fmt [, name]) -> text | nil, err: the answer in a format (a
-- function(answer) -> text; nil: JSON). A format that raises or returns no
-- text is a SCRIPT_ERROR for a success answer; a failure answer is then
-- given as JSON: the failure matters more than its looks.
function M.render(r, fmt, name)
  if not fmt then return M.json(r) end
  local ok, text = xpcall(fmt, debug.traceback, r)
  if ok and type(text) == "string" then return text end
  if r.status ~= "success" then return M.json(r) end
  if ok then
    return nil, errors.new("SCRIPT_ERROR", "output format " .. tostring(name) .. " returned a "
      .. type(text) .. ", not text")
  end
  return nil, errors.new("SCRIPT_ERROR", "output format " .. tostring(name) .. " raised an error: "
    .. tostring(text):match("^[^\n]*"), tostring(text))
end


return M
