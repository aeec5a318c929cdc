#!/usr/bin/env bash
# `procurize gate` as a whole process against the simulator, beside a shell script that makes
# the same check with curl and jq, the way common quality-gate actions do (goal: <= 0.6x its
# time).
#
#   bash crates/cli/benches/gate.sh
# shellcheck source=crates/cli/benches/lib.sh
source "$(dirname "$0")/lib.sh"
need hyperfine curl jq python3
# shellcheck disable=SC2119  # start_sim takes the simulator's arguments, not the script's
start_sim

# The script: every report of the version must be rated B or better with at most 5
# vulnerabilities; exit 1 otherwise.
cat > "$work/gate-curl-jq.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
body=\$(curl -sf "$base/security/report/list?org=$org&version=1.2.0")
echo "\$body" | jq -r '.reports[] | "\(.projectName) \(.projectVersion) \(.reportType): \(.securityRating) \(.vulnerabilitiesCount)"'
failed=\$(echo "\$body" | jq '[.reports[] | select((.securityRating > "B") or (.vulnerabilitiesCount > 5))] | length')
[ "\$failed" -eq 0 ]
SCRIPT
chmod +x "$work/gate-curl-jq.sh"

# Both exit 1 here (the version fails): hyperfine is told to accept that.
hyperfine --warmup 5 --runs 100 -N -i --export-json "$work/h.json" \
  -n "curl + jq script" "$work/gate-curl-jq.sh" \
  -n "procurize gate" "$bin -q --base-url $base --org $org gate --version 1.2.0 --min-rating B --max-vulnerabilities 5"
ratio=$(python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
s, p = r["curl + jq script"], r["procurize gate"]
print(f"{p / s:.2f}x ({p * 1000:.1f} ms vs {s * 1000:.1f} ms)")
PY
)
row "gate, whole process" "curl + jq gate script" "$ratio" "<= 0.6x"
