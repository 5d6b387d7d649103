#!/usr/bin/env lua5.4
-- gen_state.lua: writes a state.json shaped like the .opencode/specs
-- state files that agents keep (next_project_number near the top, a
-- project_numbering block, active_projects, completed_projects, ...), with
-- the details that catch a careless writer: floats written 8.0, unescaped
-- "a/b" paths, non-ASCII text, microsecond timestamps, _comment members.
--
--   lua5.4 gen_state.lua OUT [--size BYTES | --projects N] [--next N]
--                            [--min A] [--max B] [--base N]
--
-- --projects N   active projects (default 30: about 40 KB in all)
-- --size BYTES   instead: add active projects until the file has BYTES
-- --base N       first active project number (default: the middle of the
--                range), so a benchmark allocating from --next upwards never
--                meets an active number
-- Deterministic: the same arguments give the same bytes.

local out = arg[1]
if not out or out:sub(1, 2) == "--" then
  io.stderr:write("usage: gen_state.lua OUT [--size BYTES | --projects N] [--next N] [--min A] [--max B] [--base N]\n")
  os.exit(64)
end
local opt = { projects = nil, size = nil, next = 0, min = 0, max = 999999, base = nil }
local i = 2
while i <= #arg do
  local k = arg[i]:match("^%-%-(%w+)$")
  local known = { projects = true, size = true, next = true, min = true, max = true, base = true }
  if not k or not known[k] or not arg[i + 1] then
    io.stderr:write("gen_state.lua: unknown option " .. arg[i] .. "\n")
    os.exit(64)
  end
  opt[k] = math.tointeger(tonumber(arg[i + 1]))
  i = i + 2
end
if not opt.projects and not opt.size then opt.projects = 30 end
opt.base = opt.base or (opt.min + (opt.max - opt.min + 1) // 2)

-- A small deterministic generator (LCG) for varied but repeatable text.
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end
local verbs = { "fix", "add", "refactor", "document", "research", "port", "split", "audit", "speed_up", "remove" }
local things = { "lean_subagents", "divide_flag", "review_command", "todo_sync", "parser", "state_schema",
  "integration_helpers", "proof_search", "lock_protocol", "archive_step", "task_numbering", "modal_logic" }
local statuses = { "not_started", "researched", "planned", "in_progress", "completed", "blocked" }
local langs = { "lean", "markdown", "python", "shell", "lua" }
local notes = {
  "Fix /review command to create the completed task entry in TODO.md with a link to the summary",
  "Café-grade notes: naïve résumé of the Kripke semantics — ∀w ∈ W, □φ → φ",
  "Split the parser work so two agents can proceed in parallel (see specs/a/b)",
  "Keep \\\"quoted\\\" words and a tab\\t escape exactly as written",
}

local function q(s) return '"' .. s .. '"' end

local function project(num, ind)
  local name = verbs[rnd(#verbs)] .. "_" .. things[rnd(#things)] .. "_" .. num
  local day = string.format("2025-12-%02d", rnd(28))
  local p = ind .. "  "
  local dir = ".opencode/specs/" .. num .. "_" .. name
  local lines = {
    p .. q("project_number") .. ": " .. num,
    p .. q("project_name") .. ": " .. q(name),
    p .. q("type") .. ": " .. q(rnd(2) == 1 and "feature" or "bugfix"),
    p .. q("phase") .. ": " .. q("implementation_" .. statuses[rnd(#statuses)]),
    p .. q("status") .. ": " .. q(statuses[rnd(#statuses)]),
    p .. q("priority") .. ": " .. q(({ "low", "medium", "high" })[rnd(3)]),
    p .. q("language") .. ": " .. q(langs[rnd(#langs)]),
    p .. q("created") .. ": " .. q(day .. "T00:00:00Z"),
    p .. q("started") .. ": " .. q(day),
    p .. q("last_updated") .. ": " .. q(day .. string.format("T%02d:%02d:%02d.%06dZ", rnd(24) - 1, rnd(60) - 1, rnd(60) - 1, rnd(999999))),
    p .. q("estimated_hours") .. ": " .. ({ "8.0", "2.5", "1", "12.0" })[rnd(4)],
    p .. q("artifacts") .. ": [\n" .. table.concat({
      p .. "  " .. q(dir .. "/reports/research-001.md"),
      p .. "  " .. q(dir .. "/plans/implementation-001.md"),
      p .. "  " .. q(dir .. "/summaries/implementation-summary-20251228.md"),
      p .. "  " .. q("Logos/Core/" .. things[rnd(#things)] .. ".lean"),
    }, ",\n") .. "\n" .. p .. "]",
    p .. q("plan_metadata") .. ": {\n" .. table.concat({
      p .. "  " .. q("phase_count") .. ": " .. rnd(6),
      p .. "  " .. q("estimated_hours") .. ": " .. rnd(9) .. ".0",
      p .. "  " .. q("complexity") .. ": " .. q(({ "simple", "moderate", "complex" })[rnd(3)]),
    }, ",\n") .. "\n" .. p .. "}",
    p .. q("files_modified") .. ": [" .. q("Logos/Core/" .. things[rnd(#things)] .. ".lean") .. ", " .. q("LogosTest/Core/Integration/" .. things[rnd(#things)] .. "_test.lean") .. "]",
    p .. q("dependencies") .. ": [" .. (num - 1) .. ", " .. (num - 2) .. "]",
    p .. q("summary") .. ": " .. q(notes[rnd(#notes)]),
  }
  return ind .. "{\n" .. table.concat(lines, ",\n") .. "\n" .. ind .. "}"
end

local head = table.concat({
  "{",
  '  "_schema_version": "1.1.0",',
  '  "_comment": "Main state tracking file for the .opencode system. Generated by bench/gen_state.lua for make bench.",',
  '  "_last_updated": "2025-12-29T05:34:54.123456Z",',
  '  "next_project_number": ' .. opt.next .. ",",
  '  "project_numbering": {',
  '    "min": ' .. opt.min .. ",",
  '    "max": ' .. opt.max .. ",",
  '    "policy": "increment_modulo",',
  '    "_comment": "Project numbers wrap around to min after max. Ensure old projects are archived before reuse."',
  "  },",
  '  "state_references": {',
  '    "archive_state_path": ".opencode/specs/archive/state.json",',
  '    "maintenance_state_path": ".opencode/specs/maintenance/state.json"',
  "  },",
  '  "active_projects": [',
}, "\n") .. "\n"

local tail_parts = {}
do
  local completed = {}
  for c = 1, 4 do
    completed[#completed + 1] = project(math.max(opt.min, opt.base - 100 + c), "    ")
  end
  tail_parts[#tail_parts + 1] = '  "completed_projects": [\n' .. table.concat(completed, ",\n") .. "\n  ],\n"
  tail_parts[#tail_parts + 1] = table.concat({
    '  "repository_health": {',
    '    "overall_score": 92.0,',
    '    "test_pass_rate": 0.985,',
    '    "health_trend": "stable_excellent",',
    '    "last_assessed": "2025-12-27T00:00:00Z"',
    "  },",
    '  "schema_info": {',
    '    "version": "1.0.0",',
    '    "backward_compatible": true,',
    '    "extensible": true,',
    '    "self_healing_enabled": false,',
    '    "_comment": "New fields are additive and optional."',
    "  }",
    "}",
  }, "\n") .. "\n"
end
local tail = table.concat(tail_parts)

local parts, size, n = { head }, #head + #tail, 0
while true do
  if opt.projects and n >= opt.projects then break end
  if opt.size and n > 0 and size >= opt.size then break end
  local num = opt.base + n
  if num > opt.max then
    io.stderr:write("gen_state.lua: too many projects for the range\n")
    os.exit(64)
  end
  local p = project(num, "    ")
  if n > 0 then p = ",\n" .. p end
  parts[#parts + 1] = p
  size = size + #p
  n = n + 1
end
parts[#parts + 1] = "\n  ],\n"
parts[#parts + 1] = tail

local f = assert(io.open(out, "wb"))
f:write(table.concat(parts))
f:close()
io.stderr:write(string.format("gen_state.lua: %s: %d active projects (%d..%d)\n", out, n, opt.base, opt.base + n - 1))
