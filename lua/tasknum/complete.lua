-- tasknum.complete (internal): candidates for shell completion, asked for
-- by the bash and zsh completions (completion/) as
--   tasknum complete --line "$COMP_LINE up to the cursor"      (bash)
--   tasknum complete -- WORD... CURRENT                         (zsh)
-- One candidate a line, for the part of the current word after an "=" in
-- --option=VALUE (bash and zsh replace only that part), or one directive:
--   :files     complete file names      :commands  complete command names
-- Commands, options and --format names come from the same lookup and
-- declarations as running them; a team's script is only described (its
-- top, up to its declaration, in a sandbox), never run.
local commands = require "tasknum.commands"
local help = require "tasknum.help"
local policy = require "tasknum.policy"

local M = {}

-- split(line) -> the words of a shell command line without its first word
-- (the command), the last one being the word at the cursor ("" after a
-- blank). Quotes and backslashes are read the way the shell reads them.
function M.split(line)
  local words, word, quote, inword, i = {}, "", nil, false, 1
  while i <= #line do
    local c = line:sub(i, i)
    if quote then
      if c == quote then quote = nil
      elseif c == "\\" and quote == '"' and i < #line then i = i + 1 word = word .. line:sub(i, i)
      else word = word .. c end
    elseif c == "'" or c == '"' then quote, inword = c, true
    elseif c == "\\" and i < #line then i = i + 1 word, inword = word .. line:sub(i, i), true
    elseif c:match("%s") then
      if inword then words[#words + 1], word, inword = word, "", false end
    else word, inword = word .. c, true end
    i = i + 1
  end
  words[#words + 1] = word
  table.remove(words, 1)
  return words
end

local function prefixed(list, prefix)
  local out = {}
  for _, s in ipairs(list) do
    if s:sub(1, #prefix) == prefix then out[#out + 1] = s end
  end
  return out
end

-- The command names to offer: what `tasknum NAME` runs, help and run.
local function names(args)
  local out = {}
  for _, n in ipairs(help.available(args)) do out[#out + 1] = n end
  return out
end

-- formats(args) -> the --format names: the shipped ones and the team's
function M.formats(args)
  local list, seen = {}, {}
  local function add(n) if not seen[n] then seen[n], list[#list + 1] = true, n end end
  local host = package.loaded["tasknum.host"]
  for _, m in ipairs(host and host.list and host.list(true) or {}) do
    local n = m:match("^tasknum%.format%.([%w_%-]+)$")
    if n then add(n) end
  end
  local core = require "tasknum.core"
  for _, dir in ipairs(policy.dirs(commands.state_of(args))) do
    for _, f in ipairs(core.listdir(dir .. "/format") or {}) do
      local n = f:match("^([%w_%-]+)%.lua$")
      if n then add(n) end
    end
  end
  table.sort(list)
  return list
end

local function values(o, prefix, args)
  if o.complete == "file" then return { ":files" } end
  if o.complete == "format" then return prefixed(M.formats(args), prefix) end
  return {}
end

local function options(decl, prefix)
  local list = {}
  for _, o in ipairs(decl.options) do list[#list + 1] = o.name end
  list[#list + 1] = "--help"
  return prefixed(list, prefix)
end

-- candidates(words) -> the candidates for the last word of words (the
-- words after `tasknum`)
function M.candidates(words)
  if #words == 0 then words = { "" } end
  local cur = words[#words]
  local args = table.move(words, 2, #words, 1, {})
  if #words == 1 then
    if cur:sub(1, 1) == "-" then return prefixed({ "--help", "--version" }, cur) end
    return prefixed(names(args), cur)
  end
  local cmd = words[1]
  if cmd == "help" then return #words == 2 and prefixed(names(args), cur) or {} end
  if cmd == "run" and #words == 2 then
    local list = cur:find("/", 1, true) and {} or prefixed(names(args), cur)
    return #list > 0 and list or { ":files" }
  end
  if cmd == "run" then cmd, args = words[2], table.move(words, 3, #words, 1, {}) end
  local ok, decl = pcall(help.decl_of, cmd, args)
  if not ok or not decl then return { ":files" } end
  -- after "--": a command line (tasknum lock -- COMMAND ...), or files
  for i = 1, #args - 1 do
    if args[i] == "--" then
      return (decl.rest == "command" and i == #args - 1) and { ":commands" } or { ":files" }
    end
  end
  local name, value = cur:match("^(%-%-[^=]+)=(.*)$")
  if name then
    local o = decl.by_name[name]
    return o and o.kind ~= "flag" and values(o, value, args) or {}
  end
  local prev = decl.by_name[args[#args - 1] or ""]
  if prev and prev.kind ~= "flag" then return values(prev, cur, args) end
  if cur:sub(1, 1) == "-" or not decl.positional then return options(decl, cur) end
  return { ":files" }
end

return M
