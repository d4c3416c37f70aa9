// SPDX-License-Identifier: MIT
/*
 * pam_oo7 - unlock the user's oo7 keyrings with the login password, and
 * re-key them when that password changes.
 *
 * auth:     keeps a private copy of PAM_AUTHTOK (set by pam_unix or a module
 *           like it earlier in the stack) with pam_set_data, because libpam
 *           wipes PAM_AUTHTOK when pam_authenticate returns.
 * session:  sends that copy in an "unlock" frame to the user's oo7-daemon
 *           over its Unix socket, then wipes it.
 * password: on PAM_UPDATE_AUTHTOK, sends a "change password" frame with
 *           PAM_OLDAUTHTOK and PAM_AUTHTOK.
 * account:  not provided.
 *
 * It never prompts, never fails or blocks a login past timeout= (it returns
 * PAM_IGNORE from auth and setcred, PAM_SUCCESS from session and password),
 * never logs a password, and gives one only to a listener whose SO_PEERCRED
 * is the PAM user's uid, reached with the user's own filesystem rights.
 * With auto_start, when no daemon answers, it starts one as the user (a
 * double fork: the host keeps no child), the password on its stdin.
 *
 *	auth     optional pam_oo7.so
 *	session  optional pam_oo7.so auto_start
 *	password optional pam_oo7.so
 *
 * The wire format is D-Bus (default) or GVariant marshalling of (ysayay),
 * preceded by its length as a little-endian u32; see pam_oo7(8).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <security/pam_modutil.h>

#define OO7_EXPORT __attribute__((visibility("default")))

#define OO7_STASH_KEY "pam_oo7_authtok"
#define OO7_ENV_SOCKET "OO7_PAM_SOCKET"
#define OO7_TIMEOUT_DEFAULT_MS 2000U
#define OO7_TIMEOUT_MAX_MS 60000U
/* The D-Bus specification caps an array at 64 MiB; GVariant takes the same. */
#define OO7_FIELD_MAX (64U << 20)
/* A reply is (bs) with a short message: read no more than this of it. */
#define OO7_REPLY_MAX 4096U
#define OO7_LOG_MSG_MAX 200U
/* What reach_daemon says when no listener answers: absent, or refused. */
#define OO7_NO_DAEMON PAM_AUTHINFO_UNAVAIL
/* While a daemon starts, how often to look for its socket. */
#define OO7_START_POLL_NS 10000000U
#define OO7_SAFE_PATH "/usr/local/bin:/usr/bin:/bin"

enum oo7_op {
	OO7_OP_UNLOCK = 0,
	OO7_OP_CHANGE = 1,
};

enum oo7_encoding {
	OO7_ENC_DBUS,
	OO7_ENC_GVARIANT,
};

struct oo7_opts {
	bool debug;
	bool auto_start;
	const char *socket;
	unsigned int timeout_ms;
	enum oo7_encoding encoding;
	const char *only_if;
	const char *daemon;
};

/* The filesystem identity of the host, kept while we borrow the user's. */
struct oo7_creds {
	bool switched;
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t *groups;
};

/* A frame on the heap; it holds secrets, so it is wiped before it is freed. */
struct oo7_frame {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* ---- logging ---- */

static void debug_log(pam_handle_t *pamh, const struct oo7_opts *o,
		      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void debug_log(pam_handle_t *pamh, const struct oo7_opts *o,
		      const char *fmt, ...)
{
	va_list ap;

	if (!o->debug)
		return;
	va_start(ap, fmt);
	pam_vsyslog(pamh, LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static const char *op_name(enum oo7_op op)
{
	return op == OO7_OP_UNLOCK ? "unlock" : "change password";
}

/* ---- options ---- */

/* The value of "name=value", or NULL when arg is another option. */
static const char *opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) || arg[n] != '=')
		return NULL;
	return arg + n + 1;
}

static bool parse_timeout(const char *s, unsigned int *ms)
{
	char *end;
	unsigned long v;

	/* strtoul would take "-1" and " 5"; a timeout is digits only. */
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > OO7_TIMEOUT_MAX_MS)
		return false;
	*ms = (unsigned int)v;
	return true;
}

static bool parse_encoding(const char *s, enum oo7_encoding *enc)
{
	if (!strcmp(s, "dbus"))
		*enc = OO7_ENC_DBUS;
	else if (!strcmp(s, "gvariant"))
		*enc = OO7_ENC_GVARIANT;
	else
		return false;
	return true;
}

static bool parse_socket(const char *s, const char **path)
{
	/* A relative path would depend on the host's cwd. */
	if (s[0] != '/' ||
	    strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return false;
	*path = s;
	return true;
}

static bool parse_only_if(const char *s, const char **list)
{
	if (!*s)
		return false;
	*list = s;
	return true;
}

static bool parse_daemon(const char *s, const char **path)
{
	if (s[0] != '/')
		return false;
	*path = s;
	return true;
}

/* Applies one argument; false when it is unknown or its value is invalid. */
static bool parse_one(struct oo7_opts *o, const char *arg)
{
	const char *v;

	if (!strcmp(arg, "debug"))
		o->debug = true;
	else if (!strcmp(arg, "auto_start"))
		o->auto_start = true;
	else if ((v = opt_value(arg, "socket")))
		return parse_socket(v, &o->socket);
	else if ((v = opt_value(arg, "timeout")))
		return parse_timeout(v, &o->timeout_ms);
	else if ((v = opt_value(arg, "encoding")))
		return parse_encoding(v, &o->encoding);
	else if ((v = opt_value(arg, "only_if")))
		return parse_only_if(v, &o->only_if);
	else if ((v = opt_value(arg, "daemon")))
		return parse_daemon(v, &o->daemon);
	else
		return false;
	return true;
}

/* Pointers in *o point into argv, which libpam keeps for the whole call. */
static void parse_opts(pam_handle_t *pamh, int argc, const char **argv,
		       struct oo7_opts *o)
{
	*o = (struct oo7_opts){
	    .timeout_ms = OO7_TIMEOUT_DEFAULT_MS,
	    .encoding = OO7_ENC_DBUS,
	};
	for (int i = 0; i < argc; i++)
		if (!parse_one(o, argv[i]))
			pam_syslog(pamh, LOG_ERR,
				   "Ignoring unknown or invalid option: %s",
				   argv[i]);
}

/* True when only_if= is unset or names the PAM service of this handle. */
static bool service_wanted(pam_handle_t *pamh, const struct oo7_opts *o)
{
	const void *item = NULL;
	const char *service, *p, *end;
	size_t n;

	if (!o->only_if)
		return true;
	if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || !item)
		return false;
	service = item;
	n = strlen(service);
	for (p = o->only_if; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ',');
		if ((size_t)(end - p) == n && !strncmp(p, service, n))
			return true;
	}
	debug_log(pamh, o, "Service %s is not in only_if=%s", service,
		  o->only_if);
	return false;
}

/* ---- secrets ---- */

static void wipe_string(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* pam_set_data cleanup: runs on pam_end, on replacement and on drop. */
static void cleanup_stash(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)status;
	wipe_string(data);
}

static void drop_stash(pam_handle_t *pamh)
{
	pam_set_data(pamh, OO7_STASH_KEY, NULL, NULL);
}

/*
 * Keeps a copy of PAM_AUTHTOK for open_session. Returns PAM_SUCCESS when one
 * was kept, PAM_IGNORE when there was none, or PAM_BUF_ERR.
 */
static int stash_authtok(pam_handle_t *pamh)
{
	const void *tok = NULL;
	char *copy;
	int r;

	r = pam_get_item(pamh, PAM_AUTHTOK, &tok);
	if (r != PAM_SUCCESS || !tok) {
		pam_syslog(pamh, LOG_NOTICE,
			   "No password to unlock the keyring with: list "
			   "pam_oo7 after the module that reads it, such as "
			   "pam_unix");
		return PAM_IGNORE;
	}
	copy = strdup(tok);
	if (!copy) {
		pam_syslog(pamh, LOG_CRIT, "Failed to copy the password: %m");
		return PAM_BUF_ERR;
	}
	r = pam_set_data(pamh, OO7_STASH_KEY, copy, cleanup_stash);
	if (r != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_ERR, "Failed to keep the password: %s",
			   pam_strerror(pamh, r));
		wipe_string(copy);
	}
	return r;
}

/* ---- user ---- */

/*
 * Strict UTF-8, as a D-Bus or GVariant string must be, and no control
 * character: a user name is logged, and a newline in it would forge lines.
 */
static bool valid_user_name(const unsigned char *s)
{
	while (*s) {
		unsigned int c = *s++, n, cp, min;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		for (; n; n--, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*s & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

/*
 * Finds the PAM user and their passwd entry (owned by libpam). Returns
 * PAM_SUCCESS, or PAM_IGNORE when there is no user the daemon could take.
 */
static int get_user(pam_handle_t *pamh, const char **user, struct passwd **pw)
{
	const void *item = NULL;

	if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || !item ||
	    !*(const char *)item) {
		pam_syslog(pamh, LOG_ERR, "Failed to get the user name");
		return PAM_IGNORE;
	}
	*user = item;
	if (!valid_user_name(item)) {
		pam_syslog(pamh, LOG_WARNING,
			   "User name is not valid UTF-8 or holds a control "
			   "character; nothing sent");
		return PAM_IGNORE;
	}
	*pw = pam_modutil_getpwnam(pamh, *user);
	if (!*pw) {
		pam_syslog(pamh, LOG_ERR, "Failed to look up user %s", *user);
		return PAM_IGNORE;
	}
	return PAM_SUCCESS;
}

/* ---- frame ---- */

static void put_bytes(struct oo7_frame *f, const void *p, size_t n)
{
	if (n)
		memcpy(f->data + f->len, p, n);
	f->len += n;
}

static void put_uint(struct oo7_frame *f, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		f->data[f->len++] = (uint8_t)(v >> (8 * i));
}

/* D-Bus alignment counts from the start of the body, after the prefix. */
static void put_pad4(struct oo7_frame *f)
{
	while ((f->len - 4) % 4)
		f->data[f->len++] = 0;
}

static void put_dbus_array(struct oo7_frame *f, const char *s, size_t n,
			   bool nul)
{
	put_pad4(f);
	put_uint(f, n, 4);
	put_bytes(f, s, n + nul);
}

static void encode_dbus(struct oo7_frame *f, enum oo7_op op, const char *user,
			const char *old, const char *new)
{
	f->len = 4;
	put_uint(f, op, 1);
	put_dbus_array(f, user, strlen(user), true);
	put_dbus_array(f, old, strlen(old), false);
	put_dbus_array(f, new, strlen(new), false);
}

/* GVariant framing offsets are as wide as the whole body needs. */
static size_t gvariant_offset_size(size_t content, size_t n_offsets)
{
	if (content + n_offsets <= UINT8_MAX)
		return 1;
	if (content + 2 * n_offsets <= UINT16_MAX)
		return 2;
	return 4;
}

static void encode_gvariant(struct oo7_frame *f, enum oo7_op op,
			    const char *user, const char *old, const char *new)
{
	size_t user_end, old_end, width;

	f->len = 4;
	put_uint(f, op, 1);
	put_bytes(f, user, strlen(user) + 1);
	user_end = f->len - 4;
	put_bytes(f, old, strlen(old));
	old_end = f->len - 4;
	put_bytes(f, new, strlen(new));
	width = gvariant_offset_size(f->len - 4, 2);
	put_uint(f, old_end, width);
	put_uint(f, user_end, width);
}

/*
 * Builds the length-prefixed frame in f (freed with free_frame). Returns
 * PAM_SUCCESS, PAM_IGNORE when a field is too long, or PAM_BUF_ERR.
 */
static int encode_frame(pam_handle_t *pamh, const struct oo7_opts *o,
			enum oo7_op op, const char *user, const char *old,
			const char *new, struct oo7_frame *f)
{
	size_t u = strlen(user), a = strlen(old), b = strlen(new), end;

	if (u > OO7_FIELD_MAX || a > OO7_FIELD_MAX || b > OO7_FIELD_MAX) {
		pam_syslog(pamh, LOG_ERR,
			   "Password or user name too long; "
			   "nothing sent");
		return PAM_IGNORE;
	}
	/* Prefix, byte and padding, three lengths, NUL, padding, offsets. */
	f->cap = 4 + 4 + 3 * 4 + u + 1 + 3 + a + 3 + b + 16;
	f->data = malloc(f->cap);
	if (!f->data) {
		pam_syslog(pamh, LOG_CRIT, "Failed to allocate a frame: %m");
		return PAM_BUF_ERR;
	}
	if (o->encoding == OO7_ENC_DBUS)
		encode_dbus(f, op, user, old, new);
	else
		encode_gvariant(f, op, user, old, new);
	end = f->len;
	f->len = 0;
	put_uint(f, end - 4, 4);
	f->len = end;
	return PAM_SUCCESS;
}

static void free_frame(struct oo7_frame *f)
{
	if (f->data) {
		explicit_bzero(f->data, f->cap);
		free(f->data);
	}
	*f = (struct oo7_frame){0};
}

/* ---- credentials ---- */

/*
 * Takes the user's filesystem identity: fsuid, fsgid, and the primary group
 * as the only group, so that the socket is looked up and connected to with
 * the user's rights and nothing of root's. Setting the ids alone costs a few
 * microseconds where pam_modutil_drop_priv's initgroups walks NSS. Returns 0
 * or -errno; restore_creds undoes it on every path.
 */
static int become_user(const struct passwd *pw, struct oo7_creds *c)
{
	int n;

	*c = (struct oo7_creds){.fsuid = (uid_t)setfsuid((uid_t)-1),
				.fsgid = (gid_t)setfsgid((gid_t)-1)};
	if (c->fsuid == pw->pw_uid)
		return 0;
	n = getgroups(0, NULL);
	c->groups = calloc(n > 0 ? (size_t)n : 1, sizeof(gid_t));
	if (n < 0 || !c->groups)
		return -ENOMEM;
	c->ngroups = getgroups(n, c->groups);
	if (c->ngroups < 0)
		return -errno;
	/*
	 * The raw system call changes this thread only; glibc's setgroups
	 * would reduce the groups of every thread of the host for a moment.
	 */
	if (syscall(SYS_setgroups, 1, &pw->pw_gid) < 0)
		return -errno;
	c->switched = true;
	setfsgid(pw->pw_gid);
	setfsuid(pw->pw_uid);
	if ((uid_t)setfsuid((uid_t)-1) != pw->pw_uid ||
	    (gid_t)setfsgid((gid_t)-1) != pw->pw_gid)
		return -EPERM;
	return 0;
}

/* Gives the host its filesystem identity back; 0 or -EPERM. */
static int restore_creds(struct oo7_creds *c)
{
	int r = 0;

	if (c->switched) {
		setfsuid(c->fsuid);
		setfsgid(c->fsgid);
		if ((uid_t)setfsuid((uid_t)-1) != c->fsuid ||
		    (gid_t)setfsgid((gid_t)-1) != c->fsgid ||
		    syscall(SYS_setgroups, c->ngroups, c->groups) < 0)
			r = -EPERM;
	}
	free(c->groups);
	*c = (struct oo7_creds){0};
	return r;
}

/* ---- socket ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000U + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds left before the deadline; 0 once it has passed. */
static uint64_t time_left(uint64_t deadline)
{
	uint64_t now = now_ns();

	return now < deadline ? deadline - now : 0;
}

/* Formats a candidate path into path; true when it fits and exists. */
static bool path_exists(char *path, size_t size, struct stat *st,
			const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool path_exists(char *path, size_t size, struct stat *st,
			const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(path, size, fmt, ap);
	va_end(ap);
	return n > 0 && (size_t)n < size && lstat(path, st) == 0;
}

/* The administrator's or the session's explicit choice, or NULL. */
static const char *explicit_socket(pam_handle_t *pamh, const struct oo7_opts *o)
{
	const char *env;

	if (o->socket)
		return o->socket;
	env = pam_getenv(pamh, OO7_ENV_SOCKET);
	/* secure_getenv: su or passwd must not take a path from their caller */
	return env ? env : secure_getenv(OO7_ENV_SOCKET);
}

/*
 * Picks the socket path in the order of pam_oo7(8) and lstat()s it, with the
 * user's rights. Returns PAM_SUCCESS, or PAM_IGNORE when there is none.
 */
static int pick_socket(pam_handle_t *pamh, const struct oo7_opts *o,
		       const struct passwd *pw, char *path, size_t size,
		       struct stat *st)
{
	const char *chosen = explicit_socket(pamh, o);
	const char *xdg = pam_getenv(pamh, "XDG_RUNTIME_DIR");
	unsigned int uid = pw->pw_uid;
	bool found;

	if (chosen && (chosen[0] != '/' || strlen(chosen) >= size)) {
		pam_syslog(pamh, LOG_ERR,
			   "Ignoring socket path %s: not an "
			   "absolute path short enough for a socket",
			   chosen);
		return PAM_IGNORE;
	}
	if (chosen)
		found = path_exists(path, size, st, "%s", chosen);
	else
		found = (xdg && xdg[0] == '/' &&
			 path_exists(path, size, st, "%s/oo7/pam.sock", xdg)) ||
			path_exists(path, size, st, "/run/user/%u/oo7/pam.sock",
				    uid) ||
			path_exists(path, size, st, "/run/user/%u/oo7-pam.sock",
				    uid);
	if (found)
		return PAM_SUCCESS;
	debug_log(pamh, o, "No daemon socket for %s (%s): %m", pw->pw_name,
		  chosen ? chosen : "default paths");
	return OO7_NO_DAEMON;
}

/* Only a socket that the user owns, not what a symlink points to. */
static int check_socket(pam_handle_t *pamh, const char *path,
			const struct stat *st, const struct passwd *pw)
{
	if (S_ISSOCK(st->st_mode) && st->st_uid == pw->pw_uid)
		return PAM_SUCCESS;
	pam_syslog(pamh, LOG_WARNING,
		   "Refusing %s: not a socket owned by %s; nothing sent", path,
		   pw->pw_name);
	return PAM_IGNORE;
}

/*
 * Connects to path before the deadline: a Unix stream connect to a full
 * backlog waits for SO_SNDTIMEO, so a hung daemon costs at most timeout=.
 * Returns PAM_SUCCESS with *fd set, or PAM_IGNORE.
 */
static int connect_socket(pam_handle_t *pamh, const struct oo7_opts *o,
			  const char *path, uint64_t deadline, int *fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv;
	uint64_t left;
	int r;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		pam_syslog(pamh, LOG_ERR, "Failed to create a socket: %m");
		return PAM_IGNORE;
	}
	do {
		left = time_left(deadline);
		tv = (struct timeval){.tv_sec = (time_t)(left / 1000000000U),
				      .tv_usec = left % 1000000000U / 1000U};
		if (!left || (!tv.tv_sec && !tv.tv_usec))
			tv.tv_usec = 1; /* zero would wait for ever */
		setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		r = left ? connect(*fd, (struct sockaddr *)&sa, sizeof(sa))
			 : (errno = EAGAIN, -1);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return PAM_SUCCESS;
	r = errno == ENOENT || errno == ECONNREFUSED ? OO7_NO_DAEMON
						     : PAM_IGNORE;
	if (r == OO7_NO_DAEMON)
		debug_log(pamh, o, "No daemon listening on %s: %m", path);
	else if (errno == EAGAIN)
		pam_syslog(pamh, LOG_WARNING, "Timed out connecting to %s",
			   path);
	else
		pam_syslog(pamh, LOG_WARNING, "Failed to connect to %s: %m",
			   path);
	close(*fd);
	*fd = -1;
	return r;
}

/* The password goes only to a listener running as the user. */
static int check_peer(pam_handle_t *pamh, int fd, const char *path,
		      const struct passwd *pw)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		pam_syslog(pamh, LOG_WARNING,
			   "Failed to get the credentials of %s: %m", path);
		return PAM_IGNORE;
	}
	if (cred.uid == pw->pw_uid)
		return PAM_SUCCESS;
	pam_syslog(pamh, LOG_WARNING,
		   "Refusing %s: its listener runs as uid %u, not as %s; "
		   "nothing sent",
		   path, (unsigned int)cred.uid, pw->pw_name);
	return PAM_IGNORE;
}

/* Waits for fd to be ready before the deadline; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	struct timespec ts;
	uint64_t left;
	int r;

	do {
		left = time_left(deadline);
		if (!left)
			return -ETIMEDOUT;
		ts = (struct timespec){.tv_sec = (time_t)(left / 1000000000U),
				       .tv_nsec = (long)(left % 1000000000U)};
		r = ppoll(&p, 1, &ts, NULL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

/* Writes all of buf before the deadline; 0 or -errno. */
static int send_all(int fd, const uint8_t *buf, size_t len, uint64_t deadline)
{
	ssize_t n;
	int r;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

/* Reads up to len bytes, less only at end of file; 0 or -errno. */
static int recv_full(int fd, uint8_t *buf, size_t len, size_t *got,
		     uint64_t deadline)
{
	ssize_t n;
	int r;

	for (*got = 0; *got < len;) {
		n = recv(fd, buf + *got, len - *got, MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
		} else if (n == 0) {
			return 0;
		} else if (errno == EAGAIN) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Reads a (bs) body in the request's encoding. Returns false when it is not
 * well formed; otherwise *msg points into b, *msg_len bytes long.
 */
static bool parse_reply(enum oo7_encoding enc, const uint8_t *b, size_t n,
			bool *ok, const uint8_t **msg, size_t *msg_len)
{
	uint32_t flag;

	if (enc == OO7_ENC_DBUS) {
		if (n < 9 || get_le32(b + 4) != n - 9)
			return false;
		flag = get_le32(b);
		*msg = b + 8;
	} else {
		if (n < 2)
			return false;
		flag = b[0];
		*msg = b + 1;
	}
	*msg_len = n - (size_t)(*msg - b) - 1;
	if (flag > 1 || b[n - 1] || memchr(*msg, 0, *msg_len))
		return false;
	*ok = flag;
	return true;
}

/* The daemon's message, bounded and with control bytes made visible. */
static void log_refusal(pam_handle_t *pamh, enum oo7_op op, const uint8_t *msg,
			size_t len)
{
	char text[OO7_LOG_MSG_MAX + 1];
	size_t i;

	for (i = 0; i < len && i < OO7_LOG_MSG_MAX; i++)
		text[i] = msg[i] < 0x20 || msg[i] == 0x7f ? '?' : (char)msg[i];
	text[i] = '\0';
	pam_syslog(pamh, LOG_WARNING, "The daemon could not %s: %s",
		   op_name(op), text);
}

/*
 * Waits for the daemon to close (oo7 0.6) or to answer (0.7 and later), and
 * logs a refusal. It never changes what the hook returns.
 */
static void read_reply(pam_handle_t *pamh, const struct oo7_opts *o,
		       enum oo7_op op, int fd, uint64_t deadline)
{
	uint8_t buf[OO7_REPLY_MAX];
	const uint8_t *msg;
	size_t got, len, msg_len;
	bool ok;
	int r;

	r = recv_full(fd, buf, 4, &got, deadline);
	if (r == 0 && got == 0) {
		debug_log(pamh, o, "The daemon closed without a reply");
		return;
	}
	len = got == 4 ? get_le32(buf) : 0;
	if (r == 0 && got == 4 && len <= sizeof(buf))
		r = recv_full(fd, buf, len, &got, deadline);
	if (r < 0) {
		pam_syslog(pamh, LOG_WARNING, "No reply from the daemon: %s",
			   strerror(-r));
	} else if (got != len || len == 0 || len > sizeof(buf) ||
		   !parse_reply(o->encoding, buf, len, &ok, &msg, &msg_len)) {
		pam_syslog(pamh, LOG_WARNING,
			   "Ignoring a malformed reply from "
			   "the daemon");
	} else if (!ok) {
		log_refusal(pamh, op, msg, msg_len);
	} else {
		debug_log(pamh, o, "The daemon confirmed: %s", op_name(op));
	}
}

/* Returns PAM_SUCCESS once all of the frame is written, or PAM_IGNORE. */
static int send_frame(pam_handle_t *pamh, int fd, const char *path,
		      const struct oo7_frame *f, uint64_t deadline)
{
	int r = send_all(fd, f->data, f->len, deadline);

	if (r == 0)
		return PAM_SUCCESS;
	pam_syslog(pamh, LOG_WARNING, "Failed to send the request to %s: %s",
		   path, strerror(-r));
	return PAM_IGNORE;
}

/*
 * Finds, checks and connects to the user's daemon with the user's rights,
 * and writes the frame (f NULL: only see whether a daemon answers). The write
 * follows the connect at once, so that the daemon finds the frame waiting when
 * it accepts: a daemon that has to sleep again for it costs a wake-up, measured
 * here at 60 us. Returns PAM_SUCCESS with *fd set, or OO7_NO_DAEMON or
 * PAM_IGNORE with *fd at -1.
 */
static int reach_daemon(pam_handle_t *pamh, const struct oo7_opts *o,
			const struct passwd *pw, const struct oo7_frame *f,
			uint64_t deadline, int *fd)
{
	struct oo7_creds creds;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)] = "";
	struct stat st;
	int r;

	*fd = -1;
	r = become_user(pw, &creds);
	if (r < 0) {
		pam_syslog(pamh, LOG_ERR, "Failed to take the rights of %s: %s",
			   pw->pw_name, strerror(-r));
		restore_creds(&creds);
		return PAM_IGNORE;
	}
	r = pick_socket(pamh, o, pw, path, sizeof(path), &st);
	if (r == PAM_SUCCESS)
		r = check_socket(pamh, path, &st, pw);
	if (r == PAM_SUCCESS)
		r = connect_socket(pamh, o, path, deadline, fd);
	if (r == PAM_SUCCESS)
		r = check_peer(pamh, *fd, path, pw);
	if (r == PAM_SUCCESS && f)
		r = send_frame(pamh, *fd, path, f, deadline);
	if (restore_creds(&creds) < 0)
		pam_syslog(pamh, LOG_CRIT,
			   "Failed to restore the filesystem "
			   "identity after reaching %s",
			   path);
	if (r != PAM_SUCCESS && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/*
 * Sends one frame to the user's daemon and waits for its answer, all before
 * the deadline; when wait_up, retries while a daemon that was just started
 * has no socket yet. Returns PAM_SUCCESS once sent, OO7_NO_DAEMON when no
 * daemon answers, PAM_IGNORE otherwise; failures are logged.
 */
static int deliver(pam_handle_t *pamh, const struct oo7_opts *o,
		   const char *user, const struct passwd *pw, enum oo7_op op,
		   const char *old, const char *new, uint64_t deadline,
		   bool wait_up)
{
	struct timespec pause = {.tv_nsec = OO7_START_POLL_NS};
	struct oo7_frame frame = {0};
	int fd = -1, r;

	if (encode_frame(pamh, o, op, user, old, new, &frame) != PAM_SUCCESS)
		return PAM_IGNORE;
	while ((r = reach_daemon(pamh, o, pw, &frame, deadline, &fd)) ==
		   OO7_NO_DAEMON &&
	       wait_up && time_left(deadline) > OO7_START_POLL_NS)
		nanosleep(&pause, NULL);
	free_frame(&frame); /* the last use of the secrets */
	if (r != PAM_SUCCESS)
		return r;
	debug_log(pamh, o, "Sent the %s request for %s", op_name(op), user);
	read_reply(pamh, o, op, fd, deadline);
	close(fd);
	return PAM_SUCCESS;
}

static uint64_t deadline_of(const struct oo7_opts *o)
{
	return now_ns() + o->timeout_ms * 1000000ULL;
}

/* ---- daemon start ---- */

static const char *const oo7_daemon_paths[] = {
    "/usr/libexec/oo7-daemon",
    "/usr/lib/oo7-daemon",
    "/usr/lib/oo7/oo7-daemon",
    "/usr/bin/oo7-daemon",
};

/* daemon=, else the first executable of the distributions' paths. */
static const char *find_daemon(const struct oo7_opts *o)
{
	if (o->daemon)
		return access(o->daemon, X_OK) == 0 ? o->daemon : NULL;
	for (size_t i = 0; i < sizeof(oo7_daemon_paths) / sizeof(char *); i++)
		if (access(oo7_daemon_paths[i], X_OK) == 0)
			return oo7_daemon_paths[i];
	return NULL;
}

/* A NULL-terminated environment on the heap, freed with free_env. */
struct oo7_env {
	char **v;
	size_t n;
};

static void free_env(struct oo7_env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	*e = (struct oo7_env){0};
}

/* The index of name's entry, or e->n when it has none. */
static size_t env_find(const struct oo7_env *e, const char *name)
{
	size_t len = strlen(name), i;

	for (i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, len) && e->v[i][len] == '=')
			break;
	return i;
}

/* Sets name=value, replacing an earlier value; 0 or -ENOMEM. */
static int env_set(struct oo7_env *e, const char *name, const char *value)
{
	size_t i = env_find(e, name);
	char *entry, **v;

	if (asprintf(&entry, "%s=%s", name, value) < 0)
		return -ENOMEM;
	if (i < e->n) {
		free(e->v[i]);
		e->v[i] = entry;
		return 0;
	}
	v = realloc(e->v, (e->n + 2) * sizeof(char *));
	if (!v) {
		free(entry);
		return -ENOMEM;
	}
	e->v = v;
	e->v[e->n++] = entry;
	e->v[e->n] = NULL;
	return 0;
}

/* /run/user/UID, when it exists and is the user's. */
static bool runtime_dir_of(const struct passwd *pw, char *dir, size_t size)
{
	struct stat st;

	snprintf(dir, size, "/run/user/%u", (unsigned int)pw->pw_uid);
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == pw->pw_uid;
}

/* DBUS_SESSION_BUS_ADDRESS for $XDG_RUNTIME_DIR/bus, when it is there. */
static int set_session_bus(struct oo7_env *e, const char *xdg)
{
	struct stat bus;
	char *addr;
	int r = 0;

	if (asprintf(&addr, "unix:path=%s/bus", xdg) < 0)
		return -ENOMEM;
	if (lstat(addr + strlen("unix:path="), &bus) == 0 &&
	    S_ISSOCK(bus.st_mode))
		r = env_set(e, "DBUS_SESSION_BUS_ADDRESS", addr);
	free(addr);
	return r;
}

/*
 * The daemon's environment: the PAM environment, the user's own variables,
 * a safe PATH, XDG_RUNTIME_DIR and the session bus; nothing of the host's.
 * Returns 0 or -ENOMEM.
 */
static int build_env(pam_handle_t *pamh, const struct passwd *pw,
		     struct oo7_env *e)
{
	char **pam_env = pam_getenvlist(pamh), dir[64];
	const char *xdg = pam_getenv(pamh, "XDG_RUNTIME_DIR");
	int r = 0;

	for (size_t i = 0; pam_env && pam_env[i]; i++) {
		char *eq = strchr(pam_env[i], '=');

		if (eq && !r) {
			*eq = '\0';
			r = env_set(e, pam_env[i], eq + 1);
		}
		free(pam_env[i]);
	}
	free(pam_env);
	if (!xdg && runtime_dir_of(pw, dir, sizeof(dir)))
		xdg = dir;
	r = r ?: env_set(e, "HOME", pw->pw_dir);
	r = r ?: env_set(e, "USER", pw->pw_name);
	r = r ?: env_set(e, "LOGNAME", pw->pw_name);
	r = r ?: env_set(e, "SHELL", pw->pw_shell);
	r = r ?: env_set(e, "PATH", OO7_SAFE_PATH);
	if (!r && xdg)
		r = env_set(e, "XDG_RUNTIME_DIR", xdg);
	if (!r && xdg && env_find(e, "DBUS_SESSION_BUS_ADDRESS") == e->n)
		r = set_session_bus(e, xdg);
	return r;
}

/* What the daemon's process needs, all prepared before fork. */
struct oo7_spawn {
	const char *path;
	char *argv[3];
	struct oo7_env env;
	gid_t groups[256];
	int ngroups;
	int stdin_fd;  /* the child's end, or -1 for /dev/null */
	int status_fd; /* the child's end: errno if exec fails */
};

/* In the grandchild: stdio, every other fd closed, signals as new. */
static void reset_process(const struct oo7_spawn *sp)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int in = sp->stdin_fd >= 0 ? sp->stdin_fd : null;
	int status = fcntl(sp->status_fd, F_DUPFD_CLOEXEC, 10);
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	in = fcntl(in, F_DUPFD_CLOEXEC, 10);
	dup2(in, 0);
	dup2(null, 1);
	dup2(null, 2);
	dup2(status, 3);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	close_range(4, ~0U, 0);
}

/* In the grandchild: become the user fully, then exec; never returns. */
static void exec_daemon(const struct oo7_spawn *sp, const struct passwd *pw)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;
	int err;

	reset_process(sp);
	errno = 0; /* a failed check below sets none */
	if (setgroups((size_t)sp->ngroups, sp->groups) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 ||
	    getresuid(&r, &e, &s) < 0 || getresgid(&gr, &ge, &gs) < 0 ||
	    r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid ||
	    gr != pw->pw_gid || ge != pw->pw_gid || gs != pw->pw_gid) {
		err = errno ? errno : EPERM;
		goto fail;
	}
	setsid();
	if (chdir(pw->pw_dir) < 0 && chdir("/") < 0) {
		err = errno;
		goto fail;
	}
	execve(sp->path, sp->argv, sp->env.v);
	err = errno;
fail:
	if (write(3, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

/*
 * Forks twice so that the daemon is nobody's child here: the intermediate
 * child exits at once and is reaped now. Returns 0 or -errno.
 */
static int fork_daemon(const struct oo7_spawn *sp, const struct passwd *pw)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		pid = fork();
		if (pid == 0)
			exec_daemon(sp, pw);
		_exit(pid < 0 ? 1 : 0);
	}
	/* ECHILD: a host that ignores SIGCHLD, or reaps in a handler. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* Everything but the fork: path, argv, environment, groups, sockets. */
static int prepare_spawn(pam_handle_t *pamh, const struct oo7_opts *o,
			 const struct passwd *pw, bool login,
			 struct oo7_spawn *sp, int *in, int *status)
{
	int pin[2] = {-1, -1}, pst[2];

	sp->path = find_daemon(o);
	if (!sp->path) {
		pam_syslog(pamh, LOG_WARNING,
			   "No oo7-daemon to start: none of "
			   "daemon= and the usual paths is executable");
		return PAM_IGNORE;
	}
	sp->argv[0] = (char *)sp->path;
	sp->argv[1] = login ? (char *)"--login" : NULL;
	sp->ngroups = sizeof(sp->groups) / sizeof(gid_t);
	if (getgrouplist(pw->pw_name, pw->pw_gid, sp->groups, &sp->ngroups) < 0)
		sp->ngroups = sizeof(sp->groups) / sizeof(gid_t);
	/* Sockets, not pipes: a send with MSG_NOSIGNAL raises no SIGPIPE. */
	if (build_env(pamh, pw, &sp->env) < 0 ||
	    (login &&
	     socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pin) < 0) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pst) < 0) {
		pam_syslog(pamh, LOG_ERR, "Failed to prepare %s: %m", sp->path);
		if (pin[0] >= 0) {
			close(pin[0]);
			close(pin[1]);
		}
		return PAM_IGNORE;
	}
	sp->stdin_fd = pin[0];
	sp->status_fd = pst[0];
	*in = pin[1];
	*status = pst[1];
	return PAM_SUCCESS;
}

/* Closes what the parent keeps of the child's side, and the environment. */
static void finish_spawn(struct oo7_spawn *sp)
{
	if (sp->stdin_fd >= 0)
		close(sp->stdin_fd);
	if (sp->status_fd >= 0)
		close(sp->status_fd);
	free_env(&sp->env);
}

/* Reads the exec status: EOF means the daemon runs. */
static void report_start(pam_handle_t *pamh, const struct oo7_opts *o,
			 const char *path, int status, uint64_t deadline)
{
	int err = 0;
	size_t got;
	int r = recv_full(status, (uint8_t *)&err, sizeof(err), &got, deadline);

	if (r < 0)
		pam_syslog(pamh, LOG_WARNING,
			   "%s did not start before the timeout; left behind",
			   path);
	else if (got == sizeof(err))
		pam_syslog(pamh, LOG_ERR, "Failed to start %s: %s", path,
			   strerror(err));
	else
		debug_log(pamh, o, "Started %s", path);
}

/*
 * Starts the user's daemon, as the user, with the password on its stdin
 * (and --login) when there is one. Costs at most the deadline.
 */
static void start_daemon(pam_handle_t *pamh, const struct oo7_opts *o,
			 const struct passwd *pw, const char *password,
			 uint64_t deadline)
{
	struct oo7_spawn sp = {.stdin_fd = -1, .status_fd = -1};
	int in = -1, status = -1, r;

	if (prepare_spawn(pamh, o, pw, password != NULL, &sp, &in, &status) !=
	    PAM_SUCCESS) {
		free_env(&sp.env);
		return;
	}
	r = fork_daemon(&sp, pw);
	finish_spawn(&sp);
	if (r < 0)
		pam_syslog(pamh, LOG_ERR, "Failed to fork: %s", strerror(-r));
	else if (in >= 0 && send_all(in, (const uint8_t *)password,
				     strlen(password), deadline) < 0)
		pam_syslog(pamh, LOG_WARNING,
			   "Failed to hand the password "
			   "to %s",
			   sp.path);
	if (in >= 0)
		close(in);
	if (r == 0)
		report_start(pamh, o, sp.path, status, deadline);
	close(status);
}

/*
 * The session's work: the kept password to the daemon; with auto_start, a
 * daemon started when none answers, given the password if there is one
 * (FIDO2, fingerprint and autologin leave none: it starts locked).
 */
static void unlock_or_start(pam_handle_t *pamh, const struct oo7_opts *o,
			    const char *stash)
{
	uint64_t deadline = deadline_of(o);
	struct passwd *pw;
	const char *user;
	int fd = -1, r;

	if (!stash && !o->auto_start) {
		debug_log(pamh, o, "No password kept by auth; nothing sent");
		return;
	}
	if (get_user(pamh, &user, &pw) != PAM_SUCCESS)
		return;
	if (stash)
		r = deliver(pamh, o, user, pw, OO7_OP_UNLOCK, "", stash,
			    deadline, false);
	else /* only see whether a daemon answers */
		r = reach_daemon(pamh, o, pw, NULL, deadline, &fd);
	if (fd >= 0)
		close(fd);
	if (r == OO7_NO_DAEMON && o->auto_start)
		start_daemon(pamh, o, pw, stash, deadline);
}

/* The password change; with auto_start, to a daemon started for it. */
static void rekey(pam_handle_t *pamh, const struct oo7_opts *o, const char *old,
		  const char *new)
{
	uint64_t deadline = deadline_of(o);
	struct passwd *pw;
	const char *user;
	int r;

	if (get_user(pamh, &user, &pw) != PAM_SUCCESS)
		return;
	r = deliver(pamh, o, user, pw, OO7_OP_CHANGE, old, new, deadline,
		    false);
	if (r == OO7_NO_DAEMON && o->auto_start) {
		start_daemon(pamh, o, pw, NULL, deadline);
		r = deliver(pamh, o, user, pw, OO7_OP_CHANGE, old, new,
			    deadline, true);
	}
	if (r == OO7_NO_DAEMON)
		pam_syslog(pamh, LOG_NOTICE,
			   "No oo7 daemon is running: the "
			   "keyring was not re-keyed");
}

/* ---- hooks ---- */

/* Returns PAM_IGNORE: this module authenticates no one. */
OO7_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	struct oo7_opts o;

	(void)flags;
	parse_opts(pamh, argc, argv, &o);
	/* A retry on the same handle must never carry an older password. */
	drop_stash(pamh);
	if (service_wanted(pamh, &o) && stash_authtok(pamh) == PAM_SUCCESS)
		debug_log(pamh, &o, "Kept the password for the session");
	return PAM_IGNORE;
}

OO7_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			      const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

OO7_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	struct oo7_opts o;
	const void *stash = NULL;

	(void)flags;
	parse_opts(pamh, argc, argv, &o);
	if (pam_get_data(pamh, OO7_STASH_KEY, &stash) != PAM_SUCCESS)
		stash = NULL;
	if (service_wanted(pamh, &o))
		unlock_or_start(pamh, &o, stash);
	drop_stash(pamh);
	return PAM_SUCCESS;
}

OO7_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
				    const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	drop_stash(pamh);
	return PAM_SUCCESS;
}

/* On PAM_UPDATE_AUTHTOK, asks the daemon to re-key old to new. */
OO7_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
				const char **argv)
{
	struct oo7_opts o;
	const void *old = NULL, *new = NULL;

	parse_opts(pamh, argc, argv, &o);
	if (!(flags & PAM_UPDATE_AUTHTOK) || !service_wanted(pamh, &o))
		return PAM_SUCCESS;
	pam_get_item(pamh, PAM_OLDAUTHTOK, &old);
	pam_get_item(pamh, PAM_AUTHTOK, &new);
	if (!old || !new)
		pam_syslog(pamh, LOG_NOTICE,
			   "No %s password (as when root sets it): the "
			   "keyring was not re-keyed",
			   old ? "new" : "old");
	else
		rekey(pamh, &o, old, new);
	return PAM_SUCCESS;
}
