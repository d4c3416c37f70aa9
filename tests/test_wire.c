// SPDX-License-Identifier: MIT
/*
 * The wire, as pam_oo7(8) describes it under PROTOCOL: what crosses the
 * socket, byte for byte, against golden frames made by zvariant (the
 * daemon's own library) and against libdbus-1 and GLib, in both
 * encodings, for passwords and user names of any bytes and length; and
 * the stand-ins for each release of oo7-daemon, which act on the encoding
 * they read and drop the other with no reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

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

/* ---- golden frames ---- */

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

/* Exactly one frame arrived, and it is these bytes (spaces ignored). */
static void assert_golden(const char *hex)
{
	struct record *all, *r = one_frame(&all);
	uint8_t want[256];
	size_t n = hex_decode(hex, want);

	assert_int_equal(r->len, n);
	assert_memory_equal(r->data, want, n);
	records_free(all, 1);
}

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
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600, .gvariant = true));

	t_login("login", "alice", "hunter2", NULL);

	assert_golden("10000000 00616c69636500 68756e74657232 07 07");
}

static void gvariant_change_frame_matches_glib(void **state)
{
	(void)state;
	t_service("passwd", "password required @FIXTURE@\n"
			    "password optional @MODULE@ encoding=gvariant\n");
	t_runtime_dir(&t_bob);
	t_listen(L(runtime_path(&t_bob, "oo7/pam.sock"), &t_bob, &t_bob, 0600,
		   .gvariant = true));

	t_chauthtok("passwd", "bob", "old", "newpw");

	assert_golden("0f000000 01 626f6200 6f6c64 6e65777077 08 05");
}

/* ---- passwords of any bytes and length ---- */

/* A login of alice with pw, checked against libdbus-1 or GLib. */
static void password_arrives_intact(enum encoding enc, const char *pw,
				    size_t len)
{
	stack("%s", encoding_option(enc));
	t_listen(L(alice_socket(), &t_alice, &t_alice, 0600,
		   .gvariant = enc == GVARIANT));

	t_login("login", "alice", pw, NULL);

	assert_frame(enc == GVARIANT, 0, "alice", "", 0, pw, len);
}

/* Every byte but NUL, in order. */
static void password_of_every_byte_but_nul_arrives_intact(enum encoding enc)
{
	char bytes[256];

	for (int i = 1; i < 256; i++)
		bytes[i - 1] = (char)i;
	bytes[255] = '\0';
	password_arrives_intact(enc, bytes, 255);
}

static void password_of_every_byte_but_nul_arrives_intact_in_dbus(void **state)
{
	(void)state;
	password_of_every_byte_but_nul_arrives_intact(DBUS);
}

static void
password_of_every_byte_but_nul_arrives_intact_in_gvariant(void **state)
{
	(void)state;
	password_of_every_byte_but_nul_arrives_intact(GVARIANT);
}

/* Latin, euro sign, an emoji, Cyrillic. */
static const char utf8_scripts[] = "p\xc3\xa4ss w\xc3\xb6rd \xe2\x82\xac "
				   "\xf0\x9f\x94\x91 \xd0\xbf\xd0\xb0";

static void
password_in_several_utf8_scripts_arrives_intact_in_dbus(void **state)
{
	(void)state;
	password_arrives_intact(DBUS, utf8_scripts, strlen(utf8_scripts));
}

static void
password_in_several_utf8_scripts_arrives_intact_in_gvariant(void **state)
{
	(void)state;
	password_arrives_intact(GVARIANT, utf8_scripts, strlen(utf8_scripts));
}

static void password_of_4_kib_arrives_intact(enum encoding enc)
{
	char big[4097];

	memset(big, 'x', 4096);
	big[4096] = '\0';
	password_arrives_intact(enc, big, 4096);
}

static void password_of_4_kib_arrives_intact_in_dbus(void **state)
{
	(void)state;
	password_of_4_kib_arrives_intact(DBUS);
}

static void password_of_4_kib_arrives_intact_in_gvariant(void **state)
{
	(void)state;
	password_of_4_kib_arrives_intact(GVARIANT);
}

/* Bytes that are no UTF-8 at all: the password is bytes, not text. */
static const char not_utf8[] = "\xff\xfe\x80\x01";

static void password_of_invalid_utf8_arrives_intact_in_dbus(void **state)
{
	(void)state;
	password_arrives_intact(DBUS, not_utf8, 4);
}

static void password_of_invalid_utf8_arrives_intact_in_gvariant(void **state)
{
	(void)state;
	password_arrives_intact(GVARIANT, not_utf8, 4);
}

/* A password of every byte but NUL, over and over, 64 KiB long. */
static void password_of_64_kib_arrives_intact(enum encoding enc)
{
	size_t n = 64 * 1024;
	char *big = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		big[i] = (char)(1 + i % 255);
	big[n] = '\0';
	password_arrives_intact(enc, big, n);
	free(big);
}

static void password_of_64_kib_arrives_intact_in_dbus(void **state)
{
	(void)state;
	password_of_64_kib_arrives_intact(DBUS);
}

static void password_of_64_kib_arrives_intact_in_gvariant(void **state)
{
	(void)state;
	password_of_64_kib_arrives_intact(GVARIANT);
}

/* An account without a password has a keyring without one. */
static void empty_password_is_sent_as_it_is_in_dbus(void **state)
{
	(void)state;
	password_arrives_intact(DBUS, "", 0);
}

static void empty_password_is_sent_as_it_is_in_gvariant(void **state)
{
	(void)state;
	password_arrives_intact(GVARIANT, "", 0);
}

/*
 * GVariant offsets widen from 1 to 2 bytes at a 256-byte body, and from 2
 * to 4 at 65,536: with alice's name, a password of 246 bytes is the last
 * with 1-byte offsets, one of 65,524 the last with 2-byte ones. One case per
 * length on either side of both steps.
 */
static void gvariant_password_matches_glib(size_t len)
{
	char *pw = malloc(len + 1);

	memset(pw, 'w', len);
	pw[len] = '\0';
	password_arrives_intact(GVARIANT, pw, len);
	free(pw);
}

#define GVARIANT_LENGTH_CASE(n)                                                \
	static void gvariant_password_of_##n##_bytes_matches_glib(             \
	    void **state)                                                      \
	{                                                                      \
		(void)state;                                                   \
		gvariant_password_matches_glib(n);                             \
	}

/* 1-byte offsets, then 2-byte ones. */
GVARIANT_LENGTH_CASE(240)
GVARIANT_LENGTH_CASE(241)
GVARIANT_LENGTH_CASE(242)
GVARIANT_LENGTH_CASE(243)
GVARIANT_LENGTH_CASE(244)
GVARIANT_LENGTH_CASE(245)
GVARIANT_LENGTH_CASE(246)
GVARIANT_LENGTH_CASE(247)
GVARIANT_LENGTH_CASE(248)
GVARIANT_LENGTH_CASE(249)
GVARIANT_LENGTH_CASE(250)
/* 2-byte offsets, then 4-byte ones. */
GVARIANT_LENGTH_CASE(65515)
GVARIANT_LENGTH_CASE(65516)
GVARIANT_LENGTH_CASE(65517)
GVARIANT_LENGTH_CASE(65518)
GVARIANT_LENGTH_CASE(65519)
GVARIANT_LENGTH_CASE(65520)
GVARIANT_LENGTH_CASE(65521)
GVARIANT_LENGTH_CASE(65522)
GVARIANT_LENGTH_CASE(65523)
GVARIANT_LENGTH_CASE(65524)
GVARIANT_LENGTH_CASE(65525)
GVARIANT_LENGTH_CASE(65526)
GVARIANT_LENGTH_CASE(65527)
GVARIANT_LENGTH_CASE(65528)

/* ---- user names ---- */

static void non_utf8_user_name_sends_nothing(void **state)
{
	(void)state;
	stack_default();
	t_runtime_dir(&t_latin);
	t_listen_as(&t_latin, runtime_path(&t_latin, "oo7/pam.sock"),
		    LISTENER_CLOSE);

	assert_int_equal(t_login("login", t_latin.name, "hunter2", NULL),
			 PAM_SUCCESS);

	assert_no_frame();
	assert_logged("User name is not valid UTF-8 or holds a control "
		      "or hidden character; nothing sent");
}

/* The user name goes on the wire, never into a path: odd ones are safe. */
static void user_name_is_sent_intact(const struct tuser *u)
{
	stack_default();
	t_runtime_dir(u);
	t_listen_as(u, runtime_path(u, "oo7/pam.sock"), LISTENER_CLOSE);

	t_login("login", u->name, "hunter2", NULL);

	assert_frame(false, 0, u->name, "", 0, "hunter2", 7);
}

static void user_name_of_1000_bytes_is_sent_intact(void **state)
{
	(void)state;
	user_name_is_sent_intact(&t_long);
}

static void user_name_with_a_slash_is_sent_intact(void **state)
{
	(void)state;
	user_name_is_sent_intact(&t_slash);
}

static void user_name_dotdot_is_sent_intact(void **state)
{
	(void)state;
	user_name_is_sent_intact(&t_dotdot);
}

static void user_name_with_a_newline_sends_and_logs_nothing_of_it(void **state)
{
	(void)state;
	stack_default();

	t_login("login", "eve\nFAKE LINE", "hunter2", NULL);

	assert_no_frame();
	assert_logged("holds a control or hidden character; nothing sent");
	assert_not_logged("FAKE LINE");
}

/* U+2028 ends a line in log viewers, though it is no control byte. */
static void user_name_with_a_line_separator_sends_nothing(void **state)
{
	(void)state;
	stack_default();

	t_login("login",
		"eve\xe2\x80\xa8"
		"FAKE LINE",
		"hunter2", NULL);

	assert_no_frame();
	assert_logged("holds a control or hidden character; nothing sent");
	assert_not_logged("FAKE LINE");
}

/* ---- one request, one daemon that acts on it ---- */

/*
 * The module may send a GVariant frame first and, when the daemon closes
 * with no reply, the same request in D-Bus form: safe only if no D-Bus
 * reader can take the GVariant frame for a request. D-Bus wants zero
 * padding after the operation byte, where GVariant puts the user name.
 * Names of 1 to 300 bytes, with secrets that put the body on both sides of
 * 255 bytes, where GVariant's framing offsets widen from one byte to two.
 */
static const struct {
	uint8_t op;
	size_t old_len, new_len;
} secret_lengths[] = {
    {0, 0, 0}, {0, 0, 7}, {1, 7, 13}, {0, 0, 246}, {1, 120, 130}, {1, 255, 255},
};

/* True when the frame's body is over 255 bytes: 2-byte offsets. */
static bool
gvariant_frame_decodes_only_as_gvariant(uint8_t op, const char *user,
					const uint8_t *old, size_t old_len,
					const uint8_t *new, size_t new_len)
{
	uint8_t *f;
	size_t len =
	    t_expect_frame(&f, true, op, user, old, old_len, new, new_len);
	struct decoded d;

	if (frame_decode(f, len, false, &d))
		fail_msg("the GVariant frame of a %zu-byte user name, secrets "
			 "of %zu and %zu bytes, decodes as D-Bus",
			 strlen(user), old_len, new_len);
	decoded_free(&d);
	assert_true(frame_decode(f, len, true, &d));
	assert_int_equal(d.op, op);
	assert_string_equal(d.user, user);
	assert_int_equal(g_bytes_get_size(d.old), old_len);
	assert_int_equal(g_bytes_get_size(d.new), new_len);
	decoded_free(&d);
	free(f);
	return len - 4 > 255;
}

static void
gvariant_frame_never_decodes_as_dbus_for_user_names_of_1_to_300_bytes(
    void **state)
{
	char user[301];
	uint8_t secret[256];
	size_t wide = 0, narrow = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)i; /* any bytes, NUL first */
	for (size_t n = 1; n <= 300; n++) {
		user[n - 1] = (char)('a' + (n - 1) % 26);
		user[n] = '\0';
		for (size_t k = 0; k < N_ELEMS(secret_lengths); k++) {
			bool w = gvariant_frame_decodes_only_as_gvariant(
			    secret_lengths[k].op, user, secret,
			    secret_lengths[k].old_len, secret + 1,
			    secret_lengths[k].new_len);

			wide += w;
			narrow += !w;
		}
	}
	/* Both offset widths were tried. */
	assert_true(wide > 0 && narrow > 0);
}

/* ---- the daemon of each generation, met with a plain client ---- */

/* Something is at u's RUNTIME/oo7-pam.sock. */
static bool socket_there(const struct tuser *u)
{
	return access(runtime_path(u, "oo7-pam.sock"), F_OK) == 0;
}

/* alice's unlock with pw in enc, sent to her daemon: what came back. */
static GByteArray *alice_unlocks(enum encoding enc, const char *pw)
{
	uint8_t *f;
	size_t len = t_expect_frame(&f, enc == GVARIANT, 0, "alice", "", 0, pw,
				    strlen(pw));
	GByteArray *got =
	    exchange(runtime_path(&t_alice, "oo7-pam.sock"), f, len);

	free(f);
	return got;
}

/* got is (true, "") in enc, length first, as libdbus-1 or GLib reads it. */
static void assert_reply_true(GByteArray *got, enum encoding enc)
{
	bool ok = false;
	char *msg = NULL;

	assert_true(got->len >= 4);
	assert_int_equal(got->data[0] | got->data[1] << 8 | got->data[2] << 16 |
			     (uint32_t)got->data[3] << 24,
			 got->len - 4);
	assert_true(reply_decode(got->data + 4, got->len - 4, enc == GVARIANT,
				 &ok, &msg));
	assert_true(ok);
	assert_string_equal(msg, "");
	g_free(msg);
	g_byte_array_unref(got);
}

/* Of n records (freed), those that were dropped. */
static size_t dropped_of(struct record *all, size_t n)
{
	size_t acted = records_acted_on(all, n);

	records_free(all, acted);
	return n - acted;
}

/* Of the frames this case's listeners got, those dropped. */
static size_t frames_dropped(void)
{
	struct record *all;
	size_t n = t_frames_all(&all);

	return dropped_of(all, n);
}

/* No reply, a close; so many frames acted on and dropped in all. */
static void assert_closed_silently(GByteArray *got, size_t acted,
				   size_t dropped)
{
	assert_int_equal(got->len, 0);
	g_byte_array_unref(got);
	assert_int_equal(frames_acted_on(), acted);
	assert_int_equal(frames_dropped(), dropped);
}

static void oo7_06_acts_on_a_dbus_frame_and_closes_with_no_reply(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_06, 0);

	assert_closed_silently(alice_unlocks(DBUS, "hunter2"), 1, 0);
}

static void oo7_06_drops_a_gvariant_frame_with_no_reply(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_06, 0);

	assert_closed_silently(alice_unlocks(GVARIANT, "hunter2"), 0, 1);
}

/* A retry in D-Bus form, after 0.6 dropped a GVariant frame, finds no one. */
static void oo7_06_unlinks_its_socket_after_a_connection(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_06, 0);

	g_byte_array_unref(alice_unlocks(GVARIANT, "hunter2"));

	assert_false(socket_there(&t_alice));
}

static void oo7_07_alpha_replies_dbus_true_to_a_dbus_frame(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_07_ALPHA, 0);

	assert_reply_true(alice_unlocks(DBUS, "hunter2"), DBUS);
	assert_int_equal(frames_acted_on(), 1);
}

static void oo7_07_alpha_drops_a_gvariant_frame_with_no_reply(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_07_ALPHA, 0);

	assert_closed_silently(alice_unlocks(GVARIANT, "hunter2"), 0, 1);
}

static void
oo7_07_alpha_answers_the_dbus_retry_of_a_dropped_gvariant_frame(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_07_ALPHA, 0);

	g_byte_array_unref(alice_unlocks(GVARIANT, "hunter2"));

	assert_reply_true(alice_unlocks(DBUS, "hunter2"), DBUS);
	assert_int_equal(frames_acted_on(), 1);
	assert_int_equal(frames_dropped(), 1);
}

static void oo7_main_replies_gvariant_true_to_a_gvariant_frame(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_MAIN, 0);

	assert_reply_true(alice_unlocks(GVARIANT, "hunter2"), GVARIANT);
	assert_int_equal(frames_acted_on(), 1);
}

static void oo7_main_drops_a_dbus_frame_with_no_reply(void **state)
{
	(void)state;
	daemon_of_generation_listens_for(&t_alice, OO7_MAIN, 0);

	assert_closed_silently(alice_unlocks(DBUS, "hunter2"), 0, 1);
}

/*
 * In a child as u: 0 if the daemon at path closed on frame with no reply,
 * 1 if it replied, 2 if u could not connect, 3 if it did neither in 5 s.
 */
static int child_sends_as(const struct tuser *u, const char *path,
			  const uint8_t *frame, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	t_become(u);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 2;
	/* Refused unread, the frame may meet the close: no matter. */
	send(fd, frame, len, MSG_NOSIGNAL);
	if (poll(&p, 1, 5000) != 1)
		return 3;
	return read(fd, &c, 1) > 0 ? 1 : 0;
}

/* bob, on a socket he may open, gets the close oo7 gives a stranger. */
static void oo7_main_refuses_a_peer_neither_root_nor_its_user(void **state)
{
	const char *path = runtime_path(&t_alice, "oo7-pam.sock");
	uint8_t *f;
	size_t len = t_expect_frame(&f, true, 0, "alice", "", 0, "hunter2", 7);
	int status;
	pid_t pid;

	(void)state;
	t_runtime_dir(&t_alice);
	assert_int_equal(chmod(runtime_dir(&t_alice), 0755), 0);
	t_listen(L(path, &t_alice, &t_alice, 0666, .generation = OO7_MAIN));

	pid = fork();
	if (pid == 0)
		_exit(child_sends_as(&t_bob, path, f, len));
	free(f);

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(frames_acted_on() + frames_dropped(), 0);
}

/* ---- the fake daemon of each generation, with a keyring ---- */

/* Of the frames u's fake daemon got, those it dropped. */
static size_t fake_daemon_frames_dropped(const struct tuser *u)
{
	struct record *all;
	size_t n = fake_daemon_frames_all(u, &all);

	return dropped_of(all, n);
}

/* alice's keyring, locked with hunter2; her fake daemon as release g. */
static void alices_locked_keyring_with_a_daemon_of(enum generation g)
{
	keyring_create(&t_alice, "hunter2", true);
	session_bus_create(&t_alice);
	generation_of_the_daemon(&t_alice, g);
	fake_daemon_start(&t_alice, NULL);
}

static void
fake_daemon_of_main_says_true_to_a_wrong_password_and_stays_locked(void **state)
{
	(void)state;
	alices_locked_keyring_with_a_daemon_of(OO7_MAIN);

	assert_reply_true(alice_unlocks(GVARIANT, "wrong"), GVARIANT);

	assert_keyring(&t_alice, "hunter2", true);
	assert_int_equal(fake_daemon_frames_acted_on(&t_alice), 1);
}

static void
fake_daemon_of_main_drops_a_dbus_frame_and_stays_locked(void **state)
{
	GByteArray *got;

	(void)state;
	alices_locked_keyring_with_a_daemon_of(OO7_MAIN);

	got = alice_unlocks(DBUS, "hunter2");

	assert_int_equal(got->len, 0);
	g_byte_array_unref(got);
	assert_keyring(&t_alice, "hunter2", true);
	assert_int_equal(fake_daemon_frames_dropped(&t_alice), 1);
}

static void fake_daemon_of_0_7_0_alpha_unlocks_and_says_true(void **state)
{
	(void)state;
	alices_locked_keyring_with_a_daemon_of(OO7_07_ALPHA);

	assert_reply_true(alice_unlocks(DBUS, "hunter2"), DBUS);

	assert_keyring(&t_alice, "hunter2", false);
}

static void fake_daemon_of_0_6_unlocks_and_leaves_no_socket(void **state)
{
	GByteArray *got;

	(void)state;
	alices_locked_keyring_with_a_daemon_of(OO7_06);

	got = alice_unlocks(DBUS, "hunter2");

	assert_int_equal(got->len, 0);
	g_byte_array_unref(got);
	assert_keyring(&t_alice, "hunter2", false);
	assert_false(socket_there(&t_alice));
}

int wire_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		session_sends_unlock_frame_to_user_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		chauthtok_sends_change_frame_with_old_and_new, setup, teardown),
	    cmocka_unit_test_setup_teardown(gvariant_unlock_frame_matches_glib,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(gvariant_change_frame_matches_glib,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_every_byte_but_nul_arrives_intact_in_dbus, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_every_byte_but_nul_arrives_intact_in_gvariant,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_in_several_utf8_scripts_arrives_intact_in_dbus, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		password_in_several_utf8_scripts_arrives_intact_in_gvariant,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_4_kib_arrives_intact_in_dbus, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_4_kib_arrives_intact_in_gvariant, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_invalid_utf8_arrives_intact_in_dbus, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_invalid_utf8_arrives_intact_in_gvariant, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_64_kib_arrives_intact_in_dbus, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_of_64_kib_arrives_intact_in_gvariant, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		empty_password_is_sent_as_it_is_in_dbus, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		empty_password_is_sent_as_it_is_in_gvariant, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_240_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_241_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_242_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_243_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_244_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_245_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_246_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_247_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_248_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_249_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_250_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65515_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65516_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65517_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65518_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65519_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65520_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65521_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65522_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65523_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65524_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65525_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65526_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65527_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_password_of_65528_bytes_matches_glib, setup, teardown),
	    cmocka_unit_test_setup_teardown(non_utf8_user_name_sends_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		user_name_of_1000_bytes_is_sent_intact, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		user_name_with_a_slash_is_sent_intact, setup, teardown),
	    cmocka_unit_test_setup_teardown(user_name_dotdot_is_sent_intact,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		user_name_with_a_newline_sends_and_logs_nothing_of_it, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		user_name_with_a_line_separator_sends_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		gvariant_frame_never_decodes_as_dbus_for_user_names_of_1_to_300_bytes,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_06_acts_on_a_dbus_frame_and_closes_with_no_reply, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_06_drops_a_gvariant_frame_with_no_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_06_unlinks_its_socket_after_a_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_07_alpha_replies_dbus_true_to_a_dbus_frame, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_07_alpha_drops_a_gvariant_frame_with_no_reply, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_07_alpha_answers_the_dbus_retry_of_a_dropped_gvariant_frame,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_main_replies_gvariant_true_to_a_gvariant_frame, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_main_drops_a_dbus_frame_with_no_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		oo7_main_refuses_a_peer_neither_root_nor_its_user, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		fake_daemon_of_main_says_true_to_a_wrong_password_and_stays_locked,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		fake_daemon_of_main_drops_a_dbus_frame_and_stays_locked, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		fake_daemon_of_0_7_0_alpha_unlocks_and_says_true, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		fake_daemon_of_0_6_unlocks_and_leaves_no_socket, setup,
		teardown),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
