#!/usr/bin/env bash
# Builds the leakagent Java harness with the JDK's javac/jar only (no Maven).
#   java-harness/build.sh [--force]
# Output (all under java-harness/build/):
#   harness.jar            Main-Class leakagent.harness.Main (Class-Path: Debian's reflections & deps)
#   apps/<app>.jar         one "application" jar per redeploy scenario (loaded by app-gen-N loaders)
#   apps/index.properties  <app>.classes=<number of classes in the app jar>
#   shared/shared.jar      classes of the container's shared loader (enum-parent)
#   fatjar/scan.jar        Spring-Boot-style fat jar (23 STORED nested jars) for springboot-scan
#   tomcat/driver.jar      embedded Tomcat driver for tomcat-jsp (compiled against Debian's Tomcat 10.1)
# Uses $JAVA_HOME/bin/javac when JAVA_HOME is set, else javac on PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
B="$HERE/build"
JAVADIR="${LEAKAGENT_JAVADIR:-/usr/share/java}"
FORCE=0
for a in "$@"; do
  case "$a" in
    --force|-f) FORCE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/javac" ]]; then
  BIN="$JAVA_HOME/bin"
elif command -v javac >/dev/null 2>&1; then
  BIN="$(dirname "$(readlink -f "$(command -v javac)")")"
else
  echo "build.sh: no javac found (set JAVA_HOME to a JDK 11+)" >&2; exit 1
fi
JAVAC="$BIN/javac"; JAR="$BIN/jar"; JAVA="$BIN/java"

# jar in $JAVADIR -> Debian package that provides it
declare -A PKG=(
  [reflections.jar]=libreflections-java
  [javassist.jar]=libjavassist-java
  [slf4j-api.jar]=libslf4j-java
  [slf4j-simple.jar]=libslf4j-java
  [commons-logging.jar]=libcommons-logging-java
  [spring3-beans.jar]=libspring-beans-java
  [spring3-core.jar]=libspring-core-java
  [tomcat10-catalina.jar]=libtomcat10-java
  [eclipse-jdt-core.jar]=libeclipse-jdt-core-java
  [groovy-all.jar]=groovy
)
missing=()
for j in "${!PKG[@]}"; do
  [[ -f "$JAVADIR/$j" ]] || missing+=("$JAVADIR/$j (Debian package ${PKG[$j]})")
done
if (( ${#missing[@]} )); then
  echo "build.sh: missing libraries:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "install them with: apt-get install -y $(cat "$HERE/apt-packages.txt" | tr '\n' ' ')" >&2
  exit 1
fi

STAMP="$B/.stamp"
if (( ! FORCE )) && [[ -f "$STAMP" && -f "$B/harness.jar" && -f "$B/fatjar/scan.jar" ]] \
   && [[ -z "$(find "$HERE/src" "$HERE/apps" "$HERE/shared" "$HERE/tomcat" "$HERE/build.sh" -newer "$STAMP" -print -quit)" ]]; then
  echo "build.sh: up to date ($B)"
  exit 0
fi

JFLAGS=(--release 11 -encoding UTF-8 -g -nowarn -XDstringConcat=inline -Xlint:-options)
# javac quietly (sun.misc.Unsafe warnings cannot be silenced); show its output only on failure
jc() {
  if ! "$JAVAC" "${JFLAGS[@]}" "$@" > "$B/tmp/javac.out" 2>&1; then
    cat "$B/tmp/javac.out" >&2
    echo "build.sh: javac failed" >&2
    exit 1
  fi
}

rm -rf "$B"
mkdir -p "$B/classes" "$B/shared-classes" "$B/apps" "$B/shared" "$B/fatjar" "$B/tmp"

CP_HARNESS="$JAVADIR/reflections.jar:$JAVADIR/javassist.jar:$JAVADIR/slf4j-api.jar"
echo "build.sh: compiling harness with $JAVAC"
find "$HERE/src" -name '*.java' > "$B/tmp/harness.list"
jc -cp "$CP_HARNESS" -d "$B/classes" @"$B/tmp/harness.list"
cat > "$B/tmp/MANIFEST.MF" <<MF
Main-Class: leakagent.harness.Main
Class-Path: $JAVADIR/reflections.jar $JAVADIR/javassist.jar $JAVADIR/slf4j-api.jar $JAVADIR/slf4j-simple.jar
MF
"$JAR" --create --file "$B/harness.jar" --manifest "$B/tmp/MANIFEST.MF" -C "$B/classes" .

echo "build.sh: compiling shared library"
find "$HERE/shared" -name '*.java' > "$B/tmp/shared.list"
jc -d "$B/shared-classes" @"$B/tmp/shared.list"
"$JAR" --create --file "$B/shared/shared.jar" --no-manifest -C "$B/shared-classes" .

CP_APPS="$B/classes:$B/shared-classes:$JAVADIR/commons-logging.jar:$JAVADIR/spring3-beans.jar:$JAVADIR/spring3-core.jar"
: > "$B/apps/index.properties"
for dir in "$HERE"/apps/*/; do
  app="$(basename "$dir")"
  out="$B/tmp/app-$app"
  mkdir -p "$out"
  find "$dir" -name '*.java' > "$B/tmp/$app.list"
  jc -cp "$CP_APPS" -d "$out" @"$B/tmp/$app.list"
  # resources: every non-Java file of the app directory, same relative path
  (cd "$dir" && find . -type f ! -name '*.java' -exec cp --parents {} "$out/" \;)
  "$JAR" --create --file "$B/apps/$app.jar" --no-manifest -C "$out" .
  echo "$app.classes=$(find "$out" -name '*.class' | wc -l)" >> "$B/apps/index.properties"
done

echo "build.sh: compiling the Tomcat driver"
mkdir -p "$B/tomcat" "$B/tmp/tomcat"
CP_TOMCAT="$(ls "$JAVADIR"/tomcat10-{catalina,api,util,util-scan,juli,coyote,servlet-api,jsp-api,el-api,jasper}.jar | tr '\n' ':')"
find "$HERE/tomcat" -name '*.java' > "$B/tmp/tomcat.list"
jc -cp "$CP_TOMCAT" -d "$B/tmp/tomcat" @"$B/tmp/tomcat.list"
"$JAR" --create --file "$B/tomcat/driver.jar" --no-manifest -C "$B/tmp/tomcat" .

echo "build.sh: writing fat jar"
"$JAVA" -cp "$B/classes" leakagent.harness.tools.FatJarBuilder "$B/fatjar/scan.jar"

rm -rf "$B/tmp"
touch "$STAMP"
echo "build.sh: done -> $B/harness.jar"
