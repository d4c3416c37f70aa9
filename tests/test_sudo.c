// SPDX-License-Identifier: MIT
/*
 * A password belongs to the user who typed it (README, "Security model").
 * Debian's real sudo and doas, on the stacks that the real pam-auth-update
 * makes from the shipped profile, authenticate alice and then open the
 * session for bob:
 * bob's daemon gets nothing of alice's, no daemon is started for bob with
 * it, and a password that is bob's (sudo's targetpw) still reaches bob.
 *
 * Everything a case changes is a private copy, bind-mounted in the tests'
 * namespace and unmounted when the case ends: /etc/pam.d, /etc/shadow,
 * /etc/sudoers, the PAM security folder, /usr/share/pam-configs,
 * /var/lib/pam and /var/cache/debconf (pam-auth-update writes both), an
 * overlay on /usr for the daemon that auto_start looks for, and for doas a
 * copy of /etc (doas reads only /etc/doas.conf, which the host lacks) and a
 * devpts instance for the terminal it reads the password from.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <glib.h>

#include "suite.h"

#define ALICE_PW "hunter2"
#define BOB_PW "correct horse"
/* Which listener a frame reached. */
#define ALICE_ID 1
#define BOB_ID 2
/* timestamp_timeout=0: no cached credential ever lets a case skip a prompt. */
#define SUDOERS                                                                \
	"Defaults env_reset, !lecture, timestamp_timeout=0\n"                  \
	"root ALL=(ALL:ALL) ALL\n"                                             \
	"alice ALL=(ALL:ALL) ALL\n"

/* The suite's: SIGCHLD at its default, a client must be reaped by collect. */
static int setup(void **state)
{
	return suite_setup(state);
}

/* Daemons by their pid files, then any process left of alice or bob here. */
static int teardown(void **state)
{
	int r;

	fake_daemon_kill(&t_alice);
	fake_daemon_kill(&t_bob);
	r = t_case_teardown(state);
	kill_processes_of(&t_alice, -1);
	kill_processes_of(&t_bob, -1);
	unmount_private();
	return r;
}

/* ---- the stacks, the users, the rules ---- */

/* A private /etc/shadow: alice and bob, each with a password. */
static void shadow_with_alice_and_bob(void)
{
	private_shadow_with(textf(
	    "%s%s", shadow_line("alice", ALICE_PW, "$6$pamoo7alice$", 20000),
	    shadow_line("bob", BOB_PW, "$6$pamoo7bob$", 20000)));
}

static void sudoers(const char *extra)
{
	gchar *text = g_strdup_printf("%s%s", SUDOERS, extra);

	bind_text("/etc/sudoers", "sudoers", text, 0440);
	g_free(text);
}

/* doas reads /etc/doas.conf, which the host has not: a private /etc. */
static void private_etc_with_doas_conf(void)
{
	char conf[300];

	bind_copy("/etc", "etc");
	snprintf(conf, sizeof(conf), "%s", t_path("etc/doas.conf"));
	assert_true(
	    g_file_set_contents(conf, "permit alice as bob\n", -1, NULL));
	assert_int_equal(chmod(conf, 0600), 0);
}

/*
 * doas with its session in common-session (as an administrator, or a
 * distribution whose doas includes its system-wide session stack, has it):
 * doas sets PAM_USER to bob after it authenticated alice, as sudo does.
 */
static void interactive_doas_session(void)
{
	edit_once("/etc/pam.d/doas", "common-session-noninteractive",
		  "common-session");
}

/*
 * Debian's PAM file of a program opens its session with
 * common-session-noninteractive, where the profile does not put the module.
 */
static void assert_noninteractive_session(const char *file)
{
	gchar *text = read_text(file);

	assert_has(text, "@include common-session-noninteractive\n");
	assert_lacks(text, "@include common-session\n");
	g_free(text);
}

/*
 * What alice and bob have: their daemons listening as oo7 0.6 runs them, or
 * none running (then auto_start finds one at DAEMON_PATH).
 */
enum daemons { DAEMONS_LISTEN, NO_DAEMON_RUNS };

/* The last step of a machine: their daemons, or their runtime folders. */
static void daemons_of_alice_and_bob(enum daemons d)
{
	if (d == NO_DAEMON_RUNS) {
		t_runtime_dir(&t_alice);
		t_runtime_dir(&t_bob);
		return;
	}
	daemon_listens_for(&t_alice, ALICE_ID);
	daemon_listens_for(&t_bob, BOB_ID);
}

/*
 * For sudo: the stacks of the shipped profile, alice and bob in
 * /etc/shadow, sudoers with extra, and d (the overlay on /usr first).
 */
static void machine_for_sudo(const char *extra, enum daemons d)
{
	skip_if_the_module_is_sanitized();
	if (d == NO_DAEMON_RUNS)
		daemon_where_auto_start_looks();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers(extra);
	daemons_of_alice_and_bob(d);
}

/*
 * For doas: the same with a private /etc that has doas.conf, and with
 * common-session in doas's file if interactive_session.
 */
static void machine_for_doas(bool interactive_session, enum daemons d)
{
	skip_if_the_module_is_sanitized();
	if (d == NO_DAEMON_RUNS)
		daemon_where_auto_start_looks();
	private_etc_with_doas_conf();
	stacks_from_the_shipped_profile();
	if (interactive_session)
		interactive_doas_session();
	shadow_with_alice_and_bob();
	daemons_of_alice_and_bob(d);
}

/* ---- running a client as alice ---- */

/* sudo -S -k [-i] -u bob /usr/bin/id, run by alice, password on stdin. */
static void run_sudo(struct client *c, const char *login, const char *pw)
{
	const char *argv[8] = {"/usr/bin/sudo", "-S", "-k"};
	size_t k = 3;

	if (login)
		argv[k++] = login;
	argv[k++] = "-u";
	argv[k++] = "bob";
	argv[k++] = "/usr/bin/id";
	run_piped(c, exec_as_alice, argv, textf("%s\n", pw));
}

/*
 * doas -u bob /usr/bin/id, run by alice on a terminal of its own (doas reads
 * the password from /dev/tty only).
 */
static void run_doas(struct client *c, const char *pw)
{
	const char *argv[] = {"/usr/bin/doas", "-u", "bob", "/usr/bin/id",
			      NULL};
	const struct exchange script[] = {{"password:", pw, false},
					  {NULL, NULL, false}};

	run_on_terminal(c, exec_as_alice, argv, script);
}

static void assert_ran_id_as_bob(const struct client *c)
{
	char id_of_bob[128];

	snprintf(id_of_bob, sizeof(id_of_bob),
		 "uid=%u(bob) gid=%u(bob) groups=%u(bob)\n",
		 (unsigned int)t_bob.uid, (unsigned int)t_bob.gid,
		 (unsigned int)t_bob.gid);
	if (c->status != 0 || !strstr(c->out->str, id_of_bob))
		fail_msg("exit %d, stdout:\n%s\nstderr:\n%s", c->status,
			 c->out->str, c->err->str);
}

/* ---- what the daemons got ---- */

static const char *whose(const void *pw, size_t len)
{
	if (len == strlen(ALICE_PW) && !memcmp(pw, ALICE_PW, len))
		return "alice's password";
	if (len == strlen(BOB_PW) && !memcmp(pw, BOB_PW, len))
		return "bob's password";
	return len ? "another password" : "no password";
}

/* One line per frame: which listener, from whom, for whom, whose. */
static void describe_frames(GString *s, const struct record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct decoded d;

		g_string_append_printf(s, "  to %s's listener, from uid %u: ",
				       r[i].id == BOB_ID ? "bob" : "alice",
				       (unsigned)r[i].uid);
		if (!frame_decode(r[i].data, r[i].len, false, &d)) {
			g_string_append(s, "not a valid frame\n");
			continue;
		}
		g_string_append_printf(s, "op %u for \"%s\" with %s\n", d.op,
				       d.user,
				       whose(g_bytes_get_data(d.new, NULL),
					     g_bytes_get_size(d.new)));
		decoded_free(&d);
	}
}

static void assert_nobody_got_a_frame(void)
{
	struct record *all;
	size_t n = t_frames(&all);
	GString *s = g_string_new(NULL);

	describe_frames(s, all, n);
	records_free(all, n);
	if (n)
		fail_msg("%zu frame(s) sent:\n%s", n, s->str);
	g_string_free(s, TRUE);
}

/* Whose password a fake daemon's record says it got on stdin. */
static const char *stdin_of(const char *record)
{
	if (strstr(record, stdin_line(ALICE_PW)))
		return "alice's password";
	if (strstr(record, stdin_line(BOB_PW)))
		return "bob's password";
	if (strstr(record, "\nstdin \n"))
		return "nothing";
	return "another password";
}

/*
 * No daemon was started as u: no process of u here, no pid file. The module
 * returns from a start only once the daemon has been executed (or its
 * timeout has passed), so a daemon started in the client's session runs by
 * the time the client has exited: this needs no wait. If one runs, what it
 * got on stdin goes into the failure message.
 */
static void assert_no_daemon_started_for(const struct tuser *u)
{
	pid_t pids[8];
	size_t n = processes_of(u->uid, pids, 8);
	gchar *rec;

	if (!n && !fake_daemon_ran(u))
		return;
	rec = fake_daemon_record(u);
	fail_msg("%zu process(es) of %s, a daemon started with %s; record:\n%s",
		 n, u->name, rec ? stdin_of(rec) : "(none)", rec ? rec : "");
}

/* The client ran id as bob, and no daemon was started for bob or alice. */
static void assert_no_daemon_started(const struct client *c)
{
	assert_ran_id_as_bob(c);
	/* Nothing for a password that is not bob's, not even a locked one. */
	assert_no_daemon_started_for(&t_bob);
	assert_no_daemon_started_for(&t_alice);
}

/* The client ran id as bob; no frame went anywhere, no password logged. */
static void assert_bob_got_nothing(const struct client *c)
{
	assert_ran_id_as_bob(c);
	assert_nobody_got_a_frame();
	assert_not_logged(ALICE_PW);
}

/*
 * ==== The refusal's log line: adjust its wording here, and only here ====
 * When the kept password is not the PAM user's, the module logs one line at
 * LOG_NOTICE naming both users (the lead's wording says "kept for").
 * Asserted loosely: exactly one line from pam_oo7 holds both names, at
 * LOG_NOTICE (facility and severity are in syslog's <PRI> prefix).
 */
static void assert_refusal_logged(const char *owner, const char *pam_user)
{
	gchar **lines = g_strsplit(t_logs(), "\n", -1);
	int found = 0, notice = 0;

	for (gchar **l = lines; *l; l++) {
		if (!strstr(*l, "pam_oo7(") || !strstr(*l, owner) ||
		    !strstr(*l, pam_user))
			continue;
		found++;
		if (**l == '<' && (atoi(*l + 1) & LOG_PRIMASK) == LOG_NOTICE)
			notice++;
	}
	g_strfreev(lines);
	if (found != 1 || notice != 1)
		fail_msg("want one pam_oo7 line at LOG_NOTICE naming %s and "
			 "%s, found %d (%d at LOG_NOTICE):\n%s",
			 owner, pam_user, found, notice, t_logs());
}
/* ==== end of the refusal's log line ==== */

/* ---- sudo, with daemons listening for alice and bob ---- */

static void sudo_i_to_bob_with_alices_password_gives_bob_nothing(void **state)
{
	struct client c;

	(void)state;
	machine_for_sudo("", DAEMONS_LISTEN);

	run_sudo(&c, "-i", ALICE_PW);

	/* Not bob's password; and sudo's session is bob's, not alice's. */
	assert_bob_got_nothing(&c);
	assert_refusal_logged("alice", "bob");
	client_free(&c);
}

static void sudo_u_bob_with_alices_password_gives_bob_nothing(void **state)
{
	struct client c;

	(void)state;
	assert_noninteractive_session("/etc/pam.d/sudo");
	machine_for_sudo("", DAEMONS_LISTEN);

	run_sudo(&c, NULL, ALICE_PW);

	assert_bob_got_nothing(&c);
	assert_not_logged("pam_oo7(sudo:session)");
	client_free(&c);
}

/* The control: with targetpw alice types bob's password, which is his. */
static void sudo_with_targetpw_delivers_bobs_password_to_bob(void **state)
{
	struct client c;
	struct record *all;
	size_t n;

	(void)state;
	machine_for_sudo("Defaults targetpw\n", DAEMONS_LISTEN);

	run_sudo(&c, "-i", BOB_PW);

	assert_ran_id_as_bob(&c);
	n = t_frames(&all);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].id, BOB_ID);
	assert_int_equal(all[0].uid, 0);
	assert_int_equal(all[0].pid, c.pid);
	assert_record_is_frame(&all[0], 0, "bob", "", BOB_PW);
	assert_not_logged(BOB_PW);
	records_free(all, n);
	client_free(&c);
}

/* ---- sudo, with no daemon running and auto_start in the profile ---- */

static void
sudo_i_to_bob_with_alices_password_starts_no_daemon_for_bob(void **state)
{
	struct client c;

	(void)state;
	machine_for_sudo("", NO_DAEMON_RUNS);

	run_sudo(&c, "-i", ALICE_PW);

	assert_no_daemon_started(&c);
	assert_refusal_logged("alice", "bob");
	client_free(&c);
}

static void
sudo_u_bob_with_alices_password_starts_no_daemon_for_bob(void **state)
{
	struct client c;

	(void)state;
	machine_for_sudo("", NO_DAEMON_RUNS);

	run_sudo(&c, NULL, ALICE_PW);

	assert_no_daemon_started(&c);
	client_free(&c);
}

/* The control: bob's own password starts bob's daemon with it. */
static void
sudo_with_targetpw_starts_bobs_daemon_with_bobs_password(void **state)
{
	struct client c;
	gchar *rec;

	(void)state;
	machine_for_sudo("Defaults targetpw\n", NO_DAEMON_RUNS);

	run_sudo(&c, "-i", BOB_PW);

	assert_ran_id_as_bob(&c);
	rec = started_daemon_record(&t_bob);
	assert_has(rec, "argv " DAEMON_PATH " --login\n");
	assert_has(rec, ids_line(&t_bob));
	assert_has(rec, stdin_line(BOB_PW));
	assert_no_daemon_started_for(&t_alice);
	g_free(rec);
	client_free(&c);
}

/* ---- doas ---- */

/* Debian's /etc/pam.d/doas, like sudo's, has no interactive session. */
static void doas_u_bob_with_alices_password_gives_bob_nothing(void **state)
{
	struct client c;

	(void)state;
	assert_noninteractive_session("/etc/pam.d/doas");
	machine_for_doas(false, DAEMONS_LISTEN);

	run_doas(&c, ALICE_PW);

	assert_bob_got_nothing(&c);
	client_free(&c);
}

static void doas_with_the_module_in_its_session_gives_bob_nothing(void **state)
{
	struct client c;

	(void)state;
	machine_for_doas(true, DAEMONS_LISTEN);

	run_doas(&c, ALICE_PW);

	assert_bob_got_nothing(&c);
	assert_refusal_logged("alice", "bob");
	client_free(&c);
}

static void
doas_with_the_module_in_its_session_starts_no_daemon_for_bob(void **state)
{
	struct client c;

	(void)state;
	machine_for_doas(true, NO_DAEMON_RUNS);

	run_doas(&c, ALICE_PW);

	assert_no_daemon_started(&c);
	assert_refusal_logged("alice", "bob");
	client_free(&c);
}

int sudo_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		sudo_i_to_bob_with_alices_password_gives_bob_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		sudo_u_bob_with_alices_password_gives_bob_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		sudo_with_targetpw_delivers_bobs_password_to_bob, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		sudo_i_to_bob_with_alices_password_starts_no_daemon_for_bob,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		sudo_u_bob_with_alices_password_starts_no_daemon_for_bob, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		sudo_with_targetpw_starts_bobs_daemon_with_bobs_password, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		doas_u_bob_with_alices_password_gives_bob_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		doas_with_the_module_in_its_session_gives_bob_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		doas_with_the_module_in_its_session_starts_no_daemon_for_bob,
		setup, teardown),
	};

	return cmocka_run_group_tests_name("sudo", tests, NULL, NULL);
}
