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
local policy = require "tasknum.policy"
local state = require "tasknum.state"
local trust = require "tasknum.trust"

local M = {}

M.SUBDIR = "commands"

local function host() return package.loaded["tasknum.host"] or {} end

local function bad(message, details) errors.raise("INVALID_ARGUMENT", message, details) end

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
  local ok, path = pcall(state.find, explicit)
  return ok and path or nil
end

-- dirs(state_path) -> the team's command folders that exist: { dir, top }
function M.dirs(state_path)
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

-- team() -> sorted names of the team's commands for the state found from
-- args, and the folders looked in
function M.team(args)
  local names, seen, dirs = {}, {}, M.dirs(M.state_of(args))
  local core = require "tasknum.core"
  for _, d in ipairs(dirs) do
    for _, f in ipairs(core.listdir(d.dir) or {}) do
      local n = f:match("^(.+)%.lua$")
      if n and M.valid(n) and not seen[n] then seen[n], names[#names + 1] = true, n end
    end
  end
  table.sort(names)
  return names, dirs
end

-- --- finding ----------------------------------------------------------------

-- A file that is not a command, in the old place (a team folder's top):
-- said in the error, so that a team moves its scripts.
local function misplaced(name, state_path)
  for _, team in ipairs(policy.dirs(state_path)) do
    local path = team .. "/" .. name .. ".lua"
    if fs.readable(path) then return path end
  end
end

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
  local shipped = M.shipped()
  local team = not opts.shipped_only and team_source(base, M.state_of(args)) or nil
  if team and (not shipped[base] or M.overridden(base)) then
    local ok, err = trust.check(team.path, team.top)
    if not ok then return nil, err end
    return team
  end
  if team and not opts.quiet then
    io.stderr:write("tasknum: not running ", team.path, ": ", base, " is a command shipped with "
      .. "tasknum; set TASKNUM_OVERRIDE=", base, " to run the team's instead\n")
  end
  local src = shipped[base] and shipped_source(base)
  if src then return src end
  return nil, M.unknown(name, args)
end

-- The error for a name that is no command: near misses, what exists, and
-- a team file left in the old place.
function M.unknown(name, args)
  local names = M.available(args)
  local near = M.near(name:gsub("%.lua$", ""), names)
  local message = "unknown command: " .. name
  if #near > 0 then message = message .. "; did you mean " .. table.concat(near, " or ") .. "?" end
  message = message .. " (commands: " .. table.concat(names, ", ") .. ")"
  local details = "tasknum help lists what each command does"
  local old = M.valid(name:gsub("%.lua$", "")) and misplaced(name:gsub("%.lua$", ""), M.state_of(args))
  if old then
    details = old .. " is not run as a command: a team's commands live in the commands/ folder "
      .. "beside it (conflict.lua, audit.lua and format/ are policies)"
  end
  return errors.new("INVALID_ARGUMENT", message, details)
end

-- M.CLI: the commands tasknum.cli serves itself (not scripts)
M.CLI = { help = true, run = true }

-- available(args) -> the sorted names `tasknum NAME` can run (shipped, the
-- CLI's own, the team's); none is a policy file
function M.available(args)
  local _, names = M.shipped()
  local seen = {}
  for _, n in ipairs(names) do seen[n] = true end
  for n in pairs(M.CLI) do if not seen[n] then seen[n], names[#names + 1] = true, n end end
  for _, n in ipairs((M.team(args))) do if not seen[n] then seen[n], names[#names + 1] = true, n end end
  table.sort(names)
  return names
end

-- Damerau-Levenshtein distance (optimal string alignment) of a and b.
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

-- near(name, names) -> the names name is a near miss of: an edit or two
-- away (one for short names), or which it begins
function M.near(name, names)
  local found = {}
  if name == "" then return found end
  local limit = #name <= 4 and 1 or 2
  for _, n in ipairs(names) do
    if n ~= name and (distance(name:lower(), n) <= limit or (#name >= 2 and n:sub(1, #name) == name)) then
      found[#found + 1] = n
    end
  end
  return found
end

-- --- describing -------------------------------------------------------------

-- Describing a command runs the top of its script, up to its declaration
-- (tasknum.cli.command), in an environment with no io, os, load or debug:
-- requires other than tasknum.cli give stand-ins that raise when called,
-- and a count hook stops a script that runs on. So --help, the man page
-- and shell completion never run what a script does, only what it is.
-- (Copies of the libraries, and no getmetatable: a script cannot change
-- the functions the rest of the process uses.)
local SAFE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
  "rawlen", "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "_VERSION" }
local LIBS = { "string", "table", "math", "utf8" }

local function standin(name)
  return setmetatable({}, {
    __index = function(_, k) return standin(name .. "." .. tostring(k)) end,
    __call = function() error(name .. " is not available while describing a command", 0) end,
  })
end

local function sandbox(cli)
  local env = {}
  for _, k in ipairs(SAFE) do env[k] = _G[k] end
  for _, k in ipairs(LIBS) do
    local copy = {}
    for f, v in pairs(_G[k]) do copy[f] = v end
    env[k] = copy
  end
  env.require = function(module)
    if module == "tasknum.cli" then return cli end
    return standin(module)
  end
  env._G = env
  return env
end

-- describe(src) -> the declaration of a source | nil, why
function M.describe(src)
  local cli = require "tasknum.cli"
  local chunk, msg = src.load(sandbox(cli))
  if not chunk then return nil, "cannot load " .. src.path .. ": " .. tostring(msg) end
  local co = coroutine.create(chunk)
  debug.sethook(co, function() error("describing took too long", 0) end, "", 1000000)
  local ok, e = cli.describing(function() return coroutine.resume(co, "--help") end)
  local decl = cli.declaration(e)
  if decl then return decl end
  return nil, src.path .. " declares no options: no tasknum.cli.command { ... } at its top"
    .. (ok and "" or " (describing it stopped at: " .. tostring(e) .. ")")
end

return M
