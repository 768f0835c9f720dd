"""`make bench`, metrics part: cached list and statistics throughput with metrics on
(Prometheus recorder, tracing off) against metrics off, on the embedded default, wrk runs
interleaved off/on/off/on/..., medians and their ratio from the same run. Target: on >=
95 % of off. Writes target/bench/metrics.{json,md}. Never fails on a number.
Environment: FIDO_BENCH_SECONDS (per run, default 10), FIDO_BENCH_ROUNDS (5: the runs vary
by 10-20 % on a 2-core machine shared with wrk, so medians of five).
"""
import os
import pathlib
import secrets
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "5"))


def main():
    work = bench.prepare("metrics")
    rows, notes = [], [f"{os.cpu_count()} cores; wrk -t2 -c{bench.CONNECTIONS}, {bench.SECONDS} s per run"]
    try:
        (work / "on").mkdir()
        (work / "off").mkdir()
        on, on_port, _ = bench.start_service(work / "on", {"FIDO__METRICS__ADDR": f"127.0.0.1:{bench.free_port()}"}, "metrics-on")
        off, off_port, _ = bench.start_service(work / "off", {}, "metrics-off")
        user = "%024x" % secrets.randbits(96)
        for port in (on_port, off_port):
            client = bench.Client(port)
            for i in range(200):
                client.request("POST", "/api/v1/transactions", {"user_id": user, "full_name": "Bench", "transaction_amount": 1 + i,
                                                                 "transaction_type": "credit"})
        for label, path in (("list page 1, cache warm", f"/api/v1/transactions/user/{user}"),
                            ("statistics, cache warm", f"/api/v1/analytics/transactions/{user}")):
            results = {"off": [], "on": []}
            for _ in range(ROUNDS):
                for which, port in (("off", off_port), ("on", on_port)):
                    bench.Client(port).request("GET", path)  # warm
                    results[which].append(bench.wrk(port, path, "get.lua", {})["rps"])
            m_on, m_off = statistics.median(results["on"]), statistics.median(results["off"])
            ratio = m_on / m_off if m_off else 0.0
            print(f"  {label:<28} on {m_on:>9,.0f}/s  off {m_off:>9,.0f}/s  {ratio:.1%}", flush=True)
            rows.append({"measure": f"{label}: metrics on / off (medians)", "value": f"{ratio:.1%}",
                         "detail": f"on {m_on:,.0f}/s, off {m_off:,.0f}/s; runs on {results['on']}, off {results['off']}",
                         "target": ">= 95%", "met": ratio >= 0.95})
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
    bench.write_report("metrics", notes, rows)


if __name__ == "__main__":
    main()
