-- tasknum.format.todo: the TODO.md heading line of each new task, as the
-- agent systems' /task command writes it ("### 82. Fix parser bug"), for
-- an agent to paste under "## Tasks". The title is the answer's title, or
-- the project_name with its underscores made spaces and the first letter
-- capitalised (the /task command's slug expansion); an allocation without
-- a name prints the bare heading "### 82.". A task that add-task
-- --if-absent found already there gets its heading. A failure prints nothing.
local function title_of(result)
  local t = result.title
  if type(t) ~= "string" and type(result.project_name) == "string" then
    t = result.project_name:gsub("_", " "):gsub("^%l", string.upper)
  end
  return type(t) == "string" and require("tasknum.text").printable((t:gsub("[\r\n]+", " "))) or nil
end

return function(result)
  if result.status ~= "success" then return "" end
  local title = title_of(result)
  local out = {}
  local numbers = result.existing and { result.project_number } or result.allocated_numbers or {}
  for i, n in ipairs(numbers) do
    out[i] = string.format("### %d.", n) .. (title and " " .. title or "") .. "\n"
  end
  return table.concat(out)
end
