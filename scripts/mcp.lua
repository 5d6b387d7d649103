-- mcp.lua: `tasknum mcp [--state PATH]`, a Model Context Protocol server on
-- stdio with the tools allocate, add_task, status and check (see
-- tasknum.mcp). --state names the state for calls that give none. Runs
-- until the end of its input; exits 0 then, 128 + N after signal N, 64 on
-- bad arguments (said on stderr: stdout is for protocol messages only).
local cli = require "tasknum.cli"
local mcp = require "tasknum.mcp"

local ok, opts, rest = pcall(cli.parse, { ... }, { ["--state"] = { "state", "string" } })
if ok and #rest > 0 then ok, opts = false, "unexpected argument " .. rest[1] end
if not ok then
  io.stderr:write("tasknum mcp: ", tostring(type(opts) == "table" and opts.message or opts),
    "\nusage: tasknum mcp [--state PATH]\n")
  return 64
end
return mcp.serve({ state = opts.state })
