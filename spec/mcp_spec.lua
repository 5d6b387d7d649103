-- tasknum mcp (issue 16): the MCP server on stdio, driven by the official
-- TypeScript SDK clients (spec/mcp/client.mjs, run by node; `npm ci` in
-- spec/mcp, which scripts/setup.sh does) and by plain bytes on its stdin.
local H = require "spec_helper"
local cjson = require "cjson"
local core = require "tasknum.core"

local CLIENT_DIR = H.root .. "/spec/mcp"

-- --- plain bytes in, lines out --------------------------------------------------

local function encode(t) return (cjson.encode(t):gsub("\\/", "/")) end

local function request(id, method, params)
  return encode({ jsonrpc = "2.0", id = id, method = method, params = params })
end

local INIT = request(1, "initialize", { protocolVersion = "2025-11-25", capabilities = {},
  clientInfo = { name = "spec", version = "1" } })
local INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}'

local function call(id, name, args)
  return request(id, "tools/call", { name = name, arguments = args })
end

-- Every line a server writes must be one JSON-RPC message: decodes them
-- all, failing on anything else.
local function messages(out)
  local list = {}
  for line in out:gmatch("([^\n]*)\n") do
    local ok, m = pcall(cjson.decode, line)
    assert(ok and type(m) == "table" and m.jsonrpc == "2.0", "not a JSON-RPC message on stdout: " .. line)
    list[#list + 1] = m
  end
  assert(out == "" or out:sub(-1) == "\n", "stdout does not end with a newline")
  return list
end

-- feed(dir, lines [, args [, env]]) -> messages, exit status, stderr, raw
-- stdout: `tasknum mcp ARGS` in dir with lines as its whole input.
local function feed(dir, lines, args, env)
  local input, errfile = H.tmpdir() .. "/in", os.tmpname()
  H.write(input, table.concat(lines, "\n") .. "\n")
  local words = {}
  for k, v in pairs(env or {}) do words[#words + 1] = k .. "=" .. H.q(v) end
  words[#words + 1] = H.wrap .. " " .. H.q(H.bin) .. " mcp"
  for _, a in ipairs(args or {}) do words[#words + 1] = H.q(a) end
  local p = io.popen("cd " .. H.q(dir) .. " && env -u TASKNUM_STATE " .. table.concat(words, " ")
    .. " <" .. H.q(input) .. " 2>" .. errfile)
  local out = p:read("a")
  local _, _, code = p:close()
  local err = H.read(errfile)
  os.remove(errfile)
  return messages(out), code, err, out
end

local function by_id(list, id)
  for _, m in ipairs(list) do
    if m.id == id then return m end
  end
  error("no answer to id " .. tostring(id))
end

-- --- a server that stays up: stdin from a FIFO the spec writes to ---------------

-- serve(dir [, piped]): `tasknum mcp` in dir; piped: its stdout goes
-- through a pipe to a reader (a `cat` whose pid is run.reader) instead of
-- straight to the file run.out.
local function serve(dir, piped)
  local run = { fifo = dir .. "/.in", out = dir .. "/.out", err = dir .. "/.err", rc = dir .. "/.rc",
                pidfile = dir .. "/.pid", readerfile = dir .. "/.reader" }
  assert(os.execute("mkfifo " .. H.q(run.fifo)))
  local inner = string.format("echo $$ > %s; exec %s mcp", H.q(run.pidfile), H.q(H.bin))
  local sink = piped and string.format("| sh -c %s", H.q("echo $$ > " .. H.q(run.readerfile)
    .. "; exec cat > " .. H.q(run.out))) or (">" .. H.q(run.out))
  os.execute(string.format("cd %s && (env -u TASKNUM_STATE sh -c %s <%s 2>%s %s; echo $? >%s) 2>/dev/null &",
    H.q(dir), H.q(inner), H.q(run.fifo), H.q(run.err), sink, H.q(run.rc)))
  run.input = assert(io.open(run.fifo, "w"))
  assert(H.wait_until(function() return (H.read(run.pidfile) or ""):match("%d+") end, 10))
  run.pid = tonumber(H.read(run.pidfile):match("%d+"))
  function run.send(line)
    run.input:write(line, "\n")
    run.input:flush()
  end
  -- the messages written so far, once there are at least n
  function run.wait(n)
    assert(H.wait_until(function()
      return select(2, (H.read(run.out) or ""):gsub("\n", "")) >= n
    end, 30), "fewer than " .. n .. " messages: " .. (H.read(run.out) or "") .. (H.read(run.err) or ""))
    return messages(H.read(run.out))
  end
  function run.exit()
    assert(H.wait_until(function() return (H.read(run.rc) or ""):match("%d+") end, 30), "the server did not end")
    return tonumber(H.read(run.rc):match("%d+"))
  end
  -- whether it waits for the state lock (the wait runs in a helper thread)
  function run.waiting()
    return tonumber(H.capture("ls /proc/" .. run.pid .. "/task 2>/dev/null | wc -l")) >= 2
  end
  finally(function()
    pcall(run.input.close, run.input)
    if not (H.read(run.rc) or ""):match("%d") then os.execute("kill -9 " .. run.pid .. " 2>/dev/null") end
  end)
  return run
end

-- A process holding the state's lock until the file dir/stop exists.
local function hold(dir, path)
  H.write(dir .. "/hold.lua", [[
    local core = require "tasknum.core"
    require("tasknum").transaction({ state = arg[1], purpose = "spec holder" }, function()
      io.open(arg[2], "w"):close()
      local t = core.clock()
      while not io.open(arg[3]) and core.clock() - t < 60 do core.sleep(0.02) end
    end)]])
  os.execute(string.format("(%s run %s %s %s %s >/dev/null 2>&1; echo $? > %s) &", H.q(H.bin),
    H.q(dir .. "/hold.lua"), H.q(path), H.q(dir .. "/held"), H.q(dir .. "/stop"), H.q(dir .. "/holder.rc")))
  local function release()
    H.write(dir .. "/stop", "")
    assert(H.wait_until(function() return H.read(dir .. "/holder.rc") end, 10), "the holder did not end")
  end
  finally(function() H.write(dir .. "/stop", "") end)
  assert(H.wait_until(function() return H.read(dir .. "/held") end, 10), "the holder never took the lock")
  return release
end

local function leftovers(path)
  return H.sh("ls -A " .. H.q(path:match("^(.*)/")) .. " | grep -E 'tmp|\\.state\\.lock$' || true")
end

-- --- the official SDK clients ------------------------------------------------

-- client(...) -> what `node spec/mcp/client.mjs ...` printed, decoded
local function client(...)
  assert(H.read(CLIENT_DIR .. "/node_modules/@modelcontextprotocol/sdk/package.json"),
    "spec/mcp/node_modules is missing: run sh scripts/setup.sh (it runs npm ci in spec/mcp)")
  local words = { "node", "client.mjs" }
  for _, a in ipairs({ ... }) do words[#words + 1] = H.q(tostring(a)) end
  local errfile = os.tmpname()
  local p = io.popen("cd " .. H.q(CLIENT_DIR) .. " && env -u TASKNUM_STATE timeout 120 "
    .. table.concat(words, " ") .. " 2>" .. errfile)
  local out = p:read("a")
  local _, _, code = p:close()
  local err = H.read(errfile)
  os.remove(errfile)
  assert(code == 0, "client.mjs " .. table.concat({ ... }, " ") .. " failed: " .. err .. out)
  return cjson.decode(out)
end

-- node(scenario, cwd, ...): a client.mjs scenario against `tasknum mcp` in cwd
local function node(scenario, cwd, ...)
  return client(scenario, H.bin, cwd, ...)
end

local function structured(outcome)
  assert(outcome.result, "the call threw: " .. cjson.encode(outcome.thrown or {}))
  return outcome.result.structuredContent, outcome.result
end

describe("tasknum mcp", function()
  after_each(H.cleanup)

  describe("with the official TypeScript SDK client", function()
    it("lists the tools, allocates, adds a task (if_absent), and the state on disk agrees", function()
      local dir, path = H.project(H.state_text(238, { active = { 3 } }))
      local s = node("session", dir)
      assert.are.equal("tasknum", s.server.name)
      assert.are.same({ listChanged = false }, s.capabilities.tools)
      assert.matches("allocate", s.instructions)
      local names = {}
      for i, t in ipairs(s.tools) do
        names[i] = t.name
        assert.are.equal("object", t.inputSchema.type)
        assert.are.equal("object", t.outputSchema.type)
        assert.is_true(#t.description > 100, t.name .. ": a description an LLM can follow")
      end
      assert.are.same({ "allocate", "add_task", "status", "check" }, names)

      -- (the SDK checked every structuredContent against its outputSchema)
      local r, result = structured(s.allocate)
      assert.are.equal(false, result.isError)
      assert.are.same({ 238, 239 }, r.allocated_numbers)
      assert.are.equal(path, r.state_path)
      assert.are.equal("spec: two numbers", r.purpose)
      assert.matches("238, 239", result.content[1].text, 1, true)
      assert.are.same(r, cjson.decode(result.content[2].text))
      r, result = structured(s.plain)
      assert.are.same({ 240 }, r.allocated_numbers)
      assert.are.equal("240\n", result.content[1].text)

      r = structured(s.add)
      assert.are.equal(241, r.project_number)
      assert.are.equal(false, r.existing)
      r, result = structured(s.again)
      assert.are.equal(true, r.existing)
      assert.are.equal(241, r.project_number)
      assert.are.same({}, r.allocated_numbers)
      assert.matches("already exists as number 241", result.content[1].text, 1, true)

      local text = H.read(path)
      assert.matches('"next_project_number": 242,', text, 1, true)
      assert.matches('"project_number": 241,\n      "project_name": "mcp_task",\n      "status": "not_started",\n'
        .. '      "created": "[^"]+",\n      "description": "From MCP: `rm %-rf %$HOME` \\"quoted\\" \'single\'\\nsecond line, '
        .. 'ünïcode",\n      "language": "lean4",\n      "dependencies": %[58,68%],\n      "nested": {"a":"x/y"}\n    },', text)

      for _, case in ipairs({ { s.bad_count, "from 1 to 10, got 11" }, { s.zero, "at least 1" },
                              { s.string_count, "whole number" }, { s.unknown_arg, 'unknown argument "cuont"' },
                              { s.bad_name, "slug" }, { s.no_name, "missing argument name" } }) do
        r, result = structured(case[1])
        assert.are.equal(true, result.isError)
        assert.are.equal("error", r.status)
        assert.are.equal("INVALID_ARGUMENT", r.error_code)
        assert.are.equal(false, r.retry_suggested)
        assert.matches(case[2], r.error_message, 1, true)
        assert.matches("^INVALID_ARGUMENT: ", result.content[1].text)
      end
      r, result = structured(s.missing_state)
      assert.are.equal(true, result.isError)
      assert.are.equal("STATE_NOT_FOUND", r.error_code)
      assert.matches('"next_project_number": 242,', H.read(path), 1, true) -- the failures wrote nothing

      r = structured(s.status)
      assert.are.equal(242, r.next_project_number)
      assert.are.equal(false, r.lock.held)
      r = structured(s.check)
      assert.are.equal("success", r.status)
      assert.are.same({}, r.problems)

      assert.are.equal(-32602, s.unknown_tool.thrown.code)
      assert.matches("Unknown tool: no_such_tool", s.unknown_tool.thrown.message, 1, true)
      assert.are.same({}, s.ping)
      assert.are.equal("", (s.stderr:gsub("tasknum mcp: serving [^\n]*\n", "")))
    end)

    it("4 clients allocating at once get unique numbers; the counter moves by exactly their total", function()
      local dir, path = H.project(H.state_text(500))
      local r = node("race", dir, 4, 5)
      local seen, total = {}, 0
      for _, numbers in ipairs(r.numbers) do
        assert.are.equal(5, #numbers)
        for _, n in ipairs(numbers) do
          assert.is_nil(seen[n], "number twice: " .. n)
          assert.is_true(n >= 500 and n < 520, "out of the run: " .. n)
          seen[n], total = true, total + 1
        end
      end
      assert.are.equal(20, total)
      assert.matches('"next_project_number": 520,', H.read(path), 1, true)
      assert.are.equal("", leftovers(path))
    end)

    it("finds the state from the client's roots when its own folder has none", function()
      local dir, path = H.project(H.state_text(60))
      local elsewhere = H.tmpdir()
      local r = node("roots", elsewhere, dir)
      assert.are.equal(1, r.asked)
      assert.are.same({ 60 }, structured(r.allocate).allocated_numbers)
      assert.are.equal(path, structured(r.allocate).state_path)
      assert.are.equal(path, structured(r.status).state_path)
    end)

    it("speaks the stateless 2026-07-28 protocol with the v2 client pinned to it", function()
      local dir, path = H.project(H.state_text(7))
      local r = node("modern", dir)
      assert.are.equal("tasknum", r.server.name)
      assert.are.same({ "allocate", "add_task", "status", "check" }, r.tools)
      local a, result = structured(r.allocate)
      assert.are.same({ 7 }, a.allocated_numbers)
      assert.are.equal(false, result.isError)
      a, result = structured(r.bad_count)
      assert.are.equal(true, result.isError)
      assert.are.equal("INVALID_ARGUMENT", a.error_code)
      assert.matches('"next_project_number": 8,', H.read(path), 1, true)
    end)
  end)

  describe("on plain bytes", function()
    it("answers malformed JSON with -32700 and keeps serving", function()
      local dir, path = H.project(H.state_text(10))
      local list, code, err = feed(dir, { "{not json", "\255\254 raw bytes \0", '{"jsonrpc":"2.0","id":9,"method":', INIT,
        INITIALIZED, "[1,", call(2, "allocate", { purpose = "after the garbage" }) })
      assert.are.equal(0, code, err)
      assert.are.equal(6, #list)
      for _, i in ipairs({ 1, 2, 3, 5 }) do
        assert.are.equal(-32700, list[i].error.code)
        assert.is_nil(list[i].id)
      end
      assert.are.equal("2025-11-25", list[4].result.protocolVersion)
      assert.are.same({ 10 }, by_id(list, 2).result.structuredContent.allocated_numbers)
      assert.matches('"next_project_number": 11,', H.read(path), 1, true)
    end)

    it("answers invalid requests with -32600, unknown methods with -32601, bad params with -32602", function()
      local dir = H.project(H.state_text(10))
      local list = feed(dir, {
        INIT,
        '[{"jsonrpc":"2.0","id":3,"method":"ping"}]',      -- a batch
        '"just a string"',
        '{"id":4,"method":"ping"}',                       -- no jsonrpc
        '{"jsonrpc":"1.0","id":5,"method":"ping"}',
        '{"jsonrpc":"2.0","id":6,"method":7}',
        '{"jsonrpc":"2.0","id":null,"method":"ping"}',
        '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
        '{"jsonrpc":"2.0","id":7,"id":8,"method":"ping"}',
        '{"jsonrpc":"2.0","id":"str-id","method":"no/such"}',
        '{"jsonrpc":"2.0","id":12345678901234567890,"method":"nope"}',
        '{"jsonrpc":"2.0","id":10,"method":"tools/list","params":[1]}',
        '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{}}',
        '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"allocate","arguments":[1]}}',
        '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"nope"}}',
        '{"jsonrpc":"2.0","method":"notifications/whatever"}', -- notifications are never answered
        '{"jsonrpc":"2.0","method":5}', -- but this is no notification: an invalid request
        '{"jsonrpc":"2.0","id":14,"method":"ping"}',
      })
      assert.are.equal(17, #list)
      assert.are.equal(-32600, list[16].error.code)
      assert.is_nil(list[16].id)
      for i = 2, 9 do assert.are.equal(-32600, list[i].error.code, cjson.encode(list[i])) end
      assert.are.same({ 4, 5, 6 }, { list[4].id, list[5].id, list[6].id })
      for _, i in ipairs({ 2, 3, 7, 8, 9 }) do assert.is_nil(list[i].id) end
      assert.are.equal(-32601, by_id(list, "str-id").error.code)
      assert.are.equal(-32601, list[11].error.code)
      local raw = select(4, feed(dir, { '{"jsonrpc":"2.0","id":12345678901234567890,"method":"nope"}' }))
      assert.matches('"id":12345678901234567890,', raw, 1, true) -- the id as it came, digit for digit
      for _, id in ipairs({ 10, 11, 12, 13 }) do assert.are.equal(-32602, by_id(list, id).error.code) end
      assert.matches("Unknown tool: nope", by_id(list, 13).error.message, 1, true)
      assert.are.same({}, by_id(list, 14).result)
    end)

    it("before initialize: ping and server/discover only; the client's version if supported, else the latest", function()
      local dir = H.project(H.state_text(10))
      local list = feed(dir, {
        request(1, "tools/list", {}),
        request(2, "ping"),
        request(3, "server/discover", {}),
        request(4, "initialize", { protocolVersion = "2025-06-18", capabilities = {} }),
        request(5, "initialize", { protocolVersion = "1999-01-01", capabilities = {} }),
        request(6, "initialize", { capabilities = {} }),
      })
      assert.are.equal(-32602, by_id(list, 1).error.code)
      assert.matches("initialize", by_id(list, 1).error.message, 1, true)
      assert.are.same({}, by_id(list, 2).result)
      local d = by_id(list, 3).result
      assert.are.equal("complete", d.resultType)
      assert.are.same({ "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" }, d.supportedVersions)
      assert.are.equal("tasknum", d._meta["io.modelcontextprotocol/serverInfo"].name)
      assert.is_truthy(d.ttlMs and d.cacheScope)
      assert.are.equal("2025-06-18", by_id(list, 4).result.protocolVersion)
      assert.are.equal("2025-11-25", by_id(list, 5).result.protocolVersion)
      assert.are.equal(-32602, by_id(list, 6).error.code)
    end)

    it("gives an older client only what its version knows", function()
      local dir = H.project(H.state_text(10))
      local list = feed(dir, { request(1, "initialize", { protocolVersion = "2024-11-05", capabilities = {} }),
        INITIALIZED, request(2, "tools/list", {}), call(3, "allocate", {}) })
      assert.are.equal("2024-11-05", by_id(list, 1).result.protocolVersion)
      for _, t in ipairs(by_id(list, 2).result.tools) do
        assert.is_nil(t.outputSchema)
        assert.is_nil(t.annotations)
        assert.is_nil(t.title)
      end
      local r = by_id(list, 3).result
      assert.is_nil(r.structuredContent)
      assert.are.same({ 10 }, cjson.decode(r.content[2].text).allocated_numbers)
    end)

    it("serves 2026-07-28 requests statelessly: version and capabilities in _meta", function()
      local dir = H.project(H.state_text(10))
      local function meta(version, caps)
        return { ["io.modelcontextprotocol/protocolVersion"] = version,
                 ["io.modelcontextprotocol/clientCapabilities"] = caps }
      end
      local list = feed(dir, {
        request(1, "tools/list", { _meta = meta("2026-07-28", {}) }),
        request(2, "tools/call", { name = "allocate", arguments = {}, _meta = meta("2026-07-28", {}) }),
        request(3, "tools/list", { _meta = meta("2030-01-01", {}) }),
        request(4, "tools/list", { _meta = meta("2026-07-28") }),
      })
      local l = by_id(list, 1).result
      assert.are.equal("complete", l.resultType)
      assert.are.equal("public", l.cacheScope)
      assert.is_true(l.ttlMs > 0)
      assert.are.equal(4, #l.tools)
      assert.are.same({ 10 }, by_id(list, 2).result.structuredContent.allocated_numbers)
      local e = by_id(list, 3).error
      assert.are.equal(-32022, e.code)
      assert.are.equal("2030-01-01", e.data.requested)
      assert.are.equal("2026-07-28", e.data.supported[1])
      assert.are.equal(-32602, by_id(list, 4).error.code)
    end)

    it("asks a client that offers roots for them, and holds the calls that need them until they come", function()
      local dir, path = H.project(H.state_text(40))
      local _, other = H.project(H.state_text(80))
      local nowhere = H.tmpdir()
      local init = request(1, "initialize", { protocolVersion = "2025-11-25", capabilities = { roots = {} } })
      local function roots(...)
        local list = {}
        for i, d in ipairs({ ... }) do list[i] = { uri = "file://" .. d:gsub(" ", "%%20") } end
        return encode({ jsonrpc = "2.0", id = "tasknum-roots-1", result = { roots = list } })
      end
      -- the call comes before the roots: it waits for them, then uses them
      local list = feed(nowhere, { init, INITIALIZED, call(2, "allocate", {}), call(3, "allocate", { state = other }),
        roots(dir .. "/.opencode") })
      assert.are.equal("roots/list", list[2].method)
      assert.are.equal("tasknum-roots-1", list[2].id)
      assert.are.same({ 40 }, by_id(list, 2).result.structuredContent.allocated_numbers)
      assert.are.same({ 80 }, by_id(list, 3).result.structuredContent.allocated_numbers)
      assert.is_true(list[3].id == 2 and list[4].id == 3, "the calls were not answered in order")
      -- roots that lead to two states, or to none, are the call's error
      list = feed(nowhere, { init, INITIALIZED, roots(dir, other:match("^(.*)/%.opencode")), call(2, "allocate", {}) })
      assert.are.equal("INVALID_ARGUMENT", by_id(list, 2).result.structuredContent.error_code)
      list = feed(nowhere, { init, INITIALIZED, roots(nowhere), call(2, "allocate", {}) })
      assert.are.equal("STATE_NOT_FOUND", by_id(list, 2).result.structuredContent.error_code)
      -- a client that cannot answer: the working folder, as without roots
      list = feed(dir, { init, INITIALIZED, call(2, "allocate", {}),
        '{"jsonrpc":"2.0","id":"tasknum-roots-1","error":{"code":-32601,"message":"no roots here"}}' })
      assert.are.same({ 41 }, by_id(list, 2).result.structuredContent.allocated_numbers)
      -- a held call that is cancelled, or still held at the end of input, is
      -- dropped unanswered, and allocates nothing
      list = feed(dir, { init, INITIALIZED, call(2, "allocate", {}),
        '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}', roots(dir) })
      assert.are.equal(2, #list)
      list = feed(dir, { init, INITIALIZED, call(2, "allocate", {}) })
      assert.are.equal(2, #list)
      assert.matches('"next_project_number": 42,', H.read(path), 1, true)
      -- --state or TASKNUM_STATE: no roots asked
      list = feed(nowhere, { init, INITIALIZED, call(2, "allocate", {}) }, nil, { TASKNUM_STATE = other })
      assert.are.equal(2, #list)
      assert.are.same({ 81 }, by_id(list, 2).result.structuredContent.allocated_numbers)
    end)

    it("refuses a message over 4 MiB unread, and keeps serving; a 1 MB description is written whole", function()
      local dir, path = H.project(H.state_text(10))
      local huge = call(2, "allocate", { purpose = string.rep("x", 4 * 1024 * 1024) })
      local big = string.rep("é", 512 * 1024) -- 1 MiB of text
      local list, code = feed(dir, { INIT, huge, call(3, "add_task", { name = "big", description = big }),
        request(4, "ping") })
      assert.are.equal(0, code)
      assert.are.equal(4, #list)
      assert.are.equal(-32600, list[2].error.code)
      assert.matches("over the limit", list[2].error.message, 1, true)
      assert.are.equal(10, by_id(list, 3).result.structuredContent.project_number)
      assert.is_truthy(H.read(path):find('"description": "' .. big .. '"', 1, true))
      assert.are.same({}, by_id(list, 4).result)
    end)

    it("keeps stdout for protocol messages: a team policy's print goes to stderr", function()
      local dir = H.project(H.state_text(10))
      H.write(dir .. "/.opencode/tasknum/audit.lua", [[
        print("print from the team's audit policy")
        io.write("io.write from it\n")
        io.stdout:write("io.stdout from it\n")
        return require("tasknum.policy.audit")]])
      local list, code, err = feed(dir, { INIT, call(2, "allocate", {}), call(3, "status", {}) })
      assert.are.equal(0, code)
      assert.are.equal(3, #list) -- messages() failed on anything else
      assert.are.same({ 10 }, by_id(list, 2).result.structuredContent.allocated_numbers)
      assert.matches("print from the team's audit policy", err, 1, true)
      assert.matches("io.stdout from it", err, 1, true)
    end)

    it("--state names the default state; a call's state wins; bad arguments exit 64", function()
      local _, path = H.project(H.state_text(30))
      local _, other = H.project(H.state_text(70))
      local nowhere = H.tmpdir()
      local list = feed(nowhere, { INIT, call(2, "allocate", {}), call(3, "allocate", { state = other }) },
        { "--state", path })
      assert.are.same({ 30 }, by_id(list, 2).result.structuredContent.allocated_numbers)
      assert.are.same({ 70 }, by_id(list, 3).result.structuredContent.allocated_numbers)
      list = feed(nowhere, { INIT, call(2, "allocate", {}) })
      assert.are.equal("STATE_NOT_FOUND", by_id(list, 2).result.structuredContent.error_code)
      local out, code, err = H.run({ "mcp", "--bogus" })
      assert.are.equal(64, code)
      assert.are.equal("", out)
      assert.matches("unknown option --bogus", err, 1, true)
    end)
  end)

  describe("the agent files that replace the old task-numberer subagent", function()
    local AGENTS = H.root .. "/scripts/examples/agents"

    -- the names tools/list gives
    local function tool_names()
      local list = feed(H.tmpdir(), { INIT, request(2, "tools/list", {}) })
      local names = {}
      for _, t in ipairs(by_id(list, 2).result.tools) do names[t.name] = true end
      return names
    end

    it("Claude Code (.claude/agents/): YAML front matter naming only tasknum's tools", function()
      local a = client("agent", AGENTS .. "/claude-code/task-numberer.md")
      local names = tool_names()
      assert.matches("^[a-z][a-z0-9-]*$", a.front.name)
      assert.is_true(#a.front.description > 80)
      local listed = 0
      for tool in a.front.tools:gmatch("[^,%s]+") do
        assert.is_truthy(names[tool:match("^mcp__tasknum__(.+)$") or ""], "not a tasknum tool: " .. tool)
        listed = listed + 1
      end
      assert.are.equal(4, listed)
      assert.matches("call `allocate`", a.body, 1, true)
      assert.matches("call `add_task`", a.body, 1, true)
      assert.matches("if_absent: true", a.body, 1, true)
    end)

    it("OpenCode (.opencode/agent/): a subagent whose tasknum_ tools all exist", function()
      local a = client("agent", AGENTS .. "/opencode/task-numberer.md")
      local names = tool_names()
      assert.are.equal("subagent", a.front.mode)
      assert.is_true(#a.front.description > 80)
      assert.are.same({ write = false, edit = false, bash = false, ["tasknum_*"] = true }, a.front.tools)
      local seen = 0
      for tool in a.body:gmatch("`tasknum_([%w_]+)`") do
        assert.is_truthy(names[tool], "no such tool: tasknum_" .. tool)
        seen = seen + 1
      end
      assert.is_true(seen >= 4)
      assert.matches("call `tasknum_allocate`", a.body, 1, true)
      assert.matches("if_absent: true", a.body, 1, true)
    end)
  end)

  describe("as a long-lived process", function()
    it("ends on SIGTERM while it waits for input", function()
      local dir = H.project(H.state_text(10))
      local run = serve(dir)
      run.send(INIT)
      run.wait(1)
      os.execute("kill -TERM " .. run.pid)
      assert.are.equal(143, run.exit())
      assert.are.equal(1, #messages(H.read(run.out)))
    end)

    it("SIGTERM during a call waiting for the lock: INTERRUPTED, the state whole, then it ends", function()
      local dir, path = H.project(H.state_text(10))
      local before = H.read(path)
      local release = hold(dir, path)
      local run = serve(dir)
      run.send(INIT)
      run.send(call(2, "allocate", {}))
      run.wait(1)
      assert(H.wait_until(run.waiting, 10), "the call never waited for the lock")
      core.sleep(0.1)
      os.execute("kill -TERM " .. run.pid)
      assert.are.equal(143, run.exit())
      release()
      local list = messages(H.read(run.out))
      assert.are.equal(2, #list)
      local r = by_id(list, 2).result
      assert.are.equal(true, r.isError)
      assert.are.equal("INTERRUPTED", r.structuredContent.error_code)
      assert.are.equal("SIGTERM", r.structuredContent.error.signal)
      assert.are.equal(before, H.read(path))
      assert.are.equal("", leftovers(path))
    end)

    it("a client that vanishes mid-call leaves the state whole, and no lock held", function()
      local dir, path = H.project(H.state_text(10))
      local release = hold(dir, path)
      local run = serve(dir, true)
      run.send(INIT)
      run.send(call(2, "allocate", {}))
      run.wait(1)
      assert(H.wait_until(run.waiting, 10), "the call never waited for the lock")
      -- the client goes: nobody reads stdout any more, stdin ends
      os.execute("kill -9 " .. H.read(run.readerfile):match("%d+"))
      run.input:close()
      release()
      assert(H.wait_until(function() return not core.alive(run.pid) end, 30), "the server is still there")
      local text = H.read(path)
      -- the call went through once the lock was free, nobody left to hear it
      local n = tonumber(text:match('"next_project_number": (%d+),'))
      assert.are.equal(11, n)
      assert.is_truthy(require("tasknum.core").validate(text))
      assert.are.equal("", leftovers(path))
      -- the lock is free: an allocation right away gets the next number
      local r = H.run_json({ "allocate", "--state", path, "--timeout", "0" })
      assert.are.same({ n }, r.allocated_numbers)
    end)
  end)
end)
