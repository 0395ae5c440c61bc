#!/usr/bin/env bash
# The main job: build the agent and the Java harness, run a leaking scenario under the agent,
# and print where the report is and what it says.
#   scripts/demo.sh [SCENARIO [HARNESS ARGS...]]   (default: level-redeploy)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
cargo build --release
bash java-harness/build.sh
scenario="${1:-level-redeploy}"
shift || true
out="$PWD/reports"
mkdir -p "$out"
rm -f "$out"/demo-"$scenario".*
"$JAVA_HOME/bin/java" \
  "-agentpath:$PWD/target/release/libleakagent.so=file=$out/demo-$scenario,format=text" \
  -jar java-harness/build/harness.jar "$scenario" "$@" | grep -v '^HARNESS truth' || true
echo
echo "JSON report: $out/demo-$scenario.json"
echo "Text report: $out/demo-$scenario.txt"
echo
cat "$out/demo-$scenario.txt"
