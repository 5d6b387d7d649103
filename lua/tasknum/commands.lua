-- tasknum.commands (internal): which code `tasknum NAME` and `tasknum run
-- NAME` run, and what a command declares about itself.
--
--   * A NAME with a "/" is a path: that file runs, as `lua FILE` would.
--   * A bare NAME (".lua" may be added or left out) is a command:
--       - a team's commands/NAME.lua in a team folder (tasknum.policy.dirs:
--         each $TASKNUM_PATH folder, then the state's project's
--         .opencode/tasknum and .claude/tasknum), checked by tasknum.trust;
--       - else the script shipped with tasknum (beside the binary, or
--         compiled into it).
--     A shipped NAME is tasknum's: a team's file of that name runs instead
--     only when the caller lists NAME in $TASKNUM_OVERRIDE.
--   * Policy files (conflict.lua, audit.lua, format/) are never commands:
--     commands live in commands/, apart from them.
-- The state's project is found before the command runs, as the command
-- will find it: --state in its arguments, else $TASKNUM_STATE, else
-- walking up from the current folder.
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
-- tasknum.state and tasknum.policy are required where used: a script named
-- by its path needs neither.

local M = {}

M.SUBDIR = "commands"

local function host() return package.loaded["tasknum.host"] or {} end

-- A command name: no path, no leading dot or dash.
function M.valid(name)
  return name:match("^[%w_][%w_.%-]*$") ~= nil
end

-- --- shipped ----------------------------------------------------------------

-- shipped() -> { [name] = true } and the sorted names of the commands that
-- ship with this binary (compiled in, and its scripts folder)
function M.shipped()
  local set, names = {}, {}
  local function add(file)
    local n = file:match("^(.+)%.lua$")
    if n and M.valid(n) and not set[n] then set[n], names[#names + 1] = true, n end
  end
  for _, f in ipairs(host().list and host().list() or {}) do add(f) end
  local dir = host().scriptdir
  for _, f in ipairs(dir and require("tasknum.core").listdir(dir) or {}) do add(f) end
  table.sort(names)
  return set, names
end

-- is_shipped(name) -> whether a command of that name ships with tasknum
function M.is_shipped(name)
  local h = host()
  if h.embedded and h.embedded(name .. ".lua") then return true end
  return h.scriptdir ~= nil and fs.readable(h.scriptdir .. "/" .. name .. ".lua")
end

-- The shipped source of name, or nil.
local function shipped_source(name)
  local dir = host().scriptdir
  local path = dir and (dir .. "/" .. name .. ".lua")
  if path and fs.readable(path) then
    return { name = name, path = path, origin = "shipped",
      load = function(env) return loadfile(path, "t", env or _ENV) end }
  end
  local src = host().embedded and host().embedded(name .. ".lua")
  if src then
    return { name = name, path = "(built in) " .. name .. ".lua", origin = "shipped",
      load = function(env) return load(src, "=" .. name .. ".lua", "b", env or _ENV) end }
  end
end

-- --- the team's -------------------------------------------------------------

-- state_of(args) -> the state the command will use, as far as can be
-- known before it runs (nil when none is found)
function M.state_of(args)
  local explicit
  for i, a in ipairs(args or {}) do
    if a == "--" then break end
    explicit = a:match("^%-%-state=(.*)$") or (a == "--state" and args[i + 1]) or nil
    if explicit then break end
  end
  local ok, path = pcall(require("tasknum.state").find, explicit)
  return ok and path or nil
end

-- dirs(state_path) -> the team's command folders that exist: { dir, top }
function M.dirs(state_path)
  local policy = require "tasknum.policy"
  local list = {}
  for _, team in ipairs(policy.dirs(state_path)) do
    local dir = team .. "/" .. M.SUBDIR
    if fs.isdir(dir) then list[#list + 1] = { dir = dir, top = policy.top[team] or team } end
  end
  return list
end

local function team_source(name, state_path)
  for _, d in ipairs(M.dirs(state_path)) do
    local path = d.dir .. "/" .. name .. ".lua"
    if fs.readable(path) then
      return { name = name, path = path, top = d.top, origin = "team",
        load = function(env) return loadfile(path, "t", env or _ENV) end }
    end
  end
end

-- overridden(name) -> whether $TASKNUM_OVERRIDE lists name
function M.overridden(name)
  for n in (os.getenv("TASKNUM_OVERRIDE") or ""):gmatch("[^%s,:]+") do
    if n == name then return true end
  end
  return false
end

-- --- finding ----------------------------------------------------------------

-- source(name, args, opts) -> the source of command name | nil, err.
-- source: { name, path, origin = "team"|"shipped"|"path", top, load(env) }.
-- opts.shipped_only: only what ships with tasknum (the man page).
-- opts.quiet: no warning on stderr about a team file that is not run.
function M.source(name, args, opts)
  opts = opts or {}
  if name:find("/", 1, true) then
    if not fs.readable(name) then return nil, errors.new("INVALID_ARGUMENT", "no such script: " .. name) end
    return { name = (select(2, fs.split(name)):gsub("%.lua$", "")), path = name, origin = "path",
      load = function(env) return loadfile(name, "t", env or _ENV) end }
  end
  local base = name:gsub("%.lua$", "")
  if not M.valid(base) then return nil, errors.new("INVALID_ARGUMENT", "not a command name: " .. name) end
  local shipped = M.is_shipped(base)
  local team = not opts.shipped_only and team_source(base, M.state_of(args)) or nil
  if team and (not shipped or M.overridden(base)) then
    local trust = require "tasknum.trust"
    local ok, real = trust.check(team.path, team.top) -- only for a team's file
    if not ok then return nil, real end
    -- the file judged, at its real path: team.path may lead elsewhere by now
    team.load = function(env) return trust.load(real, team.path, env or _ENV) end
    return team
  end
  if team and not opts.quiet then
    io.stderr:write("tasknum: not running ", team.path, ": ", base, " is a command shipped with "
      .. "tasknum; set TASKNUM_OVERRIDE=", base, " to run the team's instead\n")
  end
  local src = shipped and shipped_source(base)
  if src then return src end
  return nil, require("tasknum.help").unknown(name, args)
end

return M
