#!/usr/bin/env bash
# Regenerates the sample reports beside this script from a real run: the harness's
# `level-redeploy` scenario (an application redeployed three times whose custom Level is kept by
# JDK logging) under the agent, a report asked for by signal while the leak is live.
#   examples/sample-report/make.sh        (after cargo build --release and java-harness/build.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
java=${JAVA:-/usr/lib/jvm/java-17-openjdk-amd64/bin/java}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/in"
"$java" "-agentpath:$root/target/release/libleakagent.so=file=$work/report-%n,format=text+html" \
  -jar "$root/java-harness/build/harness.jar" level-redeploy --await-stdin <"$work/in" >"$work/out" 2>&1 &
pid=$!
exec 3>"$work/in"
until grep -q '^HARNESS ready' "$work/out"; do kill -0 "$pid" || { cat "$work/out"; exit 1; }; sleep 0.1; done
kill -s RTMIN+2 "$pid"
until [[ -f "$work/report-1.json" ]]; do sleep 0.1; done
echo exit >&3
exec 3>&-
wait "$pid" || true
for ext in json txt html; do cp "$work/report-1.$ext" "$here/level-redeploy.$ext"; done
echo "sample reports written to $here/level-redeploy.{json,txt,html}"
