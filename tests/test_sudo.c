// SPDX-License-Identifier: MIT
/*
 * A password belongs to the user who typed it (issue 9). Debian's real sudo
 * and doas, on the stacks that the real pam-auth-update makes from the
 * shipped profile, authenticate alice and then open the session for bob:
 * bob's daemon gets nothing of alice's, no daemon is started for bob with
 * it, and a password that is bob's (sudo's targetpw) still reaches bob.
 *
 * Everything a case changes is a private copy, bind-mounted in the tests'
 * namespace and unmounted when the case ends: /etc/pam.d, /etc/shadow,
 * /etc/sudoers, the PAM security folder, /usr/share/pam-configs,
 * /var/lib/pam and /var/cache/debconf (pam-auth-update writes both), an
 * overlay on /usr for the daemon that auto_start looks for, and for doas a
 * copy of /etc (doas reads only /etc/doas.conf, which the host lacks) and a
 * devpts instance for the terminal it reads the password from.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <syslog.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <glib.h>

#include "harness.h"

#define ALICE_PW "hunter2"
#define BOB_PW "correct horse"
/* Which listener a frame reached. */
#define ALICE_ID 1
#define BOB_ID 2
/* What `id` says when it runs as bob. */
/* Where auto_start, with no daemon=, finds the daemon first. */
#define DAEMON_PATH "/usr/libexec/oo7-daemon"
/* The fake daemon as built; root copies it to DAEMON_PATH. */
#ifdef FAKE_DAEMON_BUILD
#define FAKE_DAEMON_SRC FAKE_DAEMON_BUILD
#else
#define FAKE_DAEMON_SRC FAKE_DAEMON
#endif
/* The longest a client may take, and a started daemon to write its record. */
#define CLIENT_TIMEOUT_MS 20000
#define RECORD_TIMEOUT_MS 5000
/* timestamp_timeout=0: no cached credential ever lets a case skip a prompt. */
#define SUDOERS                                                                \
	"Defaults env_reset, !lecture, timestamp_timeout=0\n"                  \
	"root ALL=(ALL:ALL) ALL\n"                                             \
	"alice ALL=(ALL:ALL) ALL\n"
#define MAX_MOUNTS 16

/* A client that ran: its exit code (-1 if killed), its output. */
struct client {
	pid_t pid;
	int status;
	GString *out;
	GString *err;
};

/* The mounts of this case, undone in reverse order by teardown. */
static char mounts[MAX_MOUNTS][300];
static int n_mounts;

/*
 * ---- Local helpers ----
 * Stand-ins for what suite.h shares, named apart so that this file builds
 * with or without it: shell() is its runf(), run_dir() its runtime_dir(),
 * assert_log_lacks() its assert_not_logged(), bind_copy() the
 * private_copy() of the pam-auth-update case. Swap them at will.
 */

static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void mount_over(const char *src, const char *dst, const char *type,
		       const char *opts)
{
	assert_true(n_mounts < MAX_MOUNTS);
	if (mount(src, dst, type ? type : "none", type ? 0 : MS_BIND, opts))
		fail_msg("mount %s on %s: %s", src, dst, strerror(errno));
	snprintf(mounts[n_mounts++], sizeof(mounts[0]), "%s", dst);
}

/* A copy of path (file or folder) in this case's folder, mounted over it. */
static void bind_copy(const char *path, const char *name)
{
	char copy[300];

	snprintf(copy, sizeof(copy), "%s", t_path("%s", name));
	assert_int_equal(shell("cp -a %s %s", path, copy), 0);
	mount_over(copy, path, NULL, NULL);
}

/* A file of this text, owned by root with this mode, mounted over path. */
static void bind_text(const char *path, const char *name, const char *text,
		      mode_t mode)
{
	char file[300];

	snprintf(file, sizeof(file), "%s", t_path("%s", name));
	assert_true(g_file_set_contents(file, text, -1, NULL));
	assert_int_equal(chmod(file, mode), 0);
	mount_over(file, path, NULL, NULL);
}

static gchar *read_text(const char *path)
{
	gchar *text = NULL;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return text;
}

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("no \"%s\" in:\n%s", needle, text);
}

static void assert_lacks(const char *text, const char *needle)
{
	if (strstr(text, needle))
		fail_msg("\"%s\" in:\n%s", needle, text);
}

/* Waits for dir/name to appear (renamed into place) for at most ms. */
static bool wait_for_file(const char *dir, const char *name, int ms)
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

static const char *run_dir(const struct tuser *u)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)u->uid);
	return dir;
}

/* ---- the stacks, the users, the rules ---- */

/*
 * make check-asan tests a module built with ASan, which runs only where the
 * ASan runtime comes first; pamtester gets it in LD_PRELOAD
 * ($OO7_TEST_PRELOAD), but sudo and doas are set-user-ID, and secure
 * execution ignores LD_PRELOAD: the module cannot load there. These cases
 * run in the plain suite and under valgrind.
 */
static void skip_if_the_module_is_sanitized(void)
{
	const char *preload = getenv("OO7_TEST_PRELOAD");

	if (preload && *preload)
		skip();
}

/*
 * The real pam-auth-update with the profile that `make install-pam-config`
 * ships, the module under test in the (private) security folder.
 */
static void stacks_from_the_shipped_profile(void)
{
	gchar *session, *noninteractive;

	bind_copy("/etc/pam.d", "pam.d");
	bind_copy("/usr/share/pam-configs", "pam-configs");
	bind_copy("/var/lib/pam", "var-lib-pam");
	bind_copy("/var/cache/debconf", "debconf");
	bind_copy(SECUREDIR, "security");
	assert_int_equal(shell("cp %s %s/pam_oo7.so && make -s "
			       "--no-print-directory -C %s install-pam-config "
			       "DESTDIR= >/dev/null",
			       MODULE_PATH, SECUREDIR, TOP_DIR),
			 0);

	assert_int_equal(shell("DEBIAN_FRONTEND=noninteractive "
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

/* A private /etc/shadow: alice and bob, each with a password. */
static void shadow_with_alice_and_bob(void)
{
	gchar *host = read_text("/etc/shadow"), *text;
	char *a = g_strdup(crypt(ALICE_PW, "$6$pamoo7alice$"));
	char *b = g_strdup(crypt(BOB_PW, "$6$pamoo7bob$"));

	text = g_strdup_printf("%salice:%s:20000:0:99999:7:::\n"
			       "bob:%s:20000:0:99999:7:::\n",
			       host, a, b);
	bind_text("/etc/shadow", "shadow", text, 0640);
	g_free(host);
	g_free(text);
	g_free(a);
	g_free(b);
}

static void sudoers(const char *extra)
{
	gchar *text = g_strdup_printf("%s%s", SUDOERS, extra);

	bind_text("/etc/sudoers", "sudoers", text, 0440);
	g_free(text);
}

/* doas reads /etc/doas.conf, which the host has not: a private /etc. */
static void private_etc_with_doas_conf(void)
{
	char conf[300];

	bind_copy("/etc", "etc");
	snprintf(conf, sizeof(conf), "%s", t_path("etc/doas.conf"));
	assert_true(
	    g_file_set_contents(conf, "permit alice as bob\n", -1, NULL));
	assert_int_equal(chmod(conf, 0600), 0);
}

/* The fake daemon where auto_start looks, in an overlay on /usr. */
static void daemon_where_auto_start_looks(void)
{
	char opts[700], up[300], work[300];

	snprintf(up, sizeof(up), "%s", t_path("usr-up"));
	snprintf(work, sizeof(work), "%s", t_path("usr-work"));
	t_mkdir(up, 0, 0, 0755);
	t_mkdir(work, 0, 0, 0755);
	snprintf(opts, sizeof(opts), "lowerdir=/usr,upperdir=%s,workdir=%s", up,
		 work);
	mount_over("overlay", "/usr", "overlay", opts);
	assert_int_equal(shell("mkdir -p /usr/libexec && cp %s %s && "
			       "chmod 0755 %s",
			       FAKE_DAEMON_SRC, DAEMON_PATH, DAEMON_PATH),
			 0);
}

/* u's daemon as oo7 0.6 runs it: /run/user/UID/oo7-pam.sock, by u. */
static void listen_for(const struct tuser *u, uint8_t id)
{
	char path[80];

	t_runtime_dir(u);
	snprintf(path, sizeof(path), "%s/oo7-pam.sock", run_dir(u));
	t_listen((struct listener_cfg){
	    .path = path,
	    .owner_uid = u->uid,
	    .owner_gid = u->gid,
	    .mode = 0600,
	    .run_uid = u->uid,
	    .run_gid = u->gid,
	    .behaviour = LISTENER_CLOSE,
	    .reply_ok = true,
	    .id = id,
	});
}

/* ---- running a client as alice ---- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* In the child: alice, as her login would make her, then argv. */
static void exec_as_alice(const char *const *argv)
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

/* Appends what fd has now; false at its end (EOF, or EIO on a pty). */
static bool read_some(int fd, GString *into)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0)
		g_string_append_len(into, buf, n);
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Appends all that fd holds now, without waiting for more. */
static void drain(int fd, GString *into)
{
	char buf[4096];
	ssize_t n;

	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		g_string_append_len(into, buf, n);
}

/* Reads what sfd (a signalfd) holds: the SIGCHLDs seen so far. */
static void drain_signals(int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		;
}

/*
 * Collects out and err until the client exits or CLIENT_TIMEOUT_MS passes
 * (then it is killed), and reaps it; answers the first "password:" seen on
 * out with answer (a pty). Its exit is seen through a signalfd for SIGCHLD,
 * blocked meanwhile (valgrind 3.19 has no pidfd_open); one that came before
 * the block is seen by the first waitpid.
 */
static void collect(struct client *c, int out, int err, const char *answer)
{
	sigset_t chld, old;
	int sfd, status = 0;
	struct pollfd p[3] = {{.fd = out, .events = POLLIN},
			      {.fd = err, .events = POLLIN},
			      {.fd = -1, .events = POLLIN}};
	int64_t deadline = now_ms() + CLIENT_TIMEOUT_MS;
	bool exited = false;

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
		if (poll(p, 3, (int)(deadline - now_ms())) < 0 &&
		    errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && p[i].revents &&
			    !read_some(p[i].fd, i ? c->err : c->out))
				p[i].fd = -1;
		if (answer && strstr(c->out->str, "password:")) {
			if (write(out, answer, strlen(answer)) < 0 ||
			    write(out, "\n", 1) < 0)
				break;
			answer = NULL;
		}
		drain_signals(sfd);
	}
	if (!exited) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	c->status = exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	/* What it wrote before it exited; a child it left may hold the fd. */
	drain(p[0].fd, c->out);
	drain(p[1].fd, c->err);
	drain_signals(sfd);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void client_init(struct client *c)
{
	c->pid = -1;
	c->status = -1;
	c->out = g_string_new(NULL);
	c->err = g_string_new(NULL);
}

static void client_free(struct client *c)
{
	g_string_free(c->out, TRUE);
	g_string_free(c->err, TRUE);
}

/* sudo -S -k [-i] -u bob /usr/bin/id, run by alice, password on stdin. */
static void run_sudo(struct client *c, const char *login, const char *pw)
{
	const char *argv[8] = {"/usr/bin/sudo", "-S", "-k"};
	size_t k = 3;
	int in[2], out[2], err[2];

	if (login)
		argv[k++] = login;
	argv[k++] = "-u";
	argv[k++] = "bob";
	argv[k++] = "/usr/bin/id";
	client_init(c);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(126);
		exec_as_alice(argv);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	assert_true(write(in[1], pw, strlen(pw)) > 0);
	assert_true(write(in[1], "\n", 1) == 1);
	close(in[1]);
	collect(c, out[0], err[0], NULL);
	close(out[0]);
	close(err[0]);
}

/*
 * doas -u bob /usr/bin/id, run by alice on a terminal of its own (doas reads
 * the password from /dev/tty only): a devpts instance in this case's folder.
 */
static void run_doas(struct client *c, const char *pw)
{
	const char *argv[] = {"/usr/bin/doas", "-u", "bob", "/usr/bin/id",
			      NULL};
	char pts[300], ptmx[320];
	struct termios tio;
	int master, slave;

	client_init(c);
	snprintf(pts, sizeof(pts), "%s", t_path("pts"));
	t_mkdir(pts, 0, 0, 0755);
	mount_over("devpts", pts, "devpts", "newinstance,ptmxmode=0666");
	snprintf(ptmx, sizeof(ptmx), "%s/ptmx", pts);
	master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master >= 0);
	assert_int_equal(unlockpt(master), 0);
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	/* Lines end in "\n", as they do on a pipe. */
	assert_int_equal(tcgetattr(slave, &tio), 0);
	tio.c_oflag &= ~(tcflag_t)ONLCR;
	assert_int_equal(tcsetattr(slave, TCSANOW, &tio), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 ||
		    dup2(slave, 0) < 0 || dup2(slave, 1) < 0 ||
		    dup2(slave, 2) < 0)
			_exit(126);
		exec_as_alice(argv);
	}
	close(slave);
	collect(c, master, -1, pw);
	close(master);
}

static void assert_ran_id_as_bob(const struct client *c)
{
	char id_of_bob[128];

	snprintf(id_of_bob, sizeof(id_of_bob),
		 "uid=%u(bob) gid=%u(bob) groups=%u(bob)\n",
		 (unsigned int)t_bob.uid, (unsigned int)t_bob.gid,
		 (unsigned int)t_bob.gid);
	if (c->status != 0 || !strstr(c->out->str, id_of_bob))
		fail_msg("exit %d, stdout:\n%s\nstderr:\n%s", c->status,
			 c->out->str, c->err->str);
}

/* ---- what the daemons got ---- */

static const char *whose(const void *pw, size_t len)
{
	if (len == strlen(ALICE_PW) && !memcmp(pw, ALICE_PW, len))
		return "alice's password";
	if (len == strlen(BOB_PW) && !memcmp(pw, BOB_PW, len))
		return "bob's password";
	return len ? "another password" : "no password";
}

/* One line per frame: which listener, from whom, for whom, whose. */
static void describe_frames(GString *s, const struct record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct decoded d;

		g_string_append_printf(s, "  to %s's listener, from uid %u: ",
				       r[i].id == BOB_ID ? "bob" : "alice",
				       (unsigned)r[i].uid);
		if (!frame_decode(r[i].data, r[i].len, false, &d)) {
			g_string_append(s, "not a valid frame\n");
			continue;
		}
		g_string_append_printf(s, "op %u for \"%s\" with %s\n", d.op,
				       d.user,
				       whose(g_bytes_get_data(d.new, NULL),
					     g_bytes_get_size(d.new)));
		decoded_free(&d);
	}
}

static void assert_nobody_got_a_frame(void)
{
	struct record *all;
	size_t n = t_frames(&all);
	GString *s = g_string_new(NULL);

	describe_frames(s, all, n);
	records_free(all, n);
	if (n)
		fail_msg("%zu frame(s) sent:\n%s", n, s->str);
	g_string_free(s, TRUE);
}

/* The real uid of pid, if it runs in this mount namespace; else -1. */
static long uid_here(pid_t pid)
{
	char path[64], ns[64], mine[64], *line = NULL;
	ssize_t n;
	size_t cap = 0;
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	n = readlink(path, ns, sizeof(ns) - 1);
	if (n < 0 || readlink("/proc/self/ns/mnt", mine, sizeof(mine)) != n ||
	    memcmp(ns, mine, (size_t)n))
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

/* The processes of uid in this namespace (at most max); their count. */
static size_t processes_of(uid_t uid, pid_t *pids, size_t max)
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

/* The fake daemon's record in u's runtime folder; NULL if none in ms. */
static gchar *daemon_record(const struct tuser *u, int ms)
{
	char path[128];
	gchar *text = NULL;

	if (!wait_for_file(run_dir(u), "fake-daemon.record", ms))
		return NULL;
	snprintf(path, sizeof(path), "%s/fake-daemon.record", run_dir(u));
	g_file_get_contents(path, &text, NULL, NULL);
	return text;
}

/* The line of a fake daemon's record that says it got pw on stdin. */
static gchar *stdin_line(const char *pw)
{
	GString *line = g_string_new("\nstdin ");

	for (; *pw; pw++)
		g_string_append_printf(line, "%02x", (unsigned char)*pw);
	g_string_append_c(line, '\n');
	return g_string_free(line, FALSE);
}

/* Whose password a fake daemon's record says it got on stdin. */
static const char *stdin_of(const char *record)
{
	gchar *a = stdin_line(ALICE_PW), *b = stdin_line(BOB_PW);
	const char *who = "another password";

	if (strstr(record, a))
		who = "alice's password";
	else if (strstr(record, b))
		who = "bob's password";
	else if (strstr(record, "\nstdin \n"))
		who = "nothing";
	g_free(a);
	g_free(b);
	return who;
}

/*
 * No daemon was started as u: no process of u here, no pid file. The module
 * returns from a start only once the daemon has been executed (or its
 * timeout has passed), so a daemon started in the client's session runs by
 * the time the client has exited: this needs no wait. If one runs, what it
 * got on stdin goes into the failure message.
 */
static void assert_no_daemon_started_for(const struct tuser *u)
{
	char pid_file[128];
	pid_t pids[8];
	size_t n = processes_of(u->uid, pids, 8);
	gchar *rec;

	snprintf(pid_file, sizeof(pid_file), "%s/fake-daemon.pid", run_dir(u));
	if (!n && access(pid_file, F_OK) < 0)
		return;
	rec = daemon_record(u, RECORD_TIMEOUT_MS);
	fail_msg("%zu process(es) of %s, a daemon started with %s; record:\n%s",
		 n, u->name, rec ? stdin_of(rec) : "(none)", rec ? rec : "");
}

/*
 * ==== The refusal's log line: adjust its wording here, and only here ====
 * When the kept password is not the PAM user's, the module logs one line at
 * LOG_NOTICE naming both users (the lead's wording says "kept for").
 * Asserted loosely: exactly one line from pam_oo7 holds both names, at
 * LOG_NOTICE (facility and severity are in syslog's <PRI> prefix).
 */
static void assert_refusal_logged(const char *owner, const char *pam_user)
{
	gchar **lines = g_strsplit(t_logs(), "\n", -1);
	int found = 0, notice = 0;

	for (gchar **l = lines; *l; l++) {
		if (!strstr(*l, "pam_oo7(") || !strstr(*l, owner) ||
		    !strstr(*l, pam_user))
			continue;
		found++;
		if (**l == '<' && (atoi(*l + 1) & LOG_PRIMASK) == LOG_NOTICE)
			notice++;
	}
	g_strfreev(lines);
	if (found != 1 || notice != 1)
		fail_msg("want one pam_oo7 line at LOG_NOTICE naming %s and "
			 "%s, found %d (%d at LOG_NOTICE):\n%s",
			 owner, pam_user, found, notice, t_logs());
}
/* ==== end of the refusal's log line ==== */

static void assert_log_lacks(const char *needle)
{
	const char *logs = t_logs();

	if (strstr(logs, needle))
		fail_msg("log holds \"%s\":\n%s", needle, logs);
}

/* ---- sudo, with daemons listening for alice and bob ---- */

static void sudo_i_to_bob_with_alices_password_gives_bob_nothing(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers("");
	listen_for(&t_alice, ALICE_ID);
	listen_for(&t_bob, BOB_ID);

	run_sudo(&c, "-i", ALICE_PW);

	assert_ran_id_as_bob(&c);
	/* Not bob's password; and sudo's session is bob's, not alice's. */
	assert_nobody_got_a_frame();
	assert_refusal_logged("alice", "bob");
	assert_log_lacks(ALICE_PW);
	client_free(&c);
}

/*
 * Debian's /etc/pam.d/sudo opens its session with
 * common-session-noninteractive, where the profile does not put the module.
 */
static void sudo_u_bob_with_alices_password_gives_bob_nothing(void **state)
{
	gchar *sudo_pam;
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	sudo_pam = read_text("/etc/pam.d/sudo");
	assert_has(sudo_pam, "@include common-session-noninteractive\n");
	assert_lacks(sudo_pam, "@include common-session\n");
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers("");
	listen_for(&t_alice, ALICE_ID);
	listen_for(&t_bob, BOB_ID);

	run_sudo(&c, NULL, ALICE_PW);

	assert_ran_id_as_bob(&c);
	assert_nobody_got_a_frame();
	assert_log_lacks("pam_oo7(sudo:session)");
	assert_log_lacks(ALICE_PW);
	g_free(sudo_pam);
	client_free(&c);
}

/* The control: with targetpw alice types bob's password, which is his. */
static void sudo_with_targetpw_delivers_bobs_password_to_bob(void **state)
{
	struct client c;
	struct record *all;
	uint8_t *want;
	size_t n, len;

	(void)state;
	skip_if_the_module_is_sanitized();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers("Defaults targetpw\n");
	listen_for(&t_alice, ALICE_ID);
	listen_for(&t_bob, BOB_ID);

	run_sudo(&c, "-i", BOB_PW);

	assert_ran_id_as_bob(&c);
	n = t_frames(&all);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].id, BOB_ID);
	assert_int_equal(all[0].uid, 0);
	assert_int_equal(all[0].pid, c.pid);
	len = t_expect_frame(&want, false, 0, "bob", "", 0, BOB_PW,
			     strlen(BOB_PW));
	assert_int_equal(all[0].len, len);
	assert_memory_equal(all[0].data, want, len);
	assert_log_lacks(BOB_PW);
	free(want);
	records_free(all, n);
	client_free(&c);
}

/* ---- sudo, with no daemon running and auto_start in the profile ---- */

static void
sudo_i_to_bob_with_alices_password_starts_no_daemon_for_bob(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	daemon_where_auto_start_looks();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers("");
	t_runtime_dir(&t_alice);
	t_runtime_dir(&t_bob);

	run_sudo(&c, "-i", ALICE_PW);

	assert_ran_id_as_bob(&c);
	/* Nothing for a password that is not bob's, not even a locked one. */
	assert_no_daemon_started_for(&t_bob);
	assert_no_daemon_started_for(&t_alice);
	assert_refusal_logged("alice", "bob");
	client_free(&c);
}

static void
sudo_u_bob_with_alices_password_starts_no_daemon_for_bob(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	daemon_where_auto_start_looks();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers("");
	t_runtime_dir(&t_alice);
	t_runtime_dir(&t_bob);

	run_sudo(&c, NULL, ALICE_PW);

	assert_ran_id_as_bob(&c);
	assert_no_daemon_started_for(&t_bob);
	assert_no_daemon_started_for(&t_alice);
	client_free(&c);
}

/* The control: bob's own password starts bob's daemon with it. */
static void
sudo_with_targetpw_starts_bobs_daemon_with_bobs_password(void **state)
{
	struct client c;
	gchar *rec, *line;
	char ids[128];

	(void)state;
	skip_if_the_module_is_sanitized();
	daemon_where_auto_start_looks();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	sudoers("Defaults targetpw\n");
	t_runtime_dir(&t_alice);
	t_runtime_dir(&t_bob);

	run_sudo(&c, "-i", BOB_PW);

	assert_ran_id_as_bob(&c);
	rec = daemon_record(&t_bob, RECORD_TIMEOUT_MS);
	assert_non_null(rec);
	assert_has(rec, "argv " DAEMON_PATH " --login\n");
	snprintf(ids, sizeof(ids), "uids %u %u %u\ngids %u %u %u\n",
		 (unsigned int)t_bob.uid, (unsigned int)t_bob.uid,
		 (unsigned int)t_bob.uid, (unsigned int)t_bob.gid,
		 (unsigned int)t_bob.gid, (unsigned int)t_bob.gid);
	assert_has(rec, ids);
	line = stdin_line(BOB_PW);
	assert_has(rec, line);
	assert_no_daemon_started_for(&t_alice);
	g_free(line);
	g_free(rec);
	client_free(&c);
}

/* ---- doas ---- */

/* Debian's /etc/pam.d/doas, like sudo's, has no interactive session. */
static void doas_u_bob_with_alices_password_gives_bob_nothing(void **state)
{
	gchar *doas_pam;
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	doas_pam = read_text("/etc/pam.d/doas");
	assert_has(doas_pam, "@include common-session-noninteractive\n");
	assert_lacks(doas_pam, "@include common-session\n");
	private_etc_with_doas_conf();
	stacks_from_the_shipped_profile();
	shadow_with_alice_and_bob();
	listen_for(&t_alice, ALICE_ID);
	listen_for(&t_bob, BOB_ID);

	run_doas(&c, ALICE_PW);

	assert_ran_id_as_bob(&c);
	assert_nobody_got_a_frame();
	assert_log_lacks(ALICE_PW);
	g_free(doas_pam);
	client_free(&c);
}

/*
 * doas with its session in common-session (as an administrator, or a
 * distribution whose doas includes its system-wide session stack, has it):
 * doas sets PAM_USER to bob after it authenticated alice, as sudo does.
 */
static void interactive_doas_session(void)
{
	gchar *pam = read_text("/etc/pam.d/doas");
	gchar **parts = g_strsplit(pam, "common-session-noninteractive", -1);
	gchar *text = g_strjoinv("common-session", parts);

	assert_int_equal(g_strv_length(parts), 2);
	assert_true(g_file_set_contents("/etc/pam.d/doas", text, -1, NULL));
	g_strfreev(parts);
	g_free(text);
	g_free(pam);
}

static void doas_with_the_module_in_its_session_gives_bob_nothing(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	private_etc_with_doas_conf();
	stacks_from_the_shipped_profile();
	interactive_doas_session();
	shadow_with_alice_and_bob();
	listen_for(&t_alice, ALICE_ID);
	listen_for(&t_bob, BOB_ID);

	run_doas(&c, ALICE_PW);

	assert_ran_id_as_bob(&c);
	assert_nobody_got_a_frame();
	assert_refusal_logged("alice", "bob");
	assert_log_lacks(ALICE_PW);
	client_free(&c);
}

static void
doas_with_the_module_in_its_session_starts_no_daemon_for_bob(void **state)
{
	struct client c;

	(void)state;
	skip_if_the_module_is_sanitized();
	daemon_where_auto_start_looks();
	private_etc_with_doas_conf();
	stacks_from_the_shipped_profile();
	interactive_doas_session();
	shadow_with_alice_and_bob();
	t_runtime_dir(&t_alice);
	t_runtime_dir(&t_bob);

	run_doas(&c, ALICE_PW);

	assert_ran_id_as_bob(&c);
	assert_no_daemon_started_for(&t_bob);
	assert_no_daemon_started_for(&t_alice);
	assert_refusal_logged("alice", "bob");
	client_free(&c);
}

/* ---- setup and teardown ---- */

/* SIGCHLD at its default: a client must be reaped by collect(). */
static int setup(void **state)
{
	n_mounts = 0;
	signal(SIGCHLD, SIG_DFL);
	return t_case_setup(state);
}

/* Daemons by their pid files, then any process left of alice or bob here. */
static int teardown(void **state)
{
	const struct tuser *users[] = {&t_alice, &t_bob};
	pid_t pids[16];
	int r;

	for (int i = 0; i < 2; i++) {
		char path[128];
		gchar *pid = NULL;

		snprintf(path, sizeof(path), "%s/fake-daemon.pid",
			 run_dir(users[i]));
		if (g_file_get_contents(path, &pid, NULL, NULL) &&
		    atoi(pid) > 0)
			kill(atoi(pid), SIGKILL);
		g_free(pid);
	}
	r = t_case_teardown(state);
	for (int i = 0; i < 2; i++) {
		size_t n = processes_of(users[i]->uid, pids, 16);

		for (size_t k = 0; k < n; k++)
			kill(pids[k], SIGKILL);
	}
	while (n_mounts > 0)
		umount2(mounts[--n_mounts], MNT_DETACH);
	return r;
}

#define SUDO_CASE(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

const struct CMUnitTest sudo_tests[] = {
    SUDO_CASE(sudo_i_to_bob_with_alices_password_gives_bob_nothing),
    SUDO_CASE(sudo_u_bob_with_alices_password_gives_bob_nothing),
    SUDO_CASE(sudo_with_targetpw_delivers_bobs_password_to_bob),
    SUDO_CASE(sudo_i_to_bob_with_alices_password_starts_no_daemon_for_bob),
    SUDO_CASE(sudo_u_bob_with_alices_password_starts_no_daemon_for_bob),
    SUDO_CASE(sudo_with_targetpw_starts_bobs_daemon_with_bobs_password),
    SUDO_CASE(doas_u_bob_with_alices_password_gives_bob_nothing),
    SUDO_CASE(doas_with_the_module_in_its_session_gives_bob_nothing),
    SUDO_CASE(doas_with_the_module_in_its_session_starts_no_daemon_for_bob),
};
const size_t sudo_tests_count = sizeof(sudo_tests) / sizeof(sudo_tests[0]);
