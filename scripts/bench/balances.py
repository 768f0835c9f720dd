"""`make bench`, balances part (issue 29): on the embedded store with the cache disabled
(every request computes), the latency of a balance at a past instant — a time of day in
the middle of the history, so whole days come from the roll-ups and the partial day from
rows — for a user with 100,000 transactions and for one with 1,000 (both spread over the
same 700 days), as medians of interleaved rounds in the same run; and the first page of a
listing with running balances against the same page without. Targets: p50 < 2 ms for the
big user, within 2x of the small one. Writes target/bench/balances.{json,md}. Never fails
on a number. Environment: FIDO_BENCH_BIG_USER (100000), FIDO_BENCH_ROUNDS (7).
"""
import os
import pathlib
import random
import shutil
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "7"))
PER_ROUND = 100
SMALL = 1_000


def main():
    work = bench.prepare("balances")
    rows = []
    notes = [f"{os.cpu_count()} cores; embedded store, cache disabled (every balance computed)"]
    try:
        _, port, _ = bench.start_service(work, {"FIDO__CACHE__ENABLED": "false"}, "balances")
        big = "%024x" % random.getrandbits(96)
        small = "%024x" % random.getrandbits(96)
        ids, took = bench.seed(port, [small], SMALL, big, bench.BIG)
        notes.append(f"seeded {bench.BIG:,} + {SMALL:,} transactions over 700 days in {took:.0f} s")
        client = bench.Client(port)
        # 350 days and 13.5 hours after the first seeded day: mid-history, mid-day.
        at = time.strftime("%Y-%m-%dT%H:%M:%S.500Z", time.gmtime(1_700_000_000 + 350 * 86_400 + 48_600))
        paths = {
            "big": f"/api/v1/balances/{big}?at={at}",
            "small": f"/api/v1/balances/{small}?at={at}",
            "list": f"/api/v1/transactions/user/{big}?limit=20",
            "running": f"/api/v1/transactions/user/{big}?limit=20&running_balance=true",
        }
        for path in paths.values():  # warm code paths and the page cache of the file
            bench.latencies_ms(client, path, 20)
        samples = {k: [] for k in paths}
        medians = {k: [] for k in paths}
        for _ in range(ROUNDS):
            for k, path in paths.items():
                got = bench.latencies_ms(client, path, PER_ROUND)
                samples[k].extend(got)
                medians[k].append(statistics.median(got))
        p50 = {k: statistics.median(medians[k]) for k in paths}
        p99 = {k: statistics.quantiles(samples[k], n=100)[98] for k in paths}
        ratio = p50["big"] / p50["small"] if p50["small"] else 0.0
        running = p50["running"] / p50["list"] if p50["list"] else 0.0
        print(f"  balance at {at}: {bench.BIG:,}-transaction user p50 {p50['big']:.3f} ms (p99 {p99['big']:.3f}), "
              f"{SMALL:,}-transaction user p50 {p50['small']:.3f} ms: {ratio:.2f}x; "
              f"first page with running balances {p50['running']:.3f} ms vs {p50['list']:.3f} ms ({running:.2f}x)",
              flush=True)
        rows.append({"measure": f"balance at a past instant, {bench.BIG:,}-transaction user, cold (p50)",
                     "value": f"{p50['big']:.3f} ms", "detail": f"p99 {p99['big']:.3f} ms",
                     "target": "< 2 ms", "met": p50["big"] < 2.0})
        rows.append({"measure": f"the same / {SMALL:,}-transaction user (p50 ratio)", "value": f"{ratio:.2f}x",
                     "detail": f"{p50['big']:.3f} ms vs {p50['small']:.3f} ms", "target": "<= 2x",
                     "met": ratio <= 2.0})
        rows.append({"measure": "first page (20) with running balances / without (p50 ratio)",
                     "value": f"{running:.2f}x", "detail": f"{p50['running']:.3f} ms vs {p50['list']:.3f} ms",
                     "target": "stated", "met": True})
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    bench.write_report("balances", notes, rows)


if __name__ == "__main__":
    main()
