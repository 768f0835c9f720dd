"""Checks of the deployment files that need no container engine or cluster.

Run by scripts/check-deploy.sh (from `make test`) with the venv's Python. Schema
validation is done there (check-jsonschema, kubernetes-validate); this file checks what
the schemas cannot: the topology and the conventions of this project.
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


# --- docker-compose.yml: the original topology ---------------------------------------
compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
services = compose.get("services", {})
expected_ports = {"api": {"8080:8080"}, "mongodb": {"27017:27017"}, "redis": {"6379:6379", "8001:8001"},
                  "rabbitmq": {"5672:5672", "15672:15672"}, "worker": set(),
                  "prometheus": {"9090:9090"}, "grafana": {"3000:3000"}, "jaeger": {"16686:16686"}}
# Jaeger's image has no shell or HTTP client to probe itself with; nothing depends on it
# being healthy (exports are dropped, never waited for, while it is down).
no_probe = {"jaeger"}
check(set(services) == set(expected_ports), f"compose services are {sorted(services)}, expected {sorted(expected_ports)}")
for name, ports in expected_ports.items():
    service = services.get(name, {})
    check(set(service.get("ports", [])) == ports, f"compose {name} publishes {service.get('ports')}, expected {sorted(ports)}")
    check("healthcheck" in service or name in no_probe, f"compose {name} has no healthcheck")
api = services.get("api", {})
for dependency in ("mongodb", "redis"):
    condition = api.get("depends_on", {}).get(dependency, {}).get("condition")
    check(condition == "service_healthy", f"api must wait for {dependency} to be healthy (condition: {condition})")
check(api.get("healthcheck", {}).get("test") == ["CMD", "/usr/local/bin/fido", "healthcheck"],
      "the api health check must be the binary's own `healthcheck` (no shell in the image)")
check("redis-stack" in services.get("redis", {}).get("image", ""), "redis must come from Redis Stack (RedisInsight on 8001)")
mongo = services.get("mongodb", {})
check("--replSet" in (mongo.get("command") or []), "mongodb must run as a replica set (roll-ups need transactions)")
check("replicaSet=" in str(api.get("environment", {}).get("DB_URI", "")), "the api's DB_URI must name the replica set")
check(any(str(v).startswith("mongodb-data:") for v in mongo.get("volumes", [])), "mongodb data must be on the named volume")
check("mongodb-data" in (compose.get("volumes") or {}), "the mongodb-data volume must be declared")
env = mongo.get("environment", {})
for key in ("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"):
    check(str(env.get(key, "")).startswith("${"), f"mongodb {key} must come from the env file")
check(str(api.get("environment", {}).get("FERNET_KEY", "")).startswith("${FERNET_KEY:?"), "FERNET_KEY must be required from the env file")

for example in (".env.example", ".env.prod.example"):
    check((ROOT / example).is_file(), f"{example} is missing")
prod_keys = {l.split("=", 1)[0] for l in (ROOT / ".env.prod.example").read_text().splitlines() if "=" in l and not l.startswith("#")}
used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "deploy/docker-compose.yml").read_text()))
check(used <= prod_keys, f".env.prod.example lacks {sorted(used - prod_keys)}")

worker = services.get("worker", {})
check(worker.get("command") == ["worker"], "the worker service must run `fido worker`")
check(str(api.get("environment", {}).get("FIDO__EVENTS__RELAY", "")) == "off",
      "the api service must leave the relay to the worker (FIDO__EVENTS__RELAY: off)")
check(str(worker.get("environment", {}).get("FIDO__EVENTS__AMQP_URL", "")).startswith("amqp://"),
      "the worker must publish to the rabbitmq service")
check(worker.get("depends_on", {}).get("rabbitmq", {}).get("condition") == "service_healthy",
      "the worker must wait for rabbitmq to be healthy")
k8s_resources = (ROOT / "deploy/k8s/kustomization.yaml").read_text()
check("worker.yaml" in k8s_resources, "the k8s kustomization must include the worker Deployment")

# --- monitoring: profile, metrics never published, the dashboard's queries ---------------
for name in ("prometheus", "grafana", "jaeger"):
    check(services.get(name, {}).get("profiles") == ["monitoring"], f"compose {name} must be in the monitoring profile")
for name in ("api", "worker"):
    env = services.get(name, {}).get("environment", {})
    check(str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")).startswith("${OTEL_EXPORTER_OTLP_ENDPOINT"),
          f"compose {name} must take OTEL_EXPORTER_OTLP_ENDPOINT from the env file (traces)")
check("OTEL_EXPORTER_OTLP_ENDPOINT" in yaml.safe_load((ROOT / "deploy/k8s/configmap.yaml").read_text()).get("data", {}),
      "the k8s ConfigMap must carry OTEL_EXPORTER_OTLP_ENDPOINT (traces)")
for name in ("api", "worker"):
    env = services.get(name, {}).get("environment", {})
    check(str(env.get("FIDO__METRICS__ADDR", "")).endswith(":9464"), f"compose {name} must serve /metrics on 9464")
    check(not any("9464" in str(p) for p in services.get(name, {}).get("ports", [])), f"compose {name} must not publish /metrics")
scrape = yaml.safe_load((ROOT / "deploy/monitoring/prometheus.yml").read_text())
targets = {t for job in scrape.get("scrape_configs", []) for sc in job.get("static_configs", []) for t in sc.get("targets", [])}
check({"api:9464", "worker:9464"} <= targets, f"prometheus must scrape api:9464 and worker:9464 (has {sorted(targets)})")
import json
names_rs = (ROOT / "crates/observability/src/names.rs").read_text()
known = set(re.findall(r'"(fido_[a-z_]+)"', names_rs)) | {"fido_cache_breaker_open"}
dashboard = json.loads((ROOT / "deploy/monitoring/grafana/dashboards/fido.json").read_text())
for key in ("uid", "title", "panels", "schemaVersion"):
    check(key in dashboard, f"the dashboard lacks {key}")
ids = [p.get("id") for p in dashboard.get("panels", [])]
check(len(ids) == len(set(ids)), "dashboard panel ids must be unique")
for p in dashboard.get("panels", []):
    check(p.get("datasource", {}).get("uid") == "prometheus", f"panel {p.get('title')} must use the provisioned datasource")
    check(bool(p.get("targets")), f"panel {p.get('title')} has no query")
    for t in p.get("targets", []):
        for metric in re.findall(r"\b(fido_[a-z_]+?)(?:_bucket|_count|_sum)?\b", t.get("expr", "")):
            check(metric in known, f"panel {p.get('title')} queries {metric}, which the service does not export")
alerts = yaml.safe_load((ROOT / "deploy/monitoring/alerts.yml").read_text())
for rule in (r for g in alerts.get("groups", []) for r in g.get("rules", [])):
    for metric in re.findall(r"\b(fido_[a-z_]+?)(?:_bucket|_count|_sum)?\b", rule.get("expr", "")):
        check(metric in known, f"alert {rule.get('alert')} uses {metric}, which the service does not export")
    check("runbook" in rule.get("annotations", {}), f"alert {rule.get('alert')} needs a runbook link")
    anchor = rule.get("annotations", {}).get("runbook", "").split("#")[-1]
    check(anchor in (ROOT / "docs/operations.md").read_text().lower().replace(" ", ""), f"docs/operations.md lacks the runbook of {rule.get('alert')}")
for f in ("deployment.yaml", "worker.yaml"):
    doc = yaml.safe_load((ROOT / "deploy/k8s" / f).read_text())
    ann = doc["spec"]["template"]["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9464",
          f"k8s {f}: pods need prometheus.io scrape annotations on 9464")

# --- Dockerfile ------------------------------------------------------------------------
dockerfile = (ROOT / "deploy/Dockerfile").read_text()
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
check(len(stages) >= 2, "the Dockerfile must be multi-stage")
final = dockerfile[dockerfile.rfind("\nFROM"):]
user = re.search(r"^USER\s+(\S+)", final, re.M)
check(user is not None and user.group(1).split(":")[0] not in ("root", "0"), "the runtime stage must run as a non-root user")
check(re.search(r'^HEALTHCHECK .*\n?\s*CMD \["/usr/local/bin/fido", "healthcheck"\]', final, re.M) is not None,
      "the runtime stage needs an exec-form HEALTHCHECK running `fido healthcheck`")
check(re.search(r"^EXPOSE 8080", final, re.M) is not None, "the runtime stage must expose 8080")
check("HOST=0.0.0.0" in final, "the container must listen on 0.0.0.0")
check("--release" in dockerfile and "--locked" in dockerfile, "the build must be a locked release build")
check(dockerfile.count("cargo build") >= 2, "a dependency-caching layer must build before the sources are copied")

# Every workspace member reaches the image's dependency layer, and that layer's stub
# sources make a workspace cargo can load: run its RUN block on a copy of the manifests,
# with `cargo metadata` in place of the build.
workspace = (ROOT / "Cargo.toml").read_text()
members = re.findall(r'"crates/([a-z0-9-]+)"', workspace.split("[workspace.package]")[0])
check(members, "no workspace members found in Cargo.toml")
dependency_stage = dockerfile.split("COPY crates crates")[0]
for member in members:
    check(f"COPY crates/{member}/Cargo.toml crates/{member}/" in dependency_stage,
          f"the Dockerfile's dependency layer does not copy crates/{member}/Cargo.toml")
stub_run = re.search(r"^RUN (set -eux;.*?cargo build[^;]*;)", dependency_stage, re.M | re.S)
check(stub_run is not None, "the dependency layer's RUN block was not found")
if stub_run and members:
    import shutil
    import subprocess
    import tempfile
    script = stub_run.group(1).replace("\\\n", " ")
    script = re.sub(r"cargo build[^;]*;", "cargo metadata --locked --offline --no-deps --format-version 1 >/dev/null;", script)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ROOT / "Cargo.toml", tmp)
        shutil.copy(ROOT / "Cargo.lock", tmp)
        for member in members:
            (pathlib.Path(tmp) / "crates" / member).mkdir(parents=True)
            shutil.copy(ROOT / "crates" / member / "Cargo.toml", pathlib.Path(tmp) / "crates" / member)
        run = subprocess.run(["bash", "-c", script], cwd=tmp, capture_output=True, text=True)
        check(run.returncode == 0,
              f"the Dockerfile's dependency layer leaves a workspace cargo cannot load:\n{run.stderr[-2000:]}")
        # `cargo metadata --no-deps` does not look for declared targets' files, but a build
        # does: every [[bench]], [[test]], [[example]] and [[bin]] must exist as a stub.
        import tomllib
        kinds = {"bench": "benches", "test": "tests", "example": "examples", "bin": "src/bin"}
        for member in members:
            crate_dir = pathlib.Path(tmp) / "crates" / member
            manifest = tomllib.loads((crate_dir / "Cargo.toml").read_text())
            for kind, folder in kinds.items():
                for target in manifest.get(kind, []):
                    path = target.get("path") or f"{folder}/{target['name']}.rs"
                    check((crate_dir / path).is_file(),
                          f"the Dockerfile's dependency layer has no stub for crates/{member}/{path}")

# --- Kubernetes: what the probes and the budget rely on ------------------------------
docs = {p.name: list(yaml.safe_load_all(p.read_text())) for p in (ROOT / "deploy/k8s").glob("*.yaml")}
deployment = docs["deployment.yaml"][0]
container = deployment["spec"]["template"]["spec"]["containers"][0]
check(container["readinessProbe"]["httpGet"]["path"] == "/health/ready", "readiness must probe /health/ready")
check(container["livenessProbe"]["httpGet"]["path"] == "/health/live", "liveness must probe /health/live")
check("limits" in container["resources"] and "requests" in container["resources"], "resources need requests and limits")
check(deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "rolling updates must keep every replica serving")
labels = deployment["spec"]["template"]["metadata"]["labels"]
for name in ("service.yaml", "pdb.yaml"):
    selector = docs[name][0]["spec"]["selector"]
    selector = selector.get("matchLabels", selector)
    check(all(labels.get(k) == v for k, v in selector.items()), f"{name} does not select the deployment's pods")
hpa = docs["hpa.yaml"][0]["spec"]
check(hpa["minReplicas"] > docs["pdb.yaml"][0]["spec"]["maxUnavailable"], "the HPA minimum must exceed the PDB's allowance")
kustomized = set(docs["kustomization.yaml"][0]["resources"])
check(kustomized == {n for n in docs if n not in ("kustomization.yaml", "secret.example.yaml")},
      "kustomization.yaml must list every manifest but the secret template")

if problems:
    print("deployment checks failed:")
    for p in problems:
        print(f"  - {p}")
    sys.exit(1)
print(f"deployment checks passed ({len(services)} compose services, {len(docs)} Kubernetes files)")
