-- init.lua: creates a state file on purpose (the only command that does).
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "create a state file (the only command that does)",
  options = {
    { "--state", "string", "PATH", "where (default ./.opencode/specs/state.json, folders included)",
      complete = "file" },
    { "--next", "integer", "N", "the first number to hand out (default: --min)" },
    { "--min", "integer", "A", "the lowest number (default 0)" },
    { "--max", "integer", "B", "the highest number; the counter wraps from it to --min (default 999)" },
  },
  text = [[
Refuses to touch an existing state file: a fresh one would restart the numbering.

Inside a git working tree it also adds the files tasknum keeps beside the state (lock file, audit log, legacy lock folder, backups, temp files) to the .gitignore there, appending a block; the answer's gitignore says so.]],
  exits = { { 0, "created" }, "INVALID_ARGUMENT", "SYSTEM_ERROR" },
}
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local state = require "tasknum.state"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1]) end

local min, max = opts.min or state.DEFAULT_MIN, opts.max or state.DEFAULT_MAX
local next = opts.next or min
if min > max then errors.raise("INVALID_ARGUMENT", "--min must not be greater than --max") end
if next < min or next > max then
  errors.raise("INVALID_ARGUMENT", string.format("--next %d is outside %d..%d", next, min, max))
end

local path = state.absolute(opts.state or os.getenv("TASKNUM_STATE") or ".opencode/specs/state.json")
if require("tasknum.fs").readable(path) then
  errors.raise("INVALID_ARGUMENT", "refusing to touch an existing state file: " .. path)
end

-- mkdir -p, one folder at a time
local dir = ""
for part in require("tasknum.fs").dirname(path):gmatch("[^/]+") do
  dir = dir .. "/" .. part
  local ok, msg, errno = core.mkdir(dir)
  if not ok and errno ~= core.EEXIST then error(errors.system(msg, errno, "cannot create the folder"), 0) end
end

local size = max - min + 1 -- wraps to <= 0 for ranges wider than int64
local text = string.format([[
{
  "_schema_version": "1.1.0",
  "next_project_number": %d,
  "project_numbering": {"min": %d, "max": %d, "policy": "%s"},
  "active_projects": []
}
]], next, min, max, size > 0 and "increment_modulo_" .. size or "increment")
-- create() links the new file into place, which fails if another init (or
-- anything else) made one since the check above: never a replace.
local ok, msg, errno = core.create(path, text)
if not ok and errno == core.EEXIST then
  errors.raise("INVALID_ARGUMENT", "refusing to touch an existing state file: " .. path)
end
if not ok then error(errors.system(msg, errno, "cannot create the state file"), 0) end
local real = core.realpath(path) or path
local ignored
if require("tasknum.gitdir").top(real) then
  local done, why = require("tasknum.gitignore").ensure(real)
  ignored = done or { error = tostring(why) }
end
return cli.emit(require("tasknum.answer").success{ state_path = path, next_project_number = next,
  project_numbering = { min = min, max = max }, gitignore = ignored })
