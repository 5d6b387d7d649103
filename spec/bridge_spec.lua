-- require "tasknum" from LuaJIT and Lua 5.1 (bridge/tasknum.lua): the same
-- allocate and add_task answers as the Lua 5.4 module, every argument passed
-- as it is, the 5.4-only API refused with a clear message.
local H = require "spec_helper"
local cjson = require "cjson"
local tasknum = require "tasknum"

local LUAS = { luajit = "LuaJIT 2.1", ["lua5.1"] = "Lua 5.1" }

-- Runs chunk under lua (luajit or lua5.1) with the build's bridge and
-- binary; args become arg[1..]; returns stdout, exit code.
local function under(lua, chunk, args, env)
  assert(H.ok("command -v " .. lua .. " >/dev/null"), lua .. " is not installed (sh scripts/setup.sh installs it)")
  local dir = H.tmpdir()
  H.write(dir .. "/chunk.lua", chunk)
  local cmd = (env or ("LUA_PATH=" .. H.q(H.root .. "/bridge/?.lua;;") .. " TASKNUM_BIN=" .. H.q(H.bin)))
    .. " " .. lua .. " " .. H.q(dir .. "/chunk.lua")
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. H.q(a) end
  return H.sh(cmd)
end

-- Strings no shell may interpret: quotes, substitutions, a newline, a
-- leading dash, an option's look.
local NASTY = "it's \"$(touch INJECTED)\" `touch INJECTED`; $HOME\n-x --count=5 \\ a/b"

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return table.concat(keys, " ")
end

for lua, name in pairs(LUAS) do
  describe("require \"tasknum\" under " .. lua, function()
    after_each(H.cleanup)

    it("allocate answers as the 5.4 module does, every argument passed as it is", function()
      local dir, path = H.project(H.state_text(20))
      local out, code = under(lua, [[
        local cjson = require "cjson"
        local tasknum = require "tasknum"
        assert(tasknum.bridge)
        local r = tasknum.allocate{ count = 2, purpose = arg[2], state = arg[1], timeout = 0.5, todo = false }
        print(cjson.encode(r))
      ]], { path, NASTY })
      assert.are.equal(0, code, out)
      local r = cjson.decode(out)
      assert.are.same({ 20, 21 }, r.allocated_numbers)
      assert.are.equal(NASTY, r.purpose)
      assert.is_nil(H.read(dir .. "/INJECTED"))
      assert.is_nil(H.read(H.root .. "/INJECTED"))
      -- the same keys as the Lua 5.4 module's answer
      local native = tasknum.allocate{ count = 2, purpose = NASTY, state = path, todo = false }
      assert.are.same({ 22, 23 }, native.allocated_numbers)
      assert.are.equal(sorted_keys(native), sorted_keys(r))
      assert.matches('"next_project_number": 24,', H.read(path), 1, true)
    end)

    it("add_task puts the entry first in active_projects, fields in the order given", function()
      local _, path = H.project(H.state_text(30, { active = { 3 } }))
      local out, code = under(lua, [[
        local tasknum = require "tasknum"
        local r = tasknum.add_task{ name = "fix_parser", description = arg[2], state = arg[1],
          fields = { { "language", "lean4" }, { "dependencies", { 58, 68 } }, { "path", "a/b" } } }
        print(r.status, r.project_number, r.project_name, r.allocated_numbers[1])
        r = tasknum.add_task{ name = "second", state = arg[1], fields = { zeta = "z", alpha = true } }
        print(r.status, r.project_number)
      ]], { path, NASTY })
      assert.are.equal(0, code, out)
      assert.are.equal("success\t30\tfix_parser\t30\nsuccess\t31\n", out)
      local text = H.read(path)
      local entry = text:match('"active_projects": %[\n    {\n(.-)\n    },\n    {\n      "project_number": 30')
      assert.is_truthy(entry, text)
      assert.matches('"project_number": 31,\n      "project_name": "second",', entry, 1, true)
      assert.matches('"alpha": true,\n      "zeta": "z"$', entry)
      local first = text:match('"project_number": 30,(.-)\n    }')
      assert.matches('"description": ' .. cjson.encode(NASTY):gsub("\\/", "/") .. ',\n      "language": "lean4",\n'
        .. '      "dependencies": [58,68],\n      "path": "a/b"', first, 1, true)
    end)

    it("add_task passes if_absent, title, bookkeeping and authority as the 5.4 module takes them", function()
      local text = H.state_text(40):gsub('"active_projects"', '"last_updated": "2020-01-01T00:00:00Z",\n  "active_projects"')
      local _, path = H.project(text)
      local out, code = under(lua, [[
        local tasknum = require "tasknum"
        local function line(r)
          print(r.status, r.error_code, r.project_number, tostring(r.existing), r.title, #(r.bookkeeping or {}))
        end
        line(tasknum.add_task{ name = "fix_it", state = arg[1], if_absent = true, title = "Fix 'it' $(x)",
          bookkeeping = false, authority = "file" })
        line(tasknum.add_task{ name = "fix_it", state = arg[1], if_absent = true })
        line(tasknum.add_task{ name = "other", state = arg[1], authority = "nonsense:x" })
        print(pcall(tasknum.add_task, { name = "x", if_absent = "yes" }))
      ]], { path })
      assert.are.equal(0, code, out)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("success\tnil\t40\tfalse\tFix 'it' $(x)\t0", lines[1])
      assert.are.equal("success\tnil\t40\ttrue\tFix it\t0", lines[2])
      assert.matches("^error\tINVALID_ARGUMENT\tnil", lines[3])
      assert.matches("^false\t.*tasknum.add_task: if_absent must be a boolean, got string$", lines[4])
      local after = H.read(path)
      assert.matches('"next_project_number": 41,', after, 1, true)
      assert.matches('"last_updated": "2020-01-01T00:00:00Z"', after, 1, true) -- bookkeeping = false
      local _, names = after:gsub('"project_name": "fix_it"', "")
      assert.are.equal(1, names)
    end)

    it("failures are answer tables; misuse raises", function()
      local _, path = H.project(H.state_text(5))
      local out, code = under(lua, [[
        local tasknum = require "tasknum"
        local r = tasknum.allocate{ count = 11, state = arg[1] }
        print(r.status, r.error_code, r.error.code, r.retry_suggested, r.lock_acquired)
        r = tasknum.allocate{ state = arg[1] .. ".nope" }
        print(r.status, r.error_code)
        r = tasknum.add_task{ state = arg[1] }
        print(r.error_code, r.error_message)
        print(pcall(tasknum.allocate, { count = "two" }))
        print(pcall(tasknum.add_task, { name = 3 }))
      ]], { path })
      assert.are.equal(0, code, out)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("error\tINVALID_ARGUMENT\tINVALID_ARGUMENT\tfalse\tfalse", lines[1])
      assert.are.equal("error\tSTATE_NOT_FOUND", lines[2])
      assert.are.equal("INVALID_ARGUMENT\tadd-task needs --name SLUG", lines[3])
      assert.matches("^false\t.*tasknum.allocate: count must be a number, got string$", lines[4])
      assert.matches("^false\t.*tasknum.add_task: name must be a string, got number$", lines[5])
      assert.are.equal(H.state_text(5), H.read(path))
    end)

    it("the transaction API and the 5.4 modules fail with a clear message", function()
      local out, code = under(lua, [[
        local tasknum = require "tasknum"
        print(select(2, pcall(function() return tasknum.transaction({}, function() end) end)))
        print(select(2, pcall(function() return tasknum.begin{} end)))
        print(select(2, pcall(require, "tasknum.edit")))
        print(tasknum.version)
      ]])
      assert.are.equal(0, code, out)
      assert.matches("tasknum needs Lua 5.4 for transaction, this is " .. name .. " ", out, 1, true)
      assert.matches("tasknum needs Lua 5.4 for begin, this is " .. name .. " ", out, 1, true)
      assert.matches("tasknum needs Lua 5.4 for tasknum.edit, this is " .. name .. " ", out, 1, true)
      assert.matches("\n" .. tasknum.version .. "\n$", out)
      assert.not_matches("undefined symbol", out, 1, true)
    end)

    it("installed: finds the binary of its own prefix from the LUA_PATH `tasknum env` gives", function()
      local destdir = H.tmpdir()
      local prefix = destdir .. "/opt/tn"
      local out, code = H.sh("cd " .. H.q(H.root) .. " && make -s -o all install DESTDIR=" .. H.q(destdir)
        .. " PREFIX=/opt/tn BUILD=" .. H.q(H.build))
      assert.are.equal(0, code, out)
      local env = H.sh(H.q(prefix .. "/bin/tasknum") .. " env")
      local _, path = H.project(H.state_text(40))
      -- PATH has no tasknum: the bridge runs PREFIX/bin/tasknum
      out, code = under(lua, [[
        local tasknum = require "tasknum"
        print(tasknum.allocate{ state = arg[1] }.allocated_numbers[1], tasknum.check{ state = arg[1] }.status)
      ]], { path }, env .. " PATH=/usr/bin:/bin")
      assert.are.equal(0, code, out)
      assert.are.equal("40\tsuccess\n", out)
      -- no binary there: an answer that says so
      out = under(lua, "local r = require('tasknum').allocate{ state = arg[1] } print(r.error_code, r.error_message)",
        { path }, "LUA_PATH=" .. H.q(H.root .. "/bridge/?.lua;;") .. " TASKNUM_BIN=/nonexistent/tasknum")
      assert.are.equal("SYSTEM_ERROR\tcannot find the tasknum binary at /nonexistent/tasknum\n", out)
    end)
  end)
end
