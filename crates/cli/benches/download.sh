#!/usr/bin/env bash
# Download throughput and peak memory of `procurize reports download` against the simulator on
# loopback, beside `curl -o` of the same URL in the same run.
#
#   bash crates/cli/benches/download.sh [SIZES_MIB...]     (default: 100 1024)
#
# Prints, per size: the median times (hyperfine), the throughput ratio procurize/curl (goal
# >= 0.95), and the peak RSS of procurize (goal <= 20 MiB, flat across sizes).
# shellcheck source=crates/cli/benches/lib.sh
source "$(dirname "$0")/lib.sh"
need hyperfine curl python3

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1024)
prepare_archives "${sizes[@]}"
start_sim --archive-dir "$work/archives"

for i in "${!sizes[@]}"; do
  id=${ids[$i]}
  url="$base/security/report/files?org=$org&reports=$id"
  echo "=== ${sizes[$i]} MiB archive"
  # `sync` first: no run pays for the writeback of the one before it.
  hyperfine --warmup 1 --runs 5 --prepare sync --export-json "$work/h.json" \
    -n curl "curl -sf -o $work/curl.zip '$url'" \
    -n procurize "$bin -q --base-url $base --org $org reports download --report $id -o $work/procurize.zip"
  ratio=$(python3 - "$work/h.json" "${sizes[$i]}" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
mib = int(sys.argv[2])
print(f"{r['curl'] / r['procurize']:.2f}x ({mib / r['procurize']:.0f} vs {mib / r['curl']:.0f} MiB/s)")
PY
)
  cmp "$work/curl.zip" "$work/procurize.zip"
  row "download ${sizes[$i]} MiB, throughput" "curl -o" "$ratio" ">= 0.95x"
  rss=$( { /usr/bin/time -f '%M' "$bin" -q --base-url "$base" --org $org reports download --report "$id" -o "$work/procurize.zip"; } 2>&1 | tail -1)
  curl_rss=$( { /usr/bin/time -f '%M' curl -sf -o "$work/curl.zip" "$url"; } 2>&1 | tail -1)
  row "download ${sizes[$i]} MiB, peak RSS" "curl: $((curl_rss / 1024)) MiB" "$((rss / 1024)) MiB" "<= 20 MiB"
done
