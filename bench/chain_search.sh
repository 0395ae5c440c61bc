#!/usr/bin/env bash
# Measures what one report with a chain search costs on a heap of N objects (default: 1M and
# 10M): report time, chain search time, objects tagged, and the process RSS before and after.
# AGENT_OPTIONS adds agent options (default chain_time=300s, so the numbers are not cut short).
#   bench/chain_search.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
cargo build --release -q
bash java-harness/build.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$JAVA_HOME/bin/javac" -d "$work" bench/ChainBench.java
sizes=("$@")
((${#sizes[@]})) || sizes=(1000000 10000000)
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
printf '%-10s %12s %12s %10s %8s %12s %14s %12s\n' objects report_ms search_ms passes tagged visited rss_before_MB rss_after_MB
for n in "${sizes[@]}"; do
  rm -f "$work"/r-*.json
  mkfifo "$work/in.$n"
  "$JAVA_HOME/bin/java" -Xmx4g -Xms4g \
    "-agentpath:$PWD/target/release/libleakagent.so=file=$work/r-%n,log=$work/agent.log,${AGENT_OPTIONS:-chain_time=300s}" \
    -cp "$work:java-harness/build/harness.jar" ChainBench "$n" java-harness/build/apps/healthy.jar <"$work/in.$n" >"$work/out.$n" 2>&1 &
  pid=$!
  exec 3>"$work/in.$n"
  until grep -q ready "$work/out.$n"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/out.$n"; exit 1; }
    sleep 0.2
  done
  before=$(rss "$pid")
  kill -s RTMIN+2 "$pid"
  until [[ -f "$work/r-1.json" ]]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/out.$n" "$work/agent.log"; exit 1; }
    sleep 0.2
  done
  after=$(rss "$pid")
  echo >&3
  exec 3>&-
  wait "$pid" || true
  python3 - "$work/r-1.json" "$n" "$before" "$after" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n, before, after = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cl = r["class_loaders"]; s = cl["chain_search"] or {}
assert len(cl["leak_suspects"]) == 2 and s.get("chains_found") == 2, cl["leak_suspects"]
print(f'{n:<10} {r["agent"]["report_build_ms"]:>12} {s["time_ms"]:>12} {s["passes"]:>10} {s["objects_tagged"]:>8} {s["references_visited"]:>12} {before/2**20:>14.0f} {after/2**20:>12.0f}')
PY
done
