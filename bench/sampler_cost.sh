#!/usr/bin/env bash
# What the memory sampler costs on `arena-retention` (8 threads x 20 011 Inflaters never ended:
# glibc arenas full of free chunks, the heaps this tool is for). For each run: the sampler's own
# cost per sample (mean and max, sample_interval=100ms for 5 s) and what one reading of the
# allocator (glibc mallinfo2 + malloc_info, every arena locked in turn) took at report time: that
# reading is what every sample paid before the sampler stopped taking it (it now reads the
# allocator at most once a minute, and at each report).
#   bench/sampler_cost.sh [RUNS]      (default 5)
#   EXTRA="usage_limit=90%,format=json+prom" bench/sampler_cost.sh   (more agent options: the
#   limits' reads and the Prometheus textfile refreshed at each sample)
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
cargo build --release -q 2>/dev/null
bash java-harness/build.sh >/dev/null
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-4s %14s %13s %16s %9s\n' run sample_mean_us sample_max_us allocator_read_us arenas
for k in $(seq "$runs"); do
  dir="$work/$k"
  mkdir -p "$dir"
  mkfifo "$dir/in"
  "$JAVA_HOME/bin/java" "-agentpath:$PWD/target/release/libleakagent.so=file=$dir/r-%n,sample_interval=100ms,log=$dir/agent.log${EXTRA:+,$EXTRA}" \
    -jar java-harness/build/harness.jar arena-retention --await-stdin <"$dir/in" >"$dir/out" 2>&1 &
  pid=$!
  exec 3>"$dir/in"
  until grep -q 'HARNESS ready' "$dir/out"; do kill -0 "$pid" 2>/dev/null || { cat "$dir/out"; exit 1; }; sleep 0.2; done
  sleep 5
  kill -s RTMIN+2 "$pid"
  until [[ -f "$dir/r-1.json" ]]; do kill -0 "$pid" 2>/dev/null || { cat "$dir/out"; exit 1; }; sleep 0.2; done
  echo exit >&3
  exec 3>&-
  wait "$pid" || true
  python3 - "$dir/r-1.json" "$k" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
s = m["sampler"]
print(f'{sys.argv[2]:<4} {s["cost_us_mean"]:>14} {s["cost_us_max"]:>13} {m["malloc"]["read_us"]:>16} {m["malloc"]["arenas"] or 0:>9}')
PY
done
