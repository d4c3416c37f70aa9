// SPDX-License-Identifier: MIT
/*
 * The processes that a case runs: real programs on pipes, or on a terminal
 * of their own with a script that answers their prompts; a function run as
 * alice; processes kept to be stopped by pid; waits for a child's exit; and
 * the processes of a user in this namespace, which a teardown kills. Every
 * wait is bounded (CLIENT_TIMEOUT_MS at most): a hung program fails its
 * case, not the run.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "suite.h"

/* ---- processes in this namespace ---- */

/* pid runs in this process's mount namespace. */
bool in_this_mount_ns(pid_t pid)
{
	char path[64], ns[64], mine[64];
	ssize_t n, m;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	n = readlink(path, ns, sizeof(ns));
	m = readlink("/proc/self/ns/mnt", mine, sizeof(mine));
	return n >= 0 && n == m && !memcmp(ns, mine, (size_t)n);
}

pid_t parent_of(pid_t pid)
{
	gchar *stat = NULL, *end;
	pid_t ppid = -1;

	if (g_file_get_contents(textf("/proc/%d/stat", (int)pid), &stat, NULL,
				NULL) &&
	    (end = strrchr(stat, ')')))
		sscanf(end + 1, " %*c %d", &ppid);
	g_free(stat);
	return ppid;
}

/* The real uid of pid, if it runs in this mount namespace; else -1. */
static long uid_here(pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	long uid = -1;
	FILE *f;

	if (!in_this_mount_ns(pid))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && getline(&line, &cap, f) > 0)
		if (!strncmp(line, "Uid:", 4))
			uid = strtol(line + 4, NULL, 10);
	if (f)
		fclose(f);
	free(line);
	return uid;
}

size_t processes_of(uid_t uid, pid_t *pids, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d)) && n < max) {
		pid_t pid = atoi(e->d_name);

		if (pid > 0 && uid_here(pid) == (long)uid)
			pids[n++] = pid;
	}
	if (d)
		closedir(d);
	return n;
}

void kill_processes_of(const struct tuser *u, pid_t keep)
{
	pid_t pids[32];
	size_t n = processes_of(u->uid, pids, N_ELEMS(pids));

	for (size_t i = 0; i < n; i++)
		if (pids[i] != keep)
			kill(pids[i], SIGKILL);
	for (size_t i = 0; i < n; i++)
		if (pids[i] != keep && parent_of(pids[i]) == getpid())
			waitpid(pids[i], NULL, 0);
}

/* ---- real programs ---- */

void skip_if_the_module_is_sanitized(void)
{
	const char *preload = getenv("OO7_TEST_PRELOAD");

	if (preload && *preload)
		skip();
}

/* A client yet to run: no pid, no status, no output. */
static void client_init(struct client *c)
{
	*c = (struct client){.pid = -1, .status = -1};
	c->out = g_string_new(NULL);
	c->err = g_string_new(NULL);
}

void client_free(struct client *c)
{
	g_string_free(c->out, TRUE);
	g_string_free(c->err, TRUE);
}

/*
 * The module and the fixture loaded while root, in a child about to run
 * libpam as a test user: the clone may be in a folder that the user cannot
 * read (mode 0700: root's home, mktemp -d); libpam's dlopen then finds
 * them loaded.
 */
static bool modules_loaded_while_root(void)
{
	return dlopen(FIXTURE_PATH, RTLD_NOW) && dlopen(MODULE_PATH, RTLD_NOW);
}

/* The processes that a case keeps, stopped by pid, the last first. */
static pid_t kept[6];
static int n_kept;

pid_t t_keep(pid_t pid)
{
	assert_true(pid > 0);
	assert_true(n_kept < (int)N_ELEMS(kept));
	kept[n_kept++] = pid;
	return pid;
}

void t_stop_kept(void)
{
	while (n_kept)
		t_stop_child(kept[--n_kept]);
}

int as_alice(int (*fn)(const void *arg), const void *arg)
{
	pid_t pid = fork();
	int r;

	if (pid == 0) {
		if (!modules_loaded_while_root())
			_exit(255);
		t_become(&t_alice);
		_exit(fn(arg));
	}
	assert_true(pid > 0);
	r = exit_status_within(pid, CLIENT_TIMEOUT_MS);
	assert_true(r >= 0 && r != 255);
	return r;
}

void exec_as_alice(const char *const *argv)
{
	static const char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C",
					  "USER=alice", "LOGNAME=alice", NULL};

	if (chdir("/") < 0 || initgroups(t_alice.name, t_alice.gid) < 0 ||
	    setresgid(t_alice.gid, t_alice.gid, t_alice.gid) < 0 ||
	    setresuid(t_alice.uid, t_alice.uid, t_alice.uid) < 0)
		_exit(126);
	execve(argv[0], (char *const *)argv, (char *const *)env);
	_exit(127);
}

/* t_preload's LD_PRELOAD and the sanitizers' options pass (check-asan). */
void exec_with_env(const char *const *argv, const char *const *env)
{
	static const char *const pass[] = {"LD_PRELOAD", "ASAN_OPTIONS",
					   "UBSAN_OPTIONS"};
	const char *all[8] = {NULL};
	size_t n = 0;

	t_preload(NULL);
	for (; env[n] && n < 4; n++)
		all[n] = env[n];
	for (size_t i = 0; i < N_ELEMS(pass); i++)
		if (getenv(pass[i]))
			all[n++] =
			    g_strdup_printf("%s=%s", pass[i], getenv(pass[i]));
	execve(argv[0], (char *const *)argv, (char *const *)all);
	_exit(127);
}

/* ---- terminals ---- */

/*
 * A terminal of a devpts instance in this case's folder: returns its master
 * side in packet mode, its other side in *slave.
 *
 * libpam_misc and readpassphrase turn echo off with TCSAFLUSH to read a
 * password: an answer written before that flush would be thrown away. In
 * packet mode with EXTPROC, every change of the terminal's settings wakes
 * the master side, so that collect() answers once echo is off.
 */
static int open_terminal(int *slave)
{
	char pts[300], ptmx[320];
	struct termios tio;
	int master, on = 1;

	snprintf(pts, sizeof(pts), "%s", t_path("pts"));
	t_mkdir(pts, 0, 0, 0755);
	mount_over("devpts", pts, "devpts", "newinstance,ptmxmode=0666");
	snprintf(ptmx, sizeof(ptmx), "%s/ptmx", pts);
	master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master >= 0);
	assert_int_equal(unlockpt(master), 0);
	assert_int_equal(ioctl(master, TIOCPKT, &on), 0);
	*slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	assert_true(*slave >= 0);
	/* Lines end in "\n", as they do on a pipe. */
	assert_int_equal(tcgetattr(*slave, &tio), 0);
	tio.c_oflag &= ~(tcflag_t)ONLCR;
	tio.c_lflag |= EXTPROC;
	assert_int_equal(tcsetattr(*slave, TCSANOW, &tio), 0);
	return master;
}

/* In a child: slave the controlling terminal, and stdin, stdout, stderr. */
static void use_terminal(int slave)
{
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 ||
	    dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
		_exit(126);
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads fd once into into (a terminal: its data packets); read's result. */
static ssize_t read_once(int fd, bool terminal, GString *into)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0 && !terminal)
		g_string_append_len(into, buf, n);
	else if (n > 1 && buf[0] == TIOCPKT_DATA)
		g_string_append_len(into, buf + 1, n - 1);
	return n;
}

/* Appends what fd has now; false at its end (EOF, or EIO on a terminal). */
static bool read_some(int fd, bool terminal, GString *into)
{
	ssize_t n = read_once(fd, terminal, into);

	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Appends all that fd holds now, without waiting for more. */
static void drain(int fd, bool terminal, GString *into)
{
	while (fd >= 0 && read_once(fd, terminal, into) > 0)
		;
}

/* Reads what sfd (a signalfd) holds: the SIGCHLDs seen so far. */
static void drain_signals(int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		;
}

/*
 * Whether process pid waits in a system call that reads input (its number
 * in /proc/PID/syscall): read, or select or poll before a read.
 */
static bool waits_for_input(pid_t pid)
{
	static const long reading[] = {
	    SYS_read,	SYS_pselect6, SYS_ppoll,
#ifdef SYS_select
	    SYS_select,
#endif
#ifdef SYS_poll
	    SYS_poll,
#endif
	};
	gchar *text = NULL;
	long nr = -1;

	if (g_file_get_contents(textf("/proc/%d/syscall", (int)pid), &text,
				NULL, NULL))
		sscanf(text, "%ld", &nr);
	g_free(text);
	for (size_t i = 0; i < N_ELEMS(reading); i++)
		if (nr == reading[i])
			return true;
	return false;
}

/*
 * Answers the prompt that is there once the program has turned echo off to
 * read the answer; returns the step to wait for next (NULL: no more). With
 * EXTPROC the program's read returns what has arrived, line or not: the
 * answer goes in one write, its newline with it.
 */
static const struct exchange *answer(struct client *c, int fd,
				     const struct exchange *step)
{
	struct termios tio;
	const char *at;
	gchar *line;
	bool sent;

	while (step && step->expect &&
	       (at = strstr(c->out->str + c->seen, step->expect)) &&
	       tcgetattr(fd, &tio) == 0 && !(tio.c_lflag & ECHO) &&
	       (!step->when_reading || waits_for_input(c->pid))) {
		c->seen = (size_t)(at - c->out->str) + strlen(step->expect);
		line = g_strconcat(step->send, "\n", NULL);
		sent = write(fd, line, strlen(line)) == (ssize_t)strlen(line);
		g_free(line);
		if (!sent)
			return NULL;
		c->answered++;
		step++;
	}
	return step;
}

/*
 * Collects out and err (-1: none) until the program exits or
 * CLIENT_TIMEOUT_MS passes (then it is killed), and reaps it. With a script
 * (ended by a step whose expect is NULL), out is a terminal from
 * open_terminal, and the script's steps answer its prompts.
 *
 * Its exit is seen through a signalfd for SIGCHLD, blocked meanwhile
 * (valgrind 3.19 has no pidfd_open); one that came before the block is
 * seen by the first waitpid.
 */
static void collect(struct client *c, int out, int err,
		    const struct exchange *script)
{
	sigset_t chld, old;
	int sfd, status = 0;
	struct pollfd p[3] = {{.fd = out, .events = POLLIN},
			      {.fd = err, .events = POLLIN},
			      {.fd = -1, .events = POLLIN}};
	int64_t deadline = now_ms() + CLIENT_TIMEOUT_MS;
	bool exited = false, terminal = script != NULL;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	assert_true(sfd >= 0);
	p[2].fd = sfd;
	fcntl(out, F_SETFL, O_NONBLOCK);
	if (err >= 0)
		fcntl(err, F_SETFL, O_NONBLOCK);
	while (!(exited = waitpid(c->pid, &status, WNOHANG) == c->pid) &&
	       now_ms() < deadline) {
		/* a program that reads makes no event: look again soon */
		if (poll(p, 3,
			 script && script->when_reading
			     ? 10
			     : (int)(deadline - now_ms())) < 0 &&
		    errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && p[i].revents &&
			    !read_some(p[i].fd, terminal && !i,
				       i ? c->err : c->out))
				p[i].fd = -1;
		script = answer(c, out, script);
		drain_signals(sfd);
	}
	if (!exited) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	c->status = exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	/* What it wrote before it exited; a child it left may hold the fd. */
	drain(p[0].fd, terminal, c->out);
	drain(p[1].fd, false, c->err);
	drain_signals(sfd);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void run_piped(struct client *c, exec_fn exec, const char *const *argv,
	       const char *input)
{
	int in[2] = {-1, -1}, out[2], err[2];

	client_init(c);
	if (input)
		assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		if ((input && dup2(in[0], 0) < 0) || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(126);
		exec(argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	if (input) {
		close(in[0]);
		assert_int_equal(write(in[1], input, strlen(input)),
				 (ssize_t)strlen(input));
		close(in[1]);
	}
	collect(c, out[0], err[0], NULL);
	close(out[0]);
	close(err[0]);
}

void run_on_terminal(struct client *c, exec_fn exec, const char *const *argv,
		     const struct exchange *script)
{
	int master, slave;

	client_init(c);
	master = open_terminal(&slave);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		use_terminal(slave);
		exec(argv);
		_exit(127);
	}
	close(slave);
	collect(c, master, -1, script);
	close(master);
}

/* ---- exits ---- */

/* SIGCHLD is blocked meanwhile, and read through a signalfd. */
bool wait_on_sigchld(bool (*done)(pid_t pid), pid_t pid, int ms)
{
	sigset_t chld, old;
	struct pollfd p = {.events = POLLIN};
	struct timespec t0;
	bool ok;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	p.fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!(ok = done(pid)) && elapsed_ms(&t0) < ms &&
	       poll(&p, 1, ms - (int)elapsed_ms(&t0)) >= 0)
		drain_signals(p.fd);
	close(p.fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ok;
}

static int reaped_status;

/* pid has exited, and is reaped: for wait_on_sigchld(). */
static bool reaped(pid_t pid)
{
	return waitpid(pid, &reaped_status, WNOHANG) == pid;
}

int exit_status_within(pid_t pid, int ms)
{
	if (!wait_on_sigchld(reaped, pid, ms)) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &reaped_status, 0) < 0 && errno == EINTR)
			;
		return -1;
	}
	return WIFEXITED(reaped_status) ? WEXITSTATUS(reaped_status) : -1;
}
