-- Links beside the state (issue 12, items 1 and 3). tasknum runs as root in
-- cron jobs, in folders others can write: what another user plants in one
-- of the names it keeps beside the state (a symbolic link, a hard link) must
-- never make it delete, write or read a file elsewhere. Every case runs
-- with the binary as root and as an unprivileged user; the hostile objects
-- are made by a third user (uid 42002) in the world-writable state folder.
local H = require "spec_helper"

local sh, q, capture = H.ok, H.q, H.capture

local ATTACKER = 42002

-- A project owned by the caller in a folder anyone may write, and a victim
-- folder of the caller's beside it (files a, b and info) that nothing done
-- to the project may touch.
local function world(who, text)
  local top = H.tmpdir()
  sh("chmod 755 " .. q(top))
  local w = { top = top, dir = top .. "/project", victim = top .. "/victim", text = text or H.state_text(5) }
  w.specs = w.dir .. "/.opencode/specs"
  w.path = w.specs .. "/state.json"
  H.write(w.path, w.text)
  for _, name in ipairs({ "a", "b", "info" }) do H.write(w.victim .. "/" .. name, "victim " .. name .. "\n") end
  H.give(who, w.dir, w.victim)
  sh("chmod 755 " .. q(w.dir) .. " " .. q(w.dir .. "/.opencode") .. " && chmod 777 " .. q(w.specs))
  return w
end

-- Runs a shell command as the attacker (or as root when not root: the
-- objects then belong to the current user).
local function plant(cmd)
  local prefix = H.as(ATTACKER) or ""
  assert(sh(prefix .. " sh -c " .. q(cmd)), cmd)
end

local function victim_intact(w)
  for _, name in ipairs({ "a", "b", "info" }) do
    assert.are.equal("victim " .. name .. "\n", H.read(w.victim .. "/" .. name), "victim/" .. name)
  end
end

local function run(w, who, args)
  return H.run_json(args or { "allocate" }, { cwd = w.dir, prefix = who.prefix })
end

-- The contract for a foreign object: SYSTEM_ERROR (71) naming it, the state
-- as it was, the object still there, nothing beside the victim touched.
local function refused(w, who, name, what, args)
  local r, code = run(w, who, args)
  assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
  assert.are.equal(71, code)
  assert.matches(w.specs .. "/" .. name .. ": is " .. what, r.error.message, 1, true)
  assert.are.equal(w.text, H.read(w.path))
  assert.is_true(sh("test -L " .. q(w.specs .. "/" .. name) .. " -o -e " .. q(w.specs .. "/" .. name)),
    name .. " was removed")
  victim_intact(w)
  return r
end

H.each_caller("item 1: nothing is deleted through a planted link", function(who)
  it("a link in a legacy temp folder's name (.state.lock.tmp-1) to another folder", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    plant("ln -s " .. q(w.victim) .. " " .. q(w.specs .. "/.state.lock.tmp-1"))
    refused(w, who, ".state.lock.tmp-1", "a symbolic link, not a folder")
  end)

  it("a link in the temp name of our own pid's legacy folder is never followed either", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    -- every pid a run could get: the sweep meets one of them first
    plant("for i in $(seq 1 400); do ln -s " .. q(w.victim) .. " " .. q(w.specs) .. "/.state.lock.tmp-$i; done")
    local r = run(w, who)
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.matches("is a symbolic link", r.error.message, 1, true)
    victim_intact(w)
    assert.are.equal(w.text, H.read(w.path))
  end)

  it("a link in a state temp file's name (.state.json.tmp-XXXXXX) to a file", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    plant("ln -s " .. q(w.victim .. "/a") .. " " .. q(w.specs .. "/.state.json.tmp-Ab12Cd"))
    refused(w, who, ".state.json.tmp-Ab12Cd", "a symbolic link, not a regular file")
  end)

  it("a stale legacy folder with links inside: breaking it removes the names only", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    local folder = w.specs .. "/.state.lock"
    -- (a folder the caller may empty: breaking one takes write permission on it)
    plant(("mkdir -m 777 %s && echo 999999999:1 > %s/info && ln -s %s %s/x && ln -s %s %s/y"):format(q(folder),
      q(folder), q(w.victim), q(folder), q(w.victim .. "/a"), q(folder)))
    local r, code = run(w, who, { "allocate", "--timeout", "5" })
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 5 }, r.allocated_numbers)
    assert.is_false(sh("test -e " .. q(folder) .. " -o -L " .. q(folder)))
    victim_intact(w)
  end)

  it("a legacy folder that is a link to a folder is not a folder: refused, kept", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    plant("ln -s " .. q(w.victim) .. " " .. q(w.specs .. "/.state.lock"))
    local r = run(w, who, { "allocate", "--timeout", "2" })
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.matches("not a folder", r.error.message, 1, true)
    assert.is_true(sh("test -L " .. q(w.specs .. "/.state.lock")))
    victim_intact(w)
  end)

  it("an info that is a link: refused, nothing broken or removed", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    local folder = w.specs .. "/.state.lock"
    H.write(w.victim .. "/pidfile", "999999999:1\n")
    plant(("mkdir %s && ln -s %s %s/info"):format(q(folder), q(w.victim .. "/pidfile"), q(folder)))
    local r = run(w, who, { "allocate", "--timeout", "2" })
    assert.are.equal("SYSTEM_ERROR", r.error_code)
    assert.matches(folder .. "/info: is a symbolic link", r.error.message, 1, true)
    assert.is_true(sh("test -L " .. q(folder .. "/info")))
    assert.are.equal("999999999:1\n", H.read(w.victim .. "/pidfile"))
  end)
end)

H.each_caller("item 3: nothing is written through a link", function(who)
  it("an audit log that is a link: the line is not appended to its target", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    plant("ln -s " .. q(w.victim .. "/a") .. " " .. q(w.specs .. "/.state.json.audit.jsonl"))
    local r, code = run(w, who)
    -- the state is the record of truth: the allocation stands, the answer
    -- says why there is no audit line
    assert.are.equal(0, code, r.error_message)
    assert.matches(".state.json.audit.jsonl: is a symbolic link", r.audit_error, 1, true)
    victim_intact(w)
    assert.is_true(sh("test -L " .. q(w.specs .. "/.state.json.audit.jsonl")))
  end)

  it("a lock file hard-linked to another file is not written", function()
    if not who.prefix then pending(who.why) return end
    if not H.is_root() then pending("needs root to make the hard link") return end
    local w = world(who)
    -- (with fs.protected_hardlinks the attacker could only link a file it
    -- may read and write; root makes the link here to stand for that)
    sh("ln " .. q(w.victim .. "/a") .. " " .. q(w.specs .. "/.state.json.lock"))
    refused(w, who, ".state.json.lock", "a file with other hard links")
  end)

  it("a TODO.md planted as a link by someone else is refused; the state is not written", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    H.write(w.victim .. "/TODO.md", "---\nnext_project_number: 5\n---\n")
    H.give(who, w.victim .. "/TODO.md")
    plant("ln -s " .. q(w.victim .. "/TODO.md") .. " " .. q(w.specs .. "/TODO.md"))
    local r, code = run(w, who)
    assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
    assert.are.equal(71, code)
    assert.matches("TODO.md: a symbolic link of uid " .. ATTACKER, r.error.message, 1, true)
    assert.are.equal("---\nnext_project_number: 5\n---\n", H.read(w.victim .. "/TODO.md"))
    assert.are.equal(w.text, H.read(w.path))
  end)

  it("a TODO.md link of the caller's own is followed and its target kept in step", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    H.write(w.victim .. "/TODO.md", "---\nnext_project_number: 5\n---\n")
    sh("ln -s " .. q(w.victim .. "/TODO.md") .. " " .. q(w.specs .. "/TODO.md"))
    H.give(who, w.specs .. "/TODO.md", w.victim .. "/TODO.md")
    local r, code = run(w, who)
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("---\nnext_project_number: 6\n---\n", H.read(w.victim .. "/TODO.md"))
    assert.is_true(sh("test -L " .. q(w.specs .. "/TODO.md")))
  end)

  it("a state that is someone else's link to the caller's file is not used", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    -- the caller's secret, not JSON: a run through the link would copy it
    -- to a backup beside it and put a lock and a log in its folder
    H.write(w.victim .. "/secret.json", "secret\n")
    sh("chmod 600 " .. q(w.victim .. "/secret.json"))
    H.give(who, w.victim .. "/secret.json")
    sh("rm " .. q(w.path))
    plant("ln -s " .. q(w.victim .. "/secret.json") .. " " .. q(w.path))
    local before = H.ls(w.victim)
    local r, code = run(w, who)
    assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
    assert.are.equal(71, code)
    assert.matches(w.path .. ": a symbolic link of uid " .. ATTACKER, r.error.message, 1, true)
    assert.are.equal(before, H.ls(w.victim))
    assert.are.equal("secret\n", H.read(w.victim .. "/secret.json"))
  end)

  it("a state link of the target's owner is followed (the link is legitimate)", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who)
    H.write(w.victim .. "/state.json", H.state_text(7))
    sh("rm " .. q(w.path) .. " && ln -s " .. q(w.victim .. "/state.json") .. " " .. q(w.path))
    H.give(who, w.path, w.victim .. "/state.json")
    local r, code = run(w, who)
    assert.are.equal(0, code, r.error_message)
    assert.are.same({ 7 }, r.allocated_numbers)
    assert.are.equal(H.state_text(8), H.read(w.victim .. "/state.json"))
    assert.matches(".state.json.lock", H.ls(w.victim), 1, true)
  end)

  it("a backup name planted as a link: the copy of a corrupt state is not written there", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who, '{"next_project_number": oops}\n')
    plant("ln -s " .. q(w.victim .. "/a") .. " " .. q(w.specs .. "/state.json.backup"))
    plant("ln -s " .. q(w.top .. "/nowhere") .. " " .. q(w.specs .. "/state.json.backup.1"))
    local r, code = run(w, who)
    assert.are.equal("STATE_CORRUPT", r.error_code)
    assert.are.equal(65, code)
    assert.matches("no copy of its broken text: " .. w.specs .. "/state.json.backup: is a symbolic link",
      r.error.details, 1, true)
    victim_intact(w)
    assert.is_false(sh("test -e " .. q(w.top .. "/nowhere")))
    assert.are.equal(w.text, H.read(w.path))
  end)

  it("the backup of a corrupt state is no more readable than the state", function()
    if not who.prefix then pending(who.why) return end
    local w = world(who, '{"next_project_number": oops}\n')
    sh("chmod 600 " .. q(w.path))
    local r = run(w, who)
    assert.are.equal("STATE_CORRUPT", r.error_code)
    assert.are.equal(w.text, H.read(w.path .. ".backup"))
    assert.are.equal("600 " .. (who.uid or capture("id -u")),
      capture("stat -c '%a %u' " .. q(w.path .. ".backup")))
  end)
end)

describe("item 3: a repository cloned from a stranger", function()
  after_each(H.cleanup)

  it("`tasknum merge --install` does not write through a .gitattributes link", function()
    if not sh("command -v git >/dev/null") then pending("needs git") return end
    local top = H.tmpdir()
    local outside = H.tmpdir() .. "/profile"
    H.write(outside, "# mine\n")
    H.write(top .. "/specs/state.json", H.state_text(5))
    assert.is_true(sh("cd " .. q(top) .. " && git init -q . && ln -s " .. q(outside) .. " .gitattributes"))
    local r, code = H.run_json({ "merge", "--install", "--state", top .. "/specs/state.json" }, { cwd = top })
    assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
    assert.are.equal(71, code)
    assert.matches(".gitattributes: is a symbolic link", r.error.message, 1, true)
    assert.are.equal("# mine\n", H.read(outside))
  end)
end)

describe("item 3: the .gitignore beside a state in a git tree", function()
  after_each(H.cleanup)

  it("is never appended to through a link (git reads no symlinked .gitignore either)", function()
    if not sh("command -v git >/dev/null") then pending("needs git") return end
    local top = H.tmpdir()
    local outside = H.tmpdir() .. "/profile"
    H.write(outside, "# mine\n")
    H.write(top .. "/specs/state.json", H.state_text(5))
    assert.is_true(sh("cd " .. q(top) .. " && git init -q . && ln -s " .. q(outside) .. " specs/.gitignore"))
    local r, code = H.run_json({ "allocate", "--state", top .. "/specs/state.json" }, { cwd = top })
    assert.are.equal(0, code, r.error_message)
    assert.matches("specs/.gitignore: is a symbolic link", r.gitignore.error, 1, true)
    assert.are.equal("# mine\n", H.read(outside))
    assert.is_true(sh("test -L " .. q(top .. "/specs/.gitignore")))
  end)
end)
