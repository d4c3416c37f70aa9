// SPDX-License-Identifier: MIT
/*
 * Delivery: where the module looks for the socket, whom it trusts with the
 * password (the socket's owner, the listener's SO_PEERCRED, what the user
 * could reach), and how it fares with absent, hung, hostile or answering
 * daemons: at most the timeout, never an error for the login.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "suite.h"

/* The suite's setup; the harness's teardown. */
static int setup(void **state)
{
	return suite_setup(state);
}

static int teardown(void **state)
{
	return t_case_teardown(state);
}

/* ---- where the socket is ---- */

static void xdg_runtime_dir_from_pam_env_comes_first(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	char env[300];
	pam_handle_t *pamh;
	struct record *all;

	(void)state;
	stack_default();
	t_mkdir(t_path("xdg"), t_alice.uid, t_alice.gid, 0700);
	t_mkdir(t_path("xdg/oo7"), t_alice.uid, t_alice.gid, 0700);
	t_listen(
	    L(t_path("xdg/oo7/pam.sock"), &t_alice, &t_alice, 0600, .id = 1));
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600, .id = 2));
	snprintf(env, sizeof(env), "XDG_RUNTIME_DIR=%s", t_path("xdg"));
	pamh = t_pam_start("login", "alice", answers);
	pam_putenv(pamh, env);

	pam_authenticate(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

/* The host's environment belongs to the login manager, not to the user. */
static void xdg_runtime_dir_of_the_process_is_not_used(void **state)
{
	(void)state;
	stack_default();
	t_mkdir(t_path("xdg"), t_alice.uid, t_alice.gid, 0700);
	t_mkdir(t_path("xdg/oo7"), t_alice.uid, t_alice.gid, 0700);
	t_listen_as(&t_alice, t_path("xdg/oo7/pam.sock"), LISTENER_CLOSE);
	setenv("XDG_RUNTIME_DIR", t_path("xdg"), 1);

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
}

static void run_user_oo7_folder_comes_before_legacy_socket(void **state)
{
	struct record *all;

	(void)state;
	stack_default();
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600, .id = 1));
	t_listen(L(runtime_path(&t_alice, "oo7-pam.sock"), &t_alice, &t_alice,
		   0600, .id = 2));

	t_login("login", "alice", "hunter2", NULL);

	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

/* Where oo7-daemon 0.6 and later really bind. */
static void legacy_socket_of_released_daemon_is_used(void **state)
{
	(void)state;
	stack_default();
	t_runtime_dir(&t_alice);
	t_listen_as(&t_alice, runtime_path(&t_alice, "oo7-pam.sock"),
		    LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
}

static void socket_option_is_used_alone(void **state)
{
	(void)state;
	stack("socket=%s", t_path("missing.sock"));
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
}

static void socket_option_wins_over_environment(void **state)
{
	struct record *all;
	char env[300];

	(void)state;
	t_listen(L(t_path("opt.sock"), &t_alice, &t_alice, 0600, .id = 1));
	t_listen(L(t_path("env.sock"), &t_alice, &t_alice, 0600, .id = 2));
	stack("socket=%s", t_path("opt.sock"));
	snprintf(env, sizeof(env), "%s", t_path("env.sock"));
	setenv("OO7_PAM_SOCKET", env, 1);

	t_login("login", "alice", "hunter2", NULL);

	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

static void oo7_pam_socket_from_pam_env_is_used(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	char env[300];
	pam_handle_t *pamh;

	(void)state;
	stack_default();
	t_listen_as(&t_alice, t_path("env.sock"), LISTENER_CLOSE);
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	snprintf(env, sizeof(env), "OO7_PAM_SOCKET=%s", t_path("env.sock"));
	pamh = t_pam_start("login", "alice", answers);
	pam_putenv(pamh, env);

	pam_authenticate(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
}

static void oo7_pam_socket_from_process_env_is_used(void **state)
{
	struct record *all;

	(void)state;
	stack_default();
	t_listen(L(t_path("env.sock"), &t_alice, &t_alice, 0600, .id = 1));
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600, .id = 2));
	setenv("OO7_PAM_SOCKET", t_path("env.sock"), 1);

	t_login("login", "alice", "hunter2", NULL);

	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

static void socket_path_longer_than_sun_path_is_refused(void **state)
{
	char path[200], env[240];

	(void)state;
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(env, sizeof(env), "socket=%s", path);
	stack("%s", env);
	setenv("OO7_PAM_SOCKET", path, 1);
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("Ignoring unknown or invalid option: socket=/xxx");
	assert_logged("Ignoring socket path /xxx");
}

/* ---- who may receive the password ---- */

/* root, as the runner of a listener. */
static const struct tuser t_root = {"root", 0, 0};

static void socket_owned_by_another_uid_gets_nothing(void **state)
{
	(void)state;
	stack("socket=%s", t_path("bob.sock"));
	t_listen(L(t_path("bob.sock"), &t_bob, &t_bob, 0666));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("not a socket owned by alice; nothing sent");
}

/* The file is alice's, but bob listens behind it: SO_PEERCRED tells. */
static void listener_running_as_another_uid_gets_nothing(void **state)
{
	(void)state;
	stack_default();
	t_listen(L(alice_socket(), &t_alice, &t_bob, 0666));

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
	assert_logged(textf("its listener runs as uid %u, not as alice",
			    (unsigned int)t_bob.uid));
}

static void listener_running_as_root_gets_nothing(void **state)
{
	(void)state;
	stack_default();
	t_listen(L(alice_socket(), &t_alice, &t_root, 0600));

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
	assert_logged("its listener runs as uid 0, not as alice");
}

static void symlink_to_another_users_socket_gets_nothing(void **state)
{
	(void)state;
	stack_default();
	t_listen(L(t_path("bob.sock"), &t_bob, &t_bob, 0666));
	assert_int_equal(symlink(t_path("bob.sock"), alice_socket()), 0);

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
	assert_logged("not a socket owned by alice; nothing sent");
}

/* Root could reach it; alice could not, so the module does not. */
static void socket_in_root_only_folder_is_not_reached(void **state)
{
	(void)state;
	t_mkdir(t_path("root-only"), 0, 0, 0700);
	t_listen(L(t_path("root-only/pam.sock"), &t_alice, &t_alice, 0600));
	stack("debug socket=%s", t_path("root-only/pam.sock"));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("Failed to reach");
	assert_logged("as alice: Permission denied; nothing sent, nothing "
		      "started");
}

/* Something of alice's at her socket's path, but no socket. */
enum not_a_socket { REGULAR_FILE, FIFO, FOLDER };

static void not_a_socket_at_the_path_gets_nothing(enum not_a_socket kind)
{
	const char *path;

	stack_default();
	path = alice_socket();
	if (kind == REGULAR_FILE)
		assert_true(g_file_set_contents(path, "", 0, NULL));
	else if (kind == FIFO)
		assert_int_equal(mkfifo(path, 0600), 0);
	else
		assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, t_alice.uid, t_alice.gid), 0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged("not a socket owned by alice; nothing sent");
}

static void regular_file_at_the_socket_path_gets_nothing(void **state)
{
	(void)state;
	not_a_socket_at_the_path_gets_nothing(REGULAR_FILE);
}

static void fifo_at_the_socket_path_gets_nothing(void **state)
{
	(void)state;
	not_a_socket_at_the_path_gets_nothing(FIFO);
}

static void folder_at_the_socket_path_gets_nothing(void **state)
{
	(void)state;
	not_a_socket_at_the_path_gets_nothing(FOLDER);
}

/* ---- absent and hung daemons ---- */

/* At least timeout_ms went by since t0: the module did wait. */
static void assert_waited_ms(const struct timespec *t0, unsigned int timeout_ms)
{
	double ms = elapsed_ms(t0);

	if (ms < timeout_ms)
		fail_msg("took %.0f ms, less than the timeout of %u ms", ms,
			 timeout_ms);
}

static void absent_daemon_is_not_an_error(void **state)
{
	(void)state;
	stack_default();

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_not_logged("pam_oo7(");
}

static void stale_socket_without_listener_is_not_an_error(void **state)
{
	pid_t pid;

	(void)state;
	stack_default();
	pid = t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	listener_stop(pid);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_not_logged("pam_oo7(");
}

static void daemon_with_full_backlog_costs_at_most_the_timeout(void **state)
{
	struct timespec t0;

	(void)state;
	stack("timeout=300");
	t_listen_as(&t_alice, alice_socket(), LISTENER_NEVER_ACCEPT);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_waited_ms(&t0, 300);
	assert_took_ms(&t0, 300);
	assert_logged(textf("Timed out connecting to %s",
			    runtime_path(&t_alice, "oo7/pam.sock")));
}

static void daemon_that_never_answers_costs_at_most_the_timeout(void **state)
{
	struct timespec t0;

	(void)state;
	stack("timeout=300");
	t_listen_as(&t_alice, alice_socket(), LISTENER_NEVER_READ);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_waited_ms(&t0, 300);
	assert_took_ms(&t0, 300);
	assert_logged("No reply from the daemon: Connection timed out");
}

/* ---- hostile daemons ---- */

/* The host keeps SIGPIPE at its default: a send without MSG_NOSIGNAL
 * would kill this very test process. */
static void listener_that_closes_at_once_does_not_kill_the_host(void **state)
{
	char *big = malloc(1 << 20);

	(void)state;
	memset(big, 'p', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	signal(SIGPIPE, SIG_DFL);
	stack_default();
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE_AT_ONCE);

	assert_int_equal(t_login("login", "alice", big, NULL), PAM_SUCCESS);

	assert_logged("Failed to send the request to");
	free(big);
}

static void
listener_that_never_reads_a_1mib_password_costs_the_timeout(void **state)
{
	char *big = malloc(1 << 20);
	struct timespec t0;

	(void)state;
	memset(big, 'p', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	stack("timeout=300");
	t_listen_as(&t_alice, alice_socket(), LISTENER_NEVER_READ);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", big, NULL), PAM_SUCCESS);

	assert_waited_ms(&t0, 300);
	assert_took_ms(&t0, 300);
	assert_logged(textf("Failed to send the request to %s: Connection "
			    "timed out",
			    runtime_path(&t_alice, "oo7/pam.sock")));
	free(big);
}

/* ---- replies ---- */

static void daemon_refusal_is_logged_and_changes_nothing(enum encoding enc)
{
	stack("%s", encoding_option(enc));
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .behaviour = LISTENER_REPLY, .gvariant = enc == GVARIANT,
		   .reply_ok = false, .reply_msg = "wrong\npassword"));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged("The daemon could not unlock: wrong\\x0apassword");
}

static void daemon_refusal_in_dbus_is_logged_and_changes_nothing(void **state)
{
	(void)state;
	daemon_refusal_is_logged_and_changes_nothing(DBUS);
}

static void
daemon_refusal_in_gvariant_is_logged_and_changes_nothing(void **state)
{
	(void)state;
	daemon_refusal_is_logged_and_changes_nothing(GVARIANT);
}

static void daemon_confirmation_is_quiet(enum encoding enc)
{
	stack("%s", encoding_option(enc));
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .behaviour = LISTENER_REPLY, .gvariant = enc == GVARIANT,
		   .reply_ok = true));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_not_logged("pam_oo7(");
	assert_frame(enc == GVARIANT, 0, "alice", "", 0, "hunter2", 7);
}

static void daemon_confirmation_in_dbus_is_quiet(void **state)
{
	(void)state;
	daemon_confirmation_is_quiet(DBUS);
}

static void daemon_confirmation_in_gvariant_is_quiet(void **state)
{
	(void)state;
	daemon_confirmation_is_quiet(GVARIANT);
}

/* A listener that answers these bytes; the module logs and goes on. */
static void raw_reply_is_refused(const uint8_t *reply, size_t len)
{
	stack_default();
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .behaviour = LISTENER_RAW_REPLY, .raw_reply = reply,
		   .raw_reply_len = len));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged("Ignoring a malformed reply from the daemon");
}

static void malformed_reply_is_logged(void **state)
{
	static const uint8_t garbage[] = {9, 0, 0, 0, 7, 7, 7,
					  7, 7, 7, 7, 7, 7};

	(void)state;
	raw_reply_is_refused(garbage, sizeof(garbage));
}

/* A length of 4 GiB - 1: refused, not allocated. */
static void oversized_reply_is_refused(void **state)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0};

	(void)state;
	raw_reply_is_refused(huge, sizeof(huge));
}

/* 10 bytes announced, 2 sent, then the close. */
static void truncated_reply_is_refused(void **state)
{
	static const uint8_t cut[] = {10, 0, 0, 0, 1, 0};

	(void)state;
	raw_reply_is_refused(cut, sizeof(cut));
}

/* ---- encoding= against the daemon's ---- */

/*
 * encoding=gvariant pinned against oo7 0.6, which drops GVariant and
 * closes without a word: nothing is read, and the log says what to set.
 */
static void gvariant_pinned_against_oo7_0_6_says_set_auto(void **state)
{
	(void)state;
	stack("encoding=gvariant");
	daemon_of_generation_listens_for(&t_alice, OO7_06, 1);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_int_equal(frames_acted_on(), 0);
	assert_logged("<84>"); /* LOG_AUTHPRIV | LOG_WARNING */
	assert_logged("The daemon closed without a reply: it could not read "
		      "GVariant (oo7 0.6 and 0.7.0.alpha read D-Bus): set "
		      "encoding=auto (the default)");
}

/*
 * encoding=dbus pinned against oo7 main, which drops D-Bus: a close
 * without a reply, as 0.6 closes after its work, so a notice says what to
 * set if the keyring stays locked.
 */
static void dbus_pinned_against_oo7_main_says_set_auto(void **state)
{
	(void)state;
	stack("encoding=dbus");
	daemon_of_generation_listens_for(&t_alice, OO7_MAIN, 1);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_int_equal(frames_acted_on(), 0);
	assert_logged("<85>"); /* LOG_AUTHPRIV | LOG_NOTICE */
	assert_logged("if the keyring stays locked, set encoding=auto");
}

/* encoding=gvariant against a daemon that replies in D-Bus marshalling. */
static void gvariant_against_a_dbus_reply_says_set_dbus(void **state)
{
	uint8_t reply[64];
	size_t len = reply_encode(reply + 4, sizeof(reply) - 4, false, false,
				  "cannot decode the request");
	uint32_t n = (uint32_t)len;

	(void)state;
	memcpy(reply, &n, 4);
	stack("encoding=gvariant");
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .behaviour = LISTENER_RAW_REPLY, .raw_reply = reply,
		   .raw_reply_len = 4 + len));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged("The daemon replied in D-Bus marshalling: set "
		      "encoding=dbus");
}

/* The default against oo7 0.6: closing without a reply is normal. */
static void auto_against_a_daemon_that_never_replies_warns_nothing(void **state)
{
	(void)state;
	stack_default();
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_not_logged("encoding=");
	assert_not_logged("<84>");
}

int delivery_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		xdg_runtime_dir_from_pam_env_comes_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		xdg_runtime_dir_of_the_process_is_not_used, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		run_user_oo7_folder_comes_before_legacy_socket, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		legacy_socket_of_released_daemon_is_used, setup, teardown),
	    cmocka_unit_test_setup_teardown(socket_option_is_used_alone, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(socket_option_wins_over_environment,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(oo7_pam_socket_from_pam_env_is_used,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_pam_socket_from_process_env_is_used, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		socket_path_longer_than_sun_path_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		socket_owned_by_another_uid_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		listener_running_as_another_uid_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		listener_running_as_root_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		symlink_to_another_users_socket_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		socket_in_root_only_folder_is_not_reached, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		regular_file_at_the_socket_path_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		fifo_at_the_socket_path_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		folder_at_the_socket_path_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(absent_daemon_is_not_an_error,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		stale_socket_without_listener_is_not_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_with_full_backlog_costs_at_most_the_timeout, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_that_never_answers_costs_at_most_the_timeout, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		listener_that_closes_at_once_does_not_kill_the_host, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		listener_that_never_reads_a_1mib_password_costs_the_timeout,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_refusal_in_dbus_is_logged_and_changes_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_refusal_in_gvariant_is_logged_and_changes_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_confirmation_in_dbus_is_quiet, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_confirmation_in_gvariant_is_quiet, setup, teardown),
	    cmocka_unit_test_setup_teardown(malformed_reply_is_logged, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_pinned_against_oo7_0_6_says_set_auto, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		dbus_pinned_against_oo7_main_says_set_auto, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_against_a_dbus_reply_says_set_dbus, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		auto_against_a_daemon_that_never_replies_warns_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(oversized_reply_is_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(truncated_reply_is_refused, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("delivery", tests, NULL, NULL);
}
