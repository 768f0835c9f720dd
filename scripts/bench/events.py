"""`make bench`, events part: what the outbox costs, and how fast events reach RabbitMQ.

1. Create throughput with events on (the outbox and the feed, no publisher) against events
   off, on the embedded default: wrk runs interleaved off/on/off/on/..., medians and
   their ratio from the same run. Target: on >= 80 % of off.
2. Delay to RabbitMQ at a paced 1,000 creates/s (the embedded default, the relay in the
   API process, the machine's broker): for each create, the time from its 201 to the
   moment a consumer bound to the exchange receives its event — the broker routes a
   message to the queue before it confirms it to the publisher, so this is the confirm
   plus one hop to the consumer. Target: median under 50 ms.

Writes target/bench/events.{json,md}. Never fails on a number.
Environment: FIDO_BENCH_SECONDS (per run, default 10), FIDO_BENCH_ROUNDS (3),
FIDO_BENCH_RATE (1000), FIDO_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2f).
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

import pika  # noqa: E402  (from the venv: scripts/requirements-test.txt)

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "3"))
RATE = int(os.environ.get("FIDO_BENCH_RATE", "1000"))
AMQP = os.environ.get("FIDO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")


def throughput(notes, rows):
    work = pathlib.Path(tempfile.mkdtemp(prefix="fido-bench-events-"))
    (work / "on").mkdir()
    (work / "off").mkdir()
    on, on_port, _ = bench.start_service(work / "on", {}, "events-on")
    off, off_port, _ = bench.start_service(work / "off", {"FIDO__EVENTS__ENABLED": "false"}, "events-off")
    users = work / "users.txt"
    users.write_text("\n".join("%024x" % secrets.randbits(96) for _ in range(10)) + "\n")
    files = {"FIDO_BENCH_USERS": str(users)}
    results = {"off": [], "on": []}
    for r in range(ROUNDS):
        for label, port in (("off", off_port), ("on", on_port)):
            run = bench.wrk(port, "/", "create.lua", files)
            results[label].append(run["rps"])
            print(f"  round {r + 1}: events {label:<3} {run['rps']:>9,.0f} creates/s  "
                  f"p50 {run['p50_ms'] or 0:.2f} ms  p99 {run['p99_ms'] or 0:.2f} ms  errors {run['errors']}", flush=True)
    bench.stop(on)
    bench.stop(off)
    m_off, m_on = statistics.median(results["off"]), statistics.median(results["on"])
    ratio = m_on / m_off if m_off else 0.0
    rows.append({"measure": "create throughput, events on / off (medians)", "value": f"{ratio:.0%}",
                 "detail": f"on {m_on:,.0f}/s, off {m_off:,.0f}/s, {ROUNDS} interleaved runs each",
                 "target": ">= 80%", "met": ratio >= 0.8})
    notes.append(f"throughput runs: on {results['on']}, off {results['off']}")


def delay(notes, rows):
    exchange = "fido.bench." + secrets.token_hex(4)
    work = pathlib.Path(tempfile.mkdtemp(prefix="fido-bench-amqp-"))
    received = {}
    ready = threading.Event()
    done = threading.Event()

    def consume():
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
        channel = connection.channel()
        channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue=queue, exchange=exchange, routing_key="transaction.created")

        def on_message(ch, method, _props, body):
            event = json.loads(body)
            received.setdefault(event["transaction_id"], time.perf_counter())
            ch.basic_ack(method.delivery_tag)

        channel.basic_consume(queue=queue, on_message_callback=on_message)
        ready.set()
        while not done.is_set():
            connection.process_data_events(time_limit=0.05)
        connection.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    if not ready.wait(30):
        raise RuntimeError("the consumer could not connect to RabbitMQ")
    service, port, _ = bench.start_service(work, {"FIDO__EVENTS__AMQP_URL": AMQP,
                                                  "FIDO__EVENTS__AMQP_EXCHANGE": exchange}, "amqp")
    user = "%024x" % secrets.randbits(96)
    started = time.perf_counter()
    created = bench.paced_creates(port, RATE, bench.SECONDS, user)
    elapsed = time.perf_counter() - started
    deadline = time.time() + 30
    while len(received) < len(created) and time.time() < deadline:
        time.sleep(0.1)
    done.set()
    consumer.join(5)
    bench.stop(service)
    delays = sorted((received[i] - t) * 1000 for i, t in created.items() if i in received)
    missing = len(created) - len(delays)
    if not delays:
        rows.append({"measure": "201 -> RabbitMQ consumer", "value": "no events received",
                     "detail": "", "target": "< 50 ms median", "met": False})
        return
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    median = statistics.median(delays)
    rows.append({"measure": f"201 -> RabbitMQ consumer at {len(created) / elapsed:,.0f} creates/s (median)",
                 "value": f"{median:.1f} ms",
                 "detail": f"p90 {p(0.9):.1f} ms, p99 {p(0.99):.1f} ms, max {delays[-1]:.1f} ms; "
                           f"{len(created):,} creates, {missing} events missing",
                 "target": "< 50 ms median and p99", "met": median < 50 and p(0.99) < 50 and missing == 0})


def main():
    if not bench.BINARY.exists():
        sys.exit(f"{bench.BINARY} is missing: run `cargo build --release -p fido-api`")
    bench.OUT.mkdir(parents=True, exist_ok=True)
    rows, notes = [], [f"{os.cpu_count()} cores; wrk -t2 -c{bench.CONNECTIONS}, {bench.SECONDS} s per run"]
    try:
        print("\n== events: create throughput, events on vs off (embedded default)", flush=True)
        throughput(notes, rows)
        print(f"\n== events: delay to RabbitMQ at {RATE} creates/s", flush=True)
        delay(notes, rows)
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
    (bench.OUT / "events.json").write_text(json.dumps({"notes": notes, "results": rows}, indent=2) + "\n")
    md = ["| measure | value | detail | target | met |", "|---|---:|---|---|---|"]
    for r in rows:
        md.append(f"| {r['measure']} | {r['value']} | {r['detail']} | {r['target']} | {'yes' if r['met'] else 'NO'} |")
    md += [""] + [f"- {n}" for n in notes]
    (bench.OUT / "events.md").write_text("\n".join(md) + "\n")
    print("\n" + "\n".join(md))


if __name__ == "__main__":
    main()
