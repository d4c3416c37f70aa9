// SPDX-License-Identifier: MIT
/*
 * The unit tier of make check: the module's pure parts, read by other
 * people's code. It needs no root, namespace, network, daemon or PAM
 * stack, so that anyone can run it in a second, offline; the suite in
 * main.c drives the built module through libpam for the rest.
 *
 * It includes pam_oo7.c, as the fuzzers do, because what it checks is
 * static there: the frame encoder (against libdbus-1 and GLib, through
 * listener.c, and against the golden frames), the reply and bus message
 * readers (fed what libdbus-1 and GDBus write), the option parser, the
 * log escaping and the /proc reader. Its one line to the log, pam_syslog,
 * is renamed here to unit_syslog: a test must not write to the host's
 * syslog, and what the module would log is part of what it checks.
 *
 *	./unit [PATTERN]	PATTERN (cmocka's * and ?) picks the cases
 */
#define pam_syslog unit_syslog
#include "../pam_oo7.c"
#undef pam_syslog

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dbus/dbus.h>
#include <gio/gio.h>

#include "listener.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the log, kept here instead of syslog ---- */

static struct {
	unsigned int lines;
	int prio;
	char last[4 * OO7_LOG_LINE_MAX + 64];
} unit_log;

void unit_syslog(const pam_handle_t *pamh, int prio, const char *fmt, ...)
{
	va_list ap;

	(void)pamh;
	unit_log.lines++;
	unit_log.prio = prio;
	va_start(ap, fmt);
	vsnprintf(unit_log.last, sizeof(unit_log.last), fmt, ap);
	va_end(ap);
}

static void log_forget(void)
{
	unit_log.lines = 0;
	unit_log.prio = -1;
	unit_log.last[0] = '\0';
}

/* Each case starts with an empty log; it frees what it allocates. */
static int setup(void **state)
{
	(void)state;
	log_forget();
	return 0;
}

/* ---- helpers ---- */

/* n bytes of b on the heap, exactly: valgrind sees a read past them. */
static uint8_t *heap_copy(const void *b, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	if (n)
		memcpy(p, b, n);
	return p;
}

/* A string of n copies of c, on the heap. */
static char *repeated(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* "1f000000 00..." into out; the number of bytes. */
static size_t from_hex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned int b;

	for (; *hex; hex++) {
		if (*hex == ' ')
			continue;
		assert_int_equal(sscanf(hex, "%2x", &b), 1);
		out[n++] = (uint8_t)b;
		hex++;
	}
	return n;
}

static void assert_bytes(GBytes *got, const char *want)
{
	size_t n = strlen(want);

	assert_int_equal(g_bytes_get_size(got), n);
	if (n)
		assert_memory_equal(g_bytes_get_data(got, NULL), want, n);
}

static const enum oo7_encoding both_encodings[] = {OO7_ENC_DBUS,
						   OO7_ENC_GVARIANT};

/*
 * The module encodes the request; libdbus-1, or GLib in normal form,
 * decodes it to the same fields.
 */
static void assert_round_trip(enum oo7_encoding enc, enum oo7_op op,
			      const char *user, const char *old,
			      const char *new)
{
	struct oo7_request req = {
	    .op = op, .user = user, .old = old, .new = new};
	struct oo7_frame f;
	struct decoded d;

	assert_int_equal(encode_frame(NULL, enc, &req, &f), 0);
	assert_true(frame_decode(f.data, f.len, enc == OO7_ENC_GVARIANT, &d));
	assert_int_equal(d.op, op);
	assert_string_equal(d.user, user);
	assert_bytes(d.old, old);
	assert_bytes(d.new, new);
	decoded_free(&d);
	free_frame(&f);
}

static void assert_round_trip_both(enum oo7_op op, const char *user,
				   const char *old, const char *new)
{
	for (size_t i = 0; i < N_ELEMS(both_encodings); i++)
		assert_round_trip(both_encodings[i], op, user, old, new);
}

/* ---- frames, decoded by libdbus-1 and GLib ---- */

static void
unlock_and_change_in_dbus_decode_with_libdbus_to_their_fields(void **s)
{
	(void)s;
	assert_round_trip(OO7_ENC_DBUS, OO7_OP_UNLOCK, "alice", "", "hunter2");
	assert_round_trip(OO7_ENC_DBUS, OO7_OP_CHANGE, "alice", "hunter2",
			  "correct horse");
}

static void
unlock_and_change_in_gvariant_decode_with_glib_in_normal_form(void **s)
{
	(void)s;
	assert_round_trip(OO7_ENC_GVARIANT, OO7_OP_UNLOCK, "alice", "",
			  "hunter2");
	assert_round_trip(OO7_ENC_GVARIANT, OO7_OP_CHANGE, "alice", "hunter2",
			  "correct horse");
}

/* An empty password ends the frame on a length (D-Bus) or an offset. */
static void empty_and_one_byte_passwords_decode_in_both_encodings(void **s)
{
	(void)s;
	assert_round_trip_both(OO7_OP_UNLOCK, "alice", "", "");
	assert_round_trip_both(OO7_OP_UNLOCK, "alice", "", "x");
	assert_round_trip_both(OO7_OP_CHANGE, "alice", "", "");
	assert_round_trip_both(OO7_OP_CHANGE, "alice", "x", "");
	assert_round_trip_both(OO7_OP_CHANGE, "alice", "", "y");
	assert_round_trip_both(OO7_OP_CHANGE, "b", "x", "y");
}

static void utf8_names_and_passwords_decode_in_both_encodings(void **s)
{
	/* Latin, Greek, Japanese, Arabic; an emoji and a euro sign. */
	static const char *const users[] = {
	    "jos\xc3\xa9", "\xce\xb1\xce\xbb\xce\xaf\xce\xba\xce\xb7",
	    "\xe6\x97\xa5\xe6\x9c\xac", "\xd8\xb9\xd9\x84\xd9\x8a"};
	const char *pw = "p\xc3\xa4ss \xe2\x82\xac \xf0\x9f\x94\x91";

	(void)s;
	for (size_t i = 0; i < N_ELEMS(users); i++) {
		assert_round_trip_both(OO7_OP_UNLOCK, users[i], "", pw);
		assert_round_trip_both(OO7_OP_CHANGE, users[i], pw,
				       "n\xc3\xa9w");
	}
}

/* A password is bytes, not text: every byte but NUL, and invalid UTF-8. */
static void password_of_every_byte_but_nul_decodes_in_both_encodings(void **s)
{
	char bytes[256];

	(void)s;
	for (int i = 1; i < 256; i++)
		bytes[i - 1] = (char)i;
	bytes[255] = '\0';
	assert_round_trip_both(OO7_OP_UNLOCK, "alice", "", bytes);
	assert_round_trip_both(OO7_OP_CHANGE, "alice", bytes, "\xff\xfe\xc0");
}

static void passwords_of_64_kib_decode_in_both_encodings(void **s)
{
	char *old = repeated('o', 64 << 10), *new = repeated('n', 64 << 10);

	(void)s;
	assert_round_trip_both(OO7_OP_UNLOCK, "alice", "", new);
	assert_round_trip_both(OO7_OP_CHANGE, "alice", old, new);
	free(old);
	free(new);
}

/* Every padding that a user name leaves after it in D-Bus, many times. */
static void user_names_of_1_to_64_bytes_decode_in_both_encodings(void **s)
{
	char *user = repeated('u', 64);

	(void)s;
	for (size_t n = 64; n >= 1; n--) {
		user[n] = '\0';
		assert_round_trip_both(OO7_OP_CHANGE, user, "old", "new");
	}
	free(user);
}

/*
 * GVariant's framing offsets are 1, 2 or 4 bytes wide, as the whole body
 * needs: GLib's normal form says where each width starts. Bodies on
 * either side of 255 and of 65535 bytes.
 */
static void gvariant_offsets_widen_where_glib_wants_them(void **s)
{
	static const size_t around[] = {255, 65535};
	char *pw = repeated('p', 65560);

	(void)s;
	for (size_t i = 0; i < N_ELEMS(around); i++) {
		for (size_t n = around[i] - 20; n <= around[i] + 5; n++) {
			pw[n] = '\0';
			assert_round_trip(OO7_ENC_GVARIANT, OO7_OP_UNLOCK, "u",
					  "", pw);
			pw[n] = 'p';
		}
	}
	free(pw);
}

/* ---- the encoder's limits ---- */

/*
 * A field of 64 MiB, the D-Bus cap on an array, is encoded (in GVariant
 * with 4-byte offsets: old and user both end at 7); one byte more in any
 * field is refused, logged, and leaves no frame. A walk over 64 MiB is
 * slow under valgrind, so the encodings take turns.
 */
static void fields_of_64_mib_are_encoded_and_longer_ones_refused(void **s)
{
	char *big = repeated('x', OO7_FIELD_MAX + 1);
	struct oo7_request reqs[] = {
	    {.op = OO7_OP_UNLOCK, .user = big, .old = "", .new = "pw"},
	    {.op = OO7_OP_CHANGE, .user = "alice", .old = big, .new = "pw"},
	    {.op = OO7_OP_UNLOCK, .user = "alice", .old = "", .new = big},
	};
	struct oo7_frame f;

	(void)s;
	for (size_t i = 0; i < N_ELEMS(reqs); i++) {
		log_forget();
		assert_int_equal(
		    encode_frame(NULL, both_encodings[i % 2], &reqs[i], &f),
		    -EMSGSIZE);
		assert_null(f.data);
		assert_int_equal(f.len, 0);
		assert_int_equal(unit_log.lines, 1);
		assert_int_equal(unit_log.prio, LOG_ERR);
		assert_string_equal(
		    unit_log.last,
		    "Password or user name too long; nothing sent");
	}
	big[OO7_FIELD_MAX] = '\0';
	log_forget();
	assert_int_equal(encode_frame(NULL, OO7_ENC_GVARIANT, &reqs[2], &f), 0);
	assert_int_equal(f.len, 4 + 1 + 6 + OO7_FIELD_MAX + 8);
	assert_int_equal(get_le32(f.data), f.len - 4);
	assert_memory_equal(f.data + f.len - 8, "\7\0\0\0\7\0\0\0", 8);
	assert_int_equal(unit_log.lines, 0);
	free_frame(&f);
	free(big);
}

/* ---- golden frames ---- */

static void assert_golden(enum oo7_encoding enc, enum oo7_op op,
			  const char *old, const char *new, const char *user,
			  const char *hex)
{
	struct oo7_request req = {
	    .op = op, .user = user, .old = old, .new = new};
	struct oo7_frame f;
	uint8_t want[128];
	size_t n = from_hex(hex, want);

	assert_int_equal(encode_frame(NULL, enc, &req, &f), 0);
	assert_int_equal(f.len, n);
	assert_memory_equal(f.data, want, n);
	free_frame(&f);
}

/*
 * The unlocks are pam_oo7(8)'s, under PROTOCOL; the changes were made by
 * zvariant, the daemon's library (as in test_wire.c).
 */
static void frames_match_the_golden_hex_byte_for_byte(void **s)
{
	(void)s;
	assert_golden(OO7_ENC_DBUS, OO7_OP_UNLOCK, "", "hunter2", "alice",
		      "1f000000 00000000 05000000 616c6963 65000000 "
		      "00000000 07000000 68756e74 657232");
	assert_golden(OO7_ENC_GVARIANT, OO7_OP_UNLOCK, "", "hunter2", "alice",
		      "10000000 00616c69 63650068 756e7465 72320707");
	assert_golden(OO7_ENC_DBUS, OO7_OP_CHANGE, "hunter2", "correct horse",
		      "alice",
		      "2d000000 01000000 05000000 616c6963 65000000 07000000 "
		      "68756e74 65723200 0d000000 636f7272 65637420 686f7273 "
		      "65");
	assert_golden(OO7_ENC_GVARIANT, OO7_OP_CHANGE, "old", "newpw", "bob",
		      "0f000000 01 626f6200 6f6c64 6e65777077 08 05");
}

/* ---- replies ---- */

static void assert_reply_parses(enum oo7_encoding enc, bool ok, const char *msg)
{
	uint8_t buf[OO7_REPLY_MAX], *b;
	size_t n =
	    reply_encode(buf, sizeof(buf), enc == OO7_ENC_GVARIANT, ok, msg);
	struct oo7_reply reply;

	assert_true(n > 0 && n <= sizeof(buf));
	b = heap_copy(buf, n);
	assert_true(parse_reply(enc, b, n, &reply));
	assert_int_equal(reply.ok, ok);
	assert_int_equal(reply.msg_len, strlen(msg));
	assert_memory_equal(reply.msg, msg, strlen(msg));
	free(b);
}

static const char *const reply_messages[] = {
    "",
    "Wrong password",
    "Mot de passe erron\xc3\xa9 (\xe2\x82\xac \xf0\x9f\x94\x91)",
    "a",
    "ab",
    "abc",
    "abcd",
};

static void replies_from_libdbus_and_glib_parse_to_what_was_sent(void **s)
{
	(void)s;
	for (size_t i = 0; i < N_ELEMS(reply_messages); i++) {
		for (size_t e = 0; e < N_ELEMS(both_encodings); e++) {
			assert_reply_parses(both_encodings[e], true,
					    reply_messages[i]);
			assert_reply_parses(both_encodings[e], false,
					    reply_messages[i]);
		}
	}
}

/* Every reply cut short, from an exact copy: refused, nothing read past. */
static void every_truncated_reply_is_rejected(void **s)
{
	uint8_t buf[OO7_REPLY_MAX];
	struct oo7_reply reply;

	(void)s;
	for (size_t e = 0; e < N_ELEMS(both_encodings); e++) {
		for (size_t i = 0; i < N_ELEMS(reply_messages); i++) {
			size_t n =
			    reply_encode(buf, sizeof(buf),
					 both_encodings[e] == OO7_ENC_GVARIANT,
					 false, reply_messages[i]);

			for (size_t cut = 0; cut < n; cut++) {
				uint8_t *b = heap_copy(buf, cut);

				assert_false(parse_reply(both_encodings[e], b,
							 cut, &reply));
				free(b);
			}
		}
	}
}

/*
 * log_malformed tells the administrator which encoding= to set when a
 * reply parses in the other encoding: none of ours ever parses in both.
 */
static void reply_in_one_encoding_never_parses_in_the_other(void **s)
{
	uint8_t buf[OO7_REPLY_MAX];
	struct oo7_reply reply;
	char *msg = repeated('m', 40);

	(void)s;
	for (size_t len = 0; len <= 40; len++) {
		msg[len] = '\0';
		for (int ok = 0; ok <= 1; ok++) {
			size_t n =
			    reply_encode(buf, sizeof(buf), true, ok, msg);

			assert_true(
			    parse_reply(OO7_ENC_GVARIANT, buf, n, &reply));
			assert_false(parse_reply(OO7_ENC_DBUS, buf, n, &reply));
			n = reply_encode(buf, sizeof(buf), false, ok, msg);
			assert_true(parse_reply(OO7_ENC_DBUS, buf, n, &reply));
			assert_false(
			    parse_reply(OO7_ENC_GVARIANT, buf, n, &reply));
		}
		msg[len] = 'm';
	}
	free(msg);
}

static void garbage_replies_are_rejected(void **s)
{
	static const struct {
		enum oo7_encoding enc;
		const char *hex;
	} bad[] = {
	    {OO7_ENC_GVARIANT, "02 00"},	 /* flag 2 */
	    {OO7_ENC_GVARIANT, "01 6f6b"},	 /* no NUL */
	    {OO7_ENC_GVARIANT, "00 6100 62 00"}, /* NUL inside */
	    {OO7_ENC_GVARIANT, "ff ff ff ff"},
	    {OO7_ENC_DBUS, "02000000 00000000 00"},	  /* flag 2 */
	    {OO7_ENC_DBUS, "00000001 00000000 00"},	  /* flag 2^24 */
	    {OO7_ENC_DBUS, "01000000 01000000 00"},	  /* length past end */
	    {OO7_ENC_DBUS, "01000000 00000000 0000"},	  /* a byte after */
	    {OO7_ENC_DBUS, "00000000 02000000 61 62 63"}, /* no NUL */
	    {OO7_ENC_DBUS, "00000000 02000000 61 00 00"}, /* NUL inside */
	    {OO7_ENC_DBUS, "00000000 ffffffff 00"},
	};
	struct oo7_reply reply;
	uint8_t buf[32], *b;

	(void)s;
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		size_t n = from_hex(bad[i].hex, buf);

		b = heap_copy(buf, n);
		assert_false(parse_reply(bad[i].enc, b, n, &reply));
		free(b);
	}
}

/* ---- bus messages ---- */

/* A libdbus-1 message, marshalled, on the heap exactly; unrefs m. */
static uint8_t *marshal(DBusMessage *m, size_t *n)
{
	char *blob;
	int len;
	uint8_t *b;

	assert_true(dbus_message_marshal(m, &blob, &len));
	b = heap_copy(blob, (size_t)len);
	*n = (size_t)len;
	dbus_free(blob);
	dbus_message_unref(m);
	return b;
}

/* The bus driver's GetNameOwner, serial 5, to answer. */
static DBusMessage *driver_call(void)
{
	DBusMessage *call = dbus_message_new_method_call(
	    "org.freedesktop.DBus", "/org/freedesktop/DBus",
	    "org.freedesktop.DBus", "GetNameOwner");

	assert_non_null(call);
	dbus_message_set_serial(call, 5);
	return call;
}

/* A reply of the bus driver to serial 5, as a bus would send it. */
static DBusMessage *driver_reply(DBusMessage *call, const char *error,
				 const char *text)
{
	DBusMessage *m = error ? dbus_message_new_error(call, error, text)
			       : dbus_message_new_method_return(call);

	assert_non_null(m);
	dbus_message_set_serial(m, 9);
	assert_true(dbus_message_set_sender(m, "org.freedesktop.DBus"));
	assert_true(dbus_message_set_destination(m, ":1.7"));
	dbus_message_unref(call);
	return m;
}

/* GetNameOwner's answer: ":1.42" owns the name. */
static uint8_t *owner_reply(size_t *n)
{
	DBusMessage *m = driver_reply(driver_call(), NULL, NULL);
	const char *owner = ":1.42";

	assert_true(dbus_message_append_args(m, DBUS_TYPE_STRING, &owner,
					     DBUS_TYPE_INVALID));
	return marshal(m, n);
}

static uint8_t *no_owner_error(size_t *n)
{
	return marshal(driver_reply(driver_call(),
				    "org.freedesktop.DBus.Error.NameHasNoOwner",
				    "Could not get owner of name "
				    "'org.freedesktop.secrets': no such name"),
		       n);
}

/* The body's one string (s, o or g), as bus_rpc reads it. */
static void assert_body_string(const struct oo7_bus_msg *m, char type,
			       const char *want)
{
	char out[OO7_BUS_NAME_MAX + 1];
	size_t at = 0;

	assert_true(bus_get_string(&m->body, &at, type, out));
	assert_string_equal(out, want);
	assert_int_equal(at, m->body.n);
}

/* GetNameOwner answered, then refused, little endian as on x86. */
static void reply_and_error_from_libdbus_parse_to_their_fields(void **s)
{
	struct oo7_bus_msg m;
	size_t n;
	uint8_t *b = owner_reply(&n);

	(void)s;
	assert_int_equal(bus_parse(b, n, &m), n);
	assert_int_equal(m.type, DBUS_MESSAGE_TYPE_METHOD_RETURN);
	assert_int_equal(m.reply_serial, 5);
	assert_string_equal(m.signature, "s");
	assert_string_equal(m.error, "");
	assert_false(m.body.big);
	assert_body_string(&m, 's', ":1.42");
	free(b);

	b = no_owner_error(&n);
	assert_int_equal(bus_parse(b, n, &m), n);
	assert_int_equal(m.type, DBUS_MESSAGE_TYPE_ERROR);
	assert_int_equal(m.reply_serial, 5);
	assert_string_equal(m.error,
			    "org.freedesktop.DBus.Error.NameHasNoOwner");
	assert_string_equal(m.signature, "s");
	assert_body_string(&m, 's',
			   "Could not get owner of name "
			   "'org.freedesktop.secrets': no such name");
	free(b);
}

/* Properties.Get of ActiveState: a variant, read as bus_rpc does. */
static void variant_reply_reads_as_its_signature_then_its_string(void **s)
{
	DBusMessage *r = driver_reply(driver_call(), NULL, NULL);
	DBusMessageIter it, v;
	const char *state = "activating";
	char out[OO7_BUS_NAME_MAX + 1];
	struct oo7_bus_msg m;
	size_t n, at = 0;
	uint8_t *b;

	(void)s;
	dbus_message_iter_init_append(r, &it);
	assert_true(
	    dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "s", &v));
	assert_true(
	    dbus_message_iter_append_basic(&v, DBUS_TYPE_STRING, &state));
	assert_true(dbus_message_iter_close_container(&it, &v));
	b = marshal(r, &n);

	assert_int_equal(bus_parse(b, n, &m), n);
	assert_string_equal(m.signature, "v");
	assert_true(bus_get_string(&m.body, &at, 'g', out));
	assert_string_equal(out, "s");
	assert_true(bus_get_string(&m.body, &at, 's', out));
	assert_string_equal(out, "activating");
	free(b);
}

/* A big-endian message (a bus on s390x) from GDBus, on the heap exactly. */
static uint8_t *gdbus_big_endian(GDBusMessage *m, size_t *n)
{
	GError *err = NULL;
	gsize len = 0;
	guchar *blob;
	uint8_t *b;

	g_dbus_message_set_serial(m, 9);
	g_dbus_message_set_sender(m, "org.freedesktop.DBus");
	g_dbus_message_set_byte_order(m, G_DBUS_MESSAGE_BYTE_ORDER_BIG_ENDIAN);
	blob =
	    g_dbus_message_to_blob(m, &len, G_DBUS_CAPABILITY_FLAGS_NONE, &err);
	assert_non_null(blob);
	assert_int_equal(blob[0], 'B');
	b = heap_copy(blob, len);
	*n = len;
	g_free(blob);
	g_object_unref(m);
	return b;
}

static GDBusMessage *gdbus_call(void)
{
	GDBusMessage *call = g_dbus_message_new_method_call(
	    "org.freedesktop.DBus", "/org/freedesktop/DBus",
	    "org.freedesktop.DBus", "GetConnectionUnixProcessID");

	g_dbus_message_set_serial(call, 3);
	return call;
}

/*
 * GetConnectionUnixProcessID's u32, read in the message's byte order;
 * then an error of the service manager.
 */
static void
big_endian_reply_and_error_from_gdbus_parse_to_their_fields(void **s)
{
	GDBusMessage *call = gdbus_call();
	GDBusMessage *r = g_dbus_message_new_method_reply(call);
	struct oo7_bus_msg m;
	uint8_t *b;
	size_t n, at;
	uint32_t u;

	(void)s;
	g_dbus_message_set_body(r, g_variant_new("(u)", 0x01020304U));
	b = gdbus_big_endian(r, &n);
	assert_int_equal(bus_parse(b, n, &m), n);
	assert_int_equal(m.type, DBUS_MESSAGE_TYPE_METHOD_RETURN);
	assert_int_equal(m.reply_serial, 3);
	assert_string_equal(m.signature, "u");
	assert_true(m.body.big);
	assert_int_equal(m.body.n, 4);
	at = 0;
	assert_true(bus_get_u32(&m.body, &at, &u));
	assert_int_equal(u, 0x01020304U);
	free(b);

	r = g_dbus_message_new_method_error_literal(
	    call, "org.freedesktop.systemd1.NoSuchUnit",
	    "Unit oo7-daemon.service not loaded.");
	b = gdbus_big_endian(r, &n);
	g_object_unref(call);
	assert_int_equal(bus_parse(b, n, &m), n);
	assert_int_equal(m.type, DBUS_MESSAGE_TYPE_ERROR);
	assert_int_equal(m.reply_serial, 3);
	assert_string_equal(m.error, "org.freedesktop.systemd1.NoSuchUnit");
	assert_body_string(&m, 's', "Unit oo7-daemon.service not loaded.");
	free(b);
}

/* bus_await reads as the bus writes: a message is whole, or wait. */
static void every_prefix_of_a_message_asks_for_more_bytes(void **s)
{
	struct oo7_bus_msg m;
	size_t n;
	uint8_t *whole = no_owner_error(&n);

	(void)s;
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *b = heap_copy(whole, cut);

		assert_int_equal(bus_parse(b, cut, &m), 0);
		free(b);
	}
	free(whole);
}

/* A signal and the reply in one read: one message at a time. */
static void two_messages_in_one_buffer_parse_one_at_a_time(void **s)
{
	DBusMessage *sig = dbus_message_new_signal(
	    "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameAcquired");
	const char *name = ":1.7";
	struct oo7_bus_msg m;
	size_t n1, n2;
	uint8_t *first, *second, *both;

	(void)s;
	dbus_message_set_serial(sig, 2);
	assert_true(dbus_message_append_args(sig, DBUS_TYPE_STRING, &name,
					     DBUS_TYPE_INVALID));
	first = marshal(sig, &n1);
	second = owner_reply(&n2);
	both = malloc(n1 + n2);
	memcpy(both, first, n1);
	memcpy(both + n1, second, n2);

	assert_int_equal(bus_parse(both, n1 + n2, &m), n1);
	assert_int_equal(m.type, DBUS_MESSAGE_TYPE_SIGNAL);
	assert_body_string(&m, 's', ":1.7");
	assert_int_equal(bus_parse(both + n1, n2, &m), n2);
	assert_int_equal(m.reply_serial, 5);
	assert_body_string(&m, 's', ":1.42");
	free(first);
	free(second);
	free(both);
}

/*
 * GetNameOwner's reply with byte at (or the u32 there, little endian) set
 * to v; the first header field starts at 16 (code, 1, type, NUL).
 */
static void assert_bad_header(size_t at, uint32_t v, size_t width)
{
	struct oo7_bus_msg m;
	size_t n;
	uint8_t *b = owner_reply(&n);

	for (size_t i = 0; i < width; i++)
		b[at + i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(bus_parse(b, n, &m), -EBADMSG);
	free(b);
}

/*
 * A byte order, a version or lengths the reader does not take; then a
 * string whose NUL would be the first byte past its buffer.
 */
static void bad_headers_and_strings_cut_before_their_nul_are_rejected(void **s)
{
	static const struct {
		char type;
		const char *hex;
	} cut[] = {
	    {'s', "03000000 616263"}, {'s', "04000000 616263"},
	    {'g', "03 616263"},	      {'g', "01"},
	    {'s', "00000000"},
	};
	uint8_t buf[16];

	(void)s;
	assert_bad_header(0, 'x', 1);			/* byte order */
	assert_bad_header(3, 2, 1);			/* protocol version */
	assert_bad_header(4, OO7_BUS_READ_MAX + 1, 4);	/* body */
	assert_bad_header(12, OO7_BUS_READ_MAX + 1, 4); /* header fields */
	assert_bad_header(4, 0xffffffffU, 4);
	assert_bad_header(12, 0xfffffff8U, 4);
	assert_bad_header(17, 2, 1);   /* a field's signature: one type */
	assert_bad_header(19, 'x', 1); /* and its NUL */
	for (size_t i = 0; i < N_ELEMS(cut); i++) {
		size_t n = from_hex(cut[i].hex, buf), at = 0;
		struct oo7_bus_in in = {.b = heap_copy(buf, n), .n = n};

		assert_false(bus_get_string(&in, &at, cut[i].type, NULL));
		free((void *)in.b);
	}
}

/* m->signature holds 7 characters: a longer one is refused, not cut. */
static void signature_longer_than_the_reader_holds_is_refused(void **s)
{
	DBusMessage *r = driver_reply(driver_call(), NULL, NULL);
	dbus_uint32_t u = 1;
	struct oo7_bus_msg m;
	uint8_t *b;
	size_t n;

	(void)s;
	for (int i = 0; i < 8; i++)
		assert_true(dbus_message_append_args(r, DBUS_TYPE_UINT32, &u,
						     DBUS_TYPE_INVALID));
	b = marshal(r, &n);
	assert_int_equal(bus_parse(b, n, &m), -EBADMSG);
	free(b);
}

/*
 * A name the module keeps (the owner, a unit's path, an error's name) is
 * at most 255 bytes, as the specification caps a bus name: a longer string
 * is refused, not copied past its buffer.
 */
static void string_longer_than_a_bus_name_is_refused_not_copied(void **s)
{
	char *path = repeated('p', OO7_BUS_NAME_MAX + 1);
	char out[OO7_BUS_NAME_MAX + 1];
	struct oo7_bus_msg m;

	(void)s;
	path[0] = '/';
	for (size_t len = OO7_BUS_NAME_MAX; len <= OO7_BUS_NAME_MAX + 1;
	     len++) {
		DBusMessage *r = driver_reply(driver_call(), NULL, NULL);
		size_t n, at = 0;
		uint8_t *b;

		path[len] = '\0';
		assert_true(dbus_message_append_args(r, DBUS_TYPE_OBJECT_PATH,
						     &path, DBUS_TYPE_INVALID));
		b = marshal(r, &n);
		assert_int_equal(bus_parse(b, n, &m), n);
		assert_int_equal(bus_get_string(&m.body, &at, 'o', out),
				 len <= OO7_BUS_NAME_MAX);
		at = 0;
		assert_true(bus_get_string(&m.body, &at, 'o', NULL));
		assert_int_equal(at, m.body.n);
		path[len] = 'p';
		free(b);
	}
	free(path);
}

/*
 * A signal that any client of the bus may send us, its path longer than a
 * bus name in its header: read past, as the fields the module does not
 * keep are, not refused.
 */
static void header_path_longer_than_a_bus_name_is_skipped(void **s)
{
	char *path = repeated('p', 3 * OO7_BUS_NAME_MAX);
	DBusMessage *sig;
	struct oo7_bus_msg m;
	uint8_t *b;
	size_t n;

	(void)s;
	path[0] = '/';
	sig = dbus_message_new_signal(path, "org.example.I", "Hi");
	assert_non_null(sig);
	dbus_message_set_serial(sig, 2);
	b = marshal(sig, &n);
	assert_int_equal(bus_parse(b, n, &m), n);
	assert_int_equal(m.type, DBUS_MESSAGE_TYPE_SIGNAL);
	free(b);
	free(path);
}

/*
 * A request too long for the wire reaches no daemon: its frame is made
 * before the connection, so a daemon is never left a connection with
 * nothing on it, whatever encoding= says.
 */
static void request_too_long_for_the_wire_opens_no_connection(void **s)
{
	static const enum oo7_encoding encodings[] = {
	    OO7_ENC_DBUS, OO7_ENC_GVARIANT, OO7_ENC_AUTO};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/pam_oo7-unit.XXXXXX";
	struct passwd *pw = getpwuid(geteuid());
	char *big = repeated('p', OO7_FIELD_MAX + 1);
	struct oo7_request req = {
	    .op = OO7_OP_UNLOCK, .pw = pw, .old = "", .new = big};
	struct oo7_opts o = {.timeout_ms = 2000, .socket = sa.sun_path};
	int fd;

	(void)s;
	assert_non_null(pw);
	req.user = pw->pw_name;
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/pam.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	for (size_t i = 0; i < N_ELEMS(encodings); i++) {
		o.encoding = encodings[i];
		assert_int_equal(send_once(NULL, &o, &req, deadline_of(&o)),
				 OO7_FAILED);
		assert_int_equal(accept(fd, NULL, NULL), -1);
		assert_int_equal(errno, EAGAIN);
	}
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
	free(big);
}

/* Whatever bus_parse says of b, it stays within it. */
static void assert_parse_stays_inside(const uint8_t *b, size_t n)
{
	uint8_t *copy = heap_copy(b, n);
	struct oo7_bus_msg m;
	ssize_t r = bus_parse(copy, n, &m);
	size_t at = 0;

	assert_true(r == -EBADMSG || (r >= 0 && (size_t)r <= n));
	if (r > 0) {
		assert_true(m.body.b >= copy);
		assert_true(m.body.b + m.body.n <= copy + r);
		/* read the body as the module would: valgrind watches */
		bus_get_string(&m.body, &at, 's', NULL);
	}
	free(copy);
}

/*
 * Each byte of an error set to 0, 1, 0x7f, 0x80, 0xff, and one more and
 * one less than it was (a length off by one); then bytes of a fixed
 * pseudo-random sequence behind a valid start.
 */
static void corrupt_messages_are_never_read_past_their_end(void **s)
{
	static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	uint8_t noise[256];
	uint32_t seed = 12345;
	size_t n;
	uint8_t *b = no_owner_error(&n);

	(void)s;
	for (size_t i = 0; i < n; i++) {
		uint8_t keep = b[i];

		for (size_t v = 0; v < N_ELEMS(values); v++) {
			b[i] = values[v];
			assert_parse_stays_inside(b, n);
		}
		b[i] = (uint8_t)(keep + 1);
		assert_parse_stays_inside(b, n);
		b[i] = (uint8_t)(keep - 1);
		assert_parse_stays_inside(b, n);
		b[i] = keep;
	}
	for (size_t round = 0; round < 2000; round++) {
		size_t len = 16 + round % 200;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245U + 12345U;
			noise[i] = (uint8_t)(seed >> 16);
		}
		memcpy(noise, "l\2\0\1", 4);
		noise[5] = noise[6] = noise[7] = noise[13] = noise[14] =
		    noise[15] = 0;
		assert_parse_stays_inside(noise, len);
	}
	free(b);
}

/* libdbus-1 demarshals what bus_call writes, to the call it names. */
static void assert_call_demarshals(uint32_t serial,
				   const struct oo7_bus_call *call)
{
	uint8_t out[OO7_BUS_MSG_MAX];
	struct oo7_frame f = {.data = out, .cap = sizeof(out)};
	const char *sig = call->args[1] ? "ss" : call->args[0] ? "s" : "";
	const char *arg = NULL;
	DBusMessageIter it;
	DBusMessage *m;

	bus_call(&f, serial, call);
	assert_int_equal(
	    dbus_message_demarshal_bytes_needed((char *)out, (int)f.len),
	    f.len);
	m = dbus_message_demarshal((char *)out, (int)f.len, NULL);
	assert_non_null(m);
	assert_int_equal(dbus_message_get_type(m),
			 DBUS_MESSAGE_TYPE_METHOD_CALL);
	assert_int_equal(dbus_message_get_serial(m), serial);
	assert_false(dbus_message_get_auto_start(m));
	assert_string_equal(dbus_message_get_destination(m), call->dest);
	assert_string_equal(dbus_message_get_path(m), call->path);
	assert_string_equal(dbus_message_get_interface(m), call->iface);
	assert_string_equal(dbus_message_get_member(m), call->member);
	assert_string_equal(dbus_message_get_signature(m), sig);
	dbus_message_iter_init(m, &it);
	for (size_t i = 0; i < 2 && call->args[i]; i++) {
		assert_int_equal(dbus_message_iter_get_arg_type(&it),
				 DBUS_TYPE_STRING);
		dbus_message_iter_get_basic(&it, &arg);
		assert_string_equal(arg, call->args[i]);
		dbus_message_iter_next(&it);
	}
	dbus_message_unref(m);
}

static void method_calls_of_bus_call_demarshal_in_libdbus(void **s)
{
	const struct oo7_bus_call calls[] = {
	    OO7_BUS_DRIVER("Hello", NULL, "s"),
	    OO7_BUS_DRIVER("GetNameOwner", OO7_BUS_SECRETS, "s"),
	    OO7_MANAGER_CALL(OO7_MANAGER_PATH, OO7_MANAGER_IFACE, "StartUnit",
			     OO7_UNIT, "replace", "o"),
	    OO7_MANAGER_CALL("/org/freedesktop/systemd1/unit/"
			     "oo7_2ddaemon_2eservice",
			     "org.freedesktop.DBus.Properties", "Get",
			     "org.freedesktop.systemd1.Unit", "ActiveState",
			     "v"),
	};

	(void)s;
	for (size_t i = 0; i < N_ELEMS(calls); i++)
		assert_call_demarshals((uint32_t)i + 1, &calls[i]);
}

/* ---- options ---- */

static void assert_default_opts(const struct oo7_opts *o)
{
	assert_false(o->debug);
	assert_false(o->auto_start);
	assert_false(o->start_always);
	assert_int_equal(o->route, OO7_ROUTE_ANY);
	assert_null(o->socket);
	assert_int_equal(o->timeout_ms, OO7_TIMEOUT_DEFAULT_MS);
	assert_int_equal(o->encoding, OO7_ENC_AUTO);
	assert_null(o->only_if);
	assert_null(o->daemon);
}

static void parse(struct oo7_opts *o, int argc, const char **argv)
{
	log_forget();
	parse_opts(NULL, argc, argv, o);
}

/* parse_opts with one argument, as a pam.d line gives it. */
static void parse_arg(struct oo7_opts *o, const char *arg)
{
	const char *argv[] = {arg};

	parse(o, 1, argv);
}

static void no_options_give_the_defaults(void **s)
{
	struct oo7_opts o;

	(void)s;
	memset(&o, 0xa5, sizeof(o));
	parse(&o, 0, NULL);
	assert_default_opts(&o);
	assert_int_equal(unit_log.lines, 0);
}

/* Each option into its field; the strings point into argv. */
static void every_option_is_parsed_into_its_field(void **s)
{
	const char *argv[] = {"debug",
			      "auto_start",
			      "start_always",
			      "socket=/run/user/1000/oo7/pam.sock",
			      "timeout=250",
			      "encoding=gvariant",
			      "only_if=gdm-password,sddm",
			      "daemon=/usr/libexec/oo7-daemon"};
	struct oo7_opts o;

	(void)s;
	parse(&o, N_ELEMS(argv), argv);
	assert_true(o.debug);
	assert_true(o.auto_start);
	assert_true(o.start_always);
	assert_int_equal(o.route, OO7_ROUTE_ANY);
	assert_ptr_equal(o.socket, argv[3] + strlen("socket="));
	assert_int_equal(o.timeout_ms, 250);
	assert_int_equal(o.encoding, OO7_ENC_GVARIANT);
	assert_ptr_equal(o.only_if, argv[6] + strlen("only_if="));
	assert_ptr_equal(o.daemon, argv[7] + strlen("daemon="));
	assert_int_equal(unit_log.lines, 0);
}

/* auto_start= with a route turns auto_start on too. */
static void every_route_encoding_and_the_timeout_bounds_are_accepted(void **s)
{
	static const struct {
		const char *arg;
		bool auto_start;
		enum oo7_route route;
		enum oo7_encoding enc;
		unsigned int ms;
	} cases[] = {
	    {"auto_start", true, OO7_ROUTE_ANY, OO7_ENC_AUTO, 2000},
	    {"auto_start=bus", true, OO7_ROUTE_BUS, OO7_ENC_AUTO, 2000},
	    {"auto_start=fork", true, OO7_ROUTE_FORK, OO7_ENC_AUTO, 2000},
	    {"encoding=auto", false, OO7_ROUTE_ANY, OO7_ENC_AUTO, 2000},
	    {"encoding=dbus", false, OO7_ROUTE_ANY, OO7_ENC_DBUS, 2000},
	    {"encoding=gvariant", false, OO7_ROUTE_ANY, OO7_ENC_GVARIANT, 2000},
	    {"timeout=1", false, OO7_ROUTE_ANY, OO7_ENC_AUTO, 1},
	    {"timeout=60000", false, OO7_ROUTE_ANY, OO7_ENC_AUTO, 60000},
	    {"timeout=0042", false, OO7_ROUTE_ANY, OO7_ENC_AUTO, 42},
	};
	struct oo7_opts o;

	(void)s;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		parse_arg(&o, cases[i].arg);
		assert_int_equal(o.auto_start, cases[i].auto_start);
		assert_int_equal(o.route, cases[i].route);
		assert_int_equal(o.encoding, cases[i].enc);
		assert_int_equal(o.timeout_ms, cases[i].ms);
		assert_int_equal(unit_log.lines, 0);
	}
}

/* sun_path holds 107 bytes and a NUL. */
static void socket_path_is_accepted_up_to_107_bytes(void **s)
{
	char arg[200] = "socket=/";
	struct oo7_opts o;

	(void)s;
	memset(arg + 8, 's', 106);
	parse_arg(&o, arg);
	assert_int_equal(strlen(o.socket), 107);
	arg[8 + 106] = 's';
	parse_arg(&o, arg);
	assert_null(o.socket);
	assert_int_equal(unit_log.prio, LOG_ERR);
}

/* Each invalid argument alone: the defaults stay, and it is logged once. */
static void invalid_values_leave_the_defaults_and_are_logged(void **s)
{
	static const char *const bad[] = {
	    "timeout=0",
	    "timeout=60001",
	    "timeout=abc",
	    "timeout=",
	    "timeout=-1",
	    "timeout= 5",
	    "timeout=+5",
	    "timeout=5ms",
	    "timeout=5 ",
	    "timeout=18446744073709551617",
	    "encoding=bogus",
	    "encoding=",
	    "encoding=DBUS",
	    "auto_start=bogus",
	    "auto_start=",
	    "socket=relative",
	    "socket=",
	    "only_if=",
	    "daemon=oo7-daemon",
	    "daemon=",
	    "bogus",
	    "Debug",
	    "debug=1",
	    "timeout",
	    "socket",
	    "",
	};
	char want[128];
	struct oo7_opts o;

	(void)s;
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		parse_arg(&o, bad[i]);
		assert_default_opts(&o);
		assert_int_equal(unit_log.lines, 1);
		assert_int_equal(unit_log.prio, LOG_ERR);
		snprintf(want, sizeof(want),
			 "Ignoring unknown or invalid option: %s", bad[i]);
		assert_string_equal(unit_log.last, want);
	}
}

/* As pam_oo7(8) says: the last valid value counts; an invalid one is
 * ignored, and the option stays as it was set before on the line. */
static void repeated_option_keeps_its_last_valid_value(void **s)
{
	const char *argv[] = {
	    "timeout=5000", "encoding=dbus",   "socket=/run/a",
	    "timeout=7000", "timeout=abc",     "encoding=bogus",
	    "socket=rel",   "auto_start=fork", "auto_start=x"};
	struct oo7_opts o;

	(void)s;
	parse(&o, N_ELEMS(argv), argv);
	assert_int_equal(o.timeout_ms, 7000);
	assert_int_equal(o.encoding, OO7_ENC_DBUS);
	assert_string_equal(o.socket, "/run/a");
	assert_true(o.auto_start);
	assert_int_equal(o.route, OO7_ROUTE_FORK);
	assert_int_equal(unit_log.lines, 4);
	assert_string_equal(unit_log.last,
			    "Ignoring unknown or invalid option: auto_start=x");
}

/* A pam.d line cannot forge a log line through the module. */
static void invalid_option_is_logged_on_one_line_with_controls_escaped(void **s)
{
	struct oo7_opts o;

	(void)s;
	parse_arg(&o, "timeout=1\nsudo: \xe2\x80\xaeroot");
	assert_int_equal(unit_log.lines, 1);
	assert_string_equal(unit_log.last,
			    "Ignoring unknown or invalid option: "
			    "timeout=1\\x0asudo: \\xe2\\x80\\xaeroot");
}

/* ---- the log escaping and user names ---- */

/* escape_for_log into a heap buffer of exactly 4 * strlen(s) + 1 bytes. */
static void assert_escaped(const char *in, const char *want)
{
	char *out = malloc(4 * strlen(in) + 1);

	assert_non_null(out);
	escape_for_log(in, out);
	assert_string_equal(out, want);
	free(out);
}

static const struct {
	const char *in, *out;
} controls[] = {
    {"a\nb", "a\\x0ab"},
    {"a\rb", "a\\x0db"},
    {"\t", "\\x09"},
    {"\x01\x1f", "\\x01\\x1f"},
    {"\x1b[31mred", "\\x1b[31mred"},
    {"del\x7f", "del\\x7f"},
    {"\xc2\x80", "\\xc2\\x80"},		/* U+0080, C1 */
    {"nel\xc2\x85", "nel\\xc2\\x85"},	/* U+0085 NEXT LINE */
    {"\xc2\x9b[31m", "\\xc2\\x9b[31m"}, /* U+009B CSI */
    {"\xc2\x9f", "\\xc2\\x9f"},		/* U+009F */
};

/* Bidi embeddings, overrides and isolates; marks; separators; tags. */
static const struct {
	const char *in, *out;
} hidden[] = {
    {"a\xe2\x80\xaaz", "a\\xe2\\x80\\xaaz"},	      /* U+202A LRE */
    {"a\xe2\x80\xabz", "a\\xe2\\x80\\xabz"},	      /* U+202B RLE */
    {"a\xe2\x80\xacz", "a\\xe2\\x80\\xacz"},	      /* U+202C PDF */
    {"a\xe2\x80\xadz", "a\\xe2\\x80\\xadz"},	      /* U+202D LRO */
    {"a\xe2\x80\xaez", "a\\xe2\\x80\\xaez"},	      /* U+202E RLO */
    {"a\xe2\x81\xa6z", "a\\xe2\\x81\\xa6z"},	      /* U+2066 LRI */
    {"a\xe2\x81\xa7z", "a\\xe2\\x81\\xa7z"},	      /* U+2067 RLI */
    {"a\xe2\x81\xa8z", "a\\xe2\\x81\\xa8z"},	      /* U+2068 FSI */
    {"a\xe2\x81\xa9z", "a\\xe2\\x81\\xa9z"},	      /* U+2069 PDI */
    {"a\xe2\x80\x8ez", "a\\xe2\\x80\\x8ez"},	      /* U+200E LRM */
    {"a\xe2\x80\x8fz", "a\\xe2\\x80\\x8fz"},	      /* U+200F RLM */
    {"a\xd8\x9cz", "a\\xd8\\x9cz"},		      /* U+061C ALM */
    {"a\xe2\x80\x8bz", "a\\xe2\\x80\\x8bz"},	      /* U+200B ZWSP */
    {"a\xef\xbb\xbfz", "a\\xef\\xbb\\xbfz"},	      /* U+FEFF BOM */
    {"a\xe2\x80\xa8z", "a\\xe2\\x80\\xa8z"},	      /* U+2028 LS */
    {"a\xe2\x80\xa9z", "a\\xe2\\x80\\xa9z"},	      /* U+2029 PS */
    {"a\xc2\xadz", "a\\xc2\\xadz"},		      /* U+00AD SHY */
    {"a\xf3\xa0\x80\x81z", "a\\xf3\\xa0\\x80\\x81z"}, /* U+E0001 */
    {"a\xf3\xa0\x80\xa0z", "a\\xf3\\xa0\\x80\\xa0z"}, /* U+E0020 */
    {"a\xf3\xa0\x81\x81z", "a\\xf3\\xa0\\x81\\x81z"}, /* U+E0041 */
    {"a\xf3\xa0\x81\xbfz", "a\\xf3\\xa0\\x81\\xbfz"}, /* U+E007F */
    {"a\xee\x80\x80z", "a\\xee\\x80\\x80z"},	      /* U+E000 private */
    {"a\xef\xbf\xbfz", "a\\xef\\xbf\\xbfz"},	      /* U+FFFF */
};

/* Not strict UTF-8: each byte alone, and what follows is read afresh. */
static const struct {
	const char *in, *out;
} invalid[] = {
    {"\x80", "\\x80"},				  /* continuation */
    {"\xc0\xaf", "\\xc0\\xaf"},			  /* overlong / */
    {"\xc1\xbf", "\\xc1\\xbf"},			  /* overlong */
    {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},	  /* overlong */
    {"\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"}, /* overlong */
    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},	  /* U+D800 */
    {"\xed\xbf\xbf", "\\xed\\xbf\\xbf"},	  /* U+DFFF */
    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* U+110000 */
    {"\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80"},
    {"\xfe\xff", "\\xfe\\xff"},
    {"\xe2\x82", "\\xe2\\x82"},	  /* cut at the end */
    {"\xe2\x82z", "\\xe2\\x82z"}, /* cut short */
    {"\xe2\x28\xa1", "\\xe2(\\xa1"},
    {"\xf0\x9f\x94", "\\xf0\\x9f\\x94"},
};

static void controls_and_c1_are_escaped_byte_by_byte(void **s)
{
	(void)s;
	for (size_t i = 0; i < N_ELEMS(controls); i++)
		assert_escaped(controls[i].in, controls[i].out);
}

static void bidi_marks_separators_and_tags_are_escaped_byte_by_byte(void **s)
{
	(void)s;
	for (size_t i = 0; i < N_ELEMS(hidden); i++)
		assert_escaped(hidden[i].in, hidden[i].out);
}

/* The last check fills the buffer: four bytes out for each byte in. */
static void invalid_utf8_is_escaped_byte_by_byte(void **s)
{
	char *in = repeated('\xff', 1000), *want = malloc(4000 + 1);

	(void)s;
	for (size_t i = 0; i < N_ELEMS(invalid); i++)
		assert_escaped(invalid[i].in, invalid[i].out);
	for (size_t i = 0; i < 1000; i++)
		memcpy(want + 4 * i, "\\xff", 4);
	want[4000] = '\0';
	assert_escaped(in, want);
	free(in);
	free(want);
}

/* The backslash too, or "\x0a" typed by a user would read as an escape. */
static void backslash_is_escaped_so_no_escape_can_be_forged(void **s)
{
	(void)s;
	assert_escaped("a\\x0ab", "a\\x5cx0ab");
	assert_escaped("DOMAIN\\alice", "DOMAIN\\x5calice");
}

static const char *const ordinary[] = {
    "alice",
    "user.name-1_2@example.org",
    "jos\xc3\xa9 \xc5\x81\xc3\xb3\x64\xc5\xba",		/* José Łódź */
    "\xce\x95\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1", /* Ελλάδα */
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",		/* 日本語 */
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",		/* مرحبا */
    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",			/* שלום */
    "key \xf0\x9f\x94\x91",				/* U+1F511 */
    "nbsp\xc2\xa0here",					/* U+00A0 */
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~",
};

static void ordinary_text_and_letters_of_any_script_pass_unchanged(void **s)
{
	(void)s;
	for (size_t i = 0; i < N_ELEMS(ordinary); i++)
		assert_escaped(ordinary[i], ordinary[i]);
}

/*
 * No control, hidden character or invalid UTF-8 in a name; a winbind or
 * SSSD name keeps its backslash: only the log escapes it.
 */
static void
valid_user_name_refuses_what_the_log_escapes_but_a_backslash(void **s)
{
	(void)s;
	for (size_t i = 0; i < N_ELEMS(controls); i++)
		assert_false(valid_user_name(controls[i].in));
	for (size_t i = 0; i < N_ELEMS(hidden); i++)
		assert_false(valid_user_name(hidden[i].in));
	for (size_t i = 0; i < N_ELEMS(invalid); i++)
		assert_false(valid_user_name(invalid[i].in));
	for (size_t i = 0; i < N_ELEMS(ordinary); i++)
		assert_true(valid_user_name(ordinary[i]));
	assert_true(valid_user_name("DOMAIN\\alice"));
}

/* ---- /proc ---- */

/* And read_proc: cut to its buffer; nothing for pid 0 or a long leaf. */
static void proc_stat_field_and_read_proc_read_this_process(void **s)
{
	char leaf[64], buf[4] = "xyz";
	unsigned long long v = 0;

	(void)s;
	memset(leaf, 'l', sizeof(leaf) - 1);
	leaf[sizeof(leaf) - 1] = '\0';
	assert_int_equal(read_proc(0, "stat", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(
	    read_proc((uint32_t)getpid(), "stat", buf, sizeof(buf)), 3);
	assert_int_equal(strlen(buf), 3);
	assert_int_equal(read_proc((uint32_t)getpid(), leaf, buf, sizeof(buf)),
			 0);
	assert_true(proc_stat_field((uint32_t)getpid(), 4, &v)); /* ppid */
	assert_int_equal(v, getppid());
	assert_false(proc_stat_field((uint32_t)getpid(), 3, &v)); /* a letter */
	assert_false(proc_stat_field(0, 4, &v));
	assert_false(proc_stat_field(UINT32_MAX, 4, &v));
	assert_true(ran_its_program(getpid())); /* PF_FORKNOEXEC clear */
}

/* A name such as "x) 1 2 3 4 5" would move a count from the first ')'. */
static void proc_stat_field_counts_from_the_last_parenthesis(void **s)
{
	char name[16] = {0}, comm[32] = "";
	unsigned long long v = 0;
	bool read;

	(void)s;
	assert_int_equal(prctl(PR_GET_NAME, name), 0);
	assert_int_equal(prctl(PR_SET_NAME, "x) 1 2 3 4 5"), 0);
	read_proc((uint32_t)getpid(), "comm", comm, sizeof(comm));
	read = proc_stat_field((uint32_t)getpid(), 4, &v);
	prctl(PR_SET_NAME, name);
	assert_string_equal(comm, "x) 1 2 3 4 5\n");
	assert_true(read);
	assert_int_equal(v, getppid());
}

/* A child forked and not executed has PF_FORKNOEXEC: it ran nothing. */
static void forked_child_that_has_not_executed_ran_no_program(void **s)
{
	int p[2];
	char c;
	pid_t pid;
	bool ran;

	(void)s;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 0 ? 0 : 1);
	}
	close(p[0]);
	ran = ran_its_program(pid);
	close(p[1]); /* the child reads end of file, and exits */
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_false(ran);
}

/*
 * The child of fork_child holds no copy of the parent's end: a parent that
 * dies before it sends its byte leaves the child end of file, never a
 * read that waits for ever (in a child of root, with every signal blocked).
 */
static void fork_child_closes_the_parents_end_in_the_child(void **s)
{
	struct oo7_child ch;
	int sv[2], status = -1;
	int r;

	(void)s;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	r = fork_child(&ch, sv[1], sv[0]);
	if (r == 0)
		_exit(fcntl(sv[0], F_GETFD) < 0 && errno == EBADF ? 0 : 1);
	assert_int_equal(r, 1);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(waitpid(ch.pid, &status, 0), ch.pid);
	if (ch.pidfd >= 0)
		close(ch.pidfd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * The intermediate child of a lasting start, out of fds, reports the errno
 * of its failed socketpair to the parent: EMFILE.
 */
static void start_grandchild_reports_why_it_could_not_fork(void **s)
{
	struct oo7_spawn sp = {.stdin_fd = -1};
	struct passwd pw = {.pw_name = (char *)"nobody"};
	int sv[2], err = 0, status = -1;
	pid_t pid;

	(void)s;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	sp.status_fd = sv[1];
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* no new fd at all: the fds open stay usable */
		setrlimit(RLIMIT_NOFILE, &(struct rlimit){0, 0});
		start_grandchild(&sp, &pw, now_ns() + 1000000000U);
	}
	close(sv[1]);
	assert_int_equal(read(sv[0], &err, sizeof(err)), sizeof(err));
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(err, EMFILE);
}

/* SASL EXTERNAL names a uid by its decimal digits, each in hex. */
static void put_uid_hex_writes_each_decimal_digit_as_two_hex_digits(void **s)
{
	static const struct {
		uid_t uid;
		const char *hex;
	} cases[] = {
	    {0, "30"},
	    {1000, "31303030"},
	    {65534, "3635353334"},
	    {4294967294U, "34323934393637323934"},
	};
	char out[21];

	(void)s;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		size_t n = put_uid_hex(out, cases[i].uid);

		out[n] = '\0';
		assert_string_equal(out, cases[i].hex);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		unlock_and_change_in_dbus_decode_with_libdbus_to_their_fields,
		setup, NULL),
	    cmocka_unit_test_setup_teardown(
		unlock_and_change_in_gvariant_decode_with_glib_in_normal_form,
		setup, NULL),
	    cmocka_unit_test_setup_teardown(
		empty_and_one_byte_passwords_decode_in_both_encodings, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		utf8_names_and_passwords_decode_in_both_encodings, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		password_of_every_byte_but_nul_decodes_in_both_encodings, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		passwords_of_64_kib_decode_in_both_encodings, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		user_names_of_1_to_64_bytes_decode_in_both_encodings, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		gvariant_offsets_widen_where_glib_wants_them, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		fields_of_64_mib_are_encoded_and_longer_ones_refused, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		frames_match_the_golden_hex_byte_for_byte, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		replies_from_libdbus_and_glib_parse_to_what_was_sent, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(every_truncated_reply_is_rejected,
					    setup, NULL),
	    cmocka_unit_test_setup_teardown(
		reply_in_one_encoding_never_parses_in_the_other, setup, NULL),
	    cmocka_unit_test_setup_teardown(garbage_replies_are_rejected, setup,
					    NULL),
	    cmocka_unit_test_setup_teardown(
		reply_and_error_from_libdbus_parse_to_their_fields, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		variant_reply_reads_as_its_signature_then_its_string, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		big_endian_reply_and_error_from_gdbus_parse_to_their_fields,
		setup, NULL),
	    cmocka_unit_test_setup_teardown(
		every_prefix_of_a_message_asks_for_more_bytes, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		two_messages_in_one_buffer_parse_one_at_a_time, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		bad_headers_and_strings_cut_before_their_nul_are_rejected,
		setup, NULL),
	    cmocka_unit_test_setup_teardown(
		signature_longer_than_the_reader_holds_is_refused, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		string_longer_than_a_bus_name_is_refused_not_copied, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		header_path_longer_than_a_bus_name_is_skipped, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		request_too_long_for_the_wire_opens_no_connection, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		corrupt_messages_are_never_read_past_their_end, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		method_calls_of_bus_call_demarshal_in_libdbus, setup, NULL),
	    cmocka_unit_test_setup_teardown(no_options_give_the_defaults, setup,
					    NULL),
	    cmocka_unit_test_setup_teardown(
		every_option_is_parsed_into_its_field, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		every_route_encoding_and_the_timeout_bounds_are_accepted, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		socket_path_is_accepted_up_to_107_bytes, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		invalid_values_leave_the_defaults_and_are_logged, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		repeated_option_keeps_its_last_valid_value, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		invalid_option_is_logged_on_one_line_with_controls_escaped,
		setup, NULL),
	    cmocka_unit_test_setup_teardown(
		controls_and_c1_are_escaped_byte_by_byte, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		bidi_marks_separators_and_tags_are_escaped_byte_by_byte, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		invalid_utf8_is_escaped_byte_by_byte, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		backslash_is_escaped_so_no_escape_can_be_forged, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		ordinary_text_and_letters_of_any_script_pass_unchanged, setup,
		NULL),
	    cmocka_unit_test_setup_teardown(
		valid_user_name_refuses_what_the_log_escapes_but_a_backslash,
		setup, NULL),
	    cmocka_unit_test_setup_teardown(
		proc_stat_field_and_read_proc_read_this_process, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		proc_stat_field_counts_from_the_last_parenthesis, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		forked_child_that_has_not_executed_ran_no_program, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		fork_child_closes_the_parents_end_in_the_child, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		start_grandchild_reports_why_it_could_not_fork, setup, NULL),
	    cmocka_unit_test_setup_teardown(
		put_uid_hex_writes_each_decimal_digit_as_two_hex_digits, setup,
		NULL),
	};

	/* A pattern (cmocka's * and ?) runs only the cases it names. */
	if (argc == 2)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("pam_oo7 unit", tests, NULL, NULL);
}
