-- The audit log stays one JSON line per attempt (issue 13, item 6). A line
-- is ONE write(2) on a descriptor opened O_APPEND, so lines written at the
-- same moment (LOCK_TIMEOUT lines are written without the lock) never
-- interleave, however long; a string longer than 4 KB (a megabyte purpose)
-- is cut to its first 4 KB and the line says so in "truncated".
local H = require "spec_helper"
local cjson = require "cjson"
local core = require "tasknum.core"

local sh, q = H.ok, H.q

local LOG = "/.opencode/specs/.state.json.audit.jsonl"

-- Every line of the log, decoded; fails on a line that is not one object.
local function entries(dir)
  local text = assert(H.read(dir .. LOG), "no audit log")
  assert.are.equal("\n", text:sub(-1), "the log does not end with a newline")
  local list = {}
  for line in text:gmatch("([^\n]*)\n") do
    local ok, e = pcall(cjson.decode, line)
    assert.is_true(ok and type(e) == "table", "a broken line: " .. line:sub(1, 200))
    list[#list + 1] = e
  end
  return list
end

describe("the audit log", function()
  after_each(H.cleanup)

  it("gets each line in one write(2), a line longer than stdio's buffer too", function()
    if not sh("command -v strace >/dev/null") then pending("needs strace to count the writes") return end
    local dir, path = H.project(H.state_text(5))
    local long = string.rep("x", 40 * 1024) -- (the whole command is one argument to sh: under 128 KB)
    local trace = H.tmpdir() .. "/trace"
    -- USER and the purpose, 40 KB each: a line of over 8 KB even when cut
    local _, code = H.run({ "allocate", "--purpose", long }, { cwd = dir, env = { USER = long },
      prefix = "strace -f -y -s 0 -e trace=write -o " .. q(trace) })
    assert.are.equal(0, code)
    local writes = 0
    for line in io.lines(trace) do
      if line:find(LOG, 1, true) and line:find("write(", 1, true) then writes = writes + 1 end
    end
    assert.are.equal(1, writes, "writes to the audit log")
    local e = entries(dir)[1]
    assert.is_true(#cjson.encode(e) > 8192)
    assert.are.same({ purpose = #long, user = #long }, e.truncated)
    assert.are.equal(H.state_text(6), H.read(path))
  end)

  it("keeps lines whole when many are written at once without the lock", function()
    local dir, path = H.project(H.state_text(5))
    local lock = dir .. "/.opencode/specs/.state.json.lock"
    local n = 12
    -- one holds the lock; n others time out together and log at once
    H.sh(("cd %s && %s lock -- sleep 1.5 >/dev/null 2>&1 &"):format(q(dir), q(H.bin)))
    assert.is_true(H.wait_until(function() return core.probe(lock) == true end, 10))
    local script = ""
    for i = 1, n do
      script = script .. ("%s allocate --timeout 0.5 --purpose \"$(head -c 100000 /dev/zero | tr '\\0' %s)\" "
        .. ">/dev/null 2>&1 &\n"):format(q(H.bin), string.char(96 + i))
    end
    assert.is_true(sh("cd " .. q(dir) .. " && env USER=\"$(head -c 100000 /dev/zero | tr '\\0' u)\" sh -c "
      .. q(script .. "wait")))
    assert.is_true(H.wait_until(function() return core.probe(lock) == false end, 10))
    local list = entries(dir)
    local timeouts = 0
    for _, e in ipairs(list) do
      if e.error_code == "LOCK_TIMEOUT" then
        timeouts = timeouts + 1
        assert.are.equal(4096, #e.purpose)
        assert.are.equal(string.rep(e.purpose:sub(1, 1), 4096), e.purpose, "a purpose mixed with another")
      end
    end
    assert.are.equal(n, timeouts)
    assert.are.equal(H.state_text(5), H.read(path))
  end)

  it("cuts a megabyte purpose to its first 4 KB, never half a character", function()
    local dir, path = H.project(H.state_text(5))
    local purpose = "é" .. string.rep("✓", 1024 * 1024 // 3)
    H.write(dir .. "/purpose", purpose)
    H.write(dir .. "/big.lua", [[
      local f = assert(io.open(arg[2], "rb"))
      local r = require("tasknum").allocate{ state = arg[1], purpose = f:read("a") }
      f:close()
      io.write(r.status, " ", #r.purpose, "\n")]])
    local out, code = H.run({ "run", dir .. "/big.lua", path, dir .. "/purpose" })
    assert.are.equal(0, code, out)
    assert.are.equal("success " .. #purpose .. "\n", out) -- the answer keeps it whole
    local e = entries(dir)[1]
    assert.are.same({ purpose = #purpose }, e.truncated)
    assert.are.equal(4096 - 2, #e.purpose) -- "é" then whole "✓"s: 2 + 3 * 1364 bytes
    assert.are.equal(purpose:sub(1, #e.purpose), e.purpose)
    assert.is_truthy(utf8.len(e.purpose))
  end)
end)
