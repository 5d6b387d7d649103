-- tasknum.authority.postgresql (internal): `postgresql://...[#KEY]`, one
-- numbering for everything that reaches the database, through libpq
-- (tasknum.core.pg): TLS, passwords, ~/.pgpass, service files and the PG*
-- variables as libpq does them; a password is never shown.
--
-- One table, tasknum_numbering (created if absent), one row per numbering:
--   key text PRIMARY KEY, serial bigint (never goes down; NULL: no mark
--   yet), holder, updated.
-- KEY: what follows `#`, else the state's path inside its git working tree
-- (the same in every clone), else the state's real path.
--
-- acquire: connect, then in one round trip BEGIN; SET LOCAL lock_timeout
--   (what is left of the deadline); INSERT the row (serial NULL) ON
--   CONFLICT DO NOTHING, so that there is a row to lock from the first use
--   on; SELECT serial ... FOR UPDATE. The row lock is the numbering's lock:
--   the server drops it when the client dies, so a killed holder never
--   leaves it stuck.
-- read: that serial (false: NULL, no mark yet; the state's counter seeds
--   it).
-- commit: in one round trip UPDATE ... SET serial = greatest(serial, new)
--   ... WHERE serial IS NOT DISTINCT FROM old RETURNING serial; COMMIT.
-- release: close the connection (the server rolls back what is open).
-- Round trips per allocation: the connection (startup, authentication),
-- then 2; one more, once, to create the table.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local remote = require "tasknum.authority.remote"

local M = {}

M.TABLE = "tasknum_numbering"
M.MIN_NET = 2.0   -- seconds a network step gets even past the deadline

M.CREATE = "CREATE TABLE IF NOT EXISTS " .. M.TABLE .. " (\n"
  .. "  key text PRIMARY KEY,\n"
  .. "  serial bigint CHECK (serial >= 0),\n"
  .. "  range_min bigint,\n"
  .. "  range_max bigint,\n"
  .. "  holder text,\n"
  .. "  updated timestamptz NOT NULL DEFAULT now()\n"
  .. ")"

-- The advisory lock that keeps two first users from creating the table at
-- once (CREATE TABLE IF NOT EXISTS alone races on the catalog).
local CREATE_LOCK = 7362876  -- "tasknum" on a phone keypad, more or less

local Pg = {}
Pg.__index = Pg

local redact = remote.redact
M.redact = redact

-- The state's path inside its git working tree, found without git.
local function tree_path(real)
  local gitdir = require "tasknum.gitdir"
  local top, err = gitdir.top(real)
  if top == nil then return nil, err end
  return top and gitdir.inside(real, top) or false
end

-- where(parsed, key): the connection without its password, as a URI.
local function where_of(p, key)
  local user = p.user or os.getenv("PGUSER") or core.user()
  local host = p.host or p.hostaddr or os.getenv("PGHOST") or ""
  local port = p.port or os.getenv("PGPORT")
  local db = p.dbname or os.getenv("PGDATABASE") or user
  local w
  if host == "" or host:sub(1, 1) == "/" then
    local q = {}
    if host ~= "" then q[#q + 1] = "host=" .. host end
    if port then q[#q + 1] = "port=" .. port end
    w = "postgresql://" .. user .. "@/" .. db .. (#q > 0 and ("?" .. table.concat(q, "&")) or "")
  else
    w = "postgresql://" .. user .. "@" .. host .. (port and (":" .. port) or "") .. "/" .. db
  end
  return w .. "#" .. key
end

-- open(rest, f [, spec]) -> postgresql authority | nil, err
function M.open(rest, f, spec)
  spec = spec or ("postgresql:" .. tostring(rest))
  local uri, key = spec:match("^([^#]*)#?(.*)$")
  local parsed, msg = core.pg.parse(uri)
  if not parsed then
    local secret = remote.secret(uri)
    return nil, errors.new("INVALID_ARGUMENT", "not a PostgreSQL connection URI: " .. redact(uri, secret),
      redact(msg, secret))
  end
  if key == "" then
    local real = f.real or core.realpath(f.path) or f.path
    local err
    key, err = tree_path(real)
    if key == nil then return nil, err end
    key = key or real
  end
  local secret = parsed.password
  local a = setmetatable({ kind = "postgresql", uri = uri, key = key, secret = secret,
    where = redact(where_of(parsed, key), secret) }, Pg)
  return a
end

-- --- talking to the server -------------------------------------------------

function Pg:budget()
  if not self.deadline then return nil end
  return math.max(M.MIN_NET, self.deadline - core.clock())
end

function Pg:unavailable(what, said)
  return errors.new("AUTHORITY_UNAVAILABLE", "the PostgreSQL authority cannot be used: "
    .. redact(what, self.secret),
    "tried " .. self.where .. (said and said ~= "" and ("; the server or libpq said: "
      .. redact(said:gsub("%s+", " "), self.secret)) or "")
    .. "; nothing was written, the state is as it was")
end

-- failure(msg, errno, sqlstate, what) -> an error value
function Pg:failure(msg, errno, state, what)
  if errno == core.EINTR and core.interrupted() then
    return errors.interrupted(core.interrupted(), "while " .. what)
  elseif errno == core.ETIMEDOUT then
    return self:unavailable(what .. ": no answer within the time left", msg)
  end
  local e = self:unavailable(what .. (state and (" (SQLSTATE " .. state .. ")") or ""), msg)
  e.sqlstate = state
  return e
end

function Pg:connect(what)
  local host = (core.hostname() or "localhost"):gsub("[^%w._-]", "_")
  local name = string.format("tasknum %d@%s", core.pid(), host):sub(1, 63)
  local conn, msg, errno = core.pg.connect({ dbname = self.uri, fallback_application_name = name },
    self:budget())
  if conn then return conn end
  return nil, self:failure(msg, errno, nil, what or "cannot connect")
end

-- exec(sql, what) -> results | nil, err (err.sqlstate when the server said)
function Pg:exec(sql, what)
  local results, msg, errno, state = self.conn:exec(sql, self:budget())
  if results then return results end
  if errno ~= core.EIO or not state then -- the connection is gone or unknown
    self:close()
  end
  return nil, self:failure(msg, errno, state, what)
end

function Pg:close()
  if self.conn then
    self.conn:close()
    self.conn = nil
  end
end

-- serial_of(results, i) -> serial, range | false: the first row of the
-- i-th result, (serial, range_min, range_max)
local function serial_of(results, i)
  local rows = results[i]
  if not rows or #rows == 0 or not rows[1][1] then return false end
  local row = rows[1]
  local min, max = math.tointeger(tonumber(row[2] or "")), math.tointeger(tonumber(row[3] or ""))
  return math.tointeger(tonumber(row[1])), min and max and { min = min, max = max } or nil
end

-- The statement that says who holds the row: the backend whose transaction
-- id is the row's xmax and still runs (a FOR UPDATE lock is kept there).
function Pg:holder_sql(k)
  return "SELECT t.serial, a.pid, a.application_name, a.client_addr::text, "
    .. "extract(epoch from now() - a.xact_start)::float8, t.range_min, t.range_max FROM " .. M.TABLE .. " t "
    .. "LEFT JOIN pg_locks l ON l.locktype = 'transactionid' AND l.granted AND l.mode = 'ExclusiveLock' "
    .. "AND l.transactionid = t.xmax AND l.pid <> pg_backend_pid() "
    .. "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE t.key = " .. k
end

local function holder_of(row, where)
  if not row or not row[2] then return nil end
  local h = { lock = "postgresql", backend_pid = math.tointeger(tonumber(row[2])),
    application = row[3] or nil, client = row[4] or nil,
    age_s = row[5] and math.floor(tonumber(row[5]) * 1000) / 1000 or nil }
  h.pid = tonumber((h.application or ""):match("^tasknum (%d+)@"))
  h.host = (h.application or ""):match("^tasknum %d+@(.*)$")
  return h, string.format("the row of %s is locked by %s (server backend %d%s) for %s s", where,
    h.application and ("`" .. h.application .. "`") or "a client that gave no name",
    h.backend_pid, h.client and (", from " .. h.client) or "", tostring(h.age_s))
end

-- lock_row() -> serial | false | nil, err: BEGIN, lock_timeout from the
-- deadline, and the row FOR UPDATE; creates the table on first use.
function Pg:lock_row(created)
  local k = self.conn:literal(self.key)
  local wait = "0"   -- no limit
  if self.deadline then
    wait = tostring(math.max(1, math.floor((self.deadline - core.clock()) * 1000))) .. "ms"
  end
  local begin = self.conn:txstatus() == "intrans" and "" or "BEGIN; "
  local sql = begin .. "SET LOCAL lock_timeout = '" .. wait .. "'; INSERT INTO " .. M.TABLE
    .. " (key) VALUES (" .. k .. ") ON CONFLICT (key) DO NOTHING; SELECT serial, range_min, range_max FROM " .. M.TABLE
    .. " WHERE key = " .. k .. " FOR UPDATE"
  local results, err = self:exec(sql, "locking the numbering's row")
  if results then return serial_of(results, #results) end
  if err.sqlstate == "42P01" and not created then
    local ok, cerr = self:create()
    if not ok then return nil, cerr end
    return self:lock_row(true)
  elseif err.sqlstate == "55P03" then
    local h, line
    if self.conn then
      self:exec("ROLLBACK", "rolling back")
      local r = self.conn and self:exec(self:holder_sql(k), "asking who holds the row")
      if r then h, line = holder_of(r[1][1], self.where) end
    end
    return nil, errors.new("LOCK_TIMEOUT", "the numbering's row in PostgreSQL is still locked",
      (line or ("the row of " .. self.where .. " is locked by another client"))
      .. "; retry in a few seconds or wait longer with --timeout", nil, { holder = h })
  end
  return nil, err
end

function Pg:create()
  local results, err = self:exec("ROLLBACK; BEGIN; SELECT pg_advisory_xact_lock(" .. CREATE_LOCK .. "); "
    .. M.CREATE .. "; COMMIT", "creating the table " .. M.TABLE)
  if results then return true end
  if err.sqlstate == "42501" then
    err.details = err.details .. "; the table " .. M.TABLE .. " does not exist and this user may not "
      .. "create it: have its owner run " .. M.CREATE:gsub("%s+", " ")
      .. " and GRANT SELECT, INSERT, UPDATE ON " .. M.TABLE .. " TO the team's user"
  end
  return nil, err
end

-- --- the interface ----------------------------------------------------------

-- acquire(deadline, holder [, timeout]) -> true | nil, err: connected, the
-- row locked (or known absent) within the deadline.
function Pg:acquire(deadline, holder)
  self.deadline, self.who = deadline, holder or {}
  local conn, err = self:connect()
  if not conn then return nil, err end
  self.conn = conn
  local mark, range = self:lock_row()
  if mark == nil then
    self:close()
    return nil, range
  end
  self.pending, self.pending_range = mark, range
  return true
end

-- read() -> serial, range | false | nil, err. range: the {min, max} the
-- serial was kept for, when the row says.
function Pg:read()
  assert(self.conn or self.pending ~= nil, "read() before acquire()")
  local mark, range = self.pending, self.pending_range
  self.pending, self.pending_range = nil, nil
  if mark == nil then
    if not self.conn then
      local conn, err = self:connect()
      if not conn then return nil, err end
      self.conn = conn
    end
    mark, range = self:lock_row()
    if mark == nil then return nil, range end
  end
  self.mark = mark
  return mark, range
end

local function oneline(s) return (tostring(s or ""):gsub("%c", " ")) end

-- commit(old, new [, range]) -> true | nil, err: the row moved to new (kept
-- for range {min, max}, when given) and committed.
function Pg:commit(old, new, range)
  assert(old == self.mark, "commit(old, new): old is not what read() gave")
  assert(math.type(new) == "integer" and new >= (old or 0), "commit(old, new): a mark never goes down")
  local c = self.conn
  if not c then return nil, self:unavailable("the connection was lost before the update") end
  local who = self.who or {}
  local h = c:literal(string.format("pid %s on %s: %s", tostring(who.pid or core.pid()),
    tostring(who.host or core.hostname()), oneline(who.purpose or who.command)))
  local k = c:literal(self.key)
  local sql = "UPDATE " .. M.TABLE .. " SET serial = greatest(coalesce(serial, 0), " .. new
    .. "), range_min = " .. (range and range.min or "NULL") .. ", range_max = "
    .. (range and range.max or "NULL") .. ", holder = " .. h .. ", updated = now() WHERE key = " .. k .. " AND serial IS NOT DISTINCT FROM "
    .. (old == false and "NULL" or tostring(old)) .. " RETURNING serial; COMMIT"
  local results, err = self:exec(sql, "updating the numbering's row")
  self.mark = nil
  if not results then
    -- a COMMIT whose answer never came may have landed: a gap at worst,
    -- never a number handed out twice (nothing is written here)
    self:close()
    return nil, err
  end
  local got = serial_of(results, 1)
  if got == new then
    self.mark = new
    return true
  end
  local e = errors.new("AUTHORITY_UNAVAILABLE", "another client moved " .. self.where .. " first",
    "the row changed under the lock (edited by hand?); nothing was written")
  e.retry = true
  return nil, e
end

function Pg:release()
  self:close()
  self.pending, self.mark = nil, nil
end
Pg.__close = Pg.release

-- query(sql) -> results | nil, err on a connection of its own (status,
-- holder): takes no lock.
function Pg:query(make_sql, what)
  local saved_deadline, saved_conn = self.deadline, self.conn
  self.deadline = core.clock() + 10
  local conn, err = self:connect()
  local results
  if conn then
    self.conn = conn
    results, err = self:exec(make_sql(conn), what)
    self:close()
  end
  self.deadline, self.conn = saved_deadline, saved_conn
  return results, err
end

function Pg:holder()
  local r = self:query(function(conn) return self:holder_sql(conn:literal(self.key)) end,
    "asking who holds the row")
  if not r then return nil end
  return holder_of(r[1][1], self.where)
end

-- status() -> { kind, where, mark ({serial, min, max} | false: no mark
-- yet), held, holder?, error? } without a lock
function Pg:status()
  local r, err = self:query(function(conn) return self:holder_sql(conn:literal(self.key)) end,
    "reading the numbering's row")
  local s = { kind = self.kind, where = self.where, held = false }
  if r then
    local row = r[1][1]
    local serial = row and row[1] and math.tointeger(tonumber(row[1]))
    s.mark = serial and { serial = serial, min = math.tointeger(tonumber(row[6] or "")),
      max = math.tointeger(tonumber(row[7] or "")) } or false
    s.holder = holder_of(row, self.where)
    s.held = s.holder ~= nil
  elseif err.sqlstate == "42P01" then
    s.mark = false
  else
    s.error = tostring(err)
  end
  return s
end

return M
