-- spec/support/cli_alloc.lua: `tasknum allocate` (the real CLI) run by many
-- processes at once against the remote authorities, and the checks every
-- such run shares: the answers, the numbers, the states they left.
local H = require "spec_helper"
local assert = require "luassert"

local M = {}

-- loop(job) -> a shell command that runs `tasknum allocate` job.n times in
-- a row, printing each answer line and then "#rc N" (its exit status).
-- job: {state, n, authority?, args? (more words), env? (NAME=value words)}
function M.loop(job)
  local words = { H.q(H.bin), "allocate", "--state", H.q(job.state) }
  if job.authority then words[#words + 1] = "--authority " .. H.q(job.authority) end
  for _, a in ipairs(job.args or {}) do words[#words + 1] = H.q(a) end
  return "for i in $(seq " .. job.n .. "); do " .. (job.env or "") .. " " .. table.concat(words, " ")
    .. " 2>/dev/null; echo \"#rc $?\"; done"
end

-- parse(text, job) -> answers: each decoded answer with .rc (exit status)
-- and .job (the job's index)
function M.parse(text, index)
  local cjson = require "cjson"
  local list, pending = {}, nil
  for line in (text or ""):gmatch("[^\n]+") do
    local rc = line:match("^#rc (%d+)$")
    if rc then
      local r = pending or { status = "none" }
      r.rc, r.job, pending = tonumber(rc), index, nil
      list[#list + 1] = r
    else
      local ok, r = pcall(cjson.decode, line)
      pending = ok and type(r) == "table" and r or { status = "garbage", text = line }
    end
  end
  return list
end

-- parallel(jobs, dir) -> every answer of every job, all jobs started at once
function M.parallel(jobs, dir)
  local cmd = ""
  for i, j in ipairs(jobs) do
    cmd = cmd .. "( " .. M.loop(j) .. " ) > " .. H.q(dir .. "/answers" .. i) .. " & "
  end
  os.execute(cmd .. "wait")
  local all = {}
  for i = 1, #jobs do
    for _, r in ipairs(M.parse(H.read(dir .. "/answers" .. i), i)) do all[#all + 1] = r end
  end
  return all
end

-- numbers(answers) -> every number the successes handed out, and the
-- failures (anything else)
function M.numbers(answers)
  local nums, failures = {}, {}
  for _, r in ipairs(answers) do
    if r.status == "success" and r.rc == 0 then
      for _, n in ipairs(r.allocated_numbers) do nums[#nums + 1] = n end
    else
      failures[#failures + 1] = r
    end
  end
  return nums, failures
end

M.assert_unique = require("support.alloc").assert_unique

-- assert_failure(r, where): a failure the remote authorities may give: exit
-- 76, AUTHORITY_UNAVAILABLE, retry suggested, details naming what was
-- tried (where, when given)
function M.assert_unavailable(r, where)
  assert.are.equal(76, r.rc, "exit status of " .. require("cjson").encode(r))
  assert.are.equal("AUTHORITY_UNAVAILABLE", r.error_code)
  assert.is_true(r.retry_suggested)
  assert.are.equal("string", type(r.error.details))
  if where then
    assert(r.error.details:find(where, 1, true), "details do not name " .. where .. ": " .. r.error.details)
  end
end

-- counter(state) -> the state's next_project_number
function M.counter(state)
  return math.tointeger(tonumber(H.read(state):match('"next_project_number"%s*:%s*(%-?%d+)')))
end

-- assert_agrees(state, answers): the state holds what its successful
-- answers said: its counter is past every number they handed out, and it is
-- the last answer's new_next_number (no wrap: the largest)
function M.assert_agrees(state, answers)
  local top
  for _, r in ipairs(answers) do
    if r.status == "success" and r.rc == 0 and #r.allocated_numbers > 0 then
      top = math.max(top or r.new_next_number, r.new_next_number)
    end
  end
  if top then assert.are.equal(top, M.counter(state), state .. " disagrees with its answers") end
end

-- of_job(answers, i) -> the answers of job i
function M.of_job(answers, i)
  local list = {}
  for _, r in ipairs(answers) do if r.job == i then list[#list + 1] = r end end
  return list
end

-- leftovers(folder) -> names there that are neither the state, its lock
-- file, its audit log nor a .gitignore: temp files, lock folders, backups
function M.leftovers(folder)
  local out = {}
  for name in H.sh("ls -A " .. H.q(folder)):gmatch("[^\n]+") do
    if not (name == "state.json" or name == ".state.json.lock" or name:match("audit")
        or name == ".gitignore" or name:match("^%.state%.json%.numbering%.")) then
      out[#out + 1] = name
    end
  end
  return table.concat(out, " ")
end

return M
