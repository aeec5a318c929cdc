#!/usr/bin/env bash
# `procurize reports list --format json` as a whole process against the simulator, beside
# `curl -s … | jq .` of the same URL: over plain HTTP (goal: <= 0.6x curl | jq's time), and over
# TLS with the simulator behind a TLS terminator (socat) and a CA made here, `--ca-cert` beside
# `curl --cacert` (goal: <= 1.0x).
#
#   bash crates/cli/benches/list.sh
# shellcheck source=crates/cli/benches/lib.sh
source "$(dirname "$0")/lib.sh"
need hyperfine curl jq python3 openssl socat
# shellcheck disable=SC2119  # start_sim takes the simulator's arguments, not the script's
start_sim
query="security/report/list?org=$org&minver=1.0"

# compare NAME CURL_ARGS PROCURIZE_BASE PROCURIZE_ARGS GOAL: medians over 100 runs, one row.
compare() {
  local name=$1 curl_args=$2 proc_base=$3 proc_args=$4 goal=$5
  hyperfine --warmup 5 --runs 100 -N --export-json "$work/h.json" \
    -n "curl | jq" "bash -c \"curl -s $curl_args '$proc_base/$query' | jq . > /dev/null\"" \
    -n procurize "bash -c \"$bin --base-url $proc_base --org $org $proc_args reports list --min-version 1.0 --format json > /dev/null\""
  local ratio
  ratio=$(python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"{r['procurize'] / r['curl | jq']:.2f}x ({r['procurize'] * 1000:.1f} ms vs {r['curl | jq'] * 1000:.1f} ms)")
PY
)
  row "$name" "curl | jq" "$ratio" "$goal"
}

compare "reports list, http://" "" "$base" "" "<= 0.6x"

# The same simulator over TLS: a CA, a certificate for 127.0.0.1, socat in front.
(
  cd "$work"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
  openssl req "${ec[@]}" -keyout leaf.key -out leaf.csr -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 \
    -extfile leaf.ext 2>/dev/null
)
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
socat "OPENSSL-LISTEN:$tls_port,bind=127.0.0.1,reuseaddr,fork,cert=$work/leaf.pem,key=$work/leaf.key,verify=0" \
  "TCP:127.0.0.1:$port" &
socat_pid=$!
trap 'kill "$socat_pid" 2>/dev/null || true; if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
tls_base="https://127.0.0.1:$tls_port"
for _ in $(seq 100); do
  curl -s --cacert "$work/ca.pem" -o /dev/null "$tls_base/" && break
  sleep 0.1
done
compare "reports list, https:// --ca-cert" "--cacert $work/ca.pem" "$tls_base" "--ca-cert $work/ca.pem" "<= 1.0x"
