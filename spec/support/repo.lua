-- support/repo.lua: real git repositories in temp folders for the specs,
-- with a git that reads no user or system config (a global
-- merge.conflictStyle or autocrlf would change what the specs see) and a
-- fixed identity.
local H = require "spec_helper"

local M = {}

M.GITENV = "export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "
  .. "GIT_AUTHOR_NAME=spec GIT_AUTHOR_EMAIL=spec@example.invalid "
  .. "GIT_COMMITTER_NAME=spec GIT_COMMITTER_EMAIL=spec@example.invalid; "
-- the same for the tasknum processes the specs run (the merge driver runs git)
M.ENV = { GIT_CONFIG_NOSYSTEM = "1", GIT_CONFIG_GLOBAL = "/dev/null" }

-- sh(dir, line) -> output (stdout and stderr), exit code: a shell line in
-- dir with that git
function M.sh(dir, line)
  return H.sh("cd " .. H.q(dir) .. " && " .. M.GITENV .. line)
end

-- must(dir, line) -> output; fails the spec when the line fails
function M.must(dir, line)
  local out, code = M.sh(dir, line)
  assert(code == 0, line .. " failed (" .. tostring(code) .. "): " .. out)
  return out
end

-- repo(files) -> a new repository (branch main) whose first commit holds
-- files ({ [path] = text }), in a fresh temp folder
function M.repo(files)
  local dir = H.tmpdir() .. "/repo"
  for path, text in pairs(files) do H.write(dir .. "/" .. path, text) end
  M.must(dir, "git init -q -b main && git add -A && git commit -qm base")
  return dir
end

return M
