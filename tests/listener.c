// SPDX-License-Identifier: MIT
/* The daemon's side of the wire for the tests and the demo; see listener.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dbus/dbus.h>
#include <glib.h>

#include "listener.h"

#define FRAME_MAX (256U << 20)

struct record_head {
	uint32_t uid, gid, pid;
	uint16_t id, dropped;
	uint64_t len;
};

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

/* libdbus and GLib make the reply, so the module is read by others' code. */
size_t reply_encode(uint8_t *buf, size_t size, bool gvariant, bool ok,
		    const char *msg)
{
	size_t len = 0;

	if (gvariant) {
		GVariant *v =
		    g_variant_ref_sink(g_variant_new("(bs)", ok, msg));

		len = g_variant_get_size(v);
		if (len <= size)
			memcpy(buf, g_variant_get_data(v), len);
		g_variant_unref(v);
	} else {
		DBusMessage *m = dbus_message_new_signal("/r", "r.r", "r");
		dbus_bool_t b = ok;
		char *blob;
		int blob_len;

		dbus_message_append_args(m, DBUS_TYPE_BOOLEAN, &b,
					 DBUS_TYPE_STRING, &msg,
					 DBUS_TYPE_INVALID);
		dbus_message_marshal(m, &blob, &blob_len);
		memcpy(&len, blob + 4, 4);
		len &= 0xffffffffU;
		if (len <= size)
			memcpy(buf, blob + blob_len - len, len);
		dbus_free(blob);
		dbus_message_unref(m);
	}
	return len;
}

/*
 * libdbus reads a body only inside a message: borrow the header of tmpl,
 * which holds arguments of the body's signature, and unref tmpl.
 */
static DBusMessage *dbus_body_message(DBusMessage *tmpl, const uint8_t *body,
				      size_t len)
{
	DBusMessage *m = NULL;
	char *blob = NULL, *whole;
	int blob_len;
	uint32_t n = (uint32_t)len, tmpl_len;

	dbus_message_set_serial(tmpl, 1); /* demarshal wants one */
	if (!dbus_message_marshal(tmpl, &blob, &blob_len))
		goto out;
	/* Keep the template's header (and signature), swap the body. */
	memcpy(&tmpl_len, blob + 4, 4);
	blob_len -= (int)tmpl_len;
	whole = malloc((size_t)blob_len + len);
	memcpy(whole, blob, (size_t)blob_len);
	memcpy(whole + 4, &n, 4);
	memcpy(whole + blob_len, body, len);
	m = dbus_message_demarshal(whole, blob_len + (int)len, NULL);
	free(whole);
out:
	dbus_free(blob);
	dbus_message_unref(tmpl);
	return m;
}

/* A request body, (ysayay), as a message libdbus can read; NULL if not. */
static DBusMessage *dbus_frame_message(const uint8_t *body, size_t len)
{
	DBusMessage *tmpl = dbus_message_new_signal("/d", "d.d", "d");
	const unsigned char *none = (const unsigned char *)"";
	const char *empty = "";
	unsigned char op = 0;

	if (!dbus_message_append_args(
		tmpl, DBUS_TYPE_BYTE, &op, DBUS_TYPE_STRING, &empty,
		DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &none, 0, DBUS_TYPE_ARRAY,
		DBUS_TYPE_BYTE, &none, 0, DBUS_TYPE_INVALID)) {
		dbus_message_unref(tmpl);
		return NULL;
	}
	return dbus_body_message(tmpl, body, len);
}

/* The same for a reply body, (bs). */
static DBusMessage *dbus_reply_message(const uint8_t *body, size_t len)
{
	DBusMessage *tmpl = dbus_message_new_signal("/d", "d.d", "d");
	dbus_bool_t b = FALSE;
	const char *empty = "";

	if (!dbus_message_append_args(tmpl, DBUS_TYPE_BOOLEAN, &b,
				      DBUS_TYPE_STRING, &empty,
				      DBUS_TYPE_INVALID)) {
		dbus_message_unref(tmpl);
		return NULL;
	}
	return dbus_body_message(tmpl, body, len);
}

static bool gvariant_reply_decode(const uint8_t *body, size_t len, bool *ok,
				  char **msg)
{
	GVariant *v = g_variant_ref_sink(g_variant_new_from_data(
	    G_VARIANT_TYPE("(bs)"), body, len, FALSE, NULL, NULL));
	GVariant *norm = g_variant_get_normal_form(v);
	bool normal = g_variant_get_size(norm) == len &&
		      !memcmp(g_variant_get_data(norm), body, len);
	gboolean b;

	g_variant_get(v, "(bs)", &b, msg);
	*ok = b;
	g_variant_unref(norm);
	g_variant_unref(v);
	return normal;
}

bool reply_decode(const uint8_t *body, size_t len, bool gvariant, bool *ok,
		  char **msg)
{
	DBusMessage *m;
	dbus_bool_t b;
	const char *s;

	*msg = NULL;
	if (gvariant)
		return gvariant_reply_decode(body, len, ok, msg);
	m = dbus_reply_message(body, len);
	if (!m ||
	    !dbus_message_get_args(m, NULL, DBUS_TYPE_BOOLEAN, &b,
				   DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID)) {
		if (m)
			dbus_message_unref(m);
		return false;
	}
	*ok = b;
	*msg = g_strdup(s);
	dbus_message_unref(m);
	return true;
}

bool frame_decode(const uint8_t *frame, size_t len, bool gvariant,
		  struct decoded *d)
{
	const uint8_t *body = frame + 4;
	size_t n = len - 4;

	*d = (struct decoded){0};
	if (len < 4 || get_u32(frame) != n)
		return false;
	if (gvariant) {
		GVariant *v = g_variant_ref_sink(g_variant_new_from_data(
		    G_VARIANT_TYPE("(ysayay)"), body, n, FALSE, NULL, NULL));
		GVariant *norm = g_variant_get_normal_form(v);
		GVariant *o, *w;
		const char *user;
		bool normal = g_variant_get_size(norm) == n &&
			      !memcmp(g_variant_get_data(norm), body, n);

		g_variant_get(v, "(y&s@ay@ay)", &d->op, &user, &o, &w);
		d->user = g_strdup(user);
		d->old =
		    g_bytes_new(g_variant_get_data(o), g_variant_get_size(o));
		d->new =
		    g_bytes_new(g_variant_get_data(w), g_variant_get_size(w));
		g_variant_unref(o);
		g_variant_unref(w);
		g_variant_unref(norm);
		g_variant_unref(v);
		return normal && g_utf8_validate(d->user, -1, NULL);
	} else {
		DBusMessage *m = dbus_frame_message(body, n);
		const char *user;
		const uint8_t *o, *w;
		int ol, wl;

		if (!m || !dbus_message_get_args(
			      m, NULL, DBUS_TYPE_BYTE, &d->op, DBUS_TYPE_STRING,
			      &user, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &o, &ol,
			      DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &w, &wl,
			      DBUS_TYPE_INVALID)) {
			if (m)
				dbus_message_unref(m);
			return false;
		}
		d->user = g_strdup(user);
		d->old = g_bytes_new(o, (size_t)ol);
		d->new = g_bytes_new(w, (size_t)wl);
		dbus_message_unref(m);
		return true;
	}
}

void decoded_free(struct decoded *d)
{
	g_free(d->user);
	if (d->old)
		g_bytes_unref(d->old);
	if (d->new)
		g_bytes_unref(d->new);
	*d = (struct decoded){0};
}

/* The encoding the listener reads: its generation's, or gvariant's word. */
static bool reads_gvariant(const struct listener_cfg *cfg)
{
	if (cfg->generation == NO_GENERATION)
		return cfg->gvariant;
	return cfg->generation == OO7_MAIN;
}

/* The demo's view of a frame: the fields, with the secrets masked. */
static void print_frame(const struct listener_cfg *cfg,
			const struct ucred *cred, const uint8_t *f, size_t len)
{
	struct decoded d;
	bool gvariant = reads_gvariant(cfg);

	printf("listener: %zu-byte frame from pid %d (uid %u): ", len,
	       (int)cred->pid, (unsigned)cred->uid);
	if (!frame_decode(f, len, gvariant, &d))
		printf("not a valid %s (ysayay) frame\n",
		       gvariant ? "GVariant" : "D-Bus");
	else
		printf("%s user=\"%s\" old=<%zu bytes, masked> "
		       "new=<%zu bytes, masked>\n",
		       d.op == 0   ? "unlock"
		       : d.op == 1 ? "change-password"
				   : "?",
		       d.user, g_bytes_get_size(d.old),
		       g_bytes_get_size(d.new));
	decoded_free(&d);
	fflush(stdout);
}

/* A frame the listener's generation could not decode, nor act on. */
static bool dropped_by_generation(const struct listener_cfg *cfg,
				  const uint8_t *f, size_t len)
{
	struct decoded d;
	bool decoded;

	/*
	 * Without a generation, a frame that does not decode in the
	 * listener's encoding is dropped too, as every release drops one;
	 * the loose behaviours differ only in what they answer.
	 */
	if (cfg->generation == NO_GENERATION &&
	    cfg->behaviour != LISTENER_CLOSE &&
	    cfg->behaviour != LISTENER_REPLY)
		return false;
	/* Only these two operations deserialise (serde_repr). */
	decoded = frame_decode(f, len, reads_gvariant(cfg), &d) && d.op <= 1;
	decoded_free(&d);
	return !decoded;
}

/* Whom oo7-daemon serves: root (the PAM module) and its own user. */
static bool refused_by_generation(const struct listener_cfg *cfg,
				  const struct ucred *cred)
{
	return cfg->generation != NO_GENERATION && cred->uid != 0 &&
	       cred->uid != getuid();
}

static void send_bs(int c, bool gvariant, bool ok, const char *msg)
{
	uint8_t buf[4096 + 4];
	uint32_t n;

	n = (uint32_t)reply_encode(buf + 4, sizeof(buf) - 4, gvariant, ok, msg);
	buf[0] = n & 0xff;
	buf[1] = n >> 8 & 0xff;
	buf[2] = n >> 16 & 0xff;
	buf[3] = n >> 24 & 0xff;
	write_all(c, buf, n + 4);
}

/*
 * After a frame was acted on. 0.7.0.alpha and main say (true, "") whatever
 * came of it: their unlock and change never fail (a wrong password leaves a
 * collection locked or unchanged, and is logged by the daemon only).
 */
static void answer(const struct listener_cfg *cfg, int c)
{
	switch (cfg->generation) {
	case NO_GENERATION:
		if (cfg->behaviour == LISTENER_RAW_REPLY)
			write_all(c, cfg->raw_reply, cfg->raw_reply_len);
		else if (cfg->behaviour != LISTENER_CLOSE)
			send_bs(c, cfg->gvariant, cfg->reply_ok,
				cfg->reply_msg ? cfg->reply_msg : "");
		break;
	case OO7_06:
		break;
	case OO7_07_ALPHA:
		send_bs(c, false, true, "");
		break;
	case OO7_MAIN:
		send_bs(c, true, true, "");
		break;
	}
}

static void record(const struct listener_cfg *cfg, const struct ucred *cred,
		   const uint8_t *frame, size_t len, bool dropped)
{
	struct record_head h = {cred->uid, cred->gid, (uint32_t)cred->pid,
				cfg->id,   dropped,   len};

	if (cfg->record_fd >= 0 && (write_all(cfg->record_fd, &h, sizeof(h)) ||
				    write_all(cfg->record_fd, frame, len)))
		perror("listener: record");
}

static void handle(const struct listener_cfg *cfg, int c)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	uint8_t prefix[4];
	uint8_t *frame = NULL;
	uint32_t len;
	bool dropped;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    refused_by_generation(cfg, &cred))
		goto out;
	if (read_all(c, prefix, 4) < 0) {
		/* a connection that sent nothing: every oo7 logs an error */
		record(cfg, &cred, prefix, 0, true);
		goto out;
	}
	len = get_u32(prefix);
	if (len > FRAME_MAX || !(frame = malloc(len + 4)))
		goto out;
	memcpy(frame, prefix, 4);
	if (read_all(c, frame + 4, len) < 0)
		goto out;
	dropped = dropped_by_generation(cfg, frame, len + 4);
	record(cfg, &cred, frame, len + 4, dropped);
	if (cfg->print)
		print_frame(cfg, &cred, frame, len + 4);
	if (dropped)
		goto out;
	if (cfg->on_frame)
		cfg->on_frame(cfg->on_frame_data, frame, len + 4);
	answer(cfg, c);
out:
	free(frame);
	/* oo7 0.6.0 removes its socket path after each connection. */
	if (cfg->generation == OO7_06)
		unlink(cfg->path);
	close(c);
}

static int become(uid_t uid, gid_t gid)
{
	if (getuid() == uid && getgid() == gid)
		return 0; /* a daemon that already runs as its user */
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -1;
	return 0;
}

static int socket_address(const struct listener_cfg *cfg,
			  struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(cfg->path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, cfg->path);
	return 0;
}

int listener_bind(const struct listener_cfg *cfg)
{
	struct sockaddr_un sa;
	int fd = -1, filler;

	if (socket_address(cfg, &sa) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(cfg->path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chown(cfg->path, cfg->owner_uid, cfg->owner_gid) < 0 ||
	    chmod(cfg->path, cfg->mode) < 0 ||
	    become(cfg->run_uid, cfg->run_gid) < 0 ||
	    listen(fd, cfg->behaviour == LISTENER_NEVER_ACCEPT ? 0 : 128) < 0) {
		perror("listener: set up");
		return -1;
	}
	if (cfg->behaviour == LISTENER_NEVER_ACCEPT) {
		/* A backlog of 0 takes one connection: fill it. */
		filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(filler, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("listener: fill the backlog");
			return -1;
		}
	}
	return fd;
}

int listener_serve(const struct listener_cfg *cfg, int fd, int ready_fd)
{
	if (ready_fd >= 0 && write_all(ready_fd, "1", 1) == 0)
		close(ready_fd);
	for (;;) {
		int c;

		if (cfg->behaviour == LISTENER_NEVER_ACCEPT) {
			pause();
			continue;
		}
		c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (cfg->behaviour == LISTENER_NEVER_READ)
			continue; /* hold it open, never read */
		if (cfg->behaviour == LISTENER_CLOSE_AT_ONCE) {
			close(c);
			continue;
		}
		handle(cfg, c);
	}
}

int listener_run(const struct listener_cfg *cfg, int ready_fd)
{
	int fd = listener_bind(cfg);

	return fd < 0 ? 1 : listener_serve(cfg, fd, ready_fd);
}

pid_t listener_start(const struct listener_cfg *cfg)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* Dies with the test, however the test ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		_exit(listener_run(cfg, p[1]));
	}
	close(p[1]);
	if (pid > 0 && read_all(p[0], &c, 1) < 0) {
		listener_stop(pid);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

void listener_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

size_t records_read(int fd, struct record **out)
{
	struct record_head h;
	struct record *r = NULL;
	size_t n = 0;
	off_t off = 0;

	while (pread(fd, &h, sizeof(h), off) == (ssize_t)sizeof(h)) {
		r = realloc(r, (n + 1) * sizeof(*r));
		r[n] = (struct record){(uint8_t)h.id, h.uid, h.gid,
				       (pid_t)h.pid,  h.len, malloc(h.len),
				       h.dropped != 0};
		if (pread(fd, r[n].data, h.len, off + (off_t)sizeof(h)) !=
		    (ssize_t)h.len) {
			free(r[n].data);
			break;
		}
		off += (off_t)(sizeof(h) + h.len);
		n++;
	}
	*out = r;
	return n;
}

/* Frames hold passwords: the linger test must find none of ours. */
static void records_free_one(struct record *r)
{
	explicit_bzero(r->data, r->len);
	free(r->data);
}

size_t records_acted_on(struct record *all, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		if (all[i].dropped) {
			records_free_one(&all[i]);
			continue;
		}
		all[kept++] = all[i];
	}
	return kept;
}

void records_free(struct record *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		records_free_one(&r[i]);
	free(r);
}
