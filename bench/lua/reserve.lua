-- Nuvio: POST /api/bookings/ with a rotating user token, a rotating event from
-- the events file, 1 ticket, and a fresh Idempotency-Key on every request.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "common"

local tokens, events, n

function init(args)
  tokens = lines(os.getenv("BENCH_TOKENS"))
  events = lines(os.getenv("BENCH_EVENTS"))
  n = (thread_id or 1) * 7919
end

function request()
  count_request()
  n = n + 1
  local token = tokens[(n % #tokens) + 1]
  local event = events[(n % #events) + 1]
  local body = '{"event": "' .. event .. '", "quantity": 1}'
  return wrk.format("POST", "/api/bookings/", {
    ["Authorization"] = "Token " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. thread_id .. "-" .. n .. "-" .. os.time(),
  }, body)
end
