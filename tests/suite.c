// SPDX-License-Identifier: MIT
/*
 * A case's PAM stack and what it asserts, which every test file uses: the
 * service "login" (the fixture reads the password, pam_oo7 follows with the
 * case's options), listeners that stand in for a daemon, the frames they
 * got and the lines logged, texts, time, shell commands, and the setup
 * that every file's own setup calls first.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* ---- shell commands and texts ---- */

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
