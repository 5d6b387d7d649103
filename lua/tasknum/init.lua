-- tasknum: unique task numbers from a project's state.json, for any number
-- of concurrent callers. The C core (tasknum.core) locks and writes; this
-- module and the policies beside it decide. This file is the public API;
-- modules marked "(internal)" in their first line may change.
--
--   local tasknum = require "tasknum"
--   local r = tasknum.allocate{count = 2, purpose = "x", state = "specs/state.json"}
--   -- r is the answer table the CLI prints as JSON, errors included
--   -- (r.status == "error", r.error.code); only misuse raises.
local answer = require "tasknum.answer"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local policy = require "tasknum.policy"
local txn = require "tasknum.txn"

local M = { version = core.version, exit_codes = errors.exit }

local STRINGS = { "state", "purpose", "command", "format", "authority" }
local SECONDS = { "timeout", "stale" }

local function check_opts(opts, fname)
  if type(opts) ~= "table" then
    error(fname .. ": expected a table of options, got " .. type(opts), 3)
  end
  for _, k in ipairs(STRINGS) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error(string.format("%s: %s must be a string, got %s", fname, k, type(opts[k])), 3)
    end
  end
  for _, k in ipairs(SECONDS) do
    if opts[k] ~= nil and type(opts[k]) ~= "number" then
      error(string.format("%s: %s must be a number of seconds, got %s", fname, k, type(opts[k])), 3)
    end
  end
  if opts.todo ~= nil and opts.todo ~= false and type(opts.todo) ~= "string" then
    error(fname .. ": todo must be a path or false, got " .. type(opts.todo), 3)
  end
end

-- The answer for a timeout the caller got wrong, or nil when it is fine.
local function bad_timeout(opts)
  if opts.timeout and (opts.timeout < 0 or opts.timeout ~= opts.timeout) then
    return answer.invalid("timeout must be a number of seconds >= 0")
  end
end

-- allocate{count=1, purpose=, state=, timeout=30, stale=60, todo=,
-- format=, authority=} -> answer [, text]: count numbers chosen by the
-- team's conflict policy. With format (a format name) the answer comes
-- rendered in it too, once: the text the CLI prints.
function M.allocate(opts)
  opts = opts or {}
  check_opts(opts, "tasknum.allocate")
  local count = opts.count == nil and 1 or opts.count
  if type(count) ~= "number" then
    error("tasknum.allocate: count must be a number, got " .. type(count), 2)
  end
  local bad = bad_timeout(opts)
  if bad then return bad end
  local run = setmetatable({ count = count }, { __index = opts })
  local r, text = txn.allocate(run)
  return r, text
end

-- reserve{count=K, purpose=, state=, timeout=, authority=, format=} ->
-- answer [, text]: a block of K numbers taken, in one step, from a
-- numbering kept on a remote (git:REMOTE, postgresql://...) and kept in
-- this clone's local mark, for an agent that will run where the remote
-- cannot be reached: allocations hand them out first, without the network
-- (see tasknum.authority.remote), then go to the remote again. The answer's
-- reserved: {count, first, last[, given_up]} (given_up: what was left of a
-- previous block, now a gap); the state's counter stays at the block's
-- first number (moved there, with counter_adjusted, when it was behind).
function M.reserve(opts)
  check_opts(opts, "tasknum.reserve")
  local count = opts.count
  if math.type(count) ~= "integer" or count < 1 then
    return answer.invalid("reserve: count must be a whole number >= 1, got " .. tostring(count))
  end
  local bad = bad_timeout(opts)
  if bad then return bad end
  -- count is the block's size here, not numbers handed out in the step
  local run = setmetatable({ reserve = count }, { __index = function(_, k) if k ~= "count" then return opts[k] end end })
  local r, text = txn.run(run, function(t)
    local a, i = t.auth, t.info
    if not (a and a.inner) then
      t:fail("INVALID_ARGUMENT", "reserve needs a numbering kept on a remote (git:REMOTE or "
        .. "postgresql://...), not " .. tostring(a and a.kind), "a local numbering is always within reach, so "
        .. "there is nothing to reserve; choose the team's with --authority, $TASKNUM_AUTHORITY or "
        .. "project_numbering.authority")
    end
    local serial = require "tasknum.serial"
    local size = serial.size(i.min, i.max)
    if size and count > size then
      t:fail("INVALID_ARGUMENT", string.format("cannot reserve %d numbers from the range %d..%d", count, i.min, i.max))
    end
    return { reserved = { count = count, first = serial.display(t.serial, i.min, i.max),
      last = serial.display(t.serial + count - 1, i.min, i.max),
      given_up = a.limit and a.local_old and a.limit - a.local_old or nil } }
  end)
  return r, text
end

-- add_task{name=, description=, fields=, if_absent=, + allocate's options
-- but count} -> answer [, text]: the next number and the new entry first
-- in active_projects, in one write (see tasknum.addtask). fields: a list
-- of {key, value} pairs (kept in order) or a table of key = value
-- (sorted). A name that is not a slug is an INVALID_ARGUMENT answer; with
-- if_absent, an entry already named so is answered with its number and
-- existing = true, and nothing is written.
function M.add_task(opts)
  check_opts(opts, "tasknum.add_task")
  local bad = bad_timeout(opts)
  if bad then return bad end
  return require("tasknum.addtask").run(opts)
end

-- transaction(opts, body) -> answer [, text]. body(txn) runs under the
-- lock with the state read and checked; it takes numbers with txn:pick(n)
-- (the team's conflict policy) or txn:take(n), edits with tasknum.edit or
-- txn:span()/txn:splice(), and may return a table of extra answer fields.
-- An error anywhere writes nothing; a normal return commits durably. opts:
-- as allocate's, without count.
function M.transaction(opts, body)
  check_opts(opts, "tasknum.transaction")
  if type(body) ~= "function" then
    error("tasknum.transaction: body must be a function", 2)
  end
  local bad = bad_timeout(opts)
  if bad then return bad end
  local r, text = txn.run(opts, body)
  return r, text
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

-- hold(opts, fn) -> answer: holds the state's lock (and the legacy folder)
-- while fn(h) runs, without reading or writing the state; what `tasknum
-- lock` does. h:share() -> the environment with which a child process
-- shares the lock, h:fd() -> the lock's descriptor for it, h:refresh()
-- renews the legacy folder for long holds. fn may return a table of fields
-- for the answer and the audit line.
function M.hold(opts, fn)
  check_opts(opts, "tasknum.hold")
  if type(fn) ~= "function" then error("tasknum.hold: fn must be a function", 2) end
  local run = setmetatable({ hold_only = true }, { __index = opts })
  return (txn.run(run, function(t)
    local extra = fn(t.file)
    t.audit_extra = type(extra) == "table" and extra or nil
    return t.audit_extra
  end))
end

-- status{state=, stale=} -> what `tasknum status --json` prints: the
-- state, its counter and room, the lock and its holder, the legacy
-- folder, leftover temp files, the audit log and its last allocations,
-- the policies in use. Takes no lock; never raises for a bad state.
function M.status(opts)
  opts = opts or {}
  check_opts(opts, "tasknum.status")
  return require("tasknum.status").status(opts)
end

-- sync{state=, authority=, timeout=, stale=, todo=, purpose=, format=} ->
-- answer [, text]: one locked, audited step that hands out nothing: a
-- counter behind its numbering's mark moves up to it (counter_adjusted),
-- a mark behind the counter moves up to the counter (mark_moved), never
-- down. sync: "counter", "mark", "level" or "new" (a mark started), and
-- mark, the next number the numbering gives.
function M.sync(opts)
  opts = opts or {}
  check_opts(opts, "tasknum.sync")
  local bad = bad_timeout(opts)
  if bad then return bad end
  local run = setmetatable({ gitignore = true }, { __index = opts })
  local r, text = txn.run(run, function(t)
    local d = t.reconciled
    if not d then return { sync = "level", mark = t.counter } end -- the file authority: the counter is the mark
    return { sync = d.seeded and "new" or d.behind and "counter" or (d.ahead or d.rebased) and "mark" or "level",
      mark = t.counter }
  end)
  return r, text
end

-- set{next=, min=, max=, force=, state=, timeout=, stale=, purpose=,
-- todo=, format=, authority=} -> answer [, text]: moves the counter and
-- changes the range in one locked, audited step (what `tasknum set` does;
-- see tasknum.set): never back without force, always into the range; it
-- also repairs a state whose counter is outside its range.
function M.set(opts)
  check_opts(opts, "tasknum.set")
  local bad = bad_timeout(opts)
  if bad then return bad end
  return require("tasknum.set").run(opts)
end

-- check{state=, authority=} -> the answer `tasknum check` prints: success
-- with an empty problems list, or STATE_CORRUPT listing each problem
-- (AUTHORITY_UNAVAILABLE when the numbering cannot be asked).
function M.check(opts)
  opts = opts or {}
  check_opts(opts, "tasknum.check")
  return require("tasknum.status").check(opts)
end

-- format(result, name [, state_path]) -> text in that output format, or
-- nil when there is no such format
function M.format(result, name, state_path)
  local fmt = policy.format(name or "json", state_path)
  if not fmt then return nil end
  return fmt(result)
end

M.errors = errors
M.policy = policy
return M
