// SPDX-License-Identifier: MIT
/*
 * pam_oo7 - unlock the user's oo7 keyrings with the login password, and
 * re-key them when that password changes.
 *
 * auth:     keeps a private copy of PAM_AUTHTOK (set by pam_unix or a module
 *           like it earlier in the stack) with pam_set_data, because libpam
 *           wipes PAM_AUTHTOK when pam_authenticate returns. The copy
 *           records whose it is: the uid PAM_USER had then. It sends
 *           nothing: a failed attempt never leaves the module.
 * setcred:  PAM_REFRESH_CRED and PAM_REINITIALIZE_CRED (screen lockers)
 *           send the copy to a running daemon and wipe it; PAM_DELETE_CRED
 *           wipes it.
 * session:  sends the copy in an "unlock" frame to the user's oo7-daemon
 *           over its Unix socket, then wipes it; only if PAM_USER is still
 *           that uid (sudo -i -u, doas and greeters that map names change
 *           it). A change of password not yet delivered goes first.
 * password: on PAM_UPDATE_AUTHTOK, sends a "change password" frame with
 *           PAM_OLDAUTHTOK and PAM_AUTHTOK, starting a daemon for it when
 *           none answers (stopped again unless auto_start); then keeps the
 *           new password, and the change if no daemon took it, for a
 *           session on the same handle.
 * account:  not provided.
 *
 * It never prompts, never fails or blocks a login past timeout= (it returns
 * PAM_IGNORE from auth and setcred, PAM_SUCCESS from session and password),
 * never logs a password, and gives one only to a listener whose SO_PEERCRED
 * is the PAM user's uid, reached with the user's own filesystem rights.
 * With auto_start, when no daemon answers, it has one started: by the
 * user's session bus (the service manager's oo7-daemon.service), or forked
 * as the user (a double fork: the host keeps no child) with the password on
 * its stdin.
 *
 *	auth     optional pam_oo7.so
 *	session  optional pam_oo7.so auto_start
 *	password optional pam_oo7.so
 *
 * The wire format is D-Bus (default) or GVariant marshalling of (ysayay),
 * preceded by its length as a little-endian u32; see pam_oo7(8).
 *
 * Call map:
 *   pam_sm_authenticate -> keep_authtok -> get_user, keep_password
 *   pam_sm_setcred      -> refresh_keyring -> kept_for, send_kept
 *   pam_sm_open_session -> open_keyring -> kept_for (refuse_kept), send_kept
 *                            | probe_daemon
 *                          -> start_daemon (auto_start), send_kept
 *   pam_sm_chauthtok    -> rekey -> send_request
 *                          -> rekey_through_a_start -> start_daemon,
 *                             send_when_up, stop_started
 *                          -> keep_password
 *   send_kept    -> send_request | send_when_up: a change, then an unlock
 *   send_request -> encode_frame, deliver_frame, free_frame
 *   deliver_frame -> open_daemon -> become_user, find_socket, check_socket,
 *                                   connect_socket, check_peer, send_frame,
 *                                   restore_creds
 *                 -> read_reply
 *   start_daemon -> start_through_bus -> ask_bus -> (a child, as the user)
 *                   bus_auth, bus_call, bus_await: StartServiceByName
 *                 | fork_start -> prepare_spawn, fork_lasting |
 *                   fork_for_this_call -> exec_daemon, report_start
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
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <security/pam_modutil.h>

#define OO7_EXPORT __attribute__((visibility("default")))

/* The Makefile passes its VERSION; a build without it still says so. */
#ifndef PAM_OO7_VERSION
#define PAM_OO7_VERSION "unknown"
#endif
#define OO7_VERSION_KEY "pam_oo7_version_logged"

#define OO7_STASH_KEY "pam_oo7_authtok"
#define OO7_ENV_SOCKET "OO7_PAM_SOCKET"
#define OO7_TIMEOUT_DEFAULT_MS 2000U
#define OO7_TIMEOUT_MAX_MS 60000U
/* The D-Bus specification caps an array at 64 MiB; GVariant takes the same. */
#define OO7_FIELD_MAX (64U << 20)
/* A reply is (bs) with a short message: read no more than this of it. */
#define OO7_REPLY_MAX 4096U
/* A log line before escaping; a daemon's message is cut to fit. */
#define OO7_LOG_LINE_MAX 1024U
/* While a daemon starts, how often to look for its socket. */
#define OO7_START_POLL_NS 10000000U
/* The session bus: the name oo7 activates, and bounds of what we read. */
#define OO7_BUS_SECRETS "org.freedesktop.secrets"
#define OO7_BUS_NAME_MAX 255U
#define OO7_BUS_MSG_MAX 512U
#define OO7_BUS_READ_MAX 4096U
/* What a daemon started for a change gets to stop, past the deadline. */
#define OO7_STOP_MIN_NS 200000000U
#define OO7_SAFE_PATH "/usr/local/bin:/usr/bin:/bin"
#define OO7_SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/*
 * i386 and armhf keep the 16-bit setgroups under its old number: a gid of
 * 65536 or more would be cut. setgroups32 is the call glibc itself uses.
 */
#ifdef SYS_setgroups32
#define OO7_SYS_SETGROUPS SYS_setgroups32
#else
#define OO7_SYS_SETGROUPS SYS_setgroups
#endif

enum oo7_op {
	OO7_OP_UNLOCK = 0,
	OO7_OP_CHANGE = 1,
};

enum oo7_encoding {
	OO7_ENC_DBUS,
	OO7_ENC_GVARIANT,
};

/* What became of a request. It never leaves the module: hooks say PAM_*. */
enum oo7_result {
	OO7_SENT,      /* the daemon has the frame */
	OO7_NO_DAEMON, /* no socket, or no one listening: one may be started */
	OO7_FAILED,    /* anything else; logged, and nothing is started */
};

/* A daemon started for auto_start stays; one started for a change, not. */
enum oo7_lifetime {
	OO7_DAEMON_STAYS,	  /* double fork: nobody's child here */
	OO7_DAEMON_FOR_THIS_CALL, /* our child until we stop and reap it */
};

/* How auto_start starts the daemon. */
enum oo7_route {
	OO7_ROUTE_ANY,	/* auto_start: the session bus if there is one */
	OO7_ROUTE_BUS,	/* auto_start=bus: only through the session bus */
	OO7_ROUTE_FORK, /* auto_start=fork: forked by the module */
};

/* What asking the session bus for the Secret Service came to. */
enum oo7_bus_result {
	OO7_BUS_NONE,	     /* no bus, or it refused us */
	OO7_BUS_STARTED,     /* the bus started it */
	OO7_BUS_OTHER_OWNER, /* another Secret Service has the name */
	OO7_BUS_ERROR,	     /* the bus could not start it */
	OO7_BUS_FAILED,	     /* no answer a bus would give */
};

/* Whose the kept password is, seen from the session. */
enum oo7_kept {
	OO7_KEPT_NONE,
	OO7_KEPT_MINE,	 /* kept for the PAM user */
	OO7_KEPT_OTHERS, /* kept for another uid: wiped, nothing to do */
};

struct oo7_opts {
	bool debug;
	bool auto_start;
	enum oo7_route route;
	const char *socket;
	unsigned int timeout_ms;
	enum oo7_encoding encoding;
	const char *only_if;
	const char *daemon;
};

/* One request to the daemon; the pointers are borrowed. */
struct oo7_request {
	enum oo7_op op;
	const char *user; /* PAM_USER, as sent */
	const struct passwd *pw;
	const char *old; /* "" for an unlock */
	const char *new;
};

/*
 * The password kept from auth (or a change) to the session or setcred, and
 * whose it is.
 */
struct oo7_stash {
	uid_t uid;
	char *user;
	char *password; /* in force: typed at auth, or the new one */
	char *old;	/* a change to password not delivered yet, or NULL */
};

/* The filesystem identity of the host, kept while we borrow the user's. */
struct oo7_creds {
	bool switched;
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t *groups;
	struct __user_cap_header_struct cap_header;
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
};

/* A daemon start: for whom, with what, for how long, and its process. */
struct oo7_start {
	const struct passwd *pw;
	const char *password; /* on its stdin, with --login; or NULL */
	enum oo7_lifetime lifetime;
	bool via_bus; /* started by the session bus: the service manager's */
	pid_t pid;    /* for this call: our child; 0 unknown, -1 reaped */
	int pidfd;    /* for this call: the child's pidfd, or -1 */
};

/* A connection to the daemon, and the deadline that all of it keeps. */
struct oo7_conn {
	int fd;
	uint64_t deadline;
};

/* A frame on the heap; it holds secrets, so it is wiped before it is freed. */
struct oo7_frame {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* ---- logging ---- */

/*
 * The length of the UTF-8 sequence at s with its code point in *cp, or 0 when
 * it is not strict UTF-8 (overlong, surrogate, past U+10FFFF, cut short).
 */
static size_t utf8_char(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, c &= 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, c &= 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * Characters that would let text from outside forge or hide log lines: C0
 * and C1 controls, DEL, the backslash of our own escapes, and the bidi
 * embeddings, overrides and isolates that reorder what a reader sees.
 */
static bool unsafe_in_log(uint32_t cp)
{
	return cp < 0x20 || cp == '\\' || (cp >= 0x7f && cp <= 0x9f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Copies s to out (4 * strlen(s) + 1 bytes), each unsafe byte as \xNN. */
static void escape_for_log(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp = 0;
	size_t n;

	while (*p) {
		n = utf8_char(p, &cp);
		if (n && !unsafe_in_log(cp)) {
			memcpy(out, p, n);
			out += n;
			p += n;
			continue;
		}
		for (size_t i = 0; i < (n ? n : 1); i++)
			out += sprintf(out, "\\x%02x", *p++);
	}
	*out = '\0';
}

/*
 * Every log line passes here: names, paths and a daemon's words come from
 * outside, and a newline or an escape sequence in them must not reach the
 * log as it is.
 */
static void oo7_vlog(pam_handle_t *pamh, int prio, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void oo7_vlog(pam_handle_t *pamh, int prio, const char *fmt, va_list ap)
{
	char line[OO7_LOG_LINE_MAX], safe[4 * OO7_LOG_LINE_MAX + 1];

	vsnprintf(line, sizeof(line), fmt, ap);
	escape_for_log(line, safe);
	pam_syslog(pamh, prio, "%s", safe);
}

static void oo7_log(pam_handle_t *pamh, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void oo7_log(pam_handle_t *pamh, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	oo7_vlog(pamh, prio, fmt, ap);
	va_end(ap);
}

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
	oo7_vlog(pamh, LOG_DEBUG, fmt, ap);
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

/*
 * A socket path we can use: absolute (a relative one would depend on the
 * host's cwd) and short enough for sun_path. The one check for socket= and
 * OO7_PAM_SOCKET alike.
 */
static bool socket_path_ok(const char *s)
{
	return s[0] == '/' && strlen(s) < OO7_SUN_PATH_MAX;
}

static bool parse_socket(const char *s, const char **path)
{
	if (!socket_path_ok(s))
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

/* auto_start=bus or auto_start=fork: auto_start, by that route. */
static bool parse_route(const char *s, struct oo7_opts *o)
{
	if (!strcmp(s, "bus"))
		o->route = OO7_ROUTE_BUS;
	else if (!strcmp(s, "fork"))
		o->route = OO7_ROUTE_FORK;
	else
		return false;
	o->auto_start = true;
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
	else if ((v = opt_value(arg, "auto_start")))
		return parse_route(v, o);
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

/* With debug, the first hook of a handle says which pam_oo7 it is. */
static void log_version_once(pam_handle_t *pamh, const struct oo7_opts *o)
{
	const void *logged = NULL;

	if (pam_get_data(pamh, OO7_VERSION_KEY, &logged) == PAM_SUCCESS &&
	    logged)
		return;
	debug_log(pamh, o, "pam_oo7 %s", PAM_OO7_VERSION);
	pam_set_data(pamh, OO7_VERSION_KEY, (void *)OO7_VERSION_KEY, NULL);
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
			oo7_log(pamh, LOG_ERR,
				"Ignoring unknown or invalid option: %s",
				argv[i]);
	if (o->debug && pamh) /* pamh: NULL only in fuzz_options */
		log_version_once(pamh, o);
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

/* ---- user ---- */

/*
 * Strict UTF-8, as a D-Bus or GVariant string must be, and no control
 * character: the daemon would refuse the one, and the other has no place in
 * a name.
 */
static bool valid_user_name(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	for (; *p; p += n) {
		n = utf8_char(p, &cp);
		if (!n || cp < 0x20 || cp == 0x7f)
			return false;
	}
	return true;
}

/*
 * Finds the PAM user and their passwd entry (owned by libpam). Returns 0, or
 * -EINVAL when there is no user the daemon could take (logged).
 */
static int get_user(pam_handle_t *pamh, const char **user,
		    const struct passwd **pw)
{
	const void *item = NULL;

	if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || !item ||
	    !*(const char *)item) {
		oo7_log(pamh, LOG_ERR, "Failed to get the user name");
		return -EINVAL;
	}
	*user = item;
	if (!valid_user_name(item)) {
		oo7_log(pamh, LOG_WARNING,
			"User name is not valid UTF-8 or holds a control "
			"character; nothing sent");
		return -EINVAL;
	}
	*pw = pam_modutil_getpwnam(pamh, *user);
	if (!*pw) {
		oo7_log(pamh, LOG_ERR, "Failed to look up user %s", *user);
		return -EINVAL;
	}
	return 0;
}

/* ---- secrets ---- */

static void wipe_string(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void free_stash(struct oo7_stash *s)
{
	if (!s)
		return;
	wipe_string(s->password);
	wipe_string(s->old);
	free(s->user);
	free(s);
}

/* pam_set_data cleanup: runs on pam_end, on replacement and on drop. */
static void cleanup_stash(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)status;
	free_stash(data);
}

static void drop_stash(pam_handle_t *pamh)
{
	pam_set_data(pamh, OO7_STASH_KEY, NULL, NULL);
}

/*
 * Keeps req->new, the password now in force, for the user of the request
 * (uid and name); for a change, req->old too: a change not yet delivered.
 * It replaces what was kept before. Returns 0 or -ENOMEM (logged).
 */
static int keep_password(pam_handle_t *pamh, const struct oo7_request *req)
{
	struct oo7_stash *s = calloc(1, sizeof(*s));
	int r;

	if (s) {
		s->uid = req->pw->pw_uid;
		s->user = strdup(req->user);
		s->password = strdup(req->new);
		s->old = req->op == OO7_OP_CHANGE ? strdup(req->old) : NULL;
	}
	if (!s || !s->user || !s->password ||
	    (req->op == OO7_OP_CHANGE && !s->old)) {
		oo7_log(pamh, LOG_CRIT, "Failed to copy the password: %m");
		free_stash(s);
		return -ENOMEM;
	}
	r = pam_set_data(pamh, OO7_STASH_KEY, s, cleanup_stash);
	if (r != PAM_SUCCESS) {
		oo7_log(pamh, LOG_ERR, "Failed to keep the password: %s",
			pam_strerror(pamh, r));
		free_stash(s);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Keeps a copy of PAM_AUTHTOK for the session, for the user it was typed
 * for. Returns 0 when one was kept, -ENOENT when there was no password or
 * no user to keep it for, or -ENOMEM.
 */
static int keep_authtok(pam_handle_t *pamh)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = ""};
	const void *tok = NULL;

	if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || !tok) {
		oo7_log(pamh, LOG_NOTICE,
			"No password to unlock the keyring with: list "
			"pam_oo7 after the module that reads it, such as "
			"pam_unix");
		return -ENOENT;
	}
	if (get_user(pamh, &req.user, &req.pw) < 0)
		return -ENOENT;
	req.new = tok;
	return keep_password(pamh, &req);
}

/*
 * What was kept, in *kept, and whether it was kept for the user this
 * request is for. The pointer stays valid until drop_stash.
 */
static enum oo7_kept kept_for(pam_handle_t *pamh, const struct oo7_request *req,
			      const struct oo7_stash **kept)
{
	const void *data = NULL;

	*kept = NULL;
	if (pam_get_data(pamh, OO7_STASH_KEY, &data) != PAM_SUCCESS || !data)
		return OO7_KEPT_NONE;
	*kept = data;
	return (*kept)->uid == req->pw->pw_uid ? OO7_KEPT_MINE
					       : OO7_KEPT_OTHERS;
}

/*
 * What was kept for another uid (sudo -i -u, doas, a greeter that maps
 * names: PAM_USER changed after auth) goes to no one: wiped at once.
 */
static void refuse_kept(pam_handle_t *pamh, const struct oo7_request *req,
			const struct oo7_stash *kept)
{
	oo7_log(pamh, LOG_NOTICE,
		"The password was kept for %s (uid %u), not for %s (uid %u): "
		"wiped, nothing sent, nothing started",
		kept->user, (unsigned int)kept->uid, req->user,
		(unsigned int)req->pw->pw_uid);
	drop_stash(pamh);
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

/* A string's NUL is part of the marshalling; an ay has none. */
enum oo7_nul {
	OO7_NO_NUL = 0,
	OO7_WITH_NUL = 1,
};

static void put_dbus_array(struct oo7_frame *f, const char *s, enum oo7_nul nul)
{
	size_t n = strlen(s);

	put_pad4(f);
	put_uint(f, n, 4);
	put_bytes(f, s, n + nul);
}

static void encode_dbus(struct oo7_frame *f, const struct oo7_request *req)
{
	f->len = 4;
	put_uint(f, req->op, 1);
	put_dbus_array(f, req->user, OO7_WITH_NUL);
	put_dbus_array(f, req->old, OO7_NO_NUL);
	put_dbus_array(f, req->new, OO7_NO_NUL);
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

static void encode_gvariant(struct oo7_frame *f, const struct oo7_request *req)
{
	size_t user_end, old_end, width;

	f->len = 4;
	put_uint(f, req->op, 1);
	put_bytes(f, req->user, strlen(req->user) + 1);
	user_end = f->len - 4;
	put_bytes(f, req->old, strlen(req->old));
	old_end = f->len - 4;
	put_bytes(f, req->new, strlen(req->new));
	width = gvariant_offset_size(f->len - 4, 2);
	put_uint(f, old_end, width);
	put_uint(f, user_end, width);
}

/*
 * Builds the length-prefixed frame in f (freed with free_frame). Returns 0,
 * -EMSGSIZE when a field is too long, or -ENOMEM; both logged.
 */
static int encode_frame(pam_handle_t *pamh, enum oo7_encoding enc,
			const struct oo7_request *req, struct oo7_frame *f)
{
	size_t u = strlen(req->user), a = strlen(req->old),
	       b = strlen(req->new), end;

	*f = (struct oo7_frame){0};
	if (u > OO7_FIELD_MAX || a > OO7_FIELD_MAX || b > OO7_FIELD_MAX) {
		oo7_log(pamh, LOG_ERR,
			"Password or user name too long; nothing sent");
		return -EMSGSIZE;
	}
	/* Prefix, byte and padding, three lengths, NUL, padding, offsets. */
	f->cap = 4 + 4 + 3 * 4 + u + 1 + 3 + a + 3 + b + 16;
	f->data = malloc(f->cap);
	if (!f->data) {
		oo7_log(pamh, LOG_CRIT, "Failed to allocate a frame: %m");
		return -ENOMEM;
	}
	if (enc == OO7_ENC_DBUS)
		encode_dbus(f, req);
	else
		encode_gvariant(f, req);
	end = f->len;
	f->len = 0;
	put_uint(f, end - 4, 4);
	f->len = end;
	return 0;
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

static int get_caps(struct oo7_creds *c)
{
	/* valgrind takes capget to fill only the first of the two sets */
	memset(c->caps, 0, sizeof(c->caps));
	c->cap_header = (struct __user_cap_header_struct){
	    .version = _LINUX_CAPABILITY_VERSION_3};
	return syscall(SYS_capget, &c->cap_header, c->caps) < 0 ? -errno : 0;
}

/*
 * Moving fsuid from 0 to the user and back raises the filesystem
 * capabilities (CAP_DAC_OVERRIDE, CAP_CHOWN...) in the effective set again,
 * even where the host had lowered them: put the sets back as they were.
 */
static int put_caps(struct oo7_creds *c)
{
	struct oo7_creds now;

	if (syscall(SYS_capset, &c->cap_header, c->caps) < 0)
		return -errno;
	if (get_caps(&now) < 0 || memcmp(now.caps, c->caps, sizeof(c->caps)))
		return -EPERM;
	return 0;
}

/*
 * Takes the user's filesystem identity: fsuid, fsgid, and the primary group
 * as the only group, so that the socket is looked up and connected to with
 * the user's rights and nothing of root's. Setting the ids alone costs a few
 * microseconds where pam_modutil_drop_priv's initgroups walks NSS. Returns 0
 * or -errno; restore_creds undoes it on every path.
 */
static int become_user(const struct passwd *pw, struct oo7_creds *c)
{
	int n, r;

	*c = (struct oo7_creds){.fsuid = (uid_t)setfsuid((uid_t)-1),
				.fsgid = (gid_t)setfsgid((gid_t)-1)};
	if (c->fsuid == pw->pw_uid)
		return 0;
	r = get_caps(c);
	if (r < 0)
		return r;
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
	if (syscall(OO7_SYS_SETGROUPS, 1, &pw->pw_gid) < 0)
		return -errno;
	c->switched = true;
	setfsgid(pw->pw_gid);
	setfsuid(pw->pw_uid);
	if ((uid_t)setfsuid((uid_t)-1) != pw->pw_uid ||
	    (gid_t)setfsgid((gid_t)-1) != pw->pw_gid)
		return -EPERM;
	return 0;
}

/* Gives the host its filesystem identity and capabilities back; 0 or -errno. */
static int restore_creds(struct oo7_creds *c)
{
	int r = 0;

	if (c->switched) {
		setfsuid(c->fsuid);
		setfsgid(c->fsgid);
		if ((uid_t)setfsuid((uid_t)-1) != c->fsuid ||
		    (gid_t)setfsgid((gid_t)-1) != c->fsgid ||
		    syscall(OO7_SYS_SETGROUPS, c->ngroups, c->groups) < 0)
			r = -EPERM;
		r = r ?: put_caps(c);
	}
	free(c->groups);
	*c = (struct oo7_creds){0};
	return r;
}

/* ---- deadline I/O ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000U + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_of(const struct oo7_opts *o)
{
	return now_ns() + o->timeout_ms * 1000000ULL;
}

/* Nanoseconds left before the deadline; 0 once it has passed. */
static uint64_t time_left(uint64_t deadline)
{
	uint64_t now = now_ns();

	return now < deadline ? deadline - now : 0;
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

/* ---- socket ---- */

/* Formats a candidate path into path and lstat()s it; 0 or -errno. */
static int look_up(char *path, struct stat *st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int look_up(char *path, struct stat *st, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(path, OO7_SUN_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= OO7_SUN_PATH_MAX)
		return -ENAMETOOLONG;
	return lstat(path, st) < 0 ? -errno : 0;
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
 * user's rights, into path (OO7_SUN_PATH_MAX bytes). Returns 0, -ENOENT when
 * there is none, or another -errno when a path cannot be looked at (EACCES,
 * ENOTDIR, ELOOP): the search stops there, as a daemon started now would not
 * be reached either.
 */
static int find_socket(pam_handle_t *pamh, const struct oo7_opts *o,
		       const struct passwd *pw, char *path, struct stat *st)
{
	const char *chosen = explicit_socket(pamh, o);
	const char *xdg = pam_getenv(pamh, "XDG_RUNTIME_DIR");
	unsigned int uid = pw->pw_uid;
	int r = -ENOENT;

	if (chosen && !socket_path_ok(chosen)) {
		oo7_log(pamh, LOG_ERR,
			"Ignoring socket path %s: not an absolute path short "
			"enough for a socket",
			chosen);
		return -EINVAL;
	}
	if (chosen)
		return look_up(path, st, "%s", chosen);
	if (xdg && xdg[0] == '/')
		r = look_up(path, st, "%s/oo7/pam.sock", xdg);
	if (r == -ENOENT || r == -ENAMETOOLONG)
		r = look_up(path, st, "/run/user/%u/oo7/pam.sock", uid);
	if (r == -ENOENT)
		r = look_up(path, st, "/run/user/%u/oo7-pam.sock", uid);
	return r;
}

/* Only a socket that the user owns, not what a symlink points to. */
static bool check_socket(pam_handle_t *pamh, const char *path,
			 const struct stat *st, const struct passwd *pw)
{
	if (S_ISSOCK(st->st_mode) && st->st_uid == pw->pw_uid)
		return true;
	oo7_log(pamh, LOG_WARNING,
		"Refusing %s: not a socket owned by %s; nothing sent", path,
		pw->pw_name);
	return false;
}

/*
 * Connects to path before the deadline: a Unix stream connect to a full
 * backlog waits for SO_SNDTIMEO, so a hung daemon costs at most timeout=.
 * Returns the fd or -errno (-EAGAIN: timed out).
 */
static int connect_socket(const char *path, uint64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv;
	uint64_t left;
	int fd, r;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		left = time_left(deadline);
		tv = (struct timeval){.tv_sec = (time_t)(left / 1000000000U),
				      .tv_usec = left % 1000000000U / 1000U};
		if (!left || (!tv.tv_sec && !tv.tv_usec))
			tv.tv_usec = 1; /* zero would wait for ever */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		r = left ? connect(fd, (struct sockaddr *)&sa, sizeof(sa))
			 : (errno = EAGAIN, -1);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return fd;
	r = -errno;
	close(fd);
	return r;
}

/* The password goes only to a listener running as the user. */
static bool check_peer(pam_handle_t *pamh, int fd, const char *path,
		       const struct passwd *pw)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		oo7_log(pamh, LOG_WARNING,
			"Failed to get the credentials of %s: %m", path);
		return false;
	}
	if (cred.uid == pw->pw_uid)
		return true;
	oo7_log(pamh, LOG_WARNING,
		"Refusing %s: its listener runs as uid %u, not as %s; "
		"nothing sent",
		path, (unsigned int)cred.uid, pw->pw_name);
	return false;
}

/* Writes all of the frame before the deadline; OO7_SENT or OO7_FAILED. */
static enum oo7_result send_frame(pam_handle_t *pamh, const struct oo7_conn *c,
				  const char *path, const struct oo7_frame *f)
{
	int r = send_all(c->fd, f->data, f->len, c->deadline);

	if (r == 0)
		return OO7_SENT;
	oo7_log(pamh, LOG_WARNING, "Failed to send the request to %s: %s", path,
		strerror(-r));
	return OO7_FAILED;
}

/* What finding and connecting said, as a result; logs what is not normal. */
static enum oo7_result connect_result(pam_handle_t *pamh,
				      const struct oo7_opts *o,
				      const char *path, int err,
				      const struct passwd *pw)
{
	if (err == -ENOENT || err == -ECONNREFUSED) {
		debug_log(pamh, o, "No daemon for %s at %s: %s", pw->pw_name,
			  *path ? path : "the default paths", strerror(-err));
		return OO7_NO_DAEMON;
	}
	if (err == -EAGAIN)
		oo7_log(pamh, LOG_WARNING, "Timed out connecting to %s", path);
	else if (err != -EINVAL)
		oo7_log(pamh, LOG_WARNING,
			"Failed to reach %s as %s: %s; nothing sent, nothing "
			"started",
			*path ? path : "the socket", pw->pw_name,
			strerror(-err));
	return OO7_FAILED;
}

/*
 * With the user's rights: finds the socket, checks it, connects and checks
 * the peer; then, when f is given, writes it. The write follows the connect
 * at once, so that the daemon finds the frame waiting when it accepts: a
 * daemon that has to sleep again for it costs a wake-up, measured here at
 * 60 us. Returns OO7_SENT (or, with no frame, connected) with c->fd set, or
 * another result with c->fd at -1.
 */
static enum oo7_result open_daemon(pam_handle_t *pamh, const struct oo7_opts *o,
				   const struct passwd *pw,
				   const struct oo7_frame *f,
				   struct oo7_conn *c)
{
	struct oo7_creds creds;
	char path[OO7_SUN_PATH_MAX] = "";
	enum oo7_result res;
	struct stat st;
	int r;

	c->fd = -1;
	r = become_user(pw, &creds);
	if (r < 0) {
		oo7_log(pamh, LOG_ERR, "Failed to take the rights of %s: %s",
			pw->pw_name, strerror(-r));
		restore_creds(&creds);
		return OO7_FAILED;
	}
	r = find_socket(pamh, o, pw, path, &st);
	if (r < 0)
		res = connect_result(pamh, o, path, r, pw);
	else if (!check_socket(pamh, path, &st, pw))
		res = OO7_FAILED;
	else if ((r = connect_socket(path, c->deadline)) < 0)
		res = connect_result(pamh, o, path, r, pw);
	else if (c->fd = r, !check_peer(pamh, c->fd, path, pw))
		res = OO7_FAILED;
	else
		res = f ? send_frame(pamh, c, path, f) : OO7_SENT;
	if (restore_creds(&creds) < 0)
		oo7_log(pamh, LOG_CRIT,
			"Failed to restore the identity of the host after "
			"reaching %s",
			path);
	if (res != OO7_SENT && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	return res;
}

/* ---- reply ---- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A (bs) reply as the daemon sends it: its verdict, and its words. */
struct oo7_reply {
	bool ok;
	const uint8_t *msg; /* into the buffer read; no NUL inside */
	size_t msg_len;
};

/* Reads a (bs) body in the request's encoding; false when malformed. */
static bool parse_reply(enum oo7_encoding enc, const uint8_t *b, size_t n,
			struct oo7_reply *reply)
{
	uint32_t flag;

	if (enc == OO7_ENC_DBUS) {
		if (n < 9 || get_le32(b + 4) != n - 9)
			return false;
		flag = get_le32(b);
		reply->msg = b + 8;
	} else {
		if (n < 2)
			return false;
		flag = b[0];
		reply->msg = b + 1;
	}
	reply->msg_len = n - (size_t)(reply->msg - b) - 1;
	if (flag > 1 || b[n - 1] || memchr(reply->msg, 0, reply->msg_len))
		return false;
	reply->ok = flag;
	return true;
}

/*
 * A reply that is not (bs) in our encoding; when it is in the other one,
 * the daemon and encoding= disagree, and the log says which to set.
 */
static void log_malformed(pam_handle_t *pamh, enum oo7_encoding enc,
			  const uint8_t *b, size_t n)
{
	enum oo7_encoding other =
	    enc == OO7_ENC_DBUS ? OO7_ENC_GVARIANT : OO7_ENC_DBUS;
	struct oo7_reply reply;

	if (parse_reply(other, b, n, &reply))
		oo7_log(pamh, LOG_WARNING,
			"The daemon replied in %s marshalling: set "
			"encoding=%s",
			other == OO7_ENC_DBUS ? "D-Bus" : "GVariant",
			other == OO7_ENC_DBUS ? "dbus" : "gvariant");
	else
		oo7_log(pamh, LOG_WARNING,
			"Ignoring a malformed reply from the daemon");
}

/*
 * Waits for the daemon to close (oo7 0.6) or to answer (0.7 and later), and
 * logs a refusal. It never changes what the hook returns.
 */
static void read_reply(pam_handle_t *pamh, const struct oo7_opts *o,
		       enum oo7_op op, const struct oo7_conn *c)
{
	uint8_t buf[OO7_REPLY_MAX];
	struct oo7_reply reply;
	size_t got, len;
	int r;

	r = recv_full(c->fd, buf, 4, &got, c->deadline);
	if (r == 0 && got == 0 && o->encoding == OO7_ENC_GVARIANT) {
		oo7_log(pamh, LOG_WARNING,
			"The daemon closed without a reply, as oo7 0.6 does; "
			"a daemon that reads GVariant always replies: set "
			"encoding=dbus (the default)");
		return;
	}
	if (r == 0 && got == 0) {
		debug_log(pamh, o, "The daemon closed without a reply");
		return;
	}
	len = got == 4 ? get_le32(buf) : 0;
	if (r == 0 && got == 4 && len <= sizeof(buf))
		r = recv_full(c->fd, buf, len, &got, c->deadline);
	if (r < 0)
		oo7_log(pamh, LOG_WARNING, "No reply from the daemon: %s",
			strerror(-r));
	else if (got != len || len == 0 || len > sizeof(buf))
		oo7_log(pamh, LOG_WARNING,
			"Ignoring a malformed reply from the daemon");
	else if (!parse_reply(o->encoding, buf, len, &reply))
		log_malformed(pamh, o->encoding, buf, len);
	else if (!reply.ok)
		/* bounded by the log line; escaped by oo7_log */
		oo7_log(pamh, LOG_WARNING, "The daemon could not %s: %.*s",
			op_name(op), (int)reply.msg_len,
			(const char *)reply.msg);
	else
		debug_log(pamh, o, "The daemon confirmed: %s", op_name(op));
}

/* ---- delivery ---- */

/*
 * One attempt: the frame to the user's daemon, then its answer, all before
 * c->deadline. Returns OO7_SENT, OO7_NO_DAEMON or OO7_FAILED (logged).
 */
static enum oo7_result deliver_frame(pam_handle_t *pamh,
				     const struct oo7_opts *o,
				     const struct oo7_request *req,
				     const struct oo7_frame *f,
				     uint64_t deadline)
{
	struct oo7_conn c = {.fd = -1, .deadline = deadline};
	enum oo7_result r = open_daemon(pamh, o, req->pw, f, &c);

	if (r != OO7_SENT)
		return r;
	debug_log(pamh, o, "Sent the %s request for %s", op_name(req->op),
		  req->user);
	read_reply(pamh, o, req->op, &c);
	close(c.fd);
	return OO7_SENT;
}

/* Encodes and delivers one request, and wipes the frame. */
static enum oo7_result send_request(pam_handle_t *pamh,
				    const struct oo7_opts *o,
				    const struct oo7_request *req,
				    uint64_t deadline)
{
	struct oo7_frame frame;
	enum oo7_result r;

	if (encode_frame(pamh, o->encoding, req, &frame) < 0)
		return OO7_FAILED;
	r = deliver_frame(pamh, o, req, &frame, deadline);
	free_frame(&frame); /* the last use of the secrets */
	return r;
}

/* Only sees whether a daemon answers: connects, and sends nothing. */
static enum oo7_result probe_daemon(pam_handle_t *pamh,
				    const struct oo7_opts *o,
				    const struct passwd *pw, uint64_t deadline)
{
	struct oo7_conn c = {.fd = -1, .deadline = deadline};
	enum oo7_result r = open_daemon(pamh, o, pw, NULL, &c);

	if (c.fd >= 0)
		close(c.fd);
	return r;
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

/*
 * The user's groups, all of them: getgrouplist says how many there are when
 * the first guess is short. 0 or -ENOMEM.
 */
static int user_groups(const struct passwd *pw, gid_t **groups, int *n)
{
	int want = 32;

	for (int tries = 0; tries < 3; tries++) {
		gid_t *g = realloc(*groups, (size_t)want * sizeof(gid_t));

		if (!g)
			return -ENOMEM;
		*groups = g;
		*n = want;
		if (getgrouplist(pw->pw_name, pw->pw_gid, *groups, n) >= 0)
			return 0;
		want = *n > want ? *n : 2 * want;
	}
	return -ENOMEM;
}

/* What the daemon's process needs, all prepared before fork. */
struct oo7_spawn {
	const char *path;
	char *argv[3];
	struct oo7_env env;
	gid_t *groups;
	int ngroups;
	int stdin_fd;  /* the child's end, or -1 for /dev/null */
	int status_fd; /* the child's end: errno if the start fails */
	int in;	       /* our end of stdin, or -1 */
	int status;    /* our end of the status channel */
};

/* In a child: fd moved to 3 or above (0..2 are about to be replaced). */
static int lift_fd(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* In the grandchild: marks every fd from 3 up to be closed by exec. */
static void close_on_exec_from_3(void)
{
	struct rlimit rl;

	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	/* Kernels before 5.11: one by one, up to the limit of open files. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > (1U << 20))
		rl.rlim_cur = 1U << 20;
	for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/*
 * In the grandchild: stdin from in (or /dev/null), stdout and stderr on
 * /dev/null, every other fd closed at exec. The sources are lifted above 2
 * first: a host that runs with 0..2 closed hands us fds in that range, and a
 * dup2 of an fd onto itself would keep its close-on-exec. 0 or -errno.
 */
static int setup_stdio(int in)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0 || (null = lift_fd(null)) < 0)
		return -errno;
	in = in >= 0 ? lift_fd(in) : null;
	if (in < 0)
		return -errno;
	if (dup2(in, 0) != 0 || dup2(null, 1) != 1 || dup2(null, 2) != 2)
		return -errno;
	close_on_exec_from_3();
	return 0;
}

/* In the grandchild: every handler to dfl (SIG_IGN also drops pending). */
static void set_all_signals(void (*handler)(int))
{
	struct sigaction sa = {.sa_handler = handler};

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP: EINVAL */
}

/*
 * In a child: the user's ids, all of them, with these supplementary
 * groups, checked. 0 or -errno.
 */
static int become_user_fully(const struct passwd *pw, const gid_t *groups,
			     int ngroups)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;

	if (setgroups((size_t)ngroups, groups) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 ||
	    getresuid(&r, &e, &s) < 0 || getresgid(&gr, &ge, &gs) < 0)
		return -errno;
	if (r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid ||
	    gr != pw->pw_gid || ge != pw->pw_gid || gs != pw->pw_gid)
		return -EPERM;
	return 0;
}

/*
 * In the grandchild, every signal blocked since before fork: ignore them all
 * (which drops what the host's process group was sent meanwhile), set up
 * the process, leave the host's session, then default handlers, an empty
 * mask, and exec. Never returns; a failure writes its errno to the parent.
 */
static void exec_daemon(const struct oo7_spawn *sp, const struct passwd *pw)
{
	sigset_t none;
	int status = lift_fd(sp->status_fd), err;

	if (status < 0)
		status = sp->status_fd;
	set_all_signals(SIG_IGN);
	umask(077);
	err = setup_stdio(sp->stdin_fd);
	err = err ?: become_user_fully(pw, sp->groups, sp->ngroups);
	if (!err && setsid() < 0)
		err = -errno;
	if (!err && chdir(pw->pw_dir) < 0 && chdir("/") < 0)
		err = -errno;
	if (!err) {
		set_all_signals(SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(sp->path, sp->argv, sp->env.v);
		err = -errno;
	}
	err = -err;
	if (write(status, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

/* Blocks every signal in this thread; glibc's sigprocmask is per thread. */
static void block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, old);
}

/*
 * Forks twice so that the daemon is nobody's child here: the intermediate
 * child exits right after its fork and is reaped now. Every signal stays
 * blocked in this thread around fork, so that none of the host's handlers
 * runs in a child. Returns 0 or -errno.
 */
static int fork_lasting(const struct oo7_spawn *sp, const struct passwd *pw)
{
	sigset_t old;
	pid_t pid;
	int err;

	block_signals(&old);
	pid = fork();
	if (pid == 0) {
		pid = fork();
		if (pid == 0)
			exec_daemon(sp, pw);
		err = errno;
		if (pid < 0 && write(sp->status_fd, &err, sizeof(err)) < 0)
			_exit(2);
		_exit(pid < 0);
	}
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -err;
	/* ECHILD: a host that ignores SIGCHLD, or reaps in a handler. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/*
 * Whether a child of ours stays ours until we reap it: no host handler or
 * SA_NOCLDWAIT may reap it first, after which its pid could be reused.
 */
static bool children_wait_for_us(void)
{
	struct sigaction sa;

	return sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
	       !(sa.sa_flags & SA_NOCLDWAIT);
}

/*
 * Forks once, for a daemon that this call stops again: our child, held by
 * a pidfd taken before the child may go on (it waits for a byte on the
 * status channel), so that no signal ever reaches a reused pid. Without
 * pidfd_open (before Linux 5.3, valgrind), the pid serves only while no one
 * else can reap our children. Returns 0 or -errno.
 */
static int fork_for_this_call(const struct oo7_spawn *sp, struct oo7_start *st)
{
	sigset_t old;
	pid_t pid;
	char go;
	int err;

	block_signals(&old);
	pid = fork();
	if (pid == 0) {
		if (read(sp->status_fd, &go, 1) == 1 && go == 'g')
			exec_daemon(sp, st->pw);
		_exit(0);
	}
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -err;
	st->pid = pid;
	st->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (st->pidfd < 0 && !children_wait_for_us())
		st->pid = 0; /* ours to start, not to stop */
	if (send(sp->status, "g", 1, MSG_NOSIGNAL) == 1)
		return 0;
	err = errno;
	shutdown(sp->status, SHUT_WR); /* the child reads end of file, exits */
	if (st->pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	st->pid = 0;
	return -err;
}

/* Everything but the fork: path, argv, environment, groups, sockets. */
static int prepare_spawn(pam_handle_t *pamh, const struct oo7_opts *o,
			 const struct passwd *pw, const char *password,
			 struct oo7_spawn *sp)
{
	int pin[2] = {-1, -1}, pst[2] = {-1, -1};

	sp->path = find_daemon(o);
	if (!sp->path) {
		oo7_log(pamh, LOG_WARNING,
			"No oo7-daemon to start: none of daemon= and the "
			"usual paths is executable");
		return -ENOENT;
	}
	sp->argv[0] = (char *)sp->path;
	sp->argv[1] = password ? (char *)"--login" : NULL;
	/* Sockets, not pipes: a send with MSG_NOSIGNAL raises no SIGPIPE. */
	if (user_groups(pw, &sp->groups, &sp->ngroups) < 0 ||
	    build_env(pamh, pw, &sp->env) < 0 ||
	    (password &&
	     socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pin) < 0) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pst) < 0) {
		oo7_log(pamh, LOG_ERR, "Failed to prepare %s: %m", sp->path);
		if (pin[0] >= 0) {
			close(pin[0]);
			close(pin[1]);
		}
		return -ENOMEM;
	}
	sp->stdin_fd = pin[0];
	sp->status_fd = pst[0];
	sp->in = pin[1];
	sp->status = pst[1];
	return 0;
}

/* Closes the child's ends and frees what was prepared for it. */
static void finish_spawn(struct oo7_spawn *sp)
{
	if (sp->stdin_fd >= 0)
		close(sp->stdin_fd);
	if (sp->status_fd >= 0)
		close(sp->status_fd);
	sp->stdin_fd = sp->status_fd = -1;
	free_env(&sp->env);
	free(sp->groups);
	sp->groups = NULL;
}

/*
 * Reads the status channel: an errno when a fork or anything before exec
 * failed; end of file once exec closed the channel. Returns 0 when the
 * daemon runs, or -errno (logged).
 */
static int report_start(pam_handle_t *pamh, const struct oo7_opts *o,
			const struct oo7_spawn *sp, uint64_t deadline)
{
	int err = 0, r;
	size_t got;

	r = recv_full(sp->status, (uint8_t *)&err, sizeof(err), &got, deadline);
	if (r < 0) {
		oo7_log(pamh, LOG_WARNING,
			"%s did not start before the timeout; left behind",
			sp->path);
		return r;
	}
	if (got == sizeof(err)) {
		oo7_log(pamh, LOG_ERR, "Failed to start %s: %s", sp->path,
			strerror(err));
		return -err;
	}
	debug_log(pamh, o, "Started %s", sp->path);
	return 0;
}

/* ---- the session bus ---- */

/*
 * A systemd user manager starts oo7-daemon as a service when the session
 * bus is asked for org.freedesktop.secrets: the daemon is then the
 * service manager's, not a child of one login. The bus refuses uid 0, so
 * the call is made by a child running as the user; it builds its messages
 * on the stack (no allocation after fork), checks every length it reads,
 * and keeps the deadline.
 */

/* What the child found out, sent back whole over a socket. */
struct oo7_bus_answer {
	enum oo7_bus_result result;
	uint32_t owner_pid; /* OO7_BUS_OTHER_OWNER: the owner's pid, or 0 */
	char owner[OO7_BUS_NAME_MAX + 1];
	char error[OO7_BUS_NAME_MAX + 1]; /* a D-Bus error name */
};

/*
 * Bytes of a message, in the byte order its first byte names: a bus writes
 * in its host's, 'B' on a big-endian one (s390x).
 */
struct oo7_bus_in {
	const uint8_t *b;
	size_t n;
	bool big;
};

/* A message being read: its header fields, and its body. */
struct oo7_bus_msg {
	uint8_t type;
	uint32_t reply_serial;
	struct oo7_bus_in body;
	char signature[8];
	char error[OO7_BUS_NAME_MAX + 1];
};

static void bus_pad(struct oo7_frame *f, size_t align)
{
	while (f->len % align)
		f->data[f->len++] = 0;
}

/* A length written after the fact, little endian as the message says. */
static void bus_set_u32(struct oo7_frame *f, size_t at, size_t v)
{
	size_t end = f->len;

	f->len = at;
	put_uint(f, v, 4);
	f->len = end;
}

static void bus_put_string(struct oo7_frame *f, const char *s)
{
	bus_pad(f, 4);
	put_uint(f, strlen(s), 4);
	put_bytes(f, s, strlen(s) + 1);
}

/* One header field (yv): its code, the variant's signature, its value. */
static void bus_put_field(struct oo7_frame *f, uint8_t code, char type,
			  const char *value)
{
	const char sig[2] = {type, '\0'};

	bus_pad(f, 8);
	put_uint(f, code, 1);
	put_uint(f, 1, 1);
	put_bytes(f, sig, 2);
	if (type == 'g') {
		put_uint(f, strlen(value), 1);
		put_bytes(f, value, strlen(value) + 1);
	} else {
		bus_put_string(f, value);
	}
}

/* The body a call to the bus driver takes: a name, and maybe flags. */
struct oo7_bus_args {
	const char *name; /* or NULL: no body */
	bool with_flags;  /* (su), flags 0: StartServiceByName */
};

/*
 * A method call to org.freedesktop.DBus, marshalled into f (whose data has
 * room for OO7_BUS_MSG_MAX bytes; the names are short and fixed).
 */
static void bus_call(struct oo7_frame *f, uint32_t serial, const char *member,
		     const struct oo7_bus_args *args)
{
	size_t body_at;

	f->len = 0;
	put_bytes(f, "l\1\0\1", 4); /* little endian, call, no flags, v1 */
	put_uint(f, 0, 4);	    /* body length, set below */
	put_uint(f, serial, 4);
	put_uint(f, 0, 4); /* header fields length, set below */
	bus_put_field(f, 1, 'o', "/org/freedesktop/DBus");
	bus_put_field(f, 2, 's', "org.freedesktop.DBus");
	bus_put_field(f, 3, 's', member);
	bus_put_field(f, 6, 's', "org.freedesktop.DBus");
	if (args->name)
		bus_put_field(f, 8, 'g', args->with_flags ? "su" : "s");
	bus_set_u32(f, 12, f->len - 16);
	bus_pad(f, 8);
	body_at = f->len;
	if (args->name)
		bus_put_string(f, args->name);
	if (args->with_flags) {
		bus_pad(f, 4);
		put_uint(f, 0, 4);
	}
	bus_set_u32(f, 4, f->len - body_at);
}

/* The u32 at offset at of in, in the message's byte order. */
static uint32_t bus_u32(const struct oo7_bus_in *in, size_t at)
{
	const uint8_t *p = in->b + at;

	if (!in->big)
		return get_le32(p);
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads a u32 at *at, aligned to 4 first, within in. */
static bool bus_get_u32(const struct oo7_bus_in *in, size_t *at, uint32_t *v)
{
	*at = (*at + 3) & ~(size_t)3;
	if (*at + 4 > in->n)
		return false;
	*v = bus_u32(in, *at);
	*at += 4;
	return true;
}

/*
 * Reads a string (s, o: u32 length; g: u8 length) at *at into out (when
 * out is given, OO7_BUS_NAME_MAX + 1 bytes), checking its length and NUL.
 */
static bool bus_get_string(const struct oo7_bus_in *in, size_t *at, char type,
			   char *out)
{
	const uint8_t *b = in->b;
	size_t n = in->n;
	uint32_t len;

	if (type == 'g') {
		if (*at >= n)
			return false;
		len = b[(*at)++];
	} else if (!bus_get_u32(in, at, &len)) {
		return false;
	}
	if (len > n || *at + len + 1 > n || b[*at + len] ||
	    memchr(b + *at, 0, len))
		return false;
	if (out) {
		if (len > OO7_BUS_NAME_MAX)
			return false;
		memcpy(out, b + *at, len + 1);
	}
	*at += len + 1;
	return true;
}

/* One header field; only the types the bus driver's replies carry. */
static bool bus_get_field(const struct oo7_bus_in *in, size_t *at,
			  struct oo7_bus_msg *m)
{
	const uint8_t *b = in->b;
	uint8_t code;
	char type;
	uint32_t u;

	*at = (*at + 7) & ~(size_t)7;
	if (*at + 4 > in->n || b[*at + 1] != 1 || b[*at + 3] != 0)
		return false;
	code = b[*at];
	type = (char)b[*at + 2];
	*at += 4;
	if (type == 'u')
		return bus_get_u32(in, at, code == 5 ? &m->reply_serial : &u);
	if (type == 's' || type == 'o')
		return bus_get_string(in, at, type,
				      code == 4 ? m->error : NULL);
	if (type == 'g') {
		char sig[OO7_BUS_NAME_MAX + 1];

		if (!bus_get_string(in, at, type, sig))
			return false;
		if (code == 8 && strlen(sig) >= sizeof(m->signature))
			return false;
		if (code == 8)
			memcpy(m->signature, sig, strlen(sig) + 1);
		return true;
	}
	return false;
}

/*
 * The message at the start of b (n bytes), when all of it is there: its
 * type, reply serial, error name, signature and body. Returns its length,
 * 0 when more bytes are needed, or -EBADMSG.
 */
static ssize_t bus_parse(const uint8_t *b, size_t n, struct oo7_bus_msg *m)
{
	struct oo7_bus_in in = {.b = b, .n = n, .big = n && b[0] == 'B'};
	uint32_t body_len, fields_len;
	size_t at = 16, end, total;

	if (n < 16)
		return 0;
	if ((b[0] != 'l' && b[0] != 'B') || b[3] != 1)
		return -EBADMSG;
	body_len = bus_u32(&in, 4);
	fields_len = bus_u32(&in, 12);
	if (fields_len > OO7_BUS_READ_MAX || body_len > OO7_BUS_READ_MAX)
		return -EBADMSG;
	end = 16 + fields_len;
	total = ((end + 7) & ~(size_t)7) + body_len;
	if (total > OO7_BUS_READ_MAX)
		return -EBADMSG;
	if (n < total)
		return 0;
	*m = (struct oo7_bus_msg){.type = b[1]};
	in.n = end; /* the fields, within the header */
	while (at < end)
		if (!bus_get_field(&in, &at, m))
			return -EBADMSG;
	m->body = (struct oo7_bus_in){
	    .b = b + total - body_len, .n = body_len, .big = in.big};
	return (ssize_t)total;
}

/* The child's connection to the bus: its fd, deadline and what it read. */
struct oo7_bus_conn {
	int fd;
	uint64_t deadline;
	uint8_t buf[OO7_BUS_READ_MAX];
	size_t have;
	size_t used; /* the length of the message last handed out */
};

/*
 * The next message that answers serial; what comes before it (the
 * NameAcquired signal, Hello's reply) is skipped. 0 or -errno.
 */
static int bus_await(struct oo7_bus_conn *c, uint32_t serial,
		     struct oo7_bus_msg *m)
{
	ssize_t len, n;
	int r;

	for (;;) {
		memmove(c->buf, c->buf + c->used, c->have - c->used);
		c->have -= c->used;
		c->used = 0;
		len = bus_parse(c->buf, c->have, m);
		if (len < 0)
			return (int)len;
		if (len > 0) {
			c->used = (size_t)len;
			if ((m->type == 2 || m->type == 3) &&
			    m->reply_serial == serial)
				return 0;
			continue;
		}
		if (c->have == sizeof(c->buf))
			return -EBADMSG;
		n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have,
			 MSG_DONTWAIT);
		if (n > 0) {
			c->have += (size_t)n;
		} else if (n == 0) {
			return -ECONNRESET;
		} else if (errno == EAGAIN) {
			r = wait_fd(c->fd, POLLIN, c->deadline);
			if (r < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
}

/* Sends one call to the bus driver; 0 or -errno. */
static int bus_send_call(struct oo7_bus_conn *c, uint32_t serial,
			 const char *member, const struct oo7_bus_args *args)
{
	uint8_t out[OO7_BUS_MSG_MAX];
	struct oo7_frame f = {.data = out, .cap = sizeof(out)};

	bus_call(&f, serial, member, args);
	return send_all(c->fd, f.data, f.len, c->deadline);
}

/*
 * SASL EXTERNAL: the bus takes our uid from the socket and checks it
 * against the one we name, as the hex of its decimal digits. Waits for
 * the bus's OK, then BEGIN. 0 or -errno.
 */
static int bus_auth(struct oo7_bus_conn *c, uid_t uid)
{
	char digits[16], line[64] = "\0AUTH EXTERNAL ";
	size_t n = strlen(line + 1) + 1, got;
	uint8_t reply[256];
	int r;

	snprintf(digits, sizeof(digits), "%u", (unsigned int)uid);
	for (size_t i = 0; digits[i]; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x",
				      (unsigned char)digits[i]);
	memcpy(line + n, "\r\n", 2);
	r = send_all(c->fd, (const uint8_t *)line, n + 2, c->deadline);
	for (got = 0; !r && got < sizeof(reply);) {
		size_t one;

		r = recv_full(c->fd, reply + got, 1, &one, c->deadline);
		if (!r && !one)
			r = -ECONNRESET;
		if (!r && ++got >= 2 && reply[got - 2] == '\r' &&
		    reply[got - 1] == '\n')
			break;
	}
	if (r)
		return r;
	if (got < 5 || memcmp(reply, "OK ", 3) || reply[got - 1] != '\n')
		return -EACCES;
	return send_all(c->fd, (const uint8_t *)"BEGIN\r\n", 7, c->deadline);
}

/* The reply to serial: a u32 in *v, or an error name into a->error. */
static int bus_reply_u32(struct oo7_bus_conn *c, uint32_t serial, uint32_t *v,
			 struct oo7_bus_answer *a)
{
	struct oo7_bus_msg m;
	int r = bus_await(c, serial, &m);

	if (r < 0)
		return r;
	if (m.type == 3) {
		memcpy(a->error, m.error, sizeof(a->error));
		return -ENOENT;
	}
	if (strcmp(m.signature, "u") || m.body.n < 4)
		return -EBADMSG;
	*v = bus_u32(&m.body, 0);
	return 0;
}

/* Who owns org.freedesktop.secrets: its unique name and its pid. */
static void bus_ask_owner(struct oo7_bus_conn *c, struct oo7_bus_answer *a)
{
	const struct oo7_bus_args secrets = {.name = OO7_BUS_SECRETS};
	struct oo7_bus_msg m;
	size_t at = 0;

	if (bus_send_call(c, 3, "GetNameOwner", &secrets) < 0 ||
	    bus_await(c, 3, &m) < 0 || m.type != 2 ||
	    strcmp(m.signature, "s") ||
	    !bus_get_string(&m.body, &at, 's', a->owner)) {
		a->owner[0] = '\0';
		return;
	}
	if (bus_send_call(c, 4, "GetConnectionUnixProcessID",
			  &(struct oo7_bus_args){.name = a->owner}) < 0 ||
	    bus_reply_u32(c, 4, &a->owner_pid, a) < 0)
		a->owner_pid = 0;
}

/*
 * In the child, as the user: Hello, then StartServiceByName for the
 * Secret Service, and what came of it in *a.
 */
static void bus_start_service(struct oo7_bus_conn *c, uid_t uid,
			      struct oo7_bus_answer *a)
{
	const struct oo7_bus_args start = {.name = OO7_BUS_SECRETS,
					   .with_flags = true};
	const struct oo7_bus_args none = {0};
	uint32_t v;
	int r;

	a->result = OO7_BUS_FAILED;
	if (bus_auth(c, uid) < 0 || bus_send_call(c, 1, "Hello", &none) < 0 ||
	    bus_send_call(c, 2, "StartServiceByName", &start) < 0)
		return;
	r = bus_reply_u32(c, 2, &v, a);
	if (r == -ENOENT)
		a->result = OO7_BUS_ERROR;
	else if (r == 0 && v == 1) /* DBUS_START_REPLY_SUCCESS */
		a->result = OO7_BUS_STARTED;
	else if (r == 0 && v == 2) /* DBUS_START_REPLY_ALREADY_RUNNING */
		a->result = OO7_BUS_OTHER_OWNER;
	if (a->result == OO7_BUS_OTHER_OWNER)
		bus_ask_owner(c, a);
}

/*
 * The user's session bus: $XDG_RUNTIME_DIR/bus from the PAM environment,
 * else /run/user/UID/bus; a socket that the user owns. 0 or -errno.
 */
static int find_bus(pam_handle_t *pamh, const struct passwd *pw, char *path)
{
	const char *xdg = pam_getenv(pamh, "XDG_RUNTIME_DIR");
	struct stat st;
	int r = -ENOENT;

	if (xdg && xdg[0] == '/')
		r = look_up(path, &st, "%s/bus", xdg);
	if (r < 0)
		r = look_up(path, &st, "/run/user/%u/bus",
			    (unsigned int)pw->pw_uid);
	if (r == 0 && (!S_ISSOCK(st.st_mode) || st.st_uid != pw->pw_uid))
		r = -EPERM;
	return r;
}

/* The child: as the user, the call; its answer to out; never returns. */
static void bus_child(const struct passwd *pw, const char *path, int out,
		      uint64_t deadline)
{
	struct oo7_bus_conn c = {.fd = -1, .deadline = deadline};
	struct oo7_bus_answer a = {.result = OO7_BUS_NONE};

	if (become_user_fully(pw, &pw->pw_gid, 1) == 0 &&
	    (c.fd = connect_socket(path, deadline)) >= 0)
		bus_start_service(&c, pw->pw_uid, &a);
	if (send_all(out, (const uint8_t *)&a, sizeof(a), deadline) < 0)
		_exit(1);
	_exit(0);
}

/*
 * Asks the user's session bus to start org.freedesktop.secrets, from a
 * child running as the user, every signal blocked in it. Returns what the
 * child found out (OO7_BUS_NONE when there is no bus).
 */
static enum oo7_bus_result ask_bus(pam_handle_t *pamh, const struct passwd *pw,
				   uint64_t deadline, struct oo7_bus_answer *a)
{
	char path[OO7_SUN_PATH_MAX];
	int sv[2], r;
	size_t got = 0;
	sigset_t old;
	pid_t pid;

	*a = (struct oo7_bus_answer){.result = OO7_BUS_NONE};
	if (find_bus(pamh, pw, path) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return OO7_BUS_NONE;
	block_signals(&old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		bus_child(pw, path, sv[1], deadline);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	r = pid < 0 ? -errno
		    : recv_full(sv[0], (uint8_t *)a, sizeof(*a), &got,
				deadline + OO7_STOP_MIN_NS);
	close(sv[0]);
	/* its waits end at the deadline; one past it is stopped */
	if (pid > 0 && r < 0 && children_wait_for_us())
		kill(pid, SIGKILL);
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r < 0 || got != sizeof(*a))
		*a = (struct oo7_bus_answer){.result = OO7_BUS_FAILED};
	a->owner[sizeof(a->owner) - 1] = a->error[sizeof(a->error) - 1] = 0;
	return a->result;
}

/* The owner's command name from /proc, or "?"; into comm (16 bytes). */
static void comm_of(uint32_t pid, char *comm, size_t size)
{
	char path[32];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = pid ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		n = read(fd, comm, size - 1);
		close(fd);
	}
	if (n <= 0)
		n = snprintf(comm, size, "?");
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

/*
 * Starts the daemon through the session bus. Returns 0 once the bus
 * started it (it is then the service manager's), -EEXIST when another
 * Secret Service owns the name (logged; nothing is started), or -ENOENT
 * when the bus cannot start it or there is no bus (a fork start may
 * follow).
 */
static int start_through_bus(pam_handle_t *pamh, const struct oo7_opts *o,
			     const struct passwd *pw, uint64_t deadline)
{
	struct oo7_bus_answer a;
	char comm[16];

	switch (ask_bus(pamh, pw, deadline, &a)) {
	case OO7_BUS_STARTED:
		debug_log(pamh, o, "The session bus started %s",
			  OO7_BUS_SECRETS);
		return 0;
	case OO7_BUS_OTHER_OWNER:
		comm_of(a.owner_pid, comm, sizeof(comm));
		oo7_log(pamh, LOG_WARNING,
			"Another Secret Service owns %s on the session bus of "
			"%s (%s, pid %u, %s): no oo7 daemon started",
			OO7_BUS_SECRETS, pw->pw_name,
			a.owner[0] ? a.owner : "?", a.owner_pid, comm);
		return -EEXIST;
	case OO7_BUS_ERROR:
		oo7_log(pamh, LOG_NOTICE,
			"The session bus could not start %s: %s",
			OO7_BUS_SECRETS, a.error);
		return -ENOENT;
	case OO7_BUS_FAILED:
		oo7_log(pamh, LOG_WARNING,
			"The session bus of %s did not answer as a bus does",
			pw->pw_name);
		return -EPROTO;
	default:
		debug_log(pamh, o, "No session bus for %s", pw->pw_name);
		return -ENOENT;
	}
}

/*
 * Forks the user's daemon, as the user, with st->password on its stdin
 * (and --login) when there is one. Costs at most the deadline. Returns 0
 * once the daemon was executed, or -errno (logged).
 */
static int fork_start(pam_handle_t *pamh, const struct oo7_opts *o,
		      struct oo7_start *st, uint64_t deadline)
{
	struct oo7_spawn sp = {
	    .stdin_fd = -1, .status_fd = -1, .in = -1, .status = -1};
	int r;

	r = prepare_spawn(pamh, o, st->pw, st->password, &sp);
	if (r == 0) {
		r = st->lifetime == OO7_DAEMON_STAYS
			? fork_lasting(&sp, st->pw)
			: fork_for_this_call(&sp, st);
		if (r < 0)
			oo7_log(pamh, LOG_ERR, "Failed to fork: %s",
				strerror(-r));
	}
	finish_spawn(&sp);
	if (r == 0 && sp.in >= 0 &&
	    send_all(sp.in, (const uint8_t *)st->password, strlen(st->password),
		     deadline) < 0)
		oo7_log(pamh, LOG_WARNING, "Failed to hand the password to %s",
			sp.path);
	if (sp.in >= 0)
		close(sp.in);
	if (r == 0)
		r = report_start(pamh, o, &sp, deadline);
	if (sp.status >= 0)
		close(sp.status);
	return r;
}

/*
 * Starts the user's daemon: through the session bus when there is one
 * (auto_start=bus, or plain auto_start), as the service manager's; else,
 * or when the bus cannot start it, forked here (auto_start=fork, or plain
 * auto_start). Returns 0 once a daemon runs, or -errno (logged).
 */
static int start_daemon(pam_handle_t *pamh, const struct oo7_opts *o,
			struct oo7_start *st, uint64_t deadline)
{
	int r;

	if (o->route != OO7_ROUTE_FORK) {
		r = start_through_bus(pamh, o, st->pw, deadline);
		if (r == 0) {
			st->via_bus = true;
			st->lifetime = OO7_DAEMON_STAYS;
			return 0;
		}
		if (r != -ENOENT || o->route == OO7_ROUTE_BUS)
			return r;
	}
	return fork_start(pamh, o, st, deadline);
}

/*
 * Reaps the child started for this call once it has exited; true when it
 * is gone. A lasting daemon, or one we may not watch, is never known gone.
 */
static bool reap_started(struct oo7_start *st)
{
	pid_t r;

	if (st->pid < 0)
		return true;
	if (st->pid == 0)
		return false;
	while ((r = waitpid(st->pid, NULL, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return false;
	st->pid = -1; /* reaped: never signal that pid again */
	return true;
}

static void signal_started(const struct oo7_start *st, int sig)
{
	if (st->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, st->pidfd, sig, NULL, 0);
	else
		kill(st->pid, sig);
}

/* Waits until the started child has exited and is reaped, or the deadline. */
static bool wait_started(struct oo7_start *st, uint64_t deadline)
{
	struct timespec pause = {.tv_nsec = OO7_START_POLL_NS / 10};

	while (!reap_started(st)) {
		if (!time_left(deadline))
			return false;
		if (st->pidfd < 0 || wait_fd(st->pidfd, POLLIN, deadline) < 0)
			nanosleep(&pause, NULL);
	}
	return true;
}

/*
 * Stops the daemon that was started for this call once it has done its
 * work: SIGTERM, SIGKILL if it is still there at the deadline (or after
 * OO7_STOP_MIN_NS), and reaped, so that the host keeps no child.
 */
static void stop_started(pam_handle_t *pamh, const struct oo7_opts *o,
			 struct oo7_start *st, uint64_t deadline)
{
	uint64_t floor = now_ns() + OO7_STOP_MIN_NS;

	if (st->pid > 0) {
		signal_started(st, SIGTERM);
		if (wait_started(st, deadline > floor ? deadline : floor)) {
			debug_log(pamh, o,
				  "Stopped the daemon started for the change");
		} else {
			signal_started(st, SIGKILL);
			if (!wait_started(st, now_ns() + OO7_STOP_MIN_NS))
				oo7_log(pamh, LOG_WARNING,
					"The daemon started for the change "
					"did not stop; left behind");
		}
	} else if (st->pid == 0 && st->lifetime == OO7_DAEMON_FOR_THIS_CALL) {
		oo7_log(pamh, LOG_NOTICE,
			"The daemon started for the change is left running: "
			"this host reaps children itself and the kernel has "
			"no pidfd");
	}
	if (st->pidfd >= 0)
		close(st->pidfd);
	st->pidfd = -1;
}

/*
 * Delivers a request to a daemon that was just started: it binds its socket
 * a moment after exec, so this tries again until the deadline, or until the
 * daemon started for this call has exited (as oo7-daemon does without a
 * session bus). Encodes once and wipes the frame.
 */
static enum oo7_result send_when_up(pam_handle_t *pamh,
				    const struct oo7_opts *o,
				    const struct oo7_request *req,
				    struct oo7_start *st, uint64_t deadline)
{
	struct timespec pause = {.tv_nsec = OO7_START_POLL_NS};
	struct oo7_frame frame;
	enum oo7_result r;

	if (encode_frame(pamh, o->encoding, req, &frame) < 0)
		return OO7_FAILED;
	while ((r = deliver_frame(pamh, o, req, &frame, deadline)) ==
		   OO7_NO_DAEMON &&
	       time_left(deadline) > OO7_START_POLL_NS && !reap_started(st))
		nanosleep(&pause, NULL);
	free_frame(&frame); /* the last use of the secrets */
	return r;
}

/* ---- what each hook does ---- */

/*
 * The request that what was kept makes: the change still pending, or the
 * unlock with the password in force.
 */
static void kept_request(const struct oo7_stash *kept, struct oo7_request *req)
{
	req->op = kept->old ? OO7_OP_CHANGE : OO7_OP_UNLOCK;
	req->old = kept->old ? kept->old : "";
	req->new = kept->password;
}

/*
 * What was kept, to the daemon: a pending change (req->op is
 * OO7_OP_CHANGE) first, so that the keyring is re-keyed, then the unlock
 * with the new password. With st, the daemon was just started: the first
 * request waits for its socket. Returns what became of the first request.
 */
static enum oo7_result send_kept(pam_handle_t *pamh, const struct oo7_opts *o,
				 const struct oo7_request *req,
				 struct oo7_start *st, uint64_t deadline)
{
	struct oo7_request unlock = *req;
	enum oo7_result r;

	r = st ? send_when_up(pamh, o, req, st, deadline)
	       : send_request(pamh, o, req, deadline);
	if (r != OO7_SENT || req->op == OO7_OP_UNLOCK)
		return r;
	unlock.op = OO7_OP_UNLOCK;
	unlock.old = "";
	send_request(pamh, o, &unlock, deadline); /* its failures are logged */
	return r;
}

/*
 * The session: what auth (or a change) kept, to the user's daemon; with
 * auto_start, a daemon started when none answers, given the password if
 * there is one (FIDO2, fingerprint and autologin leave none: it starts
 * locked), then the change still pending. What was kept for someone else
 * is wiped, and nothing happens at all.
 */
static void open_keyring(pam_handle_t *pamh, const struct oo7_opts *o)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = ""};
	struct oo7_start st = {.lifetime = OO7_DAEMON_STAYS, .pidfd = -1};
	uint64_t deadline = deadline_of(o);
	const struct oo7_stash *kept;
	enum oo7_result r;

	if (get_user(pamh, &req.user, &req.pw) < 0)
		return;
	if (kept_for(pamh, &req, &kept) == OO7_KEPT_OTHERS) {
		refuse_kept(pamh, &req, kept);
		return;
	}
	if (!kept)
		debug_log(pamh, o,
			  "No password kept by auth (none was typed, or auth "
			  "ran in another process, as sshd's "
			  "keyboard-interactive does); nothing to send");
	if (!kept && !o->auto_start)
		return;
	if (kept) {
		kept_request(kept, &req);
		r = send_kept(pamh, o, &req, NULL, deadline);
	} else {
		r = probe_daemon(pamh, o, req.pw, deadline);
	}
	st.pw = req.pw;
	st.password = req.new;
	/*
	 * --login opens what the password opens; a change needs a frame, and
	 * so does a daemon that the bus started, which got no password.
	 */
	if (r == OO7_NO_DAEMON && o->auto_start &&
	    start_daemon(pamh, o, &st, deadline) == 0 &&
	    (req.op == OO7_OP_CHANGE || (st.via_bus && req.new)))
		r = send_kept(pamh, o, &req, &st, deadline);
	if (r != OO7_SENT && req.op == OO7_OP_CHANGE)
		oo7_log(pamh, LOG_NOTICE,
			"No oo7 daemon took the change of password: the "
			"keyring was not re-keyed");
}

/*
 * setcred(PAM_REFRESH_CRED or PAM_REINITIALIZE_CRED), as screen lockers
 * call it after auth: what auth kept, to a daemon that runs, then wiped.
 * None is started here. With no daemon the copy stays for a session: sudo
 * calls setcred(PAM_REINITIALIZE_CRED) before it opens one, where
 * auto_start may start the daemon with it. What was kept for another user
 * is left to the session, which refuses it.
 */
static void refresh_keyring(pam_handle_t *pamh, const struct oo7_opts *o)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = ""};
	const struct oo7_stash *kept;

	if (get_user(pamh, &req.user, &req.pw) < 0 ||
	    kept_for(pamh, &req, &kept) != OO7_KEPT_MINE)
		return;
	kept_request(kept, &req);
	if (send_kept(pamh, o, &req, NULL, deadline_of(o)) == OO7_NO_DAEMON)
		debug_log(pamh, o,
			  "No daemon runs; the password is kept for "
			  "a session");
	else
		drop_stash(pamh);
}

/*
 * No daemon took the change: start one for it whatever auto_start says,
 * as re-keying with the password is what cannot wait, deliver the change,
 * and stop the daemon again unless auto_start keeps it.
 */
static enum oo7_result rekey_through_a_start(pam_handle_t *pamh,
					     const struct oo7_opts *o,
					     const struct oo7_request *req,
					     uint64_t deadline)
{
	struct oo7_start st = {
	    .pw = req->pw,
	    .lifetime =
		o->auto_start ? OO7_DAEMON_STAYS : OO7_DAEMON_FOR_THIS_CALL,
	    .pidfd = -1,
	};
	enum oo7_result r = OO7_NO_DAEMON;

	if (start_daemon(pamh, o, &st, deadline) == 0) {
		r = send_when_up(pamh, o, req, &st, deadline);
		stop_started(pamh, o, &st, deadline);
	}
	return r;
}

/*
 * The password change; then the new password is the one kept for a
 * session on this handle, with the change itself when no daemon took it
 * (before pam_systemd has made the session bus, oo7-daemon cannot start):
 * the session delivers it first.
 */
static void rekey(pam_handle_t *pamh, const struct oo7_opts *o, const char *old,
		  const char *new)
{
	struct oo7_request req = {.op = OO7_OP_CHANGE, .old = old, .new = new};
	uint64_t deadline = deadline_of(o);
	enum oo7_result r;

	if (get_user(pamh, &req.user, &req.pw) < 0)
		return;
	r = send_request(pamh, o, &req, deadline);
	if (r == OO7_NO_DAEMON)
		r = rekey_through_a_start(pamh, o, &req, deadline);
	if (r == OO7_SENT)
		req.op = OO7_OP_UNLOCK;
	else
		oo7_log(pamh, LOG_NOTICE,
			"No oo7 daemon took the change: the keyring is not "
			"re-keyed yet; a session opened on this handle will "
			"try again");
	keep_password(pamh, &req);
}

/* Root set the password: no old one to re-key with; keep the new one. */
static void keep_new_password(pam_handle_t *pamh, const char *new)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = "", .new = new};

	oo7_log(pamh, LOG_NOTICE,
		"No old password (as when root sets it): the keyring was not "
		"re-keyed");
	if (get_user(pamh, &req.user, &req.pw) == 0)
		keep_password(pamh, &req);
}

/* ---- hooks ---- */

/*
 * Returns PAM_IGNORE: this module authenticates no one. It sends nothing
 * either: the password of a failed attempt never leaves the module.
 */
OO7_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	struct oo7_opts o;

	(void)flags;
	parse_opts(pamh, argc, argv, &o);
	/* A retry on the same handle must never carry an older password. */
	drop_stash(pamh);
	if (service_wanted(pamh, &o) && keep_authtok(pamh) == 0)
		debug_log(pamh, &o, "Kept the password for the session");
	return PAM_IGNORE;
}

/*
 * PAM_REFRESH_CRED, PAM_REINITIALIZE_CRED (screen lockers): the kept
 * password to a running daemon, then wiped (kept for a session when no
 * daemon runs). PAM_DELETE_CRED: wiped.
 * PAM_ESTABLISH_CRED: kept for the session. Returns PAM_IGNORE.
 */
OO7_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			      const char **argv)
{
	struct oo7_opts o;

	parse_opts(pamh, argc, argv, &o);
	if (flags & (PAM_REFRESH_CRED | PAM_REINITIALIZE_CRED)) {
		if (service_wanted(pamh, &o))
			refresh_keyring(pamh, &o);
	} else if (flags & PAM_DELETE_CRED) {
		drop_stash(pamh);
	}
	return PAM_IGNORE;
}

OO7_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	struct oo7_opts o;

	(void)flags;
	parse_opts(pamh, argc, argv, &o);
	if (service_wanted(pamh, &o))
		open_keyring(pamh, &o);
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

/*
 * On PAM_UPDATE_AUTHTOK, asks the daemon to re-key old to new, starting
 * one for it if none answers; keeps the new password for a session.
 */
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
	if (!new)
		oo7_log(pamh, LOG_NOTICE,
			"No new password: the keyring was not re-keyed");
	else if (!old)
		keep_new_password(pamh, new);
	else
		rekey(pamh, &o, old, new);
	return PAM_SUCCESS;
}
