-- tasknum.authority.dir (internal): `dir:PATH`, one numbering for every
-- state on this machine that names the same folder: several clones of a
-- repository, say. PATH holds the lock and the mark (see
-- tasknum.authority.marks), keyed by the state's path inside its git
-- working tree ("specs/state.json": the same in every clone), or by the
-- state's real path when it is not in one. PATH must exist: a folder that
-- is missing (a share that is not mounted) fails the step, never a
-- numbering of its own made on the spot. "~/" is $HOME; a relative PATH is
-- taken from base (the current folder for --authority and
-- $TASKNUM_AUTHORITY, the state's folder for project_numbering.authority).
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local gitdir = require "tasknum.gitdir"
local marks = require "tasknum.authority.marks"

local M = {}

-- expand(path, base) -> the absolute folder | nil, err
function M.expand(path, base)
  if path == "" then
    return nil, errors.new("INVALID_ARGUMENT", "dir: needs a folder, as in dir:~/.tasknum/PROJECT")
  end
  if path == "~" or path:sub(1, 2) == "~/" then
    local home = os.getenv("HOME")
    if not home or home == "" then
      return nil, errors.new("INVALID_ARGUMENT", "dir:" .. path .. " names ~ but HOME is not set")
    end
    return home .. path:sub(2)
  elseif path:sub(1, 1) == "~" then
    return nil, errors.new("INVALID_ARGUMENT", "dir:" .. path .. ": only ~/ (this user's HOME) is understood")
  end
  if path:sub(1, 1) == "/" then return path end
  return (base == "/" and "" or base) .. "/" .. path
end

function M.open(rest, f, spec, base)
  local folder, err = M.expand(rest, base or assert(core.cwd()))
  if not folder then return nil, err end
  local real, kind, errno = core.realpath(folder)
  if (real and kind ~= "directory") or (not real and errno ~= core.ENOENT) then
    -- a file, or a path no folder is at for another reason than a missing
    -- one (a file on the way, too long, no access): mkdir -p cannot help
    local e = real and errors.new("AUTHORITY_UNAVAILABLE", "the folder of " .. spec .. " is not a folder: "
        .. folder .. " is a " .. (kind == "file" and "regular file" or "FIFO, socket or device"),
        "dir:PATH names the folder that keeps the numbering's lock and mark: name a folder, not a file")
      or errors.new("AUTHORITY_UNAVAILABLE", "the folder of " .. spec .. " cannot be used: " .. tostring(kind),
        "dir:PATH names the folder that keeps the numbering's lock and mark: an existing folder you "
        .. "can enter", errno)
    e.retry = false
    return nil, e
  end
  if not real then
    local e = errors.new("AUTHORITY_UNAVAILABLE", "the folder of " .. spec .. " is not there: " .. folder,
      "dir:PATH needs an existing folder (a share that is not mounted must not start a numbering "
      .. "of its own): create it with mkdir -p " .. folder)
    e.retry = false
    return nil, e
  end
  local top, terr = gitdir.top(f.real)
  if top == nil then return nil, terr end
  local key = top and gitdir.inside(f.real, top) or f.real
  return marks.new{ kind = "dir", folder = real, key = marks.key(key), like = real, spec = spec, top = top,
    hint = "the folder is the one " .. spec .. " names" }
end

return M
