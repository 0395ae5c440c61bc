#!/usr/bin/env bash
# Every test: unit tests, then integration tests that run real JVMs with the agent on the Java
# harness scenarios and assert on the JSON reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# The release tarball (glibc 2.17 build): its compile happens here, so tests/release.rs, which runs
# the script again, only finds it current.
bash scripts/release.sh
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
# Lints are part of the suite: a warning fails it.
cargo clippy --release --all-targets -p leakagent -p leakagent-report -p leakagent-cli -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --no-fail-fast -- --test-threads=2 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
