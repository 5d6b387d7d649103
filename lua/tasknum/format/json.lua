-- tasknum.format.json: the default answer, one line of JSON.
local answer = require "tasknum.answer"

return function(result)
  return answer.encode(result) .. "\n"
end
