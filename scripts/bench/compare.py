"""`make bench-compare BASE=<rev>`: the cached read paths of two builds, side by side.

Runs two release binaries of the service (the base revision's and this tree's) on the
embedded default, seeds the same user into each, then measures cached list and cached
statistics throughput with wrk, alternating the two binaries round by round so that
machine noise falls on both alike. Prints medians and the ratio of the medians. Used to
show that a change keeps a measured path within a tolerance of before.

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


def main():
    base, new = (pathlib.Path(p).resolve() for p in sys.argv[1:3])
    for b in (base, new):
        if not b.is_file():
            sys.exit(f"{b} is missing")
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
