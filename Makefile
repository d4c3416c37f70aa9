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

.PHONY: all bench deps install install-pam-config uninstall clean check demo \
	dist format format-check

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

# As root: the Debian packages that building, the demo, or every tier of
# make check needs, and only those missing (tests/deps.sh). Never run by a
# build; make check runs it as root when a tier lacks a package.
deps:
	sh tests/deps.sh check

demo: $(MODULE)
	sh tests/deps.sh demo
	$(MAKE) -C tests demo

# What pam_oo7 adds to a login, next to the floor; see README.md.
bench: $(MODULE)
	sh tests/deps.sh demo
	$(MAKE) -C tests bench

# Every tier of tests that this machine allows (tests/tiers.sh, README
# "Tests"), every build with -Werror; a summary line for each tier.
check: export WERROR = -Werror
check: $(MODULE) $(MAN_PAGE)
	sh tests/tiers.sh

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

format:
	clang-format -i pam_oo7.c tests/*.c tests/*.h

format-check:
	clang-format --dry-run --Werror pam_oo7.c tests/*.c tests/*.h

clean:
	rm -rf $(MODULE) build $(DIST).tar.gz
	$(MAKE) -C tests clean
