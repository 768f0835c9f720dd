"""`make bench`, finding part (issue 18): on one user with 100,000 transactions (embedded
store, cache disabled), the latency of the first page, of the 5,000th page by cursor and of
page 5,000 by number (20 per page), as medians of interleaved rounds in the same run; and
an export of the 100,000 rows as CSV: rows per second and the service's resident memory
growth while it streams. Targets: cursor page 5,000 within 2x the first page; export
>= 50,000 rows/s with RSS growth < 20 MB. Writes target/bench/finding.{json,md}. Never
fails on a number. Environment: FIDO_BENCH_BIG_USER (100000), FIDO_BENCH_ROUNDS (7).
"""
import http.client
import json
import os
import pathlib
import random
import shutil
import statistics
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "7"))
PER_ROUND = 50
LIMIT = 20


def timed(client, path, n):
    """Median latency in ms of n sequential requests of path (each must be 200)."""
    return statistics.median(bench.latencies_ms(client, path, n))


def main():
    work = bench.prepare("finding")
    rows, notes = [], [f"{os.cpu_count()} cores; embedded store, cache disabled; {LIMIT} per page"]
    try:
        proc, port, _ = bench.start_service(work, {"FIDO__CACHE__ENABLED": "false"}, "finding")
        user = "%024x" % random.getrandbits(96)
        ids, took = bench.seed(port, [], 0, user, bench.BIG)
        notes.append(f"seeded {len(ids):,} transactions of one user in {took:.0f} s")
        client = bench.Client(port)
        base = f"/api/v1/transactions/user/{user}?limit={LIMIT}"

        # Walk to the 5,000th page by cursor (or the last one, for a smaller user).
        target = min(5000, len(ids) // LIMIT)
        cursor, t0 = None, time.time()
        for _ in range(target - 1):
            _, payload = client.request("GET", base + (f"&cursor={cursor}" if cursor else ""))
            cursor = json.loads(payload)["data"]["next_cursor"]
        notes.append(f"walked {target - 1:,} pages by cursor in {time.time() - t0:.1f} s to reach page {target:,}")
        deep_cursor = f"{base}&cursor={cursor}"
        deep_page = f"{base}&page={target}"
        results = {"first": [], "cursor": [], "page": []}
        for _ in range(ROUNDS):
            results["first"].append(timed(client, base, PER_ROUND))
            results["cursor"].append(timed(client, deep_cursor, PER_ROUND))
            results["page"].append(timed(client, deep_page, PER_ROUND))
        first, deep, numbered = (statistics.median(results[k]) for k in ("first", "cursor", "page"))
        ratio = deep / first if first else 0.0
        print(f"  first page {first:.3f} ms, page {target} by cursor {deep:.3f} ms ({ratio:.2f}x), "
              f"page {target} by number {numbered:.3f} ms ({numbered / first:.1f}x)", flush=True)
        rows.append({"measure": f"page {target:,} by cursor / first page (median latency)", "value": f"{ratio:.2f}x",
                     "detail": f"{deep:.3f} ms vs {first:.3f} ms", "target": "<= 2x", "met": ratio <= 2.0})
        rows.append({"measure": f"page {target:,} by number / first page (median latency)",
                     "value": f"{numbered / first:.1f}x", "detail": f"{numbered:.3f} ms (skips {(target - 1) * LIMIT:,} rows)",
                     "target": "stated", "met": True})

        # Export: stream the whole history, sampling the service's memory.
        before = bench.rss_mb(proc)
        peak, sampling = [before], [True]

        def sample():
            while sampling[0]:
                peak[0] = max(peak[0], bench.rss_mb(proc))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t0 = time.perf_counter()
        conn.request("GET", f"/api/v1/transactions/user/{user}/export?format=csv",
                     headers={"Authorization": f"Bearer {bench.KEY}"})
        resp = conn.getresponse()
        lines = 0
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - t0
        sampling[0] = False
        sampler.join()
        exported = lines - 1
        rate = exported / elapsed if elapsed else 0.0
        growth = peak[0] - before
        print(f"  export {exported:,} rows in {elapsed:.2f} s: {rate:,.0f} rows/s; RSS {before:.1f} -> peak {peak[0]:.1f} MB "
              f"(+{growth:.1f} MB)", flush=True)
        rows.append({"measure": f"export of {exported:,} rows (CSV)", "value": f"{rate:,.0f} rows/s",
                     "detail": f"{elapsed:.2f} s", "target": ">= 50,000 rows/s", "met": rate >= 50_000})
        rows.append({"measure": "export: resident memory growth", "value": f"{growth:.1f} MB",
                     "detail": f"{before:.1f} MB before, peak {peak[0]:.1f} MB (sampled every 20 ms)",
                     "target": "< 20 MB", "met": growth < 20})
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    bench.write_report("finding", notes, rows)


if __name__ == "__main__":
    main()
