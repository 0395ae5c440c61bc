#!/usr/bin/env bash
# Overhead of the agent on a Kafka broker under gzip producers: the broker's throughput and its
# CPU per record, with and without the agent.
#
#   bench/kafka_overhead.sh [--mode concurrent|sequential] [--rounds N] [--window S]
#                           [--java PATH] [--options OPTS] [--warmup N] [--producers N]
#                           [--records N] [--broker-bound] [--compression C] [--batch BYTES]
#                           [--topic-compression C]
#                           [--broker-jvm OPTS] [--gc-log DIR]
#
#   --mode M       concurrent (default): two brokers at once, one with the agent and one without,
#                  each fed by its own producer JVM over the same wall-clock window; sequential:
#                  alternating runs of one broker at a time (the older design)
#   --rounds N     rounds (concurrent) or pairs (sequential) (default 9); --pairs is the same
#   --window S     concurrent: seconds of the timed window (default 20)
#   --java PATH    the java binary (default: /usr/lib/jvm/java-17-openjdk-amd64/bin/java)
#   --options OPTS agent options for the broker besides file= (default: none, i.e. the defaults)
#   --warmup N     records each producer JVM sends before its timed part (default 300000
#                  concurrent, 50000 sequential)
#   --settle PCT   concurrent: after the warm-up records, the producers go on sending until both
#                  brokers' JIT compiler threads took at most PCT % of their broker's CPU in each
#                  of two 10 s intervals in a row (default 3; 0 waits for nothing), then the
#                  window starts
#   --settle-max S concurrent: the longest such wait in seconds (default 180); the round says when
#                  it ran out
#   --rounds-file F concurrent: append each round's figures to F and summarise every round in F,
#                  so that runs in several chunks (each under the bench lock) add up; one agent
#                  library and one set of options per file
#   --producers N  producer clients per producer JVM, sending at once (default 2)
#   --linger MS    the producers' linger.ms (default 2, the harness producer's); a long linger
#                  sends only full 8 KiB batches, so records per batch no longer follow the pace
#   --records N    sequential: records timed per run (default 200000)
#   --compression C the producers' compression.type (default gzip)
#   --batch BYTES  the producers' batch.size (default 8192)
#   --topic-compression C the topic's compression.type, set before the warm-up (default: the
#                  broker's, "producer"); unlike the producers' codec, the broker recompresses
#                  every batch into it
#   --broker-jvm OPTS the brokers' JVM options, split on spaces (default -Xmx512m)
#   --broker-bound the same as --compression none --batch 65536 --linger 5
#                  --topic-compression gzip --broker-jvm with kafka-server-start.sh's own settings
#                  (-Xms1g -Xmx1g, G1 with MaxGCPauseMillis=20, InitiatingHeapOccupancyPercent=35,
#                  ExplicitGCInvokesConcurrent); later flags override. The producers only batch;
#                  the broker compresses every batch (a topic whose compression.type is not the
#                  producers'), so the broker takes most of the machine's CPU and sets the pace.
#                  The fixed heap keeps G1 off the two-regime IHOP edge (docs/kafka-overhead.md)
#   --gc-log DIR   both brokers log gc*, gc+heap=debug, gc+ihop=debug and safepoint into
#                  DIR/gc-<with|without>-<round>.log (JVM unified logging, wall-clock and uptime
#                  stamps); concurrent mode prints per round what each broker's GC did inside the
#                  window (pauses, concurrent cycles and what started them, old regions gained,
#                  safepoints by operation) and DIR/windows keeps "<round> <start epoch ms> <s>"
#   --reports DIR  keep the agent's reports (the brokers' exit reports, with the agent's health
#                  counters) in DIR
#   --perf FILE    concurrent: `perf record -g` of the first round's brokers over the window, the one with
#                  the agent into FILE.with, the other into FILE.without (that round's ratios suffer)
#   LEAKAGENT_LIB  environment: the agent library (default target/release/libleakagent.so)
#
# The broker is the harness's (java-harness/build/kafka, leakagent.kafka.Broker: a Kafka 4.1
# KRaft broker and controller in one JVM, its ~100 jars on the class path, -Xmx512m), which
# starts, takes its own producer's 2,000 records and waits. bench/KafkaBench.java, in a JVM of
# its own without the agent (clients are not under test), sends gzip records (acks=all, linger
# 2 ms, 8 KiB batches), so the broker inflates and validates every batch. Two figures per broker:
#   throughput      records acknowledged per second of the timed window
#   work per CPU    those records per second of the broker's CPU (utime + stime) in the window,
#                   and per second of its data-plane threads' CPU (network and request handlers:
#                   the JIT's compiler threads, a third of the broker's CPU here, left out)
#
# Why concurrent. On this machine the producers, the broker and other people's work share 2
# cores, and their load moves by ±20% within minutes: runs one after the other measure mostly the
# load. In a round both brokers (separate data dirs, started one after the other so that the
# harness's free-port probing cannot hand both the same port) are warmed up, then both producer
# JVMs start their window at the same wall-clock instant ("go EPOCH_MS") and stop at the same
# instant: whatever else runs on the machine in that window hits both alike, and the ratio of the
# two brokers is taken within the round. Rounds alternate which broker starts first (and so which
# gets the first port pair and which producer JVM starts first); the script prints every round,
# the median of the per-round ratios and their spread (min, quartiles, max).
# What it cannot cancel: the two pairs compete with each other. Under CFS each runnable thread gets
# an equal share, so when the cores are saturated a broker that needs more CPU per record does
# not get proportionally more CPU, and its producer waits; when they are not saturated it simply
# takes more CPU and keeps pace. The throughput ratio therefore lies between 1 and the inverse of
# the CPU-per-record ratio, and the producers' own gzip work (twice the broker's CPU) damps
# it further towards 1. Work per CPU is what the agent costs a CPU-bound broker, whose throughput
# falls by exactly that ratio; the scheduler's fairness does not move it, so it is the stricter
# figure of the two. Cache and memory-bandwidth contention between the brokers hit both sides.
# Pinning (taskset) does not help on 2 cores: one core per broker puts each side under whatever
# else lands on its core, which differs between cores at any instant, and pinning producers
# apart from brokers leaves one core to two JVMs; both brokers share both cores instead.
# Sequential mode: per pair one broker with and one without, in alternating order, each fed
# WARMUP then RECORDS timed records; throughput is records / wall time from the first timed send
# to the last acknowledgement. Not a test: it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# shellcheck source=pairs.sh
source "$HERE/pairs.sh"
MODE=concurrent
ROUNDS=9
WINDOW=20
JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
OPTS=""
RECORDS=200000
WARMUP=""
PRODUCERS=2
LINGER=2
REPORTS=""
PERF=""
SETTLE=3
SETTLE_MAX=180
ROUNDS_FILE=""
COMPRESSION=gzip
BATCH=8192
TOPIC_CODEC=""
GCLOG=""
GC_TAG=""
BROKER_JVM="-Xmx512m"
KAFKA_JVM="-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent"
while (( $# )); do
  case "$1" in
    --mode) MODE="$2"; shift 2 ;;
    --rounds|--pairs) ROUNDS="$2"; shift 2 ;;
    --window) WINDOW="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --records) RECORDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --producers) PRODUCERS="$2"; shift 2 ;;
    --linger) LINGER="$2"; shift 2 ;;
    --reports) REPORTS="$2"; shift 2 ;;
    --perf) PERF="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --settle-max) SETTLE_MAX="$2"; shift 2 ;;
    --rounds-file) ROUNDS_FILE="$2"; shift 2 ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --broker-bound) COMPRESSION=none BATCH=65536 LINGER=5 TOPIC_CODEC=gzip BROKER_JVM="$KAFKA_JVM"; shift ;;
    --topic-compression) TOPIC_CODEC="$2"; shift 2 ;;
    --broker-jvm) BROKER_JVM="$2"; shift 2 ;;
    --gc-log) GCLOG="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "kafka_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$MODE" in
  concurrent) WARMUP="${WARMUP:-300000}" ;;
  sequential) WARMUP="${WARMUP:-50000}" ;;
  *) echo "kafka_overhead.sh: --mode is concurrent or sequential, not $MODE" >&2; exit 2 ;;
esac
for c in "$COMPRESSION" "${TOPIC_CODEC:-none}"; do
  [[ "$c" =~ ^(none|gzip|snappy|lz4|zstd)$ ]] || { echo "kafka_overhead.sh: a codec is none, gzip, snappy, lz4 or zstd, not $c" >&2; exit 2; }
done
for n in "$ROUNDS" "$WINDOW" "$RECORDS" "$WARMUP" "$PRODUCERS" "$LINGER" "$BATCH"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "kafka_overhead.sh: $n is not a positive count" >&2; exit 2; }
done
for n in "$SETTLE" "$SETTLE_MAX"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "kafka_overhead.sh: $n is not a count" >&2; exit 2; }
done

bench_java
bench_agent_lib
[[ -z "$GCLOG" ]] || { mkdir -p "$GCLOG" && GCLOG="$(cd "$GCLOG" && pwd)"; }
# The producer JVMs' settings.
FEED_PROPS=(-Xmx256m -Dkafkabench.linger="$LINGER" -Dkafkabench.compression="$COMPRESSION" -Dkafkabench.batch="$BATCH")
[[ -z "$TOPIC_CODEC" ]] || FEED_PROPS+=(-Dkafkabench.topic.compression="$TOPIC_CODEC")
K="$ROOT/java-harness/build/kafka"
[[ -f "$K/kafka-harness.jar" ]] || JAVA_HOME="$(dirname "$(dirname "$JAVA")")" bash "$ROOT/java-harness/build.sh"
CP="$K/kafka-harness.jar:$K/lib/*"
WORK="$(mktemp -d /tmp/leakagent-kafkabench.XXXXXX)"
# Every JVM this script started and has not yet waited for.
declare -A PIDS=()
cleanup() {
  local p
  for p in "${!PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "$REPORTS" ]]; then
    mkdir -p "$REPORTS" && find "$WORK" -maxdepth 1 -name 'report-*' -exec cp -t "$REPORTS" {} +
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$JAVAC" --release 11 -nowarn -cp "$CP" -d "$WORK/classes" "$HERE/KafkaBench.java"

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
TICK=$(getconf CLK_TCK)
echo "java:   $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:  $AGENT"
echo "broker: $BROKER_JVM"
echo "cpus:   $(nproc), mode: $MODE, rounds: $ROUNDS, producers: $PRODUCERS a JVM, $COMPRESSION${TOPIC_CODEC:+ (topic: $TOPIC_CODEC)}, batch $BATCH B, linger: $LINGER ms, warm-up: $WARMUP records"
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S) UTC"

# start_broker <dir> <with|without>: starts a broker, waits until it is ready; sets BROKER_PID,
# BROKER_PORT and BROKER_FD (its stdin; "exit" on it stops the broker). Tries twice, since the
# harness probes for free ports and another process can take one before the broker binds it.
start_broker() {
  local dir="$1" agent=() try jvm
  read -r -a jvm <<<"$BROKER_JVM"
  [[ "$2" == with ]] && agent=("$AGENT")
  [[ -z "$GCLOG" ]] || agent+=("-Xlog:gc*,gc+heap=debug,gc+ihop=debug,safepoint:file=$GCLOG/gc-$2-$GC_TAG.log:time,uptime,level,tags")
  for try in 1 2; do
    rm -rf "$dir"; mkdir -p "$dir"; mkfifo "$dir/in"
    "$JAVA" "${agent[@]}" "${jvm[@]}" -cp "$CP" leakagent.kafka.Broker "$dir/data" 2000 --await-stdin \
      <"$dir/in" >"$dir/out" 2>"$dir/err" &
    BROKER_PID=$!
    PIDS[$BROKER_PID]=1
    exec {BROKER_FD}>"$dir/in"
    for _ in $(seq 6000); do
      grep -q '^HARNESS ready' "$dir/out" && break
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    BROKER_PORT="$(sed -n 's/^HARNESS truth broker_port=//p' "$dir/out")"
    [[ -n "$BROKER_PORT" ]] && grep -q '^HARNESS ready' "$dir/out" && return 0
    tail -n 20 "$dir/err" "$dir/out" >&2
    echo "kafka_overhead.sh: the broker did not start ($2 the agent, try $try)" >&2
    stop_broker "$BROKER_PID" "$BROKER_FD"
  done
  exit 1
}

# stop_broker <pid> <fd>: asks the broker to exit; kills it if it has not within 120 s.
stop_broker() {
  local pid="$1" fd="$2"
  # A subshell that ignores SIGPIPE: the broker may be gone already.
  (trap '' PIPE; echo exit >&"$fd") 2>/dev/null || true
  exec {fd}>&-
  for _ in $(seq 1200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka_overhead.sh: broker $pid did not exit within 120 s; killed" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$pid]"
}

# fields <what, for the message> <file>: "<records> <ms> <broker cpu ms> <producer cpu ms>
# <data-plane cpu ms> <jit cpu ms> <gc cpu ms> <agent cpu ms>" from KafkaBench's BENCH line (the
# last four 0 in sequential mode).
fields() {
  local line
  line="$(grep '^BENCH ' "$2" || true)"
  if [[ -z "$line" ]]; then
    echo "kafka_overhead.sh: the producers ($1) failed:" >&2
    tail -n 30 "$2" >&2
    exit 1
  fi
  [[ "$line" =~ ^BENCH\ records=([0-9]+)\ ms=([0-9]+)\ cpu_ms=([0-9]+)\ producer_cpu_ms=([0-9]+)(\ data_plane_cpu_ms=([0-9]+)\ jit_cpu_ms=([0-9]+)\ gc_cpu_ms=([0-9]+)\ agent_cpu_ms=([0-9]+))? ]]
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[4]} ${BASH_REMATCH[6]:-0} ${BASH_REMATCH[7]:-0} ${BASH_REMATCH[8]:-0} ${BASH_REMATCH[9]:-0}"
}

# One sequential run: prints "<broker cpu ms> <wall ms>", appends "<with|without> <records/s>" to rates.
run() { # run <with|without>
  local out ms cpu
  GC_TAG="seq-$(date +%H%M%S%N)"
  start_broker "$WORK/run" "$1"
  "$JAVA" "${FEED_PROPS[@]}" -cp "$WORK/classes:$CP" KafkaBench "127.0.0.1:$BROKER_PORT" "$BROKER_PID" "$TICK" \
    "$WARMUP" "$RECORDS" "$PRODUCERS" >"$WORK/run/bench" 2>&1 || true
  stop_broker "$BROKER_PID" "$BROKER_FD"
  # An assignment, not `read <<<"$(...)"`, so that set -e stops the script when fields fails.
  out="$(fields "$1 the agent" "$WORK/run/bench")"
  read -r _ ms cpu _ _ _ _ _ <<<"$out"
  echo "$1 $(awk -v n="$RECORDS" -v w="$ms" 'BEGIN { printf "%.0f", n * 1000 / w }')" >>"$WORK/rates"
  echo "$cpu $ms"
}

sequential() {
  echo "records: $RECORDS timed a run"
  echo
  bench_pairs "$ROUNDS" run
  # Throughput per pair: the n-th run with the agent against the n-th without.
  paste -d' ' <(awk '$1 == "without" { print $2 }' "$WORK/rates") <(awk '$1 == "with" { print $2 }' "$WORK/rates") >"$WORK/pairs"
  printf '  median throughput: without %s, with %s records/s -> ratio %.3f\n' \
    "$(cut -d' ' -f1 "$WORK/pairs" | median)" "$(cut -d' ' -f2 "$WORK/pairs" | median)" \
    "$(echo "$(cut -d' ' -f2 "$WORK/pairs" | median) / $(cut -d' ' -f1 "$WORK/pairs" | median)" | bc -l)"
  echo "  per-pair throughput ratio spread: $(awk '{ printf "%.4f\n", $2 / $1 }' "$WORK/pairs" | bench_spread)"
}

# feed <dir> <port> <broker pid>: a producer JVM in window mode, warming up; sets FEED_PID, FEED_FD.
feed() {
  mkfifo "$1/go"
  "$JAVA" "${FEED_PROPS[@]}" -cp "$WORK/classes:$CP" KafkaBench --window "$WINDOW" "127.0.0.1:$2" "$3" "$TICK" \
    "$WARMUP" "$PRODUCERS" <"$1/go" >"$1/bench" 2>&1 &
  FEED_PID=$!
  PIDS[$FEED_PID]=1
  exec {FEED_FD}>"$1/go"
}

# cpu_since <pid> <state file>: "<process ticks> <JIT compiler threads' ticks>" (utime + stime)
# since the state file's figures, which it then replaces (from process start when the file is
# missing). Compiler threads come and go (C2's are added under load and retire when idle): the
# JIT's figure is summed per thread id, so that one retiring takes nothing off the sum. After
# the command name, which may hold spaces, utime and stime are the 12th and 13th fields.
cpu_since() {
  local state="$2" now
  now="$(sed 's/^.*) //' /proc/"$1"/stat | awk '{ print "process", $12 + $13 }'
    cat /proc/"$1"/task/*/stat 2>/dev/null | awk '/^[0-9]+ \(C[12] CompilerThre/ { t = $1; sub(/^.*\) /, ""); print t, $12 + $13 }')"
  touch "$state"
  awk 'FILENAME == ARGV[1] { old[$1] = $2; next }
       $1 == "process" { p = $2 - old[$1]; next }
       { j += $2 - old[$1] }
       END { print p + 0, j + 0 }' "$state" - <<<"$now"
  echo "$now" >"$state"
}

# settle <pid> <pid>: waits, while the producers keep both brokers busy, until in each of the
# last two 10 s intervals each broker's JIT compiler threads took at most SETTLE % of its CPU,
# or SETTLE_MAX seconds passed; sets SETTLED to the seconds waited (with "+" when it ran out) and
# JIT_SHARES to the last interval's shares. C2 took 35-39 % of a broker's CPU in a window right
# after the warm-up records, and how much of it lands in a window set most of the rounds' spread.
settle() {
  local start=$SECONDS p c k calm=0 ok shares
  SETTLED=0 JIT_SHARES=""
  (( SETTLE > 0 )) || return 0
  for p in "$@"; do rm -f "$WORK/jit.$p"; cpu_since "$p" "$WORK/jit.$p" >/dev/null; done
  while :; do
    sleep 10
    ok=1 shares=""
    for p in "$@"; do
      read -r c k <<<"$(cpu_since "$p" "$WORK/jit.$p")"
      shares+="$(awk -v c="$c" -v k="$k" 'BEGIN { printf "%.1f%% ", (c > 0 ? 100 * k / c : 0) }')"
      awk -v c="$c" -v k="$k" -v s="$SETTLE" 'BEGIN { exit !(c > 0 && 100 * k <= s * c) }' || ok=0
    done
    JIT_SHARES="${shares% }"
    SETTLED=$(( SECONDS - start ))
    if (( ok )); then calm=$(( calm + 1 )); else calm=0; fi
    (( calm >= 2 )) && return 0
    if (( SECONDS - start >= SETTLE_MAX )); then SETTLED+="+"; return 0; fi
  done
}

# gc_window <log> <window start, epoch ms>: what the collector did inside the window, from a
# --gc-log file (time decorator, UTC): pauses, concurrent cycles started and by what, old
# regions gained at young pauses (promotion), safepoints other than the collector's own.
gc_window() {
  awk -v go="$2" -v w="$WINDOW" '
    BEGIN { s0 = (go / 1000) % 86400; s1 = s0 + w }
    /^\[[0-9-]+T[0-9:.]+/ {
      split(substr($0, 13, 12), a, ":"); s = a[1] * 3600 + a[2] * 60 + a[3]
      if (s < s0 || s >= s1) next
      if (/\]\[gc +\] GC\([0-9]+\) Pause /) {
        ms += $NF + 0
        if (/Pause Young/) young++
        if (/Mixed\)/) mixed++
        if (/Pause Remark/) remark++
        if (/Pause Full/) full++
        if (match($0, /\(Concurrent Start\) \([^)]*\)/)) { cs++; cause[substr($0, RSTART + 20, RLENGTH - 21)]++ }
      } else if (/\] GC\([0-9]+\) Old regions: [0-9]+->[0-9]+/) {
        split($NF, r, "->"); if (r[2] > r[1]) old += r[2] - r[1]
      } else if (match($0, /Safepoint "[A-Za-z0-9]+"/)) {
        n = substr($0, RSTART + 11, RLENGTH - 12); if (n !~ /^G1|^Cleanup$/) sp[n]++
      }
    }
    END {
      c = ""; for (k in cause) c = c (c == "" ? "" : ", ") cause[k] " " k
      o = ""; for (k in sp) o = o " " k "x" sp[k]
      printf "%d young (%d mixed), %d concurrent start%s, %d remark, %d full, pauses %.0f ms, old regions +%d, other safepoints:%s\n",
        young, mixed, cs, (c == "" ? "" : " (" c ")"), remark, full, ms, old, (o == "" ? " none" : o)
    }' "$1"
}

# round <n> <first role> <second role>: both brokers, both producer JVMs, one window; appends
# "<records> <window ms> <broker cpu ms> <producer cpu ms> <data-plane cpu ms>", with the agent
# then without, then "<jit cpu ms with> <jit cpu ms without> <settle s> <gc cpu ms with>
# <gc cpu ms without> <agent cpu ms>" to $ROUNDS_FILE and prints the round.
round() {
  local n="$1" role ready load fd
  local -A bpid bfd fpid ffd
  load="$(cut -d' ' -f1 /proc/loadavg)"
  GC_TAG="$n"
  for role in "$2" "$3"; do
    start_broker "$WORK/$role" "$role"
    bpid[$role]=$BROKER_PID; bfd[$role]=$BROKER_FD
  done
  for role in "$2" "$3"; do
    feed "$WORK/$role" "$(sed -n 's/^HARNESS truth broker_port=//p' "$WORK/$role/out")" "${bpid[$role]}"
    fpid[$role]=$FEED_PID; ffd[$role]=$FEED_FD
  done
  for _ in $(seq 6000); do
    ready=0
    for role in with without; do
      grep -q '^WARM' "$WORK/$role/bench" && ready=$(( ready + 1 ))
      kill -0 "${fpid[$role]}" 2>/dev/null || ready=9
    done
    (( ready >= 2 )) && break
    sleep 0.1
  done
  settle "${bpid[with]}" "${bpid[without]}"
  # Both start their window at one wall-clock instant, a second from now.
  local go=$(( $(date +%s%3N) + 1000 ))
  for role in "$2" "$3"; do
    fd=${ffd[$role]}
    (trap '' PIPE; echo "go $go" >&"$fd") 2>/dev/null || true
    exec {fd}>&-
  done
  if [[ -n "$PERF" && "$n" == "$FIRST" ]]; then
    sleep 1
    local perfs=() p
    for role in with without; do
      perf record -q -g -o "$PERF.$role" -p "${bpid[$role]}" -- sleep "$WINDOW" >/dev/null 2>&1 &
      perfs+=("$!")
    done
    for p in "${perfs[@]}"; do wait "$p" || echo "kafka_overhead.sh: perf record failed" >&2; done
  fi
  for role in "$2" "$3"; do
    wait "${fpid[$role]}" || true
    unset "PIDS[${fpid[$role]}]"
  done
  for role in "$2" "$3"; do stop_broker "${bpid[$role]}" "${bfd[$role]}"; done
  if [[ -n "$GCLOG" ]]; then
    echo "$n $go $WINDOW" >>"$GCLOG/windows"
    for role in with without; do
      echo "    gc $role: $(gc_window "$GCLOG/gc-$role-$n.log" "$go")"
    done
  fi
  local rw mw cw pw dpw jw gcw aw ro mo co po dpo jo gco with without
  with="$(fields "round $n, with the agent" "$WORK/with/bench")"
  without="$(fields "round $n, without the agent" "$WORK/without/bench")"
  read -r rw mw cw pw dpw jw gcw aw <<<"$with"
  read -r ro mo co po dpo jo gco _ <<<"$without"
  echo "$rw $mw $cw $pw $dpw $ro $mo $co $po $dpo $jw $jo ${SETTLED%+} $gcw $gco $aw" >>"$ROUNDS_FILE"
  awk -v n="$n" -v f="$2" -v l="$load" -v rw="$rw" -v ro="$ro" -v mw="$mw" -v mo="$mo" -v cw="$cw" \
      -v co="$co" -v pw="$pw" -v po="$po" -v dpw="$dpw" -v dpo="$dpo" -v jw="$jw" -v jo="$jo" \
      -v st="$SETTLED" -v sh="$JIT_SHARES" -v gw="$gcw" -v go="$gco" -v aw="$aw" 'BEGIN {
    printf "  round %2d (%-7s first, load %5s, settled %4ss, jit %s): records/s without %6.0f with %6.0f -> %.3f | broker cpu s without %5.1f with %5.1f -> %.3f | records/cpu-s without %6.0f with %6.0f -> %.3f | data-plane cpu s %4.1f / %4.1f -> records/cpu-s %.3f | jit / gc cpu s %3.1f / %3.1f, %3.1f / %3.1f, agent threads %3.1f | producer cpu s %5.1f / %5.1f\n",
      n, f, l, st, sh, ro * 1000 / mo, rw * 1000 / mw, (rw / mw) / (ro / mo), co / 1000, cw / 1000, cw / co,
      ro * 1000 / co, rw * 1000 / cw, (rw / cw) / (ro / co), dpo / 1000, dpw / 1000, (rw / dpw) / (ro / dpo),
      jo / 1000, jw / 1000, go / 1000, gw / 1000, aw / 1000, po / 1000, pw / 1000 }'
}

concurrent() {
  echo "window: $WINDOW s a round, both brokers at once; JIT settled at <= $SETTLE % of broker CPU (at most $SETTLE_MAX s)"
  if [[ -n "$ROUNDS_FILE" && -s "$ROUNDS_FILE" ]]; then
    echo "rounds: $(wc -l <"$ROUNDS_FILE") earlier in $ROUNDS_FILE, summarised with these"
  fi
  ROUNDS_FILE="${ROUNDS_FILE:-$WORK/rounds}"
  echo
  # Numbered on from the earlier rounds, so that the start order keeps alternating across chunks.
  local i
  FIRST=1
  [[ -f "$ROUNDS_FILE" ]] && FIRST=$(( $(wc -l <"$ROUNDS_FILE") + 1 ))
  for (( i = FIRST; i < FIRST + ROUNDS; i++ )); do
    if (( i % 2 )); then round "$i" with without; else round "$i" without with; fi
  done
  local r="$ROUNDS_FILE"
  echo "  medians: records/s without $(awk '{ printf "%.0f\n", $6 * 1000 / $7 }' "$r" | median)," \
    "with $(awk '{ printf "%.0f\n", $1 * 1000 / $2 }' "$r" | median); broker cpu s without" \
    "$(awk '{ print $8 / 1000 }' "$r" | median), with $(awk '{ print $3 / 1000 }' "$r" | median);" \
    "jit cpu s in the window without $(awk '{ print $12 / 1000 }' "$r" | median), with $(awk '{ print $11 / 1000 }' "$r" | median)"
  if awk 'NF < 16 { exit 1 }' "$r"; then
    echo "  medians: gc cpu s without $(awk '{ print $15 / 1000 }' "$r" | median), with $(awk '{ print $14 / 1000 }' "$r" | median);" \
      "the agent's threads $(awk '{ print $16 / 1000 }' "$r" | median)"
  fi
  local what expr
  for what in "throughput ratio (with / without)|(\$1 / \$2) / (\$6 / \$7)" \
              "broker cpu ratio (with / without)|\$3 / \$8" \
              "records per broker cpu-s ratio|(\$1 / \$3) / (\$6 / \$8)" \
              "records per data-plane cpu-s ratio|(\$1 / \$5) / (\$6 / \$10)"; do
    expr="${what#*|}"
    printf '  %-35s per round: %s; 95%% interval of the median %s\n' "${what%%|*}," \
      "$(awk "{ print $expr }" "$r" | bench_spread)" "$(awk "{ print $expr }" "$r" | bench_median_ci)"
  done
  echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S) UTC"
}

"$MODE"
