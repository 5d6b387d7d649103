-- tasknum.format.plain: the numbers separated by single spaces, for
-- n=$(tasknum allocate --format plain). A failure prints nothing on stdout
-- (the reason goes to stderr and the exit status tells the code). A task
-- that add-task --if-absent found already there prints its number.
return function(result)
  if result.status ~= "success" then return "" end
  local out = {}
  local numbers = result.existing and { result.project_number } or result.allocated_numbers or {}
  for i, n in ipairs(numbers) do out[i] = tostring(n) end
  return table.concat(out, " ") .. "\n"
end
