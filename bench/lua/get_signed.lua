-- GET a rotating list of paths (BENCH_PATHS file), as get.lua does; a line may
-- add a tab and an API token, sent as "Authorization: Token <token>" (a
-- signed-in reader). With BENCH_NONCE set, a unique query parameter makes
-- every request miss any cache.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "common"

local paths, tokens, n
local nonce = os.getenv("BENCH_NONCE")

function init(args)
  paths, tokens = {}, {}
  for _, line in ipairs(lines(os.getenv("BENCH_PATHS"))) do
    local path, token = string.match(line, "^([^\t]+)\t(.+)$")
    table.insert(paths, path or line)
    table.insert(tokens, token or false)
  end
  n = (thread_id or 1) * 7919
end

function request()
  count_request()
  n = n + 1
  local index = (n % #paths) + 1
  local path = paths[index]
  if nonce then
    local sep = string.find(path, "?", 1, true) and "&" or "?"
    path = path .. sep .. "nonce=" .. thread_id .. "-" .. n
  end
  local headers = {}
  if tokens[index] then
    headers["Authorization"] = "Token " .. tokens[index]
  end
  return wrk.format("GET", path, headers)
end
