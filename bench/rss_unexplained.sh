#!/usr/bin/env bash
# How much of RSS the memory section leaves `unexplained` (and puts under `other`), per harness
# scenario and on the Kafka broker, from the report the agent writes at exit (default options).
# Prints one row per run: scenario, JDK, GC, RSS, unexplained bytes and %, other %, the GC's
# side tables, malloc in use, the unrecognised anonymous mappings' share of RSS (`anon %`: what
# `unexplained` would be if glibc's unrecognised mmapped chunks took none of it), and the largest
# of them (memory.unrecognised).
#
#   bench/rss_unexplained.sh [--java PATH]... [--gc G1|Z|...]... [--kafka] [--keep DIR] [SCENARIO...]
#
# --gc ZGenerational is JDK 21's generational ZGC (-XX:+UseZGC -XX:+ZGenerational); experimental
# collectors (ZGC on JDK 11) are unlocked. --keep DIR leaves each run's report and output there.
# Without SCENARIO: every scenario `harness.jar --list` prints. Without --java: Debian's JDK 17.
# Without --gc: the JDK's default (G1). --kafka adds the KRaft broker of tests/stock_apps.rs.
# Nothing is timed: the rows are shares of RSS, so the machine's load does not matter.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/bench/pairs.sh"
bench_agent_lib
JAR="$ROOT/java-harness/build/harness.jar"
[[ -f "$JAR" ]] || { echo "no $JAR: run scripts/build.sh" >&2; exit 1; }

javas=() gcs=() scenarios=() kafka=0 keep=
while (($#)); do
  case "$1" in
    --java) javas+=("$(readlink -f "$2")"); shift 2 ;;
    --gc) gcs+=("$2"); shift 2 ;;
    --kafka) kafka=1; shift ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
((${#javas[@]})) || javas=(/usr/lib/jvm/java-17-openjdk-amd64/bin/java)
((${#gcs[@]})) || gcs=(default)
if ((${#scenarios[@]} == 0)) && ((kafka == 0)); then
  mapfile -t scenarios < <("${javas[0]}" -jar "$JAR" --list)
fi

if [[ -n "$keep" ]]; then
  WORK="$keep"
  mkdir -p "$WORK"
else
  WORK="$(mktemp -d /tmp/rss_unexplained.XXXXXX)"
  trap 'rm -rf "$WORK"' EXIT
fi

# row <label> <jdk> <gc> <report dir>: one table row from the last report written there.
row() {
  local last
  last="$(ls -t "$4"/r-*.json 2>/dev/null | head -1 || true)"
  if [[ -z "$last" ]]; then
    printf '%-22s %-4s %-8s no report\n' "$1" "$2" "$3"
    return
  fi
  jq -r --arg s "$1" --arg v "$2" --arg g "$3" '
    .memory as $m | ($m.explanation | map({(.part): .bytes}) | add) as $p
    | def mib: . / 1048576 * 10 | round / 10;
    def pct: . * 1000 / $m.rss_bytes | round / 10;
    [$s, $v, $g, ($m.rss_bytes | mib), ($p.unexplained | mib), ($p.unexplained | pct), ($p.other | pct),
     (($p.gc_structures // 0) | mib), ($p.malloc_in_use | mib),
     ($m.regions | map(select(.kind == "other_anonymous") | .rss_bytes) | add | pct),
     (($m.unrecognised // []) | map("\(.perms) \(.size_bytes / 1024 | floor)K rss \(.rss_bytes / 1024 | floor)K") | .[:3] | join("; "))]
    | "\(.[0] | .+ " " * (22 - length)) \(.[1] | .+ " " * (4 - length)) \(.[2] | .+ " " * (8 - length)) \(.[3])\t\(.[4])\t\(.[5])%\t\(.[6])%\t\(.[7])\t\(.[8])\t\(.[9])%\t\(.[10])"
  ' "$last"
}

printf '%-22s %-4s %-8s %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' scenario jdk gc "RSS MiB" "unexpl MiB" "unexpl %" "other %" "gc MiB" "malloc_in_use MiB" "anon %" "largest unrecognised anonymous mappings"
for java in "${javas[@]}"; do
  v="$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  for gc in "${gcs[@]}"; do
    gcargs=()
    case "$gc" in
      default) ;;
      ZGenerational) gcargs=(-XX:+UseZGC -XX:+ZGenerational) ;;
      *) gcargs=(-XX:+UnlockExperimentalVMOptions "-XX:+Use${gc}GC") ;;
    esac
    for s in "${scenarios[@]}"; do
      d="$WORK/$s-$v-$gc"
      mkdir -p "$d"
      (cd "$d" && timeout 300 "$java" "-agentpath:$LIB=file=$d/r-%n" "${gcargs[@]}" -jar "$JAR" "$s" >"$d/out" 2>&1) || true
      row "$s" "$v" "$gc" "$d"
    done
    if ((kafka)); then
      d="$WORK/kafka-$v-$gc"
      mkdir -p "$d/data"
      k="$ROOT/java-harness/build/kafka"
      (cd "$d" && timeout 300 "$java" "-agentpath:$LIB=file=$d/r-%n" -Xmx512m "${gcargs[@]}" \
        -cp "$k/kafka-harness.jar:$k/lib/*" leakagent.kafka.Broker "$d/data" 5000 >"$d/out" 2>&1) || true
      row kafka "$v" "$gc" "$d"
    fi
  done
done
