#!/usr/bin/env bash
# Overhead of the agent on class-loading churn, measured with and without the agent in
# alternating runs of one session, so that drift of the machine hits both.
#
#   bench/classload_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--also OPTS]
#                               [--also-lib PATH] [--rounds N] [--warmup N] [--together] [JAR...]
#
#   --pairs N      runs with and without the agent (default 9); the order of each pair
#                  alternates (without/with, with/without, ...)
#   --java PATH    the java binary (default: /usr/lib/jvm/java-17-openjdk-amd64/bin/java)
#   --options OPTS agent options besides file= (default: none, i.e. the defaults)
#   --also OPTS    a second set of agent options measured in the same session (e.g. native=off):
#                  each pair then runs without the agent, with --options and with these, in an
#                  order that rotates, and both ratios are printed
#   --also-lib PATH the agent library of the --also runs (default: the same as the others), to
#                  compare two builds in one session; --also "" then runs it with --options
#   --rounds N     measured rounds per run (default 3), after --warmup N rounds (default 1)
#   --together     the runs of a pair (or triple) run at the same time, each on the same stretch of
#                  the machine's load (their measured rounds start together, after each one's
#                  warm-up); they share the cores, in a start order that rotates. Without it they
#                  run one after the other
#   JAR...         the libraries whose classes are loaded (default: Kafka's client with its
#                  Jackson, slf4j and codec jars from java-harness/build/kafka/lib, and on JDK 17+
#                  Spring Framework's core, beans, context, aop and expression jars from
#                  java-harness/build/springboot/service/lib: about 16,000 classes a round)
#   LEAKAGENT_LIB  environment: the agent library (default target/release/libleakagent.so)
#
# bench/ClassLoadBench.java: each round, on two threads at once, a fresh URLClassLoader over the
# jars and a fresh in-memory loader (the same classes' bytes, read once at start) load and link
# every class (no static initialiser runs), then both loaders are dropped and System.gc()
# unloads their classes. The ratio is taken on the whole process's CPU time over the measured
# rounds (loading threads, GC and the agent's own threads): on a shared machine another process
# taking a core doubles wall time but not CPU time, though it still moves CPU time by ±10% between
# runs minutes apart, which --together cancels (two runs without the agent side by side agreed
# within 1.3% in half the cycles). Prints every pair (with the 1-minute load average after it: the ratio grows with the load), the medians, and the spread of the per-pair
# ratios. Not a test: it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
PAIRS=9
JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
OPTS=""
ALSO=""
ALSO_SET=0
ALSO_LIB=""
ROUNDS=3
WARMUP=1
TOGETHER=0
JARS=()
while (( $# )); do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --also) ALSO="$2"; ALSO_SET=1; shift 2 ;;
    --also-lib) ALSO_LIB="$2"; ALSO_SET=1; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --together) TOGETHER=1; shift ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    -*) echo "classload_overhead.sh: unknown argument $1" >&2; exit 2 ;;
    *) JARS+=("$1"); shift ;;
  esac
done

bench_java
bench_agent_lib
if (( ${#JARS[@]} == 0 )); then
  K="$ROOT/java-harness/build/kafka/lib"
  S="$ROOT/java-harness/build/springboot/service/lib"
  [[ -d "$K" && -d "$S" ]] || JAVA_HOME="$(dirname "$(dirname "$JAVA")")" bash "$ROOT/java-harness/build.sh"
  JARS=("$K"/kafka-clients-*.jar "$K"/jackson-databind-*.jar "$K"/jackson-core-*.jar "$K"/jackson-annotations-*.jar
    "$K"/slf4j-api-*.jar "$K"/lz4-java-*.jar "$K"/snappy-java-*.jar "$K"/zstd-jni-*.jar)
  # Spring Framework 7 is built for Java 17.
  if [[ "$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')" -ge 17 ]]; then
    JARS+=("$S"/spring-core-*.jar "$S"/spring-beans-*.jar "$S"/spring-context-[0-9]*.jar "$S"/spring-aop-*.jar
      "$S"/spring-expression-*.jar "$S"/commons-logging-*.jar)
  fi
fi
for j in "${JARS[@]}"; do
  [[ -f "$j" ]] || { echo "classload_overhead.sh: no jar $j" >&2; exit 1; }
done
WORK="$(mktemp -d /tmp/leakagent-clbench.XXXXXX)"
# shellcheck disable=SC2034 # read by the sourced pairs.sh (bench_together)
BENCH_WORK="$WORK"
trap 'rm -rf "$WORK"' EXIT
"$JAVAC" --release 11 -nowarn -d "$WORK/classes" "$HERE/ClassLoadBench.java"

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
ALSO_OPTS="${ALSO:-$OPTS}"
AGENT_ALSO="-agentpath:${ALSO_LIB:-$LIB}=file=$WORK/report-%p-%n${ALSO_OPTS:+,$ALSO_OPTS}"
echo "java:   $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:  $AGENT"
(( ALSO_SET )) && echo "also:   $AGENT_ALSO"
echo "jars:   ${#JARS[@]} ($(basename -a "${JARS[@]}" | tr '\n' ' '))"
echo "cpus:   $(nproc), pairs: $PAIRS, rounds: $WARMUP warm-up + $ROUNDS measured$( ((TOGETHER)) && echo ", the runs of a pair at the same time")"

# The agent arguments of a kind of run.
agent_args() { # agent_args <with|without|also>
  [[ "$1" == with ]] && echo "$AGENT"
  [[ "$1" == also ]] && echo "$AGENT_ALSO"
  return 0
}

# One run: prints "<cpu ms> <wall ms>".
run() { # run <with|without|also>
  local agent=() out
  mapfile -t agent < <(agent_args "$1")
  out="$("$JAVA" "${agent[@]}" -Xmx512m -cp "$WORK/classes" ClassLoadBench --warmup "$WARMUP" --rounds "$ROUNDS" "${JARS[@]}" 2>&1)"
  bench_result "classload_overhead.sh: a run $1 the agent" "$out"
}

# One run of a kind for pairs.sh's bench_together: prints its output; given a go-file, its
# measured rounds start once the file exists (it prints READY after its warm-up).
run_one() { # run_one <with|without|also> [go-file]
  local agent=() go=()
  mapfile -t agent < <(agent_args "$1")
  [[ -n "${2:-}" ]] && go=(--go "$2")
  "$JAVA" "${agent[@]}" -Xmx512m -cp "$WORK/classes" ClassLoadBench --warmup "$WARMUP" --rounds "$ROUNDS" \
    "${go[@]}" "${JARS[@]}" 2>&1
}

# The per-pair ratios' spread, as bench_pairs prints it.
spread() { # spread <label> <ratio>...
  local label="$1"
  shift
  printf '  %s per-pair cpu ratio spread: %s\n' "$label" "$(printf '%s\n' "$@" | bench_spread)"
}

# The kinds' runs of each pair (without, with[, also]), the first of each pair one later than the
# last's, so that each kind runs (or starts, with --together) first, second and third equally
# often. Prints each pair, the medians and the spread of the per-pair ratios.
bench_rotating() { # bench_rotating <kind>...
  local kinds=("$@") order i j k c line cpu=() rw=() ra=()
  declare -A got
  for (( i = 0; i < PAIRS; i++ )); do
    order=()
    for (( j = 0; j < ${#kinds[@]}; j++ )); do order+=("${kinds[$(( (i + j) % ${#kinds[@]} ))]}"); done
    if (( TOGETHER )); then
      while read -r k c _; do got[$k]="$c"; done < <(bench_together run_one "${order[@]}")
    else
      for k in "${order[@]}"; do
        read -r c _ <<<"$(run "$k")"
        got[$k]="$c"
      done
    fi
    rw+=("$(echo "${got[with]} / ${got[without]}" | bc -l)")
    line="$(printf '  pair %2d: cpu without %5d ms  with %5d ms (%.3f)' "$(( i + 1 ))" "${got[without]}" "${got[with]}" "${rw[-1]}")"
    if (( ALSO_SET )); then
      ra+=("$(echo "${got[also]} / ${got[without]}" | bc -l)")
      line+="$(printf '  also %5d ms (%.3f)' "${got[also]}" "${ra[-1]}")"
    fi
    echo "$line  load $(bench_load)"
    cpu+=("${got[without]} ${got[with]} ${got[also]:-0}")
  done
  local mo mw ma
  mo="$(printf '%s\n' "${cpu[@]}" | awk '{print $1}' | median)"
  mw="$(printf '%s\n' "${cpu[@]}" | awk '{print $2}' | median)"
  line="$(printf '  median cpu: without %s ms, with %s ms -> %.3f' "$mo" "$mw" "$(echo "$mw / $mo" | bc -l)")"
  if (( ALSO_SET )); then
    ma="$(printf '%s\n' "${cpu[@]}" | awk '{print $3}' | median)"
    line+="$(printf ', also %s ms -> %.3f' "$ma" "$(echo "$ma / $mo" | bc -l)")"
  fi
  echo "$line"
  spread "with" "${rw[@]}"
  (( ! ALSO_SET )) || spread "also" "${ra[@]}"
}

echo
if (( ALSO_SET )); then
  bench_rotating without with also
elif (( TOGETHER )); then
  bench_rotating without with
else
  bench_pairs "$PAIRS" run
fi
