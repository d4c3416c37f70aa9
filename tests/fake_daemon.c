// SPDX-License-Identifier: MIT
/*
 * A stand-in for oo7-daemon, started by pam_oo7's auto_start in the tests.
 * It writes down, in /run/user/UID/fake-daemon.record, how it was started:
 * argv, ids, groups, session, cwd, its parent (and whose child that is),
 * environment, fds, signal mask and dispositions, and what arrived on
 * stdin, and its generation; then it binds the socket where oo7-daemon
 * binds (/run/user/UID/oo7-pam.sock) and records the frames it gets, as the
 * listener does. Named ...-fail it exits at once; named ...-noread it never
 * reads stdin; named ...-noterm it ignores SIGTERM.
 *
 * Its generation is the oo7-daemon release it stands in for, named by the
 * file /run/user/UID/fake-daemon.generation: "0.6", "0.7.0.alpha" or
 * "main" (a trailing newline allowed; anything else: its record says
 * "badgeneration" and it exits 2). Then it reads, drops and answers frames
 * as that release does (enum generation in listener.h): 0.6 reads D-Bus,
 * never replies and unlinks its socket after each connection; 0.7.0.alpha
 * reads D-Bus and replies D-Bus (true, ""); main reads GVariant and replies
 * GVariant (true, ""); a frame that does not decode is dropped with no
 * reply. 0.7.0.alpha and main say true whatever a frame did to the
 * keyring (a wrong password too), as those releases do. With no such
 * file it reads D-Bus frames and closes without a word, as 0.6 does, but
 * drops nothing and keeps its socket: the stand-in that the older cases
 * were written against.
 *
 * When /run/user/UID/keyring exists as it starts, it models the user's
 * keyring as oo7-daemon 0.6 and later treat it. The file holds
 * two lines, "password=HEX" (the password's bytes in lowercase hex, empty
 * for an empty password) and "locked=0" or "locked=1", and is always
 * replaced whole (a temporary file renamed into place):
 * - it needs the user's session bus: unless DBUS_SESSION_BUS_ADDRESS is
 *   unix:path=P with P a socket, its record says "nobus" and it exits 1
 *   without binding its socket;
 * - with --login it reads stdin to its end: the keyring comes up unlocked if
 *   that is the keyring's password, locked otherwise; without --login,
 *   locked. The file says so before the socket is bound;
 * - unlock(user, "", P) unlocks a locked keyring if P is its password;
 *   change(user, old, new) re-keys it to new if old is its password and
 *   leaves it locked or not as it was; anything else (a frame that does
 *   not decode in the encoding its generation reads, too) changes
 *   nothing. The file says so before the reply or the close, so that the
 *   state is on disk when the module sees the end of the exchange.
 * Started by a test rather than by the module, it writes "1" on the fd
 * that OO7_FAKE_READY_FD names once it listens.
 *
 * Started by a bus (dbus-daemon sets DBUS_STARTER_ADDRESS in what it
 * activates), it owns org.freedesktop.secrets there: the bus answers
 * StartServiceByName once the name is owned. As 0.6 (or with no file) it
 * does so before it binds its socket; as 0.7.0.alpha or main, after, as
 * those releases start their PAM listener first to keep secrets that arrive
 * while they start (a second instance takes the socket path, then exits).
 * The record says "starter-bus owned", or "starter-bus failed: WHY" and it
 * exits 1 as oo7-daemon does when another instance runs. It keeps the
 * connection, and with it the name, until it is killed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <dbus/dbus.h>
#include <glib.h>

#include "listener.h"

#define SECRETS_NAME "org.freedesktop.secrets"

/* The release it stands in for; see the top of this file. */
static enum generation generation = NO_GENERATION;

/* The keyring, when the daemon models one. */
static struct {
	bool on;
	char path[128], tmp[128];
	GByteArray *password;
	bool locked;
} keyring;

static void record_fds(FILE *f)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	fprintf(f, "fds");
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) &&
		    atoi(e->d_name) != fileno(f)) /* our own, for the record */
			fprintf(f, " %s", e->d_name);
	fprintf(f, "\n");
	closedir(d);
}

static void record_signals(FILE *f)
{
	struct sigaction sa;
	sigset_t mask;

	sigprocmask(SIG_BLOCK, NULL, &mask);
	fprintf(f, "blocked");
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&mask, sig) == 1)
			fprintf(f, " %d", sig);
	fprintf(f, "\nignored");
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			fprintf(f, " %d", sig);
	fprintf(f, "\n");
}

/* The parent's name and its own parent: who started us, and through what. */
static void record_parent(FILE *f)
{
	gchar *stat = NULL, *comm = NULL, *end;
	char path[64];
	int grandparent = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)getppid());
	if (g_file_get_contents(path, &stat, NULL, NULL) &&
	    (end = strrchr(stat, ')')))
		sscanf(end + 1, " %*c %d", &grandparent);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)getppid());
	if (g_file_get_contents(path, &comm, NULL, NULL))
		g_strchomp(comm);
	fprintf(f, "parent-comm %s\ngrandparent %d\n", comm ? comm : "?",
		grandparent);
	g_free(stat);
	g_free(comm);
}

/* The capability sets, as /proc says them ("CapPrm:\t0000..."). */
static void record_capabilities(FILE *f)
{
	gchar *status = NULL, **lines;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
		return;
	lines = g_strsplit(status, "\n", -1);
	for (gchar **l = lines; *l; l++)
		if (g_str_has_prefix(*l, "Cap"))
			fprintf(f, "%s\n", *l);
	g_strfreev(lines);
	g_free(status);
}

static void record_ids(FILE *f)
{
	uid_t r, e, s;
	gid_t gr, ge, gs, groups[64];
	int n = getgroups(64, groups);
	char cwd[4096];
	mode_t mask = umask(0);

	umask(mask);
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	fprintf(f, "pid %d\nppid %d\nuids %u %u %u\ngids %u %u %u\ngroups",
		(int)getpid(), (int)getppid(), r, e, s, gr, ge, gs);
	for (int i = 0; i < n; i++)
		fprintf(f, " %u", (unsigned)groups[i]);
	fprintf(f, "\nsid %d\npgid %d\ncwd %s\numask %03o\n", (int)getsid(0),
		(int)getpgrp(), getcwd(cwd, sizeof(cwd)), (unsigned int)mask);
	record_parent(f);
	record_capabilities(f);
}

/*
 * On the bus that started us: org.freedesktop.secrets, as its only owner.
 * The connection stays open (never dispatched: the bus keeps what it
 * sends) for as long as the process runs. False when the name is not ours.
 */
static bool own_secrets_name(FILE *f)
{
	DBusConnection *c;
	DBusError err;
	int r = -1;

	dbus_error_init(&err);
	c = dbus_bus_get(DBUS_BUS_STARTER, &err);
	if (c)
		r = dbus_bus_request_name(c, SECRETS_NAME,
					  DBUS_NAME_FLAG_DO_NOT_QUEUE, &err);
	if (r == DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
		fprintf(f, "starter-bus owned %s\n", SECRETS_NAME);
		return true;
	}
	fprintf(f, "starter-bus failed: %s\n",
		dbus_error_is_set(&err) ? err.message
					: "not the primary owner");
	dbus_error_free(&err);
	return false;
}

/* text, written whole to path: a temporary file renamed into place. */
static int replace_file(const char *path, const char *tmp, const char *text)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return -1;
	return rename(tmp, path);
}

/* Reads the keyring file: false if it is not in the format above. */
static bool keyring_load(void)
{
	gchar *text = NULL, *p;
	bool ok = false;

	if (!g_file_get_contents(keyring.path, &text, NULL, NULL))
		return false;
	keyring.password = g_byte_array_new();
	if (strncmp(text, "password=", 9))
		goto out;
	for (p = text + 9; g_ascii_isxdigit(p[0]) && g_ascii_isxdigit(p[1]);
	     p += 2) {
		guint8 b = (guint8)(g_ascii_xdigit_value(p[0]) << 4 |
				    g_ascii_xdigit_value(p[1]));

		g_byte_array_append(keyring.password, &b, 1);
	}
	if (!strcmp(p, "\nlocked=0\n") || !strcmp(p, "\nlocked=1\n")) {
		keyring.locked = p[8] == '1';
		ok = true;
	}
out:
	g_free(text);
	return ok;
}

static int keyring_save(void)
{
	GString *text = g_string_new("password=");
	int r;

	for (guint i = 0; i < keyring.password->len; i++)
		g_string_append_printf(text, "%02x", keyring.password->data[i]);
	g_string_append_printf(text, "\nlocked=%d\n", keyring.locked ? 1 : 0);
	r = replace_file(keyring.path, keyring.tmp, text->str);
	g_string_free(text, TRUE);
	return r;
}

static bool is_password(const void *p, size_t len)
{
	return len == keyring.password->len &&
	       (len == 0 || !memcmp(p, keyring.password->data, len));
}

/* unlock and change as oo7 does them; see the top of this file. */
static void keyring_on_frame(void *data, const uint8_t *frame, size_t len)
{
	struct decoded d;
	gsize old_len, new_len;
	const void *old, *new;

	(void)data;
	if (!frame_decode(frame, len, generation == OO7_MAIN, &d))
		goto out;
	old = g_bytes_get_data(d.old, &old_len);
	new = g_bytes_get_data(d.new, &new_len);
	if (d.op == 0 && keyring.locked && is_password(new, new_len))
		keyring.locked = false;
	if (d.op == 1 && is_password(old, old_len)) {
		g_byte_array_set_size(keyring.password, 0);
		g_byte_array_append(keyring.password, new, (guint)new_len);
	}
	if (keyring_save() < 0)
		perror("fake daemon: keyring");
out:
	decoded_free(&d);
}

/*
 * DBUS_SESSION_BUS_ADDRESS is unix:path=P, and P is a socket. A bus puts
 * more keys after a comma (",guid=..."): P ends there.
 */
static bool session_bus_there(void)
{
	const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
	struct stat st;
	gchar *path;
	bool there;

	if (!addr || strncmp(addr, "unix:path=", 10))
		return false;
	path = g_strndup(addr + 10, strcspn(addr + 10, ","));
	there = stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
	g_free(path);
	return there;
}

static const char *const generation_names[] = {
    [NO_GENERATION] = "none",
    [OO7_06] = "0.6",
    [OO7_07_ALPHA] = "0.7.0.alpha",
    [OO7_MAIN] = "main",
};

/* The generation the file in dir names (none without it); false if bad. */
static bool read_generation(const char *dir)
{
	char path[128];
	gchar *text = NULL;
	bool ok = false;

	snprintf(path, sizeof(path), "%s/fake-daemon.generation", dir);
	if (access(path, F_OK) < 0)
		return true;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return false;
	g_strchomp(text);
	for (int g = OO7_06; g <= OO7_MAIN && !ok; g++)
		if (!strcmp(text, generation_names[g])) {
			generation = (enum generation)g;
			ok = true;
		}
	g_free(text);
	return ok;
}

/*
 * 0.7.0.alpha and main bind the PAM socket before they take their bus name,
 * so that a secret sent while they start is kept; 0.6.0 binds after.
 */
static bool binds_before_the_bus(void)
{
	return generation == OO7_07_ALPHA || generation == OO7_MAIN;
}

/* How it was started, and what came on stdin (into in). */
static void record_start(FILE *f, int argc, char **argv, GByteArray *in)
{
	extern char **environ;
	char c;

	fprintf(f, "argv");
	for (int i = 0; i < argc; i++)
		fprintf(f, " %s", argv[i]);
	fprintf(f, "\n");
	record_ids(f);
	record_fds(f);
	record_signals(f);
	for (char **e = environ; *e; e++)
		fprintf(f, "env %s\n", *e);
	fprintf(f, "stdin ");
	while (read(0, &c, 1) == 1) {
		fprintf(f, "%02x", (unsigned char)c);
		g_byte_array_append(in, (const guint8 *)&c, 1);
	}
	fprintf(f, "\ngeneration %s\n", generation_names[generation]);
}

/* The PAM listener at dir/oo7-pam.sock (path, which must outlive it). */
static struct listener_cfg pam_listener(const char *dir, char *path,
					size_t size)
{
	char frames[128];

	snprintf(frames, sizeof(frames), "%s/fake-daemon.frames", dir);
	snprintf(path, size, "%s/oo7-pam.sock", dir);
	return (struct listener_cfg){
	    .path = path,
	    .owner_uid = getuid(),
	    .owner_gid = getgid(),
	    .mode = 0600,
	    .run_uid = getuid(),
	    .run_gid = getgid(),
	    .behaviour = LISTENER_CLOSE,
	    .generation = generation,
	    .record_fd =
		open(frames, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600),
	    .on_frame = keyring.on ? keyring_on_frame : NULL,
	};
}

int main(int argc, char **argv)
{
	const char *ready = getenv("OO7_FAKE_READY_FD");
	char dir[64], path[128], tmp[128], sock[128];
	FILE *f;
	size_t len = strlen(argv[0]);
	GByteArray *in = g_byte_array_new();
	bool login = false, owned;
	struct listener_cfg cfg;
	int fd = -1;

	for (int i = 1; i < argc; i++)
		login = login || !strcmp(argv[i], "--login");
	snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)getuid());
	snprintf(path, sizeof(path), "%s/fake-daemon.pid", dir);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	if (len > 5 && !strcmp(argv[0] + len - 5, "-fail"))
		return 3;
	if (len > 7 && !strcmp(argv[0] + len - 7, "-noread"))
		for (;;)
			pause();
	if (len > 7 && !strcmp(argv[0] + len - 7, "-noterm"))
		signal(SIGTERM, SIG_IGN);
	snprintf(keyring.path, sizeof(keyring.path), "%s/keyring", dir);
	snprintf(keyring.tmp, sizeof(keyring.tmp), "%s/keyring.tmp", dir);
	keyring.on = access(keyring.path, F_OK) == 0;
	snprintf(tmp, sizeof(tmp), "%s/fake-daemon.tmp", dir);
	snprintf(path, sizeof(path), "%s/fake-daemon.record", dir);
	if (keyring.on && !keyring_load())
		return replace_file(path, tmp, "badkeyring\n") ? 1 : 2;
	if (!read_generation(dir))
		return replace_file(path, tmp, "badgeneration\n") ? 1 : 2;
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	record_start(f, argc, argv, in);
	cfg = pam_listener(dir, sock, sizeof(sock));
	if (binds_before_the_bus() && (fd = listener_bind(&cfg)) < 0)
		return 1;
	owned = !getenv("DBUS_STARTER_ADDRESS") || own_secrets_name(f);
	fclose(f);
	if (!owned) {
		rename(tmp, path);
		return 1;
	}
	keyring.locked =
	    !(login && keyring.on && is_password(in->data, in->len));
	g_byte_array_unref(in);
	if (keyring.on && !session_bus_there()) {
		unlink(tmp);
		replace_file(path, tmp, "nobus\n");
		g_byte_array_unref(keyring.password);
		return 1;
	}
	if (keyring.on && keyring_save() < 0)
		return 1;
	rename(tmp, path);
	if (fd < 0 && (fd = listener_bind(&cfg)) < 0)
		return 1;
	return listener_serve(&cfg, fd, ready ? atoi(ready) : -1);
}
