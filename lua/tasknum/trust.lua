-- tasknum.trust (internal): whether a team's file may run, in the spirit of
-- git's safe.directory. Team scripts and policies run with the rights of
-- whoever runs tasknum (root in a cron job, say), so one that someone else
-- could have written or replaced is refused:
--
--   For a file F found under a top folder T (the project root, or a
--   $TASKNUM_PATH folder), every element of F's real path from T's real
--   path down to F itself (the folders and the file) must be
--     * owned by the caller or by root, and
--     * not writable by others, nor by its group unless it is the caller's
--       (a folder with the sticky bit, like /tmp, passes both: nobody can
--       rename or remove what is not theirs in it).
--   When F's real path leaves T (a symlink out of the project), the chain
--   is checked from / instead.
--
-- A caller trusts a folder anyway (and everything below it) by naming it in
-- $TASKNUM_TRUST (colon-separated; "*" trusts every folder) or on a line of
-- ${XDG_CONFIG_HOME:-~/.config}/tasknum/trust. The file itself must pass
-- the same owner and mode rule, or it is refused too.
-- Files shipped with tasknum and a script named by its path (`tasknum run
-- ./x.lua`) are not checked: the caller chose them.
--
-- The same rule guards the numbering's authority a state commits
-- (project_numbering.authority): one that reaches outside the repository
-- (dir:PATH makes files in PATH, git:REMOTE runs git against REMOTE,
-- postgresql:// and postgres:// send libpq's password to the host) is
-- used only when the state file passes the rule from its project root
-- (policy.project_root; from / for a state outside a project), or is
-- covered by the caller's trust; otherwise UNTRUSTED before anything is
-- opened or connected to (M.authority, called by tasknum.authority.open).
-- `file` and `worktrees` stay beside the state and in the repository's own
-- git dir, so they need no trust. An authority the caller names
-- (--authority, $TASKNUM_AUTHORITY) is the caller's choice: never checked.
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local fs = require "tasknum.fs"

local M = {}

local STICKY, GROUP_W, OTHER_W = 512, 16, 2

local function me()
  local _, uid = core.user()
  return uid
end

-- problem(path) -> nil when path passes the owner and mode rule, else why
-- not, in words
function M.problem(path, uid)
  uid = uid or me()
  local st, msg = core.stat(path)
  if not st then return "cannot be examined (" .. tostring(msg) .. ")" end
  local sticky = st.type == "directory" and st.mode & STICKY ~= 0
  if st.uid ~= uid and st.uid ~= 0 then
    return "is owned by " .. core.user(st.uid) .. ", not by you or root"
  end
  if st.mode & OTHER_W ~= 0 and not sticky then return "is writable by everyone" end
  if st.mode & GROUP_W ~= 0 and st.uid ~= uid and not sticky then
    return "is writable by the group " .. core.group(st.gid) .. " and is not yours"
  end
end

-- config() -> the path of the caller's trust file (which may not exist)
function M.config()
  local base = os.getenv("XDG_CONFIG_HOME")
  if not base or base:sub(1, 1) ~= "/" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.config"
  end
  return base .. "/tasknum/trust"
end

-- trusted() -> the real paths the caller trusts (true for "*") | nil, err
function M.trusted()
  local list = {}
  local function add(entry)
    entry = entry:match("^%s*(.-)%s*$")
    if entry == "*" then list.all = true
    elseif entry:sub(1, 1) == "/" then list[#list + 1] = core.realpath(entry) or entry end
  end
  for entry in (os.getenv("TASKNUM_TRUST") or ""):gmatch("[^:]+") do add(entry) end
  local file = M.config()
  local text = file and core.readfile(file)
  if text then
    local why = M.problem(file)
    if why then
      return nil, errors.new("UNTRUSTED", "the trust file " .. file .. " " .. why,
        "a trust file others could change would let them choose what tasknum runs; "
        .. "make it yours and not writable by others: chown $(id -un) " .. file
        .. "; chmod go-w " .. file, nil, { path = file, reason = why })
    end
    for line in text:gmatch("[^\n]+") do
      if not line:match("^%s*#") then add(line) end
    end
  end
  return list
end

local function covered(list, path)
  if list.all then return true end
  for _, t in ipairs(list) do
    if path == t or t == "/" or path:sub(1, #t + 1) == t .. "/" then return true end
  end
  return false
end

-- covers(path) -> whether $TASKNUM_TRUST or the trust file covers the real
-- path | nil, err (a trust file others could change)
function M.covers(path)
  local list, err = M.trusted()
  if not list then return nil, err end
  return covered(list, core.realpath(path) or path)
end

local function under(path, top)
  return top == "/" or path == top or path:sub(1, #top + 1) == top .. "/"
end

-- chain(real, top) -> the elements to check: top, each folder below it,
-- and real itself
local function chain(real, top)
  local list, cur = { top }, top == "/" and "" or top
  for part in real:sub(#cur + 2):gmatch("[^/]+") do
    cur = cur .. "/" .. part
    list[#list + 1] = cur
  end
  return list
end

-- judge(path, top [, read]) -> nil and the real path judged when path
-- passes (nil alone when it is gone: loading it says so), else the
-- element that fails, why, and the folder to trust;
-- or false, err for a trust file others could change. read: the real path
-- of what the caller has already read from path (the state's text): path
-- must still lead there, else its folder's owner swapped or removed it
-- since, and what is judged is not what was read (refused, as a failing
-- element is: only the caller's trust covers it).
local function judge(path, top, read)
  local real = core.realpath(path)
  local moved
  if read and real ~= read then
    moved = real and ("now leads to " .. real .. ", not to the file tasknum read") or "is gone since tasknum read it"
    real = read
  end
  if not real then return nil end
  local rtop = top and core.realpath(top)
  if not rtop or not under(real, rtop) then rtop = "/" end
  local uid = me()
  local list
  local elements = chain(real, rtop)
  if moved then elements = { real } end
  for _, element in ipairs(elements) do
    local why = moved or M.problem(element, uid)
    if why then
      if not list then
        local err
        list, err = M.trusted()
        if not list then return false, err end
      end
      if not covered(list, element) then
        return element, why, rtop ~= "/" and rtop
          or (element == real and fs.dirname(element) or element)
      end
    end
  end
  return nil, real -- passes: the real path judged
end

-- check(path, top) -> true, real | nil, err (UNTRUSTED, naming the file,
-- what is wrong, and how to trust it). top: the folder the file was found
-- under. real: the real path judged (nil: gone), the one to load (M.load):
-- path itself may lead elsewhere by then, when a folder on its way is
-- someone else's (a link out of the project, swapped after the judgement).
function M.check(path, top)
  local element, why, folder = judge(path, top)
  if element == nil then return true, why end -- why: the real path judged (nil: gone)
  if element == false then return nil, why end
  return nil, M.refusal(path, element, why, folder)
end

-- load(real, name [, env]) -> the chunk of the file check() judged, read at
-- its real path, named name as loadfile(name) names it (a first line
-- starting with # and a UTF-8 BOM skipped as loadfile does) | nil, message
function M.load(real, name, env)
  local f, msg = real and io.open(real, "rb")
  if not f then
    return nil, "cannot open " .. name .. (real and (": " .. tostring(msg)) or " (gone while tasknum checked it)")
  end
  local text = f:read("a")
  f:close()
  text = text:gsub("^\239\187\191", ""):gsub("^#[^\n]*", "")
  if env == nil then return load(text, "@" .. name, "t") end -- a nil env would be the chunk's _ENV
  return load(text, "@" .. name, "t", env)
end

-- named(path, element) -> how a refusal names the element that failed:
-- "it" when that is the file itself
local function named(path, element)
  return element == core.realpath(path) and "it" or element
end

-- trusting(folder) -> the words that say how to trust folder
local function trusting(folder)
  return string.format("run with TASKNUM_TRUST=%s, or add the line %s to %s", folder, folder,
    M.config() or "~/.config/tasknum/trust")
end

-- authority(path, top, spec [, shown [, read]]) -> true | nil, err:
-- whether the numbering's authority spec, committed in the state file path
-- (project root top), may be used; UNTRUSTED names the file, the authority
-- (shown: spec with any password hidden) and both ways out. read: the real
-- path the state's text was read from (see judge).
function M.authority(path, top, spec, shown, read)
  local element, why, folder = judge(path, top, read)
  if element == nil then return true end
  if element == false then return nil, why end
  shown = shown or spec
  return nil, errors.new("UNTRUSTED", string.format("not using the authority %s that %s commits "
    .. "(project_numbering.authority): %s %s", shown, path, named(path, element), why),
    string.format("a committed dir:, git: or postgresql:// authority decides where tasknum writes and "
      .. "connects (and where libpq sends your password), so tasknum takes it only from a state file "
      .. "that you or root own and nobody else can write (README: Committed authorities). The state "
      .. "is as it was, and nothing was made or connected to where the authority points. If you trust "
      .. "%s, %s; or choose the numbering yourself: --authority SPEC or TASKNUM_AUTHORITY=SPEC (the "
      .. "same one if you mean it, or worktrees or file)", folder, trusting(folder)), nil,
    { path = path, element = element, reason = why, trust = folder, authority = shown })
end

-- refusal(path, element, why, folder) -> the UNTRUSTED error
function M.refusal(path, element, why, folder)
  return errors.new("UNTRUSTED", string.format("not running %s: %s %s", path, named(path, element), why),
    string.format("tasknum runs a team's scripts and policies only from folders that you or "
      .. "root own and that nobody else can write (README: Which code tasknum runs). If you "
      .. "trust the code in %s, %s; or make the folders yours and not writable by others "
      .. "(chmod go-w)", folder, trusting(folder)), nil,
    { path = path, element = element, reason = why, trust = folder })
end

return M
