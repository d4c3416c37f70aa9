// SPDX-License-Identifier: MIT
/*
 * The wire: what crosses the socket, byte for byte, against the golden
 * frames of WIRE.md and against libdbus-1 and GLib, in both encodings, for
 * passwords and user names of any bytes and length.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"

/* ---- golden frames ---- */

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
	t_listen_as(&t_bob, runtime_path(&t_bob, "oo7/pam.sock"),
		    LISTENER_CLOSE);

	t_chauthtok("passwd", "bob", "old", "newpw");

	assert_golden("0f000000 01 626f6200 6f6c64 6e65777077 08 05");
}

/* ---- passwords of any bytes and length ---- */

/* A login of alice with pw, checked against libdbus-1 or GLib. */
static void password_arrives_intact(enum encoding enc, const char *pw,
				    size_t len)
{
	stack("%s", encoding_option(enc));
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

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

#define T_GVARIANT_LENGTH(n) T(gvariant_password_of_##n##_bytes_matches_glib)

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
		      "character; nothing sent");
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
	assert_logged("holds a control character; nothing sent");
	assert_not_logged("FAKE LINE");
}

const struct CMUnitTest wire_tests[] = {
    T(session_sends_unlock_frame_to_user_socket),
    T(chauthtok_sends_change_frame_with_old_and_new),
    T(gvariant_unlock_frame_matches_glib),
    T(gvariant_change_frame_matches_glib),
    T(password_of_every_byte_but_nul_arrives_intact_in_dbus),
    T(password_of_every_byte_but_nul_arrives_intact_in_gvariant),
    T(password_in_several_utf8_scripts_arrives_intact_in_dbus),
    T(password_in_several_utf8_scripts_arrives_intact_in_gvariant),
    T(password_of_4_kib_arrives_intact_in_dbus),
    T(password_of_4_kib_arrives_intact_in_gvariant),
    T(password_of_invalid_utf8_arrives_intact_in_dbus),
    T(password_of_invalid_utf8_arrives_intact_in_gvariant),
    T(password_of_64_kib_arrives_intact_in_dbus),
    T(password_of_64_kib_arrives_intact_in_gvariant),
    T(empty_password_is_sent_as_it_is_in_dbus),
    T(empty_password_is_sent_as_it_is_in_gvariant),
    T_GVARIANT_LENGTH(240),
    T_GVARIANT_LENGTH(241),
    T_GVARIANT_LENGTH(242),
    T_GVARIANT_LENGTH(243),
    T_GVARIANT_LENGTH(244),
    T_GVARIANT_LENGTH(245),
    T_GVARIANT_LENGTH(246),
    T_GVARIANT_LENGTH(247),
    T_GVARIANT_LENGTH(248),
    T_GVARIANT_LENGTH(249),
    T_GVARIANT_LENGTH(250),
    T_GVARIANT_LENGTH(65515),
    T_GVARIANT_LENGTH(65516),
    T_GVARIANT_LENGTH(65517),
    T_GVARIANT_LENGTH(65518),
    T_GVARIANT_LENGTH(65519),
    T_GVARIANT_LENGTH(65520),
    T_GVARIANT_LENGTH(65521),
    T_GVARIANT_LENGTH(65522),
    T_GVARIANT_LENGTH(65523),
    T_GVARIANT_LENGTH(65524),
    T_GVARIANT_LENGTH(65525),
    T_GVARIANT_LENGTH(65526),
    T_GVARIANT_LENGTH(65527),
    T_GVARIANT_LENGTH(65528),
    T(non_utf8_user_name_sends_nothing),
    T(user_name_of_1000_bytes_is_sent_intact),
    T(user_name_with_a_slash_is_sent_intact),
    T(user_name_dotdot_is_sent_intact),
    T(user_name_with_a_newline_sends_and_logs_nothing_of_it),
};
const size_t wire_tests_count = N_ELEMS(wire_tests);
