// SPDX-License-Identifier: MIT
/*
 * make demo: a real login through the real module. In a private mount
 * namespace (nothing of the host's is touched), the test user alice gets a
 * runtime folder and a listener that speaks the daemon's side of the wire
 * (pam_oo7(8), PROTOCOL) and runs as alice; /etc/pam.d is replaced by
 * a private folder (in the namespace only), and pamtester then
 * authenticates, opens a session and changes the password through
 * pam_oo7.so, once per encoding. The listener
 * prints what it received (secrets masked); the module's log lines follow.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <glib.h>

#include "harness.h"

#define DEMO_STACK                                                             \
	"# pam_oo7_fixture stands in for pam_unix: it reads the password\n"    \
	"# from the conversation and accepts it.\n"                            \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ debug %1$s\n"                              \
	"session  optional @MODULE@ debug %1$s\n"                              \
	"password required @FIXTURE@\n"                                        \
	"password optional @MODULE@ debug %1$s\n"

static int run_pamtester(void)
{
	static const char answers[] = "demo-password\ndemo-password\n"
				      "new-demo-password\nnew-demo-password\n";
	int in[2], status;
	pid_t pid;

	if (pipe(in) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(1, 2);
		close(in[1]);
		execlp("pamtester", "pamtester", "-v", "oo7-demo", "alice",
		       "authenticate", "open_session", "close_session",
		       "chauthtok", NULL);
		_exit(127);
	}
	close(in[0]);
	if (write(in[1], answers, sizeof(answers) - 1) < 0)
		perror("demo: write");
	close(in[1]);
	waitpid(pid, &status, 0);
	printf("\n");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int round_with(const char *encoding, bool gvariant)
{
	char stack[1024], arg[64], file[300], sock[64];
	gchar *text = NULL;
	int rc;

	t_case_setup(NULL);
	snprintf(arg, sizeof(arg), "encoding=%s", encoding);
	snprintf(stack, sizeof(stack), DEMO_STACK, arg);
	t_service("oo7-demo", stack);
	snprintf(file, sizeof(file), "%s/oo7-demo", t_confdir());
	g_file_get_contents(file, &text, NULL, NULL);
	t_runtime_dir(&t_alice);
	snprintf(sock, sizeof(sock), "/run/user/%u/oo7/pam.sock",
		 (unsigned int)t_alice.uid);
	t_listen((struct listener_cfg){
	    .path = sock,
	    .owner_uid = t_alice.uid,
	    .owner_gid = t_alice.gid,
	    .mode = 0600,
	    .run_uid = t_alice.uid,
	    .run_gid = t_alice.gid,
	    .behaviour = LISTENER_REPLY,
	    .gvariant = gvariant,
	    .reply_ok = true,
	    .print = true,
	});
	printf("=== %s encoding: listener runs as alice (uid %u) on %s\n"
	       "=== PAM stack /etc/pam.d/oo7-demo (private):\n%s\n"
	       "=== pamtester -v oo7-demo alice authenticate open_session "
	       "close_session chauthtok\n",
	       encoding, (unsigned int)t_alice.uid, sock, text);
	g_free(text);
	rc = run_pamtester();
	printf("=== what pam_oo7 logged (authpriv):\n%s\n", t_logs());
	t_case_teardown(NULL);
	return rc;
}

int main(void)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	t_sandbox_enter();
	t_bind_pam_d();
	rc = round_with("dbus", false) | round_with("gvariant", true);
	printf("=== demo %s; the namespace, its mounts, the listener and "
	       "the test users are gone with it\n",
	       rc ? "FAILED" : "done");
	return rc ? 1 : 0;
}
