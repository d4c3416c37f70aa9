// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the module's frame encoder against libdbus-1 and GLib. The
 * input is a flags byte, then user, old and new separated by NUL bytes
 * (the module's secrets are C strings). Every frame the module would send
 * must decode, with the other library, to the same fields; in GVariant it
 * must be in normal form.
 */
#include "../pam_oo7.c"

#include <glib.h>

#include "listener.h"

/*
 * What the log escaping makes of any bytes: valid UTF-8 with no control
 * character, no C1 control and no bidi control left in it.
 */
static void check_escaped(const char *s)
{
	char *out = malloc(4 * strlen(s) + 1);
	const char *p;

	escape_for_log(s, out);
	if (!g_utf8_validate(out, -1, NULL))
		abort();
	for (p = out; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
		    (c >= 0x202a && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069))
			abort();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-terminated field of the input, copied; "" past its end. */
static char *next_field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	size_t n = (size_t)((nul ? nul : end) - *p);
	char *s = g_strndup((const char *)*p, n);

	*p += nul ? n + 1 : n;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *end = data + size;
	struct oo7_opts o = {.encoding = OO7_ENC_DBUS};
	struct oo7_frame f = {0};
	struct decoded d;
	enum oo7_op op;
	char *user, *old, *new;

	if (size < 1)
		return 0;
	o.encoding = data[0] & 1 ? OO7_ENC_GVARIANT : OO7_ENC_DBUS;
	op = data[0] & 2 ? OO7_OP_CHANGE : OO7_OP_UNLOCK;
	user = next_field(&p, end);
	old = next_field(&p, end);
	new = next_field(&p, end);
	/* What the module accepts, GLib must find valid too. */
	check_escaped(old);
	if (valid_user_name(user)) {
		struct oo7_request req = {
		    .op = op, .user = user, .old = old, .new = new};

		if (!g_utf8_validate(user, -1, NULL))
			abort();
		if (encode_frame(NULL, o.encoding, &req, &f) != 0)
			abort();
		if (!frame_decode(f.data, f.len, o.encoding == OO7_ENC_GVARIANT,
				  &d) ||
		    d.op != op || strcmp(d.user, user) ||
		    g_bytes_get_size(d.old) != strlen(old) ||
		    g_bytes_get_size(d.new) != strlen(new) ||
		    (*old &&
		     memcmp(g_bytes_get_data(d.old, NULL), old, strlen(old))) ||
		    (*new &&memcmp(g_bytes_get_data(d.new, NULL), new,
				   strlen(new))))
			abort();
		decoded_free(&d);
		free_frame(&f);
	}
	g_free(user);
	g_free(old);
	g_free(new);
	return 0;
}
