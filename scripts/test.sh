#!/usr/bin/env bash
# One command: set everything up (including PostgreSQL 15 for the store tests), lint, run the suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy (all of src/, pydantic plugin, no untyped defs)"
.venv/bin/mypy src/
echo "== import layers (docs/architecture.md)"
.venv/bin/lint-imports
echo "== tsc (the web client's JSDoc types)"
.venv/tools/node_modules/.bin/tsc --noEmit -p src/ronda/web/tsconfig.json
.venv/tools/node_modules/.bin/tsc --noEmit -p src/ronda/web/tsconfig.sw.json
echo "== pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider -ra --durations=40 "$@"
