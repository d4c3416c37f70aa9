// SPDX-License-Identifier: MIT
/* What the test files share; see suite.h. */
#define _GNU_SOURCE
#include <crypt.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>
#include <sys/fsuid.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "suite.h"

#define STACK                                                                  \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ %1$s\n"                                    \
	"session  optional @MODULE@ %1$s\n"                                    \
	"password required @FIXTURE@\n"                                        \
	"password optional @MODULE@ %1$s\n"

pid_t host_pid;
char self_path[4096];

int suite_setup(void **state)
{
	host_pid = 0;
	set_sigchld(SIGCHLD_DEFAULT);
	return t_case_setup(state);
}

const char *textf(const char *fmt, ...)
{
	static char bufs[8][512];
	static unsigned int next;
	char *buf = bufs[next++ % N_ELEMS(bufs)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return buf;
}

const char *runtime_dir(const struct tuser *u)
{
	return textf("/run/user/%u", (unsigned int)u->uid);
}

const char *runtime_path(const struct tuser *u, const char *leaf)
{
	return textf("%s/%s", runtime_dir(u), leaf);
}

const char *alice_socket(void)
{
	t_runtime_dir(&t_alice);
	return runtime_path(&t_alice, "oo7/pam.sock");
}

const char *encoding_option(enum encoding enc)
{
	return enc == GVARIANT ? "encoding=gvariant" : "encoding=dbus";
}

void stack(const char *fmt, ...)
{
	char args[1024], text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), STACK, args);
	t_service("login", text);
}

void stack_default(void)
{
	stack("%s", "");
}

void stack_default_with_alices_daemon(void)
{
	stack_default();
	t_listen_as(&t_alice, alice_socket(), LISTENER_CLOSE);
}

void stack_auto_start(void)
{
	stack("auto_start daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);
}

pid_t daemon_listens_for(const struct tuser *u, uint8_t id)
{
	t_runtime_dir(u);
	return t_listen(L(runtime_path(u, "oo7-pam.sock"), u, u, 0600,
			  .behaviour = LISTENER_CLOSE, .reply_ok = true,
			  .id = id));
}

pid_t daemon_of_generation_listens_for(const struct tuser *u, enum generation g,
				       uint8_t id)
{
	if (access(runtime_dir(u), F_OK) < 0)
		t_runtime_dir(u);
	return t_listen(L(runtime_path(u, "oo7-pam.sock"), u, u, 0600,
			  .generation = g, .id = id));
}

/* ---- frames and logs ---- */

size_t frames_acted_on(void)
{
	struct record *all;
	size_t n = t_frames(&all);

	records_free(all, n);
	return n;
}

struct record *one_frame(struct record **all)
{
	size_t n = t_frames(all);

	assert_int_equal(n, 1);
	assert_int_equal((*all)[0].uid, 0);
	assert_int_equal((*all)[0].pid, host_pid ? host_pid : getpid());
	return &(*all)[0];
}

void assert_frame(bool gvariant, uint8_t op, const char *user, const void *old,
		  size_t old_len, const void *new, size_t new_len)
{
	struct record *all, *r = one_frame(&all);
	uint8_t *want;
	size_t n = t_expect_frame(&want, gvariant, op, user, old, old_len, new,
				  new_len);
	struct decoded d;

	assert_int_equal(r->len, n);
	assert_memory_equal(r->data, want, n);
	assert_true(frame_decode(r->data, r->len, gvariant, &d));
	assert_int_equal(d.op, op);
	assert_string_equal(d.user, user);
	assert_int_equal(g_bytes_get_size(d.old), old_len);
	assert_int_equal(g_bytes_get_size(d.new), new_len);
	assert_memory_equal(g_bytes_get_data(d.new, NULL), new, new_len);
	if (old_len)
		assert_memory_equal(g_bytes_get_data(d.old, NULL), old,
				    old_len);
	decoded_free(&d);
	free(want);
	records_free(all, 1);
}

void assert_unlock_frame(const char *pw)
{
	assert_frame(false, 0, "alice", "", 0, pw, strlen(pw));
}

void assert_record_is_frame(const struct record *r, uint8_t op,
			    const char *user, const char *old, const char *new)
{
	uint8_t *want;
	size_t len = t_expect_frame(&want, false, op, user, old, strlen(old),
				    new, strlen(new));

	assert_int_equal(r->len, len);
	assert_memory_equal(r->data, want, len);
	free(want);
}

void assert_no_frame(void)
{
	struct record *all;
	size_t n = t_frames(&all);

	records_free(all, n);
	assert_int_equal(n, 0);
}

void assert_logged(const char *needle)
{
	const char *logs = t_logs();

	if (!strstr(logs, needle))
		fail_msg("log lacks \"%s\"; it holds:\n%s", needle, logs);
}

void assert_not_logged(const char *needle)
{
	const char *logs = t_logs();

	if (strstr(logs, needle))
		fail_msg("log holds \"%s\":\n%s", needle, logs);
}

/* ---- time ---- */

double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * The margin is 90% of the timeout: 270 ms on top of timeout=300. It covers
 * the work around the wait (pam_start, the hooks, a 1 MiB password copied,
 * encoded and wiped, the forks of a daemon start), which valgrind slows
 * down and a busy machine delays further. Measured on 2 cores under
 * valgrind: at most 30 ms over the timeout when idle, 115 ms with four busy
 * loops beside it (five runnable processes on two cores). A module
 * that waits twice the timeout (a deadline per step instead of one for the
 * hook) takes 600 ms plus that same work, so it fails whatever the load:
 * the margin stays below the timeout for that reason.
 */
void assert_took_ms(const struct timespec *t0, unsigned int timeout_ms)
{
	double ms = elapsed_ms(t0);
	unsigned int limit = timeout_ms + timeout_ms * 9 / 10;

	if (ms >= limit)
		fail_msg("took %.0f ms, more than the timeout of %u ms and "
			 "its margin (%u ms in all)",
			 ms, timeout_ms, limit);
}

/* ---- programs ---- */

/*
 * The answer comes on a pipe, not as the exit code: under valgrind's
 * --error-exitcode, a child exits with that code if its parent had already
 * met an error.
 */
bool user_can_run(const struct tuser *u, const char *path)
{
	int fds[2];
	char yes = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		/* As the module starts the daemon: groups, gid, then uid. */
		if (initgroups(u->name, u->gid) == 0 &&
		    setresgid(u->gid, u->gid, u->gid) == 0 &&
		    setresuid(u->uid, u->uid, u->uid) == 0 &&
		    access(path, X_OK) == 0 && write(fds[1], "y", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (pid > 0 && read(fds[0], &yes, 1) != 1)
		yes = 0;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return yes == 'y';
}

bool copy_program(const char *src, const char *dst)
{
	gchar *bytes = NULL;
	gsize len;
	bool ok;
	int fd;

	if (!g_file_get_contents(src, &bytes, &len, NULL))
		return false;
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	ok = fd >= 0 && write(fd, bytes, len) == (ssize_t)len &&
	     fchown(fd, 0, 0) == 0 && fchmod(fd, 0755) == 0;
	if (fd >= 0)
		close(fd);
	g_free(bytes);
	return ok;
}

int run(const char *cmd)
{
	int status = system(cmd);

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int runf(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return run(cmd);
}

/* ---- the stand-in daemon ---- */

/* Waits for dir/name to appear (renamed into place) for at most ms. */
static bool file_appears(const char *dir, const char *name, int ms)
{
	char path[256];
	int fd = inotify_init1(IN_CLOEXEC);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[4096];
	bool found;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE);
	while (!(found = access(path, F_OK) == 0) && poll(&p, 1, ms) > 0)
		if (read(fd, buf, sizeof(buf)) < 0)
			break;
	close(fd);
	return found;
}

char *fake_daemon_record(const struct tuser *u)
{
	gchar *text = NULL;

	if (!file_appears(runtime_dir(u), "fake-daemon.record", 5000))
		return NULL;
	g_file_get_contents(runtime_path(u, "fake-daemon.record"), &text, NULL,
			    NULL);
	return text;
}

char *started_daemon_record(const struct tuser *u)
{
	char *text = fake_daemon_record(u);

	if (!text)
		fail_msg("no daemon was started as %s: no record within 5 s",
			 u->name);
	return text;
}

const char *stdin_line(const char *pw)
{
	char hex[256] = "";

	for (size_t i = 0; pw[i] && 2 * i + 2 < sizeof(hex); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)pw[i]);
	return textf("\nstdin %s\n", hex);
}

const char *ids_line(const struct tuser *u)
{
	return textf("uids %1$u %1$u %1$u\ngids %2$u %2$u %2$u\n",
		     (unsigned int)u->uid, (unsigned int)u->gid);
}

bool fake_daemon_ran(const struct tuser *u)
{
	return access(runtime_path(u, "fake-daemon.pid"), F_OK) == 0;
}

pid_t fake_daemon_pid(const struct tuser *u)
{
	gchar *text = NULL;
	pid_t pid = 0;

	if (g_file_get_contents(runtime_path(u, "fake-daemon.pid"), &text, NULL,
				NULL))
		pid = atoi(text);
	g_free(text);
	return pid;
}

size_t fake_daemon_frames_all(const struct tuser *u, struct record **out)
{
	int fd =
	    open(runtime_path(u, "fake-daemon.frames"), O_RDONLY | O_CLOEXEC);
	size_t n;

	*out = NULL;
	if (fd < 0)
		return 0;
	n = records_read(fd, out);
	close(fd);
	return n;
}

size_t fake_daemon_frames(const struct tuser *u, struct record **out)
{
	return records_acted_on(*out, fake_daemon_frames_all(u, out));
}

size_t fake_daemon_frames_acted_on(const struct tuser *u)
{
	struct record *all;
	size_t n = fake_daemon_frames(u, &all);

	records_free(all, n);
	return n;
}

void generation_of_the_daemon(const struct tuser *u, enum generation g)
{
	static const char *const names[] = {
	    [OO7_06] = "0.6\n",
	    [OO7_07_ALPHA] = "0.7.0.alpha\n",
	    [OO7_MAIN] = "main\n",
	};
	const char *path = runtime_path(u, "fake-daemon.generation");

	if (access(runtime_dir(u), F_OK) < 0)
		t_runtime_dir(u);
	if (g == NO_GENERATION) {
		unlink(path);
		return;
	}
	assert_true(g_file_set_contents(path, names[g], -1, NULL));
	assert_int_equal(chmod(path, 0644), 0);
}

/* pid runs in this process's mount namespace. */
static bool in_this_mount_ns(pid_t pid)
{
	char path[64], ns[64], mine[64];
	ssize_t n, m;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	n = readlink(path, ns, sizeof(ns));
	m = readlink("/proc/self/ns/mnt", mine, sizeof(mine));
	return n >= 0 && n == m && !memcmp(ns, mine, (size_t)n);
}

/* pid runs a fake daemon (a copy of any name ending in oo7-daemon...) here. */
static bool is_fake_daemon_here(pid_t pid, uid_t uid)
{
	char path[64], exe[4096];
	struct stat st;
	ssize_t n;
	const char *base;

	if (!in_this_mount_ns(pid))
		return false;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) < 0 || st.st_uid != uid)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	return strstr(base ? base + 1 : exe, "oo7-daemon") != NULL;
}

/*
 * Checked first: the daemon may have exited long ago (stopped by the module,
 * or reaped by init) and its pid been reused by a process of the host.
 */
void fake_daemon_kill(const struct tuser *u)
{
	pid_t pid = fake_daemon_pid(u);

	if (pid > 0 && is_fake_daemon_here(pid, u->uid))
		kill(pid, SIGKILL);
}

#define MAX_DAEMONS 4
static pid_t daemons[MAX_DAEMONS];
static int n_daemons;

/* In the child: u's ids, fd 3 the ready pipe, stdin the password. */
static void exec_fake_daemon(const struct tuser *u, bool login, int in,
			     int ready)
{
	char bus[128];
	char *argv[] = {(char *)FAKE_DAEMON, login ? (char *)"--login" : NULL,
			NULL};
	char *envp[] = {bus, (char *)"OO7_FAKE_READY_FD=3", NULL};

	snprintf(bus, sizeof(bus), "DBUS_SESSION_BUS_ADDRESS=unix:path=%s",
		 runtime_path(u, "bus"));
	if (dup2(in, 0) != 0 ||
	    (ready == 3 ? fcntl(3, F_SETFD, 0) : dup2(ready, 3)) < 0 ||
	    setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(126);
	execve(FAKE_DAEMON, argv, envp);
	_exit(127);
}

pid_t fake_daemon_start(const struct tuser *u, const char *login_password)
{
	int in[2], ready[2];
	struct pollfd p;
	char c = 0;
	pid_t pid;
	ssize_t len;

	assert_true(n_daemons < MAX_DAEMONS);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0)
		exec_fake_daemon(u, login_password != NULL, in[0], ready[1]);
	assert_true(pid > 0);
	daemons[n_daemons++] = pid;
	close(in[0]);
	close(ready[1]);
	len = login_password ? (ssize_t)strlen(login_password) : 0;
	if (len)
		assert_int_equal(write(in[1], login_password, (size_t)len),
				 len);
	close(in[1]);
	p = (struct pollfd){.fd = ready[0], .events = POLLIN};
	if (poll(&p, 1, 5000) != 1 || read(ready[0], &c, 1) != 1 || c != '1')
		fail_msg("the fake daemon as %s did not listen within 5 s",
			 u->name);
	close(ready[0]);
	return pid;
}

/* Every fake daemon that this case started, killed and reaped. */
static void fake_daemons_stop(void)
{
	while (n_daemons) {
		pid_t pid = daemons[--n_daemons];

		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

void daemons_stop(void)
{
	fake_daemon_kill(&t_alice);
	fake_daemon_kill(&t_bob);
	fake_daemons_stop();
}

void session_bus_create(const struct tuser *u)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		 runtime_path(u, "bus"));
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(chown(sa.sun_path, u->uid, u->gid), 0);
	close(fd); /* the socket file stays: what the daemon looks for */
}

size_t fake_daemons_of(const struct tuser *u)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d))) {
		pid_t pid = atoi(e->d_name);

		if (pid > 0 && is_fake_daemon_here(pid, u->uid))
			n++;
	}
	if (d)
		closedir(d);
	return n;
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

/* ---- the keyring ---- */

void keyring_create(const struct tuser *u, const char *password, bool locked)
{
	GString *text = g_string_new("password=");
	int fd;

	if (access(runtime_dir(u), F_OK) < 0)
		t_runtime_dir(u);
	for (const char *p = password; *p; p++)
		g_string_append_printf(text, "%02x", (unsigned char)*p);
	g_string_append_printf(text, "\nlocked=%d\n", locked ? 1 : 0);
	fd = open(runtime_path(u, "keyring"),
		  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text->str, text->len), (ssize_t)text->len);
	assert_int_equal(fchown(fd, u->uid, u->gid), 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	close(fd);
	g_string_free(text, TRUE);
}

struct keyring keyring_read(const struct tuser *u)
{
	struct keyring k = {0};
	gchar *text = NULL;
	const char *p;
	size_t n = 0;
	unsigned int b;

	if (!g_file_get_contents(runtime_path(u, "keyring"), &text, NULL,
				 NULL) ||
	    strncmp(text, "password=", 9))
		goto out;
	for (p = text + 9; g_ascii_isxdigit(p[0]) && g_ascii_isxdigit(p[1]) &&
			   n < sizeof(k.password) - 1;
	     p += 2) {
		sscanf(p, "%2x", &b);
		k.password[n++] = (char)b;
	}
	if (!strcmp(p, "\nlocked=0\n") || !strcmp(p, "\nlocked=1\n")) {
		k.locked = p[8] == '1';
		k.ok = true;
	}
out:
	g_free(text);
	return k;
}

void assert_keyring(const struct tuser *u, const char *password, bool locked)
{
	struct keyring k = keyring_read(u);
	gchar *text = NULL;

	if (k.ok && !strcmp(k.password, password) && k.locked == locked)
		return;
	g_file_get_contents(runtime_path(u, "keyring"), &text, NULL, NULL);
	fail_msg("%s's keyring should have the password \"%s\", %s; it holds:"
		 "\n%s",
		 u->name, password, locked ? "locked" : "unlocked",
		 text ? text : "(no file)\n");
}

/* ---- the host process ---- */

static int cmp_lines(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void describe_fds(GString *s)
{
	GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
	const char *name;
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);

	while ((name = g_dir_read_name(d))) {
		gchar *p = g_strdup_printf("/proc/self/fd/%s", name);
		gchar *target = g_file_read_link(p, NULL);

		g_ptr_array_add(lines, g_strdup_printf("fd %s -> %s\n", name,
						       target ? target : "?"));
		g_free(p);
		g_free(target);
	}
	g_dir_close(d);
	g_ptr_array_sort(lines, cmp_lines);
	for (guint i = 0; i < lines->len; i++)
		g_string_append(s, lines->pdata[i]);
	g_ptr_array_free(lines, TRUE);
}

void describe_host(GString *s)
{
	struct sigaction sa;
	sigset_t mask;
	uid_t r, e, sv;
	gid_t gr, ge, gs, groups[64];
	int n = getgroups(64, groups);
	mode_t um = umask(022);
	gchar *children = NULL, *path;
	char cwd[4096];

	umask(um);
	describe_fds(s);
	for (int sig = 1; sig < 65; sig++) {
		memset(&sa, 0, sizeof(sa));
		if (sigaction(sig, NULL, &sa) == 0)
			g_string_append_printf(s, "signal %d: %p %x\n", sig,
					       (void *)sa.sa_handler,
					       (unsigned)sa.sa_flags);
	}
	sigprocmask(SIG_BLOCK, NULL, &mask);
	for (int sig = 1; sig < 65; sig++)
		if (sigismember(&mask, sig) == 1)
			g_string_append_printf(s, "blocked %d\n", sig);
	getresuid(&r, &e, &sv);
	getresgid(&gr, &ge, &gs);
	g_string_append_printf(s,
			       "uids %u %u %u fsuid %d gids %u %u %u "
			       "fsgid %d umask %o\n",
			       r, e, sv, setfsuid((uid_t)-1), gr, ge, gs,
			       setfsgid((gid_t)-1), (unsigned)um);
	for (int i = 0; i < n; i++)
		g_string_append_printf(s, "group %u\n", (unsigned)groups[i]);
	for (char **env = environ; *env; env++)
		g_string_append_printf(s, "env %s\n", *env);
	path = g_strdup_printf("/proc/self/task/%d/children", (int)getpid());
	g_file_get_contents(path, &children, NULL, NULL);
	g_string_append_printf(s, "children %s\ncwd %s\n", children,
			       getcwd(cwd, sizeof(cwd)));
	g_free(children);
	g_free(path);
}

static void on_sigchld(int sig)
{
	(void)sig;
}

void set_sigchld(enum sigchld how)
{
	if (how == SIGCHLD_IGNORED)
		signal(SIGCHLD, SIG_IGN);
	else if (how == SIGCHLD_HANDLED)
		signal(SIGCHLD, on_sigchld);
	else
		signal(SIGCHLD, SIG_DFL);
}

void assert_host_unchanged_by(enum sigchld how, void (*fn)(void))
{
	GString *before = g_string_new(NULL), *after;

	set_sigchld(how);
	/* libc's connection to /dev/log opens at the first line: now */
	syslog(LOG_DEBUG, "the host before a case");
	describe_host(before);
	fn();
	after = g_string_new(NULL);
	describe_host(after);
	/* whole, to stderr: cmocka's message would cut it */
	if (strcmp(before->str, after->str)) {
		fprintf(stderr, "the host changed; before:\n%s\nafter:\n%s\n",
			before->str, after->str);
		fail_msg("the host changed (above)");
	}
	g_string_free(before, TRUE);
	g_string_free(after, TRUE);
}

/* ---- real programs on private copies ---- */

#define MAX_MOUNTS 16

/* The mounts of this case, undone in reverse order by unmount_private. */
static char mounts[MAX_MOUNTS][300];
static int n_mounts;

void mount_over(const char *src, const char *dst, const char *type,
		const char *opts)
{
	assert_true(n_mounts < MAX_MOUNTS);
	if (mount(src, dst, type ? type : "none", type ? 0 : MS_BIND, opts))
		fail_msg("mount %s on %s: %s", src, dst, strerror(errno));
	snprintf(mounts[n_mounts++], sizeof(mounts[0]), "%s", dst);
}

void bind_copy(const char *path, const char *name)
{
	char copy[300];

	snprintf(copy, sizeof(copy), "%s", t_path("%s", name));
	assert_int_equal(runf("cp -a %s %s", path, copy), 0);
	mount_over(copy, path, NULL, NULL);
}

void bind_text(const char *path, const char *name, const char *text,
	       mode_t mode)
{
	char file[300];

	snprintf(file, sizeof(file), "%s", t_path("%s", name));
	assert_true(g_file_set_contents(file, text, -1, NULL));
	assert_int_equal(chmod(file, mode), 0);
	mount_over(file, path, NULL, NULL);
}

void unmount_private(void)
{
	while (n_mounts > 0)
		umount2(mounts[--n_mounts], MNT_DETACH);
}

gchar *read_text(const char *path)
{
	gchar *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		fail_msg("cannot read %s", path);
	return text;
}

/* A NULL text (a record that never came) lacks everything. */
void assert_has(const char *text, const char *needle)
{
	if (!text || !strstr(text, needle))
		fail_msg("no \"%s\" in:\n%s", needle, text ? text : "(none)");
}

void assert_lacks(const char *text, const char *needle)
{
	if (strstr(text, needle))
		fail_msg("\"%s\" in:\n%s", needle, text);
}

void skip_if_the_module_is_sanitized(void)
{
	const char *preload = getenv("OO7_TEST_PRELOAD");

	if (preload && *preload)
		skip();
}

void private_pam_config(void)
{
	bind_copy("/etc/pam.d", "pam.d");
	bind_copy("/usr/share/pam-configs", "pam-configs");
	bind_copy("/var/lib/pam", "var-lib-pam");
	bind_copy("/var/cache/debconf", "debconf");
	bind_copy(SECUREDIR, "security");
}

void shipped_profile_applied(void)
{
	gchar *session, *noninteractive;

	assert_int_equal(runf("cp %s %s/pam_oo7.so && make -s "
			      "--no-print-directory -C %s install-pam-config "
			      "DESTDIR= >/dev/null",
			      MODULE_PATH, SECUREDIR, TOP_DIR),
			 0);

	assert_int_equal(run("DEBIAN_FRONTEND=noninteractive "
			     "pam-auth-update --package"),
			 0);

	session = read_text("/etc/pam.d/common-session");
	noninteractive = read_text("/etc/pam.d/common-session-noninteractive");
	assert_has(session, "pam_oo7.so auto_start");
	/* Session-Interactive-Only: sudo -u and doas never run the module. */
	assert_lacks(noninteractive, "pam_oo7");
	g_free(session);
	g_free(noninteractive);
}

void stacks_from_the_shipped_profile(void)
{
	private_pam_config();
	shipped_profile_applied();
}

void usr_overlay(void)
{
	char opts[700], up[300], work[300];

	snprintf(up, sizeof(up), "%s", t_path("usr-up"));
	snprintf(work, sizeof(work), "%s", t_path("usr-work"));
	t_mkdir(up, 0, 0, 0755);
	t_mkdir(work, 0, 0, 0755);
	snprintf(opts, sizeof(opts), "lowerdir=/usr,upperdir=%s,workdir=%s", up,
		 work);
	mount_over("overlay", "/usr", "overlay", opts);
}

void daemon_where_auto_start_looks(void)
{
	usr_overlay();
	assert_int_equal(runf("mkdir -p /usr/libexec && cp %s %s && "
			      "chmod 0755 %s",
			      FAKE_DAEMON, DAEMON_PATH, DAEMON_PATH),
			 0);
}

/* text in place of path's contents, the file's owner and mode kept. */
void rewrite(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

void edit_once(const char *path, const char *old, const char *new)
{
	gchar *text = read_text(path);
	gchar **parts = g_strsplit(text, old, -1);
	gchar *edited = g_strjoinv(new, parts);

	if (g_strv_length(parts) != 2)
		fail_msg("want one \"%s\" in %s:\n%s", old, path, text);
	rewrite(path, edited);
	g_free(edited);
	g_strfreev(parts);
	g_free(text);
}

/* Her line as the sandbox writes it, matched from the start of a line. */
void alice_at_home(const char *shell)
{
	char home[300], line[200];

	snprintf(home, sizeof(home), "%s", t_path("home-alice"));
	t_mkdir(home, t_alice.uid, t_alice.gid, 0700);
	snprintf(line, sizeof(line),
		 "\nalice:x:%u:%u:test user:", (unsigned int)t_alice.uid,
		 (unsigned int)t_alice.gid);
	edit_once("/etc/passwd", textf("%s/nonexistent:/bin/sh\n", line),
		  textf("%s%s:%s\n", line, home, shell));
}

const char *shadow_line(const char *user, const char *pw, const char *salt,
			long lastchg)
{
	return textf("%s:%s:%ld:0:99999:7:::\n", user, crypt(pw, salt),
		     lastchg);
}

void private_shadow_with(const char *lines)
{
	gchar *host = read_text("/etc/shadow");
	gchar *text = g_strconcat(host, lines, NULL);

	bind_text("/etc/shadow", "shadow", text, 0640);
	g_free(text);
	g_free(host);
}

/* A private /var/log with the files that login and pam_lastlog write. */
void private_var_log(void)
{
	mount_over("tmpfs", "/var/log", "tmpfs", "mode=0755");
	assert_int_equal(runf("cd /var/log && touch wtmp btmp lastlog faillog "
			      "&& chmod 0664 wtmp lastlog && chmod 0660 btmp"),
			 0);
}

/*
 * pam_oo7's line of this type in a stack that pam-auth-update generated
 * (which ends it with a space), with before and after around it.
 */
void around_the_module_line(const char *file, const char *type,
			    const char *before, const char *after)
{
	gchar *text = read_text(file);
	gchar **lines = g_strsplit(text, "\n", -1), *edited;
	int n = 0;

	for (gchar **l = lines; *l; l++)
		if (g_str_has_prefix(*l, type) && strstr(*l, "pam_oo7.so")) {
			gchar *line =
			    g_strconcat(before, g_strchomp(*l), after, NULL);

			g_free(*l);
			*l = line;
			n++;
		}
	if (n != 1)
		fail_msg("want one %s line of pam_oo7 in %s:\n%s", type, file,
			 text);
	edited = g_strjoinv("\n", lines);
	rewrite(file, edited);
	g_free(edited);
	g_strfreev(lines);
	g_free(text);
}

/*
 * Names, sizes, modes, times and contents of the files under paths (a
 * shell word list), and the names in the folders listed (NULL: none), to
 * compare a case's before and after; g_free it.
 */
static gchar *files_state(const char *paths, const char *listed)
{
	gchar *ls =
	    listed ? g_strdup_printf("; ls -a %s 2>&1", listed) : g_strdup("");
	gchar *cmd = g_strdup_printf(
	    "sh -c 'find %1$s -printf \"%%p %%s %%m %%T@\\n\" 2>&1 | sort; "
	    "find %1$s -type f -exec sha256sum {} + 2>&1 | sort%2$s'",
	    paths, ls);
	gchar *out = NULL;

	if (!g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL))
		out = g_strdup("(find failed)");
	g_free(cmd);
	g_free(ls);
	return out;
}

/* What real_programs_setup() found, for real_programs_teardown(). */
static const char *host_paths, *host_listed;
static gchar *host_before;

int real_programs_setup(void **state, const char *paths, const char *listed)
{
	host_paths = paths;
	host_listed = listed;
	host_before = files_state(paths, listed);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return suite_setup(state);
}

int real_programs_teardown(int r)
{
	gchar *after;

	prctl(PR_SET_CHILD_SUBREAPER, 0);
	after = files_state(host_paths, host_listed);
	if (strcmp(after, host_before)) {
		fprintf(stderr,
			"the host's files changed; before:\n%s\nafter:\n%s",
			host_before, after);
		r = -1;
	}
	g_free(after);
	g_free(host_before);
	host_before = NULL;
	return r;
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
	static const long reading[] = {SYS_read, SYS_pselect6, SYS_ppoll,
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
static void collect(struct client *c, int out, int err, const struct exchange *script)
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

/* ---- the stand-in service manager (fake_manager.c) ---- */

/* In a child: the manager as alice, its output to manager.log. */
static void exec_manager(const char *const *argv, int ready, int log)
{
	const char *const env[] = {
	    "PATH=/usr/bin:/bin",
	    textf("XDG_RUNTIME_DIR=%s", runtime_dir(&t_alice)), NULL};

	t_become(&t_alice);
	if (dup2(log, 1) != 1 || dup2(log, 2) != 2 || !t_fd_at_3(ready) ||
	    chdir("/") < 0)
		_exit(126);
	execve(argv[0], (char *const *)argv, (char *const *)env);
	_exit(127);
}

pid_t fake_manager_start(const char *daemon, const char *const *extra)
{
	const char *argv[16] = {
	    FAKE_MANAGER, "--address",
	    textf("unix:path=%s", runtime_path(&t_alice, "bus")),
	    "--exec",	  daemon,
	    "--record",	  textf("%s", runtime_path(&t_alice, "manager.record")),
	    "--ready-fd", "3"};
	size_t n = 9;
	char line[16];
	int ready[2], log;
	pid_t pid;

	while (extra && *extra && n < N_ELEMS(argv) - 1)
		argv[n++] = *extra++;
	log = open(t_path("manager.log"),
		   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(log >= 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0)
		exec_manager(argv, ready[1], log);
	assert_true(pid > 0);
	close(ready[1]);
	close(log);
	if (!t_read_line(ready[0], line, sizeof(line), T_UP_MS)) {
		t_stop_child(pid);
		fail_msg("the manager did not own its name within %d ms; it "
			 "said:\n%s",
			 T_UP_MS, read_text(t_path("manager.log")));
	}
	close(ready[0]);
	return pid;
}

/* ---- a client of the daemon's socket ---- */

/*
 * What a daemon at path wrote back before it closed, when sent frame on a
 * new connection; the case fails if it neither closes nor replies in 5 s.
 */
GByteArray *exchange(const char *path, const uint8_t *frame, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	GByteArray *got = g_byte_array_new();
	uint8_t buf[512];
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	assert_int_equal(send(fd, frame, len, MSG_NOSIGNAL), (ssize_t)len);
	while ((n = poll(&p, 1, 5000) == 1 ? read(fd, buf, sizeof(buf)) : -1) >
	       0)
		g_byte_array_append(got, buf, (guint)n);
	close(fd);
	if (n < 0)
		fail_msg("the daemon neither closed nor replied within 5 s");
	return got;
}

