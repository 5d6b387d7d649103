-- env.lua: prints the paths with which other Lua interpreters find
-- `require "tasknum"` from this tasknum: the build tree it was built in, or
-- the prefix it is installed under (the host finds which from the binary).
--   eval "$(tasknum env)"; lua5.4 -e 'print(require("tasknum").version)'
-- Lua 5.4 gets LUA_PATH_5_4 and LUA_CPATH_5_4, which only 5.4 reads, so no
-- other Lua is pointed at a 5.4 C module. LuaJIT and Lua 5.1 get LUA_PATH
-- to the pure-Lua bridge (bridge/tasknum.lua) that runs this binary.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "print the LUA_PATH and LUA_CPATH for require \"tasknum\" in lua5.4",
  text = [[
For the build tree or the install this binary belongs to: export LUA_PATH_5_4=... and LUA_CPATH_5_4=... (read by Lua 5.4 only), then LUA_PATH=... naming the bridge for LuaJIT and Lua 5.1. Use it as eval "$(tasknum env)".]],
  exits = { { 0, "the paths were printed" }, "INVALID_ARGUMENT", "SYSTEM_ERROR" },
}
local errors = require "tasknum.errors"

local _, rest = cli.parse({ ... }, command)
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

local exists = require("tasknum.fs").readable

local host = package.loaded["tasknum.host"] or {}
local top, exe = host.top, host.exe
local lpath, cpath, bridge
if host.layout == "build" and exists(exe:match("^(.*)/") .. "/lib/tasknum/core.so") then
  -- the build tree: ROOT/BUILD/tasknum beside BUILD/lib, the sources in lua/
  lpath = top .. "/lua/?.lua;" .. top .. "/lua/?/init.lua"
  cpath = exe:match("^(.*)/") .. "/lib/?.so"
  bridge = top .. "/bridge"
elseif host.layout == "install" and exists(top .. "/share/lua/5.4/tasknum/init.lua") then
  -- `make install`: PREFIX/bin/tasknum
  lpath = top .. "/share/lua/5.4/?.lua;" .. top .. "/share/lua/5.4/?/init.lua"
  cpath = top .. "/lib/lua/5.4/?.so"
  bridge = top .. "/share/lua/5.1"
else
  errors.raise("SYSTEM_ERROR", "no Lua modules beside " .. tostring(exe),
    "looked for a build tree (ROOT/lua/tasknum/init.lua, BUILD/lib/tasknum/core.so) and "
    .. "an install (PREFIX/share/lua/5.4/tasknum/init.lua) around the binary")
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
-- ";;" keeps each interpreter's default paths after ours (lua-cjson is found there)
io.stdout:write("export LUA_PATH_5_4=", q(lpath .. ";;"), "\n",
  "export LUA_CPATH_5_4=", q(cpath .. ";;"), "\n")
if exists(bridge .. "/tasknum.lua") then
  io.stdout:write("export LUA_PATH=", q(bridge .. "/?.lua;;"), "\n")
end
return 0
