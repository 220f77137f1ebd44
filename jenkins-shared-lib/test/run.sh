#!/bin/sh
# Runs the Groovy step tests of the slack-im Jenkins shared library on plain Groovy 2.4.21 (Debian's
# `groovy`, the Groovy of Jenkins pipelines), offline. Last line: "N passed, M failed"; exit 1 on failure.
# Usage: jenkins-shared-lib/test/run.sh [name-filter]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${JAVA_HOME:-}" ] && [ -d /usr/lib/jvm/java-17-openjdk-amd64 ] && [ ! -e /usr/lib/jvm/default-java ]; then
  JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
  export JAVA_HOME
fi
# Debian's groovy (2.4.21, the Groovy of Jenkins pipelines) and Java 17, installed when missing.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v groovy >/dev/null 2>&1 || [ ! -x "${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}/bin/java" ]; then
  echo "installing groovy openjdk-17-jre-headless (apt)" >&2
  if ! { as_root apt-get update -qq &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           groovy openjdk-17-jre-headless; } >&2; then
    echo "could not install groovy: apt-get install -y groovy openjdk-17-jre-headless" >&2
    exit 2
  fi
  if [ -z "${JAVA_HOME:-}" ] && [ -d /usr/lib/jvm/java-17-openjdk-amd64 ] && [ ! -e /usr/lib/jvm/default-java ]; then
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
    export JAVA_HOME
  fi
fi
cd "$here/.."
# Test workspaces go to a private temp dir, removed afterwards.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slack-im-groovy-tests.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
JAVA_OPTS="${JAVA_OPTS:-} -Djava.io.tmpdir=$tmp"
export JAVA_OPTS
groovy "$here/run-tests.groovy" "$@"
