-- merge.lua: git's merge driver for the state file (SPEC rule 12), and its
-- setup.
--   tasknum merge BASE OURS THEIRS        git runs it as `tasknum merge %O %A %B`
--   tasknum merge --install [--state PATH]
-- The driver writes the merge to OURS durably and exits 0. On real
-- conflicts it leaves OURS with git's conflict markers around them, names
-- each on stderr and exits 1. A side that is not a state, or any failure:
-- a message on stderr, OURS untouched, exit 1 (git then keeps the file
-- conflicted). The driver prints nothing on stdout: git shows a driver's
-- output in the middle of its own. --install prints the usual JSON answer.
-- How the three versions merge: lua/tasknum/merge.lua.
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "git's merge driver for the state file, and its one-time setup",
  forms = { "BASE OURS THEIRS", "--install [--state PATH]" },
  positional = { "file" },
  options = {
    { "--install", "flag", false, "set the driver up: the .gitattributes line and the git config" },
    { "--state", "string", "PATH", "with --install: the state file (else found from here)", complete = "file" },
  },
  text = [[
git runs the driver as `tasknum merge %O %A %B`. The counter becomes the larger of the two sides, the entries added to active_projects on both sides are all kept, the rest merges as git would, and the result is written to OURS. It prints nothing on stdout; real conflicts are named on stderr and left between git's conflict markers. --install prints the usual JSON answer.]],
  exits = { { 0, "merged cleanly (with --install: set up)" },
    { 1, "conflicts, or a side that is not a state: OURS keeps git's conflict state" },
    "INVALID_ARGUMENT", "SYSTEM_ERROR" },
}
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local merge = require "tasknum.merge"

local USAGE = "usage: tasknum merge BASE OURS THEIRS (git's %O %A %B), "
  .. "or tasknum merge --install [--state PATH]"

local opts, rest = cli.parse({ ... }, command)
if opts.install then
  if #rest > 0 then errors.raise("INVALID_ARGUMENT", "unexpected argument " .. rest[1], USAGE) end
  return cli.emit(require("tasknum.merge.install").install(opts))
end
if opts.state then errors.raise("INVALID_ARGUMENT", "--state goes with --install", USAGE) end
if #rest ~= 3 then errors.raise("INVALID_ARGUMENT", "merge takes three files", USAGE) end

-- One line for people; the tasks' names are the branches' text.
local function say(...)
  io.stderr:write("tasknum merge: ", require("tasknum.text").printable(table.concat({ ... })), "\n")
end

-- Leaves OURS as it is and tells why: git keeps the file conflicted.
local function refuse(message)
  say(message, "; ", rest[2], " was left as it was")
  return 1
end

local function write(text)
  local ok, msg = core.replace(rest[2], text)
  if not ok then return refuse("cannot write the result: " .. tostring(msg)) end
  return 0
end

local texts = {}
for i, label in ipairs({ "base", "ours", "theirs" }) do
  local text, msg = core.readfile(rest[i])
  if not text then return refuse("cannot read " .. label .. ": " .. tostring(msg)) end
  texts[i] = text
end

local ok, r = pcall(merge.merge, texts[1], texts[2], texts[3])
if not ok then
  if not errors.is(r) then error(r, 0) end
  return refuse(r.message)
end
if #r.conflicts == 0 then
  return r.text == texts[2] and 0 or write(r.text)
end

local marked, why = merge.marked(r)
for _, c in ipairs(r.conflicts) do say("CONFLICT: ", c) end
if not marked then return refuse(why) end
if write(marked) ~= 0 then return 1 end
say(#r.conflicts, " conflict", #r.conflicts == 1 and "" or "s",
  " left between git's conflict markers; resolve, then run `tasknum check`")
return 1
