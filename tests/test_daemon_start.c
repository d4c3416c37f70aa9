// SPDX-License-Identifier: MIT
/*
 * auto_start: when no daemon answers, the module starts one as the user,
 * with the password on its stdin, in a clean process that is nobody's child
 * here; the stand-in (fake_daemon.c) writes down how it was started. Each
 * case's teardown kills the daemon it started.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "suite.h"

static int setup(void **state)
{
	return suite_setup(state);
}

/* Its daemon stopped, then the overlay on /usr that some cases make. */
static int teardown(void **state)
{
	int r;

	daemons_stop();
	r = t_case_teardown(state);
	unmount_private();
	return r;
}

/*
 * A copy of the fake daemon with a name that sets its behaviour, in this
 * case's folder (0755 folders up from a 0755 tmpfs in /tmp: alice's to run).
 */
static const char *fake_named(const char *suffix)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s", t_path("oo7-daemon%s", suffix));
	assert_true(copy_program(FAKE_DAEMON, path));
	assert_true(user_can_run(&t_alice, path));
	return path;
}

static void
auto_start_runs_the_daemon_as_the_user_with_the_password(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int bus = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct group *extra = getgrnam("oo7test");
	pam_handle_t *pamh;
	gchar *rec, *mine;
	sigset_t usr2, old_mask;
	char run[64];
	int zombie;

	(void)state;
	assert_non_null(extra);
	snprintf(run, sizeof(run), "%s", runtime_dir(&t_alice));
	stack_auto_start();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/bus", run);
	assert_int_equal(bind(bus, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("HOST_ONLY", "from-the-login-manager", 1);
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, &old_mask);
	pamh = t_pam_start("login", "alice", answers);
	pam_putenv(pamh, "FROM_PAM=yes");

	pam_authenticate(pamh, 0);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	signal(SIGUSR1, SIG_DFL);
	unsetenv("HOST_ONLY");
	close(bus);
	rec = started_daemon_record(&t_alice);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_has(rec, ids_line(&t_alice));
	assert_has(rec, textf("groups %u %u\n", (unsigned int)t_alice.gid,
			      (unsigned int)extra->gr_gid));
	assert_has(rec, "cwd /\n");
	assert_has(rec, "fds 0 1 2\n");
	assert_has(rec, "blocked\nignored\n");
	assert_has(rec, "stdin 68756e74657232\n"); /* hunter2 */
	assert_has(rec, "env FROM_PAM=yes\n");
	assert_has(rec, "env HOME=/nonexistent\n");
	assert_has(rec, "env USER=alice\n");
	assert_has(rec, "env LOGNAME=alice\n");
	assert_has(rec, "env SHELL=/bin/sh\n");
	assert_has(rec, "env PATH=/usr/local/bin:/usr/bin:/bin\n");
	assert_has(rec, textf("env XDG_RUNTIME_DIR=%s\n", run));
	assert_has(
	    rec, textf("env DBUS_SESSION_BUS_ADDRESS=unix:path=%s/bus\n", run));
	assert_null(strstr(rec, "HOST_ONLY"));
	assert_null(strstr(rec, "hunter2"));
	/* Its own session, and not a child of this process. */
	mine = g_strdup_printf("ppid %d\n", (int)getpid());
	assert_null(strstr(rec, mine));
	g_free(mine);
	mine =
	    g_strdup_printf("sid %d\npgid %d\n", atoi(strstr(rec, "pid ") + 4),
			    atoi(strstr(rec, "pid ") + 4));
	assert_has(rec, mine);
	g_free(mine);
	zombie = waitpid(-1, NULL, WNOHANG);
	assert_int_equal(zombie, 0);
	g_free(rec);
}

/* A login that starts a daemon, which writes its record. */
static void login_that_starts_a_daemon(void)
{
	t_login("login", "alice", "hunter2", NULL);

	g_free(started_daemon_record(&t_alice));
}

/* Started from a host with SIGCHLD at its default, ignored, or handled. */
static void host_is_left_as_it_was_after_a_daemon_start(enum sigchld how)
{
	stack_auto_start();

	assert_host_unchanged_by(how, login_that_starts_a_daemon);

	assert_int_equal(waitpid(-1, NULL, WNOHANG), 0);
	set_sigchld(SIGCHLD_DEFAULT);
}

static void
host_with_sigchld_default_is_left_as_it_was_after_a_daemon_start(void **state)
{
	(void)state;
	host_is_left_as_it_was_after_a_daemon_start(SIGCHLD_DEFAULT);
}

static void
host_with_sigchld_ignored_is_left_as_it_was_after_a_daemon_start(void **state)
{
	(void)state;
	host_is_left_as_it_was_after_a_daemon_start(SIGCHLD_IGNORED);
}

static void
host_with_sigchld_handled_is_left_as_it_was_after_a_daemon_start(void **state)
{
	(void)state;
	host_is_left_as_it_was_after_a_daemon_start(SIGCHLD_HANDLED);
}

static void auto_start_without_password_starts_without_login(void **state)
{
	pam_handle_t *pamh;
	gchar *rec;

	(void)state;
	stack_auto_start();
	pamh = t_pam_start("login", "alice", NULL);

	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	rec = started_daemon_record(&t_alice);
	assert_has(rec, "argv " FAKE_DAEMON "\n");
	assert_has(rec, "stdin \n");
	g_free(rec);
}

static void auto_start_leaves_a_running_daemon_alone(void **state)
{
	(void)state;
	stack("auto_start daemon=%s", FAKE_DAEMON);
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_unlock_frame("hunter2");
	assert_false(fake_daemon_ran(&t_alice));
}

/*
 * A login with a 1 MiB password and auto_start of this daemon costs at
 * most the timeout, and logs this line when there is one.
 */
static void broken_daemon_costs_at_most_the_timeout(const char *daemon,
						    const char *logged)
{
	char *big = malloc(1 << 20);
	struct timespec t0;

	memset(big, 'p', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	t_runtime_dir(&t_alice);
	stack("auto_start timeout=300 daemon=%s", daemon);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", big, NULL), PAM_SUCCESS);

	assert_took_ms(&t0, 300);
	if (logged)
		assert_logged(logged);
	free(big);
}

static void missing_daemon_costs_at_most_the_timeout(void **state)
{
	(void)state;
	broken_daemon_costs_at_most_the_timeout("/nonexistent/oo7-daemon",
						"No oo7-daemon to start");
}

static void
daemon_that_never_reads_the_password_costs_at_most_the_timeout(void **state)
{
	(void)state;
	broken_daemon_costs_at_most_the_timeout(fake_named("-noread"),
						"Failed to hand the password");
}

static void daemon_that_exits_at_once_costs_at_most_the_timeout(void **state)
{
	(void)state;
	broken_daemon_costs_at_most_the_timeout(fake_named("-fail"), NULL);
}

/*
 * A daemon started for a change, and deaf to SIGTERM: killed at the
 * deadline and reaped, and the log says so.
 */
static void
daemon_started_for_a_change_that_ignores_sigterm_is_killed(void **state)
{
	struct timespec t0;

	(void)state;
	t_runtime_dir(&t_alice);
	stack("timeout=500 daemon=%s", fake_named("-noterm"));
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_chauthtok("login", "alice", "hunter2", "s3cret"),
			 PAM_SUCCESS);

	assert_took_ms(&t0, 500);
	assert_true(fake_daemon_ran(&t_alice));
	assert_int_equal(fake_daemons_of(&t_alice), 0);
	assert_logged("The daemon started for the change did not stop before "
		      "the timeout: killed");
}

/* ---- where the daemon is looked for ---- */

static const char *const daemon_paths[] = {
    "/usr/libexec/oo7-daemon", "/usr/lib/oo7-daemon", "/usr/lib/oo7/oo7-daemon",
    "/usr/bin/oo7-daemon"};

/*
 * The daemon at daemon_paths[first] and every later one, in an overlay on
 * /usr in this namespace (the host's /usr is untouched): the first is run.
 */
static void daemon_is_found_before_later_paths(size_t first)
{
	gchar *rec;

	usr_overlay();
	assert_int_equal(runf("mkdir -p /usr/lib/oo7 /usr/libexec"), 0);
	for (size_t i = first; i < N_ELEMS(daemon_paths); i++)
		assert_true(copy_program(FAKE_DAEMON, daemon_paths[i]));
	t_runtime_dir(&t_alice);
	stack("auto_start");

	t_login("login", "alice", "hunter2", NULL);

	rec = started_daemon_record(&t_alice);
	assert_has(rec, textf("argv %s --login\n", daemon_paths[first]));
	g_free(rec);
}

static void daemon_in_usr_bin_is_found(void **state)
{
	(void)state;
	daemon_is_found_before_later_paths(3);
}

static void daemon_in_usr_lib_oo7_comes_before_usr_bin(void **state)
{
	(void)state;
	daemon_is_found_before_later_paths(2);
}

static void daemon_in_usr_lib_comes_before_usr_lib_oo7(void **state)
{
	(void)state;
	daemon_is_found_before_later_paths(1);
}

static void daemon_in_usr_libexec_comes_first(void **state)
{
	(void)state;
	daemon_is_found_before_later_paths(0);
}

/* ---- password changes ---- */

static void
chauthtok_with_auto_start_rekeys_through_a_started_daemon(void **state)
{
	struct record *all;
	size_t n;
	gchar *rec;

	(void)state;
	stack_auto_start();

	assert_int_equal(t_chauthtok("login", "alice", "hunter2", "new"),
			 PAM_SUCCESS);

	rec = started_daemon_record(&t_alice);
	assert_has(rec, "argv " FAKE_DAEMON "\n");
	g_free(rec);
	n = fake_daemon_frames(&t_alice, &all);
	assert_int_equal(n, 1);
	assert_record_is_frame(&all[0], 1, "alice", "hunter2", "new");
	records_free(all, n);
}

static void chauthtok_without_daemon_says_it_did_not_rekey(void **state)
{
	(void)state;
	stack_default();

	t_chauthtok("login", "alice", "hunter2", "new");

	assert_logged("No oo7-daemon to start");
	assert_logged("No oo7 daemon took the change: the keyring is not "
		      "re-keyed yet; a session opened on this handle will "
		      "try again");
}

/* A daemon whose #! interpreter is missing: its exec fails (ENOENT). */
#define DAEMON_WITHOUT_INTERPRETER FAKE_DAEMON_DIR "/no-interpreter"

/* A change with no daemon running, whose start fails or whose daemon exits. */
static void change_whose_start_fails(void)
{
	assert_int_equal(t_chauthtok("login", "alice", "hunter2", "newpw"),
			 PAM_SUCCESS);
}

/*
 * A change with no daemon running starts one for it; when that start
 * fails, the host keeps no child (not even a zombie) and no descriptor.
 */
static void failed_start_for_a_change_leaves_no_child_nor_fd(void **state)
{
	(void)state;
	assert_true(g_file_set_contents(DAEMON_WITHOUT_INTERPRETER,
					"#!/nonexistent/interpreter\n", -1,
					NULL));
	assert_int_equal(chmod(DAEMON_WITHOUT_INTERPRETER, 0755), 0);
	stack("daemon=%s", DAEMON_WITHOUT_INTERPRETER);
	t_runtime_dir(&t_alice);

	assert_host_unchanged_by(SIGCHLD_DEFAULT, change_whose_start_fails);

	/* what the start said is not asserted: under valgrind a failed exec
	 * ends the child before it can say why */
	assert_logged("No oo7 daemon took the change");
	unlink(DAEMON_WITHOUT_INTERPRETER);
}

/*
 * A change with no daemon running: the one started for it exits before
 * it binds its socket (as oo7-daemon does without a session bus). The host
 * keeps no child and no descriptor (its pidfd).
 */
static void daemon_for_a_change_that_exits_leaves_no_child_nor_fd(void **state)
{
	(void)state;
	stack("daemon=%s", fake_named("-fail"));
	t_runtime_dir(&t_alice);

	assert_host_unchanged_by(SIGCHLD_DEFAULT, change_whose_start_fails);
}

/*
 * fn's result in a child of this process that adopts orphans
 * (PR_SET_CHILD_SUBREAPER, as a session manager does), so that a zombie
 * the module leaves behind becomes its own; with kill_at_exec, every
 * process there, the module's children too, dies at its next execve (a
 * seccomp filter, inherited across fork): the daemon's process dies just
 * before it runs the program, as one that the user kills in that instant
 * does. -1 when the child was left a child of its own.
 */
static int in_a_subreaper(int (*fn)(void), bool kill_at_exec)
{
	struct sock_filter at_exec[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 1, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = N_ELEMS(at_exec), .filter = at_exec};
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ||
		    (kill_at_exec &&
		     (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)))
			_exit(255);
		status = fn();
		/* an orphan reaches us once its parent is gone: give it time */
		poll(NULL, 0, 200);
		_exit(waitpid(-1, NULL, WNOHANG) < 0 ? status : 254);
	}
	assert_true(pid > 0);
	status = exit_status_within(pid, CLIENT_TIMEOUT_MS);
	assert_true(status >= 0 && status != 255);
	return status == 254 ? -1 : status;
}

static int login(void)
{
	return t_login("login", "alice", "hunter2", NULL);
}

static int change(void)
{
	return t_chauthtok("login", "alice", "hunter2", "newpw");
}

/*
 * A daemon's process that ends before it runs the program (killed by the
 * user once it runs as the user) did not start: the module says so and
 * does not wait for its socket, for a login (the daemon that stays, forked
 * twice) and for a change (the one forked for it), and keeps no child.
 */
static void start_killed_before_exec(int (*fn)(void))
{
	struct timespec t0;

	stack("auto_start debug timeout=10000 daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(in_a_subreaper(fn, true), PAM_SUCCESS);

	assert_true(elapsed_ms(&t0) < 10000);
	assert_logged("Failed to start " FAKE_DAEMON
		      ": its process ended before it ran the program");
	assert_not_logged("Started " FAKE_DAEMON);
}

static void login_whose_daemon_is_killed_before_exec_did_not_start(void **state)
{
	(void)state;
	start_killed_before_exec(login);
}

static void
change_whose_daemon_is_killed_before_exec_did_not_start(void **state)
{
	(void)state;
	start_killed_before_exec(change);
}

/*
 * A login whose daemon cannot be executed (its #! interpreter is missing),
 * in a host that adopts orphans: the daemon's process, which fails and
 * exits, is reaped by the module's intermediate child; no zombie of it
 * reaches the host.
 */
static void failed_exec_leaves_no_zombie_to_a_subreaper_host(void **state)
{
	(void)state;
	assert_true(g_file_set_contents(DAEMON_WITHOUT_INTERPRETER,
					"#!/nonexistent/interpreter\n", -1,
					NULL));
	assert_int_equal(chmod(DAEMON_WITHOUT_INTERPRETER, 0755), 0);
	stack("auto_start timeout=10000 daemon=%s", DAEMON_WITHOUT_INTERPRETER);
	t_runtime_dir(&t_alice);

	assert_int_equal(in_a_subreaper(login, false), PAM_SUCCESS);

	unlink(DAEMON_WITHOUT_INTERPRETER);
}

int daemon_start_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		failed_start_for_a_change_leaves_no_child_nor_fd, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_for_a_change_that_exits_leaves_no_child_nor_fd, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		login_whose_daemon_is_killed_before_exec_did_not_start, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		change_whose_daemon_is_killed_before_exec_did_not_start, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		failed_exec_leaves_no_zombie_to_a_subreaper_host, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		auto_start_runs_the_daemon_as_the_user_with_the_password, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		host_with_sigchld_default_is_left_as_it_was_after_a_daemon_start,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		host_with_sigchld_ignored_is_left_as_it_was_after_a_daemon_start,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		host_with_sigchld_handled_is_left_as_it_was_after_a_daemon_start,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		auto_start_without_password_starts_without_login, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		auto_start_leaves_a_running_daemon_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		missing_daemon_costs_at_most_the_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_that_never_reads_the_password_costs_at_most_the_timeout,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_started_for_a_change_that_ignores_sigterm_is_killed,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_that_exits_at_once_costs_at_most_the_timeout, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(daemon_in_usr_bin_is_found, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_in_usr_lib_oo7_comes_before_usr_bin, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_in_usr_lib_comes_before_usr_lib_oo7, setup, teardown),
	    cmocka_unit_test_setup_teardown(daemon_in_usr_libexec_comes_first,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		chauthtok_with_auto_start_rekeys_through_a_started_daemon,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		chauthtok_without_daemon_says_it_did_not_rekey, setup,
		teardown),
	};

	return cmocka_run_group_tests_name("daemon_start", tests, NULL, NULL);
}
