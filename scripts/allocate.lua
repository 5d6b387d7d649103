-- allocate.lua: hands out the next task number(s).
--   tasknum allocate [--count N] [--purpose TEXT] [--state PATH]
--                    [--timeout S] [--stale S] [--format json|plain|NAME]
local tasknum = require "tasknum"
local cli = require "tasknum.cli"

local opts, rest = cli.parse({ ... }, {
  ["--count"] = { "count", "integer" },
  ["--purpose"] = { "purpose", "string" },
  ["--state"] = { "state", "string" },
  ["--timeout"] = { "timeout", "seconds" },
  ["--stale"] = { "stale", "seconds" },
  ["--format"] = { "format", "string" },
})
if #rest > 0 then
  tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1])
end
local format = opts.format or "json"
opts.format = nil
-- An unknown format is refused before anything is allocated.
if not tasknum.policy.format(format, nil) then
  tasknum.errors.raise("INVALID_ARGUMENT", "unknown format " .. format .. " (json, plain, or a team's format/NAME.lua)")
end
local result = tasknum.allocate(opts)
return cli.emit(result, format, result.state_path)
