-- tasknum.format.text: a short answer for a person at a terminal. It is
-- what a command prints when its stdout is a terminal and no --format was
-- given (tasknum.cli.format_of); piped, the answer stays JSON. One line
-- for the common case, a few more where there is something to do (init's
-- .gitignore lines). A failure prints nothing here: the stderr line
-- (`tasknum: CODE: message; what to do`) says it all.
--
-- The kind of answer is told by its keys: problems (check), in_step
-- (todo), created (init), set (set), sync (sync), project_number
-- (add-task), allocated_numbers (allocate); anything else is printed as
-- JSON.
local answer = require "tasknum.answer"

-- What others wrote (a title, a path, a reason) is shown, never obeyed by
-- the terminal (tasknum.text).
local clean = require("tasknum.text").printable

local function list(numbers)
  local out = {}
  for i, n in ipairs(numbers or {}) do out[i] = tostring(n) end
  return table.concat(out, " ")
end

-- What came before the numbers: a counter moved to a numbering's mark,
-- numbers skipped, a wrap.
local function notes(r)
  local out = {}
  if type(r.counter_adjusted) == "table" then
    out[#out + 1] = string.format("the counter first moved from %s to %s: %s", clean(r.counter_adjusted.from),
      clean(r.counter_adjusted.to), clean(r.counter_adjusted.reason))
  end
  if type(r.skipped_numbers) == "table" and #r.skipped_numbers > 0 then
    out[#out + 1] = "skipped " .. list(r.skipped_numbers) .. " (held by active projects)"
  end
  if r.wrapped then out[#out + 1] = "the counter wrapped from the top of the range" end
  if type(r.gitignore) == "table" and r.gitignore.action == "added" then
    out[#out + 1] = "added tasknum's files to " .. clean(r.gitignore.path)
  end
  if r.audit_error then out[#out + 1] = "the audit log was not written: " .. clean(r.audit_error) end
  return #out > 0 and ("\n" .. table.concat(out, "\n")) or ""
end

local function init(r)
  local n = r.project_numbering or {}
  local out = { string.format("created %s (%s layout): next %s, range %s..%s", clean(r.created),
    clean(r.layout), clean(r.next_project_number), clean(n.min), clean(n.max)) }
  local g = r.gitignore
  if type(g) == "table" then
    if g.action == "added" then
      out[#out + 1] = "added the files tasknum keeps beside it to " .. clean(g.path)
        .. "; commit that with the state"
    elseif g.action == "present" then
      out[#out + 1] = clean(g.path) .. " keeps tasknum's files out of git already"
    elseif g.lines then
      out[#out + 1] = clean(g.advice or ("if you commit this folder, put these lines in " .. tostring(g.path)))
        .. ":"
      for _, line in ipairs(g.lines) do out[#out + 1] = "  " .. clean(line) end
    elseif g.error then
      out[#out + 1] = "could not add tasknum's files to .gitignore: " .. clean(g.error)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function todo(r)
  if r.repaired then
    return string.format("set %s's next_project_number: to %s (it was %s)\n", clean(r.todo_path),
      clean(r.state_next), clean(r.todo_next))
  end
  return string.format("%s is in step with the state: next %s\n", clean(r.todo_path), clean(r.state_next))
end

local function set(r)
  local was, now = r.previous_numbering or {}, r.project_numbering or {}
  if not r.changed then
    return string.format("nothing to change in %s: next %s, range %s..%s\n", clean(r.state_path),
      clean(r.new_next_number), clean(now.min), clean(now.max))
  end
  local parts = {}
  if r.previous_next_number ~= r.new_next_number then
    parts[#parts + 1] = string.format("next_project_number %s -> %s", clean(r.previous_next_number),
      clean(r.new_next_number))
  end
  if was.min ~= now.min or was.max ~= now.max then
    parts[#parts + 1] = string.format("range %s..%s -> %s..%s", clean(was.min), clean(was.max), clean(now.min),
      clean(now.max))
  end
  return table.concat(parts, "; ") .. " in " .. clean(r.state_path) .. notes(r) .. "\n"
end

local SYNC = {
  counter = "the counter moved up to the numbering's mark: next %s",
  mark = "the numbering's mark moved up to the counter: next %s",
  level = "the counter and the numbering's mark agree: next %s",
  new = "the numbering's mark was started from the state: next %s",
}

local function added(r)
  if r.existing then
    return string.format("task %s (%s) is there already; nothing was written\n", clean(r.project_number),
      clean(r.project_name))
  end
  return string.format("added task %s (%s) to %s; next is %s\n%s%s\n", clean(r.project_number),
    clean(r.project_name), clean(r.state_path), clean(r.new_next_number),
    clean(r.todo_heading or ("### " .. tostring(r.project_number) .. ".")), notes(r))
end

return function(r)
  if r.status ~= "success" then return "" end
  if r.problems then return "no problems in " .. clean(r.state_path) .. "\n" end
  if r.in_step ~= nil then return todo(r) end
  if r.created then return init(r) end
  if r.set then return set(r) end
  if r.sync then return string.format(SYNC[r.sync] or "sync: %s", clean(r.mark)) .. notes(r) .. "\n" end
  if r.project_number then return added(r) end
  if r.allocated_numbers then
    return string.format("%s (next is %s, in %s)%s\n", list(r.allocated_numbers), clean(r.new_next_number),
      clean(r.state_path), notes(r))
  end
  return answer.json(r)
end
