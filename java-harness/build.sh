#!/usr/bin/env bash
# Builds the leakagent Java harness: javac/jar for the harness, mvn for springboot/.
#   java-harness/build.sh [--force]
# Output (all under java-harness/build/):
#   harness.jar            Main-Class leakagent.harness.Main (Class-Path: Debian's reflections & deps)
#   apps/<app>.jar         one "application" jar per redeploy scenario (loaded by app-gen-N loaders)
#   apps/index.properties  <app>.classes=<number of classes in the app jar>
#   shared/shared.jar      classes of the container's shared loader (enum-parent)
#   fatjar/scan.jar        Spring-Boot-style fat jar (23 STORED nested jars) for springboot-scan
#   native/libnativecache.so  the native-cache scenario's JNI library (cc, from native/)
#   tomcat/driver.jar      embedded Tomcat driver for tomcat-jsp (compiled against Debian's Tomcat 10.1)
#   springboot/            the real Spring Boot pieces, built with mvn from springboot/ (Maven
#                          Central, cached in ~/.m2; offline when everything is cached):
#     seed000-boot-{2.0.4,2.0.5,2.1.0}.jar   seed 000 on Spring Boot's own loader, by version
#     service.jar                            a Spring Boot 4.0.7 web application (fat jar)
#     service/classes, service/lib/          the same as class directory + jars, for DevTools
#     webapp.jar, webapp/{classes,lib}       a Spring Boot 4.0.7 application with the usual
#                                            starters (web, JPA on H2, Thymeleaf, Actuator), as
#                                            fat jar and as extracted class path
#   kafka/                 a Kafka 4.1.1 KRaft broker and gzip producer (mvn, from kafka/):
#     kafka-harness.jar, lib/                the harness's main class and the broker's jars
#   netty/                 a Netty 4.1.137 HTTP server with a load driver (mvn, from netty/):
#     netty-harness.jar, lib/                leakagent.netty.NettyServer and netty-all's jars
#   netty42/               the same server on Netty 4.2.18 (mvn, from netty42/: netty/'s sources)
# Uses $JAVA_HOME/bin/javac when JAVA_HOME is set, else javac on PATH (JDK 17+ for Maven's part).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
B="$HERE/build"
JAVADIR="${LEAKAGENT_JAVADIR:-/usr/share/java}"
FORCE=0
for a in "$@"; do
  case "$a" in
    --force|-f) FORCE=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
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

# The javac part: harness, shared library, applications, the Tomcat driver, generated fat jar.
build_harness() {

JFLAGS=(--release 11 -encoding UTF-8 -g -nowarn -XDstringConcat=inline -Xlint:-options)
# javac quietly (sun.misc.Unsafe warnings cannot be silenced); show its output only on failure
jc() {
  if ! "$JAVAC" "${JFLAGS[@]}" "$@" > "$B/tmp/javac.out" 2>&1; then
    cat "$B/tmp/javac.out" >&2
    echo "build.sh: javac failed" >&2
    exit 1
  fi
}

rm -rf "$B/classes" "$B/shared-classes" "$B/apps" "$B/shared" "$B/fatjar" "$B/tomcat" "$B/tmp" "$B/harness.jar"
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

build_native

echo "build.sh: writing fat jar"
"$JAVA" -cp "$B/classes" leakagent.harness.tools.FatJarBuilder "$B/fatjar/scan.jar"

rm -rf "$B/tmp"
touch "$STAMP"
echo "build.sh: done -> $B/harness.jar"
}

# The JNI libraries of our own scenarios (native/*.c -> build/native/lib*.so), with frame
# pointers. Needs cc (Debian package gcc) and the JDK's jni.h.
build_native() {
  if ! command -v cc >/dev/null 2>&1; then
    echo "build.sh: cc is missing (Debian package gcc)" >&2; exit 1
  fi
  mkdir -p "$B/native"
  local c
  for c in "$HERE"/native/*.c; do
    echo "build.sh: compiling $(basename "$c") with cc"
    cc -shared -fPIC -O2 -fno-omit-frame-pointer -Wall -Werror -I"$JDK_HOME/include" -I"$JDK_HOME/include/linux" \
      -o "$B/native/lib$(basename "$c" .c).so" "$c"
  done
}

# Runs mvn on POM with GOALS, offline first: with ~/.m2 filled once (CI caches it) nothing is
# fetched; else from Maven Central. WHAT names the part in messages.
mvn_run() { # WHAT POM GOALS...
  local what=$1 pom=$2
  shift 2
  local log="$B/mvn-$(basename "$(dirname "$pom")").log" mvn=(mvn -B -q -f "$pom")
  if ! command -v mvn >/dev/null 2>&1; then
    echo "build.sh: mvn is missing (Debian package maven)" >&2; exit 1
  fi
  echo "build.sh: building $what with mvn (JAVA_HOME=$JDK_HOME)"
  if ! JAVA_HOME="$JDK_HOME" "${mvn[@]}" -o "$@" > "$log" 2>&1; then
    echo "build.sh: not everything is in ~/.m2 yet; mvn fetches from Maven Central"
    if ! JAVA_HOME="$JDK_HOME" "${mvn[@]}" "$@" > "$log" 2>&1; then
      cat "$log" >&2
      echo "build.sh: mvn failed for $what (log above; it needs Maven Central once, then ~/.m2)" >&2
      exit 1
    fi
  fi
  rm -f "$log"
}

# The Maven part: java-harness/springboot/ (seed000-*, service), output copied to $B/springboot.
build_springboot() {
  local sb="$HERE/springboot" out="$B/springboot"
  mvn_run "the Spring Boot applications" "$sb/pom.xml" clean package
  rm -rf "$out"
  mkdir -p "$out/service"
  for v in 2.0.4 2.0.5 2.1.0; do
    cp "$sb/seed000-boot-$v/target/seed000-boot-$v.jar" "$out/"
  done
  cp "$sb/service/target/service.jar" "$out/"
  cp -r "$sb/service/target/classes" "$sb/service/target/lib" "$out/service/"
  cp "$sb/webapp/target/webapp.jar" "$out/"
  mkdir -p "$out/webapp"
  cp -r "$sb/webapp/target/classes" "$sb/webapp/target/lib" "$out/webapp/"
  touch "$out/.stamp"
  echo "build.sh: done -> $out"
}

# The Kafka broker: java-harness/kafka/, output copied to $B/kafka (offline first, as above).
build_kafka() {
  local k="$HERE/kafka" out="$B/kafka"
  mvn_run "the Kafka broker harness" "$k/pom.xml" clean package
  rm -rf "$out"
  mkdir -p "$out"
  cp "$k/target/kafka-harness.jar" "$out/"
  cp -r "$k/target/lib" "$out/"
  touch "$out/.stamp"
  echo "build.sh: done -> $out"
}

# The Netty server: java-harness/netty/ (Netty 4.1) or netty42/ (the same sources on Netty 4.2),
# output copied to $B/netty or $B/netty42 (offline first, as above).
build_netty() { # DIR
  local n="$HERE/$1" out="$B/$1"
  mvn_run "the Netty server harness ($1)" "$n/pom.xml" clean package
  rm -rf "$out"
  mkdir -p "$out"
  cp "$n/target/netty-harness.jar" "$out/"
  cp -r "$n/target/lib" "$out/"
  touch "$out/.stamp"
  echo "build.sh: done -> $out"
}

# The Jetty part: java-harness/jetty/ (embedded Jetty 12 from Maven Central, pinned in its pom):
# mvn copies the jars (offline first), javac builds the driver and one web application directory
# per context (the same code, each in its own directory as separate applications are).
build_jetty() {
  local src="$HERE/jetty" out="$B/jetty"
  mvn_run "Jetty" "$src/pom.xml" package
  rm -rf "$out"
  mkdir -p "$out/classes"
  cp -r "$src/target/lib" "$out/lib"
  "$JAVAC" -nowarn -d "$out/classes" -cp "$out/lib/*" "$src/src/leakagent/jetty/JettyRedeploy.java"
  for app in leaky shop; do
    mkdir -p "$out/webapps/$app/WEB-INF/classes"
    cp "$src/webapp/WEB-INF/web.xml" "$out/webapps/$app/WEB-INF/"
    "$JAVAC" -nowarn -d "$out/webapps/$app/WEB-INF/classes" -cp "$out/lib/*" "$src/webapp/src/leakagent/webapp/Ticker.java"
  done
  touch "$out/.stamp"
  echo "build.sh: done -> $out"
}

JDK_HOME="$(dirname "$BIN")"
STAMP="$B/.stamp"
mkdir -p "$B"
# Test binaries started together each run this script (tests/common): one builds while the
# others wait, then find the build up to date, instead of two javacs and mvns writing one tree.
exec 9>"$B/.lock"
flock 9
if (( ! FORCE )) && [[ -f "$STAMP" && -f "$B/harness.jar" && -f "$B/fatjar/scan.jar" ]] \
   && [[ -f "$B/native/libnativecache.so" ]] \
   && [[ -z "$(find "$HERE/src" "$HERE/apps" "$HERE/shared" "$HERE/tomcat" "$HERE/native" "$HERE/build.sh" -newer "$STAMP" -print -quit)" ]]; then
  echo "build.sh: harness up to date ($B)"
else
  build_harness
fi
# Whether the Maven part in DIR changed since its output's STAMP (its target/ aside).
maven_part_current() { # DIR STAMP
  (( ! FORCE )) && [[ -f "$2" ]] \
    && [[ -z "$(find "$1" "$HERE/build.sh" -name target -prune -o -type f -newer "$2" -print -quit)" ]]
}
if maven_part_current "$HERE/springboot" "$B/springboot/.stamp"; then
  echo "build.sh: Spring Boot applications up to date ($B/springboot)"
else
  build_springboot
fi
if maven_part_current "$HERE/kafka" "$B/kafka/.stamp"; then
  echo "build.sh: Kafka broker up to date ($B/kafka)"
else
  build_kafka
fi
for n in netty netty42; do
  # netty42 compiles netty's sources: either changing rebuilds it.
  if maven_part_current "$HERE/$n" "$B/$n/.stamp" && maven_part_current "$HERE/netty" "$B/$n/.stamp"; then
    echo "build.sh: Netty server up to date ($B/$n)"
  else
    build_netty "$n"
  fi
done
if maven_part_current "$HERE/jetty" "$B/jetty/.stamp"; then
  echo "build.sh: Jetty up to date ($B/jetty)"
else
  build_jetty
fi
