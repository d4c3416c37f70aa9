# SPDX-License-Identifier: MIT
# The identity checks (identity.c): what the host holds around a
# login through the module, for this machine's build and for i386, where
# setgroups is a 16-bit call. A fragment for `include`; its paths are
# absolute, so that it works from the top folder and from tests/ alike, and
# it leaves the includer's default goal alone.
#
#   check-identity     identity.c against ../pam_oo7.so (built beforehand,
#                      as for the rest of the suite)
#   check-identity-32  once, an i386 tree in build/i386-root made with
#                      mmdebstrap from the Debian archive (libc6-dev,
#                      libgcc-N-dev, libpam0g-dev: about 15 MB to fetch,
#                      seconds to make); then the module (through the top
#                      Makefile, so with its flags), the fixture and
#                      identity.c built with the host's gcc -m32 against
#                      that tree, and run by the tree's own ld.so. No
#                      foreign dpkg architecture, no multilib package.
#
# Needs, as root: gcc, libpam0g-dev, mmdebstrap, the archive reachable, and
# a kernel that runs i386 code (IA32 emulation).

IDENTITY_SAVED_GOAL := $(.DEFAULT_GOAL)

IDENTITY_SRC := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
IDENTITY_TOP := $(abspath $(IDENTITY_SRC)/..)
IDENTITY_MODULE ?= $(IDENTITY_TOP)/pam_oo7.so
IDENTITY_OUT = $(IDENTITY_TOP)/build/identity
IDENTITY_OUT32 = $(IDENTITY_TOP)/build/identity-32
IDENTITY_ROOT ?= $(IDENTITY_TOP)/build/i386-root
IDENTITY_SUITE ?= bookworm
IDENTITY_MIRROR ?= http://deb.debian.org/debian
IDENTITY_GCC ?= gcc
IDENTITY_GCC_VERSION = $(shell $(IDENTITY_GCC) -dumpversion)
IDENTITY_PKGS32 = libc6-dev,libgcc-$(IDENTITY_GCC_VERSION)-dev,libpam0g-dev
# The host's gcc makes i386 code by itself; the tree gives it the headers,
# libc, libpam, and the crt files and libgcc of the same gcc version.
IDENTITY_CC32 ?= $(IDENTITY_GCC) -m32 --sysroot=$(IDENTITY_ROOT) \
	-B$(IDENTITY_ROOT)/usr/lib/gcc/i686-linux-gnu/$(IDENTITY_GCC_VERSION)/
IDENTITY_LD32 = $(IDENTITY_ROOT)/lib/ld-linux.so.2 --library-path \
	$(IDENTITY_ROOT)/lib/i386-linux-gnu:$(IDENTITY_ROOT)/usr/lib/i386-linux-gnu
IDENTITY_CFLAGS = -O2 -g -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow \
	-Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings $(WERROR)
IDENTITY_SOFLAGS = -fPIC -fvisibility=hidden -shared

.PHONY: check-identity check-identity-32

check-identity: $(IDENTITY_OUT)/identity $(IDENTITY_OUT)/pam_oo7_fixture.so
	$(IDENTITY_OUT)/identity $(IDENTITY_MODULE) \
		$(IDENTITY_OUT)/pam_oo7_fixture.so

check-identity-32: $(IDENTITY_OUT32)/identity \
		$(IDENTITY_OUT32)/pam_oo7_fixture.so $(IDENTITY_OUT32)/pam_oo7.so
	@$(IDENTITY_LD32) --version >/dev/null 2>&1 || { echo "$@: this" \
		"kernel runs no i386 code (IA32 emulation off?)"; exit 1; }
	$(IDENTITY_LD32) $(IDENTITY_OUT32)/identity \
		$(IDENTITY_OUT32)/pam_oo7.so $(IDENTITY_OUT32)/pam_oo7_fixture.so

$(IDENTITY_OUT)/identity: $(IDENTITY_SRC)/identity.c
	@mkdir -p $(@D)
	$(CC) $(IDENTITY_CFLAGS) -o $@ $< -lpam

$(IDENTITY_OUT)/pam_oo7_fixture.so: $(IDENTITY_SRC)/pam_oo7_fixture.c
	@mkdir -p $(@D)
	$(CC) $(IDENTITY_CFLAGS) $(IDENTITY_SOFLAGS) -o $@ $< -lpam

$(IDENTITY_OUT32)/identity: $(IDENTITY_SRC)/identity.c $(IDENTITY_ROOT)/.made
	@mkdir -p $(@D)
	$(IDENTITY_CC32) $(IDENTITY_CFLAGS) -o $@ $< -lpam

$(IDENTITY_OUT32)/pam_oo7_fixture.so: $(IDENTITY_SRC)/pam_oo7_fixture.c \
		$(IDENTITY_ROOT)/.made
	@mkdir -p $(@D)
	$(IDENTITY_CC32) $(IDENTITY_CFLAGS) $(IDENTITY_SOFLAGS) -o $@ $< -lpam

# The top Makefile's own rule and flags, with the output and CC changed.
# IDENTITY_INNER: in that make, which includes this file too, the top
# Makefile's rule must be the only one for this target.
ifeq ($(IDENTITY_INNER),)
$(IDENTITY_OUT32)/pam_oo7.so: $(IDENTITY_TOP)/pam_oo7.c $(IDENTITY_ROOT)/.made
	@mkdir -p $(@D)
	rm -f $@
	$(MAKE) --no-print-directory -C $(IDENTITY_TOP) MODULE=$@ \
		CC='$(IDENTITY_CC32)' IDENTITY_INNER=1 $@
endif

# extract: the packages and what they depend on, unpacked, nothing run. The
# absolute symlinks of the -dev packages (libpam.so) are made relative, or
# the linker, not finding them under the sysroot, would take libpam.a.
$(IDENTITY_ROOT)/.made:
	$(if $(IDENTITY_ROOT),,$(error IDENTITY_ROOT is empty))
	rm -rf $(IDENTITY_ROOT) $(IDENTITY_ROOT).tmp
	@mkdir -p $(dir $(IDENTITY_ROOT))
	mmdebstrap --quiet --arch=i386 --variant=extract \
		--aptopt='Acquire::Retries "3"' --include=$(IDENTITY_PKGS32) \
		$(IDENTITY_SUITE) $(IDENTITY_ROOT).tmp $(IDENTITY_MIRROR) \
		</dev/null
	cd $(IDENTITY_ROOT).tmp && find usr/lib -type l -lname '/*' | \
	while read -r l; do \
		t=$$(realpath -ms --relative-to="$${l%/*}" ".$$(readlink "$$l")"); \
		ln -snf "$$t" "$$l" || exit 1; \
	done
	mv $(IDENTITY_ROOT).tmp $(IDENTITY_ROOT)
	touch $@

.DEFAULT_GOAL := $(IDENTITY_SAVED_GOAL)
