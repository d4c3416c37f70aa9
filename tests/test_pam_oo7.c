// SPDX-License-Identifier: MIT
/*
 * pam_oo7 as a specification: each case drives the built module through
 * real libpam and reads what really crossed the socket, checked against
 * libdbus-1 and GLib and against the golden frames of WIRE.md.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <crypt.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <glib.h>
#include <security/pam_modules.h>

#include "harness.h"

#define STACK                                                                  \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ %1$s\n"                                    \
	"session  optional @MODULE@ %1$s\n"                                    \
	"password required @FIXTURE@\n"                                        \
	"password optional @MODULE@ %1$s\n"

/* A listener: socket file of uid owner, mode m, run by uid runner. */
#define L(p, owner, runner, m, ...)                                            \
	((struct listener_cfg){.path = (p),                                    \
			       .owner_uid = (owner),                           \
			       .owner_gid = (owner),                           \
			       .mode = (m),                                    \
			       .run_uid = (runner),                            \
			       .run_gid = (runner),                            \
			       __VA_ARGS__})

/* The service "login": the fixture reads the password, pam_oo7 follows. */
static void stack(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void stack(const char *fmt, ...)
{
	char args[1024], text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), STACK, args);
	t_service("login", text);
}

static const char *alice_socket(void)
{
	t_runtime_dir(&t_alice);
	return "/run/user/61001/oo7/pam.sock";
}

static size_t hex_decode(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned int b;

	for (; *hex; hex++) {
		if (*hex == ' ')
			continue;
		sscanf(hex, "%2x", &b);
		out[n++] = (uint8_t)b;
		hex++;
	}
	return n;
}

/* The process that hosts libpam: this one, or a real client it ran. */
static pid_t host_pid;

/* Exactly one frame arrived, from the PAM host, running as root. */
static struct record *one_frame(struct record **all)
{
	size_t n = t_frames(all);

	assert_int_equal(n, 1);
	assert_int_equal((*all)[0].uid, 0);
	assert_int_equal((*all)[0].pid, host_pid ? host_pid : getpid());
	return &(*all)[0];
}

static void assert_frame(bool gvariant, uint8_t op, const char *user,
			 const void *old, size_t old_len, const void *new,
			 size_t new_len)
{
	struct record *all, *r = one_frame(&all);
	uint8_t *want;
	size_t n = t_expect_frame(&want, gvariant, op, user, old, old_len, new,
				  new_len);

	struct decoded d;

	assert_int_equal(r->len, n);
	assert_memory_equal(r->data, want, n);
	assert_true(frame_decode(r->data, r->len, gvariant, &d));
	assert_int_equal(d.op, op);
	assert_string_equal(d.user, user);
	assert_int_equal(g_bytes_get_size(d.old), old_len);
	assert_int_equal(g_bytes_get_size(d.new), new_len);
	assert_memory_equal(g_bytes_get_data(d.new, NULL), new, new_len);
	if (old_len)
		assert_memory_equal(g_bytes_get_data(d.old, NULL), old,
				    old_len);
	decoded_free(&d);
	free(want);
	records_free(all, 1);
}

static void assert_golden(const char *hex)
{
	struct record *all, *r = one_frame(&all);
	uint8_t want[256];
	size_t n = hex_decode(hex, want);

	assert_int_equal(r->len, n);
	assert_memory_equal(r->data, want, n);
	records_free(all, 1);
}

static void assert_no_frame(void)
{
	struct record *all;
	size_t n = t_frames(&all);

	records_free(all, n);
	assert_int_equal(n, 0);
}

static void assert_logged(const char *needle)
{
	const char *logs = t_logs();

	if (!strstr(logs, needle))
		fail_msg("log lacks \"%s\"; it holds:\n%s", needle, logs);
}

static void assert_not_logged(const char *needle)
{
	const char *logs = t_logs();

	if (strstr(logs, needle))
		fail_msg("log holds \"%s\":\n%s", needle, logs);
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- delivery ---- */

static void session_sends_unlock_frame_to_user_socket(void **state)
{
	(void)state;
	stack("debug");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_golden("1f000000 00000000 05000000 616c6963 65000000 00000000 "
		      "07000000 68756e74 657232");
	assert_not_logged("hunter2");
}

static void chauthtok_sends_change_frame_with_old_and_new(void **state)
{
	(void)state;
	stack("debug");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(
	    t_chauthtok("login", "alice", "hunter2", "correct horse"),
	    PAM_SUCCESS);

	assert_golden("2d000000 01000000 05000000 616c6963 65000000 07000000 "
		      "68756e74 65723200 0d000000 636f7272 65637420 686f7273 "
		      "65");
	assert_not_logged("hunter2");
	assert_not_logged("correct horse");
}

static void gvariant_unlock_frame_matches_glib(void **state)
{
	(void)state;
	stack("encoding=gvariant");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_golden("10000000 00616c69636500 68756e74657232 07 07");
}

static void gvariant_change_frame_matches_glib(void **state)
{
	(void)state;
	t_service("passwd", "password required @FIXTURE@\n"
			    "password optional @MODULE@ encoding=gvariant\n");
	t_runtime_dir(&t_bob);
	t_listen_as(&t_bob, "/run/user/61002/oo7/pam.sock", LISTENER_CLOSE);

	t_chauthtok("passwd", "bob", "old", "newpw");

	assert_golden("0f000000 01 626f6200 6f6c64 6e65777077 08 05");
}

/* Every byte but NUL, several UTF-8 scripts, and a 4 KiB password. */
static void passwords_of_any_bytes_and_length_arrive_intact(void **state)
{
	char bytes[256], big[4097];
	const char *pw[] = {bytes,
			    "p\xc3\xa4ss w\xc3\xb6rd \xe2\x82\xac "
			    "\xf0\x9f\x94\x91 \xd0\xbf\xd0\xb0",
			    big, "\xff\xfe\x80\x01"};

	(void)state;
	for (int i = 1; i < 256; i++)
		bytes[i - 1] = (char)i;
	bytes[255] = '\0';
	memset(big, 'x', 4096);
	big[4096] = '\0';
	for (int gv = 0; gv < 2; gv++)
		for (size_t i = 0; i < sizeof(pw) / sizeof(pw[0]); i++) {
			stack("encoding=%s", gv ? "gvariant" : "dbus");
			t_case_teardown(state);
			t_case_setup(state);
			stack("encoding=%s", gv ? "gvariant" : "dbus");
			t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

			t_login("login", "alice", pw[i], NULL);

			assert_frame(gv, 0, "alice", "", 0, pw[i],
				     strlen(pw[i]));
		}
}

/* GVariant offsets widen from 1 to 2 bytes at 256, and to 4 at 65,536. */
static void gvariant_offsets_widen_as_glib_does(void **state)
{
	size_t lens[] = {240,	241,   242,   243,   244,   245,   246,
			 247,	248,   249,   250,   65515, 65516, 65517,
			 65518, 65519, 65520, 65521, 65522, 65523, 65524,
			 65525, 65526, 65527, 65528};
	char *pw = malloc(65529);

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		t_case_teardown(state);
		t_case_setup(state);
		memset(pw, 'w', lens[i]);
		pw[lens[i]] = '\0';
		stack("encoding=gvariant");
		t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

		t_login("login", "alice", pw, NULL);

		assert_frame(true, 0, "alice", "", 0, pw, lens[i]);
	}
	free(pw);
}

/* An account without a password has a keyring without one. */
static void empty_password_is_sent_as_it_is(void **state)
{
	for (int gv = 0; gv < 2; gv++) {
		t_case_teardown(state);
		t_case_setup(state);
		stack("encoding=%s", gv ? "gvariant" : "dbus");
		t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

		t_login("login", "alice", "", NULL);

		assert_frame(gv, 0, "alice", "", 0, "", 0);
	}
}

static void non_utf8_user_name_sends_nothing(void **state)
{
	(void)state;
	stack("%s", "");
	t_runtime_dir(&t_latin);
	t_listen_as(&t_latin, "/run/user/61003/oo7/pam.sock", LISTENER_CLOSE);

	assert_int_equal(t_login("login", t_latin.name, "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("User name is not valid UTF-8 or holds a control "
		      "character; nothing sent");
}

static void session_without_auth_sends_nothing(void **state)
{
	pam_handle_t *pamh;

	(void)state;
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	pamh = t_pam_start("login", "alice", NULL);

	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	assert_no_frame();
}

static void second_auth_replaces_the_kept_password(void **state)
{
	const char *answers[] = {"first-try", "second-try", NULL};
	pam_handle_t *pamh;

	(void)state;
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	pamh = t_pam_start("login", "alice", answers);

	pam_authenticate(pamh, 0);
	pam_set_item(pamh, PAM_AUTHTOK, NULL);
	pam_authenticate(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	assert_frame(false, 0, "alice", "", 0, "second-try", 10);
}

/* An auth that reads no password must not leave the earlier one behind. */
static void auth_without_password_drops_the_earlier_one(void **state)
{
	const char *answers[] = {"first-try", NULL};
	pam_handle_t *pamh;

	(void)state;
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	pamh = t_pam_start("login", "alice", answers);
	pam_authenticate(pamh, 0);
	pam_set_item(pamh, PAM_AUTHTOK, NULL);

	/* The conversation has no answer left: no PAM_AUTHTOK this time. */
	pam_authenticate(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	assert_no_frame();
	assert_logged("list pam_oo7 after the module that reads it");
}

/* The kept password is dropped once used: a second session gets none. */
static void session_uses_the_kept_password_once(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	pam_handle_t *pamh;

	(void)state;
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	pamh = t_pam_start("login", "alice", answers);
	pam_authenticate(pamh, 0);

	pam_open_session(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
}

/* ---- where the socket is ---- */

static void xdg_runtime_dir_from_pam_env_comes_first(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	char env[300];
	pam_handle_t *pamh;

	(void)state;
	stack("%s", "");
	t_mkdir(t_path("xdg"), t_alice.uid, t_alice.gid, 0700);
	t_mkdir(t_path("xdg/oo7"), t_alice.uid, t_alice.gid, 0700);
	t_listen(L(t_path("xdg/oo7/pam.sock"), 61001, 61001, 0600, .id = 1));
	t_listen(L(alice_socket(), 61001, 61001, 0600, .id = 2));
	snprintf(env, sizeof(env), "XDG_RUNTIME_DIR=%s", t_path("xdg"));
	pamh = t_pam_start("login", "alice", answers);
	pam_putenv(pamh, env);

	pam_authenticate(pamh, 0);
	pam_open_session(pamh, 0);
	pam_end(pamh, PAM_SUCCESS);

	struct record *all;
	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

/* The host's environment belongs to the login manager, not to the user. */
static void xdg_runtime_dir_of_the_process_is_not_used(void **state)
{
	(void)state;
	stack("%s", "");
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
	stack("%s", "");
	t_listen(L(alice_socket(), 61001, 61001, 0600, .id = 1));
	t_listen(
	    L("/run/user/61001/oo7-pam.sock", 61001, 61001, 0600, .id = 2));

	t_login("login", "alice", "hunter2", NULL);

	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

/* Where oo7-daemon 0.6 and later really bind. */
static void legacy_socket_of_released_daemon_is_used(void **state)
{
	(void)state;
	stack("%s", "");
	t_runtime_dir(&t_alice);
	t_listen_as(&t_alice, "/run/user/61001/oo7-pam.sock", LISTENER_CLOSE);

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
	t_listen(L(t_path("opt.sock"), 61001, 61001, 0600, .id = 1));
	t_listen(L(t_path("env.sock"), 61001, 61001, 0600, .id = 2));
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
	stack("%s", "");
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
	stack("%s", "");
	t_listen(L(t_path("env.sock"), 61001, 61001, 0600, .id = 1));
	t_listen(L(alice_socket(), 61001, 61001, 0600, .id = 2));
	setenv("OO7_PAM_SOCKET", t_path("env.sock"), 1);

	t_login("login", "alice", "hunter2", NULL);

	assert_int_equal(one_frame(&all)->id, 1);
	records_free(all, 1);
}

/* ---- who may receive the password ---- */

static void socket_owned_by_another_uid_gets_nothing(void **state)
{
	(void)state;
	stack("socket=%s", t_path("bob.sock"));
	t_listen(L(t_path("bob.sock"), 61002, 61002, 0666));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("not a socket owned by alice; nothing sent");
}

/* The file is alice's, but bob listens behind it: SO_PEERCRED tells. */
static void listener_running_as_another_uid_gets_nothing(void **state)
{
	(void)state;
	stack("%s", "");
	t_listen(L(alice_socket(), 61001, 61002, 0666));

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
	assert_logged("its listener runs as uid 61002, not as alice");
}

static void listener_running_as_root_gets_nothing(void **state)
{
	(void)state;
	stack("%s", "");
	t_listen(L(alice_socket(), 61001, 0, 0600));

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
	assert_logged("its listener runs as uid 0, not as alice");
}

static void symlink_to_another_users_socket_gets_nothing(void **state)
{
	(void)state;
	stack("%s", "");
	t_listen(L(t_path("bob.sock"), 61002, 61002, 0666));
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
	t_listen(L(t_path("root-only/pam.sock"), 61001, 61001, 0600));
	stack("debug socket=%s", t_path("root-only/pam.sock"));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("Failed to reach");
	assert_logged("as alice: Permission denied; nothing sent, nothing "
		      "started");
}

static void host_identity_is_restored_after_delivery(void **state)
{
	gid_t before[64], after[64];
	int nb = getgroups(64, before), na;

	(void)state;
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	na = getgroups(64, after);
	assert_int_equal(na, nb);
	assert_memory_equal(before, after, (size_t)na * sizeof(gid_t));
	assert_int_equal(setfsuid((uid_t)-1), 0);
	assert_int_equal(setfsgid((gid_t)-1), 0);
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);
	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
}

/* ---- absent and hung daemons ---- */

static void absent_daemon_is_not_an_error(void **state)
{
	(void)state;
	stack("%s", "");

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_not_logged("pam_oo7(");
}

static void stale_socket_without_listener_is_not_an_error(void **state)
{
	pid_t pid;

	(void)state;
	stack("%s", "");
	pid = t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
	listener_stop(pid);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_not_logged("pam_oo7(");
}

static void daemon_with_full_backlog_costs_at_most_the_timeout(void **state)
{
	struct timespec t0;
	double ms;

	(void)state;
	stack("timeout=300");
	t_listen_as(&t_alice, alice_socket(), LISTENER_NEVER_ACCEPT);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	ms = elapsed_ms(&t0);
	assert_true(ms >= 300 && ms < 300 * 1.1 + 100);
	assert_logged("Timed out connecting to /run/user/61001/oo7/pam.sock");
}

static void daemon_that_never_answers_costs_at_most_the_timeout(void **state)
{
	struct timespec t0;
	double ms;

	(void)state;
	stack("timeout=300");
	t_listen_as(&t_alice, alice_socket(), LISTENER_NEVER_READ);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	ms = elapsed_ms(&t0);
	assert_true(ms >= 300 && ms < 300 * 1.1 + 100);
	assert_logged("No reply from the daemon: Connection timed out");
}

/* ---- replies ---- */

static void daemon_refusal_is_logged_and_changes_nothing(void **state)
{
	for (int gv = 0; gv < 2; gv++) {
		t_case_teardown(state);
		t_case_setup(state);
		stack("encoding=%s", gv ? "gvariant" : "dbus");
		t_listen(L(alice_socket(), 61001, 61001, 0600,
			   .behaviour = LISTENER_REPLY, .gvariant = gv,
			   .reply_ok = false, .reply_msg = "wrong\npassword"));

		assert_int_equal(t_login("login", "alice", "hunter2", NULL),
				 PAM_SUCCESS);

		assert_logged("The daemon could not unlock: wrong\\x0apassword");
	}
}

static void daemon_confirmation_is_quiet(void **state)
{
	for (int gv = 0; gv < 2; gv++) {
		t_case_teardown(state);
		t_case_setup(state);
		stack("encoding=%s", gv ? "gvariant" : "dbus");
		t_listen(L(alice_socket(), 61001, 61001, 0600,
			   .behaviour = LISTENER_REPLY, .gvariant = gv,
			   .reply_ok = true));

		assert_int_equal(t_login("login", "alice", "hunter2", NULL),
				 PAM_SUCCESS);

		assert_not_logged("pam_oo7(");
		assert_frame(gv, 0, "alice", "", 0, "hunter2", 7);
	}
}

static void malformed_reply_is_logged(void **state)
{
	static const uint8_t garbage[] = {9, 0, 0, 0, 7, 7, 7,
					  7, 7, 7, 7, 7, 7};

	(void)state;
	stack("%s", "");
	t_listen(L(alice_socket(), 61001, 61001, 0600,
		   .behaviour = LISTENER_RAW_REPLY, .raw_reply = garbage,
		   .raw_reply_len = sizeof(garbage)));

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged("Ignoring a malformed reply from the daemon");
}

/* ---- password changes ---- */

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

/* ---- options ---- */

static void only_if_skips_other_services(void **state)
{
	(void)state;
	stack("only_if=gdm-password,sddm");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_no_frame();
}

static void only_if_acts_for_listed_services(void **state)
{
	(void)state;
	stack("only_if=gdm-password,login");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	t_login("login", "alice", "hunter2", NULL);

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
}

static void invalid_options_are_logged_and_ignored(void **state)
{
	const char *bad[] = {
	    "frobnicate",	    "timeout=abc",  "timeout=-1",
	    "timeout=99999999999",  "timeout=0",    "socket=",
	    "socket=relative/path", "encoding=xml", "only_if="};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t_case_teardown(state);
		t_case_setup(state);
		stack("%s", bad[i]);
		t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

		assert_int_equal(t_login("login", "alice", "hunter2", NULL),
				 PAM_SUCCESS);

		char line[200];
		snprintf(line, sizeof(line),
			 "Ignoring unknown or invalid option: %s", bad[i]);
		assert_logged(line);
		assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
	}
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

static void session_and_password_return_success_whatever_happens(void **state)
{
	const char *answers[] = {"hunter2", "x", "y", "y", NULL};
	pam_handle_t *pamh;

	/* No daemon, a daemon that refuses, a daemon that confirms. */
	for (int i = 0; i < 3; i++) {
		t_case_teardown(state);
		t_case_setup(state);
		t_service("rc", "auth required @FIXTURE@\n"
				"auth optional @MODULE@\n"
				"session [success=1 default=bad] @MODULE@\n"
				"session requisite pam_deny.so\n"
				"session required pam_permit.so\n"
				"password required @FIXTURE@\n"
				"password [success=1 default=bad] @MODULE@\n"
				"password requisite pam_deny.so\n"
				"password required pam_permit.so\n");
		if (i > 0)
			t_listen(L(alice_socket(), 61001, 61001, 0600,
				   .behaviour = LISTENER_REPLY,
				   .reply_ok = i == 2));
		pamh = t_pam_start("rc", "alice", answers);

		assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
		assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
		assert_int_equal(pam_close_session(pamh, 0), PAM_SUCCESS);
		assert_int_equal(pam_chauthtok(pamh, 0), PAM_SUCCESS);
		pam_end(pamh, PAM_SUCCESS);
	}
}

/*
 * Runs pamtester as the PAM host for alice: ops on service, input on its
 * stdin; wrapped, through pam_wrapper with the tests' pam.d. Returns its
 * exit code; host_pid is its pid.
 */
static int pamtester(const char *service, bool wrapped, const char *input,
		     const char *const *ops)
{
	const char *argv[10] = {"pamtester", service, "alice"};
	int in[2], status;
	pid_t pid;

	for (int i = 0; ops[i] && i < 6; i++)
		argv[3 + i] = ops[i];
	if (pipe(in) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[1]);
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
		t_preload(wrapped ? PAM_WRAPPER_LIB : NULL);
		if (wrapped) {
			setenv("PAM_WRAPPER", "1", 1);
			setenv("PAM_WRAPPER_SERVICE_DIR", t_confdir(), 1);
		}
		execvp("pamtester", (char **)argv);
		_exit(127);
	}
	close(in[0]);
	host_pid = pid;
	if (write(in[1], input, strlen(input)) < 0)
		return -1;
	close(in[1]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- a real client ---- */

static void pamtester_through_pam_wrapper_delivers_both_frames(void **state)
{
	const char *ops[] = {"authenticate", "open_session", "chauthtok", NULL};
	struct record *all;
	uint8_t *unlock, *change;
	size_t n, nu, nc;

	(void)state;
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(
	    pamtester("login", true, "hunter2\nhunter2\nnewpw\nnewpw\n", ops),
	    0);

	n = t_frames(&all);
	nu = t_expect_frame(&unlock, false, 0, "alice", "", 0, "hunter2", 7);
	nc = t_expect_frame(&change, false, 1, "alice", "hunter2", 7, "newpw",
			    5);
	assert_int_equal(n, 2);
	assert_int_equal(all[0].uid, 0);
	assert_int_equal(all[0].pid, host_pid);
	assert_int_equal(all[0].len, nu);
	assert_memory_equal(all[0].data, unlock, nu);
	assert_int_equal(all[1].len, nc);
	assert_memory_equal(all[1].data, change, nc);
	free(unlock);
	free(change);
	records_free(all, n);
}

/* ---- hostile daemons, sockets and input ---- */

static void not_a_socket_at_the_path_gets_nothing(void **state)
{
	/* A regular file, a FIFO, a folder. */
	for (int k = 0; k < 3; k++) {
		const char *path;

		t_case_teardown(state);
		t_case_setup(state);
		stack("%s", "");
		path = alice_socket();
		if (k == 0)
			assert_true(g_file_set_contents(path, "", 0, NULL));
		else if (k == 1)
			assert_int_equal(mkfifo(path, 0600), 0);
		else
			assert_int_equal(mkdir(path, 0700), 0);
		assert_int_equal(chown(path, t_alice.uid, t_alice.gid), 0);

		assert_int_equal(t_login("login", "alice", "hunter2", NULL),
				 PAM_SUCCESS);

		assert_logged("not a socket owned by alice; nothing sent");
	}
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

/* The host keeps SIGPIPE at its default: a send without MSG_NOSIGNAL
 * would kill this very test process. */
static void listener_that_closes_at_once_does_not_kill_the_host(void **state)
{
	char *big = malloc(1 << 20);

	(void)state;
	memset(big, 'p', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	signal(SIGPIPE, SIG_DFL);
	stack("%s", "");
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
	double ms;

	(void)state;
	memset(big, 'p', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	stack("timeout=300");
	t_listen_as(&t_alice, alice_socket(), LISTENER_NEVER_READ);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", big, NULL), PAM_SUCCESS);

	ms = elapsed_ms(&t0);
	assert_true(ms >= 300 && ms < 300 * 1.1 + 100);
	assert_logged("Failed to send the request to "
		      "/run/user/61001/oo7/pam.sock: Connection timed out");
	free(big);
}

static void oversized_or_truncated_reply_is_refused(void **state)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0};
	static const uint8_t cut[] = {10, 0, 0, 0, 1, 0};
	const struct {
		const uint8_t *bytes;
		size_t len;
	} replies[] = {{huge, sizeof(huge)}, {cut, sizeof(cut)}};

	for (int i = 0; i < 2; i++) {
		t_case_teardown(state);
		t_case_setup(state);
		stack("%s", "");
		t_listen(L(alice_socket(), 61001, 61001, 0600,
			   .behaviour = LISTENER_RAW_REPLY,
			   .raw_reply = replies[i].bytes,
			   .raw_reply_len = replies[i].len));

		assert_int_equal(t_login("login", "alice", "hunter2", NULL),
				 PAM_SUCCESS);

		assert_logged("Ignoring a malformed reply from the daemon");
	}
}

/* The user name goes on the wire, never into a path: odd ones are safe. */
static void odd_but_valid_user_names_are_sent_intact(void **state)
{
	const struct tuser *users[] = {&t_long, &t_slash, &t_dotdot};

	for (int i = 0; i < 3; i++) {
		char path[64];

		t_case_teardown(state);
		t_case_setup(state);
		stack("%s", "");
		t_runtime_dir(users[i]);
		snprintf(path, sizeof(path), "/run/user/%u/oo7/pam.sock",
			 (unsigned)users[i]->uid);
		t_listen_as(users[i], path, LISTENER_CLOSE);

		t_login("login", users[i]->name, "hunter2", NULL);

		assert_frame(false, 0, users[i]->name, "", 0, "hunter2", 7);
	}
}

static void user_name_with_a_newline_sends_and_logs_nothing_of_it(void **state)
{
	(void)state;
	stack("%s", "");

	t_login("login", "eve\nFAKE LINE", "hunter2", NULL);

	assert_no_frame();
	assert_logged("holds a control character; nothing sent");
	assert_not_logged("FAKE LINE");
}

static void password_of_64_kib_arrives_intact(void **state)
{
	size_t n = 64 * 1024;
	char *big = malloc(n + 1);

	(void)state;
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(1 + i % 255);
	big[n] = '\0';
	for (int gv = 0; gv < 2; gv++) {
		t_case_teardown(state);
		t_case_setup(state);
		stack("encoding=%s", gv ? "gvariant" : "dbus");
		t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

		t_login("login", "alice", big, NULL);

		assert_frame(gv, 0, "alice", "", 0, big, n);
	}
	free(big);
}

/* ---- the host process is left as it was ---- */

struct host_state {
	GString *text; /* everything compared, as text */
};

static int cmp_lines(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void describe_fds(GString *s)
{
	GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
	const char *name;
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);

	while ((name = g_dir_read_name(d))) {
		gchar *p = g_strdup_printf("/proc/self/fd/%s", name);
		gchar *target = g_file_read_link(p, NULL);

		g_ptr_array_add(lines, g_strdup_printf("fd %s -> %s\n", name,
						       target ? target : "?"));
		g_free(p);
		g_free(target);
	}
	g_dir_close(d);
	g_ptr_array_sort(lines, cmp_lines);
	for (guint i = 0; i < lines->len; i++)
		g_string_append(s, lines->pdata[i]);
	g_ptr_array_free(lines, TRUE);
}

static void describe_host(GString *s)
{
	struct sigaction sa;
	sigset_t mask;
	uid_t r, e, sv;
	gid_t gr, ge, gs, groups[64];
	int n = getgroups(64, groups);
	mode_t um = umask(022);
	gchar *children = NULL, *path;
	char cwd[4096];

	umask(um);
	describe_fds(s);
	for (int sig = 1; sig < 65; sig++) {
		memset(&sa, 0, sizeof(sa));
		if (sigaction(sig, NULL, &sa) == 0)
			g_string_append_printf(s, "signal %d: %p %x\n", sig,
					       (void *)sa.sa_handler,
					       (unsigned)sa.sa_flags);
	}
	sigprocmask(SIG_BLOCK, NULL, &mask);
	for (int sig = 1; sig < 65; sig++)
		if (sigismember(&mask, sig) == 1)
			g_string_append_printf(s, "blocked %d\n", sig);
	getresuid(&r, &e, &sv);
	getresgid(&gr, &ge, &gs);
	g_string_append_printf(s,
			       "uids %u %u %u fsuid %d gids %u %u %u "
			       "fsgid %d umask %o\n",
			       r, e, sv, setfsuid((uid_t)-1), gr, ge, gs,
			       setfsgid((gid_t)-1), (unsigned)um);
	for (int i = 0; i < n; i++)
		g_string_append_printf(s, "group %u\n", (unsigned)groups[i]);
	for (char **env = environ; *env; env++)
		g_string_append_printf(s, "env %s\n", *env);
	path = g_strdup_printf("/proc/self/task/%d/children", (int)getpid());
	g_file_get_contents(path, &children, NULL, NULL);
	g_string_append_printf(s, "children %s\ncwd %s\n", children,
			       getcwd(cwd, sizeof(cwd)));
	g_free(children);
	g_free(path);
}

static void on_sigchld(int sig)
{
	(void)sig;
}

/* 1,000 logins and 10 password changes, then the same process as before. */
static void host_is_left_as_it_was_after_1000_logins(void **state)
{
	void (*sigchld[])(int) = {SIG_DFL, SIG_IGN, on_sigchld};

	for (int v = 0; v < 3; v++) {
		GString *before = g_string_new(NULL), *after;
		struct record *all;
		size_t n;

		t_case_teardown(state);
		t_case_setup(state);
		stack("%s", "");
		t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
		signal(SIGCHLD, sigchld[v]);
		describe_host(before);

		for (int i = 0; i < 1000; i++)
			t_login("login", "alice", "hunter2", NULL);
		for (int i = 0; i < 10; i++)
			t_chauthtok("login", "alice", "hunter2", "new");

		after = g_string_new(NULL);
		describe_host(after);
		assert_string_equal(before->str, after->str);
		n = t_frames(&all);
		assert_int_equal(n, 1010);
		records_free(all, n);
		g_string_free(before, TRUE);
		g_string_free(after, TRUE);
	}
	signal(SIGCHLD, SIG_DFL);
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
	stack("%s", "");
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
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

/* ---- installing ---- */

static int run(const char *cmd)
{
	int status = system(cmd);

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int runf(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return run(cmd);
}

static void
make_install_puts_exactly_the_module_man_page_and_profile(void **state)
{
	char dest[300], cmd[600];
	gchar *out = NULL;

	(void)state;
	snprintf(dest, sizeof(dest), "%s", t_path("dest"));

	assert_int_equal(
	    runf(
		"make -s --no-print-directory -C %s install install-pam-config "
		"DESTDIR=%s >/dev/null",
		TOP_DIR, dest),
	    0);

	snprintf(cmd, sizeof(cmd),
		 "sh -c 'cd %s && find . -type f -printf \"%%m %%p\\n\" | "
		 "sort'",
		 dest);
	assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
	assert_string_equal(out, "644 ./" SECUREDIR_REL "/pam_oo7.so\n"
				 "644 ./usr/share/man/man8/pam_oo7.8\n"
				 "644 ./usr/share/pam-configs/oo7\n");
	g_free(out);
	assert_int_equal(
	    runf("make -s --no-print-directory -C %s uninstall DESTDIR=%s",
		 TOP_DIR, dest),
	    0);
	assert_int_equal(runf("test -z \"$(find %s -type f)\"", dest), 0);
}

/* A copy of dir, bind-mounted over it: the host's stays as it is. */
static void private_copy(const char *dir, const char *copy)
{
	assert_int_equal(runf("cp -a %s %s", dir, copy), 0);
	assert_int_equal(mount(copy, dir, "none", MS_BIND, NULL), 0);
}

static void shadow_with_alice(const char *password)
{
	const char *hash = crypt(password, "$6$pamoo7test$");
	gchar *text = NULL, *all;
	char copy[300];

	snprintf(copy, sizeof(copy), "%s", t_path("shadow"));
	assert_true(g_file_get_contents("/etc/shadow", &text, NULL, NULL));
	all = g_strdup_printf("%salice:%s:20000:0:99999:7:::\n", text, hash);
	assert_true(g_file_set_contents(copy, all, -1, NULL));
	assert_int_equal(mount(copy, "/etc/shadow", "none", MS_BIND, NULL), 0);
	g_free(text);
	g_free(all);
}

static void unmount_all(const char *const *dirs)
{
	for (; *dirs; dirs++)
		umount2(*dirs, MNT_DETACH);
}

/* The real pam-auth-update, on private copies of everything it writes. */
static void pam_auth_update_profile_places_the_module_and_logs_in(void **state)
{
	const char *const mounted[] = {"/etc/pam.d",   "/usr/share/pam-configs",
				       "/var/lib/pam", SECUREDIR,
				       "/etc/shadow",  NULL};
	gchar *auth = NULL, *session = NULL, *password = NULL;
	char copy[300];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(copy, sizeof(copy), "%s", t_path("copy%d", i));
		private_copy(mounted[i], copy);
	}
	assert_int_equal(runf("cp %s %s/ && make -s --no-print-directory -C %s "
			      "install-pam-config "
			      "DESTDIR= >/dev/null",
			      MODULE_PATH, SECUREDIR, TOP_DIR),
			 0);

	assert_int_equal(run("DEBIAN_FRONTEND=noninteractive "
			     "pam-auth-update --package"),
			 0);

	assert_true(
	    g_file_get_contents("/etc/pam.d/common-auth", &auth, NULL, NULL));
	assert_true(g_file_get_contents("/etc/pam.d/common-session", &session,
					NULL, NULL));
	assert_true(g_file_get_contents("/etc/pam.d/common-password", &password,
					NULL, NULL));
	assert_non_null(strstr(auth, "optional\tpam_oo7.so"));
	assert_true(strstr(auth, "pam_oo7.so") > strstr(auth, "pam_permit.so"));
	assert_true(strstr(password, "pam_oo7.so") >
		    strstr(password, "pam_permit.so"));
	assert_non_null(strstr(session, "pam_oo7.so auto_start"));
	assert_true(strstr(session, "pam_oo7.so") >
		    strstr(session, "pam_systemd.so"));

	/* A login through the generated files, with the real pam_unix. */
	shadow_with_alice("hunter2");
	assert_true(g_file_set_contents("/etc/pam.d/oo7-login",
					"@include common-auth\n"
					"@include common-session\n",
					-1, NULL));
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(pamtester("oo7-login", false, "hunter2\n",
				   (const char *const[]){"authenticate",
							 "open_session", NULL}),
			 0);

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
	host_pid = 0;
	g_free(auth);
	g_free(session);
	g_free(password);
	unmount_all(mounted);
}

/* ---- a set-user-ID host ---- */

/*
 * Runs this test program as a PAM host for one login of alice, with
 * OO7_PAM_SOCKET set to path, as alice through a set-user-ID root copy (so
 * that the environment is the caller's), or as root (the control).
 */
static char self_path[4096]; /* this program, from argv[0] (not valgrind) */

static int run_probe(bool setuid_copy, const char *path)
{
	char probe[300];
	int status;
	pid_t pid;

	snprintf(probe, sizeof(probe), "%s", t_path("probe"));
	if (runf("cp %s %s && chown root:root %s && chmod %s %s", self_path,
		 probe, probe, setuid_copy ? "4755" : "0755", probe))
		return -1;
	pid = fork();
	if (pid == 0) {
		if (setuid_copy &&
		    (setgroups(0, NULL) < 0 ||
		     setresgid(t_alice.gid, t_alice.gid, t_alice.gid) < 0 ||
		     setresuid(t_alice.uid, t_alice.uid, t_alice.uid) < 0))
			_exit(126);
		setenv("OO7_PAM_SOCKET", path, 1);
		execl(probe, probe, "--probe", t_sandbox(), NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void setuid_host_ignores_oo7_pam_socket_of_its_caller(void **state)
{
	char path[300];
	struct record *all;
	size_t n;

	(void)state;
	stack("debug");
	snprintf(path, sizeof(path), "%s", t_path("alice.sock"));
	t_listen_as(&t_alice, path, LISTENER_CLOSE);

	assert_int_equal(run_probe(true, path), 0);
	assert_no_frame();

	/* Control: the same probe, not set-user-ID, does deliver there. */
	assert_int_equal(run_probe(false, path), 0);
	n = t_frames(&all);
	assert_int_equal(n, 1);
	records_free(all, n);
}

/* ---- auto_start ---- */

#define RUN "/run/user/61001"

/* Waits for path to appear (renamed into place) for at most ms. */
static bool wait_for_file(const char *dir, const char *name, int ms)
{
	char path[256];
	int fd = inotify_init1(IN_CLOEXEC);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[4096];
	bool found;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE);
	while (!(found = access(path, F_OK) == 0) && poll(&p, 1, ms) > 0)
		if (read(fd, buf, sizeof(buf)) < 0)
			break;
	close(fd);
	return found;
}

/* The fake daemon's record, NULL if it wrote none within 5 s. */
static gchar *daemon_record(void)
{
	gchar *text = NULL;

	if (!wait_for_file(RUN, "fake-daemon.record", 5000))
		return NULL;
	g_file_get_contents(RUN "/fake-daemon.record", &text, NULL, NULL);
	return text;
}

static void assert_has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("no \"%s\" in:\n%s", line, text);
}

/* A copy of the fake daemon with a name that sets its behaviour. */
static const char *fake_named(const char *suffix)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s", t_path("oo7-daemon%s", suffix));
	assert_int_equal(runf("cp %s %s", FAKE_DAEMON, path), 0);
	return path;
}

static int teardown(void **state)
{
	gchar *pid = NULL;

	/* The daemon is nobody's child here: its pid file says who. */
	if (g_file_get_contents(RUN "/fake-daemon.pid", &pid, NULL, NULL))
		kill(atoi(pid), SIGKILL);
	g_free(pid);
	return t_case_teardown(state);
}

static void
auto_start_runs_the_daemon_as_the_user_with_the_password(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = RUN "/bus"};
	int bus = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pam_handle_t *pamh;
	gchar *rec, *mine;
	sigset_t usr2, old_mask;
	int zombie;

	(void)state;
	stack("auto_start daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);
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
	rec = daemon_record();
	assert_non_null(rec);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_has(rec, "uids 61001 61001 61001\ngids 61001 61001 61001\n");
	assert_has(rec, "groups 61001 61100\n");
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
	assert_has(rec, "env XDG_RUNTIME_DIR=" RUN "\n");
	assert_has(rec, "env DBUS_SESSION_BUS_ADDRESS=unix:path=" RUN "/bus\n");
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

/* Started from a host with SIGCHLD at its default, ignored, or handled. */
static void host_is_left_as_it_was_after_a_daemon_start(void **state)
{
	void (*sigchld[])(int) = {SIG_DFL, SIG_IGN, on_sigchld};

	for (int v = 0; v < 3; v++) {
		GString *before = g_string_new(NULL), *after;
		gchar *rec;

		teardown(state);
		t_case_setup(state);
		stack("auto_start daemon=%s", FAKE_DAEMON);
		t_runtime_dir(&t_alice);
		signal(SIGCHLD, sigchld[v]);
		describe_host(before);

		t_login("login", "alice", "hunter2", NULL);

		rec = daemon_record();
		assert_non_null(rec);
		after = g_string_new(NULL);
		describe_host(after);
		assert_string_equal(before->str, after->str);
		assert_int_equal(waitpid(-1, NULL, WNOHANG), 0);
		g_free(rec);
		g_string_free(before, TRUE);
		g_string_free(after, TRUE);
	}
	signal(SIGCHLD, SIG_DFL);
}

static void auto_start_without_password_starts_without_login(void **state)
{
	pam_handle_t *pamh;
	gchar *rec;

	(void)state;
	stack("auto_start daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);
	pamh = t_pam_start("login", "alice", NULL);

	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
	pam_end(pamh, PAM_SUCCESS);

	rec = daemon_record();
	assert_non_null(rec);
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

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
	assert_int_equal(access(RUN "/fake-daemon.pid", F_OK), -1);
}

static void
daemon_that_is_missing_fails_or_never_reads_costs_the_timeout(void **state)
{
	char *big = malloc(1 << 20);
	const char *daemons[] = {"/nonexistent/oo7-daemon", NULL, NULL};
	const char *logged[] = {"No oo7-daemon to start",
				"Failed to hand the password", NULL};

	memset(big, 'p', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	for (int i = 0; i < 3; i++) {
		struct timespec t0;
		double ms;

		teardown(state);
		t_case_setup(state);
		t_runtime_dir(&t_alice);
		daemons[1] = fake_named("-noread");
		daemons[2] = fake_named("-fail");
		stack("auto_start timeout=300 daemon=%s", daemons[i]);
		clock_gettime(CLOCK_MONOTONIC, &t0);

		assert_int_equal(t_login("login", "alice", big, NULL),
				 PAM_SUCCESS);

		ms = elapsed_ms(&t0);
		assert_true(ms < 300 * 1.1 + 100);
		if (logged[i])
			assert_logged(logged[i]);
	}
	free(big);
}

/* An overlay on /usr in this namespace: the host's /usr is untouched. */
static void daemon_paths_are_searched_in_order(void **state)
{
	const char *paths[] = {"/usr/libexec/oo7-daemon", "/usr/lib/oo7-daemon",
			       "/usr/lib/oo7/oo7-daemon",
			       "/usr/bin/oo7-daemon"};
	char opts[700], up[300], work[300];

	(void)state;
	snprintf(up, sizeof(up), "%s", t_path("up"));
	snprintf(work, sizeof(work), "%s", t_path("work"));
	t_mkdir(up, 0, 0, 0755);
	t_mkdir(work, 0, 0, 0755);
	snprintf(opts, sizeof(opts), "lowerdir=/usr,upperdir=%s,workdir=%s", up,
		 work);
	assert_int_equal(mount("overlay", "/usr", "overlay", 0, opts), 0);
	assert_int_equal(runf("mkdir -p /usr/lib/oo7 /usr/libexec"), 0);
	for (int i = 3; i >= 0; i--) {
		gchar *rec, *want;

		teardown(state);
		t_case_setup(state);
		t_runtime_dir(&t_alice);
		assert_int_equal(runf("cp %s %s", FAKE_DAEMON, paths[i]), 0);
		stack("auto_start");

		t_login("login", "alice", "hunter2", NULL);

		rec = daemon_record();
		assert_non_null(rec);
		want = g_strdup_printf("argv %s --login\n", paths[i]);
		assert_has(rec, want);
		g_free(want);
		g_free(rec);
	}
	teardown(state);
	t_case_setup(state);
	umount2("/usr", MNT_DETACH);
}

static void
chauthtok_with_auto_start_rekeys_through_a_started_daemon(void **state)
{
	struct record *all;
	uint8_t *want;
	size_t n, len;
	gchar *rec;
	int fd;

	(void)state;
	stack("auto_start daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);

	assert_int_equal(t_chauthtok("login", "alice", "hunter2", "new"),
			 PAM_SUCCESS);

	rec = daemon_record();
	assert_non_null(rec);
	assert_has(rec, "argv " FAKE_DAEMON "\n");
	g_free(rec);
	fd = open(RUN "/fake-daemon.frames", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = records_read(fd, &all);
	close(fd);
	assert_int_equal(n, 1);
	len = t_expect_frame(&want, false, 1, "alice", "hunter2", 7, "new", 3);
	assert_int_equal(all[0].len, len);
	assert_memory_equal(all[0].data, want, len);
	free(want);
	records_free(all, n);
}

static void chauthtok_without_daemon_says_it_did_not_rekey(void **state)
{
	(void)state;
	stack("%s", "");

	t_chauthtok("login", "alice", "hunter2", "new");

	assert_logged("No oo7 daemon is running: the keyring was not "
		      "re-keyed");
}

static int setup(void **state)
{
	host_pid = 0;
	return t_case_setup(state);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, t_case_teardown)
#define TD(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
	/* The set-user-ID probe: one login in its parent's sandbox. */
	if (argc == 3 && !strcmp(argv[1], "--probe")) {
		t_use_sandbox(argv[2]);
		return t_login("login", "alice", "hunter2", NULL) == PAM_SUCCESS
			   ? 0
			   : 1;
	}

	const struct CMUnitTest tests[] = {
	    T(session_sends_unlock_frame_to_user_socket),
	    T(chauthtok_sends_change_frame_with_old_and_new),
	    T(gvariant_unlock_frame_matches_glib),
	    T(gvariant_change_frame_matches_glib),
	    T(passwords_of_any_bytes_and_length_arrive_intact),
	    T(gvariant_offsets_widen_as_glib_does),
	    T(empty_password_is_sent_as_it_is),
	    T(non_utf8_user_name_sends_nothing),
	    T(session_without_auth_sends_nothing),
	    T(second_auth_replaces_the_kept_password),
	    T(auth_without_password_drops_the_earlier_one),
	    T(session_uses_the_kept_password_once),
	    T(xdg_runtime_dir_from_pam_env_comes_first),
	    T(xdg_runtime_dir_of_the_process_is_not_used),
	    T(run_user_oo7_folder_comes_before_legacy_socket),
	    T(legacy_socket_of_released_daemon_is_used),
	    T(socket_option_is_used_alone),
	    T(socket_option_wins_over_environment),
	    T(oo7_pam_socket_from_pam_env_is_used),
	    T(oo7_pam_socket_from_process_env_is_used),
	    T(socket_owned_by_another_uid_gets_nothing),
	    T(listener_running_as_another_uid_gets_nothing),
	    T(listener_running_as_root_gets_nothing),
	    T(symlink_to_another_users_socket_gets_nothing),
	    T(socket_in_root_only_folder_is_not_reached),
	    T(host_identity_is_restored_after_delivery),
	    T(absent_daemon_is_not_an_error),
	    T(stale_socket_without_listener_is_not_an_error),
	    T(daemon_with_full_backlog_costs_at_most_the_timeout),
	    T(daemon_that_never_answers_costs_at_most_the_timeout),
	    T(daemon_refusal_is_logged_and_changes_nothing),
	    T(daemon_confirmation_is_quiet),
	    T(malformed_reply_is_logged),
	    T(chauthtok_without_old_password_sends_nothing),
	    T(only_if_skips_other_services),
	    T(only_if_acts_for_listed_services),
	    T(invalid_options_are_logged_and_ignored),
	    T(auth_and_setcred_return_ignore),
	    T(session_and_password_return_success_whatever_happens),
	    T(pamtester_through_pam_wrapper_delivers_both_frames),
	    T(not_a_socket_at_the_path_gets_nothing),
	    T(socket_path_longer_than_sun_path_is_refused),
	    T(listener_that_closes_at_once_does_not_kill_the_host),
	    T(listener_that_never_reads_a_1mib_password_costs_the_timeout),
	    T(oversized_or_truncated_reply_is_refused),
	    T(odd_but_valid_user_names_are_sent_intact),
	    T(user_name_with_a_newline_sends_and_logs_nothing_of_it),
	    T(password_of_64_kib_arrives_intact),
	    T(host_is_left_as_it_was_after_1000_logins),
	    T(password_does_not_linger_after_pam_end),
	    T(setuid_host_ignores_oo7_pam_socket_of_its_caller),
	    TD(auto_start_runs_the_daemon_as_the_user_with_the_password),
	    TD(host_is_left_as_it_was_after_a_daemon_start),
	    TD(auto_start_without_password_starts_without_login),
	    TD(auto_start_leaves_a_running_daemon_alone),
	    TD(daemon_that_is_missing_fails_or_never_reads_costs_the_timeout),
	    TD(daemon_paths_are_searched_in_order),
	    TD(chauthtok_with_auto_start_rekeys_through_a_started_daemon),
	    TD(chauthtok_without_daemon_says_it_did_not_rekey),
	    T(make_install_puts_exactly_the_module_man_page_and_profile),
	    T(pam_auth_update_profile_places_the_module_and_logs_in),
	};

	if (!realpath(argv[0], self_path))
		return 2;
	t_sandbox_enter();
	return cmocka_run_group_tests_name("pam_oo7", tests, NULL, NULL);
}
