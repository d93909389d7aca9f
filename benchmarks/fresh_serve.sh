#!/usr/bin/env bash
# What a new user waits for: clone the repository at REF, run `make serve`, and time until
# /health answers; then what the install cost and left behind: the CPU seconds make's
# finished children used (venv creation, pip, the C builds — everything but the running
# server), the virtualenv's size and how many distributions it holds. Wall time follows the
# machine's load; CPU seconds and sizes much less. The pip cache is whatever the machine has,
# so compare refs measured one after the other in the same run.
#
#   benchmarks/fresh_serve.sh [REF] [PORT]      e.g. benchmarks/fresh_serve.sh e7df427 18600
set -euo pipefail
ref=${1:-HEAD}
port=${2:-18600}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d /tmp/kato-fresh-XXXXXX)
git clone --quiet "$repo" "$work"
git -C "$work" checkout --quiet "$ref"
cd "$work"
start=$(date +%s.%N)
# setsid: make and the server it starts form one process group, ended together below.
KATO_PORT=$port KATO_DATA_DIR="$work/data" setsid make serve >"$work/serve.log" 2>&1 &
group=$!
trap 'kill -- -$group 2>/dev/null || true; rm -rf "$work"' EXIT
until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    if ! kill -0 "$group" 2>/dev/null; then
        echo "make serve exited; its log:" >&2
        cat "$work/serve.log" >&2
        exit 1
    fi
    sleep 0.2
done
end=$(date +%s.%N)
# Fields 16 and 17 of /proc/PID/stat: CPU ticks of the children make has waited for.
read -r cutime cstime < <(awk '{print $16, $17}' "/proc/$group/stat")
ticks=$(getconf CLK_TCK)
packages=$(.venv/bin/python -m pip list --format=freeze 2>/dev/null | wc -l)
printf 'ref %s: /health answered %.1f s after `make serve`; install CPU %.1f s; venv %s, %s distributions\n' \
    "$(git rev-parse --short HEAD)" "$(echo "$end - $start" | bc)" \
    "$(echo "($cutime + $cstime) / $ticks" | bc -l)" "$(du -sh .venv | cut -f1)" "$packages"
