#!/usr/bin/env bash
# The main job: build the agent and the Java harness, run a leaking scenario under the agent, ask
# for a report while the leak is live (the report signal), and print where the report is and
# what it says.
#   scripts/demo.sh [SCENARIO [HARNESS ARGS...]]   (default: level-redeploy)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
scenario="${1:-level-redeploy}"
shift || true
out="$PWD/reports"
mkdir -p "$out"
rm -f "$out/demo-$scenario"-*
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/stdin"
# The harness waits on its stdin after the scenario ran, so the leak is live when we ask.
"$JAVA_HOME/bin/java" \
  "-agentpath:$PWD/target/release/libleakagent.so=file=$out/demo-$scenario-%n,format=text" \
  -jar java-harness/build/harness.jar "$scenario" "$@" --await-stdin <"$work/stdin" >"$work/out" 2>&1 &
pid=$!
exec 3>"$work/stdin"
for _ in $(seq 600); do grep -q '^HARNESS \(ready\|failed\)' "$work/out" && break; sleep 0.1; done
kill -s RTMIN+2 "$pid"
for _ in $(seq 1200); do [[ -f "$out/demo-$scenario-1.json" ]] && break; sleep 0.1; done
echo exit >&3
exec 3>&-
wait "$pid" || true
grep -v '^HARNESS truth' "$work/out" || true
echo
echo "Report asked for by signal while the scenario ran:"
echo "  JSON: $out/demo-$scenario-1.json"
echo "  text: $out/demo-$scenario-1.txt"
echo "Report written at exit: $out/demo-$scenario-2.json"
echo
cat "$out/demo-$scenario-1.txt"
