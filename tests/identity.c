// SPDX-License-Identifier: MIT
/*
 * What the host holds around one login through the module: its groups and
 * its capabilities (README, "Security model"). It needs libc and libpam
 * only, so that it builds for i386 as easily as for the host
 * (tests/identity.mk):
 *
 *	identity MODULE FIXTURE
 *
 * As root, in a private mount namespace where alice exists (uid 61001; her
 * primary group 161001 is above 65535, as sssd and AD give, so that a 16-bit
 * setgroups cuts it), a host that holds the groups 4 24 100000 70000, fsuid
 * and fsgid 0, and no CAP_DAC_OVERRIDE in its effective set logs alice in:
 * auth with FIXTURE (it sets PAM_AUTHTOK) then MODULE, session with MODULE.
 * Her listener, run as her at /run/user/61001/oo7-pam.sock (mode 0600),
 * records who connects and what it is sent. One line per check:
 *
 *	a) the host's groups come back exactly;
 *	b) the module connects as uid 0 holding alice's primary group as its
 *	   only group (SO_PEERGROUPS is taken at connect);
 *	c) fsuid and fsgid come back;
 *	d) the capability sets come back;
 *	e) the unlock frame for alice arrives;
 *
 * then "N passed, N failed". Exits 1 when a check fails, 2 when the bench
 * cannot be set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <security/pam_appl.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define ALICE "alice"
#define ALICE_UID 61001
#define ALICE_GID 161001
#define RUNTIME_DIR "/run/user/61001"
#define SOCKET_PATH RUNTIME_DIR "/oo7-pam.sock"
#define PASSWORD "hunter2"
#define SERVICE "oo7-identity"
/* Every wait is bounded by this; the module's own timeout is 2 s. */
#define WAIT_MS 5000
#define MAX_GROUPS 64
#define FRAME_MAX 512

static const gid_t host_groups[] = {4, 24, 100000, 70000};

/* What the host holds; taken before and after the login. */
struct identity {
	int ngroups;
	gid_t groups[MAX_GROUPS];
	uid_t fsuid;
	gid_t fsgid;
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
};

/* What the listener saw; one write on a pipe (less than PIPE_BUF). */
struct sighting {
	uid_t uid;
	int ngroups;
	gid_t groups[MAX_GROUPS];
	size_t len;
	uint8_t frame[FRAME_MAX];
};

static char base[] = "/tmp/oo7-identity-XXXXXX";
static int passed, failed;

/* ---- bench ---- */

static void die(const char *what)
{
	fprintf(stderr, "identity: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0)
		die(path);
}

/* Lays text over a host file, in this mount namespace only. */
static void cover_file(const char *host, const char *name, const char *text)
{
	char copy[256];

	snprintf(copy, sizeof(copy), "%s/%s", base, name);
	write_file(copy, text);
	if (mount(copy, host, NULL, MS_BIND, NULL) < 0)
		die(host);
}

static void leave_sandbox(void)
{
	umount2(base, MNT_DETACH);
	rmdir(base);
}

/*
 * A private mount namespace with alice in /etc/passwd and /etc/group (read
 * with "files" only), a fresh /run and her runtime folder, as pam_systemd
 * makes it.
 */
static void enter_sandbox(void)
{
	char passwd[256], group[128];

	if (!mkdtemp(base))
		die("mkdtemp");
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", base, "tmpfs", 0, "mode=0755") < 0)
		die("private mounts");
	atexit(leave_sandbox);
	if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID, "mode=0755") < 0 ||
	    mkdir("/run/user", 0755) < 0 || mkdir(RUNTIME_DIR, 0700) < 0 ||
	    chown(RUNTIME_DIR, ALICE_UID, ALICE_GID) < 0)
		die(RUNTIME_DIR);
	snprintf(passwd, sizeof(passwd),
		 "root:x:0:0:root:/root:/bin/sh\n"
		 "%s:x:%d:%d:test user:/nonexistent:/bin/sh\n",
		 ALICE, ALICE_UID, ALICE_GID);
	snprintf(group, sizeof(group), "root:x:0:\n%s:x:%d:\n", ALICE,
		 ALICE_GID);
	cover_file("/etc/passwd", "passwd", passwd);
	cover_file("/etc/group", "group", group);
	if (access("/etc/nsswitch.conf", F_OK) == 0)
		cover_file("/etc/nsswitch.conf", "nsswitch.conf",
			   "passwd: files\ngroup: files\nshadow: files\n");
}

/* The service: FIXTURE sets PAM_AUTHTOK, MODULE keeps it and sends it. */
static void write_service(const char *module, const char *fixture)
{
	char path[256], text[1024];

	snprintf(path, sizeof(path), "%s/pam.d", base);
	if (mkdir(path, 0755) < 0)
		die(path);
	snprintf(path, sizeof(path), "%s/pam.d/%s", base, SERVICE);
	snprintf(text, sizeof(text),
		 "auth required %s\n"
		 "auth optional %s\n"
		 "session optional %s\n",
		 fixture, module, module);
	write_file(path, text);
}

/* ---- alice's listener ---- */

/* Waits at most WAIT_MS for fd to be readable; false on a timeout. */
static bool wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;

	do
		r = poll(&p, 1, WAIT_MS);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Reads the length prefix and as much of the body as it announces. */
static void read_frame(int fd, struct sighting *s)
{
	size_t want = 4;
	ssize_t n;

	while (s->len < want && wait_readable(fd)) {
		n = read(fd, s->frame + s->len, want - s->len);
		if (n <= 0)
			return;
		s->len += (size_t)n;
		if (s->len == 4 && get_le32(s->frame) < FRAME_MAX - 4)
			want = 4 + get_le32(s->frame);
	}
}

/* Takes the peer's uid and groups, as the kernel kept them at connect. */
static void read_peer(int fd, struct sighting *s)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	s->uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		s->uid = cred.uid;
	len = sizeof(s->groups);
	s->ngroups = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, s->groups, &len) == 0)
		s->ngroups = (int)(len / sizeof(gid_t));
}

/* The child: the daemon as it is, run by alice; one connection. */
static void listen_as_alice(int ready, int report)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX,
				 .sun_path = SOCKET_PATH};
	struct sighting s = {0};
	gid_t gid = ALICE_GID;
	int fd, c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(ALICE_UID, ALICE_UID, ALICE_UID) < 0)
		_exit(3);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(SOCKET_PATH, 0600) < 0 || listen(fd, 4) < 0 ||
	    write(ready, "", 1) != 1 || !wait_readable(fd))
		_exit(3);
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		_exit(3);
	read_peer(c, &s);
	read_frame(c, &s);
	/* Report before closing: the module returns once we close (0.6). */
	if (write(report, &s, sizeof(s)) != sizeof(s))
		_exit(3);
	_exit(0);
}

/* Forks the listener; returns once it listens, *report its pipe. */
static pid_t start_listener(int *report)
{
	int ready[2], rep[2];
	pid_t pid;
	char c;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(ready[0]);
		close(rep[0]);
		listen_as_alice(ready[1], rep[1]);
	}
	close(ready[1]);
	close(rep[1]);
	errno = ETIMEDOUT;
	if (!wait_readable(ready[0]) || read(ready[0], &c, 1) != 1)
		die("start the listener");
	close(ready[0]);
	*report = rep[0];
	return pid;
}

/* What the listener saw, if it saw a connection; false otherwise. */
static bool read_sighting(int fd, struct sighting *s)
{
	return wait_readable(fd) && read(fd, s, sizeof(*s)) == sizeof(*s);
}

/* ---- the host ---- */

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return (x > y) - (x < y);
}

static void capture(struct identity *id)
{
	struct __user_cap_header_struct h = {.version =
						 _LINUX_CAPABILITY_VERSION_3};

	id->ngroups = getgroups(MAX_GROUPS, id->groups);
	id->fsuid = (uid_t)setfsuid((uid_t)-1);
	id->fsgid = (gid_t)setfsgid((gid_t)-1);
	if (id->ngroups < 0 || syscall(SYS_capget, &h, id->caps) < 0)
		die("read the host's identity");
	qsort(id->groups, (size_t)id->ngroups, sizeof(gid_t), cmp_gid);
}

/* The host: groups above 65535, and CAP_DAC_OVERRIDE not in effect. */
static void arrange_host(void)
{
	struct __user_cap_header_struct h = {.version =
						 _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	size_t n = sizeof(host_groups) / sizeof(host_groups[0]);

	if (setgroups(n, host_groups) < 0)
		die("setgroups");
	if (syscall(SYS_capget, &h, d) < 0)
		die("capget");
	d[CAP_TO_INDEX(CAP_DAC_OVERRIDE)].effective &=
	    ~CAP_TO_MASK(CAP_DAC_OVERRIDE);
	if (syscall(SYS_capset, &h, d) < 0)
		die("capset");
}

/* ---- the login ---- */

static int converse(int n, const struct pam_message **msg,
		    struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = strdup(PASSWORD);
	*resp = r;
	return PAM_SUCCESS;
}

struct login {
	int auth_rc;
	int session_rc;
	struct identity after;
};

/* authenticate and open_session; the host's identity right after. */
static void log_alice_in(struct login *l)
{
	const struct pam_conv conv = {.conv = converse};
	pam_handle_t *pamh = NULL;
	char confdir[256];

	snprintf(confdir, sizeof(confdir), "%s/pam.d", base);
	errno = EINVAL;
	if (pam_start_confdir(SERVICE, ALICE, &conv, confdir, &pamh) !=
	    PAM_SUCCESS)
		die("pam_start_confdir");
	l->auth_rc = pam_authenticate(pamh, 0);
	l->session_rc = pam_open_session(pamh, 0);
	capture(&l->after);
	pam_end(pamh, l->session_rc);
}

/* ---- checks ---- */

static void report(bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s: ", ok ? "PASS" : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (ok)
		passed++;
	else
		failed++;
}

/* "4 24 70000 100000" into buf. */
static const char *show_groups(char *buf, size_t size, const gid_t *g, int n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%u",
					 i ? " " : "", (unsigned int)g[i]);
	return n > 0 ? buf : "none";
}

/* "eff 000001ffffffffdd prm ... inh ...", as /proc/PID/status has them. */
static const char *show_caps(char *buf, size_t size, const struct identity *id)
{
	const struct __user_cap_data_struct *c = id->caps;

	snprintf(buf, size, "eff %08x%08x prm %08x%08x inh %08x%08x",
		 c[1].effective, c[0].effective, c[1].permitted, c[0].permitted,
		 c[1].inheritable, c[0].inheritable);
	return buf;
}

static void check_groups(const struct identity *b, const struct identity *a)
{
	char x[512], y[512];
	bool ok =
	    a->ngroups == b->ngroups &&
	    !memcmp(a->groups, b->groups, (size_t)a->ngroups * sizeof(gid_t));

	show_groups(x, sizeof(x), b->groups, b->ngroups);
	show_groups(y, sizeof(y), a->groups, a->ngroups);
	if (ok)
		report(ok, "a) host_groups_come_back", "%s", x);
	else
		report(ok, "a) host_groups_come_back", "before %s, after %s", x,
		       y);
}

static void check_peer(bool seen, const struct sighting *s)
{
	char x[512];
	bool ok =
	    seen && s->uid == 0 && s->ngroups == 1 && s->groups[0] == ALICE_GID;

	if (!seen) {
		report(false, "b) peer_holds_only_primary_group",
		       "no connection");
		return;
	}
	show_groups(x, sizeof(x), s->groups, s->ngroups);
	report(ok, "b) peer_holds_only_primary_group",
	       "peer uid %d, groups %s (want uid 0, groups %d)", (int)s->uid, x,
	       ALICE_GID);
}

static void check_fsids(const struct identity *b, const struct identity *a)
{
	report(a->fsuid == b->fsuid && a->fsgid == b->fsgid,
	       "c) fsuid_fsgid_come_back", "before %u/%u, after %u/%u",
	       (unsigned int)b->fsuid, (unsigned int)b->fsgid,
	       (unsigned int)a->fsuid, (unsigned int)a->fsgid);
}

static void check_caps(const struct identity *b, const struct identity *a)
{
	char x[128], y[128];
	bool ok = !memcmp(a->caps, b->caps, sizeof(a->caps));

	show_caps(x, sizeof(x), b);
	show_caps(y, sizeof(y), a);
	if (ok)
		report(ok, "d) capabilities_come_back", "%s", x);
	else
		report(ok, "d) capabilities_come_back", "before %s, after %s",
		       x, y);
}

static void check_frame(bool seen, const struct sighting *s,
			const struct login *l)
{
	bool ok = seen && s->len >= 4 && get_le32(s->frame) == s->len - 4 &&
		  memmem(s->frame, s->len, ALICE, sizeof(ALICE));

	report(ok, "e) frame_arrives",
	       "%zu bytes (authenticate: %s; open_session: %s)",
	       seen ? s->len : 0, pam_strerror(NULL, l->auth_rc),
	       pam_strerror(NULL, l->session_rc));
}

int main(int argc, char **argv)
{
	struct identity before = {0};
	struct login l = {0};
	struct sighting s = {0};
	int report_fd;
	bool seen;
	pid_t pid;

	if (argc != 3 || geteuid() != 0) {
		fprintf(stderr, "usage, as root: %s MODULE FIXTURE\n", argv[0]);
		return 2;
	}
	unsetenv("OO7_PAM_SOCKET");
	enter_sandbox();
	write_service(argv[1], argv[2]);
	pid = start_listener(&report_fd);
	arrange_host();
	capture(&before);
	log_alice_in(&l);
	seen = read_sighting(report_fd, &s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	check_groups(&before, &l.after);
	check_peer(seen, &s);
	check_fsids(&before, &l.after);
	check_caps(&before, &l.after);
	check_frame(seen, &s, &l);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
