"""`make bench`, near-cache part: what the near cache (decision 0022) costs writes and gives
cached reads. One release binary, embedded store with the Redis cache, twice: the near cache
on (the default) and off (`FIDO__CACHE__REDIS_NEAR_MAX_BYTES=0`). wrk runs creates and the
cached list, alternating the two instances round by round; medians and their ratios from the
same run. Writes target/bench/near.{json,md}. Never fails on a number.
Environment: REDIS_URL (default redis://127.0.0.1:6379), FIDO_BENCH_SECONDS (per run,
default 10), FIDO_BENCH_ROUNDS (5).
"""
import os
import pathlib
import random
import secrets
import shutil
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "5"))
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


def main():
    work = bench.prepare("near")
    rows, notes = [], [f"{os.cpu_count()} cores; wrk -t2 -c{bench.CONNECTIONS}, {bench.SECONDS} s per run, "
                       f"{ROUNDS} alternated rounds; embedded store, Redis cache at {REDIS}"]
    configs = {"on": {}, "off": {"FIDO__CACHE__REDIS_NEAR_MAX_BYTES": "0"}}
    services = {}
    try:
        for label, extra in configs.items():
            (work / label).mkdir()
            env = {"REDIS_URL": REDIS, "FIDO__CACHE__REDIS_KEY_PREFIX": f"fido_bench_near_{secrets.token_hex(4)}", **extra}
            _, port, _ = bench.start_service(work / label, env, f"near-{label}")
            user = "%024x" % secrets.randbits(96)
            random.seed(7)  # the same data in both
            bench.seed(port, [user], 1000, user, 0)
            # Creates go to a user of their own, so the listed user stays as seeded.
            users = work / label / "users.txt"
            users.write_text("%024x\n" % secrets.randbits(96))
            services[label] = (port, user, users)
        results = {(m, l): [] for m in ("creates", "cached list") for l in services}
        for r in range(ROUNDS):
            for label in (list(services) if r % 2 == 0 else list(reversed(services))):
                port, user, users = services[label]
                path = f"/api/v1/transactions/user/{user}"
                results[("creates", label)].append(
                    bench.wrk(port, "/", "create.lua", {"FIDO_BENCH_USERS": str(users)})["rps"])
                bench.Client(port).request("GET", path)  # warm again after the creates
                results[("cached list", label)].append(bench.wrk(port, path, "get.lua", {})["rps"])
        for measure in ("creates", "cached list"):
            on, off = statistics.median(results[(measure, "on")]), statistics.median(results[(measure, "off")])
            ratio = on / off if off else 0.0
            print(f"  {measure:<12} near cache on {on:>9,.0f}/s  off {off:>9,.0f}/s  {ratio:.1%}", flush=True)
            rows.append({"measure": f"{measure}: near cache on / off (medians)", "value": f"{ratio:.1%}",
                         "detail": f"on {on:,.0f}/s, off {off:,.0f}/s; runs on {results[(measure, 'on')]}, "
                                   f"off {results[(measure, 'off')]}",
                         "target": "stated", "met": True})
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
        if sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)
    bench.write_report("near", notes, rows)


if __name__ == "__main__":
    main()
