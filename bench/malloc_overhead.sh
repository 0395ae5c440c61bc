#!/usr/bin/env bash
# Overhead of sampled native allocations (native=on) on a malloc-heavy JNI workload, with and
# without the agent in alternating runs of one session, so that drift of the machine hits both.
#
#   bench/malloc_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--allocations N]
#
#   --pairs N        runs with and without the agent (default 15); the order alternates
#   --java PATH      the java binary (default: the JDK of javac on PATH, else java on PATH)
#   --options OPTS   agent options besides file= (default: none, i.e. the defaults: native=on,
#                    native_interval=512k)
#   --allocations N  allocations per thread in the timed phase (default 12000000)
#   --fill           each block is written whole, as a codec fills its buffers (default: only its
#                    first and last byte: the allocator's cost alone, the worst case for the hooks)
#   LEAKAGENT_LIB    environment: the agent library (default target/release/libleakagent.so)
#
# bench/MallocBench.java calls bench/mallocbench.c (built here with cc) on 2 threads: each call
# makes 4,096 allocations of 16 B..4 KiB, each freeing one of 64 live blocks, 40 Java frames
# below. The ratio is taken on the worker threads' CPU time (where the hooks' work lands). The
# script prints every pair, the median of each side, the ratio of the medians and the spread of
# the per-pair ratios (min, quartiles, max). Not a test: it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PAIRS=15
JAVA=""
OPTS=""
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

if [[ -z "$JAVA" ]]; then
  if command -v javac >/dev/null 2>&1; then
    JAVA="$(dirname "$(readlink -f "$(command -v javac)")")/java"
  else
    JAVA="$(command -v java)"
  fi
fi
JAVAC="$(dirname "$JAVA")/javac"
[[ -x "$JAVAC" ]] || JAVAC="$(command -v javac)"
JHOME="$(dirname "$(dirname "$(readlink -f "$JAVAC")")")"

LIB="${LEAKAGENT_LIB:-$ROOT/target/release/libleakagent.so}"
if [[ ! -f "$LIB" ]]; then
  (cd "$ROOT" && cargo build --release)
fi
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
  local out line
  out="$("$JAVA" "${agent[@]}" -cp "$WORK/classes" MallocBench "$WORK/libmallocbench.so" --allocations "$ALLOCS" $FILL 2>&1)"
  line="$(grep '^BENCH ' <<<"$out" || true)"
  if [[ -z "$line" ]]; then
    echo "malloc_overhead.sh: run $1 the agent failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$(sed 's/.* cpu_ms=\([0-9]*\).*/\1/' <<<"$line") $(sed 's/.* ms=\([0-9]*\) .*/\1/' <<<"$line")"
}

median() { sort -n | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

cpu_without=(); cpu_with=(); ratios=()
for (( i = 1; i <= PAIRS; i++ )); do
  if (( i % 2 )); then
    a="$(run without)"; b="$(run with)"
  else
    b="$(run with)"; a="$(run without)"
  fi
  read -r ca wa <<<"$a"
  read -r cb wb <<<"$b"
  cpu_without+=("$ca"); cpu_with+=("$cb")
  r="$(echo "$cb / $ca" | bc -l)"
  ratios+=("$r")
  printf '  pair %2d: cpu without %5d ms  with %5d ms  ratio %.3f   | wall without %5d ms  with %5d ms\n' \
    "$i" "$ca" "$cb" "$r" "$wa" "$wb"
done
co="$(printf '%s\n' "${cpu_without[@]}" | median)"; cw="$(printf '%s\n' "${cpu_with[@]}" | median)"
printf '  median cpu: without %s ms, with %s ms -> ratio %.3f (overhead %+.1f%%)\n' "$co" "$cw" \
  "$(echo "$cw / $co" | bc -l)" "$(echo "($cw / $co - 1) * 100" | bc -l)"
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {
  printf "  per-pair ratio spread: min %.3f, q1 %.3f, median %.3f, q3 %.3f, max %.3f\n",
    v[1], v[int((NR+3)/4)], v[int((NR+1)/2)], v[int((3*NR+1)/4)], v[NR] }'
last="$(ls -t "$WORK"/report-*.json 2>/dev/null | head -1 || true)"
if [[ -n "$last" ]] && command -v python3 >/dev/null 2>&1; then
  python3 - "$last" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["native_sampling"]
print(f"  agent saw: {n['samples']} samples, {n['estimated_allocated_bytes'] / 2**30:.1f} GiB allocated (estimate), "
      f"{n['entries_patched']} entries in {n['libraries_patched']} libraries")
PY
fi
