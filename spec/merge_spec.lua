-- tasknum merge: git's merge driver for the state file (SPEC rule 12).
-- First the command on three files, as git runs it; then real `git merge`
-- runs in temp repositories, with and without the driver installed.
local H = require "spec_helper"

local repo_support = require "support.repo"
local ENV, sh, must = repo_support.ENV, repo_support.sh, repo_support.must

-- An entry as add-task writes it (two-space indentation, in an array
-- indented by four spaces).
local function entry(n, name, status, nl)
  nl = nl or "\n"
  return table.concat({ "    {", '      "project_number": ' .. n .. ",",
    '      "project_name": "' .. name .. '",', '      "status": "' .. (status or "not_started") .. '"',
    "    }" }, nl)
end

-- A state: counter, range (nil: no project_numbering block), the entries
-- (texts from entry()), line ending.
local function state(next, range, entries, nl)
  nl = nl or "\n"
  local lines = { "{", '  "_schema_version": "1.1.0",', '  "next_project_number": ' .. next .. "," }
  if range then
    lines[#lines + 1] = '  "project_numbering": {"min": ' .. range[1] .. ', "max": ' .. range[2]
      .. ', "policy": "increment"},'
  end
  lines[#lines + 1] = '  "active_projects": [' .. nl .. table.concat(entries, "," .. nl) .. nl .. "  ],"
  lines[#lines + 1] = '  "metadata": {' .. nl .. '    "ratio": 8.0,' .. nl .. '    "path": "a/b",' .. nl
    .. '    "last_sync": "2026-01-01T00:00:00Z"' .. nl .. "  }"
  lines[#lines + 1] = "}"
  return table.concat(lines, nl) .. nl
end

local COMMON = { entry(60, "sixty", "in_progress"), entry(58, "fifty_eight", "researched") }

local function with(list, ...)
  local out = { ... }
  for _, e in ipairs(list) do out[#out + 1] = e end
  return out
end

-- Runs `tasknum merge` on three texts in a temp folder -> the text left in
-- OURS, the exit status, stderr, and stdout.
local function merge3(base, ours, theirs)
  local dir = H.tmpdir()
  H.write(dir .. "/base", base)
  H.write(dir .. "/ours", ours)
  H.write(dir .. "/theirs", theirs)
  local out, code, err = H.run({ "merge", dir .. "/base", dir .. "/ours", dir .. "/theirs" },
    { env = ENV, cwd = dir })
  return H.read(dir .. "/ours"), code, err, out
end

-- merge3 that must be clean -> the merged text
local function clean(base, ours, theirs)
  local text, code, err = merge3(base, ours, theirs)
  assert(code == 0, "exit " .. tostring(code) .. ": " .. err)
  return text
end

-- merge3 that must conflict -> the text left in OURS, stderr
local function conflicted(base, ours, theirs)
  local text, code, err = merge3(base, ours, theirs)
  assert(code == 1, "exit " .. tostring(code) .. ": " .. err)
  return text, err
end

local function counter(text)
  return tonumber(text:match('"next_project_number": (%d+)'))
end

-- The project numbers of active_projects, in file order.
local function numbers(text)
  local list = {}
  for n in text:gmatch('"project_number": (%d+)') do list[#list + 1] = tonumber(n) end
  return list
end

describe("tasknum merge on three files", function()
  after_each(H.cleanup)

  it("keeps the entries both sides added and takes the counter that moved furthest", function()
    local base = state(82, nil, COMMON)
    local ours = state(84, nil, with(COMMON, entry(83, "beta"), entry(82, "alpha")))
    local theirs = state(86, nil, with(COMMON, entry(85, "delta"), entry(84, "gamma")))
    local text, code, err, out = merge3(base, ours, theirs)
    assert.are.equal(0, code, err)
    assert.are.equal("", out)
    assert.are.equal("", err)
    -- ours, with the counter changed and theirs' new entries after ours' new ones
    local expected = ours:gsub('"next_project_number": 84', '"next_project_number": 86')
      :gsub("(\n)(    {\n      \"project_number\": 60)",
        "%1" .. entry(85, "delta"):gsub("%%", "%%%%") .. ",\n" .. entry(84, "gamma") .. ",\n%2")
    assert.are.equal(expected, text)
    assert.are.same({ 83, 82, 85, 84, 60, 58 }, numbers(text))
  end)

  it("wraps: base 995, ours 998, theirs past max at 3 -> 3", function()
    local base = state(995, { 0, 999 }, COMMON)
    local text = clean(base, state(998, { 0, 999 }, COMMON), state(3, { 0, 999 }, COMMON))
    assert.are.equal(3, counter(text))
    text = clean(base, state(3, { 0, 999 }, COMMON), state(998, { 0, 999 }, COMMON))
    assert.are.equal(3, counter(text))
  end)

  it("reads a counter more than half the range behind as a step back, never a rewind", function()
    -- theirs went back from 83 to 80 (a revert, a reset): ours' 85 stays
    local base = state(83, nil, COMMON)
    local theirs = state(80, nil, { COMMON[1], entry(58, "fifty_eight", "done") })
    local text = clean(base, state(85, nil, with(COMMON, entry(84, "b"), entry(83, "a"))), theirs)
    assert.are.equal(85, counter(text))
    assert.matches('"status": "done"', text, 1, true)
    -- also when ours left the counter where it was
    text = clean(base, base:gsub("a/b", "o/o"), theirs)
    assert.are.equal(83, counter(text))
    assert.matches('"path": "o/o"', text, 1, true)
  end)

  it("takes the counter of the only side that moved it, with the other side's changes", function()
    local base = state(82, nil, COMMON)
    local moved = state(84, nil, with(COMMON, entry(83, "b"), entry(82, "a")))
    local other = base:gsub('"last_sync": "[^"]*"', '"last_sync": "2026-02-02T00:00:00Z"')
    for _, pair in ipairs({ { moved, other }, { other, moved } }) do
      local text = clean(base, pair[1], pair[2])
      assert.are.equal(84, counter(text))
      assert.are.same({ 83, 82, 60, 58 }, numbers(text))
      assert.matches("2026-02-02", text, 1, true)
    end
  end)

  it("keeps CRLF line endings, also for entries taken from an LF side", function()
    local base = state(82, nil, { entry(60, "sixty", "x", "\r\n") }, "\r\n")
    local ours = state(83, nil, { entry(82, "alpha", nil, "\r\n"), entry(60, "sixty", "x", "\r\n") }, "\r\n")
    local theirs = state(84, nil, { entry(83, "beta"), entry(60, "sixty", "x") }) -- LF
    local text = clean(base, ours, theirs)
    assert.is_nil(text:find("[^\r]\n"), "a line ends in LF alone")
    assert.are.same({ 82, 83, 60 }, numbers(text))
    assert.are.equal(84, counter(text))
  end)

  it("reports one number given to two different tasks, naming both, with markers in OURS", function()
    local base = state(82, nil, COMMON)
    local text, err = conflicted(base, state(83, nil, with(COMMON, entry(82, "alpha"))),
      state(83, nil, with(COMMON, entry(82, "gamma"))))
    assert.matches("project number 82 was given to two different tasks: alpha (ours) and gamma (theirs)",
      err, 1, true)
    -- the two entries whole on each side, not just their differing lines
    assert.matches("\n<<<<<<< ours\n" .. entry(82, "alpha") .. ",\n=======\n" .. entry(82, "gamma")
      .. ",\n>>>>>>> theirs\n", text, 1, true)
    assert.is_nil(text:find("\1", 1, true))
  end)

  it("reports a member changed differently on both sides, and leaves the rest merged", function()
    local base = state(82, nil, COMMON)
    local ours = state(83, nil, with(COMMON, entry(82, "alpha"))):gsub("a/b", "o/o")
    local theirs = base:gsub("a/b", "t/t"):gsub('"researched"', '"planned"')
    local text, err = conflicted(base, ours, theirs)
    assert.matches('metadata.path changed differently on both branches (ours "o/o", theirs "t/t")', err, 1, true)
    assert.matches('<<<<<<< ours\n    "path": "o/o",\n=======\n    "path": "t/t",\n>>>>>>> theirs\n', text, 1, true)
    assert.matches('"status": "planned"', text, 1, true) -- theirs' change elsewhere landed
    assert.are.same({ 82, 60, 58 }, numbers(text))
  end)

  it("reports an entry changed on one side and removed on the other", function()
    local base = state(82, nil, COMMON)
    local ours = state(82, nil, { entry(60, "sixty", "done"), COMMON[2] }):gsub("a/b", "x")
    local theirs = state(82, nil, { COMMON[2] }):gsub("2026%-01", "2026-03")
    local _, err = conflicted(base, ours, theirs)
    assert.matches("project 60 (sixty) was removed on theirs and changed on ours", err, 1, true)
  end)

  it("removes an entry removed on one side and untouched on the other", function()
    local base = state(82, nil, COMMON)
    local ours = state(83, nil, with(COMMON, entry(82, "alpha")))
    local theirs = state(82, nil, { COMMON[1] }):gsub("a/b", "t/t")
    local text = clean(base, ours, theirs)
    assert.are.same({ 82, 60 }, numbers(text))
    assert.matches('"path": "t/t"', text, 1, true)
    assert.matches("}\n  ],", text, 1, true)
  end)

  it("merges one entry changed on both sides in different members", function()
    local base = state(82, nil, COMMON)
    local ours = base:gsub('"in_progress"', '"completed"')
    local theirs = base:gsub('"project_name": "sixty"', '"project_name": "sixty_renamed"')
    local text = clean(base, ours, theirs)
    assert.are.equal(ours:gsub('"sixty"', '"sixty_renamed"'), text)
    -- the same member changed differently: a conflict that names the entry
    local _, err2 = conflicted(base, ours, base:gsub('"in_progress"', '"blocked"'))
    assert.matches('project 60 (sixty): status changed differently on both branches '
      .. '(ours "completed", theirs "blocked")', err2, 1, true)
  end)

  it("matches entries by number and name where a side already holds a number twice", function()
    local dup = { entry(7, "x"), entry(7, "y"), entry(60, "sixty") }
    local base = state(82, nil, dup)
    -- ours adds 7 again (a third task), theirs changes y: no pairing by position
    local ours = state(83, nil, { entry(7, "z"), entry(7, "x"), entry(7, "y"), entry(60, "sixty") })
    local theirs = state(82, nil, { entry(7, "x"), entry(7, "y", "done"), entry(60, "sixty") })
    local text = clean(base, ours, theirs)
    assert.are.equal(ours:gsub('"y",\n      "status": "not_started"', '"y",\n      "status": "done"'), text)
    -- both sides give that number to a new task: still the conflict
    local _, err2 = conflicted(base, ours, state(83, nil, { entry(7, "w"), entry(7, "x"), entry(7, "y"),
      entry(60, "sixty") }))
    assert.matches("project number 7 was given to two different tasks: z (ours) and w (theirs)", err2, 1, true)
  end)

  it("adds members added on either side, after the member that precedes them there", function()
    local base = state(82, nil, COMMON)
    local ours = base:gsub('    "ratio": 8.0,\n', '    "ratio": 8.0,\n    "owner": "o",\n')
    local theirs = base:gsub('    "path": "a/b",\n', '    "path": "a/b",\n    "team": "t",\n')
    local text = clean(base, ours, theirs)
    assert.are.equal(ours:gsub('    "path": "a/b",\n', '    "path": "a/b",\n    "team": "t",\n'), text)
  end)

  it("merges other values changed on both sides line by line, as git would", function()
    local list = '  "pending": [\n    1,\n    2,\n    3,\n    4,\n    5,\n    6\n  ],\n'
    local base = state(82, nil, COMMON):gsub('  "metadata"', list .. '  "metadata"')
    local ours = base:gsub("    1,\n", "    100,\n")
    local theirs = base:gsub("    6\n", "    600\n")
    local text = clean(base, ours, theirs)
    assert.are.equal(ours:gsub("    6\n", "    600\n"), text)
  end)

  it("keeps bytes it has no reason to touch: 8.0, key order, a/b, other indentation", function()
    local base = '{"next_project_number":5,"b":8.0,"a":"x/y","active_projects":[{"project_number":1}]}'
    local ours = '{"next_project_number":6,"b":8.0,"a":"x/y","active_projects":[{"project_number":5},'
      .. '{"project_number":1}]}'
    local theirs = '{\n\t"next_project_number": 7,\n\t"b": 8.0,\n\t"a": "x/y",\n\t"active_projects": [\n'
      .. '\t\t{"project_number": 6},\n\t\t{"project_number": 1}\n\t]\n}\n'
    local text = clean(base, ours, theirs)
    assert.are.equal('{"next_project_number":7,"b":8.0,"a":"x/y","active_projects":[{"project_number":5},'
      .. '{"project_number": 6},{"project_number":1}]}', text)
  end)

  it("refuses a side that is not a state, leaving OURS as it was", function()
    local base = state(82, nil, COMMON)
    local ours = state(83, nil, with(COMMON, entry(82, "alpha")))
    local marked = "<<<<<<< HEAD\n" .. ours .. "=======\n" .. base .. ">>>>>>> x\n"
    for _, case in ipairs({ { base, ours, marked, "theirs" }, { "", ours, base, "base" },
                            { base, ours, "[1]", "theirs" }, { base, marked, ours, "ours" } }) do
      local text, err = conflicted(case[1], case[2], case[3])
      assert.are.equal(case[2], text)
      assert.matches("tasknum merge: " .. case[4] .. ": not a state file tasknum can merge", err, 1, true)
      assert.matches("was left as it was", err, 1, true)
    end
  end)

  it("answers a wrong call with INVALID_ARGUMENT", function()
    local r, code = H.run_json({ "merge", "a", "b" })
    assert.are.equal(64, code)
    assert.are.equal("INVALID_ARGUMENT", r.error_code)
  end)

  it("settles the bookkeeping add-task keeps when both sides added a task: the later time, both counts", function()
    local function book(next, stamp, total, active, entries)
      return state(next, nil, entries):gsub('^{\n', '{\n  "_last_updated": "' .. stamp .. '",\n  "last_updated": "'
        .. stamp .. '",\n  "task_counts": {"total": ' .. total .. ', "active": ' .. active
        .. ', "not_started": 0},\n', 1):gsub('"ratio": 8.0,', '"ratio": 8.0,\n    "total_tasks": ' .. total .. ",", 1)
    end
    local base = book(82, "2026-01-01T00:00:00Z", 10, 4, COMMON)
    -- add-task on each branch, a second apart (the case a merge met every time)
    local dir = H.tmpdir()
    local sides = {}
    for i, name in ipairs({ "ours", "theirs" }) do
      H.write(dir .. "/" .. name .. "/specs/state.json", base)
      if i == 2 then assert(H.wait_until(function() return os.time() > sides.t end, 3)) end
      local r = H.run_json({ "add-task", "--name", name .. "_task", "--no-todo", "--authority", "file" },
        { cwd = dir .. "/" .. name })
      assert.are.equal("success", r.status, r.error_message)
      sides.t, sides[name] = os.time(), H.read(dir .. "/" .. name .. "/specs/state.json")
    end
    local theirs = sides.theirs:gsub('"project_number": 82', '"project_number": 83', 1)
      :gsub('"next_project_number": 83', '"next_project_number": 84', 1)
    local text = clean(base, sides.ours, theirs)
    local later = theirs:match('"_last_updated": "([^"]+)"')
    assert.are_not.equal(sides.ours:match('"_last_updated": "([^"]+)"'), later)
    assert.matches('"_last_updated": "' .. later .. '",\n  "last_updated": "' .. later .. '"', text, 1, true)
    assert.matches('"task_counts": {"total": 12, "active": 6, "not_started": 2}', text, 1, true)
    assert.matches('"total_tasks": 12,', text, 1, true)
    assert.are.same({ 82, 83, 60, 58 }, numbers(text))
    -- the rules settle only what they can: a count that is text, or times
    -- of two shapes, conflict as any member would
    local odd = base:gsub('"total": 10', '"total": "10"')
    local _, err = conflicted(odd, odd:gsub('"total": "10"', '"total": "11"'), odd:gsub('"total": "10"', '"total": "12"'))
    assert.matches("task_counts.total changed differently on both branches", err, 1, true)
    _, err = conflicted(base, base:gsub('"last_updated": "[^"]+"', '"last_updated": "2026-02-01"'),
      base:gsub('"last_updated": "[^"]+"', '"last_updated": "2026-02-01T00:00:00Z"'))
    assert.matches("last_updated changed differently on both branches", err, 1, true)
  end)

  it("merges the real .opencode state with a task added on each side", function()
    local path = H.shared .. "/fixtures/opencode-state-next239.json"
    local base = H.read(path)
    if not base then pending("../shared/fixtures is not here") return end
    local dir = H.tmpdir()
    local sides = {}
    for _, name in ipairs({ "ours", "theirs" }) do
      H.write(dir .. "/" .. name .. "/.opencode/specs/state.json", base)
      local r = H.run_json({ "add-task", "--name", name .. "_task", "--no-todo" }, { cwd = dir .. "/" .. name })
      assert.are.equal("success", r.status, r.error_message)
      sides[name] = H.read(dir .. "/" .. name .. "/.opencode/specs/state.json")
    end
    -- both took 239: the conflict names it
    local _, err = conflicted(base, sides.ours, sides.theirs)
    assert.matches("project number 239 was given to two different tasks: ours_task (ours) and "
      .. "theirs_task (theirs)", err, 1, true)
    -- theirs renumbered to 240: clean, and tasknum check passes
    local theirs = sides.theirs:gsub('"project_number": 239', '"project_number": 240', 1)
      :gsub('"next_project_number": 240', '"next_project_number": 241')
    local text = clean(base, sides.ours, theirs)
    assert.are.equal(241, counter(text))
    H.write(dir .. "/merged.json", text)
    local r, c = H.run_json({ "check", "--state", dir .. "/merged.json" })
    assert.are.equal(0, c, r.error_message)
  end)
end)

-- --- real git ----------------------------------------------------------------

local STATE = "specs/state.json"

-- A repository whose first commit on main holds the state text.
local function repo(text)
  return repo_support.repo({ [STATE] = text })
end

local function tasknum(dir, args)
  local r, code = H.run_json(args, { cwd = dir, env = ENV })
  assert(code == 0, table.concat(args, " ") .. ": " .. tostring(r.error_message))
  return r
end

-- add_tasks(dir, name...) -> the numbers they got
local function add_tasks(dir, ...)
  local got = {}
  for _, name in ipairs({ ... }) do
    got[#got + 1] = tasknum(dir, { "add-task", "--name", name, "--no-todo" }).project_number
  end
  return got
end

-- Where branch b is made, from main, while branch a is in the first
-- worktree: "worktree", a second worktree of the clone (`git worktree
-- add`: the default worktrees numbering is shared, b's numbers come after
-- a's); "clone", a second clone, which keeps a numbering of its own (as
-- on another machine: b's numbers are a's again); nil, the same worktree,
-- switching branches (the numbering is shared too). Then b is fetched
-- into the first clone, which is on a, ready to merge b.
local function branch_b(dir, where)
  if where == nil then
    must(dir, "git checkout -q -b b main")
    return dir
  end
  local other = H.tmpdir() .. "/b"
  if where == "worktree" then
    must(dir, "git worktree add -q -b b " .. H.q(other) .. " main")
  else
    must(dir, "git clone -q . " .. H.q(other) .. " && cd " .. H.q(other) .. " && git checkout -q -b b origin/main")
  end
  return other
end

local function merge_ready(dir, where, other)
  if where == "clone" then must(dir, "git fetch -q " .. H.q(other) .. " b:b") end
  if where == nil then must(dir, "git checkout -q a") end
end

-- Branch a adds alpha and beta, branch b (see branch_b) gamma and delta.
-- -> the numbers each got
local function two_branches(dir, where)
  must(dir, "git checkout -q -b a main")
  local a = add_tasks(dir, "alpha", "beta")
  must(dir, "git commit -qam 'a: two tasks'")
  local other = branch_b(dir, where)
  local b = add_tasks(other, "gamma", "delta")
  must(other, "git commit -qam 'b: two tasks'")
  merge_ready(dir, where, other)
  return a, b
end

local function install(dir)
  local r = tasknum(dir, { "merge", "--install" })
  must(dir, "git add .gitattributes && git commit -qm 'merge driver'")
  return r
end

describe("git merge of the state", function()
  after_each(H.cleanup)

  it("conflicts without the driver: two branches that each added tasks", function()
    local dir = repo(state(82, nil, COMMON))
    local a, b = two_branches(dir)
    assert.are.same({ { 82, 83 }, { 84, 85 } }, { a, b }) -- one numbering for the clone
    local out, code = sh(dir, "git merge b -m merge")
    assert.are_not.equal(0, code)
    assert.matches("CONFLICT (content): Merge conflict in " .. STATE, out, 1, true)
    assert.matches("<<<<<<<", H.read(dir .. "/" .. STATE), 1, true)
  end)

  it("merges them cleanly with the driver: larger counter, every entry, check passes", function()
    local dir = repo(state(82, nil, COMMON))
    install(dir)
    -- b in a second worktree: the worktrees numbering gives it 84 and 85
    local a, b = two_branches(dir, "worktree")
    assert.are.same({ { 82, 83 }, { 84, 85 } }, { a, b })
    local ours = H.read(dir .. "/" .. STATE)
    local theirs = must(dir, "git show b:" .. STATE)
    local out, code = sh(dir, "git merge -q b -m merge")
    assert.are.equal(0, code, out)
    local text = H.read(dir .. "/" .. STATE)
    assert.are.equal(86, counter(text))
    assert.are.same({ 83, 82, 85, 84, 60, 58 }, numbers(text))
    -- ours with the counter and theirs' two entries, nothing else
    local added = theirs:match('"active_projects": %[\n(.-)    {\n      "project_number": 60')
    local expected = ours:gsub('"next_project_number": 84', '"next_project_number": 86')
      :gsub("(\n)(    {\n      \"project_number\": 60)", "%1" .. added:gsub("%%", "%%%%") .. "%2")
    assert.are.equal(expected, text)
    local r, c = H.run_json({ "check" }, { cwd = dir })
    assert.are.equal(0, c, r.error_message)
    assert.are.equal("", must(dir, "git status --porcelain --untracked-files=no"))
  end)

  it("fails the merge when both branches gave one number to different tasks", function()
    local dir = repo(state(82, nil, COMMON))
    install(dir)
    -- b in a second clone, which shares no numbering with the first
    local a, b = two_branches(dir, "clone")
    assert.are.same({ { 82, 83 }, { 82, 83 } }, { a, b })
    local out, code = sh(dir, "git merge b -m merge")
    assert.are_not.equal(0, code)
    assert.matches("project number 82 was given to two different tasks: alpha (ours) and gamma (theirs)",
      out, 1, true)
    assert.matches("project number 83 was given to two different tasks: beta (ours) and delta (theirs)",
      out, 1, true)
    assert.matches("UU " .. STATE, must(dir, "git status --porcelain"), 1, true)
    local text = H.read(dir .. "/" .. STATE)
    assert.matches("<<<<<<< ours", text, 1, true)
    assert.are.equal(84, counter(text))
    -- git's merge.conflictStyle reaches the markers
    must(dir, "git merge --abort")
    sh(dir, "git -c merge.conflictStyle=diff3 merge b -m merge")
    text = H.read(dir .. "/" .. STATE)
    assert.matches("\n||||||| base\n", text, 1, true)
    assert.is_nil(text:find("\1", 1, true))
  end)

  it("takes the counter that wrapped past max (995: 998 against 3)", function()
    local dir = repo(state(995, { 0, 999 }, COMMON))
    install(dir)
    must(dir, "git checkout -q -b a main")
    tasknum(dir, { "allocate", "--count", "3", "--no-todo" })
    must(dir, "git commit -qam 'a: 995..997'")
    local other = branch_b(dir, "clone") -- a numbering of its own: 995 again
    tasknum(other, { "allocate", "--count", "8", "--no-todo" })
    must(other, "git commit -qam 'b: 995..2'")
    assert.are.equal(3, counter(H.read(other .. "/" .. STATE)))
    merge_ready(dir, "clone", other)
    local out, code = sh(dir, "git merge -q b -m merge")
    assert.are.equal(0, code, out)
    assert.are.equal(3, counter(H.read(dir .. "/" .. STATE)))
  end)

  it("takes the counter from the only branch that moved it", function()
    local dir = repo(state(82, nil, COMMON))
    install(dir)
    must(dir, "git checkout -q -b a main")
    H.write(dir .. "/" .. STATE, (H.read(dir .. "/" .. STATE):gsub('"researched"', '"planned"')))
    must(dir, "git commit -qam 'a: a status'")
    must(dir, "git checkout -q -b b main")
    add_tasks(dir, "gamma")
    must(dir, "git commit -qam 'b: a task'")
    must(dir, "git checkout -q a")
    local out, code = sh(dir, "git merge -q b -m merge")
    assert.are.equal(0, code, out)
    local text = H.read(dir .. "/" .. STATE)
    assert.are.equal(83, counter(text))
    assert.are.same({ 82, 60, 58 }, numbers(text))
    assert.matches('"planned"', text, 1, true)
  end)

  it("keeps a CRLF state CRLF", function()
    local dir = repo(state(82, nil, { entry(60, "sixty", "x", "\r\n") }, "\r\n"))
    install(dir)
    two_branches(dir, "worktree")
    local out, code = sh(dir, "git merge -q b -m merge")
    assert.are.equal(0, code, out)
    local text = H.read(dir .. "/" .. STATE)
    assert.is_nil(text:find("[^\r]\n"), "a line ends in LF alone")
    assert.are.same({ 83, 82, 85, 84, 60 }, numbers(text))
    local r, c = H.run_json({ "check" }, { cwd = dir })
    assert.are.equal(0, c, r.error_message)
  end)
end)

describe("tasknum merge --install", function()
  after_each(H.cleanup)

  it("adds the attribute once and sets the driver in the repository's config", function()
    local dir = repo(state(82, nil, COMMON))
    local r = tasknum(dir .. "/specs", { "merge", "--install" })
    assert.are.equal("added", r.gitattributes.action)
    assert.are.equal(STATE .. " merge=tasknum", r.gitattributes.line)
    assert.are.equal("set", r.git_config["merge.tasknum.driver"].action)
    -- tasknum is not on PATH here: the driver names this binary
    local real = H.capture("realpath " .. H.q(H.bin))
    assert.are.equal(real .. " merge %O %A %B", r.driver.command)
    assert.are.equal(real .. " merge %O %A %B", (must(dir, "git config --local merge.tasknum.driver"):gsub("\n$", "")))
    assert.matches(STATE .. ": merge: tasknum", must(dir, "git check-attr merge -- " .. STATE), 1, true)
    local again = tasknum(dir, { "merge", "--install" })
    assert.are.equal("present", again.gitattributes.action)
    assert.are.equal("present", again.git_config["merge.tasknum.driver"].action)
    assert.are.equal("present", again.git_config["merge.tasknum.name"].action)
    assert.are.equal(STATE .. " merge=tasknum\n", H.read(dir .. "/.gitattributes"))
  end)

  it("writes plain `tasknum` when the tasknum on PATH is this binary", function()
    local dir = repo(state(82, nil, COMMON))
    local bin = H.tmpdir()
    must(bin, "ln -s " .. H.q(H.bin) .. " tasknum")
    local r = H.run_json({ "merge", "--install" },
      { cwd = dir, env = { PATH = bin .. ":" .. os.getenv("PATH"), GIT_CONFIG_GLOBAL = "/dev/null" } })
    assert.are.equal("tasknum merge %O %A %B", r.driver.command, r.error_message)
  end)

  it("appends to an existing .gitattributes in its own line ending", function()
    local dir = repo(state(82, nil, COMMON))
    H.write(dir .. "/.gitattributes", "*.png binary\r\n*.sh text")
    tasknum(dir, { "merge", "--install" })
    assert.are.equal("*.png binary\r\n*.sh text\r\n" .. STATE .. " merge=tasknum\r\n",
      H.read(dir .. "/.gitattributes"))
  end)

  it("a git config it cannot write: SYSTEM_ERROR, the .gitattributes as it was", function()
    local dir = repo(state(82, nil, COMMON))
    H.write(dir .. "/.git/config.lock", "") -- another git is writing it
    for _, before in ipairs({ "*.png binary\n", false }) do
      if before then H.write(dir .. "/.gitattributes", before) else os.remove(dir .. "/.gitattributes") end
      local r, code = H.run_json({ "merge", "--install" }, { cwd = dir, env = ENV })
      assert.are.equal(71, code)
      assert.are.equal("SYSTEM_ERROR", r.error_code)
      assert.matches("git config", r.error_message, 1, true)
      assert.are.equal(before or nil, H.read(dir .. "/.gitattributes"))
    end
  end)

  it("refuses a state outside a git working tree", function()
    local dir = H.project()
    local r, code = H.run_json({ "merge", "--install" }, { cwd = dir, env = ENV })
    assert.are.equal(64, code)
    assert.matches("not inside a git working tree", r.error_message, 1, true)
  end)

  it("says what git says when it cannot read the repository (a broken .git/config)", function()
    local dir = H.project()
    H.sh("git -C " .. H.q(dir) .. " init -q")
    local config = H.read(dir .. "/.git/config")
    H.write(dir .. "/.git/config", config .. "[[[broken\n")
    local r, code = H.run_json({ "merge", "--install" }, { cwd = dir, env = ENV })
    assert.are.equal(71, code)
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.matches("git cannot read the repository around .*bad config line", r.error_message)
    assert.is_nil(H.read(dir .. "/.gitattributes"))
    assert.are.equal(config .. "[[[broken\n", H.read(dir .. "/.git/config"))
  end)
end)
