-- tasknum.mcp.args: a tool call's arguments, read from the message's own
-- bytes against the tool's inputSchema, so that what the schema promises
-- is what is checked: the JSON type of each value (an object is told from
-- an array, which lua-cjson cannot), integers, minimum, maxProperties,
-- unknown and repeated members. Object values are kept in their order as
-- raw JSON text, to be written byte for byte (1.0 stays 1.0).
local cjson = require "cjson"
local core = require "tasknum.core"

local M = {}

-- The JSON type of the value that starts at byte s.
local KIND = { ["{"] = "object", ["["] = "array", ['"'] = "string", t = "boolean", f = "boolean",
               n = "null" }
local function kind(text, s)
  return KIND[text:sub(s, s)] or "number"
end

local function decode(text)
  return cjson.decode("[" .. text .. "]")[1]
end

-- members(text, s, e) -> the members of the object at [s, e] in order, as
-- { key, s, e } (the span of the value) | nil, message. The text is valid
-- JSON already (checked when the message was read).
function M.members(text, s, e)
  local list, pos = {}, s + 1
  while true do
    pos = text:find("[^ \t\r\n]", pos)
    if text:sub(pos, pos) == "}" then return list end
    if text:sub(pos, pos) == "," then pos = text:find("[^ \t\r\n]", pos + 1) end
    local close = pos + 1
    while true do -- the key's closing quote: the first one not escaped
      local at = text:find('["\\]', close)
      if text:sub(at, at) == "\\" then close = at + 2 else close = at break end
    end
    local key = decode(text:sub(pos, close))
    local vs, ve = core.member(text, s, e, key)
    if not vs then return nil, string.format("%q is given twice", key) end
    list[#list + 1] = { key, vs, ve }
    pos = ve + 1
  end
end

local function check(name, schema, text, s, e)
  local got = kind(text, s)
  local want = schema.type
  if want == "integer" then
    local n = got == "number" and math.tointeger(decode(text:sub(s, e)))
    if not n then return nil, name .. " must be a whole number, got " .. text:sub(s, math.min(e, s + 40)) end
    if schema.minimum and n < schema.minimum then
      return nil, string.format("%s must be at least %d, got %d", name, schema.minimum, n)
    end
    return n
  elseif got ~= want then
    return nil, string.format("%s must be a%s %s, got a%s %s", name, want == "object" and "n" or "", want,
      got == "array" and "n" or "", got)
  elseif want == "object" then
    local list, why = M.members(text, s, e)
    if not list then return nil, name .. ": " .. why end
    if schema.maxProperties and #list > schema.maxProperties then
      return nil, string.format("%s takes at most %d members, got %d", name, schema.maxProperties, #list)
    end
    for i, m in ipairs(list) do list[i] = { m[1], text:sub(m[2], m[3]) } end
    return list
  end
  local v = decode(text:sub(s, e))
  if want == "string" and schema.minLength and #v < schema.minLength then
    return nil, name .. " must not be empty"
  end
  return v
end

-- read(schema, text, s, e) -> args | nil, message. [s, e] is the arguments
-- object (nil: no arguments). A member given as null counts as left out.
-- Object values come as a list of { key, raw JSON text }.
function M.read(schema, text, s, e)
  local args = {}
  local list, why = {}, nil
  if s then
    list, why = M.members(text, s, e)
    if not list then return nil, "argument " .. why end
  end
  local names = {}
  for k in pairs(schema.properties) do names[#names + 1] = k end
  table.sort(names)
  for _, m in ipairs(list) do
    local key, vs, ve = m[1], m[2], m[3]
    local prop = schema.properties[key]
    if not prop then
      return nil, string.format("unknown argument %q; this tool takes %s", key, table.concat(names, ", "))
    end
    if kind(text, vs) ~= "null" then
      local v, bad = check(key, prop, text, vs, ve)
      if v == nil then return nil, bad end
      args[key] = v
    end
  end
  for _, key in ipairs(schema.required or {}) do
    if args[key] == nil then return nil, "missing argument " .. key end
  end
  return args
end

return M
