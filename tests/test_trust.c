// SPDX-License-Identifier: MIT
/*
 * Whose password it is, and what the host keeps: the kept copy goes only to
 * the user it was typed for; the host's capabilities, signal handlers, fds
 * and umask are its own after a delivery or a daemon start; text from
 * outside reaches the log escaped. The real sudo and doas cases are in
 * test_sudo.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* The service "requisite": a failed read of the password stops auth. */
#define STACK_REQUISITE                                                        \
	"auth     requisite @FIXTURE@\n"                                       \
	"auth     optional @MODULE@ debug\n"                                   \
	"session  optional @MODULE@ debug %s\n"

/* What the module logs when the session is not the typist's. */
static const char *not_yours_line(const struct tuser *typist,
				  const struct tuser *session)
{
	return textf("The password was kept for %s (uid %u), not for %s "
		     "(uid %u): wiped, nothing sent, nothing started",
		     typist->name, (unsigned int)typist->uid, session->name,
		     (unsigned int)session->uid);
}

/* Listeners as alice and bob, each on the socket oo7 0.6 binds. */
static void listen_for_alice_and_bob(void)
{
	daemon_listens_for(&t_alice, 0);
	daemon_listens_for(&t_bob, 0);
}

/* auth as alice with her password, then the session opened for user. */
static void auth_alice_open_session_for(const char *user)
{
	const char *answers[] = {"hunter2", NULL};
	pam_handle_t *pamh = t_pam_start("login", "alice", answers);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_set_item(pamh, PAM_USER, user), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);
}

/* ---- whose password ---- */

static void
session_for_another_user_sends_alices_password_to_no_one(void **state)
{
	(void)state;
	stack_default();
	listen_for_alice_and_bob();

	auth_alice_open_session_for("bob");

	assert_no_frame();
	assert_logged(not_yours_line(&t_alice, &t_bob));
}

static void session_for_another_user_starts_no_daemon(void **state)
{
	(void)state;
	stack("debug auto_start daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);
	t_runtime_dir(&t_bob);

	auth_alice_open_session_for("bob");

	/* start_daemon waits for exec: a started daemon would be logged */
	assert_not_logged("Started");
	assert_not_logged("Failed to start");
	assert_false(fake_daemon_ran(&t_bob));
	assert_false(fake_daemon_ran(&t_alice));
	assert_logged(not_yours_line(&t_alice, &t_bob));
}

/*
 * A second authenticate for bob that fails before pam_oo7 runs leaves
 * alice's copy in the handle: it is still hers, and bob gets nothing.
 */
static void failed_second_auth_for_bob_leaves_him_nothing(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	pam_handle_t *pamh;

	(void)state;
	t_service("login", textf(STACK_REQUISITE, ""));
	listen_for_alice_and_bob();
	pamh = t_pam_start("login", "alice", answers);
	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);

	/* the conversation has no more answers: requisite stops auth */
	assert_int_not_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_no_frame();
	assert_logged(not_yours_line(&t_alice, &t_bob));
}

/* Control: the same handle, PAM_USER set again to alice, delivers. */
static void session_for_the_same_user_delivers(void **state)
{
	(void)state;
	stack_default();
	listen_for_alice_and_bob();

	auth_alice_open_session_for("alice");

	assert_unlock_frame("hunter2");
}

/* ---- log lines ---- */

/* No line of the log starts with what was smuggled in after a newline. */
static void assert_no_forged_line(const char *forged)
{
	const char *logs = t_logs();
	const char *at = strstr(logs, forged);

	if (at && (at == logs || at[-1] == '\n'))
		fail_msg("a forged line reached the log:\n%s", logs);
}

static void newline_in_oo7_pam_socket_forges_no_log_line(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	/* too long for a socket: logged at LOG_ERR, without debug */
	const char *forged = "sshd[1]: Accepted password for root from "
			     "192.0.2.1 port 22 ssh2 and then a long tail "
			     "that makes the path too long for sun_path";
	pam_handle_t *pamh;

	(void)state;
	stack_default();
	pamh = t_pam_start("login", "alice", answers);
	assert_int_equal(
	    pam_putenv(pamh, textf("OO7_PAM_SOCKET=/x\n%s", forged)),
	    PAM_SUCCESS);

	pam_authenticate(pamh, 0);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_no_forged_line(forged);
	assert_logged(textf("Ignoring socket path /x\\x0a%.40s", forged));
}

/*
 * A daemon's refusal as raw D-Bus (bs): false, then a message with a C1 CSI
 * (0x9b, not UTF-8 on its own) and an ESC sequence. libdbus would refuse to
 * encode it; a hostile daemon sends it all the same.
 */
static void escape_sequence_in_a_daemon_message_is_escaped(void **state)
{
	static const char msg[] = "\x9b"
				  "2Jwrong \x1b[31mred";
	uint8_t reply[64] = {0};
	uint32_t body = 4 + 4 + sizeof(msg), len = sizeof(msg) - 1;

	(void)state;
	memcpy(reply, &body, 4);
	memcpy(reply + 8, &len, 4);
	memcpy(reply + 12, msg, sizeof(msg));
	stack("encoding=dbus");
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .behaviour = LISTENER_RAW_REPLY, .raw_reply = reply,
		   .raw_reply_len = 4 + body));

	t_login("login", "alice", "hunter2", NULL);

	assert_logged("The daemon could not unlock: \\x9b2Jwrong "
		      "\\x1b[31mred");
	assert_null(strchr(t_logs(), '\x9b'));
	assert_null(strchr(t_logs(), '\x1b'));
}

/*
 * Characters that split a line or hide text in a log viewer, though no
 * control byte: U+2028 and U+2029 (line and paragraph separators),
 * U+200E, U+200F and U+061C (direction marks), U+200B (zero width space),
 * U+FEFF (the BOM) and U+E0041 (a tag character), each in UTF-8, and how
 * the log must show it.
 */
static const char *const hidden[][2] = {
    {"\xe2\x80\xa8", "\\xe2\\x80\\xa8"},
    {"\xe2\x80\xa9", "\\xe2\\x80\\xa9"},
    {"\xe2\x80\x8e", "\\xe2\\x80\\x8e"},
    {"\xe2\x80\x8f", "\\xe2\\x80\\x8f"},
    {"\xd8\x9c", "\\xd8\\x9c"},
    {"\xe2\x80\x8b", "\\xe2\\x80\\x8b"},
    {"\xef\xbb\xbf", "\\xef\\xbb\\xbf"},
    {"\xf3\xa0\x81\x81", "\\xf3\\xa0\\x81\\x81"},
};

/* A daemon's refusal that holds each of them reaches the log escaped. */
static void hidden_characters_in_a_daemon_message_are_escaped(void **state)
{
	uint8_t reply[256];
	GString *msg = g_string_new("wrong"), *shown = g_string_new("wrong");
	size_t len;
	uint32_t n;

	(void)state;
	for (size_t i = 0; i < N_ELEMS(hidden); i++) {
		g_string_append_printf(msg, "%s%zu", hidden[i][0], i);
		g_string_append_printf(shown, "%s%zu", hidden[i][1], i);
	}
	len =
	    reply_encode(reply + 4, sizeof(reply) - 4, false, false, msg->str);
	n = (uint32_t)len;
	memcpy(reply, &n, 4);
	stack("encoding=dbus");
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .behaviour = LISTENER_RAW_REPLY, .raw_reply = reply,
		   .raw_reply_len = 4 + len));

	t_login("login", "alice", "hunter2", NULL);

	assert_logged(textf("The daemon could not unlock: %s", shown->str));
	for (size_t i = 0; i < N_ELEMS(hidden); i++)
		assert_null(strstr(t_logs(), hidden[i][0]));
	g_string_free(msg, TRUE);
	g_string_free(shown, TRUE);
}

/* The same characters in OO7_PAM_SOCKET, logged with debug. */
static void hidden_characters_in_oo7_pam_socket_are_escaped(void **state)
{
	GString *path = g_string_new("/run/oo7-"), *shown = g_string_new("");

	(void)state;
	for (size_t i = 0; i < N_ELEMS(hidden); i++) {
		g_string_append(path, hidden[i][0]);
		g_string_append(shown, hidden[i][1]);
	}
	stack("debug");
	setenv("OO7_PAM_SOCKET", path->str, 1);

	t_login("login", "alice", "hunter2", NULL);

	unsetenv("OO7_PAM_SOCKET");
	assert_logged(textf("/run/oo7-%s", shown->str));
	for (size_t i = 0; i < N_ELEMS(hidden); i++)
		assert_null(strstr(t_logs(), hidden[i][0]));
	g_string_free(path, TRUE);
	g_string_free(shown, TRUE);
}

/* U+202E turns the rest of a line around; U+0085 is a C1 newline. */
static void bidi_and_c1_controls_in_a_socket_path_are_escaped(void **state)
{
	(void)state;
	stack("debug socket=/run/oo7-\xe2\x80\xae"
	      "kcos.\xc2\x85x");

	t_login("login", "alice", "hunter2", NULL);

	assert_logged("/run/oo7-\\xe2\\x80\\xaekcos.\\xc2\\x85x");
	assert_null(strstr(t_logs(), "\xe2\x80\xae"));
	assert_null(strstr(t_logs(), "\xc2\x85"));
}

/* ---- capabilities ---- */

struct caps {
	struct __user_cap_header_struct header;
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
};

static struct caps get_caps(void)
{
	struct caps c = {.header = {.version = _LINUX_CAPABILITY_VERSION_3}};

	assert_int_equal(syscall(SYS_capget, &c.header, c.data), 0);
	return c;
}

static void set_caps(struct caps *c)
{
	assert_int_equal(syscall(SYS_capset, &c->header, c->data), 0);
}

static void assert_caps_equal(const struct caps *a, const struct caps *b)
{
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		assert_int_equal(a->data[i].effective, b->data[i].effective);
		assert_int_equal(a->data[i].permitted, b->data[i].permitted);
		assert_int_equal(a->data[i].inheritable,
				 b->data[i].inheritable);
	}
}

/*
 * A login by a host that lowered CAP_DAC_OVERRIDE in its effective set (it
 * keeps it permitted, and raises it again when it needs it).
 */
static void login_with_dac_override_lowered(void)
{
	struct caps full = get_caps(), lowered = full, after;

	lowered.data[0].effective &= ~(1U << CAP_DAC_OVERRIDE);
	set_caps(&lowered);

	t_login("login", "alice", "hunter2", NULL);

	after = get_caps();
	set_caps(&full);
	assert_caps_equal(&after, &lowered);
}

static void capabilities_are_as_the_host_had_them_after_a_delivery(void **state)
{
	(void)state;
	stack_default_with_alices_daemon();

	login_with_dac_override_lowered();

	assert_unlock_frame("hunter2");
}

static void
capabilities_are_as_the_host_had_them_after_a_daemon_start(void **state)
{
	(void)state;
	stack_auto_start();

	login_with_dac_override_lowered();

	g_free(fake_daemon_record(&t_alice));
	assert_true(fake_daemon_ran(&t_alice));
}

/*
 * In a child: a host that is not root but holds CAP_SETUID and
 * CAP_SETGID, permitted, effective, inheritable and ambient (a hardened
 * login service), as bob; then alice's login. Its exit code: 0 when the
 * login succeeded.
 */
static void login_by_a_capable_service(void)
{
	struct caps c = {.header = {.version = _LINUX_CAPABILITY_VERSION_3}};
	const uint32_t both = 1U << CAP_SETUID | 1U << CAP_SETGID;

	if (prctl(PR_SET_KEEPCAPS, 1) < 0 ||
	    setresgid(t_bob.gid, t_bob.gid, t_bob.gid) < 0 ||
	    setresuid(t_bob.uid, t_bob.uid, t_bob.uid) < 0)
		_exit(2);
	c.data[0].permitted = c.data[0].effective = c.data[0].inheritable =
	    both;
	if (syscall(SYS_capset, &c.header, c.data) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETUID, 0, 0) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETGID, 0, 0) < 0)
		_exit(3);
	_exit(t_login("login", "alice", "hunter2", NULL) == PAM_SUCCESS ? 0
									: 1);
}

/*
 * Such a host starts alice's daemon: it runs with her ids and no
 * capability at all, though a change of ids that does not leave uid 0
 * clears none.
 */
static void
daemon_started_by_a_host_with_ambient_capabilities_has_none(void **state)
{
	int status = -1;
	gchar *rec;
	pid_t pid;

	(void)state;
	stack("auto_start=fork daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);

	pid = fork();
	if (pid == 0)
		login_by_a_capable_service();
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rec = started_daemon_record(&t_alice);
	assert_has(rec, ids_line(&t_alice));
	assert_has(rec, "CapPrm:\t0000000000000000\n");
	assert_has(rec, "CapEff:\t0000000000000000\n");
	assert_has(rec, "CapInh:\t0000000000000000\n");
	assert_has(rec, "CapAmb:\t0000000000000000\n");
	g_free(rec);
}

/* ---- the daemon's process ---- */

/*
 * A host with fds 0..2 closed starts the daemon, with password (or none):
 * the daemon has fds 0 to 2 open, and its record says what its stdin had.
 */
static void daemon_gets_open_stdio_from_a_host_without(const char *password,
						       const char *got)
{
	const char *answers[] = {password, NULL};
	pam_handle_t *pamh;
	pid_t pid;
	int status;
	gchar *rec;

	stack_auto_start();
	pid = fork();
	if (pid == 0) {
		close(0);
		close(1);
		close(2);
		pamh = t_pam_start("login", "alice", answers);
		if (password)
			pam_authenticate(pamh, 0);
		status = pam_open_session(pamh, 0);
		pam_end(pamh, status);
		_exit(status == PAM_SUCCESS ? 0 : 1);
	}
	/* the login is bounded by timeout= (2 s), and so is this wait */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rec = fake_daemon_record(&t_alice);

	assert_has(rec, "fds 0 1 2\n");
	assert_has(rec, got);
	g_free(rec);
}

static void daemon_gets_open_stdio_from_a_host_that_closed_0_to_2(void **state)
{
	(void)state;
	daemon_gets_open_stdio_from_a_host_without(
	    "hunter2", "stdin 68756e74657232\n"); /* hunter2 */
}

static void
daemon_gets_open_stdio_from_a_host_that_closed_0_to_2_without_password(
    void **state)
{
	(void)state;
	daemon_gets_open_stdio_from_a_host_without(NULL, "stdin \n");
}

static void daemon_gets_umask_077_from_a_host_with_umask_000(void **state)
{
	mode_t old;
	gchar *rec;

	(void)state;
	stack_auto_start();
	old = umask(0);

	t_login("login", "alice", "hunter2", NULL);

	assert_int_equal(umask(old), 0);
	rec = fake_daemon_record(&t_alice);
	assert_has(rec, "umask 077\n");
	g_free(rec);
}

/* ---- signals around fork ---- */

#define FLOOD_STARTS 40

static pid_t flood_host;
static int child_hits_fd = -1;
static volatile sig_atomic_t host_hits;

/* Counts in the host; in a child, tells the test over the pipe. */
static void on_usr1(int sig)
{
	(void)sig;
	if (getpid() == flood_host)
		host_hits++;
	else if (write(child_hits_fd, "c", 1) < 0)
		_exit(3);
}

/* In its own process group, FLOOD_STARTS logins that start a daemon. */
static void flood_host_run(const char *daemon, int hits_fd, int ready_fd)
{
	struct sigaction sa = {.sa_handler = on_usr1};

	setpgid(0, 0);
	flood_host = getpid();
	child_hits_fd = hits_fd;
	sigaction(SIGUSR1, &sa, NULL);
	stack("auto_start timeout=500 daemon=%s", daemon);
	if (write(ready_fd, "r", 1) < 0)
		_exit(4);
	for (int i = 0; i < FLOOD_STARTS; i++)
		t_login("login", "alice", "hunter2", NULL);
	_exit(host_hits > 0 ? 0 : 5);
}

/*
 * A host whose process group gets SIGUSR1 again and again while it starts
 * daemons (the daemon exits at once, so every login starts one): its
 * handler runs in the host, never in a child of the module's.
 */
static void host_signal_handlers_never_run_in_the_modules_children(void **state)
{
	int hits[2], ready[2], status = -1;
	const char *daemon;
	char c, buf[256];
	size_t in_children = 0;
	ssize_t n;
	pid_t host;

	(void)state;
	t_runtime_dir(&t_alice);
	daemon = textf("%s/oo7-daemon-fail", FAKE_DAEMON_DIR);
	assert_true(copy_program(FAKE_DAEMON, daemon));
	assert_int_equal(pipe2(hits, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	host = fork();
	if (host == 0)
		flood_host_run(daemon, hits[1], ready[1]);
	close(ready[1]);
	close(hits[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	/* at most 60 s (valgrind), then the host is stopped */
	for (int i = 0; i < 600000 && waitpid(host, &status, WNOHANG) == 0;
	     i++) {
		kill(-host, SIGUSR1);
		usleep(100);
	}
	if (waitpid(host, &status, WNOHANG) == 0) {
		kill(-host, SIGKILL);
		waitpid(host, &status, 0);
	}
	while ((n = read(hits[0], buf, sizeof(buf))) > 0)
		in_children += (size_t)n;
	close(hits[0]);
	close(ready[0]);
	unlink(daemon);
	unlink(runtime_path(&t_alice, "fake-daemon.pid"));

	assert_int_equal(in_children, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0); /* and the host got some */
}

int trust_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		session_for_another_user_sends_alices_password_to_no_one, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		session_for_another_user_starts_no_daemon, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		failed_second_auth_for_bob_leaves_him_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(session_for_the_same_user_delivers,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		newline_in_oo7_pam_socket_forges_no_log_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		hidden_characters_in_a_daemon_message_are_escaped, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		hidden_characters_in_oo7_pam_socket_are_escaped, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		escape_sequence_in_a_daemon_message_is_escaped, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bidi_and_c1_controls_in_a_socket_path_are_escaped, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		capabilities_are_as_the_host_had_them_after_a_delivery, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		capabilities_are_as_the_host_had_them_after_a_daemon_start,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_started_by_a_host_with_ambient_capabilities_has_none,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_gets_open_stdio_from_a_host_that_closed_0_to_2, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_gets_open_stdio_from_a_host_that_closed_0_to_2_without_password,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		daemon_gets_umask_077_from_a_host_with_umask_000, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		host_signal_handlers_never_run_in_the_modules_children, setup,
		teardown),
	};

	return cmocka_run_group_tests_name("trust", tests, NULL, NULL);
}
