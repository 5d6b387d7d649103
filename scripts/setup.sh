#!/bin/sh
# setup.sh: installs what building and testing tasknum needs on Debian 12,
# and nothing that is there already. Run as root (or it prints the command).
#   sh scripts/setup.sh          build + test dependencies
set -eu

PKGS="make gcc libc6-dev pkg-config lua5.4 liblua5.4-dev lua-cjson lua-busted
      jq strace valgrind sqlite3 util-linux procps clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "setup: everything needed is installed"
  exit 0
fi

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
