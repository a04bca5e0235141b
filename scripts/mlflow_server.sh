#!/usr/bin/env bash
# A local MLflow tracking server for one user: sqlite backend, artifacts served by the server,
# bound to 127.0.0.1 (set HOST to change). Point runs at it with tracking.uri=http://127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p outputs/server
exec .venv/bin/mlflow server --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}" \
  --backend-store-uri "sqlite:///$PWD/outputs/server/mlflow.db" \
  --artifacts-destination "$PWD/outputs/server/artifacts"
