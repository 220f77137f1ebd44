#!/bin/sh
# Lints the slack-im Jenkins shared library (vars/, src/, examples/; its shell scripts in resources/ with
# shellcheck) and the project's Jenkinsfile with
# npm-groovy-lint@16 (CodeNarc; runs offline on Java 17 + Node 20), preset "recommended-jenkinsfile".
# Installs npm-groovy-lint into jenkins-shared-lib/node_modules when missing. Fails on errors.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=$(cd "$here/.." && pwd)
root=$(cd "$lib/.." && pwd)
if [ -z "${JAVA_HOME:-}" ] && [ -d /usr/lib/jvm/java-17-openjdk-amd64 ] && [ ! -e /usr/lib/jvm/default-java ]; then
  JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
  export JAVA_HOME
fi
lint="$lib/node_modules/.bin/npm-groovy-lint"
if [ ! -x "$lint" ]; then
  echo "installing npm-groovy-lint@16 into $lib/node_modules"
  (cd "$lib" && npm install --no-audit --no-fund --no-save --no-package-lock npm-groovy-lint@16)
fi
cd "$root"
# The step's shell scripts (resources/slack-im/*.sh, POSIX sh): shellcheck, Debian's, installed when missing.
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "installing shellcheck (apt)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
echo "shellcheck: jenkins-shared-lib/resources/slack-im/*.sh"
shellcheck --shell=sh jenkins-shared-lib/resources/slack-im/*.sh
# --noserver: no background CodeNarc server left behind; --failon error: warnings are reported, errors fail.
set -- Jenkinsfile jenkins-shared-lib/vars/*.groovy jenkins-shared-lib/src/io/slackim/*.groovy jenkins-shared-lib/examples/*.Jenkinsfile
echo "npm-groovy-lint: $*"
"$lint" --noserver --failon error --loglevel "${LINT_LEVEL:-warning}" --config recommended-jenkinsfile "$@"
