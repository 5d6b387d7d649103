-- tasknum.authority.remote (internal): what the remote authorities (git,
-- postgresql) share: keeping passwords out of every text they give.
local M = {}

-- redact(text [, secret]) -> text with the password secret (when known)
-- replaced by ***, and so any user:password@ of a URI, ?password=... of a
-- URI query, and password=... of a keyword/value connection string.
function M.redact(s, secret)
  s = tostring(s or "")
  if secret and secret ~= "" then
    local i = 1
    while true do
      local a, b = s:find(secret, i, true)
      if not a then break end
      s = s:sub(1, a - 1) .. "***" .. s:sub(b + 1)
      i = a + 3
    end
  end
  s = s:gsub("(%a[%w+.-]*://[^/@:%s]*):[^/@%s]*@", "%1:***@")
  s = s:gsub("([?&]password=)[^&%s]*", "%1***")
  s = s:gsub("(password%s*=%s*)'[^']*'", "%1***"):gsub("(password%s*=%s*)[^%s']+", "%1***")
  return s
end

-- secret(url) -> the password of a URL's user:password@, or nil
function M.secret(url)
  return tostring(url or ""):match("^%a[%w+.-]*://[^/@:]*:([^/@]*)@")
end

return M
