#!/usr/bin/env bash
# One command: set everything up, then run the demo (4 simulated cameras, SQLite, local disk).
# Extra arguments go to `ronda demo` (e.g. --cameras 8 --http-port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ronda demo "$@"
