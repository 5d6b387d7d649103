-- tasknum.text (internal): text for people. Whatever tasknum prints for a
-- person to read (status and stats lines, the one-line error on stderr,
-- the merge driver's messages, a TODO.md heading) may carry what others
-- wrote: a purpose, a command, a project name, an info file, a path.
-- printable() escapes what a terminal would act on instead of showing, so
-- that nobody's text can move the cursor, retitle a window, hide itself or
-- break the line it is on: control characters (C0, DEL, and the C1 range,
-- U+0080..U+009F), the bidirectional overrides and isolates that reorder a
-- line (U+202A..U+202E, U+2066..U+2069), and bytes that are not UTF-8 (a
-- lone 0x9B is CSI to an 8-bit terminal). Tab, newline and carriage return
-- become \t \n \r, the rest \xHH (bytes) or \u{HHHH} (characters); all
-- other text, UTF-8 included, is kept as it is.
local M = {}

local NAMED = { [9] = "\\t", [10] = "\\n", [13] = "\\r" }

local function hidden(cp)
  return (cp >= 0x80 and cp <= 0x9f) or (cp >= 0x202a and cp <= 0x202e)
    or (cp >= 0x2066 and cp <= 0x2069)
end

-- printable(s) -> s with what a terminal would act on escaped (s is
-- made a string first)
function M.printable(s)
  s = tostring(s)
  if not s:find("[%z\1-\31\127-\255]") then return s end -- plain ASCII
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or c >= 0xf0 and 4 or c >= 0xe0 and 3 or c >= 0xc2 and 2 or 0
    local seq = len > 1 and s:sub(i, i + len - 1)
    if c < 0x20 or c == 0x7f then
      out[#out + 1] = NAMED[c] or string.format("\\x%02x", c)
    elseif len == 1 then
      out[#out + 1] = string.char(c)
    elseif seq and #seq == len and utf8.len(seq) == 1 then
      local cp = utf8.codepoint(seq)
      out[#out + 1] = hidden(cp) and string.format("\\u{%04x}", cp) or seq
    else
      out[#out + 1] = string.format("\\x%02x", c)
      len = 1
    end
    i = i + len
  end
  return table.concat(out)
end

return M
