// SPDX-License-Identifier: MIT
/*
 * The stand-ins for oo7's daemon and for systemd --user (fake_daemon.c,
 * fake_manager.c) as the cases use them: put in place for the test users,
 * started and stopped, and read back (the record, pid file, frames and
 * keyring that the fake daemon writes in the user's runtime folder), and a
 * plain client of a daemon's socket. Shared so that every file whose cases
 * start a daemon reads its traces one way and stops it one way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "suite.h"

/* ---- the stand-ins in place ---- */

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

/* ---- the stand-in daemon (fake_daemon.c) ---- */

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
	    FAKE_MANAGER,
	    "--address",
	    textf("unix:path=%s", runtime_path(&t_alice, "bus")),
	    "--exec",
	    daemon,
	    "--record",
	    textf("%s", runtime_path(&t_alice, "manager.record")),
	    "--ready-fd",
	    "3"};
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
