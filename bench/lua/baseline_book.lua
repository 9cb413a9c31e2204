-- Baseline: POST /book/<id>/ on a rotating event id from the events file.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "common"

local events, n

function init(args)
  events = lines(os.getenv("BENCH_EVENTS"))
  n = (thread_id or 1) * 7919
end

function request()
  count_request()
  n = n + 1
  local event = events[(n % #events) + 1]
  return wrk.format("POST", "/book/" .. event .. "/", {["Content-Type"] = "application/json"},
    '{"quantity": 1, "user": ' .. n .. '}')
end
