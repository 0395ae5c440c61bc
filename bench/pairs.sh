# shellcheck shell=bash
# Sourced by the overhead benchmarks: finding java, the agent library, and the alternating pairs
# of runs with and without the agent (CPU and wall medians, the spread of the per-pair ratios).
# A runner prints "<cpu ms> <wall ms>" for `with` or `without`; `bench_result` reads the line
# the Java benchmarks print (BENCH ... ms=N ... cpu_ms=N).

# Sets JAVA (unless given: the JDK of javac on PATH, else java on PATH) and JAVAC.
bench_java() {
  if [[ -z "$JAVA" ]]; then
    if command -v javac >/dev/null 2>&1; then
      JAVA="$(dirname "$(readlink -f "$(command -v javac)")")/java"
    else
      JAVA="$(command -v java)"
    fi
  fi
  JAVAC="$(dirname "$JAVA")/javac"
  [[ -x "$JAVAC" ]] || JAVAC="$(command -v javac)"
}

# Sets LIB (LEAKAGENT_LIB, else target/release/libleakagent.so, built when missing).
bench_agent_lib() {
  LIB="${LEAKAGENT_LIB:-$ROOT/target/release/libleakagent.so}"
  if [[ ! -f "$LIB" ]]; then
    (cd "$ROOT" && cargo build --release)
  fi
}

# bench_result <what failed, for the message> <the benchmark's output>: "<cpu ms> <wall ms>".
bench_result() {
  local line
  line="$(grep '^BENCH ' <<<"$2" || true)"
  if [[ -z "$line" ]]; then
    echo "$1 failed:" >&2
    echo "$2" >&2
    exit 1
  fi
  # shellcheck disable=SC2001  # a regex with a capture reads plainer in sed
  echo "$(sed 's/.* cpu_ms=\([0-9]*\).*/\1/' <<<"$line") $(sed 's/.* ms=\([0-9]*\) .*/\1/' <<<"$line")"
}

median() { sort -n | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# bench_pairs <pairs> <runner> [args...]: runs `runner without|with args...` in alternating order.
bench_pairs() {
  local pairs="$1" runner="$2" i a b ca wa cb wb r
  shift 2
  local cpu_without=() cpu_with=() wall_without=() wall_with=() ratios=()
  for (( i = 1; i <= pairs; i++ )); do
    if (( i % 2 )); then
      a="$("$runner" without "$@")"; b="$("$runner" with "$@")"
    else
      b="$("$runner" with "$@")"; a="$("$runner" without "$@")"
    fi
    read -r ca wa <<<"$a"
    read -r cb wb <<<"$b"
    cpu_without+=("$ca"); cpu_with+=("$cb"); wall_without+=("$wa"); wall_with+=("$wb")
    r="$(echo "$cb / $ca" | bc -l)"
    ratios+=("$r")
    printf '  pair %2d: cpu without %5d ms  with %5d ms  ratio %.3f   | wall without %5d ms  with %5d ms  load %s\n' \
      "$i" "$ca" "$cb" "$r" "$wa" "$wb" "$(bench_load)"
  done
  local co cw wo ww
  co="$(printf '%s\n' "${cpu_without[@]}" | median)"; cw="$(printf '%s\n' "${cpu_with[@]}" | median)"
  wo="$(printf '%s\n' "${wall_without[@]}" | median)"; ww="$(printf '%s\n' "${wall_with[@]}" | median)"
  printf '  median cpu:  without %s ms, with %s ms -> ratio %.3f (overhead %+.1f%%)\n' "$co" "$cw" \
    "$(echo "$cw / $co" | bc -l)" "$(echo "($cw / $co - 1) * 100" | bc -l)"
  printf '  median wall: without %s ms, with %s ms -> ratio %.3f (overhead %+.1f%%)\n' "$wo" "$ww" \
    "$(echo "$ww / $wo" | bc -l)" "$(echo "($ww / $wo - 1) * 100" | bc -l)"
  printf '  per-pair cpu ratio spread: %s\n' "$(printf '%s\n' "${ratios[@]}" | bench_spread)"
}

# bench_spread: "min A, q1 B, median C, q3 D, max E" of the numbers on stdin (one a line); an
# even count's median is the mean of the middle two.
# The machine's 1-minute load average now (the agent's ratio grows with it).
bench_load() {
  cut -d' ' -f1 /proc/loadavg
}

bench_spread() {
  sort -g | awk '{v[NR]=$1} END {
    printf "min %.3f, q1 %.3f, median %.3f, q3 %.3f, max %.3f\n",
      v[1], v[int((NR+3)/4)], (v[int((NR+1)/2)] + v[int(NR/2)+1]) / 2, v[int((3*NR+1)/4)], v[NR] }'
}

# bench_median_ci: "A..B" of the numbers on stdin, the interval from order statistics that holds
# their population's median with ≥ 95% probability (sign test; none under 6 numbers).
bench_median_ci() {
  sort -g | awk '{v[NR]=$1} END {
    n = NR; p = 0.5 ^ n; cdf = p; k = 0
    for (j = 0; j < n && cdf <= 0.025; j++) { k = j + 1; p = p * (n - j) / (j + 1); cdf += p }
    if (k == 0) { print "none (under 6 rounds)"; exit }
    printf "%.3f..%.3f\n", v[k], v[n + 1 - k] }'
}

# Runs of several kinds (e.g. without the agent, with it, with other options) compared pair by
# pair, the first kind the baseline. A runner `runner <kind> [go-file]` runs one JVM in the
# foreground and prints its output; given a go-file, the benchmark prints READY after its warm-up
# and starts its timed phase once that file exists. BENCH_WORK is a scratch directory.

# bench_together <runner> <kind>...: the kinds' runs at the same time, started in that order,
# their timed phases released together once every one has warmed up, so that each sees the same
# stretch of the machine's load. Prints "<kind> <cpu ms> <wall ms>" per kind.
BENCH_GO=0
bench_together() {
  local runner="$1" k pids=() go waited=0
  shift
  go="$BENCH_WORK/go-$(( ++BENCH_GO ))"
  for k in "$@"; do
    "$runner" "$k" "$go" >"$BENCH_WORK/out-$k" 2>&1 &
    pids+=("$!")
  done
  for k in "$@"; do
    # The background run may not have opened its output yet.
    until grep -qs '^READY' "$BENCH_WORK/out-$k"; do
      sleep 0.05
      (( ++waited < 12000 )) || { echo "a run $k never warmed up:" >&2; cat "$BENCH_WORK/out-$k" >&2; exit 1; }
    done
  done
  touch "$go"
  for k in "${pids[@]}"; do wait "$k" || true; done
  for k in "$@"; do
    echo "$k $(bench_result "a run $k" "$(cat "$BENCH_WORK/out-$k")")"
  done
}

# bench_kinds <pairs> <together 0|1> <runner> <kind>...: each pair runs every kind once (one
# after the other, or with together=1 at the same time), the first of each pair one later than
# the last's, so that each kind runs (or starts) first equally often. Prints each pair with every
# kind's CPU and its ratio to the first kind, then per kind the median CPU and wall, the ratio of
# the medians and the spread of the per-pair ratios.
bench_kinds() {
  local pairs="$1" together="$2" runner="$3" i j k c w r line
  shift 3
  local kinds=("$@") order
  declare -A cpu wall got_c got_w per_pair
  for (( i = 0; i < pairs; i++ )); do
    order=()
    for (( j = 0; j < ${#kinds[@]}; j++ )); do order+=("${kinds[$(( (i + j) % ${#kinds[@]} ))]}"); done
    if (( together )); then
      while read -r k c w; do got_c[$k]="$c"; got_w[$k]="$w"; done < <(bench_together "$runner" "${order[@]}")
    else
      for k in "${order[@]}"; do
        read -r c w <<<"$(bench_result "a run $k" "$("$runner" "$k")")"
        got_c[$k]="$c"; got_w[$k]="$w"
      done
    fi
    line="$(printf '  pair %2d: %s %5d ms' "$(( i + 1 ))" "${kinds[0]}" "${got_c[${kinds[0]}]}")"
    for k in "${kinds[@]}"; do
      cpu[$k]+="${got_c[$k]} "; wall[$k]+="${got_w[$k]} "
      [[ "$k" == "${kinds[0]}" ]] && continue
      r="$(echo "${got_c[$k]} / ${got_c[${kinds[0]}]}" | bc -l)"
      per_pair[$k]+="$r "
      line+="$(printf '  %s %5d ms (%.3f)' "$k" "${got_c[$k]}" "$r")"
    done
    # The agent's cost is mostly cache lines, dearer on a loaded machine: say how loaded it was.
    echo "$line  load $(bench_load)"
  done
  local c0 w0 ck wk
  c0="$(tr ' ' '\n' <<<"${cpu[${kinds[0]}]}" | grep . | median)"
  w0="$(tr ' ' '\n' <<<"${wall[${kinds[0]}]}" | grep . | median)"
  printf '  median %s: cpu %s ms, wall %s ms\n' "${kinds[0]}" "$c0" "$w0"
  for k in "${kinds[@]:1}"; do
    ck="$(tr ' ' '\n' <<<"${cpu[$k]}" | grep . | median)"
    wk="$(tr ' ' '\n' <<<"${wall[$k]}" | grep . | median)"
    printf '  median %s: cpu %s ms -> ratio %.3f (%+.1f%%), wall %s ms -> %.3f\n' "$k" "$ck" \
      "$(echo "$ck / $c0" | bc -l)" "$(echo "($ck / $c0 - 1) * 100" | bc -l)" "$wk" "$(echo "$wk / $w0" | bc -l)"
    printf '    per-pair cpu ratio spread: %s; 95%% interval of its median: %s\n' \
      "$(tr ' ' '\n' <<<"${per_pair[$k]}" | grep . | bench_spread)" \
      "$(tr ' ' '\n' <<<"${per_pair[$k]}" | grep . | bench_median_ci)"
  done
}
