/* SPDX-License-Identifier: MIT */
/*
 * What the test files share: the PAM stack of the service "login", the
 * assertions on frames, logs and time, the real clients they run, and the
 * list of cases each file exports. main.c runs all of them as one group.
 */
#ifndef OO7_TEST_SUITE_H
#define OO7_TEST_SUITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <cmocka.h>
#include <glib.h>

#include "harness.h"

/* Each file's cases, in the order main.c runs them. */
extern const struct CMUnitTest wire_tests[];
extern const size_t wire_tests_count;
extern const struct CMUnitTest delivery_tests[];
extern const size_t delivery_tests_count;
extern const struct CMUnitTest host_tests[];
extern const size_t host_tests_count;
extern const struct CMUnitTest daemon_start_tests[];
extern const size_t daemon_start_tests_count;
extern const struct CMUnitTest trust_tests[];
extern const size_t trust_tests_count;
extern const struct CMUnitTest sudo_tests[];
extern const size_t sudo_tests_count;
extern const struct CMUnitTest clients_tests[];
extern const size_t clients_tests_count;

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A case with the suite's setup and the harness's teardown. */
#define T(name)                                                                \
	cmocka_unit_test_setup_teardown(name, suite_setup, t_case_teardown)

/*
 * The fake daemon, as the tests name it to the module: a copy made at
 * sandbox entry in the namespace's private /run, which every test user can
 * reach wherever the clone is (FAKE_DAEMON_BUILD, in the clone, may be under
 * a folder of mode 0700 such as /root or a mktemp -d).
 */
#define FAKE_DAEMON_DIR "/run/oo7-test"
#define FAKE_DAEMON FAKE_DAEMON_DIR "/fake-oo7-daemon"

/* root, as the owner or the runner of a listener. */
extern const struct tuser t_root;

/* A listener: socket file of tuser owner, mode m, run by tuser runner. */
#define L(p, owner, runner, m, ...)                                            \
	((struct listener_cfg){.path = (p),                                    \
			       .owner_uid = (owner)->uid,                      \
			       .owner_gid = (owner)->gid,                      \
			       .mode = (m),                                    \
			       .run_uid = (runner)->uid,                       \
			       .run_gid = (runner)->gid,                       \
			       __VA_ARGS__})

/* The process that hosts libpam: 0 for this one, or a real client's pid. */
extern pid_t host_pid;
/* This program, from argv[0] (not valgrind's): the set-user-ID probe. */
extern char self_path[4096];

/* Enters the sandbox and puts FAKE_DAEMON in place; exits on failure. */
void suite_enter(void);
/*
 * Every case's setup: the harness's, host_pid back to this process, and
 * SIGCHLD at its default even if a case that changed it failed.
 */
int suite_setup(void **state);

/*
 * Formatted text in one of eight rotating buffers: valid until eight more
 * calls, enough for the arguments of one statement.
 */
const char *textf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* /run/user/UID of u, as pam_systemd names it; a textf() buffer. */
const char *runtime_dir(const struct tuser *u);
/* The same with "/" and leaf after it. */
const char *runtime_path(const struct tuser *u, const char *leaf);
/* alice's runtime folders made, the path of her oo7 socket in them. */
const char *alice_socket(void);

/* The two encodings of a frame, and the option that picks each. */
enum encoding { DBUS, GVARIANT };
const char *encoding_option(enum encoding enc);

/* The service "login": the fixture reads the password, pam_oo7 follows
 * with these options. */
void stack(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with no option. */
void stack_default(void);

/* Exactly one frame arrived, from the PAM host, running as root. */
struct record *one_frame(struct record **all);
/* That frame is the one libdbus-1 or GLib encodes, and decodes back. */
void assert_frame(bool gvariant, uint8_t op, const char *user, const void *old,
		  size_t old_len, const void *new, size_t new_len);
/* That frame is these bytes, written as hex (spaces ignored). */
void assert_golden(const char *hex);
void assert_no_frame(void);
void assert_logged(const char *needle);
void assert_not_logged(const char *needle);

/* Milliseconds since t0, on CLOCK_MONOTONIC. */
double elapsed_ms(const struct timespec *t0);
/* At least timeout_ms went by since t0: the module did wait. */
void assert_waited_ms(const struct timespec *t0, unsigned timeout_ms);
/* What went by since t0 is timeout_ms and a margin at most; see suite.c. */
void assert_took_ms(const struct timespec *t0, unsigned timeout_ms);

/* True when u may execute path: every folder on the way, and the file. */
bool user_can_run(const struct tuser *u, const char *path);
/* Copies src to dst, mode 0755, owned by root; false on failure. */
bool copy_program(const char *src, const char *dst);

/* A shell command's exit code, -1 if it did not exit. */
int run(const char *cmd);
int runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* pamtester as the PAM host for alice; see suite.c. */
enum pamtester_via {
	PAMTESTER_PLAIN,   /* the namespace's /etc/pam.d and modules */
	PAMTESTER_WRAPPED, /* through pam_wrapper, with t_confdir() */
};
int pamtester(const char *service, enum pamtester_via via, const char *input,
	      const char *const *ops);

/*
 * The state of this process that a module must leave as it was (fds,
 * signals, ids, groups, umask, environment, children, cwd), as text.
 */
void describe_host(GString *s);
/* How a host may have SIGCHLD: at its default, ignored, or handled. */
enum sigchld { SIGCHLD_DEFAULT, SIGCHLD_IGNORED, SIGCHLD_HANDLED };
void set_sigchld(enum sigchld how);

#endif
