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
	if (valid_user_name((const unsigned char *)user)) {
		if (!g_utf8_validate(user, -1, NULL))
			abort();
		if (encode_frame(NULL, &o, op, user, old, new, &f) !=
		    PAM_SUCCESS)
			abort();
		if (!frame_decode(f.data, f.len, o.encoding == OO7_ENC_GVARIANT,
				  &d) ||
		    d.op != op || strcmp(d.user, user) ||
		    g_bytes_get_size(d.old) != strlen(old) ||
		    g_bytes_get_size(d.new) != strlen(new) ||
		    memcmp(g_bytes_get_data(d.old, NULL), old, strlen(old)) ||
		    memcmp(g_bytes_get_data(d.new, NULL), new, strlen(new)))
			abort();
		decoded_free(&d);
		free_frame(&f);
	}
	g_free(user);
	g_free(old);
	g_free(new);
	return 0;
}
