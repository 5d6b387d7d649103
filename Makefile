# tasknum: a C core (core/) registered as the Lua 5.4 module tasknum.core,
# Lua policy (lua/), shipped scripts (scripts/), busted specs (spec/).
#
#   make                 build/tasknum and build/tasknum/core.so
#   make test            the busted suite against the build
#   make test SANITIZE=1 the same, built with ASan + UBSan into build-san/
#   make fuzz            libFuzzer on the JSON scanner (FUZZ_SECONDS)
#   make bench           benchmark against the alternatives (bench/)
#   make chaos           minutes of SIGKILLs and every kind of writer (CHAOS_MINUTES)
#   make demo            init a throwaway state in build/demo and allocate
#   make install         PREFIX=/usr/local DESTDIR= (also the man page tasknum(1),
#                        made from the commands' declarations, and the bash and
#                        zsh completions from completion/)

VERSION  = 0.1.0
PREFIX  ?= /usr/local
DESTDIR ?=
LUA     ?= lua5.4
LUA_PC  ?= lua5.4
CC      ?= cc
CFLAGS  ?= -O2 -g

# tasknum needs Linux: open file description locks (F_OFD_SETLK), /proc and
# pidfds keep its guarantees, and no fallback would keep them elsewhere.
# Stop here, clearly, when the compiler targets another system (no compiler
# at all: the first compile says so).
TARGET  := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(TARGET),)
ifeq ($(findstring linux,$(TARGET)),)
$(error tasknum needs Linux (OFD locks, /proc, pidfd); $(CC) builds for $(TARGET))
endif
endif

ifdef SANITIZE
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS =
endif

WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wvla
DEFS     = -D_GNU_SOURCE -DTASKNUM_VERSION='"$(VERSION)"'
LUA_INC := $(shell pkg-config --cflags $(LUA_PC))
# Lua is linked into the binary statically when its archive is there
# (Debian's liblua5.4-dev ships liblua5.4.a): mapping and relocating
# liblua5.4.so cost every start ~0.27M instructions (callgrind) and ~10% of
# a call. The whole archive goes in, exported (-Wl,-E), so that C modules a
# script requires (lua-cjson, a team's) find every Lua API function.
# LUA_STATIC= links the shared library instead.
LUA_LIBDIR := $(shell pkg-config --variable=libdir $(LUA_PC) 2>/dev/null)
LUA_STATIC ?= $(firstword $(wildcard $(LUA_LIBDIR)/lib$(LUA_PC).a))
ifneq ($(LUA_STATIC),)
LUA_LIB := -Wl,--whole-archive $(LUA_STATIC) -Wl,--no-whole-archive
else
LUA_LIB := $(shell pkg-config --libs $(LUA_PC))
endif
# libpq's headers (Debian libpq-dev) for the postgresql:// authority; the
# library itself is opened at run time, when that authority is used
# (core/pqlib.h says why)
PG_INC  := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
ALL_CFLAGS = $(WARN) $(DEFS) $(CFLAGS) $(SANFLAGS) $(LUA_INC) $(PG_INC)

# OS code: no Lua headers. The binding files (core/l*.c, one library each,
# merged by ltasknum.c) are the only Lua glue.
OS_SRC   = core/alloc.c core/beside.c core/child.c core/clock.c core/durable.c core/envlist.c \
           core/fdio.c core/gitobj.c core/holders.c core/json.c core/keeper.c core/lock.c core/lockdir.c \
           core/pg.c core/pqlib.c core/proc.c core/run.c
OS_HDR   = $(OS_SRC:.c=.h)
BIND_SRC = core/lalloc.c core/lbeside.c core/lfile.c core/lgitobj.c core/lheld.c core/ljson.c core/llock.c core/llockdir.c \
           core/lpg.c core/lproc.c core/lrun.c core/ltasknum.c core/lutil.c core/lwrite.c
BIND_HDR = core/ljson.h core/ltasknum.h core/lutil.h
LUA_SRC  = $(shell find lua -name '*.lua' | sort)
SCRIPTS  = $(wildcard scripts/*.lua)

BIN      = $(BUILD)/tasknum
SO       = $(BUILD)/lib/tasknum/core.so
MAN      = $(BUILD)/man/tasknum.1

all: $(BIN) $(SO) $(MAN)

$(BUILD)/embedded.c: core/embed.lua $(LUA_SRC) $(SCRIPTS)
	@mkdir -p $(BUILD)
	$(LUA) core/embed.lua $@ $(LUA_SRC) $(SCRIPTS)

$(BIN): core/main.c core/embedded.h $(BIND_SRC) $(BIND_HDR) $(OS_SRC) $(OS_HDR) $(BUILD)/embedded.c
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -Icore -o $@ core/main.c $(BIND_SRC) $(OS_SRC) \
	    $(BUILD)/embedded.c -Wl,-E $(LUA_LIB) -lm -ldl -pthread

# Loadable by stock lua5.4: no -llua, the interpreter provides the symbols.
$(SO): $(BIND_SRC) $(BIND_HDR) $(OS_SRC) $(OS_HDR)
	@mkdir -p $(BUILD)/lib/tasknum
	$(CC) $(ALL_CFLAGS) -fPIC -shared -Icore -o $@ $(BIND_SRC) $(OS_SRC) -pthread

# The man page, from the commands' declarations (what --help prints), by
# the binary just built: it cannot drift from the help.
$(MAN): $(BIN) core/man.lua
	@mkdir -p $(BUILD)/man
	ASAN_OPTIONS=detect_leaks=0 $(BIN) run core/man.lua > $@.tmp && mv $@.tmp $@

# busted runs under lua5.4 whatever `lua` points to. Sanitized, it runs
# inside the sanitized binary instead (its tasknum.core is built in), so no
# sanitizer runtime is preloaded into every tool the specs start (pgrep
# hangs under a preloaded ASan); specs that start a stock lua5.4 on core.so
# find $(BUILD)/bin/lua5.4 first on PATH, which preloads the runtimes for
# that interpreter alone.
BUSTED  ?= /usr/bin/busted
ifdef SANITIZE
TEST_RUN  = PATH="$(abspath $(BUILD))/bin:$$PATH" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1 $(BIN) run
TEST_DEPS = $(BUILD)/bin/lua5.4
else
TEST_RUN  = $(LUA)
endif

$(BUILD)/bin/lua5.4:
	@mkdir -p $(BUILD)/bin
	printf '#!/bin/sh\nLD_PRELOAD="%s %s" exec %s "$$@"\n' "$$($(CC) -print-file-name=libasan.so)" \
	    "$$($(CC) -print-file-name=libubsan.so)" "$$(command -v $(LUA))" > $@
	chmod +x $@

test: all $(TEST_DEPS)
	TASKNUM_BUILD=$(abspath $(BUILD)) $(TEST_RUN) $(BUSTED) $(BUSTED_ARGS)

# FUZZ_SECONDS=0 would mean forever; the real state files seed it too
# when ../shared/fixtures is there. Crashes land in $(BUILD)/.
FUZZ_SECONDS ?= 60
FUZZ_SEEDS   ?= spec/fuzz/seeds $(wildcard ../shared/fixtures)
fuzz:
	@mkdir -p $(BUILD)/fuzz-corpus
	clang $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icore \
	    -o $(BUILD)/json-fuzz spec/fuzz/json_fuzz.c core/json.c
	$(BUILD)/json-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 -artifact_prefix=$(BUILD)/ \
	    $(BUILD)/fuzz-corpus $(FUZZ_SEEDS)

# Not in CI: the crash spec's mixed SIGKILL storm (allocators, killed
# `tasknum lock`s, old-protocol scripts, checks) for CHAOS_MINUTES.
CHAOS_MINUTES ?= 10
chaos: all $(TEST_DEPS)
	CHAOS_MINUTES=$(CHAOS_MINUTES) TASKNUM_BUILD=$(abspath $(BUILD)) $(TEST_RUN) $(BUSTED) spec/chaos.lua

bench: all
	scripts/bench.sh

# A throwaway project in build/demo: init, then one allocation.
demo: all
	rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	cd $(BUILD)/demo && ../tasknum init --next 41 >/dev/null
	cd $(BUILD)/demo && ../tasknum allocate --purpose "demo allocation"

# Where install puts each part; LuaRocks (tasknum-*.rockspec) names its own.
# Nothing of PREFIX is compiled into the binary: it finds its scripts from
# where it is (PREFIX/bin/tasknum -> PREFIX/share/tasknum/scripts), so
# installs under two prefixes, or DESTDIR staging, cannot mix.
BINDIR    ?= $(PREFIX)/bin
LUADIR    ?= $(PREFIX)/share/lua/5.4
CMODDIR   ?= $(PREFIX)/lib/lua/5.4
SHAREDIR  ?= $(PREFIX)/share/tasknum
BRIDGEDIR ?= $(PREFIX)/share/lua/5.1
DOCDIR    ?= $(PREFIX)/share/doc/tasknum
MANDIR    ?= $(PREFIX)/share/man
# where Debian's bash-completion and zsh look
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/vendor-completions

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(CMODDIR)/tasknum $(DESTDIR)$(SHAREDIR)/scripts \
	    $(DESTDIR)$(SHAREDIR)/examples $(DESTDIR)$(BRIDGEDIR) $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/tasknum
	install -m 755 $(SO) $(DESTDIR)$(CMODDIR)/tasknum/core.so
	cd lua && find . -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(LUADIR)/{} \;
	install -m 644 $(SCRIPTS) $(DESTDIR)$(SHAREDIR)/scripts/
	install -m 644 scripts/examples/*.lua $(DESTDIR)$(SHAREDIR)/examples/
	install -m 644 bridge/tasknum.lua $(DESTDIR)$(BRIDGEDIR)/tasknum.lua
	install -m 644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	install -m 644 $(MAN) $(DESTDIR)$(MANDIR)/man1/tasknum.1
	install -m 644 completion/tasknum.bash $(DESTDIR)$(BASHCOMPDIR)/tasknum
	install -m 644 completion/_tasknum $(DESTDIR)$(ZSHCOMPDIR)/_tasknum

uninstall:
	rm -rf $(DESTDIR)$(BINDIR)/tasknum $(DESTDIR)$(CMODDIR)/tasknum $(DESTDIR)$(LUADIR)/tasknum \
	    $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(BRIDGEDIR)/tasknum.lua $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(MANDIR)/man1/tasknum.1 $(DESTDIR)$(BASHCOMPDIR)/tasknum $(DESTDIR)$(ZSHCOMPDIR)/_tasknum

clean:
	rm -rf build build-san

.PHONY: all test fuzz chaos bench demo install uninstall clean
