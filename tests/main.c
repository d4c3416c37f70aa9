// SPDX-License-Identifier: MIT
/*
 * pam_oo7 as a specification: each case drives the built module through
 * real libpam and reads what really crossed the socket, checked against
 * libdbus-1 and GLib and against the golden frames that zvariant makes.
 * The cases are in files by concern, each file a cmocka group with its own
 * setup and teardown; they run here in turn, in one sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suite.h"

static int (*const groups[])(void) = {
    wire_group,	    delivery_group, host_group,	    daemon_start_group,
    trust_group,    sudo_group,	    keyring_group,  real_login_group,
    greeters_group, ssh_group,	    releases_group, bus_group,
    clients_group,  manager_group,
};

/* Enters the sandbox and puts the stand-ins in place; exits on failure. */
static void suite_enter(void)
{
	t_sandbox_enter();
	if (mkdir(FAKE_DAEMON_DIR, 0755) < 0 || chmod(FAKE_DAEMON_DIR, 0755) ||
	    !copy_program(FAKE_DAEMON_BUILD, FAKE_DAEMON) ||
	    !copy_program(FAKE_MANAGER_BUILD, FAKE_MANAGER)) {
		fprintf(stderr,
			"test suite: cannot copy the stand-ins to %s: %s\n",
			FAKE_DAEMON_DIR, strerror(errno));
		exit(2);
	}
	if (!user_can_run(&t_alice, FAKE_DAEMON)) {
		fprintf(stderr, "test suite: %s cannot run %s\n", t_alice.name,
			FAKE_DAEMON);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	int failed = 0;

	/* The set-user-ID probe: one login in its parent's sandbox. */
	if (argc == 3 && !strcmp(argv[1], "--probe")) {
		t_use_sandbox(argv[2]);
		return t_login("login", "alice", "hunter2", NULL) == PAM_SUCCESS
			   ? 0
			   : 1;
	}
	if (!realpath(argv[0], self_path))
		return 2;

	/* A pattern (cmocka's * and ?) runs only the cases it names. */
	if (argc == 2)
		cmocka_set_test_filter(argv[1]);
	suite_enter();
	for (size_t i = 0; i < N_ELEMS(groups); i++)
		failed += groups[i]();
	/*
	 * Each group ends with a summary of its own (tiers.sh sums them);
	 * this line is the whole run's.
	 */
	fprintf(stderr, "%zu groups run, %d failed case(s)\n", N_ELEMS(groups),
		failed);
	return failed ? 1 : 0;
}
