-- Help that answers (issue 14, item 1): every command's --help, -h and
-- `tasknum help CMD` print its usage, options and exit codes on stdout and
-- exit 0, no JSON; the global usage has one line per command and names the
-- exit codes; an unknown command suggests near misses, never appends a
-- .lua, never lists policies. Each command declares its options once
-- (tasknum.cli.command) and the parser reads the same declaration: every
-- option the help lists is one the command accepts.
local H = require "spec_helper"

-- The commands the global usage lists, in order.
local function listed()
  local out = H.run({ "--help" })
  local block = assert(out:match("\ncommands:\n(.-)\n\n"), "no commands block in:\n" .. out)
  local names = {}
  for line in block:gmatch("[^\n]+") do
    local name = line:match("^  (%S+)   ")
    if name then names[#names + 1] = name end
  end
  return names, block, out
end

-- The options a help text lists: { "--count" = "N" or true }
local function options_of(text)
  local block = assert(text:match("\noptions:\n(.-)\n\n"), "no options in:\n" .. text)
  local opts = {}
  for line in block:gmatch("[^\n]+") do
    local name, value = line:match("^  (%-%-[%w%-]+) ?(%S*)")
    if name then opts[name] = value ~= "" and value or true end
  end
  return opts
end

describe("help", function()
  after_each(H.cleanup)

  it("the global usage: one line per command, help among them, the exit codes named", function()
    local names, block, out = listed()
    -- every shipped script, and help and run: a new command is listed by being there
    local expected = { "help", "run" }
    for name in H.capture("cd " .. H.q(H.root .. "/scripts") .. " && ls *.lua"):gmatch("([^\n]+)%.lua") do
      expected[#expected + 1] = name
    end
    table.sort(expected)
    assert.are.same(expected, names)
    for _, name in ipairs({ "add-task", "allocate", "check", "init", "lock", "set", "status", "todo" }) do
      assert.is_truthy(out:find("\n  " .. name .. " ", 1, true), name .. " is not listed")
    end
    for line in block:gmatch("[^\n]+") do
      assert.matches("^  %S+%s+%S", line, "a command's summary takes more than one line: " .. line)
      assert.is_true(#line <= 79, "too wide: " .. line)
    end
    for code, status in pairs(require("tasknum.errors").exit) do
      local shown = code == "INTERRUPTED" and "130/143 INTERRUPTED" or (status .. " " .. code)
      assert.matches(shown, out:gsub("\n", " "), 1, true)
    end
    assert.matches("0 success", out, 1, true)
    -- -h is --help; no arguments at all is the usage on stderr, exit 64
    assert.are.equal(out, (H.run({ "-h" })))
    local stdout, code, err = H.run({})
    assert.are.equal(64, code)
    assert.are.equal("", stdout)
    assert.are.equal(out, err)
  end)

  it("CMD --help, CMD -h and help CMD: the same text on stdout, exit 0, no JSON, for every command", function()
    local names = listed()
    local dir = H.project(H.state_text(3))
    for _, name in ipairs(names) do
      local out, code, err = H.run({ name, "--help" }, { cwd = dir })
      assert.are.equal(0, code, name .. ": " .. out .. err)
      assert.are.equal("", err, name)
      assert.matches("^usage: tasknum " .. name:gsub("%-", "%%-") .. "[ \n]", out)
      assert.matches("\noptions:\n", out, 1, true)
      assert.matches("\n  %-h, %-%-help ", out)
      assert.matches("\nexit status:\n", out, 1, true)
      assert.is_nil(out:find("{", 1, true) == 1 and out or nil, "JSON from " .. name .. " --help")
      local help, hcode = H.run({ "help", name }, { cwd = dir })
      assert.are.equal(0, hcode)
      assert.are.equal(out, help, "help " .. name .. " differs from " .. name .. " --help")
      if name ~= "run" then
        local short = H.run({ name, "-h" }, { cwd = dir })
        assert.are.equal(out, short, name .. " -h")
      end
    end
    -- nothing ran: the state is as it was, no audit line
    assert.are.equal(H.state_text(3), H.read(dir .. "/.opencode/specs/state.json"))
    assert.is_nil(H.read(dir .. "/.opencode/specs/.state.json.audit.jsonl"))
  end)

  it("lists exactly the options each command accepts (one declaration for the parser and the help)", function()
    local dir = H.project(H.state_text(3))
    for _, name in ipairs(listed()) do
      if name ~= "help" and name ~= "run" then
        local opts = options_of((H.run({ name, "--help" })))
        for opt, value in pairs(opts) do
          -- the parser knows it: with its value it is taken, and --help after it answers
          local args = { name, opt }
          if value ~= true then args[#args + 1] = "1" end
          args[#args + 1] = "--help"
          local out, code = H.run(args, { cwd = dir })
          assert.are.equal(0, code, table.concat(args, " ") .. ": " .. out)
          assert.matches("^usage: ", out)
          if value ~= true then
            -- a value option without its value is refused by that parser
            local r, c = H.run({ name, opt }, { cwd = dir })
            assert.are_not.equal(0, c, name .. " " .. opt .. " without a value: " .. r)
          end
        end
        local out, code = H.run({ name, "--no-such-option", "--help" }, { cwd = dir })
        assert.are_not.equal(0, code, name .. " took an option its help does not list: " .. out)
      end
    end
    local allocate = options_of((H.run({ "allocate", "--help" })))
    assert.are.same({ ["--count"] = "N", ["--purpose"] = "TEXT", ["--purpose-file"] = "FILE|-",
      ["--state"] = "PATH", ["--timeout"] = "S",
      ["--stale"] = "S", ["--format"] = "F", ["--todo"] = "PATH", ["--no-todo"] = true, ["--verbose"] = true,
      ["--authority"] = "SPEC" },
      allocate)
  end)

  it("names each command's exit codes", function()
    local out = H.run({ "help", "allocate" })
    for _, line in ipairs({ "  0 ", "  64 ", "INVALID_ARGUMENT: ", "  69 ", "NUMBER_CONFLICT: ", "  75 ",
      "  77 ", "UNTRUSTED: " }) do
      assert.matches(line, out, 1, true)
    end
    out = H.run({ "help", "lock" })
    assert.matches("  127 ", out, 1, true)
    assert.matches("COMMAND's exit status", out, 1, true)
    out = H.run({ "todo", "--help" })
    assert.matches("  1 ", out, 1, true)
  end)

  it("an unknown command: did you mean, what exists, no .lua it was not given, no policy files", function()
    local dir = H.project(H.state_text(3))
    H.write(dir .. "/.opencode/tasknum/conflict.lua", "return require 'tasknum.policy.conflict'\n")
    H.write(dir .. "/.opencode/tasknum/commands/deploy.lua", "print('deployed')\n")
    local cases = {
      { "alocate", "did you mean allocate?" }, { "allocat", "did you mean allocate?" },
      { "stat", "did you mean stats or status?" }, { "dploy", "did you mean deploy?" },
      { "help-me", nil },
    }
    for _, c in ipairs(cases) do
      local r, code, err = H.run_json({ c[1] }, { cwd = dir })
      assert.are.equal(64, code)
      assert.are.equal("INVALID_ARGUMENT", r.error_code)
      assert.matches("unknown command: " .. c[1]:gsub("%-", "%%-") .. "[;% ]", r.error_message)
      if c[2] then assert.matches(c[2], r.error_message, 1, true) end
      assert.is_nil(r.error_message:find(c[1] .. ".lua", 1, true), "a .lua was appended")
      assert.matches("allocate, check", r.error_message, 1, true)
      assert.matches("deploy", r.error_message, 1, true)
      assert.is_nil(r.error_message:find("conflict", 1, true), "a policy listed as a command")
      assert.matches(c[2] or "unknown command", err, 1, true) -- the hint reaches stderr too
    end
    -- help of an unknown command is the same error
    local r, code = H.run_json({ "help", "alocate" }, { cwd = dir })
    assert.are.equal(64, code)
    assert.matches("did you mean allocate?", r.error_message, 1, true)
  end)

  it("run takes a name it lists, with or without .lua", function()
    local dir = H.project(H.state_text(3))
    local r, code = H.run_json({ "run", "allocate" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.same({ 3 }, r.allocated_numbers)
    r, code = H.run_json({ "run", "allocate.lua", "--count", "2" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.are.same({ 4, 5 }, r.allocated_numbers)
    r, code = H.run_json({ "run", "nope" }, { cwd = dir })
    assert.are.equal(64, code)
    assert.matches("unknown command: nope ", r.error_message, 1, true)
    local out, hcode = H.run({ "run", "--help" })
    assert.are.equal(0, hcode)
    assert.matches("^usage: tasknum run SCRIPT %[ARGS%.%.%.%]", out)
  end)

  it("a team command's declaration: in the list, its --help, help without running it", function()
    local dir = H.project(H.state_text(3))
    local marker = dir .. "/ran"
    H.write(dir .. "/.opencode/tasknum/commands/deploy.lua", string.format([[
      local cli = require "tasknum.cli"
      local command = cli.command {
        summary = "deploy the numbered tasks",
        options = { { "--target", "string", "HOST", "where to deploy" },
                    { "--dry-run", "flag", false, "say what would be done" } },
      }
      local opts = cli.parse({ ... }, command)
      io.open(%q, "w"):close()
      print("deploying to " .. tostring(opts.target), opts.dry_run)
    ]], marker))
    -- the top of a script that does things before declaring is never run by help
    H.write(dir .. "/.opencode/tasknum/commands/eager.lua", string.format([[
      io.open(%q, "w"):close()
      local cli = require "tasknum.cli"
      cli.command { summary = "too eager" }
    ]], marker))
    H.write(dir .. "/.opencode/tasknum/commands/plain.lua", "print('plain')\n")
    local out = H.run({ "--help" }, { cwd = dir })
    assert.matches("\nteam commands %(" .. dir:gsub("%p", "%%%0") .. "/%.opencode/tasknum/commands%):\n"
      .. "  deploy   deploy the numbered tasks\n  eager    %(declares nothing: tasknum help eager%)\n"
      .. "  plain    %(declares nothing: tasknum help plain%)\n", out)
    assert.is_nil(H.read(marker), "the usage ran a command")
    out = H.run({ "help", "deploy" }, { cwd = dir })
    assert.matches("^usage: tasknum deploy %[OPTIONS%]\n\nDeploy the numbered tasks%.\n", out)
    assert.are.same({ ["--target"] = "HOST", ["--dry-run"] = true }, options_of(out))
    assert.is_nil(H.read(marker), "help ran the command")
    local eager, code = H.run({ "help", "eager" }, { cwd = dir })
    assert.are.equal(0, code)
    assert.matches("declares no options", eager, 1, true)
    assert.matches("describing it stopped at: ", eager, 1, true)
    assert.is_nil(H.read(marker), "help ran the top of the command")
    local plain = H.run({ "help", "plain" }, { cwd = dir })
    assert.matches("declares no options", plain, 1, true)
    assert.are.equal(out, (H.run({ "deploy", "--help" }, { cwd = dir })))
    assert.is_nil(H.read(marker))
    assert.are.equal("deploying to web1\ttrue\n", (H.run({ "deploy", "--target=web1", "--dry-run" }, { cwd = dir })))
    local r, bad = H.run_json({ "deploy", "--tagret", "x" }, { cwd = dir })
    assert.are.equal(64, bad)
    assert.matches("unknown option --tagret", r.error_message, 1, true)
  end)

  it("every shipped command declares a one-line summary and every error code has a meaning", function()
    local errors = require "tasknum.errors"
    for code in pairs(errors.exit) do
      assert.is_string(errors.meaning[code], "no meaning for " .. code)
    end
    for name in H.capture("cd " .. H.q(H.root .. "/scripts") .. " && ls *.lua"):gmatch("([^\n]+)%.lua") do
      local out, code = H.run({ "help", name })
      assert.are.equal(0, code, name)
      assert.matches("^usage: tasknum " .. name:gsub("%-", "%%-") .. "[^\n]*\n.-\n%u[^\n]*%.\n", out)
      assert.is_nil(out:find("declares no options", 1, true), name .. " declares nothing")
    end
  end)
end)

describe("the README's team command", function()
  after_each(H.cleanup)

  it("runs as pasted: listed, its --help from the declaration, its options parsed", function()
    local readme = H.read(H.root .. "/README.md")
    local section = assert(readme:match("\n### A command of the team's own\n(.-)\n## "))
    local code = assert(section:match("```lua\n(.-)```"), "no Lua block")
    local path = assert(code:match("^%-%- (%S+):"), "the block does not name its file")
    local dir = H.project(H.state_text(3))
    H.write(dir .. "/" .. path, code)
    local out = H.run({ "--help" }, { cwd = dir })
    assert.matches("\n  review   add a review task for SLUG\n", out, 1, true)
    out = H.run({ "review", "--help" }, { cwd = dir })
    assert.matches("^usage: tasknum review %[OPTIONS%]\n", out)
    assert.matches("\n  %-%-name SLUG +the task to review\n", out)
    assert.matches("\n  %-%-dry%-run +print the number only\n", out)
    local _, status = H.run({ "review", "--name", "x", "--dry-run" }, { cwd = dir })
    assert.are.equal(0, status)
    local r, bad = H.run_json({ "review", "--nmae", "x" }, { cwd = dir })
    assert.are.equal(64, bad)
    assert.are.equal("INVALID_ARGUMENT", r.error_code)
  end)
end)
