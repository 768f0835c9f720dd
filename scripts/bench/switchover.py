"""`make bench`, switch-over part (issue 26): how long writes stay paused when a store of
100,000 transactions moves with `fido copy --follow` (to a second SQLite store by default;
see TARGET). The service runs on SQLite with 100,000 transactions (1,000 users) and
writers keep creating and updating at a steady pace while the copy runs and follows; once
it prints "caught up", `fido writes pause` is run, and the pause is timed from then to the
copy's "switch-over point" line (everything applied, idempotency records and cursors
copied again, the users whose changes raced the pause verified). Target: < 5 s. Writes
target/bench/switchover.{json,md}. Never fails on a number.
Environment: FIDO_BENCH_SWITCH_ROWS (100000), FIDO_BENCH_SWITCH_USERS (1000),
FIDO_BENCH_SWITCH_WRITE_RATE (50 a second), FIDO_BENCH_SWITCH_TARGET (sqlite or mongodb).
"""
import json
import os
import pathlib
import queue
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROWS = int(os.environ.get("FIDO_BENCH_SWITCH_ROWS", "100000"))
RATE = float(os.environ.get("FIDO_BENCH_SWITCH_WRITE_RATE", "50"))
# The MongoDB-wire test server runs each roll-up aggregation over the whole collection
# (about 10 s per user at 100,000 documents), which the follower's repairs cannot outrun:
# the default target is a second SQLite store; set mongodb to try it anyway.
TARGET = os.environ.get("FIDO_BENCH_SWITCH_TARGET", "sqlite")
USERS = int(os.environ.get("FIDO_BENCH_SWITCH_USERS", "1000"))


def main():
    work = bench.prepare("switch")
    rows, notes = [], []
    env = dict(os.environ, API_KEYS=bench.KEYS, FERNET_KEY=bench.FERNET, FIDO__LOG__FILTER="warn",
               FIDO__METRICS__ADDR="", FIDO__SECURITY__DATA_DIR=str(work), DB_URI=f"sqlite://{work}/fido.db")
    try:
        # The source's rows, imported (each with its event, as the API writes them).
        users = ["%024x" % random.getrandbits(96) for _ in range(USERS)]
        ndjson = work / "seed.ndjson"
        with ndjson.open("w") as out:
            for i in range(ROWS):
                oid = "%08x%016x" % (1_700_000_000 + i, random.getrandbits(64))
                day = 1 + i % 28
                out.write(json.dumps({
                    "id": oid, "user_id": users[i % USERS], "full_name": "Bench Customer",
                    "amount_cents": 100 + i % 10_000, "transaction_type": "credit" if i % 3 else "debit",
                    "transaction_date": f"2026-10-{day:02d}T10:00:00.000Z",
                    "created_at": f"2026-10-{day:02d}T10:00:00.000Z",
                    "updated_at": f"2026-10-{day:02d}T10:00:00.000Z", "version": 1}) + "\n")
        started = time.time()
        subprocess.run([str(bench.BINARY), "import", str(ndjson)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        notes.append(f"source: {ROWS:,} transactions of {USERS:,} users imported in {time.time() - started:.0f} s")
        _, port, _ = bench.start_service(work, {"FIDO__SECURITY__DATA_DIR": str(work),
                                                      "DB_URI": f"sqlite://{work}/fido.db"}, "source")
        if TARGET == "mongodb":
            uri, _ = bench.start_test_server()
            target = uri.replace("/?", "/fido_switch?", 1)
        else:
            (work / "target").mkdir()
            target = f"sqlite://{work}/target/fido.db"

        stop = threading.Event()
        written = {"creates": 0, "updates": 0, "refused": 0}

        def writer():
            client = bench.Client(port)
            ids = []
            while not stop.is_set():
                user = random.choice(users)
                status, payload = client.request("POST", "/api/v1/transactions", {
                    "user_id": user, "full_name": "Writer", "transaction_amount": 1.5,
                    "transaction_type": "credit"})
                if status == 201:
                    written["creates"] += 1
                    ids.append(json.loads(payload)["data"]["id"])
                else:
                    written["refused"] += 1
                if ids and random.random() < 0.3:
                    status, _ = client.request("PATCH", f"/api/v1/transactions/{random.choice(ids)}",
                                               {"transaction_amount": 2.25})
                    written["updates" if status == 200 else "refused"] += 1
                time.sleep(1 / RATE)

        threading.Thread(target=writer, daemon=True).start()
        copy = subprocess.Popen([str(bench.BINARY), "copy", "--from", f"sqlite://{work}/fido.db", "--to", target,
                                 "--follow"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l.rstrip()) for l in copy.stdout], daemon=True).start()

        def until(marker, timeout=1800):
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                print("  copy: " + line, flush=True)
                if marker in line:
                    return line
            raise RuntimeError(f"no {marker!r} from fido copy --follow")

        started = time.time()
        until("following the source's changes")
        copied_in = time.time() - started
        until("caught up at sequence")
        time.sleep(3)  # writers keep writing while it follows
        paused = time.perf_counter()
        subprocess.run([str(bench.BINARY), "writes", "pause", "--reason", "bench switch-over"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        end = until("switch-over point")
        pause = time.perf_counter() - paused
        stop.set()
        copy.wait(timeout=60)
        print(f"  writes paused until the switch-over point: {pause:.2f} s", flush=True)
        rows.append({"measure": f"write pause for the switch-over, {ROWS:,} transactions, SQLite -> {TARGET}",
                     "value": f"{pause:.2f} s", "detail": end, "target": "< 5 s", "met": pause < 5})
        notes.append(f"initial copy (then following): {copied_in:.0f} s; writers: {written['creates']:,} creates, "
                     f"{written['updates']:,} updates, {written['refused']:,} refused (503 while paused); "
                     f"exit code {copy.returncode}")
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
    bench.write_report("switchover", notes, rows)


if __name__ == "__main__":
    main()
