#!/usr/bin/env bash
# What a new user waits for: clone the repository at REF, run `make serve`, and time until
# /health answers; then the size of the virtualenv it built. The pip cache is whatever the
# machine has, so compare refs measured one after the other in the same run.
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
printf 'ref %s: /health answered %.1f s after `make serve`; venv %s\n' \
    "$(git rev-parse --short HEAD)" "$(echo "$end - $start" | bc)" "$(du -sh .venv | cut -f1)"
