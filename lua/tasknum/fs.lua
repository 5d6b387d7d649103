-- tasknum.fs (internal): names of files and folders, and whether one is
-- there, for the modules that put files beside the state.
local M = {}

-- split(path) -> the folder and the last name of path ("." for a bare name)
function M.split(path)
  local dir, base = path:match("^(.*)/([^/]*)$")
  if not dir then return ".", path end
  return dir == "" and "/" or dir, base
end

function M.dirname(path) return (M.split(path)) end

-- place(path, fmt) -> path's folder, its last name, and the name fmt (a
-- string.format pattern taking the last name) in that folder: split and
-- beside in one, for a module that names several files there
function M.place(path, fmt)
  local dir, base = M.split(path)
  return dir, base, (dir == "/" and "" or dir) .. "/" .. string.format(fmt, base)
end

-- beside(path, fmt) -> the name fmt (a string.format pattern taking the
-- last name of path) in path's folder: beside("/a/state.json", ".%s.lock")
function M.beside(path, fmt)
  return (select(3, M.place(path, fmt)))
end

-- readable(path) -> true when path can be opened for reading
function M.readable(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- isdir(path) -> true when path is a folder that can be searched
function M.isdir(path) return M.readable(path .. "/.") end

-- folders(paths) -> those of paths that isdir() finds, in their order
function M.folders(paths)
  local out = {}
  for _, path in ipairs(paths) do
    if M.isdir(path) then out[#out + 1] = path end
  end
  return out
end

return M
