#!/usr/bin/env bash
# Bundling report archives from the simulator, and verifying the bundle: wall time as a ratio
# to `sha256sum` over the same bytes in the same run (goal <= 1.5), and peak RSS (goal <= 64 MiB,
# flat across sizes).
#
#   bash crates/cli/benches/archive.sh [SIZES_MIB...]     (default: 100 1024)
set -euo pipefail
cd "$(dirname "$0")/../../.."
for tool in hyperfine curl sha256sum python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1024)
cargo build --release -q -p procurize-cli
bin="$(pwd)/${CARGO_TARGET_DIR:-target}/release/procurize"
work=$(mktemp -d)
trap 'kill "${sim_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
org=00000000-0000-0000-0000-000000000001
mkdir -p "$work/archives" "$work/out"
"$bin" -q keygen --out "$work/signer"

ids=()
for i in "${!sizes[@]}"; do
  id=$(printf '00000000-0000-0000-0000-%012x' $((0x100 + i)))
  ids+=("$id")
  python3 - "$work/archives/$id.zip" "${sizes[$i]}" <<'PY'
import os, sys, zipfile
path, mib = sys.argv[1], int(sys.argv[2])
chunk = os.urandom(1 << 20)
with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
    with z.open("report.pdf", "w", force_zip64=True) as f:
        f.write(b"%PDF-1.4\n")
        for _ in range(mib):
            f.write(chunk)
PY
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" -q sim --listen "127.0.0.1:$port" --archive-dir "$work/archives" &
sim_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

for i in "${!sizes[@]}"; do
  id=${ids[$i]}
  archive="$work/archives/$id.zip"
  bundle="$work/out/bundle.zip"
  echo "=== ${sizes[$i]} MiB archive"
  hyperfine --runs 3 --export-json "$work/a.json" --prepare "rm -f $bundle" \
    -n sha256sum "sha256sum $archive" \
    -n "procurize archive" "$bin -q --base-url http://127.0.0.1:$port --org $org archive --report $id --key $work/signer.key --out $bundle"
  rm -f "$bundle"
  "$bin" -q --base-url "http://127.0.0.1:$port" --org $org archive --report "$id" --key "$work/signer.key" --out "$bundle"
  hyperfine --runs 3 --export-json "$work/v.json" \
    -n sha256sum "sha256sum $bundle" \
    -n "procurize verify" "$bin verify $bundle --key $work/signer.pub"
  python3 - "$work/a.json" "$work/v.json" <<'PY'
import json, sys
for path, name in ((sys.argv[1], "procurize archive"), (sys.argv[2], "procurize verify")):
    r = {x["command"]: x["median"] for x in json.load(open(path))["results"]}
    print(f"{name}: {r[name]:.2f} s, sha256sum {r['sha256sum']:.2f} s, ratio {r[name] / r['sha256sum']:.2f}")
PY
  rm -f "$bundle"
  rss_a=$( { /usr/bin/time -f '%M' "$bin" -q --base-url "http://127.0.0.1:$port" --org $org archive --report "$id" --key "$work/signer.key" --out "$bundle"; } 2>&1 | tail -1)
  rss_v=$( { /usr/bin/time -f '%M' "$bin" verify "$bundle" --key "$work/signer.pub" >/dev/null; } 2>&1 | tail -1)
  echo "peak RSS: archive $((rss_a / 1024)) MiB, verify $((rss_v / 1024)) MiB"
  rm -f "$bundle"
done
