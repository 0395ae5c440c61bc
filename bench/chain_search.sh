#!/usr/bin/env bash
# What the class loader chain search pauses the application for, on a heap of N small objects
# with two closed loaders pinned 12 links deep from a static field (bench/ChainBench.java).
#
# For each N: one JVM with the default chain_method=auto asked for two reports in a row (the
# first searches, the second verifies the chains it found), then `jcmd GC.heap_dump` on the same
# heap for comparison; and one JVM with chain_method=walk (a live heap walk per hop).
# Pauses are HotSpot's own safepoint times (-Xlog:safepoint) while the report was built, the
# report's GC excluded (it is listed apart); memory is the search's own bookkeeping as the
# report gives it; dump_MB is the temporary heap dump (deleted before the report is written).
# The walk JVM runs with chain_pause=60s so that its walks are not cut short. The memory column
# includes the retained-heap graph the dump search builds (issue 21); `retained` says whether the
# suspects got their retained heap or why not. CHAIN_OPTS adds agent options to the auto JVM
# (e.g. chain_memory=1g to see the whole graph's cost past the default 64m).
# LEAKAGENT_LIB runs another build of the agent (e.g. the previous one, built aside); WALK=off
# leaves out the walk JVMs (to compare dump searches only).
# RUNS=K instead times the dump search's phases: K JVMs of one report each per N, each phase's
# median and range in ms from the steps the agent logs with each report (heap dump, the index
# pass, the chain search's other passes, the retained sizes; `search` is `chain_search.time_ms`).
# For the retained heap of a big heap, give it room: CHAIN_OPTS=chain_memory=1g.
#   [CHAIN_OPTS=...] [LEAKAGENT_LIB=...] [WALK=off] [RUNS=K] bench/chain_search.sh [N ...]   (default: 1000000 5000000 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
[[ -n "${LEAKAGENT_LIB:-}" ]] || cargo build --release -q
lib="${LEAKAGENT_LIB:-$PWD/target/release/libleakagent.so}"
bash java-harness/build.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$JAVA_HOME/bin/javac" -d "$work" bench/ChainBench.java
sizes=("$@")
((${#sizes[@]})) || sizes=(1000000 5000000 10000000)

# Runs one JVM; for each report asked for prints a line of numbers; with $3=dump also times
# jcmd GC.heap_dump.
run() {
  local n=$1 opts=$2 reports=$3 jcmd=$4 tag=$5 k
  local dir="$work/$tag-$n"
  mkdir -p "$dir"
  mkfifo "$dir/in"
  "$JAVA_HOME/bin/java" -Xmx4g -Xms4g "-Xlog:safepoint:file=$dir/safepoint.log" \
    "-agentpath:$lib=file=$dir/r-%n,log=$dir/agent.log,chain_time=600s,$opts" \
    -cp "$work:java-harness/build/harness.jar" ChainBench "$n" java-harness/build/apps/healthy.jar <"$dir/in" >"$dir/out" 2>&1 &
  local pid=$!
  exec 3>"$dir/in"
  until grep -q ready "$dir/out"; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/out"; exit 1; }
    sleep 0.2
  done
  for k in $(seq "$reports"); do
    local from
    from=$(wc -l <"$dir/safepoint.log")
    kill -s RTMIN+2 "$pid"
    until [[ -f "$dir/r-$k.json" ]]; do
      kill -0 "$pid" 2>/dev/null || { cat "$dir/out" "$dir/agent.log"; exit 1; }
      sleep 0.2
    done
    sleep 0.3
    tail -n +"$((from + 1))" "$dir/safepoint.log" >"$dir/sp-$k.log"
    python3 - "$dir/r-$k.json" "$dir/sp-$k.log" "$n" "$tag" "$k" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1])); n, tag, k = int(sys.argv[3]), sys.argv[4], sys.argv[5]
cl = r["class_loaders"]; s = cl["chain_search"]
assert s is not None and len(cl["leak_suspects"]) == 2 and s["chains_found"] == 2, (cl["leak_suspects"], s)
ops = [(m.group(1), int(m.group(2)) / 1e6) for m in re.finditer(r'Safepoint "(\w+)".*Total: (\d+) ns', open(sys.argv[2]).read())]
gc = sum(ms for op, ms in ops if "Collect" in op or op.startswith("G1"))
search = [ms for op, ms in ops if not ("Collect" in op or op.startswith("G1"))]
sus = cl["leak_suspects"]
kept = "yes" if all(x.get("retained_heap_bytes") for x in sus) else (sus[0].get("retained_heap_note") or "-")
print(f'{n:<10} {tag + " #" + k:<10} {s["method"]:<9} {s["passes"]:>6} {len(search):>7} {sum(search):>10.0f} {max(search, default=0):>9.0f} '
      f'{(s["dump_bytes"] or 0) / 2**20:>8.0f} {s["memory_bytes"] / 2**10:>9.0f} {s["time_ms"]:>9} {gc:>7.0f}  {kept}')
PY
  done
  if [[ "$jcmd" == dump ]]; then
    local from
    from=$(wc -l <"$dir/safepoint.log")
    "$JAVA_HOME/bin/jcmd" "$pid" GC.heap_dump "$dir/jcmd.hprof" >/dev/null
    sleep 0.3
    local bytes
    bytes=$(stat -c %s "$dir/jcmd.hprof")
    rm -f "$dir/jcmd.hprof"
    tail -n +"$((from + 1))" "$dir/safepoint.log" >"$dir/sp-jcmd.log"
    python3 - "$dir/sp-jcmd.log" "$n" "$bytes" <<'PY'
import re, sys
n, mb = sys.argv[2], int(sys.argv[3]) / 2**20
ops = [(m.group(1), int(m.group(2)) / 1e6) for m in re.finditer(r'Safepoint "(\w+)".*Total: (\d+) ns', open(sys.argv[1]).read())]
d = [ms for op, ms in ops if op == "HeapDumper"]
print(f'{n:<10} {"jcmd":<10} {"heap_dump":<9} {"":>6} {len(d):>7} {sum(d):>10.0f} {max(d, default=0):>9.0f} {mb:>8.0f} {"":>9} {"":>9} {"incl.":>7}')
PY
  fi
  echo >&3
  exec 3>&-
  wait "$pid" || true
}

# The phases of one report (the first of the JVM's run in $work/$tag-$n), as "phase ms" lines.
phases_of() {
  python3 - "$1" <<'PY'
import json, re, sys
d = sys.argv[1]
r = json.load(open(f"{d}/r-1.json")); s = r["class_loaders"]["chain_search"]
line = next(l for l in open(f"{d}/agent.log") if "report #1 " in l and " written to " in l)
steps = {m.group(1): int(m.group(2)) for m in re.finditer(r"(?:after |, )([^()]+?) \((\d+) ms\)", line)}
kept = all(x.get("retained_heap_bytes") for x in r["class_loaders"]["leak_suspects"])
for name, key in [("dump", "leak analysis: heap dump"), ("index", "leak analysis: index pass over the dump"),
                  ("passes", "leak analysis: chain search passes"), ("retained", "leak analysis: retained sizes"),
                  ("loaders", "class loaders: asking each loader")]:
    print(name, steps.get(key, -1))
print("search", s["time_ms"]); print("memory_KB", s["memory_bytes"] // 1024); print("kept", int(kept))
PY
}

if [[ -n "${RUNS:-}" ]]; then
  for n in "${sizes[@]}"; do
    rm -f "$work/phases"
    for r in $(seq "$RUNS"); do
      run "$n" "${CHAIN_OPTS:-}" 1 none "phases$r" >/dev/null
      phases_of "$work/phases$r-$n" >>"$work/phases"
      rm -rf "$work/phases$r-$n"
    done
    python3 - "$work/phases" "$n" "$RUNS" <<'PY'
import statistics, sys
by = {}
for l in open(sys.argv[1]):
    k, v = l.split(); by.setdefault(k, []).append(int(v))
print(f"objects {sys.argv[2]}, {sys.argv[3]} runs: phase median [min-max] (ms; memory_KB in KB; kept: runs with every retained heap)")
for k, v in by.items():
    print(f"  {k:<10} {sum(v) if k == 'kept' else statistics.median(v):>9} [{min(v)}-{max(v)}]  {' '.join(map(str, v))}")
PY
  done
  exit 0
fi

printf '%-10s %-10s %-9s %6s %7s %10s %9s %8s %9s %9s %7s  %s\n' \
  objects report method passes pauses pause_ms longest dump_MB memory_KB search_ms gc_ms retained
for n in "${sizes[@]}"; do
  run "$n" "${CHAIN_OPTS:-}" 2 dump auto
  [[ "${WALK:-on}" == off ]] || run "$n" "chain_method=walk,chain_pause=60s" 1 none walk
done
