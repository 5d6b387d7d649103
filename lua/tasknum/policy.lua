-- tasknum.policy: where team files are looked up, and loading them.
--
-- A team overrides a piece of policy by dropping a file into one of the
-- search folders: conflict.lua, audit.lua, or format/NAME.lua. Folders are
-- searched in this order, first match wins:
--   1. each folder in $TASKNUM_PATH (colon-separated)
--   2. the state's project: R/.opencode/tasknum (and R/.claude/tasknum),
--      where R holds .opencode/specs/state.json or specs/state.json
--   3. the nearest .opencode/tasknum walking up from the current folder
--   4. the defaults shipped with tasknum (Lua modules tasknum.policy.* and
--      tasknum.format.*)
-- Policy files are the team's own code, run with the user's rights, like
-- git hooks. Each must return a table (or, for a format, a function).
local core = require "tasknum.core"
local errors = require "tasknum.errors"

local M = {}

local function isdir(path)
  local f = io.open(path .. "/.", "rb")
  if f then f:close() return true end
  return false
end

local function add(list, seen, dir)
  if dir and dir ~= "" and not seen[dir] and isdir(dir) then
    seen[dir] = true
    list[#list + 1] = dir
  end
end

-- The project root R of a state path, or nil for a state elsewhere.
function M.project_root(state_path)
  return state_path:match("^(.*)/%.opencode/specs/[^/]+$")
      or state_path:match("^(.*)/specs/[^/]+$")
end

-- The nearest folder at or above dir that has .opencode/tasknum.
function M.nearest(dir)
  while dir and dir ~= "" do
    local candidate = (dir == "/" and "" or dir) .. "/.opencode/tasknum"
    if isdir(candidate) then return candidate end
    if dir == "/" then return nil end
    dir = dir:match("^(.*)/[^/]*$")
    if dir == "" then dir = "/" end
  end
end

-- dirs(state_path) -> the search folders that exist, in order (looked up
-- once per state path and process)
local dirs_cache = {}
function M.dirs(state_path)
  local key = state_path or ""
  if not dirs_cache[key] then dirs_cache[key] = M.find_dirs(state_path) end
  return dirs_cache[key]
end

function M.find_dirs(state_path)
  local list, seen = {}, {}
  for dir in (os.getenv("TASKNUM_PATH") or ""):gmatch("[^:]+") do add(list, seen, dir) end
  local root = state_path and M.project_root(state_path)
  if root then
    add(list, seen, root .. "/.opencode/tasknum")
    add(list, seen, root .. "/.claude/tasknum")
  end
  local cwd = core.cwd()
  add(list, seen, cwd and M.nearest(cwd))
  return list
end

-- Each file loaded so far, once (a long-running program that allocates in
-- a loop loads the same files again and again), for `tasknum status`.
M.loaded = {}

local function run_file(path)
  local chunk, msg = loadfile(path, "t")
  if not chunk then
    errors.raise("SCRIPT_ERROR", "cannot load policy " .. path, msg)
  end
  local ok, value = xpcall(chunk, debug.traceback)
  if not ok then
    errors.raise("SCRIPT_ERROR", "policy " .. path .. " raised an error", tostring(value))
  end
  if not M.loaded[path] then
    M.loaded[path] = true
    M.loaded[#M.loaded + 1] = path
  end
  return value
end

-- load(relname, module, dirs) -> the value of the first file relname found
-- in dirs, else require(module); nil when neither exists.
function M.load(relname, module, dirs)
  for _, dir in ipairs(dirs) do
    local path = dir .. "/" .. relname
    local f = io.open(path, "rb")
    if f then
      f:close()
      return run_file(path), path
    end
  end
  local ok, value = pcall(require, module)
  if ok then return value, "(shipped) " .. module end
  if tostring(value):find("module '" .. module .. "' not found", 1, true) then return nil end
  errors.raise("SCRIPT_ERROR", "cannot load " .. module, tostring(value))
end

-- policies(state_path) -> { conflict = ..., audit = ..., dirs = ...,
-- files = { conflict = where, audit = where } } (where: a path, or
-- "(shipped) MODULE")
function M.policies(state_path)
  local dirs = M.dirs(state_path)
  local conflict, conflict_from = M.load("conflict.lua", "tasknum.policy.conflict", dirs)
  local audit, audit_from = M.load("audit.lua", "tasknum.policy.audit", dirs)
  if type(conflict) ~= "table" or type(conflict.pick) ~= "function" then
    errors.raise("SCRIPT_ERROR", "conflict policy " .. tostring(conflict_from)
      .. " must return a table with a pick(txn, count) function")
  end
  if type(audit) ~= "table" or type(audit.record) ~= "function" then
    errors.raise("SCRIPT_ERROR", "audit policy " .. tostring(audit_from)
      .. " must return a table with a record(entry, txn) function")
  end
  return { conflict = conflict, audit = audit, dirs = dirs,
           files = { conflict = conflict_from, audit = audit_from } }
end

-- format(name, state_path) -> a function(result) -> text and where it
-- came from, or nil
function M.format(name, state_path)
  if not name:match("^[%w_%-]+$") then return nil end
  local fmt, where = M.load("format/" .. name .. ".lua", "tasknum.format." .. name, M.dirs(state_path))
  if fmt ~= nil and type(fmt) ~= "function" then
    errors.raise("SCRIPT_ERROR", "format " .. tostring(where) .. " must return a function(result) -> text")
  end
  return fmt, where
end

return M
