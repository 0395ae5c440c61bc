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
    printf '  pair %2d: cpu without %5d ms  with %5d ms  ratio %.3f   | wall without %5d ms  with %5d ms\n' \
      "$i" "$ca" "$cb" "$r" "$wa" "$wb"
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
