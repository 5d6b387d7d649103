-- textargs_spec.lua: an agent's text reaches the state without shell
-- quoting (issue 14 item 3, and its "Done when"): --description-file and
-- --purpose-file read FILE or stdin, and the README's drop-in blocks are
-- run AS PASTED, by sh, with hostile text put in for their placeholders;
-- the saved description (and the logged purpose) must be that text byte
-- for byte, and nothing in it may run.
local H = require "spec_helper"
local cjson = require "cjson"

local README = H.root .. "/README.md"

-- The fenced block that follows the marker comment `<!-- drop-in: NAME`
-- in the README, as it stands there.
local function block(name)
  local text = assert(H.read(README))
  local at = assert(text:find("<!-- drop-in: " .. name, 1, true), "no drop-in block " .. name .. " in README.md")
  local body = text:match("```%w*\n(.-)```", at)
  return assert(body, "no code block after the marker " .. name)
end

-- Texts an agent may be handed: everything a shell would act on, outside
-- a quoted heredoc.
local HOSTILE = {
  "Fix `touch PWNED1` and $(touch PWNED2) in ${HOME} / $HOME, \"double\" and 'single' quotes",
  "back\\slash \\n \\\\ and a line ending in a backslash \\\nnext line",
  "several\nlines\n\nwith a blank one,\n\tleading tab, trailing spaces   \nEOF\nand a line that is EOF above",
  "; touch PWNED3 && echo pwned | tee PWNED4 # a comment\n*?[glob] ~root !history $'\\x41' %s %d",
  "ends with newlines\n\n",
  "\nstarts with a newline",
  "ünïcødé — ✓, \u{1F600}, and CR LF line ends\r\nand a last CR\r",
  "TASKNUM_END but not alone on its line; and TASKNUM_END  with spaces after:\nTASKNUM_END ",
  "",
}

local function entry_of(path, name)
  local text = assert(H.read(path))
  local state = cjson.decode(text)
  local found = {}
  for _, e in ipairs(state.active_projects) do
    if e.project_name == name then found[#found + 1] = e end
  end
  return found
end

-- Runs a shell script (text) with sh in dir, the built tasknum first on PATH.
local function sh(dir, script)
  H.write(dir .. "/step.sh", script)
  return H.run({ "step.sh" }, { cwd = dir, bin = "sh", prefix = "PATH=" .. H.q(H.build) .. ":$PATH",
    env = { HOME = dir .. "/home" } })
end

local function no_pwned(dir)
  local listed = H.ls(dir)
  assert.is_nil(listed:find("PWNED", 1, true), "the text ran: " .. listed)
end

describe("the README's drop-in blocks, run as pasted", function()
  after_each(H.cleanup)

  it("add-task: every hostile description is saved byte for byte, and none of it runs", function()
    local snippet = block("add-task")
    assert.matches("<<'TASKNUM_END'", snippet, 1, true)
    for i, text in ipairs(HOSTILE) do
      local dir, path = H.project(H.state_text(40 + i))
      local slug = "task_" .. i
      local filled = snippet:gsub("SLUG", slug):gsub("LANGUAGE", "lean4")
        :gsub("DESCRIPTION", function() return text end)
      local out, code = sh(dir, filled)
      assert.are.equal(0, code, "text " .. i .. ": " .. out)
      local r = cjson.decode(out)
      assert.are.same({ "success", 40 + i, false }, { r.status, r.project_number, r.existing })
      local found = entry_of(path, slug)
      assert.are.equal(1, #found)
      assert.are.equal(text, found[1].description, "text " .. i .. " was not saved byte for byte")
      assert.are.equal("lean4", found[1].language)
      no_pwned(dir)
      -- the same block again (a retry after a lost answer): the same task, nothing written
      local before = H.read(path)
      out, code = sh(dir, filled)
      assert.are.equal(0, code, out)
      r = cjson.decode(out)
      assert.are.same({ true, 40 + i }, { r.existing, r.project_number })
      assert.are.equal(before, H.read(path))
    end
  end)

  it("allocate: the hostile purpose is logged byte for byte, and n holds the number", function()
    local snippet = block("allocate")
    for i, text in ipairs(HOSTILE) do
      local dir, path = H.project(H.state_text(7 * i))
      local filled = snippet:gsub("PURPOSE", function() return text end)
      local out, code = sh(dir, filled .. "printf 'n=%s\\n' \"$n\"\n")
      assert.are.equal(0, code, out)
      assert.are.equal("n=" .. (7 * i) .. "\n", out)
      local log = assert(H.read(path:gsub("state%.json$", ".state.json.audit.jsonl")))
      local last = cjson.decode(log:match("([^\n]+)\n$"))
      assert.are.equal(text, last.purpose, "purpose " .. i .. " was not logged byte for byte")
      no_pwned(dir)
    end
  end)

  it("no tasknum line of a README example puts text in double quotes, or leaves a JSON --field unquoted", function()
    local text = assert(H.read(README))
    local lang, n, bad = nil, 0, {}
    for line in (text .. "\n"):gmatch("(.-)\n") do
      n = n + 1
      local fence = line:match("^%s*```(%w*)")
      if fence then
        lang = not lang and fence or nil
      elseif lang and (lang == "sh" or lang == "bash" or line:match("^%$ ")) then
        -- the arguments of each tasknum on the line, up to ; | & ) outside single quotes
        local from = 1
        while true do
          local at = line:find("tasknum ", from, true)
          if not at then break end
          local sq, i = false, at
          while i <= #line do
            local c = line:sub(i, i)
            if c == "'" then sq = not sq
            elseif not sq and c:match("[;|&)#]") then break
            elseif not sq and c == '"' then bad[#bad + 1] = n .. ": " .. line break
            end
            i = i + 1
          end
          for word in line:sub(at, i - 1):gmatch("%-%-field%s+(%S+)") do
            if word:find("[%[%]{}*?]") and word:sub(1, 1) ~= "'" then bad[#bad + 1] = n .. ": " .. line end
          end
          from = i
        end
      end
    end
    assert.are.same({}, bad)
  end)
end)

describe("--description-file and --purpose-file", function()
  after_each(H.cleanup)

  it("read FILE, or stdin for -, dropping one final newline only", function()
    local dir, path = H.project(H.state_text(5))
    local file = dir .. "/desc.txt"
    H.write(file, "two trailing newlines\n\n")
    local r, code = H.run_json({ "add-task", "--name", "a", "--description-file", file }, { cwd = dir })
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("two trailing newlines\n", entry_of(path, "a")[1].description)
    H.write(file, "no newline at all")
    H.run_json({ "add-task", "--name", "b", "--description-file=" .. file }, { cwd = dir })
    assert.are.equal("no newline at all", entry_of(path, "b")[1].description)
    r = H.run_json({ "add-task", "--name", "c", "--description-file", "-" },
      { cwd = dir, stdin = true, prefix = "printf 'from stdin\\r\\n' |" })
    assert.are.equal("success", r.status, r.error_message)
    assert.are.equal("from stdin\r", entry_of(path, "c")[1].description)
    r = H.run_json({ "allocate", "--purpose-file", "-" }, { cwd = dir, stdin = true, prefix = "printf 'why' |" })
    assert.are.equal("why", r.purpose)
  end)

  it("refuse what cannot be read, or said twice, writing nothing beside the state", function()
    local dir, path = H.project(H.state_text(5))
    local big = dir .. "/big.txt"
    os.execute("head -c " .. (4 * 1024 * 1024 + 1) .. " /dev/zero | tr '\\0' x > " .. H.q(big))
    for _, case in ipairs({
      { { "add-task", "--name", "a", "--description", "x", "--description-file", big }, "exclude each other" },
      { { "add-task", "--name", "a", "--description-file", dir .. "/missing" }, "No such file" },
      { { "add-task", "--name", "a", "--description-file", dir }, "cannot read" },
      { { "add-task", "--name", "a", "--description-file", big }, "more than 4194304 bytes" },
      { { "add-task", "--name", "a", "--description-file", "-", "--purpose-file", "-" }, "cannot both read stdin" },
      { { "allocate", "--purpose", "x", "--purpose-file", big }, "exclude each other" },
    }) do
      local r, code, err = H.run_json(case[1], { cwd = dir })
      assert.are.same({ "INVALID_ARGUMENT", 64 }, { r.error_code, code }, table.concat(case[1], " "))
      assert.matches(case[2], r.error_message, 1, true)
      assert.matches("tasknum: INVALID_ARGUMENT: ", err, 1, true)
    end
    assert.are.equal(H.state_text(5), H.read(path))
    assert.are.equal("state.json ", H.ls(dir .. "/.opencode/specs"))
  end)

  it("--help anywhere answers without reading the file", function()
    local out, code = H.run({ "add-task", "--description-file", "/nonexistent", "--help" })
    assert.are.equal(0, code)
    assert.matches("%-%-description%-file FILE|%-", out)
    assert.matches("%-%-purpose%-file FILE|%-", out)
  end)
end)
