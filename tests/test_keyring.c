// SPDX-License-Identifier: MIT
/*
 * The keyring follows the password: a screen locker's auth then setcred,
 * a password change with no daemon running, a change that has to wait for
 * the session, a password set by root. The stand-in daemon (fake_daemon.c)
 * models the keyring as oo7-daemon 0.6 treats it (its password, locked or
 * not: README, "Tests"), and each case asserts on that state at its end,
 * as well as on the frames that reached it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <security/pam_appl.h>

#include "suite.h"

static int setup(void **state)
{
	return suite_setup(state);
}

/* A case may start the fake daemon: none is left running. */
static int teardown(void **state)
{
	daemons_stop();
	return t_case_teardown(state);
}

#define OLD_PW "hunter2"
#define NEW_PW "correct horse"

/* pam_oo7 runs with the password read; a later module fails the login. */
#define STACK_FAILING                                                          \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ debug\n"                                   \
	"auth     required pam_deny.so\n"                                      \
	"session  optional @MODULE@ debug\n"

/* As the shipped profile writes it: auto_start on the session line only. */
#define STACK_SESSION_STARTS                                                   \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ debug daemon=" FAKE_DAEMON "\n"            \
	"session  optional @MODULE@ debug auto_start daemon=" FAKE_DAEMON "\n" \
	"password required @FIXTURE@\n"                                        \
	"password optional @MODULE@ debug daemon=" FAKE_DAEMON "\n"

/* passwd run by root for alice: no old password is asked for. */
#define STACK_NO_OLD                                                           \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ debug\n"                                   \
	"session  optional @MODULE@ debug\n"                                   \
	"password required @FIXTURE@ no_old\n"                                 \
	"password optional @MODULE@ debug\n"

/* A frame as the daemon should have got it. */
struct want {
	uint8_t op;
	const char *old, *new;
};
#define UNLOCK(pw) ((struct want){0, "", (pw)})
#define CHANGE(o, n) ((struct want){1, (o), (n)})

static const char *op_name(uint8_t op)
{
	return op == 0 ? "unlock" : op == 1 ? "change" : "?";
}

/*
 * u's daemon got exactly these n frames, in this order, each one from this
 * process as root, for u.
 */
static void assert_daemon_got(const struct tuser *u, size_t n,
			      const struct want *want)
{
	struct record *all;
	size_t got = fake_daemon_frames(u, &all);
	struct decoded d;

	if (got != n) {
		GString *ops = g_string_new(NULL);

		for (size_t i = 0; i < got; i++)
			if (frame_decode(all[i].data, all[i].len, false, &d)) {
				g_string_append_printf(ops, " %s",
						       op_name(d.op));
				decoded_free(&d);
			}
		records_free(all, got);
		fail_msg("%s's daemon got %zu frame(s) (%s), not %zu", u->name,
			 got, got ? ops->str + 1 : "none", n);
	}
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(all[i].uid, 0);
		assert_int_equal(all[i].pid, getpid());
		assert_true(frame_decode(all[i].data, all[i].len, false, &d));
		assert_string_equal(op_name(d.op), op_name(want[i].op));
		assert_string_equal(d.user, u->name);
		assert_int_equal(g_bytes_get_size(d.old), strlen(want[i].old));
		assert_int_equal(g_bytes_get_size(d.new), strlen(want[i].new));
		assert_memory_equal(g_bytes_get_data(d.old, NULL), want[i].old,
				    strlen(want[i].old));
		assert_memory_equal(g_bytes_get_data(d.new, NULL), want[i].new,
				    strlen(want[i].new));
		decoded_free(&d);
	}
	records_free(all, got);
}

/* The pid in a daemon's record. */
static pid_t pid_in(const char *record)
{
	const char *line = strstr(record, "\npid ");

	assert_non_null(line);
	return atoi(line + 5);
}

/*
 * u's keyring with this password, and u's daemon up as in a session (its
 * bus there, started by the session's manager without a password): the
 * keyring is locked.
 */
static void daemon_up(const struct tuser *u, const char *password)
{
	keyring_create(u, password, true);
	session_bus_create(u);
	fake_daemon_start(u, NULL);
	assert_keyring(u, password, true);
}

/* The host has no child left that it did not start itself. */
static void assert_no_child_left(void)
{
	pid_t r = waitpid(-1, NULL, WNOHANG);

	if (!(r == 0 || (r < 0 && errno == ECHILD)))
		fail_msg("the module left a child behind: %d", (int)r);
}

/* alice's keyring unlocked with pw, by the one frame that her daemon got. */
static void assert_unlocked_with(const char *pw)
{
	assert_keyring(&t_alice, pw, false);
	assert_daemon_got(&t_alice, 1, &UNLOCK(pw));
}

/* u's keyring still locked with OLD_PW: u's daemon got no frame. */
static void assert_still_locked(const struct tuser *u)
{
	assert_keyring(u, OLD_PW, true);
	assert_daemon_got(u, 0, NULL);
}

/* alice's answers: her password, once. */
static const char *const old_pw[] = {OLD_PW, NULL};

/* A handle of "login" for alice, authenticated with answers. */
static pam_handle_t *alice_authenticated(const char *const *answers)
{
	pam_handle_t *pamh = t_pam_start("login", "alice", answers);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	return pamh;
}

/* The service login as text has it, alice's daemon up with pw: her handle. */
static pam_handle_t *handle_with_her_daemon_up(const char *text, const char *pw,
					       const char *const *answers)
{
	t_service("login", text);
	daemon_up(&t_alice, pw);
	return t_pam_start("login", "alice", answers);
}

/* With debug, and alice's daemon up: a handle of hers, authenticated. */
static pam_handle_t *authenticated_with_her_daemon_up(void)
{
	stack("debug");
	daemon_up(&t_alice, OLD_PW);
	return alice_authenticated(old_pw);
}

/* ---- screen lockers: auth, then setcred ---- */

/* A locker: setcred with flag on pamh, where alice authenticated. */
static void unlock_screen(pam_handle_t *pamh, int flag)
{
	assert_int_equal(pam_setcred(pamh, flag), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);
}

/* The locker's setcred(flag) unlocks the keyring of a running daemon. */
static void screen_unlock_unlocks_a_running_daemons_keyring(int flag)
{
	unlock_screen(authenticated_with_her_daemon_up(), flag);

	assert_unlocked_with(OLD_PW);
}

static void
auth_then_refresh_cred_unlocks_a_running_daemons_keyring(void **state)
{
	(void)state;
	screen_unlock_unlocks_a_running_daemons_keyring(PAM_REFRESH_CRED);
}

static void auth_then_reinitialize_cred_unlocks_it(void **state)
{
	(void)state;
	screen_unlock_unlocks_a_running_daemons_keyring(PAM_REINITIALIZE_CRED);
}

/*
 * pam_oo7 runs with PAM_AUTHTOK set (its debug line, and no complaint that
 * there is none), and pam_deny after it fails the attempt.
 */
static void failed_auth_sends_nothing(void **state)
{
	pam_handle_t *pamh;

	(void)state;
	pamh = handle_with_her_daemon_up(STACK_FAILING, OLD_PW, old_pw);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
	pam_end(pamh, PAM_AUTH_ERR);

	assert_logged("pam_oo7(login:auth)");
	assert_not_logged("No password to unlock the keyring with");
	assert_still_locked(&t_alice);
}

/* auto_start on every line, a keyring and a bus: still, none starts. */
static void setcred_refresh_starts_no_daemon(void **state)
{
	(void)state;
	stack("debug auto_start daemon=%s", FAKE_DAEMON);
	keyring_create(&t_alice, OLD_PW, true);
	session_bus_create(&t_alice);

	unlock_screen(alice_authenticated(old_pw), PAM_REFRESH_CRED);

	/* a start returns once the daemon is executed: no wait needed */
	assert_int_equal(fake_daemons_of(&t_alice), 0);
	assert_false(fake_daemon_ran(&t_alice));
	assert_still_locked(&t_alice);
}

/*
 * alice's login, her daemon up: setcred(first), the session, then
 * setcred(then) unless then is 0.
 */
static void login_with_setcred(int first, int then)
{
	pam_handle_t *pamh = authenticated_with_her_daemon_up();

	assert_int_equal(pam_setcred(pamh, first), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	if (then)
		assert_int_equal(pam_setcred(pamh, then), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);
}

/* As util-linux login runs it. */
static void full_login_delivers_exactly_one_frame(void **state)
{
	(void)state;
	login_with_setcred(PAM_ESTABLISH_CRED, PAM_REINITIALIZE_CRED);

	assert_unlocked_with(OLD_PW);
}

static void delete_cred_wipes_the_kept_password(void **state)
{
	(void)state;
	login_with_setcred(PAM_DELETE_CRED, 0);

	assert_still_locked(&t_alice);
}

/* The ownership rule holds for setcred too. */
static void refresh_cred_for_another_user_sends_nothing(void **state)
{
	pam_handle_t *pamh;

	(void)state;
	stack("debug");
	daemon_up(&t_alice, OLD_PW);
	daemon_up(&t_bob, OLD_PW);
	pamh = alice_authenticated(old_pw);

	assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);
	pam_setcred(pamh, PAM_REFRESH_CRED);
	pam_end(pamh, PAM_SUCCESS);

	assert_still_locked(&t_bob);
	assert_daemon_got(&t_alice, 0, NULL);
}

/* ---- screen lockers that call pam_authenticate alone ---- */

/*
 * xsecurelock's helper, physlock, vlock and slock run as the user (vlock
 * and physlock set-user-ID root, their real uid the user's), call
 * pam_authenticate, then pam_end with its result; no setcred, no session.
 * Here, a child of this process running as alice: the handle of "login"
 * for alice, authenticated with answers, then PAM_USER set to then (if
 * not NULL), and ended with status.
 */
struct locker {
	const char *const *answers;
	const char *then; /* PAM_USER set to it after auth, if not NULL */
	int status;	  /* given to pam_end */
};

static int locker(const void *arg)
{
	const struct locker *l = arg;
	pam_handle_t *pamh = t_pam_start("login", "alice", l->answers);

	if (pam_authenticate(pamh, 0) != PAM_SUCCESS)
		return 4;
	if (l->then && pam_set_item(pamh, PAM_USER, l->then) != PAM_SUCCESS)
		return 5;
	pam_end(pamh, l->status);
	return 0;
}

static void locker_as_alice(const char *const *answers, const char *then,
			    int status)
{
	struct locker l = {answers, then, status};

	assert_int_equal(as_alice(locker, &l), 0);
}

/* The password reaches a running daemon at a pam_end with PAM_SUCCESS. */
static void auth_alone_unlocks_a_running_daemons_keyring(void **state)
{
	(void)state;
	stack("debug");
	daemon_up(&t_alice, OLD_PW);

	locker_as_alice(old_pw, NULL, PAM_SUCCESS);

	assert_keyring(&t_alice, OLD_PW, false);
	assert_int_equal(fake_daemon_frames_acted_on(&t_alice), 1);
}

/*
 * A host that is not alice's (sshd, whose pam_end says PAM_SUCCESS after a
 * good password even when a key then fails; LightDM, whose pam_end says
 * PAM_SUCCESS after a failure): nothing at pam_end. Only a process whose
 * real uid is the user's, a locker, vouches so for a password.
 */
static void auth_alone_in_a_host_of_another_uid_sends_nothing(void **state)
{
	(void)state;
	pam_end(authenticated_with_her_daemon_up(), PAM_SUCCESS);

	assert_still_locked(&t_alice);
}

/*
 * A hand-written stack where pam_oo7's auth line runs though the attempt
 * fails (pam_deny after it): a setcred after the failed attempt (swaylock's,
 * when its parent is gone) sends what was typed to her own daemon alone,
 * which refuses a wrong password. The stacks README gives never run that
 * line after a refusal (test_real_login.c).
 */
static void
refused_attempt_on_a_hand_written_stack_reaches_only_her_daemon(void **state)
{
	const char *const wrong[] = {"wrong", NULL};
	pam_handle_t *pamh;

	(void)state;
	pamh = handle_with_her_daemon_up(STACK_FAILING, OLD_PW, wrong);
	daemon_up(&t_bob, OLD_PW);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
	pam_setcred(pamh, PAM_REFRESH_CRED);
	pam_end(pamh, PAM_AUTH_ERR);

	assert_keyring(&t_alice, OLD_PW, true);
	assert_daemon_got(&t_alice, 1, &UNLOCK("wrong"));
	assert_still_locked(&t_bob);
}

/* auto_start on the auth line and a bus: auth alone starts nothing. */
static void auth_alone_starts_no_daemon(void **state)
{
	(void)state;
	stack("debug auto_start daemon=%s", FAKE_DAEMON);
	keyring_create(&t_alice, OLD_PW, true);
	session_bus_create(&t_alice);

	locker_as_alice(old_pw, NULL, PAM_SUCCESS);

	assert_int_equal(fake_daemons_of(&t_alice), 0);
	assert_false(fake_daemon_ran(&t_alice));
	assert_still_locked(&t_alice);
	/* libpam names no module at pam_end: the line does */
	assert_logged("pam_oo7(pam_end): No daemon runs at the end of the "
		      "authentication");
}

/* PAM_USER changed after auth: pam_end sends to no one. */
static void auth_alone_for_another_user_sends_nothing(void **state)
{
	(void)state;
	stack("debug");
	daemon_up(&t_alice, OLD_PW);
	daemon_up(&t_bob, OLD_PW);

	locker_as_alice(old_pw, "bob", PAM_SUCCESS);

	assert_still_locked(&t_bob);
	assert_still_locked(&t_alice);
}

/*
 * A host that forks ends the handle in its child with PAM_DATA_SILENT (the
 * parent goes on with it): nothing is sent there.
 */
static void pam_end_with_data_silent_sends_nothing(void **state)
{
	(void)state;
	stack("debug");
	daemon_up(&t_alice, OLD_PW);

	locker_as_alice(old_pw, NULL, PAM_SUCCESS | PAM_DATA_SILENT);

	assert_still_locked(&t_alice);
}

/* ---- password changes ---- */

/*
 * pid is gone (no process, not even a zombie) within ms. A process that
 * exited is gone once reaped, by the module (its child) or
 * by init: the poll only bounds the wait for the second.
 */
static bool process_gone(pid_t pid, int ms)
{
	for (int waited = 0; kill(pid, 0) == 0 || errno != ESRCH; waited += 10)
		if (waited >= ms || poll(NULL, 0, 10) < 0)
			return false;
	return true;
}

/*
 * alice's password changed with these options (after debug) and no daemon
 * running, her keyring unlocked: a daemon is started for the change
 * (argv_line in its record, if given), without a password, so that the
 * keyring it re-keys comes up locked. Its pid.
 */
static pid_t change_starts_a_daemon(const char *options, const char *argv_line)
{
	char *rec;
	pid_t pid;

	stack("debug %s", options);
	keyring_create(&t_alice, OLD_PW, false);
	session_bus_create(&t_alice);

	assert_int_equal(t_chauthtok("login", "alice", OLD_PW, NEW_PW),
			 PAM_SUCCESS);

	rec = started_daemon_record(&t_alice);
	if (argv_line)
		assert_has(rec, argv_line);
	pid = pid_in(rec);
	g_free(rec);
	assert_keyring(&t_alice, NEW_PW, true);
	assert_daemon_got(&t_alice, 1, &CHANGE(OLD_PW, NEW_PW));
	return pid;
}

/* No auto_start: the module re-keys, and stops the daemon again. */
static void change_with_no_daemon_starts_one_rekeys_and_stops_it(void **state)
{
	pid_t pid;

	(void)state;
	pid = change_starts_a_daemon("daemon=" FAKE_DAEMON,
				     "argv " FAKE_DAEMON "\n");

	if (!process_gone(pid, 2000))
		fail_msg("the daemon started for the change (pid %d) is "
			 "still there",
			 (int)pid);
	assert_no_child_left();
}

/* auto_start on the password line: the daemon stays, nobody's child. */
static void
change_with_auto_start_leaves_the_started_daemon_running(void **state)
{
	pid_t pid;

	(void)state;
	pid = change_starts_a_daemon("auto_start daemon=" FAKE_DAEMON, NULL);

	assert_int_equal(fake_daemons_of(&t_alice), 1);
	assert_int_equal(kill(pid, 0), 0);
	assert_int_not_equal(parent_of(pid), getpid());
	assert_no_child_left();
}

static void keep_nothing(void)
{
}

/*
 * An expired password changed at login, as util-linux login runs it: auth,
 * the change, setcred(ESTABLISH), the session, setcred(REINITIALIZE);
 * between() runs after the change.
 */
static void expired_login(void (*between)(void))
{
	const char *answers[] = {OLD_PW, OLD_PW, NEW_PW, NEW_PW, NULL};
	pam_handle_t *pamh = alice_authenticated(answers);

	assert_int_equal(pam_chauthtok(pamh, PAM_CHANGE_EXPIRED_AUTHTOK),
			 PAM_SUCCESS);
	between();
	assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(pamh, PAM_REINITIALIZE_CRED), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);
}

/* alice's keyring re-keyed, then unlocked with the new password. */
static void assert_rekeyed_then_unlocked(void)
{
	assert_keyring(&t_alice, NEW_PW, false);
	assert_daemon_got(
	    &t_alice, 2,
	    (struct want[]){CHANGE(OLD_PW, NEW_PW), UNLOCK(NEW_PW)});
}

static void
change_then_session_on_one_handle_unlocks_with_the_new_password(void **state)
{
	(void)state;
	stack("debug");
	daemon_up(&t_alice, OLD_PW);

	expired_login(keep_nothing);

	assert_rekeyed_then_unlocked();
}

/*
 * The daemon started for the change found no session bus (the change was
 * not delivered, the keyring is as it was); then pam_systemd makes it.
 */
static void bus_comes_up(void)
{
	char *rec = fake_daemon_record(&t_alice);

	if (!rec || strcmp(rec, "nobus\n"))
		fail_msg("no daemon was started for the change, or it found "
			 "a bus; its record:\n%s",
			 rec ? rec : "(none)");
	g_free(rec);
	assert_keyring(&t_alice, OLD_PW, false);
	assert_daemon_got(&t_alice, 0, NULL);
	assert_int_equal(unlink(runtime_path(&t_alice, "fake-daemon.record")),
			 0);
	session_bus_create(&t_alice);
}

static void
change_without_a_bus_is_pending_and_the_session_delivers_it(void **state)
{
	char *rec;

	(void)state;
	t_service("login", STACK_SESSION_STARTS);
	keyring_create(&t_alice, OLD_PW, false);

	expired_login(bus_comes_up);

	rec = started_daemon_record(&t_alice);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_has(rec, stdin_line(NEW_PW));
	g_free(rec);
	assert_rekeyed_then_unlocked();
}

static void root_sets_password_new_one_is_kept_for_the_session(void **state)
{
	const char *answers[] = {NEW_PW, NEW_PW, NULL};
	pam_handle_t *pamh;

	(void)state;
	pamh = handle_with_her_daemon_up(STACK_NO_OLD, NEW_PW, answers);

	assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_unlocked_with(NEW_PW);
}

/*
 * alice's change is pending (her daemon found no bus); the session is
 * bob's, whose keyring has alice's old password: he gets nothing, and no
 * daemon is started for either.
 */
static void pending_change_is_not_used_for_another_user(void **state)
{
	const char *answers[] = {OLD_PW, NEW_PW, NEW_PW, NULL};
	pam_handle_t *pamh;
	char *rec;

	(void)state;
	t_service("login", STACK_SESSION_STARTS);
	keyring_create(&t_alice, OLD_PW, false);
	daemon_up(&t_bob, OLD_PW);
	pamh = t_pam_start("login", "alice", answers);

	assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
	rec = started_daemon_record(&t_alice);
	assert_string_equal(rec, "nobus\n");
	g_free(rec);
	session_bus_create(&t_alice);
	assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_still_locked(&t_bob);
	assert_int_equal(fake_daemons_of(&t_alice), 0);
	assert_keyring(&t_alice, OLD_PW, false);
	assert_daemon_got(&t_alice, 0, NULL);
}

int keyring_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		auth_then_refresh_cred_unlocks_a_running_daemons_keyring, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		auth_then_reinitialize_cred_unlocks_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(failed_auth_sends_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(setcred_refresh_starts_no_daemon,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		full_login_delivers_exactly_one_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(delete_cred_wipes_the_kept_password,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		refresh_cred_for_another_user_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		auth_alone_unlocks_a_running_daemons_keyring, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		auth_alone_in_a_host_of_another_uid_sends_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		refused_attempt_on_a_hand_written_stack_reaches_only_her_daemon,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(auth_alone_starts_no_daemon, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		auth_alone_for_another_user_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		pam_end_with_data_silent_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		change_with_no_daemon_starts_one_rekeys_and_stops_it, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		change_with_auto_start_leaves_the_started_daemon_running, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		change_then_session_on_one_handle_unlocks_with_the_new_password,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		change_without_a_bus_is_pending_and_the_session_delivers_it,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		root_sets_password_new_one_is_kept_for_the_session, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		pending_change_is_not_used_for_another_user, setup, teardown),
	};

	return cmocka_run_group_tests_name("keyring", tests, NULL, NULL);
}
