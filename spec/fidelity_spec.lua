-- Byte fidelity: an allocation changes the counter's digits and nothing else,
-- whatever the file looks like; mode and symlinks are kept.
local H = require "spec_helper"

-- Templates: "@N@" stands for the counter literal.
local CASES = {
  minified = '{"a":{"next_project_number":5},"s":"}{\\"next_project_number\\": 9",'
    .. '"next_project_number":@N@,"x":[1,2,{"next_project_number":3}]}',
  crlf_no_final_newline = '{\r\n  "title": "caf\\u00e9 \\"quoted\\" {braces} [x]",\r\n'
    .. '  "next_project_number": @N@,\r\n  "ratio": 8.0\r\n}',
  bom_unicode = '\239\187\191{\n  "name": "Ünïcödé ✓ 日本",\n  "path": "a/b",\n'
    .. '  "next_project_number" : @N@ ,\n  "big": 1.50e+3\n}\n',
  counter_last_tabs = '{\n\t"active_projects": [\n\t\t{"project_number": 900, '
    .. '"meta": {"next_project_number": 1}}\n\t],\n\t"next_project_number":@N@}\n',
  escaped_key_elsewhere = '{"next_project_numbers": 1, "xnext_project_number": 2, '
    .. '"pending": [{"next_project_number": 77}], "next_project_number": @N@}\n',
}

local function fill(template, n) return (template:gsub("@N@", tostring(n))) end

describe("byte fidelity", function()
  after_each(H.cleanup)

  for name, template in pairs(CASES) do
    it("changes only the counter: " .. name, function()
      local dir, path = H.project(fill(template, 41))
      local r = H.run_json({ "allocate", "--count", "2" }, { cwd = dir })
      assert.are.equal("success", r.status, r.error_message)
      assert.are.same({ 41, 42 }, r.allocated_numbers)
      assert.are.equal(fill(template, 43), H.read(path))
    end)
  end

  it("keeps the file's mode", function()
    local dir, path = H.project(H.state_text(5))
    os.execute("chmod 0640 " .. H.q(path))
    H.run({ "allocate" }, { cwd = dir })
    assert.are.equal("640", (H.sh("stat -c %a " .. H.q(path)):gsub("%s", "")))
  end)

  it("updates a symlinked state at its target and keeps the link", function()
    local dir = H.tmpdir()
    local real = dir .. "/real/state.json"
    H.write(real, H.state_text(5))
    os.execute("mkdir -p " .. H.q(dir .. "/.opencode/specs"))
    os.execute("ln -s ../../real/state.json " .. H.q(dir .. "/.opencode/specs/state.json"))
    local r = H.run_json({ "allocate" }, { cwd = dir })
    assert.are.equal("success", r.status)
    assert.are.equal(H.state_text(6), H.read(real))
    assert.matches("^link", H.sh("stat -c %F " .. H.q(dir .. "/.opencode/specs/state.json")):gsub("symbolic ", ""))
  end)
end)

describe("the real state files in ../shared/fixtures", function()
  after_each(H.cleanup)
  -- H.sh merges stderr into what it returns: list only files that exist
  local names = H.sh("for f in " .. H.q(H.shared .. "/fixtures") .. "/*.json; do "
    .. '[ -f "$f" ] && echo "$f"; done; true')
  if names == "" then
    pending("../shared/fixtures is not beside the checkout")
    return
  end
  for file in names:gmatch("[^\n]+") do
    it("one changed line, or STATE_CORRUPT and untouched: " .. file:match("[^/]+$"), function()
      local text = H.read(file)
      local dir, path = H.project(text)
      local r = H.run_json({ "allocate", "--count", "1" }, { cwd = dir })
      if r.status == "success" then
        local old, new = ("%d"):format(r.previous_next_number), ("%d"):format(r.new_next_number)
        local diff = H.sh("diff " .. H.q(file) .. " " .. H.q(path))
        local removed = select(2, diff:gsub("\n<", "\n<")) + (diff:match("^<") and 1 or 0)
        local added = select(2, diff:gsub("\n>", "\n>"))
        assert.are.equal(1, removed, diff)
        assert.are.equal(1, added, diff)
        assert.matches('"next_project_number": ' .. new, diff, 1, true)
        assert.are.equal(#text + #new - #old, #H.read(path))
      else
        -- the only broken one: a counter past the range
        assert.are.equal("STATE_CORRUPT", r.error_code)
        assert.matches("outside the range", r.error_message, 1, true)
        assert.are.equal(text, H.read(path))
      end
    end)
  end
end)
