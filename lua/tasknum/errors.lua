-- tasknum.errors: the error codes of the contract, their exit statuses (the
-- one place that defines them), and error values that carry a code. Inside
-- the library expected failures are returned as `nil, err` with err such a
-- value; they are raised only at the transaction boundary (a body, a policy)
-- and for misuse. tasknum.answer turns them into failure answers.
local core = require "tasknum.core"

local M = {}

-- code -> exit status
M.exit = {
  CHECK_FAILED = 1, -- a check ran and found something (as diff and linters say it)
  TODO_BEHIND = 1,
  TODO_AHEAD = 1,
  INVALID_ARGUMENT = 64,
  STATE_CORRUPT = 65,
  STATE_NOT_FOUND = 66,
  NUMBER_CONFLICT = 69,
  SCRIPT_ERROR = 70,
  SYSTEM_ERROR = 71,
  STATE_EXISTS = 73, -- EX_CANTCREAT: init found a state it would shadow
  LOCK_TIMEOUT = 75,
  AUTHORITY_UNAVAILABLE = 76, -- where the numbering lives cannot be reached
  UNTRUSTED = 77, -- a team file tasknum will not run, a committed authority it will not use (EX_NOPERM); see tasknum.trust
  INTERRUPTED = 130, -- 128 + the signal: 130 for SIGINT, 143 for SIGTERM
}

-- code -> what it means, in a few words: for --help, the man page and the
-- usage line (a spec checks that every code has one).
M.meaning = {
  CHECK_FAILED = "tasknum check found a problem in a state file that is valid (error.problems)",
  TODO_BEHIND = "todo --check: TODO.md's next_project_number: is behind the state (`tasknum todo` fixes it)",
  TODO_AHEAD = "todo --check: TODO.md's next_project_number: is ahead of the state (`tasknum todo` fixes it)",
  STATE_EXISTS = "init found a state it would shadow or restart; nothing was created",
  INVALID_ARGUMENT = "a bad option, value, command or script name",
  STATE_CORRUPT = "the state file cannot be trusted; it was left as it was",
  STATE_NOT_FOUND = "no state file found (only `tasknum init` creates one)",
  NUMBER_CONFLICT = "a number to hand out belongs to an active project",
  SCRIPT_ERROR = "a policy or script raised an error, or called os.exit under the lock",
  SYSTEM_ERROR = "the file system said no; the message names the path",
  LOCK_TIMEOUT = "another holder kept the lock past --timeout (retry)",
  AUTHORITY_UNAVAILABLE = "where the numbering lives cannot be reached (retry)",
  UNTRUSTED = "a team script or policy, or a committed dir:/git:/postgresql authority, in a folder others could change was not used",
  INTERRUPTED = "SIGINT (130) or SIGTERM (143) stopped the run before it wrote anything",
}

-- The signals the host turns into INTERRUPTED, by number and by name.
M.SIGNALS = { [2] = "SIGINT", [15] = "SIGTERM", SIGINT = 2, SIGTERM = 15 }

-- errno values after which trying again may well succeed
local transient = { [core.EINTR] = true, [core.EAGAIN] = true, [core.EBUSY] = true,
                    [core.ETIMEDOUT] = true, [core.ENOMEM] = true, [core.ENFILE] = true,
                    [core.EMFILE] = true, [core.EIO] = false }

local Error = {}
Error.__index = Error
function Error:__tostring()
  return self.code .. ": " .. self.message
end

-- new(code, message [, details [, errno [, data]]]) -> error value; data
-- holds structured fields added to the answer's error object.
function M.new(code, message, details, errno, data)
  assert(M.exit[code], "unknown error code " .. tostring(code))
  return setmetatable({ code = code, message = message, details = details,
                        errno = errno, data = data }, Error)
end

-- raise(code, message [, details [, errno [, data]]]): throws an error value
function M.raise(code, message, details, errno, data)
  error(M.new(code, message, details, errno, data), 0)
end

function M.is(v)
  return getmetatable(v) == Error
end

-- An interruption is the decision of whoever sent the signal: retrying on
-- one's own would defy it, so it is not suggested. An error value whose
-- retry field is false (a broken repository, a folder without access)
-- needs a fix first, whatever its code.
function M.retryable(err)
  if err.retry == false then return false end
  if err.code == "LOCK_TIMEOUT" or err.code == "AUTHORITY_UNAVAILABLE" then return true end
  if err.code == "SYSTEM_ERROR" then return transient[err.errno] == true end
  return false
end

-- interrupted(signum, when) -> INTERRUPTED value naming the signal; when
-- says what the step was doing ("while waiting for the state lock").
function M.interrupted(signum, when)
  local name = M.SIGNALS[signum] or ("signal " .. tostring(signum))
  return M.new("INTERRUPTED", "interrupted by " .. name .. " " .. when,
    "nothing was written, the state is as it was, and this process holds no lock", nil,
    { signal = name })
end

-- from(value) -> an error value for anything raised. Lua raises memory
-- errors without calling the message handler, as the bare string "not
-- enough memory": that is SYSTEM_ERROR (ENOMEM), anything else that is not
-- an error value a SCRIPT_ERROR.
function M.from(e)
  if M.is(e) then return e end
  if e == "not enough memory" then
    return M.new("SYSTEM_ERROR", "out of memory", "not enough memory", 12)
  end
  return M.new("SCRIPT_ERROR", tostring(e))
end

-- handler(e): the message handler for xpcall around anything that runs a
-- team's or a user's code: error values pass, anything else becomes a
-- SCRIPT_ERROR whose details hold the traceback.
function M.handler(e)
  if M.is(e) then return e end
  if e == "not enough memory" then return M.from(e) end
  return M.new("SCRIPT_ERROR", tostring(e), debug.traceback(tostring(e), 2))
end

-- system(message_from_core, errno [, what]) -> SYSTEM_ERROR value
function M.system(msg, errno, what)
  local text = what and (what .. ": " .. msg) or msg
  return M.new("SYSTEM_ERROR", text, msg, errno)
end

return M
