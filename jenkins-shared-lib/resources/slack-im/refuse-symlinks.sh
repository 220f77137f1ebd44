# shellcheck shell=sh
# Shared by the slackImSync scripts (prepended to them by the step): exits with code $2 when $PWD/$1
# is, or lies under, a symbolic link (rm, the container engine and archiveArtifacts would follow it).
set +x
refuse_symlinks() {
  path="$PWD"
  old_ifs="$IFS"
  IFS=/
  set -f
  for segment in $1; do
    path="$path/$segment"
    if [ -L "$path" ]; then
      echo "slack-im: $path is a symbolic link: refusing to use the report folder through it" >&2
      exit "$2"
    fi
  done
  set +f
  IFS="$old_ifs"
}
