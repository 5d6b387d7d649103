-- Text for people (issue 12, item 7). `tasknum status` shows other users'
-- purposes and commands, `tasknum stats` what the audit log says, the
-- one-line error on stderr the holder that kept the lock: text written by
-- others. What a terminal would act on (escape sequences, other control
-- characters, C1 controls, bidirectional overrides, bytes that are not
-- UTF-8) is escaped, so it is shown, never obeyed. Each case reads as root
-- and as an unprivileged user.
local H = require "spec_helper"

local sh, q = H.ok, H.q

-- Clears the screen, sets the window title, hides text, and reorders the line.
local HOSTILE = "pwn\27[2J\27]0;owned\7\r\n\194\155" .. "31m \226\128\174gnp.exe\127\155"

-- Whether text (several lines for people) holds nothing a terminal acts on.
local function inert(text)
  for line in text:gmatch("[^\n]*") do
    assert.is_nil(line:find("[%z\1-\31\127]"), "a control character in: " .. line)
    assert.is_truthy(utf8.len(line), "not UTF-8: " .. line)
    for _, cp in utf8.codes(line) do
      assert.is_false((cp >= 0x80 and cp <= 0x9f) or (cp >= 0x202a and cp <= 0x202e), "U+" .. cp)
    end
  end
end

local function project(who)
  local dir, path = H.project(H.state_text(5))
  H.give(who, dir)
  return dir, path
end

H.each_caller("text for people escapes what a terminal would obey", function(who)
  it("`tasknum status`: others' purposes, commands and legacy info", function()
    if not who.prefix then pending(who.why) return end
    local dir = project(who)
    local r = H.run_json({ "allocate", "--purpose", HOSTILE }, { cwd = dir, prefix = who.prefix })
    assert.are.equal("success", r.status)
    assert.are.equal(H.state_text(6), H.read(dir .. "/.opencode/specs/state.json"))
    -- a holder whose command is hostile, read while it holds the lock
    local out, code = H.run({ "lock", "--", "sh", "-c", ": '" .. HOSTILE:gsub("'", "") .. "'; "
      .. q(H.public_bin()) .. " status" }, { cwd = dir, prefix = who.prefix })
    assert.are.equal(0, code, out)
    inert(out)
    -- (the lone 0x9B at the end was made U+FFFD in the audit log's JSON)
    assert.matches("purpose: pwn\\x1b[2J\\x1b]0;owned\\x07\\r\\n\\u{009b}31m \\u{202e}gnp.exe\\x7f\u{FFFD}",
      out, 1, true)
    assert.matches("command: sh -c", out, 1, true)
    -- and a legacy folder whose info someone wrote
    H.write(dir .. "/.opencode/specs/.state.lock/info", HOSTILE)
    H.give(who, dir .. "/.opencode/specs/.state.lock")
    out, code = H.run({ "status" }, { cwd = dir, prefix = who.prefix })
    assert.are.equal(0, code, out)
    inert(out)
  end)

  it("the one-line error on stderr names a hostile holder on one inert line", function()
    if not who.prefix then pending(who.why) return end
    local dir, path = project(who)
    local core = require "tasknum.core"
    -- someone holds the lock with a hostile command line
    H.sh(("cd %s && %s %s lock -- sh -c %s >/dev/null 2>&1 &"):format(q(dir), who.prefix, q(H.public_bin()),
      q("sleep 3; : '" .. HOSTILE .. "'")))
    local lock = dir .. "/.opencode/specs/.state.json.lock"
    assert.is_true(H.wait_until(function() return core.probe(lock) == true end, 10))
    local r, code, err = H.run_json({ "allocate", "--timeout", "0.1" }, { cwd = dir, prefix = who.prefix })
    assert.are.equal("LOCK_TIMEOUT", r.error_code)
    assert.are.equal(75, code)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    inert(err)
    assert.matches("pwn\27[2J", r.error.details, 1, true) -- JSON keeps it as it is
    assert.is_true(H.wait_until(function() return core.probe(lock) == false end, 10))
    -- a failure whose message carries the hostile text itself
    local _, code2, err2 = H.run({ "allocate", "--state", dir .. "/" .. HOSTILE },
      { cwd = dir, prefix = who.prefix })
    assert.are.equal(66, code2)
    assert.are.equal(1, select(2, err2:gsub("\n", "")), err2)
    inert(err2)
    assert.matches("\\x1b[2J", err2, 1, true)
    assert.are.equal(H.state_text(5), H.read(path))
  end)

  it("`tasknum stats`: codes and times from the audit log", function()
    if not who.prefix then pending(who.why) return end
    local dir = project(who)
    local log = dir .. "/.opencode/specs/.state.json.audit.jsonl"
    H.write(log, require("cjson").encode({ timestamp = HOSTILE, error_code = HOSTILE, status = "error",
      numbers = {}, wait_ms = 1, hold_ms = 1 }) .. "\n")
    H.give(who, log)
    local out, code = H.run({ "stats" }, { cwd = dir, prefix = who.prefix })
    assert.are.equal(0, code, out)
    inert(out)
    assert.matches("pwn\\x1b[2J", out, 1, true)
  end)

  it("--format todo: a hostile title makes an inert heading", function()
    if not who.prefix then pending(who.why) return end
    local dir = project(who)
    H.write(dir .. "/fmt.lua", [[
      local tasknum = require "tasknum"
      io.write(tasknum.format({ status = "success", allocated_numbers = { 5 }, title = arg[1] }, "todo"))]])
    local out, code = H.run({ "run", dir .. "/fmt.lua", HOSTILE }, { cwd = dir, prefix = who.prefix })
    assert.are.equal(0, code, out)
    inert(out)
    assert.matches("### 5. pwn\\x1b[2J", out, 1, true)
  end)
end)
