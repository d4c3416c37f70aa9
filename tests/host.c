// SPDX-License-Identifier: MIT
/*
 * The host, and what a case may change of it: the state of this process,
 * which hosts libpam and which the module must leave as it was; and the
 * system's files (PAM stacks and profiles, /etc/passwd and /etc/shadow,
 * /usr, /var/log), which a case changes only in private copies mounted over
 * them and undone at its end. real_programs_setup and _teardown check that
 * the real files are as they were.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "suite.h"

/* ---- the host process ---- */

static int cmp_lines(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void describe_fds(GString *s)
{
	GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
	const char *name;
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);

	while ((name = g_dir_read_name(d))) {
		gchar *p = g_strdup_printf("/proc/self/fd/%s", name);
		gchar *target = g_file_read_link(p, NULL);

		g_ptr_array_add(lines, g_strdup_printf("fd %s -> %s\n", name,
						       target ? target : "?"));
		g_free(p);
		g_free(target);
	}
	g_dir_close(d);
	g_ptr_array_sort(lines, cmp_lines);
	for (guint i = 0; i < lines->len; i++)
		g_string_append(s, lines->pdata[i]);
	g_ptr_array_free(lines, TRUE);
}

void describe_host(GString *s)
{
	struct sigaction sa;
	sigset_t mask;
	uid_t r, e, sv;
	gid_t gr, ge, gs, groups[64];
	int n = getgroups(64, groups);
	mode_t um = umask(022);
	gchar *children = NULL, *path;
	char cwd[4096];

	umask(um);
	describe_fds(s);
	for (int sig = 1; sig < 65; sig++) {
		memset(&sa, 0, sizeof(sa));
		if (sigaction(sig, NULL, &sa) == 0)
			g_string_append_printf(s, "signal %d: %p %x\n", sig,
					       (void *)sa.sa_handler,
					       (unsigned)sa.sa_flags);
	}
	sigprocmask(SIG_BLOCK, NULL, &mask);
	for (int sig = 1; sig < 65; sig++)
		if (sigismember(&mask, sig) == 1)
			g_string_append_printf(s, "blocked %d\n", sig);
	getresuid(&r, &e, &sv);
	getresgid(&gr, &ge, &gs);
	g_string_append_printf(s,
			       "uids %u %u %u fsuid %d gids %u %u %u "
			       "fsgid %d umask %o\n",
			       r, e, sv, setfsuid((uid_t)-1), gr, ge, gs,
			       setfsgid((gid_t)-1), (unsigned)um);
	for (int i = 0; i < n; i++)
		g_string_append_printf(s, "group %u\n", (unsigned)groups[i]);
	for (char **env = environ; *env; env++)
		g_string_append_printf(s, "env %s\n", *env);
	path = g_strdup_printf("/proc/self/task/%d/children", (int)getpid());
	g_file_get_contents(path, &children, NULL, NULL);
	g_string_append_printf(s, "children %s\ncwd %s\n", children,
			       getcwd(cwd, sizeof(cwd)));
	g_free(children);
	g_free(path);
}

static void on_sigchld(int sig)
{
	(void)sig;
}

void set_sigchld(enum sigchld how)
{
	if (how == SIGCHLD_IGNORED)
		signal(SIGCHLD, SIG_IGN);
	else if (how == SIGCHLD_HANDLED)
		signal(SIGCHLD, on_sigchld);
	else
		signal(SIGCHLD, SIG_DFL);
}

void assert_host_unchanged_by(enum sigchld how, void (*fn)(void))
{
	GString *before = g_string_new(NULL), *after;

	set_sigchld(how);
	/* libc's connection to /dev/log opens at the first line: now */
	syslog(LOG_DEBUG, "the host before a case");
	describe_host(before);
	fn();
	after = g_string_new(NULL);
	describe_host(after);
	/* whole, to stderr: cmocka's message would cut it */
	if (strcmp(before->str, after->str)) {
		fprintf(stderr, "the host changed; before:\n%s\nafter:\n%s\n",
			before->str, after->str);
		fail_msg("the host changed (above)");
	}
	g_string_free(before, TRUE);
	g_string_free(after, TRUE);
}

/* ---- private mounts ---- */

#define MAX_MOUNTS 16

/* The mounts of this case, undone in reverse order by unmount_private. */
static char mounts[MAX_MOUNTS][300];
static int n_mounts;

void mount_over(const char *src, const char *dst, const char *type,
		const char *opts)
{
	assert_true(n_mounts < MAX_MOUNTS);
	if (mount(src, dst, type ? type : "none", type ? 0 : MS_BIND, opts))
		fail_msg("mount %s on %s: %s", src, dst, strerror(errno));
	snprintf(mounts[n_mounts++], sizeof(mounts[0]), "%s", dst);
}

void bind_copy(const char *path, const char *name)
{
	char copy[300];

	snprintf(copy, sizeof(copy), "%s", t_path("%s", name));
	assert_int_equal(runf("cp -a %s %s", path, copy), 0);
	mount_over(copy, path, NULL, NULL);
}

void bind_text(const char *path, const char *name, const char *text,
	       mode_t mode)
{
	char file[300];

	snprintf(file, sizeof(file), "%s", t_path("%s", name));
	assert_true(g_file_set_contents(file, text, -1, NULL));
	assert_int_equal(chmod(file, mode), 0);
	mount_over(file, path, NULL, NULL);
}

void unmount_private(void)
{
	while (n_mounts > 0)
		umount2(mounts[--n_mounts], MNT_DETACH);
}

/* ---- private copies of the system's files ---- */

void private_pam_config(void)
{
	bind_copy("/etc/pam.d", "pam.d");
	bind_copy("/usr/share/pam-configs", "pam-configs");
	bind_copy("/var/lib/pam", "var-lib-pam");
	bind_copy("/var/cache/debconf", "debconf");
	bind_copy(SECUREDIR, "security");
}

void shipped_profile_applied(void)
{
	gchar *session, *noninteractive;

	assert_int_equal(runf("cp %s %s/pam_oo7.so && make -s "
			      "--no-print-directory -C %s install-pam-config "
			      "DESTDIR= >/dev/null",
			      MODULE_PATH, SECUREDIR, TOP_DIR),
			 0);

	assert_int_equal(run("DEBIAN_FRONTEND=noninteractive "
			     "pam-auth-update --package"),
			 0);

	session = read_text("/etc/pam.d/common-session");
	noninteractive = read_text("/etc/pam.d/common-session-noninteractive");
	assert_has(session, "pam_oo7.so auto_start");
	/* Session-Interactive-Only: sudo -u and doas never run the module. */
	assert_lacks(noninteractive, "pam_oo7");
	g_free(session);
	g_free(noninteractive);
}

void stacks_from_the_shipped_profile(void)
{
	private_pam_config();
	shipped_profile_applied();
}

void usr_overlay(void)
{
	char opts[700], up[300], work[300];

	snprintf(up, sizeof(up), "%s", t_path("usr-up"));
	snprintf(work, sizeof(work), "%s", t_path("usr-work"));
	t_mkdir(up, 0, 0, 0755);
	t_mkdir(work, 0, 0, 0755);
	snprintf(opts, sizeof(opts), "lowerdir=/usr,upperdir=%s,workdir=%s", up,
		 work);
	mount_over("overlay", "/usr", "overlay", opts);
}

void daemon_where_auto_start_looks(void)
{
	usr_overlay();
	assert_int_equal(runf("mkdir -p /usr/libexec && cp %s %s && "
			      "chmod 0755 %s",
			      FAKE_DAEMON, DAEMON_PATH, DAEMON_PATH),
			 0);
}

/* text in place of path's contents, the file's owner and mode kept. */
void rewrite(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

void edit_once(const char *path, const char *old, const char *new)
{
	gchar *text = read_text(path);
	gchar **parts = g_strsplit(text, old, -1);
	gchar *edited = g_strjoinv(new, parts);

	if (g_strv_length(parts) != 2)
		fail_msg("want one \"%s\" in %s:\n%s", old, path, text);
	rewrite(path, edited);
	g_free(edited);
	g_strfreev(parts);
	g_free(text);
}

/* Her line as the sandbox writes it, matched from the start of a line. */
void alice_at_home(const char *shell)
{
	char home[300], line[200];

	snprintf(home, sizeof(home), "%s", t_path("home-alice"));
	t_mkdir(home, t_alice.uid, t_alice.gid, 0700);
	snprintf(line, sizeof(line),
		 "\nalice:x:%u:%u:test user:", (unsigned int)t_alice.uid,
		 (unsigned int)t_alice.gid);
	edit_once("/etc/passwd", textf("%s/nonexistent:/bin/sh\n", line),
		  textf("%s%s:%s\n", line, home, shell));
}

const char *shadow_line(const char *user, const char *pw, const char *salt,
			long lastchg)
{
	return textf("%s:%s:%ld:0:99999:7:::\n", user, crypt(pw, salt),
		     lastchg);
}

void private_shadow_with(const char *lines)
{
	gchar *host = read_text("/etc/shadow");
	gchar *text = g_strconcat(host, lines, NULL);

	bind_text("/etc/shadow", "shadow", text, 0640);
	g_free(text);
	g_free(host);
}

/* A private /var/log with the files that login and pam_lastlog write. */
void private_var_log(void)
{
	mount_over("tmpfs", "/var/log", "tmpfs", "mode=0755");
	assert_int_equal(runf("cd /var/log && touch wtmp btmp lastlog faillog "
			      "&& chmod 0664 wtmp lastlog && chmod 0660 btmp"),
			 0);
}

/*
 * pam_oo7's line of this type in a stack that pam-auth-update generated
 * (which ends it with a space), with before and after around it.
 */
void around_the_module_line(const char *file, const char *type,
			    const char *before, const char *after)
{
	gchar *text = read_text(file);
	gchar **lines = g_strsplit(text, "\n", -1), *edited;
	int n = 0;

	for (gchar **l = lines; *l; l++)
		if (g_str_has_prefix(*l, type) && strstr(*l, "pam_oo7.so")) {
			gchar *line =
			    g_strconcat(before, g_strchomp(*l), after, NULL);

			g_free(*l);
			*l = line;
			n++;
		}
	if (n != 1)
		fail_msg("want one %s line of pam_oo7 in %s:\n%s", type, file,
			 text);
	edited = g_strjoinv("\n", lines);
	rewrite(file, edited);
	g_free(edited);
	g_strfreev(lines);
	g_free(text);
}

/* ---- real programs: the host's files as they were ---- */

/*
 * Names, sizes, modes, times and contents of the files under paths (a
 * shell word list), and the names in the folders listed (NULL: none), to
 * compare a case's before and after; g_free it.
 */
static gchar *files_state(const char *paths, const char *listed)
{
	gchar *ls =
	    listed ? g_strdup_printf("; ls -a %s 2>&1", listed) : g_strdup("");
	gchar *cmd = g_strdup_printf(
	    "sh -c 'find %1$s -printf \"%%p %%s %%m %%T@\\n\" 2>&1 | sort; "
	    "find %1$s -type f -exec sha256sum {} + 2>&1 | sort%2$s'",
	    paths, ls);
	gchar *out = NULL;

	if (!g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL))
		out = g_strdup("(find failed)");
	g_free(cmd);
	g_free(ls);
	return out;
}

/* What real_programs_setup() found, for real_programs_teardown(). */
static const char *host_paths, *host_listed;
static gchar *host_before;

int real_programs_setup(void **state, const char *paths, const char *listed)
{
	host_paths = paths;
	host_listed = listed;
	host_before = files_state(paths, listed);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return suite_setup(state);
}

int real_programs_teardown(int r)
{
	gchar *after;

	prctl(PR_SET_CHILD_SUBREAPER, 0);
	after = files_state(host_paths, host_listed);
	if (strcmp(after, host_before)) {
		fprintf(stderr,
			"the host's files changed; before:\n%s\nafter:\n%s",
			host_before, after);
		r = -1;
	}
	g_free(after);
	g_free(host_before);
	host_before = NULL;
	return r;
}
