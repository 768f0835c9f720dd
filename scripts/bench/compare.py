"""`make bench-compare BASE=<rev>`: measured paths of two builds, side by side.

Runs two release binaries of the service (the base revision's and this tree's) on the
embedded default, seeds the same user into each, then measures cached list and cached
statistics throughput with wrk, alternating the two binaries round by round so that
machine noise falls on both alike. Prints medians and the ratio of the medians. Used to
show that a change keeps a measured path within a tolerance of before.

`FIDO_COMPARE=writes` measures instead: creates (wrk, 32 connections) and the cold
statistics of a user with `FIDO_BENCH_BIG_USER` transactions (cache disabled), reporting
the median latency of a single client's reads.

Usage: compare.py BASE_BINARY NEW_BINARY (scripts/bench-compare.sh builds them).
"""
import pathlib
import random
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402  (the harness's service, seeding and wrk helpers)

ROUNDS = int(bench.os.environ.get("FIDO_BENCH_ROUNDS", "5"))
MODE = bench.os.environ.get("FIDO_COMPARE", "reads")


def cold_statistics_ms(port, user, seconds=3):
    """Median latency of one connection's cold statistics reads (the cache is disabled),
    measured by wrk (one thread, one connection)."""
    saved = bench.CONNECTIONS
    bench.CONNECTIONS = 1
    try:
        result = bench.wrk(port, f"/api/v1/analytics/transactions/{user}", "get.lua", {}, seconds)
    finally:
        bench.CONNECTIONS = saved
    assert result["errors"] == 0, result
    return result["p50_ms"]


def writes(base, new):
    """Creates per second, and cold statistics of a big and a small user, per binary."""
    big = bench.BIG
    results = {}
    for label, binary in (("base", base), ("new", new)):
        work = pathlib.Path(tempfile.mkdtemp(prefix=f"fido-compare-{label}-"))
        proc, port, _ = bench.start_service(work, {"FIDO__CACHE__ENABLED": "false"}, label, binary)
        small, large = "%024x" % random.getrandbits(96), "%024x" % random.getrandbits(96)
        random.seed(11)
        _, took = bench.seed(port, [small], 1000, large, big)
        print(f"  {label}: seeded {1000 + big:,} transactions in {took:.0f} s", flush=True)
        # Creates go to a user of their own, so the measured users stay as seeded.
        users = work / "users.txt"
        users.write_text("%024x\n" % random.getrandbits(96))
        results[label] = {"proc": proc, "port": port, "work": work, "users": users,
                          "small": small, "large": large}
    rows = {"creates/s": [], "cold statistics, small (ms)": [], f"cold statistics, {big:,} (ms)": []}
    per = {(k, l): [] for k in rows for l in results}
    try:
        for r in range(ROUNDS):
            order = list(results) if r % 2 == 0 else list(reversed(results))
            for label in order:
                svc = results[label]
                rps = bench.wrk(svc["port"], "/", "create.lua", {"FIDO_BENCH_USERS": str(svc["users"])})["rps"]
                per[("creates/s", label)].append(rps)
                per[("cold statistics, small (ms)", label)].append(cold_statistics_ms(svc["port"], svc["small"]))
                per[(f"cold statistics, {big:,} (ms)", label)].append(cold_statistics_ms(svc["port"], svc["large"]))
                print(f"  round {r + 1} {label:<4} creates {rps:,.0f}/s", flush=True)
        print(f"\n{ROUNDS} rounds, alternating; cache disabled")
        print(f"{'measure':<34}{'base median':>14}{'new median':>14}{'new/base':>10}")
        for name in rows:
            b = statistics.median(per[(name, "base")])
            n = statistics.median(per[(name, "new")])
            print(f"{name:<34}{b:>14,.2f}{n:>14,.2f}{n / b:>10.1%}")
    finally:
        for svc in results.values():
            bench.stop(svc["proc"])
            shutil.rmtree(svc["work"], ignore_errors=True)


def main():
    base, new = (pathlib.Path(p).resolve() for p in sys.argv[1:3])
    for b in (base, new):
        if not b.is_file():
            sys.exit(f"{b} is missing")
    if MODE == "writes":
        return writes(base, new)
    user = "%024x" % random.getrandbits(96)
    services = {}
    try:
        for label, binary in (("base", base), ("new", new)):
            work = pathlib.Path(tempfile.mkdtemp(prefix=f"fido-compare-{label}-"))
            proc, port, _ = bench.start_service(work, {}, label, binary)
            random.seed(7)  # the same data in both
            bench.seed(port, [user], 1000, user, 0)
            client = bench.Client(port)
            for path in (f"/api/v1/transactions/user/{user}", f"/api/v1/analytics/transactions/{user}"):
                client.request("GET", path)  # warm the cache
            services[label] = (proc, port, work)
        paths = {"cached list": f"/api/v1/transactions/user/{user}",
                 "cached statistics": f"/api/v1/analytics/transactions/{user}"}
        results = {(name, label): [] for name in paths for label in services}
        for r in range(ROUNDS):
            order = list(services) if r % 2 == 0 else list(reversed(services))
            for name, path in paths.items():
                for label in order:
                    rps = bench.wrk(services[label][1], path, "get.lua", {})["rps"]
                    results[(name, label)].append(rps)
                    print(f"  round {r + 1} {name:<18} {label:<4} {rps:>10,.0f}/s", flush=True)
        print(f"\n{ROUNDS} rounds of {bench.SECONDS} s, wrk -t2 -c{bench.CONNECTIONS}, alternating")
        print(f"{'path':<20}{'base median':>14}{'new median':>14}{'new/base':>10}")
        for name in paths:
            b = statistics.median(results[(name, "base")])
            n = statistics.median(results[(name, "new")])
            print(f"{name:<20}{b:>12,.0f}/s{n:>12,.0f}/s{n / b:>10.1%}")
    finally:
        for proc, _, work in services.values():
            bench.stop(proc)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
