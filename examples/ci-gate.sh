#!/usr/bin/env bash
# An integration test that gates a build on leaks: run the application under the agent, drive it
# through redeploys, take a report while it still runs (some leaks, e.g. a Level set on JDK
# logging, vanish once the JVM shuts down), then let `leakagent check` decide.
#
#   examples/ci-gate.sh [SCENARIO] [HARNESS ARGS...]      e.g. examples/ci-gate.sh level-redeploy --fixed
#
# Exit status: 0 no leak, 1 leak (each finding printed on one line), 2 the gate itself failed.
# The application is a Java harness scenario (java-harness/): it deploys its app jar in a fresh
# class loader, undeploys it, 5 times, and waits on stdin. Replace the `java ... harness.jar` line
# with your own application and its redeploy loop (Tomcat's manager, a DevTools restart, ...).
# Environment: JAVA (the java to run), ALLOW (an allow-list for leakagent check), OUT (where the
# reports go; a temporary directory by default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release
java=${JAVA:-/usr/lib/jvm/java-17-openjdk-amd64/bin/java}
scenario=${1:-level-redeploy}
shift || true
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

# 1. The application under the agent: five deploy/undeploy cycles, then it waits for "exit".
coproc APP { exec "$java" "-agentpath:$bin/libleakagent.so=file=$out/run-%p-%n,format=text+html" \
    -jar "$root/java-harness/build/harness.jar" "$scenario" --generations 5 --await-stdin "$@" 2>"$out/app.log"; }
app_pid=$APP_PID
app_in=${APP[1]}
ready=
while IFS= read -r -t 180 line <&"${APP[0]}"; do
    if [[ $line == "HARNESS ready" ]]; then ready=1; break; fi
done
if [[ -z $ready ]]; then
    echo "ci-gate: the application did not get ready; see $out/app.log" >&2
    exit 2
fi

# 2. A report while the application still runs (the CLI finds the agent's signal in the JVM).
if ! "$bin/leakagent" report "$app_pid" -o "$out/gate"; then
    echo "ci-gate: could not get a report from the application" >&2
    exit 2
fi

# 3. Stop the application; its exit report lands in $out too.
echo exit >&"$app_in"
wait "$app_pid" || true

# 4. The gate: metrics for the dashboard, then the verdict.
"$bin/leakagent" metrics "$out"/gate/*.json --label job=ci-gate -o "$out/leakagent.prom"
exec "$bin/leakagent" check "$out"/gate/*.json --fail-on warning ${ALLOW:+--allow "$ALLOW"}
