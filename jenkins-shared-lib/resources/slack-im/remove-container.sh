# shellcheck shell=sh
# slackImSync: removes the run's container after an interrupted run (timeout, abort).
"$SLACK_IM_JENKINS_ENGINE" rm -f "$SLACK_IM_JENKINS_CONTAINER_NAME" >/dev/null 2>&1 || true
