-- tasknum.gitdir (internal): the git working tree that holds a state file,
-- and the repository's common git dir, found by reading files alone: never
-- by starting `git` (an allocation must not pay for a process start).
--
--   top(real)          -> top, dotgit, type | false [, foreign]: the working
--                         tree's top folder (the nearest folder above the
--                         real state that holds a `.git`), its `.git` and
--                         what it is ("file", "directory", "link"): one
--                         call into C. A `.git` owned by another user than
--                         the caller, root or its folder's owner is not a
--                         working tree (git's safe.directory rule: another
--                         user's /tmp/.git): false and its path
--   find(real)         -> tree | false | nil, err: top and the dirs below
--   inside(real, top)  -> the path of real inside the tree
--
-- A tree is { top, dotgit, gitdir, common, path }: path is the state's
-- path inside the tree ("specs/state.json"), the same in every worktree and
-- every clone. The main worktree's `.git` is a folder: its git dir and the
-- common dir. A linked worktree's `.git` is a file "gitdir: DIR" naming its
-- own git dir, whose file `commondir` names the common dir (relative to the
-- git dir); a submodule's gitdir has no commondir: it is its own common
-- dir. Environment variables such as GIT_DIR are not read: the state's
-- place decides.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"

local M = {}

-- The error for a repository tasknum cannot use; retry = false: calling
-- again does not help until it is repaired.
local function broken(message, details, errno)
  local e = errors.new("AUTHORITY_UNAVAILABLE", message, details
    .. "; or number this state on its own with --authority file", errno)
  e.retry = false
  return e
end

function M.top(real)
  local dir, kind, foreign = core.upward(fs.dirname(real), ".git", true)
  if not dir and foreign then return M.foreign(real, foreign) end
  if not dir then return false end
  return dir, (dir == "/" and "" or dir) .. "/.git", kind
end

-- inside(real, top) -> the path of real inside the tree at top
function M.inside(real, top)
  return real:sub(top == "/" and 2 or #top + 2)
end

-- The first line of a small file, without its line end | nil, msg, errno
local function first_line(path)
  local text, msg, errno = core.readfile(path)
  if not text then return nil, msg, errno end
  return (text:match("^([^\r\n]*)"))
end

local function absolute(path, base)
  if path:sub(1, 1) == "/" then return path end
  return base .. "/" .. path
end

-- A folder that must be there and readable: its real path | nil, err
local function folder(path, what, hint)
  local real, kind, errno = core.realpath(path)
  if not real and errno == core.EACCES then
    return nil, broken("cannot read " .. what .. " " .. path .. " (permission denied)",
      "tasknum keeps the numbering's lock and mark in the common git dir: give this user access", errno)
  elseif not real then
    return nil, broken(what .. " " .. path .. " does not exist", hint)
  elseif kind ~= "directory" then
    return nil, broken(what .. " " .. path .. " is not a folder", hint)
  elseif not fs.isdir(real) then
    return nil, broken("cannot read " .. what .. " " .. real .. " (permission denied)",
      "tasknum keeps the numbering's lock and mark in it: give this user read and write access",
      core.EACCES)
  end
  return real
end

local REPAIR = "repair the worktree (run `git worktree repair` in the main worktree)"

-- The git dir a `.git` file names, and the common dir | nil, err
local function linked(top, dotgit)
  local line, msg, errno = first_line(dotgit)
  if not line then
    return nil, broken("cannot read " .. dotgit, tostring(msg), errno)
  end
  local named = line:match("^gitdir:%s*(.-)%s*$")
  if not named or named == "" then
    return nil, broken(dotgit .. " is not a git file: it has no `gitdir:` line", REPAIR)
  end
  local gitdir, err = folder(absolute(named, top), dotgit .. " points to", REPAIR)
  if not gitdir then return nil, err end
  local common, cmsg, cerrno = first_line(gitdir .. "/commondir")
  if not common and cerrno == core.ENOENT then return gitdir, gitdir end -- a submodule's
  local what = "the common git dir named in " .. gitdir .. "/commondir,"
  if not common then return nil, broken("cannot read " .. gitdir .. "/commondir", tostring(cmsg), cerrno) end
  if common == "" then return nil, broken(gitdir .. "/commondir is empty", REPAIR) end
  local real, cerr = folder(absolute(common, gitdir), what, REPAIR)
  if not real then return nil, cerr end
  -- a folder that is no repository's would keep a numbering of its own
  if not fs.isdir(real .. "/objects") then
    return nil, broken(what .. " " .. real .. " is not a git dir (it has no objects folder)", REPAIR)
  end
  return gitdir, real
end

-- foreign(real, dotgit) -> top, dotgit, type when the caller trusts the
-- folder of another user's .git (TASKNUM_TRUST, the trust file: a team
-- whose repository folder and .git have different owners), else nil, err:
-- a numbering must not quietly be kept apart from the one the repository's
-- other worktrees keep, nor in a .git a stranger planted above the state.
function M.foreign(real, dotgit)
  local folder = fs.dirname(dotgit)
  local ok, err = require("tasknum.trust").covers(folder)
  if ok == nil then return nil, err end
  if ok then
    local dir, kind = core.upward(fs.dirname(real), ".git")
    return dir, (dir == "/" and "" or dir) .. "/.git", kind
  end
  local st = core.stat(dotgit)
  local e = errors.new("AUTHORITY_UNAVAILABLE", dotgit .. " belongs to "
    .. (st and core.user(st.uid) or "another user") .. ", not to you, root or the owner of "
    .. folder .. ": tasknum does not take it for the state's repository (git would not either)",
    "if that repository is yours to use, trust it: TASKNUM_TRUST=" .. folder .. " or a line "
    .. folder .. " in ~/.config/tasknum/trust; or number this state on its own with --authority file")
  e.retry = false
  return nil, e
end

function M.find(real)
  local top, dotgit, kind = M.top(real)
  if top == nil then return nil, dotgit end
  if not top then return false end
  local gitdir, common
  if kind == "file" then
    gitdir, common = linked(top, dotgit)
    if not gitdir then return nil, common end
  else -- a folder, or a symlink to one
    local err
    gitdir, err = folder(dotgit, "the git dir", "a .git that is not a folder or a `gitdir:` file")
    if not gitdir then return nil, err end
    common = gitdir
  end
  return { top = top, dotgit = dotgit, gitdir = gitdir, common = common, path = M.inside(real, top) }
end

-- worktrees(tree) -> the top folders of every worktree of the clone tree
-- belongs to (its own among them), from the common dir: the main worktree
-- (the folder holding a common dir named .git) and each linked one
-- (worktrees/NAME/gitdir names its .git file). Worktrees whose folder is
-- gone are left out.
function M.worktrees(tree)
  local tops, seen = {}, {}
  local function add(top)
    local real = top and core.realpath(top)
    if real and not seen[real] then seen[real], tops[#tops + 1] = true, real end
  end
  local dir, base = fs.split(tree.common)
  if base == ".git" and core.realpath(dir .. "/.git") == tree.common then add(dir) end
  for _, name in ipairs(core.listdir(tree.common .. "/worktrees") or {}) do
    local dotgit = first_line(tree.common .. "/worktrees/" .. name .. "/gitdir")
    if dotgit and dotgit:sub(1, 1) == "/" then add(fs.dirname(dotgit)) end
  end
  add(tree.top)
  return tops
end

return M
