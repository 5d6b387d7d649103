-- tasknum.authority.worktrees (internal): `worktrees`, one numbering for
-- every worktree of a clone, the default for a state inside a git working
-- tree. The lock and the mark live in the repository's common git dir,
-- under tasknum/, keyed by the state's path inside the tree: every
-- worktree of the clone (`git worktree add`) finds the same ones, and
-- nothing there is ever committed. The common dir is found by reading
-- `.git` (and a linked worktree's `gitdir:` file and `commondir`), never by
-- starting `git`. See tasknum.authority.marks for the files.
local errors = require "tasknum.errors"
local gitdir = require "tasknum.gitdir"
local marks = require "tasknum.authority.marks"

local M = {}

-- open(rest, f, spec) -> the authority | nil, err
function M.open(rest, f, spec)
  if rest ~= "" then
    return nil, errors.new("INVALID_ARGUMENT", "unknown authority " .. spec,
      "worktrees takes no argument; for a folder of your choice use dir:PATH")
  end
  local tree, err = gitdir.find(f.real)
  if tree == nil then return nil, err end
  if not tree then
    return nil, errors.new("INVALID_ARGUMENT", "the worktrees authority needs the state inside a git "
      .. "working tree", f.real .. " is not inside one (no .git above it); use --authority file, "
      .. "or dir:PATH to share a numbering through a folder")
  end
  return marks.new{ kind = "worktrees", folder = tree.common .. "/tasknum", key = marks.key(tree.path),
    make = true, like = tree.common, tree = tree, top = tree.top, spec = spec,
    hint = "the worktrees numbering lives in the repository's common git dir" }
end

return M
