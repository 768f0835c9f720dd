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
