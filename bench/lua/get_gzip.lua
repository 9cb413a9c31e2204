-- get.lua's requests with the Accept-Encoding a browser sends.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
require "get"

wrk.headers["Accept-Encoding"] = "gzip, deflate, br, zstd"
