-- tasknum.help (internal): the help texts, all made from the commands'
-- declarations (tasknum.cli.command): `tasknum CMD --help`, `tasknum help
-- CMD`, and the global usage. tasknum.man makes the man page from the same.
local cli = require "tasknum.cli"
local commands = require "tasknum.commands"
local errors = require "tasknum.errors"

local M = {}

M.WIDTH = 79

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
  table.sort(list, function(a, b) return errors.exit[a] < errors.exit[b] end)
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
    local decl, why = commands.describe(src)
    if not (decl and decl.hidden) then list[#list + 1] = { name = n, decl = decl, why = why } end
  end
  list[#list + 1] = { name = "help", decl = cli.HELP }
  list[#list + 1] = { name = "run", decl = cli.RUN }
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

-- decl_of(name [, args]) -> the declaration of command name | nil, why
-- (raises INVALID_ARGUMENT for a name that is no command, UNTRUSTED for a
-- team's file tasknum will not run)
function M.decl_of(name, args)
  if name == "help" then return cli.HELP end
  if name == "run" then return cli.RUN end
  if name == "complete" then return cli.COMPLETE end
  local src, err = commands.source(name, args or {}, { quiet = true })
  if not src then error(err, 0) end
  local decl, why = commands.describe(src)
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
  local team, dirs = commands.team({})
  local shipped = commands.shipped()
  rows = {}
  for _, n in ipairs(team) do
    if not shipped[n] then
      local src, err = commands.source(n, {}, { quiet = true })
      local decl = src and commands.describe(src)
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

-- complete(words) and words(line): tasknum.complete
function M.complete(words) return require("tasknum.complete").candidates(words) end
function M.words(line) return require("tasknum.complete").split(line) end

return M
