-- spec/support/pg.lua: a real PostgreSQL cluster for the specs, made with
-- initdb and run with pg_ctl in a temp folder: a Unix socket there, and
-- TCP on a free loopback port. PostgreSQL refuses to run as root: when the
-- suite runs as root the cluster runs as nobody (setpriv), in a folder
-- nobody may enter. Roles: tasknum (superuser, trusted on the socket and on
-- loopback) and agent (password hunter2secret, scram-sha-256), database
-- numbers. c.stop() stops it (pg_ctl stop: only this cluster), c.start()
-- starts it again, c.destroy() stops it and removes its folder (which is
-- not one of H.tmpdir's: it outlives the specs' cleanup).
local H = require "spec_helper"

local M = {}

M.PASSWORD = "hunter2secret"

local function bindir()
  local dir = H.capture("pg_config --bindir 2>/dev/null")
  if dir ~= "" and H.ok("test -x " .. H.q(dir .. "/initdb")) then return dir end
  dir = H.capture("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1")
  assert(dir ~= "", "PostgreSQL is not installed (apt-get install postgresql)")
  return dir
end

local function as_owner(cmd)
  if H.capture("id -u") == "0" then
    return "setpriv --reuid=nobody --regid=nogroup --clear-groups -- " .. cmd
  end
  return cmd
end

-- start() -> c: a new cluster, running. c.uri(user [, password]) -> a
-- postgresql:// URI over the socket; c.tcp_uri(user [, password]) over
-- TCP; c.psql(sql) runs SQL as tasknum; c.stop(), c.start() (again).
function M.start()
  local bin = bindir()
  local root = H.capture("mktemp -d /tmp/tasknum-pg.XXXXXX")
  local c = { root = root, data = root .. "/data", sock = root .. "/sock", log = root .. "/log", bin = bin }
  os.execute("mkdir -p " .. H.q(c.sock) .. " && chmod 755 " .. H.q(root))
  if H.capture("id -u") == "0" then
    os.execute("chown nobody:nogroup " .. H.q(root) .. " " .. H.q(c.sock))
  end
  local out, code = H.sh(as_owner(H.q(bin .. "/initdb") .. " -D " .. H.q(c.data)
    .. " -U tasknum -A trust --no-locale -E UTF8 --no-sync"))
  assert(code == 0, "initdb failed: " .. out)
  H.write(c.data .. "/pg_hba.conf", table.concat({
    "local all tasknum trust",
    "local all all scram-sha-256",
    "host all tasknum 127.0.0.1/32 trust",
    "host all all 127.0.0.1/32 scram-sha-256", "" }, "\n"))
  if H.capture("id -u") == "0" then os.execute("chown nobody:nogroup " .. H.q(c.data .. "/pg_hba.conf")) end

  function c.start()
    for _ = 1, 20 do
      c.port = c.port or math.random(20000, 60000)
      local opts = "-k " .. c.sock .. " -p " .. c.port .. " -c listen_addresses=127.0.0.1 -F "
        .. "-c max_connections=100 -c password_encryption=scram-sha-256"
      local o, rc = H.sh(as_owner(H.q(bin .. "/pg_ctl") .. " -D " .. H.q(c.data) .. " -l " .. H.q(c.log)
        .. " -w -t 60 -o " .. H.q(opts) .. " start"))
      if rc == 0 then return c end
      c.failed = o .. (H.read(c.log) or "")
      c.port = nil -- the port may be taken: another one
    end
    error("pg_ctl start failed: " .. tostring(c.failed))
  end

  function c.stop(mode)
    H.sh(as_owner(H.q(bin .. "/pg_ctl") .. " -D " .. H.q(c.data) .. " -m " .. (mode or "fast")
      .. " -w -t 60 stop"))
  end

  function c.uri(user, password)
    return "postgresql://" .. user .. (password and (":" .. password) or "") .. "@/numbers?host="
      .. c.sock .. "&port=" .. c.port
  end

  function c.tcp_uri(user, password)
    return "postgresql://" .. user .. (password and (":" .. password) or "") .. "@127.0.0.1:"
      .. c.port .. "/numbers"
  end

  -- psql(sql) -> output (unaligned, tuples only); asserts success
  function c.psql(sql, db)
    local o, rc = H.sh(H.q(bin .. "/psql") .. " -X -q -A -t -v ON_ERROR_STOP=1 -h " .. H.q(c.sock)
      .. " -p " .. c.port .. " -U tasknum -d " .. (db or "numbers") .. " -c " .. H.q(sql))
    assert(rc == 0, "psql failed: " .. o)
    return (o:gsub("%s+$", ""))
  end

  function c.destroy()
    c.stop("immediate")
    os.execute("rm -rf " .. H.q(root))
  end

  c.start()
  c.psql("CREATE DATABASE numbers", "postgres")
  c.psql("CREATE ROLE agent LOGIN PASSWORD '" .. M.PASSWORD .. "'")
  c.psql("GRANT ALL ON SCHEMA public TO agent")
  return c
end

return M
