#!/usr/bin/env bash
# `procurize reports list --format json` as a whole process against the simulator, beside
# `curl -s … | jq .` of the same URL (goal: not slower).
#
#   bash crates/cli/benches/list.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
for tool in hyperfine curl jq; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
cargo build --release -q -p procurize-cli
bin="${CARGO_TARGET_DIR:-target}/release/procurize"
work=$(mktemp -d)
trap 'kill "${sim_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
org=00000000-0000-0000-0000-000000000001
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" -q sim --listen "127.0.0.1:$port" &
sim_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
url="http://127.0.0.1:$port/security/report/list?org=$org&minver=1.0"
hyperfine --warmup 5 --runs 100 -N --export-json "$work/h.json" \
  -n "curl | jq" "bash -c \"curl -s '$url' | jq . > /dev/null\"" \
  -n procurize "bash -c \"$bin --base-url http://127.0.0.1:$port --org $org reports list --min-version 1.0 --format json > /dev/null\""
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"median: curl|jq {r['curl | jq'] * 1000:.1f} ms, procurize {r['procurize'] * 1000:.1f} ms; ratio (curl|jq)/procurize = {r['curl | jq'] / r['procurize']:.2f}")
PY
