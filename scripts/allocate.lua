-- allocate.lua: hands out the next task number(s).
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "hand out the next task number(s)",
  options = cli.allocating {
    { "--count", "integer", "N", "how many numbers (default 1; 1..10 with the shipped conflict policy)" },
  },
  text = [[
Takes the state's lock, picks the numbers with the team's conflict policy (the shipped one fails with NUMBER_CONFLICT when an active project holds one), writes the new counter durably, appends the audit line, releases the lock, and prints one answer: a line of JSON, or with --format plain the numbers separated by spaces (and nothing on stdout on failure).

The TODO.md beside the state (or --todo PATH) follows the counter when its front matter has next_project_number:.]],
}
local tasknum = require "tasknum"

local opts, rest = cli.parse({ ... }, command)
if #rest > 0 then
  tasknum.errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1])
end
-- The format is a policy like the others: found before the lock (an unknown
-- one allocates nothing), rendered under it before the write (one that
-- raises writes nothing).
return cli.emit(tasknum.allocate(cli.step(opts)))
