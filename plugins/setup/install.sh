#!/usr/bin/env bash
# Installs `procurize` for a CI job, and prints its path on the last line.
#
#   PROCURIZE_VERSION   latest (default) | X.Y.Z | source | installed
#   PROCURIZE_REPO      owner/name of the releases (default procurize/procurize-pipeline)
#   PROCURIZE_INSTALL_DIR  where to put it (default $RUNNER_TOOL_CACHE or $HOME/.procurize/bin)
#   PROCURIZE_DOWNLOAD_URL  a mirror instead of GitHub: the base URL holding procurize-<target>.tar.gz
#                       and its .sha256; `{version}` in it becomes the version (without a `v`)
#
# A release binary is downloaded for this OS and architecture and its SHA-256 checked against
# the published checksum; when no binary matches, it is built from this action's own source
# with cargo. `installed` uses the procurize already on PATH; `source` always builds.
set -euo pipefail

version="${PROCURIZE_VERSION:-latest}"
repo="${PROCURIZE_REPO:-procurize/procurize-pipeline}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_root="$(cd "$here/../.." && pwd)"
install_dir="${PROCURIZE_INSTALL_DIR:-${RUNNER_TOOL_CACHE:-$HOME/.procurize}/procurize/bin}"
mkdir -p "$install_dir"

log() { echo "procurize setup: $*" >&2; }

exe=""
case "$(uname -s)" in
  Linux) os=unknown-linux-musl ;;
  Darwin) os=apple-darwin ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT) os=pc-windows-msvc; exe=.exe ;;
  *) os="" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x86_64 ;;
  arm64 | aarch64) arch=aarch64 ;;
  *) arch="" ;;
esac
target="$arch-$os"
case "$target" in
  x86_64-unknown-linux-musl | aarch64-unknown-linux-musl | x86_64-apple-darwin | aarch64-apple-darwin | x86_64-pc-windows-msvc) ;;
  *) target="" ;;
esac

build_from_source() {
  log "building from source at $source_root"
  command -v cargo >/dev/null || { log "cargo is needed to build from source"; exit 1; }
  local root
  root="$(mktemp -d)"
  cargo install --locked --quiet --root "$root" --path "$source_root/crates/cli"
  mv "$root/bin/procurize$exe" "$install_dir/procurize$exe"
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

download() {
  local url="$1" out="$2"
  if command -v curl >/dev/null; then curl --fail --silent --show-error --location --retry 3 -o "$out" "$url"
  else wget -q -O "$out" "$url"; fi
}

case "$version" in
  installed)
    path="$(command -v procurize || true)"
    [ -n "$path" ] || { log "no procurize on PATH"; exit 1; }
    log "using $path ($("$path" --version))"
    echo "$path"
    exit 0
    ;;
  source)
    build_from_source
    ;;
  *)
    if [ -z "$target" ]; then
      log "no release binary for $(uname -s) $(uname -m)"
      build_from_source
    else
      mirror="${PROCURIZE_DOWNLOAD_URL:-}"
      if [ -n "$mirror" ]; then
        base="${mirror%/}"
        base="${base//\{version\}/${version#v}}"
      elif [ "$version" = latest ]; then
        base="https://github.com/$repo/releases/latest/download"
      else
        base="https://github.com/$repo/releases/download/v${version#v}"
      fi
      if [ "$os" = pc-windows-msvc ]; then archive="procurize-$target.zip"; else archive="procurize-$target.tar.gz"; fi
      work="$(mktemp -d)"
      if download "$base/$archive" "$work/$archive" && download "$base/$archive.sha256" "$work/$archive.sha256"; then
        expected="$(cut -d' ' -f1 < "$work/$archive.sha256" | tr -d '\r\n')"
        actual="$(sha256 "$work/$archive")"
        if [ "$expected" != "$actual" ]; then
          log "checksum mismatch for $archive: expected $expected, got $actual"
          exit 1
        fi
        log "verified $archive (sha256 $actual)"
        if [ "$os" = pc-windows-msvc ]; then unzip -q -o "$work/$archive" -d "$work/x"; else mkdir -p "$work/x" && tar -xzf "$work/$archive" -C "$work/x"; fi
        mv "$(find "$work/x" -type f -name "procurize$exe" | head -n 1)" "$install_dir/procurize$exe"
        chmod +x "$install_dir/procurize$exe"
      elif [ -n "$mirror" ]; then
        # A mirror was chosen on purpose (often: no internet); building instead would hide it.
        log "cannot download $base/$archive and its .sha256 from the mirror"
        exit 1
      else
        log "no release asset $archive for version $version"
        build_from_source
      fi
    fi
    ;;
esac

path="$install_dir/procurize$exe"
[ -x "$path" ] || { log "installation failed: no $path"; exit 1; }
if [ -n "${GITHUB_PATH:-}" ]; then echo "$install_dir" >> "$GITHUB_PATH"; fi
log "installed $("$path" --version) at $path"
echo "$path"
