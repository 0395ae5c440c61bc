#!/usr/bin/env bash
# Overhead of the agent on a Kafka broker under gzip producers: the broker's throughput and CPU
# with and without the agent, in alternating runs of one session.
#
#   bench/kafka_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--records N]
#                           [--warmup N] [--producers N]
#
#   --pairs N      runs with and without the agent (default 9); the order of each pair
#                  alternates (without/with, with/without, ...)
#   --java PATH    the java binary (default: /usr/lib/jvm/java-17-openjdk-amd64/bin/java)
#   --options OPTS agent options for the broker besides file= (default: none, i.e. the defaults)
#   --records N    records timed per run (default 200000), after --warmup N (default 50000)
#   --producers N  producer clients sending at once (default 2)
#   LEAKAGENT_LIB  environment: the agent library (default target/release/libleakagent.so)
#
# Per run: the harness broker (java-harness/build/kafka, leakagent.kafka.Broker: a Kafka 4.1
# KRaft broker and controller in one JVM, its ~100 jars on the class path) starts with or without
# the agent and takes the harness producer's 2,000 records; then bench/KafkaBench.java, in a JVM
# of its own without the agent (clients are not under test), sends the warm-up records and then
# the timed ones, gzip-compressed (acks=all, linger 2 ms, 8 KiB batches), so the broker inflates
# and validates every batch. Throughput is records / wall time from the first timed send to the
# last acknowledgement; the broker's CPU is its utime + stime over that window. Prints every
# pair, the medians and the spread of the per-pair ratios (CPU and throughput, with / without).
# Producers and broker share the machine's cores, so throughput moves with other load more than
# CPU does. Not a test: it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
PAIRS=9
JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
OPTS=""
RECORDS=200000
WARMUP=50000
PRODUCERS=2
while (( $# )); do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --records) RECORDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --producers) PRODUCERS="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "kafka_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench_java
bench_agent_lib
K="$ROOT/java-harness/build/kafka"
[[ -f "$K/kafka-harness.jar" ]] || JAVA_HOME="$(dirname "$(dirname "$JAVA")")" bash "$ROOT/java-harness/build.sh"
CP="$K/kafka-harness.jar:$K/lib/*"
WORK="$(mktemp -d /tmp/leakagent-kafkabench.XXXXXX)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
"$JAVAC" --release 11 -nowarn -cp "$CP" -d "$WORK/classes" "$HERE/KafkaBench.java"

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
TICK=$(getconf CLK_TCK)
echo "java:   $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:  $AGENT"
echo "cpus:   $(nproc), pairs: $PAIRS, producers: $PRODUCERS, records: $WARMUP warm-up + $RECORDS timed"

# One run: prints "<broker cpu ms> <wall ms>" and appends "<with|without> <records/s>" to rates.
run() { # run <with|without>
  local agent=() dir="$WORK/run" out port="" bench
  [[ "$1" == with ]] && agent=("$AGENT")
  rm -rf "$dir"; mkdir -p "$dir"; mkfifo "$dir/in"
  "$JAVA" "${agent[@]}" -Xmx512m -cp "$CP" leakagent.kafka.Broker "$dir/data" 2000 --await-stdin \
    <"$dir/in" >"$dir/out" 2>"$dir/err" &
  pid=$!
  exec 3>"$dir/in"
  for _ in $(seq 6000); do
    grep -q '^HARNESS ready' "$dir/out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  port="$(sed -n 's/^HARNESS truth broker_port=//p' "$dir/out")"
  if [[ -z "$port" ]] || ! grep -q '^HARNESS ready' "$dir/out"; then
    tail -n 20 "$dir/err" "$dir/out" >&2
    echo "kafka_overhead.sh: the broker did not start ($1 the agent)" >&2
    exit 1
  fi
  bench="$("$JAVA" -Xmx256m -cp "$WORK/classes:$CP" KafkaBench "127.0.0.1:$port" "$pid" "$TICK" "$WARMUP" "$RECORDS" "$PRODUCERS" 2>&1)" || true
  echo exit >&3; exec 3>&-
  wait "$pid" || true; pid=""
  local r
  r="$(bench_result "kafka_overhead.sh: the producers ($1 the agent)" "$bench")"
  echo "$1 $(awk -v n="$RECORDS" -v w="${r#* }" 'BEGIN { printf "%.0f", n * 1000 / w }')" >>"$WORK/rates"
  echo "$r"
}

echo
bench_pairs "$PAIRS" run
# Throughput per pair: the n-th run with the agent against the n-th without.
paste -d' ' <(awk '$1 == "without" { print $2 }' "$WORK/rates") <(awk '$1 == "with" { print $2 }' "$WORK/rates") >"$WORK/pairs"
printf '  median throughput: without %s, with %s records/s -> ratio %.3f\n' \
  "$(cut -d' ' -f1 "$WORK/pairs" | median)" "$(cut -d' ' -f2 "$WORK/pairs" | median)" \
  "$(echo "$(cut -d' ' -f2 "$WORK/pairs" | median) / $(cut -d' ' -f1 "$WORK/pairs" | median)" | bc -l)"
awk '{ printf "%.4f\n", $2 / $1 }' "$WORK/pairs" | sort -n | awk '{v[NR]=$1} END {
  printf "  per-pair throughput ratio spread: min %.3f, q1 %.3f, median %.3f, q3 %.3f, max %.3f\n",
    v[1], v[int((NR+3)/4)], v[int((NR+1)/2)], v[int((3*NR+1)/4)], v[NR] }'
