#!/bin/sh
# Make sure a Samba 4 AD DC can be provisioned here (Debian/Ubuntu): install samba when samba-tool
# is missing. Idempotent and non-interactive; CI calls it before the tests (.ci/run).
set -eu

PATH="$PATH:/usr/sbin:/sbin"
if command -v samba-tool >/dev/null 2>&1 && command -v samba >/dev/null 2>&1 \
   && [ -d /usr/share/samba/setup ]; then
    echo "ensure-samba: $(samba --version) already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "ensure-samba: must run as root (or with sudo) to install samba" >&2; exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# samba: the DC (samba binary); samba-common-bin: samba-tool; samba-ad-provision: provisioning data;
# samba-dsdb-modules: the AD database modules. winbind is not needed: the test DC runs only `ldap`.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
PACKAGES="samba samba-common-bin samba-ad-provision samba-dsdb-modules python3-samba"
# Debian 13 / Ubuntu 24.04 moved the DC into its own package.
if apt-cache show samba-ad-dc >/dev/null 2>&1; then PACKAGES="$PACKAGES samba-ad-dc"; fi
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $PACKAGES

command -v samba-tool >/dev/null 2>&1 || { echo "ensure-samba: samba-tool still missing" >&2; exit 1; }
echo "ensure-samba: installed $(samba --version)"
