-- terminal_spec.lua: a person at a terminal (issue 14 item 9). With stdout
-- on a terminal and no --format, a command prints a short line for people
-- (tasknum.format.text); piped, the answer stays one line of JSON, and
-- --format json forces JSON at a terminal too. Runs the binary on a real
-- pseudo-terminal (spec/support/onterminal.py, python3's pty module).
local H = require "spec_helper"
local cjson = require "cjson"

-- tty(args, {cwd, env}) -> what the terminal showed (CR LF made LF), exit
-- code, stderr: the binary with its stdout on the pseudo-terminal that
-- script(1) (util-linux, always there) makes, stderr into a file.
local function tty(args, opts)
  opts = opts or {}
  local errfile = os.tmpname()
  local words = { H.q(H.bin) }
  for _, a in ipairs(args) do words[#words + 1] = H.q(a) end
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. H.q(v) end
  local line = "cd " .. H.q(opts.cwd or ".") .. " && env " .. table.concat(env, " ") .. " "
    .. table.concat(words, " ") .. " 2>" .. H.q(errfile)
  local p = io.popen("timeout 30 script -q -e -c " .. H.q(line) .. " /dev/null </dev/null")
  local out = p:read("a")
  local _, _, code = p:close()
  local err = H.read(errfile)
  os.remove(errfile)
  return (out:gsub("\r\n", "\n")), code, err
end

local function is_json(text)
  return (pcall(cjson.decode, text)) and text:sub(1, 1) == "{"
end

describe("at a terminal", function()
  after_each(H.cleanup)

  it("allocate prints the numbers for people; piped it prints JSON; --format json forces JSON", function()
    local dir, path = H.project(H.state_text(5))
    local out, code, err = tty({ "allocate", "--count", "2" }, { cwd = dir })
    assert.are.same({ 0, "" }, { code, err })
    assert.are.equal("5 6 (next is 7, in " .. path .. ")\n", out)
    out = tty({ "allocate", "--format", "json" }, { cwd = dir })
    assert.is_true(is_json(out), out)
    assert.are.same({ 7 }, cjson.decode(out).allocated_numbers)
    out = H.run({ "allocate" }, { cwd = dir })
    assert.are.same({ 8 }, cjson.decode(out).allocated_numbers)
    out = tty({ "allocate", "--format", "plain" }, { cwd = dir })
    assert.are.equal("9\n", out)
  end)

  it("add-task says what it added and gives the TODO.md heading; control characters are shown, not obeyed",
    function()
    local dir, path = H.project(H.state_text(5))
    local out, code = tty({ "add-task", "--name", "fix_parser", "--title", "Fix \27[31mred\27[0m" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.equal("added task 5 (fix_parser) to " .. path .. "; next is 6\n### 5. Fix \\x1b[31mred\\x1b[0m\n", out)
    out = tty({ "add-task", "--name", "fix_parser", "--if-absent" }, { cwd = dir })
    assert.are.equal("task 5 (fix_parser) is there already; nothing was written\n", out)
  end)

  it("a failure prints nothing on the terminal; the stderr line says what and what to do", function()
    local dir = H.tmpdir()
    local out, code, err = tty({ "allocate" }, { cwd = dir })
    assert.are.same({ "", 66 }, { out, code })
    assert.matches("^tasknum: STATE_NOT_FOUND: no state file found; looked for", err)
    out, code, err = tty({ "init", "--layout", "bogus" }, { cwd = dir })
    assert.are.same({ "", 64 }, { out, code })
    assert.matches("^tasknum: INVALID_ARGUMENT: %-%-layout takes claude", err)
    out, code, err = tty({ "alocate" }, { cwd = dir })
    assert.are.same({ "", 64 }, { out, code })
    assert.matches("did you mean allocate?", err, 1, true)
    -- --format json: the JSON answer, failures included
    out, code = tty({ "allocate", "--format", "json" }, { cwd = dir })
    assert.are.equal(66, code)
    assert.are.equal("STATE_NOT_FOUND", cjson.decode(out).error_code)
  end)

  it("init, set, sync, check, todo each say it in a line or two", function()
    local dir = H.tmpdir()
    local out, code = tty({ "init", "--layout", "claude", "--next", "5" }, { cwd = dir })
    assert.are.equal(0, code)
    local path = dir .. "/specs/state.json"
    assert.matches("^created " .. path:gsub("%p", "%%%0") .. " %(claude layout%): next 5, range 0%.%.999\n"
      .. "not in a git working tree; if this folder is ever committed, put these lines in "
      .. (dir .. "/specs/.gitignore"):gsub("%p", "%%%0") .. ":\n  # tasknum: ", out)
    assert.matches("\n  /.state.json.lock\n", out, 1, true)
    out = tty({ "set", "--next", "9" }, { cwd = dir })
    assert.are.equal("next_project_number 5 -> 9 in " .. path .. "\n", out)
    out = tty({ "set", "--next", "9" }, { cwd = dir })
    assert.are.equal("nothing to change in " .. path .. ": next 9, range 0..999\n", out)
    out = tty({ "sync" }, { cwd = dir })
    assert.are.equal("the counter and the numbering's mark agree: next 9\n", out)
    out = tty({ "check" }, { cwd = dir })
    assert.are.equal("no problems in " .. path .. "\n", out)
    H.write(dir .. "/specs/TODO.md", "---\nnext_project_number: 3\n---\n")
    out, code = tty({ "todo", "--check" }, { cwd = dir })
    assert.are.same({ "", 1 }, { out, code })
    out = tty({ "todo" }, { cwd = dir })
    assert.are.equal("set " .. dir .. "/specs/TODO.md's next_project_number: to 9 (it was 3)\n", out)
    out = tty({ "todo", "--check" }, { cwd = dir })
    assert.are.equal(dir .. "/specs/TODO.md is in step with the state: next 9\n", out)
    -- and every one of them prints its JSON answer when asked, at the terminal too
    for _, args in ipairs({ { "check", "--format", "json" }, { "todo", "--check", "--format", "json" },
                            { "sync", "--format", "json" }, { "set", "--next", "9", "--format", "json" } }) do
      out = tty(args, { cwd = dir })
      assert.is_true(is_json(out), table.concat(args, " ") .. ": " .. out)
    end
  end)

  it("status stays the text it always was", function()
    local dir, path = H.project(H.state_text(5))
    local out = tty({ "status" }, { cwd = dir })
    assert.matches("^state        " .. path:gsub("%p", "%%%0") .. "\nnext         5 %(range 0%.%.999%)\n", out)
  end)
end)
