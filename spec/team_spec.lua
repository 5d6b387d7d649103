-- Shared team folders (issue 12, item 4). A team keeps its state in a
-- group-writable folder; its members (uids 42001 and 42002 in group 42100,
-- ids with no passwd entry: the kernel needs none) and root's cron jobs all
-- allocate. The lock file, the audit log, the temp file and the legacy
-- folder take their group and mode from the state, whatever the umask; the
-- state keeps its group, mode, ACL and extended attributes across every
-- replace. Each case runs with the writer as root and as a member.
local H = require "spec_helper"

local sh, q, capture = H.ok, H.q, H.capture

local TEAM, ALICE, BOB, OUTSIDER = 42100, 42001, 42002, 42003

-- The prefix that runs a command as uid with the team as its group (or
-- none), under umask; nil and why without root.
local function member(uid, umask, groups)
  local prefix, why = H.as(uid, uid, groups or { TEAM })
  if not prefix then return nil, why end
  return prefix .. " sh -c " .. q("umask " .. (umask or "022") .. " && exec \"$0\" \"$@\"")
end

-- A team folder owned by alice and the team, mode 2775 (setgid) or 0775;
-- the state alice's, in the team's group, mode 0660 by default.
local function team_folder(opts)
  opts = opts or {}
  local top = H.tmpdir()
  sh("chmod 755 " .. q(top))
  local dir = top .. "/specs"
  local path = dir .. "/state.json"
  H.write(path, H.state_text(5))
  sh(("chown -R %d:%d %s && chmod %s %s && chmod %s %s"):format(ALICE, TEAM, q(dir),
    opts.setgid == false and "0775" or "2775", q(dir), opts.mode or "0660", q(path)))
  return dir, path
end

local function modes(path) return capture("stat -c '%a %g' " .. q(path)) end

local function run(path, prefix, args)
  local a = { table.unpack(args or { "allocate" }) }
  a[#a + 1] = "--state"
  a[#a + 1] = path
  return H.run_json(a, { prefix = prefix })
end

local writers = {
  { name = "root (a cron job)", prefix = function() return H.is_root() and "" or nil, "needs root" end },
  { name = "a member of the team", prefix = function() return member(BOB) end },
}

for _, writer in ipairs(writers) do
  describe("written by " .. writer.name .. ", in a team folder", function()
    after_each(H.cleanup)

    it("the lock file and audit log take the state's group and mode: every member can go on", function()
      local prefix, why = writer.prefix()
      if not prefix then pending(why) return end
      local dir, path = team_folder()
      local r, code = run(path, prefix)
      assert.are.equal(0, code, r.error_message)
      assert.is_nil(r.audit_error)
      -- 0660 in the team's group, and, made by root, alice's as the state is
      for _, name in ipairs({ ".state.json.lock", ".state.json.audit.jsonl" }) do
        assert.are.equal("660 " .. TEAM, modes(dir .. "/" .. name), name)
        if prefix == "" then
          assert.are.equal(tostring(ALICE), capture("stat -c %u " .. q(dir .. "/" .. name)), name)
        end
      end
      -- then each member, umask 022 or 002 alike
      for _, m in ipairs({ { ALICE, "022" }, { BOB, "002" }, { ALICE, "002" } }) do
        local r2, code2 = run(path, member(m[1], m[2]))
        assert.are.equal(0, code2, r2.error_message)
        assert.is_nil(r2.audit_error)
      end
      assert.are.equal(H.state_text(9), H.read(path))
      assert.are.equal("660 " .. TEAM, modes(path))
    end)

    it("without setgid on the folder, the state stays in the team's group", function()
      local prefix, why = writer.prefix()
      if not prefix then pending(why) return end
      local dir, path = team_folder({ setgid = false })
      local r, code = run(path, prefix)
      assert.are.equal(0, code, r.error_message)
      assert.are.equal("660 " .. TEAM, modes(path))
      for _, name in ipairs({ ".state.json.lock", ".state.json.audit.jsonl" }) do
        assert.are.equal("660 " .. TEAM, modes(dir .. "/" .. name), name)
      end
      -- and alice, the state's first owner, can still allocate
      local r2, code2 = run(path, member(ALICE))
      assert.are.equal(0, code2, r2.error_message)
    end)

    it("the legacy folder and its info take the state's group and mode while held", function()
      local prefix, why = writer.prefix()
      if not prefix then pending(why) return end
      local dir, path = team_folder()
      local out, code = H.run({ "lock", "--state", path, "--", "sh", "-c",
        "stat -c '%a %g' " .. q(dir .. "/.state.lock") .. " " .. q(dir .. "/.state.lock/info") },
        { prefix = prefix })
      assert.are.equal(0, code, out)
      assert.are.equal("770 " .. TEAM .. "\n660 " .. TEAM .. "\n", out)
    end)

    it("keeps the state's POSIX ACL, its mask and its extended attributes", function()
      local prefix, why = writer.prefix()
      if not prefix then pending(why) return end
      if not sh("command -v setfacl >/dev/null && command -v getfattr >/dev/null") then
        pending("needs setfacl and getfattr (Debian: acl, attr; scripts/setup.sh installs them)") return
      end
      local _, path = team_folder({ mode = "0640" })
      -- the group may only read, one more user may write: the mask says
      -- rw (stat shows 0660); losing the ACL would let the group write
      assert.is_true(sh(("setfacl -m u:%d:rw,g::r,m::rw %s"):format(OUTSIDER, q(path))))
      assert.is_true(sh("setfattr -n user.team -v kept " .. q(path)))
      local acl = capture("getfacl -cp " .. q(path))
      local r, code = run(path, prefix)
      assert.are.equal(0, code, r.error_message)
      assert.are.equal(acl, capture("getfacl -cp " .. q(path)))
      assert.are.equal("kept", capture("getfattr --absolute-names --only-values -n user.team " .. q(path)))
      assert.are.equal(H.state_text(6), H.read(path))
    end)
  end)
end

describe("a writer outside the state's group", function()
  after_each(H.cleanup)

  it("is refused when the new file would lose a group with rights others lack", function()
    local prefix, why = member(OUTSIDER, "022", {})
    if not prefix then pending(why) return end
    -- the team may read and write, others only read; the folder lets
    -- anyone rename into it: the outsider can replace the state, and a new
    -- file of the outsider's group would leave the team only "read"
    local dir, path = team_folder({ mode = "0664", setgid = false })
    sh("chmod 0777 " .. q(dir))
    local r, code = run(path, prefix)
    assert.are.equal("SYSTEM_ERROR", r.error_code, r.error_message)
    assert.are.equal(71, code)
    assert.matches(path .. " (its group " .. TEAM .. ", which the new file cannot keep", r.error.message, 1, true)
    assert.are.equal(H.state_text(5), H.read(path))
    assert.are.equal("664 " .. TEAM, modes(path))
    assert.is_nil(H.ls(dir):find(".tmp-", 1, true))
  end)

  it("may write when the group has no rights others lack (its group then changes)", function()
    local prefix, why = member(OUTSIDER, "022", {})
    if not prefix then pending(why) return end
    local dir, path = team_folder({ setgid = false })
    sh("chmod 0777 " .. q(dir) .. " && chmod 0666 " .. q(path))
    local r, code = run(path, prefix)
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("666 " .. OUTSIDER, modes(path))
  end)
end)

-- A repository the team shares (git init --shared=group: folders setgid and
-- group-writable) keeps the worktrees numbering's lock and mark in its
-- common git dir; made by one member, they must not lock the others out.
describe("a git repository shared by the team", function()
  after_each(H.cleanup)

  it("the numbering's lock and mark in the common git dir take the repository's group and mode", function()
    local alice, why = member(ALICE)
    if not alice then pending(why) return end
    local bob = assert(member(BOB))
    local top = H.tmpdir()
    local repo = top .. "/repo"
    assert(sh("git init -q --shared=group " .. q(repo)))
    H.write(repo .. "/specs/state.json", H.state_text(5))
    assert(sh(("chmod 755 %s && chown -R %d:%d %s && chmod -R g+w %s/specs"):format(q(top), ALICE, TEAM,
      q(repo), q(repo))))
    local path = repo .. "/specs/state.json"
    local r, code = run(path, alice)
    assert.are.equal(0, code, r.error_message)
    assert.are.equal("worktrees", r.authority.kind)
    r, code = run(path, bob)
    assert.are.equal(0, code, tostring(r.error_message) .. " / " .. tostring(r.error and r.error.details))
    assert.are.same({ 6 }, r.allocated_numbers)
    local listing = H.capture("stat -c '%a %g %n' " .. q(repo .. "/.git/tasknum") .. " "
      .. q(repo .. "/.git/tasknum") .. "/*")
    assert.matches("%.lock\n", listing .. "\n")
    assert.matches("%.mark\n", listing .. "\n")
    for line in listing:gmatch("[^\n]+") do
      local mode, gid = line:match("^(%d+) (%d+)")
      assert.are.equal(tostring(TEAM), gid, line)
      assert.is_truthy(tonumber(mode:sub(-2, -2)) >= 6, "not group-writable: " .. line)
    end
  end)
end)
