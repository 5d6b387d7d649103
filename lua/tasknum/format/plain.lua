-- tasknum.format.plain: the numbers separated by single spaces, for
-- n=$(tasknum allocate --format plain). A failure prints nothing on stdout
-- (the reason goes to stderr and the exit status tells the code).
return function(result)
  if result.status ~= "success" then return "" end
  local out = {}
  for i, n in ipairs(result.allocated_numbers or {}) do out[i] = tostring(n) end
  return table.concat(out, " ") .. "\n"
end
