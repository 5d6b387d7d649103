-- tasknum.authority.git (internal): `git:REMOTE[#REF]`, one numbering for
-- every clone on every machine that can push to REMOTE (a remote's name,
-- such as origin, or a URL).
--
-- The mark is a ref on the remote, refs/tasknum/<key> (key: the state's
-- path inside the working tree, percent-encoded into one ref component),
-- or the ref after `#` (`#heads` is refs/heads/tasknum/<key>, for hosts
-- that refuse refs outside refs/heads/). It points at a commit whose tree
-- holds one file, `serial` ("<serial>\n"); its message is the ledger line
-- (old -> new serial, host, pid, purpose) and a nonce, so that no two
-- writers ever build the same commit (two byte-identical commits would
-- both be "up to date" on the remote, and both writers would think they
-- won). Every commit is built on the one it replaces: the history is the
-- ledger, and each update is a fast-forward for servers that deny others.
--
-- acquire: a local lock in the repository's common git dir
--   (tasknum/remote/<key>.lock), so processes of one clone queue here
--   instead of racing over the network. No git process.
-- read: `git ls-remote --exit-code REMOTE REF` -> the commit; its serial
--   from the local cache (tasknum/remote/<key>.cache: "<commit> <serial>"
--   lines for commits this clone built or fetched: a commit's serial never
--   changes), else `git fetch` of the ref into refs/tasknum-local/<key>
--   and one `git cat-file --batch`.
-- commit: the blobs, tree and commit (on the old commit) written as loose
--   objects without git (tasknum.core.gitobject), or, when the old commit
--   is not a loose object here, by one `git fast-import` (no user identity
--   needed, no hooks); then `git push --porcelain
--   --force-with-lease=REF:OLD REMOTE NEW:REF` (OLD empty: the ref must not
--   exist yet). The server compares and swaps under its ref lock; its
--   report for our ref is the confirmation that it holds our commit. A
--   stale lease is a lost race: err.retry, the transaction reads again.
--   When the outcome is unknown (push killed by the deadline, connection
--   lost) the ref is read back: our commit there, or below what is there,
--   is a success; anything else is not.
-- git processes per allocation: 2 (ls-remote, push) when this clone made
-- the last update or saw it; 4 when another clone moved the ref (+ fetch,
-- cat-file); +1 (fast-import) when the old commit is packed or gone here;
-- +1..3 to read back an unknown outcome.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local remote = require "tasknum.authority.remote"

local M = {}

local Git = {}
Git.__index = Git

-- The environment of every git we start: plain messages (we read them), no
-- prompts (there is no terminal either: run() starts a session of its own),
-- none of the variables a hook or a wrapper may have left that would point
-- git at another repository.
local ENV = { LC_ALL = "C", LANGUAGE = false, GIT_TERMINAL_PROMPT = "0",
  GIT_DIR = false, GIT_WORK_TREE = false, GIT_COMMON_DIR = false, GIT_INDEX_FILE = false,
  GIT_OBJECT_DIRECTORY = false, GIT_ALTERNATE_OBJECT_DIRECTORIES = false,
  GIT_NAMESPACE = false, GIT_QUARANTINE_PATH = false, GIT_PREFIX = false,
  GIT_OPTIONAL_LOCKS = "0" }

-- No hooks of this clone run, no automatic gc or maintenance starts.
local CONFIG = { "-c", "core.hooksPath=/dev/null", "-c", "gc.auto=0",
  "-c", "maintenance.auto=false", "-c", "fetch.writeCommitGraph=false" }

-- The shortest time given to a network step even when the deadline has
-- passed (--timeout 0 tries once: one round with the remote).
M.MIN_NET = 2.0

-- Passwords in URLs ("https://user:secret@host/...") never leave: where,
-- messages and details carry "user:***@".
local redact = remote.redact
M.redact = redact

-- key(path) -> one ref component for the state's path in the working tree:
-- every byte outside [A-Za-z0-9_.-] as %XX, and a dot that would start the
-- component, follow another, or end it (or its ".lock") as %2E.
function M.key(path)
  local k = path:gsub("[^%w_.-]", function(c) return string.format("%%%02X", c:byte()) end)
  k = k:gsub("^%.", "%%2E"):gsub("%.%.", ".%%2E"):gsub("%.%.", ".%%2E"):gsub("%.$", "%%2E")
  k = k:gsub("%.lock$", "%%2Elock")
  return k
end

-- mkdirs(common): tasknum/remote in the common git dir, made with its
-- owner, group and mode (root in a user's clone must not leave folders the
-- user cannot write)
local function mkdirs(common)
  for _, rel in ipairs({ "tasknum", "tasknum/remote" }) do
    local ok, msg, errno = core.mkdirat(common, rel, common)
    if not ok and errno ~= core.EEXIST then return nil, msg, errno end
  end
  return true
end

-- open(rest, f [, spec]) -> git authority | nil, err. rest: "REMOTE" or
-- "REMOTE#REF" (REF "heads" or a full ref name); f: the state's file
-- authority (f.path, f.real).
function M.open(rest, f, spec)
  spec = spec or ("git:" .. tostring(rest))
  local name, ref = tostring(rest or ""):match("^([^#]*)#?(.*)$")
  local secret = remote.secret(name)
  if name == "" then
    return nil, errors.new("INVALID_ARGUMENT", "git: needs a remote, as in git:origin",
      "the authority " .. redact(spec, secret) .. " names no remote")
  elseif name:sub(1, 1) == "-" then -- git would take it for an option (--upload-pack=CMD runs CMD)
    return nil, errors.new("INVALID_ARGUMENT", "git: not a remote: " .. redact(name, secret),
      "a remote's name or URL never starts with -")
  end
  local real = f.real or core.realpath(f.path) or f.path
  local tree, err = require("tasknum.gitdir").find(real)
  if tree == nil then return nil, err end
  if not tree then
    return nil, errors.new("INVALID_ARGUMENT", "git:" .. redact(name, secret)
      .. " needs the state inside a clone", "the state " .. real .. " is not inside a git working tree")
  end
  local top, gitdir, common = tree.top, tree.gitdir, tree.common
  local key = M.key(tree.path)
  if ref == "" then
    ref = "refs/tasknum/" .. key
  elseif ref == "heads" then
    ref = "refs/heads/tasknum/" .. key
  elseif not ref:match("^refs/[^%s~^:?*%[\\]+$") or ref:find("..", 1, true) or ref:find("//", 1, true)
      or ref:match("/$") or ref:match("%.lock$") or ref:match("/%.") then
    return nil, errors.new("INVALID_ARGUMENT", "git: not a ref name: " .. ref,
      "after # comes heads (refs/heads/tasknum/<key>) or a full ref name under refs/")
  end
  local dir = common .. "/tasknum/remote"
  local a = setmetatable({ kind = "git", remote = name, ref = ref, key = key, top = top,
    gitdir = gitdir, common = common, secret = secret, dir = dir,
    lock_path = dir .. "/" .. key .. ".lock", cache_path = dir .. "/" .. key .. ".cache",
    local_ref = "refs/tasknum-local/" .. key, spec = redact(spec, secret) }, Git)
  a.where = redact(name, secret) .. " " .. ref
  a.calls = 0
  return a
end

-- --- running git -----------------------------------------------------------

-- The seconds a step may take: what is left before the deadline, never less
-- than MIN_NET; -1 (no limit) without a deadline.
function Git:budget()
  if not self.deadline then return -1 end
  return math.max(M.MIN_NET, self.deadline - core.clock())
end

-- git(args, input) -> status, stdout, stderr | nil, err (git could not be
-- run, the deadline passed, or the host was asked to stop). counts calls.
function Git:git(args, input, what)
  -- git finds the repository from the working tree's top, so that its own
  -- safe.directory rule holds: --git-dir would skip it, and a repository
  -- another user owns would run that user's commands (remote.*.uploadpack,
  -- core.sshCommand) as the caller.
  local argv = { "git", "-C", self.top }
  for _, c in ipairs(CONFIG) do argv[#argv + 1] = c end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  self.calls = self.calls + 1
  local status, out, err, o2, e2 = core.run(argv, { env = ENV, input = input, timeout = self:budget() })
  if status then return status, out, err end
  local msg, errno = out, err
  if errno == core.EINTR and core.interrupted() then
    return nil, errors.interrupted(core.interrupted(), "while " .. what)
  elseif errno == core.ETIMEDOUT then
    local e = self:unavailable(what .. ": no answer within the time left, stopped",
      e2 ~= "" and e2 or nil)
    e.timed_out = true
    e.partial = o2
    return nil, e
  elseif errno == core.ENOENT then
    return nil, self:unavailable("git is not installed (or not on PATH)")
  end
  return nil, self:unavailable(what .. ": " .. tostring(msg))
end

-- The last few lines git wrote to stderr, redacted, on one line.
function Git:said(stderr)
  local lines = {}
  for line in tostring(stderr or ""):gmatch("[^\r\n]+") do
    if line:match("%S") then lines[#lines + 1] = line end
  end
  local from = math.max(1, #lines - 3)
  return redact(table.concat(lines, " / ", from), self.secret)
end

function Git:unavailable(what, stderr)
  local said = stderr and self:said(stderr) or ""
  return errors.new("AUTHORITY_UNAVAILABLE", "the git remote " .. redact(self.remote, self.secret)
    .. " cannot be used: " .. redact(what, self.secret),
    "tried " .. self.where .. " (from the clone at " .. self.top .. ")"
    .. (said ~= "" and ("; git said: " .. said) or "")
    .. "; nothing was written, the state is as it was")
end

-- --- the local cache of serials ------------------------------------------------

local HEX = "^%x+$"

-- The cache's text, "" when it is missing or not a regular file: it is read
-- without following a link, never blocks (a FIFO planted in a shared
-- common git dir), and holds at most 16 short lines.
function Git:cache_text()
  return core.readat(self.dir, self.key .. ".cache", 4096) or ""
end

function Git:cached(oid)
  local text = self:cache_text()
  for o, s, min, max in text:gmatch("(%x+) (%d+) ?(%-?%d*) ?(%-?%d*)\n") do
    if o == oid then
      min, max = math.tointeger(tonumber(min)), math.tointeger(tonumber(max))
      return math.tointeger(tonumber(s)), min and max and { min = min, max = max } or nil
    end
  end
  return nil
end

-- remember(oid, serial [, range]): keeps the last 16 commits; written to a
-- temp file and renamed over the cache, so a reader sees whole lines or
-- none (a line is only believed with its newline).
function Git:remember(oid, serial, range)
  local lines = { oid .. " " .. serial .. (range and (" " .. range.min .. " " .. range.max) or "") .. "\n" }
  for line in self:cache_text():gmatch("[^\n]*\n") do
    local o = line:match("^(%x+) %d+")
    if o and o ~= oid and #lines < 16 then lines[#lines + 1] = line end
  end
  -- a writer killed before its rename left its temp file: removed once its
  -- pid is gone (a live one's is its own to rename)
  local name = self.key .. ".cache"
  for _, f in ipairs(core.listdir(self.dir) or {}) do
    local pid = f:sub(1, #name + 5) == name .. ".tmp-" and math.tointeger(tonumber(f:sub(#name + 6)))
    if pid and pid ~= core.pid() and core.alive(pid) == false then core.removeat(self.dir, f) end
  end
  -- made new (never through a link or into a file someone left in the
  -- name), then renamed over the cache; a cache that cannot be kept is
  -- only a fetch more next time
  local tmp = name .. ".tmp-" .. core.pid()
  core.removeat(self.dir, tmp)
  if core.writeat(self.dir, tmp, table.concat(lines), self.common) then
    if not core.renameat(self.dir, tmp, name) then core.removeat(self.dir, tmp) end
  end
end

function Git:forget()
  os.remove(self.cache_path)
end

-- --- the lock -----------------------------------------------------------------

local function left(deadline)
  if not deadline then return -1 end
  return math.max(0, deadline - core.clock())
end

local function decode(text)
  local ok, h = pcall(require("cjson").decode, text or "")
  if ok and type(h) == "table" then return h end
  return {}
end

function Git:holder()
  if not core.probe(self.lock_path) then return nil end
  local h = decode(core.holder(self.lock_path))
  h.lock, h.path, h.pid = "git", self.lock_path, math.tointeger(h.pid)
  local what = h.purpose and ("purpose: " .. tostring(h.purpose)) or "no purpose given"
  return h, string.format("the local lock of %s (%s) is held by %s on %s (%s)", self.where,
    self.lock_path, h.pid and ("pid " .. h.pid) or "a process that wrote no record",
    tostring(h.host or "this host"), what)
end

-- acquire(deadline, holder [, timeout]) -> true | nil, err: the local lock
-- of this clone's common git dir. No network yet.
function Git:acquire(deadline, holder, timeout)
  self.deadline, self.who = deadline, holder or {}
  local ok, msg, errno = mkdirs(self.common)
  if not ok then
    return nil, errors.system(msg, errno, "cannot make the folder of the git authority's lock")
  end
  local record = require("cjson").encode(self.who) .. "\n"
  local lock
  lock, msg, errno = core.lock(self.lock_path, left(deadline), record, self.common)
  if lock then
    self.lock = lock
    return true
  elseif errno == core.ETIMEDOUT then
    local h, line = self:holder()
    return nil, errors.new("LOCK_TIMEOUT", string.format("the git authority's local lock is still held after %g s",
      timeout or 0), (line or ("the local lock " .. self.lock_path .. " is held"))
      .. "; retry in a few seconds or wait longer with --timeout", nil, { holder = h })
  elseif errno == core.EINTR then
    return nil, errors.interrupted(core.interrupted(), "while waiting for the git authority's local lock")
  end
  return nil, errors.system(msg, errno, "cannot take the git authority's local lock")
end

function Git:release()
  if self.lock then
    self.lock:release()
    self.lock = nil
  end
  self.old_oid, self.mark = nil, nil
end
Git.__close = Git.release

-- --- reading the remote ---------------------------------------------------------

-- remote_oid() -> commit id | false (no such ref) | nil, err
function Git:remote_oid()
  local status, out, err = self:git({ "ls-remote", "--exit-code", self.remote, self.ref }, nil,
    "reading " .. self.ref .. " with git ls-remote")
  if not status then return nil, out end
  if status == 2 then return false end
  if status ~= 0 then
    local e = self:unavailable("git ls-remote failed (exit " .. status .. ")", err)
    local st, _, uid = core.stat(self.top), core.user()
    if st and st.uid ~= uid then -- git leaves such a clone alone: its remotes are not read
      e.details = e.details .. "; the clone belongs to " .. core.user(st.uid) .. ", and git does not use"
        .. " another user's repository (see `git help config`, safe.directory)"
    end
    return nil, e
  end
  for oid, name in out:gmatch("(%x+)\t([^\n]+)") do
    if name == self.ref then return oid end
  end
  return false -- only longer names that end the same way
end

-- batch(out) -> the objects `git cat-file --batch` printed, in order:
-- { oid, type, body } or { missing = name }
local function batch(out)
  local list, i = {}, 1
  while i <= #out do
    local line_end = out:find("\n", i, true)
    if not line_end then break end
    local line = out:sub(i, line_end - 1)
    local oid, kind, size = line:match("^(%x+) (%a+) (%d+)$")
    if oid then
      size = tonumber(size)
      list[#list + 1] = { oid = oid, type = kind, body = out:sub(line_end + 1, line_end + size) }
      i = line_end + size + 2
    else
      list[#list + 1] = { missing = line:match("^(.-) missing$") or line }
      i = line_end + 1
    end
  end
  return list
end

-- parse(serial_text, range_text) -> serial, range | nil: a commit's files
function M.parse(serial_text, range_text)
  local serial = #serial_text <= 21 and math.tointeger(tonumber(serial_text:match("^(%d+)\n$") or ""))
  if not serial then return nil end
  local min, max = tostring(range_text or ""):match("^(%-?%d+) (%-?%d+)\n$")
  min, max = math.tointeger(tonumber(min or "")), math.tointeger(tonumber(max or ""))
  return serial, min and max and min <= max and { min = min, max = max } or nil
end

-- fetched() -> oid, serial, range | nil, err: fetches the ref into the
-- local ref and reads it with one cat-file (the ref may have moved since
-- ls-remote: what was fetched is what counts).
function Git:fetched()
  local status, _, err = self:git({ "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
    "--no-recurse-submodules", self.remote, "+" .. self.ref .. ":" .. self.local_ref }, nil,
    "fetching " .. self.ref)
  if not status then return nil, _ end
  if status ~= 0 then return nil, self:unavailable("git fetch of " .. self.ref .. " failed", err) end
  local out
  local r = self.local_ref
  status, out, err = self:git({ "cat-file", "--batch" }, r .. "\n" .. r .. ":serial\n" .. r .. ":range\n",
    "reading the fetched serial")
  if not status then return nil, out end
  local got = batch(out)
  local commit, file, range = got[1] or {}, got[2] or {}, got[3] or {}
  if status ~= 0 or commit.type ~= "commit" then
    return nil, self:unavailable("the fetched " .. self.ref .. " cannot be read", err ~= "" and err or out)
  end
  local serial, kept = M.parse(file.type == "blob" and file.body or "", range.type == "blob" and range.body or nil)
  if not serial then
    return nil, errors.new("AUTHORITY_UNAVAILABLE", "the git remote's " .. self.ref
      .. " holds no serial tasknum can read", "commit " .. commit.oid .. " on " .. self.where
      .. " has no file `serial` holding a number; it is left as it is and nothing was written")
  end
  self:remember(commit.oid, serial, kept)
  return commit.oid, serial, kept
end

-- read() -> serial, range | false (no ref yet) | nil, err. range: the
-- {min, max} the serial was kept for, when the commit says.
function Git:read()
  self.used_cache = false
  local oid, err = self:remote_oid()
  if oid == nil then return nil, err end
  if oid == false then
    self.old_oid, self.mark = false, false
    return false
  end
  local serial, range = self:cached(oid)
  if serial then
    self.used_cache = true
  else
    oid, serial, range = self:fetched()
    if not oid then return nil, serial end
  end
  self.old_oid, self.mark = oid, serial
  return serial, range
end

-- --- writing the remote ---------------------------------------------------------

local function nonce()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(12) or tostring(core.clock()) .. tostring(core.pid())
  if f then f:close() end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function oneline(s)
  return (tostring(s):gsub("[%c]", " "))
end

local function data(s)
  return "data " .. #s .. "\n" .. s .. "\n"
end

-- objects() -> the repository's objects folder when tasknum may write its
-- objects itself (SHA-1 ids: not a repository made with
-- --object-format=sha256), else false.
function Git:objects()
  if self.objdir == nil then
    local config = (core.readfile(self.common .. "/config") or ""):lower()
    self.objdir = not config:find("objectformat%s*=%s*sha256") and self.common .. "/objects"
  end
  return self.objdir
end

local function raw(hex)
  return (hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

-- written(dir, old, new, range, head, message) -> the commit's id, its
-- objects written as loose objects by tasknum.core (no git process) |
-- nil when that cannot be done here (the parent is not a loose object this
-- clone holds, a write failed): then fast-import builds it.
function Git:written(dir, new, range, head, message)
  local parent = self.old_oid
  if parent and not core.stat(dir .. "/" .. parent:sub(1, 2) .. "/" .. parent:sub(3)) then return nil end
  local serial = core.gitobject(dir, "blob", new .. "\n")
  local span = range and core.gitobject(dir, "blob", range.min .. " " .. range.max .. "\n")
  if not serial or (range and not span) then return nil end
  -- tree entries sorted by name: range, serial
  local tree = core.gitobject(dir, "tree", (span and ("100644 range\0" .. raw(span)) or "")
    .. "100644 serial\0" .. raw(serial))
  if not tree then return nil end
  return core.gitobject(dir, "commit", "tree " .. tree .. "\n" .. (parent and ("parent " .. parent .. "\n") or "")
    .. "author " .. head .. "\ncommitter " .. head .. "\n\n" .. message)
end

-- build(old, new [, range]) -> the new commit's id | nil, err. The commit's
-- tree holds `serial` (and `range`); it is built on the old commit. Written
-- here without git when the old commit is a loose object of this clone
-- (the one it built or fetched last: the common case), else by one `git
-- fast-import`, which fails when the old commit is gone (gc'd: the
-- caller fetches it again).
function Git:build(old, new, range)
  local host = oneline(core.hostname() or "localhost"):gsub("[<>%s]", "_")
  local sec = core.time()
  local who = self.who or {}
  local message = string.format("tasknum: serial %s -> %d\n\nhost %s\npid %d\npurpose %s\nnonce %s\n",
    old == false and "none" or tostring(old), new, host, core.pid(),
    oneline(who.purpose or who.command or ""), nonce())
  local head = string.format("tasknum <tasknum@%s> %d +0000", host, sec)
  local dir = self:objects()
  local oid = dir and self:written(dir, new, range, head, message)
  if oid then return oid end
  local stream = "feature done\nblob\nmark :1\n" .. data(new .. "\n")
    .. (range and ("blob\nmark :3\n" .. data(range.min .. " " .. range.max .. "\n")) or "")
    .. "commit " .. self.local_ref .. "\nmark :2\n"
    .. "committer " .. head .. "\n"
    .. data(message)
    .. (self.old_oid and ("from " .. self.old_oid .. "\n") or "")
    .. "deleteall\nM 100644 :1 serial\n" .. (range and "M 100644 :3 range\n" or "")
    .. "\nget-mark :2\ndone\n"
  local status, out, err = self:git({ "fast-import", "--quiet", "--force" }, stream,
    "building the next commit of " .. self.ref)
  if not status then return nil, out end
  oid = out:match("^(%x+)\n")
  if status ~= 0 or not oid then
    return nil, self:said(err) ~= "" and self:said(err) or ("git fast-import exited " .. status)
  end
  return oid
end

-- push(oid) -> "ok" | "stale" | "refused", why | "unknown", err
function Git:push(oid)
  local lease = "--force-with-lease=" .. self.ref .. ":" .. (self.old_oid or "")
  local status, out, err = self:git({ "push", "--porcelain", "--no-verify", lease,
    self.remote, oid .. ":" .. self.ref }, nil, "pushing " .. self.ref)
  if not status then return "unknown", out end
  for line in out:gmatch("[^\n]+") do
    local flag, dst, summary = line:match("^(.)\t[^\t]*:([^\t]+)\t(.*)$")
    if dst == self.ref then
      if status == 0 and (flag == " " or flag == "+" or flag == "*" or flag == "=") then
        return "ok"
      elseif flag == "!" and summary:find("stale info", 1, true) then
        return "stale"
      elseif flag == "!" and summary:find("failed to update ref", 1, true) then
        -- the server's compare-and-swap: another push held the ref's lock,
        -- or moved it since the advertisement
        return "stale"
      elseif flag == "!" then
        local said = self:said(err)
        return "refused", summary .. (said ~= "" and ("; git said: " .. said) or "")
      end
    end
  end
  return "unknown", self:unavailable("git push gave no verdict for " .. self.ref
    .. " (exit " .. status .. ")", err)
end

-- landed(oid) -> true (the remote holds oid, or a commit built on it) |
-- false, moved (it does not; moved: another commit replaced the old one)
-- | nil, err: the read-back after an unknown outcome.
function Git:landed(oid)
  local now, err = self:remote_oid()
  if now == nil then return nil, err end
  if now == oid then return true end
  if now == false or now == self.old_oid then return false, false end
  local got, ferr = self:fetched()
  if not got then return nil, ferr end
  local status, gerr = self:git({ "merge-base", "--is-ancestor", oid, got }, nil,
    "reading back " .. self.ref)
  if not status then return nil, gerr end
  return status == 0, true
end

function Git:lost(why)
  local e = errors.new("AUTHORITY_UNAVAILABLE", "another clone moved " .. self.ref .. " first",
    "tried " .. self.where .. "; " .. why .. "; nothing was written, the state is as it was")
  e.retry = true
  return e
end

-- commit(old, new [, range]) -> true | nil, err: moves the remote's mark
-- from old (what read() gave) to new (kept for range {min, max}, when
-- given); true only once the remote holds our commit.
function Git:commit(old, new, range)
  assert(old == self.mark, "commit(old, new): old is not what read() gave")
  assert(math.type(new) == "integer" and new >= (old or 0), "commit(old, new): a mark never goes down")
  local oid, err = self:build(old, new, range)
  if not oid then
    if errors.is(err) then return nil, err end
    if self.used_cache then -- the old commit may be gone from this clone: fetch next time
      self:forget()
      return nil, self:lost("the cached commit " .. tostring(self.old_oid) .. " could not be built on (" .. err .. ")")
    end
    return nil, errors.new("SYSTEM_ERROR", "cannot build the next commit of " .. self.ref, err)
  end
  local verdict, why = self:push(oid)
  if verdict == "unknown" then
    if errors.is(why) and why.code == "INTERRUPTED" then return nil, why end
    -- read back: a push stopped half-way may or may not have landed
    local yes, moved = self:landed(oid)
    if yes == nil then return nil, why end
    if not yes and moved then
      return nil, self:lost("the push's outcome was unknown, and the ref holds another clone's commit")
    elseif not yes then
      return nil, why
    end
    verdict = "ok"
  end
  if verdict == "ok" then
    self:remember(oid, new, range)
    self.old_oid, self.mark = oid, new
    return true
  elseif verdict == "stale" then
    return nil, self:lost("its lease on " .. tostring(self.old_oid or "no ref") .. " was stale")
  end
  local hint = ""
  if not self.ref:match("^refs/heads/") then
    hint = "; if the host accepts branches only, use git:" .. redact(self.remote, self.secret)
      .. "#heads (refs/heads/tasknum/" .. self.key .. ")"
  end
  return nil, errors.new("AUTHORITY_UNAVAILABLE", "the git remote " .. redact(self.remote, self.secret)
    .. " refused the update of " .. self.ref .. ": " .. redact(why or "", self.secret),
    "tried " .. self.where .. hint .. "; nothing was written, the state is as it was")
end

-- status() -> { kind, where, mark ({serial, min, max} | false: no ref
-- yet), held, holder?, error? } without the lock
function Git:status()
  local saved = self.deadline
  self.deadline = core.clock() + 10
  local serial, range = self:read()
  self.deadline = saved
  self.old_oid, self.mark = nil, nil
  local held = core.probe(self.lock_path) == true
  local s = { kind = self.kind, where = self.where, held = held }
  if held then s.holder = self:holder() end
  if serial == nil then
    s.error = tostring(range)
  else
    s.mark = serial and { serial = serial, min = range and range.min, max = range and range.max } or false
  end
  return s
end

return M
