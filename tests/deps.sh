#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs, as root, the Debian packages that one use of the project needs,
# and only those missing: "demo" (building, make demo and make bench) or
# "check" (every tier of make check). No service is started while they are
# installed (a policy-rc.d that says no, as debootstrap uses), and none of
# their Recommends. tiers.sh reads the lists below.
set -eu
build_pkgs="make gcc pkg-config libpam0g-dev libpam-modules libdbus-1-dev libglib2.0-dev libcmocka-dev libcrypt-dev"
demo_pkgs="$build_pkgs pamtester"
# The tiers that any user can run: man, shape, flags, fuzz, valgrind.
any_pkgs="mandoc groff-base universal-ctags python3 clang libfuzzer-14-dev dpkg-dev valgrind"
# The root tiers: real programs, the i386 tree of the identity tier, and
# the deb tier's tools (dpkg-buildpackage with dh, lintian).
root_pkgs="pamtester libpam-wrapper util-linux mmdebstrap login passwd openssh-client libwrap0 sshpass dbus-daemon libgck-1-0 libgcr-base-3-1 debhelper lintian"

case ${1:-check} in
demo) want=$demo_pkgs ;;
check) want="$build_pkgs $any_pkgs $root_pkgs" ;;
*) echo "usage: deps.sh demo|check" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing; as root, make deps installs them" >&2
	exit 1
fi
echo "deps: installing$missing"
policy=/usr/sbin/policy-rc.d
if [ -e "$policy" ]; then
	policy=""
else
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy"
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends $missing >/dev/null
