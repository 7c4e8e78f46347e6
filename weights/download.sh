#!/usr/bin/env bash
# Downloads torchvision's ImageNet VGG19 weights (vgg19-dcbb9e9d.pth, 548 MiB) and checks their
# SHA-256 before keeping them. See weights/README.md for what the file is and its terms.
#
#   bash weights/download.sh            # into weights/ (beside this script)
#   bash weights/download.sh DIR        # into DIR
#   VGG19_URL=https://mirror/vgg19-dcbb9e9d.pth bash weights/download.sh   # from a mirror
#
# Exits non-zero with a message when curl is missing, the download fails (no network) or the
# digest does not match; a partial or wrong file is never left under the final name.
set -euo pipefail

name=vgg19-dcbb9e9d.pth
url=${VGG19_URL:-https://download.pytorch.org/models/$name}
expected=dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44
dir=${1:-$(cd "$(dirname "$0")" && pwd)}
target=$dir/$name

fail() {
  echo "download.sh: $*" >&2
  exit 1
}

sha256() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is installed"
  fi
}

command -v curl >/dev/null || fail "curl is not installed"
mkdir -p "$dir" || fail "cannot create $dir"

if [[ -f $target ]] && [[ $(sha256 "$target") == "$expected" ]]; then
  echo "$target is already here and its SHA-256 matches"
  exit 0
fi

partial=$target.part
trap 'rm -f "$partial"' EXIT
echo "downloading $url (548 MiB) ..."
curl --fail --location --retry 3 --connect-timeout 20 --output "$partial" "$url" ||
  fail "could not download $url (no network, or the server refused); nothing was saved"

actual=$(sha256 "$partial")
# torchvision itself checks only the 8 hex digits in the file name; the full digest is stricter.
[[ $actual == "${expected:0:8}"* ]] || fail "SHA-256 $actual does not start with ${expected:0:8}: wrong or corrupt file, deleted"
[[ $actual == "$expected" ]] || fail "SHA-256 $actual is not $expected: wrong or corrupt file, deleted"
mv "$partial" "$target"
trap - EXIT
echo "saved $target (SHA-256 $actual)"
