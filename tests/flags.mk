# SPDX-License-Identifier: MIT
# What make check verifies of the module as packagers build it, and of the
# release: included by tests/Makefile, which runs each as a tier
# (tiers.sh). Paths are from the top folder, $(TOP).

# Only the pam_sm_* hooks are exported, and only libpam and libc are linked:
# $(call check_exports,FILE).
define check_exports
	@nm -D --defined-only $1 | awk '{print $$3}' | \
		grep -v '^pam_sm_\(authenticate\|setcred\|open_session\|close_session\|chauthtok\)$$' | \
		{ ! grep . ; } || { echo "$1: unexpected exports"; exit 1; }
	@readelf -d $1 | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | \
		grep -v '^\(libpam\.so\.0\|libc\.so\.6\)$$' | \
		{ ! grep . ; } || { echo "$1: unexpected libraries"; exit 1; }
	@echo "$1: exports: the five pam_sm_* hooks; links: libpam, libc"
endef

check-exports:
	$(call check_exports,$(MODULE))


# check-flags: the module built with the flags that distributions build
# packages with, with gcc and with clang, each with make check's -Werror
# (no warning under any packager's flags), then its exports, links and
# hardening checked; in build/flags/SET-CC. Each set is what that
# distribution passes to that compiler; FLAGS_set_cc_VAR, where there is
# one, is for that compiler only.
FLAG_SETS = default debian fedora arch opensuse nixos
FLAG_BUILDS = $(foreach s,$(FLAG_SETS),$(foreach c,gcc clang,\
	$(TOP)/build/flags/$(s)-$(c)/pam_oo7.so))

# default: no flags passed, the Makefile's own CFLAGS (-O2 -g).

# Debian: dpkg-buildflags (dpkg-dev) as debhelper exports them; the same
# for clang.
FLAGS_debian_CFLAGS = $(or $(shell dpkg-buildflags --get CFLAGS),\
	$(error dpkg-buildflags gave no CFLAGS: is dpkg-dev installed?))
FLAGS_debian_CPPFLAGS = $(shell dpkg-buildflags --get CPPFLAGS)
FLAGS_debian_LDFLAGS = $(shell dpkg-buildflags --get LDFLAGS)

# Fedora 39 (redhat-rpm-config 264), x86_64: %build_cflags and
# %build_ldflags, as %set_build_flags exports them. With clang, Fedora's
# %toolchain clang: -flto=thin (also when linking) instead of -flto=auto
# -ffat-lto-objects, which clang before 18 does not support, and
# redhat-hardened-clang.cfg instead of the cc1 spec. The spec and config
# files are Fedora's, written to build/flags/redhat: -fPIE unless -fPIC is
# given, -pie unless -shared is, so for this module they add nothing. Left
# out: annobin's -specs=redhat-annobin-cc1 (a gcc plugin that Debian does
# not have; it adds notes) and the package note (-Wl,-dT,FILE, a linker
# script rpmbuild writes for each package).
REDHAT = $(TOP)/build/flags/redhat
fedora_cflags = -O2 $1 -fexceptions -g -grecord-gcc-switches -pipe -Wall \
	-Werror=format-security -Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3 \
	-Wp,-D_GLIBCXX_ASSERTIONS $2 -fstack-protector-strong -m64 \
	-mtune=generic -fasynchronous-unwind-tables -fstack-clash-protection \
	-fcf-protection -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
FLAGS_fedora_gcc_CFLAGS = $(call fedora_cflags,-flto=auto -ffat-lto-objects,\
	-specs=$(REDHAT)/redhat-hardened-cc1)
FLAGS_fedora_clang_CFLAGS = $(call fedora_cflags,-flto=thin,\
	--config $(REDHAT)/redhat-hardened-clang.cfg)
FLAGS_fedora_gcc_LDFLAGS = -Wl,-z,relro -Wl,--as-needed -Wl,-z,now \
	-specs=$(REDHAT)/redhat-hardened-ld -Wl,--build-id=sha1
FLAGS_fedora_clang_LDFLAGS = -Wl,-z,relro -Wl,--as-needed -Wl,-z,now \
	-flto=thin -Wl,--build-id=sha1

# Arch: pacman 6.1's makepkg.conf, with devtools' OPTIONS (debug, lto):
# CFLAGS, then what makepkg appends, DEBUG_CFLAGS (-g) with its
# -ffile-prefix-map and LTOFLAGS (-flto=auto, to LDFLAGS too). makepkg has
# no other flags for clang.
FLAGS_arch_CFLAGS = -march=x86-64 -mtune=generic -O2 -pipe -fno-plt \
	-fexceptions -Wp,-D_FORTIFY_SOURCE=3 -Wformat -Werror=format-security \
	-fstack-clash-protection -fcf-protection -fno-omit-frame-pointer \
	-mno-omit-leaf-frame-pointer -g \
	-ffile-prefix-map=$(TOP)=/usr/src/debug/pam_oo7 -flto=auto
FLAGS_arch_LDFLAGS = -Wl,-O1 -Wl,--sort-common -Wl,--as-needed \
	-Wl,-z,relro -Wl,-z,now -Wl,-z,pack-relative-relocs -flto=auto

# openSUSE Tumbleweed: %optflags for x86_64, which packages pass as CFLAGS;
# no LDFLAGS. The same for clang.
FLAGS_opensuse_CFLAGS = -O2 -Wall -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 \
	-fstack-protector-strong -funwind-tables -fasynchronous-unwind-tables \
	-fstack-clash-protection -Werror=return-type -flto=auto -g

# NixOS: stdenv sets no CFLAGS (the Makefile's -O2 -g apply); nixpkgs'
# cc-wrapper puts its hardening flags before the package's own, so they
# are part of CC here, where a text search of CFLAGS would miss its
# -D_FORTIFY_SOURCE=3 (later wrappers also add -U_FORTIFY_SOURCE
# -D_FORTIFY_SOURCE=3 after the package's flags, which clashes with
# nothing). zerocallusedregs only where the compiler has it, as the wrapper
# does (not clang 14); its ld wrapper adds -z relro -z now.
FLAGS_nixos_CC = $1 -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 \
	-fstack-protector-strong --param ssp-buffer-size=4 \
	-fstack-clash-protection -fPIC -fno-strict-overflow -Wformat \
	-Wformat-security -Werror=format-security \
	$(shell $1 -fzero-call-used-regs=used-gpr -Werror -E -x c /dev/null \
		>/dev/null 2>&1 && echo -fzero-call-used-regs=used-gpr)
FLAGS_nixos_LDFLAGS = -Wl,-z,relro -Wl,-z,now

# $(call set_flag,SET,CC,VAR): the set's VAR for that compiler.
set_flag = $(call $(if $(FLAGS_$1_$2_$3),FLAGS_$1_$2_$3,FLAGS_$1_$3),$2)

# Hardening kept: RELRO, bind now, nodelete, stack protector, fortified
# calls (__*_chk): $(call check_hardening,FILE).
define check_hardening
	@readelf -lW $1 | grep -q GNU_RELRO || { echo "$1: no RELRO"; exit 1; }
	@readelf -d $1 | grep 'FLAGS_1' | grep -q ' NOW' && \
		readelf -d $1 | grep 'FLAGS_1' | grep -q ' NODELETE' || \
		{ echo "$1: not -z now -z nodelete"; exit 1; }
	@nm -D --undefined-only $1 | grep -q ' __stack_chk_fail@' || \
		{ echo "$1: no stack protector"; exit 1; }
	@nm -D --undefined-only $1 | grep -q ' __[a-z_]*_chk@' || \
		{ echo "$1: not fortified"; exit 1; }
	@echo "$1: RELRO, now, nodelete, stack protector, fortified"
endef

check-flags: $(FLAG_BUILDS)
	@echo "check-flags: $(words $^) builds with -Werror, all passed"

# The top Makefile's own rule, in a make that sees none of this one's
# command line or environment flags: only the set's.
$(TOP)/build/flags/%/pam_oo7.so: $(TOP)/pam_oo7.c $(REDHAT)/.made FORCE
	@mkdir -p $(@D)
	rm -f $@
	env -u MAKEFLAGS -u MFLAGS -u CFLAGS -u CPPFLAGS -u LDFLAGS \
		$(MAKE) --no-print-directory -C $(TOP) MODULE=$@ WERROR=-Werror \
		CC='$(or $(call set_flag,$(fs_set),$(fs_cc),CC),$(fs_cc))' \
		$(if $(call set_flag,$(fs_set),$(fs_cc),CFLAGS),\
			CFLAGS='$(call set_flag,$(fs_set),$(fs_cc),CFLAGS)') \
		CPPFLAGS='$(call set_flag,$(fs_set),$(fs_cc),CPPFLAGS)' \
		LDFLAGS='$(call set_flag,$(fs_set),$(fs_cc),LDFLAGS)' $@
	$(call check_exports,$@)
	$(call check_hardening,$@)
fs_set = $(firstword $(subst -, ,$*))
fs_cc = $(lastword $(subst -, ,$*))

$(REDHAT)/.made:
	@mkdir -p $(@D)
	printf '%s\n' '*cc1_options:' \
		'+ %{!r:%{!fpie:%{!fPIE:%{!fpic:%{!fPIC:%{!fno-pic:-fPIE}}}}}}' \
		'' '*cpp_options:' \
		'+ %{!r:%{!fpie:%{!fPIE:%{!fpic:%{!fPIC:%{!fno-pic:-fPIE}}}}}}' \
		>$(@D)/redhat-hardened-cc1
	printf '%s\n' '*self_spec:' '+ %{!static:%{!shared:%{!r:-pie}}}' \
		>$(@D)/redhat-hardened-ld
	echo '-fPIE' >$(@D)/redhat-hardened-clang.cfg
	touch $@

FORCE:
