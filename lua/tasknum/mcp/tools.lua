-- tasknum.mcp.tools: the tools `tasknum mcp` offers, with their JSON
-- Schemas and descriptions, and what a call does: the library call the CLI
-- makes (tasknum.allocate, tasknum.add_task; status and check as their
-- commands answer), whose answer table is the result's structuredContent.
-- Each call is a whole transaction: nothing is held between calls.
local answer = require "tasknum.answer"
local args = require "tasknum.mcp.args"
local core = require "tasknum.core"
local edit = require "tasknum.edit"
local json = require "tasknum.json"
local tasknum = require "tasknum"

local M = {}

local array = json.array

-- --- schemas -----------------------------------------------------------------

local t = answer.describe

local ALLOCATION = {
  allocated_numbers = t("array", "the numbers handed out, in order; each is yours alone", { items = { type = "integer" } }),
  allocation_count = t("integer", "how many numbers were handed out"),
  previous_next_number = t("integer", "next_project_number before this call"),
  new_next_number = t("integer", "next_project_number after this call"),
  wrapped = t("boolean", "whether the counter passed the range's max and started again at min"),
  skipped_numbers = t("array", "numbers passed over because active projects hold them (a team policy)",
    { items = { type = "integer" } }),
  todo_path = t("string", "the TODO.md whose front matter follows the counter"),
  audit_error = t("string", "why the audit line could not be written (the call still succeeded)"),
}

local function merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    for k, v in pairs((select(i, ...))) do out[k] = v end
  end
  return out
end

local STATE = t("string", "Path of the state.json to use. Leave it out: the server uses its configured "
  .. "state, else $TASKNUM_STATE, else finds .opencode/specs/state.json or specs/state.json "
  .. "from the project folder (the client's root, or the folder the server runs in).", { minLength = 1 })
local PURPOSE = t("string", "What the number is for, in a few words (e.g. \"split parser work\"); "
  .. "recorded in the audit log and shown to anyone waiting for the lock.")
local FORMAT = t("string", "Output format for the text of the result, as `tasknum --format`: plain "
  .. "(the numbers), todo (the TODO.md heading), json, or a team's format. Leave it out for a short "
  .. "summary. The structured result is the same either way.", { minLength = 1 })

local function object(props, required)
  return { type = "object", properties = props, required = required and array(required) or nil,
           additionalProperties = false }
end

-- --- summaries: the short text beside the structured result --------------------

local function list(numbers)
  local out = {}
  for i, n in ipairs(numbers or {}) do out[i] = string.format("%d", n) end
  return table.concat(out, ", ")
end

local function counter_text(r)
  local text = string.format(" (next_project_number is now %d", r.new_next_number)
  if r.wrapped then text = text .. ", wrapped past the range's max" end
  if r.skipped_numbers then text = text .. "; skipped " .. list(r.skipped_numbers) .. ", held by active projects" end
  return text .. ")"
end

local function allocate_text(r)
  local n = r.allocated_numbers or {}
  return string.format("Allocated task number%s %s from %s%s.", #n == 1 and "" or "s", list(n),
    r.state_path, counter_text(r))
end

local function add_task_text(r)
  if r.existing then
    return string.format("Task %s already exists as number %d in %s; nothing was written.",
      r.project_name, r.project_number, r.state_path)
  end
  return string.format("Added task %d (%s) at the front of active_projects in %s%s. TODO.md heading: %s",
    r.project_number, r.project_name, r.state_path, counter_text(r), tostring(r.todo_heading))
end

local function int(v) return math.tointeger(v) or v end

local function status_text(r)
  local parts = { r.state_path .. ":" }
  if type(r.state_error) == "table" then
    parts[#parts + 1] = string.format("cannot read the state (%s: %s);", tostring(r.state_error.code),
      tostring(r.state_error.message))
  else
    parts[#parts + 1] = string.format("next_project_number %d (range %d..%d), %d active project%s, room for %d "
      .. "more number%s before an active project;", int(r.next_project_number), int(r.range.min), int(r.range.max),
      int(r.active_project_count), r.active_project_count == 1 and "" or "s", int(r.room), r.room == 1 and "" or "s")
  end
  parts[#parts + 1] = type(r.lock) == "table" and r.lock.held and ("lock held: " .. tostring(r.lock.description))
    or "lock free"
  return table.concat(parts, " ") .. "."
end

local function check_text(r)
  return "No problems in " .. r.state_path .. "."
end

-- --- calls ----------------------------------------------------------------------

-- The options of the steps that allocate: the state, the purpose, and
-- the format the call names for its text (a policy like the others: found
-- before the lock, rendered under it, as on the CLI).
local function allocating(a, ctx)
  return { state = ctx.state, purpose = a.purpose, format = a.format }
end

-- The text of a result: the failure, else the named format's rendering,
-- else the summary.
local function text_of(r, summary, rendered)
  if r.status ~= "success" then return answer.explain(r) end
  return rendered or summary(r)
end

M.LIST = {
  {
    name = "allocate",
    title = "Allocate task numbers",
    description = "Hand out the next unique task number(s) from the project's state.json "
      .. "(its next_project_number). The counter moves on under a lock and is written durably "
      .. "before you get the number, so no other agent, script or worktree ever gets the same "
      .. "one. Use this whenever a new task or project number is needed; never read or edit "
      .. "next_project_number yourself. To also record the task in active_projects, use "
      .. "add_task instead. The result's allocated_numbers are yours. On an error nothing was "
      .. "allocated: error_code says what happened and the answer says whether calling again "
      .. "can help (LOCK_TIMEOUT: another agent holds the state; wait a few seconds and retry).",
    input = object {
      count = t("integer", "How many numbers to hand out, 1 by default; at most 10 under the "
        .. "default policy (a team's policy may allow more).", { minimum = 1, default = 1 }),
      purpose = PURPOSE,
      state = STATE,
      format = FORMAT,
    },
    output = answer.schema(ALLOCATION, { "allocated_numbers", "allocation_count", "previous_next_number",
      "new_next_number", "wrapped", "state_path" }),
    call = function(a, ctx)
      local opts = allocating(a, ctx)
      opts.count = a.count
      local r, rendered = tasknum.allocate(opts)
      return r, text_of(r, allocate_text, rendered)
    end,
  },
  {
    name = "add_task",
    title = "Add a task",
    description = "Add a new task to the project's state.json in one locked, durable step: take "
      .. "the next task number and insert the entry {project_number, project_name: name, status: "
      .. "\"not_started\", created, description, ...fields} at the front of active_projects "
      .. "(a TODO.md beside the state follows the counter). Everything else in the file stays "
      .. "byte for byte. Pass if_absent: true unless you really want a second task under a name "
      .. "that is taken: then, when active_projects already has an entry with this name, its "
      .. "number comes back with existing: true and nothing is written, so calling again after "
      .. "a lost or timed-out answer is safe. The result's project_number is the task's number.",
    input = object({
      name = t("string", "The task's slug, used as project_name: letters, digits, _ . - "
        .. "(e.g. fix_parser_bug).", { pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$" }),
      description = t("string", "One or two sentences saying what the task is; any text, no quoting needed."),
      fields = t("object", "More members of the new entry, in this order, with any JSON values "
        .. "(e.g. {\"language\": \"lean4\", \"dependencies\": [58, 68]}). status or created replace "
        .. "those defaults; project_number and project_name cannot be set.", { maxProperties = 64 }),
      title = t("string", "The task's title for its TODO.md heading (default: the name made words)."),
      if_absent = t("boolean", "true: when a task with this name already exists, answer its number "
        .. "(existing: true) and write nothing. Use it for every call an agent might repeat.",
        { default = false }),
      purpose = PURPOSE,
      state = STATE,
      format = FORMAT,
    }, { "name" }),
    output = answer.schema(merge(ALLOCATION, {
      project_number = t("integer", "the task's number (new, or the existing task's with existing: true)"),
      project_name = t("string", "the task's name"),
      existing = t("boolean", "with if_absent: true when the task was already there and nothing was written"),
      title = t("string", "the task's title"),
      todo_heading = t("string", "the TODO.md heading line for the task, e.g. ### 82. Fix parser"),
      bookkeeping = t("array", "members kept in step in the same write (last_updated, metadata.total_tasks, "
        .. "task_counts.*), when the state has them"),
    }), { "project_number", "project_name", "allocated_numbers", "new_next_number", "state_path" }),
    call = function(a, ctx)
      local opts = allocating(a, ctx)
      opts.name, opts.description, opts.if_absent, opts.title = a.name, a.description, a.if_absent, a.title
      if a.fields then
        opts.fields = {}
        for i, f in ipairs(a.fields) do opts.fields[i] = { f[1], edit.raw(f[2]) } end
      end
      local r, rendered = tasknum.add_task(opts)
      return r, text_of(r, add_task_text, rendered)
    end,
  },
  {
    name = "status",
    title = "Numbering status",
    description = "Show where the project's numbering stands, without taking the lock or "
      .. "changing anything: the state file, next_project_number and its range, the room before "
      .. "the counter reaches an active project, how many active projects there are, who holds "
      .. "the lock (and for how long), leftover temp files, the legacy lock folder, the "
      .. "numbering's authority and its mark (where the numbering shared by worktrees or clones "
      .. "stands), and the last allocations from the audit log. The same facts as "
      .. "`tasknum status --json`.",
    input = object { state = STATE },
    output = answer.schema({
      next_project_number = t("integer", "the next number the counter gives"),
      range = t("object", "the numbering range", { properties = { min = { type = "integer" },
        max = { type = "integer" } } }),
      room = t("integer", "numbers the counter can hand out before it reaches one an active project holds"),
      next_active = t({ "object", "null" }, "the active project the counter reaches first, or null"),
      active_project_count = t("integer", "entries in active_projects"),
      lock = t("object", "the state lock: held, and the holder (pid, host, purpose, age) when held"),
      legacy = t("object", "the old .state.lock/ folder, if present, and whether it is stale"),
      temp_files = t("integer", "temp files left by killed writers"),
      audit = t("object", "the audit log's path and size"),
      recent = t("array", "the last allocations from the audit log"),
      policies = t("object", "the team policy folders and files in use"),
      state_error = t("object", "why the state could not be read (then the counter fields are absent)"),
      authority = t("object", "where the numbering lives: kind (file, worktrees, dir, git, postgresql), "
        .. "where, source (option, environment, state, default), mark (the next number it gives), "
        .. "counter (level, behind, ahead, new: the state's counter against the mark) and by (how far); "
        .. "error and code when it cannot be read"),
    }, { "state_path" }),
    read_only = true,
    call = function(_, ctx)
      local r = tasknum.status{ state = ctx.state }
      return r, text_of(r, status_text)
    end,
  },
  {
    name = "check",
    title = "Check the state file",
    description = "Validate the project's state.json as CI does, changing nothing: well-formed JSON "
      .. "with a plain integer counter inside the range, no number held by two active projects "
      .. "(nor by another worktree's task of another name), no active project in the way of the next "
      .. "allocations, and a counter not behind the numbering's mark. On problems the result is an "
      .. "error (CHECK_FAILED; STATE_CORRUPT when the file itself cannot be used) whose error.problems "
      .. "lists each one; do not fix the file with "
      .. "jq or by hand-editing the counter, report it.",
    input = object { state = STATE },
    output = answer.schema({
      problems = t("array", "on success: empty"),
    }, { "state_path", "problems" }),
    read_only = true,
    call = function(_, ctx)
      local r = tasknum.check{ state = ctx.state }
      return r, text_of(r, check_text)
    end,
  },
}

M.BY_NAME = {}
for _, tool in ipairs(M.LIST) do M.BY_NAME[tool.name] = tool end

-- definitions(features) -> the tools/list entries, for a protocol version
-- with features.structured (title, outputSchema: 2025-06-18 and later)
-- and features.annotations (2025-03-26 and later).
function M.definitions(features)
  local list = {}
  for i, tool in ipairs(M.LIST) do
    local ro = tool.read_only == true
    local hints = { title = tool.title, readOnlyHint = ro, idempotentHint = ro, openWorldHint = false }
    if not ro then hints.destructiveHint = false end -- it only adds: a number, an entry
    list[i] = { name = tool.name, description = tool.description, inputSchema = tool.input,
                title = features.structured and tool.title or nil,
                outputSchema = features.structured and tool.output or nil,
                annotations = features.annotations and hints or nil }
  end
  return array(list)
end

-- names_state(text, s, e) -> whether the arguments object at [s, e] gives
-- a state (then the server need not find one).
function M.names_state(text, s, e)
  local vs = s and core.member(text, s, e, "state")
  return vs ~= nil and text:sub(vs, vs) == '"'
end

-- call(tool, text, s, e, locate) -> answer, text [, the answer's JSON as
-- its command printed it]. [s, e]: the arguments object in the message
-- (nil: none). locate() -> the state the server settled on when the
-- arguments give none (nil: the library finds it), or raises an error
-- value (the client's roots lead nowhere, or to several states).
function M.call(tool, text, s, e, locate)
  local a, why = args.read(tool.input, text, s, e)
  local r
  if not a then
    r = answer.invalid(why)
    return r, answer.explain(r)
  end
  local ok, where = pcall(function() return a.state or locate() end)
  if not ok then
    r = answer.failure(where)
    return r, answer.explain(r)
  end
  return tool.call(a, { state = where })
end

return M
