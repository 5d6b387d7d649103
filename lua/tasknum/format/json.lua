-- tasknum.format.json: the default answer, one line of JSON: the answer's
-- own rendering (tasknum.answer.json).
return require("tasknum.answer").json
