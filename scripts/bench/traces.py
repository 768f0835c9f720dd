"""`make bench`, traces part: what exporting traces costs the cached list, on the embedded
default. Three instances side by side: traces off; exported at full sampling
(`OTEL_TRACES_SAMPLER=parentbased_always_on`, the default once an endpoint is set); and
exported with a 10 % ratio sampler (`parentbased_traceidratio`, 0.1). The collector is a
discarding OTLP/HTTP receiver in this script (it answers 200 and counts what it got), so
the figures are the service's own cost, not a collector's. wrk runs interleaved
off/full/ratio/..., medians and their ratios to "off" from the same run.
Targets (issue 27): full >= 80 %, ratio 10 % >= 95 %. Writes target/bench/traces.{json,md}.
Environment: FIDO_BENCH_SECONDS (per run, default 10), FIDO_BENCH_ROUNDS (5).
"""
import http.server
import os
import pathlib
import secrets
import statistics
import sys
import tempfile
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROUNDS = int(os.environ.get("FIDO_BENCH_ROUNDS", "5"))
RECEIVED = {"requests": 0, "bytes": 0}


class Collector(http.server.BaseHTTPRequestHandler):
    """Takes OTLP/HTTP exports and throws them away, keeping connections alive as a real
    collector does (HTTP/1.0 would cost a connection and a thread per export)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (the standard library's naming)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        RECEIVED["requests"] += 1
        RECEIVED["bytes"] += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    if not bench.BINARY.exists():
        sys.exit(f"{bench.BINARY} is missing: run `cargo build --release -p fido-api`")
    bench.OUT.mkdir(parents=True, exist_ok=True)
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    work = pathlib.Path(tempfile.mkdtemp(prefix="fido-bench-traces-"))
    rows, notes = [], [f"{os.cpu_count()} cores; wrk -t2 -c{bench.CONNECTIONS}, {bench.SECONDS} s per run, "
                       f"{ROUNDS} interleaved rounds"]
    configs = {
        "off": {},
        "full": {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": "parentbased_always_on"},
        "ratio 10%": {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                      "OTEL_TRACES_SAMPLER_ARG": "0.1"},
    }
    try:
        ports = {}
        user = "%024x" % secrets.randbits(96)
        for i, (name, env) in enumerate(configs.items()):
            (work / str(i)).mkdir()
            _, port, _ = bench.start_service(work / str(i), env, f"traces-{name}")
            ports[name] = port
            client = bench.Client(port)
            for n in range(200):
                client.request("POST", "/api/v1/transactions", {"user_id": user, "full_name": "Bench",
                                                                 "transaction_amount": 1 + n, "transaction_type": "credit"})
        path = f"/api/v1/transactions/user/{user}"
        results = {name: [] for name in configs}
        for _ in range(ROUNDS):
            for name, port in ports.items():
                bench.Client(port).request("GET", path)  # warm
                results[name].append(bench.wrk(port, path, "get.lua", {})["rps"])
        off = statistics.median(results["off"])
        for name, target in (("full", 0.80), ("ratio 10%", 0.95)):
            m = statistics.median(results[name])
            ratio = m / off if off else 0.0
            print(f"  cached list, traces {name:<10} {m:>9,.0f}/s  off {off:>9,.0f}/s  {ratio:.1%}", flush=True)
            rows.append({"measure": f"cached list: traces {name} / off (medians)", "value": f"{ratio:.1%}",
                         "detail": f"{name} {m:,.0f}/s, off {off:,.0f}/s; runs {name} {results[name]}, off {results['off']}",
                         "target": f">= {target:.0%}", "met": ratio >= target})
        notes.append(f"collector received {RECEIVED['requests']:,} exports, {RECEIVED['bytes'] / 1e6:,.1f} MB")
    finally:
        for proc in bench.PROCESSES:
            bench.stop(proc)
        collector.shutdown()
    bench.write_report("traces", notes, rows)


if __name__ == "__main__":
    main()
