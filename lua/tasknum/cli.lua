-- tasknum.cli (internal): the command line. The host calls main(args) protected and
-- exits with what it returns; nothing here calls os.exit.
local answer = require "tasknum.answer"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
local policy = require "tasknum.policy"

local M = {}

-- Built-in commands run the script shipped with tasknum, never a team's.
M.BUILTIN = { init = true, status = true, check = true, lock = true, stats = true, merge = true,
               mcp = true }

local USAGE = [[
usage: tasknum run SCRIPT [ARGS...]     run a Lua script (require "tasknum" works)
       tasknum allocate [--count N] [--purpose TEXT] [--state PATH]
                        [--timeout S] [--stale S] [--format json|plain|todo|NAME]
                        [--todo PATH | --no-todo] [--authority SPEC] [--verbose]
       tasknum add-task --name SLUG [--description TEXT] [--field K=TEXT|K:=JSON ...]
                        [--if-absent] [allocate's options but --count]
       tasknum todo [--check] [--todo PATH] [--state PATH]
       tasknum env                      LUA_PATH/LUA_CPATH for require "tasknum"
       tasknum init [--state PATH] [--next N] [--min A] [--max B]
       tasknum status [--state PATH] [--stale S] [--json]
       tasknum check [--state PATH]
       tasknum stats [--state PATH] [--json]
       tasknum lock [--state PATH] [--timeout S] [--stale S] -- COMMAND [ARGS...]
       tasknum merge BASE OURS THEIRS   git's merge driver for the state (%O %A %B)
       tasknum merge --install [--state PATH]
       tasknum mcp [--state PATH]       an MCP server on stdio (tools allocate,
                                        add_task, status, check)
       tasknum NAME [ARGS...]           run NAME.lua (see `tasknum run`)
       tasknum --help | --version
Scripts are looked up in $TASKNUM_PATH, then the project's .opencode/tasknum/,
then the scripts shipped with tasknum. The state file is --state, else
$TASKNUM_STATE, else the nearest .opencode/specs/state.json or
specs/state.json above the current folder.
]]

local function host() return package.loaded["tasknum.host"] end

-- --- answers ----------------------------------------------------------------

-- json(answer) -> its line of JSON
function M.json(r)
  return answer.encode(r) .. "\n"
end

-- emit(result [, text]) -> exit status. Prints text (the answer as its
-- format rendered it; JSON without one) on stdout, and a short line on
-- stderr when it is a failure.
function M.emit(result, text)
  io.stdout:write(text or M.json(result))
  io.stdout:flush()
  if result.status ~= "success" then
    io.stderr:write("tasknum: ", result.error_code or "ERROR", ": ",
      tostring(result.error_message), "\n")
  end
  return answer.exit_status(result)
end

-- failure(err) -> answer table for an error raised outside a transaction
M.failure = answer.failure

-- --- options ----------------------------------------------------------------

local function bad(message) errors.raise("INVALID_ARGUMENT", message) end

local function convert(kind, name, value)
  if kind == "string" then return value end
  local n = tonumber(value)
  if kind == "integer" then
    n = value:match("^%-?%d+$") and math.tointeger(n)
    if not n then bad(name .. " takes a whole number, got " .. value) end
  elseif not n or n ~= n or n < 0 or n == math.huge then
    bad(name .. " takes a number of seconds >= 0, got " .. value)
  end
  return n
end

-- The options of every command that allocates (allocate, add-task), for
-- parse() with a command's own added: allocating(extra) -> spec.
function M.allocating(extra)
  local spec = {
    ["--purpose"] = { "purpose", "string" },
    ["--state"] = { "state", "string" },
    ["--timeout"] = { "timeout", "seconds" },
    ["--stale"] = { "stale", "seconds" },
    ["--format"] = { "format", "string" },
    ["--todo"] = { "todo", "string" },
    ["--no-todo"] = { "no_todo", "flag" },
    ["--verbose"] = { "verbose", "flag" },
    ["--authority"] = { "authority", "string" },
  }
  for k, v in pairs(extra) do spec[k] = v end
  return spec
end

-- parse(args, spec) -> opts, rest. spec maps option names ("--count") to
-- {key, kind} with kind "string", "integer", "seconds", "flag" or "list"
-- (a string option that may repeat; its values in a table). Accepts
-- --opt VALUE and --opt=VALUE; "--" ends the options.
function M.parse(args, spec)
  local opts, rest, i = {}, {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      table.move(args, i + 1, #args, 1, rest)
      break
    end
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    local s = spec[name]
    if not s then
      if a:sub(1, 1) == "-" and a ~= "-" then bad("unknown option " .. a) end
      rest[#rest + 1] = a
    elseif s[2] == "flag" then
      if inline then bad(name .. " takes no value") end
      opts[s[1]] = true
    else
      local value = inline
      if not value then
        i = i + 1
        value = args[i]
        if value == nil then bad(name .. " needs a value") end
      end
      if s[2] == "list" then
        opts[s[1]] = opts[s[1]] or {}
        table.insert(opts[s[1]], value)
      else
        opts[s[1]] = convert(s[2], name, value)
      end
    end
    i = i + 1
  end
  return opts, rest
end

-- --- scripts ----------------------------------------------------------------

function M.script_dirs()
  local dirs = {}
  for dir in (os.getenv("TASKNUM_PATH") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = dir end
  local cwd = core.cwd()
  dirs[#dirs + 1] = cwd and policy.nearest(cwd)
  local h = host()
  if h and h.scriptdir then dirs[#dirs + 1] = h.scriptdir end
  return dirs
end

-- find(name, shipped_only) -> chunk, where
function M.find(name, shipped_only)
  if name:find("/", 1, true) then
    local chunk, msg = loadfile(name, "t")
    if not chunk then
      if not fs.readable(name) then bad("no such script: " .. name) end
      errors.raise("SCRIPT_ERROR", "cannot load " .. name, msg)
    end
    return chunk, name
  end
  local dirs = shipped_only and {} or M.script_dirs()
  if shipped_only and host() and host().scriptdir then dirs = { host().scriptdir } end
  for _, dir in ipairs(dirs) do
    local path = dir .. "/" .. name
    if fs.readable(path) then
      local chunk, msg = loadfile(path, "t")
      if not chunk then errors.raise("SCRIPT_ERROR", "cannot load " .. path, msg) end
      return chunk, path
    end
  end
  local src = host() and host().embedded(name)
  if src then
    local chunk, msg = load(src, "=" .. name, "b") -- compiled at build time
    if not chunk then errors.raise("SCRIPT_ERROR", "cannot load " .. name, msg) end
    return chunk, "(built in) " .. name
  end
  bad("unknown command or script: " .. name .. "; available: " .. M.available())
end

-- The names `tasknum NAME` can run, for error messages and --help.
function M.available()
  local names, seen = {}, {}
  local function add(n)
    n = n:match("^(.-)%.lua$") or (M.BUILTIN[n] and n)
    if n and not seen[n] then seen[n] = true names[#names + 1] = n end
  end
  for n in pairs(M.BUILTIN) do add(n) end
  for _, dir in ipairs(M.script_dirs()) do
    for _, n in ipairs(core.listdir(dir) or {}) do add(n) end
  end
  for _, n in ipairs(host() and host().list() or {}) do add(n) end
  table.sort(names)
  return table.concat(names, ", ")
end

-- run(name, args, shipped_only) -> exit status
function M.run(name, args, shipped_only)
  local ok, status = xpcall(function()
    local chunk, where = M.find(name, shipped_only)
    local a = table.move(args, 1, #args, 1, {})
    a[0] = where
    _G.arg = a
    return chunk(table.unpack(args))
  end, errors.handler)
  if not ok then return M.emit(answer.failure(status)) end
  if status == nil or status == true then return 0 end
  if status == false then return 1 end
  if math.type(status) == "integer" then return status end
  return 0
end

-- The text of --version: tasknum's and Lua's versions, then where this
-- binary's modules and scripts come from (the host finds them from the
-- binary, so another install or a LUA_PATH cannot mix in).
function M.version()
  local h = host() or {}
  local dirs = M.script_dirs()
  dirs[#dirs + 1] = "built into the binary"
  return string.format("tasknum %s\nlua: %s\nbinary: %s%s\nmodules: built into the binary\n"
    .. "scripts: %s\n", core.version, h.lua or _VERSION, h.exe or "?",
    ({ build = " (build tree)", install = " (installed)" })[h.layout] or "", table.concat(dirs, ", "))
end

-- main(args) -> exit status; args[1] is the command.
function M.main(args)
  local cmd = args[1]
  if cmd == nil then
    io.stderr:write(USAGE)
    return 64
  elseif cmd == "--help" or cmd == "-h" or cmd == "help" then
    io.stdout:write(USAGE)
    return 0
  elseif cmd == "--version" then
    io.stdout:write(M.version())
    return 0
  end
  local rest = table.move(args, 2, #args, 1, {})
  if cmd == "run" then
    local script = table.remove(rest, 1)
    if not script then return M.emit(answer.failure(errors.new("INVALID_ARGUMENT",
      "run needs a script: tasknum run SCRIPT [ARGS...]"))) end
    return M.run(script, rest)
  elseif cmd:sub(1, 1) == "-" then
    return M.emit(answer.failure(errors.new("INVALID_ARGUMENT", "unknown option " .. cmd
      .. "; see tasknum --help")))
  end
  return M.run(cmd .. ".lua", rest, M.BUILTIN[cmd])
end

return M
