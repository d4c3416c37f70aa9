// SPDX-License-Identifier: MIT
/*
 * The stand-in for the user's service manager (fake_manager.c), checked
 * against the real clients before other tests trust it: Debian's systemctl
 * and busctl, run as alice on her session bus (Debian's dbus-daemon, as
 * t_bus_up runs it). Her runtime folder has no systemd/private socket, so
 * systemctl --user talks to org.freedesktop.systemd1 on the session bus,
 * where the stand-in owns it; the stand-in's record of the calls it got
 * shows that, and which calls each command makes. The unit's daemon is the
 * suite's stand-in daemon. Each case stops what it started by pid; every
 * wait is bounded (a client by CLIENT_TIMEOUT_MS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "suite.h"

#define SYSTEMCTL "/usr/bin/systemctl"
#define BUSCTL "/usr/bin/busctl"
#define UNIT "oo7-daemon.service"
#define UNIT_PATH "/org/freedesktop/systemd1/unit/oo7_2ddaemon_2eservice"
/* The stand-in daemon under a name that makes it exit 3 at once. */
#define FAILING_DAEMON FAKE_DAEMON_DIR "/fake-oo7-daemon-fail"

/* alice's bus, and what a client run as alice gets: it and her folder. */
static char bus_address[128], bus_env[160], runtime_env[128];

/*
 * Daemons of earlier cases reparented here are reaped, so that ours stand
 * out; alice's paths are written down before any fork needs them.
 */
static int setup(void **state)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	snprintf(bus_address, sizeof(bus_address), "unix:path=%s",
		 runtime_path(&t_alice, "bus"));
	snprintf(bus_env, sizeof(bus_env), "DBUS_SESSION_BUS_ADDRESS=%s",
		 bus_address);
	snprintf(runtime_env, sizeof(runtime_env), "XDG_RUNTIME_DIR=%s",
		 runtime_dir(&t_alice));
	return suite_setup(state);
}

/* The manager stops its daemon when it gets SIGTERM; then the bus. */
static int teardown(void **state)
{
	t_stop_kept();
	fake_daemon_kill(&t_alice);
	return t_case_teardown(state);
}

static const char *record_path(void)
{
	return runtime_path(&t_alice, "manager.record");
}

/*
 * alice's bus, and the stand-in on it, as alice, running daemon, with the
 * options in extra (NULL-terminated); its pid once it owns its name.
 */
static pid_t manager_up(const char *daemon, const char *const *extra)
{
	t_runtime_dir(&t_alice);
	t_keep(t_bus_up(NULL, NULL));
	return t_keep(fake_manager_start(daemon, extra));
}

/* In a child: alice, with her runtime folder and her bus, then argv. */
static void exec_on_alices_bus(const char *const *argv)
{
	const char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C", "USER=alice",
				   runtime_env,		 bus_env,  NULL};

	t_become(&t_alice);
	if (chdir("/") < 0)
		_exit(126);
	execve(argv[0], (char *const *)argv, (char *const *)env);
	_exit(127);
}

/* systemctl --user and these arguments (the first NULL ends them). */
static void systemctl(struct client *c, const char *a, const char *b,
		      const char *d)
{
	const char *const argv[] = {SYSTEMCTL, "--user", a, b, d, NULL};

	run_piped(c, exec_on_alices_bus, argv, NULL);
}

/* The unit's ActiveState, as systemctl --user show prints it. */
static const char *active_state(void)
{
	const char *const argv[] = {SYSTEMCTL,	   "--user",  "show", "-p",
				    "ActiveState", "--value", UNIT,   NULL};
	const char *state;
	struct client c;

	run_piped(&c, exec_on_alices_bus, argv, NULL);
	if (c.status != 0)
		fail_msg("systemctl show: exit %d, %s", c.status, c.err->str);
	state = textf("%s", c.out->str);
	client_free(&c);
	return state;
}

/* systemctl --user start of the unit, which must succeed. */
static void start_the_unit(void)
{
	struct client c;

	systemctl(&c, "start", UNIT, NULL);
	if (c.status != 0)
		fail_msg("systemctl start: exit %d, %s", c.status, c.err->str);
	client_free(&c);
}

/* The manager got exactly these calls, one a line. */
static void assert_calls(const char *calls)
{
	gchar *text = read_text(record_path());

	assert_string_equal(text, calls);
	g_free(text);
}

/* ---- the cases ---- */

static void systemctl_start_runs_the_daemon_as_the_managers_child(void **state)
{
	pid_t manager;
	gchar *rec;

	(void)state;
	manager = manager_up(FAKE_DAEMON, NULL);

	start_the_unit();

	assert_int_equal(
	    access(runtime_path(&t_alice, "systemd/private"), F_OK), -1);
	assert_calls("StartUnit " UNIT " replace\n"
		     "GetUnit " UNIT "\n"
		     "Get org.freedesktop.systemd1.Unit NeedDaemonReload\n");
	rec = started_daemon_record(&t_alice);
	assert_int_equal(t_record_number(rec, "ppid"), manager);
	assert_has(rec, "starter-bus owned org.freedesktop.secrets\n");
	assert_has(rec, textf("env %s\n", bus_env));
	g_free(rec);
}

static void manager_is_active_for_systemctl_show_once_started(void **state)
{
	(void)state;
	manager_up(FAKE_DAEMON, NULL);
	assert_string_equal(active_state(), "inactive\n");

	start_the_unit();

	assert_string_equal(active_state(), "active\n");
}

static void manager_agrees_with_systemctl_is_active(void **state)
{
	struct client c;

	(void)state;
	manager_up(FAKE_DAEMON, NULL);
	systemctl(&c, "is-active", UNIT, NULL);
	assert_string_equal(c.out->str, "inactive\n");
	assert_int_equal(c.status, 3);
	client_free(&c);

	start_the_unit();

	systemctl(&c, "is-active", UNIT, NULL);
	assert_string_equal(c.out->str, "active\n");
	assert_int_equal(c.status, 0);
	client_free(&c);
}

static void manager_says_not_found_to_systemctl_start_of_nosuch(void **state)
{
	struct client c;

	(void)state;
	manager_up(FAKE_DAEMON, NULL);

	systemctl(&c, "start", "nosuch.service", NULL);

	assert_int_equal(c.status, 5);
	assert_string_equal(c.err->str, "Failed to start nosuch.service: Unit "
					"nosuch.service not found.\n");
	assert_calls("StartUnit nosuch.service replace\n");
	assert_false(fake_daemon_ran(&t_alice));
	client_free(&c);
}

static void manager_gives_busctl_get_unit_the_units_path(void **state)
{
	const char *const argv[] = {BUSCTL,
				    "--user",
				    "call",
				    "org.freedesktop.systemd1",
				    "/org/freedesktop/systemd1",
				    "org.freedesktop.systemd1.Manager",
				    "GetUnit",
				    "s",
				    UNIT,
				    NULL};
	struct client c;

	(void)state;
	manager_up(FAKE_DAEMON, NULL);

	run_piped(&c, exec_on_alices_bus, argv, NULL);

	assert_int_equal(c.status, 0);
	assert_string_equal(c.out->str, "o \"" UNIT_PATH "\"\n");
	assert_calls("GetUnit " UNIT "\n");
	client_free(&c);
}

/*
 * At a first login, default.target has started the unit: it is activating
 * until the daemon owns its name; a start then joins that job, and the
 * daemon runs once.
 */
static void manager_started_at_launch_shows_activating_then_active(void **state)
{
	const char *const launch[] = {"--start-at-launch", "--delay-ms", "300",
				      NULL};
	pid_t manager;
	gchar *rec;

	(void)state;
	manager = manager_up(FAKE_DAEMON, launch);

	assert_string_equal(active_state(), "activating\n");
	start_the_unit();
	assert_string_equal(active_state(), "active\n");

	rec = started_daemon_record(&t_alice);
	assert_int_equal(t_record_number(rec, "ppid"), manager);
	assert_int_equal(fake_daemons_of(&t_alice), 1);
	g_free(rec);
}

static void manager_ends_a_start_of_an_active_unit_at_once(void **state)
{
	pid_t daemon;

	(void)state;
	manager_up(FAKE_DAEMON, NULL);
	start_the_unit();
	daemon = fake_daemon_pid(&t_alice);

	start_the_unit();

	assert_int_equal(fake_daemon_pid(&t_alice), daemon);
	assert_int_equal(fake_daemons_of(&t_alice), 1);
	assert_string_equal(active_state(), "active\n");
}

static void manager_fails_the_job_of_a_daemon_that_exits(void **state)
{
	struct client c;

	(void)state;
	assert_true(copy_program(FAKE_DAEMON, FAILING_DAEMON));
	manager_up(FAILING_DAEMON, NULL);

	systemctl(&c, "start", UNIT, NULL);

	assert_int_equal(c.status, 1);
	assert_has(c.err->str, "Job for " UNIT " failed because the control "
			       "process exited with error code.\n");
	assert_string_equal(active_state(), "failed\n");
	client_free(&c);
}

int manager_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		systemctl_start_runs_the_daemon_as_the_managers_child, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		manager_is_active_for_systemctl_show_once_started, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		manager_agrees_with_systemctl_is_active, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		manager_says_not_found_to_systemctl_start_of_nosuch, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		manager_gives_busctl_get_unit_the_units_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		manager_started_at_launch_shows_activating_then_active, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		manager_ends_a_start_of_an_active_unit_at_once, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		manager_fails_the_job_of_a_daemon_that_exits, setup, teardown),
	};

	return cmocka_run_group_tests_name("manager", tests, NULL, NULL);
}
