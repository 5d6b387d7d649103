-- tasknum.merge.install (internal): `tasknum merge --install`. Makes git
-- merge one state file with tasknum's driver: the line `PATH merge=tasknum`
-- in the .gitattributes at the top of the working tree (only when git does
-- not already see that attribute), and merge.tasknum.driver and
-- merge.tasknum.name in the repository's own config (shared by all its
-- worktrees; never committed, so each clone runs this once). It starts
-- `git`: it runs once, by hand, never on an allocation.
local answer = require "tasknum.answer"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
local state = require "tasknum.state"

local M = {}

M.NAME = "tasknum: next_project_number by serial, active_projects by project_number"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function slurp(path)
  local f = io.open(path, "rb")
  local s = f and f:read("a") or ""
  if f then f:close() end
  os.remove(path)
  return s
end

-- git(dir, ...) -> its stdout less the final newline, exit status, stderr
local function git(dir, ...)
  local cmd = "git -C " .. quote(dir)
  for _, a in ipairs({ ... }) do cmd = cmd .. " " .. quote(a) end
  local errfile = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. quote(errfile) .. " </dev/null")
  local out = p:read("a")
  local _, _, code = p:close()
  return (out:gsub("\r?\n$", "")), code, (slurp(errfile):gsub("%s+$", ""))
end

-- The working tree's top folder and the state's path inside it.
local function place(path)
  local folder, base = fs.split(path)
  local dir = core.realpath(folder) or folder
  local top, code, err = git(dir, "rev-parse", "--show-toplevel")
  if code ~= 0 and not err:find("not a git repository", 1, true) then -- a broken config, a dubious owner
    errors.raise("SYSTEM_ERROR", "git cannot read the repository around " .. path .. ": "
      .. (err:match("[^\n]*$") or err), "fix what git says and run merge --install again")
  elseif code ~= 0 or top == "" then
    errors.raise("INVALID_ARGUMENT", "the state file is not inside a git working tree: " .. path, err)
  end
  top = core.realpath(top) or top
  local real = dir .. "/" .. base
  if real:sub(1, #top + 1) ~= top .. "/" then
    errors.raise("INVALID_ARGUMENT", "the state file " .. real .. " is not inside the working tree " .. top)
  end
  return top, real:sub(#top + 2)
end

-- A .gitattributes pattern that matches exactly the path rel.
local function pattern(rel)
  local p = rel:gsub("[%*%?%[\\]", "\\%0")
  if not p:find('[%s"]') then return p end
  return '"' .. p:gsub('[\\"]', "\\%0"):gsub("\t", "\\t"):gsub("\n", "\\n") .. '"'
end

local function attribute(top, rel)
  local out = git(top, "check-attr", "merge", "--", rel)
  return out:match(": merge: ([^\n]*)$") or "unspecified"
end

local function write(path, text)
  local ok, msg, errno = core.replace(path, text)
  if not ok then error(errors.system(msg, errno, "cannot write " .. path), 0) end
end

-- Appends line to top/.gitattributes (in its line ending) -> its old text
-- (nil when it did not exist).
local function append(path, line)
  local old, msg, errno
  local st = core.stat(path)
  if st and st.type ~= "file" then -- a clone's link would be written through (git reads none)
    error(errors.system(path .. ": is " .. (st.type == "link" and "a symbolic link" or "not a regular file")
      .. "; tasknum, like git, does not follow it", nil, "cannot write " .. path), 0)
  end
  if st then
    old, msg, errno = core.readfile(path)
    if not old then error(errors.system(msg, errno, "cannot read " .. path), 0) end
  end
  local nl = old and old:find("\r\n", 1, true) and "\r\n" or "\n"
  local sep = (old and old ~= "" and not old:find("\n$")) and nl or ""
  write(path, (old or "") .. sep .. line .. nl)
  return old
end

-- The attribute for the state, added unless git already sees it; a line
-- that a more specific rule overrides is taken back.
local function ensure_attribute(top, rel)
  local path, line = top .. "/.gitattributes", pattern(rel) .. " merge=tasknum"
  if attribute(top, rel) == "tasknum" then return { path = path, line = line, action = "present" } end
  local old = append(path, line)
  local function take_back()
    if old then write(path, old) else os.remove(path) end
  end
  local now = attribute(top, rel)
  if now ~= "tasknum" then
    take_back()
    errors.raise("INVALID_ARGUMENT", "git still sees merge=" .. now .. " for " .. rel
      .. " after adding `" .. line .. "` to " .. path .. ", so the line was taken back",
      "a more specific rule wins (.git/info/attributes, or a .gitattributes nearer the file): "
      .. "give it merge=tasknum there")
  end
  return { path = path, line = line, action = "added" }, take_back
end

local function set_config(top, key, value)
  local old, code = git(top, "config", "--local", "--get", key)
  if code == 0 and old == value then return { value = value, action = "present" } end
  local _, status, err = git(top, "config", "--local", key, value)
  if status ~= 0 then errors.raise("SYSTEM_ERROR", "git config " .. key .. " failed", err) end
  return { value = value, action = code == 0 and "changed" or "set", previous = code == 0 and old or nil }
end

-- The first tasknum on $PATH, resolved; nil when there is none.
local function on_path()
  for dir in ((os.getenv("PATH") or "") .. ":"):gmatch("([^:]*):") do
    local real = core.realpath((dir == "" and "." or dir) .. "/tasknum")
    local st = real and core.stat(real)
    if st and st.type == "file" then return real end
  end
end

-- driver() -> the command git runs, and why that one. git runs it through
-- the shell with the user's PATH: plain `tasknum` when that finds this very
-- binary (an installed tasknum: the config survives upgrades); else this
-- binary by its absolute path (a build tree, a private prefix), since a
-- driver git cannot start turns every merge of the file into a conflict.
function M.driver()
  local host = package.loaded["tasknum.host"]
  local self = host and host.exe and core.realpath(host.exe)
  if not self then
    return "tasknum merge %O %A %B", "not run as the tasknum binary: the tasknum on PATH"
  end
  if on_path() == self then return "tasknum merge %O %A %B", "the tasknum on PATH is this binary" end
  local word = self:find("[^%w%./_+-]") and quote(self) or self
  local found = on_path()
  return word .. " merge %O %A %B", (found and "the tasknum on PATH is " .. found .. ", not this binary"
    or "no tasknum on PATH") .. ": this binary by its absolute path"
end

-- install(opts) -> the success answer. opts.state as for every command.
function M.install(opts)
  local path, err = state.find(opts.state)
  if not path then error(err, 0) end
  local top, rel = place(path)
  local attr, take_back = ensure_attribute(top, rel)
  local command, why = M.driver()
  -- a config git will not write: the attribute line is taken back too
  local ok, config = pcall(function()
    return { ["merge.tasknum.name"] = set_config(top, "merge.tasknum.name", M.NAME),
             ["merge.tasknum.driver"] = set_config(top, "merge.tasknum.driver", command) }
  end)
  if not ok then
    if take_back then take_back() end
    error(config, 0)
  end
  return answer.success{
    state_path = path, repository = top, gitattributes = attr,
    driver = { command = command, why = why }, git_config = config,
    next = attr.action == "added" and "commit " .. attr.path:sub(#top + 2) .. " so that every clone "
      .. "merges the state this way; each clone runs `tasknum merge --install` once" or nil,
  }
end

return M
