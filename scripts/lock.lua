-- lock.lua: runs a command while holding the state lock, like flock(1).
local cli = require "tasknum.cli"
local declared = cli.command {
  summary = "run a command while holding the state lock, like flock(1)",
  forms = { "[OPTIONS] -- COMMAND [ARGS...]" },
  rest = "command",
  options = {
    cli.option "--state",
    cli.option "--timeout",
    cli.option "--stale",
  },
  text = [[
Prints nothing of its own when COMMAND ran: stdout is COMMAND's. When the lock was not taken it prints the JSON error and COMMAND does not run. The state must exist; it is not read.

COMMAND gets the lock's descriptor and TASKNUM_LOCK_FD, TASKNUM_LOCK_BYTE, TASKNUM_LOCK_PATH and TASKNUM_STATE: tasknum commands it runs use the held lock instead of waiting for it. A SIGTERM for tasknum is passed on to COMMAND; the lock is kept until COMMAND has ended.]],
  exits = { { "N", "COMMAND's exit status, or 128 + N when signal N ended it" },
    { 126, "COMMAND was found but could not be run" }, { 127, "COMMAND was not found" },
    "INVALID_ARGUMENT", "STATE_NOT_FOUND", "SYSTEM_ERROR", "LOCK_TIMEOUT", "UNTRUSTED", "INTERRUPTED" },
}
local tasknum = require "tasknum"
local core = require "tasknum.core"
local errors = require "tasknum.errors"

local SIGTERM = 15

local opts, command = cli.parse({ ... }, declared)
if #command == 0 then
  errors.raise("INVALID_ARGUMENT", "lock needs a command: tasknum lock [--state PATH] "
    .. "[--timeout S] -- COMMAND [ARGS...]")
end

-- The command as a shell would read it back, for the holder record.
local function shell_words(argv)
  local words = {}
  for i, a in ipairs(argv) do
    words[i] = a:match("^[%w%%+,./:=@_-]+$") and a or ("'" .. a:gsub("'", "'\\''") .. "'")
  end
  return table.concat(words, " ")
end

-- Waits for the child, passing a SIGTERM on once. The legacy folder is
-- kept fresh meanwhile by its keeper (see File:share()).
local function wait(h, child)
  local seen = 0
  while true do
    local status, msg, errno = h:watch(child, seen)
    if status then return status end
    if errno == core.EINTR then
      seen = core.interrupted() or 0
      if seen == SIGTERM then core.kill(child:pid(), SIGTERM) end
    else
      error(errors.system(msg, errno, "cannot wait for the command"), 0)
    end
  end
end

opts.command = shell_words(command)
local started, held
local result = tasknum.hold(opts, function(h)
  held = h
  local env, err = h:share()
  if not env then error(err, 0) end
  local child, msg, errno = core.spawn(command, env, h:fd())
  if not child then
    started = { status = errno == core.ENOENT and 127 or 126, message = msg }
  else
    h:describe{ command_pid = child:pid(), command_boot = core.boottime() }
    started = { status = wait(h, child) }
  end
  return { command_status = started.status, keeper_pid = h.keeper and h.keeper:pid() or nil }
end)
if result.status ~= "success" then return cli.emit(result) end
if started.message then io.stderr:write("tasknum: lock: ", cli.oneline(started.message), "\n") end
-- The lock is released; processes the command started may still hold it.
local left = held.left or {}
if left.unseen then
  io.stderr:write("tasknum: lock: the command has ended, but the lock is still held by a process "
    .. "that this user cannot see; the legacy lock folder stays until it lets go\n")
elseif #left > 0 then
  local who = {}
  for i, p in ipairs(left) do who[i] = string.format("pid %d (%s)", p.pid, tostring(p.command)) end
  io.stderr:write("tasknum: lock: ", cli.oneline("the command has ended, but " .. table.concat(who, ", ")
    .. " that it started still hold" .. (#left == 1 and "s" or "") .. " the lock (an inherited descriptor); "
    .. "others wait until " .. (#left == 1 and "it ends" or "they end")
    .. ", and the legacy lock folder stays until then"), "\n")
end
return started.status
