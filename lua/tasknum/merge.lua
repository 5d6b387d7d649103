-- tasknum.merge (internal): the three-way merge of state files behind
-- `tasknum merge BASE OURS THEIRS`, git's merge driver (SPEC rule 12).
--
-- The texts are scanned, never decoded and re-encoded. The result is built
-- from OURS's bytes: every value that no side changed, every separator and
-- every bit of whitespace is copied from OURS; only where a change from
-- THEIRS lands are THEIRS's bytes used (with OURS's line ending).
--
-- How each part merges:
--   next_project_number  the side that moved further forward from the base,
--                        as a serial: base + ((side - base) mod R). A move of
--                        more than half the range reads as a step back (a
--                        revert, a reset), never as a wrap: never a rewind.
--   active_projects      entries matched by project_number: added on either
--                        side, all kept (OURS's new entries first, then
--                        THEIRS's, each in file order, ahead of the common
--                        entries they preceded); removed on one side and
--                        untouched on the other, removed; changed on one side,
--                        that change; changed on both, merged member by member.
--   bookkeeping          last_updated, _last_updated, metadata.total_tasks,
--                        task_counts.* (what add-task keeps in step): changed
--                        on both sides, the later timestamp, and the base
--                        plus both sides' changes (tasknum.policy.bookkeeping)
--   any other member     member by member, recursively through objects; a
--                        value changed on both sides that is not an object
--                        merges line by line, as git would (git merge-file).
-- Real conflicts: one number given to two different tasks, a member changed
-- differently on both sides, an entry changed on one side and removed on the
-- other. merge() then also renders the three versions that differ only in
-- the conflicts, so that git merge-file leaves git's usual markers there.
local core = require "tasknum.core"
local cjson = require "cjson"
local errors = require "tasknum.errors"
local state = require "tasknum.state"

local M = {}

local START = {} -- the anchor of entries placed before any kept one

-- --- reading ----------------------------------------------------------------

-- The end of the JSON string that starts at p (its closing quote).
local function string_end(text, p)
  local i = p + 1
  while true do
    local k = text:find('["\\]', i)
    if text:sub(k, k) == '"' then return k end
    i = k + 2
  end
end

-- canon(text) -> the JSON text without the whitespace between tokens: two
-- values are the same when their canonical texts are.
local function canon(text)
  local out, i = {}, 1
  while true do
    local q = text:find('"', i, true)
    out[#out + 1] = text:sub(i, (q or 0) - 1):gsub("[ \t\r\n]+", "")
    if not q then return table.concat(out) end
    local e = string_end(text, q)
    out[#out + 1] = text:sub(q, e)
    i = e + 1
  end
end

local function text_of(v) return v.side.text:sub(v.s, v.e) end

-- Whether two values (nil: absent) are the same JSON text but for layout.
-- Texts that still differ with every blank taken out differ (a cheap test
-- in C); only those that do not need the exact comparison.
local function same(a, b)
  if not a or not b then return a == b end
  local x, y = text_of(a), text_of(b)
  if x == y then return true end
  if x:gsub("[ \t\r\n]+", "") ~= y:gsub("[ \t\r\n]+", "") then return false end
  return canon(x) == canon(y)
end

-- The text of v in OURS's line ending (JSON keeps no raw newline inside a
-- string, so every newline is layout).
local function borrow(ctx, v)
  local text = text_of(v)
  if v.side == ctx.ours or v.side.nl == ctx.ours.nl then return text end
  return (text:gsub("\r?\n", ctx.ours.nl))
end

local function bad(side, message)
  errors.raise("STATE_CORRUPT", side.label .. ": " .. message)
end

-- fields(side, s, e) -> the members of the object at [s, e] in file order,
-- each { key, ks (where its name starts), s, e (its value) }.
local function fields(side, s, e)
  local text, list, p = side.text, {}, s + 1
  while true do
    p = text:match("^[ \t\r\n]*()", p)
    if text:sub(p, p) == "}" then return list end
    if text:sub(p, p) == "," then p = text:match("^[ \t\r\n]*()", p + 1) end
    local key = cjson.decode(text:sub(p, string_end(text, p)))
    local vs, ve = core.member(text, s, e, key)
    if not vs then bad(side, "the member " .. key .. " appears twice in one object; cannot merge it") end
    list[#list + 1] = { key = key, ks = p, s = vs, e = ve, side = side }
    p = ve + 1
  end
end

local function decoded(text, s, e, key)
  local vs, ve = core.member(text, s, e, key)
  if not vs then return nil end
  local ok, v = pcall(cjson.decode, text:sub(vs, ve))
  return ok and v or nil
end

-- The number and name of an entry of active_projects; nil when it is not
-- an object with a project_number that holds a whole number, however it
-- is written ("5", 5.0: core.whole, as the conflict check reads it).
local function identity(text, s, e)
  if text:sub(s, s) ~= "{" then return nil end
  local vs, ve = core.member(text, s, e, "project_number")
  local n = vs and core.whole(text, vs, ve)
  if not n then return nil end
  local name = decoded(text, s, e, "project_name")
  return n, type(name) == "string" and name or nil
end

-- entries(side, s, e) -> the elements of active_projects in file order,
-- each { number, name, ks, s, e, side }.
local function entries(side, s, e)
  local spans, list = core.elements(side.text, s, e), {}
  for i = 1, #spans, 2 do
    local es, ee = spans[i], spans[i + 1]
    local number, name = identity(side.text, es, ee)
    list[#list + 1] = { number = number, name = name, ks = es, s = es, e = ee, side = side }
  end
  return list
end

-- Numbers that one of the lists holds more than once.
local function held_twice(lists)
  local twice = {}
  for _, list in ipairs(lists) do
    local seen = {}
    for _, v in ipairs(list) do
      if v.number and seen[v.number] then twice[v.number] = true end
      if v.number then seen[v.number] = true end
    end
  end
  return twice
end

-- Gives the entries of the three lists the keys that match them: "#N" by
-- project_number; "#N:NAME" for a number that some side already holds
-- twice (a broken state); the canonical text for an entry without a
-- number; a key seen again on one side gets "/2", "/3".
local function key_entries(lists)
  local twice = held_twice(lists)
  for _, list in ipairs(lists) do
    local seen = {}
    for _, v in ipairs(list) do
      local n = v.number
      local key = n and "#" .. n .. (twice[n] and ":" .. tostring(v.name) or "") or "=" .. canon(text_of(v))
      seen[key] = (seen[key] or 0) + 1
      v.key = seen[key] > 1 and key .. "/" .. seen[key] or key
    end
  end
end

local function by_key(list)
  local map = {}
  for _, v in ipairs(list) do map[v.key] = v end
  return map
end

-- --- nodes ------------------------------------------------------------------
-- A merged value is a node: { text } (resolved), { conflict = true, ours,
-- theirs, base } (each a text, nil where the value is absent), or a
-- container rebuilt from OURS's pieces. render(node, mode) gives its text in
-- the version mode ("ours", "theirs", "base"); they differ only in conflicts.

local function leaf(ctx, v) return { text = borrow(ctx, v) } end

-- Whole-entry conflicts carry a tag at the end of each of their lines, a
-- byte no JSON text holds, different on each side: git merge-file then
-- cannot pair their common lines ("status": ..., "}") and shows the two
-- entries whole, so that nobody keeps one task by taking a side. M.marked
-- takes the tags out again.
local TAG = "\1"

local function tagged(text, side, whole)
  if not whole then return text end
  local tag = TAG .. side:sub(1, 1)
  return (text:gsub("\r?\n", tag .. "%0")) .. tag
end

local function conflict(ctx, message, b, o, t, whole)
  ctx.conflicts[#ctx.conflicts + 1] = message
  return { conflict = true, ours = o and tagged(borrow(ctx, o), "ours", whole),
           theirs = t and tagged(borrow(ctx, t), "theirs", whole),
           base = b and tagged(borrow(ctx, b), "base", whole) }
end

local function render(node, mode)
  if node.conflict then return node[mode] end
  if not node.items then return node.text end
  local parts, prev = {}, nil
  for _, it in ipairs(node.items) do
    local v = render(it.node, mode)
    if v then
      if prev then
        local adjacent = prev.oi and it.oi and it.oi == prev.oi + 1
        parts[#parts + 1] = adjacent and node.seps[prev.oi] or node.gap
      end
      parts[#parts + 1] = it.prefix .. v
      prev = it
    end
  end
  if not prev then return node.open .. node.close end
  return node.open .. node.lead .. table.concat(parts) .. node.trail .. node.close
end

-- The brackets, whitespace and separators of a container value v whose
-- members or elements are list.
local function pieces(v, list)
  local text = v.side.text
  local p = { n = #list, seps = {}, open = text:sub(v.s, v.s), close = text:sub(v.e, v.e) }
  if #list == 0 then return p end
  p.lead = text:sub(v.s + 1, list[1].ks - 1)
  p.trail = text:sub(list[#list].e + 1, v.e - 1)
  for i = 1, #list - 1 do p.seps[i] = text:sub(list[i].e + 1, list[i + 1].ks - 1) end
  p.gap = p.seps[1] or "," .. p.lead
  return p
end

-- A container node shaped like OURS's value (or, when OURS's is empty, like
-- the first side's that has members), holding items in order.
local function container(ctx, shapes, items)
  local node = shapes[1]
  node.items = items
  if node.n > 0 then return node end
  for _, p in ipairs(shapes) do
    if p.n > 0 then
      local function conv(s) return (s:gsub("\r?\n", ctx.ours.nl)) end
      node.lead, node.trail, node.gap = conv(p.lead), conv(p.trail), conv(p.gap)
      return node
    end
  end
  return node
end

-- --- order ------------------------------------------------------------------

-- arrange(olist, tlist, inbase, kept) -> the kept keys in result order:
-- OURS's in OURS's order; each of THEIRS's others right after the nearest
-- kept key before it in THEIRS (at the start when none), and after the new
-- keys of OURS that follow that place.
local function arrange(olist, tlist, inbase, kept)
  local inours, groups, anchor = {}, {}, START
  for _, v in ipairs(olist) do inours[v.key] = true end
  for _, v in ipairs(tlist) do
    if kept[v.key] then
      if not inours[v.key] then
        groups[anchor] = groups[anchor] or {}
        table.insert(groups[anchor], v.key)
      end
      anchor = v.key
    end
  end
  local out, pending = {}, {}
  local function flush()
    local stack = {}
    for i = #pending, 1, -1 do stack[#stack + 1] = pending[i] end
    while #stack > 0 do
      local k = table.remove(stack)
      out[#out + 1] = k
      for i = #(groups[k] or {}), 1, -1 do stack[#stack + 1] = groups[k][i] end
    end
    pending = {}
  end
  table.move(groups[START] or {}, 1, #(groups[START] or {}), 1, pending)
  for _, v in ipairs(olist) do
    if kept[v.key] then
      if inbase[v.key] then flush() end
      out[#out + 1] = v.key
      for _, k in ipairs(groups[v.key] or {}) do pending[#pending + 1] = k end
    end
  end
  flush()
  return out
end

-- --- deciding ---------------------------------------------------------------

-- decide(ctx, words, b, o, t, both) -> node, or nil when the value goes.
local function kind(v) return v.side.text:sub(v.s, v.s) end

local function all(kind_char, b, o, t)
  return kind(b) == kind_char and kind(o) == kind_char and kind(t) == kind_char
end

-- The later of two timestamps of one shape ("2026-03-24T19:43:30Z"),
-- compared as text; nil when they are not both of that shape.
local STAMP = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%d.]*Z?$"

local function latest(ctx, b, o, t)
  if not all('"', b, o, t) then return nil end
  local so, st = core.string(o.side.text, o.s, o.e), core.string(t.side.text, t.s, t.e)
  if not (so and st and #so == #st and so:find(STAMP) and st:find(STAMP)) then return nil end
  return leaf(ctx, st > so and t or o)
end

-- Base plus both sides' changes, for three plain integers that fit.
local function sum(_, b, o, t)
  local function int(v) return core.integer(v.side.text, v.s, v.e) end
  local nb, no, nt = int(b), int(o), int(t)
  if not (math.type(nb) == "integer" and math.type(no) == "integer" and math.type(nt) == "integer") then
    return nil
  end
  local big = 1 << 53 -- counts, far from wrapping
  if math.abs(nb) > big or math.abs(no) > big or math.abs(nt) > big then return nil end
  return { text = tostring(no + (nt - nb)) }
end

local SETTLE = { latest = latest, sum = sum }

-- The bookkeeping members a /task command keeps in step change on both
-- branches whenever both add a task: settled by the shipped bookkeeping
-- policy's rule (tasknum.policy.bookkeeping, M.merge) -> the node; false
-- for an object holding such members; nil: no rule, or values it cannot
-- settle.
local function bookkeeping(ctx, name, b, o, t)
  local rules = require("tasknum.policy.bookkeeping").merge
  local rule = rules[name] or rules[(name:match("^(.+)%.[^.]+$") or "") .. ".*"]
  if rule then return SETTLE[rule](ctx, b, o, t) end
  -- an object holding such members (task_counts, metadata): member by
  -- member even when both sides made it the same, since two sides that
  -- each added a task made the same count, and both count
  for key in pairs(rules) do
    if key:sub(1, #name + 1) == name .. "." then return false end
  end
end

-- b, o, t: the value on each side, nil where absent; both(ctx, name, b, o,
-- t) merges a value changed on both sides; words names the conflicts.
-- words.structural: both() merges the parts of the three values whatever
-- changed (active_projects): no comparing them whole, which on a big state
-- cost seconds.
local function decide(ctx, words, b, o, t, both)
  if words.structural and b and o and t then return both(ctx, words.name, b, o, t) end
  if b and o and t and words.name and not same(o, b) and not same(t, b) then
    local settled = bookkeeping(ctx, words.name, b, o, t)
    if settled then return settled end
    if settled == false and all("{", b, o, t) then return both(ctx, words.name, b, o, t) end
  end
  if o and t and same(o, t) then return leaf(ctx, o) end
  if not b then
    if o and t then return conflict(ctx, words.added(o, t), b, o, t, words.whole) end
    return leaf(ctx, o or t)
  end
  if not o and not t then return nil end
  if not t then
    if same(o, b) then return nil end
    return conflict(ctx, words.removed("theirs", "ours"), b, o, t, words.whole)
  end
  if not o then
    if same(t, b) then return nil end
    return conflict(ctx, words.removed("ours", "theirs"), b, o, t, words.whole)
  end
  if same(o, b) then return leaf(ctx, t) end
  if same(t, b) then return leaf(ctx, o) end
  return both(ctx, words.name, b, o, t)
end

-- The value as a short quote for a message, nil when it is long.
local function short(v)
  local text = text_of(v)
  return #text <= 60 and not text:find("\n", 1, true) and text or nil
end

local function sides_of(o, t)
  local a, c = short(o), short(t)
  return a and c and " (ours " .. a .. ", theirs " .. c .. ")" or ""
end

-- Conflict messages about the member (or entry) called name.
local function member_words(name)
  return {
    name = name,
    added = function(o, t) return name .. " was added differently on both branches" .. sides_of(o, t) end,
    removed = function(gone, changed) return name .. " was removed on " .. gone .. " and changed on " .. changed end,
  }
end

-- A value changed on both sides that is not an object: a line merge, as
-- git would make it; a conflict unless that is clean and one JSON value.
local function line_merge(ctx, name, b, o, t)
  local message = name .. " changed differently on both branches" .. sides_of(o, t)
  if (text_of(o) .. text_of(t)):find("\n", 1, true) then
    local text, n = M.merge_file(text_of(o), borrow(ctx, b), borrow(ctx, t))
    local s, e = core.validate(text or "")
    if n == 0 and s == 1 and e == #text then return { text = text } end
  end
  return conflict(ctx, message, b, o, t)
end

-- keyed(ctx, b, o, t, lists, words, both) -> a container node merging the
-- members (or entries) of three containers matched by key: lists holds
-- their { key, ks, s, e } lists; words(key, vb, vo, vt) and both(key) give
-- decide() its words and its merge of values changed on both sides.
local function keyed(ctx, b, o, t, lists, words, both)
  local lb, lo, lt = lists[1], lists[2], lists[3]
  local mb, mo, mt = by_key(lb), by_key(lo), by_key(lt)
  for i, v in ipairs(lo) do v.index = i end
  local nodes, inbase = {}, {}
  for _, list in ipairs({ lo, lt, lb }) do
    for _, v in ipairs(list) do
      local k = v.key
      if nodes[k] == nil then
        nodes[k] = decide(ctx, words(k, mb[k], mo[k], mt[k]), mb[k], mo[k], mt[k], both(k)) or false
        inbase[k] = mb[k] ~= nil
      end
    end
  end
  local items = {}
  for _, k in ipairs(arrange(lo, lt, inbase, nodes)) do
    local v = mo[k] or mt[k] or mb[k]
    items[#items + 1] = { key = k, node = nodes[k], oi = mo[k] and mo[k].index,
                          prefix = borrow(ctx, { side = v.side, s = v.ks, e = v.s - 1 }) }
  end
  return container(ctx, { pieces(o, lo), pieces(t, lt), pieces(b, lb) }, items)
end

-- merge_value(ctx, name, b, o, t) -> node for a value changed on both
-- sides: objects member by member, anything else line by line.
local function merge_value(ctx, name, b, o, t)
  if not all("{", b, o, t) then return line_merge(ctx, name, b, o, t) end
  local lists = { fields(b.side, b.s, b.e), fields(o.side, o.s, o.e), fields(t.side, t.s, t.e) }
  local function words(k)
    if name == "" then return member_words(k) end
    return member_words(name .. (name:sub(-1) == ")" and ": " or ".") .. k)
  end
  return keyed(ctx, b, o, t, lists, words, function() return merge_value end)
end

-- --- the counter and active_projects -----------------------------------------

-- How far the counter moved from the base, as a serial: forward modulo the
-- range, or back (negative) when that is more than half the range.
local function moved(ctx, v)
  local from, to, size = ctx.base.info.next, v.side.info.next, ctx.size
  if not size then return to - from end
  local d = (to - from) % size
  return d > size // 2 and d - size or d
end

-- The counter of the side that moved furthest forward, also when only one
-- side moved it: a side that stepped back loses to one that stayed. With
-- the range changed, only a counter changed on one side merges.
local function counter(ctx, name, b, o, t)
  if ctx.size ~= false then return moved(ctx, t) > moved(ctx, o) and leaf(ctx, t) or leaf(ctx, o) end
  if same(o, b) then return leaf(ctx, t) end
  if same(t, b) then return leaf(ctx, o) end
  return conflict(ctx, name .. " moved on both branches while project_numbering changed", b, o, t)
end

local function describe(v)
  if not v.number then return "an entry of active_projects" end
  return "project " .. v.number .. (v.name and " (" .. v.name .. ")" or "")
end

local function two_tasks(o, t)
  return string.format("project number %d was given to two different tasks: %s (ours) and %s (theirs); "
    .. "keep both entries, renumber one of them and move next_project_number past it",
    o.number, o.name or "no name", t.name or "no name")
end

local function entry_words(_, vb, vo, vt)
  local words = member_words(describe(vo or vt or vb))
  words.whole = true
  function words.added(o, t)
    if not o.number or o.name == t.name then return words.name .. " was added differently on both branches" end
    return two_tasks(o, t)
  end
  return words
end

-- New entries of both sides that share a number but no key (the number was
-- already held twice somewhere): the same conflict, both entries whole.
local function clashes(ctx, node, lists)
  local mb, mo, mt, mine = by_key(lists[1]), by_key(lists[2]), by_key(lists[3]), {}
  for _, v in ipairs(lists[2]) do
    if v.number and not mb[v.key] and not mt[v.key] then mine[v.number] = v end
  end
  local forced = {}
  for _, v in ipairs(lists[3]) do
    local o = v.number and not mb[v.key] and not mo[v.key] and mine[v.number]
    if o then
      ctx.conflicts[#ctx.conflicts + 1] = two_tasks(o, v)
      forced[o.key] = { conflict = true, ours = tagged(borrow(ctx, o), "ours", true) }
      forced[v.key] = { conflict = true, theirs = tagged(borrow(ctx, v), "theirs", true) }
    end
  end
  for _, it in ipairs(node.items) do it.node = forced[it.key] or it.node end
  return node
end

local function active(ctx, name, b, o, t)
  if not all("[", b, o, t) then return line_merge(ctx, name, b, o, t) end
  local lists = { entries(b.side, b.s, b.e), entries(o.side, o.s, o.e), entries(t.side, t.s, t.e) }
  key_entries(lists)
  return clashes(ctx, keyed(ctx, b, o, t, lists, entry_words, function() return merge_value end), lists)
end

local ROOT = { next_project_number = counter, active_projects = active }

local function root_words(k, vb, vo, vt)
  local words = member_words(k)
  local present = vb and vo and vt
  words.structural = present and (k == "next_project_number" or k == "active_projects" and all("[", vb, vo, vt))
  return words
end

-- The root objects, member by member (never compared whole).
local function merge_root(ctx, b, o, t)
  local lists = { fields(b.side, b.s, b.e), fields(o.side, o.s, o.e), fields(t.side, t.s, t.e) }
  return keyed(ctx, b, o, t, lists, root_words, function(k) return ROOT[k] or merge_value end)
end

-- --- the whole file ---------------------------------------------------------

local function side_of(label, text)
  local side = { label = label, text = text, nl = text:find("\r\n", 1, true) and "\r\n" or "\n" }
  local info, err = state.parse(text)
  if not info then bad(side, "not a state file tasknum can merge: " .. err.message) end
  side.info = info
  return side
end

-- The size of the range the three sides share; false when they differ,
-- nil when it does not fit in an integer.
local function range_size(ctx)
  local b, o, t = ctx.base.info, ctx.ours.info, ctx.theirs.info
  if b.min ~= o.min or b.min ~= t.min or b.max ~= o.max or b.max ~= t.max then return false end
  local size = b.max - b.min + 1
  return size > 0 and size or nil
end

local function root(side)
  return { side = side, s = side.info.root_start, e = side.info.root_stop }
end

-- merge(base, ours, theirs) -> { text, conflicts, versions }: text is the
-- merged state when conflicts is empty; otherwise versions holds the ours,
-- base and theirs texts that differ only where the conflicts are, for
-- merge_file. Raises STATE_CORRUPT when a side is not a state, or when the
-- merge would not give one.
function M.merge(base, ours, theirs)
  local ctx = { conflicts = {} }
  ctx.base, ctx.ours, ctx.theirs = side_of("base", base), side_of("ours", ours), side_of("theirs", theirs)
  ctx.size = range_size(ctx)
  local node = merge_root(ctx, root(ctx.base), root(ctx.ours), root(ctx.theirs))
  local i = ctx.ours.info
  local function version(mode)
    return ours:sub(1, i.root_start - 1) .. render(node, mode) .. ours:sub(i.root_stop + 1)
  end
  if #ctx.conflicts > 0 then
    return { conflicts = ctx.conflicts,
             versions = { ours = version("ours"), base = version("base"), theirs = version("theirs") } }
  end
  local text = version("ours")
  local valid, err = state.parse(text)
  if not valid then errors.raise("STATE_CORRUPT", "the merged state would not be valid: " .. err.message) end
  return { text = text, conflicts = {} }
end

-- --- git merge-file ---------------------------------------------------------

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function temp(text)
  local name = os.tmpname()
  local f, msg = io.open(name, "wb")
  if not f then return nil, msg end
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(name) return nil, werr end
  return name
end

-- merge_file(ours, base, theirs) -> text, number of conflicts | nil,
-- message: `git merge-file` on three texts, its markers labelled ours,
-- base and theirs (git's merge.conflictStyle applies).
function M.merge_file(ours, base, theirs)
  local names = {}
  for i, text in ipairs({ ours, base, theirs, "" }) do
    local name, msg = temp(text)
    if not name then
      for _, n in ipairs(names) do os.remove(n) end
      return nil, "cannot write a temp file: " .. tostring(msg)
    end
    names[i] = name
  end
  local p = io.popen("git merge-file -p -L ours -L base -L theirs " .. quote(names[1]) .. " "
    .. quote(names[2]) .. " " .. quote(names[3]) .. " 2>" .. quote(names[4]))
  local out = p:read("a")
  local _, how, code = p:close()
  local f = io.open(names[4], "rb")
  local err = f and f:read("a") or ""
  if f then f:close() end
  for _, n in ipairs(names) do os.remove(n) end
  if how ~= "exit" or code > 127 or (code == 127 and out == "") then
    return nil, "git merge-file failed (" .. how .. " " .. code .. "): " .. err:gsub("%s+$", "")
  end
  return out, code
end

-- marked(r) -> OURS with git's conflict markers around r's conflicts (r
-- from merge()) | nil, message
function M.marked(r)
  local v = r.versions
  local text, n = M.merge_file(v.ours, v.base, v.theirs)
  if not text then return nil, n end
  return (text:gsub(TAG .. "[obt]", ""))
end

return M
