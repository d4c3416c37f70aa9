// SPDX-License-Identifier: MIT
/*
 * A stand-in for pam_unix in the test stacks: it reads the password from the
 * conversation with pam_get_authtok, which sets PAM_AUTHTOK (and
 * PAM_OLDAUTHTOK) exactly as pam_unix does, and accepts any password, so
 * that the test users need no entry in /etc/shadow.
 *
 *	auth     required pam_oo7_fixture.so
 *	password required pam_oo7_fixture.so [no_old]
 *
 * no_old: ask for no old password, as passwd does when root changes
 * another user's password.
 */
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stddef.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
			       const char **argv)
{
	const char *tok = NULL;

	(void)flags;
	(void)argc;
	(void)argv;
	return pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL);
}

EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			  const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
			    const char **argv)
{
	const char *tok = NULL;

	if (flags & PAM_PRELIM_CHECK) {
		if (argc > 0 && !strcmp(argv[0], "no_old"))
			return PAM_SUCCESS;
		return pam_get_authtok(pamh, PAM_OLDAUTHTOK, &tok, NULL);
	}
	return pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL);
}
