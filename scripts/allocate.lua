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
if opts.no_todo then opts.todo, opts.no_todo = false, nil end
opts.format = opts.format or "json"
-- The format is a policy like the others: found before the lock (an unknown
-- one allocates nothing), rendered under it before the write (one that
-- raises writes nothing).
return cli.emit(tasknum.allocate(opts))
