#!/usr/bin/env bash
# Debian packages the tests and the demo use, each checked on its own (a machine may have samba
# without winbind or without the provisioning files): a real AD DC for the AD tests and tmux for the
# terminal test. Installed with apt-get when missing; needs root (or sudo) on a fresh machine.
set -euo pipefail
declare -A why=(
  [samba]="the AD domain controller (samba, samba-tool)"
  [samba-ad-provision]="the schema and setup files samba-tool domain provision reads"
  [samba-dsdb-modules]="the directory database modules of an AD DC"
  [samba-vfs-modules]="the file-system modules (acl_xattr) provisioning sets the sysvol ACLs with"
  [winbind]="winbindd, which an AD DC starts as a child"
  [tmux]="the terminal the console's end-to-end test drives"
)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "not a Debian/Ubuntu system: install Samba (AD DC with its provisioning files and winbind) and tmux yourself" >&2
  exit 0
fi
missing=()
for pkg in samba samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind tmux; do
  installed "$pkg" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
for pkg in "${missing[@]}"; do echo "installing $pkg: ${why[$pkg]}" >&2; done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
