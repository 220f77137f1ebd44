# shellcheck shell=sh
# slackImSync: empties the report folder SLACK_IM_JENKINS_REPORT_DIR (validated by the step: relative,
# no '..'). A constant script: every value comes from the environment.
# Exit 3: a symbolic link on the path; 1: the folder could not be emptied.
set +x
refuse_symlinks "$SLACK_IM_JENKINS_REPORT_DIR" 3
report_dir="$PWD/$SLACK_IM_JENKINS_REPORT_DIR"
if ! rm -rf "$report_dir" || ! mkdir -p "$report_dir"; then
  echo "slack-im: cannot empty the report folder $report_dir" >&2
  exit 1
fi
