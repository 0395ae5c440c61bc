#!/usr/bin/env bash
# Overhead of the native ledgers (zlib streams, direct memory) on two workloads, measured with and
# without the agent in alternating runs of one session, so that drift of the machine hits both.
#
#   bench/native_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--workload zlib|direct|both]
#                            [--depth N]
#
#   --pairs N      runs with and without the agent per workload (default 15); the order of each
#                  pair alternates (without/with, with/without, ...)
#   --java PATH    the java binary (default: the JDK of javac on PATH, else java on PATH)
#   --options OPTS agent options besides file= (default: none, i.e. every stream tracked and
#                  stacked with the default stack_depth/key_depth)
#   --workload W   zlib, direct or both (default both)
#   --depth N      Java frames below the workload's loop, as in a real application (default 40)
#   LEAKAGENT_LIB  environment: the agent library (default target/release/libleakagent.so)
#
# zlib:   bench/ZlibBench.java reads every DEFLATED entry of every jar in /usr/share/java 16 times
#         on 2 threads, each through its own Inflater (as a nested-jar class loader does).
# direct: bench/DirectBench.java allocates 400,000 DirectByteBuffers of 64 B..64 KiB on 2 threads
#         and drops them, half released explicitly, half by the GC (-XX:MaxDirectMemorySize=64m).
# Each program times only its work phase (after a warm-up pass) and prints its wall milliseconds
# and the CPU milliseconds of its worker threads, where the agent's work lands. The ratio is taken
# on CPU time: on a shared machine another process taking a core doubles wall time but not CPU
# time. The script prints every run, the median of each side and the ratio of the medians (with
# agent / without), for CPU and for wall time. Not a test: it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
PAIRS=15
JAVA=""
OPTS=""
WORKLOAD=both
DEPTH=40
while (( $# )); do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --workload) WORKLOAD="$2"; shift 2 ;;
    --depth) DEPTH="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "native_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench_java
bench_agent_lib
WORK="$(mktemp -d /tmp/leakagent-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$JAVAC" --release 11 -nowarn -XDignore.symbol.file -d "$WORK/classes" \
  "$HERE/ZlibBench.java" "$HERE/DirectBench.java" 2>/dev/null

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
echo "java:   $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:  $AGENT"
echo "cpus:   $(nproc), pairs: $PAIRS, stack depth below the loops: $DEPTH"

# One run: prints "<cpu ms> <wall ms>".
run() { # run <with|without> <zlib|direct>
  local agent=()
  [[ "$1" == with ]] && agent=("$AGENT")
  local out
  case "$2" in
    zlib) out="$("$JAVA" "${agent[@]}" -cp "$WORK/classes" ZlibBench --depth "$DEPTH" 2>&1)" ;;
    direct) out="$("$JAVA" "${agent[@]}" -XX:MaxDirectMemorySize=64m -cp "$WORK/classes" DirectBench --depth "$DEPTH" 2>&1)" ;;
  esac
  bench_result "native_overhead.sh: $2 run $1 the agent" "$out"
}

measure() { # measure <zlib|direct>
  local w="$1"
  echo
  echo "== $w"
  bench_pairs "$PAIRS" run "$w"
  # What the agent saw in its last report of this workload.
  local last
  last="$(ls -t "$WORK"/report-*.json 2>/dev/null | head -1 || true)"
  if [[ -n "$last" ]] && command -v python3 >/dev/null 2>&1; then
    python3 - "$last" "$w" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if sys.argv[2] == "zlib":
    t = r["zlib"]["totals"]
    print(f"  agent saw: {t['created']} zlib streams created, {t['ended_explicitly']} ended explicitly, "
          f"{t['sites']} sites, {r['agent']['health']['stack_walk_failures']} walk failures")
else:
    t = r["direct"]["totals"]
    print(f"  agent saw: {t['allocations']} direct allocations, {t['frees']} frees ({t['freed_by_gc']} by GC), "
          f"{t['sites']} sites")
PY
  fi
  rm -f "$WORK"/report-*
}

case "$WORKLOAD" in
  zlib) measure zlib ;;
  direct) measure direct ;;
  both) measure zlib; measure direct ;;
  *) echo "native_overhead.sh: --workload must be zlib, direct or both" >&2; exit 2 ;;
esac
