// SPDX-License-Identifier: MIT
/*
 * The module with no option but the stack lines of oo7's own module,
 * against a stand-in of each oo7 release (fake_daemon.c: its decoder's
 * strictness, its reply or silence, what it drops, and a keyring it
 * opens and re-keys as that release does). Each case asserts what the user
 * sees: the keyring opened by the login's password, then re-keyed by a
 * change, with exactly one frame acted on for each; and, started by the
 * user's service manager, the same daemon opened by the login. These are
 * the rows of README's "Compatibility" table.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "suite.h"

/* The manager and alice's bus of a case: stopped by pid in its teardown. */
static pid_t kids[2];
static int n_kids;

static int setup(void **state)
{
	return suite_setup(state);
}

/* Some cases run a manager and alice's bus: those stopped too, by pid. */
static int teardown(void **state)
{
	fake_daemon_kill(&t_alice);
	while (n_kids)
		t_stop_child(kids[--n_kids]);
	daemons_stop();
	return t_case_teardown(state);
}

/* alice's keyring, locked with hunter2, and a daemon of release g. */
static void locked_keyring_with_a_daemon_of(enum generation g)
{
	keyring_create(&t_alice, "hunter2", true);
	session_bus_create(&t_alice);
	generation_of_the_daemon(&t_alice, g);
	fake_daemon_start(&t_alice, NULL);
}

/*
 * A login opens the keyring; a change re-keys it. oo7 0.6 unlinks its
 * socket after one connection, so the change goes to a daemon of the same
 * release started again, as after a restart.
 */
static void release_takes_an_unlock_then_a_change(enum generation g)
{
	stack_default();
	locked_keyring_with_a_daemon_of(g);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_keyring(&t_alice, "hunter2", false);
	assert_int_equal(fake_daemon_frames_acted_on(&t_alice), 1);
	if (g == OO7_06) {
		fake_daemon_kill(&t_alice);
		fake_daemon_start(&t_alice, "hunter2");
	}

	assert_int_equal(t_chauthtok("login", "alice", "hunter2", "newpw"),
			 PAM_SUCCESS);

	assert_keyring(&t_alice, "newpw", false);
	assert_int_equal(fake_daemon_frames_acted_on(&t_alice), 2);
	assert_not_logged("encoding=");
}

static void oo7_0_6_takes_an_unlock_then_a_change(void **state)
{
	(void)state;
	release_takes_an_unlock_then_a_change(OO7_06);
}

static void oo7_0_7_0_alpha_takes_an_unlock_then_a_change(void **state)
{
	(void)state;
	release_takes_an_unlock_then_a_change(OO7_07_ALPHA);
}

static void oo7_main_takes_an_unlock_then_a_change(void **state)
{
	(void)state;
	release_takes_an_unlock_then_a_change(OO7_MAIN);
}

/*
 * auto_start with no daemon running: the user's service manager starts
 * oo7-daemon.service, which comes up locked, and the unlock opens it.
 */
static void release_started_by_the_manager_is_opened(enum generation g)
{
	stack("auto_start");
	keyring_create(&t_alice, "hunter2", true);
	generation_of_the_daemon(&t_alice, g);
	kids[n_kids++] = t_bus_up(NULL, NULL);
	assert_true(kids[0] > 0);
	kids[n_kids++] = fake_manager_start(FAKE_DAEMON, NULL);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_keyring(&t_alice, "hunter2", false);
	assert_int_equal(fake_daemon_frames_acted_on(&t_alice), 1);
	assert_int_equal(fake_daemons_of(&t_alice), 1);
}

static void oo7_0_6_started_by_the_manager_is_opened(void **state)
{
	(void)state;
	release_started_by_the_manager_is_opened(OO7_06);
}

static void oo7_0_7_0_alpha_started_by_the_manager_is_opened(void **state)
{
	(void)state;
	release_started_by_the_manager_is_opened(OO7_07_ALPHA);
}

static void oo7_main_started_by_the_manager_is_opened(void **state)
{
	(void)state;
	release_started_by_the_manager_is_opened(OO7_MAIN);
}

/*
 * A login with no password (ssh keys, a fingerprint) and auto_start, while
 * the daemon runs: the module sees that its socket is there and opens no
 * connection, which would cost the daemon an error line.
 */
static void passwordless_login_opens_no_connection(void **state)
{
	struct record *all;
	uint8_t *sentinel;
	size_t len;

	(void)state;
	t_service("login", "auth     optional @MODULE@ auto_start\n"
			   "session  optional @MODULE@ auto_start\n");
	daemon_of_generation_listens_for(&t_alice, OO7_MAIN, 1);

	assert_int_equal(t_login("login", "alice", NULL, NULL), PAM_SUCCESS);

	/*
	 * The daemon serves connections in order: once it has answered one
	 * of ours, it has recorded any that the login made before.
	 */
	len = t_expect_frame(&sentinel, true, 0, "alice", "", 0, "x", 1);
	g_byte_array_unref(
	    exchange(runtime_path(&t_alice, "oo7-pam.sock"), sentinel, len));
	free(sentinel);
	assert_int_equal(t_frames_all(&all), 1);
	assert_false(all[0].dropped);
	records_free(all, 1);
	assert_false(fake_daemon_ran(&t_alice));
}

int releases_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		oo7_0_6_takes_an_unlock_then_a_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_0_7_0_alpha_takes_an_unlock_then_a_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_main_takes_an_unlock_then_a_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_0_6_started_by_the_manager_is_opened, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_0_7_0_alpha_started_by_the_manager_is_opened, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_main_started_by_the_manager_is_opened, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		passwordless_login_opens_no_connection, setup, teardown),
	};

	return cmocka_run_group_tests_name("releases", tests, NULL, NULL);
}
