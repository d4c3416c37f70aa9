// SPDX-License-Identifier: MIT
/*
 * auto_start through the user's session bus: Debian's real dbus-daemon,
 * run by the test as alice on /run/user/UID/bus (the namespace's private
 * /run) with a session configuration and a service folder of the case.
 * The stand-in daemon (fake_daemon.c) is what the bus activates: it then
 * owns org.freedesktop.secrets there and binds the PAM socket. Debian's
 * real gnome-keyring-daemon is the other Secret Service. Hostile buses are
 * small listeners run as alice. What the module says on the bus is read
 * back by libdbus. Each case stops what it started by pid, and every wait
 * is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dbus/dbus.h>
#include <gio/gio.h>

#include "suite.h"

#define SECRETS "org.freedesktop.secrets"
#define DRIVER "org.freedesktop.DBus"
#define DRIVER_PATH "/org/freedesktop/DBus"
#define GNOME_KEYRING "/usr/bin/gnome-keyring-daemon"
/* SASL EXTERNAL as the module says it for alice: uid 61001, in hex digits. */
#define AUTH_ALICE "\0AUTH EXTERNAL 3631303031\r\n"
#define BEGIN "BEGIN\r\n"

/* The service file of oo7 with the stand-in as what it runs. */
#define SERVICE_OF_THE_STAND_IN                                                \
	"[D-BUS Service]\nName=" SECRETS "\nExec=" FAKE_DAEMON "\n"
/*
 * oo7's own service file: the user's service manager runs the unit; a bus
 * without systemd activation runs Exec=, which fails.
 */
#define SERVICE_LIKE_OO7S                                                      \
	"[D-BUS Service]\nName=" SECRETS "\nExec=/bin/false\n"                 \
	"SystemdService=dbus-org.freedesktop.secrets.service\n"

/* Debian's gnome-keyring: its activation file for the Secret Service. */
#define GNOME_KEYRING_SERVICE                                                  \
	"/usr/share/dbus-1/services/org.freedesktop.secrets.service"

/* The case's dbus-daemon, or 0. */
static pid_t bus_pid;
/* What a hostile bus heard from the module: our end of a pipe, or -1. */
static int heard_fd = -1;

/*
 * Reaps what earlier cases left exited (daemons reparented to this process
 * while it was a subreaper), so that a child of this case stands out.
 */
static int setup(void **state)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return suite_setup(state);
}

static int teardown(void **state)
{
	fake_daemon_kill(&t_alice);
	t_stop_kept();
	bus_pid = 0;
	if (heard_fd >= 0)
		close(heard_fd);
	heard_fd = -1;
	return t_case_teardown(state);
}

/* The case's dbus-daemon (see t_bus_up), kept to be stopped by pid. */
static void bus_start(const char *service)
{
	if (access(runtime_dir(&t_alice), F_OK) < 0)
		t_runtime_dir(&t_alice);
	bus_pid = t_bus_up(service, NULL);
	if (bus_pid < 0)
		fail_msg("dbus-daemon did not print its address within %d ms",
			 T_UP_MS);
	t_keep(bus_pid);
}

/* dbus-daemon's stderr so far. */
static gchar *bus_log(void)
{
	return read_text(t_path("bus.log"));
}

/* Who owns a name on alice's bus: its unique name and its pid. */
struct owner {
	uint32_t pid;
	char name[64];
};

/* A call to the bus driver with one string argument; NULL on error. */
static DBusMessage *call_driver(DBusConnection *c, const char *member,
				const char *arg)
{
	DBusMessage *m =
	    dbus_message_new_method_call(DRIVER, DRIVER_PATH, DRIVER, member);
	DBusMessage *reply;

	dbus_message_append_args(m, DBUS_TYPE_STRING, &arg, DBUS_TYPE_INVALID);
	reply = dbus_connection_send_with_reply_and_block(c, m, 2000, NULL);
	dbus_message_unref(m);
	return reply;
}

/*
 * In a child, as alice (the bus takes no one else): waits for
 * org.freedesktop.secrets to have an owner, woken by NameOwnerChanged,
 * for at most ms; then writes who it is to out (nothing if no one).
 */
static void ask_owner(int ms, int out)
{
	struct owner o = {0};
	DBusConnection *c = dbus_connection_open_private(
	    textf("unix:path=%s", runtime_path(&t_alice, "bus")), NULL);
	struct timespec t0;
	DBusMessage *m;
	const char *name = NULL;
	bool woken;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!c || !dbus_bus_register(c, NULL))
		_exit(1);
	dbus_bus_add_match(c,
			   "type='signal',sender='" DRIVER "',"
			   "member='NameOwnerChanged',arg0='" SECRETS "'",
			   NULL);
	while (!dbus_bus_name_has_owner(c, SECRETS, NULL) &&
	       elapsed_ms(&t0) < ms) {
		for (woken = false; (m = dbus_connection_pop_message(c));
		     woken = true)
			dbus_message_unref(m);
		if (!woken)
			dbus_connection_read_write(
			    c, ms - (int)elapsed_ms(&t0) + 1);
	}
	m = call_driver(c, "GetNameOwner", SECRETS);
	if (m && dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &name,
				       DBUS_TYPE_INVALID))
		snprintf(o.name, sizeof(o.name), "%s", name);
	if (m)
		dbus_message_unref(m);
	m = name ? call_driver(c, "GetConnectionUnixProcessID", o.name) : NULL;
	if (m &&
	    dbus_message_get_args(m, NULL, DBUS_TYPE_UINT32, &o.pid,
				  DBUS_TYPE_INVALID) &&
	    write(out, &o, sizeof(o)) != sizeof(o))
		_exit(1);
	if (m)
		dbus_message_unref(m);
	dbus_connection_close(c);
	dbus_connection_unref(c);
}

/* The owner of org.freedesktop.secrets within ms; false if there is none. */
static bool secrets_owner(int ms, struct owner *o)
{
	struct pollfd p;
	int fds[2];
	bool ok;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		t_become(&t_alice);
		ask_owner(ms, fds[1]);
		_exit(0);
	}
	assert_true(pid > 0);
	close(fds[1]);
	p = (struct pollfd){.fd = fds[0], .events = POLLIN};
	ok = poll(&p, 1, ms + 5000) == 1 &&
	     read(fds[0], o, sizeof(*o)) == sizeof(*o);
	close(fds[0]);
	kill(pid, SIGKILL); /* it has answered, or it is late */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return ok;
}

/*
 * Debian's gnome-keyring-daemon, its Secret Service only, as alice on her
 * bus, in the foreground (our child), with a home of its own (alice's is
 * /nonexistent) and her runtime folder for its control socket. Returns its
 * pid once it owns org.freedesktop.secrets, and who that is on the bus.
 */
static pid_t gnome_keyring_start(struct owner *o)
{
	char home[300];
	const char *const envp[] = {
	    "PATH=/usr/bin:/bin", textf("HOME=%s", t_path("home")),
	    textf("XDG_RUNTIME_DIR=%s", runtime_dir(&t_alice)),
	    textf("DBUS_SESSION_BUS_ADDRESS=unix:path=%s",
		  runtime_path(&t_alice, "bus")),
	    NULL};
	char *argv[] = {(char *)GNOME_KEYRING, (char *)"--start",
			(char *)"--foreground", (char *)"--components=secrets",
			NULL};
	int log, null;
	gchar *text;
	pid_t pid;

	snprintf(home, sizeof(home), "%s", t_path("home"));
	t_mkdir(home, t_alice.uid, t_alice.gid, 0700);
	log = open(t_path("gnome-keyring.log"),
		   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(log >= 0 && null >= 0);
	pid = fork();
	if (pid == 0) {
		t_become(&t_alice);
		if (dup2(null, 0) != 0 || dup2(log, 1) != 1 ||
		    dup2(log, 2) != 2 || chdir(home) < 0)
			_exit(126);
		execve(GNOME_KEYRING, argv, (char *const *)envp);
		_exit(127);
	}
	t_keep(pid);
	close(log);
	close(null);
	if (!secrets_owner(T_UP_MS, o) || o->pid != (uint32_t)pid) {
		text = read_text(t_path("gnome-keyring.log"));
		fail_msg("gnome-keyring-daemon (pid %d) does not own %s after "
			 "%d ms (owner: pid %u); it said:\n%s",
			 (int)pid, SECRETS, T_UP_MS, o->pid, text);
	}
	return pid;
}

/* ---- scripted buses: hostile ones, and one of a big-endian host ---- */

enum scripted {
	GARBAGE_FOR_AUTH,  /* answers the AUTH line with bytes of no protocol */
	GARBAGE_FOR_CALLS, /* OK, then answers Hello with bytes of no message */
	SILENT,		   /* accepts, reads, never answers */
	CLOSES_MID_REPLY,  /* OK, then half of Hello's reply, and closes */
	BIG_ENDIAN_OWNER,  /* a bus of a big-endian host; the name is its own */
	NO_OWNER,	   /* the name has no owner; hears what comes next */
	STOPS_CALLER,	   /* sends SIGSTOP to whoever connects */
};

/* Reads one byte into *b, copying it to heard (when >= 0); false at EOF. */
static bool hear_byte(int c, int heard, uint8_t *b)
{
	ssize_t n;

	while ((n = read(c, b, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		return false;
	return heard < 0 || write(heard, b, 1) == 1;
}

/* Reads a SASL line (to its \r\n), copying it to heard. */
static bool hear_line(int c, int heard)
{
	uint8_t b, last = 0;

	while (hear_byte(c, heard, &b)) {
		if (last == '\r' && b == '\n')
			return true;
		last = b;
	}
	return false;
}

/*
 * Reads one whole D-Bus message into buf (size bytes), byte by byte so as
 * not to read into the next one, copying it to heard. Its length, or 0.
 */
static size_t hear_message(int c, int heard, uint8_t *buf, size_t size)
{
	size_t n = 0;
	int need = 0;

	while (need == 0 || (size_t)need > n) {
		if (n == size || !hear_byte(c, heard, buf + n++))
			return 0;
		need = dbus_message_demarshal_bytes_needed((char *)buf, (int)n);
		if (need < 0)
			return 0;
	}
	return n;
}

/* Reads BEGIN and then the two calls that need no answer first. */
static bool hear_calls(int c, int heard)
{
	uint8_t buf[4096];

	return hear_line(c, heard) &&
	       hear_message(c, heard, buf, sizeof(buf)) &&
	       hear_message(c, heard, buf, sizeof(buf));
}

/* Half of what the bus driver answers to Hello, marshalled by libdbus. */
static void send_half_a_reply(int c)
{
	DBusMessage *m = dbus_message_new(DBUS_MESSAGE_TYPE_METHOD_RETURN);
	const char *name = ":1.0";
	char *blob;
	int len;

	dbus_message_set_sender(m, DRIVER);
	dbus_message_set_destination(m, name);
	dbus_message_set_reply_serial(m, 1);
	dbus_message_set_serial(m, 1);
	dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
	if (dbus_message_marshal(m, &blob, &len) &&
	    write(c, blob, (size_t)len / 2) < 0)
		_exit(1);
	dbus_free(blob);
	dbus_message_unref(m);
}

/*
 * Answers the call in buf (len bytes) with body, as the bus driver of a
 * big-endian host does: in its byte order, 'B'. GDBus marshals it.
 */
static bool answer_big_endian(int c, uint8_t *buf, size_t len, GVariant *body)
{
	GDBusMessage *call = g_dbus_message_new_from_blob(
	    buf, len, G_DBUS_CAPABILITY_FLAGS_NONE, NULL);
	GDBusMessage *reply;
	guchar *blob = NULL;
	gsize size = 0;
	bool ok;

	if (!call)
		return false;
	reply = g_dbus_message_new_method_reply(call);
	g_dbus_message_set_sender(reply, DRIVER);
	g_dbus_message_set_body(reply, body);
	g_dbus_message_set_byte_order(reply,
				      G_DBUS_MESSAGE_BYTE_ORDER_BIG_ENDIAN);
	g_dbus_message_set_serial(reply, g_dbus_message_get_serial(call));
	blob = g_dbus_message_to_blob(reply, &size,
				      G_DBUS_CAPABILITY_FLAGS_NONE, NULL);
	ok = blob && blob[0] == 'B' && write(c, blob, size) == (ssize_t)size;
	g_free(blob);
	g_object_unref(reply);
	g_object_unref(call);
	return ok;
}

/*
 * The bus of a big-endian host where the Secret Service is this listener,
 * :1.7: Hello, GetNameOwner and GetConnectionUnixProcessID, each answered
 * in big-endian order.
 */
static bool answer_as_a_big_endian_owner(int c, int heard)
{
	uint8_t buf[4096];
	size_t len;

	return hear_line(c, heard) &&
	       (len = hear_message(c, heard, buf, sizeof(buf))) &&
	       answer_big_endian(c, buf, len, g_variant_new("(s)", ":1.0")) &&
	       (len = hear_message(c, heard, buf, sizeof(buf))) &&
	       answer_big_endian(c, buf, len, g_variant_new("(s)", ":1.7")) &&
	       (len = hear_message(c, heard, buf, sizeof(buf))) &&
	       answer_big_endian(c, buf, len,
				 g_variant_new("(u)", (guint32)getpid()));
}

/*
 * Answers the call in buf (len bytes) with the error a bus driver gives
 * for a name that no one owns, marshalled by libdbus.
 */
static bool answer_no_owner(int c, const uint8_t *buf, size_t len)
{
	DBusMessage *call = dbus_message_demarshal((const char *)buf, (int)len,
						   NULL),
		    *err;
	char *blob = NULL;
	int blob_len;
	bool ok;

	if (!call)
		return false;
	err = dbus_message_new_error(call, DBUS_ERROR_NAME_HAS_NO_OWNER,
				     "Could not get owner of name");
	dbus_message_set_serial(err, 3);
	ok = dbus_message_marshal(err, &blob, &blob_len) &&
	     write(c, blob, (size_t)blob_len) == blob_len;
	dbus_free(blob);
	dbus_message_unref(err);
	dbus_message_unref(call);
	return ok;
}

/* Hello and GetNameOwner heard, the second answered: no one owns it. */
static bool answer_as_a_bus_without_an_owner(int c, int heard)
{
	uint8_t buf[4096];
	size_t len;

	return hear_line(c, heard) &&
	       hear_message(c, heard, buf, sizeof(buf)) &&
	       (len = hear_message(c, heard, buf, sizeof(buf))) &&
	       answer_no_owner(c, buf, len) &&
	       hear_message(c, heard, buf, sizeof(buf));
}

/* Reads c until the module closes it, hearing what it says. */
static void hear_to_the_end(int c, int heard)
{
	uint8_t b;

	while (hear_byte(c, heard, &b))
		;
}

/*
 * In the listener: one connection, as how says. What the module says goes
 * to heard, closed once there is no more to hear: after its two calls, or
 * when it gives up.
 */
static void scripted_answer(int c, enum scripted how, int heard)
{
	static const char ok[] = "OK 0123456789abcdef0123456789abcdef\r\n";
	uint8_t garbage[300];

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(0xa5 ^ i); /* never "\r\n", never 'l' */
	if (how == STOPS_CALLER) {
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			kill(cred.pid, SIGSTOP);
		hear_to_the_end(c, heard);
		goto out;
	}
	if (!hear_line(c, heard))
		goto out;
	if (how == GARBAGE_FOR_AUTH || how == SILENT) {
		if (how == GARBAGE_FOR_AUTH &&
		    write(c, garbage, sizeof(garbage)) != sizeof(garbage))
			goto out;
		hear_to_the_end(c, heard);
		goto out;
	}
	if (write(c, ok, sizeof(ok) - 1) != sizeof(ok) - 1)
		goto out;
	if (how == BIG_ENDIAN_OWNER) {
		if (answer_as_a_big_endian_owner(c, heard))
			hear_to_the_end(c, heard);
		goto out;
	}
	if (how == NO_OWNER) {
		answer_as_a_bus_without_an_owner(c, heard);
		goto out;
	}
	if (!hear_calls(c, heard))
		goto out;
	close(heard);
	heard = -1;
	if (how == CLOSES_MID_REPLY) {
		send_half_a_reply(c);
		close(c);
		return;
	}
	if (write(c, garbage, sizeof(garbage)) == sizeof(garbage))
		hear_to_the_end(c, -1);
out:
	if (heard >= 0)
		close(heard);
}

/* In a child, as alice: listens on her bus, answers one connection. */
static void scripted_bus_run(enum scripted how, int ready, int heard)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		 runtime_path(&t_alice, "bus"));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0 || write(ready, "1", 1) != 1)
		_exit(1);
	close(ready);
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0)
		scripted_answer(c, how, heard);
	else
		close(heard);
	for (;;) /* until the teardown stops it */
		pause();
}

/*
 * A listener run as alice on /run/user/UID/bus that answers as how says;
 * what it hears from the module comes out of heard_fd. Returns its pid once
 * it listens.
 */
static pid_t scripted_bus_start(enum scripted how)
{
	int ready[2], heard[2];
	struct pollfd p;
	char c = 0;
	pid_t pid;

	if (access(runtime_dir(&t_alice), F_OK) < 0)
		t_runtime_dir(&t_alice);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(heard, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		t_become(&t_alice);
		close(ready[0]);
		close(heard[0]);
		scripted_bus_run(how, ready[1], heard[1]);
	}
	t_keep(pid);
	close(ready[1]);
	close(heard[1]);
	heard_fd = heard[0];
	p = (struct pollfd){.fd = ready[0], .events = POLLIN};
	if (poll(&p, 1, T_UP_MS) != 1 || read(ready[0], &c, 1) != 1 || c != '1')
		fail_msg("the scripted bus did not listen within %d ms",
			 T_UP_MS);
	close(ready[0]);
	return pid;
}

/* All that the scripted bus heard, once it is done hearing (at most 5 s). */
static GByteArray *heard_all(void)
{
	struct pollfd p = {.fd = heard_fd, .events = POLLIN};
	GByteArray *all = g_byte_array_new();
	uint8_t buf[4096];
	ssize_t n = 1;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n > 0 && elapsed_ms(&t0) < 5000 &&
	       poll(&p, 1, 5000 - (int)elapsed_ms(&t0)) == 1) {
		n = read(heard_fd, buf, sizeof(buf));
		if (n > 0)
			g_byte_array_append(all, buf, (guint)n);
	}
	if (n != 0)
		fail_msg("the scripted bus did not finish hearing within 5 s");
	return all;
}

/* ---- the cases ---- */

/* The stand-in got one unlock frame with password, from this process. */
static void assert_one_unlock(const char *password)
{
	struct record *all;
	size_t n = fake_daemon_frames(&t_alice, &all);
	struct decoded d;

	assert_int_equal(n, 1);
	assert_int_equal(all[0].uid, 0);
	assert_int_equal(all[0].pid, getpid());
	assert_true(frame_decode(all[0].data, all[0].len, false, &d));
	assert_int_equal(d.op, 0);
	assert_string_equal(d.user, "alice");
	assert_int_equal(g_bytes_get_size(d.old), 0);
	assert_int_equal(g_bytes_get_size(d.new), strlen(password));
	assert_memory_equal(g_bytes_get_data(d.new, NULL), password,
			    strlen(password));
	decoded_free(&d);
	records_free(all, n);
}

/* ---- the user's service manager starts oo7-daemon.service ---- */

/*
 * alice's bus with gnome-keyring's real activation file in its service
 * folder, as on a desktop that has it installed.
 */
static void bus_with_gnome_keyrings_activation_file(void)
{
	gchar *service = read_text(GNOME_KEYRING_SERVICE);

	assert_has(service, "Exec=" GNOME_KEYRING);
	bus_start(service);
	g_free(service);
}

/* The stand-in manager on alice's bus, with these options. */
static pid_t manager_start(const char *const *extra)
{
	return t_keep(fake_manager_start(FAKE_DAEMON, extra));
}

/* gnome-keyring-daemon was never started: the bus activated nothing. */
static void assert_gnome_keyring_never_started(void)
{
	gchar *log = bus_log();

	assert_lacks(log, "Activating service");
	g_free(log);
}

/* The stand-in daemon runs as the manager's child, with no password. */
static void assert_started_by_the_manager(pid_t manager)
{
	gchar *rec = fake_daemon_record(&t_alice);

	assert_non_null(rec);
	assert_int_equal(t_record_number(rec, "ppid"), manager);
	assert_has(rec, "argv " FAKE_DAEMON "\n"); /* no --login */
	assert_has(rec, "stdin \n");
	g_free(rec);
}

static void manager_starts_the_unit_and_the_unlock_arrives(void **state)
{
	GString *before = g_string_new(NULL), *after = g_string_new(NULL);
	struct timespec t0;
	gchar *calls;
	pid_t manager;

	(void)state;
	stack("auto_start");
	keyring_create(&t_alice, "hunter2", true);
	bus_with_gnome_keyrings_activation_file();
	manager = manager_start(NULL);
	describe_host(before);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	print_message("login with a start by the manager: %.1f ms\n",
		      elapsed_ms(&t0));
	assert_true(elapsed_ms(&t0) < 2000); /* it did not wait the timeout */
	describe_host(after);
	assert_string_equal(before->str, after->str); /* children too */
	calls = read_text(runtime_path(&t_alice, "manager.record"));
	assert_has(calls, "StartUnit oo7-daemon.service replace\n");
	g_free(calls);
	assert_started_by_the_manager(manager);
	assert_one_unlock("hunter2");
	assert_keyring(&t_alice, "hunter2", false);
	assert_gnome_keyring_never_started();
	g_string_free(before, TRUE);
	g_string_free(after, TRUE);
}

static void without_a_manager_the_fork_start_unlocks(void **state)
{
	gchar *rec;

	(void)state;
	stack("auto_start daemon=%s", FAKE_DAEMON);
	keyring_create(&t_alice, "hunter2", true);
	bus_with_gnome_keyrings_activation_file();

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	rec = fake_daemon_record(&t_alice);
	assert_non_null(rec);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_has(rec, "stdin 68756e74657232\n"); /* hunter2 */
	assert_keyring(&t_alice, "hunter2", false);
	assert_gnome_keyring_never_started();
	g_free(rec);
}

/*
 * A first login: the manager has begun to start the unit (default.target
 * pulls it in) and runs the daemon 300 ms later. The session line gets
 * the password to that daemon, the manager's alone, within the timeout.
 */
static void manager_starting_the_unit_gets_the_unlock(const char *options)
{
	static const char *const at_launch[] = {"--start-at-launch",
						"--delay-ms", "300", NULL};
	struct timespec t0;
	pid_t manager;

	stack("%s", options);
	keyring_create(&t_alice, "hunter2", true);
	bus_start(NULL);
	manager = manager_start(at_launch);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	print_message("login while the manager starts the unit: %.1f ms\n",
		      elapsed_ms(&t0));
	assert_true(elapsed_ms(&t0) < 2000);
	assert_started_by_the_manager(manager);
	assert_int_equal(fake_daemons_of(&t_alice), 1);
	assert_one_unlock("hunter2");
	assert_keyring(&t_alice, "hunter2", false);
}

static void plain_session_line_waits_for_a_unit_being_started(void **state)
{
	gchar *calls;

	(void)state;
	manager_starting_the_unit_gets_the_unlock("timeout=2000");
	calls = read_text(runtime_path(&t_alice, "manager.record"));
	assert_has(calls, "GetUnit oo7-daemon.service\n");
	assert_lacks(calls, "StartUnit");
	g_free(calls);
}

static void auto_start_joins_a_unit_being_started(void **state)
{
	(void)state;
	manager_starting_the_unit_gets_the_unlock("auto_start timeout=2000");
}

/* The stand-in daemon under oo7-daemon's own name, as /proc shows it. */
#define DAEMON_NAMED_LIKE_OO7 FAKE_DAEMON_DIR "/oo7-daemon"

/* pid's age in seconds, from its start time in /proc (clock ticks). */
static double age_of(pid_t pid)
{
	gchar *stat = read_text(textf("/proc/%d/stat", (int)pid));
	const char *p = strrchr(stat, ')');
	unsigned long long start = 0;
	struct timespec boot;

	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	assert_non_null(p);
	assert_int_equal(sscanf(p, " %llu", &start), 1);
	g_free(stat);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return (double)boot.tv_sec + boot.tv_nsec / 1e9 -
	       (double)start / (double)sysconf(_SC_CLK_TCK);
}

/*
 * oo7 0.6, started by the manager, owns org.freedesktop.secrets and has
 * unlinked its socket after the first login's unlock. A later login finds
 * no socket and the name owned by oo7-daemon, running for seconds: it
 * waits for nothing, and starts nothing.
 */
static void running_0_6_without_its_socket_costs_a_login_no_wait(void **state)
{
	struct timespec t0;
	pid_t daemon;

	(void)state;
	stack("debug auto_start timeout=2000");
	keyring_create(&t_alice, "hunter2", true);
	generation_of_the_daemon(&t_alice, OO7_06);
	assert_true(copy_program(FAKE_DAEMON, DAEMON_NAMED_LIKE_OO7));
	bus_start(NULL);
	t_keep(fake_manager_start(DAEMON_NAMED_LIKE_OO7, NULL));
	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);
	assert_keyring(&t_alice, "hunter2", false);
	daemon = fake_daemon_pid(&t_alice);
	assert_true(daemon > 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (age_of(daemon) < 3 && elapsed_ms(&t0) < 10000)
		poll(NULL, 0, 100); /* the daemon grows older than a start */
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	print_message("second login with 0.6 running: %.1f ms\n",
		      elapsed_ms(&t0));
	assert_true(elapsed_ms(&t0) < 1000);
	assert_logged("but has no socket: oo7 0.6 unlinks it");
	assert_int_equal(fake_daemons_of(&t_alice), 1);
	unlink(DAEMON_NAMED_LIKE_OO7);
}

/*
 * The first login of a boot: the user's manager runs (its private socket
 * is there) but is not on the session bus yet. The module forks no daemon
 * of its own, which would be a second one once the manager starts the
 * unit, and waits at most the timeout.
 */
static void manager_not_on_the_bus_yet_gets_no_second_daemon(void **state)
{
	struct timespec t0;

	(void)state;
	stack("debug auto_start timeout=500 daemon=%s", FAKE_DAEMON);
	bus_start(NULL);
	t_mkdir(runtime_path(&t_alice, "systemd"), t_alice.uid, t_alice.gid,
		0755);
	t_listen(L(runtime_path(&t_alice, "systemd/private"), &t_alice,
		   &t_alice, 0600));
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_true(elapsed_ms(&t0) < 500 + 1000);
	assert_logged("is not on its bus yet");
	assert_false(fake_daemon_ran(&t_alice));
}

/*
 * A bus that stops the module's child, which runs as the user, whatever the
 * host does with SIGCHLD: the login returns within the timeout and a
 * margin, and the host keeps no child.
 */
static void bus_that_stops_its_caller(enum sigchld how)
{
	GString *before = g_string_new(NULL), *after = g_string_new(NULL);
	struct timespec t0;

	stack("auto_start=bus timeout=500");
	scripted_bus_start(STOPS_CALLER);
	set_sigchld(how);
	describe_host(before);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	print_message("login over a bus that stops its caller: %.1f ms\n",
		      elapsed_ms(&t0));
	assert_true(elapsed_ms(&t0) < 500 + 1000);
	describe_host(after);
	assert_string_equal(before->str, after->str);
	set_sigchld(SIGCHLD_DEFAULT);
	g_string_free(before, TRUE);
	g_string_free(after, TRUE);
}

static void bus_that_stops_its_caller_with_sigchld_default(void **state)
{
	(void)state;
	bus_that_stops_its_caller(SIGCHLD_DEFAULT);
}

static void bus_that_stops_its_caller_with_sigchld_ignored(void **state)
{
	(void)state;
	bus_that_stops_its_caller(SIGCHLD_IGNORED);
}

static void bus_that_stops_its_caller_with_sigchld_handled(void **state)
{
	(void)state;
	bus_that_stops_its_caller(SIGCHLD_HANDLED);
}

static void
bus_service_like_oo7s_without_systemd_falls_back_to_the_fork_start(void **state)
{
	gchar *rec;

	(void)state;
	stack("auto_start daemon=%s", FAKE_DAEMON);
	keyring_create(&t_alice, "hunter2", true);
	bus_start(SERVICE_LIKE_OO7S);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	rec = fake_daemon_record(&t_alice);
	assert_non_null(rec);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_has(rec, "stdin 68756e74657232\n"); /* hunter2 */
	assert_lacks(rec, "starter-bus");
	assert_keyring(&t_alice, "hunter2", false);
	g_free(rec);
}

static void
name_owned_by_gnome_keyring_is_logged_and_costs_a_few_ms(void **state)
{
	const char *answers[] = {"hunter2", NULL};
	struct owner owner;
	struct timespec t0;
	pam_handle_t *pamh;
	pid_t keyring;
	double ms;

	(void)state;
	stack("auto_start timeout=2000 daemon=%s", FAKE_DAEMON);
	bus_start(SERVICE_OF_THE_STAND_IN);
	keyring = gnome_keyring_start(&owner);
	pamh = t_pam_start("login", "alice", answers);
	pam_authenticate(pamh, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);

	ms = elapsed_ms(&t0);
	pam_end(pamh, PAM_SUCCESS);
	print_message("session hook with the name owned by "
		      "gnome-keyring-daemon: %.1f ms\n",
		      ms);
	if (ms >= 500)
		fail_msg("the session took %.0f ms of timeout=2000", ms);
	assert_logged(textf("Another Secret Service owns " SECRETS " on the "
			    "session bus of alice (%s, pid %d, "
			    "gnome-keyring-d): no oo7 daemon started",
			    owner.name, (int)keyring));
	assert_int_equal(
	    access(runtime_path(&t_alice, "fake-daemon.pid"), F_OK), -1);
	assert_int_equal(fake_daemons_of(&t_alice), 0);
}

static void no_bus_falls_back_to_the_fork_start(void **state)
{
	gchar *rec;

	(void)state;
	stack("debug auto_start daemon=%s", FAKE_DAEMON);
	t_runtime_dir(&t_alice);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged("No session bus for alice");
	rec = fake_daemon_record(&t_alice);
	assert_non_null(rec);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_has(rec, "stdin 68756e74657232\n"); /* hunter2 */
	assert_lacks(rec, "starter-bus");
	assert_lacks(rec, textf("ppid %d\n", (int)getpid()));
	g_free(rec);
}

static void auto_start_fork_never_asks_the_bus(void **state)
{
	gchar *rec, *log;
	long ppid;

	(void)state;
	stack("auto_start=fork daemon=%s", FAKE_DAEMON);
	keyring_create(&t_alice, "hunter2", true);
	bus_start(SERVICE_OF_THE_STAND_IN);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	rec = fake_daemon_record(&t_alice);
	assert_non_null(rec);
	assert_has(rec, "argv " FAKE_DAEMON " --login\n");
	assert_lacks(rec, "starter-bus");
	ppid = t_record_number(rec, "ppid");
	assert_true(ppid != bus_pid && ppid != getpid());
	assert_lacks(rec, textf("grandparent %d\n", (int)bus_pid));
	assert_keyring(&t_alice, "hunter2", false);
	log = bus_log();
	assert_lacks(log, "Activating service");
	g_free(log);
	g_free(rec);
}

/*
 * A login with auto_start over a hostile bus: at most the timeout, no
 * daemon started by any route, the host as it was, and one line that says
 * what the bus did.
 */
static void hostile_bus_costs_at_most_the_timeout(enum scripted how)
{
	GString *before = g_string_new(NULL), *after = g_string_new(NULL);
	struct timespec t0;

	stack("debug auto_start timeout=300 daemon=%s", FAKE_DAEMON);
	scripted_bus_start(how);
	describe_host(before);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	print_message("login over this hostile bus: %.1f ms\n",
		      elapsed_ms(&t0));
	assert_took_ms(&t0, 300);
	describe_host(after);
	assert_string_equal(before->str, after->str);
	assert_logged("The session bus of alice did not answer as a bus does");
	assert_not_logged("Started " FAKE_DAEMON);
	assert_int_equal(
	    access(runtime_path(&t_alice, "fake-daemon.pid"), F_OK), -1);
	assert_int_equal(fake_daemons_of(&t_alice), 0);
	g_string_free(before, TRUE);
	g_string_free(after, TRUE);
}

static void bus_that_answers_garbage_to_auth_changes_nothing(void **state)
{
	(void)state;
	hostile_bus_costs_at_most_the_timeout(GARBAGE_FOR_AUTH);
}

static void bus_that_answers_garbage_to_the_calls_changes_nothing(void **state)
{
	(void)state;
	hostile_bus_costs_at_most_the_timeout(GARBAGE_FOR_CALLS);
}

static void bus_that_never_answers_changes_nothing(void **state)
{
	(void)state;
	hostile_bus_costs_at_most_the_timeout(SILENT);
}

static void bus_that_closes_mid_reply_changes_nothing(void **state)
{
	(void)state;
	hostile_bus_costs_at_most_the_timeout(CLOSES_MID_REPLY);
}

/*
 * A bus answers in its host's byte order: on s390x, big-endian. The module
 * reads it as it reads a little-endian one: here, as another Secret
 * Service, named, with its pid.
 */
static void bus_of_a_big_endian_host_is_understood(void **state)
{
	pid_t bus;

	(void)state;
	stack("auto_start timeout=300 daemon=%s", FAKE_DAEMON);
	bus = scripted_bus_start(BIG_ENDIAN_OWNER);

	assert_int_equal(t_login("login", "alice", "hunter2", NULL),
			 PAM_SUCCESS);

	assert_logged(textf("Another Secret Service owns " SECRETS " on the "
			    "session bus of alice (:1.7, pid %d, ",
			    (int)bus));
	assert_int_equal(
	    access(runtime_path(&t_alice, "fake-daemon.pid"), F_OK), -1);
}

/* A method call as the module should make it. */
struct call {
	const char *dest, *path, *iface, *member;
	const char *args[2];
};

/*
 * The message at *p (n bytes left), demarshalled by libdbus, is this call,
 * and it is the one libdbus marshals but for the order of the header
 * fields, which the specification leaves free (libdbus puts the
 * destination second): the same fixed header (byte order, type, flags:
 * NO_AUTO_START, version, body length, serial), the same total length,
 * the same body. *p moves past it.
 */
static void assert_call(const uint8_t **p, size_t *n, uint32_t serial,
			const struct call *c)
{
	int len =
	    dbus_message_demarshal_bytes_needed((const char *)*p, (int)*n);
	DBusMessage *got, *want;
	uint32_t body;
	char *blob;
	int blob_len;

	assert_true(len > 0 && (size_t)len <= *n);
	got = dbus_message_demarshal((const char *)*p, len, NULL);
	assert_non_null(got);
	assert_int_equal(dbus_message_get_type(got),
			 DBUS_MESSAGE_TYPE_METHOD_CALL);
	assert_int_equal(dbus_message_get_serial(got), serial);
	assert_string_equal(dbus_message_get_destination(got), c->dest);
	assert_string_equal(dbus_message_get_path(got), c->path);
	assert_string_equal(dbus_message_get_interface(got), c->iface);
	assert_string_equal(dbus_message_get_member(got), c->member);
	assert_null(dbus_message_get_sender(got));
	assert_false(dbus_message_get_no_reply(got));
	assert_false(dbus_message_get_auto_start(got));
	want =
	    dbus_message_new_method_call(c->dest, c->path, c->iface, c->member);
	for (size_t i = 0; i < 2 && c->args[i]; i++)
		dbus_message_append_args(want, DBUS_TYPE_STRING, &c->args[i],
					 DBUS_TYPE_INVALID);
	assert_string_equal(dbus_message_get_signature(got),
			    dbus_message_get_signature(want));
	dbus_message_set_serial(want, serial);
	dbus_message_set_auto_start(want, FALSE);
	assert_true(dbus_message_marshal(want, &blob, &blob_len));
	assert_int_equal(blob_len, len);
	assert_memory_equal(blob, *p, 12);
	memcpy(&body, blob + 4, 4);
	assert_memory_equal(blob + len - body, *p + len - body, body);
	dbus_free(blob);
	dbus_message_unref(want);
	dbus_message_unref(got);
	*p += len;
	*n -= (size_t)len;
}

#define DRIVER_CALL(m, a)                                                      \
	{                                                                      \
		DRIVER, DRIVER_PATH, DRIVER, (m),                              \
		{                                                              \
			(a)                                                    \
		}                                                              \
	}

/*
 * What the module says on the bus, read back by libdbus: Hello, who owns
 * org.freedesktop.secrets, and, as no one does, StartUnit of the user
 * unit that every oo7 ships, to the service manager. Never
 * StartServiceByName, which starts whatever has an activation file.
 */
static void
module_asks_the_owner_then_start_unit_as_libdbus_reads_them(void **state)
{
	static const char auth[] = AUTH_ALICE BEGIN;
	static const struct call hello = DRIVER_CALL("Hello", NULL),
				 owner = DRIVER_CALL("GetNameOwner", SECRETS),
				 start = {"org.freedesktop.systemd1",
					  "/org/freedesktop/systemd1",
					  "org.freedesktop.systemd1.Manager",
					  "StartUnit",
					  {"oo7-daemon.service", "replace"}};
	const uint8_t *p;
	GByteArray *heard;
	size_t n;

	(void)state;
	stack("auto_start=bus timeout=300");
	scripted_bus_start(NO_OWNER);

	t_login("login", "alice", "hunter2", NULL);

	heard = heard_all();
	assert_true(heard->len > sizeof(auth) - 1);
	assert_memory_equal(heard->data, auth, sizeof(auth) - 1);
	p = heard->data + sizeof(auth) - 1;
	n = heard->len - (sizeof(auth) - 1);
	assert_call(&p, &n, 1, &hello);
	assert_call(&p, &n, 2, &owner);
	assert_call(&p, &n, 4, &start);
	assert_int_equal(n, 0);
	g_byte_array_unref(heard);
}

int bus_group(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		manager_starts_the_unit_and_the_unlock_arrives, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		without_a_manager_the_fork_start_unlocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		plain_session_line_waits_for_a_unit_being_started, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		auto_start_joins_a_unit_being_started, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		running_0_6_without_its_socket_costs_a_login_no_wait, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		manager_not_on_the_bus_yet_gets_no_second_daemon, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_stops_its_caller_with_sigchld_default, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_stops_its_caller_with_sigchld_ignored, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_stops_its_caller_with_sigchld_handled, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bus_service_like_oo7s_without_systemd_falls_back_to_the_fork_start,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		name_owned_by_gnome_keyring_is_logged_and_costs_a_few_ms, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(no_bus_falls_back_to_the_fork_start,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(auto_start_fork_never_asks_the_bus,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_answers_garbage_to_auth_changes_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_answers_garbage_to_the_calls_changes_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_never_answers_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		bus_that_closes_mid_reply_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		bus_of_a_big_endian_host_is_understood, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		module_asks_the_owner_then_start_unit_as_libdbus_reads_them,
		setup, teardown),
	};

	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
