#!/usr/bin/env bash
# Shared by the benchmark scripts: tool checks, the release build, a scratch folder, and a
# simulator on a free loopback port. Source it; it sets `bin`, `work`, `org`, `port`, `base`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

# need TOOL...: stop unless every tool is installed.
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
  done
}

# row FIGURE REFERENCE RATIO GOAL: one line of the benchmark table. Printed, and appended to
# $PROCURIZE_BENCH_ROWS (tab-separated) when all.sh collects them.
row() {
  printf '%s | %s | %s | %s\n' "$1" "$2" "$3" "$4"
  if [ -n "${PROCURIZE_BENCH_ROWS:-}" ]; then
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$PROCURIZE_BENCH_ROWS"
  fi
}

cargo build --release -q -p procurize-cli
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
bin="$target_dir/release/procurize"
# shellcheck disable=SC2034  # used by the scripts that source this file
org=00000000-0000-0000-0000-000000000001
work=$(mktemp -d)
sim_pid=""
trap 'if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# start_sim [SIM ARGS...]: runs `procurize sim` on a free port and waits until it answers.
start_sim() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  "$bin" -q sim --listen "127.0.0.1:$port" "$@" &
  sim_pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "$base/" && return 0
    sleep 0.1
  done
  echo "the simulator did not start" >&2
  exit 1
}

# make_archive PATH MIB: a stored ZIP of MIB mebibytes of random bytes (a PDF, as far as names go).
make_archive() {
  python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
path, mib = sys.argv[1], int(sys.argv[2])
chunk = os.urandom(1 << 20)
with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
    with z.open("report.pdf", "w", force_zip64=True) as f:
        f.write(b"%PDF-1.4\n")
        for _ in range(mib):
            f.write(chunk)
PY
}

# prepare_archives MIB...: one archive per size in $work/archives, named after the sample reports
# 0x100, 0x101, … so the simulator serves them from disk; sets `ids` to those report IDs.
prepare_archives() {
  mkdir -p "$work/archives"
  ids=()
  local i=0 size id
  for size in "$@"; do
    id=$(printf '00000000-0000-0000-0000-%012x' $((0x100 + i)))
    ids+=("$id")
    make_archive "$work/archives/$id.zip" "$size"
    i=$((i + 1))
  done
}
