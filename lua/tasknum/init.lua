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
  if opts.todo ~= nil and opts.todo ~= false and type(opts.todo) ~= "string" then
    error(fname .. ": todo must be a path or false, got " .. type(opts.todo), 3)
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
    if opts.prepare then opts.prepare(t) end
  end }, { __index = opts })
  return (txn.run(run, function(t)
    t:pick(count)
  end))
end

-- add_task{name=, description=, fields=, if_absent=, + allocate's options
-- but count} -> answer [, text]: the next number and the new entry first in
-- active_projects, in one write (see tasknum.addtask). fields: a list of
-- {key, value} pairs (kept in order) or a table of key = value (sorted).
-- A name that is not a slug is an INVALID_ARGUMENT answer; with if_absent,
-- an entry already named so is answered with its number and existing =
-- true, and nothing is written.
function M.add_task(opts)
  check_opts(opts, "tasknum.add_task")
  if opts.timeout and (opts.timeout < 0 or opts.timeout ~= opts.timeout) then
    return invalid("timeout must be a number of seconds >= 0")
  end
  return require("tasknum.addtask").run(opts)
end

-- transaction(opts, body) -> answer table. body(txn) runs under the lock
-- with the state read and checked; it takes numbers with txn:pick(n) (the
-- team's conflict policy) or txn:take(n), edits with tasknum.edit or
-- txn:span()/txn:splice(), and may return a table of extra answer fields.
-- An error anywhere writes nothing; a normal return commits durably. opts:
-- state, timeout, purpose, stale, todo (a TODO.md path, or false).
function M.transaction(opts, body)
  check_opts(opts, "tasknum.transaction")
  if type(body) ~= "function" then
    error("tasknum.transaction: body must be a function", 2)
  end
  return (txn.run(opts, body))
end

-- begin(opts) -> txn | nil, error answer: the same step as a handle, for
-- code that cannot live inside one function. It holds the lock until
-- txn:commit([extra]) or txn:rollback([err]), each returning the answer;
-- declared `local t <close> = ...`, it rolls back when the scope is left
-- without a commit (an error included), and a forgotten handle releases
-- the lock when it is collected. Its methods raise tasknum errors (e.code)
-- where the body of a transaction would.
function M.begin(opts)
  check_opts(opts, "tasknum.begin")
  return txn.begin(opts)
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
