#!/usr/bin/env bash
# Regenerates the sample reports beside this script from real runs, and their screenshots:
#   level-redeploy  the harness's `level-redeploy` scenario (an application redeployed three times
#                   whose custom Level is kept by JDK logging), a report asked for by signal while
#                   the leak is live;
#   healthy         the `healthy` scenario (loaders created and dropped), the same way.
# Each as .json, .txt and .html, and .png: the HTML page as headless Chromium shows it at 1400 px.
#   examples/sample-report/make.sh        (after cargo build --release and java-harness/build.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
java=${JAVA:-/usr/lib/jvm/java-17-openjdk-amd64/bin/java}

sample() {
  local name=$1 scenario=$2 height=$3 work
  work=$(mktemp -d)
  mkfifo "$work/in"
  "$java" "-agentpath:$root/target/release/libleakagent.so=file=$work/report-%n,format=text+html,sample_interval=200ms" \
    -jar "$root/java-harness/build/harness.jar" "$scenario" --await-stdin <"$work/in" >"$work/out" 2>&1 &
  local pid=$!
  exec 3>"$work/in"
  until grep -q '^HARNESS ready' "$work/out"; do kill -0 "$pid" || { cat "$work/out"; exit 1; }; sleep 0.1; done
  sleep 2 # a few samples for the charts
  kill -s RTMIN+2 "$pid"
  until [[ -f "$work/report-1.json" ]]; do sleep 0.1; done
  echo exit >&3
  exec 3>&-
  wait "$pid" || true
  for ext in json txt html; do cp "$work/report-1.$ext" "$here/$name.$ext"; done
  if command -v chromium >/dev/null; then
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$work/chromium" --hide-scrollbars \
      --window-size="1400,$height" --screenshot="$here/$name.png" "file://$here/$name.html" >/dev/null 2>&1
  fi
  rm -rf "$work"
  echo "sample report written to $here/$name.{json,txt,html,png}"
}

sample level-redeploy level-redeploy 2400
sample healthy healthy 1600
