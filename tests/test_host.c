// SPDX-License-Identifier: MIT
/*
 * The host: the module lives in someone else's process. It gives back the
 * identity it borrowed, leaves fds, signals, ids and children as they were
 * after a thousand logins, keeps the password only from auth to session,
 * leaves no copy of it in memory, returns what libpam's control flags
 * expect, and takes its options as documented.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>

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

/* ---- the host process is left as it was ---- */

static void host_identity_is_restored_after_delivery(void **state)
{
	gid_t before[64], after[64];
	int nb = getgroups(64, before), na;

	(void)state;
	stack_default_with_alices_daemon();

	t_login("login", "alice", "hunter2", NULL);

	na = getgroups(64, after);
	assert_int_equal(na, nb);
	assert_memory_equal(before, after, (size_t)na * sizeof(gid_t));
	assert_int_equal(setfsuid((uid_t)-1), 0);
	assert_int_equal(setfsgid((gid_t)-1), 0);
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);
	assert_unlock_frame("hunter2");
}

/* 1,000 logins and 10 password changes. */
static void logins_and_changes(void)
{
	for (int i = 0; i < 1000; i++)
		t_login("login", "alice", "hunter2", NULL);
	for (int i = 0; i < 10; i++)
		t_chauthtok("login", "alice", "hunter2", "new");
}

/* After those, the same process as before. */
static void host_is_left_as_it_was_after_1000_logins(enum sigchld how)
{
	struct record *all;
	size_t n;

	stack_default_with_alices_daemon();

	assert_host_unchanged_by(how, logins_and_changes);

	n = t_frames(&all);
	assert_int_equal(n, 1010);
	records_free(all, n);
	set_sigchld(SIGCHLD_DEFAULT);
}

static void
host_with_sigchld_default_is_left_as_it_was_after_1000_logins(void **state)
{
	(void)state;
	host_is_left_as_it_was_after_1000_logins(SIGCHLD_DEFAULT);
}

static void
host_with_sigchld_ignored_is_left_as_it_was_after_1000_logins(void **state)
{
	(void)state;
	host_is_left_as_it_was_after_1000_logins(SIGCHLD_IGNORED);
}

static void
host_with_sigchld_handled_is_left_as_it_was_after_1000_logins(void **state)
{
	(void)state;
	host_is_left_as_it_was_after_1000_logins(SIGCHLD_HANDLED);
}

/* ---- the kept password ---- */

/* A handle of "login" for alice, these answers, her daemon listening. */
static pam_handle_t *alice_listened_for(const char *const *answers)
{
	stack_default_with_alices_daemon();
	return t_pam_start("login", "alice", answers);
}

static void session_without_auth_sends_nothing(void **state)
{
	pam_handle_t *pamh;

	(void)state;
	pamh = alice_listened_for(NULL);

	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_no_frame();
}

/*
 * auth, PAM_AUTHTOK cleared, auth again with what answers has left, then
 * the session.
 */
static void auth_twice_then_session(const char *const *answers)
{
	pam_handle_t *pamh = alice_listened_for(answers);

	pam_authenticate(pamh, 0);
	pam_set_item(pamh, PAM_AUTHTOK, NULL);
	pam_authenticate(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);
}

static void second_auth_replaces_the_kept_password(void **state)
{
	const char *answers[] = {"first-try", "second-try", NULL};

	(void)state;
	auth_twice_then_session(answers);

	assert_frame(false, 0, "alice", "", 0, "second-try", 10);
}

/*
 * An auth that reads no password must not leave the earlier one behind: the
 * conversation has no answer left, no PAM_AUTHTOK the second time.
 */
static void auth_without_password_drops_the_earlier_one(void **state)
{
	const char *answers[] = {"first-try", NULL};

	(void)state;
	auth_twice_then_session(answers);

	assert_no_frame();
	assert_logged("list pam_oo7 after the module that reads it");
}

/* The kept password is dropped once used: a second session gets none. */
static void session_uses_the_kept_password_once(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	pam_handle_t *pamh;

	(void)state;
	pamh = alice_listened_for(answers);
	pam_authenticate(pamh, 0);

	pam_open_session(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	assert_unlock_frame("hunter2");
}

static void chauthtok_without_old_password_sends_nothing(void **state)
{
	const char *answers[] = {"new", "new", NULL};
	pam_handle_t *pamh;

	(void)state;
	t_service("passwd", "password required @FIXTURE@ no_old\n"
			    "password optional @MODULE@\n");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	pamh = t_pam_start("passwd", "alice", answers);

	assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_no_frame();
	assert_logged("No old password (as when root sets it): the keyring "
		      "was not re-keyed");
}

/* ---- the password does not linger ---- */

/*
 * True if this process's readable memory holds the bytes of secret. Maps of
 * over 1 GiB are skipped: they are ASan's shadow and allocator reservations,
 * which reading would fill in.
 */
static bool memory_holds(const uint8_t *masked, size_t len, uint8_t mask)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	static uint8_t buf[1 << 16];
	char line[512];
	bool found = false;

	while (!found && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || hi - lo > (1UL << 30) ||
		    strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
			continue;
		for (unsigned long a = lo; !found && a < hi;) {
			size_t want =
			    hi - a < sizeof(buf) ? hi - a : sizeof(buf);
			ssize_t got = pread(mem, buf, want, (off_t)a);

			if (got <= 0)
				break;
			/* Compare through the mask: the pattern itself is
			 * never in memory in clear. */
			for (ssize_t i = 0; !found && i + (ssize_t)len <= got;
			     i++) {
				size_t k = 0;

				while (k < len &&
				       (buf[i + k] ^ mask) == masked[k])
					k++;
				found = k == len;
			}
			/* Overlap the next chunk by len - 1 bytes. */
			a += (unsigned long)got > len
				 ? (unsigned long)got - len + 1
				 : (unsigned long)got;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(maps);
	close(mem);
	return found;
}

/*
 * 3,000 bytes, of which 64 in the middle are looked for: a chunk that size
 * is kept out of the small-size caches, and a freed chunk keeps all but its
 * first bytes, so a copy freed unwiped is found (checked by unwiping the
 * stash and the frame in turn).
 */
static void password_does_not_linger_after_pam_end(void **state)
{
	enum { LEN = 3000, FROM = 1000, PART = 64 };
	static const uint8_t mask = 0x5a;
	uint8_t masked[PART];
	char *pw = malloc(LEN + 1), *pw2 = malloc(LEN + 1),
	     *pw3 = malloc(LEN + 1);
	const char *login[] = {pw, NULL}, *change[] = {pw3, pw2, pw2, NULL};
	const char *const *answers[] = {login, change};
	struct record *all;
	size_t n;

	(void)state;
	/* Distinctive passwords, built at run time, never as a literal. */
	for (size_t i = 0; i < LEN; i++) {
		pw[i] = (char)('A' + (i * 7 + 3) % 26);
		pw2[i] = (char)('a' + (i * 5 + 1) % 26);
		pw3[i] = (char)('a' + (i * 3 + 2) % 26);
	}
	pw[LEN] = pw2[LEN] = pw3[LEN] = '\0';
	stack_default_with_alices_daemon();
	/* A login, then a password change, each checked on its own. */
	for (int k = 0; k < 2; k++) {
		pam_handle_t *pamh = t_pam_start("login", "alice", answers[k]);
		char *p = k ? pw2 : pw;

		if (k == 0) {
			assert_int_equal(pam_authenticate(pamh, 0),
					 PAM_SUCCESS);
			assert_int_equal(pam_open_session(pamh, 0),
					 PAM_SUCCESS);
		} else {
			assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
		}
		pam_end(pamh, PAM_SUCCESS);
		/* The test's own copy goes; then only the module's could
		 * remain. The frames are read (and wiped) after the scan, so
		 * that reading them cannot overwrite what is looked for. */
		for (size_t i = 0; i < PART; i++)
			masked[i] = (uint8_t)p[FROM + i] ^ mask;
		explicit_bzero(p, LEN);

		assert_false(memory_holds(masked, PART, mask));
		n = t_frames(&all);
		records_free(all, n);
		assert_int_equal(n, (size_t)k + 1);
	}
	free(pw);
	free(pw2);
	free(pw3);
}

/*
 * alice's password, kept by auth, once PAM_USER names bob (as sudo -i -u
 * and doas do before setcred and the session): the next hook that sees it,
 * setcred here, wipes it, long before pam_end; the log says so.
 */
static void copy_kept_for_another_user_is_wiped_at_setcred(void **state)
{
	enum { LEN = 3000, FROM = 1000, PART = 64 };
	static const uint8_t mask = 0x5a;
	uint8_t masked[PART];
	char *pw = malloc(LEN + 1);
	const char *login[] = {pw, NULL};
	pam_handle_t *pamh;

	(void)state;
	for (size_t i = 0; i < LEN; i++)
		pw[i] = (char)('A' + (i * 11 + 5) % 26);
	pw[LEN] = '\0';
	stack_default();
	pamh = t_pam_start("login", "alice", login);
	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);

	pam_setcred(pamh, PAM_ESTABLISH_CRED);

	for (size_t i = 0; i < PART; i++)
		masked[i] = (uint8_t)pw[FROM + i] ^ mask;
	explicit_bzero(pw, LEN);
	assert_false(memory_holds(masked, PART, mask));
	assert_logged("The password was kept for alice (uid 61001), not for "
		      "bob (uid 61002): wiped, nothing sent, nothing started");
	pam_end(pamh, PAM_SUCCESS);
	free(pw);
}

/* ---- what each hook returns, read through libpam's own control flags ---- */

/* auth says PAM_IGNORE: if it said anything else, pam_deny would run. */
static void auth_and_setcred_return_ignore(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	pam_handle_t *pamh;

	(void)state;
	t_service("rc", "auth required @FIXTURE@\n"
			"auth [ignore=1 default=bad] @MODULE@\n"
			"auth requisite pam_deny.so\n"
			"auth required pam_permit.so\n"
			"account required pam_permit.so\n");
	pamh = t_pam_start("rc", "alice", answers);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);
}

/* What answers at alice's socket, if anything. */
enum daemon_answer { NO_DAEMON, DAEMON_REFUSES, DAEMON_CONFIRMS };

/* Were it anything but PAM_SUCCESS, pam_deny would run. */
static void session_and_password_return_success(enum daemon_answer d)
{
	const char *answers[] = {"hunter2", "x", "y", "y", NULL};
	pam_handle_t *pamh;

	t_service("rc", "auth required @FIXTURE@\n"
			"auth optional @MODULE@\n"
			"session [success=1 default=bad] @MODULE@\n"
			"session requisite pam_deny.so\n"
			"session required pam_permit.so\n"
			"password required @FIXTURE@\n"
			"password [success=1 default=bad] @MODULE@\n"
			"password requisite pam_deny.so\n"
			"password required pam_permit.so\n");
	if (d != NO_DAEMON)
		t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
			   .behaviour = LISTENER_REPLY,
			   .reply_ok = d == DAEMON_CONFIRMS));
	pamh = t_pam_start("rc", "alice", answers);

	assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_close_session(pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);
}

static void session_and_password_return_success_with_no_daemon(void **state)
{
	(void)state;
	session_and_password_return_success(NO_DAEMON);
}

static void
session_and_password_return_success_when_the_daemon_refuses(void **state)
{
	(void)state;
	session_and_password_return_success(DAEMON_REFUSES);
}

static void
session_and_password_return_success_when_the_daemon_confirms(void **state)
{
	(void)state;
	session_and_password_return_success(DAEMON_CONFIRMS);
}

/* ---- options ---- */

/* alice logs in with this option, her daemon listening; the login's code. */
static int login_with_option(const char *option)
{
	stack("%s", option);
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	return t_login("login", "alice", "hunter2", NULL);
}

static void only_if_skips_other_services(void **state)
{
	(void)state;
	login_with_option("only_if=gdm-password,sddm");

	assert_no_frame();
}

static void only_if_acts_for_listed_services(void **state)
{
	(void)state;
	login_with_option("only_if=gdm-password,login");

	assert_unlock_frame("hunter2");
}

/* The option is logged, and the login goes on with the defaults. */
static void invalid_option_is_logged_and_ignored(const char *option)
{
	assert_int_equal(login_with_option(option), PAM_SUCCESS);

	assert_logged(textf("Ignoring unknown or invalid option: %s", option));
	assert_unlock_frame("hunter2");
}

static void unknown_option_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("frobnicate");
}

static void timeout_not_a_number_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("timeout=abc");
}

static void negative_timeout_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("timeout=-1");
}

static void timeout_beyond_its_range_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("timeout=99999999999");
}

static void zero_timeout_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("timeout=0");
}

static void empty_socket_option_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("socket=");
}

static void relative_socket_path_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("socket=relative/path");
}

static void unknown_encoding_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("encoding=xml");
}

static void empty_only_if_is_logged_and_ignored(void **state)
{
	(void)state;
	invalid_option_is_logged_and_ignored("only_if=");
}

int host_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		host_identity_is_restored_after_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		host_with_sigchld_default_is_left_as_it_was_after_1000_logins,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		host_with_sigchld_ignored_is_left_as_it_was_after_1000_logins,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		host_with_sigchld_handled_is_left_as_it_was_after_1000_logins,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(session_without_auth_sends_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		second_auth_replaces_the_kept_password, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		auth_without_password_drops_the_earlier_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(session_uses_the_kept_password_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		chauthtok_without_old_password_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_does_not_linger_after_pam_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		copy_kept_for_another_user_is_wiped_at_setcred, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(auth_and_setcred_return_ignore,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		session_and_password_return_success_with_no_daemon, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		session_and_password_return_success_when_the_daemon_refuses,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		session_and_password_return_success_when_the_daemon_confirms,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(only_if_skips_other_services, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(only_if_acts_for_listed_services,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		unknown_option_is_logged_and_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		timeout_not_a_number_is_logged_and_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		negative_timeout_is_logged_and_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		timeout_beyond_its_range_is_logged_and_ignored, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(zero_timeout_is_logged_and_ignored,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		empty_socket_option_is_logged_and_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		relative_socket_path_is_logged_and_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		unknown_encoding_is_logged_and_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(empty_only_if_is_logged_and_ignored,
					    setup, teardown),
	};

	return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
