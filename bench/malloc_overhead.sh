#!/usr/bin/env bash
# Overhead of sampled native allocations (native=on) on a malloc-heavy JNI workload, with and
# without the agent in alternating runs of one session, so that drift of the machine hits both.
#
#   bench/malloc_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--allocations N]
#
#   --pairs N        runs with and without the agent (default 15); the order alternates
#   --java PATH      the java binary (default: the JDK of javac on PATH, else java on PATH)
#   --options OPTS   agent options besides file= (default: native=on, native_interval at its
#                    default)
#   --allocations N  allocations per thread in the timed phase (default 12000000)
#   --fill           each block is written whole, as a codec fills its buffers (default: only its
#                    first and last byte: the allocator's cost alone, the worst case for the hooks)
#   LEAKAGENT_LIB    environment: the agent library (default target/release/libleakagent.so)
#
# bench/MallocBench.java calls bench/mallocbench.c (built here with cc) on 2 threads: each call
# makes 4,096 allocations of 16 B..4 KiB, each freeing one of 64 live blocks, 40 Java frames
# below. The ratio is taken on the worker threads' CPU time (where the hooks' work lands). The
# script prints every pair, the median of each side (CPU and wall), the ratio of the medians and
# the spread of the per-pair ratios (min, quartiles, max); bench/pairs.sh. Not a test: it asserts
# nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # read by the sourced pairs.sh (bench_agent_lib)
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
PAIRS=15
JAVA=""
OPTS="native=on"
ALLOCS=12000000
FILL=""
while (( $# )); do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --allocations) ALLOCS="$2"; shift 2 ;;
    --fill) FILL=--fill; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "malloc_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench_java
JHOME="$(dirname "$(dirname "$(readlink -f "$JAVAC")")")"
bench_agent_lib
WORK="$(mktemp -d /tmp/leakagent-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$JAVAC" --release 11 -nowarn -d "$WORK/classes" "$HERE/MallocBench.java"
cc -shared -fPIC -O2 -fno-omit-frame-pointer -I"$JHOME/include" -I"$JHOME/include/linux" \
  -o "$WORK/libmallocbench.so" "$HERE/mallocbench.c"

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
echo "java:   $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:  $AGENT"
echo "cpus:   $(nproc), pairs: $PAIRS, allocations per thread: $ALLOCS${FILL:+, blocks filled}"

run() { # run <with|without>: prints "<cpu ms> <wall ms>"
  local agent=()
  [[ "$1" == with ]] && agent=("$AGENT")
  bench_result "malloc_overhead.sh: run $1 the agent" \
    "$("$JAVA" "${agent[@]}" -cp "$WORK/classes" MallocBench "$WORK/libmallocbench.so" --allocations "$ALLOCS" $FILL 2>&1)"
}

bench_pairs "$PAIRS" run
last="$(ls -t "$WORK"/report-*.json 2>/dev/null | head -1 || true)"
if [[ -n "$last" ]] && command -v python3 >/dev/null 2>&1; then
  python3 - "$last" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["native_sampling"]
print(f"  agent saw: {n['samples']} samples, {n['estimated_allocated_bytes'] / 2**30:.1f} GiB allocated (estimate), "
      f"{n['entries_patched']} entries in {n['libraries_patched']} libraries")
PY
fi
