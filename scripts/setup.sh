#!/bin/sh
# setup.sh: installs what building or testing tasknum needs on Debian 12,
# and nothing that is there already. Run as root (or it prints the command).
#   sh scripts/setup.sh build    what `make` and `make demo` need, no more
#   sh scripts/setup.sh [test]   that, plus what `make test`, `make fuzz`,
#                                `make bench` and .ci/run use
set -eu
cd "$(dirname "$0")/.."

# libpq-dev: the postgresql:// authority is linked with libpq.
BUILD="make gcc libc6-dev pkg-config lua5.4 liblua5.4-dev lua-cjson libpq-dev"
# busted runs the suite; jq, sqlite3, util-linux (flock) are the benchmark's
# and the legacy protocol's other sides; strace, valgrind, procps (pgrep)
# and clang with its runtimes are the specs' and CI's tools; luarocks,
# luajit and lua5.1 are the install specs' (rockspec, the bridge); git
# runs the merge driver's specs (real repositories, `git merge`) and the
# git:REMOTE authority's (bare repositories, `git daemon`); postgresql is
# the server the postgresql:// specs start with initdb and pg_ctl; man-db,
# bash-completion and zsh render the man page and complete with a real TAB
# (bsdutils' script(1), always there, gives them a terminal); acl and attr
# (setfacl, getfattr) the team-folder specs (a state keeps its ACL and
# extended attributes).
TEST="lua-busted jq strace valgrind sqlite3 util-linux procps clang libclang-rt-14-dev
      luarocks luajit lua5.1 git postgresql man-db bash-completion zsh acl attr"

case "${1:-test}" in
  build) PKGS=$BUILD ;;
  test) PKGS="$BUILD $TEST" ;;
  *) echo "usage: sh scripts/setup.sh [build|test]" >&2; exit 64 ;;
esac

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
# The mcp spec drives `tasknum mcp` with the official MCP TypeScript SDK:
# node and npm, looked up as commands (NodeSource's nodejs bundles npm, and
# Debian's npm package would fight it); Debian's nodejs and npm when missing.
if [ "${1:-test}" = test ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi

if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing:$missing" >&2
    echo "setup: run as root, or: sudo apt-get install -y$missing" >&2
    exit 1
  fi
  echo "setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
fi

# The SDK itself, from the npm registry as spec/mcp/package-lock.json pins it
# (node_modules is not committed); again whenever the lock file changed.
if [ "${1:-test}" = test ] && ! cmp -s spec/mcp/package-lock.json spec/mcp/node_modules/.tasknum-lock; then
  echo "setup: npm ci in spec/mcp"
  (cd spec/mcp && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.tasknum-lock)
fi
echo "setup: everything needed is installed"
