-- GET a rotating list of paths (BENCH_PATHS file); with BENCH_NONCE set, a
-- unique query parameter makes every request miss any cache.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "common"

local paths, n
local nonce = os.getenv("BENCH_NONCE")

function init(args)
  paths = lines(os.getenv("BENCH_PATHS"))
  n = (thread_id or 1) * 7919
end

function request()
  count_request()
  n = n + 1
  local path = paths[(n % #paths) + 1]
  if nonce then
    local sep = string.find(path, "?", 1, true) and "&" or "?"
    path = path .. sep .. "nonce=" .. thread_id .. "-" .. n
  end
  return wrk.format("GET", path)
end
