-- core.run: a command run to its end with its output captured (the git
-- authority's plumbing): input fed, both outputs read, a time limit that
-- kills the command's whole process group, no terminal to prompt on.
local H = require "spec_helper"
local core = require "tasknum.core"

describe("core.run", function()
  after_each(H.cleanup)

  it("feeds stdin and returns the status, stdout and stderr apart", function()
    local status, out, err = core.run({ "sh", "-c", "cat; echo oops >&2; exit 3" }, { input = "abc\n" })
    assert.are.equal(3, status)
    assert.are.equal("abc\n", out)
    assert.are.equal("oops\n", err)
    status, out = core.run({ "cat" })
    assert.are.equal(0, status)       -- stdin is /dev/null without input
    assert.are.equal("", out)
  end)

  it("moves more than a pipe holds both ways", function()
    local big = string.rep("0123456789abcdef", 64 * 1024)  -- 1 MiB
    local status, out = core.run({ "cat" }, { input = big, cap = 2 * #big })
    assert.are.equal(0, status)
    assert.are.equal(#big, #out)
    assert.is_true(out == big)
  end)

  it("keeps at most cap bytes of an output and still reads it all", function()
    local status, out = core.run({ "head", "-c", "3000000", "/dev/zero" }, { cap = 100 })
    assert.are.equal(0, status)
    assert.are.equal(100, #out)
  end)

  it("a command that does not read its input gets EPIPE, tasknum is not killed", function()
    local status = core.run({ "true" }, { input = string.rep("x", 4 * 1024 * 1024) })
    assert.are.equal(0, status)
  end)

  it("sets and removes environment variables", function()
    local status, out = core.run({ "sh", "-c", 'echo "$TN_A-${HOME-unset}"' },
      { env = { TN_A = "x", HOME = false } })
    assert.are.equal(0, status)
    assert.are.equal("x-unset\n", out)
  end)

  it("reports a command that cannot start with its errno", function()
    local ok, msg, errno = core.run({ "/nonexistent/tasknum-no-such-command" })
    assert.is_nil(ok)
    assert.are.equal(core.ENOENT, errno)
    assert.matches("tasknum%-no%-such%-command", msg)
  end)

  it("at the time limit kills the whole process group and keeps what was written", function()
    local dir = H.tmpdir()
    local t0 = core.clock()
    local ok, msg, errno, out = core.run({ "sh", "-c",
      "echo started; sleep 30 & echo $! > " .. H.q(dir .. "/grandchild") .. "; wait" }, { timeout = 0.3 })
    assert.is_true(core.clock() - t0 < 5)
    assert.is_nil(ok)
    assert.are.equal(core.ETIMEDOUT, errno)
    assert.matches("still running", msg)
    assert.are.equal("started\n", out)
    local grandchild = tonumber(H.read(dir .. "/grandchild"))
    assert.is_true(H.wait_until(function() return not core.alive(grandchild) end, 5),
      "the sleep it started is still running")
  end)

  it("does not wait for what the command left running in the background", function()
    local t0 = core.clock()
    local status, out = core.run({ "sh", "-c", "(sleep 3 &); echo done" }, { timeout = 10 })
    assert.are.equal(0, status)
    assert.are.equal("done\n", out)
    assert.is_true(core.clock() - t0 < 2)
  end)

  it("runs the command in a session of its own, with no terminal", function()
    local status, out = core.run({ "sh", "-c", "ps -o sid= -p $$; echo $$; tty" })
    local sid, pid, tty = out:match("^%s*(%d+)\n(%d+)\n(.-)\n$")
    assert.are.equal(1, status)     -- tty: not a tty
    assert.are.equal(sid, pid)
    assert.are.equal("not a tty", tty)
  end)
end)
