-- format-env.lua: an output format that prints shell assignments, for
--   eval "$(tasknum allocate --format env)"; echo "$TASK_NUMBER"
-- Install it: cp format-env.lua .opencode/tasknum/format/env.lua
-- A failure prints nothing (the exit status and stderr tell what failed).
return function(result)
  if result.status ~= "success" then return "" end
  local numbers = {}
  for i, n in ipairs(result.allocated_numbers) do numbers[i] = tostring(n) end
  return string.format("TASK_NUMBER=%s\nTASK_NUMBERS='%s'\n", numbers[1], table.concat(numbers, " "))
end
