# SPDX-License-Identifier: MIT
# The deb tier: the release tarball packaged for Debian as a maintainer
# would, with the minimal debian/ folder in tests/debian. A fragment for
# `include`; its paths are absolute, and it leaves the includer's default
# goal alone.
#
#   check-deb  make dist; in a new temporary folder the tarball unpacked
#              as pam_oo7-VERSION/ beside pam-oo7_VERSION.orig.tar.gz
#              (a Debian source name has no '_'), tests/debian copied in
#              as debian/. Then, as a build daemon runs it: in a network
#              namespace of its own, as DEB_BUILDER (not root), its HOME
#              and TMPDIR in that folder, a clean environment (no TIERS,
#              no CHECK_ALL): dpkg-buildpackage -b, whose dh_auto_test
#              runs make check; and lintian on what it made. Checked:
#              make check ran the unit and user tiers and skipped the
#              root tier; lintian found no error; the package holds the
#              module where libpam-modules has pam_unix.so, the page and
#              the pam-auth-update profile, and besides them only its
#              copyright and changelog; its maintainer scripts run
#              pam-auth-update. The folder is removed; nothing is
#              installed.
#
# Needs, as root: dpkg-dev, debhelper, lintian, util-linux (unshare,
# setpriv), tests/debian/control's Build-Depends, a git checkout (make
# dist).

DEB_SAVED_GOAL := $(.DEFAULT_GOAL)

DEB_SRC := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
DEB_TOP := $(abspath $(DEB_SRC)/..)
# With no MAKEFLAGS: a make that inherits w and a jobserver it cannot use
# (make -jN check from another make) prints its directory into the value.
DEB_VERSION := $(shell MAKEFLAGS= $(MAKE) -s --no-print-directory \
	-C $(DEB_TOP) print-VERSION)
DEB_BUILDER ?= nobody
DEB_BUILDER_GROUP ?= nogroup

.PHONY: check-deb tier-deb

tier-deb: check-deb

# As DEB_BUILDER in folder $d, with no network: the package and lintian.
define deb_build
cd "$$d/pam_oo7-$(DEB_VERSION)"
echo "check-deb: dpkg-buildpackage -b -uc -us, as $$(id -un)"
dpkg-buildpackage -b -uc -us >"$$d/build.log" 2>&1 || {
	tail -40 "$$d/build.log"
	for t in $$(sed -n 's/^\([a-z0-9]*\) *run: .*, [1-9][0-9]* failed.*/\1/p' \
			"$$d/build.log"); do
		echo "check-deb: its build/logs/$$t.log:"
		tail -30 "build/logs/$$t.log"
	done
	exit 1
}
grep -E '^[a-z0-9]+ +(run|skipped): | tiers run, ' "$$d/build.log"
echo "check-deb: lintian"
lintian --fail-on error --display-info --display-experimental \
	--pedantic "$$d"/*.changes
endef

# The package's files, as "mode owner path", sorted: $(call deb_files,DEB).
deb_files = dpkg-deb -c $1 | awk '$$1 !~ /^d/ { print $$1, $$2, $$6 }' | sort

# As root: the folder made, the build run (deb_build), what it made checked.
define deb_check
fail() { echo "check-deb: $$*"; exit 1; }
d=$$(mktemp -d)
trap 'rm -rf "$$d"' EXIT
src=$$d/pam_oo7-$(DEB_VERSION)
echo "check-deb: in $$src"
cp $(DEB_TOP)/pam_oo7-$(DEB_VERSION).tar.gz \
	"$$d/pam-oo7_$(DEB_VERSION).orig.tar.gz"
tar -xzf "$$d/pam-oo7_$(DEB_VERSION).orig.tar.gz" -C "$$d"
cp -r $(DEB_SRC)/debian "$$src/debian"
# A release that the fixture's changelog does not name yet gets an entry,
# as dch -v would add it.
v=$$(dpkg-parsechangelog -l "$$src/debian/changelog" -S Version)
if [ "$${v%-*}" != '$(DEB_VERSION)' ]; then
	echo "check-deb: tests/debian/changelog is at $$v: adding $(DEB_VERSION)-1"
	{ printf 'pam-oo7 (%s-1) unstable; urgency=medium\n\n' '$(DEB_VERSION)'
	  printf '  * New upstream release.\n\n -- %s  %s\n\n' \
		"$$(dpkg-parsechangelog -l "$$src/debian/changelog" -S Maintainer)" \
		"$$(date -R)"
	  cat "$$src/debian/changelog"; } >"$$d/changelog"
	mv "$$d/changelog" "$$src/debian/changelog"
fi
mkdir "$$d/home" "$$d/tmp"
chown -R $(DEB_BUILDER):$(DEB_BUILDER_GROUP) "$$d"
unshare -n setpriv --reuid=$(DEB_BUILDER) --regid=$(DEB_BUILDER_GROUP) \
	--clear-groups --inh-caps=-all \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$$d/home" \
	TMPDIR="$$d/tmp" LC_ALL=C.UTF-8 d="$$d" sh -eu -c "$$DEB_BUILD"

grep -qE '^unit +run: [1-9][0-9]* passed, 0 failed' "$$d/build.log" &&
grep -qE '^user +run: [1-9][0-9]* passed, 0 failed' "$$d/build.log" &&
grep -qE '^root +skipped: not root$$' "$$d/build.log" ||
	fail "make check in the build did not run unit and user, skip root"

deb=$$(echo "$$d"/libpam-oo7_$(DEB_VERSION)-*_*.deb)
echo "check-deb: $${deb##*/}:"
$(call deb_files,"$$deb")
sec=$$(dpkg-query -L libpam-modules | sed -n 's|/pam_unix\.so$$||p')
doc=./usr/share/doc/libpam-oo7
want=$$(printf -- '-rw-r--r-- root/root %s\n' ".$$sec/pam_oo7.so" \
	./usr/share/man/man8/pam_oo7.8.gz ./usr/share/pam-configs/oo7 \
	$$doc/copyright $$doc/changelog.Debian.gz | sort)
[ "$$($(call deb_files,"$$deb"))" = "$$want" ] ||
	fail "the files wanted:$$(printf '\n%s' "$$want")"
dpkg-deb -e "$$deb" "$$d/control"
grep -qE '^\s*pam-auth-update --package$$' "$$d/control/postinst" ||
	fail "postinst does not run pam-auth-update --package"
grep -qE '^\s*pam-auth-update --package --remove oo7$$' "$$d/control/prerm" ||
	fail "prerm does not run pam-auth-update --package --remove oo7"
dpkg-deb -f "$$deb" Depends | grep -q 'libpam-runtime' ||
	fail "Depends lacks libpam-runtime (pam-auth-update)"
echo "check-deb: $${deb##*/} builds with its make check, passes" \
	"lintian and holds what it should"
endef

check-deb: export DEB_BUILD = $(deb_build)
check-deb: export DEB_CHECK = $(deb_check)
check-deb:
	$(MAKE) --no-print-directory -C $(DEB_TOP) dist
	@sh -eu -c "$$DEB_CHECK"

.DEFAULT_GOAL := $(DEB_SAVED_GOAL)
