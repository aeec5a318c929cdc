#!/usr/bin/env bash
# Bundling report archives from the simulator, and verifying the bundle: wall time as a ratio
# to `openssl dgst -sha256` over the same bytes in the same run (goal <= 1.5), and peak RSS (goal
# <= 64 MiB, flat across sizes). OpenSSL hashes with the CPU's SHA extensions where it has them;
# coreutils' sha256sum does not everywhere, which made it a flattering reference.
#
#   bash crates/cli/benches/archive.sh [SIZES_MIB...]     (default: 100 1024)
#
# The 1 GiB archive is over `archive`'s default cap (1 GiB uncompressed): the runs raise it.
# shellcheck source=crates/cli/benches/lib.sh
source "$(dirname "$0")/lib.sh"
need hyperfine curl openssl python3

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1024)
mkdir -p "$work/out"
"$bin" -q keygen --out "$work/signer"
prepare_archives "${sizes[@]}"
start_sim --archive-dir "$work/archives"

for i in "${!sizes[@]}"; do
  id=${ids[$i]}
  archive="$work/archives/$id.zip"
  bundle="$work/out/bundle.zip"
  echo "=== ${sizes[$i]} MiB archive"
  hyperfine --runs 3 --export-json "$work/a.json" --prepare "rm -f $bundle" \
    -n openssl "openssl dgst -sha256 $archive" \
    -n "procurize archive" "$bin -q --base-url $base --org $org archive --max-size 2147483648 --report $id --key $work/signer.key --out $bundle"
  rm -f "$bundle"
  "$bin" -q --base-url "$base" --org $org archive --max-size 2147483648 --report "$id" --key "$work/signer.key" --out "$bundle"
  hyperfine --runs 3 --export-json "$work/v.json" \
    -n openssl "openssl dgst -sha256 $bundle" \
    -n "procurize verify" "$bin verify $bundle --key $work/signer.pub"
  while IFS=$'\t' read -r name ratio; do
    row "$name ${sizes[$i]} MiB, time" "openssl dgst -sha256" "$ratio" "<= 1.5x"
  done < <(python3 - "$work/a.json" "$work/v.json" <<'PY'
import json, sys
for path, name in ((sys.argv[1], "procurize archive"), (sys.argv[2], "procurize verify")):
    r = {x["command"]: x["median"] for x in json.load(open(path))["results"]}
    print(f"{name.split()[1]}\t{r[name] / r['openssl']:.2f}x ({r[name]:.2f} s vs {r['openssl']:.2f} s)")
PY
)
  rm -f "$bundle"
  rss_a=$( { /usr/bin/time -f '%M' "$bin" -q --base-url "$base" --org $org archive --max-size 2147483648 --report "$id" --key "$work/signer.key" --out "$bundle"; } 2>&1 | tail -1)
  rss_v=$( { /usr/bin/time -f '%M' "$bin" verify "$bundle" --key "$work/signer.pub" >/dev/null; } 2>&1 | tail -1)
  row "archive ${sizes[$i]} MiB, peak RSS" "—" "$((rss_a / 1024)) MiB" "<= 64 MiB"
  row "verify ${sizes[$i]} MiB, peak RSS" "—" "$((rss_v / 1024)) MiB" "<= 64 MiB"
  rm -f "$bundle"
done
