"""`make bench`, scale-out part: creates with 1, 2 and 3 API replicas on one MongoDB-wire
database, events on and off, and how long a committed event takes to reach the feed.

1. Throughput: for each replica count and events off / on, N `fido serve` replicas (relay
   off, as in the documented topology) share one fresh database on the pinned
   MongoDB-compatible test server (and one Redis); with events on, one `fido worker`
   numbers and relays the events. 30 connections in all, split over the replicas (one wrk
   per replica, run at once), creates spread over 5,000 users. Rounds interleave every
   configuration; medians per configuration, ratios on / off from the same run. Targets:
   events on >= 90 % of off at every count, 0 errors.
2. Commit to feed: one replica and a worker, creates paced at FIDO_BENCH_FEED_RATE (200/s)
   by 8 clients while a reader polls the feed; for each create, the time from its 201 to
   the first feed page holding its event. p50 and p99.

Writes target/bench/scaleout.{json,md}. Never fails on a number.
Environment: FIDO_BENCH_SECONDS (per run, default 10), FIDO_BENCH_ROUNDS (2),
FIDO_BENCH_FEED_RATE (200), FIDO_BENCH_REPLICAS (1,2,3; `none` measures only the delay), MONGODB_URI (a real MongoDB instead of the test server).
"""
import json
import os
import pathlib
import secrets
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402  (the harness's service, wrk and client helpers)

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "2"))
FEED_RATE = int(os.environ.get("FIDO_BENCH_FEED_RATE", "200"))
REPLICAS = [int(n) for n in os.environ.get("FIDO_BENCH_REPLICAS", "1,2,3").split(",") if n.strip().isdigit()]
TOTAL_CONNECTIONS = 30


def start_worker(workdir, env, label):
    """`fido worker` on a free health port; waits for its readiness."""
    port = bench.free_port()
    full = dict(os.environ, FERNET_KEY=bench.FERNET, FIDO__LOG__FILTER="warn", FIDO__METRICS__ADDR="",
                FIDO__EVENTS__WORKER_HEALTH_PORT=str(port), FIDO__EVENTS__WORKER_HEALTH_HOST="127.0.0.1")
    full.update(env)
    log = open(workdir / f"{label}.log", "wb")
    proc = bench.subprocess.Popen([str(bench.BINARY), "worker"], cwd=workdir, env=full, stdout=log,
                                  stderr=bench.subprocess.STDOUT)
    bench.PROCESSES.append(proc)
    bench.wait_ready(port)
    return proc


def deployment(base_env, replicas, events, work, label):
    """Starts `replicas` API processes (and a worker with events on) on a fresh database —
    on a fresh test server of its own (unless MONGODB_URI names a real MongoDB), since the
    test server slows down over its life and would favour whichever ran first."""
    db = "fido_scale_" + secrets.token_hex(4)
    env = dict(base_env, FIDO__STORE__DATABASE=db, FIDO__CACHE__REDIS_KEY_PREFIX=db,
               FIDO__EVENTS__RELAY="off", FIDO__EVENTS__ENABLED="true" if events else "false")
    procs, ports, server = [], [], None
    if not os.environ.get("MONGODB_URI"):
        uri, server = bench.start_test_server()
        env["DB_URI"] = uri
    for i in range(replicas):
        proc, port, _ = bench.start_service(work, env, f"{label}-api{i}")
        procs.append(proc)
        ports.append(port)
    if events:
        procs.append(start_worker(work, env, f"{label}-worker"))
    if server is not None:
        procs.append(server)  # stopped last, after the processes that use it
    return procs, ports


def parallel_wrk(ports, files):
    """One wrk per replica at once, the connections split between them."""
    results = [None] * len(ports)
    per = max(1, TOTAL_CONNECTIONS // len(ports))

    def run(i):
        results[i] = bench.wrk_with(ports[i], "/", "create.lua", files, connections=per)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": sum(r["rps"] for r in results), "errors": sum(r["errors"] for r in results),
            "p99_ms": max((r["p99_ms"] or 0) for r in results)}


def throughput(base_env, rows, notes):
    work = pathlib.Path(tempfile.mkdtemp(prefix="fido-bench-scale-"))
    users = work / "users.txt"
    users.write_text("\n".join("%024x" % secrets.randbits(96) for _ in range(5000)) + "\n")
    files = {"FIDO_BENCH_USERS": str(users)}
    results = {}
    for r in range(ROUNDS):
        for replicas in REPLICAS:
            for events in (False, True):
                label = f"r{r}-{replicas}x-{'on' if events else 'off'}"
                procs, ports = deployment(base_env, replicas, events, work, label)
                try:
                    run = parallel_wrk(ports, files)
                finally:
                    for p in procs:
                        bench.stop(p)
                results.setdefault((replicas, events), []).append(run)
                print(f"  round {r + 1}: {replicas} replica(s), events {'on ' if events else 'off'} "
                      f"{run['rps']:>8,.0f} creates/s  p99 {run['p99_ms']:.1f} ms  errors {run['errors']}",
                      flush=True)
    medians = {k: statistics.median(x["rps"] for x in v) for k, v in results.items()}
    errors = {k: sum(x["errors"] for x in v) for k, v in results.items()}
    for replicas in REPLICAS:
        off, on = medians[(replicas, False)], medians[(replicas, True)]
        ratio = on / off if off else 0.0
        errs = errors[(replicas, False)] + errors[(replicas, True)]
        rows.append({"measure": f"creates/s, {replicas} replica(s), events on / off (medians)",
                     "value": f"{ratio:.0%}",
                     "detail": f"on {on:,.0f}/s, off {off:,.0f}/s; errors {errs}; "
                               f"{ROUNDS} interleaved rounds, {TOTAL_CONNECTIONS} connections in all",
                     "target": ">= 90%, 0 errors", "met": ratio >= 0.9 and errs == 0})
    notes.append("throughput runs: " + json.dumps({f"{k[0]}x-{'on' if k[1] else 'off'}": [round(x['rps']) for x in v]
                                                 for k, v in results.items()}))
    return medians


def feed_delay(base_env, rows, notes):
    work = pathlib.Path(tempfile.mkdtemp(prefix="fido-bench-feed-"))
    procs, ports = deployment(base_env, 1, True, work, "feed")
    port = ports[0]
    created, seen = {}, {}
    done = threading.Event()
    seconds = bench.SECONDS
    user = "%024x" % secrets.randbits(96)

    def reader():
        client = bench.Client(port)
        after = 0
        while not done.is_set() or len(seen) < len(created):
            status, payload = client.request("GET", f"/api/v1/events?after={after}&limit=1000")
            now = time.perf_counter()
            if status == 200:
                page = json.loads(payload)["data"]
                for e in page["events"]:
                    seen.setdefault(e["transaction_id"], now)
                after = page["next_after"]
            if done.is_set() and time.perf_counter() > stop_at[0]:
                break
            time.sleep(0.01)

    stop_at = [float("inf")]
    reading = threading.Thread(target=reader, daemon=True)
    reading.start()
    created.update(bench.paced_creates(port, FEED_RATE, seconds, user, threads=8))
    stop_at[0] = time.perf_counter() + 30
    done.set()
    reading.join(35)
    for p in procs:
        bench.stop(p)
    delays = sorted(max(0.0, seen[i] - t) * 1000 for i, t in created.items() if i in seen)
    missing = len(created) - len(delays)
    if not delays:
        rows.append({"measure": "201 -> feed", "value": "nothing reached the feed", "detail": "",
                     "target": "measured", "met": False})
        return
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    rows.append({"measure": f"201 -> feed at {len(created) / seconds:,.0f} creates/s (median)",
                 "value": f"{statistics.median(delays):.1f} ms",
                 "detail": f"p99 {p(0.99):.1f} ms, max {delays[-1]:.1f} ms; {len(created):,} creates, "
                           f"{missing} missing; the reader polls every 10 ms",
                 "target": "measured", "met": missing == 0})


def main():
    if not bench.BINARY.exists():
        sys.exit(f"{bench.BINARY} is missing: run `cargo build --release -p fido-api`")
    rows, notes = [], [f"{os.cpu_count()} cores; {bench.SECONDS} s per run; the MongoDB-compatible test "
                       "server (a Python process) is the limit on this machine"]
    base_env = bench.ensure_mongodb_and_redis()
    try:
        print("\n== scale-out: creates with 1, 2, 3 replicas, events off and on", flush=True)
        if REPLICAS:
            throughput(base_env, rows, notes)
        print(f"\n== scale-out: commit to feed at {FEED_RATE} creates/s", flush=True)
        feed_delay(base_env, rows, notes)
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
    bench.write_report("scaleout", notes, rows)


if __name__ == "__main__":
    main()
