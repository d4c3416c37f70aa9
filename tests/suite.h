/* SPDX-License-Identifier: MIT */
/*
 * What the test files share, declared here by concern and defined in the
 * file that each section names: a case's stack and assertions (suite.c),
 * the stand-in daemon and service manager (daemons.c), this process and the
 * system's files (host.c), and the processes a case runs (clients.c). And
 * the group of cases that each test file runs, which main.c runs in turn.
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

/* Each file's cases as a cmocka group: the number of those that failed. */
int wire_group(void);
int delivery_group(void);
int host_group(void);
int daemon_start_group(void);
int trust_group(void);
int sudo_group(void);
int keyring_group(void);
int real_login_group(void);
int greeters_group(void);
int ssh_group(void);
int releases_group(void);
int bus_group(void);
int clients_group(void);
int manager_group(void);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- suite.c: a case's stack, its frames and logs, texts, time ---- */

/* The process that hosts libpam: 0 for this one, or a real client's pid. */
extern pid_t host_pid;
/* This program, from argv[0] (not valgrind's): the set-user-ID probe. */
extern char self_path[4096];

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
/* The same, and alice's daemon listening at alice_socket(). */
void stack_default_with_alices_daemon(void);
/* login with auto_start of FAKE_DAEMON; alice's runtime folder, no daemon. */
void stack_auto_start(void);
/* A listener: socket file of tuser owner, mode m, run by tuser runner. */
#define L(p, owner, runner, m, ...)                                            \
	((struct listener_cfg){.path = (p),                                    \
			       .owner_uid = (owner)->uid,                      \
			       .owner_gid = (owner)->gid,                      \
			       .mode = (m),                                    \
			       .run_uid = (runner)->uid,                       \
			       .run_gid = (runner)->gid,                       \
			       __VA_ARGS__})
/* u's daemon as in oo7 0.6: at RUNTIME/oo7-pam.sock, its frames tagged id. */
pid_t daemon_listens_for(const struct tuser *u, uint8_t id);
/*
 * u's daemon as release g of oo7 behaves (listener.h): at
 * RUNTIME/oo7-pam.sock, its frames tagged id. u's runtime folder is made if
 * need be.
 */
pid_t daemon_of_generation_listens_for(const struct tuser *u, enum generation g,
				       uint8_t id);
/* Of the frames this case's listeners got, those acted on. */
size_t frames_acted_on(void);

/* Exactly one frame arrived, from the PAM host, running as root. */
struct record *one_frame(struct record **all);
/* That frame is the one libdbus-1 or GLib encodes, and decodes back. */
void assert_frame(bool gvariant, uint8_t op, const char *user, const void *old,
		  size_t old_len, const void *new, size_t new_len);
/* That frame is alice's unlock with pw, in the D-Bus encoding. */
void assert_unlock_frame(const char *pw);
/* r is the frame that libdbus-1 encodes for these fields. */
void assert_record_is_frame(const struct record *r, uint8_t op,
			    const char *user, const char *old, const char *new);
void assert_no_frame(void);
void assert_logged(const char *needle);
void assert_not_logged(const char *needle);

/* Milliseconds since t0, on CLOCK_MONOTONIC. */
double elapsed_ms(const struct timespec *t0);
/* What went by since t0 is timeout_ms and a margin at most; see suite.c. */
void assert_took_ms(const struct timespec *t0, unsigned timeout_ms);

/* A shell command's exit code, -1 if it did not exit. */
int run(const char *cmd);
int runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The text of path; fails the case if it cannot be read. g_free it. */
gchar *read_text(const char *path);
void assert_has(const char *text, const char *needle);
void assert_lacks(const char *text, const char *needle);

/* ---- daemons.c: the stand-ins for the daemon and the service manager ---- */

/*
 * The fake daemon, as the tests name it to the module: a copy made at
 * sandbox entry in the namespace's private /run, which every test user can
 * reach wherever the clone is (FAKE_DAEMON_BUILD, in the clone, may be under
 * a folder of mode 0700 such as /root or a mktemp -d).
 */
#define FAKE_DAEMON_DIR "/run/oo7-test"
#define FAKE_DAEMON FAKE_DAEMON_DIR "/fake-oo7-daemon"
/* The stand-in for systemd --user (fake_manager.c), copied there too. */
#define FAKE_MANAGER FAKE_DAEMON_DIR "/fake-oo7-manager"

/* True when u may execute path: every folder on the way, and the file. */
bool user_can_run(const struct tuser *u, const char *path);
/* Copies src to dst, mode 0755, owned by root; false on failure. */
bool copy_program(const char *src, const char *dst);

/*
 * For a teardown: the daemons of alice and bob (by their pid files), and
 * those that the case started itself (fake_daemon_start).
 */
void daemons_stop(void);

/* u's fake daemon's record, NULL if it wrote none within 5 s; g_free it. */
char *fake_daemon_record(const struct tuser *u);
/* The same, and the case fails if there is none: a daemon was started. */
char *started_daemon_record(const struct tuser *u);
/* The line of a record that says the daemon got pw on its stdin. */
const char *stdin_line(const char *pw);
/* The lines of a record that say the daemon ran with u's ids. */
const char *ids_line(const struct tuser *u);
/* u's fake daemon wrote its pid file: one was executed. */
bool fake_daemon_ran(const struct tuser *u);
/* The pid in u's fake daemon's pid file; 0 if there is none. */
pid_t fake_daemon_pid(const struct tuser *u);
/*
 * The frames u's fake daemon acted on, oldest first (with _all, the dropped
 * ones too); records_free them.
 */
size_t fake_daemon_frames(const struct tuser *u, struct record **out);
size_t fake_daemon_frames_all(const struct tuser *u, struct record **out);
/* How many frames u's fake daemon acted on. */
size_t fake_daemon_frames_acted_on(const struct tuser *u);
/*
 * u's fake daemon, once started, stands in for release g of oo7 (its
 * fake-daemon.generation file; none for NO_GENERATION). u's runtime folder
 * is made if need be.
 */
void generation_of_the_daemon(const struct tuser *u, enum generation g);
/*
 * Kills the fake daemon that u's pid file names, if that pid is still a
 * fake daemon in this namespace (never a pid reused by someone else).
 */
void fake_daemon_kill(const struct tuser *u);
/*
 * The fake daemon run as u by the test, not by the module, with u's session
 * bus, and login_password on its stdin with --login (none: no --login);
 * returns its pid once it listens. daemons_stop() kills and reaps every one
 * this case started.
 */
pid_t fake_daemon_start(const struct tuser *u, const char *login_password);
/* u's session bus, as the daemon looks for it: a socket at RUNTIME/bus. */
void session_bus_create(const struct tuser *u);
/* The processes in this namespace that run a fake daemon as u. */
size_t fake_daemons_of(const struct tuser *u);

/*
 * The keyring that the fake daemon models, in /run/user/UID/keyring:
 * "password=HEX\nlocked=0|1\n". keyring_create makes u's runtime folder if
 * need be; ok is false when the file is missing or malformed.
 */
struct keyring {
	bool ok;
	bool locked;
	char password[256];
};
void keyring_create(const struct tuser *u, const char *password, bool locked);
struct keyring keyring_read(const struct tuser *u);
/* u's keyring has this password and is locked or not (the file if not). */
void assert_keyring(const struct tuser *u, const char *password, bool locked);

/*
 * The stand-in for systemd --user (fake_manager.c) as alice on her bus,
 * which runs already, running daemon for oo7-daemon.service, with the
 * options in extra (NULL-terminated); its calls are recorded in her
 * runtime folder's manager.record, its output in the case's manager.log.
 * Returns its pid once it owns org.freedesktop.systemd1; the case stops it.
 */
pid_t fake_manager_start(const char *daemon, const char *const *extra);

/*
 * What a daemon at path wrote back before it closed, when sent frame on a
 * new connection; the case fails if it neither closes nor replies in 5 s.
 */
GByteArray *exchange(const char *path, const uint8_t *frame, size_t len);

/* ---- host.c: this process, and the system's files in private copies ---- */

/*
 * The state of this process that a module must leave as it was (fds,
 * signals, ids, groups, umask, environment, children, cwd), as text.
 */
void describe_host(GString *s);
/* How a host may have SIGCHLD: at its default, ignored, or handled. */
enum sigchld { SIGCHLD_DEFAULT, SIGCHLD_IGNORED, SIGCHLD_HANDLED };
void set_sigchld(enum sigchld how);
/* fn, run with SIGCHLD as how, leaves this process as it was. */
void assert_host_unchanged_by(enum sigchld how, void (*fn)(void));

/* Where auto_start, with no daemon=, finds the daemon first. */
#define DAEMON_PATH "/usr/libexec/oo7-daemon"

/*
 * A mount of this case only, in the tests' namespace: unmount_private()
 * undoes them all, the last first, in the case's teardown.
 */
void mount_over(const char *src, const char *dst, const char *type,
		const char *opts);
/* A copy of path (file or folder) in this case's folder, mounted over it. */
void bind_copy(const char *path, const char *name);
/* A file of this text, owned by root with this mode, mounted over path. */
void bind_text(const char *path, const char *name, const char *text,
	       mode_t mode);
void unmount_private(void);

/*
 * The real pam-auth-update with the profile of make install-pam-config, the
 * module under test in a private copy of the security folder; private
 * copies of all that it writes. The same in two steps: the private copies
 * (the stock stacks, as the host has them), then the module and its profile
 * added to them.
 */
void stacks_from_the_shipped_profile(void);
void private_pam_config(void);
void shipped_profile_applied(void);
/* The fake daemon at DAEMON_PATH, in an overlay on /usr. */
void daemon_where_auto_start_looks(void);
/* An overlay on /usr of this case's (a mount undone by unmount_private). */
void usr_overlay(void);
/* text in place of path's contents, the file's owner and mode kept. */
void rewrite(const char *path, const char *text);
/* old in path's text, exactly once (else the case fails), made new. */
void edit_once(const char *path, const char *old, const char *new);
/* alice with a home of hers and shell in /etc/passwd (a private copy). */
void alice_at_home(const char *shell);
/* A line of /etc/shadow: user's password pw, hashed with salt. */
const char *shadow_line(const char *user, const char *pw, const char *salt,
			long lastchg);
/* A private /etc/shadow: the host's, then these lines. */
void private_shadow_with(const char *lines);
/* A private /var/log with the files that login and pam_lastlog write. */
void private_var_log(void);
/*
 * pam_oo7's line of this type in a stack that pam-auth-update generated
 * (which ends it with a space), with before and after around it.
 */
void around_the_module_line(const char *file, const char *type,
			    const char *before, const char *after);
/*
 * Setup for real programs: the state of the host's files under paths, and
 * the names in the folders listed (NULL: none), kept; a subreaper.
 */
int real_programs_setup(void **state, const char *paths, const char *listed);
/* After unmount_private(): no subreaper; r, or -1 if those files changed. */
int real_programs_teardown(int r);

/* ---- clients.c: the processes that a case runs ---- */

/* The longest a real program may take: then it is killed. */
#define CLIENT_TIMEOUT_MS 20000

/* pid runs in this process's mount namespace. */
bool in_this_mount_ns(pid_t pid);
/* The processes of uid in this namespace (at most max); their count. */
size_t processes_of(uid_t uid, pid_t *pids, size_t max);
/* Every process of u here killed (but keep), and reaped if our child. */
void kill_processes_of(const struct tuser *u, pid_t keep);

/* pid's parent, from /proc; -1 if there is no such process. */
pid_t parent_of(pid_t pid);

/* Calls done(pid), woken by SIGCHLD, till true or ms pass; its last answer. */
bool wait_on_sigchld(bool (*done)(pid_t pid), pid_t pid, int ms);
/* pid's exit code once reaped within ms; -1 if it did not exit (then it is
 * killed and reaped). */
int exit_status_within(pid_t pid, int ms);

/*
 * make check-asan's module runs only with the ASan runtime preloaded, which
 * a set-user-ID program (sudo, doas, passwd) ignores: such cases skip there.
 */
void skip_if_the_module_is_sanitized(void);

/* A real program that ran: its exit code (-1 if killed), its output. */
struct client {
	pid_t pid;
	int status;
	GString *out;
	GString *err;
	size_t seen;	 /* the end of the last prompt answered, in out */
	size_t answered; /* how many steps of its script were sent */
};
/*
 * One step of what a program on a terminal is told: once expect appears in
 * its output (after the previous step's) and the program has turned echo
 * off to read a password, send and a newline. With when_reading, only once
 * the program waits in a system call that reads its terminal: vlock prints
 * its prompt, echo already off, and only then flushes the terminal's input.
 */
struct exchange {
	const char *expect;
	const char *send;
	bool when_reading;
};
void client_free(struct client *c);
/* How a child, its stdio in place, executes argv; it does not return. */
typedef void (*exec_fn)(const char *const *argv);
/* pid, a process of this case (> 0), kept for t_stop_kept(); pid. */
pid_t t_keep(pid_t pid);
/* Stops every kept process by pid, the last kept first. */
void t_stop_kept(void);
/*
 * fn(arg) in a child running as alice (her ids, no capability), as screen
 * lockers run, the module and the fixture loaded first: its exit code
 * (0..254), within CLIENT_TIMEOUT_MS.
 */
int as_alice(int (*fn)(const void *arg), const void *arg);
/* In a child: alice, as her login would make her, then argv. */
void exec_as_alice(const char *const *argv) __attribute__((noreturn));
/* In a child: argv with env (at most 4) and make check-asan's variables. */
void exec_with_env(const char *const *argv, const char *const *env)
    __attribute__((noreturn));
/* argv run by exec, input on its stdin (NULL: ours), its output into c. */
void run_piped(struct client *c, exec_fn exec, const char *const *argv,
	       const char *input);
/* argv executed by exec on a terminal of its own, script answering it. */
void run_on_terminal(struct client *c, exec_fn exec, const char *const *argv,
		     const struct exchange *script);

#endif
