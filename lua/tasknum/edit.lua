-- tasknum.edit: byte-preserving edits of the locked state, for scripts that
-- do more than take a number. Each edit replaces one span of txn.text
-- through txn:splice (which checks the whole state again), and writes its
-- new JSON in the style of its surroundings: the neighbours' indentation,
-- ": " or ":", one line or many, the file's line ending. Every other byte
-- stays as it was.
--
--   local edit = require "tasknum.edit"
--   edit.prepend(txn, "active_projects", edit.object{
--     { "project_number", n }, { "project_name", "fix_parser" } })
--   edit.set(txn, { "metadata", "last_sync" }, "2026-11-27T08:00:00Z")
--
-- Values are Lua values: strings, numbers, booleans, tasknum.json.null,
-- tables (sequences become arrays; json.array() marks an empty one),
-- edit.object{...} for members in a given order, edit.raw(text) for JSON
-- text written verbatim (such as 8.0, which Lua would print as 8).
local core = require "tasknum.core"
local json = require "tasknum.json"

local M = {}

local RAW, OBJECT = {}, {}

-- raw(text) -> a value written as this JSON text, verbatim; raises when the
-- text is not one JSON value.
function M.raw(text)
  local s, e = core.validate(text)
  if not s or s ~= 1 or e ~= #text then
    error("edit.raw: not one JSON value: " .. text, 2)
  end
  return setmetatable({ text = text }, RAW)
end

-- object{ {key, value}, ... } -> an object whose members come in this order;
-- a pair without a value is left out.
function M.object(pairs_list)
  return setmetatable({ members = pairs_list }, OBJECT)
end

-- --- style ------------------------------------------------------------------

-- The blanks that start the line holding position pos.
local function line_indent(text, pos)
  local start = pos
  while start > 1 and text:sub(start - 1, start - 1) ~= "\n" do start = start - 1 end
  return text:match("^[ \t]*", start)
end

local function newline(text)
  return text:find("\r\n", 1, true) and "\r\n" or "\n"
end

-- The first capture of pattern (anchored with "^") at position s of text,
-- when the match ends by e: text is the whole state, never copied.
local function match_in(text, pattern, s, e)
  local found, stop, capture = text:find(pattern, s)
  if found and stop <= e then return capture end
end

-- style of the container value at [s, e] ({ or [): one line or many, the
-- indentation unit, the separators. What an empty container cannot tell
-- comes from fallback (the file's style), else from jq's defaults. Reads
-- the text in place: a copy of the root's value would be a copy of the
-- whole state.
local function style_of(text, s, e, fallback)
  fallback = fallback or { colon = ": ", comma = ", ", unit = "  " }
  local style = { nl = newline(text), unit = fallback.unit, comma = fallback.comma,
                  compact = fallback.compact,
                  colon = match_in(text, '^{%s*"[^"\\]*"([ \t]*:[ \t]*)', s, e) or fallback.colon }
  local nl = text:find("\n", s, true)
  if nl and nl <= e then
    local own, inner = line_indent(text, s), match_in(text, "^[{%[][ \t]*\r?\n([ \t]*)", s, e)
    if inner and #inner > #own and inner:sub(1, #own) == own then style.unit = inner:sub(#own + 1) end
    style.compact = false
  elseif not match_in(text, "^[{%[]%s*([}%]])", s, e) then
    style.compact = true
    style.comma = "," .. (match_in(text, "^[^,]*,([ \t]*)", s, e) or fallback.comma:sub(2))
  end
  return style
end

-- The style of the whole file, from its root object.
local function file_style(txn)
  return style_of(txn.text, txn.info.root_start, txn.info.root_stop)
end

-- --- encoding ---------------------------------------------------------------

local encode

local function members_of(v)
  if getmetatable(v) == OBJECT then
    local list = {}
    for _, p in ipairs(v.members) do
      if p[2] ~= nil then list[#list + 1] = p end
    end
    return list
  end
  local list = {}
  for k, x in pairs(v) do list[#list + 1] = { tostring(k), x } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

local function is_array(v)
  if getmetatable(v) == OBJECT then return false end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return n > 0 or getmetatable(v) == json.array_mt
end

-- encode(value, style, indent) -> JSON text of value, written at a place
-- whose line starts with indent.
function encode(v, style, indent, depth)
  depth = (depth or 0) + 1
  if depth > 64 then error("edit: value nested too deep", 0) end
  if type(v) ~= "table" or v == json.null then return json.encode(v) end
  if getmetatable(v) == RAW then return v.text end
  local parts, open, close = {}, "{", "}"
  local inner = indent .. style.unit
  if is_array(v) then
    open, close = "[", "]"
    for i = 1, #v do parts[i] = encode(v[i], style, inner, depth) end
  else
    for i, p in ipairs(members_of(v)) do
      parts[i] = json.encode(tostring(p[1])) .. style.colon .. encode(p[2], style, inner, depth)
    end
  end
  if #parts == 0 then return open .. close end
  if style.compact then return open .. table.concat(parts, style.comma) .. close end
  return open .. style.nl .. inner .. table.concat(parts, "," .. style.nl .. inner)
      .. style.nl .. indent .. close
end

-- encode(value [, style [, indent]]) -> JSON text (many lines, two spaces,
-- unless a style says otherwise); "/" and non-ASCII text are kept as they
-- are, as the state's own strings are.
function M.encode(v, style, indent)
  return encode(v, style or { nl = "\n", colon = ": ", comma = ", ", unit = "  " }, indent or "")
end

-- --- edits ------------------------------------------------------------------

local function path_of(path)
  if type(path) == "string" then return { path } end
  if type(path) ~= "table" or #path == 0 then error("edit: path must be a key or a list of keys", 3) end
  return path
end

-- prepend(txn, path, value): inserts value as the first element of the
-- array at path (a top-level key, or a list of keys), written like the
-- element it now precedes. An empty array gets the file's indentation.
-- Raises (SCRIPT_ERROR) when path is not an array.
function M.prepend(txn, path, value)
  path = path_of(path)
  local s, e = txn:span(table.unpack(path))
  local text = txn.text
  if not s or text:sub(s, s) ~= "[" then
    txn:fail("SCRIPT_ERROR", table.concat(path, ".") .. " is not an array in the state")
  end
  local spans = core.elements(text, s, e, 2) -- the first two say the style
  if #spans == 0 then
    local style = style_of(text, s, e, file_style(txn))
    local own = line_indent(text, s)
    local new
    if style.compact then
      new = "[" .. encode(value, style, own) .. "]"
    else
      new = "[" .. style.nl .. own .. style.unit .. encode(value, style, own .. style.unit)
          .. style.nl .. own .. "]"
    end
    text = nil -- so that splice can let go of the old text (see txn:splice)
    return txn:splice(s, e, new)
  end
  local fs, fe = spans[1], spans[2]
  local first = text:sub(fs, fs)
  local style = (first == "{" or first == "[") and style_of(text, fs, fe, file_style(txn))
      or style_of(text, s, e, file_style(txn))
  -- the gap between two elements: between the first two, else "," and the
  -- blanks before the first
  local gap = spans[3] and text:sub(fe + 1, spans[3] - 1) or "," .. text:sub(s + 1, fs - 1)
  local insert = encode(value, style, line_indent(text, fs)) .. gap
  text = nil -- so that splice can let go of the old text (see txn:splice)
  txn:splice(fs, fs - 1, insert)
end

-- set(txn, path, value): sets the member at path (a top-level key, or a
-- list of keys) to value. An existing value is replaced in place; a missing
-- member is added after the last member of its object.
-- The splice set() makes: start, stop, new text.
local function set_splice(txn, text, path, value)
  local s, e = txn:span(table.unpack(path))
  if s then
    local style = (text:sub(s, s) == "{" or text:sub(s, s) == "[") and style_of(text, s, e, file_style(txn))
        or file_style(txn)
    return s, e, encode(value, style, line_indent(text, s))
  end
  local ps, pe = txn.info.root_start, txn.info.root_stop
  if #path > 1 then ps, pe = txn:span(table.unpack(path, 1, #path - 1)) end
  if not ps or text:sub(ps, ps) ~= "{" then
    txn:fail("SCRIPT_ERROR", "cannot set " .. table.concat(path, ".") .. ": its parent is not an object")
  end
  local style = style_of(text, ps, pe, file_style(txn))
  local key = json.encode(tostring(path[#path]))
  local last = pe - 1
  while text:sub(last, last):match("%s") do last = last - 1 end
  if last == ps then -- an empty object
    local own = line_indent(text, ps)
    if style.compact then
      return ps + 1, pe - 1, key .. style.colon .. encode(value, style, own)
    end
    local inner = own .. style.unit
    return ps + 1, pe - 1, style.nl .. inner .. key .. style.colon
      .. encode(value, style, inner) .. style.nl .. own
  end
  local lead = text:match("^{([ \t]*\r?\n?[ \t]*)", ps)
  local gap = style.compact and style.comma or "," .. lead
  return last + 1, last, gap .. key .. style.colon
    .. encode(value, style, style.compact and "" or lead:match("[ \t]*$"))
end

function M.set(txn, path, value)
  local s, e, new = set_splice(txn, txn.text, path_of(path), value)
  -- no local holds the old text now, so splice can let go of it
  return txn:splice(s, e, new)
end

return M
