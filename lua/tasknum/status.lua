-- tasknum.status (internal): what `tasknum status` and `tasknum check`
-- read, without taking any lock: status(opts) gathers the facts, check(opts)
-- judges the state. Both go through the authorities for anything about
-- locks and marks.
local answer = require "tasknum.answer"
local authority = require "tasknum.authority"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local policy = require "tasknum.policy"
local report = require "tasknum.report"
local serial = require "tasknum.serial"
local state = require "tasknum.state"

local M = {}

M.RECENT = 5  -- allocations status lists
M.AHEAD = 10  -- the most one allocation hands out under the default policy
M.LISTED = 10 -- problems check's message names (error.problems lists all)

local function error_fields(e)
  return { code = e.code, message = e.message, details = e.details }
end

-- The counter, the range and the room before the next active project;
-- -> the parsed state, or nil.
local function counter(s, text)
  local info, err = state.parse(text)
  if not info then
    s.state_error = error_fields(err)
    return
  end
  local active = report.active(text, info)
  local room, nearest, number = report.room(info, active)
  s.next_project_number = info.next
  s.range = { min = info.min, max = info.max }
  s.active_project_count = #active
  s.room = room
  s.next_active = nearest and { project_number = number, project_name = nearest.name }
    or json.null
  return info
end

-- --- the numbering's authority and its mark ------------------------------------

-- mark(path, real, info, opts) -> what the numbering's authority says of
-- the state, read without taking anything: { kind, where, source, mark
-- (the next number it gives; null when it keeps none yet), serial,
-- counter ("level", "behind", "ahead" or "new": the state's counter
-- against the mark), by, lock, error, corrupt }, and the authority (nil
-- when it cannot be opened: then error and code say why, and the error
-- value comes third; a committed one the state may not choose (UNTRUSTED,
-- see tasknum.trust) is reported so, with the folder to trust, and never
-- opened or connected to).
function M.mark(path, real, info, opts)
  local f = authority.file(path, real, { stale = opts.stale })
  local spec, source = authority.choose(opts.authority, info and info.authority)
  local a, err = authority.open(spec, f, source)
  if not a then
    return { spec = spec and require("tasknum.authority.remote").redact(spec), source = source,
      error = err.message, code = err.code, details = err.details,
      trust = err.code == "UNTRUSTED" and type(err.data) == "table" and err.data.trust or nil }, nil, err
  end
  local m = { kind = a.kind, where = a.where, source = source }
  if a == f then -- the state's counter is the mark
    m.mark, m.counter = info and info.next or json.null, "level"
    return m, a
  end
  local st = a:status()
  m.lock, m.error, m.corrupt = st.lock or { held = st.held, holder = st.holder }, st.error, st.corrupt
  if st.serial == false then
    m.mark, m.counter = json.null, "new"
  elseif st.serial ~= nil and info then
    local range = st.range or info
    m.serial, m.mark = st.serial, serial.display(st.serial, range.min, range.max)
    local r = serial.reconcile(info.next, st.serial, info.min, info.max, { range = st.range })
    m.counter = r.behind and "behind" or r.ahead and "ahead" or "level"
    m.by = r.behind or r.ahead
  elseif st.serial ~= nil then
    m.serial = st.serial
  end
  local b = st.reservation -- a block reserved on a remote numbering (tasknum reserve)
  if b and info then
    m.reservation = { left = b.left, first = serial.display(b.serial, info.min, info.max),
      last = serial.display(b.limit - 1, info.min, info.max) }
  end
  return m, a
end

local function audit_status(s, path, policies)
  local log = report.audit_path(path, policies)
  local st = core.stat(log)
  s.audit = { path = log, bytes = st and st.size or 0 }
  local recent = report.recent(log, M.RECENT, function(e)
    return type(e.numbers) == "table" and #e.numbers > 0
  end)
  s.recent = json.array({})
  for i, e in ipairs(recent) do
    s.recent[i] = { timestamp = e.timestamp, numbers = json.array(e.numbers), pid = e.pid,
      host = e.host, user = e.user, purpose = e.purpose, command = e.command }
  end
end

-- status(opts) -> the facts (see tasknum.status); a state that cannot be
-- found is the failure answer.
function M.status(opts)
  local path, real = state.find(opts.state)
  if not path then return answer.failure(real) end
  local s = answer.success{ state_path = path }
  local text, err = state.read(real or path)
  local info
  if text then info = counter(s, text) else s.state_error = error_fields(err) end
  s.authority = M.mark(path, real, info, opts)
  local f = authority.file(path, real, { stale = opts.stale })
  local fs = f:status(opts.stale)
  s.lock, s.legacy, s.temp_files, s.temp_error = fs.lock, fs.legacy, fs.temp_files, fs.temp_error
  local policies, perr = policy.policies(path)
  if not policies then s.policy_error = error_fields(perr) end
  audit_status(s, path, policies)
  s.policies = { dirs = json.array(policy.dirs(path)),
    loaded = json.array(table.move(policy.loaded, 1, #policy.loaded, 1, {})) }
  return s
end

-- --- check ------------------------------------------------------------------

local function name_of(a, n)
  return string.format("%d (%s)", n or a.number, a.name or "no name")
end

-- The problems a check lists: the first LIMIT; past them they are only
-- counted (a state with 66,000 entries written "5" would otherwise list
-- 66,000, megabytes of JSON): problems -> how many were left out.
M.LIMIT = 1000
local left_out = setmetatable({}, { __mode = "k" })

-- full(problems) -> true (counting one more left out) when the list has
-- LIMIT problems: callers ask before building a problem's message.
local function full(problems)
  if #problems < M.LIMIT then return false end
  left_out[problems] = (left_out[problems] or 0) + 1
  return true
end

local function add(problems, p)
  if not full(problems) then problems[#problems + 1] = p end
end

-- Numbers held by two active projects.
local function duplicates(active, problems)
  local first = {}
  for _, a in ipairs(active) do
    for n in report.numbers(a) do
      local other = first[n]
      if other and other ~= a then
        add(problems, { check = "duplicate", project_number = n,
          message = string.format("project number %d is held by active projects %s and %s "
            .. "(entries %d and %d)", n, other.name or "?", a.name or "?", other.index, a.index) })
      elseif not other then
        first[n] = a
      end
    end
  end
end

local function entry_name(a)
  return string.format("active project entry %d (%s)", a.index, a.name or "no name")
end

-- What only some readers see: a number spelled loosely (held, but a jq
-- `select(.project_number == 5)` misses "5"), a project_number that holds
-- no number, and a key an entry gives twice.
local function spellings(text, active, problems)
  for _, a in ipairs(active) do
    for _, v in ipairs(report.odd(a) or {}) do
      if (v.loose or not v.number) and not full(problems) then
        local written = text:sub(v.vs, math.min(v.ve, v.vs + 60))
        problems[#problems + 1] = v.loose and { check = "loose", project_number = v.number, written = written,
          message = string.format("%s writes its project_number as %s: tasknum holds %d, but tools "
            .. "that compare numbers miss it; write %d", entry_name(a), written, v.number, v.number) }
          or { check = "not-whole", written = written,
          message = string.format("%s has project_number %s, which is not a whole number in 64 bits: "
            .. "it holds no number", entry_name(a), written) }
      end
    end
    for _, key in ipairs(a.dup_keys or {}) do
      local held = {}
      for i, v in ipairs(key == "project_number" and a.values or {}) do
        held[i] = text:sub(v.vs, math.min(v.ve, v.vs + 60))
      end
      add(problems, { check = "duplicate-key", key = key, entry = a.index,
        message = string.format("%s gives %s more than once; readers disagree on which counts "
          .. "(jq takes the last)%s", entry_name(a), key,
          #held > 0 and ", so tasknum holds every one (" .. table.concat(held, ", ") .. ")" or "") })
    end
  end
end

-- Top-level keys given twice (those tasknum reads make the state corrupt
-- already; a team policy may read the others).
local function top_keys(text, info, problems)
  local list, seen = core.pairs(text, info.root_start, info.root_stop) or {}, {}
  for i = 1, #list, 3 do
    local key = list[i]
    seen[key] = (seen[key] or 0) + 1
    if seen[key] == 2 then
      add(problems, { check = "duplicate-key", key = key,
        message = string.format("the top-level key %s is given more than once; readers disagree on "
          .. "which counts (jq takes the last)", key) })
    end
  end
end

local function ahead_problem(info, nearest, n, room, policy)
  return { check = "ahead", project_number = n, room = room, policy = policy,
    message = room == 0
      and string.format("the counter %d is held by active project %s", info.next, name_of(nearest, n))
      or string.format("active project %s is only %d number%s after the counter %d", name_of(nearest, n),
        room, room == 1 and "" or "s", info.next) }
end

-- Active projects that the next AHEAD numbers from the counter run into.
-- With the team's policies, their conflict policy decides: the next
-- allocations (one number each) are made on a step that is never locked
-- or written (txn.dry), and a NUMBER_CONFLICT among them is the problem (a
-- policy that skips taken numbers finds none). Without, any active
-- project that close is.
local function ahead(text, info, active, problems, policies)
  if not policies then
    local room, nearest, n = report.room(info, active)
    if nearest and room < M.AHEAD then add(problems, ahead_problem(info, nearest, n, room)) end
    return
  end
  local t = require("tasknum.txn").dry { text = text, info = info, policies = policies }
  for _ = 1, M.AHEAD do
    local handed = #t.numbers
    if handed >= M.AHEAD then return end
    local ok, err = pcall(t.pick, t, 1)
    if not ok then
      err = errors.from(err)
      local c = type(err.data) == "table" and type(err.data.conflicts) == "table" and err.data.conflicts[1]
      if err.code == "NUMBER_CONFLICT" and type(c) == "table" and math.type(c.project_number) == "integer" then
        add(problems, ahead_problem(info, { name = c.project_name }, c.project_number, handed,
          policies.files.conflict))
      else
        add(problems, { check = err.code == "NUMBER_CONFLICT" and "ahead" or "policy", room = handed,
          policy = policies.files.conflict, message = string.format("the next allocation (after %d number%s) "
            .. "fails: %s: %s", handed, handed == 1 and "" or "s", err.code, err.message) })
      end
      return
    end
  end
end

-- Numbers this state gives to a task that another worktree of the clone
-- gives to a task of another name (the worktrees authority knows them all).
local function across(tree, text, info, problems)
  local mine = {}
  report.each(text, info, function(a) -- every number an entry holds, however written
    for n in report.numbers(a) do
      if a.name then mine[n] = a.name end
    end
  end)
  for _, top in ipairs(require("tasknum.gitdir").worktrees(tree)) do
    local other = top ~= tree.top and state.read(top .. "/" .. tree.path)
    local oinfo = other and state.parse(other)
    for _, a in ipairs(oinfo and report.active(other, oinfo) or {}) do
      for n in report.numbers(a) do
        local name = mine[n]
        if name and a.name and a.name ~= name then
          problems[#problems + 1] = { check = "duplicate", project_number = n, worktree = top,
            message = string.format("project number %d is held by active project %s here and by %s in the "
              .. "worktree %s", n, name, a.name, top) }
        end
      end
    end
  end
end

-- What the numbering's authority says against the state: a counter behind
-- its mark, a mark that cannot be read, numbers another worktree gives to
-- other tasks. -> nil, or the failure of an authority that cannot be
-- reached (it is not the state's problem).
local function numbering(path, real, text, info, opts, problems)
  local m, a, err = M.mark(path, real, info, opts)
  if not a then return err end
  if m.corrupt then
    problems[#problems + 1] = { check = "mark", message = m.error, details = "see `tasknum allocate`'s answer "
      .. "for what to do: it keeps a copy and says how to start a new mark" }
  elseif m.error then
    return errors.new("AUTHORITY_UNAVAILABLE", m.error, "tasknum check reads the " .. m.kind .. " numbering's mark")
  elseif m.counter == "behind" then
    problems[#problems + 1] = { check = "behind", mark = m.mark, by = m.by,
      message = string.format("the counter %d is %d behind the %s numbering's mark %d: numbers up to %d "
        .. "were handed out elsewhere (another worktree or clone, or before a rewind), or are a gap (a step "
        .. "that failed after moving the mark: a full disk, say); `tasknum sync` "
        .. "moves the counter to the mark", info.next, m.by, m.kind, m.mark,
        serial.display(m.serial - 1, info.min, info.max)) }
  end
  if a.tree then across(a.tree, text, info, problems) end
end

-- problems(text [, where]) -> the list of what is wrong with a state
-- text (the first LIMIT), the failure of its authority when one cannot be
-- reached, how many problems were left out past LIMIT, and the
-- STATE_CORRUPT error when the text is no usable state at all. where:
-- {path, real, opts, policies} of the state, to ask its numbering and its
-- conflict policy too.
function M.problems(text, where)
  local problems = {}
  local info, err = state.parse(text)
  if not info then
    if where then state.advise(err, where.real) end
    problems[1] = { check = "well-formed", message = err.message, details = err.details }
    return problems, nil, 0, err
  end
  local active, kind = report.active(text, info)
  if kind and kind ~= "null" then
    add(problems, { check = "not-array", message = "active_projects is " .. kind
      .. ", not an array: no number in it is held" })
  end
  -- the ones that stop an allocation first: past LIMIT only spellings
  -- and keys given twice can be left out
  ahead(text, info, active, problems, where and where.policies)
  duplicates(active, problems)
  local unreachable = where and numbering(where.path, where.real, text, info, where.opts, problems)
  top_keys(text, info, problems)
  spellings(text, active, problems)
  return problems, unreachable, left_out[problems] or 0
end

-- check(opts) -> success with problems = [], or CHECK_FAILED listing them
-- (STATE_CORRUPT when the file is no usable state: not JSON, a counter
-- outside its range, ...)
function M.check(opts)
  local path, real = state.find(opts.state)
  if not path then return answer.failure(real) end
  local text, rerr = state.read(real or path)
  if not text then return answer.failure(rerr, { state_path = path }) end
  local policies, perr = policy.policies(path)
  if not policies then return answer.failure(perr, { state_path = path }) end
  local problems, unreachable, left_out, corrupt = M.problems(text, { path = path, real = real, opts = opts,
    policies = policies })
  if unreachable then return answer.failure(unreachable, { state_path = path }) end
  if corrupt then
    corrupt.data = { problems = problems }
    return answer.failure(corrupt, { state_path = path })
  end
  if #problems == 0 then
    return answer.success{ state_path = path, problems = json.array({}) }
  end
  -- the message names the first few, error.problems the first LIMIT (a
  -- state with 66,000 loose entries made a 10 MB message, four times over)
  local lines, total, behind = {}, #problems + left_out, false
  for i, p in ipairs(problems) do
    behind = behind or p.check == "behind"
    if i <= M.LISTED then lines[i] = p.message end
  end
  if total > M.LISTED then
    lines[#lines + 1] = string.format("and %d more (error.problems lists %s)", total - M.LISTED,
      left_out > 0 and "the first " .. #problems or "them all")
  end
  return answer.failure(errors.new("CHECK_FAILED", string.format("%d problem%s in %s: %s", total,
    total == 1 and "" or "s", path, table.concat(lines, "; ")),
    "the state file was not changed; " .. (behind and "`tasknum sync` moves a counter behind its mark; " or "")
      .. "archive finished projects or move the counter past them (`tasknum set --next N`), renumber "
      .. "duplicates, and run tasknum check again",
    nil, { problems = problems, problems_left_out = left_out > 0 and left_out or nil }), { state_path = path })
end

return M
