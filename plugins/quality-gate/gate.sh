#!/usr/bin/env bash
# Runs `procurize gate` with the action's inputs, which arrive as INPUT_* environment variables
# (never interpolated into shell text).
set -euo pipefail

args=()
add() { # add FLAG VALUE: only when VALUE is not empty
  if [ -n "$2" ]; then args+=("$1" "$2"); fi
}
add_lines() { # add_lines FLAG TEXT: FLAG once per non-blank line of TEXT, trimmed
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    if [ -n "$line" ]; then args+=("$1" "$line"); fi
  done <<< "$2"
}
add --org "${INPUT_ORG:-}"
add --base-url "${INPUT_BASE_URL:-}"
args+=(gate)
add --version "${INPUT_VERSION:-}"
add --min-version "${INPUT_MIN_VERSION:-}"
add --max-version "${INPUT_MAX_VERSION:-}"
add --policy "${INPUT_POLICY:-}"
add --min-rating "${INPUT_MIN_RATING:-}"
add --max-vulnerabilities "${INPUT_MAX_VULNERABILITIES:-}"
add_lines --project "${INPUT_PROJECT:-}"
add_lines --require-report "${INPUT_REQUIRED_REPORTS:-}"
add --on-missing "${INPUT_ON_MISSING:-}"
add --sarif "${INPUT_SARIF_FILE:-}"
add --junit "${INPUT_JUNIT_FILE:-}"
add --json "${INPUT_JSON_FILE:-}"
switch() { # switch INPUT VALUE FLAG: FLAG when VALUE is true; an error unless it is true or false
  case "$2" in
    true | True | TRUE | 1 | yes) args+=("$3") ;;
    false | False | FALSE | 0 | no | "") ;;
    *)
      echo "::error::$1 must be true or false, not $2"
      exit 2
      ;;
  esac
}
switch no-fail "${INPUT_NO_FAIL:-false}" --no-fail
switch pr-comment "${INPUT_PR_COMMENT:-false}" --pr-comment

exec "${PROCURIZE:-procurize}" "${args[@]}"
