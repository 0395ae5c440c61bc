#!/usr/bin/env bash
# Installs what is missing, then builds the agent (target/release/libleakagent.so) and the Java
# harness (java-harness/build/). Shared by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
cargo build --release
# The copy with fault injection, for the tests that inject faults (tests/common builds it too,
# when missing or stale): its own target dir, so target/release keeps the library users load.
cargo build --release -p leakagent --features fault-injection --target-dir target/fault
bash java-harness/build.sh
