#!/bin/sh
# SPDX-License-Identifier: MIT
# make check: every tier that this machine allows, each through its target
# in tests/Makefile, its output in build/logs/TIER.log; then one line per
# tier (run, passed, failed; or skipped, and why) and a last line with the
# totals. Exits 0 when all that ran passed; with CHECK_ALL=1 (CI sets it) a
# skipped tier fails the run.
#
#   unit      anyone, offline: the module's functions, pam_oo7.c included
#   user      anyone, offline: real libpam, the user who runs it
#   man, exports, shape, flags, fuzz, dist
#             anyone, offline: the page, the exports and links, no call
#             chain from a hook deeper than 10, the packagers' flag sets,
#             libFuzzer, the release tarball
#   root, identity, valgrind, asan
#             root: other uids, namespaces, real Debian programs; the
#             greeters' and lockers' packages downloaded once (network)
#   deb       root: the release tarball packaged with tests/debian by
#             dpkg-buildpackage as an unprivileged user with no network
#             (its make check run), then lintian
#
# TIERS="unit user" runs only those.
set -u
cd "$(dirname "$0")/.."
top=$PWD
logs=$top/build/logs
mkdir -p "$logs"
all="unit user man exports shape flags fuzz dist root identity valgrind asan deb"
tiers=${TIERS:-$all}
check_all=${CHECK_ALL:-0}
is_root=$([ "$(id -u)" = 0 ] && echo 1 || echo 0)

# The first of these Debian packages that is not installed, if any.
lacking() {
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || { echo "$p"; return; }
	done
}

# What of the host a run must leave as it was: the PAM configuration, the
# pam-auth-update profiles, and the units enabled for the system and for
# every user.
host_state() {
	for d in /etc/pam.d /usr/share/pam-configs /etc/systemd/system \
		/etc/systemd/user; do
		[ -d "$d" ] && find "$d" -printf '%p %l\n' | sort
	done
	find /etc/pam.d /usr/share/pam-configs -type f -exec cat {} + \
		2>/dev/null | cksum
}
host_before=$(host_state)

# As root, with the archive reachable, what a tier lacks is installed first
# (deps.sh: nothing started, no Recommends); as anyone else, it is skipped.
if [ "$is_root" = 1 ]; then
	sh tests/deps.sh check >"$logs/deps.log" 2>&1 ||
		echo "deps: not all packages could be installed (build/logs/deps.log)"
fi

# Why this machine cannot run tier $1, or nothing.
why_not() {
	case $1 in
	unit | user)
		pkg-config --exists cmocka dbus-1 glib-2.0 pam 2>/dev/null ||
			echo "libcmocka-dev, libdbus-1-dev, libglib2.0-dev or libpam0g-dev missing" ;;
	man)
		p=$(lacking mandoc groff-base) && [ -n "$p" ] && echo "$p missing" ;;
	exports)
		command -v readelf >/dev/null || echo "binutils missing" ;;
	shape)
		p=$(lacking universal-ctags python3) && [ -n "$p" ] && echo "$p missing" ;;
	flags)
		p=$(lacking clang dpkg-dev) && [ -n "$p" ] && echo "$p missing" ;;
	fuzz)
		p=$(lacking clang libfuzzer-14-dev) && [ -n "$p" ] && echo "$p missing" ;;
	dist)
		[ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$top" ] ||
			echo "not a git checkout" ;;
	root | identity | valgrind | asan)
		[ "$is_root" = 1 ] || { echo "not root"; return; }
		[ "$1" = valgrind ] && ! command -v valgrind >/dev/null &&
			{ echo "valgrind missing"; return; }
		p=$(lacking $(sed -n 's/^root_pkgs="\(.*\)"/\1/p' tests/deps.sh))
		[ -n "$p" ] && { echo "$p missing (make deps, as root)"; return; }
		[ "$1" = identity ] || make -s -C tests downloads \
			>"$logs/downloads.log" 2>&1 ||
			echo "the greeters' and lockers' packages could not be downloaded (no network?)" ;;
	deb)
		[ "$is_root" = 1 ] || { echo "not root"; return; }
		[ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$top" ] ||
			{ echo "not a git checkout"; return; }
		p=$(lacking dpkg-dev debhelper lintian util-linux)
		[ -n "$p" ] && { echo "$p missing (make deps, as root)"; return; }
		p=$(dpkg-checkbuilddeps tests/debian/control 2>&1) ||
			echo "${p##*: } missing (make deps, as root)" ;;
	esac
}

# Counts from a cmocka run's summaries in log $1, one per group, summed:
# "passed failed skipped".
cmocka_counts() {
	awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
	     /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
	     /^\[  SKIPPED \] [0-9]+ test/ { s += $4 }
	     END { print p + 0, f + 0, s + 0 }' "$1"
}

ran=0 failed_tiers=0 skipped_tiers=0 passed=0 failed=0
summary=""
line() { summary="$summary$(printf '%-9s %s' "$1" "$2")
"; }

for t in $tiers; do
	why=$(why_not "$t")
	if [ -n "$why" ]; then
		skipped_tiers=$((skipped_tiers + 1))
		line "$t" "skipped: $why"
		continue
	fi
	log=$logs/$t.log
	start=$(date +%s)
	printf '%s: running (%s)\n' "$t" "build/logs/$t.log"
	make -C tests "tier-$t" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	ran=$((ran + 1))
	case $t in
	unit | user | root | valgrind | asan) set -- $(cmocka_counts "$log") ;;
	*) set -- 0 0 0 ;;
	esac
	if [ "$1" -gt 0 ] || [ "$2" -gt 0 ]; then
		p=$1 f=$2 s=$3
		[ "$rc" = 0 ] || [ "$f" -gt 0 ] || f=1
	elif [ "$rc" = 0 ]; then
		p=1 f=0 s=0
	else
		p=0 f=1 s=0
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failed_tiers=$((failed_tiers + 1))
	text="run: $p passed, $f failed"
	[ "$s" = 0 ] || text="$text, $s skipped"
	line "$t" "$text, ${secs}s (build/logs/$t.log)"
	if [ "$f" != 0 ]; then
		# the log's end, where a failing case's reasons are, for CI
		printf '\n--- %s failed; the end of build/logs/%s.log:\n' "$t" "$t"
		tail -n 60 "$log"
		grep -E '^\[  (FAILED|ERROR)   ?\] [a-z_0-9]+$' "$log" |
			sed 's/^/          /' | sort -u | head -20 >"$logs/.failed"
		summary="$summary$(cat "$logs/.failed")
"
	fi
done

if [ "$(host_state)" = "$host_before" ]; then
	line host "as it was: /etc/pam.d, pam-configs, enabled units"
else
	line host "CHANGED: /etc/pam.d, pam-configs or enabled units"
	failed=$((failed + 1))
fi

printf '\n%s' "$summary"
printf '%d tiers run, %d skipped, %d failed; %d passed, %d failed\n' \
	"$ran" "$skipped_tiers" "$failed_tiers" "$passed" "$failed"
[ "$failed" = 0 ] || exit 1
if [ "$skipped_tiers" != 0 ] && [ "$check_all" = 1 ]; then
	echo "CHECK_ALL=1: a tier was skipped"
	exit 1
fi
exit 0
