#!/usr/bin/env bash
# Installs what nst needs to build and test on Debian 12 (as root, or through sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  g++ cmake make pkg-config ca-certificates curl \
  libeigen3-dev libstb-dev libxtensor-dev catch2
