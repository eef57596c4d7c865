#!/usr/bin/env bash
# Runs every what-if here and gathers one long-format CSV (whatif.csv) plus the terminal
# summaries. Usage: scenarios/whatif/run-all.sh [path/to/memwall]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-"$here/../../target/release/memwall"}
out="$here/out"; mkdir -p "$out"
first=1
for f in "$here"/*.toml; do
  n=$(basename "$f" .toml)
  "$bin" run "$f" --csv "$out/$n.csv" > "$out/$n.txt"
  if [ $first = 1 ]; then cat "$out/$n.csv"; first=0; else tail -n +2 "$out/$n.csv"; fi
done > "$out/whatif.csv"
echo "wrote $out/whatif.csv"
