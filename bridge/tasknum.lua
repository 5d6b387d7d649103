-- tasknum for LuaJIT and Lua 5.1 (Neovim, editor plugins, agent runners).
-- The Lua 5.4 module's C core cannot load there ("undefined symbol:
-- lua_newuserdatauv"), so this pure-Lua bridge, installed where those
-- interpreters look (PREFIX/share/lua/5.1/tasknum.lua), runs the tasknum
-- binary of its own install for each call and decodes its one line of JSON
-- with lua-cjson. The answers are the tables the CLI prints and the 5.4
-- module returns, failures included; only misuse raises.
--
--   local tasknum = require "tasknum"
--   local r = tasknum.allocate{ count = 2, purpose = "x", state = "specs/state.json" }
--   local t = tasknum.add_task{ name = "fix_parser", description = "...",
--                               fields = { { "language", "lua" }, { "dependencies", { 58, 68 } } } }
--
--   allocate(opts)   `tasknum allocate`: count, purpose, state, timeout, stale,
--                    todo, authority
--   add_task(opts)   `tasknum add-task`: name, description, title, if_absent,
--                    bookkeeping (false: --no-bookkeeping), fields, and
--                    allocate's options but count; fields is a list of
--                    {key, value} pairs (in that order) or a table of
--                    key = value (sorted by key); a string value is text,
--                    any other is written as JSON
--   status(opts)     `tasknum status --json`: state, stale
--   check(opts)      `tasknum check`: state
--   version          the binary's version
--
-- The transaction API (transaction, begin, hold) runs the caller's Lua under
-- the lock inside one process and stays Lua 5.4's: it, and any other name
-- the 5.4 module has (require "tasknum.edit" too), raises "tasknum needs Lua
-- 5.4 for transaction, this is LuaJIT 2.1". Since these are the CLI's
-- commands, a team's own allocate.lua or add-task.lua in .opencode/tasknum/
-- applies here as it does for agents on the command line.
--
-- The binary: $TASKNUM_BIN, else the one this file was installed with
-- (PREFIX/share/lua/5.1/tasknum.lua -> PREFIX/bin/tasknum; in a checkout,
-- bridge/tasknum.lua -> build/tasknum), never one found on PATH, which may
-- belong to another install.
local cjson = require "cjson"

local M = { bridge = true }

local this = (jit and jit.version or _VERSION):match("^(%S+ %d+%.%d+)") or _VERSION

-- The 5.4-only API, and every other name: a clear error instead of a nil call.
local function needs54(what)
  error(string.format("tasknum needs Lua 5.4 for %s, this is %s (here: allocate, add_task, "
    .. "status, check, version)", what, this), 3)
end

local here = debug.getinfo(1, "S").source:match("^@(.*)$") or ""

local function binary()
  local env = os.getenv("TASKNUM_BIN")
  if env and env ~= "" then return env end
  local prefix = here:match("^(.*)/share/lua/[^/]+/tasknum%.lua$")
  if prefix then return prefix .. "/bin/tasknum" end
  local root = here:match("^(.*)/bridge/tasknum%.lua$")
  if root then return root .. "/build/tasknum" end
  return nil
end

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- An answer for a failure before the binary could answer itself.
local function failure(code, message, details)
  return { status = "error", error = { code = code, message = message, details = details },
           error_code = code, error_message = message, retry_suggested = false,
           lock_acquired = false, timestamp = os.date("!%Y-%m-%dT%H:%M:%S.000Z") }
end

-- run(args) -> the decoded answer of `tasknum ARGS...`
local function run(args)
  local bin = binary()
  if not bin or not read(bin) then
    return failure("SYSTEM_ERROR", "cannot find the tasknum binary"
      .. (bin and " at " .. bin or " for " .. here), "set TASKNUM_BIN to the tasknum binary to use")
  end
  local cmd = { "exec", q(bin) }
  for i, a in ipairs(args) do
    if a:find("\0", 1, true) then
      return failure("INVALID_ARGUMENT", "argument " .. i .. " has a NUL byte, which a command line cannot carry")
    end
    cmd[#cmd + 1] = q(a)
  end
  local errfile = os.tmpname()
  local p = io.popen(table.concat(cmd, " ") .. " </dev/null 2>" .. q(errfile))
  local out = p:read("*a")
  p:close()
  local err = read(errfile) or ""
  os.remove(errfile)
  local ok, r = pcall(cjson.decode, out)
  if ok and type(r) == "table" then return r end
  return failure("SCRIPT_ERROR", "tasknum " .. tostring(args[1]) .. " printed no JSON answer",
    "stdout: " .. out .. "\nstderr: " .. err)
end

local function check_type(fname, opts, key, want)
  local v = opts[key]
  if v ~= nil and type(v) ~= want then
    error(string.format("tasknum.%s: %s must be a %s, got %s", fname, key,
      want == "number" and "number of seconds" or want, type(v)), 4)
  end
end

-- %.17g: the number the caller gave, exactly, in a form the CLI reads
local function num(n) return string.format("%.17g", n) end

-- The options allocate and add-task share, as CLI arguments after cmd.
local function common(fname, opts, cmd)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("tasknum." .. fname .. ": expected a table of options, got " .. type(opts), 3)
  end
  for _, k in ipairs({ "state", "purpose", "authority" }) do check_type(fname, opts, k, "string") end
  for _, k in ipairs({ "timeout", "stale" }) do check_type(fname, opts, k, "number") end
  if opts.todo ~= nil and opts.todo ~= false and type(opts.todo) ~= "string" then
    error("tasknum." .. fname .. ": todo must be a path or false, got " .. type(opts.todo), 3)
  end
  if opts.format ~= nil then needs54(fname .. "'s format option") end
  local args = { cmd, "--format=json" }
  if opts.state then args[#args + 1] = "--state=" .. opts.state end
  if opts.purpose then args[#args + 1] = "--purpose=" .. opts.purpose end
  if opts.authority then args[#args + 1] = "--authority=" .. opts.authority end
  if opts.timeout then args[#args + 1] = "--timeout=" .. num(opts.timeout) end
  if opts.stale then args[#args + 1] = "--stale=" .. num(opts.stale) end
  if opts.todo == false then args[#args + 1] = "--no-todo" end
  if type(opts.todo) == "string" then args[#args + 1] = "--todo=" .. opts.todo end
  return opts, args
end

function M.allocate(opts)
  local args
  opts, args = common("allocate", opts, "allocate")
  if opts.count ~= nil then
    if type(opts.count) ~= "number" then
      error("tasknum.allocate: count must be a number, got " .. type(opts.count), 2)
    end
    args[#args + 1] = "--count=" .. num(opts.count)
  end
  return run(args)
end

-- lua-cjson writes "/" as "\/"; the state's own strings keep it plain.
local function encode(v)
  return (cjson.encode(v):gsub("\\/", "/"))
end

local function field_arg(key, value)
  if type(key) ~= "string" then
    error("tasknum.add_task: a field's key must be a string, got " .. type(key), 4)
  end
  if type(value) == "string" then return "--field=" .. key .. "=" .. value end
  return "--field=" .. key .. ":=" .. encode(value)
end

-- fields: { {k, v}, ... } in order, or { k = v, ... } sorted by key
local function field_args(fields, args)
  if fields == nil then return end
  if type(fields) ~= "table" then
    error("tasknum.add_task: fields must be a table, got " .. type(fields), 3)
  end
  if #fields > 0 then
    for _, pair in ipairs(fields) do
      if type(pair) ~= "table" then
        error("tasknum.add_task: fields as a list takes {key, value} pairs", 3)
      end
      args[#args + 1] = field_arg(pair[1], pair[2])
    end
    return
  end
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do args[#args + 1] = field_arg(k, fields[k]) end
end

function M.add_task(opts)
  local args
  opts, args = common("add_task", opts, "add-task")
  check_type("add_task", opts, "name", "string")
  check_type("add_task", opts, "description", "string")
  check_type("add_task", opts, "title", "string")
  check_type("add_task", opts, "if_absent", "boolean")
  check_type("add_task", opts, "bookkeeping", "boolean")
  if opts.name then args[#args + 1] = "--name=" .. opts.name end
  if opts.description then args[#args + 1] = "--description=" .. opts.description end
  if opts.title then args[#args + 1] = "--title=" .. opts.title end
  if opts.if_absent then args[#args + 1] = "--if-absent" end
  if opts.bookkeeping == false then args[#args + 1] = "--no-bookkeeping" end
  field_args(opts.fields, args)
  return run(args)
end

function M.status(opts)
  opts = opts or {}
  check_type("status", opts, "state", "string")
  check_type("status", opts, "stale", "number")
  local args = { "status", "--json" }
  if opts.state then args[#args + 1] = "--state=" .. opts.state end
  if opts.stale then args[#args + 1] = "--stale=" .. num(opts.stale) end
  return run(args)
end

function M.check(opts)
  opts = opts or {}
  check_type("check", opts, "state", "string")
  local args = { "check" }
  if opts.state then args[#args + 1] = "--state=" .. opts.state end
  return run(args)
end

-- version: asked of the binary once, when first read
local function version()
  local bin = binary()
  local p = bin and io.popen("exec " .. q(bin) .. " --version </dev/null 2>/dev/null")
  local v = p and p:read("*l")
  if p then p:close() end
  return v and v:match("^tasknum (%S+)")
end

setmetatable(M, { __index = function(t, k)
  if k == "version" then
    local v = version()
    rawset(t, k, v)
    return v
  end
  needs54(tostring(k))
end })

-- require "tasknum.edit" and the other 5.4 modules: the same clear error,
-- from a searcher after the standard ones, so it never hides a real module.
local searchers = package.loaders or package.searchers
searchers[#searchers + 1] = function(name)
  if name:match("^tasknum%.") then
    return function() needs54(name) end
  end
  return nil
end

return M
