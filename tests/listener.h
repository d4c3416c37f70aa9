/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of the wire, for the tests and the demo: a Unix stream
 * listener that records each frame it is sent, with the SO_PEERCRED of the
 * process that sent it, and answers as one generation of oo7-daemon would
 * (strictly, below), or loosely as oo7 0.6 (close), 0.7 or later (a (bs)
 * reply), or as a broken daemon would.
 */
#ifndef OO7_TEST_LISTENER_H
#define OO7_TEST_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum listener_behaviour {
	LISTENER_CLOSE,		/* oo7 0.6: read the frame, close */
	LISTENER_REPLY,		/* oo7 0.7+: read the frame, answer (bs) */
	LISTENER_RAW_REPLY,	/* read the frame, answer raw bytes */
	LISTENER_NEVER_READ,	/* accept, then never read */
	LISTENER_NEVER_ACCEPT,	/* never accept, backlog full */
	LISTENER_CLOSE_AT_ONCE, /* accept, close before reading */
};

/*
 * The oo7-daemon releases in the wild, as their PAM listeners behave (read
 * in linux-credentials/oo7, server/src/pam_listener/mod.rs, at each tag).
 * Each reads one frame per connection and decodes it strictly: zvariant
 * wants zero padding in D-Bus, so libdbus-1 decodes here; GVariant must be
 * in normal form for GLib here; the operation must be 0 or 1. A frame that
 * does not decode is dropped: recorded as such, the connection closed with
 * no reply. A peer that is neither root nor the listener's uid is closed at
 * once, unread and unrecorded. A frame that decodes is acted on (on_frame),
 * then answered as that release does; behaviour, gvariant and the reply_*
 * fields are not used.
 */
enum generation {
	NO_GENERATION, /* the loose behaviours: nothing dropped */
	/*
	 * oo7 0.6.0: D-Bus, never replies. After every connection it unlinks
	 * its socket path (a per-connection copy of its listener removes the
	 * path when dropped): the next client finds no socket. 0.6.0 does so
	 * just after the close, racing a client that reconnects at once; the
	 * stand-in does so just before, so a test sees that race lost.
	 */
	OO7_06,
	/* oo7 0.7.0.alpha: D-Bus, replies D-Bus (true, "") to every frame. */
	OO7_07_ALPHA,
	/* oo7 main (zgvariant): GVariant, replies GVariant (true, ""). */
	OO7_MAIN,
};

struct listener_cfg {
	const char *path;
	uid_t owner_uid; /* owner of the socket file */
	gid_t owner_gid;
	mode_t mode;
	uid_t run_uid; /* who listens: the peer the module sees */
	gid_t run_gid;
	enum listener_behaviour behaviour;
	enum generation generation; /* NO_GENERATION: behaviour decides */
	bool gvariant;		    /* reply encoding */
	bool reply_ok;
	const char *reply_msg;
	const uint8_t *raw_reply;
	size_t raw_reply_len;
	int record_fd; /* records appended here, or -1 */
	uint8_t id;    /* tells the records of several listeners apart */
	bool print;    /* demo: describe each frame on stdout */
	/*
	 * Called with each frame read (length prefix included), after it is
	 * recorded and before the reply or the close: what the daemon does
	 * with it is done when the module sees the end of the exchange. Under
	 * a generation, only with the frames it decoded.
	 */
	void (*on_frame)(void *data, const uint8_t *frame, size_t len);
	void *on_frame_data;
};

struct record {
	uint8_t id;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	size_t len;    /* 0: a connection that sent nothing (dropped) */
	uint8_t *data; /* the whole frame, length prefix included */
	bool dropped;  /* a generation could not decode it: not acted on */
};

/* Forks the listener and returns once it is listening; -1 on failure. */
pid_t listener_start(const struct listener_cfg *cfg);
void listener_stop(pid_t pid);

/* Runs a listener in this process until it is killed (the demo). */
int listener_run(const struct listener_cfg *cfg, int ready_fd);
/*
 * listener_run in two steps, for a daemon that does more between binding
 * its socket and serving it: the bound, listening fd (the process then runs
 * as run_uid), or -1; then the loop, which writes "1" on ready_fd (if not
 * -1) first and never returns.
 */
int listener_bind(const struct listener_cfg *cfg);
int listener_serve(const struct listener_cfg *cfg, int fd, int ready_fd);

/* Reads every record from fd (from offset 0); returns their count. */
size_t records_read(int fd, struct record **out);
void records_free(struct record *r, size_t n);
/* The n records at all less the dropped ones (freed), in place; how many. */
size_t records_acted_on(struct record *all, size_t n);

/* A frame as libdbus-1 or GLib reads it: independent of the module. */
struct decoded {
	uint8_t op;
	char *user;
	struct _GBytes *old, *new;
};

/* True when the frame is well formed (for GVariant: in normal form). */
bool frame_decode(const uint8_t *frame, size_t len, bool gvariant,
		  struct decoded *d);
void decoded_free(struct decoded *d);

/*
 * Encodes the reply body, (bs): success, then an error message (empty on
 * success); returns its length.
 */
size_t reply_encode(uint8_t *buf, size_t size, bool gvariant, bool ok,
		    const char *msg);
/*
 * A reply body as libdbus-1 or GLib reads it (for GVariant: in normal
 * form); false if it is not one. *msg is g_free'd by the caller.
 */
bool reply_decode(const uint8_t *body, size_t len, bool gvariant, bool *ok,
		  char **msg);

#endif
