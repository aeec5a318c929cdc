#!/usr/bin/env bash
# Runs `procurize archive` with the action's inputs, which arrive as INPUT_* environment
# variables; the signing key stays in PROCURIZE_SIGNING_KEY and is read from there.
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
args+=(archive --key-env PROCURIZE_SIGNING_KEY)
add --version "${INPUT_VERSION:-}"
add --min-version "${INPUT_MIN_VERSION:-}"
add --max-version "${INPUT_MAX_VERSION:-}"
add_lines --project "${INPUT_PROJECT:-}"
add_lines --report "${INPUT_REPORTS:-}"
bundle="${INPUT_BUNDLE:-procurize-evidence.zip}"
args+=(--out "$bundle")

"${PROCURIZE:-procurize}" "${args[@]}"
if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "bundle=$bundle" >> "$GITHUB_OUTPUT"; fi
