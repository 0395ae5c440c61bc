#!/usr/bin/env bash
# Runs every scenario (leaky and --fixed) on each given java binary and prints a table.
#   java-harness/verify.sh [/path/to/java ...]     (default: java on PATH)
# Redeploy scenarios run with --selfcheck: OK when the measured leaked_loaders equals the
# printed truth leaked_generations. Other scenarios: OK when they exit 0 after "HARNESS done".
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$HERE/build/harness.jar"
[[ -f "$JAR" ]] || { echo "verify.sh: run build.sh first" >&2; exit 1; }
(( $# )) || set -- "$(command -v java)"
REDEPLOY="healthy level-redeploy commons-logging introspector spring-introspection jdbc-driver threadlocal thread enum-parent"
OTHER="springboot-scan direct-leak direct-churn unsafe-leak arena-retention"
fail=0
printf '%-8s %-22s %-7s %-6s %-28s %s\n' JDK SCENARIO VARIANT RESULT "TRUTH / SELFCHECK" KEY
for J in "$@"; do
  ver="$("$J" -version 2>&1 | head -1 | sed -E 's/.*version "([0-9]+)[^"]*".*/\1/')"
  for s in $REDEPLOY $OTHER; do
    for v in leaky fixed; do
      args=("$s"); [[ $v == fixed ]] && args+=(--fixed)
      [[ " $REDEPLOY " == *" $s "* ]] && args+=(--selfcheck)
      out="$("$J" -Xmx512m -jar "$JAR" "${args[@]}" 2>/dev/null)"; rc=$?
      get() { echo "$out" | sed -n "s/^HARNESS $1 $2=//p" | head -1; }
      if [[ " $REDEPLOY " == *" $s "* ]]; then
        t="$(get truth leaked_generations)"; m="$(get selfcheck leaked_loaders)"
        detail="leaked_generations=$t selfcheck=$m"; key=""
        [[ $rc == 0 && -n "$t" && "$t" == "$m" ]] && res=OK || res=FAIL
      else
        case $s in
          springboot-scan) key="inflaters_created=$(get truth inflaters_created) ended=$(get truth inflaters_ended_explicitly)";;
          direct-leak) key="direct_bytes_leaked=$(get truth direct_bytes_leaked)";;
          direct-churn) key="pool_count_at_ready=$(get truth measured_direct_pool_count_at_ready)";;
          unsafe-leak) key="unsafe_live_bytes=$(get truth unsafe_live_bytes)";;
          arena-retention) key="streams=$(get truth streams_created) rss_kb_after_gc=$(get truth measured_rss_kb_after_gc)";;
        esac
        detail="-"
        [[ $rc == 0 ]] && echo "$out" | grep -q '^HARNESS done$' && res=OK || res=FAIL
      fi
      [[ $res == OK ]] || fail=1
      printf '%-8s %-22s %-7s %-6s %-28s %s\n' "$ver" "$s" "$v" "$res" "$detail" "$key"
    done
  done
done
exit $fail
