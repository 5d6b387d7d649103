-- tasknum.gitignore (internal): keeps the files tasknum makes beside a
-- state out of git, so that an agent's `git add -A` cannot commit them:
-- the lock file, the audit log, the legacy lock folder, backups of a
-- corrupt state, temp files of a killed writer (the state's and TODO.md's).
--
-- ensure() appends a block to the .gitignore beside the state, headed by
-- HEADER, unless a line of the file is HEADER already: it only ever
-- appends (a user's lines are never rewritten or reordered), and once the
-- block is there it is the user's, whatever they make of it. tasknum
-- calls it from `tasknum init` and `tasknum sync`, and from a step in a
-- git working tree that is the first in its folder (no audit log yet) or
-- that starts a numbering's mark.
local core = require "tasknum.core"
local fs = require "tasknum.fs"

local M = {}

M.HEADER = "# tasknum: files it keeps beside the state, not for git (see tasknum's README, \"Git\")"

-- A name as a .gitignore pattern matches it literally.
local function literal(name)
  return (name:gsub("[%*%?%[\\]", "\\%0"):gsub(" $", "\\ "))
end

-- patterns(real) -> the lines for the state at real, anchored to its
-- folder (the .gitignore's)
function M.patterns(real)
  local _, base = fs.split(real)
  local b, legacy = literal(base), literal((base:gsub("%.json$", "")))
  return { "/." .. b .. ".lock", "/." .. b .. ".audit.jsonl", "/." .. legacy .. ".lock/",
    "/" .. b .. ".backup*", "/." .. b .. ".tmp-*", "/.TODO.md.tmp-*" }
end

-- ensure(real) -> { path, action = "added" | "present" } | nil, message:
-- the block in the .gitignore beside the state at real. The file is read
-- and appended to without following a link (a clone may carry one, and
-- git itself reads no symlinked .gitignore), never waiting on a FIFO; a
-- new one takes the state's group and mode.
function M.ensure(real)
  local path = fs.beside(real, ".gitignore")
  local dir, name = fs.split(path)
  local text, msg, errno = core.readat(dir, name, 1 << 24)
  if not text then
    if errno ~= core.ENOENT then return nil, msg end
    text = ""
  end
  for line in text:gmatch("[^\n]+") do
    if line:gsub("\r$", "") == M.HEADER then return { path = path, action = "present" } end
  end
  local nl = text:find("\r\n", 1, true) and "\r\n" or "\n"
  local block = (text ~= "" and text:sub(-1) ~= "\n" and nl or "") .. M.HEADER .. nl
    .. table.concat(M.patterns(real), nl) .. nl
  local ok, werr = core.appendat(dir, name, block, real)
  if not ok then return nil, werr end
  return { path = path, action = "added" }
end

return M
