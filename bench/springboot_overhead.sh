#!/usr/bin/env bash
# Overhead of the agent on a real Spring Boot service: start-up time and request throughput of
# java-harness/build/springboot/service.jar (Spring Boot 4.0.7, Spring MVC on embedded Tomcat,
# JSON from Jackson) with and without the agent, in alternating runs of one session.
#
#   bench/springboot_overhead.sh [--pairs N] [--java PATH] [--options OPTS] [--duration S]
#                                [--connections N]
#
#   --pairs N        runs with and without the agent (default 7); the order of each pair
#                    alternates (without/with, with/without, ...)
#   --java PATH      the java binary (default: /usr/lib/jvm/java-17-openjdk-amd64/bin/java)
#   --options OPTS   agent options besides file= (default: none, i.e. the defaults)
#   --duration S     seconds of measured load per run (default 10), after 5 s of warm-up load
#   --connections N  wrk connections (default 16; wrk runs 1 thread, so a core is left to the JVM)
#   LEAKAGENT_LIB    environment: the agent library (default target/release/libleakagent.so)
#
# Per run: start-up is the wall time from exec to the first HTTP 200 on /greeting, and the JVM's
# CPU time (utime+stime from /proc/PID/stat) at that moment; then wrk (Debian's `wrk`) loads
# GET /greeting?name=bench on loopback: requests per second, and the JVM's CPU time per request
# over the measured window. On a shared 2-core machine wall numbers move with other load; CPU per
# request and start-up CPU move less. Prints every run, then median and spread (min..max) per
# side and the ratio of the medians (with agent / without). Not a test: it asserts nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PAIRS=7
JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
OPTS=""
DURATION=10
CONNS=16
while (( $# )); do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --java) JAVA="$2"; shift 2 ;;
    --options) OPTS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "springboot_overhead.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "springboot_overhead.sh: $tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done

LIB="${LEAKAGENT_LIB:-$ROOT/target/release/libleakagent.so}"
[[ -f "$LIB" ]] || (cd "$ROOT" && cargo build --release)
JAR="$ROOT/java-harness/build/springboot/service.jar"
[[ -f "$JAR" ]] || JAVA_HOME="$(dirname "$(dirname "$JAVA")")" bash "$ROOT/java-harness/build.sh"
WORK="$(mktemp -d /tmp/leakagent-sbbench.XXXXXX)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

AGENT="-agentpath:$LIB=file=$WORK/report-%p-%n${OPTS:+,$OPTS}"
TICK=$(getconf CLK_TCK)
echo "java:    $JAVA ($("$JAVA" -version 2>&1 | head -1))"
echo "agent:   $AGENT"
echo "service: $JAR"
echo "cpus:    $(nproc), pairs: $PAIRS, load: wrk -t1 -c$CONNS, ${DURATION}s measured after 5s warm-up"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cpu_ms() { # utime+stime of a process, in ms
  local f; read -r -a f < "/proc/$1/stat"
  # fields 14 and 15 (1-based) after the command name; the name has no spaces here (java)
  echo $(( (f[13] + f[14]) * 1000 / TICK ))
}

# One run: prints "<startup wall ms> <startup cpu ms> <requests/s> <cpu us per request>".
run() { # run with|without
  local agent=() fifo="$WORK/stdin" out="$WORK/out"
  [[ "$1" == with ]] && agent=("$AGENT")
  rm -f "$fifo" "$out"; mkfifo "$fifo"
  local t0; t0=$(now_ms)
  "$JAVA" "${agent[@]}" -Xmx512m -jar "$JAR" --await-stdin <"$fifo" >"$out" 2>"$WORK/err" &
  pid=$!
  exec 3>"$fifo"
  local port=""
  for _ in $(seq 1200); do
    port="$(sed -n 's/^HARNESS truth port=//p' "$out")"
    [[ -n "$port" ]] && curl -sf "http://127.0.0.1:$port/greeting?name=up" >/dev/null && break
    port=""; sleep 0.01
  done
  [[ -n "$port" ]] || { cat "$WORK/err" >&2; echo "springboot_overhead.sh: the service did not answer" >&2; exit 1; }
  local t1 c1; t1=$(now_ms); c1=$(cpu_ms "$pid")
  local url="http://127.0.0.1:$port/greeting?name=bench"
  wrk -t1 -c"$CONNS" -d5s "$url" >/dev/null
  local c2; c2=$(cpu_ms "$pid")
  local w; w="$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url")"
  local c3; c3=$(cpu_ms "$pid")
  echo exit >&3; exec 3>&-
  wait "$pid" || true; pid=""
  local reqs rps
  reqs="$(echo "$w" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')"
  rps="$(echo "$w" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')"
  echo "$((t1 - t0)) $c1 $rps $(awk -v c="$((c3 - c2))" -v n="${reqs:-0}" 'BEGIN { printf "%.1f\n", (n > 0) ? c * 1000 / n : 0 }')"
}

declare -a S_WALL_W S_CPU_W RPS_W US_W S_WALL_N S_CPU_N RPS_N US_N
for ((i = 0; i < PAIRS; i++)); do
  if (( i % 2 )); then order=(with without); else order=(without with); fi
  for side in "${order[@]}"; do
    read -r sw sc rps us < <(run "$side") || true
    [[ -n "${us:-}" ]] || { echo "springboot_overhead.sh: a $side run failed" >&2; exit 1; }
    printf '%-8s pair %2d: start-up %5d ms wall, %5d ms CPU; %8.0f req/s, %5.1f us CPU/request\n' \
      "$side" "$i" "$sw" "$sc" "$rps" "$us"
    if [[ $side == with ]]; then
      S_WALL_W+=("$sw"); S_CPU_W+=("$sc"); RPS_W+=("$rps"); US_W+=("$us")
    else
      S_WALL_N+=("$sw"); S_CPU_N+=("$sc"); RPS_N+=("$rps"); US_N+=("$us")
    fi
  done
done

# "median min max" of the arguments
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'; }
line() { # line <label> <unit> <with values...> -- <without values...>
  local label="$1" unit="$2"; shift 2
  local with=() without=()
  while [[ "$1" != -- ]]; do with+=("$1"); shift; done; shift
  without=("$@")
  read -r mw lw hw < <(stats "${with[@]}")
  read -r mn ln hn < <(stats "${without[@]}")
  printf '%-22s without %7s %-6s (%s..%s)   with %7s %-6s (%s..%s)   ratio %s\n' "$label" "$mn" "$unit" "$ln" "$hn" \
    "$mw" "$unit" "$lw" "$hw" "$(awk -v a="$mw" -v b="$mn" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
}
echo
echo "median (min..max) over $PAIRS runs per side:"
line "start-up wall" ms "${S_WALL_W[@]}" -- "${S_WALL_N[@]}"
line "start-up CPU" ms "${S_CPU_W[@]}" -- "${S_CPU_N[@]}"
line "throughput" req/s "${RPS_W[@]}" -- "${RPS_N[@]}"
line "CPU per request" us "${US_W[@]}" -- "${US_N[@]}"
