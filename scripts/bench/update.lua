-- PATCH /api/v1/transactions/{id}: a new amount for a random seeded id.
local ids = {}
for line in io.lines(os.getenv("FIDO_BENCH_IDS")) do ids[#ids + 1] = line end
wrk.method = "PATCH"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FIDO_BENCH_KEY")
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time())
request = function()
  local body = string.format('{"transaction_amount":%d.%02d}', math.random(0, 99999), math.random(0, 99))
  return wrk.format(nil, "/api/v1/transactions/" .. ids[math.random(#ids)], nil, body)
end
