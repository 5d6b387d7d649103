-- allocate.lua: hands out the next task number(s).
--   tasknum allocate [--count N] [--purpose TEXT] [--state PATH]
--                    [--timeout S] [--stale S] [--format json|plain|todo|NAME]
--                    [--todo PATH | --no-todo] [--verbose]
-- --verbose lists the state and the policy files in use on stderr. The
-- TODO.md beside the state (or --todo PATH) follows the counter when its
-- front matter has next_project_number:.
local tasknum = require "tasknum"
local cli = require "tasknum.cli"

local opts, rest = cli.parse({ ... }, cli.allocating {
  ["--count"] = { "count", "integer" },
})
if #rest > 0 then
  tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1])
end
if opts.todo and opts.no_todo then
  tasknum.errors.raise("INVALID_ARGUMENT", "--todo and --no-todo exclude each other")
end
if opts.no_todo then opts.todo = false end
-- The format is found before the lock (an unknown one allocates nothing)
-- and tried under it (one that raises writes nothing).
local out = cli.output(opts.format, opts.verbose)
opts.format, opts.verbose, opts.no_todo = nil, nil, nil
opts.prepare, opts.check = out.prepare, out.check
return out.emit(tasknum.allocate(opts))
