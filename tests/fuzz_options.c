// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the option parser with random argv (arguments separated by
 * NUL bytes). Whatever it is given, the options it keeps are valid ones.
 */
#include "../pam_oo7.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	const char *argv[32];
	struct oo7_opts o;
	int argc = 0;

	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i <= size && argc < 32;) {
		argv[argc++] = copy + i;
		i += strlen(copy + i) + 1;
	}
	parse_opts(NULL, argc, argv, &o);
	if (o.timeout_ms < 1 || o.timeout_ms > OO7_TIMEOUT_MAX_MS ||
	    (o.encoding != OO7_ENC_AUTO && o.encoding != OO7_ENC_DBUS &&
	     o.encoding != OO7_ENC_GVARIANT) ||
	    (o.socket && (o.socket[0] != '/' ||
			  strlen(o.socket) >=
			      sizeof(((struct sockaddr_un *)0)->sun_path))) ||
	    (o.only_if && !*o.only_if) || (o.daemon && o.daemon[0] != '/'))
		abort();
	free(copy);
	return 0;
}
