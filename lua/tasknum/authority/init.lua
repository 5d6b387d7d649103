-- tasknum.authority (internal): where the lock and the high-water mark
-- ("mark") of a numbering live. A transaction always uses the state file's
-- own authority (tasknum.authority.file: the lock beside the state, the
-- legacy folder, the durable replace of the state) and, when the numbering
-- lives elsewhere, a second one for it. Locks are always taken in that
-- order, the file's first, so no two callers can wait for each other.
--
-- Every authority is an object with:
--   a.kind, a.where                 what the answer's `authority` says
--   a:acquire(deadline, holder [, timeout]) -> true | nil, err
--       deadline: a core.clock() time, or nil to wait for ever (a deadline
--       already past tries once); holder: the record waiters read (pid,
--       host, purpose, command, since, since_epoch); timeout: the seconds
--       asked for, to word a LOCK_TIMEOUT
--   a:read() -> mark | false | nil, err
--       the serial the numbering has reached (an integer that never wraps
--       and never goes down), or false when it keeps none (yet): the state's
--       counter is then the mark
--   a:commit(old, new) -> true | nil, err
--       moves the mark from old (what read() gave) to new, durably, before
--       the state file is written; err.retry when another caller moved it
--       first (the step is read and decided again)
--   a:release()                     idempotent; ends what acquire started
--   a:holder() -> holder table, one line for people | nil when free
--   a:status() -> { kind, where, ... } for `tasknum status`, taking nothing
-- Failures are error values (tasknum.errors): LOCK_TIMEOUT, INTERRUPTED,
-- SYSTEM_ERROR, AUTHORITY_UNAVAILABLE. To add an authority: a file here,
-- and its spec form in KINDS below.
local errors = require "tasknum.errors"
local file = require "tasknum.authority.file"

local M = {}

M.file = file.new

-- spec form -> module name, for the kinds that live outside the state
local KINDS = {}

-- open(spec, f) -> the numbering authority for spec (nil or "file": the
-- state file's own f), or nil, err
function M.open(spec, f)
  if spec == nil or spec == "" or spec == "file" then return f end
  local kind, rest = spec:match("^([%w]+):?(.*)$")
  local module = kind and KINDS[kind]
  if not module then
    return nil, errors.new("INVALID_ARGUMENT", "unknown authority " .. spec,
      "an authority is file, worktrees, dir:PATH, git:REMOTE or postgresql://...")
  end
  return require(module).open(rest, f, spec)
end

return M
