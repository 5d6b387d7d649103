-- Installing tasknum: `make install` under two prefixes that cannot mix,
-- the binary's own modules ahead of LUA_PATH, `tasknum env` and --version,
-- the rockspec built by LuaRocks into a temp tree, the Linux-only check.
local H = require "spec_helper"

-- The system's tools, without the sanitizer wrappers `make test SANITIZE=1`
-- puts first on PATH, and without the outer make's variables (SANITIZE=1
-- would reach the make LuaRocks starts): LuaRocks builds as a user's would.
local SYSTEM = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL"
  .. " -u SANITIZE -u BUILD -u CFLAGS -u CC"
  .. " PATH=/usr/sbin:/usr/bin:/sbin:/bin "

local function need(tool)
  assert(H.ok("command -v " .. tool .. " >/dev/null"),
    tool .. " is not installed (sh scripts/setup.sh installs it)")
end

-- make install of the build under test, staged: DESTDIR/PREFIX.
local function install(prefix)
  local destdir = H.tmpdir()
  local out, code = H.sh("cd " .. H.q(H.root) .. " && make -s -o all install DESTDIR=" .. H.q(destdir)
    .. " PREFIX=" .. H.q(prefix) .. " BUILD=" .. H.q(H.build))
  assert.are.equal(0, code, out)
  return destdir .. prefix
end

describe("make install", function()
  after_each(H.cleanup)

  it("under two prefixes: each binary runs its own scripts, the built-in commands included", function()
    local a, b = install("/opt/tasknum-a"), install("/opt/tasknum-b")
    for name, root in pairs({ a = a, b = b }) do
      H.write(root .. "/share/tasknum/scripts/where.lua", "print('scripts of " .. name .. "')\n")
    end
    -- status always runs the shipped script: only a's is changed
    H.write(a .. "/share/tasknum/scripts/status.lua", "print('status of a') return 0\n")
    local dir = H.project(H.state_text(5))
    assert.are.equal("scripts of a\n", (H.run({ "where" }, { bin = a .. "/bin/tasknum", cwd = dir })))
    assert.are.equal("scripts of b\n", (H.run({ "where" }, { bin = b .. "/bin/tasknum", cwd = dir })))
    assert.are.equal("status of a\n", (H.run({ "status" }, { bin = a .. "/bin/tasknum", cwd = dir })))
    local out, code = H.run({ "status", "--json" }, { bin = b .. "/bin/tasknum", cwd = dir })
    assert.are.equal(0, code, out)
    assert.are.equal(5, require("cjson").decode(out).next_project_number)
    local r = H.run_json({ "allocate" }, { bin = b .. "/bin/tasknum", cwd = dir })
    assert.are.same({ 5 }, r.allocated_numbers)
  end)

  it("--version names the Lua and where the scripts come from", function()
    local a = install("/usr/local")
    local out, code = H.run({ "--version" }, { bin = a .. "/bin/tasknum", cwd = H.tmpdir() })
    assert.are.equal(0, code, out)
    assert.matches("^tasknum %d+%.%d+%.%d+\n", out)
    assert.matches("\nlua: Lua 5%.4%.%d+\n", out)
    assert.matches("\nbinary: " .. a .. "/bin/tasknum (installed)\n", out, 1, true)
    assert.matches("\nscripts: " .. a .. "/share/tasknum/scripts, built into the binary\n", out, 1, true)
    out = H.run({ "--version" })
    assert.matches("\nscripts: " .. H.root .. "/scripts, built into the binary\n", out, 1, true)
    -- a binary copied on its own has its built-in scripts, and says so
    local alone = H.tmpdir() .. "/tasknum"
    assert.is_true(H.ok("cp " .. H.q(H.bin) .. " " .. H.q(alone)))
    out = H.run({ "--version" }, { bin = alone, cwd = H.tmpdir() })
    assert.matches("\nscripts: built into the binary\n", out, 1, true)
    local dir = H.project(H.state_text(2))
    assert.are.same({ 2 }, H.run_json({ "allocate" }, { bin = alone, cwd = dir }).allocated_numbers)
  end)

  it("`tasknum env` gives Lua 5.4 its own variables, and other Luas only the bridge", function()
    local a = install("/opt/tasknum-env")
    local env = H.sh(H.q(a .. "/bin/tasknum") .. " env")
    assert.are.equal("export LUA_PATH_5_4='" .. a .. "/share/lua/5.4/?.lua;" .. a .. "/share/lua/5.4/?/init.lua;;'\n"
      .. "export LUA_CPATH_5_4='" .. a .. "/lib/lua/5.4/?.so;;'\n"
      .. "export LUA_PATH='" .. a .. "/share/lua/5.1/?.lua;;'\n", env)
    env = H.sh(H.q(H.bin) .. " env")
    assert.matches("^export LUA_PATH_5_4='" .. H.root:gsub("%p", "%%%0") .. "/lua/%?%.lua;", env)
    assert.matches("\nexport LUA_PATH='" .. H.root .. "/bridge/?.lua;;'\n", env, 1, true)
    assert.not_matches("LUA_CPATH=", env, 1, true)
  end)
end)

describe("the binary's own modules", function()
  after_each(H.cleanup)

  it("come before LUA_PATH: another tasknum tree there changes nothing, other modules still load", function()
    local other = H.tmpdir()
    for _, m in ipairs({ "init", "cli", "txn", "errors", "json", "policy" }) do
      H.write(other .. "/tasknum/" .. m .. ".lua", "error('the other tree was loaded: " .. m .. "')\n")
    end
    H.write(other .. "/mine.lua", "return 'mine'\n")
    local path = other .. "/?.lua;" .. other .. "/?/init.lua;;"
    local env = { LUA_PATH = path, LUA_PATH_5_4 = path }
    local dir, state = H.project(H.state_text(7))
    local r = H.run_json({ "allocate", "--count", "2" }, { cwd = dir, env = env })
    assert.are.same({ 7, 8 }, r.allocated_numbers)
    H.write(dir .. "/show.lua", "print(debug.getinfo(require('tasknum').allocate, 'S').source, (require('mine')))\n")
    local out, code = H.run({ "run", dir .. "/show.lua" }, { cwd = dir, env = env })
    assert.are.equal(0, code, out)
    assert.are.equal("@lua/tasknum/init.lua\tmine\n", out)
    assert.matches('"next_project_number": 9,', H.read(state), 1, true)
  end)
end)

describe("the rockspec", function()
  after_each(H.cleanup)

  it("builds with `luarocks --lua-version 5.4 make` into a tree that lua5.4 requires from", function()
    need("luarocks")
    -- a copy of the sources, so the checkout's build/ is not touched
    local src, tree = H.tmpdir(), H.tmpdir()
    local out, code = H.sh("tar -C " .. H.q(H.root) .. " --exclude=./build --exclude=./build-san --exclude=./.git"
      .. " -cf - . | tar -C " .. H.q(src) .. " -xf -")
    assert.are.equal(0, code, out)
    -- no network: lua-cjson is Debian's package, which LuaRocks cannot see
    out, code = H.sh("cd " .. H.q(src) .. " && " .. SYSTEM .. "luarocks --lua-version 5.4 make --deps-mode none --tree "
      .. H.q(tree))
    assert.are.equal(0, code, out)
    assert.matches("tasknum 0.1.0-1 is now installed", out, 1, true)
    for _, f in ipairs({ "/bin/tasknum", "/lib/lua/5.4/tasknum/core.so", "/share/lua/5.4/tasknum/init.lua",
                         "/share/lua/5.4/tasknum/policy/conflict.lua" }) do
      assert.is_truthy(H.read(tree .. f), "not installed: " .. f)
    end
    local _, state = H.project(H.state_text(11))
    H.write(src .. "/t.lua", "local t = require 'tasknum'\n"
      .. "print(package.searchpath('tasknum', package.path), package.searchpath('tasknum.core', package.cpath))\n"
      .. "print(t.allocate{ state = arg[1], count = 2 }.status)\n")
    out, code = H.sh(SYSTEM .. "sh -c " .. H.q('eval "$(luarocks --lua-version 5.4 --tree ' .. H.q(tree)
      .. ' path)" && cd / && lua5.4 ' .. H.q(src .. "/t.lua") .. " " .. H.q(state)))
    assert.are.equal(0, code, out)
    assert.are.equal(tree .. "/share/lua/5.4/tasknum/init.lua\t" .. tree .. "/lib/lua/5.4/tasknum/core.so\n"
      .. "success\n", out)
    local r = H.run_json({ "allocate", "--state", state }, { bin = tree .. "/bin/tasknum" })
    assert.are.same({ 13 }, r.allocated_numbers)
  end)
end)

describe("platforms", function()
  after_each(H.cleanup)

  it("a compiler for another system stops the build with a clear message", function()
    local cc = H.tmpdir() .. "/cc"
    H.write(cc, "#!/bin/sh\n[ \"$1\" = -dumpmachine ] && echo arm64-apple-darwin23.0.0\n")
    assert.is_true(H.ok("chmod +x " .. H.q(cc)))
    local out, code = H.sh("make -C " .. H.q(H.root) .. " -n all BUILD=" .. H.q(H.tmpdir()) .. " CC=" .. H.q(cc))
    assert.are_not.equal(0, code)
    assert.matches("tasknum needs Linux (OFD locks, /proc, pidfd); " .. cc
      .. " builds for arm64-apple-darwin23.0.0", out, 1, true)
  end)
end)
