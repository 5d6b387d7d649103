-- tasknum.help (internal): the help texts, all made from the commands'
-- declarations (tasknum.cli.command): `tasknum CMD --help`, `tasknum help
-- CMD`, and the global usage; describing a command without running it;
-- what exists, for an unknown command's error; the commands the CLI serves
-- itself (help, run's help, complete). tasknum.man makes the man page from
-- the same. Loaded only when help, an error or completion needs it: an
-- allocation never does.
local cli = require "tasknum.cli"
local commands = require "tasknum.commands"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
local policy = require "tasknum.policy"

local M = {}

-- --- the commands the CLI serves itself ------------------------------------

M.HELP = cli.declare {
  summary = "show a command's usage, options and exit codes, or this list",
  forms = { "[COMMAND]" },
  positional = { "command" },
  options = {},
  exits = { { 0, "the help was printed" }, "INVALID_ARGUMENT" },
}

M.RUN = cli.declare {
  summary = "run a Lua script with require \"tasknum\" available",
  forms = { "SCRIPT [ARGS...]" },
  positional = { "script" },
  options = {},
  text = [[
SCRIPT with a "/" is a path, run as it is. A bare name (with or without .lua) is a command, found as `tasknum NAME` finds it. The script gets its arguments as ... and in arg, as lua sets them, and its return value is the exit status: nothing or true is 0, false is 1, an integer is itself. os.exit inside a step (under the state lock) ends the step as a SCRIPT_ERROR; at the script's top level it ends the run with its status.]],
  exits = { { "N", "what the script returns (0 for nothing or true, 1 for false)" }, "INVALID_ARGUMENT",
    "SCRIPT_ERROR", "UNTRUSTED" },
}

M.COMPLETE = cli.declare {
  summary = "candidates for shell completion (used by the bash and zsh completions)",
  forms = { "-- WORD...", "--line LINE" },
  options = { { "--line", "string", "LINE", "the command line up to the cursor (bash's COMP_LINE)" } },
  hidden = true,
}

local SERVED = { help = M.HELP, run = M.RUN, complete = M.COMPLETE }


M.WIDTH = 79

-- --- what exists ----------------------------------------------------------

-- team() -> sorted names of the team's commands for the state found from
-- args, and the folders looked in
function M.team(args)
  local names, seen, dirs = {}, {}, commands.dirs(commands.state_of(args))
  for _, d in ipairs(dirs) do
    for _, f in ipairs(core.listdir(d.dir) or {}) do
      local n = f:match("^(.+)%.lua$")
      if n and commands.valid(n) and not seen[n] then seen[n], names[#names + 1] = true, n end
    end
  end
  table.sort(names)
  return names, dirs
end

-- A file that is not a command, in the old place (a team folder's top):
-- said in the error, so that a team moves its scripts.
local function misplaced(name, state_path)
  for _, team in ipairs(policy.dirs(state_path)) do
    local path = team .. "/" .. name .. ".lua"
    if fs.readable(path) then return path end
  end
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
  local old = commands.valid(name:gsub("%.lua$", "")) and misplaced(name:gsub("%.lua$", ""), commands.state_of(args))
  if old then
    details = old .. " is not run as a command: a team's commands live in the commands/ folder "
      .. "beside it (conflict.lua, audit.lua and format/ are policies)"
  end
  return errors.new("INVALID_ARGUMENT", message, details)
end

-- The commands tasknum.cli serves itself (not scripts) that it lists.
M.LISTED = { help = true, run = true }

-- available(args) -> the sorted names `tasknum NAME` can run (shipped, the
-- CLI's own, the team's); none is a policy file
function M.available(args)
  local _, names = commands.shipped()
  local seen = {}
  for _, n in ipairs(names) do seen[n] = true end
  for n in pairs(M.LISTED) do if not seen[n] then seen[n], names[#names + 1] = true, n end end
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

-- --- texts ----------------------------------------------------------------

-- wrap(text, width, indent) -> text's paragraphs (split at blank lines)
-- filled to width, each line indented
function M.wrap(text, width, indent)
  indent = indent or ""
  local out = {}
  for para in (text .. "\n\n"):gmatch("(.-)\n%s*\n") do
    if para:match("%S") then
      local line = ""
      for word in para:gmatch("%S+") do
        if line ~= "" and #indent + #line + 1 + #word > width then
          out[#out + 1] = indent .. line
          line = word
        else
          line = line == "" and word or line .. " " .. word
        end
      end
      out[#out + 1] = indent .. line
      out[#out + 1] = ""
    end
  end
  if out[#out] == "" then out[#out] = nil end
  return table.concat(out, "\n")
end

-- forms(decl) -> the synopsis lines after the command's name
function M.forms(decl)
  return decl.forms or { #decl.options > 0 and "[OPTIONS]" or "" }
end

-- option_label(o) -> "--count N" or "--verbose"
function M.option_label(o)
  return o.value and (o.name .. " " .. o.value) or o.name
end

local function status_text(code)
  if code == "INTERRUPTED" then return "130, 143" end
  return tostring(errors.exit[code])
end

-- exits(decl) -> { { status, code or nil, meaning } ... }: what the
-- command declares, or success and every code of the contract
function M.exits(decl)
  local list = {}
  if decl.exits then
    for _, e in ipairs(decl.exits) do
      if type(e) == "string" then
        list[#list + 1] = { status_text(e), e, assert(errors.meaning[e], "no meaning for " .. e) }
      else
        list[#list + 1] = { tostring(e[1]), nil, e[2] }
      end
    end
    return list
  end
  list[1] = { "0", nil, "success" }
  for _, code in ipairs(M.codes()) do list[#list + 1] = { status_text(code), code, errors.meaning[code] } end
  return list
end

-- codes() -> every error code, by exit status
function M.codes()
  local list = {}
  for code in pairs(errors.exit) do list[#list + 1] = code end
  table.sort(list, function(a, b)
    return errors.exit[a] < errors.exit[b] or errors.exit[a] == errors.exit[b] and a < b
  end)
  return list
end

local function columns(rows, indent, gap)
  local w = 0
  for _, r in ipairs(rows) do w = math.max(w, #r[1]) end
  local out = {}
  for _, r in ipairs(rows) do
    local left = indent .. r[1] .. string.rep(" ", w - #r[1] + gap)
    local wrapped = M.wrap(r[2], M.WIDTH, string.rep(" ", #left))
    out[#out + 1] = left .. wrapped:sub(#left + 1)
  end
  return table.concat(out, "\n")
end

local function sentence(s)
  return (s:gsub("^%l", string.upper):gsub("([^.])$", "%1."))
end

-- text(decl, name) -> the help of one command
function M.text(decl, name)
  name = name or "COMMAND"
  local out = {}
  for i, form in ipairs(M.forms(decl)) do
    out[#out + 1] = (i == 1 and "usage: " or "       ") .. "tasknum " .. name .. (form ~= "" and " " .. form or "")
  end
  out[#out + 1] = ""
  if decl.summary then
    out[#out + 1] = M.wrap(sentence(decl.summary), M.WIDTH)
    out[#out + 1] = ""
  end
  if decl.text then
    out[#out + 1] = M.wrap(decl.text, M.WIDTH)
    out[#out + 1] = ""
  end
  local rows = {}
  for _, o in ipairs(decl.options) do rows[#rows + 1] = { M.option_label(o), o.help } end
  rows[#rows + 1] = { "-h, --help", "show this help and exit" }
  out[#out + 1] = "options:"
  out[#out + 1] = columns(rows, "  ", 3)
  out[#out + 1] = ""
  rows = {}
  for _, e in ipairs(M.exits(decl)) do
    rows[#rows + 1] = { e[1], e[2] and (e[2] .. ": " .. e[3]) or e[3] }
  end
  out[#out + 1] = "exit status:"
  out[#out + 1] = columns(rows, "  ", 3)
  return table.concat(out, "\n") .. "\n"
end

-- declarations(shipped_only) -> { { name, decl | nil, why } ... } of
-- every command the CLI lists: the shipped ones, help and run (and, unless
-- shipped_only, none of the team's: those are listed by name)
function M.declarations()
  local list = {}
  local _, names = commands.shipped()
  for _, n in ipairs(names) do
    local src = commands.source(n, {}, { shipped_only = true, quiet = true })
    local decl, why = M.describe(src)
    if not (decl and decl.hidden) then list[#list + 1] = { name = n, decl = decl, why = why } end
  end
  list[#list + 1] = { name = "help", decl = M.HELP }
  list[#list + 1] = { name = "run", decl = M.RUN }
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

-- decl_of(name [, args]) -> the declaration of command name | nil, why
-- (raises INVALID_ARGUMENT for a name that is no command, UNTRUSTED for a
-- team's file tasknum will not run)
function M.decl_of(name, args)
  if SERVED[name] then return SERVED[name] end
  local src, err = commands.source(name, args or {}, { quiet = true })
  if not src then error(err, 0) end
  local decl, why = M.describe(src)
  return decl, why, src
end

-- command(name) -> the help of command name (`tasknum help NAME`)
function M.command(name)
  local decl, why, src = M.decl_of(name)
  local base = name:gsub("%.lua$", "")
  if decl then return M.text(decl, src and src.origin == "path" and ("run " .. name) or base) end
  return "tasknum " .. base .. ": " .. src.origin .. " script " .. src.path .. "\n" .. why
    .. "; see the script itself for how to use it\n"
end

-- usage() -> the global usage: one line per command, the exit codes
function M.usage()
  local out = {
    "usage: tasknum COMMAND [OPTIONS] [ARGS...]",
    "       tasknum help COMMAND    (or: tasknum COMMAND --help)",
    "       tasknum --version",
    "",
    "commands:",
  }
  local rows = {}
  for _, c in ipairs(M.declarations()) do
    rows[#rows + 1] = { c.name, c.decl and c.decl.summary or ("(" .. tostring(c.why) .. ")") }
  end
  out[#out + 1] = columns(rows, "  ", 3)
  local team, dirs = M.team({})
  local shipped = commands.shipped()
  rows = {}
  for _, n in ipairs(team) do
    if not shipped[n] then
      local src, err = commands.source(n, {}, { quiet = true })
      local decl = src and M.describe(src)
      rows[#rows + 1] = { n, decl and decl.summary
        or (src and "(declares nothing: tasknum help " .. n .. ")")
        or ("(not run: " .. tostring(err and err.code) .. ")") }
    end
  end
  if #rows > 0 then
    local where = {}
    for i, d in ipairs(dirs) do where[i] = d.dir end
    out[#out + 1] = ""
    out[#out + 1] = "team commands (" .. table.concat(where, ", ") .. "):"
    out[#out + 1] = columns(rows, "  ", 3)
  end
  out[#out + 1] = ""
  out[#out + 1] = M.wrap("The state file is --state PATH, else $TASKNUM_STATE, else the nearest "
    .. ".opencode/specs/state.json or specs/state.json above the current folder. A team adds "
    .. "commands as commands/NAME.lua in its project's .opencode/tasknum/ (policies: "
    .. "conflict.lua, audit.lua, format/NAME.lua beside it); tasknum runs none that others "
    .. "could have changed.", M.WIDTH)
  out[#out + 1] = ""
  -- each status with its code on one line: the spaces inside are NBSPs
  -- (U+00A0) while wrapping
  local codes = { "0\u{a0}success" }
  for _, code in ipairs(M.codes()) do
    codes[#codes + 1] = status_text(code):gsub(", ", "/") .. "\u{a0}" .. code
  end
  out[#out + 1] = (M.wrap("exit status: " .. table.concat(codes, ", ") .. ".", M.WIDTH):gsub("\u{a0}", " "))
  return table.concat(out, "\n") .. "\n"
end

-- serve(name, args) -> exit status of `tasknum help`, `tasknum complete`,
-- and of `tasknum run` without a script (or with --help)
function M.serve(name, args)
  cli.invoked = name
  local opts, rest = cli.parse(args, SERVED[name])
  if name == "run" then
    errors.raise("INVALID_ARGUMENT", "run needs a script: tasknum run SCRIPT [ARGS...]")
  elseif name == "complete" then
    local out = M.complete(opts.line and M.words(opts.line) or rest)
    io.stdout:write(table.concat(out, "\n"), #out > 0 and "\n" or "")
  else
    if #rest > 1 then errors.raise("INVALID_ARGUMENT", "help takes one command, got " .. rest[2]) end
    io.stdout:write(rest[1] and M.command(rest[1]) or M.usage())
  end
  return 0
end

-- complete(words) and words(line): tasknum.complete
function M.complete(words) return require("tasknum.complete").candidates(words) end
function M.words(line) return require("tasknum.complete").split(line) end

return M
