// SPDX-License-Identifier: MIT
/*
 * A stand-in for the user's service manager, systemd --user, on a test
 * bus. It owns org.freedesktop.systemd1 there and serves, with systemd's
 * names, signatures and error texts (org.freedesktop.systemd1(5)), what a
 * client needs to start a user unit and follow it:
 * - /org/freedesktop/systemd1, org.freedesktop.systemd1.Manager: StartUnit,
 *   GetUnit, LoadUnit, GetUnitFileState, Subscribe, Unsubscribe, and the
 *   signals JobNew and JobRemoved;
 * - /org/freedesktop/systemd1/unit/NAME (NAME escaped as systemd escapes
 *   it): the properties of org.freedesktop.systemd1.Unit and .Service;
 * - /org/freedesktop/systemd1/job/N while job N runs: org.freedesktop.
 *   systemd1.Job's properties.
 * Every object answers org.freedesktop.DBus.Properties itself, because
 * systemctl show asks GetAll with an empty interface (all of them).
 *
 * One unit is installed, oo7-daemon.service as oo7 0.7 ships it: Type=dbus,
 * BusName=org.freedesktop.secrets. Any other valid name is a unit that
 * systemd would load as "not-found". StartUnit of the unit makes a job
 * (JobNew), the unit "activating", and, --delay-ms later, runs the daemon
 * as this process's child; the job is "done" and the unit "active" once
 * org.freedesktop.secrets has an owner, "failed" if the daemon exits
 * first. A second StartUnit joins the running job; on an active unit the
 * job is done at once, as systemd does it.
 *
 * Signals go out as systemd sends them on its API bus: to everyone, but
 * only while a client has subscribed, or a client asked for that job.
 *
 * fake-oo7-manager --address ADDR --exec DAEMON [--delay-ms N]
 *                  [--start-at-launch] [--record FILE] [--ready-fd N]
 * --start-at-launch starts the job as a user's first login does, when
 * default.target pulls the unit in. --record appends a line per method
 * call received: its member and its arguments ("" for an empty string).
 * --ready-fd gets "1\n" once the name is owned. SIGTERM stops the daemon
 * (SIGKILL after a second), reaps it, and ends this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include <gio/gio.h>
#include <glib-unix.h>

#define MANAGER_NAME "org.freedesktop.systemd1"
#define MANAGER_PATH "/org/freedesktop/systemd1"
#define UNIT_ROOT MANAGER_PATH "/unit"
#define JOB_ROOT MANAGER_PATH "/job"
#define MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SERVICE_IFACE "org.freedesktop.systemd1.Service"
#define JOB_IFACE "org.freedesktop.systemd1.Job"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define ERR_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define ERR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"

#define UNIT_ID "oo7-daemon.service"
#define UNIT_BUS_NAME "org.freedesktop.secrets"
#define UNIT_FRAGMENT "/usr/lib/systemd/user/oo7-daemon.service"
/* systemd's UNIT_NAME_MAX, with its NUL */
#define UNIT_NAME_MAX 256

static const char introspection[] =
    "<node>"
    "<interface name='" MANAGER_IFACE "'>"
    "<method name='StartUnit'><arg type='s' direction='in'/>"
    "<arg type='s' direction='in'/><arg type='o' direction='out'/></method>"
    "<method name='GetUnit'><arg type='s' direction='in'/>"
    "<arg type='o' direction='out'/></method>"
    "<method name='LoadUnit'><arg type='s' direction='in'/>"
    "<arg type='o' direction='out'/></method>"
    "<method name='GetUnitFileState'><arg type='s' direction='in'/>"
    "<arg type='s' direction='out'/></method>"
    "<method name='Subscribe'/><method name='Unsubscribe'/>"
    "<signal name='JobNew'><arg type='u'/><arg type='o'/><arg type='s'/>"
    "</signal>"
    "<signal name='JobRemoved'><arg type='u'/><arg type='o'/>"
    "<arg type='s'/><arg type='s'/></signal>"
    "<property name='Version' type='s' access='read'/>"
    "</interface>"
    "<interface name='" UNIT_IFACE "'>"
    "<property name='Id' type='s' access='read'/>"
    "<property name='Names' type='as' access='read'/>"
    "<property name='Description' type='s' access='read'/>"
    "<property name='LoadState' type='s' access='read'/>"
    "<property name='ActiveState' type='s' access='read'/>"
    "<property name='SubState' type='s' access='read'/>"
    "<property name='FragmentPath' type='s' access='read'/>"
    "<property name='UnitFileState' type='s' access='read'/>"
    "<property name='Job' type='(uo)' access='read'/>"
    "<property name='NeedDaemonReload' type='b' access='read'/>"
    "<property name='CanStart' type='b' access='read'/>"
    "<property name='LoadError' type='(ss)' access='read'/>"
    "</interface>"
    "<interface name='" SERVICE_IFACE "'>"
    "<property name='Type' type='s' access='read'/>"
    "<property name='BusName' type='s' access='read'/>"
    "<property name='Result' type='s' access='read'/>"
    "<property name='MainPID' type='u' access='read'/>"
    "<property name='ExecMainStatus' type='i' access='read'/>"
    "</interface>"
    "<interface name='" JOB_IFACE "'>"
    "<property name='Id' type='u' access='read'/>"
    "<property name='Unit' type='(so)' access='read'/>"
    "<property name='JobType' type='s' access='read'/>"
    "<property name='State' type='s' access='read'/>"
    "</interface>"
    "<interface name='" PROPS_IFACE "'>"
    "<method name='Get'><arg type='s' direction='in'/>"
    "<arg type='s' direction='in'/><arg type='v' direction='out'/></method>"
    "<method name='GetAll'><arg type='s' direction='in'/>"
    "<arg type='a{sv}' direction='out'/></method>"
    "<method name='Set'><arg type='s' direction='in'/>"
    "<arg type='s' direction='in'/><arg type='v' direction='in'/></method>"
    "<signal name='PropertiesChanged'><arg type='s'/><arg type='a{sv}'/>"
    "<arg type='as'/></signal>"
    "</interface>"
    "</node>";

struct opts {
	gchar *address;
	gchar *exec;
	gint delay_ms;
	gboolean start_at_launch;
	gchar *record;
	gint ready_fd;
};

struct job {
	guint32 id;
	gchar *path;
	bool asked; /* a client asked for it: its signals go out */
	bool running;
	guint delay; /* the timeout that runs the daemon, or 0 */
};

/* A unit as its properties show it: the installed one, or one not found. */
struct unit {
	char id[UNIT_NAME_MAX];
	const char *load, *active, *sub, *result;
	struct job *job;
	GPid pid;
	int status;
};

struct manager {
	struct opts opts;
	GDBusConnection *bus;
	GDBusNodeInfo *node;
	GMainLoop *loop;
	struct unit unit;
	guint32 last_job;
	GHashTable *subscribers;
	bool name_owned; /* UNIT_BUS_NAME has an owner */
	bool stopping;
	int record_fd;
	int exit_code;
};

/* ---- names and paths ---- */

static bool unit_name_valid(const char *name)
{
	static const char *const types[] = {
	    "service", "socket", "target", "device", "mount", "automount",
	    "swap",    "timer",	 "path",   "slice",  "scope", NULL};
	const char *dot = strrchr(name, '.');
	size_t len = strlen(name);

	if (!dot || dot == name || len >= UNIT_NAME_MAX ||
	    !g_strv_contains(types, dot + 1) || strstr(name, "@."))
		return false;
	return strspn(name,
		      "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") == len;
}

/* systemd's bus_label_escape: all but letters, and digits past the first. */
static gchar *unit_path(const char *id)
{
	GString *s = g_string_new(UNIT_ROOT "/");

	for (const char *c = id; *c; c++)
		if (g_ascii_isalpha(*c) || (c > id && g_ascii_isdigit(*c)))
			g_string_append_c(s, *c);
		else
			g_string_append_printf(s, "_%02x", (unsigned char)*c);
	if (!*id)
		g_string_append_c(s, '_');
	return g_string_free(s, FALSE);
}

/* The unit name that a node under UNIT_ROOT escapes; false if none. */
static bool unescape_node(const char *node, char *id)
{
	size_t n = 0;

	for (; *node && n < UNIT_NAME_MAX - 1; n++)
		if (*node != '_') {
			id[n] = *node++;
		} else if (g_ascii_isxdigit(node[1]) &&
			   g_ascii_isxdigit(node[2])) {
			id[n] = (char)(g_ascii_xdigit_value(node[1]) * 16 +
				       g_ascii_xdigit_value(node[2]));
			node += 3;
		} else {
			return false;
		}
	id[n] = '\0';
	return !*node && unit_name_valid(id);
}

/* A unit that systemd would load from nowhere: "not-found". */
static void stub_unit(struct unit *u, const char *id)
{
	*u = (struct unit){.load = "not-found",
			   .active = "inactive",
			   .sub = "dead",
			   .result = "success"};
	g_strlcpy(u->id, id, sizeof(u->id));
}

/* The unit at path: the installed one, or one not found in *stub. */
static const struct unit *unit_at(struct manager *m, const char *path,
				  struct unit *stub)
{
	char id[UNIT_NAME_MAX];

	if (!g_str_has_prefix(path, UNIT_ROOT "/") ||
	    !unescape_node(path + strlen(UNIT_ROOT "/"), id))
		return NULL;
	if (!strcmp(id, m->unit.id))
		return &m->unit;
	stub_unit(stub, id);
	return stub;
}

/* ---- signals ---- */

/* systemd sends on its API bus only to subscribers, or a job's askers. */
static void emit(struct manager *m, const struct job *j, const char *path,
		 const char *iface, const char *member, GVariant *args)
{
	if (!g_hash_table_size(m->subscribers) && !(j && j->asked)) {
		g_variant_unref(g_variant_ref_sink(args));
		return;
	}
	g_dbus_connection_emit_signal(m->bus, NULL, path, iface, member, args,
				      NULL);
}

static GVariant *job_of(const struct unit *u)
{
	return u->job ? g_variant_new("(uo)", u->job->id, u->job->path)
		      : g_variant_new("(uo)", 0, "/");
}

/* A D-Bus error named name, its message formatted. */
static void fail_call(GDBusMethodInvocation *inv, const char *name,
		      const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void fail_call(GDBusMethodInvocation *inv, const char *name,
		      const char *fmt, ...)
{
	va_list ap;
	gchar *text;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_dbus_method_invocation_return_dbus_error(inv, name, text);
	g_free(text);
}

/* ---- properties ---- */

static void add(GVariantBuilder *b, const char *name, GVariant *v)
{
	g_variant_builder_add(b, "{sv}", name, v);
}

static GVariant *unit_props(const struct unit *u)
{
	const char *names[] = {u->id, NULL};
	bool found = !strcmp(u->load, "loaded");
	gchar *why = g_strdup_printf("Unit %s not found.", u->id);
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add(&b, "Id", g_variant_new_string(u->id));
	add(&b, "Names", g_variant_new_strv(names, -1));
	add(&b, "Description",
	    g_variant_new_string(found ? "Secret Service (oo7)" : u->id));
	add(&b, "LoadState", g_variant_new_string(u->load));
	add(&b, "ActiveState", g_variant_new_string(u->active));
	add(&b, "SubState", g_variant_new_string(u->sub));
	add(&b, "FragmentPath",
	    g_variant_new_string(found ? UNIT_FRAGMENT : ""));
	add(&b, "UnitFileState", g_variant_new_string(found ? "enabled" : ""));
	add(&b, "Job", job_of(u));
	add(&b, "NeedDaemonReload", g_variant_new_boolean(FALSE));
	add(&b, "CanStart", g_variant_new_boolean(found));
	add(&b, "LoadError",
	    g_variant_new("(ss)", found ? "" : ERR_NO_SUCH_UNIT,
			  found ? "" : why));
	g_free(why);
	return g_variant_builder_end(&b);
}

static GVariant *service_props(const struct unit *u)
{
	bool found = !strcmp(u->load, "loaded");
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add(&b, "Type", g_variant_new_string(found ? "dbus" : "simple"));
	add(&b, "BusName", g_variant_new_string(found ? UNIT_BUS_NAME : ""));
	add(&b, "Result", g_variant_new_string(u->result));
	add(&b, "MainPID", g_variant_new_uint32((guint32)u->pid));
	add(&b, "ExecMainStatus", g_variant_new_int32(u->status));
	return g_variant_builder_end(&b);
}

static GVariant *job_props(const struct unit *u)
{
	GVariantBuilder b;
	gchar *path = unit_path(u->id);

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add(&b, "Id", g_variant_new_uint32(u->job->id));
	add(&b, "Unit", g_variant_new("(so)", u->id, path));
	add(&b, "JobType", g_variant_new_string("start"));
	add(&b, "State", g_variant_new_string("running"));
	g_free(path);
	return g_variant_builder_end(&b);
}

/* The properties of iface on the object at path, as a{sv}; NULL: none. */
static GVariant *props_of(struct manager *m, const char *path,
			  const char *iface)
{
	const struct unit *u;
	struct unit stub;

	if (!strcmp(path, MANAGER_PATH))
		return strcmp(iface, MANAGER_IFACE)
			   ? NULL
			   : g_variant_new_parsed("{'Version': <'252'>}");
	if (m->unit.job && !strcmp(path, m->unit.job->path))
		return strcmp(iface, JOB_IFACE) ? NULL : job_props(&m->unit);
	u = unit_at(m, path, &stub);
	if (u && !strcmp(iface, UNIT_IFACE))
		return unit_props(u);
	if (u && !strcmp(iface, SERVICE_IFACE) &&
	    g_str_has_suffix(u->id, ".service"))
		return service_props(u);
	return NULL;
}

/* GetAll: of one interface, or of every one when iface is empty. */
static GVariant *all_props(struct manager *m, const char *path,
			   const char *iface)
{
	static const char *const ifaces[] = {MANAGER_IFACE, UNIT_IFACE,
					     SERVICE_IFACE, JOB_IFACE};
	GVariantBuilder b;
	GVariantIter it;
	GVariant *one, *kv;

	if (*iface)
		return props_of(m, path, iface);
	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	for (size_t i = 0; i < G_N_ELEMENTS(ifaces); i++) {
		one = props_of(m, path, ifaces[i]);
		if (!one)
			continue;
		g_variant_iter_init(&it, one);
		while ((kv = g_variant_iter_next_value(&it))) {
			g_variant_builder_add_value(&b, kv);
			g_variant_unref(kv);
		}
		g_variant_unref(g_variant_ref_sink(one));
	}
	return g_variant_builder_end(&b);
}

static void get_all_reply(GDBusMethodInvocation *inv, GVariant *all,
			  const char *iface)
{
	if (all)
		g_dbus_method_invocation_return_value(
		    inv, g_variant_new("(@a{sv})", all));
	else
		fail_call(inv, "org.freedesktop.DBus.Error.UnknownInterface",
			  "Unknown interface %s.", iface);
}

static void get_reply(GDBusMethodInvocation *inv, GVariant *all,
		      const char *name)
{
	GVariant *v = all ? g_variant_lookup_value(all, name, NULL) : NULL;

	if (!v) {
		g_dbus_method_invocation_return_dbus_error(
		    inv, "org.freedesktop.DBus.Error.UnknownProperty",
		    "Unknown property or interface.");
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(v)", v));
	g_variant_unref(v);
}

/* org.freedesktop.DBus.Properties, with sd-bus's errors. */
static void props_call(struct manager *m, const char *path, const char *member,
		       GVariant *args, GDBusMethodInvocation *inv)
{
	const char *iface, *name;
	GVariant *all;

	g_variant_get_child(args, 0, "&s", &iface);
	if (!strcmp(member, "Set")) {
		g_variant_get_child(args, 1, "&s", &name);
		fail_call(inv, "org.freedesktop.DBus.Error.PropertyReadOnly",
			  "Property '%s' is not writable.", name);
		return;
	}
	all = all_props(m, path, iface);
	if (all)
		g_variant_ref_sink(all);
	if (!strcmp(member, "GetAll")) {
		get_all_reply(inv, all, iface);
	} else {
		g_variant_get_child(args, 1, "&s", &name);
		get_reply(inv, all, name);
	}
	if (all)
		g_variant_unref(all);
}

/* ---- the job and the daemon ---- */

static void unit_changed(struct manager *m)
{
	GVariantBuilder b;
	gchar *path = unit_path(m->unit.id);

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	add(&b, "ActiveState", g_variant_new_string(m->unit.active));
	add(&b, "SubState", g_variant_new_string(m->unit.sub));
	add(&b, "Job", job_of(&m->unit));
	emit(m, NULL, path, PROPS_IFACE, "PropertiesChanged",
	     g_variant_new("(sa{sv}as)", UNIT_IFACE, &b, NULL));
	g_free(path);
}

/*
 * The unit reaches a state; the job, if one runs, ends with result, after
 * the state is set, so that a client woken by JobRemoved reads it.
 */
static void unit_reach(struct manager *m, const char *active, const char *sub,
		       const char *result)
{
	struct job *j = m->unit.job;

	m->unit.active = active;
	m->unit.sub = sub;
	m->unit.job = NULL;
	if (j) {
		if (j->delay)
			g_source_remove(j->delay);
		emit(m, j, MANAGER_PATH, MANAGER_IFACE, "JobRemoved",
		     g_variant_new("(uoss)", j->id, j->path, m->unit.id,
				   result));
		g_free(j->path);
		g_free(j);
	}
	unit_changed(m);
}

/* The daemon's environment: the user's, and the bus as its starter. */
static gchar **daemon_env(const struct manager *m)
{
	const struct passwd *pw = getpwuid(getuid());
	gchar *runtime = g_strdup_printf("/run/user/%u", (unsigned)getuid());
	gchar **env = g_new0(gchar *, 1);

	env =
	    g_environ_setenv(env, "PATH", "/usr/local/bin:/usr/bin:/bin", TRUE);
	env = g_environ_setenv(env, "HOME", pw ? pw->pw_dir : "/", TRUE);
	env = g_environ_setenv(env, "USER", pw ? pw->pw_name : "", TRUE);
	env = g_environ_setenv(env, "XDG_RUNTIME_DIR",
			       g_getenv("XDG_RUNTIME_DIR") ?: runtime, TRUE);
	env = g_environ_setenv(env, "DBUS_SESSION_BUS_ADDRESS", m->opts.address,
			       TRUE);
	/*
	 * systemd sets no starter bus; the stand-in daemon takes its name on
	 * its starter bus only, as a bus-activated oo7-daemon would.
	 */
	env = g_environ_setenv(env, "DBUS_STARTER_ADDRESS", m->opts.address,
			       TRUE);
	env = g_environ_setenv(env, "DBUS_STARTER_BUS_TYPE", "session", TRUE);
	g_free(runtime);
	return env;
}

/*
 * In the daemon before its exec: a session of its own, as systemd gives
 * every service, and killed with this process, so that a test that kills
 * the manager leaves no daemon behind.
 */
static void daemon_setup(gpointer data)
{
	(void)data;
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Service's Result for a daemon that ended so. */
static const char *exit_result(int status, bool starting)
{
	if (WIFSIGNALED(status))
		return "signal";
	if (WEXITSTATUS(status))
		return "exit-code";
	/* Gone before it took its name: the start protocol failed. */
	return starting ? "protocol" : "success";
}

static void daemon_exited(GPid pid, gint status, gpointer data)
{
	struct manager *m = data;

	g_spawn_close_pid(pid);
	m->unit.pid = 0;
	m->unit.status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	if (m->stopping) {
		g_main_loop_quit(m->loop);
		return;
	}
	m->unit.result = exit_result(status, m->unit.job != NULL);
	if (strcmp(m->unit.result, "success"))
		unit_reach(m, "failed", "failed", "failed");
	else
		unit_reach(m, "inactive", "dead", NULL);
}

/* The daemon, as this process's child, in the user's home if there is one. */
static void daemon_spawn(struct manager *m)
{
	gchar *argv[] = {m->opts.exec, NULL};
	gchar **env = daemon_env(m);
	const char *home = g_environ_getenv(env, "HOME");
	GError *err = NULL;
	bool ok = g_spawn_async(
	    g_file_test(home, G_FILE_TEST_IS_DIR) ? home : "/", argv, env,
	    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
	    daemon_setup, NULL, &m->unit.pid, &err);

	g_strfreev(env);
	if (!ok) {
		g_printerr("fake-oo7-manager: %s\n", err->message);
		g_error_free(err);
		m->unit.result = "resources";
		unit_reach(m, "failed", "failed", "failed");
		return;
	}
	g_child_watch_add(m->unit.pid, daemon_exited, m);
	if (m->name_owned)
		unit_reach(m, "active", "running", "done");
}

static gboolean daemon_due(gpointer data)
{
	struct manager *m = data;

	m->unit.job->delay = 0;
	daemon_spawn(m);
	return G_SOURCE_REMOVE;
}

/* The unit's start job: the one that runs, or a new one, not yet run. */
static struct job *job_of_start(struct manager *m)
{
	struct job *j = m->unit.job;

	if (j)
		return j;
	j = g_new0(struct job, 1);
	j->id = ++m->last_job;
	j->path = g_strdup_printf(JOB_ROOT "/%u", j->id);
	m->unit.job = j;
	return j;
}

/* A new job says so and runs: done at once on an active unit. */
static void job_run(struct manager *m, struct job *j)
{
	if (j->running)
		return; /* joined */
	j->running = true;
	emit(m, j, MANAGER_PATH, MANAGER_IFACE, "JobNew",
	     g_variant_new("(uos)", j->id, j->path, m->unit.id));
	if (!strcmp(m->unit.active, "active")) {
		unit_reach(m, "active", "running", "done");
		return;
	}
	m->unit.result = "success";
	m->unit.active = "activating";
	m->unit.sub = "start";
	unit_changed(m);
	if (m->opts.delay_ms > 0)
		j->delay = g_timeout_add(m->opts.delay_ms, daemon_due, m);
	else
		daemon_spawn(m);
}

static void name_appeared(GDBusConnection *c, const gchar *name,
			  const gchar *owner, gpointer data)
{
	struct manager *m = data;

	(void)c, (void)name, (void)owner;
	m->name_owned = true;
	if (m->unit.job && m->unit.pid)
		unit_reach(m, "active", "running", "done");
}

static void name_vanished(GDBusConnection *c, const gchar *name, gpointer data)
{
	struct manager *m = data;

	(void)c, (void)name;
	m->name_owned = false;
}

/* ---- the manager's methods ---- */

typedef void (*method_fn)(struct manager *m, const char *sender,
			  const char *name, GDBusMethodInvocation *inv);

/* A name that systemd would load, or an error, as manager_load_unit's. */
static bool loadable(const char *name, GDBusMethodInvocation *inv)
{
	if (unit_name_valid(name))
		return true;
	fail_call(inv, ERR_INVALID_ARGS, "Unit name %s is not valid.", name);
	return false;
}

static void reply_path(GDBusMethodInvocation *inv, const char *id)
{
	gchar *path = unit_path(id);

	g_dbus_method_invocation_return_value(inv, g_variant_new("(o)", path));
	g_free(path);
}

/* The name, then the mode, then whether the unit exists: systemd's order. */
static void start_unit(struct manager *m, const char *sender, const char *name,
		       GDBusMethodInvocation *inv)
{
	static const char *const modes[] = {"fail",
					    "replace",
					    "replace-irreversibly",
					    "isolate",
					    "flush",
					    "ignore-dependencies",
					    "ignore-requirements",
					    "triggering",
					    NULL};
	const char *mode;
	struct job *j;

	(void)sender;
	g_variant_get_child(g_dbus_method_invocation_get_parameters(inv), 1,
			    "&s", &mode);
	if (!loadable(name, inv))
		return;
	if (!g_strv_contains(modes, mode))
		return fail_call(inv, ERR_INVALID_ARGS, "Job mode %s invalid.",
				 mode);
	if (strcmp(name, m->unit.id))
		return fail_call(inv, ERR_NO_SUCH_UNIT, "Unit %s not found.",
				 name);
	j = job_of_start(m);
	j->asked = true;
	g_dbus_method_invocation_return_value(inv,
					      g_variant_new("(o)", j->path));
	job_run(m, j);
}

static void get_unit(struct manager *m, const char *sender, const char *name,
		     GDBusMethodInvocation *inv)
{
	(void)sender;
	if (strcmp(name, m->unit.id))
		return fail_call(inv, ERR_NO_SUCH_UNIT, "Unit %s not loaded.",
				 name);
	reply_path(inv, name);
}

/* Any valid name loads, as a unit "not-found" if it is not ours. */
static void load_unit(struct manager *m, const char *sender, const char *name,
		      GDBusMethodInvocation *inv)
{
	(void)m, (void)sender;
	if (loadable(name, inv))
		reply_path(inv, name);
}

static void get_unit_file_state(struct manager *m, const char *sender,
				const char *name, GDBusMethodInvocation *inv)
{
	(void)sender;
	if (!strcmp(name, m->unit.id))
		g_dbus_method_invocation_return_value(
		    inv, g_variant_new("(s)", "enabled"));
	else
		fail_call(inv, "org.freedesktop.DBus.Error.FileNotFound",
			  "No such file or directory");
}

static void subscribe(struct manager *m, const char *sender, const char *name,
		      GDBusMethodInvocation *inv)
{
	(void)name;
	if (!g_hash_table_add(m->subscribers, g_strdup(sender)))
		return fail_call(inv,
				 "org.freedesktop.systemd1."
				 "AlreadySubscribed",
				 "Client is already subscribed.");
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void unsubscribe(struct manager *m, const char *sender, const char *name,
			GDBusMethodInvocation *inv)
{
	(void)name;
	if (!g_hash_table_remove(m->subscribers, sender))
		return fail_call(inv, "org.freedesktop.systemd1.NotSubscribed",
				 "Client is not subscribed.");
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void manager_call(GDBusConnection *c, const gchar *sender,
			 const gchar *path, const gchar *iface,
			 const gchar *member, GVariant *args,
			 GDBusMethodInvocation *inv, gpointer data)
{
	static const struct {
		const char *member;
		method_fn fn;
	} methods[] = {
	    {"StartUnit", start_unit},
	    {"GetUnit", get_unit},
	    {"LoadUnit", load_unit},
	    {"GetUnitFileState", get_unit_file_state},
	    {"Subscribe", subscribe},
	    {"Unsubscribe", unsubscribe},
	};
	const char *name = NULL;

	(void)c, (void)path, (void)iface;
	if (g_variant_n_children(args))
		g_variant_get_child(args, 0, "&s", &name);
	for (size_t i = 0; i < G_N_ELEMENTS(methods); i++)
		if (!strcmp(member, methods[i].member))
			methods[i].fn(data, sender, name, inv);
}

static void props_method(GDBusConnection *c, const gchar *sender,
			 const gchar *path, const gchar *iface,
			 const gchar *member, GVariant *args,
			 GDBusMethodInvocation *inv, gpointer data)
{
	(void)c, (void)sender, (void)iface;
	props_call(data, path, member, args, inv);
}

static const GDBusInterfaceVTable manager_vtable = {.method_call =
							manager_call};
static const GDBusInterfaceVTable props_vtable = {.method_call = props_method};

/* ---- the objects under /unit and /job ---- */

/* These interfaces of the manager's introspection; GDBus unrefs them. */
static GDBusInterfaceInfo **ifaces_of(const struct manager *m,
				      const char *const *names)
{
	GPtrArray *a = g_ptr_array_new();

	for (; *names; names++)
		g_ptr_array_add(
		    a, g_dbus_interface_info_ref(
			   g_dbus_node_info_lookup_interface(m->node, *names)));
	g_ptr_array_add(a, NULL);
	return (GDBusInterfaceInfo **)g_ptr_array_free(a, FALSE);
}

static gchar **unit_nodes(GDBusConnection *c, const gchar *sender,
			  const gchar *path, gpointer data)
{
	struct manager *m = data;
	gchar *own = unit_path(m->unit.id);
	gchar **nodes = g_new0(gchar *, 2);

	(void)c, (void)sender, (void)path;
	nodes[0] = g_strdup(own + strlen(UNIT_ROOT "/"));
	g_free(own);
	return nodes;
}

static GDBusInterfaceInfo **unit_ifaces(GDBusConnection *c, const gchar *sender,
					const gchar *path, const gchar *node,
					gpointer data)
{
	static const char *const names[] = {UNIT_IFACE, SERVICE_IFACE,
					    PROPS_IFACE, NULL};
	char id[UNIT_NAME_MAX];

	(void)c, (void)sender, (void)path;
	if (!node || !unescape_node(node, id))
		return NULL;
	return ifaces_of(data, names);
}

static bool is_job_node(const struct manager *m, const char *node)
{
	gchar *id;
	bool is;

	if (!m->unit.job || !node)
		return false;
	id = g_strdup_printf("%u", m->unit.job->id);
	is = !strcmp(node, id);
	g_free(id);
	return is;
}

static gchar **job_nodes(GDBusConnection *c, const gchar *sender,
			 const gchar *path, gpointer data)
{
	struct manager *m = data;
	gchar **nodes = g_new0(gchar *, 2);

	(void)c, (void)sender, (void)path;
	if (m->unit.job)
		nodes[0] = g_strdup_printf("%u", m->unit.job->id);
	return nodes;
}

static GDBusInterfaceInfo **job_ifaces(GDBusConnection *c, const gchar *sender,
				       const gchar *path, const gchar *node,
				       gpointer data)
{
	static const char *const names[] = {JOB_IFACE, PROPS_IFACE, NULL};

	(void)c, (void)sender, (void)path;
	return is_job_node(data, node) ? ifaces_of(data, names) : NULL;
}

/* Only Properties has methods here; GDBus refuses the rest. */
static const GDBusInterfaceVTable *
node_dispatch(GDBusConnection *c, const gchar *sender, const gchar *path,
	      const gchar *iface, const gchar *node, gpointer *out,
	      gpointer data)
{
	(void)c, (void)sender, (void)path, (void)node;
	*out = data;
	return strcmp(iface, PROPS_IFACE) ? NULL : &props_vtable;
}

static const GDBusSubtreeVTable unit_subtree = {
    .enumerate = unit_nodes,
    .introspect = unit_ifaces,
    .dispatch = node_dispatch,
};
static const GDBusSubtreeVTable job_subtree = {
    .enumerate = job_nodes,
    .introspect = job_ifaces,
    .dispatch = node_dispatch,
};

/* ---- the record, subscribers, starting and stopping ---- */

static void append_arg(GString *line, GVariant *v)
{
	gchar *text;

	g_string_append_c(line, ' ');
	if (!g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) &&
	    !g_variant_is_of_type(v, G_VARIANT_TYPE_OBJECT_PATH)) {
		text = g_variant_print(v, FALSE);
		g_string_append(line, text);
		g_free(text);
	} else if (*g_variant_get_string(v, NULL)) {
		g_string_append(line, g_variant_get_string(v, NULL));
	} else {
		g_string_append(line, "\"\"");
	}
}

/*
 * Every method call as it arrives (in GDBus's worker thread), before
 * GDBus checks it: what a client asked, even what we do not serve.
 */
static GDBusMessage *record_call(GDBusConnection *c, GDBusMessage *msg,
				 gboolean incoming, gpointer data)
{
	const struct manager *m = data;
	GVariant *body = g_dbus_message_get_body(msg);
	GString *line;

	(void)c;
	if (!incoming || g_dbus_message_get_message_type(msg) !=
			     G_DBUS_MESSAGE_TYPE_METHOD_CALL)
		return msg;
	line = g_string_new(g_dbus_message_get_member(msg));
	for (gsize i = 0; body && i < g_variant_n_children(body); i++) {
		GVariant *v = g_variant_get_child_value(body, i);

		append_arg(line, v);
		g_variant_unref(v);
	}
	g_string_append_c(line, '\n');
	if (write(m->record_fd, line->str, line->len) != (ssize_t)line->len)
		g_printerr("fake-oo7-manager: cannot record a call\n");
	g_string_free(line, TRUE);
	return msg;
}

/* A subscriber that leaves the bus is no longer one, as sd_bus_track. */
static void owner_changed(GDBusConnection *c, const gchar *sender,
			  const gchar *path, const gchar *iface,
			  const gchar *signal, GVariant *args, gpointer data)
{
	struct manager *m = data;
	const char *name, *new_owner;

	(void)c, (void)sender, (void)path, (void)iface, (void)signal;
	g_variant_get(args, "(&s&s&s)", &name, NULL, &new_owner);
	if (!*new_owner)
		g_hash_table_remove(m->subscribers, name);
}

static void name_acquired(GDBusConnection *c, const gchar *name, gpointer data)
{
	struct manager *m = data;

	(void)c, (void)name;
	if (m->opts.start_at_launch)
		job_run(m, job_of_start(m));
	if (m->opts.ready_fd >= 0) {
		if (write(m->opts.ready_fd, "1\n", 2) != 2)
			g_printerr("fake-oo7-manager: cannot say ready\n");
		close(m->opts.ready_fd);
		m->opts.ready_fd = -1;
	}
}

static void name_lost(GDBusConnection *c, const gchar *name, gpointer data)
{
	struct manager *m = data;

	(void)c;
	g_printerr("fake-oo7-manager: %s is not ours\n", name);
	m->exit_code = 1;
	g_main_loop_quit(m->loop);
}

static gboolean kill_daemon(gpointer data)
{
	struct manager *m = data;

	if (m->unit.pid)
		kill(m->unit.pid, SIGKILL);
	return G_SOURCE_REMOVE;
}

/* The daemon first, SIGKILL after a second; its exit ends the loop. */
static gboolean stop(gpointer data)
{
	struct manager *m = data;

	if (!m->unit.pid || m->stopping) {
		g_main_loop_quit(m->loop);
		return G_SOURCE_REMOVE;
	}
	m->stopping = true;
	kill(m->unit.pid, SIGTERM);
	g_timeout_add(1000, kill_daemon, m);
	return G_SOURCE_REMOVE;
}

static void bus_closed(GDBusConnection *c, gboolean remote, GError *err,
		       gpointer data)
{
	(void)c, (void)remote, (void)err;
	stop(data);
}

static bool parse_opts(struct opts *o, int argc, char **argv)
{
	const GOptionEntry entries[] = {
	    {"address", 0, 0, G_OPTION_ARG_STRING, &o->address,
	     "the bus to serve", "ADDR"},
	    {"exec", 0, 0, G_OPTION_ARG_FILENAME, &o->exec,
	     "the daemon that the unit runs", "PATH"},
	    {"delay-ms", 0, 0, G_OPTION_ARG_INT, &o->delay_ms,
	     "wait this long before the daemon runs", "N"},
	    {"start-at-launch", 0, 0, G_OPTION_ARG_NONE, &o->start_at_launch,
	     "start the unit at once, as default.target does", NULL},
	    {"record", 0, 0, G_OPTION_ARG_FILENAME, &o->record,
	     "append each method call received to FILE", "FILE"},
	    {"ready-fd", 0, 0, G_OPTION_ARG_INT, &o->ready_fd,
	     "write 1 there once the name is owned", "N"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	GOptionContext *ctx = g_option_context_new("- a stand-in for "
						   "systemd --user");
	GError *err = NULL;
	bool ok;

	g_option_context_add_main_entries(ctx, entries, NULL);
	ok = g_option_context_parse(ctx, &argc, &argv, &err) && argc == 1 &&
	     o->address && o->exec && o->delay_ms >= 0;
	if (!ok)
		g_printerr("fake-oo7-manager: %s\n",
			   err ? err->message
			       : "--address and --exec are needed, no more");
	g_clear_error(&err);
	g_option_context_free(ctx);
	return ok;
}

/* The bus, the record, the objects, the watches; false on failure. */
static bool serve(struct manager *m)
{
	GError *err = NULL;
	GDBusConnection *bus = g_dbus_connection_new_for_address_sync(
	    m->opts.address,
	    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
	    NULL, NULL, &err);

	m->bus = bus;
	if (!bus ||
	    (m->opts.record &&
	     (m->record_fd =
		  open(m->opts.record,
		       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)) {
		g_printerr("fake-oo7-manager: %s\n",
			   err ? err->message : g_strerror(errno));
		g_clear_error(&err);
		return false;
	}
	if (m->record_fd >= 0)
		g_dbus_connection_add_filter(bus, record_call, m, NULL);
	g_signal_connect(bus, "closed", G_CALLBACK(bus_closed), m);
	return g_dbus_connection_register_object(
		   bus, MANAGER_PATH,
		   g_dbus_node_info_lookup_interface(m->node, MANAGER_IFACE),
		   &manager_vtable, m, NULL, NULL) &&
	       g_dbus_connection_register_object(
		   bus, MANAGER_PATH,
		   g_dbus_node_info_lookup_interface(m->node, PROPS_IFACE),
		   &props_vtable, m, NULL, NULL) &&
	       g_dbus_connection_register_subtree(
		   bus, UNIT_ROOT, &unit_subtree,
		   G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, m, NULL,
		   NULL) &&
	       g_dbus_connection_register_subtree(bus, JOB_ROOT, &job_subtree,
						  G_DBUS_SUBTREE_FLAGS_NONE, m,
						  NULL, NULL);
}

static void watch(struct manager *m)
{
	g_dbus_connection_signal_subscribe(
	    m->bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
	    "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
	    G_DBUS_SIGNAL_FLAGS_NONE, owner_changed, m, NULL);
	g_bus_watch_name_on_connection(m->bus, UNIT_BUS_NAME,
				       G_BUS_NAME_WATCHER_FLAGS_NONE,
				       name_appeared, name_vanished, m, NULL);
	g_bus_own_name_on_connection(m->bus, MANAGER_NAME,
				     G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
				     name_acquired, name_lost, m, NULL);
	g_unix_signal_add(SIGTERM, stop, m);
	g_unix_signal_add(SIGINT, stop, m);
}

int main(int argc, char **argv)
{
	struct manager m = {.opts.ready_fd = -1, .record_fd = -1};

	if (!parse_opts(&m.opts, argc, argv))
		return 2;
	stub_unit(&m.unit, UNIT_ID);
	m.unit.load = "loaded";
	m.node = g_dbus_node_info_new_for_xml(introspection, NULL);
	m.subscribers =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m.loop = g_main_loop_new(NULL, FALSE);
	if (!m.node || !serve(&m))
		return 1;
	watch(&m);
	g_main_loop_run(m.loop);
	return m.exit_code;
}
