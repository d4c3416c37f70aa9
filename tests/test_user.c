// SPDX-License-Identifier: MIT
/*
 * The libpam tier that any user can run, offline, in a package build: the
 * built module loaded by real libpam (pam_start_confdir), in this process,
 * for the user who runs it, against a stand-in daemon of that user's in a
 * folder of the case's own. Each frame that reaches the stand-in is read
 * back with libdbus-1 or GLib, not with the module's code.
 *
 * Nothing here may reach the machine's own oo7: every stack names its
 * socket (socket=) and a daemon that does not exist (daemon=), and the PAM
 * environment's XDG_RUNTIME_DIR is the case's folder, where there is no
 * session bus. What needs other uids, root or namespaces is in the root
 * tier, test_pam_oo7.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <glib.h>
#include <security/pam_appl.h>

#include "listener.h"

#define PASSWORD "hunter2"
#define NEW_PASSWORD "correct horse"

/* The case's folder, its stack folder, and the stand-in's socket. */
static char dir[256], confdir[300], sock[300];
static const char *user;
static pid_t daemon_pid = -1;
static int records = -1;
static const char *const *answers;

static int conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF && *answers)
			r[i].resp = strdup(*answers++);
	*resp = r;
	return PAM_SUCCESS;
}

/*
 * The service "login" in the case's stack folder: the fixture reads the
 * password as pam_unix does, then pam_oo7 with these options on each line.
 */
static void stack(const char *options)
{
	gchar *path = g_strdup_printf("%s/login", confdir);
	gchar *text = g_strdup_printf(
	    "auth     required %s\n"
	    "auth     optional %s socket=%s daemon=/nonexistent %s\n"
	    "session  optional %s socket=%s daemon=/nonexistent %s\n"
	    "password required %s\n"
	    "password optional %s socket=%s daemon=/nonexistent %s\n",
	    FIXTURE_PATH, MODULE_PATH, sock, options, MODULE_PATH, sock,
	    options, FIXTURE_PATH, MODULE_PATH, sock, options);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	g_free(text);
	g_free(path);
}

/* A handle for this user, answered with these passwords. */
static pam_handle_t *start(const char *const *with)
{
	static struct pam_conv c = {conv, NULL};
	gchar *xdg = g_strdup_printf("XDG_RUNTIME_DIR=%s", dir);
	pam_handle_t *pamh = NULL;

	answers = with;
	assert_int_equal(pam_start_confdir("login", user, &c, confdir, &pamh),
			 PAM_SUCCESS);
	assert_int_equal(pam_putenv(pamh, xdg), PAM_SUCCESS);
	g_free(xdg);
	return pamh;
}

/* The stand-in daemon: this user's, on sock, as generation g answers. */
static void daemon_of(enum generation g, enum listener_behaviour b)
{
	struct listener_cfg cfg = {.path = sock,
				   .owner_uid = getuid(),
				   .owner_gid = getgid(),
				   .mode = 0600,
				   .run_uid = getuid(),
				   .run_gid = getgid(),
				   .behaviour = b,
				   .generation = g,
				   .record_fd = records};

	daemon_pid = listener_start(&cfg);
	assert_true(daemon_pid > 0);
}

/* The frames the stand-in acted on (those it dropped left out). */
static size_t frames(struct record **out)
{
	size_t n = records_read(records, out);

	return records_acted_on(*out, n);
}

/*
 * The stand-in got exactly one frame, from this process, that the
 * independent codec reads as op(user, old, new).
 */
static void assert_one_frame(bool gvariant, uint8_t op, const char *old,
			     const char *new)
{
	struct record *all;
	size_t n = frames(&all);
	struct decoded d;

	assert_int_equal(n, 1);
	assert_int_equal(all[0].pid, getpid());
	assert_int_equal(all[0].uid, getuid());
	assert_true(frame_decode(all[0].data, all[0].len, gvariant, &d));
	assert_int_equal(d.op, op);
	assert_string_equal(d.user, user);
	assert_int_equal(g_bytes_get_size(d.old), strlen(old));
	assert_memory_equal(g_bytes_get_data(d.old, NULL), old, strlen(old));
	assert_int_equal(g_bytes_get_size(d.new), strlen(new));
	assert_memory_equal(g_bytes_get_data(d.new, NULL), new, strlen(new));
	decoded_free(&d);
	records_free(all, n);
}

static void assert_no_frame(void)
{
	struct record *all;
	size_t n = records_read(records, &all);

	records_free(all, n);
	assert_int_equal(n, 0);
}

static const char *const password[] = {PASSWORD, NULL};

/* auth, session, pam_end: a login as login(1) makes it. */
static void login(void)
{
	pam_handle_t *pamh = start(password);
	int r;

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	r = pam_open_session(pamh, 0);
	assert_int_equal(r, PAM_SUCCESS);
	pam_end(pamh, r);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- setup and teardown ---- */

static int setup(void **state)
{
	gchar *path;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/pam_oo7-user.XXXXXX", g_get_tmp_dir());
	if (!mkdtemp(dir))
		return -1;
	snprintf(confdir, sizeof(confdir), "%s/pam.d", dir);
	snprintf(sock, sizeof(sock), "%s/pam.sock", dir);
	if (mkdir(confdir, 0700) < 0)
		return -1;
	path = g_strdup_printf("%s/records", dir);
	records = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	g_free(path);
	return records < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	gchar *cmd;

	(void)state;
	if (daemon_pid > 0)
		listener_stop(daemon_pid);
	daemon_pid = -1;
	close(records);
	records = -1;
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	g_free(cmd);
	return 0;
}

/* ---- a login reaches each oo7 release ---- */

static void login_unlocks_through_oo7_0_6(void **state)
{
	(void)state;
	stack("");
	daemon_of(OO7_06, LISTENER_CLOSE);

	login();

	assert_one_frame(false, 0, "", PASSWORD);
}

static void login_unlocks_through_oo7_0_7_alpha(void **state)
{
	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);

	login();

	assert_one_frame(false, 0, "", PASSWORD);
}

static void login_unlocks_through_oo7_main(void **state)
{
	(void)state;
	stack("");
	daemon_of(OO7_MAIN, LISTENER_CLOSE);

	login();

	assert_one_frame(true, 0, "", PASSWORD);
}

/* A pinned encoding opens one connection: nothing for a daemon to drop. */
static void encoding_dbus_sends_one_frame_and_nothing_dropped(void **state)
{
	struct record *all;
	size_t n;

	(void)state;
	stack("encoding=dbus");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);

	login();

	n = records_read(records, &all);
	assert_int_equal(n, 1);
	assert_false(all[0].dropped);
	records_free(all, n);
}

/* ---- a password change ---- */

static void password_change_sends_old_and_new(void **state)
{
	const char *const change[] = {PASSWORD, NEW_PASSWORD, NEW_PASSWORD,
				      NULL};
	pam_handle_t *pamh;

	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);
	pamh = start(change);

	assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_one_frame(false, 1, PASSWORD, NEW_PASSWORD);
}

/* ---- a screen locker that authenticates alone ---- */

/* auth, then pam_end with status: no setcred, no session. */
static void auth_alone(int status)
{
	pam_handle_t *pamh = start(password);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, status);
}

static void auth_alone_unlocks_at_pam_end(void **state)
{
	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);

	auth_alone(PAM_SUCCESS);

	assert_one_frame(false, 0, "", PASSWORD);
}

static void auth_alone_ended_with_a_failure_sends_nothing(void **state)
{
	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);

	auth_alone(PAM_AUTH_ERR);

	assert_no_frame();
}

/* A forked host's child ends its copy of the handle so: nothing sent. */
static void pam_end_with_data_silent_sends_nothing(void **state)
{
	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);

	auth_alone(PAM_SUCCESS | PAM_DATA_SILENT);

	assert_no_frame();
}

/* A login sends one frame: the session uses the copy, pam_end finds none. */
static void login_with_setcred_sends_one_frame(void **state)
{
	pam_handle_t *pamh;

	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);
	pamh = start(password);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(pamh, PAM_REINITIALIZE_CRED), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_one_frame(false, 0, "", PASSWORD);
}

/* ---- what never fails a login ---- */

static void login_with_no_daemon_succeeds_and_sends_nothing(void **state)
{
	(void)state;
	stack("");

	login();

	assert_no_frame();
}

/*
 * A daemon that accepts and never reads: the login still succeeds, after
 * the timeout and well before a second one (a bound that holds under
 * valgrind on a busy machine).
 */
static void hung_daemon_costs_the_timeout(void **state)
{
	struct timespec t0;

	(void)state;
	stack("timeout=300");
	daemon_of(NO_GENERATION, LISTENER_NEVER_READ);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	login();

	assert_true(ms_since(&t0) >= 300);
	assert_true(ms_since(&t0) < 300 + 5000);
}

/* What socket= names must be the socket, not a link to it. */
static void symlink_to_the_socket_gets_nothing(void **state)
{
	gchar *real = g_strdup_printf("%s/real.sock", dir);

	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);
	assert_int_equal(rename(sock, real), 0);
	assert_int_equal(symlink(real, sock), 0);

	login();

	assert_no_frame();
	g_free(real);
}

static void unknown_options_leave_the_login_and_the_delivery(void **state)
{
	(void)state;
	stack("no_such_option timeout=0 encoding=bogus");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);

	login();

	assert_one_frame(false, 0, "", PASSWORD);
}

/* No fd, no child, no signal disposition left behind by a login. */
static void login_leaves_the_host_as_it_was(void **state)
{
	struct sigaction before[NSIG] = {0}, after[NSIG] = {0};
	int fds_before, fds_after;

	(void)state;
	stack("");
	daemon_of(OO7_07_ALPHA, LISTENER_CLOSE);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, NULL, &before[s]);
	fds_before = dup(0);
	close(fds_before);

	login();

	fds_after = dup(0);
	close(fds_after);
	assert_int_equal(fds_after, fds_before);
	/* glibc keeps two signals to itself: sigaction fails on them */
	for (int s = 1; s < NSIG; s++)
		if (sigaction(s, NULL, &after[s]) == 0)
			assert_ptr_equal(after[s].sa_handler,
					 before[s].sa_handler);
	/* the stand-in is our only child */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), 0);
	assert_one_frame(false, 0, "", PASSWORD);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(login_unlocks_through_oo7_0_6,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(login_unlocks_through_oo7_0_7_alpha,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(login_unlocks_through_oo7_main,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		encoding_dbus_sends_one_frame_and_nothing_dropped, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(password_change_sends_old_and_new,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(auth_alone_unlocks_at_pam_end,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		auth_alone_ended_with_a_failure_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		pam_end_with_data_silent_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(login_with_setcred_sends_one_frame,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		login_with_no_daemon_succeeds_and_sends_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(hung_daemon_costs_the_timeout,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(symlink_to_the_socket_gets_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		unknown_options_leave_the_login_and_the_delivery, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(login_leaves_the_host_as_it_was,
					    setup, teardown),
	};
	struct passwd *pw = getpwuid(getuid());

	if (!pw) {
		printf("user tier: skipped (uid %u has no passwd entry)\n",
		       (unsigned int)getuid());
		return 77;
	}
	user = pw->pw_name;
	if (argc == 2)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("pam_oo7 user tier", tests, NULL,
					   NULL);
}
