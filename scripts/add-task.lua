-- add-task.lua: the whole /task step of an agent command in one locked,
-- durable write: takes the next number with the team's conflict policy and
-- inserts the new entry at the front of active_projects, indented like its
-- neighbours; nothing else in the state changes. The TODO.md beside the
-- state, if its front matter has next_project_number:, follows the counter.
--   tasknum add-task --name SLUG [--description TEXT]
--                    [--field KEY=TEXT | --field KEY:=JSON ...]
--                    [--purpose TEXT] [--state PATH] [--timeout S] [--stale S]
--                    [--format json|plain|todo|NAME] [--todo PATH | --no-todo]
--                    [--verbose]
-- The entry: project_number, project_name, status "not_started", created
-- (UTC, seconds), description, then the fields in the order given.
-- --field status=planned or created=... replaces those defaults.
local tasknum = require "tasknum"
local cli = require "tasknum.cli"
local edit = require "tasknum.edit"

local function bad(message) tasknum.errors.raise("INVALID_ARGUMENT", message) end

local opts, rest = cli.parse({ ... }, cli.allocating {
  ["--name"] = { "name", "string" },
  ["--description"] = { "description", "string" },
  ["--field"] = { "fields", "list" },
})
if #rest > 0 then bad("unexpected argument " .. rest[1]) end
if not opts.name then bad("add-task needs --name SLUG") end
if not opts.name:match("^[%w][%w_.%-]*$") then
  bad("--name takes a slug (letters, digits, _ . -), got " .. string.format("%q", opts.name))
end
if opts.todo and opts.no_todo then bad("--todo and --no-todo exclude each other") end

-- The entry's members in order; the number is filled in under the lock.
local members = { { "project_number" }, { "project_name", opts.name }, { "status", "not_started" },
                  { "created" }, { "description", opts.description } }
local index = { project_number = 1, project_name = 2, status = 3, created = 4, description = 5 }
for _, spec in ipairs(opts.fields or {}) do
  local key, op, value = spec:match("^([^=:]+)(:?=)(.*)$")
  if not key then bad("--field takes KEY=TEXT or KEY:=JSON, got " .. spec) end
  if key == "project_number" or key == "project_name" then bad("--field cannot set " .. key) end
  if op == ":=" then
    local ok, raw = pcall(edit.raw, value)
    if not ok then bad("--field " .. key .. ":= takes one JSON value, got " .. value) end
    value = raw
  end
  if not index[key] then
    members[#members + 1] = { key }
    index[key] = #members
  end
  members[index[key]][2] = value
end

local todo = opts.todo -- nil: the TODO.md beside the state, if it has the line
if opts.no_todo then todo = false end

local out = cli.output(opts.format, opts.verbose)
local result = tasknum.transaction({
  state = opts.state, timeout = opts.timeout, stale = opts.stale, purpose = opts.purpose or "add-task " .. opts.name,
  todo = todo, prepare = out.prepare, check = out.check,
}, function(txn)
  local n = txn:pick(1)[1]
  members[1][2] = n
  if members[4][2] == nil then members[4][2] = os.date("!%Y-%m-%dT%H:%M:%SZ") end
  local entry = edit.object(members)
  if txn:span("active_projects") then
    edit.prepend(txn, "active_projects", entry)
  else
    edit.set(txn, "active_projects", { entry })
  end
  return { project_number = n, project_name = opts.name }
end)
return out.emit(result)
