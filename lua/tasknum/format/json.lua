-- tasknum.format.json: the default answer, one line of JSON.
local json = require "tasknum.json"

return function(result)
  return json.encode(result) .. "\n"
end
