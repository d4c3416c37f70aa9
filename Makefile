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
SECUREDIR ?= $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null || echo /lib)/security

override CFLAGS += -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow \
	-Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings -Werror \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC \
	-fvisibility=hidden
override LDFLAGS += -shared -Wl,--no-undefined -Wl,-z,relro -Wl,-z,now \
	-Wl,--as-needed
LDLIBS = -lpam

MODULE = pam_oo7.so

.PHONY: all install uninstall clean check demo format format-check

all: $(MODULE)

$(MODULE): pam_oo7.c
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

install: $(MODULE)
	install -D -m 0644 $(MODULE) $(DESTDIR)$(SECUREDIR)/$(MODULE)
	install -D -m 0644 man/pam_oo7.8 $(DESTDIR)$(MANDIR)/man8/pam_oo7.8

uninstall:
	rm -f $(DESTDIR)$(SECUREDIR)/$(MODULE) $(DESTDIR)$(MANDIR)/man8/pam_oo7.8

format:
	clang-format -i pam_oo7.c

format-check:
	clang-format --dry-run --Werror pam_oo7.c

clean:
	rm -f $(MODULE)
	$(MAKE) -C tests clean
