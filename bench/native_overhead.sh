#!/usr/bin/env bash
# Overhead of the native ledgers (zlib streams, direct memory) on two workloads, measured with and
# without the agent in alternating runs of one session, so that drift of the machine hits both.
#
#   bench/native_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--workload zlib|direct|both]
#                            [--depth N] [--buffers N] [--together] [--cpu steady|workers|process]
#                            [--also OPTS] [--also-lib PATH] [--aa] [--raw] [--compiled]
#                            [--prelude N] [--also-prelude N]
#
#   --pairs N      runs with and without the agent per workload (default 15); the order of each
#                  pair alternates (without/with, with/without, ...)
#   --java PATH    the java binary (default: the JDK of javac on PATH, else java on PATH)
#   --options OPTS agent options besides file= (default: none, i.e. every stream tracked and
#                  stacked with the default stack_depth/key_depth)
#   --workload W   zlib, direct or both (default both)
#   --depth N      Java frames below the workload's loop, as in a real application (default 40)
#   --buffers N    direct: buffers of the timed pass (default 400000)
#   --together     the runs of a pair (or triple) run at the same time, their timed phases released
#                  together after each one's warm-up, in a start order that rotates: each sees the
#                  same stretch of the machine's load. Without it they run one after the other.
#                  A triple is six worker threads on the cores at once, itself a load: the
#                  agent's cost (cache lines) reads higher that way. Each pair's line ends
#                  with the 1-minute load average after it
#   --cpu WHAT     direct: the ratio's CPU time: of the worker threads in their steady phase
#                  (default: each worker's pass is cut in slices of 20,000 buffers, and the
#                  median slice's CPU times the slices is taken, so that a slice where another
#                  process's burst or a JIT event hit is left out; the agent's cost is in every
#                  slice alike), of the worker threads over the whole pass (`workers`, the CPU
#                  before session 32), or of the whole process (which adds the Reference Handler,
#                  where the GC's half of the buffers is freed through the agent, and the GC and
#                  JIT threads)
#   --also OPTS    a third run per pair with the agent and these options (e.g. direct=off)
#   --also-lib P   the third run's agent library (default the same); with --also-lib and no
#                  --also, the third run has the --options of the second
#   --aa           the second run is without the agent too (an A/A run: the bench's own noise)
#   --compiled     direct: the frames below the loop compiled too (DirectBench --compiled), as on
#                  a warm server's request path; by default they stay interpreted
#   --prelude N    direct: N short-lived threads count a few buffers each and exit before the
#                  workers start (DirectBench --prelude), as a server's start-up threads do
#                  before its request threads; every run
#   --also-prelude N  direct: the third run's --prelude (e.g. main's library with and without
#                  the prelude side by side: --also-lib LIB --also-prelude 16)
#   --raw          direct: without the fixed set-up below (new threads for the timed pass, glibc
#                  and the JVM as configured by default); with --cpu workers, the bench as it
#                  was before session 32
#   LEAKAGENT_LIB  environment: the agent library (default target/release/libleakagent.so)
#
# zlib:   bench/ZlibBench.java reads every DEFLATED entry of every jar in /usr/share/java 16 times
#         on 2 threads, each through its own Inflater (as a nested-jar class loader does).
# direct: bench/DirectBench.java allocates 400,000 DirectByteBuffers of 64 B..64 KiB on 2 threads
#         and drops them, half released explicitly, half by the GC (-XX:MaxDirectMemorySize=64m).
#         Both sides run with a fixed set-up (not with --raw) that takes the bench's own noise
#         out, found in session 32 (docs/native-ledger.md): the timed pass runs on the warm-up's
#         threads (before, on new threads, whose glibc arenas were fresh: ~25k-120k page faults
#         and their zeroing in every run's first seconds, 3-fold apart from run to run, now
#         ~0.5k-7k); glibc neither trims its arenas nor moves its mmap threshold
#         (MALLOC_TRIM_THRESHOLD_=1G MALLOC_TOP_PAD_=64M MALLOC_MMAP_THRESHOLD_=1M); the Java
#         heap has a fixed size, touched at start (-Xms256m -Xmx256m -XX:+AlwaysPreTouch: the ~130
#         full GCs that Bits.reserveMemory's System.gc() asks for no longer shrink and regrow
#         it). What the agent sees is the same: every buffer, its sizes, its 40-frame stack.
# Each program times only its work phase (after a warm-up pass) and prints its wall milliseconds
# and the CPU milliseconds of its worker threads, where the agent's work lands. The ratio is taken
# on CPU time: on a shared machine another process taking a core doubles wall time but not CPU
# time. The script prints every run, the median of each side and the ratio of the medians (with
# agent / without), for CPU and for wall time, and the spread of the per-pair ratios. Not a test:
# it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # read by the sourced pairs.sh (bench_agent_lib)
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
PAIRS=15
JAVA=""
OPTS=""
WORKLOAD=both
DEPTH=40
BUFFERS=400000
TOGETHER=0
CPU=steady
COMPILED=()
ALSO=""
ALSO_LIB=""
AA=0
RAW=0
PRELUDE=0
ALSO_PRELUDE=""
while (( $# )); do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --workload) WORKLOAD="$2"; shift 2 ;;
    --depth) DEPTH="$2"; shift 2 ;;
    --buffers) BUFFERS="$2"; shift 2 ;;
    --together) TOGETHER=1; shift ;;
    --cpu) CPU="$2"; shift 2 ;;
    --also) ALSO="$2"; shift 2 ;;
    --also-lib) ALSO_LIB="$2"; shift 2 ;;
    --aa) AA=1; shift ;;
    --raw) RAW=1; shift ;;
    --compiled) COMPILED=(--compiled); shift ;;
    --prelude) PRELUDE="$2"; shift 2 ;;
    --also-prelude) ALSO_PRELUDE="$2"; shift 2 ;;
    -h|--help) sed -n '2,60p' "$0"; exit 0 ;;
    *) echo "native_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

(( TOGETHER )) && [[ "$WORKLOAD" != direct ]] && { echo "native_overhead.sh: --together needs --workload direct (ZlibBench has no --go)" >&2; exit 2; }
[[ "$CPU" == steady || "$CPU" == workers || "$CPU" == process ]] || { echo "native_overhead.sh: --cpu must be steady, workers or process" >&2; exit 2; }
[[ "$CPU" != steady || "$WORKLOAD" == zlib ]] || (( BUFFERS % 40000 == 0 )) || { echo "native_overhead.sh: --cpu steady needs --buffers a multiple of 40000 (slices of 20,000 per worker)" >&2; exit 2; }
bench_java
bench_agent_lib
WORK="$(mktemp -d /tmp/leakagent-bench.XXXXXX)"
# shellcheck disable=SC2034 # read by the sourced pairs.sh (bench_together)
BENCH_WORK="$WORK"
trap 'rm -rf "$WORK"' EXIT
"$JAVAC" --release 11 -nowarn -XDignore.symbol.file -d "$WORK/classes" \
  "$HERE/ZlibBench.java" "$HERE/DirectBench.java" 2>/dev/null

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
KINDS=(without with)
(( AA )) && KINDS=(without again)
if [[ -n "$ALSO" || -n "$ALSO_LIB" || -n "$ALSO_PRELUDE" ]]; then
  AGENT_ALSO="-agentpath:${ALSO_LIB:-$LIB}=file=$WORK/report-%p-%n"
  [[ -n "${ALSO:-$OPTS}" ]] && AGENT_ALSO+=",${ALSO:-$OPTS}"
  KINDS+=(also)
fi
echo "java:   $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:  $AGENT"
[[ -n "${AGENT_ALSO:-}" ]] && echo "also:   $AGENT_ALSO${ALSO_PRELUDE:+ (prelude $ALSO_PRELUDE)}"
(( AA )) && echo "a/a:    the second run of each pair is without the agent too"
# The direct runs' fixed set-up (see the header), the same for every kind of run.
DIRECT_ENV=(MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 MALLOC_MMAP_THRESHOLD_=1048576)
DIRECT_JVM=(-Xms256m -Xmx256m -XX:+AlwaysPreTouch)
FRESH=()
(( RAW )) && DIRECT_ENV=() && DIRECT_JVM=() && FRESH=(--fresh)
[[ "$WORKLOAD" != zlib ]] && echo "direct: ${DIRECT_ENV[*]:-(glibc defaults)} ${DIRECT_JVM[*]:-(JVM defaults)} ${FRESH[*]:-(timed on the warm-up threads)}"
echo "cpus:   $(nproc), pairs: $PAIRS, stack depth below the loops: $DEPTH, direct buffers: $BUFFERS, prelude threads: $PRELUDE, CPU: $CPU$( ((TOGETHER)) && echo ", the runs of a pair at the same time")"

# One run of the current workload: prints the benchmark's output.
run() { # run <without|again|with|also> [go-file]
  local agent=() go=() prelude="$PRELUDE"
  [[ "$1" == with ]] && agent=("$AGENT")
  [[ "$1" == also ]] && agent=("$AGENT_ALSO") && prelude="${ALSO_PRELUDE:-$PRELUDE}"
  [[ -n "${2:-}" ]] && go=(--go "$2")
  case "$W" in
    zlib) "$JAVA" "${agent[@]}" -cp "$WORK/classes" ZlibBench --depth "$DEPTH" "${go[@]}" 2>&1 ;;
    direct)
      # The CPU the ratio takes in place of the workers' whole pass (bench_result reads
      # cpu_ms); line by line, so that READY reaches bench_together at once.
      local keep='s/^$//'
      [[ "$CPU" == process ]] && keep='s/ cpu_ms=[0-9]* proc_cpu_ms=\([0-9]*\)/ cpu_ms=\1/'
      [[ "$CPU" == steady ]] && keep='s/ cpu_ms=[0-9]*\(.*\) steady_cpu_ms=\([0-9]*\)/ cpu_ms=\2\1/'
      env "${DIRECT_ENV[@]}" "$JAVA" "${agent[@]}" "${DIRECT_JVM[@]}" -XX:MaxDirectMemorySize=64m -cp "$WORK/classes" DirectBench --depth "$DEPTH" \
        --buffers "$BUFFERS" --prelude "$prelude" "${COMPILED[@]}" "${FRESH[@]}" "${go[@]}" 2>&1 | sed -u "$keep" ;;
  esac
}

measure() { # measure <zlib|direct>
  W="$1"
  local w="$1"
  echo
  echo "== $w"
  bench_kinds "$PAIRS" "$TOGETHER" run "${KINDS[@]}"
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
