#!/usr/bin/env bash
# Runs `procurize notify` with the action's inputs, which arrive as INPUT_* environment variables.
set -euo pipefail

args=(notify --config "${INPUT_CONFIG:?the config input is required}" --event "${INPUT_EVENT:?the event input is required}")
case "${INPUT_DRY_RUN:-false}" in
  true | True | TRUE | 1 | yes) args+=(--dry-run) ;;
  false | False | FALSE | 0 | no | "") ;;
  *)
    echo "::error::dry-run must be true or false, not ${INPUT_DRY_RUN}"
    exit 2
    ;;
esac
exec "${PROCURIZE:-procurize}" "${args[@]}"
