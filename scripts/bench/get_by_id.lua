-- GET /api/v1/transactions/{id} for random ids from the seeded set.
local ids = {}
for line in io.lines(os.getenv("FIDO_BENCH_IDS")) do ids[#ids + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FIDO_BENCH_KEY")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/transactions/" .. ids[math.random(#ids)])
end
