#!/usr/bin/env bash
# Every benchmark of the README's Development section, one after the other, then one table:
# figure, reference (measured in the same run), ratio or value, goal.
#
#   bash crates/cli/benches/all.sh
#
# Needs hyperfine, curl, jq, socat, openssl, sha256sum, python3 with aiosmtpd, and GNU time
# (`apt-get install hyperfine jq socat time`, `pip install aiosmtpd`). Takes about 15 minutes on
# two cores; nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../../.."
benches=crates/cli/benches
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
rows=$(mktemp)
logs=$(mktemp -d)
trap 'rm -f "$rows"' EXIT
export PROCURIZE_BENCH_ROWS="$rows"

row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$rows"; }

# criterion_median GROUP/FUNCTION: the median of the last criterion run, in seconds.
criterion_median() {
  python3 - "$target_dir/criterion" "$1" <<'PY'
import json, pathlib, sys
root, wanted = pathlib.Path(sys.argv[1]), sys.argv[2]
for meta in root.glob("**/new/benchmark.json"):
    b = json.loads(meta.read_text())
    if b.get("full_id") == wanted or b.get("title") == wanted:
        estimates = json.loads((meta.parent / "estimates.json").read_text())
        print(estimates["median"]["point_estimate"] / 1e9)
        break
else:
    sys.exit(f"no criterion result for {wanted}")
PY
}

ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}x')" "$1" "$2"; }
# duration SECONDS: in ms, or in µs below a millisecond.
duration() {
  python3 -c "import sys; t = float(sys.argv[1]); print(f'{t * 1e3:.2f} ms' if t >= 1e-3 else f'{t * 1e6:.2f} µs')" "$1"
}

step() { echo "=== $*" >&2; }

step "criterion: webhook verification"
cargo bench -q -p procurize-core --bench webhook -- --noplot > "$logs/webhook.log" 2>&1
sha=$(criterion_median "webhook-2KiB/sha256 (reference)")
for scheme in hmac standard-webhooks; do
  t=$(criterion_median "webhook-2KiB/verify $scheme")
  row "webhook verify ($scheme), 2 KiB" "raw SHA-256: $(duration "$sha")" "$(ratio "$t" "$sha") ($(duration "$t"))" "—"
done

step "criterion: gate evaluation"
cargo bench -q -p procurize-gate --bench evaluate -- --noplot > "$logs/evaluate.log" 2>&1
t=$(criterion_median "evaluate 10,000 reports")
row "gate evaluate, 10,000 reports" "—" "$(duration "$t")" "< 10 ms"

step "criterion: notification templates"
cargo bench -q -p procurize-notify --bench render -- --noplot > "$logs/render.log" 2>&1
t=$(criterion_median "templates/every default template, every event")
row "render every default template × every event" "—" "$(duration "$t")" "—"

step "notification fan-out"
cargo bench -q -p procurize-notify --bench fanout > "$logs/fanout.log" 2>&1
line=$(grep -m1 'deliveries in' "$logs/fanout.log")
grep -q 'no message was sent twice' "$logs/fanout.log"
row "fan-out, 1,000 events × 3 channels" "—" "${line#*= }" "none sent twice: yes"

step "shell: reports list (http and TLS)"
bash "$benches/list.sh" > "$logs/list.log"
step "shell: gate"
bash "$benches/gate.sh" > "$logs/gate.log"
step "shell: download"
bash "$benches/download.sh" > "$logs/download.log"
step "shell: archive and verify"
bash "$benches/archive.sh" > "$logs/archive.log"

step "server ingest"
cargo bench -q -p procurize-server --bench ingest > "$logs/ingest.log" 2>&1
# A run's line: `<label> <rate>/s accepted N failed N p50 X ms p99 Y ms peak RSS Z MiB`.
ingest() {
  grep -m1 "^$1 " "$logs/ingest.log" | sed -E 's/^.* ([0-9]+)\/s .* p99 +([0-9.]+) ms +peak RSS +([0-9.]+) MiB.*/\1\/s, p99 \2 ms, RSS \3 MiB/'
}
bare=$(ingest "bare axum handler")
for store in "SQLite" "PostgreSQL, 1 replica, median of 3" "PostgreSQL, 2 replicas, median of 3"; do
  label="procurize serve ($store)"
  if grep -q "^$label " "$logs/ingest.log"; then
    r=$(grep -m1 "throughput ratio $label/bare" "$logs/ingest.log" | sed 's/.*= //')
    case "$store" in
      SQLite) goal="—" ;;
      "PostgreSQL, 1 replica"*) goal="≥ 3,000/s, p99 ≤ 50 ms, RSS ≤ 64 MiB" ;;
      *) goal="≥ 1 replica's rate, RSS ≤ 64 MiB each" ;;
    esac
    row "serve ($store): signed 2 KiB deliveries stored" "bare axum: $bare" "${r}x ($(ingest "$label"))" "$goal"
  fi
done
# The rounds alternate one replica and two; their ratio is compared round by round.
if grep -q "^throughput ratio PostgreSQL 2 replicas/1 replica" "$logs/ingest.log"; then
  rounds=$(grep -m1 "^throughput ratio PostgreSQL 2 replicas/1 replica" "$logs/ingest.log" | sed 's/.*round by round: //')
  row "serve on PostgreSQL: 2 replicas, each round" "1 replica, the same round" "$rounds" "≥ 1"
fi

echo
echo "| figure | reference (same run) | ratio / value | goal |"
echo "|---|---|---|---|"
# A `|` inside a cell (`curl | jq`) is escaped so it does not split the cell.
while IFS=$'\t' read -r figure reference value goal; do
  echo "| ${figure//|/\\|} | ${reference//|/\\|} | ${value//|/\\|} | ${goal//|/\\|} |"
done < "$rows"
echo
echo "logs: $logs"
