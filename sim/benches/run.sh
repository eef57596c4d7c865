#!/usr/bin/env bash
# The kernel benchmarks and SimPy side by side, in one run.
#
# Usage: sim/benches/run.sh [--quick]
#
# Creates a virtual environment under target/bench-venv (target/ is gitignored) with
# simpy==4.1.2 from PyPI the first time, then runs `cargo bench -p memwall-sim --bench
# kernel` and sim/benches/simpy_churn.py one after the other, and prints the ratio of
# event-queue churn rates at 1,000 pending events: per wall second, and per second of
# CPU time (Linux), which moves less when other processes share the machine. Needs python3 (with venv) and network
# access to PyPI on the first run only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/target/bench-venv"
PY="${PYTHON:-python3}"

if ! "$VENV/bin/python" -c 'import simpy, sys; sys.exit(simpy.__version__ != "4.1.2")' 2>/dev/null; then
    echo "run.sh: creating $VENV with simpy==4.1.2" >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check simpy==4.1.2
fi

cd "$ROOT"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rust="$(cargo bench --quiet -p memwall-sim --bench kernel -- "$@")"
echo "$rust"
simpy="$("$VENV/bin/python" sim/benches/simpy_churn.py "$@")"
echo "$simpy"

# The numbers to compare: Rust churn at 1,000 pending, SimPy callbacks and processes.
num() { sed -n "s/.*$1[^0-9]*\([0-9.]*\) M events\/s.*/\1/p" | head -1; }
r="$(echo "$rust" | num 'churn, 1000 pending')"
c="$(echo "$simpy" | num 'callbacks')"
p="$(echo "$simpy" | num 'processes')"
awk -v r="$r" -v c="$c" -v p="$p" 'BEGIN {
    printf "event-queue churn, 1000 pending: memwall %.1f M events/s; SimPy callbacks %.2f M/s (memwall %.0fx), processes %.2f M/s (memwall %.0fx)\n", r, c, r / c, p, r / p
}'

# The same per CPU second, where both benches could measure it.
cpu() { sed -n "s/.*$1.*(\([0-9.]*\) M per CPU second).*/\1/p" | head -1; }
r="$(echo "$rust" | cpu 'churn, 1000 pending')"
c="$(echo "$simpy" | cpu 'callbacks')"
p="$(echo "$simpy" | cpu 'processes')"
if [ -n "$r" ] && [ -n "$c" ] && [ -n "$p" ]; then
    awk -v r="$r" -v c="$c" -v p="$p" 'BEGIN {
        printf "per CPU second: memwall %.1f M events; SimPy callbacks %.2f M (memwall %.0fx), processes %.2f M (memwall %.0fx)\n", r, c, r / c, p, r / p
    }'
fi
