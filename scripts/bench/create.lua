-- POST /api/v1/transactions for the seeded users, random amounts and types.
local users = {}
for line in io.lines(os.getenv("FIDO_BENCH_USERS")) do users[#users + 1] = line end
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FIDO_BENCH_KEY")
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time())
request = function()
  local body = string.format(
    '{"user_id":"%s","full_name":"Bench Customer %d","transaction_amount":%d.%02d,"transaction_type":"%s"}',
    users[math.random(#users)], math.random(100000), math.random(0, 99999), math.random(0, 99),
    (math.random(2) == 1) and "credit" or "debit")
  return wrk.format(nil, "/api/v1/transactions", nil, body)
end
