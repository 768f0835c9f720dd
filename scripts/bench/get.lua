-- A fixed GET with the API key (the path comes from the command line).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FIDO_BENCH_KEY")
