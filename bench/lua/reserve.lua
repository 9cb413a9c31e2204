-- Nuvio: POST /api/bookings/ with a rotating user token, a rotating JSON body
-- from the bodies file (one a line), and a fresh Idempotency-Key on every
-- request (BENCH_TAG keeps one scenario's keys apart from another's).
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "common"

local tokens, bodies, n
local tag = os.getenv("BENCH_TAG") or "r"

function init(args)
  tokens = lines(os.getenv("BENCH_TOKENS"))
  bodies = lines(os.getenv("BENCH_BODIES"))
  n = (thread_id or 1) * 7919
end

function request()
  count_request()
  n = n + 1
  local token = tokens[(n % #tokens) + 1]
  local body = bodies[(n % #bodies) + 1]
  return wrk.format("POST", "/api/bookings/", {
    ["Authorization"] = "Token " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. tag .. "-" .. thread_id .. "-" .. n .. "-" .. os.time(),
  }, body)
end
