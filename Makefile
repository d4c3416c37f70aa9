# SPDX-License-Identifier: MIT
# pam_oo7 - see README.md. Everything here is overridable from the command
# line or the environment; the warnings and hardening flags are added to
# CFLAGS, CPPFLAGS and LDFLAGS as packagers pass them.

# The one version number: the module's debug log, the man page, the tarball.
VERSION = 0.1.0

CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
LDFLAGS ?=
DESTDIR ?=
PREFIX ?= /usr
MANDIR ?= $(PREFIX)/share/man
PAMCONFIGDIR ?= $(PREFIX)/share/pam-configs
SECUREDIR ?= $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null || echo /lib)/security

# -Werror only where WERROR says so: make check (and so CI) sets it for
# every build it does, the default build never, so that a warning a newer
# compiler adds cannot break a distribution's build.
WERROR ?=
# After CFLAGS, so that they are kept whatever CFLAGS holds (-fPIC over the
# -fPIE of Fedora's clang configuration, -Wformat=2 over -Wformat).
MODULE_CFLAGS = -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow \
	-Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings $(WERROR) \
	-fstack-protector-strong -fPIC -fvisibility=hidden
# _FORTIFY_SOURCE=2 only when the compiler, asked with CPPFLAGS and CFLAGS
# as given (and whatever a wrapper such as NixOS's adds), leaves it
# undefined, and optimises: distributions define their own level (Arch's
# -Wp,-D_FORTIFY_SOURCE=3, Fedora's -Wp,-U_FORTIFY_SOURCE,-D..., NixOS's),
# which a second definition would contradict, and glibc warns that it
# needs optimisation (-O0). Before CPPFLAGS, so that a -U there wins.
FORTIFY = $(shell $(CC) $(CPPFLAGS) $(CFLAGS) -dM -E - </dev/null \
	2>/dev/null | awk '$$2 == "__OPTIMIZE__" { o = 1 } \
	$$2 == "_FORTIFY_SOURCE" { f = 1 } \
	END { if (o && !f) print "-D_FORTIFY_SOURCE=2" }')
# -z nodelete: libpam dlopens and dlcloses the module for every handle;
# kept loaded, it is mapped and relocated once per process. Measured with
# make bench: the added cost with no daemon fell from 195 to 49 us a login.
MODULE_LDFLAGS = -shared -Wl,--no-undefined -Wl,-z,relro -Wl,-z,now \
	-Wl,--as-needed -Wl,-z,nodelete
LDLIBS = -lpam

MODULE = pam_oo7.so
MAN_PAGE = build/pam_oo7.8

# The pam-auth-update(8) profile: after pam_unix in auth and password (as
# Additional modules, they run only once pam_unix has succeeded), and in
# session after every profile of priority 0 or more (pam_systemd, and
# pam_mkhomedir, which makes the home a started daemon runs in): a
# priority below 0 sorts last, whatever the other profiles are named.
define PAM_PROFILE
Name: Unlock the oo7 keyrings with the login password (pam_oo7)
Default: yes
Priority: -1
Auth-Type: Additional
Auth:
	optional	pam_oo7.so
Session-Type: Additional
Session-Interactive-Only: yes
Session:
	optional	pam_oo7.so auto_start
Password-Type: Additional
Password:
	optional	pam_oo7.so
endef
export PAM_PROFILE

.PHONY: all bench deps install install-pam-config uninstall clean check check-exports check-man demo \
	check-identity check-identity-32 check-flags dist check-dist FORCE \
	check-asan check-valgrind fuzz \
	format format-check

all: $(MODULE) $(MAN_PAGE)

$(MODULE): pam_oo7.c
	$(CC) $(FORTIFY) $(CPPFLAGS) -DPAM_OO7_VERSION='"$(VERSION)"' \
		$(CFLAGS) $(MODULE_CFLAGS) $(LDFLAGS) $(MODULE_LDFLAGS) \
		-o $@ $< $(LDLIBS)

# The man page: man/pam_oo7.8 with the version and a date in its .TH line:
# SOURCE_DATE_EPOCH's (reproducible builds), else the last commit's, else
# today's. The tarball ships the page with both filled in.
SOURCE_EPOCH = $(shell echo "$${SOURCE_DATE_EPOCH:-$$(git log -1 \
	--format=%ct 2>/dev/null || date +%s)}")
MAN_DATE = $(shell date -u -d @$(SOURCE_EPOCH) +%Y-%m-%d)

$(MAN_PAGE): man/pam_oo7.8 Makefile
	@mkdir -p $(@D)
	sed -e 's/@VERSION@/$(VERSION)/g' -e 's/@DATE@/$(MAN_DATE)/g' \
		man/pam_oo7.8 >$@.tmp
	mv $@.tmp $@

# oo7's packages install oo7's own module, in Rust, under the same name in
# the same folder. make install replaces, and make uninstall removes, a
# pam_oo7.so that is there only if it is this module's: one that carries
# MODULE_MARKER, the name under which this module keeps the password
# between auth and session (oo7's module keeps it as
# oo7_stashed_password) and, when DESTDIR is empty, one that no package
# owns: dpkg -S (unless dpkg-divert has moved the package's file away),
# rpm -qf, or pacman -Qo (unless pacman-conf lists it in NoExtract).
# REPLACE_MODULE=1 replaces or removes it all the same. A packager's
# DESTDIR is an empty staging tree, where there is nothing to check.
MODULE_MARKER = pam_oo7_authtok
REPLACE_MODULE ?=
INSTALLED_MODULE = $(DESTDIR)$(SECUREDIR)/$(MODULE)

# Shell: exits 0 when INSTALLED_MODULE may be replaced or removed, else
# prints why not and exits 1.
define module_check
t='$(INSTALLED_MODULE)'
[ -e "$$t" ] && [ '$(REPLACE_MODULE)' != 1 ] || exit 0
if ! LC_ALL=C grep -qF '$(MODULE_MARKER)' "$$t"; then
	echo "$$t is not this module (it lacks $(MODULE_MARKER)): oo7's own?"
	exit 1
fi
[ -z '$(DESTDIR)' ] || exit 0
noextract() {
	pacman-conf NoExtract 2>/dev/null | { while read -r pat; do
		case "$$1" in $$pat) exit 0 ;; esac; done; exit 1; }
}
for p in "$$t" "$$(readlink -f "$$t")"; do
	d=$$(dpkg-divert --truename "$$p" 2>/dev/null || echo "$$p")
	if [ "$$d" = "$$p" ] && o=$$(dpkg-query -S "$$p" 2>/dev/null); then
		echo "$$t belongs to $${o%%: *} (dpkg -S $$p)"
	elif o=$$(rpm -qf "$$p" 2>/dev/null); then
		echo "$$t belongs to $$o (rpm -qf $$p)"
	elif o=$$(pacman -Qqo "$$p" 2>/dev/null) && ! noextract "$${p#/}"; then
		echo "$$t belongs to $$o (pacman -Qo $$p)"
	else
		continue
	fi
	exit 1
done
endef
install uninstall: export MODULE_CHECK = $(module_check)

install: $(MODULE) $(MAN_PAGE)
	@sh -c "$$MODULE_CHECK" || { echo "install: not replacing it; see" \
		"README.md, \"Replacing oo7's own pam_oo7.so\"," \
		"or set REPLACE_MODULE=1"; exit 1; }
	install -D -m 0644 $(MODULE) $(INSTALLED_MODULE)
	install -D -m 0644 $(MAN_PAGE) $(DESTDIR)$(MANDIR)/man8/pam_oo7.8

# Debian: then run pam-auth-update --package.
install-pam-config:
	install -d $(DESTDIR)$(PAMCONFIGDIR)
	printf '%s\n' "$$PAM_PROFILE" > $(DESTDIR)$(PAMCONFIGDIR)/oo7
	chmod 0644 $(DESTDIR)$(PAMCONFIGDIR)/oo7

uninstall:
	@if sh -c "$$MODULE_CHECK"; then rm -f $(INSTALLED_MODULE); else \
		echo "uninstall: kept it; REPLACE_MODULE=1 removes it"; fi
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_oo7.8 $(DESTDIR)$(PAMCONFIGDIR)/oo7

print-%:
	@echo '$($*)'

# Installs the Debian packages that the tests and the demo need (as root).
deps:
	sh tests/deps.sh

demo: deps $(MODULE)
	$(MAKE) -C tests demo

# What pam_oo7 adds to a login, next to the floor; see README.md.
bench: deps $(MODULE)
	$(MAKE) -C tests bench

# The plain suite runs last, so that its summary closes the output. Every
# build that make check does, here and in the folders below, is with
# -Werror.
check: export WERROR = -Werror
check: deps $(MODULE) check-exports check-man
	$(MAKE) check-flags
	$(MAKE) check-identity
	$(MAKE) check-identity-32
	$(MAKE) fuzz
	$(MAKE) check-valgrind
	$(MAKE) check-asan
	$(MAKE) check-dist
	$(MAKE) -C tests check

# Two libFuzzer targets, FUZZ_SECONDS (60) on the frame encoder.
fuzz: deps
	$(MAKE) -C tests fuzz

# The suite under memcheck: no error, nothing definitely lost.
check-valgrind: $(MODULE)
	$(MAKE) -C tests all
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=1 tests/test_pam_oo7

# The module and the suite built with ASan and UBSan in build/asan. pamtester
# is not sanitized: it gets the runtime preloaded, and libcrypt with it, as
# ASan resolves its crypt() interceptor when it starts.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
check-asan:
	rm -rf build/asan && mkdir -p build/asan
	cp -r Makefile pam_oo7.c man tests build/asan/
	$(MAKE) -C build/asan clean
	$(MAKE) -C build/asan CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"
	$(MAKE) -C build/asan/tests all CFLAGS="$(SAN_FLAGS)" \
		LDFLAGS="-fsanitize=address,undefined"
	OO7_TEST_PRELOAD="$$($(CC) -print-file-name=libasan.so) libcrypt.so.1" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		build/asan/tests/test_pam_oo7

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

check-exports: $(MODULE)
	$(call check_exports,$(MODULE))

# What the host holds around a login, here and in an i386 build, where
# setgroups is a 16-bit call (tests/identity.mk).
include tests/identity.mk

# The page as installed and shipped, with its .TH line filled in.
check-man: $(MAN_PAGE)
	mandoc -Tlint -W warning $(MAN_PAGE)
	groff -ww -z -man $(MAN_PAGE) 2>&1 | { ! grep . ; }
	@grep -q '^\.TH PAM_OO7 8 [0-9]\{4\}-[0-9][0-9]-[0-9][0-9] "pam_oo7 $(VERSION)" "pam_oo7 Manual"$$' \
		$(MAN_PAGE) || { echo "$(MAN_PAGE): no version or date in .TH"; exit 1; }

# check-flags: the module built with the flags that distributions build
# packages with, with gcc and with clang, each with make check's -Werror
# (no warning under any packager's flags), then its exports, links and
# hardening checked; in build/flags/SET-CC. Each set is what that
# distribution passes to that compiler; FLAGS_set_cc_VAR, where there is
# one, is for that compiler only.
FLAG_SETS = default debian fedora arch opensuse nixos
FLAG_BUILDS = $(foreach s,$(FLAG_SETS),$(foreach c,gcc clang,\
	build/flags/$(s)-$(c)/pam_oo7.so))

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
REDHAT = build/flags/redhat
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
	-ffile-prefix-map=$(CURDIR)=/usr/src/debug/pam_oo7 -flto=auto
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
build/flags/%/pam_oo7.so: pam_oo7.c $(REDHAT)/.made FORCE
	@mkdir -p $(@D)
	rm -f $@
	env -u MAKEFLAGS -u MFLAGS -u CFLAGS -u CPPFLAGS -u LDFLAGS \
		$(MAKE) --no-print-directory MODULE=$@ WERROR=-Werror \
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

# The release tarball, pam_oo7-VERSION.tar.gz: the files git has or would
# add (tracked, or new and not ignored) but .ci (it clones a git
# checkout), under pam_oo7-VERSION/, the man page with its version and
# date filled in; sorted, owned by root and dated as the page, so the same
# tree makes the same tarball.
DIST = pam_oo7-$(VERSION)
IN_GIT_CHECKOUT = test "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)"

dist: $(MAN_PAGE)
	@$(IN_GIT_CHECKOUT) || { echo "dist: $(CURDIR) is not a git checkout"; exit 1; }
	rm -rf build/dist && mkdir -p build/dist/$(DIST)
	git ls-files --cached --others --exclude-standard | grep -v '^\.ci/' | \
		while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done >build/dist/files
	tar -c -T build/dist/files | tar -x -C build/dist/$(DIST)
	cp $(MAN_PAGE) build/dist/$(DIST)/man/pam_oo7.8
	tar -C build/dist --sort=name --owner=0 --group=0 --numeric-owner \
		--mode=a+rX,u+w,go-w --mtime=@$(SOURCE_EPOCH) -c $(DIST) | \
		gzip -n -9 >$(DIST).tar.gz.tmp
	mv $(DIST).tar.gz.tmp $(DIST).tar.gz
	@echo "dist: $(DIST).tar.gz, $$(wc -l <build/dist/files) files"

# The tarball unpacked in a new folder of mode 0700 outside any git
# checkout: built as a user builds it (no -Werror), the version in the
# module and in the page's .TH, installed into a DESTDIR (the module and
# the page, nothing else), and its whole make check run, with the fuzzers
# at 5 s each (make check here has fuzzed the same code for 80 s) and this
# checkout's i386 tree. In an unpacked tarball, which has no git, there is
# nothing to check.
CHECK_DIST_FLAGS = FUZZ_SECONDS=5 FUZZ_OPTIONS_SECONDS=5 \
	IDENTITY_ROOT=$(IDENTITY_ROOT)
check-dist:
	@$(IN_GIT_CHECKOUT) || { echo "check-dist: not a git checkout, skipped"; exit 0; }; \
	$(MAKE) --no-print-directory dist && \
	d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && chmod 0700 "$$d" && \
	tar -xzf $(DIST).tar.gz -C "$$d" && t="$$d/$(DIST)" && \
	if git -C "$$t" rev-parse 2>/dev/null; then \
		echo "check-dist: $$d is in a git checkout"; exit 1; fi && \
	echo "check-dist: in $$t" && \
	$(MAKE) -C "$$t" WERROR= && \
	$(MAKE) -C "$$t" install DESTDIR="$$d/dest" && \
	found=$$(cd "$$d/dest" && find . -type f -printf '%m %p\n' | sort) && \
	want="$$(printf '644 ./%s\n' \
		"$$($(MAKE) -s --no-print-directory -C "$$t" print-SECUREDIR)/pam_oo7.so" \
		"$$($(MAKE) -s --no-print-directory -C "$$t" print-MANDIR)/man8/pam_oo7.8" | \
		sed 's|\./*/|./|' | sort)" && \
	{ [ "$$found" = "$$want" ] || { echo "check-dist: installed:"; \
		echo "$$found"; echo "wanted:"; echo "$$want"; exit 1; }; } && \
	{ strings -a "$$t/pam_oo7.so" | grep -qxF '$(VERSION)' || \
		{ echo "check-dist: the module does not carry $(VERSION)"; exit 1; }; } && \
	{ grep -q '^\.TH PAM_OO7 8 [0-9-]* "pam_oo7 $(VERSION)"' "$$d/dest/$$($(MAKE) \
		-s --no-print-directory -C "$$t" print-MANDIR)/man8/pam_oo7.8" || \
		{ echo "check-dist: the installed page is not $(VERSION)'s"; exit 1; }; } && \
	$(MAKE) -C "$$t" check $(CHECK_DIST_FLAGS) && \
	echo "check-dist: $(DIST).tar.gz builds, installs and passes make check"

format:
	clang-format -i pam_oo7.c tests/*.c tests/*.h

format-check:
	clang-format --dry-run --Werror pam_oo7.c tests/*.c tests/*.h

clean:
	rm -rf $(MODULE) build $(DIST).tar.gz
	$(MAKE) -C tests clean
