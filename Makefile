# SPDX-License-Identifier: MIT
# pam_oo7 - see README.md. Everything here is overridable from the command
# line or the environment; the warnings and hardening flags are not.

CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
LDFLAGS ?=
DESTDIR ?=
PREFIX ?= /usr
MANDIR ?= $(PREFIX)/share/man
PAMCONFIGDIR ?= $(PREFIX)/share/pam-configs
SECUREDIR ?= $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null || echo /lib)/security

override CFLAGS += -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow \
	-Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings -Werror \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC \
	-fvisibility=hidden
# -z nodelete: libpam dlopens and dlcloses the module for every handle;
# kept loaded, it is mapped and relocated once per process. Measured with
# make bench: the added cost with no daemon fell from 195 to 49 us a login.
override LDFLAGS += -shared -Wl,--no-undefined -Wl,-z,relro -Wl,-z,now \
	-Wl,--as-needed -Wl,-z,nodelete
LDLIBS = -lpam

MODULE = pam_oo7.so

# The pam-auth-update(8) profile: after pam_unix in auth and password (as
# Additional modules, they run only once pam_unix has succeeded), and after
# pam_systemd in session (same priority, sorted after it by name).
define PAM_PROFILE
Name: Unlock the oo7 keyrings with the login password (pam_oo7)
Default: yes
Priority: 0
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
	check-identity check-identity-32 \
	check-asan check-valgrind fuzz \
	format format-check

all: $(MODULE)

$(MODULE): pam_oo7.c
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

install: $(MODULE)
	install -D -m 0644 $(MODULE) $(DESTDIR)$(SECUREDIR)/$(MODULE)
	install -D -m 0644 man/pam_oo7.8 $(DESTDIR)$(MANDIR)/man8/pam_oo7.8

# Debian: then run pam-auth-update --package.
install-pam-config:
	install -d $(DESTDIR)$(PAMCONFIGDIR)
	printf '%s\n' "$$PAM_PROFILE" > $(DESTDIR)$(PAMCONFIGDIR)/oo7
	chmod 0644 $(DESTDIR)$(PAMCONFIGDIR)/oo7

uninstall:
	rm -f $(DESTDIR)$(SECUREDIR)/$(MODULE) $(DESTDIR)$(MANDIR)/man8/pam_oo7.8 \
		$(DESTDIR)$(PAMCONFIGDIR)/oo7

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

# The plain suite runs last, so that its summary closes the output.
check: deps $(MODULE) check-exports check-man
	$(MAKE) check-identity
	$(MAKE) check-identity-32
	$(MAKE) fuzz
	$(MAKE) check-valgrind
	$(MAKE) check-asan
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

# Only the pam_sm_* hooks are exported, and only libpam and libc are linked.
check-exports: $(MODULE)
	@nm -D --defined-only $(MODULE) | awk '{print $$3}' | \
		grep -v '^pam_sm_\(authenticate\|setcred\|open_session\|close_session\|chauthtok\)$$' | \
		{ ! grep . ; } || { echo "unexpected exports"; exit 1; }
	@readelf -d $(MODULE) | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | \
		grep -v '^\(libpam\.so\.0\|libc\.so\.6\)$$' | \
		{ ! grep . ; } || { echo "unexpected libraries"; exit 1; }
	@echo "exports: the five pam_sm_* hooks; links: libpam, libc"

# What the host holds around a login, here and in an i386 build, where
# setgroups is a 16-bit call (tests/identity.mk).
include tests/identity.mk

check-man:
	mandoc -Tlint -W warning man/pam_oo7.8
	groff -ww -z -man man/pam_oo7.8 2>&1 | { ! grep . ; }

format:
	clang-format -i pam_oo7.c tests/*.c tests/*.h

format-check:
	clang-format --dry-run --Werror pam_oo7.c tests/*.c tests/*.h

clean:
	rm -rf $(MODULE) build
	$(MAKE) -C tests clean
