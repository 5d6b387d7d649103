-- spec_helper: what the specs share. Temp projects under /tmp, running the
-- built binary, reading files. Loaded by busted before every spec file.
local H = {}

H.build = os.getenv("TASKNUM_BUILD") or (io.popen("pwd"):read("l") .. "/build")
H.bin = H.build .. "/tasknum"
H.root = io.popen("pwd"):read("l")
H.shared = H.root .. "/../shared"

-- Quotes s for /bin/sh.
function H.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function H.sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- Runs a shell command; true when it exits 0.
function H.ok(cmd)
  return os.execute(cmd) == true
end

-- The output of a shell command, trailing white space removed.
function H.capture(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return (out:gsub("%s+$", ""))
end

-- Polls pred every 5 ms until it holds (true) or seconds pass (false).
function H.wait_until(pred, seconds)
  local core = require "tasknum.core"
  local deadline = core.clock() + (seconds or 10)
  while not pred() do
    if core.clock() > deadline then return false end
    core.sleep(0.005)
  end
  return true
end

-- A fresh temp folder; removed by H.cleanup().
local made = {}
function H.tmpdir()
  local dir = io.popen("mktemp -d /tmp/tasknum-spec.XXXXXX"):read("l")
  made[#made + 1] = dir
  return dir
end

function H.cleanup()
  for _, dir in ipairs(made) do os.execute("chmod -R u+w " .. H.q(dir) .. " 2>/dev/null; rm -rf " .. H.q(dir)) end
  made = {}
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.write(path, text)
  os.execute("mkdir -p " .. H.q(path:match("^(.*)/")))
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- A state file text with the given counter, range and active projects.
function H.state_text(next, opts)
  opts = opts or {}
  local active = {}
  for i, n in ipairs(opts.active or {}) do
    active[i] = string.format('    {\n      "project_number": %d,\n      "project_name": "task_%d",\n'
      .. '      "status": "in_progress"\n    }', n, n)
  end
  local range = opts.norange and "" or string.format(
    '  "project_numbering": {"min": %d, "max": %d, "policy": "increment"},\n', opts.min or 0, opts.max or 999)
  return string.format('{\n  "_schema_version": "1.1.0",\n  "next_project_number": %s,\n%s'
    .. '  "active_projects": [\n%s\n  ],\n  "ratio": 8.0,\n  "path": "a/b"\n}\n',
    tostring(next), range, table.concat(active, ",\n"))
end

-- A project folder with .opencode/specs/state.json; returns dir, state path.
function H.project(text)
  local dir = H.tmpdir()
  local path = dir .. "/.opencode/specs/state.json"
  H.write(path, text or H.state_text(0))
  return dir, path
end

-- --- other users ---------------------------------------------------------------
-- Specs about permissions and hostile folders run the binary as root and as
-- unprivileged users: nobody, or numeric ids with no passwd entry (the
-- kernel needs none), switched to with setpriv.

function H.is_root() return H.capture("id -u") == "0" end

-- as(uid [, gid [, groups]]) -> the shell words that run a command as
-- that user (gid defaults to uid; groups: supplementary gids, a list), or
-- nil and why not.
function H.as(uid, gid, groups)
  if not H.is_root() then return nil, "needs root to run the binary as another user" end
  local prefix = string.format("setpriv --reuid=%s --regid=%s %s", uid, gid or uid,
    groups and #groups > 0 and ("--groups=" .. table.concat(groups, ",")) or "--clear-groups")
  if not H.ok(prefix .. " true 2>/dev/null") then return nil, "setpriv cannot switch users here" end
  return prefix
end

-- callers() -> whom a spec about hostile folders runs each case as: root
-- (or, not root, the current user) and an unprivileged user, uid 42001:
-- { name, prefix (for H.run; nil when it cannot be: why says why), uid }
function H.callers()
  local list = { { name = H.is_root() and "root" or "the current user", prefix = "" } }
  local prefix, why = H.as(42001)
  list[2] = { name = "an unprivileged user", uid = 42001, prefix = prefix, why = why }
  return list
end

-- each_caller(title, body): describe("as CALLER, title", body(who)) for
-- each of H.callers(), cleaning up after each case. (busted gives each
-- spec file its own environment: describe is taken from the caller's.)
function H.each_caller(title, body)
  local env, i = nil, 1
  local chunk = debug.getinfo(2, "f").func
  repeat
    local name, value = debug.getupvalue(chunk, i)
    if name == "_ENV" then env = value end
    i = i + 1
  until name == nil or env
  for _, who in ipairs(H.callers()) do
    env.describe("as " .. who.name .. ", " .. title, function()
      env.after_each(H.cleanup)
      body(who)
    end)
  end
end

-- give(who, path...): makes the paths (recursively; a link itself, not
-- its target) the caller's
function H.give(who, ...)
  if not who.uid then return end
  for _, path in ipairs({ ... }) do
    assert(H.ok(("chown -R -h %d:%d %s"):format(who.uid, who.uid, H.q(path))))
  end
end

-- public_bin() -> a path of the binary that every user can run: H.bin
-- itself, or (a checkout under a 0700 home) a copy in a fresh folder under
-- /tmp, made for the current test (H.cleanup removes it).
local copy
function H.public_bin()
  if H.ok("setpriv --reuid=65534 --regid=65534 --clear-groups test -x " .. H.q(H.bin) .. " 2>/dev/null") then
    return H.bin
  end
  if copy and H.ok("test -x " .. H.q(copy)) then return copy end
  local dir = H.tmpdir()
  copy = dir .. "/tasknum"
  assert(H.ok("chmod 755 " .. H.q(dir) .. " && cp " .. H.q(H.bin) .. " " .. H.q(copy)
    .. " && chmod 755 " .. H.q(copy)))
  return copy
end

-- TASKNUM_WRAP: shell words put before the binary in H.run, e.g.
-- "valgrind --error-exitcode=99 -q" (CI runs the CLI specs that way).
H.wrap = os.getenv("TASKNUM_WRAP") or ""

-- Runs the binary: run(args, {cwd=, env=, stdin=, prefix=}) -> stdout, exit
-- code, stderr. prefix: shell words before the binary (and before
-- TASKNUM_WRAP), such as a setpriv command to run it as another user (the
-- binary is then one that user can run: H.public_bin()).
function H.run(args, opts)
  opts = opts or {}
  if opts.prefix and opts.prefix ~= "" and not opts.bin then
    opts = setmetatable({ bin = H.public_bin() }, { __index = opts })
  end
  local parts = {}
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. H.q(v) end
  local cmd = (opts.cwd and ("cd " .. H.q(opts.cwd) .. " && ") or "")
    .. "env " .. table.concat(parts, " ") .. " " .. (opts.prefix or "") .. " " .. H.wrap
    .. " " .. H.q(opts.bin or H.bin)
  for _, a in ipairs(args) do cmd = cmd .. " " .. H.q(a) end
  local errfile = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. errfile .. (opts.stdin and "" or " </dev/null"))
  local out = p:read("a")
  local _, _, code = p:close()
  local err = H.read(errfile)
  os.remove(errfile)
  return out, code, err
end

-- Runs the binary and decodes its one line of JSON: result, code, stderr
function H.run_json(args, opts)
  local out, code, err = H.run(args, opts)
  local ok, r = pcall(require("cjson").decode, out)
  assert(ok and type(r) == "table", "not one JSON answer: " .. out .. " / stderr: " .. err)
  assert(select(2, out:gsub("\n", "")) == 1 and out:sub(-1) == "\n", "not one line: " .. out)
  return r, code, err
end

-- Permissions do not stop root: specs of a file this user may not read
-- run the binary as nobody. -> the prefix for H.run (setpriv ...), or nil
-- and why that cannot be done here (the spec is then pending, never passed).
-- From a checkout nobody cannot enter (a 0700 home), H.run runs a copy of
-- the binary that nobody can (H.public_bin).
H.NOBODY = "setpriv --reuid=nobody --regid=nogroup --clear-groups"
function H.as_nobody()
  return H.as("nobody", "nogroup")
end

-- Names in a folder (ls -A), sorted, as one string.
function H.ls(dir)
  return (H.sh("ls -A " .. H.q(dir) .. " | sort | tr '\\n' ' '"))
end

-- The strace lines of one run of the binary (fds shown with their paths),
-- in order: strace(args, calls [, opts]) -> lines, stdout, code, stderr.
-- calls: strace's -e trace= list; opts as H.run's.
function H.strace(args, calls, opts)
  local log = os.tmpname()
  local out, code, err = H.run(args, setmetatable({ prefix = "strace -f -y -qq -o " .. H.q(log)
    .. " -e trace=" .. calls }, { __index = opts }))
  local lines = {}
  for line in (H.read(log) or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  os.remove(log)
  return lines, out, code, err
end

-- The index of the first line at or after from that matches pattern.
function H.find_line(lines, pattern, from)
  for i = from or 1, #lines do
    if lines[i]:find(pattern) then return i end
  end
end

return H
