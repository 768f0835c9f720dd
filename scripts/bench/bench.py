"""`make bench`: end-to-end throughput and latency of the release binary.

Starts the service (a) on the embedded default and (b) on the MongoDB-compatible test
server with Redis, seeds data through the API (10 users x 1,000 transactions and one user
with 100,000), then drives wrk over 127.0.0.1 for bounded runs. Prints a table (requests/s,
p50, p99, errors, and each endpoint's throughput as a fraction of /health/live measured in
the same run) and writes it to target/bench/bench.{json,md}. Never fails on a number: the
exit code only says whether the harness itself worked.

Environment: FIDO_BENCH_SECONDS (per run, default 10), FIDO_BENCH_CONNECTIONS (32),
FIDO_BENCH_BIG_USER (100000), FIDO_BENCH_SCENARIOS (embedded,mongodb), FIDO_BENCH_HOT_IDS
(2000: the ids read by id with the cache warm).
Python standard library only.
"""
import concurrent.futures as cf
import hashlib
import http.client
import json
import os
import pathlib
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "bench"
BINARY = ROOT / "target" / "release" / "fido"
LUA = pathlib.Path(__file__).resolve().parent
SECONDS = int(os.environ.get("FIDO_BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("FIDO_BENCH_CONNECTIONS", "32"))
BIG = int(os.environ.get("FIDO_BENCH_BIG_USER", "100000"))
# The MongoDB stand-in is a Python server and inserts a few hundred documents a second:
# its big user is smaller so that seeding stays within minutes. Against a real MongoDB
# (MONGODB_URI), set it to 100000 as well.
MONGO_BIG = int(os.environ.get("FIDO_BENCH_MONGO_BIG_USER", "10000"))
SCENARIOS = os.environ.get("FIDO_BENCH_SCENARIOS", "embedded,mongodb").split(",")
HOT_IDS = int(os.environ.get("FIDO_BENCH_HOT_IDS", "2000"))
KEY = "fido_bench_" + secrets.token_urlsafe(16)
KEYS = "bench:" + hashlib.sha256(KEY.encode()).hexdigest() + ":read+write"
FERNET = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="  # a fixed bench-only key
PROCESSES = []


def write_report(name, notes, rows):
    """Writes target/bench/<name>.{json,md} (rows of measure, value, detail, target, met)
    and prints the table."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps({"notes": notes, "results": rows}, indent=2) + "\n")
    md = ["| measure | value | detail | target | met |", "|---|---:|---|---|---|"]
    md += [f"| {r['measure']} | {r['value']} | {r['detail']} | {r['target']} | {'yes' if r['met'] else 'NO'} |" for r in rows]
    md += [""] + [f"- {n}" for n in notes]
    (OUT / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n" + "\n".join(md))


def prepare(label):
    """Checks that the release binary exists and makes the report folder; returns a fresh
    temporary work folder named after `label` (the caller removes it)."""
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: run `cargo build --release -p fido-api`")
    OUT.mkdir(parents=True, exist_ok=True)
    return pathlib.Path(tempfile.mkdtemp(prefix=f"fido-bench-{label}-"))


def latencies_ms(client, path, n):
    """Latencies in ms of n sequential GETs of path over `client` (each must be 200)."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = client.request("GET", path)
        samples.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    return samples


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"service on {port} not ready within {timeout}s")


def start_service(workdir, env, label, binary=None):
    port = free_port()
    full = dict(os.environ, API_KEYS=KEYS, FERNET_KEY=FERNET, PORT=str(port), HOST="127.0.0.1",
                FIDO__SECURITY__RATE_LIMIT_PER_SECOND="0", FIDO__LOG__FILTER="warn", FIDO__METRICS__ADDR="")
    full.update(env)
    log = open(workdir / f"{label}.log", "wb")
    started = time.time()
    proc = subprocess.Popen([str(binary or BINARY)], cwd=workdir, env=full, stdout=log, stderr=subprocess.STDOUT)
    PROCESSES.append(proc)
    wait_ready(port)
    return proc, port, time.time() - started


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(proc):
    try:
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Client:
    """One keep-alive connection per thread."""

    local = threading.local()

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None):
        conn = getattr(self.local, "conn", None)
        reused = conn is not None and getattr(self.local, "port", None) == self.port
        if not reused:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.local.port = self.port
        headers = {"Authorization": f"Bearer {KEY}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.local.conn = None
            # A kept-alive connection the server closed while idle: a read is sent again
            # on a new one (a write is not: it may have been taken).
            if reused and isinstance(e, http.client.RemoteDisconnected) and method in ("GET", "HEAD"):
                return self.request(method, path, body)
            raise
        return resp.status, payload


def paced_creates(port, rate, seconds, user, threads=16):
    """Creates for `user` at `rate` a second for `seconds`, spread over `threads` clients;
    returns {transaction id: time.perf_counter() of its 201}."""
    created, lock = {}, threading.Lock()
    interval = threads / rate
    started = time.perf_counter()

    def load(i):
        client = Client(port)
        next_at = started + i * interval / threads
        while next_at < started + seconds:
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            status, payload = client.request("POST", "/api/v1/transactions", {
                "user_id": user, "full_name": "Bench Customer", "transaction_amount": 12.34,
                "transaction_type": "credit"})
            at = time.perf_counter()
            if status == 201:
                with lock:
                    created[json.loads(payload)["data"]["id"]] = at
            next_at += interval

    workers = [threading.Thread(target=load, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return created


def seed(port, users, per_user, big_user, big_count):
    """Creates the data through the API; returns the ids created."""
    client = Client(port)
    jobs = [(u, i) for u in users for i in range(per_user)] + [(big_user, i) for i in range(big_count)]
    start = 1_700_000_000  # 2023-11-14, so dates spread over past days

    def create(job):
        user, i = job
        day = start + (i % 700) * 86_400 + random.randint(0, 86_399)
        body = {"user_id": user, "full_name": f"Seed Customer {i}",
                "transaction_amount": round(random.randint(0, 1_000_000) / 100, 2),
                "transaction_type": random.choice(["credit", "debit"]),
                "transaction_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day))}
        for _ in range(5):
            try:
                status, payload = client.request("POST", "/api/v1/transactions", body)
            except (OSError, http.client.HTTPException):
                continue
            if status == 201:
                return json.loads(payload)["data"]["id"]
        raise RuntimeError(f"seeding failed with {status}")

    t0 = time.time()
    with cf.ThreadPoolExecutor(max_workers=32) as pool:
        ids = list(pool.map(create, jobs, chunksize=64))
    return ids, time.time() - t0


WRK_LINE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$")


def wrk(port, path, script, extra_env, seconds=SECONDS):
    return wrk_with(port, path, script, extra_env, seconds, CONNECTIONS)


def wrk_with(port, path, script, extra_env, seconds=SECONDS, connections=CONNECTIONS):
    env = dict(os.environ, FIDO_BENCH_KEY=KEY, **extra_env)
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
           str(LUA / script), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60).stdout
    result = {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": 0, "requests": 0}
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for line in out.splitlines():
        m = WRK_LINE.match(line)
        if m:
            result[f"p{m.group(1)}_ms"] = float(m.group(2)) * scale[m.group(3)]
        if line.startswith("Requests/sec:"):
            result["rps"] = float(line.split()[1])
        m = re.match(r"^\s+(\d+) requests in", line)
        if m:
            result["requests"] = int(m.group(1))
        m = re.match(r"^\s+Non-2xx or 3xx responses: (\d+)", line)
        if m:
            result["errors"] += int(m.group(1))
        m = re.match(r"^\s+Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line)
        if m:
            result["errors"] += sum(int(g) for g in m.groups())
    return result


def warm_by_id(port, ids, threads=16):
    """Reads every id twice, from `threads` clients."""
    local = threading.local()

    def read(i):
        if not hasattr(local, "client"):
            local.client = Client(port)
        local.client.request("GET", f"/api/v1/transactions/{i}")

    with cf.ThreadPoolExecutor(threads) as pool:
        for _ in range(2):
            list(pool.map(read, ids))


def scenario(name, env_cache_on, env_cache_off, rows, notes, big=BIG):
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"fido-bench-{name}-"))
    print(f"\n== {name}: seeding 10 x 1,000 and 1 x {big:,} transactions through the API", flush=True)
    warm, warm_port, _ = start_service(work, env_cache_on, "cache-on")
    users = ["%024x" % random.getrandbits(96) for _ in range(10)]
    big_user = "%024x" % random.getrandbits(96)
    ids, took = seed(warm_port, users, 1000, big_user, big)
    notes.append(f"{name}: seeded {len(ids):,} transactions in {took:.0f} s ({len(ids) / took:,.0f}/s, 32 clients)")
    ids_file, users_file = work / "ids.txt", work / "users.txt"
    ids_file.write_text("\n".join(random.sample(ids, min(len(ids), 20000))) + "\n")
    users_file.write_text("\n".join(users) + "\n")
    files = {"FIDO_BENCH_IDS": str(ids_file), "FIDO_BENCH_USERS": str(users_file)}
    # A hot set for reads by id with the cache warm: each read twice before the run (the
    # first teaches the instance the owner, the second fills the owner's entry).
    hot = random.sample(ids, min(len(ids), HOT_IDS))
    hot_file = work / "hot.txt"
    hot_file.write_text("\n".join(hot) + "\n")
    hot_files = dict(files, FIDO_BENCH_IDS=str(hot_file))

    # Start-up to ready on the existing data (the embedded store's file, or the database).
    stop(warm)
    warm, warm_port, startup = start_service(work, env_cache_on, "cache-on")
    idle = rss_mb(warm)
    cold, cold_port, _ = start_service(work, env_cache_off, "cache-off")
    notes.append(f"{name}: start-up to ready on the existing data {startup * 1000:.0f} ms; idle RSS {idle:.0f} MB")

    peak = [idle]
    sampling = [True]

    def sample():
        while sampling[0]:
            peak[0] = max(peak[0], rss_mb(warm))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    u0, ub = users[0], big_user
    client = Client(warm_port)
    for path in (f"/api/v1/transactions/user/{u0}", f"/api/v1/analytics/transactions/{u0}"):
        client.request("GET", path)  # warm the cache
    warm_by_id(warm_port, hot)
    runs = [
        ("GET /health/live (ceiling)", warm_port, "/health/live", "get.lua"),
        ("GET by id", warm_port, "/", "get_by_id.lua"),
        (f"GET by id, cache warm ({len(hot):,} hot ids)", warm_port, "/", "get_by_id.lua"),
        ("list page 1, cache warm", warm_port, f"/api/v1/transactions/user/{u0}", "get.lua"),
        ("list page 1, cache disabled", cold_port, f"/api/v1/transactions/user/{u0}", "get.lua"),
        ("statistics 1k, cache warm", warm_port, f"/api/v1/analytics/transactions/{u0}", "get.lua"),
        ("statistics 1k, cold", cold_port, f"/api/v1/analytics/transactions/{u0}", "get.lua"),
        (f"statistics {big // 1000}k, cold", cold_port, f"/api/v1/analytics/transactions/{ub}", "get.lua"),
        ("create", warm_port, "/", "create.lua"),
        ("update", warm_port, "/", "update.lua"),
    ]
    ceiling = None
    for label, port, path, script in runs:
        r = wrk(port, path, script, hot_files if "hot ids" in label else files)
        if ceiling is None:
            ceiling = r["rps"] or 1.0
        r["fraction"] = r["rps"] / ceiling
        r.update(scenario=name, endpoint=label)
        rows.append(r)
        p50 = "-" if r["p50_ms"] is None else f"{r['p50_ms']:.2f}"
        p99 = "-" if r["p99_ms"] is None else f"{r['p99_ms']:.2f}"
        print(f"  {label:<32} {r['rps']:>10,.0f}/s  p50 {p50:>7} ms  p99 {p99:>7} ms  "
              f"errors {r['errors']:>5}  {r['fraction']:>5.0%} of live", flush=True)
    sampling[0] = False
    sampler.join()
    notes.append(f"{name}: peak RSS under load {peak[0]:.0f} MB")
    stop(warm)
    stop(cold)
    shutil.rmtree(work, ignore_errors=True)


def start_test_server():
    """A fresh, empty MongoDB-compatible test server in memory: (uri, process). The server
    slows down as sessions accumulate over its life, so runs that are compared start on
    fresh ones."""
    port = free_port()
    proc = subprocess.Popen([str(ROOT / ".venv/bin/secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
                             "--storage-path", ":memory:"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCESSES.append(proc)
    deadline = time.time() + 60
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        if time.time() > deadline:
            raise RuntimeError("the MongoDB-compatible test server did not start")
        time.sleep(0.2)
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false", proc


def ensure_mongodb_and_redis():
    """Returns (env for the service, cleanup) on the test server and a Redis."""
    uri, started = os.environ.get("MONGODB_URI"), []
    if not uri:
        uri, _ = start_test_server()
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    db = "fido_bench_" + secrets.token_hex(4)
    return {"DB_URI": uri, "FIDO__STORE__DATABASE": db, "REDIS_URL": redis,
            "FIDO__CACHE__REDIS_KEY_PREFIX": db}


def main():
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: run `cargo build --release -p fido-api`")
    OUT.mkdir(parents=True, exist_ok=True)
    rows, notes = [], [f"{os.cpu_count()} cores; wrk -t2 -c{CONNECTIONS}, {SECONDS} s per run, on the same machine"]
    try:
        if "embedded" in SCENARIOS:
            scenario("embedded", {}, {"FIDO__CACHE__ENABLED": "false"}, rows, notes)
        if "mongodb" in SCENARIOS:
            env = ensure_mongodb_and_redis()
            scenario("mongodb+redis", env, dict(env, FIDO__CACHE__ENABLED="false"), rows, notes, big=MONGO_BIG)
    finally:
        for proc in PROCESSES:
            stop(proc)
    (OUT / "bench.json").write_text(json.dumps({"notes": notes, "results": rows}, indent=2) + "\n")
    md = ["| scenario | endpoint | requests/s | p50 ms | p99 ms | errors | of /health/live |",
          "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:.2f}"
        md.append(f"| {r['scenario']} | {r['endpoint']} | {r['rps']:,.0f} | {fmt(r['p50_ms'])} | "
                  f"{fmt(r['p99_ms'])} | {r['errors']} | {r['fraction']:.0%} |")
    md += [""] + [f"- {n}" for n in notes]
    (OUT / "bench.md").write_text("\n".join(md) + "\n")
    print("\n" + "\n".join(md))
    print(f"\nwritten: {OUT / 'bench.json'}, {OUT / 'bench.md'}")


if __name__ == "__main__":
    main()
