#!/usr/bin/env bash
# The main job: build the agent and the Java harness, run a leaking scenario under the agent, ask
# for a report while the leak is live (the report signal), and print where the report is and
# what it says.
#   scripts/demo.sh [SCENARIO [HARNESS ARGS...]]   (default: level-redeploy)
# Two scenarios run the real Spring Boot applications of java-harness/springboot instead:
#   scripts/demo.sh springboot-devtools [--leakagent.leak=thread|jdbc|none] [--leakagent.fixed=true]
#       a Spring Boot 4.0.7 web service restarted 3 times by DevTools; by default each generation
#       leaves a thread running (its RestartClassLoaders leak)
#   scripts/demo.sh springboot-seed000 [2.0.4|2.0.5|2.1.0]
#       seed 000: Reflections scans every jar through Spring Boot's own loader (default 2.0.4)
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
sb=java-harness/build/springboot
case "$scenario" in
  springboot-devtools)
    launch=(-cp "$sb/service/classes:$sb/service/lib/*" leakagent.service.ServiceApp --leakagent.restarts=3)
    [[ " $* " == *" --leakagent.leak="* ]] || launch+=(--leakagent.leak=thread) ;;
  springboot-seed000)
    launch=(-jar "$sb/seed000-boot-${1:-2.0.4}.jar"); shift || true ;;
  *) launch=(-jar java-harness/build/harness.jar "$scenario") ;;
esac
"$JAVA_HOME/bin/java" \
  "-agentpath:$PWD/target/release/libleakagent.so=file=$out/demo-$scenario-%n,format=text" \
  "${launch[@]}" "$@" --await-stdin <"$work/stdin" >"$work/out" 2>&1 &
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
