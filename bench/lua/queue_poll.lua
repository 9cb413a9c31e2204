-- Nuvio: GET an event's waiting-room place (BENCH_PATH) as a rotating user
-- (BENCH_TOKENS, each of whom joined that queue), as a waiting buyer polls.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "common"

local tokens, n
local path = os.getenv("BENCH_PATH")

function init(args)
  tokens = lines(os.getenv("BENCH_TOKENS"))
  n = (thread_id or 1) * 7919
end

function request()
  count_request()
  n = n + 1
  return wrk.format("GET", path, {["Authorization"] = "Token " .. tokens[(n % #tokens) + 1]})
end
