#!/bin/sh
# Installs the Debian packages that building, testing and the demo need,
# and only those that are missing. Run as root.
set -eu
pkgs="make gcc pkg-config libpam0g-dev libpam-modules libdbus-1-dev \
libglib2.0-dev libcmocka-dev libcrypt-dev pamtester libpam-wrapper mandoc groff-base valgrind clang libfuzzer-14-dev \
util-linux mmdebstrap sudo opendoas login passwd openssh-server sshpass libpam-gnome-keyring dpkg-dev dbus-daemon gnome-keyring"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
# gnome-keyring without its Recommends: libpam-gnome-keyring would add
# itself to the host's /etc/pam.d/common-password.
keyring=""
dpkg-query -W -f='${Status}' gnome-keyring 2>/dev/null | grep -q 'install ok installed' ||
	keyring=" gnome-keyring"
[ -z "$missing$keyring" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing$keyring; run as root to install them" >&2
	exit 1
fi
echo "deps: installing$missing$keyring"
apt-get update -qq
[ -z "$missing" ] ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
[ -z "$keyring" ] ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $keyring >/dev/null
