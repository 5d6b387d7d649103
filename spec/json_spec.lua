-- json_spec.lua: the byte-exact JSON scanner (core/json.c) through the
-- tasknum.core binding. Offsets are 1-based and inclusive, like string.find.
local core = require "tasknum.core"

-- Validates text and returns the root span, failing with the scanner's
-- reason if it is rejected.
local function valid(text)
  local s, e, off = core.validate(text)
  assert(s, ("expected valid JSON, got %s at %s"):format(tostring(e), tostring(off)))
  return s, e
end

-- Asserts text is rejected with a reason and an offset inside it (or just
-- past its end); returns both.
local function invalid(text)
  local s, msg, off = core.validate(text)
  assert(s == nil, ("expected %q to be rejected"):format(text))
  assert.is_string(msg)
  assert.is_true(math.type(off) == "integer" and off >= 1 and off <= #text + 1)
  return msg, off
end

-- The text of member key of the root object, or nil and the reason.
local function member_text(text, key)
  local s, e = valid(text)
  local vs, ve = core.member(text, s, e, key)
  if not vs then return nil, ve end
  return text:sub(vs, ve)
end

describe("core.validate", function()
  it("returns the span of the root value, without whitespace", function()
    assert.are.same({3, 4}, {core.validate("  {} \n")})
    assert.are.same({1, 3}, {core.validate("[1]")})
    assert.are.same({2, 3}, {core.validate("\t42\r\n")})
  end)

  it("accepts a leading UTF-8 BOM, and only there", function()
    assert.are.same({4, 5}, {core.validate("\xEF\xBB\xBF{}")})
    assert.are.same({5, 6}, {core.validate("\xEF\xBB\xBF\n[]")})
    invalid(" \xEF\xBB\xBF{}")
    invalid("\xEF\xBB\xBF\xEF\xBB\xBF{}")
    invalid("\xEF\xBB\xBF")
    invalid("\xEF\xBB{}")
  end)

  it("accepts CRLF line endings and a missing final newline", function()
    valid('{\r\n  "a": [1,\r\n 2]\r\n}\r\n')
    valid('{\n  "a": 1\n}')
    valid('{"a":1,"b":[true,false,null],"c":{"d":"e"}}')
  end)

  it("rejects empty and blank input", function()
    invalid("")
    invalid(" \n\t\r")
  end)

  it("takes only space, tab, CR and LF as whitespace", function()
    invalid("\v1")
    invalid("\f1")
    invalid("1\0")
    invalid("\xC2\xA0" .. "1")
    invalid("[1,\v2]")
  end)

  it("accepts every value kind at the root", function()
    for _, t in ipairs{"0", "-0", "1.5", '""', '"x"', "true", "false", "null", "[]", "{}"} do
      valid(t)
    end
  end)

  it("accepts numbers of the JSON grammar", function()
    for _, t in ipairs{"0", "-0", "7", "-12", "0.5", "-0.0", "1e5", "1E+5", "1e-05",
                       "2.5e10", "123456789012345678901234567890", "1.0"} do
      valid(t)
      valid("[" .. t .. "]")
    end
  end)

  it("rejects numbers outside the JSON grammar", function()
    for _, t in ipairs{"01", "-01", "00", "1.", "-", ".5", "+1", "1e", "1e+", "1.e3",
                       "0x10", "NaN", "Infinity", "-Infinity", "--1", "1.5.5", "1ee2",
                       "- 1", "1_000"} do
      invalid(t)
      invalid("[" .. t .. "]")
      invalid('{"n":' .. t .. "}")
    end
  end)

  it("rejects bad literals", function()
    for _, t in ipairs{"tru", "truee", "True", "nul", "nulll", "NULL", "fals", "undefined"} do
      invalid(t)
      invalid("[" .. t .. "]")
    end
  end)

  it("rejects structural mistakes", function()
    for _, t in ipairs{"[", "]", "{", "}", "[}", "{]", "[1,]", "[,1]", "[1 2]", "[1,,2]",
                       '{"a":1,}', '{"a" 1}', '{"a"::1}', '{a:1}', "{'a':1}", '{"a":}',
                       '{"a"}', '{,}', '{"a":1 "b":2}', "[]]", "{} {}", "1 2",
                       '{"a":1}x', "/* c */ 1", "1 // c", '["a""b"]'} do
      invalid(t)
    end
  end)

  it("accepts valid escapes and UTF-8 at the edges of each range", function()
    valid([["\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \uFFFF \uD83D\uDE00 \uDBFF\uDFFF"]])
    for _, s in ipairs{"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
                       "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF",
                       "é € 😀"} do
      valid('"' .. s .. '"')
    end
  end)

  it("rejects invalid escapes and unpaired surrogate escapes", function()
    for _, s in ipairs{[[\x]], [[\']], [[\U0041]], [[\u12]], [[\u12G4]], [[\uD800]],
                       [[\uDC00]], [[\uDC00\uDC00]], [[\uDFFF\uD800]], [[\uD800\u0041]], [[\uDBFF\uDBFF]], [[\uD800x]], [[\]]} do
      invalid('"' .. s .. '"')
    end
  end)

  it("rejects control characters inside strings", function()
    for _, c in ipairs{"\0", "\1", "\t", "\n", "\r", "\x1F"} do
      invalid('"a' .. c .. 'b"')
    end
  end)

  it("checks every byte of long strings, at any alignment", function()
    -- Long runs of plain bytes are checked several at a time; a bad byte
    -- must be found wherever it falls within such a run.
    for i = 0, 17 do
      local a, b = ("a"):rep(i), ("b"):rep(20)
      for _, c in ipairs{"\0", "\n", "\x1F", "\x80", "\xFF", "\xC0\x80", "\xED\xA0\x80"} do
        local _, off = invalid('"' .. a .. c .. b .. '"')
        assert.are.equal(i + 2, off)
      end
      valid('"' .. a .. '\\"' .. b .. '"')
      valid('"' .. a .. "\xC3\xA9\x7F" .. b .. '"')
      assert.are.same({1, i + 2}, {core.validate('"' .. a .. '"')})
      invalid('"' .. a .. '"' .. b)
    end
  end)

  it("rejects invalid UTF-8 in strings", function()
    for _, s in ipairs{
      "\x80",                 -- lone continuation byte
      "\xBF",
      "\xC0\x80",             -- overlong NUL
      "\xC1\xBF",             -- overlong
      "\xE0\x80\x80",         -- overlong
      "\xE0\x9F\xBF",         -- overlong
      "\xF0\x80\x80\x80",     -- overlong
      "\xF0\x8F\xBF\xBF",     -- overlong
      "\xED\xA0\x80",         -- UTF-16 surrogate U+D800
      "\xED\xBF\xBF",         -- UTF-16 surrogate U+DFFF
      "\xF4\x90\x80\x80",     -- U+110000
      "\xF5\x80\x80\x80",
      "\xFE", "\xFF",
      "\xC3",                 -- truncated sequences
      "\xE2\x82",
      "\xF0\x9F\x98",
      "\xC3x", "\xE2\x82x",   -- cut short by an ASCII byte
    } do
      local msg = invalid('{"k": "ok' .. s .. '"}')
      assert.matches("UTF%-8", msg)
      invalid('{"k' .. s .. '": 1}')
    end
  end)

  it("rejects non-ASCII bytes outside strings", function()
    invalid("[1,\xC3\xA9]")
    invalid("\xC3\xA9")
  end)

  it("says where and why", function()
    local msg, off = invalid('{"a" 1}')
    assert.are.equal("expected ':' after member name", msg)
    assert.are.equal(6, off)
    msg, off = invalid('{"a": 1} x')
    assert.are.equal("trailing characters after the value", msg)
    assert.are.equal(10, off)
    msg, off = invalid('["ab\xFF"]')
    assert.are.equal("invalid UTF-8 in string", msg)
    assert.are.equal(5, off)
    msg = invalid('{"a": "abc')
    assert.are.equal("unterminated string", msg)
  end)

  it("accepts nesting up to 512 levels and rejects deeper", function()
    valid(("["):rep(512) .. ("]"):rep(512))
    local msg = invalid(("["):rep(513) .. ("]"):rep(513))
    assert.matches("deep", msg)
  end)

  it("rejects 100000 levels of nesting with an error, not a crash", function()
    invalid(("["):rep(100000) .. ("]"):rep(100000))
    invalid(('{"a":'):rep(100000) .. "1" .. ("}"):rep(100000))
    invalid(("["):rep(100000))
  end)

  it("rejects every truncation of a document before its root ends", function()
    local doc = '\xEF\xBB\xBF{\r\n "a": [1, -2.5e3, "x\\"}\\u00e9", true, null],\r\n "b": {"c": {}}\r\n}\n'
    local _, stop = valid(doc)
    for k = 0, #doc - 1 do
      local prefix = doc:sub(1, k)
      if k < stop then
        assert(core.validate(prefix) == nil, ("prefix of %d bytes accepted"):format(k))
      else
        valid(prefix)
      end
    end
  end)

  it("accepts a truncation only when it is a valid document itself", function()
    -- "1" and "12" are whole documents in their own right; "-" and "1." are not.
    assert.are.same({1, 1}, {core.validate("1")})
    assert.are.same({1, 2}, {core.validate("12")})
    valid("123")
    invalid("-")
    invalid("1.")
    invalid("1e")
  end)
end)

describe("core.member", function()
  local text = table.concat{
    '{\n',
    '  "note": "{\\"next_project_number\\": 1} [not] a member",\n',
    '  "braces": "}}}]]]{{{",\n',
    '  "project_numbering": {"next_project_number": 5, "min": 0, "max": 999},\n',
    '  "list": [{"next_project_number": 6}, "next_project_number"],\n',
    '  "next_project_number": 239,\n',
    '  "after": "x"\n',
    '}\n',
  }

  it("finds a top-level member past strings holding braces, quotes and the key", function()
    assert.are.equal("239", member_text(text, "next_project_number"))
  end)

  it("never matches members of nested values", function()
    local s, e = valid(text)
    local ps, pe = core.member(text, s, e, "project_numbering")
    assert.are.equal("5", text:sub(core.member(text, ps, pe, "next_project_number")))
    assert.are.same({nil, "absent"}, {core.member(text, s, e, "min")})
  end)

  it("returns value spans of every kind, exactly", function()
    assert.are.equal('"}}}]]]{{{"', member_text(text, "braces"))
    assert.are.equal('{"next_project_number": 5, "min": 0, "max": 999}',
                     member_text(text, "project_numbering"))
    assert.are.equal('[{"next_project_number": 6}, "next_project_number"]', member_text(text, "list"))
    assert.are.equal('"x"', member_text(text, "after"))
    assert.are.equal("null", member_text('{"a":null}', "a"))
    assert.are.equal("-1.5e3", member_text('{"a" : -1.5e3 }', "a"))
  end)

  it("compares names after decoding their escapes", function()
    assert.are.equal("7", member_text('{"next\\u005fproject_number": 7}', "next_project_number"))
    assert.are.equal("1", member_text('{"\\u00e9\\ud83d\\ude00": 1}', "é😀"))
    assert.are.equal("2", member_text('{"a\\"b": 2}', 'a"b'))
    assert.are.equal("3", member_text('{"a\\\\": 3}', "a\\"))
    assert.are.equal("4", member_text('{"a\\/b": 4}', "a/b"))
    assert.are.equal("5", member_text('{"tab\\there": 5}', "tab\there"))
    assert.are.same({nil, "absent"}, {member_text('{"next_project_numbe": 1}', "next_project_number")})
    assert.are.same({nil, "absent"}, {member_text('{"next_project_numberx": 1}', "next_project_number")})
  end)

  it("finds members of an empty name and handles an empty object", function()
    assert.are.equal("0", member_text('{"": 0}', ""))
    assert.are.same({nil, "absent"}, {member_text("{ }", "a")})
  end)

  it("reports a duplicate top-level key, even spelled with escapes", function()
    assert.are.same({nil, "duplicate"}, {member_text('{"a": 1, "b": {}, "a": 2}', "a")})
    assert.are.same({nil, "duplicate"}, {member_text('{"a": 1, "\\u0061": 2}', "a")})
    assert.are.equal("1", member_text('{"a": 1, "b": {"a": 2}}', "a"))
  end)

  it("refuses values that are not objects", function()
    for _, t in ipairs{"[]", '"a"', "1", "null", '[{"a":1}]'} do
      assert.are.same({nil, "not an object"}, {member_text(t, "a")})
    end
  end)

  it("stays inside any span it is given", function()
    local t = '{"a":[1,{"b":"}"}],"c":"\\"x"}'
    for s = 1, #t + 1 do
      for e = s - 1, #t do
        local ok, err = pcall(core.member, t, s, e, "c")
        assert(ok, err)
        local vs, ve = core.member(t, s, e, "c")
        if vs then assert.is_true(vs >= s and ve <= e and vs <= ve) end
        ok, err = pcall(core.elements, t, s, e)
        assert(ok, err)
        ok, err = pcall(core.integer, t, s, e)
        assert(ok, err)
      end
    end
  end)
end)

describe("core.elements", function()
  it("lists element spans in order", function()
    local t = '[1, "a,]", {"b": [2, 3]}, [], null ]'
    local s, e = valid(t)
    local spans = core.elements(t, s, e)
    local got = {}
    for i = 1, #spans, 2 do got[#got + 1] = t:sub(spans[i], spans[i + 1]) end
    assert.are.same({"1", '"a,]"', '{"b": [2, 3]}', "[]", "null"}, got)
  end)

  it("gives an empty list for an empty array", function()
    assert.are.same({}, core.elements("[ ]", 1, 3))
    assert.are.same({}, core.elements("[]", 1, 2))
  end)

  it("refuses values that are not arrays", function()
    assert.are.same({nil, "not an array"}, {core.elements("{}", 1, 2)})
    assert.are.same({nil, "not an array"}, {core.elements("12", 1, 2)})
  end)

  it("reads project numbers of active projects", function()
    local t = '{"active_projects": [{"project_number": 210, "x": {"project_number": 1}}, {"project_number": 211}]}'
    local s, e = valid(t)
    local as, ae = core.member(t, s, e, "active_projects")
    local spans = core.elements(t, as, ae)
    local numbers = {}
    for i = 1, #spans, 2 do
      local ps, pe = core.member(t, spans[i], spans[i + 1], "project_number")
      numbers[#numbers + 1] = core.integer(t, ps, pe)
    end
    assert.are.same({210, 211}, numbers)
  end)
end)

-- core.scan: validate, the root's members and the held index in one pass.
describe("core.scan", function()
  local TOP = { "next_project_number", "project_numbering", "active_projects" }

  it("validates as validate() does, with the same reason and offset", function()
    for _, t in ipairs({ '{"a": 1}', ' [1, 2] ', '{"a": [1, }', '{"a"', '', '"\\x"', '{"a": 1} 2' }) do
      local s, e, off = core.validate(t)
      local s2, e2, off2 = core.scan(t, TOP, "active_projects", "project_number")
      assert.are.same({ s, e, s and "table" or off }, { s2, e2, s2 and type(off2) or off2 })
    end
  end)

  it("gives the root's members as members() does: spans, plain integers, duplicates", function()
    local t = '{"next_project_number": 7, "x": {"next_project_number": 1}, "active_projects": [],'
      .. ' "project_numbering": {"min": 0}, "active_projects": [1]}'
    local s, e, top = core.scan(t, TOP)
    assert.are.same(core.members(t, s, e, table.unpack(TOP)), top)
    assert.are.same({ 25, 25, 7 }, top.next_project_number)
    assert.is_false(top.active_projects)
    assert.are.same({}, select(3, core.scan("[1]", TOP)))
  end)

  it("finds names spelled with escapes, at any position", function()
    local t = '{"z": "next_project_number", "next\\u005fproject_number": 3}'
    local s, e, top = core.scan(t, TOP)
    assert.are.equal(3, top.next_project_number[3])
    assert.are.same(core.members(t, s, e, table.unpack(TOP)), top)
  end)

  it("indexes the field of each element: held() with the index answers as without", function()
    local t = '{"active_projects": [{"project_number": 5, "n": {"project_number": 9}}, 3, [{"project_number": 8}],'
      .. ' {"project_number": "6", "project_number": 7}, {"x": 1}, {"project_number": 5.0}, {},'
      .. ' {"project\\u005fnumber": 4}], "project_number": 1}'
    local s, e, top, index = core.scan(t, TOP, "active_projects", "project_number")
    assert.is_userdata(index)
    local as, ae = top.active_projects[1], top.active_projects[2]
    local all = core.held(t, as, ae, "project_number")
    assert.are.same(all, core.held(t, as, ae, "project_number", nil, index))
    for n, span in pairs({ [5] = 1, [6] = 1, [7] = 1, [4] = 1 }) do assert.is_table(all[n], n) end
    assert.is_nil(all[9])
    assert.is_nil(all[8])
    assert.are.equal('{"project_number": 5, "n": {"project_number": 9}}', t:sub(all[5][1], all[5][2]))
    for _, numbers in ipairs({ { 5 }, { 7, 6 }, { 9, 1, 2 }, {}, { 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 } }) do
      assert.are.same(core.held(t, as, ae, "project_number", numbers),
        core.held(t, as, ae, "project_number", numbers, index))
    end
  end)

  it("gives no index for an array member that is absent, given twice or not an array", function()
    for _, t in ipairs({ '{"a": 1}', '{"active_projects": {}}', '{"active_projects": [], "active_projects": []}',
      '[{"active_projects": []}]' }) do
      assert.is_nil(select(4, core.scan(t, TOP, "active_projects", "project_number")), t)
    end
  end)

  it("an index is used only for the text, array and field it was made of", function()
    local t = '{"active_projects": [{"project_number": 1}, {"id": 2}]}'
    local _, _, top, index = core.scan(t, TOP, "active_projects", "project_number")
    local as, ae = top.active_projects[1], top.active_projects[2]
    local function span(text, elem) local i = text:find(elem, 1, true) return { i, i + #elem - 1 } end
    local other = '{"active_projects": [{"project_number": 3}, {"id": 4}]}' -- same length, other text
    assert.are.same({ [3] = span(other, '{"project_number": 3}') },
      core.held(other, as, ae, "project_number", nil, index))
    assert.are.same({ [2] = span(t, '{"id": 2}') }, core.held(t, as, ae, "id", nil, index))
    assert.are.same({ [1] = span(t, '{"project_number": 1}') }, core.held(t, as, ae, "project_number", nil, index))
    index:close() -- lets go of the text; held() walks again, with the same answer
    assert.are.same({ [1] = span(t, '{"project_number": 1}') }, core.held(t, as, ae, "project_number", nil, index))
    index:close()
  end)
end)

describe("core.integer", function()
  local function int(lit) return core.integer(lit, 1, #lit) end

  it("reads integer literals as Lua integers", function()
    assert.are.equal(239, int("239"))
    assert.are.equal(0, int("0"))
    assert.are.equal(-7, int("-7"))
    assert.are.equal("integer", math.type(int("239")))
  end)

  it("reads -0 as 0", function()
    assert.are.equal(0, int("-0"))
    assert.are.equal("integer", math.type(int("-0")))
  end)

  it("reads the int64 edges and rejects one past them", function()
    assert.are.equal(math.maxinteger, int("9223372036854775807"))
    assert.are.equal(math.mininteger, int("-9223372036854775808"))
    assert.are.same({nil, "out of range"}, {int("9223372036854775808")})
    assert.are.same({nil, "out of range"}, {int("-9223372036854775809")})
    assert.are.same({nil, "out of range"}, {int("18446744073709551616")})
    assert.are.same({nil, "out of range"}, {int(("9"):rep(400))})
    assert.are.same({nil, "out of range"}, {int("-" .. ("1"):rep(40))})
  end)

  it("refuses anything but an integer literal", function()
    for _, t in ipairs{"5.0", "1e2", "1E2", '"5"', "null", "true", "[5]", "{}", "01", "-01",
                       "+5", "0x10", "-", "5.", "99999999999999999999.5"} do
      assert.are.same({nil, "not an integer"}, {int(t)})
    end
  end)

  it("refuses spans that include whitespace", function()
    assert.are.same({nil, "not an integer"}, {core.integer(" 5", 1, 2)})
    assert.are.same({nil, "not an integer"}, {core.integer("5 ", 1, 2)})
    assert.are.equal(5, core.integer(" 5 ", 2, 2))
  end)

  it("reads the value of a member span", function()
    local t = '{"next_project_number": 998}'
    local s, e = valid(t)
    assert.are.equal(998, core.integer(t, core.member(t, s, e, "next_project_number")))
  end)
end)

describe("splicing next_project_number", function()
  -- What an allocation does: replace the bytes of the value, nothing else.
  local function splice(text, value)
    local s, e = valid(text)
    local vs, ve = core.member(text, s, e, "next_project_number")
    assert.is_not_nil(vs, ve)
    local out = text:sub(1, vs - 1) .. value .. text:sub(ve + 1)
    assert.are.equal(text:sub(1, vs - 1), out:sub(1, vs - 1))
    assert.are.equal(text:sub(ve + 1), out:sub(vs + #value))
    local s2, e2 = valid(out)
    local ws, we = core.member(out, s2, e2, "next_project_number")
    assert.are.same({vs, vs + #value - 1}, {ws, we})
    assert.are.equal(tonumber(value), core.integer(out, ws, we))
    return out
  end

  it("changes only the value's bytes, whatever the layout", function()
    local docs = {
      '{"next_project_number":9,"x":"next_project_number"}',
      '\xEF\xBB\xBF{\r\n  "a": "{\\"next_project_number\\": 1}",\r\n  "next_project_number": 99\r\n}',
      '{\n  "p": {"next_project_number": 3},\n  "next\\u005fproject_number" : 999\n}\n',
    }
    for _, doc in ipairs(docs) do
      for _, v in ipairs{"0", "1000", "-1", "9223372036854775807"} do
        splice(doc, v)
      end
    end
    assert.are.equal('{"next_project_number":10,"x":"next_project_number"}', splice(docs[1], "10"))
  end)
end)

-- The real state files in ../shared/fixtures (read in place, never copied).
local fixtures = "../shared/fixtures/"
local function read(name)
  local f = io.open(fixtures .. name, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

describe("real state files", function()
  for name, want in pairs{["opencode-state-next239.json"] = {239, 12},
                          ["claude-state-next82.json"] = {82, 21},
                          ["claude-state-next1001-past-max.json"] = {1001, 20}} do
    local text = read(name)
    local test = text and it or pending
    test(name .. ": next_project_number and active project numbers", function()
      local s, e = valid(text)
      local vs, ve = core.member(text, s, e, "next_project_number")
      assert.are.equal(want[1], core.integer(text, vs, ve))
      local as, ae = core.member(text, s, e, "active_projects")
      local spans = core.elements(text, as, ae)
      assert.are.equal(want[2] * 2, #spans)
      for i = 1, #spans, 2 do
        local ps, pe = core.member(text, spans[i], spans[i + 1], "project_number")
        assert.are.equal("integer", math.type(core.integer(text, ps, pe)))
      end
      -- the splice an allocation makes changes one line of the file
      local out = text:sub(1, vs - 1) .. "240" .. text:sub(ve + 1)
      valid(out)
      local changed = 0
      local old_lines, new_lines = {}, {}
      for l in (text .. "\n"):gmatch("(.-)\n") do old_lines[#old_lines + 1] = l end
      for l in (out .. "\n"):gmatch("(.-)\n") do new_lines[#new_lines + 1] = l end
      assert.are.equal(#old_lines, #new_lines)
      for i = 1, #old_lines do
        if old_lines[i] ~= new_lines[i] then changed = changed + 1 end
      end
      assert.are.equal(1, changed)
    end)
  end
end)
