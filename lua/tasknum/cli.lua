-- tasknum.cli (internal): the command line. The host calls main(args) protected and
-- exits with what it returns; nothing here calls the real os.exit.
--
-- Every command declares itself ONCE, at the top of its script:
--
--   local cli = require "tasknum.cli"
--   local command = cli.command {
--     summary = "hand out the next task number(s)",   -- one line
--     forms = { "[OPTIONS]" },           -- what follows `tasknum NAME` (optional)
--     options = {                        -- each: name, kind, value name, one line of help
--       { "--count", "integer", "N", "how many numbers" },
--       { "--verbose", "flag", false, "name the files in use on stderr" },
--     },
--     text = [[paragraphs for --help and the man page]],       -- optional
--     exits = { "INVALID_ARGUMENT", { 1, "what 1 means" } },    -- optional
--   }
--   local opts, rest = cli.parse({ ... }, command)
--
-- The parser reads the options from it, and --help, `tasknum help NAME`,
-- the global usage, the man page and shell completion all print it: a new
-- command or option shows up everywhere by being declared. Kinds: "string",
-- "integer" (decimal digits, a "-" allowed), "seconds" (decimal digits,
-- a fraction allowed: 2, 0.5, .5), "flag", "list" (a string that may
-- repeat). An option's key in opts is its name without dashes, "-" as "_"
-- (--no-todo: opts.no_todo), unless it says key = "...". complete = "file"
-- or "format" tells shell completion what its value is. Options several
-- commands share (--state, --timeout, --format, ...) are declared once in
-- M.OPTION: a command lists cli.option "--state" among its options.
-- read = true: the value names a file (or "-", stdin) whose text is the
-- option's value (--description-file: opts.description; see read_text).
-- Two options with the same key exclude each other. output = "text" in a
-- declaration: the command prints text for people (status, stats), so its
-- failures go to stderr alone unless --json or --format json is given.
local answer = require "tasknum.answer"
local core = require "tasknum.core"
local errors = require "tasknum.errors"

local M = {}

local KINDS = { string = true, integer = true, seconds = true, flag = true, list = true }

-- --- answers ----------------------------------------------------------------

-- json(answer) -> its line of JSON
M.json = answer.json

-- oneline(text) -> text on one line: control characters (newlines, tabs,
-- ESC, DEL ...) written as escapes (\n, \t, \x1b, \x7f), and the rest a
-- terminal would act on (C1 controls, bidi overrides, bytes that are not
-- UTF-8: tasknum.text), so that nothing a message quotes can end the line
-- or drive a terminal; all other text stays.
-- (tasknum.text is loaded only when a failure is said: most runs print none)
function M.oneline(text) return require("tasknum.text").printable(text) end

-- said(result) -> a failure's message and, when its details are one line
-- that says more (what to do, who holds the lock), those too: the stderr
-- line is all that people and --format plain callers read.
local function said(r)
  local text, hint = tostring(r.error_message), type(r.error) == "table" and r.error.details
  if type(hint) == "string" and hint ~= "" and not hint:find("\n", 1, true)
      and not text:find(hint, 1, true) then
    text = text .. "; " .. hint
  end
  return text
end
M.said = said

-- emit(result [, text]) -> exit status. Prints text (the answer as its
-- format rendered it; JSON without one) on stdout, and on failure one
-- line on stderr, `tasknum: CODE: message; hint` (said), always one line
-- (oneline). A command whose stdout is text for people (output = "text"
-- in its declaration, or stdout at a terminal, and not asked for JSON)
-- prints a failure on stderr only.
function M.emit(result, text)
  if text then
    io.stdout:write(text)
  elseif result.status == "success" or not M.text_out then
    io.stdout:write(answer.encode(result), "\n")
  end
  io.stdout:flush()
  if result.status ~= "success" then
    io.stderr:write("tasknum: ", M.oneline(result.error_code or "ERROR"), ": ",
      M.oneline(said(result)), "\n")
  end
  return answer.exit_status(result)
end

-- step(opts) -> opts, ready for a step's library call: --todo and
-- --no-todo checked (todo = false for the latter), the format chosen.
function M.step(opts)
  if opts.todo and opts.no_todo then
    errors.raise("INVALID_ARGUMENT", "--todo and --no-todo exclude each other")
  end
  if opts.no_todo then opts.todo, opts.no_todo = false, nil end
  opts.format = M.format_of(opts)
  return opts
end

-- formatter(name [, state_path]) -> the function of the format name (nil
-- for json: answer.render's default); raises INVALID_ARGUMENT for a
-- format that does not exist. For commands that print an answer made
-- outside a transaction (init, check, todo, set's failures before the lock).
function M.formatter(name, state_path)
  if name == "json" then return nil end
  local fmt, err = require("tasknum.policy").format(name, state_path)
  if not fmt then error(err, 0) end
  return fmt
end

-- format_of(opts) -> the answer's shape: --format as given; else "text" (a
-- line for people, tasknum.format.text) when stdout is a terminal, and
-- "json" when it is not (a pipe, a file: programs and agents).
function M.format_of(opts)
  if opts.format then return opts.format end
  return core.isatty(1) and "text" or "json"
end

-- failure(err) -> answer table for an error raised outside a transaction
M.failure = answer.failure

-- --- ends of a run that are not failures ------------------------------------

-- A run ends early by raising a Done value up to run(): --help was printed
-- (status 0), or os.exit was called.
local Done = {}
function Done:__tostring()
  if self.os_exit then
    return "os.exit was called (with " .. tostring(self.arg) .. ") inside a tasknum step: nothing "
      .. "was written and the lock was released (a script returns its exit status instead)"
  end
  return "the run ended (status " .. tostring(self.status) .. ")"
end

function M.is_done(v) return getmetatable(v) == Done end

-- done(status): ends the run now with that status (after --help, say).
function M.done(status)
  error(setmetatable({ status = status }, Done), 0)
end

local function status_of(code)
  if code == nil or code == true then return 0 end
  if code == false then return 1 end
  return math.tointeger(code) or 1
end

-- os.exit as the code the binary runs sees it: it raises instead of
-- exiting, so whatever holds the lock unwinds and releases it. Under a
-- step (a policy, a transaction's body) the step ends as a SCRIPT_ERROR
-- answer; at a script's top level the run ends with that status, unless
-- a step was still open (a tasknum.begin handle): then it is a
-- SCRIPT_ERROR too, never an exit 0 with no answer.
local function trapped_exit(code)
  local txn = package.loaded["tasknum.txn"]
  error(setmetatable({ status = status_of(code), arg = code, os_exit = true,
    held = txn ~= nil and (txn.open or 0) > 0 }, Done), 0)
end

-- --- declarations and options -----------------------------------------------

-- Options several commands share, declared once: cli.option("--state") in
-- a command's options gives this entry (a command whose option means
-- something else declares its own).
M.OPTION = {}
for _, o in ipairs({
  { "--purpose", "string", "TEXT", "why: kept in the answer and the audit log" },
  { "--purpose-file", "string", "FILE|-", "the purpose read from FILE, or stdin for -: no shell quoting",
    key = "purpose", read = true, complete = "file" },
  { "--state", "string", "PATH", "the state file (else $TASKNUM_STATE, else found from here)",
    complete = "file" },
  { "--timeout", "seconds", "S", "how long to wait for the lock (default 30, fractions allowed, 0 tries once)" },
  { "--stale", "seconds", "S", "when a legacy .state.lock folder counts as stale (default 60)" },
  { "--format", "string", "F", "json (default; text at a terminal), plain, todo, text, or a team's format/F.lua",
    complete = "format" },
  { "--todo", "string", "PATH", "the TODO.md that follows the counter (default: beside the state)",
    complete = "file" },
  { "--no-todo", "flag", false, "leave TODO.md alone" },
  { "--verbose", "flag", false, "name the state and each policy file in use on stderr" },
  { "--authority", "string", "SPEC", "where the numbering lives: file, worktrees, dir:PATH, git:REMOTE, "
    .. "postgresql://... (else $TASKNUM_AUTHORITY, the state's project_numbering.authority, the default)" },
}) do M.OPTION[o[1]] = o end

-- option(name) -> the shared entry of that option
function M.option(name)
  return M.OPTION[name] or error("tasknum.cli: no shared option " .. tostring(name), 2)
end

-- The options of every command that allocates (allocate, add-task): a
-- command's own first, then these.
M.ALLOCATING = {}
for i, name in ipairs({ "--purpose", "--purpose-file", "--state", "--timeout", "--stale", "--format", "--todo",
  "--no-todo", "--verbose", "--authority" }) do
  M.ALLOCATING[i] = M.OPTION[name]
end

-- allocating(own) -> own options followed by M.ALLOCATING
function M.allocating(own)
  local list = table.move(own or {}, 1, #(own or {}), 1, {})
  return table.move(M.ALLOCATING, 1, #M.ALLOCATING, #list + 1, list)
end

-- declare(decl) -> decl, checked, with decl.by_name: option name -> entry
-- ({ name, kind, value, help, key, complete })
function M.declare(decl)
  if decl.by_name then return decl end
  if type(decl) ~= "table" or (decl.options == nil and next(decl) ~= nil and decl.summary == nil) then
    error("tasknum.cli: a command declares itself with cli.command{ summary = ..., options = "
      .. "{ { \"--name\", kind, \"VALUE\", \"help\" }, ... } } (see tasknum/cli.lua)", 3)
  end
  decl.options = decl.options or {}
  decl.by_name = {}
  for i, o in ipairs(decl.options) do
    local e = { name = o[1], kind = o[2], value = o[3] or nil, help = o[4], key = o.key,
                complete = o.complete, read = o.read }
    if type(e.name) ~= "string" or not e.name:match("^%-%-[%w][%w%-]*$") or not KINDS[e.kind]
        or type(e.help) ~= "string" or ((e.kind == "flag") ~= (e.value == nil)) then
      error("tasknum.cli: option " .. i .. " (" .. tostring(e.name) .. ") must be { \"--name\", "
        .. "kind, \"VALUE\" (false for a flag), \"one line of help\" }", 3)
    end
    e.key = e.key or e.name:sub(3):gsub("%-", "_")
    decl.options[i], decl.by_name[e.name] = e, e
  end
  return decl
end

-- Describing (tasknum.commands.describe) makes command() hand its
-- declaration up instead of returning it.
local describing = false
local Described = {}

function M.describing(fn)
  describing = true
  local results = table.pack(pcall(fn))
  describing = false
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

function M.declaration(v)
  return getmetatable(v) == Described and v.decl or nil
end

-- command(decl) -> decl: a script's declaration of itself (see the top).
function M.command(decl)
  decl = M.declare(decl)
  if describing then error(setmetatable({ decl = decl }, Described), 0) end
  return decl
end

local function bad(message) errors.raise("INVALID_ARGUMENT", message) end

-- One number syntax for every option: decimal digits, nothing else (no
-- hex, no exponent, no blanks, no "+"); a whole number may have a "-", a
-- number of seconds a fraction (2, 0.5, .5).
local function convert(kind, name, value)
  if kind == "string" then return value end
  if kind == "integer" then
    -- a float: past 64 bits (-9223372036854775809 rounds to the smallest integer)
    local n = value:match("^%-?%d+$") and tonumber(value)
    if math.type(n) ~= "integer" then n = nil end
    if not n then bad(name .. " takes a whole number in decimal digits, got " .. value) end
    return n
  end
  local n = (value:match("^%d+$") or value:match("^%d*%.%d+$")) and tonumber(value)
  if not n or n == math.huge then
    bad(name .. " takes a number of seconds in decimal digits (2, 0.5), got " .. value)
  end
  return n
end

-- The most a --X-file option reads: a text, not a stream (/dev/zero).
M.READ_MAX = 4 * 1024 * 1024

-- read_text(name, path) -> the text of the file path names ("-": stdin),
-- with one final "\n" (the one a heredoc or echo adds) dropped, so that a
-- quoted heredoc gives back its text byte for byte; raises
-- INVALID_ARGUMENT when it cannot be read or is longer than READ_MAX.
function M.read_text(name, path)
  local f, msg = io.stdin, nil
  if path ~= "-" then f, msg = io.open(path, "rb") end
  if not f then bad(name .. ": cannot read " .. tostring(msg)) end
  local text, rerr = f:read(M.READ_MAX + 1)
  if path ~= "-" then f:close() end
  if rerr then bad(name .. ": cannot read " .. path .. ": " .. tostring(rerr)) end
  text = text or ""
  if #text > M.READ_MAX then
    bad(string.format("%s: %s holds more than %d bytes", name, path == "-" and "stdin" or path, M.READ_MAX))
  end
  return (text:gsub("\n$", ""))
end

-- The name the running command was started by, for its --help.
M.invoked = nil

-- Whether an argument vector asks for JSON (--json, --format json).
local function wants_json(args)
  for i, a in ipairs(args) do
    if a == "--json" or a == "--format=json" or (a == "--format" and args[i + 1] == "json") then return true end
    if a == "--" then return false end
  end
  return false
end

-- json_asked(opts) -> whether a text command's --json or --format asks
-- for JSON; raises INVALID_ARGUMENT for a --format other than json or text.
function M.json_asked(opts)
  if opts.format ~= nil and opts.format ~= "json" and opts.format ~= "text" then
    errors.raise("INVALID_ARGUMENT", "--format takes text or json here, got " .. opts.format)
  end
  if opts.json and opts.format == "text" then
    errors.raise("INVALID_ARGUMENT", "--json and --format text exclude each other")
  end
  return opts.json or opts.format == "json"
end

-- Set by main and parse: the running command prints text (a text command,
-- or stdout at a terminal without --format json), and failures go to
-- stderr only.
M.text_out = false

-- parse(args, decl) -> opts, rest. Accepts --opt VALUE and --opt=VALUE;
-- "--" ends the options (rest gets what follows). -h or --help prints the
-- command's help on stdout and ends the run with status 0.
function M.parse(args, decl)
  decl = M.command(decl)
  M.text_out = (decl.output == "text" or core.isatty(1)) and not wants_json(args)
  local opts, rest, i = {}, {}, 1
  local by, stdin, reads = {}, nil, {} -- key -> the option that set it; who reads stdin; files to read
  while i <= #args do
    local a = args[i]
    if a == "--" then
      table.move(args, i + 1, #args, 1, rest)
      break
    end
    if a == "--help" or a == "-h" then
      io.stdout:write(require("tasknum.help").text(decl, M.invoked))
      io.stdout:flush()
      M.done(0)
    end
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    local s = decl.by_name[name]
    if not s then
      if a:sub(1, 1) == "-" and a ~= "-" then bad("unknown option " .. a .. "; see --help") end
      rest[#rest + 1] = a
    elseif s.kind == "flag" then
      if inline then bad(name .. " takes no value") end
      opts[s.key] = true
    else
      local value = inline
      if not value then
        i = i + 1
        value = args[i]
        if value == nil then bad(name .. " needs a value") end
      end
      if by[s.key] and by[s.key] ~= name then bad(by[s.key] .. " and " .. name .. " exclude each other") end
      by[s.key] = name
      if s.read then -- read once the whole line is parsed: --help anywhere reads nothing
        if value == "-" and stdin then bad(stdin .. " - and " .. name .. " - cannot both read stdin") end
        if value == "-" then stdin = name end
        reads[#reads + 1] = { s, name, value }
      elseif s.kind == "list" then
        opts[s.key] = opts[s.key] or {}
        table.insert(opts[s.key], value)
      else
        opts[s.key] = convert(s.kind, name, value)
      end
    end
    i = i + 1
  end
  for _, r in ipairs(reads) do opts[r[1].key] = M.read_text(r[2], r[3]) end
  return opts, rest
end

-- --- running scripts --------------------------------------------------------

local function catch(e)
  if M.is_done(e) then return e end
  return errors.handler(e)
end

-- finish(status, value) -> exit status of a script's run
local function finish(ok, value)
  if ok then return status_of(value) end
  if M.is_done(value) then
    if value.held then
      collectgarbage() -- the step's handle is unreachable now: its finalizer releases the lock
      return M.emit(answer.failure(errors.new("SCRIPT_ERROR", tostring(value),
        "the script called os.exit while a tasknum step held the lock; the step was rolled back")))
    end
    return value.status
  end
  return M.emit(answer.failure(value))
end

-- protect(fn, ...) -> exit status: runs fn protected, any error an answer
function M.protect(fn, ...)
  return finish(xpcall(fn, catch, ...))
end

-- Whether the host may end the process without closing the Lua state
-- (see settled()): set by run() for a command shipped with tasknum.
local shipped_ran = false

-- settled() -> true when the run is over with nothing left for the Lua
-- state's closing to do: the command was one shipped with tasknum (they
-- end their steps themselves, releasing every lock), no team file ran in
-- it (a team's script, policy or format may count on a finalizer, __gc,
-- to clean up), and no step of this process is still open (a
-- tasknum.begin handle left unfinished releases its lock from its
-- finalizer). The host then exits after flushing stdout, without the
-- teardown of every object (a tenth of an allocation's instructions).
function M.settled()
  local txn, policy = package.loaded["tasknum.txn"], package.loaded["tasknum.policy"]
  return shipped_ran and (txn == nil or (txn.open or 0) == 0)
    and (policy == nil or policy.loaded[1] == nil)
end

-- run(name, args) -> exit status: runs the command or script name
function M.run(name, args)
  return M.protect(function()
    local src, err = require("tasknum.commands").source(name, args)
    if not src then error(err, 0) end
    shipped_ran = src.origin == "shipped"
    local chunk, msg = src.load()
    if not chunk then errors.raise("SCRIPT_ERROR", "cannot load " .. tostring(msg), msg) end -- "PATH:LINE: why"
    local a = table.move(args, 1, #args, 1, {})
    a[0] = src.path
    _G.arg = a
    M.invoked = src.name
    -- the host started with a long pause for start-up (core/main.c): the
    -- command's garbage is collected as usual (Lua's default pause, 200)
    collectgarbage("incremental", 200)
    return chunk(table.unpack(args))
  end)
end

-- The text of --version: tasknum's and Lua's versions, then where this
-- binary's modules and scripts come from (the host finds them from the
-- binary, so another install or a LUA_PATH cannot mix in).
function M.version()
  local h = package.loaded["tasknum.host"] or {}
  local dirs = {}
  for _, d in ipairs(require("tasknum.commands").dirs(require("tasknum.commands").state_of({}))) do
    dirs[#dirs + 1] = d.dir
  end
  dirs[#dirs + 1] = h.scriptdir
  dirs[#dirs + 1] = "built into the binary"
  return string.format("tasknum %s\nlua: %s\nbinary: %s%s\nmodules: built into the binary\n"
    .. "scripts: %s\n", core.version, h.lua or _VERSION, h.exe or "?",
    ({ build = " (build tree)", install = " (installed)" })[h.layout] or "", table.concat(dirs, ", "))
end

-- (the script runs under run()'s own protection, not nested in another)
local function run_command(args)
  local script = args[1]
  if script == "--help" or script == "-h" or not script then
    return M.protect(require("tasknum.help").serve, "run", args)
  end
  return M.run(script, table.move(args, 2, #args, 1, {}))
end

-- main(args) -> exit status, settled (see settled()); args[1] is the
-- command.
function M.main(args)
  local status = M.dispatch(args)
  return status, M.settled()
end

-- dispatch(args) -> exit status of the command args[1]
function M.dispatch(args)
  os.exit = trapped_exit
  M.text_out = core.isatty(1)
  local cmd = args[1]
  if cmd == nil then
    io.stderr:write(require("tasknum.help").usage())
    return 64
  elseif cmd == "--help" or cmd == "-h" then
    io.stdout:write(require("tasknum.help").usage())
    return 0
  elseif cmd == "--version" then
    io.stdout:write(M.version())
    return 0
  end
  local rest = table.move(args, 2, #args, 1, {})
  if cmd == "run" then return run_command(rest) end
  if cmd == "help" or cmd == "complete" then return M.protect(require("tasknum.help").serve, cmd, rest) end
  if cmd:sub(1, 1) == "-" then
    return M.emit(answer.failure(errors.new("INVALID_ARGUMENT", "unknown option " .. cmd
      .. "; see tasknum --help")))
  end
  return M.run(cmd, rest)
end

return M
