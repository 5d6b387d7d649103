-- tasknum.addtask (internal): the whole /task step of an agent command in one locked,
-- durable write, behind tasknum.add_task (the CLI's `tasknum add-task` and
-- the MCP server's add_task tool both call it): the next number from the
-- team's conflict policy, and the new entry first in active_projects,
-- indented like its neighbours; nothing else in the state changes. The
-- TODO.md beside the state follows the counter, as for every allocation.
--
-- The entry: project_number, project_name, status "not_started", created
-- (UTC, seconds), description, then the fields in their order; a field
-- named status, created or description replaces that default in place.
--
-- if_absent: when active_projects already has an entry with this
-- project_name and a whole project_number, the answer is that number with
-- existing = true, and the state is not written; decided under the same
-- lock as the insert, so a retry after a lost answer never adds the task
-- twice.
--
-- Bookkeeping: the team's bookkeeping policy (tasknum.policy.bookkeeping
-- by default) keeps the members real /task commands maintain in step in
-- the same write (last_updated, metadata.total_tasks, task_counts), when
-- the state has them; the answer's bookkeeping lists what it changed.
--
-- The answer also carries title (given, or the slug made words) and
-- todo_heading, the TODO.md heading line ("### 82. Fix parser"), so one
-- call serves both files.
local edit = require "tasknum.edit"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local policy = require "tasknum.policy"
local report = require "tasknum.report"
local txn = require "tasknum.txn"

local M = {}

-- What a name may be: a slug, as the agent systems' /task command makes.
M.SLUG = "^[%w][%w_.%-]*$"
local FIXED = { project_number = true, project_name = true }

local function bad(message) errors.raise("INVALID_ARGUMENT", message) end

-- fields(opts.fields) -> list of {key, value}: a list of pairs keeps its
-- order, a table of key = value is taken in sorted key order.
local function field_list(fields, fname)
  if fields == nil then return {} end
  if type(fields) ~= "table" then
    error(fname .. ": fields must be a table, got " .. type(fields), 4)
  end
  local list = {}
  if #fields > 0 or next(fields) == nil then
    for i, pair in ipairs(fields) do
      if type(pair) ~= "table" or pair[1] == nil then
        error(fname .. ": fields[" .. i .. "] must be a {key, value} pair", 4)
      end
      list[i] = { pair[1], pair[2] }
    end
  else
    for k, v in pairs(fields) do list[#list + 1] = { k, v } end
    table.sort(list, function(a, b) return tostring(a[1]) < tostring(b[1]) end)
  end
  return list
end

-- members(opts) -> the entry's members in order (the number, and created
-- unless a field gives it, filled in under the lock); raises
-- INVALID_ARGUMENT for a name or field the step cannot take.
local function members(name, description, fields)
  if not name then bad("add-task needs a name (a slug such as fix_parser_bug)") end
  if not name:match(M.SLUG) then
    bad("the name must be a slug (letters, digits, _ . -, starting with a letter or digit), got "
      .. string.format("%q", name))
  end
  local list = { { "project_number" }, { "project_name", name }, { "status", "not_started" },
                 { "created" }, { "description", description } }
  local index = { project_number = 1, project_name = 2, status = 3, created = 4, description = 5 }
  for _, f in ipairs(fields) do
    local key, value = f[1], f[2]
    if type(key) ~= "string" or key == "" then bad("a field needs a non-empty name") end
    if FIXED[key] then bad("a field cannot set " .. key) end
    if value == nil then bad("field " .. key .. " has no value") end
    if not index[key] then
      list[#list + 1] = { key }
      index[key] = #list
    end
    list[index[key]][2] = value
  end
  return list
end

-- title_of(name [, title]) -> the task's title: the one given, else the
-- slug with its underscores made spaces and the first letter capitalised
-- (the /task command's expansion); on one line.
function M.title_of(name, title)
  local t = title or tostring(name):gsub("_", " "):gsub("^%l", string.upper)
  return (t:gsub("[\r\n]+", " "))
end

-- The team's bookkeeping policy: a table with added(txn, task) | nil, err.
local function bookkeeping(t)
  local value, where = policy.load("bookkeeping.lua", "tasknum.policy.bookkeeping", policy.dirs(t.path))
  if value == nil then error(where, 0) end
  if type(value) ~= "table" or type(value.added) ~= "function" then
    errors.raise("SCRIPT_ERROR", "bookkeeping policy " .. tostring(where)
      .. " must return a table with an added(txn, task) function")
  end
  if t.verbose then
    io.stderr:write("tasknum: bookkeeping policy ", require("tasknum.text").printable(where), "\n")
  end
  return value
end

-- The first entry of active_projects named name that holds a number.
local function existing(t, name)
  local n
  report.each(t.text, t.info, function(a)
    if a.name == name and a.number then n = a.number return true end
  end)
  return n
end

-- run(opts) -> answer [, text]: opts as for tasknum.allocate (state,
-- timeout, stale, purpose, todo, format, ...) plus name, description,
-- fields, if_absent; text is the answer in opts.format when the transaction
-- renders one. Success answers carry project_number and project_name, and
-- existing (true or false) when if_absent was asked.
function M.run(opts)
  local fname = "tasknum.add_task"
  if opts.name ~= nil and type(opts.name) ~= "string" then
    error(fname .. ": name must be a string, got " .. type(opts.name), 3)
  end
  if opts.description ~= nil and type(opts.description) ~= "string" then
    error(fname .. ": description must be a string, got " .. type(opts.description), 3)
  end
  if opts.if_absent ~= nil and type(opts.if_absent) ~= "boolean" then
    error(fname .. ": if_absent must be a boolean, got " .. type(opts.if_absent), 3)
  end
  if opts.title ~= nil and type(opts.title) ~= "string" then
    error(fname .. ": title must be a string, got " .. type(opts.title), 3)
  end
  if opts.bookkeeping ~= nil and type(opts.bookkeeping) ~= "boolean" then
    error(fname .. ": bookkeeping must be a boolean, got " .. type(opts.bookkeeping), 3)
  end
  local fields = field_list(opts.fields, fname)
  local entry, keeper
  local run = setmetatable({
    purpose = opts.purpose or (type(opts.name) == "string" and "add-task " .. opts.name or "add-task"),
    prepare = function(t)
      entry = members(opts.name, opts.description, fields) -- before the lock
      if opts.bookkeeping ~= false then keeper = bookkeeping(t) end
      if opts.prepare then opts.prepare(t) end
    end,
  }, { __index = opts })
  local function named(n, extra)
    extra.project_number, extra.project_name = n, opts.name
    extra.title = M.title_of(opts.name, opts.title)
    extra.todo_heading = string.format("### %d. %s", n, extra.title)
    return extra
  end
  local r, text = txn.run(run, function(t)
    if opts.if_absent then
      local n = existing(t, opts.name)
      if n then
        t.audit_extra = { existing_project_number = n }
        return named(n, { existing = true })
      end
    end
    local n = t:pick(1)[1]
    entry[1][2] = n
    if entry[4][2] == nil then entry[4][2] = os.date("!%Y-%m-%dT%H:%M:%SZ") end
    local changed
    if keeper then
      local list = { table.unpack(entry) } -- the policy may add members, never drop the fixed ones
      changed = keeper.added(t, { number = n, name = opts.name, status = entry[3][2], created = entry[4][2],
        members = list })
      if list[1] ~= entry[1] or list[2] ~= entry[2] then
        t:fail("SCRIPT_ERROR", "the bookkeeping policy dropped the entry's project_number or project_name")
      end
      entry = list
    end
    local value = edit.object(entry)
    local s = t:span("active_projects")
    local first = s and t.text:sub(s, s)
    if first == "[" then
      edit.prepend(t, "active_projects", value)
    elseif first and first ~= "n" then -- null holds no task: it becomes the list
      t:fail("STATE_CORRUPT", "active_projects is not an array in the state: add-task cannot add the task to it",
        "make it an array ([] when empty); `tasknum check` names it (not-array); nothing was written")
    else
      edit.set(t, "active_projects", { value })
    end
    local extra = named(n, {})
    if opts.if_absent then extra.existing = false end
    if type(changed) == "table" and #changed > 0 then extra.bookkeeping = json.array(changed) end
    return extra
  end)
  return r, text
end

return M
