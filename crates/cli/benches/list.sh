#!/usr/bin/env bash
# `procurize reports list --format json` as a whole process against the simulator, beside
# `curl -s … | jq .` of the same URL (goal: not slower).
#
#   bash crates/cli/benches/list.sh
# shellcheck source=crates/cli/benches/lib.sh
source "$(dirname "$0")/lib.sh"
need hyperfine curl jq python3
# shellcheck disable=SC2119  # start_sim takes the simulator's arguments, not the script's
start_sim
url="$base/security/report/list?org=$org&minver=1.0"
hyperfine --warmup 5 --runs 100 -N --export-json "$work/h.json" \
  -n "curl | jq" "bash -c \"curl -s '$url' | jq . > /dev/null\"" \
  -n procurize "bash -c \"$bin --base-url $base --org $org reports list --min-version 1.0 --format json > /dev/null\""
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"median: curl|jq {r['curl | jq'] * 1000:.1f} ms, procurize {r['procurize'] * 1000:.1f} ms; ratio (curl|jq)/procurize = {r['curl | jq'] / r['procurize']:.2f}")
PY
