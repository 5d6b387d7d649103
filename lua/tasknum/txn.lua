-- tasknum.txn (internal): one locked step on a state file. run(opts, body)
-- finds the state and its policies, takes the locks of its authorities,
-- reads and checks the state, calls body(txn) to decide on numbers and
-- edits, makes and renders the answer, writes durably, logs the attempt
-- and releases the locks, whatever happens. The data flows one way:
-- options in, the answer (and its rendered text) out.
local answer = require "tasknum.answer"
local authority = require "tasknum.authority"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"
local policy = require "tasknum.policy"
local state = require "tasknum.state"

local M = {}
M.DEFAULT_TIMEOUT = 30

local Txn = {}
Txn.__index = Txn


-- must(v, err, ...) -> v, ...: a library call's `nil, err` becomes the
-- step's error (raised; the step's boundary catches it)
local function must(v, err, ...)
  if v == nil then error(err, 0) end
  return v, err, ...
end

-- --- finding and locking ------------------------------------------------

-- Finds the state, its policies and its authorities; checks what needs no
-- lock (the count against the conflict policy's limit).
function Txn:locate(opts)
  self.path, self.real = must(state.find(opts.state))
  self.policies = opts.policies or must(policy.policies(self.path, self.format))
  local limit = self.policies.conflict.max_count or math.maxinteger
  local count = self.count
  if count ~= nil and (math.type(count) ~= "integer" or count < 1 or count > limit) then
    self:fail("INVALID_ARGUMENT", string.format("count must be a whole number from 1 to %d, got %s",
      limit, tostring(count)))
  end
  if self.verbose then
    local files = self.policies.files
    local printable = require("tasknum.text").printable
    io.stderr:write("tasknum: state ", printable(self.path), "\n",
      "tasknum: conflict policy ", printable(files.conflict), "\n",
      "tasknum: audit policy ", printable(files.audit), "\n",
      "tasknum: format ", printable(files.format), "\n")
  end
  if opts.prepare then opts.prepare(self) end -- a Lua caller's checks before the lock
  self.file = authority.file(self.path, self.real, { stale = self.stale })
end

-- The record waiters read while this step holds the locks, and the
-- monotonic clock's reading (t0) at the moment of its wall clock reading,
-- which is the step's one: later times are moved on from it by t0.
function Txn:holder_record()
  local sec, nsec, boot, t0 = core.time()
  self.sec0, self.nsec0 = sec, nsec
  return { pid = self.pid, host = self.host, purpose = self.purpose, command = self.command,
    since = answer.timestamp(sec, nsec), since_epoch = sec + nsec // 1000000 / 1000,
    since_boot = boot, reserve = self.reserve }, t0
end

-- The state file's lock. The numbering's comes after it, once the state
-- is read (numbering()), within the same deadline.
function Txn:acquire()
  local holder, t0 = self:holder_record()
  local deadline = t0 + self.timeout
  self.t0, self.deadline, self.holder_rec = t0, deadline, holder
  local ok, err = self.file:acquire(deadline, holder, self.timeout)
  local now = core.clock()
  self.wait = now - t0
  must(ok, err)
  self.locked_at, self.acquired = now, true
end

-- kept(err, real, text) -> err: a state found corrupt is left as it is,
-- its text copied beside it (state.backup), and the error's details say
-- how to restore it (state.advise).
local function kept(err, real, text)
  local where, why = state.backup(real, text)
  return state.advise(err, real, where or false, why)
end

-- Reads and checks the state under the lock.
function Txn:load()
  local text = must(self.file:load())
  local info, err = state.parse(text, self.lenient)
  if not info then
    if err.code == "STATE_CORRUPT" then kept(err, self.real, text) end
    error(err, 0)
  end
  self.text, self.info, self.previous, self.counter = text, info, info.next, info.next
  self.checked = not info.outside and text or nil -- the text parse() accepted, for write()'s fast path
  self:numbering()
  self:reconcile()
end

-- --- the numbering: which authority, and the state against its mark -----------

-- Opens the numbering's authority (--authority, $TASKNUM_AUTHORITY, the
-- state's committed project_numbering.authority, else the default) and
-- takes its lock, after the file's, within the step's deadline.
function Txn:numbering()
  self.auth = must(authority.numbering(self.file, self.authority, self.info.authority))
  if self.verbose then
    io.stderr:write("tasknum: authority ", self.auth.kind, " (", self.auth.source, ") ", tostring(self.auth.where), "\n")
  end
  if self.auth == self.file then return end
  local t = core.clock()
  local ok, err = self.auth:acquire(self.deadline, self.holder_rec, self.timeout)
  self.wait = self.wait + (core.clock() - t)
  must(ok, err)
end

-- tasknum.serial, loaded by the steps whose numbering is kept apart from
-- the file (the file authority's steps need none of it)
local serial

-- Why the counter moved before the step took any number.
local function adjusted_reason(r, kind, mark, info)
  if r.behind then
    return string.format("the state's counter was %d behind the %s numbering's mark (a checkout, reset, "
      .. "merge or older clone took it back, or a step failed after moving the mark); %d was the last "
      .. "number handed out", r.behind, kind,
      serial.display(mark - 1, info.min, info.max))
  end
  return string.format("first use of the %s numbering: active project %d is past the counter", kind, r.past)
end

-- Compares the state's counter with the numbering's mark as serials (see
-- tasknum.serial): a state behind the mark continues after it (the answer
-- says counter_adjusted, and the state's counter moves forward in the
-- step's write); one ahead moves the mark forward at the write; a
-- numbering with no mark yet starts from the state, past its active
-- projects. The state file's own authority keeps no mark: nothing to do.
function Txn:reconcile()
  if self.auth == self.file then return end
  serial = serial or require "tasknum.serial"
  local mark, range = self.auth:read()
  if mark == nil then error(range, 0) end
  self.mark, self.mark_range = mark, range
  local i = self.info
  if i.outside then return end -- a counter outside its range (`tasknum set` repairs it) has no serial
  local r = serial.reconcile(i.next, mark, i.min, i.max, { range = range, numbers = function()
    local list, report = {}, require("tasknum.report")
    report.each(self.text, i, function(a) -- every number an entry holds, however written
      for n in report.numbers(a) do list[#list + 1] = n end
    end)
    return list
  end })
  self.serial, self.reconciled = r.serial, r
  if r.counter ~= i.next then
    self.counter = r.counter
    self.adjusted = { from = i.next, to = r.counter, reason = adjusted_reason(r, self.auth.kind, mark, i) }
  elseif r.ahead or r.rebased then
    local was = range or i
    self.mark_moved = { from = serial.display(mark, was.min, was.max), to = r.counter,
      reason = r.ahead and "the state's counter was ahead of the mark" or "the range changed" }
  end
end

-- Moves the numbering's mark to the serial the step reached, durably,
-- and lets the numbering go: the state file's lock covers the rest of the
-- step, and other worktrees need not wait for this one's state write.
function Txn:commit_mark()
  if self.auth == self.file then return end
  local i = self.info
  -- Serials are 64-bit integers: a range whose size does not fit one has
  -- serials that wrap or go below 0 (no mark file holds those), and a
  -- mark (or a reserved block) near the top would pass 2^63-1.
  if not serial.size(i.min, i.max) then
    self:fail("STATE_CORRUPT", string.format("the range %d..%d is too wide for the %s numbering: it holds "
      .. "more than 2^63-1 numbers", i.min, i.max, self.auth.kind), "a numbering kept apart from the state "
      .. "counts in 64-bit serials; narrow the range (`tasknum set --min A --max B`) or keep the numbering "
      .. "in the state alone (--authority file); nothing was written")
  end
  local new = self.serial + self.moved
  if self.serial < 0 or new < self.serial or new + (self.reserve or 0) < new then
    self:fail("STATE_CORRUPT", string.format("the %s numbering's serial %s is too near 2^63-1 to go on",
      self.auth.kind, tostring(self.mark)),
      "a serial counts every number ever handed out: this one was set far ahead, by hand or by another "
      .. "client; nothing was written; put the mark back where the numbering is (a worktrees or dir: mark "
      .. "file moved away is started anew from the state)")
  end
  if serial.display(new, i.min, i.max) ~= self.counter then
    self:fail("SCRIPT_ERROR", "refusing to write: the counter " .. tostring(self.counter)
      .. " is not where the numbering's serial " .. new .. " shows")
  end
  must(self.auth:commit(self.mark, new, { min = i.min, max = i.max }))
  self.auth:release()
end

-- The git working tree the state is in (its top folder), or false.
function Txn:git_top()
  local known = self.auth and self.auth.top
  if known == nil then known = self.file.top end
  if known == nil then -- tasknum.gitdir.top, without loading it
    known = core.upward(require("tasknum.fs").dirname(self.real), ".git", true) or false
    self.file.top = known
  end
  return known
end

-- Inside a git working tree, makes sure the files tasknum keeps beside
-- the state are in the .gitignore there (tasknum.gitignore), when always
-- is set (`tasknum sync`), or the step starts a numbering's mark, or it
-- is the first in the state's folder (no audit log yet). Never fails the
-- step: the answer says what was added (gitignore), or why not.
function Txn:ignore_files(always)
  if self.hold_only or not self.info then return end
  local seeded = self.reconciled and self.reconciled.seeded
  if not (always or seeded) and self.file.top == false then return end -- outside git: no call
  if not self:git_top() then return end
  if not (always or seeded) then
    local audit = self.policies and self.policies.audit -- its log, as tasknum.report.audit_path finds it
    local path = type(audit) == "table" and type(audit.path) == "function" and audit.path
      or require("tasknum.policy.audit").path
    if core.stat(path(self.real)) then return end
  end
  local done, why = require("tasknum.gitignore").ensure(self.real)
  if not done then
    self.gitignore = { error = tostring(why) }
  elseif done.action == "added" then
    self.gitignore = done
  end
end

-- --- what a body may do ----------------------------------------------------

-- Moves the counter on by count, listing the numbers passed in list.
function Txn:advance(count, list, verb)
  local numbers, new_next, wrapped = core.take(self.counter, count, self.info.min, self.info.max)
  if not numbers then
    self:fail("INVALID_ARGUMENT", string.format("cannot %s %d numbers from the range %d..%d",
      verb, count, self.info.min, self.info.max))
  end
  table.move(numbers, 1, #numbers, #list + 1, list)
  self.counter, self.wrapped, self.moved = new_next, self.wrapped or wrapped, self.moved + count
  return numbers
end

-- take(count) -> the next count numbers from the counter, which moves on.
function Txn:take(count) return self:advance(count, self.numbers, "hand out") end

-- skip(count) -> the next count numbers, passed over: the counter moves
-- past them but they are not handed out (the answer lists them in
-- skipped_numbers). For policies that skip numbers that are taken.
function Txn:skip(count) return self:advance(count, self.skipped, "skip") end

-- take_free(count, p) -> take(count), failed by p.conflict(txn, numbers,
-- held) when an element of the array p.holds = {key, field} holds one of
-- them (held: as held() gives). What the shipped conflict policy is.
function Txn:take_free(count, p)
  local numbers = self:take(count)
  local held = self:held(p.holds[1], p.holds[2], numbers)
  if next(held) then p.conflict(self, numbers, held) end
  return numbers
end

-- pick(count) -> count numbers chosen by the team's conflict policy: the
-- shipped one's data applied here (policies.declared), else its pick().
function Txn:pick(count)
  local before = #self.numbers
  local declared = self.policies.declared
  if declared then
    self:take_free(count, declared)
  else
    self.policies.conflict.pick(self, count)
  end
  return { table.unpack(self.numbers, before + 1) }
end

-- stage(path, text, old): another file to write in this step (TODO.md).
-- Staged files are written, durably, before the state, whose rename is the
-- commit point of the step; if the state cannot be written they get their
-- old text back.
function Txn:stage(path, text, old)
  for _, f in ipairs(self.staged) do
    if f.path == path then f.text = text return end
  end
  self.staged[#self.staged + 1] = { path = path, text = text, old = old }
end

-- fail(code, message [, details [, data]]): ends the step with that error.
function Txn:fail(code, message, details, data)
  errors.raise(code, message, details, nil, data)
end

-- span(key [, subkey ...]) -> start, stop of a member's value, or nil
function Txn:span(...)
  local s, e = self.info.root_start, self.info.root_stop
  local first = self.info.top[(...)]
  if first ~= nil then -- found by parse(); false: a duplicate
    if not first then return nil end
    if select("#", ...) == 1 then return first[1], first[2] end
  end
  for i = 1, select("#", ...) do
    s, e = core.member(self.text, s, e, (select(i, ...)))
    if not s then return nil end
  end
  return s, e
end

-- held(array_key, field [, numbers]) -> { [number] = {start, stop} of its
-- element } for the elements of the top-level array whose field holds a
-- whole number, however it is spelled ("5", 5.0, 5e0: core.whole; a field
-- given twice holds both values); the first element wins; only for the
-- given numbers, if any. An array key given twice fails the step
-- (STATE_CORRUPT): which numbers it holds would depend on the reader.
function Txn:held(array_key, field, numbers)
  local s, e = self:span(array_key)
  if not s then
    local _, why = core.member(self.text, self.info.root_start, self.info.root_stop, array_key)
    if why == "duplicate" then
      error(kept(errors.new("STATE_CORRUPT", array_key .. " appears twice", "keep one of them: readers "
        .. "disagree on which one counts (jq takes the last)"), self.real, self.text), 0)
    end
    return {}
  end
  if self.text:sub(s, s) ~= "[" then return {} end
  -- parse()'s index of this text, when it is of this array and field
  return core.held(self.text, s, e, field, numbers, self.info.index)
end

-- element({start, stop}) -> that part of the state decoded with lua-cjson
function Txn:element(span)
  local ok, v = pcall(require("cjson").decode, self.text:sub(span[1], span[2]))
  return ok and v or nil
end

-- decoded() -> the whole state decoded with lua-cjson (read-only view)
function Txn:decoded()
  if not self.view then
    self.view = require("cjson").decode(self.text:sub(self.info.root_start, self.info.root_stop))
  end
  return self.view
end

-- A state this large is let go of before its edited copy is built.
M.LARGE = 1 << 20

-- splice(start, stop, text): replaces those bytes of the state; the state
-- must stay valid (an edit that would not is refused and leaves the text
-- as it was). Spans found before a splice are stale after it.
--
-- Memory: the old text, the pieces around the edit and the new text would
-- make three copies of the state at once (and the garbage collector lets
-- garbage grow to the size of the live heap, a state's size more). For a
-- large state the step collects before cutting the pieces, lets go of the
-- old text once they are cut and collects it before building the new
-- one, so an edit peaks at twice the state's size (when nothing else
-- holds the old text: tasknum.edit lets go of it first).
function Txn:splice(s, e, text)
  local old = self.text
  local large = #old >= M.LARGE
  if large then collectgarbage() end -- what the body left (a walk over the entries)
  local head, tail, replaced = old:sub(1, s - 1), old:sub(e + 1), old:sub(s, e)
  local checked = rawequal(old, self.checked)
  if large then
    -- parse()'s index of the old text holds it too (core.held checks an
    -- index against the very string it was made of)
    if self.info.index then self.info.index:close() end
    old, self.text, self.checked, self.view = nil, nil, nil, nil
    collectgarbage()
  end
  local new = head .. text .. tail
  local info, err = state.parse(new, self.lenient)
  if not info or info.next ~= self.previous then
    if not self.text then -- the text let go of above, as it was
      self.text = head .. replaced .. tail
      if checked then self.checked = self.text end
    end
    if not info then self:fail("SCRIPT_ERROR", "an edit would leave the state invalid", err.message) end
    self:fail("SCRIPT_ERROR", "edits must not change next_project_number; use txn:take()")
  end
  self.text, self.checked, self.view = new, not info.outside and new or nil, nil
  self.info, self.dirty = info, true
end

-- --- committing -------------------------------------------------------------

-- Puts the staged files back as they were; returns what could not be.
function Txn:unstage(written)
  local failed = {}
  for i = #written, 1, -1 do
    local f = written[i]
    local ok, msg = core.replace(f.path, f.old)
    if not ok then failed[#failed + 1] = msg end
  end
  return failed
end

-- Writes the staged files, in order; on a failure puts back those written.
function Txn:write_staged()
  local written = {}
  for _, f in ipairs(self.staged) do
    local ok, msg, errno = core.replace(f.path, f.text)
    if not ok then
      self:unstage(written)
      error(errors.system(msg, errno, "cannot write " .. f.path .. "; the state was not written"), 0)
    end
    written[#written + 1] = f
  end
  return written
end

-- The new text when the step's text is not the one parse() last accepted
-- (a body that set txn.text itself), checked in full: whatever a body did,
-- nothing invalid reaches the disk (guarantee 5). nil when the text is
-- still the one parse() accepted (as read, or as txn:splice left it): then
-- the new text is that one with one integer literal replaced by another in
-- the range, valid by construction, and the state is written as three
-- pieces around the counter without building it (a copy of a 75 MB state
-- less to hold).
function Txn:new_text(literal)
  local i = self.info
  if rawequal(self.text, self.checked) and math.type(self.counter) == "integer"
      and self.counter >= i.min and self.counter <= i.max then
    return nil
  end
  local text = self.text:sub(1, i.next_start - 1) .. literal .. self.text:sub(i.next_stop + 1)
  local check, err = state.parse(text)
  if not check or check.next ~= self.counter then
    self:fail("SCRIPT_ERROR", "refusing to write: the new state failed its own check",
      check and "the counter would read " .. tostring(check.next) .. ", not " .. tostring(self.counter)
      or err.message)
  end
  return text
end

-- The staged files, then the numbering's mark; the files put back when
-- the mark cannot move (unavailable, a race lost: the step may run again).
function Txn:staged_then_mark()
  local written = self:write_staged()
  local ok, err = pcall(self.commit_mark, self)
  if not ok then
    self:unstage(written)
    error(err, 0)
  end
  return written
end

-- write(): the step's durable write: staged files (TODO.md) first, put back
-- if the numbering's mark cannot move: a TODO.md that cannot be written
-- must not cost numbers; then the mark (a crash after it leaves a gap,
-- never a number handed out twice), then the state, whose rename commits
-- the step.
function Txn:write()
  if self.counter == self.previous and not self.dirty then
    self:staged_then_mark() -- a state ahead of the mark, or a new mark
    return
  end
  local literal = string.format("%d", self.counter)
  local text = self:new_text(literal)
  local sig = core.interrupted()
  if sig then error(errors.interrupted(sig, "before writing the state"), 0) end
  local written = self:staged_then_mark()
  local i = self.info
  local done, err = self.file:write(text or self.text, not text and i.next_start or nil,
    not text and i.next_stop or nil, not text and literal or nil, self.dirty and self.numbers or nil)
  if done and err then -- written, but its numbers may be another's: withheld
    self.text, self.committed = nil, true
    error(err, 0)
  end
  if not done then
    local stuck = self:unstage(written)
    if #stuck > 0 then
      err.details = err.details .. "; could not put back " .. table.concat(stuck, ", ")
        .. ": `tasknum todo` sets TODO.md to the state's counter"
    end
    error(err, 0)
  end
  -- The step is over: the written text is not kept (building it would copy
  -- the whole state under the lock for nothing).
  self.text, self.committed = nil, true
end

-- How many steps of this process hold their lock now (begun, not closed):
-- tasknum.cli tells an os.exit under the lock from one after it.
M.open = 0

function Txn:close()
  if self.opened then self.opened, M.open = nil, M.open - 1 end
  if self.auth and self.auth ~= self.file then self.auth:release() end
  if self.file then
    self.file:release()
    self.legacy_error = self.file.legacy_error
  end
end

-- A transaction left unfinished rolls back when its <close> variable goes
-- out of scope; one merely forgotten releases its lock when collected.
function Txn:__close(err)
  if not self.answer then self:rollback(err) end
end

function Txn:__gc()
  if not self.answer then self:close() end
end

-- --- the answer and the audit line ------------------------------------------

-- The format the answer is rendered with: the one loaded with the
-- policies, else (a failure before they were loaded) the one of that name
-- that can be found.
function Txn:formatter()
  if self.policies and self.policies.format then return self.policies.format end
  if self.format then return (policy.format(self.format, self.path)) end
end

-- The TODO.md that mirrors the counter: staged when there is one (the
-- module that edits it is loaded only then: most projects have none).
-- Whether it is there is asked without opening it (a FIFO would block);
-- tasknum.todo judges what it is.
function Txn:follow_todo()
  if self.todo == false then return end
  if self.todo or core.stat(fs.beside(self.path, "TODO.md")) then
    self.todo_path = require("tasknum.todo").stage(self, self.todo)
  end
end

-- decide(extra): the success answer, and its text in the chosen format,
-- made under the lock before the write, so that a format that raises
-- writes nothing.
function Txn:decide(extra)
  self.decided_at = core.clock()
  self.decided = self.decided_at - self.locked_at
  local r, text, err = answer.decided(self, extra, self.policies.format, self.format)
  if self.format and not text then error(err, 0) end
  self.result, self.text_out = r, text
end

function Txn:audit(err)
  local audit = self.policies and self.policies.audit
  if not audit or not self.path then return end
  local entry = answer.entry(self, err)
  local ok, done, why = pcall(audit.record, entry, self)
  if not ok or done == nil then
    -- the step's outcome stands; the answer says the log was not written
    self.audit_error = tostring(ok and why or done)
  end
end

-- --- the whole step ---------------------------------------------------------

-- Who runs a step: this process, this host and the user, asked of the
-- core at once, before the lock; the user's name only without $USER and
-- $LOGNAME (getpwuid() reads nsswitch.conf and /etc/passwd and may ask
-- nscd over a socket).
local function whoami()
  local user = os.getenv("USER") or os.getenv("LOGNAME")
  local pid, host, name = core.whoami(not user)
  return pid, host, user or name
end

local function new(opts)
  local pid, host, user = whoami()
  return setmetatable({ user = user,
    pid = pid, host = host, purpose = opts.purpose, command = opts.command, stale = opts.stale,
    timeout = opts.timeout or M.DEFAULT_TIMEOUT, hold_only = opts.hold_only, check = opts.check,
    todo = opts.todo, count = opts.count, format = opts.format, verbose = opts.verbose,
    authority = opts.authority, ignore = opts.gitignore, again = opts.again, retries = opts.retries or 0,
    reserve = opts.reserve, numbers = {}, skipped = {}, staged = {}, wrapped = false, moved = 0,
    lenient = opts.repair and { outside = true } or nil }, Txn)
end

-- dry(o) -> a step that is never locked, written or logged, on o.text and
-- o.info (state.parse's) with o.policies: for `tasknum check` to ask the
-- team's conflict policy what the next allocations would do.
function M.dry(o)
  return setmetatable({ path = o.path, real = o.real, text = o.text, checked = o.text, info = o.info,
    previous = o.info.next, counter = o.info.next, policies = o.policies, numbers = {}, skipped = {},
    staged = {}, wrapped = false, moved = 0, answer = true }, Txn)
end

-- begin(opts) -> txn, holding the lock with the state read and checked, or
-- nil, the error answer and its text. opts: state, timeout, purpose,
-- command, stale (legacy folder age, seconds), todo (TODO.md path, or false
-- for none), count (checked against the conflict policy before the lock),
-- format (a format name: the answer is also rendered), verbose, authority,
-- policies (else looked up), prepare(txn) (runs before the lock is taken),
-- check(txn) (runs under the lock right before the write; raising rolls
-- back), hold_only (take the lock but neither read nor write the state:
-- `tasknum lock`), gitignore (true: make sure of the .gitignore beside the
-- state whatever the step, see ignore_files), repair (a counter outside
-- its range is read, not refused: info.outside; `tasknum set` repairs it,
-- and the write is checked in full as always). The handle ends with
-- txn:commit() or txn:rollback().
function M.begin(opts)
  local txn = new(opts)
  local ok, err = xpcall(function()
    txn:locate(opts)
    txn:acquire()
    if not txn.hold_only then txn:load() end
  end, errors.handler)
  if not ok then return nil, txn:finish(err) end
  txn.opened, M.open = true, M.open + 1
  return txn
end

-- finish(err [, extra]) -> the answer and its text (when a format was
-- asked for). Without err: runs opts.check, decides the answer and
-- writes; then logs the attempt and releases the locks. extra: fields
-- added to a success answer. A transaction finishes once.
function Txn:finish(err, extra)
  if self.answer then error("tasknum: this transaction is finished already", 3) end
  self.answer = true
  if err ~= nil then err = errors.from(err) end
  if not err then
    local ok, e = xpcall(function()
      if self.check then self.check(self) end
      if not self.hold_only and self.counter ~= self.previous then self:follow_todo() end
      self:ignore_files(self.ignore)
      self:decide(extra)
      if not self.hold_only then self:write() end
    end, errors.handler)
    if not ok then err = e end
  end
  if err and err.retry == true and self.again and self.again(self, err) then
    -- a lost race for the numbering's mark, nothing written: run() runs
    -- the step again, so this attempt is neither logged nor answered
    self:close()
    self.answer = answer.step(self, err)
    return self.answer
  end
  self.audited_at = self.locked_at and core.clock()
  self.hold = self.locked_at and self.audited_at - self.locked_at
  self:audit(err)
  self:close()
  local r, text = self.result, self.text_out
  if err then
    r, text = answer.step(self, err), nil
    if self.format then text = answer.render(r, self:formatter()) end
  elseif self.audit_error then
    r.audit_error = self.audit_error
    if self.format then text = answer.render(r, self.policies.format) end
  end
  self.answer = r
  return r, text
end

-- commit([extra]) -> the answer: writes the step durably (or, if that
-- fails, nothing) and releases the lock.
function Txn:commit(extra)
  return self:finish(nil, extra)
end

-- rollback([err]) -> the answer: writes nothing and releases the lock. err
-- (a tasknum error, or any error value: SCRIPT_ERROR) is the answer's
-- error; without one the answer says the step was rolled back.
function Txn:rollback(err)
  if err == nil then
    err = errors.new("SCRIPT_ERROR", "rolled back: nothing was written")
  elseif not errors.is(err) then
    err = errors.new("SCRIPT_ERROR", tostring(err))
  end
  return self:finish(err)
end

-- pause(retries, took) -> the seconds to wait before running a step again
-- after it lost the race for the numbering's mark (took: how long the lost
-- attempt ran). Random over the whole interval (full jitter), so that the
-- losers of one race do not meet again at the next; the interval is about
-- what an attempt takes, the time the winner needs to finish, doubled per
-- loss in a row up to 4 times that: a caller that keeps losing is never
-- sent much further back than the others (no starvation), and never longer
-- than M.MAX_PAUSE.
M.MAX_PAUSE = 1.0
local seeded
function M.pause(retries, took)
  if not seeded then
    math.randomseed(core.pid(), math.floor(core.clock() * 1e9))
    seeded = true
  end
  local span = math.max(took, 0.001) * math.min(2 ^ retries, 4)
  return math.random() * math.min(span, M.MAX_PAUSE)
end

-- The answer of a step stopped by a signal while it waited to run again.
local function stopped(txn, sig)
  local err = errors.interrupted(sig, "while waiting to try again after another client moved the numbering's mark")
  if not txn then return answer.failure(err) end
  txn:audit(err)
  local r = answer.step(txn, err)
  return r, txn.format and answer.render(r, txn:formatter()) or nil, txn
end

-- run(opts, body) -> answer, text, txn: begin(opts), body(txn) under the
-- lock, then commit (body may return a table of extra answer fields) or,
-- if body raised, roll back. A step whose numbering lives elsewhere may
-- lose the race for its mark to another clone or client (the authority's
-- commit says err.retry; nothing was written): it is then run again from
-- the start, begin and body, after a pause (see pause()), for as long as
-- opts.timeout allows; the answer says how many times (retries). So a
-- body may run more than once: it must act through the txn alone.
function M.run(opts, body)
  local attempt = setmetatable({ retries = 0 }, { __index = opts })
  local deadline, retry_in
  -- called by finish() on a lost race (nothing read from the clock before:
  -- an allocation that loses none pays nothing for this)
  function attempt.again(txn)
    local now = core.clock()
    local t0 = txn.t0 or now
    deadline = deadline or t0 + txn.timeout
    local wait = M.pause(attempt.retries, now - t0)
    if now + wait >= deadline or core.interrupted() then return false end
    retry_in = wait
    return true
  end
  while true do
    retry_in = nil
    local txn, r, out = M.begin(attempt)
    if txn then
      local ok, extra = xpcall(body, errors.handler, txn)
      if ok then r, out = txn:finish(nil, extra) else r, out = txn:finish(extra) end
    end
    if not retry_in then return r, out, txn end
    core.sleep(retry_in)
    local sig = core.interrupted()
    if sig then return stopped(txn, sig) end
    attempt.retries = attempt.retries + 1
    attempt.timeout = math.max(0, deadline - core.clock())
  end
end

-- allocate(opts) -> answer, text, txn: run() with the body of every
-- allocation, opts.count numbers picked by the team's conflict policy:
-- the facade hands over data, not a function for the step to call back.
local function allocation(t) t:pick(t.count) end
function M.allocate(opts)
  return M.run(opts, allocation)
end

return M
