-- tasknum.json: encodes answers and audit lines. lua-cjson decodes; it is not
-- used to encode because it turns integers into floats (9.0e+15) and lets
-- invalid UTF-8 through. Keys come out in a stable order: those ranked by
-- the caller first (tasknum.answer ranks the answer's keys), the rest sorted.
local M = {}

local NO_RANK = {}

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
              ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

-- Replaces each byte that is not part of valid UTF-8 with U+FFFD.
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, bad = utf8.len(s, i)
    if len then out[#out + 1] = s:sub(i); break end
    out[#out + 1] = s:sub(i, bad - 1) .. "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(out)
end

local function string_literal(s)
  -- most strings (keys, words, paths) are ASCII with nothing to escape:
  -- one scan, no copy
  if not s:find('[%c"\\\128-\255]') then return '"' .. s .. '"' end
  s = valid_utf8(s):gsub('[%c"\\]', function(c)
    return ESC[c] or string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return n > 0 or next(t) == nil and getmetatable(t) == M.array_mt
end

local function sorted_keys(t, rank)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys, function(a, b)
    local ra, rb = rank[a] or math.huge, rank[b] or math.huge
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  return keys
end

local encode

local function encode_table(t, depth, rank)
  if depth > 64 then error("json: nesting too deep", 0) end
  local parts = {}
  if is_array(t) then
    for i = 1, #t do parts[i] = encode(t[i], depth + 1, rank) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for _, k in ipairs(sorted_keys(t, rank)) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    parts[#parts + 1] = string_literal(k) .. ":" .. encode(v, depth + 1, rank)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function encode(v, depth, rank)
  local kind = type(v)
  if v == nil or v == M.null then return "null"
  elseif kind == "string" then return string_literal(v)
  elseif kind == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    local s = string.format("%.15g", v)
    if tonumber(s) ~= v then s = string.format("%.17g", v) end
    return (s:gsub(",", "."))
  elseif kind == "boolean" then return tostring(v)
  elseif kind == "table" then return encode_table(v, depth, rank)
  end
  return string_literal(tostring(v))
end

-- A marker for an empty table that should be written as [] (not {}).
M.array_mt = {}
function M.array(t) return setmetatable(t or {}, M.array_mt) end
M.null = setmetatable({}, { __tostring = function() return "null" end })

-- encode(value [, rank]) -> one line of JSON; rank maps keys to their
-- place (lower first), the other keys follow sorted
function M.encode(v, rank)
  return encode(v, 0, rank or NO_RANK)
end

return M
