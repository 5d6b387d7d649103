-- init.lua: creates a state file on purpose (the only command that does),
-- and never one that would restart a numbering: a state found from the
-- target folder (either layout, there or above) is named and left alone.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "create a state file (the only command that does)",
  options = {
    { "--layout", "string", "claude|opencode", "specs/state.json (claude) or .opencode/specs/state.json "
      .. "(opencode) in this folder; default: claude when there is a .claude/ and no .opencode/ here" },
    { "--state", "string", "PATH", "the file to create instead (else $TASKNUM_STATE, else --layout's)",
      complete = "file" },
    { "--next", "integer", "N", "the first number to hand out (default: --min)" },
    { "--min", "integer", "A", "the lowest number (default 0)" },
    { "--max", "integer", "B", "the highest number; the counter wraps from it to --min (default 999)" },
    { "--force", "flag", false, "create it even though a state is found from its folder (a separate numbering)" },
    { "--format", "string", "F", "json (default; text at a terminal) or text", complete = "format" },
  },
  text = [[
Never touches an existing state file, and refuses (STATE_EXISTS) when tasknum would already find a state from the new file's folder: one in the same folder under the other layout, or in a folder above. A new file there would win discovery (or shadow the project's) and restart the numbering: the next allocation would hand out numbers already given. The answer names the state found; --force creates the new one anyway, for a nested project that wants a numbering of its own.

Inside a git working tree it also adds the files tasknum keeps beside the state (lock file, audit log, legacy lock folder, backups, temp files) to the .gitignore there, appending a block; the answer's gitignore says so. Outside one, gitignore lists the lines to put in that .gitignore if the folder is ever committed.]],
  exits = { { 0, "created" }, "STATE_EXISTS", "INVALID_ARGUMENT", "SYSTEM_ERROR" },
}
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
local state = require "tasknum.state"

local function bad(message) errors.raise("INVALID_ARGUMENT", message) end

local args = { ... }
local opts, rest = cli.parse(args, command)
if #rest > 0 then bad("unexpected argument " .. rest[1]) end

local min, max = opts.min or state.DEFAULT_MIN, opts.max or state.DEFAULT_MAX
local next = opts.next or min
if min > max then bad("--min must not be greater than --max") end
if next < min or next > max then bad(string.format("--next %d is outside %d..%d", next, min, max)) end

-- Which file: --state, --layout, $TASKNUM_STATE, else the layout this folder suggests.
local LAYOUTS = { opencode = ".opencode/specs/state.json", claude = "specs/state.json" }
if opts.layout and not LAYOUTS[opts.layout] then
  bad("--layout takes claude (specs/state.json) or opencode (.opencode/specs/state.json), got " .. opts.layout)
end
if opts.layout and opts.state then bad("--layout and --state exclude each other") end
local env = os.getenv("TASKNUM_STATE")
local given, layout = opts.state or (not opts.layout and env ~= "" and env) or nil, opts.layout
if not given and not layout then
  layout = (fs.isdir(".claude") and not fs.isdir(".opencode")) and "claude" or "opencode"
end
local path = state.absolute(given or LAYOUTS[layout])
if given then
  layout = path:match("/%.opencode/specs/state%.json$") and "opencode"
    or path:match("/specs/state%.json$") and "claude" or "custom"
end
local fmt = cli.formatter(cli.format_of(opts), path)

local function exists(why, details, found)
  errors.raise("STATE_EXISTS", why, details, nil, { found = found })
end

local LEAVE = "init never touches a state file: its numbering would restart"
if state.exists(path) then
  exists("a state file is there already: " .. path, LEAVE .. "; tasknum uses this one as it is (to start "
    .. "over, move it away yourself first)", path)
end

-- What tasknum would find from the new file's folder today: a new file
-- there would win over it (same folder, .opencode/ wins) or shadow it
-- (a folder above), and its counter would start again.
-- again(args) -> this command line with --force added, quoted for sh
local function again(list)
  local words = { "tasknum", "init", "--force" }
  for _, a in ipairs(list) do
    words[#words + 1] = a:match("^[%w%-_./=:]+$") and a or "'" .. a:gsub("'", "'\\''") .. "'"
  end
  return table.concat(words, " ")
end

local function project(p)
  return p:match("^(.*)/%.opencode/specs/[^/]+$") or p:match("^(.*)/specs/[^/]+$") or fs.dirname(p)
end
local found = state.discover(fs.dirname(path))
if found and not opts.force then
  local same = project(found) == project(path)
  exists(string.format("tasknum already finds a state here: %s; a new %s would %s and restart the numbering "
    .. "at %d", found, path, same and "win over it (.opencode/ wins in one folder)" or "shadow it below "
    .. project(path), next), "nothing needs creating: tasknum uses it from here; for a separate "
    .. "numbering on purpose (a nested project), run `" .. again(args) .. "`", found)
end

-- mkdir -p, one folder at a time
local dir = ""
for part in fs.dirname(path):gmatch("[^/]+") do
  dir = dir .. "/" .. part
  local ok, msg, errno = core.mkdir(dir)
  if not ok and errno ~= core.EEXIST then error(errors.system(msg, errno, "cannot create the folder"), 0) end
end

local size = max - min + 1 -- wraps to <= 0 for ranges wider than int64
local text = string.format([[
{
  "_schema_version": "1.1.0",
  "next_project_number": %d,
  "project_numbering": {"min": %d, "max": %d, "policy": "%s"},
  "active_projects": []
}
]], next, min, max, size > 0 and "increment_modulo_" .. size or "increment")
-- create() links the new file into place, which fails if another init (or
-- anything else) made one since the check above: never a replace.
local ok, msg, errno = core.create(path, text)
if not ok and errno == core.EEXIST then
  exists("a state file is there already: " .. path, LEAVE, path)
end
if not ok then error(errors.system(msg, errno, "cannot create the state file"), 0) end

-- The files tasknum keeps beside the state are no business of git: in a
-- git working tree they go into the .gitignore beside it; outside one the
-- answer says what to put there, should the folder ever be committed.
local real = core.realpath(path) or path
local gitignore = require "tasknum.gitignore"
local ignored
if require("tasknum.gitdir").top(real) then
  local done, why = gitignore.ensure(real)
  ignored = done or { error = tostring(why) }
else
  local where = fs.beside(real, ".gitignore")
  local lines = gitignore.patterns(real)
  table.insert(lines, 1, gitignore.HEADER)
  ignored = { action = "none", path = where, lines = lines,
    advice = "not in a git working tree; if this folder is ever committed, put these lines in " .. where }
end

local r = require("tasknum.answer").success{ created = path, state_path = path, layout = layout,
  next_project_number = next, project_numbering = { min = min, max = max }, gitignore = ignored,
  shadows = found }
return cli.emit(r, fmt and require("tasknum.answer").render(r, fmt, opts.format))
