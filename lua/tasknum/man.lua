-- tasknum.man (internal): the man page tasknum(1), made at build time
-- (`make` runs core/man.lua in the binary) from the same declarations as
-- --help: the commands the binary ships, their synopses, options and exit
-- statuses, so the page cannot drift from the help. The sections around
-- them (environment, files, which code runs, the Lua API) are written here.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local help = require "tasknum.help"

local M = {}

-- roff(text) -> text escaped for troff: backslashes, dashes, a leading dot
-- or quote; `code` becomes bold
function M.roff(text)
  text = text:gsub("\\", "\\e"):gsub("%-", "\\-")
  text = text:gsub("`([^`]+)`", "\\fB%1\\fR")
  return (text:gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end

-- arg(text) -> a quoted macro argument
local function arg(text)
  return '"' .. M.roff(text):gsub('"', "\\(dq") .. '"'
end

local function paragraphs(out, text)
  for para in (text .. "\n\n"):gmatch("(.-)\n%s*\n") do
    if para:match("%S") then
      out[#out + 1] = ".PP"
      out[#out + 1] = M.roff((para:gsub("%s+", " "):gsub("^ ", "")))
    end
  end
end

local function tagged(out, tag, text)
  out[#out + 1] = ".TP"
  out[#out + 1] = tag
  out[#out + 1] = M.roff(text)
end

-- command(out, name, decl): one command's subsection
local function command(out, name, decl)
  local forms = help.forms(decl)
  out[#out + 1] = ".SS " .. arg("tasknum " .. name .. (forms[1] ~= "" and " " .. forms[1] or ""))
  for i = 2, #forms do
    out[#out + 1] = ".B " .. arg("tasknum " .. name .. " " .. forms[i])
    out[#out + 1] = ".br"
  end
  out[#out + 1] = M.roff((decl.summary:gsub("^%l", string.upper))) .. "."
  if decl.text then paragraphs(out, decl.text) end
  if #decl.options > 0 then
    out[#out + 1] = ".PP"
    out[#out + 1] = "Options:"
    for _, o in ipairs(decl.options) do
      tagged(out, "\\fB" .. M.roff(o.name) .. "\\fR" .. (o.value and (" \\fI" .. M.roff(o.value) .. "\\fR") or ""),
        o.help)
    end
  end
  out[#out + 1] = ".PP"
  out[#out + 1] = "Exit status:"
  for _, e in ipairs(help.exits(decl)) do
    tagged(out, ".B " .. arg(e[1]), e[2] and (e[2] .. ": " .. e[3]) or e[3])
  end
end

local DESCRIPTION = [[
tasknum hands out unique task numbers from a project's state.json (.opencode/specs/state.json or specs/state.json) to any number of agents and shell scripts running at once: no number twice, no lost update, no half-written file, no lock left stuck, and the file left byte for byte as it was except the counter.

Every command that answers prints one line of JSON on stdout, for success and failure alike, and a short `tasknum: CODE: message` line on stderr on failure; the exit status tells the code (see EXIT STATUS). `--format plain` prints the numbers alone.

The state file is `--state PATH`, else $TASKNUM_STATE, else the first .opencode/specs/state.json or specs/state.json found walking up from the current folder. Nothing found is STATE_NOT_FOUND: only `tasknum init` creates a state file.

A command name is a command shipped with tasknum, or a team's commands/NAME.lua (see WHICH CODE TASKNUM RUNS); `tasknum run SCRIPT` runs a Lua script by its path.]]

local ENVIRONMENT = {
  { "TASKNUM_STATE", "the state file when no --state is given" },
  { "TASKNUM_PATH", "colon-separated team folders looked in before the project's (each with the project folder's layout: conflict.lua, audit.lua, format/, commands/)" },
  { "TASKNUM_TRUST", "colon-separated folders whose team files run even though others could write them, and whose .git is the state's repository though another user owns it; * trusts every folder" },
  { "TASKNUM_OVERRIDE", "names of shipped commands (allocate, add-task, todo, ...) that a team's commands/NAME.lua may replace" },
  { "XDG_CONFIG_HOME", "where the trust file is: $XDG_CONFIG_HOME/tasknum/trust (default ~/.config/tasknum/trust)" },
  { "TASKNUM_AUTHORITY", "where the numbering lives when --authority is not given (file, worktrees, dir:PATH, git:REMOTE, postgresql://...)" },
  { "TASKNUM_LOCK_FD, TASKNUM_LOCK_BYTE, TASKNUM_LOCK_PATH", "set by `tasknum lock` for its COMMAND, so that tasknum commands it runs use the lock already held" },
}

local FILES = {
  { "STATE (.opencode/specs/state.json, specs/state.json)", "the state: next_project_number, project_numbering {min, max}, active_projects" },
  { ".state.json.lock", "beside the state: the kernel lock (never removed); names its holder" },
  { ".state.lock/", "beside the state: the legacy mkdir lock, kept while tasknum holds the state" },
  { ".state.json.audit.jsonl", "beside the state: one JSON line per attempt" },
  { "R/.opencode/tasknum/, R/.claude/tasknum/", "a team's files in the project R that holds the state: conflict.lua, audit.lua and format/NAME.lua (policies), commands/NAME.lua (commands)" },
  { "~/.config/tasknum/trust", "folders the caller trusts, one a line" },
}

local TRUST = [[
tasknum looks for a team's files only in the state's own project: the folder R that holds .opencode/specs/ or specs/ (for a state under another name, the git top level above it), and the folders of $TASKNUM_PATH; never in the current folder or above it.

A team file runs only when its real path, from R (or its $TASKNUM_PATH folder) down to the file, is owned by the caller or root and writable by nobody else (a group-writable folder counts only when it is the caller's; a sticky folder such as /tmp passes). Otherwise the run fails with UNTRUSTED, naming the file and the folder to trust: TASKNUM_TRUST=FOLDER, or a line FOLDER in ~/.config/tasknum/trust.

The same rule holds for the numbering's authority a state commits (project_numbering.authority): dir:PATH, git:REMOTE and postgresql:// (postgres://) choose where tasknum writes and connects, so they are used only when the state file passes it from R (from / for a state outside a project), or its folder is trusted; otherwise allocate, check and every step fail with UNTRUSTED, and status reports the authority without opening it, before anything is made or connected to. file and worktrees stay beside the state and in its own git dir and need no trust. --authority and $TASKNUM_AUTHORITY are the caller's own choice and are never checked.

Policies (conflict.lua, audit.lua, format/) are never commands. A command shipped with tasknum is replaced by a team's commands/NAME.lua only when $TASKNUM_OVERRIDE names it. os.exit in a policy or a script under the lock ends the step as a SCRIPT_ERROR, released and with nothing written.]]

local LUA = {
  { "require \"tasknum\"", "from lua5.4 (eval \"$(tasknum env)\" for another prefix); the answers are the tables the CLI prints as JSON" },
  { "tasknum.allocate{count, purpose, state, timeout, stale, todo, format}", "hands out numbers" },
  { "tasknum.add_task{name, description, fields, if_absent, ...}", "allocates a number and adds the task in one write" },
  { "tasknum.transaction(opts, function(txn) ... end)", "runs the function under the lock; its edits are written in one durable write, or nothing if it raises" },
  { "tasknum.begin(opts)", "the same step as a handle: txn:commit(), txn:rollback()" },
  { "tasknum.hold(opts, fn)", "holds the lock while fn runs (what `tasknum lock` does)" },
  { "tasknum.status{state}, tasknum.check{state}", "what `tasknum status --json` and `tasknum check` print" },
}

-- page() -> the man page source
function M.page()
  local out = {
    '.\\" tasknum(1), generated by `make` (lua/tasknum/man.lua) from the commands\' declarations; do not edit',
    ".TH TASKNUM 1 \"\" " .. arg("tasknum " .. core.version) .. " \"User Commands\"",
    ".nh",
    ".SH NAME",
    "tasknum \\- hand out unique task numbers from a project's state.json",
    ".SH SYNOPSIS",
    ".B tasknum",
    ".I COMMAND",
    ".RI [ OPTIONS ]",
    ".RI [ ARGS ...]",
    ".br",
    ".B tasknum help",
    ".RI [ COMMAND ]",
    ".br",
    ".B tasknum",
    ".I COMMAND",
    ".B \\-\\-help",
    ".br",
    ".B tasknum \\-\\-version",
    ".SH DESCRIPTION",
  }
  paragraphs(out, DESCRIPTION)
  out[#out + 1] = ".SH COMMANDS"
  for _, c in ipairs(help.declarations()) do
    assert(c.decl, "the man page needs the declaration of " .. c.name .. ": " .. tostring(c.why))
    command(out, c.name, c.decl)
  end
  out[#out + 1] = ".SH EXIT STATUS"
  tagged(out, ".B 0", "success")
  for _, code in ipairs(help.codes()) do
    local status = code == "INTERRUPTED" and "130, 143" or tostring(errors.exit[code])
    tagged(out, "\\fB" .. status .. "\\fR  " .. M.roff(code), errors.meaning[code])
  end
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, e in ipairs(ENVIRONMENT) do tagged(out, ".B " .. arg(e[1]), e[2]) end
  out[#out + 1] = ".SH FILES"
  for _, f in ipairs(FILES) do tagged(out, ".I " .. arg(f[1]), f[2]) end
  out[#out + 1] = ".SH WHICH CODE TASKNUM RUNS"
  paragraphs(out, TRUST)
  out[#out + 1] = ".SH LUA API"
  for _, l in ipairs(LUA) do tagged(out, ".B " .. arg(l[1]), l[2]) end
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = ".BR flock (1),"
  out[#out + 1] = ".BR git (1),"
  out[#out + 1] = ".BR lua5.4 (1);"
  out[#out + 1] = "and tasknum's README for the whole contract."
  return table.concat(out, "\n") .. "\n"
end

return M
