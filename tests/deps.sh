#!/bin/sh
# Installs the Debian packages that building, testing and the demo need,
# and only those that are missing. Run as root.
set -eu
pkgs="make gcc pkg-config libpam0g-dev libpam-modules libdbus-1-dev \
libglib2.0-dev libcmocka-dev libcrypt-dev pamtester libpam-wrapper mandoc groff-base valgrind clang libfuzzer-14-dev \
util-linux mmdebstrap sudo opendoas login passwd openssh-server sshpass libpam-gnome-keyring dpkg-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing; run as root to install them" >&2
	exit 1
fi
echo "deps: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
