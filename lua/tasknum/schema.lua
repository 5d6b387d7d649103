-- tasknum.schema (internal): the shape of an answer, for tools that
-- describe it (the MCP tools' output schemas), and a failure in words.
-- tasknum.answer hands its describe, schema and explain on to here, so that
-- a command that describes nothing does not load them.
local errors = require "tasknum.errors"
local json = require "tasknum.json"

local M = {}

local function merge(r, fields)
  for k, v in pairs(fields or {}) do r[k] = v end
  return r
end

local function codes()
  local list = {}
  for code in pairs(errors.exit) do list[#list + 1] = code end
  table.sort(list)
  return json.array(list)
end

-- describe(type, description [, extra]) -> a JSON Schema for one value
function M.describe(kind, description, extra)
  return merge({ type = kind, description = description }, extra)
end
local t = M.describe

-- What every answer may carry, success or failure, with more (the keys of
-- one kind of answer) added.
local function properties(more)
  return merge({
    status = t("string", '"success", or "error"', { enum = json.array { "success", "error" } }),
    timestamp = t("string", "when the answer was made, UTC with milliseconds"),
    state_path = t("string", "the absolute path of the state file used"),
    purpose = t("string", "the purpose given"),
    lock_acquired = t("boolean", "whether the state lock was taken"),
    lock_wait_ms = t("number", "time spent waiting for the lock"),
    lock_duration_ms = t("number", "time the lock had been held when the answer was decided"),
    error = t("object", "on failure: code, message, details, and structured fields such as "
      .. "conflicts (NUMBER_CONFLICT), holder (LOCK_TIMEOUT) or problems (check)", {
        properties = { code = { type = "string", enum = codes() }, message = { type = "string" },
                       details = { type = "string" } },
        required = json.array { "code", "message" } }),
    error_code = t("string", "on failure: what went wrong, one of the codes of the tasknum CLI",
      { enum = codes() }),
    error_message = t("string", "on failure: one line saying what went wrong"),
    retry_suggested = t("boolean", "on failure: true when calling again (after a few seconds) may succeed; "
      .. "false when something must be fixed first"),
    authority = t("object", "where the numbering lives: kind (file, worktrees, dir, git, postgresql) and where"),
    counter_adjusted = t("object", "the state's counter was behind the numbering's mark (a checkout, reset or "
      .. "merge took it back): from (the counter the file held), to (where it continued), reason"),
  }, more)
end

-- schema(more, success) -> the JSON Schema of an answer: the keys in more
-- besides the common ones, success (a list) required of a success, the
-- failure keys of every failure. Teams' policies may add keys.
function M.schema(more, success)
  return {
    type = "object",
    properties = properties(more),
    required = json.array { "status" },
    ["if"] = { properties = { status = { const = "success" } } },
    ["then"] = { required = json.array(success) },
    ["else"] = { required = json.array { "error", "error_code", "error_message", "retry_suggested" } },
  }
end

-- explain(r) -> a failure in words for people and models: the code and
-- message, the details, and whether to call again
function M.explain(r)
  local text = string.format("%s: %s", tostring(r.error_code), tostring(r.error_message))
  if type(r.error) == "table" and type(r.error.details) == "string" then
    text = text .. "\n" .. r.error.details
  end
  return text .. (r.retry_suggested and "\nretry_suggested: true (wait a few seconds and call again)"
    or "\nretry_suggested: false (calling again will not help until this is fixed; nothing was written)")
end

return M
