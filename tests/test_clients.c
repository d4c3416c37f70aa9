// SPDX-License-Identifier: MIT
/*
 * Real clients: make install and uninstall, pamtester through pam_wrapper,
 * the real pam-auth-update and pam_unix on private copies of what they
 * write, and a set-user-ID host started by alice.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "suite.h"

static int setup(void **state)
{
	return suite_setup(state);
}

/* The private copies that some cases mount, then the harness's teardown. */
static int teardown(void **state)
{
	unmount_private();
	return t_case_teardown(state);
}

/* ---- installing ---- */

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

/*
 * A stand-in for oo7's own module, in Rust, installed as pam_oo7.so: it
 * keeps the password under another name than this module does, the name
 * that make install looks for (README.md, "Replacing oo7's own
 * pam_oo7.so").
 */
static const char oo7s_module[] = "\177ELF oo7_stashed_password";

/* Writes len bytes of data to path, making its folders. */
static void put_file(const char *path, const char *data, size_t len)
{
	gchar *dir = g_path_get_dirname(path);

	assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
	assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
	g_free(dir);
}

/* Where make install puts the module under dest. */
static const char *module_in(const char *dest)
{
	static char path[400];

	snprintf(path, sizeof(path), "%s/%s/pam_oo7.so", dest, SECUREDIR_REL);
	return path;
}

/* make's exit code for target, with DESTDIR=dest and extra settings. */
static int make_into(const char *target, const char *dest, const char *extra)
{
	return runf("make -s --no-print-directory -C %s %s DESTDIR=%s %s "
		    ">/dev/null 2>&1",
		    TOP_DIR, target, dest, extra);
}

/* True when path holds what this checkout built, byte for byte. */
static bool is_the_built_module(const char *path)
{
	return runf("cmp -s %s/pam_oo7.so %s", TOP_DIR, path) == 0;
}

/* Another build of this module at path: this checkout's, with more bytes. */
static void put_older_build(const char *path)
{
	gchar *dir = g_path_get_dirname(path);

	assert_int_equal(runf("mkdir -p %s && cp %s/pam_oo7.so %s && "
			      "printf older >>%s",
			      dir, TOP_DIR, path, path),
			 0);
	g_free(dir);
	assert_false(is_the_built_module(path));
}

/* path still holds oo7's module, as the case put it there. */
static void assert_still_oo7s_module(const char *path)
{
	gchar *kept = read_text(path);

	assert_memory_equal(kept, oo7s_module, sizeof(oo7s_module));
	g_free(kept);
}

static void
make_install_refuses_a_pam_oo7_so_that_is_not_this_module(void **state)
{
	char dest[300], module[400];
	(void)state;
	snprintf(dest, sizeof(dest), "%s", t_path("dest"));
	snprintf(module, sizeof(module), "%s", module_in(dest));
	put_file(module, oo7s_module, sizeof(oo7s_module));

	assert_int_not_equal(make_into("install", dest, ""), 0);

	assert_still_oo7s_module(module);
	assert_int_not_equal(
	    runf("test -e %s/usr/share/man/man8/pam_oo7.8", dest), 0);
}

static void make_install_replaces_an_older_build_of_this_module(void **state)
{
	char dest[300], module[400];

	(void)state;
	snprintf(dest, sizeof(dest), "%s", t_path("dest"));
	snprintf(module, sizeof(module), "%s", module_in(dest));
	put_older_build(module);

	assert_int_equal(make_into("install", dest, ""), 0);

	assert_true(is_the_built_module(module));
}

static void
make_install_replaces_any_pam_oo7_so_with_replace_module_1(void **state)
{
	char dest[300], module[400];

	(void)state;
	snprintf(dest, sizeof(dest), "%s", t_path("dest"));
	snprintf(module, sizeof(module), "%s", module_in(dest));
	put_file(module, oo7s_module, sizeof(oo7s_module));

	assert_int_equal(make_into("install", dest, "REPLACE_MODULE=1"), 0);

	assert_true(is_the_built_module(module));
}

static void
make_uninstall_keeps_a_pam_oo7_so_that_is_not_this_module(void **state)
{
	char dest[300], module[400];
	(void)state;
	snprintf(dest, sizeof(dest), "%s", t_path("dest"));
	snprintf(module, sizeof(module), "%s", module_in(dest));
	put_file(module, oo7s_module, sizeof(oo7s_module));

	assert_int_equal(make_into("uninstall", dest, ""), 0);

	assert_still_oo7s_module(module);
}

/*
 * Into the running system (DESTDIR empty; here a SECUREDIR of the case's
 * own): this module's file, which dpkg says a package owns, is kept; a
 * stand-in dpkg-query answers as dpkg's does. Without it, the real dpkg
 * knows no such file, and make install replaces it.
 */
static void make_install_refuses_a_module_that_a_package_owns(void **state)
{
	char sec[300], module[400], man[300], bin[300];
	const char *stub = "#!/bin/sh\n"
			   "[ \"$1\" = -S ] && echo \"oo7-pam:amd64: $2\"\n";

	(void)state;
	snprintf(sec, sizeof(sec), "%s", t_path("security"));
	snprintf(module, sizeof(module), "%s/pam_oo7.so", sec);
	snprintf(man, sizeof(man), "%s", t_path("man"));
	snprintf(bin, sizeof(bin), "%s", t_path("bin"));
	put_file(t_path("bin/dpkg-query"), stub, strlen(stub));
	assert_int_equal(runf("chmod 0755 %s/dpkg-query", bin), 0);
	put_older_build(module);

	assert_int_not_equal(
	    runf("PATH=%s:$PATH make -s --no-print-directory -C %s install "
		 "SECUREDIR=%s MANDIR=%s >/dev/null 2>&1",
		 bin, TOP_DIR, sec, man),
	    0);
	assert_false(is_the_built_module(module));

	/* Control: the real dpkg, which owns nothing there. */
	assert_int_equal(runf("make -s --no-print-directory -C %s install "
			      "SECUREDIR=%s MANDIR=%s >/dev/null 2>&1",
			      TOP_DIR, sec, man),
			 0);
	assert_true(is_the_built_module(module));
}

/* ---- a real client ---- */

/* Where pamtester finds the stack of a service. */
enum pamtester_via {
	PAMTESTER_PLAIN,   /* the namespace's /etc/pam.d and modules */
	PAMTESTER_WRAPPED, /* through pam_wrapper, with t_confdir() */
};

/*
 * Runs pamtester as the PAM host for alice: ops on service, input on its
 * stdin; wrapped, through pam_wrapper with the tests' pam.d. Returns its
 * exit code; host_pid is its pid.
 */
static int pamtester(const char *service, enum pamtester_via via,
		     const char *input, const char *const *ops)
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
		t_preload(via == PAMTESTER_WRAPPED ? PAM_WRAPPER_LIB : NULL);
		if (via == PAMTESTER_WRAPPED) {
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

static void pamtester_through_pam_wrapper_delivers_both_frames(void **state)
{
	const char *ops[] = {"authenticate", "open_session", "chauthtok", NULL};
	struct record *all;
	uint8_t *unlock, *change;
	size_t n, nu, nc;

	(void)state;
	stack_default();
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(pamtester("login", PAMTESTER_WRAPPED,
				   "hunter2\nhunter2\nnewpw\nnewpw\n", ops),
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

/* The real pam-auth-update, on private copies of everything it writes. */
static void pam_auth_update_profile_places_the_module_and_logs_in(void **state)
{
	gchar *auth = NULL, *session = NULL, *password = NULL;

	(void)state;
	/* pam-auth-update writes its choice to debconf's database too. */
	stacks_from_the_shipped_profile();

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
	private_shadow_with(
	    shadow_line("alice", "hunter2", "$6$pamoo7test$", 20000));
	assert_true(g_file_set_contents("/etc/pam.d/oo7-login",
					"@include common-auth\n"
					"@include common-session\n",
					-1, NULL));
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);

	assert_int_equal(pamtester("oo7-login", PAMTESTER_PLAIN, "hunter2\n",
				   (const char *const[]){"authenticate",
							 "open_session", NULL}),
			 0);

	assert_frame(false, 0, "alice", "", 0, "hunter2", 7);
	host_pid = 0;
	g_free(auth);
	g_free(session);
	g_free(password);
}

/* ---- a set-user-ID host ---- */

/* Who runs the probe: alice through a set-user-ID root copy, or root. */
enum probe_as { PROBE_SETUID_BY_ALICE, PROBE_AS_ROOT };

/*
 * Runs this test program as a PAM host for one login of alice, with
 * OO7_PAM_SOCKET set to path, as alice through a set-user-ID root copy (so
 * that the environment is the caller's), or as root (the control). The copy
 * is in this case's folder, which alice can reach.
 */
static int run_probe(enum probe_as as, const char *path)
{
	bool setuid_copy = as == PROBE_SETUID_BY_ALICE;
	char probe[300];
	int status;
	pid_t pid;

	snprintf(probe, sizeof(probe), "%s", t_path("probe"));
	if (runf("cp %s %s && chown root:root %s && chmod %s %s", self_path,
		 probe, probe, setuid_copy ? "4755" : "0755", probe) ||
	    !user_can_run(&t_alice, probe))
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

	assert_int_equal(run_probe(PROBE_SETUID_BY_ALICE, path), 0);
	assert_no_frame();

	/* Control: the same probe, not set-user-ID, does deliver there. */
	assert_int_equal(run_probe(PROBE_AS_ROOT, path), 0);
	n = t_frames(&all);
	assert_int_equal(n, 1);
	records_free(all, n);
}

/*
 * pam_mkhomedir's profile enabled too (common with SSSD and AD), by the
 * real pam-auth-update: the session line runs after pam_systemd and after
 * pam_mkhomedir, so that a daemon started there has its home.
 */
static void session_line_follows_mkhomedir_and_systemd(void **state)
{
	gchar *session;

	(void)state;
	stacks_from_the_shipped_profile();

	assert_int_equal(run("DEBIAN_FRONTEND=noninteractive "
			     "pam-auth-update --enable mkhomedir"),
			 0);

	session = read_text("/etc/pam.d/common-session");
	assert_has(session, "pam_mkhomedir.so");
	assert_has(session, "pam_oo7.so auto_start");
	assert_true(strstr(session, "pam_oo7.so") >
		    strstr(session, "pam_mkhomedir.so"));
	assert_true(strstr(session, "pam_oo7.so") >
		    strstr(session, "pam_systemd.so"));
	g_free(session);
}

int clients_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		make_install_puts_exactly_the_module_man_page_and_profile,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		make_install_refuses_a_pam_oo7_so_that_is_not_this_module,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		make_install_replaces_an_older_build_of_this_module, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		make_install_replaces_any_pam_oo7_so_with_replace_module_1,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		make_uninstall_keeps_a_pam_oo7_so_that_is_not_this_module,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		make_install_refuses_a_module_that_a_package_owns, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		pamtester_through_pam_wrapper_delivers_both_frames, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		setuid_host_ignores_oo7_pam_socket_of_its_caller, setup,
		teardown),
	    /* Last: it bind-mounts over the namespace's /etc/pam.d and more. */
	    cmocka_unit_test_setup_teardown(
		pam_auth_update_profile_places_the_module_and_logs_in, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		session_line_follows_mkhomedir_and_systemd, setup, teardown),
	};

	return cmocka_run_group_tests_name("clients", tests, NULL, NULL);
}
