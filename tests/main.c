// SPDX-License-Identifier: MIT
/*
 * pam_oo7 as a specification: each case drives the built module through
 * real libpam and reads what really crossed the socket, checked against
 * libdbus-1 and GLib and against the golden frames that zvariant makes.
 * The cases are in files by concern; they run here as one group, so that
 * the run ends with one summary.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "suite.h"

static const struct {
	const struct CMUnitTest *tests;
	const size_t *count;
} files[] = {
    {wire_tests, &wire_tests_count},
    {delivery_tests, &delivery_tests_count},
    {host_tests, &host_tests_count},
    {daemon_start_tests, &daemon_start_tests_count},
    {trust_tests, &trust_tests_count},
    {sudo_tests, &sudo_tests_count},
    {keyring_tests, &keyring_tests_count},
    {real_login_tests, &real_login_tests_count},
    {greeters_tests, &greeters_tests_count},
    {ssh_tests, &ssh_tests_count},
    {releases_tests, &releases_tests_count},
    {bus_tests, &bus_tests_count},
    {clients_tests, &clients_tests_count},
    {manager_tests, &manager_tests_count},
};

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	size_t n = 0;
	int rc;

	/* The set-user-ID probe: one login in its parent's sandbox. */
	if (argc == 3 && !strcmp(argv[1], "--probe")) {
		t_use_sandbox(argv[2]);
		return t_login("login", "alice", "hunter2", NULL) == PAM_SUCCESS
			   ? 0
			   : 1;
	}
	if (!realpath(argv[0], self_path))
		return 2;

	for (size_t i = 0; i < N_ELEMS(files); i++)
		n += *files[i].count;
	tests = malloc(n * sizeof(*tests));
	if (!tests)
		return 2;
	n = 0;
	for (size_t i = 0; i < N_ELEMS(files); i++) {
		memcpy(tests + n, files[i].tests,
		       *files[i].count * sizeof(*tests));
		n += *files[i].count;
	}

	/* A pattern (cmocka's * and ?) runs only the cases it names. */
	if (argc == 2)
		cmocka_set_test_filter(argv[1]);
	suite_enter();
	rc = _cmocka_run_group_tests("pam_oo7", tests, n, NULL, NULL);
	free(tests);
	return rc;
}
