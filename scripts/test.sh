#!/usr/bin/env bash
# Every test: unit tests, then integration tests that run real JVMs with the agent on the Java
# harness scenarios and assert on the JSON reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
cargo build --release
bash java-harness/build.sh
cargo test --release -- --test-threads=2
