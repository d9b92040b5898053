#!/usr/bin/env bash
# Debian packages the tests and the demo use: samba (a real AD DC for the AD tests) and tmux (the
# terminal test). Installed with apt-get when missing; needs root (or sudo) on a fresh machine.
set -euo pipefail
missing=()
command -v samba-tool >/dev/null 2>&1 || missing+=(samba samba-dsdb-modules winbind)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing ${missing[*]} with apt-get …" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
