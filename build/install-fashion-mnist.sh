#!/usr/bin/env bash
# Installs Fashion-MNIST from Debian's package dataset-fashion-mnist (to /usr/share/datasets/fashion-mnist)
# when it is not there yet. Nothing is downloaded at run time by the sample itself.
set -euo pipefail
[ -d /usr/share/datasets/fashion-mnist ] && exit 0
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
