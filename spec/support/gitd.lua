-- spec/support/gitd.lua: real git servers for the specs, started and
-- stopped by the specs themselves: bare repositories reached over file://,
-- and `git daemon --enable=receive-pack` on a free loopback port (a real
-- transport: a process of its own, a socket, receive-pack per push).
local H = require "spec_helper"
local core = require "tasknum.core"

local M = {}

math.randomseed(core.pid() * 7919 + math.floor(core.clock() * 1000))

-- Runs git with the words given (quoted here); asserts it succeeds.
function M.git(...)
  local words = { "git" }
  for _, w in ipairs({ ... }) do words[#words + 1] = H.q(w) end
  local out, code = H.sh("LC_ALL=C " .. table.concat(words, " "))
  assert(code == 0, table.concat(words, " ") .. " failed: " .. out)
  return out
end

-- bare(path) -> path: a new bare repository (created with its parents).
function M.bare(path)
  os.execute("mkdir -p " .. H.q(path))
  M.git("init", "-q", "--bare", path)
  return path
end

-- hook(bare, name, body): installs hooks/NAME, a shell script.
function M.hook(bare, name, body)
  local path = bare .. "/hooks/" .. name
  H.write(path, "#!/bin/sh\n" .. body .. "\n")
  os.execute("chmod +x " .. H.q(path))
end

function M.unhook(bare, name)
  os.remove(bare .. "/hooks/" .. name)
end

-- clone(url, dest [, {depth = n}]) -> dest, state: a clone with a state
-- file at specs/state.json (committed, when the remote has a branch to
-- build on it is left alone: the authority does not need one).
function M.clone(url, dest, opts)
  opts = opts or {}
  local args = { "clone", "-q" }
  if opts.depth then args[#args + 1] = "--depth=" .. opts.depth end
  if opts.no_single_branch then args[#args + 1] = "--no-single-branch" end
  args[#args + 1] = url
  args[#args + 1] = dest
  M.git(table.unpack(args))
  local state = dest .. "/specs/state.json"
  H.write(state, H.state_text(0, { max = 999999 }))
  return dest, state
end

-- ref(bare, name) -> the commit a ref of a bare repository points at, or nil
function M.ref(bare, name)
  local out, code = H.sh("git --git-dir=" .. H.q(bare) .. " rev-parse --verify -q " .. H.q(name))
  return code == 0 and out:match("%x+") or nil
end

-- serial(bare, ref) -> the serial the ref's tree holds, or nil
function M.serial(bare, ref)
  local out, code = H.sh("git --git-dir=" .. H.q(bare) .. " cat-file blob " .. H.q(ref .. ":serial"))
  return code == 0 and math.tointeger(tonumber(out:match("^%d+"))) or nil
end

-- chain(bare, ref) -> the serials along the ref's history, newest first,
-- from each commit's tree (every commit tasknum pushed).
function M.chain(bare, ref)
  local out = H.sh("git --git-dir=" .. H.q(bare) .. " rev-list --first-parent " .. H.q(ref))
  local serials = {}
  for oid in out:gmatch("%x+") do serials[#serials + 1] = M.serial(bare, oid) end
  return serials
end

-- daemon(base) -> d: `git daemon` serving every repository under base on a
-- free port of 127.0.0.1, pushes allowed. d.url(name), d.port, d.pid;
-- d:stop() ends it (only this pid). Retries another port when one is taken.
function M.daemon(base)
  local log = base .. "/daemon.log"
  for _ = 1, 20 do
    local port = math.random(20000, 60000)
    local child = assert(core.spawn({ "sh", "-c", "exec git daemon --reuseaddr --export-all "
      .. "--enable=receive-pack --informative-errors --listen=127.0.0.1 --port=" .. port
      .. " --base-path=" .. H.q(base) .. " " .. H.q(base) .. " 2>>" .. H.q(log) }))
    local d = { pid = child:pid(), port = port, child = child, base = base }
    function d.url(name) return "git://127.0.0.1:" .. port .. "/" .. name end
    function d.stop()
      if d.child then
        core.kill(d.pid, 15)
        d.child:wait(10)
        d.child = nil
      end
    end
    -- ready when it answers; gone (the port was taken) when it exited
    local ready = H.wait_until(function()
      if child:wait(0) then return true end
      local out = H.sh("git ls-remote git://127.0.0.1:" .. port .. "/nonexistent.git")
      return out:find("remote error", 1, true) ~= nil
    end, 10)
    if ready and core.alive(d.pid) then return d end
    d.stop()
  end
  error("git daemon did not start; see " .. log)
end

-- team(dir, n [, transport]) -> t: a bare repository (t.bare, under
-- dir/srv) and n clones of it, t.clones[i] (dir/c<i>) with t.states[i]
-- (their specs/state.json), over "file" (file://, the default), "daemon"
-- (t.daemon: stop it with t.stop()) or "mixed" (odd clones over file://,
-- even ones over the daemon).
function M.team(dir, n, transport)
  local t = { bare = M.bare(dir .. "/srv/team.git"), clones = {}, states = {} }
  if transport == "daemon" or transport == "mixed" then t.daemon = M.daemon(dir .. "/srv") end
  function t.stop() if t.daemon then t.daemon.stop() end end
  for i = 1, n do
    local over_daemon = transport == "daemon" or (transport == "mixed" and i % 2 == 0)
    t.clones[i], t.states[i] = M.clone(over_daemon and t.daemon.url("team.git") or ("file://" .. t.bare),
      dir .. "/c" .. i)
  end
  return t
end

-- refusing(dir) -> s: an HTTP server on a free loopback port that answers
-- every request "401 Unauthorized" (a git host whose credentials fail).
-- s.url(name), s.pid, s:stop().
function M.refusing(dir)
  local portfile = dir .. "/http.port"
  local script = dir .. "/http401.pl"
  H.write(script, [[
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 16, ReuseAddr => 1) or die $!;
open(my $f, ">", $ARGV[0]) or die $!; print $f $s->sockport, "\n"; close $f;
while (my $c = $s->accept) {
  while (my $l = <$c>) { last if $l =~ /^\r?\n$/; }
  print $c "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"tasknum\"\r\n"
    . "Content-Length: 0\r\nConnection: close\r\n\r\n";
  close $c;
}
]])
  local child = assert(core.spawn({ "perl", script, portfile }))
  local s = { pid = child:pid(), child = child }
  assert(H.wait_until(function() return (H.read(portfile) or ""):match("%d+\n") end, 10),
    "the HTTP server did not start")
  s.port = tonumber(H.read(portfile):match("%d+"))
  function s.url(name, userinfo)
    return "http://" .. (userinfo and (userinfo .. "@") or "") .. "127.0.0.1:" .. s.port .. "/" .. name
  end
  function s.stop()
    if s.child then
      core.kill(s.pid, 15)
      s.child:wait(10)
      s.child = nil
    end
  end
  return s
end

return M
