// SPDX-License-Identifier: MIT
/*
 * The keyring follows the password through Debian's real programs (issue
 * 10): login on a terminal with an expired password, which makes alice
 * change it before her session opens, and passwd run by alice from a
 * console; both through the real pam_unix, on the stacks that the real
 * pam-auth-update makes from the shipped profile. The stand-in daemon
 * models her keyring (fake_daemon.c): each case asserts on its password and
 * on whether it is locked once the program is done, and for passwd on
 * whether the daemon started for the change is still running.
 *
 * What the programs change is a private copy, bind-mounted in the tests'
 * namespace and unmounted when the case ends: /etc (pam_unix replaces
 * /etc/shadow by renaming /etc/nshadow over it, which a file mounted over
 * /etc/shadow would refuse), the stacks and all that pam-auth-update writes,
 * /var/log (login's wtmp, pam_lastlog's lastlog), an overlay on /usr for
 * the daemon that auto_start looks for, and a devpts instance for the
 * terminal. Each case checks that the host's files are as they were.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <security/pam_appl.h>

#include "suite.h"

/* alice's password, and a new one that pam_unix's obscure check accepts. */
#define OLD_PW "hunter2"
#define NEW_PW "Quiz Box Jam 9"
/* The longest a daemon may take to exit once its work is done. */
#define EXIT_TIMEOUT_MS 5000
/* The host's files that a case must leave as they were. */
#define HOST_FILES                                                             \
	"/etc/shadow /etc/gshadow /etc/pam.d /usr/share/pam-configs "          \
	"/var/lib/pam /var/cache/debconf /var/log/wtmp /var/log/btmp "         \
	"/var/log/lastlog /var/log/faillog"
/* Where a program could write beside its private copy: their names. */
#define HOST_FOLDERS "/etc /usr/libexec"

/*
 * A daemon that the module starts to stay is orphaned at once (a double
 * fork), and one that it starts for a change alone is its host's child
 * until the host exits: this process adopts either, so that a case can see
 * it exit and the teardown can reap it (pid 1 may not).
 */
static int setup(void **state)
{
	return real_programs_setup(state, HOST_FILES, HOST_FOLDERS);
}

/* Every process of alice here killed and reaped, the host as it was. */
static int teardown(void **state)
{
	int r;

	daemons_stop();
	kill_processes_of(&t_alice, -1);
	r = t_case_teardown(state);
	unmount_private();
	return real_programs_teardown(r);
}

/* ---- the machine, privately ---- */

/*
 * A private /etc with alice's account: a home folder of hers, /bin/true as
 * her shell (login's session ends as soon as it has opened), and the
 * password OLD_PW last changed on day lastchg (0: expired, to be changed
 * at the next login, as `chage -d 0` makes it).
 */
static void private_etc_with_alice(long lastchg)
{
	const char *line;
	int fd;

	bind_copy("/etc", "etc");
	alice_at_home("/bin/true");
	/* Appended: /etc/shadow keeps its owner and mode. */
	line = shadow_line("alice", OLD_PW, "$6$pamoo7real$", lastchg);
	fd = open("/etc/shadow", O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
}

/*
 * Everything of the machine that login and passwd need, privately, and
 * alice's keyring, locked with OLD_PW; her session bus too, unless the
 * session makes it (session_bus_made_by_the_session).
 */
static void machine_for_alice(long lastchg, bool bus)
{
	private_etc_with_alice(lastchg);
	daemon_where_auto_start_looks();
	stacks_from_the_shipped_profile();
	private_var_log();
	t_runtime_dir(&t_alice);
	if (bus)
		session_bus_create(&t_alice);
	keyring_create(&t_alice, OLD_PW, true);
}

static void auto_start_on_the_password_line(void)
{
	around_the_module_line("/etc/pam.d/common-password", "password", "",
			       " auto_start");
}

/*
 * alice's session bus made when her session opens, right before pam_oo7's
 * session line, as pam_systemd has systemd --user make it; not before. A
 * real oo7-daemon cannot start without it, nor can the stand-in. The
 * program is perl (perl-base is Essential in Debian): it binds the socket,
 * and leaves it behind, owned by alice.
 */
static void session_bus_made_by_the_session(void)
{
	char script[300], line[400];
	gchar *text = g_strdup_printf(
	    "#!/usr/bin/perl\n"
	    "use IO::Socket::UNIX;\n"
	    "my $bus = '%s';\n"
	    "IO::Socket::UNIX->new(Local => $bus, Listen => 1) or die $!;\n"
	    "chown %u, %u, $bus or die $!;\n",
	    runtime_path(&t_alice, "bus"), (unsigned int)t_alice.uid,
	    (unsigned int)t_alice.gid);

	snprintf(script, sizeof(script), "%s", t_path("make-session-bus"));
	assert_true(g_file_set_contents(script, text, -1, NULL));
	assert_int_equal(chmod(script, 0755), 0);
	snprintf(line, sizeof(line),
		 "session\trequired\tpam_exec.so type=open_session %s\n",
		 script);
	around_the_module_line("/etc/pam.d/common-session", "session", line,
			       "");
	g_free(text);
}

/* The password that the real pam_unix wrote for alice is pw. */
static void assert_shadow_has(const char *pw)
{
	gchar *shadow = read_text("/etc/shadow");
	gchar **lines = g_strsplit(shadow, "\n", -1);
	gchar *hash = NULL;

	for (gchar **l = lines; *l && !hash; l++)
		if (g_str_has_prefix(*l, "alice:"))
			hash = *l + strlen("alice:");
	assert_non_null(hash);
	assert_non_null(strchr(hash, ':'));
	*strchr(hash, ':') = '\0';
	if (strcmp(crypt(pw, hash), hash))
		fail_msg("alice's password in /etc/shadow is not \"%s\"", pw);
	g_strfreev(lines);
	g_free(shadow);
}

/* ---- the programs ---- */

/*
 * In the child: login alice, as a console's getty runs it (login is not
 * set-user-ID: it keeps the LD_PRELOAD of make check-asan).
 */
static void exec_login(const char *const *argv)
{
	static const char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C",
					  "TERM=dumb", NULL};

	exec_with_env(argv, env);
}

/* login alice, run by root on a terminal; passwd, run by alice on one. */
static const char *const login_alice[] = {"/bin/login", "alice", NULL};
static const char *const passwd[] = {"/usr/bin/passwd", NULL};

/* login: her password, expired; the current one again, the new twice. */
static const struct exchange expired_login[] = {
    {"Password: ", OLD_PW, false},
    {"Current password: ", OLD_PW, false},
    {"New password: ", NEW_PW, false},
    {"Retype new password: ", NEW_PW, false},
    {NULL, NULL, false},
};

/* passwd: the current password, the new one twice. */
static const struct exchange passwd_change[] = {
    {"Current password: ", OLD_PW, false},
    {"New password: ", NEW_PW, false},
    {"Retype new password: ", NEW_PW, false},
    {NULL, NULL, false},
};

/* ---- what happened ---- */

static const char *which_password(GBytes *b)
{
	gsize len;
	const char *p = g_bytes_get_data(b, &len);

	if (len == strlen(OLD_PW) && !memcmp(p, OLD_PW, len))
		return "old";
	if (len == strlen(NEW_PW) && !memcmp(p, NEW_PW, len))
		return "new";
	return len ? "another" : "\"\"";
}

/*
 * For a failure message: what the program printed, the frames that alice's
 * daemons got, the last daemon's record, her keyring, and the log.
 */
static void describe(GString *s, const struct client *c)
{
	struct record *all;
	size_t n = fake_daemon_frames(&t_alice, &all);
	gchar *keyring = NULL, *record = NULL;

	g_string_append_printf(s,
			       "\n--- exit %d, %zu prompt(s) answered; "
			       "terminal:\n%s\n--- frames:\n",
			       c->status, c->answered, c->out->str);
	for (size_t i = 0; i < n; i++) {
		struct decoded d;

		if (!frame_decode(all[i].data, all[i].len, false, &d)) {
			g_string_append(s, "  not a valid frame\n");
			continue;
		}
		g_string_append_printf(
		    s, "  %s(%s, %s) from uid %u\n", d.op ? "change" : "unlock",
		    which_password(d.old), which_password(d.new),
		    (unsigned int)all[i].uid);
		decoded_free(&d);
	}
	records_free(all, n);
	g_file_get_contents(runtime_path(&t_alice, "keyring"), &keyring, NULL,
			    NULL);
	g_file_get_contents(runtime_path(&t_alice, "fake-daemon.record"),
			    &record, NULL, NULL);
	g_string_append_printf(
	    s, "--- keyring:\n%s--- daemon record:\n%.300s\n",
	    keyring ? keyring : "(none)\n", record ? record : "(none)");
	g_string_append_printf(s, "--- log:\n%s", t_logs());
	g_free(keyring);
	g_free(record);
}

/* The program exited 0 once every step of its script was answered. */
static void assert_done(const struct client *c, size_t steps)
{
	GString *s;

	if (c->status == 0 && c->answered == steps)
		return;
	s = g_string_new("the program did not go through its prompts");
	describe(s, c);
	fail_msg("%s", s->str);
}

/* Whether a keyring is locked, and whether a case asks. */
enum lock { UNLOCKED, LOCKED, LOCKED_OR_NOT };

/* alice's keyring, as the stand-in daemon left it. */
static void assert_keyring_is(const struct client *c, const char *pw,
			      enum lock lock)
{
	struct keyring k = keyring_read(&t_alice);
	static const char *const says[] = {", unlocked", ", locked", ""};
	GString *s;

	if (k.ok && !strcmp(k.password, pw) &&
	    (lock == LOCKED_OR_NOT || k.locked == (lock == LOCKED)))
		return;
	s = g_string_new(NULL);
	g_string_printf(s, "want alice's keyring with the %s password%s",
			strcmp(pw, NEW_PW) ? "old" : "new", says[lock]);
	describe(s, c);
	fail_msg("%s", s->str);
}

/* The pid in alice's fake-daemon.pid: a daemon was started. */
static pid_t started_daemon(const struct client *c)
{
	pid_t pid = fake_daemon_pid(&t_alice);
	GString *s;

	if (pid > 0)
		return pid;
	s = g_string_new("no daemon was started");
	describe(s, c);
	fail_msg("%s", s->str);
	return -1;
}

/* Running, not a zombie: its state in /proc/PID/stat. */
static bool running(pid_t pid)
{
	gchar *stat = NULL, *end;
	char state = 0;

	if (g_file_get_contents(textf("/proc/%d/stat", (int)pid), &stat, NULL,
				NULL) &&
	    (end = strrchr(stat, ')')))
		sscanf(end + 1, " %c", &state);
	g_free(stat);
	return state && state != 'Z' && state != 'X';
}

/*
 * The daemon has exited and is gone (kill(pid, 0) fails with ESRCH), for
 * wait_on_sigchld(). If its parent (the module in passwd) has not reaped
 * it, it comes to this process when passwd exits (PR_SET_CHILD_SUBREAPER,
 * see setup): then this reaps it when its SIGCHLD comes.
 */
static bool gone(pid_t pid)
{
	if (parent_of(pid) == getpid())
		waitpid(pid, NULL, WNOHANG);
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* alice's daemon that the pid file names is still running. */
static void assert_running(const struct client *c)
{
	pid_t pid = started_daemon(c);
	GString *s;

	if (running(pid))
		return;
	s = g_string_new(NULL);
	g_string_printf(s, "the daemon (pid %d) is not running", (int)pid);
	describe(s, c);
	fail_msg("%s", s->str);
}

/* ---- login with an expired password ---- */

/*
 * login, with alice's password expired: it went through its prompts, and
 * her new password is in /etc/shadow and in her keyring, unlocked.
 */
static void expired_login_changes_the_password(struct client *c)
{
	run_on_terminal(c, exec_login, login_alice, expired_login);

	assert_done(c, 4);
	assert_shadow_has(NEW_PW);
	assert_keyring_is(c, NEW_PW, UNLOCKED);
}

static void expired_password_at_console_login_with_the_daemon_up(void **state)
{
	struct client c;

	(void)state;
	machine_for_alice(0, true);
	fake_daemon_start(&t_alice, NULL);

	/* Re-keyed by the change, then unlocked with the new password. */
	expired_login_changes_the_password(&c);

	assert_has(c.out->str, "You are required to change your password");
	client_free(&c);
}

/*
 * The daemon that the change needs is started for it and stopped after it;
 * the session's auto_start then starts one with the new password.
 */
static void
expired_password_at_console_login_with_no_daemon_running(void **state)
{
	struct client c;

	(void)state;
	machine_for_alice(0, true);

	expired_login_changes_the_password(&c);

	assert_running(&c);
	client_free(&c);
}

/*
 * The case of a real first login: at the change, before pam_systemd has
 * made the session bus, no daemon can start; the change is kept for the
 * session, which starts the daemon, re-keys the keyring, then unlocks it.
 */
static void
expired_password_at_console_login_before_the_session_bus_exists(void **state)
{
	struct client c;

	(void)state;
	machine_for_alice(0, false);
	session_bus_made_by_the_session();

	expired_login_changes_the_password(&c);

	assert_running(&c);
	client_free(&c);
}

/* ---- passwd from a console ---- */

/*
 * passwd, run by alice: it went through its prompts, and her new password
 * is in /etc/shadow and in her keyring, locked or not.
 */
static void passwd_changes_the_password(struct client *c)
{
	run_on_terminal(c, exec_as_alice, passwd, passwd_change);

	assert_done(c, 3);
	assert_shadow_has(NEW_PW);
	assert_keyring_is(c, NEW_PW, LOCKED_OR_NOT);
}

static void
passwd_with_no_daemon_rekeys_and_stops_the_daemon_it_started(void **state)
{
	struct client c;
	pid_t pid;

	(void)state;
	skip_if_the_module_is_sanitized(); /* passwd is set-user-ID */
	machine_for_alice(20000, true);

	passwd_changes_the_password(&c);

	assert_has(c.out->str, "password updated successfully");
	pid = started_daemon(&c);
	if (!wait_on_sigchld(gone, pid, EXIT_TIMEOUT_MS))
		fail_msg("the daemon started for the change (pid %d) still "
			 "runs %d ms after passwd exited",
			 (int)pid, EXIT_TIMEOUT_MS);
	client_free(&c);
}

static void
passwd_with_auto_start_on_the_password_line_leaves_the_daemon_running(
    void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized(); /* passwd is set-user-ID */
	machine_for_alice(20000, true);
	auto_start_on_the_password_line();

	passwd_changes_the_password(&c);

	/* passwd has exited: a daemon to be stopped would be gone by now. */
	assert_running(&c);
	client_free(&c);
}

/* ---- screen lockers that authenticate alone ---- */

/*
 * Debian's xsecurelock and vlock, unpacked from their packages into this
 * case's /usr (with vlock-main set-user-ID, as installed): each runs as
 * alice, calls pam_authenticate on the stacks of the real pam-auth-update
 * and ends the handle with its result; neither calls pam_setcred nor opens
 * a session. physlock does the same, but needs a virtual console.
 */
static void lockers_in_usr(void)
{
	assert_int_equal(runf("cp -a %s/usr/. /usr/", LOCKERS_DIR), 0);
}

/* The machine, with alice's daemon up (its keyring locked) or not. */
static void machine_for_a_locker(bool daemon)
{
	machine_for_alice(20000, true);
	lockers_in_usr();
	if (daemon)
		fake_daemon_start(&t_alice, NULL);
}

/*
 * xsecurelock's helper, answered with these password packets. It runs as
 * alice with her environment, without make check-asan's preloaded runtime:
 * such cases skip there.
 */
static void xsecurelock_auth(struct client *c, const char *answers)
{
	static const char *const authproto_pam[] = {
	    "/usr/libexec/xsecurelock/authproto_pam", NULL};

	run_piped(c, exec_as_alice, authproto_pam, answers);
}

/* xsecurelock's packet with alice's password, and one with a wrong one. */
#define XSL_RIGHT "p 7\n" OLD_PW "\n"
#define XSL_WRONG "p 5\nwrong\n"

/* No frame reached alice's daemon. */
static void assert_nothing_sent(const struct client *c)
{
	struct record *all;
	size_t n = fake_daemon_frames(&t_alice, &all);
	GString *s;

	records_free(all, n);
	if (n == 0)
		return;
	s = g_string_new("a frame reached alice's daemon");
	describe(s, c);
	fail_msg("%s", s->str);
}

static void xsecurelock_unlocks_the_keyring_of_a_running_daemon(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	machine_for_a_locker(true);

	xsecurelock_auth(&c, XSL_RIGHT);

	assert_int_equal(c.status, 0);
	assert_keyring_is(&c, OLD_PW, UNLOCKED);
	client_free(&c);
}

/* Three wrong passwords (its retries): the screen stays locked, and the
 * keyring too; nothing reached the daemon. */
static void xsecurelock_with_a_wrong_password_sends_nothing(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	machine_for_a_locker(true);

	xsecurelock_auth(&c, XSL_WRONG XSL_WRONG XSL_WRONG);

	assert_int_not_equal(c.status, 0);
	assert_keyring_is(&c, OLD_PW, LOCKED);
	assert_nothing_sent(&c);
	client_free(&c);
}

/* With no daemon running, the screen unlocks and no daemon is started. */
static void xsecurelock_with_no_daemon_starts_none(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	machine_for_a_locker(false);

	xsecurelock_auth(&c, XSL_RIGHT);

	assert_int_equal(c.status, 0);
	assert_false(fake_daemon_ran(&t_alice));
	assert_int_equal(fake_daemons_of(&t_alice), 0);
	client_free(&c);
}

/*
 * vlock, locking this terminal: Enter, then the password, each answered
 * once vlock reads (it flushes its input after the prompt).
 */
static const char *const vlock_current[] = {"/usr/bin/vlock", "-c", NULL};

static void vlock_unlocks_the_keyring_of_a_running_daemon(void **state)
{
	static const struct exchange unlock[] = {{"to unlock.", "", true},
						 {"Password: ", OLD_PW, true},
						 {NULL, NULL, false}};
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized(); /* vlock-main is set-user-ID */
	machine_for_a_locker(true);

	run_on_terminal(&c, exec_as_alice, vlock_current, unlock);

	assert_done(&c, 2);
	assert_keyring_is(&c, OLD_PW, UNLOCKED);
	client_free(&c);
}

/*
 * A wrong password (vlock then asks for root's, which fails too), then
 * the right one: only the right one is sent.
 */
static void vlock_sends_only_the_password_that_unlocked(void **state)
{
	static const struct exchange retry[] = {
	    {"to unlock.", "", true},
	    {"alice's Password: ", "wrong", true},
	    {"root's Password: ", "wrong", true},
	    {"to unlock.", "", true},
	    {"alice's Password: ", OLD_PW, true},
	    {NULL, NULL, false}};
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized(); /* vlock-main is set-user-ID */
	machine_for_a_locker(true);

	run_on_terminal(&c, exec_as_alice, vlock_current, retry);

	assert_done(&c, 5);
	assert_keyring_is(&c, OLD_PW, UNLOCKED);
	assert_int_equal(fake_daemon_frames_acted_on(&t_alice), 1);
	client_free(&c);
}

/* ---- where the auth line sits: Fedora's and openSUSE's shapes ---- */

/*
 * Fedora's system-auth (authselect's local profile, with-faillock), auth
 * part: pam_unix is sufficient, and a wrong password goes on to
 * pam_faillock and pam_deny. Services take it as a substack, then include
 * postlogin, so that a line in postlogin runs after a wrong password too.
 * pam_oo7's auth line goes in its place in system-auth, as README says: on
 * a good password alone, then the substack ends as sufficient ended it.
 */
#define FEDORA_AUTH_HEAD                                                       \
	"auth required pam_env.so\n"                                           \
	"auth required pam_faildelay.so delay=2000000\n"                       \
	"auth required pam_faillock.so preauth silent\n"
#define FEDORA_AUTH_TAIL                                                       \
	"auth required pam_faillock.so authfail\n"                             \
	"auth required pam_deny.so\n"                                          \
	"account required pam_unix.so\n"                                       \
	"session required pam_unix.so\n"
#define FEDORA_SYSTEM_AUTH                                                     \
	FEDORA_AUTH_HEAD                                                       \
	"auth [success=ok default=2] pam_unix.so nullok\n"                     \
	"auth optional " MODULE_PATH "\n"                                      \
	"auth sufficient pam_permit.so\n" FEDORA_AUTH_TAIL
#define FEDORA_LOGIN                                                           \
	"auth substack system-auth\n"                                          \
	"auth include postlogin\n"                                             \
	"account include system-auth\n"                                        \
	"session include system-auth\n"                                        \
	"session include postlogin\n"

/*
 * A file of /etc/pam.d (private: see private_etc_with_alice), where libpam
 * looks for what a stack includes, also with pam_start_confdir.
 */
static void etc_pam(const char *name, const char *text)
{
	gchar *path = g_strdup_printf("/etc/pam.d/%s", name);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	g_free(path);
}

/* Fedora's shape: system-auth and login as above; postlogin as shipped. */
static void fedora_stacks(void)
{
	etc_pam("system-auth", FEDORA_SYSTEM_AUTH);
	etc_pam("postlogin", "session optional pam_umask.so silent\n");
	t_service("login", FEDORA_LOGIN);
}

/*
 * openSUSE's common-auth-pc as pam-config writes it (pam_unix required: a
 * wrong password goes on), taken as a substack by a common-auth of one's
 * own, as README says: pam_unix asked again, with the password already
 * read, jumps over pam_oo7's line unless it is good.
 */
static void opensuse_stacks(void)
{
	etc_pam("common-auth-pc", "auth required pam_env.so\n"
				  "auth required pam_unix.so try_first_pass\n");
	etc_pam("common-auth",
		"auth substack common-auth-pc\n"
		"auth [success=ok default=1] pam_unix.so use_first_pass\n"
		"auth optional " MODULE_PATH "\n");
	t_service("login", "auth include common-auth\n"
			   "account required pam_unix.so\n");
}

/* alice's account with OLD_PW, her daemon up, her keyring locked. */
static void machine_with_her_daemon_up(void)
{
	private_etc_with_alice(20000);
	t_runtime_dir(&t_alice);
	session_bus_create(&t_alice);
	keyring_create(&t_alice, OLD_PW, true);
	fake_daemon_start(&t_alice, NULL);
}

/*
 * A locker that calls pam_authenticate alone, through the real pam_unix,
 * with the password pw; run by as_alice(), as lockers run.
 */
static int locker_auth(const void *pw)
{
	const char *answers[] = {pw, NULL};
	pam_handle_t *pamh = t_pam_start("login", "alice", answers);
	int r = pam_authenticate(pamh, 0);

	pam_end(pamh, r);
	return r;
}

/*
 * swaylock when its parent is gone: setcred after failed attempts, and a
 * pam_end that says PAM_SUCCESS whatever the attempts did.
 */
static int swaylock_after_failures(const void *pw)
{
	const char *answers[] = {pw, NULL};
	pam_handle_t *pamh = t_pam_start("login", "alice", answers);
	int r = pam_authenticate(pamh, 0);

	pam_setcred(pamh, PAM_REFRESH_CRED);
	pam_end(pamh, PAM_SUCCESS);
	return r;
}

/* On this shape, a good password unlocks; a refused one sends nothing. */
static void auth_line_runs_only_after_a_good_password(void (*stacks)(void))
{
	machine_with_her_daemon_up();
	stacks();

	assert_int_not_equal(as_alice(swaylock_after_failures, "wrong"),
			     PAM_SUCCESS);
	assert_keyring(&t_alice, OLD_PW, true);
	assert_int_equal(fake_daemon_frames(&t_alice, &(struct record *){0}),
			 0);

	assert_int_equal(as_alice(locker_auth, OLD_PW), PAM_SUCCESS);
	assert_keyring(&t_alice, OLD_PW, false);
}

static void fedora_shape_sends_only_an_accepted_password(void **state)
{
	(void)state;
	auth_line_runs_only_after_a_good_password(fedora_stacks);
}

static void opensuse_shape_sends_only_an_accepted_password(void **state)
{
	(void)state;
	auth_line_runs_only_after_a_good_password(opensuse_stacks);
}

/* ---- setup and teardown ---- */

int real_login_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		expired_password_at_console_login_with_the_daemon_up, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		expired_password_at_console_login_with_no_daemon_running, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		expired_password_at_console_login_before_the_session_bus_exists,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		passwd_with_no_daemon_rekeys_and_stops_the_daemon_it_started,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		passwd_with_auto_start_on_the_password_line_leaves_the_daemon_running,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		xsecurelock_unlocks_the_keyring_of_a_running_daemon, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		xsecurelock_with_a_wrong_password_sends_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		xsecurelock_with_no_daemon_starts_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		vlock_unlocks_the_keyring_of_a_running_daemon, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		vlock_sends_only_the_password_that_unlocked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		fedora_shape_sends_only_an_accepted_password, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		opensuse_shape_sends_only_an_accepted_password, setup,
		teardown),
	};

	return cmocka_run_group_tests_name("real_login", tests, NULL, NULL);
}
