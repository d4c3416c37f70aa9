// SPDX-License-Identifier: MIT
/*
 * A stand-in for oo7-daemon, started by pam_oo7's auto_start in the tests.
 * It writes down, in /run/user/UID/fake-daemon.record, how it was started:
 * argv, ids, groups, session, cwd, environment, fds, signal mask and
 * dispositions, and what arrived on stdin; then it binds the socket where
 * oo7-daemon 0.6 binds and records the frames it gets, as the listener does.
 * Named ...-fail it exits at once; named ...-noread it never reads stdin.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "listener.h"

static void record_fds(FILE *f)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	fprintf(f, "fds");
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) &&
		    atoi(e->d_name) != fileno(f)) /* our own, for the record */
			fprintf(f, " %s", e->d_name);
	fprintf(f, "\n");
	closedir(d);
}

static void record_signals(FILE *f)
{
	struct sigaction sa;
	sigset_t mask;

	sigprocmask(SIG_BLOCK, NULL, &mask);
	fprintf(f, "blocked");
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&mask, sig) == 1)
			fprintf(f, " %d", sig);
	fprintf(f, "\nignored");
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			fprintf(f, " %d", sig);
	fprintf(f, "\n");
}

static void record_ids(FILE *f)
{
	uid_t r, e, s;
	gid_t gr, ge, gs, groups[64];
	int n = getgroups(64, groups);
	char cwd[4096];
	mode_t mask = umask(0);

	umask(mask);
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	fprintf(f, "pid %d\nppid %d\nuids %u %u %u\ngids %u %u %u\ngroups",
		(int)getpid(), (int)getppid(), r, e, s, gr, ge, gs);
	for (int i = 0; i < n; i++)
		fprintf(f, " %u", (unsigned)groups[i]);
	fprintf(f, "\nsid %d\npgid %d\ncwd %s\numask %03o\n", (int)getsid(0),
		(int)getpgrp(), getcwd(cwd, sizeof(cwd)), (unsigned int)mask);
}

int main(int argc, char **argv)
{
	extern char **environ;
	char dir[64], path[128], tmp[128], c;
	FILE *f;
	size_t len = strlen(argv[0]);

	snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)getuid());
	snprintf(path, sizeof(path), "%s/fake-daemon.pid", dir);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	if (len > 5 && !strcmp(argv[0] + len - 5, "-fail"))
		return 3;
	if (len > 7 && !strcmp(argv[0] + len - 7, "-noread"))
		for (;;)
			pause();
	snprintf(tmp, sizeof(tmp), "%s/fake-daemon.tmp", dir);
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	fprintf(f, "argv");
	for (int i = 0; i < argc; i++)
		fprintf(f, " %s", argv[i]);
	fprintf(f, "\n");
	record_ids(f);
	record_fds(f);
	record_signals(f);
	for (char **e = environ; *e; e++)
		fprintf(f, "env %s\n", *e);
	fprintf(f, "stdin ");
	while (read(0, &c, 1) == 1)
		fprintf(f, "%02x", (unsigned char)c);
	fprintf(f, "\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/fake-daemon.record", dir);
	rename(tmp, path);

	snprintf(path, sizeof(path), "%s/fake-daemon.frames", dir);
	struct listener_cfg cfg = {
	    .owner_uid = getuid(),
	    .owner_gid = getgid(),
	    .mode = 0600,
	    .run_uid = getuid(),
	    .run_gid = getgid(),
	    .behaviour = LISTENER_CLOSE,
	    .record_fd =
		open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600),
	};
	snprintf(tmp, sizeof(tmp), "%s/oo7-pam.sock", dir);
	cfg.path = tmp;
	return listener_run(&cfg, -1);
}
