// SPDX-License-Identifier: MIT
/* The test bench; see harness.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>
#include <time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dbus/dbus.h>
#include <glib.h>

#include "harness.h"

#define MAX_LISTENERS 8
#define SYNC_MARK "pam_oo7-test-sync"

const struct tuser t_alice = {"alice", 61001, 61001};
const struct tuser t_bob = {"bob", 61002, 61002};
const struct tuser t_latin = {"j\xe9r\xf4me", 61003, 61003};
static char long_name[1001];
const struct tuser t_long = {long_name, 61004, 61004};
const struct tuser t_slash = {"a/b", 61005, 61005};
const struct tuser t_dotdot = {"..", 61006, 61006};

static char base[] = "/tmp/pam_oo7-tests.XXXXXX";
static char scratch[256];
static char path_buf[512];
static int records_fd = -1;
static pid_t listeners[MAX_LISTENERS];
static int n_listeners;
static pid_t log_pid;
static int log_file_fd = -1;
static int log_ack_fd = -1;
static int log_send_fd = -1;
static char *logs;
static off_t logs_from;
static int case_no;

static void die(const char *what)
{
	fprintf(stderr, "test bench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

static char *read_file(const char *path)
{
	gchar *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		die(path);
	return text;
}

/* The host's own entries, then the test users. */
static void add_users(const char *host, bool group)
{
	const struct tuser *u[] = {&t_alice, &t_bob,   &t_latin,
				   &t_long,  &t_slash, &t_dotdot};
	GString *s = g_string_new(NULL);
	char *orig = read_file(host);
	char *copy = g_strdup_printf("%s/%s", base, group ? "group" : "passwd");

	g_string_append(s, orig);
	memset(long_name, 'u', sizeof(long_name) - 1);
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (group)
			g_string_append_printf(s, "%s:x:%u:\n", u[i]->name,
					       (unsigned)u[i]->gid);
		else
			g_string_append_printf(s,
					       "%s:x:%u:%u:test user:"
					       "/nonexistent:/bin/sh\n",
					       u[i]->name, (unsigned)u[i]->uid,
					       (unsigned)u[i]->gid);
	/* alice has one supplementary group, for the daemon start. */
	if (group)
		g_string_append(s, "oo7test:x:61100:alice\n");
	/* sshd's privilege separation user, as openssh-server adds it */
	else if (!strstr(orig, "\nsshd:"))
		g_string_append(s, "sshd:x:61199:65534::/run/sshd:"
				   "/usr/sbin/nologin\n");
	write_file(copy, s->str, 0644);
	if (mount(copy, host, "none", MS_BIND, NULL) < 0)
		die(host);
	g_string_free(s, TRUE);
	g_free(orig);
	g_free(copy);
}

/*
 * The packages that the root tier takes from the archive unpacked, not
 * installed (HOSTPKGS_DIR: sudo, opendoas, openssh-server,
 * libpam-gnome-keyring, which installed would add to the host's
 * /etc/pam.d, enable sshd and add their profile to its common-* files):
 * laid over /usr and /etc here, as if installed. Without them, nothing.
 */
static void host_packages(void)
{
	char opts[1200], up[300], work[300];

	if (access(HOSTPKGS_DIR "/usr", F_OK) < 0)
		return;
	snprintf(opts, sizeof(opts), "lowerdir=%s/usr:/usr", HOSTPKGS_DIR);
	if (mount("overlay", "/usr", "overlay", 0, opts) < 0)
		die("an overlay of the unpacked packages on /usr");
	snprintf(up, sizeof(up), "%s/etc-up", base);
	snprintf(work, sizeof(work), "%s/etc-work", base);
	if (mkdir(up, 0755) < 0 || mkdir(work, 0755) < 0)
		die("etc-up");
	snprintf(opts, sizeof(opts),
		 "lowerdir=%s/etc:/etc,upperdir=%s,workdir=%s", HOSTPKGS_DIR,
		 up, work);
	if (mount("overlay", "/etc", "overlay", 0, opts) < 0)
		die("an overlay of the unpacked packages on /etc");
}

/* A /dev of our own, so that /dev/log can be ours. */
static void private_dev(void)
{
	const char *nodes[] = {"null",	 "zero",    "full",
			       "random", "urandom", "tty"};
	char old[300], node[300];

	snprintf(old, sizeof(old), "%s/olddev", base);
	if (mkdir(old, 0755) < 0 ||
	    mount("/dev", old, "none", MS_BIND | MS_REC, NULL) < 0 ||
	    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755") < 0)
		die("private /dev");
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(node, sizeof(node), "/dev/%s", nodes[i]);
		write_file(node, "", 0666);
		snprintf(old, sizeof(old), "%s/olddev/%s", base, nodes[i]);
		if (mount(old, node, "none", MS_BIND, NULL) < 0)
			die(node);
	}
	if (symlink("/proc/self/fd", "/dev/fd") < 0 ||
	    symlink("/proc/self/fd/0", "/dev/stdin") < 0 ||
	    symlink("/proc/self/fd/1", "/dev/stdout") < 0 ||
	    symlink("/proc/self/fd/2", "/dev/stderr") < 0 ||
	    mkdir("/dev/shm", 01777) < 0)
		die("/dev links");
}

/*
 * A child reads /dev/log into a file, so that a logging module never blocks
 * on a full datagram queue; a sync datagram is acknowledged on a pipe once
 * everything before it is in the file.
 */
static void start_log_collector(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
	char file[300], buf[65536];
	int fd, ack[2];
	ssize_t n;

	snprintf(file, sizeof(file), "%s/log", base);
	log_file_fd = open(file, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (log_file_fd < 0 || fd < 0 || pipe2(ack, O_CLOEXEC) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod("/dev/log", 0666) < 0)
		die("/dev/log");
	log_pid = fork();
	if (log_pid < 0)
		die("fork");
	if (log_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ack[0]);
		while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) >= 0) {
			if (n == sizeof(SYNC_MARK) - 1 &&
			    !memcmp(buf, SYNC_MARK, (size_t)n)) {
				if (write(ack[1], "", 1) != 1)
					_exit(1);
				continue;
			}
			buf[n++] = '\n';
			if (write(log_file_fd, buf, (size_t)n) != n)
				_exit(1);
		}
		_exit(0);
	}
	close(fd);
	close(ack[1]);
	log_ack_fd = ack[0];
	log_send_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(log_send_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect /dev/log");
}

/* Async-signal-safe, so that an interrupted run cleans up too. */
static void leave_sandbox(void)
{
	if (log_pid > 0)
		kill(log_pid, SIGKILL);
	umount2(base, MNT_DETACH);
	rmdir(base);
}

static void on_signal(int sig)
{
	leave_sandbox();
	_exit(128 + sig);
}

void t_use_sandbox(const char *dir)
{
	snprintf(base, sizeof(base), "%s", dir);
}

const char *t_sandbox(void)
{
	return base;
}

void t_sandbox_enter(void)
{
	char dir[300];

	if (geteuid() != 0) {
		fprintf(stderr, "the tests run as root: they switch uids, "
				"mount and bind sockets for test users\n");
		exit(2);
	}
	if (!mkdtemp(base))
		die("mkdtemp");
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", base, "tmpfs", 0, "mode=0755") < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID, "mode=0755") < 0 ||
	    mkdir("/run/user", 0755) < 0)
		die("private mounts");
	atexit(leave_sandbox);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	host_packages();
	add_users("/etc/passwd", false);
	add_users("/etc/group", true);
	private_dev();
	start_log_collector();
	snprintf(dir, sizeof(dir), "%s/pam.d", base);
	if (mkdir(dir, 0755) < 0)
		die(dir);
	/* libpam logs each call without a fallback service; give it one. */
	t_service("other", "auth required pam_deny.so\n"
			   "account required pam_deny.so\n"
			   "password required pam_deny.so\n"
			   "session required pam_deny.so\n");
	snprintf(dir, sizeof(dir), "%s/records", base);
	records_fd = open(dir, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (records_fd < 0)
		die(dir);
}

static void sync_logs(void)
{
	char c;

	if (send(log_send_fd, SYNC_MARK, sizeof(SYNC_MARK) - 1, 0) < 0 ||
	    read(log_ack_fd, &c, 1) != 1)
		die("sync /dev/log");
}

const char *t_logs(void)
{
	struct stat st;

	sync_logs();
	free(logs);
	if (fstat(log_file_fd, &st) < 0)
		die("log");
	logs = calloc(1, (size_t)(st.st_size - logs_from) + 1);
	if (pread(log_file_fd, logs, (size_t)(st.st_size - logs_from),
		  logs_from) < 0)
		die("log");
	return logs;
}

int t_case_setup(void **state)
{
	struct stat st;

	(void)state;
	unsetenv("OO7_PAM_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	if (mount("tmpfs", "/run/user", "tmpfs", MS_NOSUID, "mode=0755") < 0)
		die("/run/user");
	snprintf(scratch, sizeof(scratch), "%s/case%d", base, ++case_no);
	if (mkdir(scratch, 0755) < 0)
		die(scratch);
	if (ftruncate(records_fd, 0) < 0)
		die("records");
	sync_logs();
	if (fstat(log_file_fd, &st) < 0)
		die("log");
	logs_from = st.st_size;
	return 0;
}

int t_case_teardown(void **state)
{
	(void)state;
	while (n_listeners)
		listener_stop(listeners[--n_listeners]);
	umount2("/run/user", MNT_DETACH);
	return 0;
}

const char *t_scratch(void)
{
	return scratch;
}

const char *t_path(const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(path_buf, sizeof(path_buf), "%s/", scratch);

	va_start(ap, fmt);
	vsnprintf(path_buf + n, sizeof(path_buf) - (size_t)n, fmt, ap);
	va_end(ap);
	return path_buf;
}

void t_mkdir(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	if (mkdir(path, mode) < 0 || chown(path, uid, gid) < 0 ||
	    chmod(path, mode) < 0)
		die(path);
}

void t_runtime_dir(const struct tuser *u)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)u->uid);
	t_mkdir(dir, u->uid, u->gid, 0700);
	strcat(dir, "/oo7");
	t_mkdir(dir, u->uid, u->gid, 0700);
}

pid_t t_listen(struct listener_cfg cfg)
{
	pid_t pid;

	cfg.record_fd = records_fd;
	if (n_listeners == MAX_LISTENERS)
		die("too many listeners");
	pid = listener_start(&cfg);
	if (pid < 0)
		die("listener");
	listeners[n_listeners++] = pid;
	return pid;
}

pid_t t_listen_as(const struct tuser *u, const char *path,
		  enum listener_behaviour b)
{
	return t_listen((struct listener_cfg){
	    .path = path,
	    .owner_uid = u->uid,
	    .owner_gid = u->gid,
	    .mode = 0600,
	    .run_uid = u->uid,
	    .run_gid = u->gid,
	    .behaviour = b,
	    .reply_ok = true,
	});
}

size_t t_frames(struct record **out)
{
	return records_acted_on(*out, records_read(records_fd, out));
}

size_t t_frames_all(struct record **out)
{
	return records_read(records_fd, out);
}

static gchar *replace(const char *text, const char *from, const char *to)
{
	gchar **parts = g_strsplit(text, from, -1);
	gchar *joined = g_strjoinv(to, parts);

	g_strfreev(parts);
	return joined;
}

void t_service(const char *name, const char *stack)
{
	gchar *a = replace(stack, "@MODULE@", MODULE_PATH);
	gchar *b = replace(a, "@FIXTURE@", FIXTURE_PATH);
	char file[400];

	snprintf(file, sizeof(file), "%s/pam.d/%s", base, name);
	write_file(file, b, 0644);
	g_free(a);
	g_free(b);
}

const char *t_confdir(void)
{
	static char dir[300];

	snprintf(dir, sizeof(dir), "%s/pam.d", base);
	return dir;
}

void t_preload(const char *lib)
{
	const char *san = getenv("OO7_TEST_PRELOAD");
	char *all =
	    g_strjoin(":", san && *san ? san : "", lib ? lib : "", NULL);

	g_strstrip(g_strdelimit(all, ":", ' '));
	if (*all)
		setenv("LD_PRELOAD", all, 1);
	g_free(all);
}

void t_bind_pam_d(void)
{
	if (mount(t_confdir(), "/etc/pam.d", "none", MS_BIND, NULL) < 0)
		die("/etc/pam.d");
}

static int converse(int n, const struct pam_message **msg,
		    struct pam_response **resp, void *data)
{
	const char *const **next = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (!*next || !**next) {
			free(r);
			return PAM_CONV_ERR;
		}
		r[i].resp = strdup(*(*next)++);
	}
	*resp = r;
	return PAM_SUCCESS;
}

static const char *const *conv_next;
static struct pam_conv conv = {converse, &conv_next};

pam_handle_t *t_pam_start(const char *service, const char *user,
			  const char *const *answers)
{
	pam_handle_t *pamh = NULL;

	conv_next = answers;
	if (pam_start_confdir(service, user, &conv, t_confdir(), &pamh) !=
	    PAM_SUCCESS)
		die("pam_start_confdir");
	return pamh;
}

int t_login(const char *service, const char *user, const char *password,
	    int *auth_rc)
{
	const char *answers[] = {password, NULL};
	pam_handle_t *pamh = t_pam_start(service, user, answers);
	int a, r;

	a = pam_authenticate(pamh, 0);
	r = pam_open_session(pamh, 0);
	pam_end(pamh, r);
	if (auth_rc)
		*auth_rc = a;
	return r;
}

int t_chauthtok(const char *service, const char *user, const char *old,
		const char *new)
{
	const char *answers[] = {old, new, new, NULL};
	pam_handle_t *pamh = t_pam_start(service, user, answers);
	int r;

	r = pam_chauthtok(pamh, 0);
	pam_end(pamh, r);
	return r;
}

size_t t_expect_frame(uint8_t **out, bool gvariant, uint8_t op,
		      const char *user, const void *old, size_t old_len,
		      const void *new, size_t new_len)
{
	const uint8_t *body;
	size_t len;
	char *blob = NULL;
	GVariant *v = NULL;
	DBusMessage *m = NULL;

	if (gvariant) {
		v = g_variant_ref_sink(
		    g_variant_new("(ys@ay@ay)", op, user,
				  g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
							    old, old_len, 1),
				  g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
							    new, new_len, 1)));
		body = g_variant_get_data(v);
		len = g_variant_get_size(v);
	} else {
		int blob_len;
		uint32_t body_len;

		m = dbus_message_new_signal("/t", "t.t", "t");
		if (!dbus_message_append_args(
			m, DBUS_TYPE_BYTE, &op, DBUS_TYPE_STRING, &user,
			DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &old, (int)old_len,
			DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &new, (int)new_len,
			DBUS_TYPE_INVALID) ||
		    !dbus_message_marshal(m, &blob, &blob_len) ||
		    blob[0] != 'l')
			die("libdbus");
		memcpy(&body_len, blob + 4, 4);
		len = body_len;
		body = (const uint8_t *)blob + blob_len - len;
	}
	*out = malloc(len + 4);
	for (int i = 0; i < 4; i++)
		(*out)[i] = (uint8_t)(len >> (8 * i));
	memcpy(*out + 4, body, len);
	if (v)
		g_variant_unref(v);
	if (m) {
		dbus_free(blob);
		dbus_message_unref(m);
	}
	return len + 4;
}

/* ---- children, and the session bus ---- */

void t_become(const struct tuser *u)
{
	/* The death signal last: a change of uid clears it. */
	if (setgroups(1, &u->gid) < 0 ||
	    setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(126);
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bool t_read_line(int fd, char *line, size_t size, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	double end = mono_ms() + ms, left;
	size_t n = 0;

	while (n < size - 1 && (left = end - mono_ms()) > 0 &&
	       poll(&p, 1, (int)left + 1) == 1 && read(fd, line + n, 1) == 1)
		if (line[n++] == '\n')
			break;
	line[n] = '\0';
	return n && line[n - 1] == '\n';
}

bool t_fd_at_3(int fd)
{
	return fd == 3 ? fcntl(3, F_SETFD, 0) == 0 : dup2(fd, 3) == 3;
}

void t_stop_child(pid_t pid)
{
	pid_t r;

	kill(pid, SIGTERM);
	for (int waited = 0; waited < 1000; waited++) {
		r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		poll(NULL, 0, 1);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

long t_record_number(const char *text, const char *key)
{
	gchar *needle = g_strdup_printf("\n%s ", key);
	const char *at = strstr(text, needle);
	long v = at ? strtol(at + strlen(needle), NULL, 10) : -1;

	g_free(needle);
	return v;
}

/* The bus's configuration and service folder, in this case's folder. */
static bool bus_files(const char *bus, const char *service)
{
	gchar *text = g_strdup_printf(
	    "<busconfig><type>session</type><listen>unix:path=%s</listen>"
	    "<servicedir>%s</servicedir><auth>EXTERNAL</auth>"
	    "<policy context=\"default\"><allow send_destination=\"*\" "
	    "eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>"
	    "<allow own=\"*\"/></policy></busconfig>\n",
	    bus, t_path("services"));
	bool ok = g_file_set_contents(t_path("bus.conf"), text, -1, NULL);

	g_free(text);
	t_mkdir(t_path("services"), 0, 0, 0755);
	return ok && (!service ||
		      g_file_set_contents(
			  t_path("services/org.freedesktop.secrets.service"),
			  service, -1, NULL));
}

pid_t t_bus_up(const char *service, double *took_us)
{
	char conf[300], line[256], bus[128], xdg[128], want[160];
	const char *const envp[] = {"PATH=/usr/bin:/bin", xdg, NULL};
	char *argv[] = {(char *)T_DBUS_DAEMON,	     (char *)"--nofork",
			(char *)"--nopidfile",	     conf,
			(char *)"--print-address=3", NULL};
	int addr[2], log;
	double t0;
	pid_t pid;
	bool ok;

	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=/run/user/%u",
		 (unsigned int)t_alice.uid);
	snprintf(bus, sizeof(bus), "/run/user/%u/bus",
		 (unsigned int)t_alice.uid);
	snprintf(want, sizeof(want), "unix:path=%s,guid=", bus);
	snprintf(conf, sizeof(conf), "--config-file=%s", t_path("bus.conf"));
	log = open(t_path("bus.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		   0644);
	if (!bus_files(bus, service) || log < 0 || pipe2(addr, O_CLOEXEC) < 0)
		die("the bus's files");
	t0 = mono_ms();
	pid = fork();
	if (pid == 0) {
		t_become(&t_alice);
		if (dup2(log, 2) != 2 || !t_fd_at_3(addr[1]) || chdir("/") < 0)
			_exit(126);
		execve(T_DBUS_DAEMON, argv, (char *const *)envp);
		_exit(127);
	}
	close(addr[1]);
	close(log);
	ok = pid > 0 && t_read_line(addr[0], line, sizeof(line), T_UP_MS) &&
	     g_str_has_prefix(line, want);
	if (took_us)
		*took_us = (mono_ms() - t0) * 1e3;
	close(addr[0]);
	if (!ok && pid > 0)
		t_stop_child(pid);
	return ok ? pid : -1;
}
