#!/usr/bin/env bash
# Our sampled native allocations beside async-profiler's `nativemem`, on malloc_overhead.sh's
# malloc-heavy JNI workload: no agent / leakagent native=on / async-profiler nativemem (frees
# recorded, the mode its leak view needs) / async-profiler nativemem,nofree, all at one sampling
# interval, in rounds whose order rotates so that drift of the machine hits every variant.
#
#   bench/asprof_compare.sh [--rounds N] [--java PATH] [--interval SIZE] [--allocations N] [--fill]
#
#   --rounds N       rounds of the 4 runs (default 9)
#   --java PATH      the java binary (default: the JDK of javac on PATH, else java on PATH)
#   --interval SIZE  sampling interval of both tools (default 2m, leakagent's default)
#   --allocations N  allocations per thread in the timed phase (default 12000000)
#   --fill           each block is written whole (see malloc_overhead.sh)
#   LEAKAGENT_LIB    environment: the agent library (default target/release/libleakagent.so)
#   ASPROF_LIB       environment: an async-profiler library to use instead of the pinned one
#
# async-profiler 4.2 (the pinned version) comes from Maven Central (tools.profiler:async-profiler,
# whose jar holds linux-x64/libasyncProfiler.so) through mvn, is checked against its SHA-256 and
# cached in target/bench-cache. For each variant the script prints the medians of the worker
# threads' CPU and of wall time, the ratio of the CPU medians to no agent's and the spread of the
# per-round ratios; then what each tool recorded. Not a test: it asserts nothing. A run takes
# ~4-7 min on 2 busy cores and ~0.5 GB in /tmp (async-profiler's JFR with every free).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
ROUNDS=9
JAVA=""
INTERVAL=2m
ALLOCS=12000000
FILL=""
while (( $# )); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    --allocations) ALLOCS="$2"; shift 2 ;;
    --fill) FILL=--fill; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "asprof_compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ASPROF_VERSION=4.2
ASPROF_JAR_SHA256=445b7bdc6a3ed03d45a9d4b61b5a5fc072b3e9952d7f2b63722312f48ea9ee18
ASPROF_LIB_SHA256=cb103963bfc32663561a2608b3e33871a4ef7513a6c88fd7d01ef36a741cca41

# Sets ASPROF: ASPROF_LIB, else the cached library, else the jar (mvn copies it into the cache,
# from its local repository or Maven Central) checked and unpacked there; temp + rename, so the
# cache never holds a partial or unchecked library.
asprof_lib() {
  if [[ -n "${ASPROF_LIB:-}" ]]; then ASPROF="$ASPROF_LIB"; return; fi
  local cache="$ROOT/target/bench-cache/async-profiler-$ASPROF_VERSION"
  local jar="$cache/async-profiler-$ASPROF_VERSION.jar" tmp
  ASPROF="$cache/libasyncProfiler.so"
  if [[ -f "$ASPROF" ]] && sha256sum -c --status <<<"$ASPROF_LIB_SHA256  $ASPROF"; then return; fi
  mkdir -p "$cache"
  if [[ ! -f "$jar" ]] && ! mvn -B dependency:copy -DoutputDirectory="$cache" \
      -Dartifact="tools.profiler:async-profiler:$ASPROF_VERSION" >"$cache/mvn.log" 2>&1; then
    echo "asprof_compare.sh: mvn could not copy async-profiler $ASPROF_VERSION:" >&2
    tail -20 "$cache/mvn.log" >&2
    exit 1
  fi
  if ! sha256sum -c --status <<<"$ASPROF_JAR_SHA256  $jar"; then
    rm -f "$jar"
    echo "asprof_compare.sh: $jar has not the pinned SHA-256 $ASPROF_JAR_SHA256" >&2
    exit 1
  fi
  tmp="$(mktemp "$cache/.lib.XXXXXX")"
  unzip -p "$jar" linux-x64/libasyncProfiler.so >"$tmp"
  if ! sha256sum -c --status <<<"$ASPROF_LIB_SHA256  $tmp"; then
    rm -f "$tmp"
    echo "asprof_compare.sh: linux-x64/libasyncProfiler.so in $jar has not the pinned SHA-256" >&2
    exit 1
  fi
  chmod 755 "$tmp"
  mv "$tmp" "$ASPROF"
}

bench_java
JHOME="$(dirname "$(dirname "$(readlink -f "$JAVAC")")")"
bench_agent_lib
asprof_lib
WORK="$(mktemp -d /tmp/leakagent-asprof.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$JAVAC" --release 11 -nowarn -d "$WORK/classes" "$HERE/MallocBench.java"
cc -shared -fPIC -O2 -fno-omit-frame-pointer -I"$JHOME/include" -I"$JHOME/include/linux" \
  -o "$WORK/libmallocbench.so" "$HERE/mallocbench.c"

VARIANTS=(none leakagent asprof asprof-nofree)
declare -A AGENT=(
  [none]=""
  [leakagent]="-agentpath:$LIB=file=$WORK/report-%p-%n,native=on,native_interval=$INTERVAL"
  [asprof]="-agentpath:$ASPROF=start,nativemem=$INTERVAL,file=$WORK/asprof.jfr"
  [asprof-nofree]="-agentpath:$ASPROF=start,nativemem=$INTERVAL,nofree,file=$WORK/asprof-nofree.jfr"
)
echo "java:          $JAVA ($("$JAVA" -version 2>&1 | head -1))"
for v in "${VARIANTS[@]:1}"; do printf '%-15s%s\n' "$v:" "${AGENT[$v]}"; done
echo "cpus:          $(nproc), rounds: $ROUNDS, interval: $INTERVAL, allocations per thread: $ALLOCS${FILL:+, blocks filled}"

run() { # run <variant>: prints "<cpu ms> <wall ms>"
  local agent=()
  [[ -n "${AGENT[$1]}" ]] && agent=("${AGENT[$1]}")
  bench_result "asprof_compare.sh: run $1" \
    "$("$JAVA" "${agent[@]}" -cp "$WORK/classes" MallocBench "$WORK/libmallocbench.so" --allocations "$ALLOCS" $FILL 2>&1)"
}

# Round r runs the variants from position r-1 (mod 4) on, so each takes each place in turn.
declare -A CPU WALL RATIOS
k=${#VARIANTS[@]}
for (( r = 1; r <= ROUNDS; r++ )); do
  declare -A got=()
  for (( j = 0; j < k; j++ )); do
    v="${VARIANTS[$(( (r - 1 + j) % k ))]}"
    got[$v]="$(run "$v")"
  done
  line="$(printf '  round %2d:' "$r")"
  read -r c0 _ <<<"${got[none]}"
  for v in "${VARIANTS[@]}"; do
    read -r c w <<<"${got[$v]}"
    CPU[$v]+="$c "; WALL[$v]+="$w "
    [[ "$v" != none ]] && RATIOS[$v]+="$(echo "$c / $c0" | bc -l) "
    line+="$(printf '  %s %5d/%5d' "$v" "$c" "$w")"
  done
  echo "$line   (cpu/wall ms)"
done

median_of() { tr ' ' '\n' <<<"$1" | grep . | median; }
c0="$(median_of "${CPU[none]}")"
printf '  %-14s median cpu %6s ms, wall %6s ms\n' none "$c0" "$(median_of "${WALL[none]}")"
for v in "${VARIANTS[@]:1}"; do
  c="$(median_of "${CPU[$v]}")"
  printf '  %-14s median cpu %6s ms, wall %6s ms -> cpu ratio %.3f; per-round spread: %s\n' "$v" "$c" \
    "$(median_of "${WALL[$v]}")" "$(echo "$c / $c0" | bc -l)" "$(tr ' ' '\n' <<<"${RATIOS[$v]}" | grep . | bench_spread)"
done

echo "what each recorded (last run):"
last="$(ls -t "$WORK"/report-*.json 2>/dev/null | head -1 || true)"
if [[ -n "$last" ]] && command -v python3 >/dev/null 2>&1; then
  python3 - "$last" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["native_sampling"]
s = max(n["sites"], key=lambda s: s["samples"], default={})
print(f"  leakagent: {n['samples']} samples ({n['samples_lost']} lost), frees of sampled blocks followed; "
      f"most sampled site: "
      f"{s.get('samples')} samples, {';'.join(s.get('stack', [])[:3])}")
PY
fi
JFR="$(dirname "$JAVA")/jfr"
for f in asprof asprof-nofree; do
  [[ -f "$WORK/$f.jfr" && -x "$JFR" ]] || continue
  counts="$("$JFR" summary "$WORK/$f.jfr" | awk '$1 ~ /^profiler\.(Malloc|Free)$/ {printf "%s %s events, ", $1, $2}')"
  top="$("$JFR" print --events profiler.Malloc --stack-depth 3 "$WORK/$f.jfr" | grep -m1 -A3 'stackTrace = \[' \
    | tail -3 | sed 's/^ *//' | paste -sd ';')"
  echo "  $f: ${counts}$(du -m "$WORK/$f.jfr" | cut -f1) MB of JFR; first sample's stack: $top"
done
