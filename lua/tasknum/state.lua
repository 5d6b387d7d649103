-- tasknum.state (internal): finding, reading and understanding a state file. The text
-- is only ever scanned (by the C scanner) and edited by byte spans; it is
-- never decoded and re-encoded, so everything but the edited bytes stays.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"

local M = {}

M.LAYOUTS = { ".opencode/specs/state.json", "specs/state.json" }
M.DEFAULT_MIN, M.DEFAULT_MAX = 0, 999

-- Whether something is at path. A file that is there but cannot be opened
-- (no permission, a folder, a FIFO) counts: walking on up past it would
-- find an outer project's state and hand out its numbers. find() then
-- reports why. The open never blocks.
local function exists(path)
  local f, _, errno = core.openread(path)
  if f then f:close() return true end
  return errno ~= core.ENOENT and errno ~= core.ENOTDIR
end

M.exists = exists

function M.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local cwd = assert(core.cwd())
  return (cwd == "/" and "" or cwd) .. "/" .. path
end

-- Walks up from dir; in each folder .opencode/specs/state.json wins over
-- specs/state.json. Returns the path found, or nil.
function M.discover(dir)
  while true do
    for _, layout in ipairs(M.LAYOUTS) do
      local candidate = (dir == "/" and "" or dir) .. "/" .. layout
      if exists(candidate) then return candidate end
    end
    if dir == "/" or dir == "" then return nil end
    dir = fs.dirname(dir)
  end
end

-- find(explicit) -> absolute path of the state file, and its real path
-- (symlinks resolved) | nil, err (STATE_NOT_FOUND, SYSTEM_ERROR). Order:
-- explicit (--state), $TASKNUM_STATE, walking up from the cwd.
function M.find(explicit)
  local env = not explicit and os.getenv("TASKNUM_STATE")
  local given = explicit or env
  if given == "" then given = nil end
  -- where a path that is wrong came from, for the message: a variable set
  -- in some shell's profile is the last thing people suspect
  local from = given and (explicit and " (--state)" or " (from $TASKNUM_STATE)") or ""
  local path = given and M.absolute(given) or M.discover(assert(core.cwd()))
  if not path then
    return nil, errors.new("STATE_NOT_FOUND", "no state file found",
      "looked for .opencode/specs/state.json and specs/state.json from "
      .. assert(core.cwd()) .. " up to /; pass --state PATH, set "
      .. "TASKNUM_STATE, or create one with `tasknum init`")
  end
  -- A folder is no state (--state / would put its lock at /..lock); a FIFO
  -- would block the open and a device such as /dev/zero never ends: refuse
  -- them before any lock file is made beside them.
  local real, kind = core.realpath(path)
  if kind == "directory" then
    return nil, errors.new(given and "INVALID_ARGUMENT" or "STATE_NOT_FOUND",
      path .. " is a folder, not a state file", given
        and "name the state file itself, e.g. --state " .. (path:gsub("/+$", "")) .. "/specs/state.json"
        or "remove or rename that folder, or pass --state PATH")
  elseif kind == "other" then
    return nil, errors.system(path .. ": not a regular file (a FIFO, socket or device)", nil,
      "cannot use the state file" .. from)
  end
  -- A state reached through a link is written at the link's target: only
  -- through a link its target's owner could have made (see README Security),
  -- and from then on at the real path of the file judged (tmsg): the link
  -- may be swapped for another after the judgement
  -- (real above is only for the kind: a link may lead elsewhere now)
  local trusted, tmsg, terrno = core.trusted(path)
  local f, msg, errno
  if trusted then
    real = tmsg or real
    f, msg, errno = core.openread(real or path)
    if f then f:close() return path, real or path end
  elseif terrno ~= core.ENOENT then
    return nil, errors.system(tmsg, terrno, "cannot use the state file")
  else
    errno = core.ENOENT
  end
  if errno == core.ENOENT then
    return nil, errors.new("STATE_NOT_FOUND", "state file not found: " .. path .. from, env
      and "$TASKNUM_STATE names a file that is not there: correct it, or unset it and tasknum finds "
        .. ".opencode/specs/state.json or specs/state.json from the current folder"
      or "check the path; only a new project gets a new state (`tasknum init --state " .. path .. "`)")
  end
  return nil, errors.system(msg, errno, "cannot open the state file" .. from)
end

-- read(path) -> text | nil, err (SYSTEM_ERROR)
function M.read(path)
  local text, msg, errno = core.readfile(path)
  if not text then return nil, errors.system(msg, errno, "cannot read the state file") end
  return text
end

local function position(text, offset)
  local line, col = 1, offset
  for nl in text:sub(1, offset - 1):gmatch("()\n") do
    line, col = line + 1, offset - nl
  end
  return string.format("line %d, column %d (byte %d)", line, col, offset)
end

local function corrupt(message, details)
  return nil, errors.new("STATE_CORRUPT", message, details)
end

-- The span of key in a core.members() table: start, stop; false when
-- absent; nil, err when it appears twice.
local function span_of(members, key, where)
  local v = members[key]
  if v == false then return corrupt(where .. key .. " appears twice", "keep one of them") end
  if v then return v[1], v[2] end
  return false
end

-- The integer member key of a core.members() table: n, start, stop; false
-- when absent; nil, err when it is not a plain integer.
local function integer_member(text, members, key, where)
  local vs, ve = span_of(members, key, where)
  if not vs then return vs, ve end
  local n = members[key][3] -- members() reads plain integers; core.integer says why not
  if n then return n, vs, ve end
  local why
  n, why = core.integer(text, vs, ve)
  if not n then
    return corrupt(string.format("%s%s must be a plain integer, found %s (%s)",
      where, key, text:sub(vs, math.min(ve, vs + 40)), why),
      "write it as digits only, e.g. " .. key .. ": 42")
  end
  return n, vs, ve
end

-- The committed authority of project_numbering (a JSON string), nil when
-- there is none | nil, err
local function authority_of(text, inner)
  local as, ae = span_of(inner, "authority", "project_numbering.")
  if as == nil then return nil, ae end
  if not as then return nil end
  local ok, v = pcall(require("cjson").decode, text:sub(as, ae))
  if not ok or type(v) ~= "string" then
    return corrupt("project_numbering.authority must be a string, found " .. text:sub(as, math.min(ae, as + 40)),
      'write it as "authority": "worktrees" (or "dir:PATH", "file", ...), or remove it')
  end
  return v
end

-- The range and the committed authority: min, max, authority | nil, err
local function range_of(text, top)
  local bs, be = span_of(top, "project_numbering", "")
  if bs == nil then return nil, be end
  if not bs then return M.DEFAULT_MIN, M.DEFAULT_MAX end
  if text:sub(bs, bs) ~= "{" then return corrupt("project_numbering must be an object with min and max") end
  local inner = core.members(text, bs, be, "min", "max", "authority")
  local min, err = integer_member(text, inner, "min", "project_numbering.")
  if min == nil then return nil, err end
  local max, merr = integer_member(text, inner, "max", "project_numbering.")
  if max == nil then return nil, merr end
  min, max = min or M.DEFAULT_MIN, max or M.DEFAULT_MAX
  if min > max then
    return corrupt(string.format("bad range: project_numbering.min %d is greater than max %d", min, max),
      "fix project_numbering so that min <= max")
  end
  local authority, aerr = authority_of(text, inner)
  if authority == nil and aerr then return nil, aerr end
  return min, max, authority
end

-- What to do about a state that is not JSON. advise() makes it concrete
-- (git commands naming the file) where the state's path is known.
M.RESTORE_ADVICE = "restore the last good version of the file (from git, or a copy of your own)"
M.MERGE_ADVICE = "resolve it, or use `tasknum merge`: `tasknum merge --install` once in the clone, then "
  .. "`git checkout -m -- FILE` merges the file again with tasknum's driver (then `git add` it)"

-- conflicted(text) -> the line of git's first conflict marker, or nil:
-- a line that starts with "<<<<<<< " while a later one starts with
-- ">>>>>>> ".
function M.conflicted(text)
  local at = text:sub(1, 8) == "<<<<<<< " and 1 or text:find("\n<<<<<<< ")
  if not at or not text:find("\n>>>>>>> ", at, true) then return nil end
  if at > 1 then at = at + 1 end
  return select(2, text:sub(1, at):gsub("\n", "")) + 1
end

-- advise(err, real [, backup]) -> err, its details made concrete for the
-- state at real: the git commands that restore it or merge it again (in a
-- git working tree), that the file was left untouched, and where its
-- broken text was copied (backup: the path, or false and why not).
function M.advise(err, real, backup, why)
  local top = require("tasknum.gitdir").top(real)
  local rel = top and require("tasknum.gitdir").inside(real, top)
  local d = err.details
  if d == M.MERGE_ADVICE then
    local cmd = top and string.format("git -C %s checkout -m -- %s", top, rel) or "git checkout -m -- " .. real
    d = d:gsub("git checkout %-m %-%- FILE", function() return cmd end)
  elseif d == M.RESTORE_ADVICE and top then
    d = string.format("restore the last good version: `git -C %s checkout -- %s` gives the committed one "
      .. "(`git -C %s log -p -- %s` shows older ones)", top, rel, top, rel)
  end
  err.details = (d and d .. "; " or "") .. "the file was left untouched"
    .. (backup and ", its broken text copied to " .. backup .. " for reference (not a good copy)"
      or backup == false and " (no copy of its broken text: " .. tostring(why) .. ")" or "")
  return err
end

-- Top-level members found in the one pass over the text that parse()
-- makes (each lookup of its own would skip all of active_projects again).
M.TOP = { "next_project_number", "project_numbering", "active_projects" }
-- The members the shipped conflict policy looks for (txn:held), indexed in
-- that same pass: on a 20 MB state walking active_projects again cost as
-- much as validating it.
M.HELD = { "active_projects", "project_number" }

-- parse(text [, opts]) -> info {root_start, root_stop, next, next_start,
-- next_stop, min, max, authority, top, index} | nil, err: STATE_CORRUPT
-- saying what is wrong and how to fix it. authority:
-- project_numbering.authority, the committed choice of where the numbering
-- lives (a string), or nil. top maps the names in M.TOP to their spans
-- ({start, stop}, false for a duplicate); index: what core.held takes for
-- M.HELD in this text (or nil). One pass over the text (core.scan).
-- opts.outside = true accepts a counter outside the range (the one
-- corruption `tasknum set` repairs): info.outside is then true.
function M.parse(text, opts)
  local s, e, top, index = core.scan(text, M.TOP, M.HELD[1], M.HELD[2])
  local offset = not s and top or nil
  if not s then
    local line = M.conflicted(text)
    if line then
      return corrupt("unresolved merge conflict in the state file: git's conflict markers at line " .. line,
        M.MERGE_ADVICE)
    end
    if #text == 0 then return corrupt("the state file is empty", M.RESTORE_ADVICE) end
    return corrupt("the state file is not valid JSON: " .. e .. " at " .. position(text, offset),
      M.RESTORE_ADVICE)
  end
  if text:sub(s, s) ~= "{" then return corrupt("the state file is not a JSON object") end
  local next, ns, ne = integer_member(text, top, "next_project_number", "")
  if next == nil then return nil, ns end
  if not next then
    return corrupt("next_project_number is missing", "add \"next_project_number\": N to the top-level object")
  end
  local min, max, authority = range_of(text, top)
  if not min then return nil, max end
  -- readers disagree on which of two counts (jq: the last), so the numbers
  -- active projects hold would depend on the reader
  local as, aerr = span_of(top, "active_projects", "")
  if as == nil then return nil, aerr end
  local outside = next < min or next > max
  if outside and not (opts and opts.outside) then
    return corrupt(string.format("next_project_number %d is outside the range %d..%d", next, min, max),
      string.format("`tasknum set %s %d` makes the range hold it, or `tasknum set --next N` moves the "
        .. "counter to a free number in the range (--force when that is back)",
        next > max and "--max" or "--min", next))
  end
  return { root_start = s, root_stop = e, next = next, next_start = ns, next_stop = ne, min = min,
           max = max, authority = authority, top = top, index = index, outside = outside or nil }
end

-- backup(path, text) -> the backup path written or already matching, or nil
-- and why. A copy is made only when no backup holds this text yet, and
-- never over a backup that differs: at the first free name of .backup,
-- .backup.1 .. .backup.9. path is the real state file: the backups are
-- made beside it, exclusively (never through a link found in their name),
-- with its group, mode (and owner, as root): a copy no more readable than
-- the state. A foreign object in a backup's name is named, not used.
function M.backup(path, text)
  local dir, base = fs.split(path)
  local at = dir == "/" and "" or dir
  local free = {}
  for i = 0, 9 do
    local name = base .. ".backup" .. (i == 0 and "" or "." .. i)
    local old, rmsg, rerrno = core.readat(dir, name, #text + 1)
    if old == text then return at .. "/" .. name end
    if not old and rerrno ~= core.ENOENT then return nil, rmsg end
    if not old then free[#free + 1] = name end
  end
  for _, name in ipairs(free) do
    local ok, msg, errno = core.create(at .. "/" .. name, text, path)
    if ok then return at .. "/" .. name end
    if errno ~= core.EEXIST then return nil, msg end
  end
  return nil, "ten different backups exist already; none was overwritten"
end

return M
