// SPDX-License-Identifier: MIT
/*
 * make bench: what pam_oo7 adds to a login, next to the least any delivery
 * can cost, measured side by side in one process through real libpam
 * (pam_start_confdir) in the tests' private namespace. The variants run
 * interleaved in rounds, so that drift of the machine hits all alike.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <glib.h>

#include "harness.h"

#define ROUNDS 2000
#define PER_ROUND 1
#define HUNG_TIMEOUT_MS 100
#define HUNG_LOGINS 10
#define STARTED_CHANGES 20
#define BUS_LOGINS 10
#define RSS_LOGINS 10000
#define RSS_WARMUP 5000
#define PARALLEL 100
#define IN_A_ROW 1000
#define PASSWORD "bench-password"
/* alice's oo7 socket, /run/user/UID/oo7/pam.sock, set first thing in main */
static char sock_path[108];
#define SOCK sock_path
/* As the suite puts it (suite.h): a copy that alice may execute. */
#define FAKE_DAEMON_DIR "/run/oo7-test"
#define FAKE_DAEMON FAKE_DAEMON_DIR "/fake-oo7-daemon"
#define FAKE_MANAGER FAKE_DAEMON_DIR "/fake-oo7-manager"
/* The name the stand-in serves on the bus (t_bus_up runs the bus). */
#define SECRETS "org.freedesktop.secrets"
/* The longest a daemon may take to go once killed. */
#define GONE_MS 2000

enum variant {
	BASELINE,
	DELIVERED,
	FLOOR,
	ABSENT,
	CHAUTHTOK_BASE,
	CHAUTHTOK_MOD,
	SCREEN_BASE,
	SCREEN_MOD,
	AUTH_ALONE_BASE,
	AUTH_ALONE_MOD,
	N_VARIANTS
};

static const char *names[N_VARIANTS] = {
    "1 baseline (no pam_oo7)",
    "2 delivered (daemon up)",
    "3 floor (bare connect+write+read)",
    "4 daemon absent",
    "6a chauthtok without pam_oo7",
    "6b chauthtok with pam_oo7",
    "7a auth + setcred(REFRESH) without pam_oo7",
    "7b auth + setcred(REFRESH) with pam_oo7, daemon up",
    "7c auth alone + pam_end(SUCCESS) without pam_oo7",
    "7d auth alone + pam_end(SUCCESS) with pam_oo7, daemon up"};

static double samples[N_VARIANTS][ROUNDS * PER_ROUND];

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[(size_t)(p * (double)(n - 1))];
}

static void login(const char *service, const char *user)
{
	const char *answers[] = {PASSWORD, NULL};
	pam_handle_t *pamh = t_pam_start(service, user, answers);

	if (pam_authenticate(pamh, 0) != PAM_SUCCESS ||
	    pam_open_session(pamh, 0) != PAM_SUCCESS) {
		fprintf(stderr, "bench: login failed\n");
		exit(1);
	}
	pam_end(pamh, PAM_SUCCESS);
}

/* Returns the microseconds that pam_chauthtok itself took. */
static double chauthtok(const char *service)
{
	const char *answers[] = {PASSWORD, "new-" PASSWORD, "new-" PASSWORD,
				 NULL};
	pam_handle_t *pamh = t_pam_start(service, "alice", answers);
	double t0 = now_us(), t;

	if (pam_chauthtok(pamh, 0) != PAM_SUCCESS) {
		fprintf(stderr, "bench: chauthtok failed\n");
		exit(1);
	}
	t = now_us() - t0;
	pam_end(pamh, PAM_SUCCESS);
	return t;
}

/* A screen locker: auth, then setcred(PAM_REFRESH_CRED); no session. */
static void unlock_screen(const char *service)
{
	const char *answers[] = {PASSWORD, NULL};
	pam_handle_t *pamh = t_pam_start(service, "alice", answers);

	if (pam_authenticate(pamh, 0) != PAM_SUCCESS ||
	    pam_setcred(pamh, PAM_REFRESH_CRED) != PAM_SUCCESS) {
		fprintf(stderr, "bench: screen unlock failed\n");
		exit(1);
	}
	pam_end(pamh, PAM_SUCCESS);
}

/* A locker that authenticates alone (xsecurelock, vlock): then pam_end. */
static void auth_alone(const char *service)
{
	const char *answers[] = {PASSWORD, NULL};
	pam_handle_t *pamh = t_pam_start(service, "alice", answers);
	int r = pam_authenticate(pamh, 0);

	if (r != PAM_SUCCESS) {
		fprintf(stderr, "bench: auth failed\n");
		exit(1);
	}
	pam_end(pamh, r);
}

/* The least any delivery costs: one connect, one write, read to EOF. */
static void floor_delivery(const uint8_t *frame, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char c;

	memcpy(sa.sun_path, SOCK, strlen(SOCK) + 1);

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, frame, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    read(fd, &c, 1) != 0) {
		perror("bench: floor");
		exit(1);
	}
	close(fd);
}

static double run_one(enum variant v, const uint8_t *frame, size_t len)
{
	double t0 = now_us();

	switch (v) {
	case BASELINE:
		login("base", "alice");
		break;
	case DELIVERED:
		login("oo7", "alice");
		break;
	case FLOOR:
		floor_delivery(frame, len);
		break;
	case ABSENT:
		login("oo7", "bob");
		break;
	case CHAUTHTOK_BASE:
		chauthtok("base");
		break;
	case CHAUTHTOK_MOD:
		chauthtok("oo7");
		break;
	case SCREEN_BASE:
		unlock_screen("base");
		break;
	case SCREEN_MOD:
		unlock_screen("oo7");
		break;
	case AUTH_ALONE_BASE:
		auth_alone("base");
		break;
	default:
		auth_alone("oo7");
		break;
	}
	return now_us() - t0;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static long stripped_size(void)
{
	char out[] = "/tmp/pam_oo7-strip.XXXXXX";
	struct stat st;
	int fd = mkstemp(out), status;
	pid_t pid;

	close(fd);
	pid = fork();
	if (pid == 0) {
		execlp("strip", "strip", "-o", out, MODULE_PATH, NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	fd = stat(out, &st);
	unlink(out);
	return fd == 0 && WIFEXITED(status) && !WEXITSTATUS(status)
		   ? (long)st.st_size
		   : -1;
}

static bool bytes_are(GBytes *b, const char *s)
{
	gsize len;
	const void *p = g_bytes_get_data(b, &len);

	return len == strlen(s) && (len == 0 || !memcmp(p, s, len));
}

/* Complete frames: each decodes, with libdbus-1, to what was sent. */
static size_t complete_frames(size_t *total)
{
	struct record *r;
	size_t n = t_frames(&r), good = 0;

	for (size_t i = 0; i < n; i++) {
		struct decoded d;

		if (frame_decode(r[i].data, r[i].len, false, &d) && d.op == 0 &&
		    !strcmp(d.user, "alice") && bytes_are(d.new, PASSWORD))
			good++;
		decoded_free(&d);
	}
	records_free(r, n);
	*total = n;
	return good;
}

static void parallel_logins(void)
{
	size_t n, good;
	int failed = 0, status;

	for (int i = 0; i < PARALLEL; i++)
		if (fork() == 0) {
			login("oo7", "alice");
			_exit(0);
		}
	for (int i = 0; i < PARALLEL; i++)
		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed++;
	good = complete_frames(&n);
	printf("%d parallel processes, one login each: %zu frames arrived, "
	       "%zu complete, %d logins failed\n",
	       PARALLEL, n, good, failed);
}

static void logins_in_a_row(void)
{
	size_t n, good;

	for (int i = 0; i < IN_A_ROW; i++)
		login("oo7", "alice");
	good = complete_frames(&n);
	printf("%d logins in a row: %zu frames arrived, %zu complete\n",
	       IN_A_ROW, n, good);
}

static void hung_daemon(void)
{
	double worst = 0, v[HUNG_LOGINS];

	t_case_teardown(NULL);
	t_case_setup(NULL);
	t_runtime_dir(&t_alice);
	t_listen_as(&t_alice, SOCK, LISTENER_NEVER_ACCEPT);
	for (int i = 0; i < HUNG_LOGINS; i++) {
		double t0 = now_us();

		login("hung", "alice");
		v[i] = now_us() - t0;
		worst = v[i] > worst ? v[i] : worst;
	}
	printf("5 daemon hung (timeout=%d ms), %d logins: median %.0f us, "
	       "worst %.0f us = %.3f x timeout\n",
	       HUNG_TIMEOUT_MS, HUNG_LOGINS, pct(v, HUNG_LOGINS, 0.5), worst,
	       worst / (HUNG_TIMEOUT_MS * 1e3));
}

/* A stand-in where alice may execute it, as suite_enter puts it. */
static void install_program(const char *from, const char *to)
{
	gchar *bytes = NULL;
	gsize len = 0;
	int fd = -1;
	bool ok = (mkdir(FAKE_DAEMON_DIR, 0755) == 0 || errno == EEXIST) &&
		  chmod(FAKE_DAEMON_DIR, 0755) == 0 &&
		  g_file_get_contents(from, &bytes, &len, NULL);

	if (ok)
		fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	ok = ok && fd >= 0 && write(fd, bytes, len) == (ssize_t)len &&
	     fchown(fd, 0, 0) == 0 && fchmod(fd, 0755) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	g_free(bytes);
	if (!ok) {
		fprintf(stderr, "bench: cannot copy %s to %s: %s\n", from, to,
			strerror(errno));
		exit(1);
	}
}

/* A file in alice's runtime folder; valid until the next call. */
static const char *alice_run(const char *leaf)
{
	static char path[128];

	snprintf(path, sizeof(path), "/run/user/%u/%s",
		 (unsigned int)t_alice.uid, leaf);
	return path;
}

/* The pid that the fake daemon wrote as it started, or 0. */
static pid_t fake_daemon_pid(void)
{
	gchar *text = NULL;
	pid_t pid = 0;

	if (g_file_get_contents(alice_run("fake-daemon.pid"), &text, NULL,
				NULL))
		pid = (pid_t)atoi(text);
	g_free(text);
	return pid;
}

/* The frames the fake daemon got; *good counts the changes among them. */
static size_t fake_daemon_frames(size_t *good)
{
	struct record *r = NULL;
	int fd = open(alice_run("fake-daemon.frames"), O_RDONLY | O_CLOEXEC);
	size_t n = fd < 0 ? 0 : records_read(fd, &r);

	if (fd >= 0)
		close(fd);
	n = records_acted_on(r, n); /* not the GVariant try it dropped */
	for (size_t i = 0; i < n; i++) {
		struct decoded d;

		if (frame_decode(r[i].data, r[i].len, false, &d) && d.op == 1 &&
		    !strcmp(d.user, "alice") && bytes_are(d.old, PASSWORD) &&
		    bytes_are(d.new, "new-" PASSWORD))
			(*good)++;
		decoded_free(&d);
	}
	records_free(r, n);
	return n;
}

/*
 * Whether the daemon started for a change is still there (a zombie counts:
 * the module must reap it). One left is our child: stopped and reaped here,
 * while unreaped its pid cannot have been reused.
 */
static bool left_behind(pid_t pid)
{
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	if (waitpid(pid, NULL, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return true;
}

/*
 * passwd with no daemon running: the module starts the fake daemon for the
 * change (daemon=), delivers the change, stops the daemon and reaps it.
 */
static void change_with_a_start(void)
{
	static const char *const leftovers[] = {
	    "fake-daemon.pid", "fake-daemon.frames", "fake-daemon.record",
	    "fake-daemon.tmp", "oo7-pam.sock"};
	double worst = 0, v[STARTED_CHANGES];
	size_t frames = 0, good = 0;
	int left = 0;

	t_case_teardown(NULL);
	t_case_setup(NULL);
	t_runtime_dir(&t_alice);
	for (int i = 0; i < STARTED_CHANGES; i++) {
		pid_t pid;

		v[i] = chauthtok("start");
		worst = v[i] > worst ? v[i] : worst;
		pid = fake_daemon_pid();
		left += pid > 0 && left_behind(pid);
		frames += fake_daemon_frames(&good);
		for (size_t j = 0; j < G_N_ELEMENTS(leftovers); j++)
			unlink(alice_run(leftovers[j]));
	}
	printf("8 change with no daemon running (start, change, stop), %d "
	       "changes: median %.0f us, worst %.0f us; %zu frames arrived, "
	       "%zu complete, %d daemons left\n",
	       STARTED_CHANGES, pct(v, STARTED_CHANGES, 0.5), worst, frames,
	       good, left);
}

/* ---- 9: the first login, the daemon started by the service manager ---- */

/*
 * alice's bus, with no activation file, and the stand-in for her service
 * manager on it, which runs the stand-in daemon for oo7-daemon.service;
 * the bus's pid in *bus, the manager's returned (-1 on failure).
 */
static pid_t manager_up(pid_t *bus, double *took)
{
	char addr[160], ready_fd[] = "3", line[16];
	const char *const env[] = {"PATH=/usr/bin:/bin", NULL};
	int ready[2];
	pid_t pid;
	bool ok;

	*bus = t_bus_up(NULL, took);
	snprintf(addr, sizeof(addr), "unix:path=%s", alice_run("bus"));
	if (*bus < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		const char *const argv[] = {
		    FAKE_MANAGER, "--address",	addr,	  "--exec",
		    FAKE_DAEMON,  "--ready-fd", ready_fd, NULL};

		t_become(&t_alice);
		if (!t_fd_at_3(ready[1]) || chdir("/") < 0)
			_exit(126);
		execve(argv[0], (char *const *)argv, (char *const *)env);
		_exit(127);
	}
	close(ready[1]);
	ok = pid > 0 && t_read_line(ready[0], line, sizeof(line), T_UP_MS);
	close(ready[0]);
	if (!ok && pid > 0)
		t_stop_child(pid);
	return ok ? pid : -1;
}

/* pid runs the stand-in as alice, in this mount namespace. */
static bool is_fake_daemon(pid_t pid)
{
	char path[64], exe[256], ns[64], mine[64];
	ssize_t n, m;
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	n = readlink(path, ns, sizeof(ns));
	m = readlink("/proc/self/ns/mnt", mine, sizeof(mine));
	if (n < 0 || n != m || memcmp(ns, mine, (size_t)n))
		return false;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) < 0 || st.st_uid != t_alice.uid)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		return false;
	exe[n] = '\0';
	return !strcmp(exe, FAKE_DAEMON);
}

/*
 * pid is gone within GONE_MS: reaped by its parent, or by this process,
 * its subreaper here, once it was orphaned.
 */
static bool gone(pid_t pid)
{
	for (int waited = 0; waited < GONE_MS; waited++) {
		if (waitpid(pid, NULL, WNOHANG) == pid ||
		    (kill(pid, 0) < 0 && errno == ESRCH))
			return true;
		poll(NULL, 0, 1);
	}
	return false;
}

/*
 * The processes that alice runs in this mount namespace; with stop, those
 * that run the stand-in are killed and waited for (each counted).
 */
static int processes_of_alice(bool stop)
{
	char path[64], ns[64], mine[64];
	DIR *d = opendir("/proc");
	struct dirent *e;
	struct stat st;
	ssize_t n, m = readlink("/proc/self/ns/mnt", mine, sizeof(mine));
	int count = 0;

	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
		n = readlink(path, ns, sizeof(ns));
		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (n != m || n <= 0 || memcmp(ns, mine, (size_t)n) ||
		    stat(path, &st) < 0 || st.st_uid != t_alice.uid)
			continue;
		if (!stop) {
			count++;
		} else if (is_fake_daemon(pid)) {
			kill(pid, SIGKILL);
			gone(pid);
			count++;
		}
	}
	if (d)
		closedir(d);
	return count;
}

/* The stand-in got exactly one unlock, with PASSWORD, from this process. */
static bool one_unlock_from_here(void)
{
	struct record *r = NULL;
	int fd = open(alice_run("fake-daemon.frames"), O_RDONLY | O_CLOEXEC);
	size_t n = fd < 0 ? 0 : records_read(fd, &r);
	struct decoded d;
	bool ok = false;

	if (fd >= 0)
		close(fd);
	n = records_acted_on(r, n); /* not the GVariant try it dropped */
	if (n == 1 && r[0].uid == 0 && r[0].pid == getpid()) {
		ok = frame_decode(r[0].data, r[0].len, false, &d) &&
		     d.op == 0 && !strcmp(d.user, "alice") &&
		     bytes_are(d.old, "") && bytes_are(d.new, PASSWORD);
		decoded_free(&d);
	}
	records_free(r, n);
	return ok;
}

/*
 * Who started the stand-in, from its record: the manager (1), this process
 * (-1), or someone else (0). The record must also say that it got no
 * --login.
 */
static int started_by(const char *rec, pid_t manager)
{
	long ppid = t_record_number(rec, "ppid");

	if (ppid == getpid())
		return -1;
	return ppid == manager &&
	       g_str_has_prefix(rec, "argv " FAKE_DAEMON "\n");
}

/*
 * The first login of a user whose session bus and service manager are up
 * and have never started the Secret Service: a fresh dbus-daemon and
 * stand-in manager for each login (its own /run/user tmpfs), up before the
 * clock starts, and no daemon running. Timed: the whole login as the user waits
 * for it, pam_start to pam_end, of a stack whose auth keeps the password and
 * whose session has plain auto_start; the module asks the user's service
 * manager to start oo7-daemon.service, waits for the PAM socket and sends
 * the unlock. Then the stand-in (by the pid it wrote, checked to be it),
 * the manager and the bus are stopped, and every process reaped.
 */
static void first_login_through_the_manager(void)
{
	double v[BUS_LOGINS], up[BUS_LOGINS], worst = 0, fastest = 1e12;
	int unlocks = 0, opened = 0, by_manager = 0, by_bench = 0, failed = 0;
	int alive = 0;
	GString *h = g_string_new(NULL);
	gchar *keyring, *hex;

	for (const char *p = PASSWORD; *p; p++)
		g_string_append_printf(h, "%02x", (unsigned char)*p);
	hex = g_string_free(h, FALSE);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (int i = 0; i < BUS_LOGINS; i++) {
		const char *answers[] = {PASSWORD, NULL};
		pam_handle_t *pamh;
		gchar *rec = NULL, *text = NULL;
		pid_t bus, manager, daemon;
		double t0;
		bool ours;
		int rc;

		t_case_teardown(NULL);
		t_case_setup(NULL);
		t_runtime_dir(&t_alice);
		/* the keyring that the stand-in models: locked, PASSWORD's */
		keyring = g_strdup_printf("password=%s\nlocked=1\n", hex);
		if (!g_file_set_contents(alice_run("keyring"), keyring, -1,
					 NULL) ||
		    chown(alice_run("keyring"), t_alice.uid, t_alice.gid) < 0 ||
		    chmod(alice_run("keyring"), 0600) < 0) {
			perror("bench: keyring");
			exit(1);
		}
		g_free(keyring);
		manager = manager_up(&bus, &up[i]);
		if (manager < 0) {
			fprintf(stderr,
				"bench: no bus and manager within %d ms\n",
				T_UP_MS);
			exit(1);
		}

		t0 = now_us();
		pamh = t_pam_start("bus", "alice", answers);
		rc = pam_authenticate(pamh, 0);
		if (rc == PAM_SUCCESS)
			rc = pam_open_session(pamh, 0);
		pam_end(pamh, rc);
		v[i] = now_us() - t0;

		worst = v[i] > worst ? v[i] : worst;
		fastest = v[i] < fastest ? v[i] : fastest;
		failed += rc != PAM_SUCCESS;
		unlocks += one_unlock_from_here();
		g_file_get_contents(alice_run("keyring"), &text, NULL, NULL);
		keyring = g_strdup_printf("password=%s\nlocked=0\n", hex);
		opened += text && !strcmp(text, keyring);
		g_free(keyring);
		g_free(text);
		g_file_get_contents(alice_run("fake-daemon.record"), &rec, NULL,
				    NULL);
		if (rec) {
			int who = started_by(rec, manager);

			by_manager += who == 1;
			by_bench += who == -1;
		}
		g_free(rec);
		daemon = fake_daemon_pid();
		ours = daemon > 0 && is_fake_daemon(daemon);
		if (ours)
			kill(daemon, SIGKILL);
		t_stop_child(manager);
		t_stop_child(bus);
		alive += ours && !gone(daemon);
		/* one that wrote no pid, or another: killed too, and counted */
		alive += processes_of_alice(true);
		while (waitpid(-1, NULL, WNOHANG) > 0) /* orphans */
			;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	alive += processes_of_alice(false);
	g_free(hex);
	printf("9 first login, daemon started by the service manager, %d "
	       "logins: median %.0f us, worst %.0f us, fastest %.0f us; %d "
	       "unlocks arrived, %d keyrings opened; %d daemons children of "
	       "the manager, %d of the bench; %d logins failed, %d processes "
	       "left\n",
	       BUS_LOGINS, pct(v, BUS_LOGINS, 0.5), worst, fastest, unlocks,
	       opened, by_manager, by_bench, failed, alive);
	printf("  each login on a fresh dbus-daemon and manager, up before the "
	       "clock started (not counted: median %.0f us from the bus's fork "
	       "to its address)\n",
	       pct(up, BUS_LOGINS, 0.5));
}

/*
 * RSS growth over RSS_LOGINS logins of one service, after a warm-up: the
 * first few thousand logins of a process grow it once by a few pages (with
 * or without pam_oo7; measured flat from 5,000 to 30,000 logins after).
 */
static long rss_growth(const char *service, long *before)
{
	for (int i = 0; i < RSS_WARMUP; i++)
		login(service, "alice");
	*before = rss_kib();
	for (int i = 0; i < RSS_LOGINS; i++)
		login(service, "alice");
	return rss_kib() - *before;
}

static void memory(void)
{
	long before, grown = rss_growth("oo7", &before);
	long base_before, base_grown = rss_growth("base", &base_before);

	printf("resident memory, %d more logins after %d: with pam_oo7 "
	       "%ld KiB %+ld KiB; without it %ld KiB %+ld KiB\n",
	       RSS_LOGINS, RSS_WARMUP, before, grown, base_before, base_grown);
}

/* The same floor back to back: a listener that never got cold. */
static void warm_floor(const uint8_t *frame, size_t len)
{
	size_t n = ROUNDS * PER_ROUND;

	for (size_t i = 0; i < n; i++)
		samples[FLOOR][i] = run_one(FLOOR, frame, len);
	printf("floor back to back, listener never idle: median %.1f us "
	       "(the interleaved floor above wakes an idle listener, as a "
	       "login does)\n",
	       pct(samples[FLOOR], n, 0.5));
}

int main(void)
{
	static const char stack[] = "auth     required @FIXTURE@\n"
				    "auth     optional @MODULE@ %s\n"
				    "session  optional @MODULE@ %s\n"
				    "session  required pam_permit.so\n"
				    "password required @FIXTURE@\n"
				    "password optional @MODULE@ %s\n";
	static const char dashes[] = "------------------------------------"
				     "------------------------------------";
	char text[1024];
	uint8_t *frame;
	size_t len, n = ROUNDS * PER_ROUND;
	double med[N_VARIANTS];
	int width = 0;

	snprintf(sock_path, sizeof(sock_path), "/run/user/%u/oo7/pam.sock",
		 (unsigned int)t_alice.uid);

	t_sandbox_enter();
	install_program(FAKE_DAEMON_BUILD, FAKE_DAEMON);
	install_program(FAKE_MANAGER_BUILD, FAKE_MANAGER);
	t_case_setup(NULL);
	t_service("base", "auth     required @FIXTURE@\n"
			  "session  required pam_permit.so\n"
			  "password required @FIXTURE@\n");
	snprintf(text, sizeof(text), stack, "", "", "");
	t_service("oo7", text);
	snprintf(text, sizeof(text), stack, "timeout=100", "timeout=100",
		 "timeout=100");
	t_service("hung", text);
	snprintf(text, sizeof(text), stack, "", "auto_start", "");
	t_service("bus", text);
	t_service("start",
		  "password required @FIXTURE@\n"
		  "password optional @MODULE@ daemon=" FAKE_DAEMON "\n");
	t_runtime_dir(&t_alice);
	t_listen((struct listener_cfg){.path = SOCK,
				       .owner_uid = t_alice.uid,
				       .owner_gid = t_alice.gid,
				       .mode = 0600,
				       .run_uid = t_alice.uid,
				       .run_gid = t_alice.gid,
				       .behaviour = LISTENER_CLOSE,
				       .record_fd = -1});
	len = t_expect_frame(&frame, false, 0, "alice", "", 0, PASSWORD,
			     strlen(PASSWORD));
	for (int w = 0; w < 200; w++) /* warm caches and the allocator */
		for (int v = 0; v < N_VARIANTS; v++)
			run_one((enum variant)v, frame, len);
	for (int r = 0; r < ROUNDS; r++)
		for (int v = 0; v < N_VARIANTS; v++)
			for (int i = 0; i < PER_ROUND; i++)
				samples[v][r * PER_ROUND + i] =
				    run_one((enum variant)v, frame, len);
	printf("pam_oo7 benchmark: %zu logins per variant, interleaved in %d "
	       "rounds; microseconds per login\n\n",
	       n, ROUNDS);
	for (int v = 0; v < N_VARIANTS; v++)
		if ((int)strlen(names[v]) > width)
			width = (int)strlen(names[v]);
	printf("| %-*s | %8s | %8s |\n|%.*s|%s|%s|\n", width, "variant",
	       "median", "p90", width + 2, dashes, "----------", "----------");
	for (int v = 0; v < N_VARIANTS; v++) {
		double p90 = pct(samples[v], n, 0.9);

		med[v] = pct(samples[v], n, 0.5);
		printf("| %-*s | %8.1f | %8.1f |\n", width, names[v], med[v],
		       p90);
	}
	printf("\nadded cost, daemon up (2-1): %.1f us = %.2f x floor "
	       "(target <= 3)\n",
	       med[DELIVERED] - med[BASELINE],
	       (med[DELIVERED] - med[BASELINE]) / med[FLOOR]);
	printf("added cost, daemon absent (4-1): %.1f us = %.2f x floor "
	       "(target <= 2)\n",
	       med[ABSENT] - med[BASELINE],
	       (med[ABSENT] - med[BASELINE]) / med[FLOOR]);
	printf("added cost, password change (6b-6a): %.1f us\n",
	       med[CHAUTHTOK_MOD] - med[CHAUTHTOK_BASE]);
	printf("added cost, screen unlock (7b-7a): %.1f us\n",
	       med[SCREEN_MOD] - med[SCREEN_BASE]);
	printf("added cost, unlock through auth alone (7d-7c): %.1f us\n",
	       med[AUTH_ALONE_MOD] - med[AUTH_ALONE_BASE]);
	warm_floor(frame, len);
	free(frame);
	memory();
	printf("pam_oo7.so stripped: %ld bytes (target <= 40960)\n",
	       stripped_size());
	t_case_teardown(NULL);
	t_case_setup(NULL);
	t_runtime_dir(&t_alice);
	t_listen_as(&t_alice, SOCK, LISTENER_CLOSE);
	parallel_logins();
	t_case_teardown(NULL);
	t_case_setup(NULL);
	t_runtime_dir(&t_alice);
	t_listen_as(&t_alice, SOCK, LISTENER_CLOSE);
	logins_in_a_row();
	hung_daemon();
	change_with_a_start();
	first_login_through_the_manager();
	t_case_teardown(NULL);
	return 0;
}
