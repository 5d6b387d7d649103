-- tasknum.mcp: `tasknum mcp`, a Model Context Protocol server on stdio:
-- one JSON-RPC 2.0 message a line in, one a line out; the tools are in
-- tasknum.mcp.tools. Both eras of the protocol, as the official SDKs
-- speak them:
--   * 2026-07-28 (current): stateless. Every request carries its protocol
--     version and the client's capabilities in params._meta; server/discover
--     tells what the server supports; results carry resultType and the
--     server's identity in _meta.
--   * 2025-11-25 back to 2024-11-05: the initialize handshake (the answer is
--     the client's version when it is one of these, else 2025-11-25), then
--     notifications/initialized; ping; end of input ends the server.
-- Each tools/call is a whole transaction: no lock is held between calls.
-- Only protocol messages go to stdout; diagnostics go to stderr.
--
-- Which state a call uses: its `state` argument, else `tasknum mcp
-- --state PATH`, else $TASKNUM_STATE, else (handshake era, when the
-- client offers roots) the state found from the client's roots, else the
-- state found from the server's working folder, as the CLI finds it.
local cjson = require "cjson"
local core = require "tasknum.core"
local errors = require "tasknum.errors"
local json = require "tasknum.json"
local state = require "tasknum.state"
local tools = require "tasknum.mcp.tools"

local M = {}

M.MODERN = { "2026-07-28" }
M.LEGACY = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" }
M.SUPPORTED = json.array { M.MODERN[1], table.unpack(M.LEGACY) }
M.MAX_LINE = 4 * 1024 * 1024 -- bytes in one message; a longer one is refused unread
M.TTL_MS = 3600000           -- the tool list is fixed for the life of the process

local PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR =
  -32700, -32600, -32601, -32602, -32603
local UNSUPPORTED_VERSION = -32022
local META_VERSION = "io.modelcontextprotocol/protocolVersion"
local META_CAPS = "io.modelcontextprotocol/clientCapabilities"
local META_SERVER = "io.modelcontextprotocol/serverInfo"

local SERVER_INFO = { name = "tasknum", title = "tasknum", version = core.version,
  description = "Unique task numbers from a project's state.json, for any number of agents at once" }
local CAPABILITIES = { tools = { listChanged = false } }
local INSTRUCTIONS = "tasknum hands out unique task numbers from this project's state.json "
  .. "(next_project_number). Call allocate for a number, add_task to add a task to "
  .. "active_projects with its number (pass if_absent: true so a repeated call cannot add it twice). "
  .. "Never read, compute or edit next_project_number yourself, and never edit state.json with "
  .. "jq or by hand: two agents doing that at once get the same number. status and check only look."

local function member(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- What a protocol version's messages may carry.
local function features(version)
  return { modern = version >= "2026-07-28", structured = version >= "2025-06-18",
           annotations = version >= "2025-03-26" }
end

local Server = {}
Server.__index = Server

-- new{input=, output=, log=, state=} -> a server; input and output are
-- file handles (stdin and stdout by default), state the default state.
function M.new(opts)
  opts = opts or {}
  return setmetatable({ input = opts.input or io.stdin, output = opts.output or io.stdout,
    log = opts.log or io.stderr, state = opts.state, queue = {}, asked = 0 }, Server)
end

function Server:note(...)
  self.log:write("tasknum mcp: ", ...)
  self.log:write("\n")
  self.log:flush()
end

-- --- framing ----------------------------------------------------------------------

-- read_line() -> line | nil, why ("eof", or the read error: EINTR when a
-- signal came) | false, bytes (a line over MAX_LINE, read to its end and
-- dropped). Byte by byte, so that no line is ever held past the limit.
function Server:read_line()
  local f = self.input
  local read = f.read
  local chunks, buf, n, size = {}, {}, 0, 0
  while true do
    local c, msg = read(f, 1)
    if not c then
      if msg then return nil, msg end
      if size == 0 then return nil, "eof" end
      break -- the last line, without its newline
    end
    if c == "\n" then break end
    size = size + 1
    if size <= M.MAX_LINE then
      n = n + 1
      buf[n] = c
      if n == 4096 then
        chunks[#chunks + 1] = table.concat(buf)
        buf, n = {}, 0
      end
    end
  end
  if size > M.MAX_LINE then return false, size end
  chunks[#chunks + 1] = table.concat(buf, "", 1, n)
  return table.concat(chunks)
end

function Server:send(text)
  self.output:write(text, "\n")
  self.output:flush()
end

-- A value that json.encode writes as JSON text given already (an answer
-- as its command printed it).
local RAW = "\0tasknum-raw\0"

local function encode(v, raw)
  local text = json.encode(v)
  local mark, s, e = json.encode(RAW), nil, nil
  local from = 1
  while raw do -- the last one: structuredContent sorts last
    local a, b = text:find(mark, from, true)
    if not a then break end
    s, e, from = a, b, b + 1
  end
  if s then text = text:sub(1, s - 1) .. raw .. text:sub(e + 1) end
  return text
end

function Server:reply(id, result, raw)
  self:send('{"jsonrpc":"2.0","id":' .. id .. ',"result":' .. encode(result, raw) .. "}")
end

-- fail(id, code, message [, data]): an error response; id is the raw id
-- text, nil when the request's id could not be read (then no id member, as
-- the MCP schema has it).
function Server:fail(id, code, message, data)
  self:send('{"jsonrpc":"2.0",' .. (id and ('"id":' .. id .. ",") or "")
    .. '"error":' .. json.encode({ code = code, message = message, data = data }) .. "}")
  if id == nil or code == INTERNAL_ERROR then self:note(message) end
end

-- --- messages -----------------------------------------------------------------------

local HANDLERS = {}

-- handle(line): one message. Requests are answered (or queued while the
-- client's roots are awaited); notifications and responses never are.
function Server:handle(line)
  line = line:gsub("\r$", "")
  if not line:find("%S") then return end
  local s, e, offset = core.validate(line)
  if not s then
    return self:fail(nil, PARSE_ERROR, string.format("Parse error: %s at byte %d", e, offset or 0))
  end
  local first = line:sub(s, s)
  if first == "[" then
    return self:fail(nil, INVALID_REQUEST, "Invalid Request: batches are not supported; send one message a line")
  elseif first ~= "{" then
    return self:fail(nil, INVALID_REQUEST, "Invalid Request: a message is a JSON object")
  end
  local spans = core.members(line, s, e, "jsonrpc", "id", "method", "params", "result", "error")
  local id = spans.id and line:sub(spans.id[1], spans.id[2])
  if id and not (id:match('^"') or id:match("^%-?%d+$")) then id = nil end
  for _, k in ipairs({ "jsonrpc", "id", "method", "params" }) do
    if spans[k] == false then
      return self:fail(nil, INVALID_REQUEST, "Invalid Request: member " .. k .. " appears twice")
    end
  end
  local decoded, msg = pcall(cjson.decode, line)
  if not decoded then return self:fail(nil, PARSE_ERROR, "Parse error: " .. tostring(msg)) end
  local is_request = spans.id ~= nil and spans.method ~= nil
  if msg.jsonrpc ~= "2.0" then
    if is_request or not spans.method then
      self:fail(id, INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"')
    end
    return
  end
  if spans.method == nil then
    if spans.id and (spans.result or spans.error) then return self:response(msg) end
    return self:fail(id, INVALID_REQUEST, "Invalid Request: no method")
  end
  if type(msg.method) ~= "string" then
    return self:fail(id, INVALID_REQUEST, "Invalid Request: method must be a string")
  end
  if not is_request then return self:notification(msg) end
  if not id then
    return self:fail(nil, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
  end
  local req = { id = id, key = msg.id, method = msg.method, line = line, params = {} }
  if not HANDLERS[req.method] then
    return self:fail(id, METHOD_NOT_FOUND, "Method not found: " .. req.method)
  end
  if spans.params then
    if line:sub(spans.params[1], spans.params[1]) ~= "{" then
      return self:fail(id, INVALID_PARAMS, "Invalid params: params must be an object")
    end
    req.params, req.ps, req.pe = msg.params, spans.params[1], spans.params[2]
  end
  if #self.queue > 0 then -- keep the order behind a call that waits for roots
    self.queue[#self.queue + 1] = req
    return
  end
  return self:request(req)
end

-- The era a request is served in: a modern version, the handshake's, or
-- nil before any (ping and server/discover only); or nil, code, message, data.
function Server:era(req)
  local meta = type(req.params._meta) == "table" and req.params._meta or {}
  local version = meta[META_VERSION]
  if version == nil then
    if self.legacy then return self.legacy end
    if req.method == "ping" or req.method == "server/discover" then return nil end
    return nil, INVALID_PARAMS, "Invalid params: no " .. META_VERSION .. " in params._meta, and no "
      .. "initialize before it: send initialize first (protocol 2025-11-25 and earlier), or the "
      .. "protocol version and client capabilities in params._meta (2026-07-28)"
  end
  if member(M.MODERN, version) then
    if type(meta[META_CAPS]) ~= "table" then
      return nil, INVALID_PARAMS, "Invalid params: no " .. META_CAPS .. " object in params._meta"
    end
    return version
  end
  if self.legacy and member(M.LEGACY, version) then return self.legacy end
  return nil, UNSUPPORTED_VERSION, "Unsupported protocol version",
    { supported = M.SUPPORTED, requested = tostring(version) }
end

function Server:request(req)
  local ok, err = xpcall(function()
    if req.method == "initialize" then return self:answer(req, nil, HANDLERS.initialize(self, req)) end
    local version, code, message, data = self:era(req)
    if code then return self:fail(req.id, code, message, data) end
    return self:answer(req, version, HANDLERS[req.method](self, req, version))
  end, debug.traceback)
  if not ok then
    self:fail(req.id, INTERNAL_ERROR, "Internal error: " .. tostring(err):match("^[^\n]*"))
    self:note(tostring(err))
  end
end

-- answer(req, version, result [, raw] | false (deferred) | nil, code, message, data)
function Server:answer(req, version, result, a, b, c)
  if result == false then return end
  if result == nil then return self:fail(req.id, a, b, c) end
  if req.method == "server/discover" or (version and features(version).modern) then
    result.resultType = "complete"
    result._meta = { [META_SERVER] = SERVER_INFO }
  end
  return self:reply(req.id, result, a)
end

function HANDLERS.initialize(self, req)
  local p = req.params
  if type(p.protocolVersion) ~= "string" then
    return nil, INVALID_PARAMS, "Invalid params: initialize needs params.protocolVersion"
  end
  local caps = type(p.capabilities) == "table" and p.capabilities or {}
  self.legacy = member(M.LEGACY, p.protocolVersion) and p.protocolVersion or M.LEGACY[1]
  self.client = type(p.clientInfo) == "table" and p.clientInfo or nil
  self.wants_roots = type(caps.roots) == "table"
  self.roots, self.pending = nil, nil
  return { protocolVersion = self.legacy, capabilities = CAPABILITIES, serverInfo = SERVER_INFO,
           instructions = INSTRUCTIONS }
end

function HANDLERS.ping()
  return {}
end

HANDLERS["server/discover"] = function()
  return { supportedVersions = M.SUPPORTED, capabilities = CAPABILITIES, instructions = INSTRUCTIONS,
           ttlMs = M.TTL_MS, cacheScope = "public" }
end

HANDLERS["tools/list"] = function(_, _, version)
  local f = features(version)
  local result = { tools = tools.definitions(f) }
  if f.modern then result.ttlMs, result.cacheScope = M.TTL_MS, "public" end
  return result
end

HANDLERS["tools/call"] = function(self, req, version)
  local name = req.params.name
  if type(name) ~= "string" then
    return nil, INVALID_PARAMS, "Invalid params: tools/call needs params.name"
  end
  local tool = tools.BY_NAME[name]
  if not tool then
    local names = {}
    for i, t in ipairs(tools.LIST) do names[i] = t.name end
    return nil, INVALID_PARAMS, "Unknown tool: " .. name .. " (tools: " .. table.concat(names, ", ") .. ")"
  end
  local line, s, e = req.line, nil, nil
  if req.ps then s, e = core.member(line, req.ps, req.pe, "arguments") end
  if s and line:sub(s, s) ~= "{" then
    return nil, INVALID_PARAMS, "Invalid params: arguments must be an object"
  end
  local f = features(version)
  local roots = not f.modern and self:roots_wanted() and not tools.names_state(line, s, e)
  if roots and self.roots == nil then -- wait for the client's roots
    if not self.pending then self:ask_roots() end
    self.queue[#self.queue + 1] = req
    return false
  end
  local answer, text, raw = tools.call(tool, line, s, e, function()
    if roots then return self:from_roots() end
    return self.state
  end)
  local result = { content = json.array { { type = "text", text = text },
                                          { type = "text", text = raw or json.encode(answer) } },
                   isError = answer.status ~= "success" }
  if f.structured then result.structuredContent = raw and RAW or answer end
  return result, raw
end

function Server:notification(msg)
  local method = msg.method
  if method == "notifications/initialized" then
    if self:roots_wanted() and self.roots == nil and not self.pending then self:ask_roots() end
  elseif method == "notifications/roots/list_changed" then
    if self:roots_wanted() then
      self.roots = nil
      self:ask_roots()
    end
  elseif method == "notifications/cancelled" then -- a queued call is dropped unanswered
    local id = type(msg.params) == "table" and msg.params.requestId
    for i, req in ipairs(self.queue) do
      if req.key == id then table.remove(self.queue, i) break end
    end
  end
end

-- --- the client's roots (handshake era) -----------------------------------------------

-- Roots are asked for only when they matter: no --state, no $TASKNUM_STATE,
-- and a client that offers them.
function Server:roots_wanted()
  local env = os.getenv("TASKNUM_STATE")
  return self.wants_roots and not self.state and (env == nil or env == "")
end

function Server:ask_roots()
  self.asked = self.asked + 1
  self.pending = "tasknum-roots-" .. self.asked
  self:send('{"jsonrpc":"2.0","id":"' .. self.pending .. '","method":"roots/list"}')
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function Server:response(msg)
  if not self.pending or msg.id ~= self.pending then return end
  self.pending, self.roots = nil, {}
  local list = type(msg.result) == "table" and msg.result.roots
  if type(list) ~= "table" then
    self:note("roots/list failed (", cjson.encode(msg.error or msg.result), "): using the working folder")
    self.wants_roots = false
  else
    for _, root in ipairs(list) do
      local path = type(root) == "table" and type(root.uri) == "string"
        and root.uri:match("^file://[^/]*(/.*)$")
      if path then self.roots[#self.roots + 1] = unescape(path) end
    end
    if #self.roots == 0 then self.wants_roots = false end
  end
  local queued = self.queue
  self.queue = {}
  for _, req in ipairs(queued) do self:request(req) end
end

-- from_roots() -> the one state the client's roots lead to; raises
-- STATE_NOT_FOUND when none does, INVALID_ARGUMENT when they lead to several.
function Server:from_roots()
  if not self.wants_roots then return nil end -- no roots given: the working folder
  local found, seen = {}, {}
  for _, dir in ipairs(self.roots) do
    local path = state.discover(dir)
    local real = path and (core.realpath(path) or path)
    if real and not seen[real] then
      seen[real] = true
      found[#found + 1] = path
    end
  end
  if #found == 1 then return found[1] end
  if #found == 0 then
    errors.raise("STATE_NOT_FOUND", "no state file found from the client's roots",
      "looked for .opencode/specs/state.json and specs/state.json from " .. table.concat(self.roots, ", ")
      .. " up to /; pass state, start the server with --state PATH or TASKNUM_STATE, or create one "
      .. "with `tasknum init`")
  end
  errors.raise("INVALID_ARGUMENT", "the client's roots lead to " .. #found .. " state files: "
    .. table.concat(found, ", ") .. "; pass state to say which")
end

-- --- the loop ---------------------------------------------------------------------

-- serve() -> exit status: 0 at the end of input, 128 + N after signal N
-- (SIGTERM, SIGINT: the call under way finishes or stops at a safe point
-- first, as on the CLI). While it serves, print, io.write and io.stdout
-- in Lua code it runs (a team's policy) write to stderr, so that stdout
-- carries protocol messages only.
function Server:serve()
  if self.output == io.stdout then
    local err = self.log
    _G.print = function(...)
      local t = table.pack(...)
      for i = 1, t.n do t[i] = tostring(t[i]) end
      err:write(table.concat(t, "\t", 1, t.n), "\n")
    end
    io.output(err)
    io.stdout = err
  end
  self:note("serving tasknum ", core.version, " on stdio (protocol ", M.MODERN[1], ", and ",
    table.concat(M.LEGACY, ", "), " after initialize)")
  while true do
    local line, why = self:read_line()
    if line == false then
      self:fail(nil, INVALID_REQUEST, string.format("Invalid Request: a message of %d bytes, over the "
        .. "limit of %d", why, M.MAX_LINE))
    elseif line then -- a request's own failures are answered in request(); this is the rest
      local ok, err = xpcall(self.handle, debug.traceback, self, line)
      if not ok then self:note("internal error, message dropped: ", tostring(err)) end
    end
    local sig = core.interrupted()
    if sig then
      self:note(errors.SIGNALS[sig] or ("signal " .. sig), ": stopping")
      return 128 + sig
    end
    if line == nil then
      if why ~= "eof" then
        self:note("cannot read stdin: ", tostring(why))
        return 74
      end
      if #self.queue > 0 then self:note(#self.queue, " queued call(s) dropped at the end of input") end
      return 0
    end
  end
end

-- serve(opts) -> exit status (see Server:serve)
function M.serve(opts)
  return M.new(opts):serve()
end

return M
