-- tasknum.policy: where team files are looked up, and loading them.
--
-- A team overrides a piece of policy by dropping a file into one of its
-- team folders: conflict.lua, audit.lua, or format/NAME.lua (its commands
-- go into the same folders' commands/ subfolder: tasknum.commands).
-- Folders are searched in this order, first match wins:
--   1. each folder in $TASKNUM_PATH (colon-separated)
--   2. the state's project: R/.opencode/tasknum (then R/.claude/tasknum),
--      where R holds .opencode/specs/state.json or specs/state.json, or,
--      for a state kept under another name, the git top level above it
--   3. the defaults shipped with tasknum (Lua modules tasknum.policy.* and
--      tasknum.format.*)
-- Nothing above the project is looked at: not the current folder, not the
-- folders above it. Policy files are the team's own code, run with the
-- caller's rights; tasknum.trust refuses one that someone else could have
-- written. Each must return a table (or, for a format, a function).
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"

local M = {}

-- The project folders a team's files live in, below the project root.
M.PROJECT = { ".opencode/tasknum", ".claude/tasknum" }

-- The git top level at or above dir (a folder holding .git), or nil; as
-- tasknum.gitdir.top, another user's .git is none.
function M.git_top(dir)
  if dir and dir:sub(1, 1) == "/" then return core.upward(dir, ".git", true) or nil end
  while dir and dir ~= "" do
    if core.stat((dir == "/" and "" or dir) .. "/.git") then return dir end
    if dir == "/" or dir == "." then return nil end
    dir = fs.dirname(dir)
  end
end

-- The project root R of a state path: the folder that holds
-- .opencode/specs/ or specs/, else the git top level above the state, else
-- nil (a state kept elsewhere has no team folders).
function M.project_root(state_path)
  local root = state_path:match("^(.*)/%.opencode/specs/[^/]+$")
      or state_path:match("^(.*)/specs/[^/]+$")
  if root then return root == "" and "/" or root end
  return M.git_top(fs.dirname(state_path))
end

-- M.top[dir] -> the folder from which tasknum.trust checks the files of a
-- team folder: the project root, or the $TASKNUM_PATH folder itself.
M.top = {}

-- add(candidates, tops, dir, top): dir to look for, with its top
local function add(candidates, tops, dir, top)
  if dir and dir ~= "" and not tops[dir] then
    candidates[#candidates + 1] = dir
    tops[dir] = top
  end
end

-- dirs(state_path) -> the team folders that exist, in order (looked up
-- once per state path and process)
local dirs_cache = {}
function M.dirs(state_path)
  local key = state_path or ""
  if not dirs_cache[key] then dirs_cache[key] = M.find_dirs(state_path) end
  return dirs_cache[key]
end

function M.find_dirs(state_path)
  local candidates, tops = {}, {}
  for dir in (os.getenv("TASKNUM_PATH") or ""):gmatch("[^:]+") do add(candidates, tops, dir, dir) end
  local root = state_path and M.project_root(state_path)
  if root then
    for _, sub in ipairs(M.PROJECT) do add(candidates, tops, (root == "/" and "" or root) .. "/" .. sub, root) end
  end
  local list = fs.folders(candidates) -- the ones there, looked for at once
  for _, dir in ipairs(list) do M.top[dir] = tops[dir] end
  return list
end

-- Each file loaded so far, once (a long-running program that allocates in
-- a loop loads the same files again and again), for `tasknum status`.
M.loaded = {}

-- run_file(path, real) -> the value the file returns | nil, err
-- (SCRIPT_ERROR). real: where tasknum.trust judged it (loaded from there)
local function run_file(path, real)
  local chunk, msg = require("tasknum.trust").load(real, path)
  if not chunk then
    return nil, errors.new("SCRIPT_ERROR", "cannot load policy " .. tostring(msg), msg) -- "PATH:LINE: why"
  end
  local ok, value = xpcall(chunk, debug.traceback)
  if not ok then
    return nil, errors.new("SCRIPT_ERROR", "policy " .. path .. " raised an error: "
      .. tostring(value):match("^[^\n]*"), tostring(value))
  end
  if not M.loaded[path] then
    M.loaded[path] = true
    M.loaded[#M.loaded + 1] = path
  end
  return value
end

-- load(relname, module, dirs) -> the value of the first file relname found
-- in dirs, else require(module), and where it came from; false when
-- neither exists; nil, err when loading failed.
function M.load(relname, module, dirs)
  for _, dir in ipairs(dirs) do
    local path = dir .. "/" .. relname
    if fs.readable(path) then
      local trusted, real = require("tasknum.trust").check(path, M.top[dir] or dir)
      if not trusted then return nil, real end
      local value, err = run_file(path, real)
      if value == nil and err then return nil, err end
      return value, path
    end
  end
  local ok, value = pcall(require, module)
  if ok then return value, "(shipped) " .. module end
  if tostring(value):find("module '" .. module .. "' not found", 1, true) then return false end
  return nil, errors.new("SCRIPT_ERROR", "cannot load " .. module, tostring(value))
end

local function shaped(value, from, what, field, shape)
  if type(value) ~= "table" or type(value[field]) ~= "function" then
    return nil, errors.new("SCRIPT_ERROR", what .. " " .. tostring(from) .. " must return " .. shape)
  end
  return value
end

-- format(name, state_path) -> a function(answer) -> text, and where it
-- came from | nil, err (INVALID_ARGUMENT for a format that does not exist)
function M.format(name, state_path)
  local fmt, where
  if name:match("^[%w_%-]+$") then
    fmt, where = M.load("format/" .. name .. ".lua", "tasknum.format." .. name, M.dirs(state_path))
    if fmt == nil then return nil, where end
  end
  if not fmt then
    return nil, errors.new("INVALID_ARGUMENT", "unknown format " .. name
      .. " (json, plain, todo, text, or a team's format/" .. name .. ".lua)")
  end
  if type(fmt) ~= "function" then
    return nil, errors.new("SCRIPT_ERROR", "format " .. tostring(where)
      .. " must return a function(result) -> text")
  end
  return fmt, where
end

-- policies(state_path [, format]) -> { conflict, audit, format (when a
-- format name is given), dirs, files = { conflict = where, audit = where,
-- format = where }, declared } | nil, err. where: a path, or "(shipped)
-- MODULE". declared: the shipped conflict policy when the conflict policy
-- picks with its pick (it, or a team's that reuses it): data (holds) that
-- the step applies itself, calling the policy only on a conflict.
function M.policies(state_path, format)
  local dirs = M.dirs(state_path)
  local p = { dirs = dirs, files = {} }
  local err
  p.conflict, err = M.load("conflict.lua", "tasknum.policy.conflict", dirs)
  if p.conflict == nil then return nil, err end
  p.files.conflict = err
  p.audit, err = M.load("audit.lua", "tasknum.policy.audit", dirs)
  if p.audit == nil then return nil, err end
  p.files.audit = err
  p.conflict, err = shaped(p.conflict, p.files.conflict, "conflict policy", "pick",
    "a table with a pick(txn, count) function")
  if not p.conflict then return nil, err end
  p.audit, err = shaped(p.audit, p.files.audit, "audit policy", "record",
    "a table with a record(entry, txn) function")
  if not p.audit then return nil, err end
  local shipped = package.loaded["tasknum.policy.conflict"] -- not loaded: not in use
  -- its own pick, not its pick field: a team may have replaced that
  p.declared = shipped and p.conflict.pick == shipped.shipped_pick and shipped or nil
  if format then
    p.format, err = M.format(format, state_path)
    if not p.format then return nil, err end
    p.files.format = err
  end
  return p
end

return M
