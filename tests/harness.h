/* SPDX-License-Identifier: MIT */
/*
 * The test bench: a private mount namespace in which the test users exist
 * (a private /etc/passwd and /etc/group), /run/user is a fresh tmpfs for
 * each case, and /dev/log is a socket whose lines the tests can read. The
 * module runs inside real libpam, loaded by pam_start_confdir.
 */
#ifndef OO7_TEST_HARNESS_H
#define OO7_TEST_HARNESS_H

#include <security/pam_appl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "listener.h"

struct tuser {
	const char *name;
	uid_t uid;
	gid_t gid;
};

extern const struct tuser t_alice, t_bob, t_latin;
/* Odd but valid names: 1,000 bytes long, with a slash, and "..". */
extern const struct tuser t_long, t_slash, t_dotdot;

/* Enters the sandbox; call first in main. Exits the process on failure. */
void t_sandbox_enter(void);

/* For a child that runs in the sandbox its parent made: use its folder. */
void t_use_sandbox(const char *dir);
const char *t_sandbox(void);

/* cmocka setup and teardown for every case. */
int t_case_setup(void **state);
int t_case_teardown(void **state);

/* This case's own folder (mode 0755, owned by root). */
const char *t_scratch(void);
/* A path inside t_scratch(); valid until the next call. */
const char *t_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_mkdir(const char *path, uid_t uid, gid_t gid, mode_t mode);
/* /run/user/UID and /run/user/UID/oo7 for u, as pam_systemd makes them. */
void t_runtime_dir(const struct tuser *u);

/* A listener recorded for this case and stopped at its end. */
pid_t t_listen(struct listener_cfg cfg);
/* The daemon as it is: run by u, socket owned by u, mode 0600. */
pid_t t_listen_as(const struct tuser *u, const char *path,
		  enum listener_behaviour b);
/* The frames the listeners acted on; with t_frames_all, dropped ones too. */
size_t t_frames(struct record **out);
size_t t_frames_all(struct record **out);

/* Writes the PAM service file; @MODULE@ and @FIXTURE@ name the modules. */
void t_service(const char *name, const char *stack);
const char *t_confdir(void);
/* Makes t_confdir() the /etc/pam.d of the namespace, for real clients. */
void t_bind_pam_d(void);

/* pam_start_confdir with a conversation that answers these, in order. */
pam_handle_t *t_pam_start(const char *service, const char *user,
			  const char *const *answers);
/* start, authenticate, open_session, end; returns the session's code. */
int t_login(const char *service, const char *user, const char *password,
	    int *auth_rc);
/* start, chauthtok (old, new, new), end; returns chauthtok's code. */
int t_chauthtok(const char *service, const char *user, const char *old,
		const char *new);

/*
 * Sets LD_PRELOAD for a client about to be executed: lib (or nothing), after
 * $OO7_TEST_PRELOAD, which make check-asan sets to the sanitizer runtime
 * that a sanitized pam_oo7.so needs in an unsanitized pamtester.
 */
void t_preload(const char *lib);

/* Everything logged through /dev/log since the case started. */
const char *t_logs(void);

/* The frame that libdbus or GLib would encode for these fields. */
size_t t_expect_frame(uint8_t **out, bool gvariant, uint8_t op,
		      const char *user, const void *old, size_t old_len,
		      const void *new, size_t new_len);

/* ---- children, and the session bus (test_bus.c, bench.c) ---- */

#define T_DBUS_DAEMON "/usr/bin/dbus-daemon"
/* How long a bus (or another helper process) may take to be up. */
#define T_UP_MS 10000

/* In a child: u, with its primary group only, killed with its parent. */
void t_become(const struct tuser *u);
/* Reads fd until it has a line, or ms pass; false then. */
bool t_read_line(int fd, char *line, size_t size, int ms);
/* In a child: fd at 3, kept open across exec. */
bool t_fd_at_3(int fd);
/* SIGTERM; SIGKILL if it is still there after a second; reaped. */
void t_stop_child(pid_t pid);
/* The number after "key " at the start of a line of text; -1. */
long t_record_number(const char *text, const char *key);
/*
 * Debian's dbus-daemon as alice on her /run/user/UID/bus, with a session
 * configuration of this case: its service folder holds service (the text
 * of org.freedesktop.secrets.service, or none), EXTERNAL only, a policy
 * that lets alice own any name, its stderr to bus.log in the case's
 * folder. Returns its pid once it has printed its address (it listens
 * then), with how long that took in *took_us; -1 (stopped) otherwise.
 */
pid_t t_bus_up(const char *service, double *took_us);

#endif
