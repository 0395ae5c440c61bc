#!/usr/bin/env bash
# Builds what a user downloads: dist/leakagent-VERSION-linux-x86_64.tar.gz holds the agent library
# and the leakagent command, stripped and linked against glibc 2.17 (so they run on any glibc from
# 2.17 on, e.g. RHEL/CentOS 7), with README, LICENSE and examples. Their debug info goes into
# dist/leakagent-VERSION-linux-x86_64.debug.tar.gz (the same paths plus .debug, found by gdb through
# a debuglink when unpacked beside them). zig and cargo-zigbuild, pinned below, link against the
# old glibc; they are installed into .release-tools/ when missing. Idempotent and incremental:
# cargo rebuilds only what changed (in target/dist-build, apart from the developers' target/release).
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGLANG_VERSION=0.14.1
ZIGBUILD_VERSION=0.24.1
GLIBC=2.17
TRIPLE=x86_64-unknown-linux-gnu
TOOLS=$PWD/.release-tools

# binutils: objcopy, strip and readelf split, strip and check the binaries.
bash scripts/setup.sh
if ! command -v objcopy >/dev/null || ! command -v readelf >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq binutils >/dev/null
fi

# zig (the ziglang wheel carries the zig binary) and cargo-zigbuild (its wheel carries the binary),
# at the pinned versions.
if [[ "$("$TOOLS/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $ZIGBUILD_VERSION" ]] \
  || [[ "$("$TOOLS/ziglang/zig" version 2>/dev/null)" != "$ZIGLANG_VERSION" ]]; then
  echo "release: installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $ZIGBUILD_VERSION into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$TOOLS" \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
fi
# cargo-zigbuild runs the first `zig` on PATH.
export PATH="$TOOLS/ziglang:$TOOLS/bin:$PATH"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"

version=$(awk -F'"' '/^\[/ { section = $0 } section == "[package]" && /^version *=/ { print $2; exit }' Cargo.toml)
name="leakagent-$version-linux-x86_64"

# With debug info (the release profile's), split off below.
cargo zigbuild --release --target "$TRIPLE.$GLIBC" --target-dir target/dist-build \
  -p leakagent -p leakagent-cli
built=target/dist-build/$TRIPLE/release

mkdir -p dist
stage=$(mktemp -d dist/.stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
dbg="$stage/debug/$name"
mkdir -p "$root/lib" "$root/bin" "$dbg/lib" "$dbg/bin"

for f in lib/libleakagent.so bin/leakagent; do
  cp "$built/$(basename "$f")" "$root/$f"
  objcopy --only-keep-debug --compress-debug-sections "$root/$f" "$dbg/$f.debug"
  strip --strip-debug --strip-unneeded "$root/$f"
  # The debuglink names the .debug file (its base name and CRC); gdb looks for it beside the binary.
  objcopy --add-gnu-debuglink="$dbg/$f.debug" "$root/$f"

  # The promise of this tarball, checked before it is made: no symbol newer than glibc 2.17.
  newest=$(readelf --dyn-syms --wide "$root/$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [[ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -1)" != "$GLIBC" ]]; then
    echo "release: $f needs glibc $newest, newer than $GLIBC" >&2
    exit 1
  fi
done
chmod 0755 "$root/bin/leakagent" "$root/lib/libleakagent.so"
chmod 0644 "$dbg/bin/leakagent.debug" "$dbg/lib/libleakagent.so.debug"

cp README.md LICENSE "$root/"
cp -r docs examples "$root/"
# It regenerates the samples from a checkout's build.
rm "$root/examples/sample-report/make.sh"

# Reproducible archives: sorted names, no owner, every mtime the last commit's.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
pack() { # DIR ARCHIVE
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$1" -cf - "$name" | gzip -n -9 >"$2.tmp"
  mv "$2.tmp" "$2"
}
pack "$stage" "dist/$name.tar.gz"
pack "$stage/debug" "dist/$name.debug.tar.gz"
(cd dist && sha256sum "$name.tar.gz" "$name.debug.tar.gz" >"$name.sha256.tmp" && mv "$name.sha256.tmp" "$name.sha256")

echo "release: dist/$name.tar.gz ($(du -k "dist/$name.tar.gz" | cut -f1) KiB), debug info in dist/$name.debug.tar.gz"
