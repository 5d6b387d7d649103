-- env.lua: prints the LUA_PATH and LUA_CPATH with which a stock lua5.4
-- finds `require "tasknum"` from this tasknum: the build tree it was built
-- in, or the prefix it is installed under.
--   eval "$(tasknum env)"; lua5.4 -e 'print(require("tasknum").version)'
local core = require "tasknum.core"
local cli = require "tasknum.cli"
local errors = require "tasknum.errors"

local _, rest = cli.parse({ ... }, {})
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

local exe = core.realpath("/proc/self/exe")
if not exe then errors.raise("SYSTEM_ERROR", "cannot tell where this tasknum binary is") end
local bindir = dirname(exe)
local top = dirname(bindir)

local lpath, cpath
if exists(top .. "/lua/tasknum/init.lua") and exists(bindir .. "/lib/tasknum/core.so") then
  -- the build tree: build/tasknum beside build/lib, the sources in lua/
  lpath = top .. "/lua/?.lua;" .. top .. "/lua/?/init.lua"
  cpath = bindir .. "/lib/?.so"
elseif exists(top .. "/share/lua/5.4/tasknum/init.lua") then
  -- `make install`: PREFIX/bin/tasknum
  lpath = top .. "/share/lua/5.4/?.lua;" .. top .. "/share/lua/5.4/?/init.lua"
  cpath = top .. "/lib/lua/5.4/?.so"
else
  errors.raise("SYSTEM_ERROR", "no Lua modules beside " .. exe,
    "looked for " .. top .. "/lua/tasknum/init.lua (build tree) and "
    .. top .. "/share/lua/5.4/tasknum/init.lua (make install)")
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
-- ";;" keeps lua5.4's default paths after ours (lua-cjson is found there)
io.stdout:write("export LUA_PATH=", q(lpath .. ";;"), "\n",
  "export LUA_CPATH=", q(cpath .. ";;"), "\n")
return 0
