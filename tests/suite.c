// SPDX-License-Identifier: MIT
/* What the test files share; see suite.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "suite.h"

#define STACK                                                                  \
	"auth     required @FIXTURE@\n"                                        \
	"auth     optional @MODULE@ %1$s\n"                                    \
	"session  optional @MODULE@ %1$s\n"                                    \
	"password required @FIXTURE@\n"                                        \
	"password optional @MODULE@ %1$s\n"

const struct tuser t_root = {"root", 0, 0};
pid_t host_pid;
char self_path[4096];

void suite_enter(void)
{
	t_sandbox_enter();
	if (mkdir(FAKE_DAEMON_DIR, 0755) < 0 || chmod(FAKE_DAEMON_DIR, 0755) ||
	    !copy_program(FAKE_DAEMON_BUILD, FAKE_DAEMON)) {
		fprintf(stderr, "test suite: cannot copy %s to %s: %s\n",
			FAKE_DAEMON_BUILD, FAKE_DAEMON, strerror(errno));
		exit(2);
	}
	if (!user_can_run(&t_alice, FAKE_DAEMON)) {
		fprintf(stderr, "test suite: %s cannot run %s\n", t_alice.name,
			FAKE_DAEMON);
		exit(2);
	}
}

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

/* ---- frames and logs ---- */

static size_t hex_decode(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned int b;

	for (; *hex; hex++) {
		if (*hex == ' ')
			continue;
		sscanf(hex, "%2x", &b);
		out[n++] = (uint8_t)b;
		hex++;
	}
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

void assert_golden(const char *hex)
{
	struct record *all, *r = one_frame(&all);
	uint8_t want[256];
	size_t n = hex_decode(hex, want);

	assert_int_equal(r->len, n);
	assert_memory_equal(r->data, want, n);
	records_free(all, 1);
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

void assert_waited_ms(const struct timespec *t0, unsigned int timeout_ms)
{
	double ms = elapsed_ms(t0);

	if (ms < timeout_ms)
		fail_msg("took %.0f ms, less than the timeout of %u ms", ms,
			 timeout_ms);
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

/*
 * Runs pamtester as the PAM host for alice: ops on service, input on its
 * stdin; wrapped, through pam_wrapper with the tests' pam.d. Returns its
 * exit code; host_pid is its pid.
 */
int pamtester(const char *service, enum pamtester_via via, const char *input,
	      const char *const *ops)
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
