-- mcp.lua: `tasknum mcp [--state PATH]`, a Model Context Protocol server on
-- stdio with the tools allocate, add_task, status and check (see
-- tasknum.mcp). --state names the state for calls that give none. Runs
-- until the end of its input; exits 0 then, 128 + N after signal N, 64 on
-- bad arguments (said on stderr: stdout is for protocol messages only).
local cli = require "tasknum.cli"
local command = cli.command {
  summary = "an MCP server on stdio (tools allocate, add_task, status, check)",
  options = {
    { "--state", "string", "PATH", "the state for calls that name none", complete = "file" },
  },
  text = [[
Newline-delimited JSON-RPC 2.0 on stdin and stdout, as the MCP SDKs speak it; stdout carries protocol messages only. Runs until the end of its input. Register it with an agent as the command `tasknum mcp`.]],
  exits = { { 0, "the input ended" }, { 64, "bad arguments (said on stderr)" },
    { "130, 143", "SIGINT or SIGTERM stopped it, after the call in progress" } },
}
local mcp = require "tasknum.mcp"

local ok, opts, rest = pcall(cli.parse, { ... }, command)
if not ok and cli.is_done(opts) then error(opts, 0) end -- --help
if ok and #rest > 0 then ok, opts = false, "unexpected argument " .. rest[1] end
if not ok then
  io.stderr:write("tasknum mcp: ", tostring(type(opts) == "table" and opts.message or opts),
    "\nusage: tasknum mcp [--state PATH]\n")
  return 64
end
return mcp.serve({ state = opts.state })
