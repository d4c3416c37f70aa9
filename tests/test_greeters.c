// SPDX-License-Identifier: MIT
/*
 * Desktop greeters: the PAM files that Debian 12 ships for GDM
 * (gdm-password, package gdm3), LightDM, SDDM and greetd, taken from the
 * packages without installing them (tests/Makefile downloads them into
 * build/greeters and takes out only ./etc/pam.d), with pam_gnome_keyring's
 * module installed as on a desktop (libpam-gnome-keyring, tests/deps.sh).
 *
 * Each greeter logs alice in through pamtester with the calls it makes
 * (GDM, LightDM, SDDM and greetd alike): pam_authenticate, pam_acct_mgmt,
 * pam_setcred(PAM_ESTABLISH_CRED), pam_open_session, and at logout
 * pam_close_session (their pam_setcred(PAM_DELETE_CRED) after it is a flag
 * that pamtester cannot pass). The real pam_unix checks her password in a
 * private /etc/shadow. The login runs twice: on the stock common-* files,
 * then on those that the real pam-auth-update makes from the shipped
 * profile. Every result is the same, and the module adds exactly one frame:
 * the unlock with her password, from the PAM host, as root.
 *
 * Everything a case changes is a private copy, bind-mounted in the tests'
 * namespace and unmounted when the case ends: /etc/pam.d (with the
 * greeter's file), /etc/shadow, the PAM security folder,
 * /usr/share/pam-configs, /var/lib/pam, /var/cache/debconf, and /var/log
 * (greetd includes login, whose pam_lastlog writes lastlog and wtmp), new
 * for each login so that the second one is not told of the first. Each case
 * checks that the host's files are as they were.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <glib.h>

#include "suite.h"

#define PW "hunter2"
/* The host's files that a case must leave as they were. */
#define HOST_FILES                                                             \
	"/etc/shadow /etc/pam.d /usr/share/pam-configs /var/lib/pam "          \
	"/var/cache/debconf /var/log/wtmp /var/log/btmp "                      \
	"/var/log/lastlog " SECUREDIR

/* The host's files noted, to be compared with them at the end. */
static int setup(void **state)
{
	return real_programs_setup(state, HOST_FILES, NULL);
}

/* No process of alice left here, the mounts undone, the host as it was. */
static int teardown(void **state)
{
	int r;

	kill_processes_of(&t_alice, -1);
	r = t_case_teardown(state);
	unmount_private();
	return real_programs_teardown(r);
}

/* ---- the machine, privately ---- */

/* The greeter's file from its package, in the private /etc/pam.d. */
static void greeter_file_in_place(const char *service)
{
	gchar *from = g_strdup_printf("%s/etc/pam.d/%s", GREETERS_DIR, service);
	gchar *to = g_strdup_printf("/etc/pam.d/%s", service);
	gchar *text = NULL;

	if (!g_file_get_contents(from, &text, NULL, NULL))
		fail_msg("no %s: make -C tests greeters downloads it", from);
	assert_true(g_file_set_contents(to, text, -1, NULL));
	assert_int_equal(chmod(to, 0644), 0);
	g_free(text);
	g_free(to);
	g_free(from);
}

/* pam_gnome_keyring's module, which every greeter's file names. */
static void gnome_keyring_module_present(void)
{
	if (access(SECUREDIR "/pam_gnome_keyring.so", R_OK) < 0)
		fail_msg("no " SECUREDIR "/pam_gnome_keyring.so: "
			 "libpam-gnome-keyring, see tests/deps.sh");
}

/* ---- the login ---- */

/*
 * What a greeter calls, as pamtester's operations; -v has it say each
 * operation and its result.
 */
#define GREETER_OPS                                                            \
	"authenticate", "acct_mgmt", "setcred(PAM_ESTABLISH_CRED)",            \
	    "open_session", "close_session"

/* In the child: pamtester, as root with the environment of a service. */
static void exec_pamtester(const char *const *argv)
{
	static const char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C", NULL};

	exec_with_env(argv, env);
}

/*
 * alice logs in through service, her password on pamtester's stdin, with a
 * new private /var/log; then every process of hers is killed and reaped but
 * her listener. pam_gnome_keyring's auto_start runs gnome-keyring-daemon as
 * her where it is installed, which leaves its starter at once: this process
 * adopts it (PR_SET_CHILD_SUBREAPER, see setup), so that no zombie is left.
 */
static void greeter_login(struct client *c, const char *service, pid_t listener)
{
	const char *argv[] = {"/usr/bin/pamtester", "-v", service, "alice",
			      GREETER_OPS,	    NULL};

	private_var_log();
	run_piped(c, exec_pamtester, argv, PW "\n");
	kill_processes_of(&t_alice, listener);
}

/*
 * The same exit code and output, and both logins done. What differs goes to
 * stderr whole: cmocka's message would cut it.
 */
static void assert_same_results(const struct client *stock,
				const struct client *with)
{
	if (stock->status == 0 && with->status == 0 &&
	    !strcmp(stock->out->str, with->out->str) &&
	    !strcmp(stock->err->str, with->err->str))
		return;
	fprintf(stderr,
		"--- stock stacks: exit %d, stdout:\n%s\nstderr:\n%s\n"
		"--- with pam_oo7: exit %d, stdout:\n%s\nstderr:\n%s\n"
		"--- log:\n%s",
		stock->status, stock->out->str, stock->err->str, with->status,
		with->out->str, with->err->str, t_logs());
	fail_msg("the logins did not both succeed alike (above)");
}

/*
 * A login through service on the stock stacks, then on those of the
 * shipped profile: the same results, and one unlock frame from pamtester.
 */
static void greeter_login_delivers_exactly_one_frame(const char *service)
{
	struct client stock, with;
	pid_t listener;

	private_pam_config();
	greeter_file_in_place(service);
	gnome_keyring_module_present();
	private_shadow_with(shadow_line("alice", PW, "$6$pamoo7greet$", 20000));
	listener = t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	greeter_login(&stock, service, listener);
	assert_no_frame();
	shipped_profile_applied();

	greeter_login(&with, service, listener);

	assert_same_results(&stock, &with);
	host_pid = with.pid;
	assert_unlock_frame(PW);
	assert_not_logged(PW);
	client_free(&stock);
	client_free(&with);
}

/* ---- the greeters ---- */

static void gdm_password_login_delivers_exactly_one_frame(void **state)
{
	(void)state;
	greeter_login_delivers_exactly_one_frame("gdm-password");
}

static void lightdm_login_delivers_exactly_one_frame(void **state)
{
	(void)state;
	greeter_login_delivers_exactly_one_frame("lightdm");
}

static void sddm_login_delivers_exactly_one_frame(void **state)
{
	(void)state;
	greeter_login_delivers_exactly_one_frame("sddm");
}

/* greetd's file includes login's, from the login package. */
static void greetd_login_delivers_exactly_one_frame(void **state)
{
	(void)state;
	greeter_login_delivers_exactly_one_frame("greetd");
}

/* ---- greeters' own sessions, and system users: nothing started ---- */

/* The system users that the greeters' packages create, here. */
static const struct tuser gdm_user = {"Debian-gdm", 120, 121};
static const struct tuser lightdm_user = {"lightdm", 121, 122};
static const struct tuser sddm_user = {"sddm", 122, 123};
static const struct tuser greetd_user = {"_greetd", 123, 124};
static const struct tuser postgres_user = {"postgres", 124, 125};

/* u in a private /etc/passwd, with its runtime folder. */
static void system_user_exists(const struct tuser *u)
{
	gchar *passwd = read_text("/etc/passwd");
	gchar *more = g_strdup_printf(
	    "%s%s:x:%u:%u::/nonexistent:/usr/sbin/nologin\n", passwd, u->name,
	    (unsigned int)u->uid, (unsigned int)u->gid);

	bind_text("/etc/passwd", "passwd", more, 0644);
	g_free(more);
	g_free(passwd);
	t_runtime_dir(u);
}

/*
 * The session of service for u, through pamtester, on the stacks of the
 * shipped profile (auto_start in common-session), with the stand-in
 * daemon where auto_start looks for one and class in /etc/environment
 * (which pam_env reads). Then: no daemon ran for u, no process of u is
 * left, and nothing was sent.
 */
static void session_starts_nothing(const char *service, const struct tuser *u,
				   const char *class)
{
	const char *argv[] = {
	    "/usr/bin/pamtester", "-v", service, u->name, "open_session",
	    "close_session",	  NULL};
	pid_t left[4];
	struct client c;

	daemon_where_auto_start_looks(); /* an overlay on /usr: first */
	private_pam_config();
	shipped_profile_applied();
	if (strcmp(service, "su"))
		greeter_file_in_place(service);
	gnome_keyring_module_present();
	bind_text("/etc/environment", "environment",
		  textf("XDG_SESSION_CLASS=%s\n", class), 0644);
	if (u != &t_alice)
		system_user_exists(u);
	private_var_log();

	run_piped(&c, exec_pamtester, argv, NULL);

	if (c.status != 0)
		fail_msg("pamtester: exit %d\n%s%s\n%s", c.status, c.out->str,
			 c.err->str, t_logs());
	assert_false(fake_daemon_ran(u));
	assert_int_equal(processes_of(u->uid, left, 4), 0);
	assert_no_frame();
	client_free(&c);
}

static void gdm_greeter_session_starts_nothing(void **state)
{
	(void)state;
	session_starts_nothing("gdm-launch-environment", &gdm_user, "greeter");
}

static void lightdm_greeter_session_starts_nothing(void **state)
{
	(void)state;
	session_starts_nothing("lightdm-greeter", &lightdm_user, "greeter");
}

static void sddm_greeter_session_starts_nothing(void **state)
{
	(void)state;
	session_starts_nothing("sddm-greeter", &sddm_user, "greeter");
}

static void greetd_greeter_session_starts_nothing(void **state)
{
	(void)state;
	session_starts_nothing("greetd-greeter", &greetd_user, "greeter");
}

/* A greeter's session of a user who is no system user: none either. */
static void greeter_class_starts_nothing_for_a_regular_uid(void **state)
{
	(void)state;
	session_starts_nothing("gdm-launch-environment", &t_alice, "greeter");
}

/* su - from root to a system user: a session, and no daemon. */
static void su_to_a_system_user_starts_nothing(void **state)
{
	(void)state;
	session_starts_nothing("su", &postgres_user, "user");
}

/*
 * UID_MIN of /etc/login.defs draws the line, not a number of the
 * module's own: above alice's uid, her session starts nothing either.
 */
static void uid_min_of_login_defs_counts(void **state)
{
	(void)state;
	bind_text("/etc/login.defs", "login.defs", "UID_MIN\t\t\t62000\n",
		  0644);
	session_starts_nothing("su", &t_alice, "user");
}

int greeters_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		gdm_password_login_delivers_exactly_one_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		lightdm_login_delivers_exactly_one_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		sddm_login_delivers_exactly_one_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		greetd_login_delivers_exactly_one_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(gdm_greeter_session_starts_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		lightdm_greeter_session_starts_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(sddm_greeter_session_starts_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		greetd_greeter_session_starts_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		greeter_class_starts_nothing_for_a_regular_uid, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(su_to_a_system_user_starts_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(uid_min_of_login_defs_counts, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("greeters", tests, NULL, NULL);
}
