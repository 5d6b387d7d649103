-- LuaRocks build of tasknum for Lua 5.4, from a checkout of this repository:
--   luarocks --lua-version 5.4 make --tree TREE
-- (add --deps-mode none where lua-cjson comes from the system, as Debian's
-- lua-cjson package: LuaRocks does not see system packages, and would try
-- to fetch it). The project's own Makefile builds it, so the C module
-- tasknum.core (core.so) and the tasknum binary come from the same sources
-- and flags as `make`; LuaRocks deploys the binary to TREE/bin, the Lua
-- modules to TREE/share/lua/5.4, core.so to TREE/lib/lua/5.4. The shipped
-- scripts are compiled into the binary (and kept in the rock's own folder).
rockspec_format = "3.0"
package = "tasknum"
version = "0.1.0-1"
source = {
   -- no published archive yet: `luarocks make` builds the checkout it runs in
   url = "git+file://.",
}
description = {
   summary = "Unique task numbers from a project's state.json, for concurrent agents and scripts",
   detailed = [[
tasknum hands out unique task numbers from a project's state.json to any
number of agents and shell scripts running at once: no number twice, no lost
update, no half-written file, no lock left stuck. A small C core (kernel
locks, fsync, rename) under plain Lua policy that each team can replace.
Needs Linux.]],
   license = "MIT",
}
supported_platforms = { "linux" }
dependencies = {
   "lua >= 5.4, < 5.5",
   "lua-cjson",
}
local vars = {
   CFLAGS = "$(CFLAGS)",
   LUA = "$(LUA)",
   LUA_INC = "-I$(LUA_INCDIR)",
}
build = {
   type = "make",
   build_variables = vars,
   install_variables = {
      CFLAGS = vars.CFLAGS, LUA = vars.LUA, LUA_INC = vars.LUA_INC,
      BINDIR = "$(BINDIR)",
      LUADIR = "$(LUADIR)",
      CMODDIR = "$(LIBDIR)",
      SHAREDIR = "$(PREFIX)/share/tasknum",
      BRIDGEDIR = "$(PREFIX)/bridge",
      DOCDIR = "$(PREFIX)/doc",
      MANDIR = "$(PREFIX)/man",
      BASHCOMPDIR = "$(PREFIX)/completion/bash",
      ZSHCOMPDIR = "$(PREFIX)/completion/zsh",
   },
}
