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
--   a:read() -> mark [, range] | false | nil, err
--       the serial the numbering has reached (an integer that never wraps
--       and never goes down; see tasknum.serial), or false when it keeps
--       none (yet): the step then seeds it from the state. range: the
--       {min, max} the mark was kept for, when the authority keeps it (a
--       mark kept for another range is rebased, not compared)
--   a:commit(old, new, range) -> true | nil, err
--       moves the mark from old (what read() gave) to new, durably, before
--       the state file is written; range is the state's {min, max}; err.retry
--       when another caller moved it first (the step is read and decided
--       again). The step releases the numbering's lock right after it: the
--       state file's lock keeps the rest of the step
--   a:release()                     idempotent; ends what acquire started
--   a:holder() -> holder table, one line for people | nil when free
--   a:status() -> { kind, where, ... } for `tasknum status`, taking nothing
-- Failures are error values (tasknum.errors): LOCK_TIMEOUT, INTERRUPTED,
-- SYSTEM_ERROR, AUTHORITY_UNAVAILABLE (e.retry = false when calling again
-- cannot help), STATE_CORRUPT (a mark that cannot be read). To add an
-- authority: a file here, and its spec form in KINDS below.
--
-- Which authority: choose() (--authority, $TASKNUM_AUTHORITY, the state's
-- committed project_numbering.authority), else the default: `worktrees`
-- for a state inside a git working tree, `file` outside one. A step opens
-- the numbering's authority (numbering(): chosen and opened in one call)
-- after it has read the state under the file's lock, so the committed
-- choice is the one in the text it works on.
-- A committed one that reaches outside the repository (OUTSIDE below) is
-- opened only when the state file passes tasknum.trust: else UNTRUSTED,
-- before anything is made or connected to. Every step, `status` and
-- `check` open the numbering here, so the rule holds for all of them.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local file = require "tasknum.authority.file"

local M = {}

M.file = file.new

-- spec form -> module name, for the kinds that live outside the state.
-- A module has open(rest, f, spec, base) -> authority | nil, err: rest is
-- what follows "KIND:", base the folder relative paths start from.
local KINDS = {
  worktrees = "tasknum.authority.worktrees",
  dir = "tasknum.authority.dir",
  git = "tasknum.authority.remote",        -- git:REMOTE[#REF]
  postgresql = "tasknum.authority.remote", -- postgresql://...[#KEY]
  postgres = "tasknum.authority.remote",   -- postgres://... (libpq's other spelling)
}

-- The kinds that write or connect outside the state's folder and its
-- repository's git dir: a stranger's state must not choose them for the
-- caller (file and worktrees stay beside the state and in its own .git).
local OUTSIDE = { dir = true, git = true, postgresql = true, postgres = true }

-- choose(given [, committed]) -> spec, source: the authority asked for,
-- first found of --authority (given: "option"), $TASKNUM_AUTHORITY
-- ("environment"), project_numbering.authority in the state ("state"); nil
-- and "default" when none is.
function M.choose(given, committed)
  if given ~= nil and given ~= "" then return given, "option" end
  local env = os.getenv("TASKNUM_AUTHORITY")
  if env and env ~= "" then return env, "environment" end
  if committed ~= nil and committed ~= "" then return committed, "state" end
  return nil, "default"
end

-- open(spec, f [, source]) -> the numbering authority for spec, or nil,
-- err. f is the state file's own authority: it is the answer for "file",
-- and for the default (spec nil) outside a git working tree; inside one
-- the default is worktrees. source (see choose) is kept as a.source; a
-- spec from the state takes relative paths from the state's folder, the
-- others from the current folder. A spec from the state of a kind in
-- OUTSIDE is UNTRUSTED unless the state passes tasknum.trust.authority.
function M.open(spec, f, source)
  if spec == nil or spec == "" then
    -- a working tree above the state (tasknum.gitdir.top, without loading
    -- it for a state outside git); kept: the step asks again (.gitignore)
    local top, _, foreign = core.upward(f.dir, ".git", true)
    if not top and foreign then
      local err
      top, err = require("tasknum.gitdir").foreign(f.real, foreign)
      if not top then return nil, err end
    end
    f.top = top or false
    spec = f.top and "worktrees" or "file"
  end
  if spec == "file" then
    f.source = source
    return f
  end
  local kind, rest = spec:match("^([%w]+):?(.*)$")
  local module = kind and KINDS[kind]
  if not module then
    return nil, errors.new("INVALID_ARGUMENT", "unknown authority " .. spec
      .. (source == "state" and " (project_numbering.authority in the state)"
        or source == "environment" and " ($TASKNUM_AUTHORITY)" or ""),
      "an authority is file, worktrees, dir:PATH, git:REMOTE or postgresql://...")
  end
  if source == "state" and OUTSIDE[kind] then
    local root = require("tasknum.policy").project_root(f.path or f.real)
    -- judged at the real path the text was read from (f.real): a path
    -- that leads elsewhere by now, or nowhere, is refused
    local ok, err = require("tasknum.trust").authority(f.path or f.real, root, spec,
      require("tasknum.authority.remote").redact(spec), f.real)
    if not ok then return nil, err end
  end
  local base = source == "state" and f.dir or nil
  local a, err = require(module).open(rest, f, spec, base)
  if a then a.source = source end
  return a, err
end

-- numbering(f, given [, committed]) -> the numbering's authority, chosen
-- (choose) and opened (open) in one call, its source in a.source | nil,
-- err: what a step asks once it has read the state.
function M.numbering(f, given, committed)
  local spec, source = M.choose(given, committed)
  return M.open(spec, f, source)
end

return M
