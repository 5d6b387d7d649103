-- tasknum: unique task numbers from a project's state.json, for any number
-- of concurrent callers. The C core (tasknum.core) locks and writes; this
-- module and the policies beside it decide.
--
--   local tasknum = require "tasknum"
--   local r = tasknum.allocate{count = 2, purpose = "x", state = "specs/state.json"}
--   -- r is the answer table the CLI prints as JSON, errors included
--   -- (r.status == "error", r.error.code); only misuse raises.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local policy = require "tasknum.policy"
local txn = require "tasknum.txn"

local M = { version = core.version, exit_codes = errors.exit }

local function check_opts(opts, fname)
  if type(opts) ~= "table" then
    error(fname .. ": expected a table of options, got " .. type(opts), 3)
  end
  for _, k in ipairs({ "state", "purpose", "command" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error(string.format("%s: %s must be a string, got %s", fname, k, type(opts[k])), 3)
    end
  end
  for _, k in ipairs({ "timeout", "stale" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "number" then
      error(string.format("%s: %s must be a number of seconds, got %s", fname, k, type(opts[k])), 3)
    end
  end
end

-- Answers for misuse that is the caller's input, not a programming error
-- (a count of 0 from the command line, a negative timeout).
local function invalid(message)
  local r = { status = "error", lock_acquired = false, timestamp = txn.timestamp() }
  local e = errors.new("INVALID_ARGUMENT", message)
  r.error = { code = e.code, message = e.message }
  r.error_code, r.error_message, r.retry_suggested = e.code, e.message, false
  return r
end
M.invalid = invalid

-- allocate{count=1, purpose=, state=, timeout=30, stale=60} -> answer table
function M.allocate(opts)
  opts = opts or {}
  check_opts(opts, "tasknum.allocate")
  local count = opts.count == nil and 1 or opts.count
  if type(count) ~= "number" then
    error("tasknum.allocate: count must be a number, got " .. type(count), 2)
  end
  if opts.timeout and (opts.timeout < 0 or opts.timeout ~= opts.timeout) then
    return invalid("timeout must be a number of seconds >= 0")
  end
  local run = setmetatable({ prepare = function(t)
    local limit = t.policies.conflict.max_count or math.maxinteger
    if math.type(count) ~= "integer" or count < 1 or count > limit then
      t:fail("INVALID_ARGUMENT", string.format("count must be a whole number from 1 to %d, got %s",
        limit, tostring(count)))
    end
  end }, { __index = opts })
  return (txn.run(run, function(t)
    t.policies.conflict.pick(t, count)
  end))
end

-- transaction(opts, body) -> answer table. body(txn) runs under the lock
-- with the state read and checked; it takes numbers with txn:take(n) or the
-- team's conflict policy (txn.policies.conflict.pick(txn, n)), edits with
-- txn:span()/txn:splice(), and may return a table of extra answer fields.
-- An error anywhere writes nothing; a normal return commits durably.
function M.transaction(opts, body)
  check_opts(opts, "tasknum.transaction")
  if type(body) ~= "function" then
    error("tasknum.transaction: body must be a function", 2)
  end
  return (txn.run(opts, body))
end

-- format(result, name [, state_path]) -> text in that output format
function M.format(result, name, state_path)
  local fmt = policy.format(name or "json", state_path)
  if not fmt then return nil end
  return fmt(result)
end

M.errors = errors
M.policy = policy
return M
