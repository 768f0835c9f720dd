#!/usr/bin/env bash
# Checks of deploy/ that need no container engine or cluster: every YAML file parses and
# passes yamllint; the compose file validates against the Compose specification and has
# the original topology; the Kubernetes manifests validate against the API schemas
# (strict: unknown fields fail); the Dockerfile keeps its conventions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv/bin

"$venv/yamllint" --strict -c .yamllint.yaml deploy/ .yamllint.yaml
"$venv/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml
manifests=()
for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
"$venv/kubernetes-validate" --strict --quiet "${manifests[@]}"
"$venv/python" scripts/check_deploy.py

# Monitoring: the alert rules and the Prometheus configuration with Prometheus's own
# checker (Debian's `prometheus` package carries promtool; installed when missing).
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing promtool (Debian package prometheus)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
fi
command -v promtool >/dev/null 2>&1 || { echo "promtool is missing (apt-get install prometheus)" >&2; exit 1; }
promtool check rules deploy/monitoring/alerts.yml
promtool check config --syntax-only deploy/monitoring/prometheus.yml
