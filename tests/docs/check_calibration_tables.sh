#!/usr/bin/env bash
# docs/cost-model.md section 9's tables are what nest prints: the step-time and peak-memory
# datasets, the two reference tables, the memory rows and the collectives against nccl-tests, as
# docs/tools/calibration_tables.py writes them from `nest calibrate --loo --json`, `nest calibrate
# --kind memory --json` and nest_collectives_error.
# Usage: check_calibration_tables.sh NEST_BINARY COLLECTIVES_ERROR_BINARY SOURCE_DIR
# (exit 77: skipped, no python3).
set -euo pipefail
nest=$1
collectives_error=$2
root=$3
if ! command -v python3 > /dev/null; then
  echo "skipped: python3 is not installed (docs/tools/calibration_tables.py needs it)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NEST_PRESETS_DIR="$root/presets"
"$nest" calibrate --loo --json > "$tmp/runs.json"
"$nest" calibrate --kind memory --json > "$tmp/memory.json"
"$collectives_error" > "$tmp/collectives.md"
python3 "$root/docs/tools/calibration_tables.py" "$tmp/runs.json" "$tmp/memory.json" "$tmp/collectives.md" \
  "$root/docs/cost-model.md" --check
