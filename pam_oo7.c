// SPDX-License-Identifier: MIT
/*
 * pam_oo7 - unlock the user's oo7 keyrings with the login password, and
 * re-key them when that password changes.
 *
 * auth:     keeps a private copy of PAM_AUTHTOK (set by pam_unix or a module
 *           like it earlier in the stack) with pam_set_data, because libpam
 *           wipes PAM_AUTHTOK when pam_authenticate returns. The copy
 *           records whose it is: the uid PAM_USER had then. It sends
 *           nothing; a copy that no later hook used goes to a running
 *           daemon at a pam_end with PAM_SUCCESS in a process of the
 *           user's (lockers that call pam_authenticate alone). libpam
 *           says nothing of the rest of the stack: the auth line belongs
 *           where a wrong password never arrives (pam_oo7(8), WHERE THE
 *           AUTH LINE GOES).
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
 * When no daemon answers, a daemon on its way still gets the password: with
 * auto_start (and for a change), the user's service manager is asked to
 * start oo7-daemon.service, the unit every oo7 ships; without a manager, the
 * daemon is forked as the user with the password on its stdin. Never for
 * root, system users or a greeter's session, unless start_always.
 *
 *	auth     optional pam_oo7.so
 *	session  optional pam_oo7.so auto_start
 *	password optional pam_oo7.so
 *
 * The wire format is the GVariant (oo7 after 0.7.0.alpha) or D-Bus (0.6,
 * 0.7.0.alpha) marshalling of (ysayay), preceded by its length as a
 * little-endian u32; encoding=auto tries the first, then the second; see
 * pam_oo7(8), PROTOCOL.
 *
 * Call map (no chain from a hook is more than 10 calls deep):
 *   pam_sm_authenticate -> kept_store_authtok -> get_user, kept_store
 *   pam_sm_setcred      -> refresh_keyring -> kept_whose, kept_send
 *   pam_sm_open_session -> open_keyring -> kept_whose (kept_refuse),
 *                          kept_send | look_for_daemon; bring_up, kept_send
 *   pam_sm_chauthtok    -> rekey -> send_request; bring_up, send_request,
 *                          end_child; kept_store
 *   pam_end (libpam)    -> kept_cleanup -> unlock_at_end -> send_request
 *   kept_send    -> send_request: a change, then an unlock
 *   send_request -> send_once (again while a daemon starts) -> open_daemon,
 *                   deliver_in (encode_frame), read_reply; in GVariant,
 *                   then in D-Bus marshalling
 *   open_daemon  -> become_user, find_socket, check_socket, connect_socket,
 *                   check_peer, restore_creds
 *   bring_up     -> may_start; ask_bus -> fork_child, (in the child, as
 *                   the user) bus_ask -> bus_auth, bus_rpc; judge_answer;
 *                   fork_start -> prepare_spawn, fork_child,
 *                   start_grandchild | exec_daemon, report_start
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <limits.h>
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
#include <sys/prctl.h>
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

#define OO7_KEPT_KEY "pam_oo7_authtok"
/* Set once a copy kept for another user was wiped: no start follows. */
#define OO7_REFUSED_KEY "pam_oo7_refused"
#define OO7_ENV_SOCKET "OO7_PAM_SOCKET"
#define OO7_TIMEOUT_DEFAULT_MS 2000U
#define OO7_TIMEOUT_MAX_MS 60000U
/* The D-Bus specification caps an array at 64 MiB; GVariant takes the same. */
#define OO7_FIELD_MAX (64U << 20)
/* A reply is (bs) with a short message: read no more than this of it. */
#define OO7_REPLY_MAX 4096U
/* A log line before escaping; a daemon's message is cut to fit. */
#define OO7_LOG_LINE_MAX 1024U
/*
 * While a daemon starts, how often to look for its socket: each look costs
 * microseconds. An inotify watch on its folder measured slower (a wake-up
 * for every file the daemon writes, and a close that waits for the
 * kernel's SRCU grace period).
 */
#define OO7_START_POLL_NS 2000000U
/* How often to look whether a child without a pidfd has exited. */
#define OO7_CHILD_POLL_NS 1000000U
/* A killed child is gone in microseconds; this is a margin, not a wait. */
#define OO7_KILL_WAIT_NS 100000000U
/* PF_FORKNOEXEC of the kernel's task flags: forked, never executed. */
#define OO7_PF_FORKNOEXEC 0x40ULL
/* The session bus: the Secret Service's name, and oo7's user unit. */
#define OO7_BUS_SECRETS "org.freedesktop.secrets"
#define OO7_UNIT "oo7-daemon.service"
#define OO7_MANAGER_PATH "/org/freedesktop/systemd1"
#define OO7_MANAGER_IFACE "org.freedesktop.systemd1.Manager"
/*
 * An oo7-daemon younger than this that owns its bus name but has no socket
 * yet is starting (0.6 binds it after taking the name); an older one is
 * 0.6 that has unlinked its socket after one connection.
 */
#define OO7_YOUNG_OWNER_S 2U
/* Below it, system users: shadow's default when login.defs says nothing. */
#define OO7_UID_MIN_DEFAULT 1000U
/* Bounds of what we write to and read from the bus. */
#define OO7_BUS_NAME_MAX 255U
#define OO7_BUS_MSG_MAX 512U
#define OO7_BUS_READ_MAX 4096U
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
	OO7_ENC_AUTO, /* GVariant, then D-Bus if the daemon could not read it */
	OO7_ENC_DBUS,
	OO7_ENC_GVARIANT,
};

/* What became of a request. It never leaves the module: hooks say PAM_*. */
enum oo7_result {
	OO7_SENT,      /* the daemon has the frame */
	OO7_UNREAD,    /* it closed with no reply: read, or dropped (below) */
	OO7_NO_DAEMON, /* no socket, or no one listening: one may be started */
	OO7_FAILED,    /* anything else; logged, and nothing is started */
};

/* A daemon started for auto_start stays; one started for a change, not. */
enum oo7_lifetime {
	OO7_DAEMON_STAYS,	  /* double fork: nobody's child here */
	OO7_DAEMON_FOR_THIS_CALL, /* our child until we stop and reap it */
};

/* How a daemon is started. */
enum oo7_route {
	OO7_ROUTE_ANY,	/* the service manager if there is one, else fork */
	OO7_ROUTE_BUS,	/* auto_start=bus: only by the service manager */
	OO7_ROUTE_FORK, /* auto_start=fork: forked by the module */
};

/* What the service manager is asked. */
enum oo7_ask {
	OO7_ASK_STATE, /* whether it is starting the daemon already */
	OO7_ASK_START, /* to start it */
};

/* What asking the user's session bus came to. */
enum oo7_bus_result {
	OO7_BUS_NONE,	  /* no bus, or it refused us */
	OO7_BUS_OWNED,	  /* org.freedesktop.secrets has an owner */
	OO7_BUS_STARTING, /* the manager starts oo7-daemon.service */
	OO7_BUS_IDLE,	  /* it is not starting it (and was not asked) */
	OO7_BUS_ERROR,	  /* an error reply, named in the answer */
	OO7_BUS_FAILED,	  /* no answer a bus would give */
};

/* How a daemon that did not answer is on its way. */
enum oo7_up {
	OO7_UP_NONE,	/* it is not */
	OO7_UP_MANAGER, /* the user's service manager starts it */
	OO7_UP_FORKED,	/* forked here */
	OO7_UP_NOBODY,	/* no service manager will: a fork may */
};

/* Whose the kept password is, seen from the session. */
enum oo7_kept_whose {
	OO7_KEPT_NONE,
	OO7_KEPT_MINE,	 /* kept for the PAM user */
	OO7_KEPT_OTHERS, /* kept for another uid: wiped, nothing to do */
};

struct oo7_opts {
	bool debug;
	bool auto_start;
	bool start_always; /* for root, system users, greeters too */
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
struct oo7_kept {
	uid_t uid;
	gid_t gid;
	char *user;
	char *password; /* in force: typed at auth, or the new one */
	char *old;	/* a change to password not delivered yet, or NULL */
	/*
	 * Typed at auth: at a pam_end with PAM_SUCCESS, still unused, it goes
	 * to a running daemon with the auth line's options (socket= copied:
	 * libpam may free argv before it frees this).
	 */
	bool from_auth;
	struct oo7_opts opts;
	char *socket;
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

/*
 * A child of this call: its pid, and its pidfd where the kernel gives one
 * (Linux 5.3 and later; not under valgrind). The user can stop or hold
 * whatever runs with their uid, so no wait on a child is without a bound.
 */
struct oo7_child {
	pid_t pid; /* 0: none; -1: gone */
	int pidfd;
};

/* A daemon start: for whom, with what, for how long, and its process. */
struct oo7_start {
	const struct passwd *pw;
	const char *password; /* on its stdin, with --login; or NULL */
	enum oo7_lifetime lifetime;
	struct oo7_child child; /* forked for this call: ours to stop */
};

/* A connection to the daemon, the deadline that all of it keeps, and
 * the encoding of what is sent on it. */
struct oo7_conn {
	int fd;
	uint64_t deadline;
	enum oo7_encoding enc;
	char path[OO7_SUN_PATH_MAX]; /* the socket connected to */
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
 * Characters that a reader does not see as what they are: Unicode's
 * format characters (Cf: direction marks, embeddings, overrides and
 * isolates that reorder a line, zero-width ones, the BOM, tag characters),
 * the line and paragraph separators (Zl, Zp), noncharacters and private
 * use. Unicode 15's ranges; unassigned code points pass.
 */
static bool hidden_char(uint32_t cp)
{
	static const uint32_t ranges[][2] = {
	    {0x00ad, 0x00ad},	{0x0600, 0x0605},   {0x061c, 0x061c},
	    {0x06dd, 0x06dd},	{0x070f, 0x070f},   {0x0890, 0x0891},
	    {0x08e2, 0x08e2},	{0x180e, 0x180e},   {0x200b, 0x200f},
	    {0x2028, 0x202e},	{0x2060, 0x2064},   {0x2066, 0x206f},
	    {0xe000, 0xf8ff},	{0xfdd0, 0xfdef},   {0xfeff, 0xfeff},
	    {0xfff9, 0xfffb},	{0x110bd, 0x110bd}, {0x110cd, 0x110cd},
	    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a},
	    {0xe0001, 0xe0001}, {0xe0020, 0xe007f}, {0xf0000, 0x10ffff},
	};

	if ((cp & 0xfffe) == 0xfffe) /* U+FFFE, U+FFFF of every plane */
		return true;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (cp >= ranges[i][0] && cp <= ranges[i][1])
			return true;
	return false;
}

/* C0 and C1 controls and DEL (Cc). */
#define OO7_CONTROL(cp) ((cp) < 0x20 || ((cp) >= 0x7f && (cp) <= 0x9f))

/*
 * Copies s to out (4 * strlen(s) + 1 bytes), each byte that would let text
 * from outside forge or hide a log line as \xNN: controls, hidden
 * characters, invalid UTF-8, and the backslash of our own escapes.
 */
static void escape_for_log(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp = 0;
	size_t n;

	while (*p) {
		n = utf8_char(p, &cp);
		if (n && !OO7_CONTROL(cp) && !hidden_char(cp) && cp != '\\') {
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
 * Set while pam_end runs our cleanup: libpam names the module in a log
 * line only while it runs one of its hooks, and writes "PAM" otherwise.
 * Not thread-local (that would link ld.so): two handles ended at once in
 * two threads could only name the module on a line where it is not due.
 */
static bool oo7_in_pam_end;

/*
 * Every log line passes here: names, paths and a daemon's words come from
 * outside, and a newline or an escape sequence in them must not reach the
 * log as it is.
 */
static void oo7_log(pam_handle_t *pamh, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void oo7_log(pam_handle_t *pamh, int prio, const char *fmt, ...)
{
	char line[OO7_LOG_LINE_MAX], safe[4 * OO7_LOG_LINE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	escape_for_log(line, safe);
	pam_syslog(pamh, prio, "%s%s",
		   oo7_in_pam_end ? "pam_oo7(pam_end): " : "", safe);
}

#define debug_log(pamh, o, ...)                                                \
	do {                                                                   \
		if ((o)->debug)                                                \
			oo7_log((pamh), LOG_DEBUG, __VA_ARGS__);               \
	} while (0)

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
	if (!strcmp(s, "auto"))
		*enc = OO7_ENC_AUTO;
	else if (!strcmp(s, "dbus"))
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

/* *to = s when ok says s is valid. */
static bool take(bool ok, const char *s, const char **to)
{
	if (ok)
		*to = s;
	return ok;
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
	else if (!strcmp(arg, "start_always"))
		o->start_always = true;
	else if ((v = opt_value(arg, "auto_start")))
		return parse_route(v, o);
	else if ((v = opt_value(arg, "socket")))
		return take(socket_path_ok(v), v, &o->socket);
	else if ((v = opt_value(arg, "timeout")))
		return parse_timeout(v, &o->timeout_ms);
	else if ((v = opt_value(arg, "encoding")))
		return parse_encoding(v, &o->encoding);
	else if ((v = opt_value(arg, "only_if")))
		return take(*v, v, &o->only_if);
	else if ((v = opt_value(arg, "daemon")))
		return take(v[0] == '/', v, &o->daemon);
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
	    .encoding = OO7_ENC_AUTO,
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
 * Strict UTF-8, as a D-Bus or GVariant string must be, and no control or
 * hidden character: the daemon would refuse the one, and the other has no
 * place in a name.
 */
static bool valid_user_name(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	for (; *p; p += n) {
		n = utf8_char(p, &cp);
		if (!n || OO7_CONTROL(cp) || hidden_char(cp))
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
			"or hidden character; nothing sent");
		return -EINVAL;
	}
	*pw = pam_modutil_getpwnam(pamh, *user);
	if (!*pw) {
		oo7_log(pamh, LOG_ERR, "Failed to look up user %s", *user);
		return -EINVAL;
	}
	return 0;
}

/* ---- the kept password ---- */

static void wipe_string(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void kept_free(struct oo7_kept *s)
{
	if (!s)
		return;
	wipe_string(s->password);
	wipe_string(s->old);
	free(s->user);
	free(s->socket);
	free(s);
}

/* At pam_end, the copy that auth kept; in "what each hook does". */
static void unlock_at_end(pam_handle_t *pamh, const struct oo7_kept *s);

/*
 * pam_set_data cleanup: runs on pam_end, on replacement and on drop
 * (PAM_DATA_REPLACE), and in a forked host's child (PAM_DATA_SILENT). Only
 * a pam_end with PAM_SUCCESS, no flag, in a process whose real uid is the
 * user's sends what auth kept: a screen locker runs so (vlock and physlock
 * set-user-ID root), and its status is the attempt's. A host of another
 * uid may say PAM_SUCCESS of a login it refused after the password (sshd
 * when a key then fails), or after a refused password (LightDM), typed
 * perhaps by someone else than the user.
 */
static void kept_cleanup(pam_handle_t *pamh, void *data, int status)
{
	struct oo7_kept *s = data;

	if (status == PAM_SUCCESS && s->from_auth && getuid() == s->uid)
		unlock_at_end(pamh, s);
	kept_free(s);
}

static void kept_drop(pam_handle_t *pamh)
{
	pam_set_data(pamh, OO7_KEPT_KEY, NULL, NULL);
}

/*
 * Keeps req->new, the password now in force, for the user of the request
 * (uid and name); for a change, req->old too: a change not yet delivered.
 * It replaces what was kept before. Returns 0 or -ENOMEM (logged).
 */
static int kept_store(pam_handle_t *pamh, const struct oo7_request *req,
		      const struct oo7_opts *auth)
{
	struct oo7_kept *s = calloc(1, sizeof(*s));
	int r;

	if (s) {
		s->uid = req->pw->pw_uid;
		s->gid = req->pw->pw_gid;
		s->user = strdup(req->user);
		s->password = strdup(req->new);
		s->old = req->op == OO7_OP_CHANGE ? strdup(req->old) : NULL;
	}
	if (s && auth) {
		s->from_auth = true;
		s->opts = *auth;
		s->opts.only_if = s->opts.daemon = NULL;
		s->socket = auth->socket ? strdup(auth->socket) : NULL;
		s->opts.socket = s->socket;
	}
	if (!s || !s->user || !s->password ||
	    (req->op == OO7_OP_CHANGE && !s->old) ||
	    (auth && auth->socket && !s->socket)) {
		oo7_log(pamh, LOG_CRIT, "Failed to copy the password: %m");
		kept_free(s);
		return -ENOMEM;
	}
	r = pam_set_data(pamh, OO7_KEPT_KEY, s, kept_cleanup);
	if (r != PAM_SUCCESS) {
		oo7_log(pamh, LOG_ERR, "Failed to keep the password: %s",
			pam_strerror(pamh, r));
		kept_free(s);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Keeps a copy of PAM_AUTHTOK for the session, for the user it was typed
 * for. Returns 0 when one was kept, -ENOENT when there was no password or
 * no user to keep it for, or -ENOMEM.
 */
static int kept_store_authtok(pam_handle_t *pamh, const struct oo7_opts *o)
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
	return kept_store(pamh, &req, o);
}

/*
 * What was kept, in *kept, and whether it was kept for the user this
 * request is for. The pointer stays valid until kept_drop.
 */
static enum oo7_kept_whose kept_whose(pam_handle_t *pamh,
				      const struct oo7_request *req,
				      const struct oo7_kept **kept)
{
	const void *data = NULL;

	*kept = NULL;
	if (pam_get_data(pamh, OO7_KEPT_KEY, &data) != PAM_SUCCESS || !data)
		return OO7_KEPT_NONE;
	*kept = data;
	return (*kept)->uid == req->pw->pw_uid ? OO7_KEPT_MINE
					       : OO7_KEPT_OTHERS;
}

/*
 * What was kept for another uid (sudo -i -u, doas, a greeter that maps
 * names: PAM_USER changed after auth) goes to no one: wiped at once. The
 * handle remembers it, so that a session that follows starts nothing.
 */
static void kept_refuse(pam_handle_t *pamh, const struct oo7_request *req,
			const struct oo7_kept *kept)
{
	oo7_log(pamh, LOG_NOTICE,
		"The password was kept for %s (uid %u), not for %s (uid %u): "
		"wiped, nothing sent, nothing started",
		kept->user, (unsigned int)kept->uid, req->user,
		(unsigned int)req->pw->pw_uid);
	kept_drop(pamh);
	pam_set_data(pamh, OO7_REFUSED_KEY, (void *)OO7_REFUSED_KEY, NULL);
}

/* Whether a copy kept on this handle was refused: another user's. */
static bool kept_was_refused(pam_handle_t *pamh)
{
	const void *refused = NULL;

	return pam_get_data(pamh, OO7_REFUSED_KEY, &refused) == PAM_SUCCESS &&
	       refused;
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

/*
 * Zeros up to a multiple of align, counted from the start of f: a D-Bus
 * message's start, or a frame's (the body's alignment is the same after a
 * prefix of 4 bytes, for the 4 that it needs).
 */
static void put_pad(struct oo7_frame *f, size_t align)
{
	while (f->len % align)
		f->data[f->len++] = 0;
}

/* A length written after the fact, at, little endian. */
static void set_u32(struct oo7_frame *f, size_t at, size_t v)
{
	size_t end = f->len;

	f->len = at;
	put_uint(f, v, 4);
	f->len = end;
}

/* A string's NUL is part of the marshalling; an ay has none. */
enum oo7_nul {
	OO7_NO_NUL = 0,
	OO7_WITH_NUL = 1,
};

static void put_dbus_array(struct oo7_frame *f, const char *s, enum oo7_nul nul)
{
	size_t n = strlen(s);

	put_pad(f, 4);
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
	       b = strlen(req->new);

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
	set_u32(f, 0, f->len - 4);
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

/* Waits for fd to be ready before the deadline; 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	struct timespec ts;
	uint64_t now, left;
	int r;

	do {
		now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		left = deadline - now;
		ts = (struct timespec){.tv_sec = (time_t)(left / 1000000000U),
				       .tv_nsec = (long)(left % 1000000000U)};
		r = ppoll(&p, 1, &ts, NULL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

/*
 * One send (out) or recv of at most len bytes, waiting for fd until the
 * deadline: the one loop of every read and write. Returns the count (0 at
 * end of file), or -errno (-ETIMEDOUT). Safe after fork.
 */
static ssize_t io_once(int fd, void *buf, size_t len, bool out,
		       uint64_t deadline)
{
	ssize_t n;
	int r;

	for (;;) {
		n = out ? send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		r = errno == EAGAIN
			? wait_fd(fd, out ? POLLOUT : POLLIN, deadline)
			: 0;
		if (r < 0)
			return r;
	}
}

/*
 * All of len bytes sent or received before the deadline. Returns how many
 * (fewer only at end of file) or -errno. Safe after fork.
 */
static ssize_t io_all(int fd, void *buf, size_t len, bool out,
		      uint64_t deadline)
{
	size_t done = 0;
	ssize_t n = 1;

	while (done < len && n > 0) {
		n = io_once(fd, (uint8_t *)buf + done, len - done, out,
			    deadline);
		done += n > 0 ? (size_t)n : 0;
	}
	return n < 0 ? n : (ssize_t)done;
}

/* ---- children ---- */

/*
 * True once the child has exited: reaped here, or by the host (ECHILD: a
 * host that ignores SIGCHLD, or reaps in a handler). Through the pidfd,
 * another child of the host that got the same pid is never waited for.
 * Safe after fork.
 */
static bool child_gone(struct oo7_child *ch)
{
	siginfo_t si = {.si_pid = 0};
	int r;

	if (ch->pid <= 0)
		return true;
	do
		r = ch->pidfd >= 0
			? waitid((idtype_t)P_PIDFD, (id_t)ch->pidfd, &si,
				 WEXITED | WNOHANG)
			: waitid(P_PID, (id_t)ch->pid, &si, WEXITED | WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EINVAL && ch->pidfd >= 0) {
		/* Linux 5.3 has pidfds, but waitid takes them from 5.4 on */
		close(ch->pidfd);
		ch->pidfd = -1;
		return child_gone(ch);
	}
	if (r == 0 && si.si_pid == 0)
		return false;
	if (ch->pidfd >= 0)
		close(ch->pidfd);
	*ch = (struct oo7_child){.pid = -1, .pidfd = -1};
	return true;
}

/* Waits until the child is gone or the deadline; true when it is gone. */
static bool wait_child(struct oo7_child *ch, uint64_t deadline)
{
	struct timespec pause = {.tv_nsec = OO7_CHILD_POLL_NS};

	while (!child_gone(ch)) {
		if (now_ns() >= deadline)
			return false;
		if (ch->pidfd < 0 || wait_fd(ch->pidfd, POLLIN, deadline) < 0)
			nanosleep(&pause, NULL);
	}
	return true;
}

static void signal_child(struct oo7_child *ch, int sig)
{
	if (ch->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, ch->pidfd, sig, NULL, 0);
	else if (!child_gone(ch)) /* not reaped: its pid is still its own */
		kill(ch->pid, sig);
}

/*
 * Sends sig (0: none; SIGTERM asks a daemon to stop), waits for the child
 * until the deadline, kills it then (stopped or not, a killed process is
 * gone within microseconds: OO7_KILL_WAIT_NS is a margin), and reaps it,
 * whatever the host's SIGCHLD disposition. Closes the pidfd. Returns true
 * when the child had exited by the deadline.
 */
static bool end_child(struct oo7_child *ch, int sig, uint64_t deadline)
{
	bool exited;

	if (sig)
		signal_child(ch, sig);
	exited = wait_child(ch, deadline);
	if (!exited) {
		signal_child(ch, SIGKILL);
		wait_child(ch, now_ns() + OO7_KILL_WAIT_NS);
	}
	/* gone, or left unreaped (no pidfd, and it outlived the margin) */
	if (ch->pidfd >= 0)
		close(ch->pidfd);
	*ch = (struct oo7_child){.pid = -1, .pidfd = -1};
	return exited;
}

/*
 * Every fork of the module: with every signal blocked in this thread, so
 * that none of the host's handlers runs in the child (glibc's sigprocmask
 * is per thread). The child waits, with the host's ids still, for a byte
 * on child_end: it can neither exit nor be stopped by the user before the
 * parent holds its pidfd. Returns 0 in the child (its signals still
 * blocked), 1 in the parent, or -errno. Safe after fork.
 */
static int fork_child(struct oo7_child *ch, int child_end, int parent_end)
{
	sigset_t all, old;
	char go = 0;
	int err;

	*ch = (struct oo7_child){.pidfd = -1};
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	ch->pid = fork();
	if (ch->pid == 0) {
		/* a parent that dies before its byte leaves end of file here */
		close(parent_end);
		if (read(child_end, &go, 1) != 1 || go != 'g')
			_exit(0);
		return 0;
	}
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (ch->pid < 0) {
		ch->pid = 0;
		return -err;
	}
	ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (send(parent_end, "g", 1, MSG_NOSIGNAL) == 1)
		return 1;
	err = errno;
	end_child(ch, 0, 0);
	return -err;
}

/*
 * In a child: every fd closed from first on (flags 0), or marked to close
 * at exec (CLOSE_RANGE_CLOEXEC); one by one on kernels before 5.9 and
 * 5.11, up to the limit of open files.
 */
static void close_fds_from(int first, unsigned int flags)
{
	struct rlimit rl;

	if (close_range((unsigned int)first, ~0U, flags) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > (1U << 20))
		rl.rlim_cur = 1U << 20;
	for (int fd = first; fd < (int)rl.rlim_cur; fd++)
		if (flags & CLOSE_RANGE_CLOEXEC)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		else
			close(fd);
}

/*
 * In a child: stdin from in (or /dev/null), stdout and stderr on
 * /dev/null, fd *keep copied to 3, every other fd closed (at exec with
 * CLOSE_RANGE_CLOEXEC). The sources are lifted above 3 first: a host that
 * runs with 0..2 closed hands us fds in that range, and a dup2 of an fd
 * onto itself would keep its close-on-exec. *keep is the lifted copy from
 * then on, so that a failure can still be reported on it. 0 or -errno.
 */
static int setup_fds(int in, int *keep, unsigned int flags)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), lifted;

	if ((lifted = fcntl(*keep, F_DUPFD_CLOEXEC, 4)) < 0)
		return -errno;
	*keep = lifted;
	if (null < 0 || (null = fcntl(null, F_DUPFD_CLOEXEC, 4)) < 0)
		return -errno;
	in = in >= 0 ? fcntl(in, F_DUPFD_CLOEXEC, 4) : null;
	if (in < 0 || dup2(in, 0) != 0 || dup2(null, 1) != 1 ||
	    dup2(null, 2) != 2 || dup3(*keep, 3, O_CLOEXEC) != 3)
		return -errno;
	close_fds_from(4, flags);
	return 0;
}

/*
 * In a child: the user's ids, all of them, with these supplementary
 * groups, and no capability, checked. A change of ids clears them only
 * when it leaves uid 0: a host that is not root but holds CAP_SETUID as an
 * ambient capability, or a root host with SECBIT_NO_SETUID_FIXUP, keeps
 * them through setresuid. 0 or -errno.
 */
static int become_user_fully(const struct passwd *pw, const gid_t *groups,
			     int ngroups)
{
	struct __user_cap_header_struct h = {.version =
						 _LINUX_CAPABILITY_VERSION_3};
	/* zeroed: valgrind takes capget to fill only the first set */
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {{0}};
	uid_t r, e, s;
	gid_t gr, ge, gs;

	/* EINVAL: a kernel before 4.3 has no ambient set to clear */
	if ((prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	     errno != EINVAL) ||
	    setgroups((size_t)ngroups, groups) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 ||
	    getresuid(&r, &e, &s) < 0 || getresgid(&gr, &ge, &gs) < 0 ||
	    syscall(SYS_capset, &h, caps) < 0 ||
	    syscall(SYS_capget, &h, caps) < 0)
		return -errno;
	if (r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid ||
	    gr != pw->pw_gid || ge != pw->pw_gid || gs != pw->pw_gid)
		return -EPERM;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (caps[i].permitted || caps[i].effective ||
		    caps[i].inheritable)
			return -EPERM;
	/* with none permitted, none can be ambient; asked all the same */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			return -EPERM;
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
 * leaf in the user's runtime folder, lstat()ed into path and st: in
 * $XDG_RUNTIME_DIR of the PAM environment when it is absolute, else in
 * /run/user/UID. Returns 0 or -errno (see look_up).
 */
static int find_in_runtime(pam_handle_t *pamh, const struct passwd *pw,
			   const char *leaf, char *path, struct stat *st)
{
	const char *xdg = pam_getenv(pamh, "XDG_RUNTIME_DIR");
	int r = -ENOENT;

	if (xdg && xdg[0] == '/')
		r = look_up(path, st, "%s/%s", xdg, leaf);
	if (r == -ENOENT || r == -ENAMETOOLONG)
		r = look_up(path, st, "/run/user/%u/%s",
			    (unsigned int)pw->pw_uid, leaf);
	return r;
}

/*
 * A socket of the user's session: leaf "bus" (the session bus) or
 * "systemd/private" (the service manager's), one that the user owns.
 * Returns 0 or -errno.
 */
static int find_session_socket(pam_handle_t *pamh, const struct passwd *pw,
			       const char *leaf, char *path)
{
	struct stat st;
	int r = find_in_runtime(pamh, pw, leaf, path, &st);

	if (r == 0 && (!S_ISSOCK(st.st_mode) || st.st_uid != pw->pw_uid))
		r = -EPERM;
	return r;
}

/*
 * Picks the socket path in the order of pam_oo7(8), PROTOCOL, and lstat()s
 * it, with the user's rights, into path (OO7_SUN_PATH_MAX bytes). Returns
 * 0, -ENOENT when there is none, or another -errno when a path cannot be
 * looked at (EACCES, ENOTDIR, ELOOP): the search stops there, as a daemon
 * started now would not be reached either.
 */
static int find_socket(pam_handle_t *pamh, const struct oo7_opts *o,
		       const struct passwd *pw, char *path, struct stat *st)
{
	const char *chosen = explicit_socket(pamh, o);
	int r;

	if (chosen && !socket_path_ok(chosen)) {
		oo7_log(pamh, LOG_ERR,
			"Ignoring socket path %s: not an absolute path short "
			"enough for a socket",
			chosen);
		return -EINVAL;
	}
	if (chosen)
		return look_up(path, st, "%s", chosen);
	r = find_in_runtime(pamh, pw, "oo7/pam.sock", path, st);
	if (r == -ENOENT)
		r = look_up(path, st, "/run/user/%u/oo7-pam.sock",
			    (unsigned int)pw->pw_uid);
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
	uint64_t now, left;
	int fd, r;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		now = now_ns();
		left = now < deadline ? deadline - now : 0;
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
 * With the user's rights: finds the socket and checks it; with connect,
 * connects and checks the peer. Returns OO7_SENT when the daemon is there
 * (connected: c->fd set), or another result with c->fd at -1.
 */
static enum oo7_result open_daemon(pam_handle_t *pamh, const struct oo7_opts *o,
				   const struct passwd *pw, bool connect,
				   struct oo7_conn *c)
{
	struct oo7_creds creds;
	char *path = c->path;
	enum oo7_result res = OO7_FAILED;
	struct stat st;
	int r;

	c->fd = -1;
	path[0] = '\0';
	r = become_user(pw, &creds);
	if (r < 0)
		oo7_log(pamh, LOG_ERR, "Failed to take the rights of %s: %s",
			pw->pw_name, strerror(-r));
	else if ((r = find_socket(pamh, o, pw, path, &st)) < 0)
		res = connect_result(pamh, o, path, r, pw);
	else if (!check_socket(pamh, path, &st, pw))
		res = OO7_FAILED;
	else if (!connect)
		res = OO7_SENT; /* only looked: see look_for_daemon */
	else if ((r = connect_socket(path, c->deadline)) < 0)
		res = connect_result(pamh, o, path, r, pw);
	else if (c->fd = r, check_peer(pamh, c->fd, path, pw))
		res = OO7_SENT;
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

static const char *encoding_name(enum oo7_encoding enc)
{
	return enc == OO7_ENC_DBUS ? "D-Bus" : "GVariant";
}

/*
 * A close with no reply: oo7 0.6 closes so once it has worked on a D-Bus
 * frame; every version closes so on a frame it cannot read. Only what
 * encoding= pins is worth a line: auto tries the other encoding next.
 */
static void log_closed(pam_handle_t *pamh, const struct oo7_opts *o,
		       enum oo7_encoding enc)
{
	if (o->encoding == OO7_ENC_GVARIANT)
		oo7_log(pamh, LOG_WARNING,
			"The daemon closed without a reply: it could not read "
			"GVariant (oo7 0.6 and 0.7.0.alpha read D-Bus): set "
			"encoding=auto (the default)");
	else if (o->encoding == OO7_ENC_DBUS)
		oo7_log(pamh, LOG_NOTICE,
			"The daemon closed without a reply: oo7 0.6 does so "
			"once it has the request; later versions, when they "
			"cannot read D-Bus marshalling: if the keyring stays "
			"locked, set encoding=auto (the default)");
	else
		debug_log(pamh, o, "The daemon closed without a reply to %s",
			  encoding_name(enc));
}

/*
 * Waits for the daemon to close (oo7 0.6, or any daemon that could not
 * read the frame) or to answer (0.7 and later), and logs a refusal.
 * Returns OO7_UNREAD for a close with no reply, else OO7_SENT: what the
 * daemon says never changes what the hook returns.
 */
static enum oo7_result read_reply(pam_handle_t *pamh, const struct oo7_opts *o,
				  enum oo7_op op, const struct oo7_conn *c)
{
	uint8_t buf[OO7_REPLY_MAX];
	struct oo7_reply reply;
	ssize_t got = io_all(c->fd, buf, 4, false, c->deadline);
	size_t len = got == 4 ? get_le32(buf) : 0;

	if (got == 0) {
		log_closed(pamh, o, c->enc);
		return OO7_UNREAD;
	}
	if (got == 4 && len <= sizeof(buf))
		got = io_all(c->fd, buf, len, false, c->deadline);
	if (got < 0)
		oo7_log(pamh, LOG_WARNING, "No reply from the daemon: %s",
			strerror((int)-got));
	else if ((size_t)got != len || len == 0 || len > sizeof(buf))
		oo7_log(pamh, LOG_WARNING,
			"Ignoring a malformed reply from the daemon");
	else if (!parse_reply(c->enc, buf, len, &reply))
		log_malformed(pamh, c->enc, buf, len);
	else if (!reply.ok)
		/* bounded by the log line; escaped by oo7_log */
		oo7_log(pamh, LOG_WARNING, "The daemon could not %s: %.*s",
			op_name(op), (int)reply.msg_len,
			(const char *)reply.msg);
	else
		debug_log(pamh, o, "The daemon confirmed in %s: %s",
			  encoding_name(c->enc), op_name(op));
	return OO7_SENT;
}

/* ---- delivery ---- */

/*
 * One attempt, in c->enc: frame f (encoded here when it is empty) to the
 * user's daemon on c->fd, before c->deadline. Returns OO7_SENT (c->fd is
 * then open for the reply) or OO7_FAILED (logged). Wipes the frame.
 */
static enum oo7_result deliver_in(pam_handle_t *pamh, const struct oo7_opts *o,
				  const struct oo7_request *req,
				  struct oo7_conn *c, struct oo7_frame *f)
{
	ssize_t n;

	if (!f->data && encode_frame(pamh, c->enc, req, f) < 0)
		return OO7_FAILED;
	n = io_all(c->fd, f->data, f->len, true, c->deadline);
	free_frame(f); /* the last use of the secrets */
	if (n < 0) {
		oo7_log(pamh, LOG_WARNING,
			"Failed to send the request to %s: %s", c->path,
			strerror((int)-n));
		return OO7_FAILED;
	}
	debug_log(pamh, o, "Sent the %s request for %s in %s", op_name(req->op),
		  req->user, encoding_name(c->enc));
	return OO7_SENT;
}

/*
 * One request to the daemon. encoding=auto sends GVariant first (oo7
 * after 0.7.0.alpha reads it, and replies), and the same request once more
 * in D-Bus marshalling when the daemon closed without a reply (0.6 and
 * 0.7.0.alpha drop GVariant: a non-empty name where D-Bus wants zero
 * padding). Both connections are made before the first frame is sent:
 * oo7 0.6 unlinks its socket once it has handled a connection. The frame
 * follows the connect at once, so that the daemon finds it waiting when it
 * accepts: a daemon that has to sleep again for it costs a wake-up,
 * measured here at 60 us. The first frame is made before any connection:
 * one that cannot be made (a field over 64 MiB) costs no daemon a
 * connection. Returns OO7_SENT, OO7_NO_DAEMON or OO7_FAILED.
 */
static enum oo7_result send_once(pam_handle_t *pamh, const struct oo7_opts *o,
				 const struct oo7_request *req,
				 uint64_t deadline)
{
	struct oo7_conn c[2] = {
	    {.fd = -1, .deadline = deadline, .enc = o->encoding},
	    {.fd = -1, .deadline = deadline, .enc = OO7_ENC_DBUS}};
	struct oo7_frame frame;
	enum oo7_result r;
	int tries;

	/* in this order: a daemon that accepts one at a time takes the first */
	if (o->encoding == OO7_ENC_AUTO)
		c[0].enc = OO7_ENC_GVARIANT;
	if (encode_frame(pamh, c[0].enc, req, &frame) < 0)
		return OO7_FAILED;
	r = open_daemon(pamh, o, req->pw, true, &c[0]);
	if (r == OO7_SENT && o->encoding == OO7_ENC_AUTO)
		open_daemon(pamh, o, req->pw, true, &c[1]);
	tries = r != OO7_SENT ? 0 : c[1].fd >= 0 ? 2 : 1;
	for (int i = 0; i < tries; i++) {
		r = deliver_in(pamh, o, req, &c[i], &frame);
		if (r == OO7_SENT)
			r = read_reply(pamh, o, req->op, &c[i]);
		close(c[i].fd);
		c[i].fd = -1;
		if (r != OO7_UNREAD) /* read, or failed: no second attempt */
			break;
	}
	if (r == OO7_UNREAD && o->encoding == OO7_ENC_AUTO && tries == 1) {
		/* a daemon that reads GVariant replies: this one dropped it */
		oo7_log(pamh, LOG_WARNING,
			"The daemon closed without reading the request, and "
			"no second connection could be made");
		r = OO7_FAILED;
	}
	for (int i = 0; i < 2; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free_frame(&frame); /* not sent: no daemon */
	return r == OO7_UNREAD ? OO7_SENT : r;
}

/*
 * One request; with st, to a daemon on its way: it binds its socket a
 * moment after it starts, so this tries again every OO7_START_POLL_NS
 * until the deadline, or until the daemon forked for this call has exited
 * (as oo7-daemon does without a session bus).
 */
static enum oo7_result send_request(pam_handle_t *pamh,
				    const struct oo7_opts *o,
				    const struct oo7_request *req,
				    struct oo7_start *st, uint64_t deadline)
{
	struct timespec pause = {.tv_nsec = OO7_START_POLL_NS};
	enum oo7_result r;

	while ((r = send_once(pamh, o, req, deadline)) == OO7_NO_DAEMON && st &&
	       now_ns() + OO7_START_POLL_NS < deadline &&
	       !(st->child.pid && child_gone(&st->child)))
		nanosleep(&pause, NULL);
	return r;
}

/*
 * Only looks for the daemon's socket, with the user's rights: a connection
 * that sends nothing costs the daemon an error line. Returns OO7_SENT when
 * a socket of the user's is there, OO7_NO_DAEMON when none is.
 */
static enum oo7_result look_for_daemon(pam_handle_t *pamh,
				       const struct oo7_opts *o,
				       const struct passwd *pw)
{
	struct oo7_conn c = {.fd = -1}; /* no connection: no deadline */

	return open_daemon(pamh, o, pw, false, &c);
}

/* ---- /proc ---- */

/*
 * v's decimal digits into out (at most 10 bytes, no NUL); their number.
 * By hand: it runs after fork, where snprintf is not async-signal-safe.
 */
static size_t put_decimal(char *out, uint32_t v)
{
	char digits[10];
	size_t n = 0, len = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		out[len++] = digits[--n];
	return len;
}

/*
 * The start of /proc/PID/leaf into buf (size bytes, NUL-terminated).
 * Returns its length, or 0 when there is none (pid 0: unknown). Safe
 * after fork.
 */
static size_t read_proc(uint32_t pid, const char *leaf, char *buf, size_t size)
{
	char path[48] = "/proc/";
	size_t at = strlen(path);
	ssize_t got = -1;
	int fd;

	at += put_decimal(path + at, pid);
	path[at++] = '/';
	if (strlen(leaf) < sizeof(path) - at)
		strcpy(path + at, leaf);
	fd = pid ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		got = read(fd, buf, size - 1);
		close(fd);
	}
	if (got < 0)
		got = 0;
	buf[got] = '\0';
	return (size_t)got;
}

/*
 * Field number field of /proc/PID/stat, as proc(5) counts them from 3 on,
 * a decimal number. The name, field 2, is in parentheses and may hold
 * spaces and parentheses itself: fields are counted from its last ')'.
 * Safe after fork.
 */
static bool proc_stat_field(uint32_t pid, int field, unsigned long long *v)
{
	char stat[512], *p;

	if (!read_proc(pid, "stat", stat, sizeof(stat)))
		return false;
	p = strrchr(stat, ')');
	for (int f = 2; p && f < field; f++)
		p = strchr(p + 1, ' ');
	if (!p || p[1] < '0' || p[1] > '9')
		return false;
	for (*v = 0, p++; *p >= '0' && *p <= '9'; p++)
		*v = *v * 10 + (unsigned long long)(*p - '0');
	return true;
}

/*
 * Whether our child pid, not reaped yet, ran its program. End of file on
 * its close-on-exec status channel says that it did, or that it died
 * before: killed by the user once it ran as the user, or by the kernel
 * for want of memory. The kernel clears PF_FORKNOEXEC in the flags (field
 * 9) at a successful exec only. Without /proc: whether it is still there.
 * Safe after fork.
 */
static bool ran_its_program(pid_t pid)
{
	unsigned long long flags;
	siginfo_t si = {.si_pid = 0};

	if (proc_stat_field((uint32_t)pid, 9, &flags))
		return !(flags & OO7_PF_FORKNOEXEC);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
		   0 &&
	       si.si_pid == 0;
}

/* ---- the daemon's process ---- */

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

/*
 * The daemon's environment: the PAM environment, the user's own variables,
 * a safe PATH, XDG_RUNTIME_DIR (/run/user/UID when it is the user's) and
 * the session bus; nothing of the host's. Returns 0 or -ENOMEM.
 */
static int build_env(pam_handle_t *pamh, const struct passwd *pw,
		     struct oo7_env *e)
{
	char **pam_env = pam_getenvlist(pamh), dir[OO7_SUN_PATH_MAX],
	     bus[OO7_SUN_PATH_MAX + 10] = "unix:path=";
	const char *xdg = pam_getenv(pamh, "XDG_RUNTIME_DIR");
	struct stat st;
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
	if (!xdg &&
	    look_up(dir, &st, "/run/user/%u", (unsigned int)pw->pw_uid) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == pw->pw_uid)
		xdg = dir;
	r = r ?: env_set(e, "HOME", pw->pw_dir);
	r = r ?: env_set(e, "USER", pw->pw_name);
	r = r ?: env_set(e, "LOGNAME", pw->pw_name);
	r = r ?: env_set(e, "SHELL", pw->pw_shell);
	r = r ?: env_set(e, "PATH", OO7_SAFE_PATH);
	if (!r && xdg)
		r = env_set(e, "XDG_RUNTIME_DIR", xdg);
	if (!r && xdg && env_find(e, "DBUS_SESSION_BUS_ADDRESS") == e->n &&
	    look_up(bus + strlen(bus), &st, "%s/bus", xdg) == 0 &&
	    S_ISSOCK(st.st_mode))
		r = env_set(e, "DBUS_SESSION_BUS_ADDRESS", bus);
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

/* In the child: every handler to dfl (SIG_IGN also drops pending). */
static void set_all_signals(void (*handler)(int))
{
	struct sigaction sa = {.sa_handler = handler};

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP: EINVAL */
}

/*
 * In the child that becomes the daemon, every signal blocked since before
 * fork: set up the process, leave the host's session, then ignore every
 * signal (a blocked signal is kept pending even when ignored; setting
 * SIG_IGN drops what the host's process group was sent meanwhile), then
 * default handlers, an empty mask, and exec. Never returns; a failure
 * writes its errno on status (its copy above 3 once setup_fds has made
 * it: the host may have had 0..2 closed), which exec closes.
 */
static void exec_daemon(const struct oo7_spawn *sp, const struct passwd *pw,
			int status)
{
	sigset_t none;
	int err;

	umask(077);
	err = setup_fds(sp->stdin_fd, &status, CLOSE_RANGE_CLOEXEC);
	err = err ?: become_user_fully(pw, sp->groups, sp->ngroups);
	if (!err && setsid() < 0)
		err = -errno;
	set_all_signals(SIG_IGN);
	if (!err && chdir(pw->pw_dir) < 0 && chdir("/") < 0)
		err = -errno;
	if (!err) {
		set_all_signals(SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(sp->path, sp->argv, sp->env.v);
		err = -errno;
	}
	err = err ? -err : EIO; /* 0 would read as a success */
	if (write(status, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

/*
 * The outcome of a start, from its status channel fd: an errno sent before
 * the program ran, or end of file. For pid, our child, end of file is a
 * success once it ran its program; with pid 0 (the intermediate child of a
 * lasting start, which sends every outcome) it is a failure. 0 or -errno:
 * -ETIMEDOUT past the deadline, -ESRCH for a process that ended before it
 * ran the program. Safe after fork.
 */
static int await_exec(int fd, pid_t pid, uint64_t deadline)
{
	int err = 0;
	ssize_t got = io_all(fd, &err, sizeof(err), false, deadline);

	if (got < 0)
		return (int)got;
	if (got == sizeof(err))
		return -err;
	return pid > 0 && ran_its_program(pid) ? 0 : -ESRCH;
}

/*
 * In the intermediate child of a lasting start: forks the daemon, waits
 * for its exec, and sends the outcome to our parent, a success included:
 * the daemon will not be our parent's child, whose state it could read.
 * Reaps a daemon that failed or died before it ran, so that no zombie of
 * it reaches a host that adopts orphans (PR_SET_CHILD_SUBREAPER). Never
 * returns.
 */
static void start_grandchild(const struct oo7_spawn *sp,
			     const struct passwd *pw, uint64_t deadline)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	struct oo7_child gc = {.pid = -1, .pidfd = -1};
	int ends[2], err, r;

	/* ours to reap: a host that ignores SIGCHLD would have it reaped */
	sigaction(SIGCHLD, &dfl, NULL);
	r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0
		? -errno
		: fork_child(&gc, ends[0], ends[1]);
	if (r == 0)
		exec_daemon(sp, pw, ends[0]);
	if (r > 0)
		close(ends[0]);
	err = r > 0 ? -await_exec(ends[1], gc.pid, deadline) : -r;
	if (r > 0 && err && err != ETIMEDOUT) /* it ends, or has ended */
		wait_child(&gc, deadline);
	if (write(sp->status_fd, &err, sizeof(err)) != sizeof(err))
		_exit(2);
	_exit(err != 0);
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
 * Whether the start of sp ran the daemon: pid as for await_exec. Returns 0
 * when it did, or -errno (logged).
 */
static int report_start(pam_handle_t *pamh, const struct oo7_opts *o,
			const struct oo7_spawn *sp, pid_t pid,
			uint64_t deadline)
{
	int r = await_exec(sp->status, pid, deadline);

	if (r == -ETIMEDOUT)
		oo7_log(pamh, LOG_WARNING,
			"%s did not start before the timeout; left behind",
			sp->path);
	else if (r == -ESRCH)
		oo7_log(pamh, LOG_ERR,
			"Failed to start %s: its process ended before it ran "
			"the program",
			sp->path);
	else if (r < 0)
		oo7_log(pamh, LOG_ERR, "Failed to start %s: %s", sp->path,
			strerror(-r));
	else
		debug_log(pamh, o, "Started %s", sp->path);
	return r;
}

/*
 * Forks the user's daemon, as the user, with st->password on its stdin
 * (and --login) when there is one. A daemon that stays is forked twice, so
 * that it is nobody's child here: the intermediate child exits once the
 * daemon runs, and is reaped now, within the deadline. One for this call
 * is our child, held by its pidfd. Costs at most the deadline; a start
 * that fails leaves no child of ours. Returns 0 once the daemon was
 * executed, or -errno (logged).
 */
static int fork_start(pam_handle_t *pamh, const struct oo7_opts *o,
		      struct oo7_start *st, uint64_t deadline)
{
	struct oo7_spawn sp = {
	    .stdin_fd = -1, .status_fd = -1, .in = -1, .status = -1};
	bool stays = st->lifetime == OO7_DAEMON_STAYS;
	struct oo7_child mid;
	int r = prepare_spawn(pamh, o, st->pw, st->password, &sp);

	if (r == 0 && (r = fork_child(stays ? &mid : &st->child, sp.status_fd,
				      sp.status)) < 0)
		oo7_log(pamh, LOG_ERR, "Failed to fork: %s", strerror(-r));
	if (r == 0 && stays)
		start_grandchild(&sp, st->pw, deadline);
	if (r == 0)
		exec_daemon(&sp, st->pw, sp.status_fd);
	if (r > 0 && stays)
		end_child(&mid, 0, deadline);
	finish_spawn(&sp);
	if (r > 0 && sp.in >= 0 &&
	    io_all(sp.in, (void *)st->password, strlen(st->password), true,
		   deadline) < 0)
		oo7_log(pamh, LOG_WARNING, "Failed to hand the password to %s",
			sp.path);
	if (sp.in >= 0)
		close(sp.in);
	if (r > 0)
		r = report_start(pamh, o, &sp, stays ? 0 : st->child.pid,
				 deadline);
	if (sp.status >= 0)
		close(sp.status);
	if (r < 0 && st->child.pid > 0)
		end_child(&st->child, 0, 0);
	return r < 0 ? r : 0;
}

/* ---- the session bus ---- */

/*
 * Every oo7 ships the user unit oo7-daemon.service; since 0.7 it is not
 * bus-activatable, and asking the bus for org.freedesktop.secrets starts
 * whatever else has an activation file for it (gnome-keyring does). So the
 * user's service manager is asked, on the user's session bus, to start the
 * unit: the daemon is then the manager's, not a child of one login, and a
 * start already under way (a first login) is joined. The bus refuses uid
 * 0, so the calls are made by a child running as the user; it builds its
 * messages on the stack (no allocation after fork), checks every length it
 * reads, and keeps the deadline.
 */

/* What the child found out, sent back whole over a socket. */
struct oo7_bus_answer {
	enum oo7_bus_result result;
	uint32_t owner_pid; /* OO7_BUS_OWNED: the owner's pid, or 0 */
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

/* One header field (yv): its code, the variant's signature, its value. */
static void bus_put_field(struct oo7_frame *f, uint8_t code, char type,
			  const char *value)
{
	const char sig[2] = {type, '\0'};

	put_pad(f, 8);
	put_uint(f, code, 1);
	put_uint(f, 1, 1);
	put_bytes(f, sig, 2);
	if (type == 'g') {
		put_uint(f, strlen(value), 1);
		put_bytes(f, value, strlen(value) + 1);
	} else {
		put_dbus_array(f, value, OO7_WITH_NUL);
	}
}

/*
 * A method call: to whom, what, up to two string arguments, and the
 * signature of the reply it takes.
 */
struct oo7_bus_call {
	const char *dest;
	const char *path;
	const char *iface;
	const char *member;
	const char *args[2]; /* NULL when absent */
	const char *reply;
};

/*
 * A method call marshalled into f (whose data has room for
 * OO7_BUS_MSG_MAX bytes; every name is short and fixed). NO_AUTO_START:
 * the bus never starts a service for one of our calls.
 */
static void bus_call(struct oo7_frame *f, uint32_t serial,
		     const struct oo7_bus_call *call)
{
	const char *sig = call->args[1] ? "ss" : "s";
	size_t body_at;

	f->len = 0;
	put_bytes(f, "l\1\2\1", 4); /* little endian, call, no start, v1 */
	put_uint(f, 0, 4);	    /* body length, set below */
	put_uint(f, serial, 4);
	put_uint(f, 0, 4); /* header fields length, set below */
	bus_put_field(f, 1, 'o', call->path);
	bus_put_field(f, 2, 's', call->iface);
	bus_put_field(f, 3, 's', call->member);
	bus_put_field(f, 6, 's', call->dest);
	if (call->args[0])
		bus_put_field(f, 8, 'g', sig);
	set_u32(f, 12, f->len - 16);
	put_pad(f, 8);
	body_at = f->len;
	for (size_t i = 0; i < 2 && call->args[i]; i++)
		put_dbus_array(f, call->args[i], OO7_WITH_NUL);
	set_u32(f, 4, f->len - body_at);
}

/*
 * Reads a u32 at *at, aligned to 4 first, within in, in the message's byte
 * order: a bus writes in its host's, 'B' on a big-endian one (s390x).
 */
static bool bus_get_u32(const struct oo7_bus_in *in, size_t *at, uint32_t *v)
{
	*at = (*at + 3) & ~(size_t)3;
	if (*at + 4 > in->n)
		return false;
	memcpy(v, in->b + *at, 4);
	*v = in->big ? be32toh(*v) : le32toh(*v);
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
	    memchr(b + *at, 0, len) || (out && len > OO7_BUS_NAME_MAX))
		return false;
	if (out)
		memcpy(out, b + *at, len + 1);
	*at += len + 1;
	return true;
}

/*
 * The length of the message at the start of in when all of it is there,
 * from its fixed header; 0 when more bytes are needed, or -EBADMSG. The
 * end of the header fields in *fields_end.
 */
static ssize_t bus_measure(const struct oo7_bus_in *in, size_t *fields_end)
{
	uint32_t body_len, fields_len;
	size_t at = 4, total;

	if (in->n < 16)
		return 0;
	if ((in->b[0] != 'l' && in->b[0] != 'B') || in->b[3] != 1)
		return -EBADMSG;
	bus_get_u32(in, &at, &body_len);
	at = 12;
	bus_get_u32(in, &at, &fields_len);
	if (fields_len > OO7_BUS_READ_MAX || body_len > OO7_BUS_READ_MAX)
		return -EBADMSG;
	*fields_end = 16 + fields_len;
	total = ((*fields_end + 7) & ~(size_t)7) + body_len;
	if (total > OO7_BUS_READ_MAX)
		return -EBADMSG;
	return in->n < total ? 0 : (ssize_t)total;
}

/*
 * The message at the start of b (n bytes), when all of it is there: its
 * type, and of its header fields, the reply serial, the error name and
 * the signature (only the types the bus driver's replies carry); its
 * body. Returns its length, 0 when more bytes are needed, or -EBADMSG.
 */
static ssize_t bus_parse(const uint8_t *b, size_t n, struct oo7_bus_msg *m)
{
	struct oo7_bus_in in = {.b = b, .n = n, .big = n && b[0] == 'B'};
	char sig[OO7_BUS_NAME_MAX + 1];
	size_t at = 16, end = 0, body_at;
	ssize_t total = bus_measure(&in, &end);
	uint8_t code, type;
	uint32_t u;
	bool ok = true;

	if (total <= 0)
		return total;
	*m = (struct oo7_bus_msg){.type = b[1]};
	in.n = end; /* the fields, within the header */
	while (ok && at < in.n) {
		at = (at + 7) & ~(size_t)7;
		if (at + 4 > in.n || b[at + 1] != 1 || b[at + 3] != 0)
			return -EBADMSG;
		code = b[at];
		type = b[at + 2];
		at += 4;
		if (type == 'u')
			ok = bus_get_u32(&in, &at,
					 code == 5 ? &m->reply_serial : &u);
		else if (type == 's' || type == 'o' || type == 'g')
			ok = bus_get_string(&in, &at, (char)type,
					    code == 4	? m->error
					    : code == 8 ? sig
							: NULL);
		else
			ok = false;
		if (ok && code == 8 && type == 'g' &&
		    strlen(sig) >= sizeof(m->signature))
			return -EBADMSG;
		if (ok && code == 8 && type == 'g')
			memcpy(m->signature, sig, strlen(sig) + 1);
	}
	body_at = (end + 7) & ~(size_t)7;
	m->body = (struct oo7_bus_in){
	    .b = b + body_at, .n = (size_t)total - body_at, .big = in.big};
	return ok ? total : -EBADMSG;
}

/* The child's connection to the bus: its fd, deadline and what it read. */
struct oo7_bus_conn {
	int fd;
	uint64_t deadline;
	uint8_t buf[OO7_BUS_READ_MAX];
	size_t have;
	size_t used; /* the length of the message last handed out */
	char error[OO7_BUS_NAME_MAX + 1]; /* of the last error reply */
};

/*
 * The next message that answers serial; what comes before it (the
 * NameAcquired signal, Hello's reply) is skipped. 0 or -errno.
 */
static int bus_await(struct oo7_bus_conn *c, uint32_t serial,
		     struct oo7_bus_msg *m)
{
	ssize_t len, n;

	for (;;) {
		/* a bus that keeps us busy with messages still ends here */
		if (now_ns() >= c->deadline)
			return -ETIMEDOUT;
		memmove(c->buf, c->buf + c->used, c->have - c->used);
		c->have -= c->used;
		c->used = 0;
		len = bus_parse(c->buf, c->have, m);
		if (len < 0)
			return (int)len;
		c->used = (size_t)len;
		if (len > 0 && (m->type == 2 || m->type == 3) &&
		    m->reply_serial == serial)
			return 0;
		if (len > 0)
			continue;
		if (c->have == sizeof(c->buf))
			return -EBADMSG;
		n = io_once(c->fd, c->buf + c->have, sizeof(c->buf) - c->have,
			    false, c->deadline);
		if (n <= 0)
			return n ? (int)n : -ECONNRESET;
		c->have += (size_t)n;
	}
}

/*
 * The uid's decimal digits, each as two hex digits, as SASL EXTERNAL names
 * an identity; by hand, as snprintf is not async-signal-safe. Returns the
 * length written to out (at most 20 bytes).
 */
static size_t put_uid_hex(char *out, uid_t uid)
{
	static const char hex[] = "0123456789abcdef";
	char digits[10];
	size_t n = put_decimal(digits, (uint32_t)uid), len = 0;

	for (size_t i = 0; i < n; i++) {
		out[len++] = hex[(unsigned char)digits[i] >> 4];
		out[len++] = hex[digits[i] & 0xf];
	}
	return len;
}

/*
 * SASL EXTERNAL: the bus takes our uid from the socket and checks it
 * against the one we name. Waits for the bus's OK, then BEGIN. 0 or -errno.
 */
static int bus_auth(struct oo7_bus_conn *c, uid_t uid)
{
	char line[64] = "\0AUTH EXTERNAL ";
	size_t n = strlen(line + 1) + 1, got = 0;
	uint8_t reply[256];
	ssize_t r;

	n += put_uid_hex(line + n, uid);
	memcpy(line + n, "\r\n", 2);
	r = io_all(c->fd, line, n + 2, true, c->deadline);
	while (r > 0 && got < sizeof(reply) &&
	       (got < 2 || memcmp(reply + got - 2, "\r\n", 2))) {
		r = io_all(c->fd, reply + got, 1, false, c->deadline);
		got += r > 0 ? 1 : 0;
	}
	if (r <= 0)
		return r ? (int)r : -ECONNRESET;
	if (got < 5 || memcmp(reply, "OK ", 3) || reply[got - 1] != '\n')
		return -EACCES;
	r = io_all(c->fd, (void *)"BEGIN\r\n", 7, true, c->deadline);
	return r < 0 ? (int)r : 0;
}

/*
 * One call and its reply (none for a call with no reply signature), of
 * the signature the call takes, its value into out (OO7_BUS_NAME_MAX + 1
 * bytes): a string (s, o), the string in a variant (v), or a u32 (u). An
 * error's name goes to c->error and returns -ENOENT. 0 or -errno.
 */
static int bus_rpc(struct oo7_bus_conn *c, uint32_t serial,
		   const struct oo7_bus_call *call, char *out, uint32_t *u)
{
	uint8_t msg[OO7_BUS_MSG_MAX];
	struct oo7_frame f = {.data = msg, .cap = sizeof(msg)};
	struct oo7_bus_msg m;
	char type = call->reply ? call->reply[0] : 0;
	size_t at = 0;
	int r;

	bus_call(&f, serial, call);
	r = io_all(c->fd, f.data, f.len, true, c->deadline) < 0 ? -EIO : 0;
	if (r < 0 || !type)
		return r;
	r = bus_await(c, serial, &m);
	if (r == 0 && m.type == 3) {
		memcpy(c->error, m.error, sizeof(c->error));
		return -ENOENT;
	}
	if (r < 0 || strcmp(m.signature, call->reply))
		return r ?: -EBADMSG;
	if (type == 'u')
		return bus_get_u32(&m.body, &at, u) ? 0 : -EBADMSG;
	if (type == 'v' &&
	    (!bus_get_string(&m.body, &at, 'g', out) || strcmp(out, "s")))
		return -EBADMSG;
	return bus_get_string(&m.body, &at, type == 'v' ? 's' : type, out)
		   ? 0
		   : -EBADMSG;
}

/* The bus driver's calls, about org.freedesktop.secrets and its owner. */
#define OO7_BUS_DRIVER(name, arg, sig)                                         \
	((struct oo7_bus_call){.dest = "org.freedesktop.DBus",                 \
			       .path = "/org/freedesktop/DBus",                \
			       .iface = "org.freedesktop.DBus",                \
			       .member = (name),                               \
			       .args = {(arg)},                                \
			       .reply = (sig)})
/* A call to the user's service manager. */
#define OO7_MANAGER_CALL(obj, itf, name, arg0, arg1, sig)                      \
	((struct oo7_bus_call){.dest = "org.freedesktop.systemd1",             \
			       .path = (obj),                                  \
			       .iface = (itf),                                 \
			       .member = (name),                               \
			       .args = {(arg0), (arg1)},                       \
			       .reply = (sig)})

/*
 * In the child, as the user: Hello; who owns org.freedesktop.secrets, and
 * its pid; when no one does, the service manager asked to start the unit
 * (ask is OO7_ASK_START), or its ActiveState, "activating" while a start
 * is under way (as at a first login, when default.target pulls it in).
 * What came of it in *a; a->error holds the name of an error.
 */
static void bus_ask(struct oo7_bus_conn *c, uid_t uid, enum oo7_ask ask,
		    struct oo7_bus_answer *a)
{
	char unit[OO7_BUS_NAME_MAX + 1], state[OO7_BUS_NAME_MAX + 1] = "";
	const struct oo7_bus_call
	    hello = OO7_BUS_DRIVER("Hello", NULL, NULL),
	    owner = OO7_BUS_DRIVER("GetNameOwner", OO7_BUS_SECRETS, "s"),
	    pid = OO7_BUS_DRIVER("GetConnectionUnixProcessID", a->owner, "u"),
	    start = OO7_MANAGER_CALL(OO7_MANAGER_PATH, OO7_MANAGER_IFACE,
				     "StartUnit", OO7_UNIT, "replace", "o"),
	    get_unit = OO7_MANAGER_CALL(OO7_MANAGER_PATH, OO7_MANAGER_IFACE,
					"GetUnit", OO7_UNIT, NULL, "o"),
	    get_state = OO7_MANAGER_CALL(
		unit, "org.freedesktop.DBus.Properties", "Get",
		"org.freedesktop.systemd1.Unit", "ActiveState", "v");
	int r;

	a->result = OO7_BUS_FAILED;
	/* Hello's reply is skipped while the next one is awaited */
	if (bus_auth(c, uid) < 0 || bus_rpc(c, 1, &hello, NULL, NULL) < 0)
		return;
	r = bus_rpc(c, 2, &owner, a->owner, NULL);
	if (r == 0)
		bus_rpc(c, 3, &pid, NULL, &a->owner_pid);
	if (r != -ENOENT) {
		a->result = r == 0 ? OO7_BUS_OWNED : OO7_BUS_FAILED;
		return;
	}
	if (ask == OO7_ASK_START)
		r = bus_rpc(c, 4, &start, unit, NULL);
	else if ((r = bus_rpc(c, 4, &get_unit, unit, NULL)) == 0)
		r = bus_rpc(c, 5, &get_state, state, NULL);
	if (r == -ENOENT) {
		memcpy(a->error, c->error, sizeof(a->error));
		a->result = OO7_BUS_ERROR;
	} else if (r == 0)
		a->result = ask == OO7_ASK_START || !strcmp(state, "activating")
				? OO7_BUS_STARTING
				: OO7_BUS_IDLE;
}

/*
 * Asks the user's session bus, from a child running as the user, every
 * signal blocked in it, and ended by the deadline whatever the user does
 * to it; what the child found out into *a (OO7_BUS_NONE: no bus).
 */
static void ask_bus(pam_handle_t *pamh, const struct passwd *pw,
		    enum oo7_ask ask, uint64_t deadline,
		    struct oo7_bus_answer *a)
{
	struct oo7_bus_conn c = {.fd = -1, .deadline = deadline};
	struct oo7_child ch = {.pid = -1, .pidfd = -1};
	char path[OO7_SUN_PATH_MAX];
	ssize_t got = 0;
	int sv[2], r;

	*a = (struct oo7_bus_answer){.result = OO7_BUS_NONE};
	if (find_session_socket(pamh, pw, "bus", path) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	r = fork_child(&ch, sv[1], sv[0]);
	if (r == 0) {
		/* the host's memory is here, the kept password with it */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (setup_fds(-1, &sv[1], 0) < 0)
			_exit(1);
		if (become_user_fully(pw, &pw->pw_gid, 1) == 0 &&
		    (c.fd = connect_socket(path, deadline)) >= 0)
			bus_ask(&c, pw->pw_uid, ask, a);
		_exit(io_all(3, a, sizeof(*a), true, deadline) != sizeof(*a));
	}
	close(sv[1]);
	if (r > 0)
		got = io_all(sv[0], a, sizeof(*a), false, deadline);
	close(sv[0]);
	if (ch.pid > 0)
		end_child(&ch, 0, deadline);
	if (got != sizeof(*a))
		*a = (struct oo7_bus_answer){.result = OO7_BUS_FAILED};
	a->owner[sizeof(a->owner) - 1] = a->error[sizeof(a->error) - 1] = 0;
}

/* ---- starting a daemon ---- */

/* UID_MIN of /etc/login.defs, or shadow's default when it has none. */
static uid_t uid_min(void)
{
	FILE *f = fopen("/etc/login.defs", "re");
	unsigned long v, min = OO7_UID_MIN_DEFAULT;
	char line[256];

	if (!f)
		return (uid_t)min;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " UID_MIN %lu", &v) == 1 && v <= UINT32_MAX)
			min = v;
	fclose(f);
	return (uid_t)min;
}

/*
 * Whether a daemon may be started for this user: not for root, system
 * users or a greeter's session (GDM, LightDM, SDDM and greetd set
 * XDG_SESSION_CLASS=greeter), whose keyrings no one unlocks at a login,
 * unless start_always.
 */
static bool may_start(pam_handle_t *pamh, const struct oo7_opts *o,
		      const struct passwd *pw)
{
	const char *class = pam_getenv(pamh, "XDG_SESSION_CLASS");
	const char *why = NULL;

	if (o->start_always)
		return true;
	if (pw->pw_uid == 0)
		why = "root";
	else if (pw->pw_uid < uid_min())
		why = "a system user (uid below UID_MIN)";
	else if (class && !strcmp(class, "greeter"))
		why = "a greeter's session";
	if (!why)
		return true;
	debug_log(pamh, o, "No daemon started for %s: %s", pw->pw_name, why);
	return false;
}

/*
 * Whether process pid started less than OO7_YOUNG_OWNER_S ago, from its
 * start time in /proc (in clock ticks since boot).
 */
static bool started_lately(uint32_t pid)
{
	unsigned long long start;
	struct timespec boot;

	if (!proc_stat_field(pid, 22, &start) ||
	    clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
		return false;
	return (unsigned long long)boot.tv_sec <
	       start / (unsigned long long)sysconf(_SC_CLK_TCK) +
		   OO7_YOUNG_OWNER_S;
}

/*
 * The owner of org.freedesktop.secrets: oo7-daemon on its way to its
 * socket (OO7_UP_MANAGER: waited for), a 0.6 that has unlinked its socket,
 * or another Secret Service, logged (both OO7_UP_NONE).
 */
static enum oo7_up judge_owner(pam_handle_t *pamh, const struct oo7_opts *o,
			       const struct passwd *pw,
			       const struct oo7_bus_answer *a)
{
	char comm[16];

	if (!read_proc(a->owner_pid, "comm", comm, sizeof(comm)))
		snprintf(comm, sizeof(comm), "?");
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "oo7-daemon")) {
		oo7_log(pamh, LOG_WARNING,
			"Another Secret Service owns %s on the session bus of "
			"%s (%s, pid %u, %s): no oo7 daemon started",
			OO7_BUS_SECRETS, pw->pw_name,
			a->owner[0] ? a->owner : "?", a->owner_pid, comm);
		return OO7_UP_NONE;
	}
	if (started_lately(a->owner_pid)) {
		debug_log(pamh, o,
			  "oo7-daemon (pid %u) owns %s: waiting for "
			  "its socket",
			  a->owner_pid, OO7_BUS_SECRETS);
		return OO7_UP_MANAGER;
	}
	debug_log(pamh, o,
		  "oo7-daemon (pid %u) owns %s but has no socket: "
		  "oo7 0.6 unlinks it once it has served a connection",
		  a->owner_pid, OO7_BUS_SECRETS);
	return OO7_UP_NONE;
}

/*
 * An error of the service manager, or of the bus for it. With no manager
 * on the bus, one may still run: its private socket is there. At a first
 * login it joins the session bus only once the bus runs (the bus is
 * socket-activated, maybe by our own call), and then starts what
 * default.target wants, oo7-daemon.service with it: a daemon forked now
 * would be a second one. OO7_UP_NOBODY when a fork may follow.
 */
static enum oo7_up judge_error(pam_handle_t *pamh, const struct oo7_opts *o,
			       const struct passwd *pw, const char *error)
{
	char path[OO7_SUN_PATH_MAX];

	if (!strcmp(error, "org.freedesktop.systemd1.NoSuchUnit")) {
		debug_log(pamh, o, "The service manager of %s has no %s",
			  pw->pw_name, OO7_UNIT);
		return OO7_UP_NOBODY;
	}
	if (strcmp(error, "org.freedesktop.DBus.Error.NameHasNoOwner") &&
	    strcmp(error, "org.freedesktop.DBus.Error.ServiceUnknown")) {
		oo7_log(pamh, LOG_NOTICE,
			"The service manager of %s could not start %s: %s",
			pw->pw_name, OO7_UNIT, error);
		return OO7_UP_NONE;
	}
	debug_log(pamh, o, "No service manager on the session bus of %s",
		  pw->pw_name);
	if (find_session_socket(pamh, pw, "systemd/private", path) < 0)
		return OO7_UP_NOBODY;
	debug_log(pamh, o,
		  "The service manager of %s is not on its bus yet: "
		  "waiting for the daemon it starts",
		  pw->pw_name);
	return OO7_UP_MANAGER;
}

/*
 * What the answer of the user's bus (asked to start oo7-daemon.service, or
 * whether it is starting it) means, logged: OO7_UP_MANAGER when a daemon
 * is on its way, OO7_UP_NOBODY when no manager will start it.
 */
static enum oo7_up judge_answer(pam_handle_t *pamh, const struct oo7_opts *o,
				const struct passwd *pw, enum oo7_ask ask,
				const struct oo7_bus_answer *a)
{
	if (a->result == OO7_BUS_OWNED)
		return judge_owner(pamh, o, pw, a);
	if (a->result == OO7_BUS_ERROR)
		return judge_error(pamh, o, pw, a->error);
	if (a->result == OO7_BUS_STARTING)
		debug_log(
		    pamh, o, "The service manager of %s %s %s", pw->pw_name,
		    ask == OO7_ASK_START ? "starts" : "is starting", OO7_UNIT);
	else if (a->result == OO7_BUS_IDLE)
		debug_log(pamh, o,
			  "The service manager of %s is not starting "
			  "%s",
			  pw->pw_name, OO7_UNIT);
	else if (a->result == OO7_BUS_FAILED)
		oo7_log(pamh, LOG_WARNING,
			"The session bus of %s did not answer as a bus does",
			pw->pw_name);
	else
		debug_log(pamh, o, "No session bus for %s", pw->pw_name);
	if (a->result == OO7_BUS_STARTING)
		return OO7_UP_MANAGER;
	return a->result == OO7_BUS_NONE ? OO7_UP_NOBODY : OO7_UP_NONE;
}

/*
 * Has a daemon brought up when none answers: the user's service manager
 * asked to start oo7-daemon.service (or, with OO7_ASK_STATE, only seen to
 * be starting it), else forked here when the route allows; a start only
 * for whom may_start allows. Returns how a daemon is on its way, or
 * OO7_UP_NONE.
 */
static enum oo7_up bring_up(pam_handle_t *pamh, const struct oo7_opts *o,
			    struct oo7_start *st, enum oo7_ask ask,
			    uint64_t deadline)
{
	enum oo7_up up = OO7_UP_NOBODY;
	struct oo7_bus_answer a;

	/* a daemon the manager is starting anyway is anyone's to wait for */
	if (ask == OO7_ASK_START && !may_start(pamh, o, st->pw))
		return OO7_UP_NONE;
	if (o->route != OO7_ROUTE_FORK) {
		ask_bus(pamh, st->pw, ask, deadline, &a);
		up = judge_answer(pamh, o, st->pw, ask, &a);
	}
	if (up != OO7_UP_NOBODY)
		return up;
	if (ask != OO7_ASK_START || o->route == OO7_ROUTE_BUS ||
	    now_ns() >= deadline)
		return OO7_UP_NONE;
	return fork_start(pamh, o, st, deadline) == 0 ? OO7_UP_FORKED
						      : OO7_UP_NONE;
}

/* ---- what each hook does ---- */

/*
 * The password typed at auth, at a pam_end that says the application's
 * last call succeeded, to the daemon if one runs: a screen locker that
 * calls pam_authenticate alone (xsecurelock, physlock, vlock) unlocks the
 * keyring too. Only to the user it was typed for, and only if PAM_USER is
 * still that user. libpam frees its module data here, and refuses
 * pam_get_data and pam_modutil_getpwnam in this call: the user's ids come
 * from the copy.
 */
static void unlock_at_end(pam_handle_t *pamh, const struct oo7_kept *s)
{
	struct passwd pw = {
	    .pw_name = s->user, .pw_uid = s->uid, .pw_gid = s->gid};
	struct oo7_request req = {.op = OO7_OP_UNLOCK,
				  .user = s->user,
				  .pw = &pw,
				  .old = "",
				  .new = s->password};
	const void *user = NULL;

	if (pam_get_item(pamh, PAM_USER, &user) != PAM_SUCCESS || !user ||
	    strcmp(user, s->user) != 0)
		return;
	oo7_in_pam_end = true;
	if (send_request(pamh, &s->opts, &req, NULL, deadline_of(&s->opts)) ==
	    OO7_NO_DAEMON)
		debug_log(pamh, &s->opts,
			  "No daemon runs at the end of the authentication: "
			  "nothing sent, nothing started");
	oo7_in_pam_end = false;
}

/*
 * The request that what was kept makes: the change still pending, or the
 * unlock with the password in force.
 */
static void kept_request(const struct oo7_kept *kept, struct oo7_request *req)
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
static enum oo7_result kept_send(pam_handle_t *pamh, const struct oo7_opts *o,
				 const struct oo7_request *req,
				 struct oo7_start *st, uint64_t deadline)
{
	struct oo7_request unlock = *req;
	enum oo7_result r;

	r = send_request(pamh, o, req, st, deadline);
	if (r != OO7_SENT || req->op == OO7_OP_UNLOCK)
		return r;
	unlock.op = OO7_OP_UNLOCK;
	unlock.old = "";
	/* its failures are logged */
	send_request(pamh, o, &unlock, NULL, deadline);
	return r;
}

/*
 * The session: what auth (or a change) kept, to the user's daemon. When
 * none answers: with auto_start, a daemon started, given the password if
 * there is one (FIDO2, fingerprint and autologin leave none: it starts
 * locked), then the change still pending; without, the password still
 * reaches a daemon that the service manager is starting (a first login).
 * What was kept for someone else is wiped, and nothing happens at all.
 */
static void open_keyring(pam_handle_t *pamh, const struct oo7_opts *o)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = ""};
	struct oo7_start st = {.lifetime = OO7_DAEMON_STAYS,
			       .child = {.pidfd = -1}};
	uint64_t deadline = deadline_of(o);
	const struct oo7_kept *kept;
	enum oo7_up up = OO7_UP_NONE;
	enum oo7_result r;

	if (get_user(pamh, &req.user, &req.pw) < 0)
		return;
	if (kept_whose(pamh, &req, &kept) == OO7_KEPT_OTHERS) {
		kept_refuse(pamh, &req, kept);
		return;
	}
	if (!kept && kept_was_refused(pamh))
		return; /* another user's password was wiped at setcred */
	if (!kept)
		debug_log(pamh, o,
			  "No password kept by auth (none was typed, or auth "
			  "ran in another process, as sshd's "
			  "keyboard-interactive does); nothing to send");
	if (!kept && !o->auto_start)
		return;
	if (kept) {
		kept_request(kept, &req);
		r = kept_send(pamh, o, &req, NULL, deadline);
	} else {
		r = look_for_daemon(pamh, o, req.pw);
	}
	st.pw = req.pw;
	st.password = req.new;
	if (r == OO7_NO_DAEMON)
		up = bring_up(pamh, o, &st,
			      o->auto_start ? OO7_ASK_START : OO7_ASK_STATE,
			      deadline);
	/*
	 * --login opens what the password opens; a change needs a frame, and
	 * so does a daemon that the manager starts, which gets no password.
	 */
	if ((up == OO7_UP_FORKED && req.op == OO7_OP_CHANGE) ||
	    (up == OO7_UP_MANAGER && req.new))
		r = kept_send(pamh, o, &req, &st, deadline);
	if (r != OO7_SENT && req.op == OO7_OP_CHANGE)
		oo7_log(pamh, LOG_NOTICE,
			"No oo7 daemon took the change of password: the "
			"keyring was not re-keyed");
}

/*
 * setcred: what auth kept for another uid (PAM_USER changed since: sudo -i
 * -u, doas, a greeter that maps names) is wiped now, not at pam_end. With
 * PAM_REFRESH_CRED or PAM_REINITIALIZE_CRED (screen lockers, after auth),
 * what was kept for the user goes to a daemon that runs, then is wiped.
 * None is started here. With no daemon the copy stays for a session: sudo
 * calls setcred(PAM_REINITIALIZE_CRED) before it opens one, where
 * auto_start may start the daemon with it.
 */
static void refresh_keyring(pam_handle_t *pamh, const struct oo7_opts *o,
			    int flags)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = ""};
	const struct oo7_kept *kept;
	const void *data = NULL;

	/* nothing kept, no user to look up: setcred runs at every login */
	if (pam_get_data(pamh, OO7_KEPT_KEY, &data) != PAM_SUCCESS || !data ||
	    get_user(pamh, &req.user, &req.pw) < 0)
		return;
	if (kept_whose(pamh, &req, &kept) == OO7_KEPT_OTHERS) {
		kept_refuse(pamh, &req, kept);
		return;
	}
	if (!(flags & (PAM_REFRESH_CRED | PAM_REINITIALIZE_CRED)))
		return;
	kept_request(kept, &req);
	if (kept_send(pamh, o, &req, NULL, deadline_of(o)) == OO7_NO_DAEMON)
		debug_log(pamh, o,
			  "No daemon runs; the password is kept for "
			  "a session");
	else
		kept_drop(pamh);
}

/*
 * The password change. When no daemon takes it, one is started for it
 * whatever auto_start says, as re-keying with the password is what cannot
 * wait; one forked for this call is stopped again once it has done its
 * work (SIGTERM, SIGKILL at the deadline, reaped: the host keeps no child;
 * one that the service manager started is the manager's). Then the new
 * password is the one kept for a session on this handle, with the change
 * itself when no daemon took it (before pam_systemd has made the session
 * bus, oo7-daemon cannot start): the session delivers it first.
 */
static void rekey(pam_handle_t *pamh, const struct oo7_opts *o, const char *old,
		  const char *new)
{
	struct oo7_request req = {.op = OO7_OP_CHANGE, .old = old, .new = new};
	struct oo7_start st = {
	    .lifetime =
		o->auto_start ? OO7_DAEMON_STAYS : OO7_DAEMON_FOR_THIS_CALL,
	    .child = {.pidfd = -1},
	};
	uint64_t deadline = deadline_of(o);
	enum oo7_result r;

	if (get_user(pamh, &req.user, &req.pw) < 0)
		return;
	st.pw = req.pw;
	r = send_request(pamh, o, &req, NULL, deadline);
	if (r == OO7_NO_DAEMON &&
	    bring_up(pamh, o, &st, OO7_ASK_START, deadline) != OO7_UP_NONE)
		r = send_request(pamh, o, &req, &st, deadline);
	if (st.child.pid > 0) {
		if (end_child(&st.child, SIGTERM, deadline))
			debug_log(pamh, o,
				  "Stopped the daemon started for the change");
		else
			oo7_log(pamh, LOG_NOTICE,
				"The daemon started for the change did not "
				"stop before the timeout: killed");
	}
	if (r == OO7_SENT)
		req.op = OO7_OP_UNLOCK;
	else
		oo7_log(pamh, LOG_NOTICE,
			"No oo7 daemon took the change: the keyring is not "
			"re-keyed yet; a session opened on this handle will "
			"try again");
	kept_store(pamh, &req, NULL);
}

/* Root set the password: no old one to re-key with; keep the new one. */
static void kept_store_new(pam_handle_t *pamh, const char *new)
{
	struct oo7_request req = {.op = OO7_OP_UNLOCK, .old = "", .new = new};

	oo7_log(pamh, LOG_NOTICE,
		"No old password (as when root sets it): the keyring was not "
		"re-keyed");
	if (get_user(pamh, &req.user, &req.pw) == 0)
		kept_store(pamh, &req, NULL);
}

/* ---- hooks ---- */

/*
 * Returns PAM_IGNORE: this module authenticates no one. It sends nothing
 * either: the copy waits for setcred, the session or pam_end.
 */
OO7_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				   const char **argv)
{
	struct oo7_opts o;

	(void)flags;
	parse_opts(pamh, argc, argv, &o);
	/* A retry on the same handle must never carry an older password. */
	kept_drop(pamh);
	pam_set_data(pamh, OO7_REFUSED_KEY, NULL, NULL);
	if (service_wanted(pamh, &o) && kept_store_authtok(pamh, &o) == 0)
		debug_log(pamh, &o, "Kept the password for the session");
	return PAM_IGNORE;
}

/*
 * PAM_REFRESH_CRED, PAM_REINITIALIZE_CRED (screen lockers): the kept
 * password to a running daemon, then wiped (kept for a session when no
 * daemon runs). PAM_DELETE_CRED: wiped.
 * PAM_ESTABLISH_CRED: kept for the session. Whatever the flag, a copy kept
 * for another user is wiped. Returns PAM_IGNORE.
 */
OO7_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			      const char **argv)
{
	struct oo7_opts o;

	parse_opts(pamh, argc, argv, &o);
	if (flags & PAM_DELETE_CRED)
		kept_drop(pamh);
	else if (service_wanted(pamh, &o))
		refresh_keyring(pamh, &o, flags);
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
	kept_drop(pamh);
	return PAM_SUCCESS;
}

OO7_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
				    const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	kept_drop(pamh);
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
		kept_store_new(pamh, new);
	else
		rekey(pamh, &o, old, new);
	return PAM_SUCCESS;
}
