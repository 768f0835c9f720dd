"""`make bench`, bulk-transfer part (issue 26, part 3): documents per second that the data
commands write, into the MongoDB-wire test server and into SQLite.

- `fido import` of ROWS transactions (NDJSON, USERS users over 28 days) into an empty store;
- `fido migrate` of ROWS documents in the original service's layout (Fernet tokens, float
  amounts) written straight into the test server: the conversion phase, timed from the
  command's start to its last batch line (the roll-up rebuild that follows is a separate
  aggregation per user, timed on its own);
- `fido copy` of the imported SQLite store into an empty MongoDB database: the transactions'
  phase, timed from the start to its last progress line (the keys, events, the target's
  roll-up rebuild and the verification that follow are timed on their own).

Each measure runs on a fresh test server (it slows down over its life). With
FIDO_BENCH_BEFORE_BINARY set to an older `fido` (e.g. one built from the commit before the
bulk writes), both binaries run alternately, ROUNDS rounds, and the ratio after/before of the
medians is reported: that is the issue's "before and after, same run". Target: >= 5x into
MongoDB. Writes target/bench/transfer.{json,md}. Never fails on a number.
Environment: FIDO_BENCH_TRANSFER_ROWS (20000), FIDO_BENCH_TRANSFER_USERS (200),
FIDO_BENCH_TRANSFER_ROUNDS (2), FIDO_BENCH_BEFORE_BINARY (unset).
"""
import datetime
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROWS = int(os.environ.get("FIDO_BENCH_TRANSFER_ROWS", "20000"))
USERS = int(os.environ.get("FIDO_BENCH_TRANSFER_USERS", "200"))
ROUNDS = int(os.environ.get("FIDO_BENCH_TRANSFER_ROUNDS", "2"))
BEFORE = os.environ.get("FIDO_BENCH_BEFORE_BINARY")


def records():
    rng = random.Random(26)
    users = ["%024x" % rng.getrandbits(96) for _ in range(USERS)]
    for i in range(ROWS):
        day = 1 + (i // USERS) % 28
        stamp = f"2026-10-{day:02d}T10:{i % 60:02d}:00.000Z"
        yield {"id": "%08x%016x" % (1_700_000_000 + i, rng.getrandbits(64)), "user_id": users[i % USERS],
               "full_name": "Bench Customer", "amount_cents": 100 + i % 10_000,
               "transaction_type": "credit" if i % 3 else "debit", "transaction_date": stamp,
               "created_at": stamp, "updated_at": stamp, "version": 1}


def run(binary, args, env):
    """Runs `fido ARGS`; returns (seconds, stdout + stderr lines with the time each arrived)."""
    started = time.perf_counter()
    proc = subprocess.Popen([binary, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.perf_counter() - started, line.rstrip()) for line in proc.stdout]
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"fido {' '.join(args)} exited {proc.returncode}: " + "\n".join(l for _, l in lines[-5:]))
    return time.perf_counter() - started, lines


def legacy_documents(pymongo_bson, fernet):
    """ROWS documents as the original service writes them."""
    rng = random.Random(27)
    users = [pymongo_bson.ObjectId() for _ in range(USERS)]
    tokens = {kind: fernet.encrypt(kind.encode()).decode() for kind in ("credit", "debit")}
    name = fernet.encrypt(b"Bench Customer").decode()
    base = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
    for i in range(ROWS):
        yield {"_id": pymongo_bson.ObjectId(), "user_id": users[i % USERS], "full_name": name,
               "transaction_type": tokens["credit" if i % 3 else "debit"],
               "transaction_amount": round(1 + rng.random() * 500, 2),
               "transaction_date": base + datetime.timedelta(minutes=7 * i)}


def main():
    if not bench.BINARY.exists():
        sys.exit(f"{bench.BINARY} is missing: run `cargo build --release -p fido-api`")
    import bson  # noqa: E402  (pymongo's, in .venv)
    import pymongo  # noqa: E402
    from cryptography.fernet import Fernet  # noqa: E402

    bench.OUT.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="fido-bench-transfer-"))
    ndjson = work / "seed.ndjson"
    with ndjson.open("w") as out:
        for r in records():
            out.write(json.dumps(r) + "\n")
    fernet = Fernet(bench.FERNET.encode())
    binaries = {"after": str(bench.BINARY)}
    if BEFORE:
        binaries = {"before": BEFORE, **binaries}
    results = {}  # (measure, binary label) -> [docs/s]
    notes = [f"{ROWS:,} transactions of {USERS:,} users over 28 days; {ROUNDS} round(s), binaries alternated",
             "each MongoDB measure on a fresh MongoDB-wire test server (it slows down over its life)"]
    extra_phases = []  # what the timed phases leave out

    def base_env(tag):
        d = work / tag
        d.mkdir()
        return d, dict(os.environ, API_KEYS=bench.KEYS, FERNET_KEY=bench.FERNET, FIDO__LOG__FILTER="warn",
                       FIDO__METRICS__ADDR="", FIDO__SECURITY__DATA_DIR=str(d))

    def note(measure, label, seconds):
        rate = ROWS / seconds
        results.setdefault((measure, label), []).append(rate)
        print(f"  {measure} [{label}]: {rate:,.0f} docs/s ({seconds:.1f} s)", flush=True)

    try:
        for rnd in range(ROUNDS):
            for label, binary in binaries.items():
                tag = f"{label}-{rnd}"
                # import -> SQLite
                d, env = base_env(f"{tag}-sqlite")
                env["DB_URI"] = f"sqlite://{d}/fido.db"
                seconds, _ = run(binary, ["import", str(ndjson)], env)
                note("import into SQLite", label, seconds)
                sqlite_source = env["DB_URI"]

                # import -> MongoDB
                uri, server = bench.start_test_server()
                _, env = base_env(f"{tag}-mongo-import")
                env.update(DB_URI=uri, FIDO__STORE__DATABASE="fido_import")
                seconds, _ = run(binary, ["import", str(ndjson)], env)
                note("import into MongoDB", label, seconds)
                bench.stop(server)

                # copy SQLite -> MongoDB
                uri, server = bench.start_test_server()
                _, env = base_env(f"{tag}-mongo-copy")
                target = uri.replace("/?", "/fido_copy?", 1)
                seconds, lines = run(binary, ["copy", "--from", sqlite_source, "--to", target], env)
                copied = [t for t, line in lines if line.startswith(f"{ROWS} transactions copied")]
                note("copy SQLite -> MongoDB (the transactions)", label, copied[0] if copied else seconds)
                extra_phases.append(f"{label}: copy's later steps (keys, events, the target's roll-up "
                                    f"rebuild, verification) {seconds - (copied[0] if copied else seconds):.1f} s")
                bench.stop(server)

                # migrate in place on MongoDB
                uri, server = bench.start_test_server()
                client = pymongo.MongoClient(uri)
                collection = client["fido_migrate"]["fido_transactions"]
                batch = []
                for doc in legacy_documents(bson, fernet):
                    batch.append(doc)
                    if len(batch) == 1000:
                        collection.insert_many(batch)
                        batch = []
                if batch:
                    collection.insert_many(batch)
                client.close()
                _, env = base_env(f"{tag}-mongo-migrate")
                env.update(DB_URI=uri, FIDO__STORE__DATABASE="fido_migrate")
                seconds, lines = run(binary, ["migrate"], env)
                converted = [t for t, line in lines if "examined" in line and f"of {ROWS}" in line]
                last_batch = converted[-1] if converted else seconds
                note("migrate on MongoDB (conversion)", label, last_batch)
                extra_phases.append(f"{label}: migrate's roll-up rebuild after the conversion "
                                    f"{seconds - last_batch:.1f} s")
                bench.stop(server)
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
    notes.extend(extra_phases)
    rows = []
    for measure in dict.fromkeys(m for m, _ in results):
        after = statistics.median(results[(measure, "after")])
        row = {"measure": f"{measure}, docs/s", "value": f"{after:,.0f}",
               "detail": ", ".join(f"{v:,.0f}" for v in results[(measure, "after")]),
               "target": "-", "met": True}
        if BEFORE:
            before = statistics.median(results[(measure, "before")])
            ratio = after / before if before else 0.0
            row["detail"] = f"before {before:,.0f} docs/s, after/before {ratio:.1f}x"
            if "MongoDB" in measure:
                row.update(target=">= 5x before", met=ratio >= 5)
        rows.append(row)
    bench.write_report("transfer", notes, rows)


if __name__ == "__main__":
    main()
