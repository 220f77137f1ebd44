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
if ! command -v groovy >/dev/null 2>&1; then
  echo "groovy not found: apt-get install -y groovy (Debian's 2.4.21 is the Groovy of Jenkins pipelines)" >&2
  exit 2
fi
cd "$here/.."
# Test workspaces go to a private temp dir, removed afterwards.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slack-im-groovy-tests.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
JAVA_OPTS="${JAVA_OPTS:-} -Djava.io.tmpdir=$tmp"
export JAVA_OPTS
groovy "$here/run-tests.groovy" "$@"
