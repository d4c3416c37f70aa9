// SPDX-License-Identifier: MIT
/*
 * ssh: Debian's real sshd, started by the test with UsePAM, on
 * the stacks that the real pam-auth-update makes from the shipped profile,
 * and the real ssh client driven by sshpass, logging alice in with her
 * password and running id.
 *
 * With PasswordAuthentication, sshd's monitor (the root process that serves
 * the connection) runs pam_authenticate and then opens the session: exactly
 * one frame with her password reaches her daemon. With
 * KbdInteractiveAuthentication, sshd runs pam_authenticate in a child
 * process of the monitor, which exits once the password is checked: the
 * copy that the module kept in auth dies with it, and the session sends
 * nothing. Each login is then made again with the module's lines taken out
 * of the stacks: ssh and sshd do the same, so no PAM result changed.
 *
 * sshd runs in a network namespace of its own, with only lo, up: it and
 * the client join it (setns) in the child that executes them, so that this
 * process keeps the host's. It listens on 127.0.0.1 on a port that the
 * kernel found free there, with its own configuration, host key, pid file
 * and log in the case's folder, and its privilege separation folder
 * /run/sshd in the tests' private /run. It is this process's child, and
 * it is stopped by its pid when the case ends (SIGTERM, SIGKILL if it
 * lingers); then every process left in the namespace is killed and reaped.
 *
 * What a case changes is a private copy, bind-mounted in the tests'
 * namespace and unmounted when the case ends: /etc/passwd (alice with a
 * home), /etc/shadow (her password), the stacks and all that
 * pam-auth-update writes, /var/log, and /dev/pts and /dev/ptmx (a devpts
 * instance, for the terminal that sshpass opens for ssh). The client reads
 * no configuration (-F /dev/null) and writes no known_hosts. Each case
 * checks that the host's files are as they were.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <glib.h>

#include "suite.h"

#define ALICE_PW "hunter2"
#define SSHD "/usr/sbin/sshd"
/* sshd's privilege separation folder, as Debian builds it. */
#define PRIVSEP_DIR "/run/sshd"
/* The longest sshd may take to listen, to end a connection, or to exit. */
#define SSHD_MS 10000
/* The host's files that a case must leave as they were. */
#define HOST_FILES                                                             \
	"/etc/passwd /etc/shadow /etc/ssh /etc/pam.d /usr/share/pam-configs "  \
	"/var/lib/pam /var/cache/debconf /var/log/wtmp /var/log/btmp "         \
	"/var/log/lastlog /root/.ssh " SECUREDIR

/* This case's sshd, and the network namespace it runs in. */
static struct {
	int netns;	   /* held open: the namespace lives as long */
	unsigned int port; /* on 127.0.0.1, in the namespace */
	pid_t pid;	   /* this process's child */
	char dir[300];	   /* its config, host key, pid file and log */
} sshd = {.netns = -1, .pid = -1};

/* What the case made in the tests' /dev and /run, to be removed after. */
static bool made_dev_pts, made_dev_ptmx, made_privsep_dir;

/* One login through ssh. */
struct ssh_login {
	struct client c;
	pid_t monitor; /* sshd's process that served it */
	gchar *log;    /* what sshd logged for it, see sshd_log_since */
};

static void sshd_stop(void);

/*
 * A connection of sshd's that outlives it is orphaned: this process adopts
 * it, so that the teardown can reap it (pid 1 may not).
 */
static int setup(void **state)
{
	return real_programs_setup(state, HOST_FILES, NULL);
}

/* sshd and all in its namespace gone, the mounts undone, the host intact. */
static int teardown(void **state)
{
	int r;

	sshd_stop();
	r = t_case_teardown(state);
	unmount_private();
	if (made_dev_ptmx)
		unlink("/dev/ptmx");
	if (made_dev_pts)
		rmdir("/dev/pts");
	if (made_privsep_dir)
		rmdir(PRIVSEP_DIR);
	made_dev_ptmx = made_dev_pts = made_privsep_dir = false;
	return real_programs_teardown(r);
}

/* ---- the network ---- */

/* In a child that has just made its network namespace: lo up. */
static bool lo_up(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;

	ifr.ifr_flags |= IFF_UP;
	up = up && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
	if (fd >= 0)
		close(fd);
	return up;
}

/* A port of 127.0.0.1 that no one uses, as the kernel finds it; 0: none. */
static unsigned int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned int port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/*
 * A child makes the namespace, brings lo up and finds a port, then waits
 * until this process holds the namespace open and lets it exit.
 */
static void private_network(void)
{
	int found[2], hold[2];
	unsigned int port = 0;
	char c;
	pid_t pid;

	assert_int_equal(pipe2(found, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(hold[1]);
		if (unshare(CLONE_NEWNET) < 0 || !lo_up() ||
		    !(port = free_port()) ||
		    write(found[1], &port, sizeof(port)) != sizeof(port))
			_exit(1);
		(void)!read(hold[0], &c, 1); /* until the write end closes */
		_exit(0);
	}
	close(found[1]);
	close(hold[0]);
	if (read(found[0], &port, sizeof(port)) == sizeof(port))
		sshd.netns = open(textf("/proc/%d/ns/net", (int)pid),
				  O_RDONLY | O_CLOEXEC);
	close(found[0]);
	close(hold[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (sshd.netns < 0)
		fail_msg("no network namespace with lo up and a free port");
	sshd.port = port;
}

/* In a child: into the case's network namespace. */
static void join_the_network(void)
{
	if (setns(sshd.netns, CLONE_NEWNET) < 0)
		_exit(125);
}

/* The processes in the case's network namespace (at most max). */
static size_t processes_in_the_network(pid_t *pids, size_t max)
{
	struct stat ns, st;
	GDir *d = g_dir_open("/proc", 0, NULL);
	const char *name;
	size_t n = 0;

	if (!d || fstat(sshd.netns, &ns) < 0)
		goto out;
	while ((name = g_dir_read_name(d)) && n < max) {
		pid_t pid = atoi(name);

		if (pid > 0 &&
		    stat(textf("/proc/%d/ns/net", (int)pid), &st) == 0 &&
		    st.st_dev == ns.st_dev && st.st_ino == ns.st_ino)
			pids[n++] = pid;
	}
out:
	if (d)
		g_dir_close(d);
	return n;
}

/* ---- the machine, privately ---- */

/* alice with a home folder of hers in a private /etc/passwd. */
static void alice_with_a_home(void)
{
	bind_copy("/etc/passwd", "passwd");
	alice_at_home("/bin/sh");
}

/*
 * sshpass opens a terminal for ssh, which reads the password from it: the
 * tests' /dev has no ptmx, so a devpts instance of this case, at /dev/pts
 * and /dev/ptmx as glibc's ptsname expects.
 */
static void terminals_in_dev(void)
{
	int fd;

	made_dev_pts = mkdir("/dev/pts", 0755) == 0;
	mount_over("devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666");
	fd = open("/dev/ptmx", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	made_dev_ptmx = fd >= 0;
	if (fd >= 0)
		close(fd);
	mount_over("/dev/pts/ptmx", "/dev/ptmx", NULL, NULL);
}

/*
 * Everything of the machine that sshd and ssh need for alice, privately;
 * her daemon listening, as oo7 0.6 runs it.
 */
static void machine_for_ssh(void)
{
	alice_with_a_home();
	private_shadow_with(
	    shadow_line("alice", ALICE_PW, "$6$pamoo7ssh$", 20000));
	stacks_from_the_shipped_profile();
	private_var_log();
	terminals_in_dev();
	daemon_listens_for(&t_alice, 0);
}

/* debug on the module's auth and session lines. */
static void debug_on_the_module_lines(void)
{
	around_the_module_line("/etc/pam.d/common-auth", "auth", "", " debug");
	around_the_module_line("/etc/pam.d/common-session", "session", "",
			       " debug");
}

/* The stacks with no line of pam_oo7: the control. */
static void stacks_without_the_module(void)
{
	const char *const files[] = {"common-auth", "common-account",
				     "common-session", "common-password"};

	for (size_t i = 0; i < N_ELEMS(files); i++) {
		char path[64];
		gchar *text, **lines;
		GString *kept = g_string_new(NULL);

		snprintf(path, sizeof(path), "/etc/pam.d/%s", files[i]);
		text = read_text(path);
		lines = g_strsplit(text, "\n", -1);
		for (gchar **l = lines; *l; l++)
			if (!strstr(*l, "pam_oo7"))
				g_string_append_printf(kept, "%s%s", *l,
						       l[1] ? "\n" : "");
		rewrite(path, kept->str);
		g_string_free(kept, TRUE);
		g_strfreev(lines);
		g_free(text);
	}
}

/* ---- sshd ---- */

static const char *sshd_file(const char *leaf)
{
	return textf("%s/%s", sshd.dir, leaf);
}

/* sshd's pid file holds its pid: it writes it once it listens. */
static bool pid_file_written(void)
{
	gchar *text = NULL;
	bool written =
	    g_file_get_contents(sshd_file("sshd.pid"), &text, NULL, NULL) &&
	    g_str_has_suffix(text, "\n") && atoi(text) == sshd.pid;

	g_free(text);
	return written;
}

/*
 * sshd listens within ms; false as soon as it has exited (then reaped,
 * and sshd.pid is -1). Woken by the pid file's writing and by SIGCHLD.
 */
static bool sshd_listens(int ms)
{
	sigset_t chld, old;
	struct pollfd p[2] = {{.events = POLLIN}, {.events = POLLIN}};
	struct timespec t0;
	char buf[4096];
	bool up;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	p[0].fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	p[1].fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	inotify_add_watch(p[0].fd, sshd.dir, IN_CLOSE_WRITE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!(up = pid_file_written()) && elapsed_ms(&t0) < ms) {
		if (waitpid(sshd.pid, NULL, WNOHANG) == sshd.pid) {
			sshd.pid = -1;
			break;
		}
		if (poll(p, 2, ms - (int)elapsed_ms(&t0)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			while (read(p[i].fd, buf, sizeof(buf)) > 0)
				;
	}
	close(p[0].fd);
	close(p[1].fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return up;
}

/* In the child: sshd in the namespace, its output to its log. */
static void exec_sshd(int log)
{
	const char *argv[] = {SSHD, "-D", "-e", "-f", sshd_file("sshd_config"),
			      NULL};
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	join_the_network();
	if (null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 ||
	    dup2(log, 2) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		_exit(126);
	/*
	 * Under make check-asan, the runtime that the module needs; not its
	 * leak check, which would report sshd's own allocations.
	 */
	t_preload(NULL);
	setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/*
 * sshd with UsePAM, these lines for its ways in, and its debug log (which
 * names the process that serves each connection), in the case's network
 * namespace; returns once it listens.
 */
static void sshd_start(const char *ways_in)
{
	gchar *config, *log;
	int fd;

	private_network();
	snprintf(sshd.dir, sizeof(sshd.dir), "%s", t_path("sshd"));
	t_mkdir(sshd.dir, 0, 0, 0755);
	assert_int_equal(runf("ssh-keygen -q -t ed25519 -N '' -C '' -f %s",
			      sshd_file("host_key")),
			 0);
	config = g_strdup_printf("ListenAddress 127.0.0.1\n"
				 "Port %u\n"
				 "HostKey %s\n"
				 "PidFile %s\n"
				 "UsePAM yes\n"
				 "%s"
				 "PubkeyAuthentication no\n"
				 "LogLevel DEBUG1\n",
				 sshd.port, sshd_file("host_key"),
				 sshd_file("sshd.pid"), ways_in);
	assert_true(
	    g_file_set_contents(sshd_file("sshd_config"), config, -1, NULL));
	g_free(config);
	if (mkdir(PRIVSEP_DIR, 0755) == 0)
		made_privsep_dir = true;
	else
		assert_int_equal(errno, EEXIST);

	fd = open(sshd_file("log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0600);
	assert_true(fd >= 0);
	sshd.pid = fork();
	assert_true(sshd.pid >= 0);
	if (sshd.pid == 0)
		exec_sshd(fd);
	close(fd);
	if (sshd_listens(SSHD_MS))
		return;
	log = read_text(sshd_file("log"));
	fail_msg("sshd %s on 127.0.0.1 port %u; its log:\n%s",
		 sshd.pid < 0 ? "exited before it listened"
			      : textf("did not listen within %d ms", SSHD_MS),
		 sshd.port, log);
}

/*
 * A process of ssh's that exited after its parent: sshd's process for
 * alice often outlives the monitor by a moment. This process, their
 * subreaper, reaps them.
 */
static bool orphan_of_ssh(pid_t pid)
{
	gchar *stat = NULL, *name, *end;
	bool orphan = false;

	if (pid != sshd.pid &&
	    g_file_get_contents(textf("/proc/%d/stat", (int)pid), &stat, NULL,
				NULL) &&
	    (name = strchr(stat, '(')) && (end = strrchr(stat, ')'))) {
		*end = '\0';
		orphan =
		    end[1] == ' ' && end[2] == 'Z' &&
		    (!strcmp(name + 1, "sshd") || !strcmp(name + 1, "ssh") ||
		     !strcmp(name + 1, "sshpass"));
	}
	g_free(stat);
	return orphan;
}

static void reap_orphans(void)
{
	gchar *children = NULL, **pids;

	g_file_get_contents(
	    textf("/proc/%d/task/%d/children", (int)getpid(), (int)getpid()),
	    &children, NULL, NULL);
	pids = g_strsplit(children ? children : "", " ", -1);
	for (gchar **p = pids; *p; p++)
		if (atoi(*p) > 0 && orphan_of_ssh(atoi(*p)))
			waitpid(atoi(*p), NULL, 0);
	g_strfreev(pids);
	g_free(children);
}

/* Our child pid has exited, and is reaped now; for wait_on_sigchld(). */
static bool reaped(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == pid;
}

/*
 * A process that was sent SIGKILL is gone within SSHD_MS: reaped by its
 * parent, or by this process once it is its parent (or subreaper).
 */
static void killed_and_reaped(pid_t pid)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!(kill(pid, 0) < 0 && errno == ESRCH) &&
	       elapsed_ms(&t0) < SSHD_MS) {
		if (parent_of(pid) == getpid() &&
		    waitpid(pid, NULL, WNOHANG) == pid)
			return;
		poll(NULL, 0, 10);
	}
}

/*
 * sshd by its pid, then whatever is left in its namespace (a connection
 * that outlived it), killed and reaped: this process is their subreaper.
 */
static void sshd_stop(void)
{
	pid_t pids[64];
	size_t n;

	if (sshd.pid > 0) {
		kill(sshd.pid, SIGTERM);
		if (!wait_on_sigchld(reaped, sshd.pid, SSHD_MS)) {
			kill(sshd.pid, SIGKILL);
			while (waitpid(sshd.pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	sshd.pid = -1;
	if (sshd.netns < 0)
		return;
	n = processes_in_the_network(pids, N_ELEMS(pids));
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (size_t i = 0; i < n; i++)
		killed_and_reaped(pids[i]);
	reap_orphans();
	close(sshd.netns);
	sshd.netns = -1;
}

/*
 * sshd serves a connection: it has a child (the connection's monitor, or
 * one it has not reaped yet), or a process other than sshd runs in the
 * namespace (one that outlived its parent).
 */
static bool sshd_serves_a_connection(void)
{
	gchar *children = NULL;
	pid_t pids[8];
	size_t n = processes_in_the_network(pids, N_ELEMS(pids));
	bool some = n > 1 || (n == 1 && pids[0] != sshd.pid);

	g_file_get_contents(
	    textf("/proc/%d/task/%d/children", (int)sshd.pid, (int)sshd.pid),
	    &children, NULL, NULL);
	some = some || (children && *children);
	g_free(children);
	return some;
}

/*
 * The connection is over on sshd's side too (its session closed, its
 * processes gone and reaped) within SSHD_MS: its log is complete. The
 * client has exited by then; sshd's side ends right after.
 */
static void connection_over(void)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sshd_serves_a_connection())
		if (elapsed_ms(&t0) >= SSHD_MS || poll(NULL, 0, 10) < 0)
			fail_msg("sshd still serves a connection %d ms after "
				 "the client exited",
				 SSHD_MS);
	reap_orphans();
}

static int cmp_lines(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * What sshd logged from offset on: its lines but the debug ones, with
 * every number as N (ports, pids) and sorted (its processes write to the
 * log in turn), to compare one login with another; *monitor is the pid of
 * the process that served the connection ("Forked child N", in debug).
 */
static gchar *sshd_log_since(off_t offset, pid_t *monitor)
{
	gchar *all = read_text(sshd_file("log"));
	gchar **lines = g_strsplit(all + offset, "\n", -1);
	GPtrArray *kept = g_ptr_array_new_with_free_func(g_free);
	GRegex *number = g_regex_new("[0-9]+", 0, 0, NULL);
	GString *out = g_string_new(NULL);

	*monitor = -1;
	for (gchar **l = lines; *l; l++) {
		/*
		 * "Close session" comes only when the session's channel closed
		 * before the client disconnected: a race of the two sides.
		 */
		if (sscanf(*l, "debug1: Forked child %d.", monitor) == 1 ||
		    g_str_has_prefix(*l, "debug") ||
		    g_str_has_prefix(*l, "Close session: ") || !**l)
			continue;
		g_ptr_array_add(kept, g_regex_replace_literal(number, *l, -1, 0,
							      "N", 0, NULL));
	}
	g_ptr_array_sort(kept, cmp_lines);
	for (guint i = 0; i < kept->len; i++)
		g_string_append_printf(out, "%s\n", (char *)kept->pdata[i]);
	g_ptr_array_free(kept, TRUE);
	g_regex_unref(number);
	g_strfreev(lines);
	g_free(all);
	return g_string_free(out, FALSE);
}

/* ---- the client ---- */

/* In the child: alice, in the case's network namespace, then argv. */
static void exec_as_alice_in_the_network(const char *const *argv)
{
	join_the_network();
	exec_as_alice(argv);
}

/*
 * sshpass -p PASSWORD ssh ... alice@127.0.0.1 id -un, run by alice in the
 * namespace, with this authentication method only; returns once sshd is
 * done with the connection.
 */
static void ssh_login(struct ssh_login *l, const char *method)
{
	char port[16], prefer[64];
	const char *argv[] = {"/usr/bin/sshpass",
			      "-p",
			      ALICE_PW,
			      "/usr/bin/ssh",
			      "-F",
			      "/dev/null",
			      "-o",
			      "StrictHostKeyChecking=no",
			      "-o",
			      "UserKnownHostsFile=/dev/null",
			      "-o",
			      "LogLevel=ERROR",
			      "-o",
			      prefer,
			      "-p",
			      port,
			      "alice@127.0.0.1",
			      "id",
			      "-un",
			      NULL};
	struct stat st;

	snprintf(port, sizeof(port), "%u", sshd.port);
	snprintf(prefer, sizeof(prefer), "PreferredAuthentications=%s", method);
	assert_int_equal(stat(sshd_file("log"), &st), 0);
	run_piped(&l->c, exec_as_alice_in_the_network, argv, NULL);
	connection_over();
	l->log = sshd_log_since(st.st_size, &l->monitor);
}

static void ssh_login_free(struct ssh_login *l)
{
	client_free(&l->c);
	g_free(l->log);
}

/* ---- what happened ---- */

/* For a failure message: the client's output, sshd's log, the module's. */
static void describe(GString *s, const struct ssh_login *l)
{
	gchar *log = read_text(sshd_file("log"));

	g_string_append_printf(s,
			       "\n--- sshpass/ssh: exit %d; stdout:\n%s"
			       "--- stderr:\n%s--- sshd's log:\n%s"
			       "--- the tests' /dev/log:\n%s",
			       l->c.status, l->c.out->str, l->c.err->str, log,
			       t_logs());
	g_free(log);
}

/* ssh exited 0 and id ran as alice: the login and its session worked. */
static void assert_logged_in(const struct ssh_login *l)
{
	GString *s;

	if (l->c.status == 0 && !strcmp(l->c.out->str, "alice\n") &&
	    l->monitor > 0)
		return;
	s = g_string_new("alice did not log in through ssh");
	describe(s, l);
	fail_msg("%s", s->str);
}

/*
 * Without the module, ssh and sshd did the same: same exit, same output,
 * the same lines in sshd's log (which says what PAM answered whenever it
 * refuses anything).
 */
static void assert_same_without_the_module(const struct ssh_login *with,
					   const struct ssh_login *without)
{
	if (with->c.status == without->c.status &&
	    !strcmp(with->c.out->str, without->c.out->str) &&
	    !strcmp(with->log, without->log))
		return;
	fail_msg("with the module: exit %d, stdout:\n%s\nsshd:\n%s\n"
		 "without it: exit %d, stdout:\n%s\nsshd:\n%s",
		 with->c.status, with->c.out->str, with->log, without->c.status,
		 without->c.out->str, without->log);
}

/*
 * The same login again with the module's lines taken out of the stacks:
 * ssh and sshd do the same as they did with them.
 */
static void same_without_the_module(const struct ssh_login *with,
				    const char *method)
{
	struct ssh_login without;

	stacks_without_the_module();
	ssh_login(&without, method);

	assert_same_without_the_module(with, &without);
	ssh_login_free(&without);
}

/*
 * sshd started with these ways in, and alice logged in through ssh with
 * method: it says it accepted her (accepted, in its log).
 */
static void ssh_login_accepted(struct ssh_login *with, const char *ways_in,
			       const char *method, const char *accepted)
{
	sshd_start(ways_in);
	ssh_login(with, method);

	assert_logged_in(with);
	assert_has(with->log, accepted);
}

/* ---- the cases ---- */

static void ssh_password_authentication_delivers_exactly_one_frame(void **state)
{
	struct ssh_login with;
	struct record *all;
	size_t n;

	(void)state;
	machine_for_ssh();

	ssh_login_accepted(&with,
			   "PasswordAuthentication yes\n"
			   "KbdInteractiveAuthentication no\n",
			   "password", "Accepted password for alice");

	/* From sshd's monitor, as root: the process that served alice. */
	n = t_frames(&all);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].uid, 0);
	assert_int_equal(all[0].pid, with.monitor);
	records_free(all, n);
	host_pid = with.monitor;
	assert_unlock_frame(ALICE_PW);
	assert_not_logged(ALICE_PW);
	assert_lacks(with.log, ALICE_PW);

	same_without_the_module(&with, "password");

	assert_int_equal(t_frames(&all), 1); /* still the one above */
	records_free(all, 1);
	ssh_login_free(&with);
}

/*
 * ==== The log line of a session with nothing kept: its wording here ====
 * The stable part of the module's debug line, so that a wording that adds
 * why (the auth ran in another process) still matches.
 */
#define NOTHING_KEPT "No password kept by auth"
/* ==== end of the log line ==== */

static void ssh_keyboard_interactive_sends_nothing_and_says_why(void **state)
{
	struct ssh_login with;

	(void)state;
	machine_for_ssh();
	debug_on_the_module_lines();

	ssh_login_accepted(&with,
			   "PasswordAuthentication no\n"
			   "KbdInteractiveAuthentication yes\n",
			   "keyboard-interactive",
			   "Accepted keyboard-interactive/pam for alice");

	assert_no_frame();
	/* The module ran in both: auth kept a copy, the session had none. */
	assert_logged("pam_oo7(sshd:auth)");
	assert_logged("pam_oo7(sshd:session)");
	assert_logged(NOTHING_KEPT);
	assert_not_logged(ALICE_PW);

	same_without_the_module(&with, "keyboard-interactive");

	assert_no_frame();
	ssh_login_free(&with);
}

/* ---- setup and teardown ---- */

int ssh_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		ssh_password_authentication_delivers_exactly_one_frame, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		ssh_keyboard_interactive_sends_nothing_and_says_why, setup,
		teardown),
	};

	return cmocka_run_group_tests_name("ssh", tests, NULL, NULL);
}
