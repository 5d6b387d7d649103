-- worktrees_spec.lua: one numbering across git worktrees and clones (SPEC
-- "One numbering beyond one file", rules 9, 10, 13; issue 10), with real
-- git repositories in temp folders: `git worktree add`, `git clone`,
-- `git checkout HEAD~1 -- specs/state.json`. The authorities are the local
-- ones: worktrees (the default inside a git working tree), dir:PATH, file.
local H = require "spec_helper"
local R = require "support.repo"
local L = require "lock_helper"
local storm = require "support.storm"
local marks = require "tasknum.authority.marks"

local STATE = "specs/state.json"
local KEY = "specs%2Fstate.json"

local function counter(text) return tonumber(text:match('"next_project_number": (%d+)')) end

-- run(dir, args [, env]) -> answer, exit code, stderr: tasknum in dir
local function run(dir, args, env)
  local e = { GIT_CONFIG_NOSYSTEM = "1", GIT_CONFIG_GLOBAL = "/dev/null" }
  for k, v in pairs(env or {}) do e[k] = v end
  return H.run_json(args, { cwd = dir, env = e })
end

-- alloc(dir [, args [, env]]) -> the success answer of allocate --no-todo
local function alloc(dir, args, env)
  local a = { "allocate", "--no-todo" }
  for _, x in ipairs(args or {}) do a[#a + 1] = x end
  local r, code = run(dir, a, env)
  assert(code == 0, "allocate in " .. dir .. ": " .. tostring(r.error_message) .. " "
    .. tostring(r.error and r.error.details))
  return r
end

-- A repository holding the state text at STATE, with n worktrees: the
-- first is the main one, the others are linked (branches w2, w3, ...
-- from main). -> the list of their folders
local function worktrees(n, text)
  local main = R.repo({ [STATE] = text })
  local list = { main }
  for i = 2, n do
    local wt = H.tmpdir() .. "/w" .. i
    R.must(main, "git worktree add -q -b w" .. i .. " " .. H.q(wt) .. " main")
    list[i] = wt
  end
  return list
end

-- The worktrees mark of the repository whose main worktree is main:
-- {serial, min, max}, or nil when there is none.
local function mark_of(main)
  local text = H.read(main .. "/.git/tasknum/" .. KEY .. ".mark")
  return text and assert(marks.parse(text), "the mark file does not parse")
end

-- The checks of a failure that wrote nothing: the code and exit status,
-- the state as it was, no temp file beside it.
local function refused(r, code, want, exit, state, text)
  assert.are.equal(want, r.error_code, r.error_message)
  assert.are.equal(exit, code)
  assert.are.equal(text, H.read(state), "the state changed")
  assert.is_nil(H.ls(state:match("^(.*)/")):find(".tmp-", 1, true), "temp file left")
end

-- A 16 KB tmpfs on a fresh folder, unmounted after the test (root only),
-- or nil and why not.
local function small_disk()
  if H.capture("id -u") ~= "0" then return nil, "needs root to mount a tmpfs" end
  local mnt = H.tmpdir()
  if not H.ok("mount -t tmpfs -o size=16k,mode=0755 tmpfs " .. H.q(mnt) .. " 2>/dev/null") then
    return nil, "cannot mount a tmpfs here"
  end
  finally(function() H.ok("umount " .. H.q(mnt)) end)
  return mnt
end

describe("the worktrees authority (the default inside a git working tree)", function()
  after_each(H.cleanup)

  it("3 worktrees x 6 processes x 10 allocations at once: 180 numbers, all unique", function()
    local wts = worktrees(3, H.state_text(0, { max = 9999 }))
    local lines = {}
    for w, wt in ipairs(wts) do
      for p = 1, 6 do
        lines[#lines + 1] = string.format("(cd %s && for i in 1 2 3 4 5 6 7 8 9 10; do %s allocate "
          .. "--no-todo --format plain --timeout 120 >> %s || echo FAIL >> %s; done) &",
          H.q(wt), H.q(H.bin), H.q(wt .. "/../out." .. w .. "." .. p), H.q(wt .. "/../out." .. w .. "." .. p))
      end
    end
    H.write(wts[1] .. "/../go.sh", table.concat(lines, "\n") .. "\nwait\n")
    assert.is_true(H.ok("sh " .. H.q(wts[1] .. "/../go.sh")))
    local seen, all = {}, {}
    for w, wt in ipairs(wts) do
      for p = 1, 6 do
        local out = assert(H.read(wt .. "/../out." .. w .. "." .. p))
        assert.is_nil(out:find("FAIL", 1, true), "an allocation failed in worktree " .. w)
        for n in out:gmatch("%d+") do
          n = tonumber(n)
          assert.is_nil(seen[n], "number handed out twice: " .. n)
          seen[n], all[#all + 1] = true, n
        end
      end
    end
    table.sort(all)
    assert.are.equal(180, #all)
    assert.are.equal(0, all[1])
    assert.are.equal(179, all[180])
    assert.are.equal(180, mark_of(wts[1]).serial)
    for _, wt in ipairs(wts) do
      local text = H.read(wt .. "/" .. STATE)
      assert.is_true(counter(text) <= 180)
      assert.are.equal(H.state_text(counter(text), { max = 9999 }), text) -- only the counter moved
    end
  end)

  it("never starts git: the common dir is found by reading files", function()
    local wts = worktrees(2, H.state_text(7))
    local bin = H.tmpdir()
    local tripped = bin .. "/git-was-run"
    H.write(bin .. "/git", "#!/bin/sh\ntouch " .. H.q(tripped) .. "\nexit 1\n")
    assert.is_true(H.ok("chmod +x " .. H.q(bin .. "/git")))
    local path = bin .. ":" .. os.getenv("PATH")
    assert.are.same({ 7 }, alloc(wts[2], {}, { PATH = path }).allocated_numbers)
    assert.are.same({ 8 }, alloc(wts[1], {}, { PATH = path }).allocated_numbers)
    assert.is_nil(H.read(tripped), "tasknum ran git")
    if not H.ok("command -v strace >/dev/null 2>&1") then pending("strace is not installed") return end
    local log = bin .. "/trace"
    H.sh("cd " .. H.q(wts[2]) .. " && strace -f -qq -e trace=execve,fork,vfork,clone,clone3 -o "
      .. H.q(log) .. " " .. H.q(H.bin) .. " allocate --no-todo")
    local trace = H.read(log)
    local _, execs = trace:gsub("execve%(", "")
    assert.are.equal(1, execs, trace) -- tasknum itself
    for line in trace:gmatch("[^\n]+") do -- a thread (the lock's helper) is no process
      if line:find("fork%(") or (line:find("clone3?%(") and not line:find("CLONE_THREAD", 1, true)) then
        error("tasknum started a process: " .. line)
      end
    end
  end)

  it("a rewound state (git checkout HEAD~1 -- specs/state.json) never reissues", function()
    local main = worktrees(1, H.state_text(0))[1]
    alloc(main, { "--count", "3" })
    R.must(main, "git commit -qam 'three numbers'")
    alloc(main, { "--count", "2" })
    R.must(main, "git commit -qam 'two more'")
    R.must(main, "git checkout HEAD~1 -- " .. STATE)
    local rewound = H.read(main .. "/" .. STATE)
    assert.are.equal(3, counter(rewound))
    local r = alloc(main)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.are.equal(3, r.previous_next_number)
    assert.are.equal(6, r.new_next_number)
    assert.are.equal(3, r.counter_adjusted.from)
    assert.are.equal(5, r.counter_adjusted.to)
    assert.matches("2 behind the worktrees numbering's mark", r.counter_adjusted.reason, 1, true)
    assert.matches("or a step failed after moving the mark", r.counter_adjusted.reason, 1, true)
    assert.are.same({ kind = "worktrees", where = main .. "/.git/tasknum/" .. KEY .. ".mark" }, r.authority)
    -- the counter moved forward in the same write, nothing else changed
    assert.are.equal((rewound:gsub('"next_project_number": 3', '"next_project_number": 6')),
      H.read(main .. "/" .. STATE))
    local last = L.audit(main .. "/" .. STATE)
    assert.are.same(r.counter_adjusted, last[#last].counter_adjusted)
    assert.are.same({ 5 }, last[#last].numbers)
  end)

  it("a worktree whose committed counter is behind continues after the other's numbers", function()
    local wts = worktrees(2, H.state_text(82, { active = { 60 } }))
    assert.are.same({ 82, 83, 84 }, alloc(wts[1], { "--count", "3" }).allocated_numbers)
    local r = alloc(wts[2])
    assert.are.same({ 85 }, r.allocated_numbers)
    assert.are.same({ from = 82, to = 85 }, { from = r.counter_adjusted.from, to = r.counter_adjusted.to })
    assert.are.same({ 86 }, alloc(wts[1]).allocated_numbers) -- 85 moved the mark; w1's state was at 85
  end)

  it("a counter ahead of the mark (edited by hand) moves the mark forward", function()
    local wts = worktrees(2, H.state_text(10))
    alloc(wts[1])
    local path = wts[1] .. "/" .. STATE
    H.write(path, (H.read(path):gsub('"next_project_number": 11', '"next_project_number": 200')))
    local r = alloc(wts[1])
    assert.are.same({ 200 }, r.allocated_numbers)
    assert.is_nil(r.counter_adjusted)
    assert.are.same({ 201 }, alloc(wts[2]).allocated_numbers)
  end)

  it("starts a new mark from the state, past the active projects above its counter", function()
    local main = worktrees(1, H.state_text(82, { active = { 85, 60 } }))[1]
    local r = alloc(main)
    assert.are.same({ 86 }, r.allocated_numbers)
    assert.are.equal(82, r.counter_adjusted.from)
    assert.are.equal(86, r.counter_adjusted.to)
    assert.matches("active project 85 is past the counter", r.counter_adjusted.reason, 1, true)
    assert.are.same({ serial = 87, min = 0, max = 999 }, mark_of(main))
  end)

  it("compares serials, not numbers: a mark of 3 reached by wrapping is ahead of a state at 995", function()
    local wts = worktrees(2, H.state_text(995))
    assert.are.same({ 995, 996, 997, 998, 999, 0, 1, 2 }, alloc(wts[1], { "--count", "8" }).allocated_numbers)
    assert.are.equal(1003, mark_of(wts[1]).serial)
    local r = alloc(wts[2])
    assert.are.same({ 3 }, r.allocated_numbers)
    assert.are.same({ 995, 3 }, { r.counter_adjusted.from, r.counter_adjusted.to })
    assert.is_true(r.wrapped == false)
  end)

  it("--authority file restores the old independent behaviour, as do the variable and the state", function()
    local wts = worktrees(2, H.state_text(82))
    alloc(wts[1], { "--count", "2" })
    local r = alloc(wts[2], { "--authority", "file" })
    assert.are.same({ 82 }, r.allocated_numbers) -- its own counter, as before the authority
    assert.is_nil(r.counter_adjusted)
    assert.are.same({ kind = "file", where = wts[2] .. "/" .. STATE }, r.authority)
    assert.are.same({ 83 }, alloc(wts[2], {}, { TASKNUM_AUTHORITY = "file" }).allocated_numbers)
    assert.are.equal(84, mark_of(wts[1]).serial) -- untouched
    local path = wts[2] .. "/" .. STATE
    H.write(path, (H.read(path):gsub('"policy": "increment"', '"policy": "increment", "authority": "file"')))
    assert.are.same({ 84 }, alloc(wts[2]).allocated_numbers)
    assert.are.equal(84, mark_of(wts[1]).serial)
    -- the option wins over the state, the variable too: the state, at 85,
    -- is ahead of the mark and moves it
    assert.are.same({ 85 }, alloc(wts[2], { "--authority", "worktrees" }).allocated_numbers)
    assert.are.same({ 86 }, alloc(wts[2], {}, { TASKNUM_AUTHORITY = "worktrees" }).allocated_numbers)
    assert.are.same({ 87 }, alloc(wts[1]).allocated_numbers)
  end)

  it("runs under `tasknum lock` in a worktree without waiting for itself", function()
    local wts = worktrees(2, H.state_text(5))
    alloc(wts[1])
    local out, code = H.sh("cd " .. H.q(wts[2]) .. " && " .. H.q(H.bin) .. " lock --timeout 5 -- "
      .. H.q(H.bin) .. " allocate --no-todo --format plain --timeout 5")
    assert.are.equal(0, code, out)
    assert.are.equal("6\n", out)
  end)

  it("says who holds the numbering's lock when it is not free in time", function()
    local wts = worktrees(2, H.state_text(5))
    local dir = H.tmpdir()
    H.write(dir .. "/hold.lua", [[
      local t = assert(require("tasknum").begin{ purpose = "holding the numbering" })
      io.open(arg[1], "w"):close()
      require("tasknum.core").sleep(30)
      t:rollback()
    ]])
    local pid = L.bg("cd " .. H.q(wts[1]) .. " && exec " .. H.q(H.bin) .. " run " .. H.q(dir .. "/hold.lua")
      .. " " .. H.q(dir .. "/ready"))
    finally(function() L.kill_group(pid) end)
    assert.is_true(H.wait_until(function() return H.read(dir .. "/ready") ~= nil end, 10))
    local text = H.read(wts[2] .. "/" .. STATE)
    local r, code = run(wts[2], { "allocate", "--no-todo", "--timeout", "0.3" })
    refused(r, code, "LOCK_TIMEOUT", 75, wts[2] .. "/" .. STATE, text)
    assert.matches("numbering lock still held", r.error_message, 1, true)
    assert.matches("holding the numbering", r.error.details, 1, true)
    assert.are.equal(pid, r.error.holder.pid)
    assert.is_true(r.retry_suggested)
  end)
end)

describe("the dir:PATH authority", function()
  after_each(H.cleanup)

  it("gives two clones one numbering, from the option, the variable or the state", function()
    local a = R.repo({ [STATE] = H.state_text(40) })
    local b = H.tmpdir() .. "/b"
    R.must(a, "git clone -q . " .. H.q(b))
    local folder, outs = H.tmpdir(), H.tmpdir()
    local spec = "dir:" .. folder
    local r = alloc(a, { "--authority", spec })
    assert.are.same({ 40 }, r.allocated_numbers)
    assert.are.same({ kind = "dir", where = folder .. "/" .. KEY .. ".mark" }, r.authority)
    assert.are.same({ 41 }, alloc(b, { "--authority", spec }).allocated_numbers)
    assert.are.same({ 42 }, alloc(a, {}, { TASKNUM_AUTHORITY = spec }).allocated_numbers)
    -- without it each clone has a worktrees numbering of its own: 43 twice
    assert.are.same({ 43 }, alloc(a).allocated_numbers)
    assert.are.same({ 42, 43 }, alloc(b, { "--count", "2" }).allocated_numbers)
    -- and at once: 2 clones x 4 processes x 5 allocations
    local lines = {}
    for c, dir in ipairs({ a, b }) do
      for p = 1, 4 do
        local out = H.q(outs .. "/out." .. c .. "." .. p)
        lines[#lines + 1] = string.format("(cd %s && for i in 1 2 3 4 5; do %s allocate --no-todo --format plain "
          .. "--timeout 120 --authority %s >> %s || echo FAIL >> %s; done) &", H.q(dir), H.q(H.bin), H.q(spec), out, out)
      end
    end
    H.write(outs .. "/go.sh", table.concat(lines, "\n") .. "\nwait\n")
    assert.is_true(H.ok("sh " .. H.q(outs .. "/go.sh")))
    local seen, count = {}, 0
    for c = 1, 2 do
      for p = 1, 4 do
        local out = H.read(outs .. "/out." .. c .. "." .. p)
        assert.is_nil(out:find("FAIL", 1, true))
        for n in out:gmatch("%d+") do
          assert.is_nil(seen[n], "number handed out twice: " .. n)
          seen[n], count = true, count + 1
          assert.is_true(tonumber(n) >= 44 and tonumber(n) < 84)
        end
      end
    end
    assert.are.equal(40, count)
  end)

  it("is the team's default when committed as project_numbering.authority (relative to the state)", function()
    local root = H.tmpdir()
    local text = H.state_text(7):gsub('"policy": "increment"', '"policy": "increment", "authority": "dir:../../marks"')
    local a = root .. "/a"
    H.write(a .. "/" .. STATE, text)
    R.must(a, "git init -q -b main && git add -A && git commit -qm base")
    R.must(root, "git clone -q a b && mkdir marks")
    local r = alloc(a)
    assert.are.same({ 7 }, r.allocated_numbers)
    assert.are.same({ kind = "dir", where = root .. "/marks/" .. KEY .. ".mark" }, r.authority)
    assert.are.same({ 8 }, alloc(root .. "/b").allocated_numbers)
    -- the file is byte for byte what it was but for the counter
    assert.are.equal((text:gsub('"next_project_number": 7', '"next_project_number": 9')), H.read(root .. "/b/" .. STATE))
  end)

  it("fails closed when its folder is not there: AUTHORITY_UNAVAILABLE, nothing written", function()
    local a = R.repo({ [STATE] = H.state_text(3) })
    local path, text = a .. "/" .. STATE, H.state_text(3)
    local missing = H.tmpdir() .. "/not/there"
    local r, code = run(a, { "allocate", "--no-todo", "--authority", "dir:" .. missing })
    refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
    assert.matches(missing, r.error_message, 1, true)
    assert.matches("mkdir -p", r.error.details, 1, true)
    assert.is_false(r.retry_suggested)
    assert.is_nil(H.read(missing), "the folder was made")
  end)
end)

describe("bad input around the numbering", function()
  after_each(H.cleanup)

  it("a worktree whose .git points nowhere: AUTHORITY_UNAVAILABLE naming it, nothing written", function()
    local wts = worktrees(2, H.state_text(3))
    local path, text = wts[2] .. "/" .. STATE, H.state_text(3)
    R.must(wts[1], "rm -rf .git/worktrees/w2")
    local r, code = run(wts[2], { "allocate", "--no-todo" })
    refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
    assert.matches(wts[2] .. "/.git points to ", r.error_message, 1, true)
    assert.matches("does not exist", r.error_message, 1, true)
    assert.matches("git worktree repair", r.error.details, 1, true)
    assert.matches("--authority file", r.error.details, 1, true)
    assert.is_false(r.retry_suggested)
    -- a .git file that is not one
    H.write(wts[2] .. "/.git", "not a git file\n")
    r, code = run(wts[2], { "allocate", "--no-todo" })
    refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
    assert.matches("has no `gitdir:` line", r.error_message, 1, true)
    -- the way out the details name
    assert.are.same({ 3 }, alloc(wts[2], { "--authority", "file" }).allocated_numbers)
  end)

  it("a commondir that is empty or names a folder that is not a git dir: AUTHORITY_UNAVAILABLE", function()
    local wts = worktrees(2, H.state_text(3))
    local path, text = wts[2] .. "/" .. STATE, H.state_text(3)
    local gitdir = wts[1] .. "/.git/worktrees/w2"
    local elsewhere = H.tmpdir() -- a folder, but no repository's
    -- an empty one once made the worktree's own git dir its numbering's home, and a
    -- folder anywhere took the numbering's lock and mark: numbers apart from the others'
    for _, named in ipairs({ "", elsewhere }) do
      H.write(gitdir .. "/commondir", named .. "\n")
      local r, code = run(wts[2], { "allocate", "--no-todo" })
      refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
      assert.matches(gitdir .. "/commondir", r.error_message, 1, true)
      assert.matches("git worktree repair", r.error.details, 1, true)
      assert.is_false(r.retry_suggested)
      assert.is_nil(H.read(gitdir .. "/tasknum/" .. KEY .. ".mark"))
      assert.is_nil(H.read(elsewhere .. "/tasknum/" .. KEY .. ".mark"))
    end
    H.write(gitdir .. "/commondir", "../..\n")
    assert.are.same({ 3 }, alloc(wts[2]).allocated_numbers)
  end)

  it("a common dir this user cannot read: AUTHORITY_UNAVAILABLE, nothing written", function()
    local prefix, why = H.as_nobody()
    if not prefix then pending(why) return end
    local wts = worktrees(2, H.state_text(3))
    assert.is_true(H.ok("chown -R nobody " .. H.q(wts[2]) .. " && chmod 755 " .. H.q(wts[2] .. "/..")
      .. " && chmod 700 " .. H.q(wts[1] .. "/.git") .. " && chmod 755 " .. H.q(wts[1] .. "/..")))
    local path, text = wts[2] .. "/" .. STATE, H.state_text(3)
    local r, code = H.run_json({ "allocate", "--no-todo" }, { cwd = wts[2], prefix = prefix })
    refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
    assert.matches(wts[1] .. "/.git", r.error_message, 1, true)
    assert.is_false(r.retry_suggested)
  end)

  it("the numbering's folder on a full disk: AUTHORITY_UNAVAILABLE, nothing written; a mark in place still moves", function()
    local mnt, why = small_disk()
    if not mnt then pending(why) return end
    local fill = "dd if=/dev/zero of=" .. H.q(mnt .. "/fill") .. " bs=4k 2>/dev/null; sync"
    local a = R.repo({ [STATE] = H.state_text(3) })
    local path, text = a .. "/" .. STATE, H.state_text(3)
    H.ok(fill)
    local r, code = run(a, { "allocate", "--no-todo", "--authority", "dir:" .. mnt })
    refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
    assert.matches("No space left on device", r.error.details, 1, true)
    assert.is_false(r.retry_suggested)
    assert.is_nil(H.ls(mnt):find(".tmp-", 1, true), "temp file left in the numbering's folder")
    -- room for the lock's record (one page), not for a new mark (two)
    H.ok("rm " .. H.q(mnt .. "/fill") .. " && dd if=/dev/zero of=" .. H.q(mnt .. "/fill") .. " bs=4k count=3 2>/dev/null")
    r, code = run(a, { "allocate", "--no-todo", "--authority", "dir:" .. mnt })
    refused(r, code, "AUTHORITY_UNAVAILABLE", 76, path, text)
    assert.matches("cannot write its mark", r.error_message, 1, true)
    assert.matches("No space left on device", r.error.details, 1, true)
    assert.is_nil(H.ls(mnt):find(".tmp-", 1, true), "temp file left in the numbering's folder")
    assert.is_nil(H.read(mnt .. "/" .. KEY .. ".mark"))
    -- with room, the mark is made; on a full disk again it is moved in place
    H.ok("rm " .. H.q(mnt .. "/fill"))
    assert.are.same({ 3 }, alloc(a, { "--authority", "dir:" .. mnt }).allocated_numbers)
    H.ok(fill)
    assert.are.same({ 4 }, alloc(a, { "--authority", "dir:" .. mnt }).allocated_numbers)
    assert.are.same({ 5 }, alloc(a, { "--authority", "dir:" .. mnt }).allocated_numbers)
  end)

  it("a TODO.md that cannot be written: SYSTEM_ERROR, the state and the numbering's mark as they were", function()
    local mnt, why = small_disk()
    if not mnt then pending(why) return end
    local main = worktrees(1, H.state_text(3))[1]
    alloc(main)
    local path, mark = main .. "/" .. STATE, main .. "/.git/tasknum/" .. KEY .. ".mark"
    local text, marked = H.read(path), H.read(mark)
    H.write(mnt .. "/TODO.md", "---\nnext_project_number: 4\n---\n")
    H.ok("dd if=/dev/zero of=" .. H.q(mnt .. "/fill") .. " bs=4k 2>/dev/null; sync")
    for _, args in ipairs({ { "allocate" }, { "add-task", "--name", "t" }, { "set", "--next", "9" } }) do
      args[#args + 1] = "--todo"
      args[#args + 1] = mnt .. "/TODO.md"
      local r, code = run(main, args)
      refused(r, code, "SYSTEM_ERROR", 71, path, text)
      assert.matches("No space left on device", r.error.details, 1, true)
      -- the mark moved on before TODO.md was written: numbers lost, and check
      -- then blamed another worktree for them
      assert.are.equal(marked, H.read(mark), args[1] .. " moved the mark")
      assert.are.equal("---\nnext_project_number: 4\n---\n", H.read(mnt .. "/TODO.md"))
    end
    local _, code = run(main, { "check" })
    assert.are.equal(0, code)
  end)

  it("a corrupt mark file: STATE_CORRUPT, never written over, a copy kept beside it", function()
    local main = worktrees(1, H.state_text(3))[1]
    alloc(main)
    local mark = main .. "/.git/tasknum/" .. KEY .. ".mark"
    H.write(mark, '{"serial": 12}\n')
    local r, code = run(main, { "allocate", "--no-todo" })
    refused(r, code, "STATE_CORRUPT", 65, main .. "/" .. STATE, H.state_text(4))
    assert.matches(mark, r.error_message, 1, true)
    assert.matches("never writes over it", r.error.details, 1, true)
    assert.are.equal('{"serial": 12}\n', H.read(mark))
    assert.are.equal('{"serial": 12}\n', H.read(mark .. ".backup"))
    assert.is_false(r.retry_suggested)
  end)

  it("a copy of the mark spoiled by a torn write: the other copy is read, the spoiled one rewritten", function()
    local main = worktrees(1, H.state_text(3))[1]
    alloc(main)
    alloc(main) -- copies: serial 4 (first slot) and 5 (second)
    local path = main .. "/.git/tasknum/" .. KEY .. ".mark"
    local text = H.read(path)
    local torn = text:sub(1, marks.SLOT) .. text:sub(marks.SLOT + 1, marks.SLOT + 20)
      .. string.rep("\0", marks.SLOT - 20)
    H.write(path, torn)
    assert.are.same({ serial = 4, min = 0, max = 999 }, mark_of(main))
    assert.are.same({ 5 }, alloc(main).allocated_numbers) -- the state, at 5, is ahead: no reissue here
    text = H.read(path)
    assert.are.same({ serial = 6, min = 0, max = 999 }, marks.parse_slot(text:sub(marks.SLOT + 1)))
    assert.are.same({ serial = 4, min = 0, max = 999 }, marks.parse_slot(text:sub(1, marks.SLOT)))
  end)

  it("a range too wide for its size to fit an integer: STATE_CORRUPT, no mark written; file still allocates", function()
    local text = H.state_text(-5, { min = -1000, max = math.maxinteger })
    local main = worktrees(1, text)[1]
    local path = main .. "/" .. STATE
    for _ = 1, 2 do -- a first allocation once wrote a mark of serial -4 that no later one could read
      local r, code = run(main, { "allocate", "--no-todo" })
      refused(r, code, "STATE_CORRUPT", 65, path, text)
      assert.matches("too wide", r.error_message, 1, true)
      assert.matches("--authority file", r.error.details, 1, true)
      assert.is_nil(mark_of(main))
    end
    assert.are.same({ -5 }, alloc(main, { "--authority", "file" }).allocated_numbers)
    -- set puts a range that fits, and the numbering starts from it
    H.write(path, text)
    local r, code = run(main, { "set", "--no-todo", "--min", "-1000", "--max", "999" })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ -5 }, alloc(main).allocated_numbers)
    -- and refuses one too wide as a bad value
    local now = H.read(path)
    r, code = run(main, { "set", "--no-todo", "--max", tostring(math.maxinteger) })
    refused(r, code, "INVALID_ARGUMENT", 64, path, now)
    assert.matches("too wide", r.error_message, 1, true)
  end)

  it("a mark whose serial cannot go further without passing 2^63-1: STATE_CORRUPT, nothing written", function()
    local main = worktrees(1, H.state_text(3))[1]
    alloc(main)
    local path, mark = main .. "/" .. STATE, main .. "/.git/tasknum/" .. KEY .. ".mark"
    local s = math.maxinteger - 1 -- shows 806: the state at 4 is "ahead" of it by 198
    local line = marks.slot(s, 0, 999)
    H.write(mark, line .. line)
    local r, code = run(main, { "allocate", "--no-todo", "--count", "3" })
    refused(r, code, "STATE_CORRUPT", 65, path, H.state_text(4))
    assert.matches("2^63-1", r.error_message, 1, true)
    assert.are.equal(line .. line, H.read(mark))
    assert.is_false(r.retry_suggested)
  end)

  it("an unknown authority, wherever it comes from: INVALID_ARGUMENT, nothing written", function()
    local main = worktrees(1, H.state_text(3))[1]
    local path, text = main .. "/" .. STATE, H.state_text(3)
    local r, code = run(main, { "allocate", "--no-todo", "--authority", "svn:trunk" })
    refused(r, code, "INVALID_ARGUMENT", 64, path, text)
    assert.matches("unknown authority svn:trunk", r.error_message, 1, true)
    r, code = run(main, { "allocate", "--no-todo" }, { TASKNUM_AUTHORITY = "worktree" })
    refused(r, code, "INVALID_ARGUMENT", 64, path, text)
    assert.matches("$TASKNUM_AUTHORITY", r.error_message, 1, true)
    local committed = text:gsub('"policy": "increment"', '"policy": "increment", "authority": "wortkrees"')
    H.write(path, committed)
    r, code = run(main, { "allocate", "--no-todo" })
    refused(r, code, "INVALID_ARGUMENT", 64, path, committed)
    assert.matches("project_numbering.authority", r.error_message, 1, true)
    committed = text:gsub('"policy": "increment"', '"policy": "increment", "authority": 7')
    H.write(path, committed)
    r, code = run(main, { "allocate", "--no-todo" })
    refused(r, code, "STATE_CORRUPT", 65, path, committed)
    assert.matches("project_numbering.authority must be a string", r.error_message, 1, true)
    -- worktrees outside a git working tree
    local dir, state = H.project(H.state_text(3))
    r, code = run(dir, { "allocate", "--no-todo", "--authority", "worktrees" })
    refused(r, code, "INVALID_ARGUMENT", 64, state, H.state_text(3))
    assert.matches("needs the state inside a git working tree", r.error_message, 1, true)
  end)
end)

describe("a SIGKILL storm across worktrees", function()
  after_each(H.cleanup)

  local SECONDS = tonumber(os.getenv("TASKNUM_CRASH_SECONDS") or "") or 6
  local MAX = 99999999

  it(string.format("3 worktrees, 2 allocators each, SIGKILLs every few ms for %g s: nothing lost, "
    .. "nothing twice", SECONDS), function()
    local wts = worktrees(3, H.state_text(0, { max = MAX }))
    local states = {}
    for i = 1, 6 do states[i] = wts[(i - 1) % 3 + 1] .. "/" .. STATE end
    local logs, kills = storm.run(H.tmpdir(), states, SECONDS, finally)
    local mark = mark_of(wts[1]).serial
    local n = storm.check(logs, mark)
    for _, wt in ipairs(wts) do
      local text = H.read(wt .. "/" .. STATE)
      assert.is_true(counter(text) <= mark)
      assert.are.equal(H.state_text(counter(text), { max = MAX }), text)
    end
    -- a fresh allocation in each worktree at once, after every number printed
    for i, wt in ipairs(wts) do
      local r = alloc(wt, { "--timeout", "0" })
      assert.are.same({ mark + i - 1 }, r.allocated_numbers)
      assert.is_true(r.lock_wait_ms < 1000)
      assert.is_nil(H.ls(wt .. "/specs"):find(".tmp-", 1, true), "temp files left")
    end
    assert.is_nil(H.ls(wts[1] .. "/.git/tasknum"):find(".tmp-", 1, true), "temp files left")
    print(string.format("\n# worktrees crash test: %d runs, %d exited 0, %d killed, %d kills sent, "
      .. "%d numbers printed, mark %d", n.runs, n.ok_runs, n.killed, kills, n.numbers, mark))
  end)
end)

describe("status, check and sync against the numbering's mark", function()
  after_each(H.cleanup)

  it("status shows the authority and its mark (--json: authority {kind, where, mark})", function()
    local wts = worktrees(2, H.state_text(82))
    alloc(wts[1], { "--count", "3" })
    local s = run(wts[2], { "status", "--json" })
    assert.are.equal("worktrees", s.authority.kind)
    assert.are.equal(wts[1] .. "/.git/tasknum/" .. KEY .. ".mark", s.authority.where)
    assert.are.equal("default", s.authority.source)
    assert.are.equal(85, s.authority.mark)
    assert.are.same({ "behind", 3 }, { s.authority.counter, s.authority.by })
    assert.are.equal("level", run(wts[1], { "status", "--json" }).authority.counter)
    local text = H.sh("cd " .. H.q(wts[2]) .. " && " .. H.q(H.bin) .. " status")
    assert.matches("\nauthority    worktrees (default) " .. wts[1] .. "/.git/tasknum/", text, 1, true)
    assert.matches("\nmark         85 (serial 85); the counter is 3 behind it", text, 1, true)
    s = run(wts[2], { "status", "--json", "--authority", "file" })
    assert.are.same({ "file", "option", 82 }, { s.authority.kind, s.authority.source, s.authority.mark })
  end)

  it("check fails on a counter behind the mark; sync moves it up, never down", function()
    local wts = worktrees(2, H.state_text(82))
    alloc(wts[1], { "--count", "3" })
    local path = wts[2] .. "/" .. STATE
    local r, code = run(wts[2], { "check" })
    assert.are.same({ "CHECK_FAILED", 1 }, { r.error_code, code })
    assert.are.same({ "behind", 85, 3 }, { r.error.problems[1].check, r.error.problems[1].mark, r.error.problems[1].by })
    -- where the numbers went, both ways: taken elsewhere, or a gap left by a step that failed after the mark
    assert.matches("handed out elsewhere .* or are a gap %(a step that failed after moving the mark",
      r.error.problems[1].message)
    assert.matches("tasknum sync", r.error.details, 1, true)
    r, code = run(wts[2], { "sync", "--no-todo" })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ "counter", 85, {} }, { r.sync, r.mark, r.allocated_numbers })
    assert.are.same({ 82, 85 }, { r.counter_adjusted.from, r.counter_adjusted.to })
    assert.are.equal(H.state_text(85), H.read(path))
    local last = L.audit(path)
    assert.are.same({ {}, "sync", 85 }, { last[#last].numbers, last[#last].purpose, last[#last].counter_adjusted.to })
    assert.are.equal(0, select(2, run(wts[2], { "check" })))
    -- level: nothing to move
    r = run(wts[2], { "sync", "--no-todo" })
    assert.are.same({ "level", 85 }, { r.sync, r.mark })
    -- a counter ahead (edited by hand) is not a problem; sync moves the mark up to it
    H.write(path, H.state_text(90))
    assert.are.equal(0, select(2, run(wts[2], { "check" })))
    r = run(wts[2], { "sync", "--no-todo" })
    assert.are.same({ "mark", 90 }, { r.sync, r.mark })
    assert.are.same({ 85, 90 }, { r.mark_moved.from, r.mark_moved.to })
    assert.are.equal(H.state_text(90), H.read(path))
    assert.are.equal(90, mark_of(wts[1]).serial)
    -- the rewound first worktree: check fails, sync fixes it, and the next number is 90
    assert.are.equal(1, select(2, run(wts[1], { "check" })))
    assert.are.same({ 90 }, alloc(wts[1]).allocated_numbers)
  end)

  it("check fails when another worktree gives one of its numbers to a task of another name", function()
    local wts = worktrees(3, H.state_text(82))
    -- before the clone shared a numbering: each worktree numbered on its own
    for i, name in ipairs({ "alpha", "beta" }) do
      local r, code = run(wts[i], { "add-task", "--name", name, "--no-todo", "--authority", "file" })
      assert.are.equal(0, code, r.error_message)
    end
    run(wts[3], { "add-task", "--name", "alpha", "--no-todo", "--authority", "file" }) -- the same task
    local r, code = run(wts[1], { "check" })
    assert.are.same({ "CHECK_FAILED", 1 }, { r.error_code, code })
    assert.are.equal(1, #r.error.problems)
    local p = r.error.problems[1]
    assert.are.same({ "duplicate", 82, wts[2] }, { p.check, p.project_number, p.worktree })
    assert.matches("project number 82 is held by active project alpha here and by beta in the worktree "
      .. wts[2], p.message, 1, true)
    -- with the file authority check knows no other worktree
    assert.are.equal(0, select(2, run(wts[1], { "check", "--authority", "file" })))
  end)

  it("check and status say so when the authority cannot be reached", function()
    local main = worktrees(1, H.state_text(3))[1]
    local missing = H.tmpdir() .. "/gone"
    local r, code = run(main, { "check", "--authority", "dir:" .. missing })
    assert.are.same({ "AUTHORITY_UNAVAILABLE", 76 }, { r.error_code, code })
    local s = run(main, { "status", "--json", "--authority", "dir:" .. missing })
    assert.are.equal("AUTHORITY_UNAVAILABLE", s.authority.code)
    assert.matches(missing, s.authority.error, 1, true)
  end)
end)

describe("files that must not be committed", function()
  after_each(H.cleanup)

  local function porcelain(dir) return R.must(dir, "git status --porcelain --untracked-files=all") end

  it("tasknum init in a git tree appends them to the .gitignore beside the state, once", function()
    local dir = R.repo({ ["specs/.gitignore"] = "node_modules\r\n*.tmp" })
    local r, code = run(dir, { "init", "--state", STATE })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ "added", dir .. "/specs/.gitignore" }, { r.gitignore.action, r.gitignore.path })
    local text = H.read(dir .. "/specs/.gitignore")
    assert.are.equal("node_modules\r\n*.tmp\r\n# tasknum: ", text:sub(1, 32)) -- the user's lines as they were
    assert.is_nil(text:find("[^\r]\n"), "a line ends in LF alone in a CRLF file")
    alloc(dir)
    assert.are.equal(text, H.read(dir .. "/specs/.gitignore"))
    assert.are.equal(" M specs/.gitignore\n?? specs/state.json\n", porcelain(dir))
  end)

  it("the first allocation in a git tree adds them; a user's edit of the block stands", function()
    local dir = R.repo({ [STATE] = H.state_text(5) })
    local r = alloc(dir, { "--authority", "file" })
    assert.are.equal("added", r.gitignore.action)
    assert.are.equal(" M specs/state.json\n?? specs/.gitignore\n", porcelain(dir))
    R.must(dir, "git add -A && git commit -qm tasknum")
    assert.is_nil(alloc(dir, { "--authority", "file" }).gitignore)
    assert.is_nil(alloc(dir).gitignore) -- the worktrees mark starts here: the block is there
    -- a user who wants the audit log in git removes its line: it stays removed
    local gi = dir .. "/specs/.gitignore"
    H.write(gi, (H.read(gi):gsub("/%.state%.json%.audit%.jsonl\n", "")))
    R.must(dir, "rm .git/tasknum/" .. KEY .. ".mark && rm specs/.state.json.audit.jsonl")
    alloc(dir)
    assert.is_nil(H.read(gi):find("audit.jsonl", 1, true))
    assert.is_nil(run(dir, { "sync", "--no-todo" }).gitignore) -- sync makes sure too: the block is there
  end)

  it("outside git nothing is added", function()
    local dir, path = H.project(H.state_text(5))
    local r = alloc(dir)
    assert.is_nil(r.gitignore)
    assert.is_nil(H.read(path:match("^(.*)/") .. "/.gitignore"))
  end)
end)
