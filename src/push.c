// SPDX-License-Identifier: BSD-2-Clause
/*
 * The Pyroscope pusher: a spool directory of pending items, one file each,
 * and a sender thread that posts them oldest first.
 *
 * A spool file is named by a zero-padded sequence number, so that name
 * order is age order ("00000000000000000042.push"), and holds a text header
 * then the body:
 *
 *   pybpfprof-push 1
 *   app myservice
 *   from 1700000000
 *   until 1700000060
 *   rate 99
 *   label host=web1          (0 to PP_PUSH_MAX_LABELS lines)
 *   body 1234
 *   <1234 bytes of folded stacks>
 *
 * Names and labels are sanitised before they are written, so a header line
 * never holds a space or a newline inside a field. Everything is checked
 * again when read back: a file that does not parse exactly is removed and
 * counted dropped. Files are written as ".tmp-SEQ" and renamed into place
 * after an fsync; leftover temporaries of a crashed run are removed at start.
 *
 * Locking: one mutex guards the queue (in memory, in arrival order) and the
 * counters. The sender holds it only between requests; push_enqueue holds it
 * to append, enforce the cap (unlinking the dropped files) and signal. The
 * item being sent is the queue head and is never dropped by the cap, so the
 * sender finds its entry again when the request ends.
 */
#include "push.h"
#include "util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_MAGIC	   "pybpfprof-push 1\n"
#define SPOOL_SUFFIX	   ".push"
#define SPOOL_DIGITS	   20
#define SPOOL_NAME_LEN	   (SPOOL_DIGITS + sizeof(SPOOL_SUFFIX) - 1)
#define SPOOL_TMP_PREFIX   ".tmp-"
#define SPOOL_LOCK	   ".lock"
#define DEFAULT_TIMEOUT_S  10.0
#define DEFAULT_BACKOFF_S  1.0
#define DEFAULT_BACKOFF_MX 60.0
#define REPLY_KEEP	   200 /* bytes of a server's answer kept for messages */

struct spool_ent {
	uint64_t seq;
	uint64_t size; /* bytes of the spool file */
};

struct pp_pusher {
	char *base; /* the server URL without trailing '/' */
	char *dir;
	int dirfd, lockfd;
	uint64_t cap;
	long timeout_ms;
	double backoff_first, backoff_max;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC, like pp_now_ns */
	pthread_t thread;
	/* under mu: */
	struct spool_ent *q; /* pending items, oldest first */
	size_t qn, qcap;
	uint64_t qbytes;
	uint64_t next_seq;
	bool sending; /* q[0] is being sent */
	bool stopping;
	bool stopped; /* the sender has been joined (push_stop) */
	uint64_t deadline_ns; /* when stopping: give up sending at this time */
	double backoff; /* the last wait after a failure; 0: none */
	uint64_t retry_ns; /* no request before this time */
	bool failing; /* the last attempt failed (and that was told) */
	bool told_spool, told_cap;
	struct pp_push_stats st;

	/* the sender's own */
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	char reply[REPLY_KEEP + 1];
	size_t reply_len;
};

/* ---- small helpers ---- */

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const void *p, size_t n)
{
	void *s = b->s;

	pp_grow(&s, &b->cap, b->n + n + 1, 1);
	b->s = s;
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

/* Appends s[0..n) sanitised and cut to max bytes. */
static void sb_sanitised(struct sbuf *b, const char *s, size_t n, size_t max)
{
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		char c = name_char((unsigned char)s[i]) ? s[i] : '_';

		sb_add(b, &c, 1);
	}
}

static bool all_name_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)s[i]))
			return false;
	return true;
}

static void ns_to_abstime(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
}

static uint64_t secs_to_ns(double s)
{
	if (s <= 0)
		return 0;
	if (s > 1e9)
		s = 1e9;
	return (uint64_t)(s * 1e9);
}

static void spool_name(char *buf, size_t len, uint64_t seq)
{
	snprintf(buf, len, "%0*" PRIu64 SPOOL_SUFFIX, SPOOL_DIGITS, seq);
}

/* The sequence number of a spool file name; false if it is not one. */
static bool parse_spool_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strlen(name) != SPOOL_NAME_LEN || strcmp(name + SPOOL_DIGITS, SPOOL_SUFFIX) != 0)
		return false;
	for (int i = 0; i < SPOOL_DIGITS; i++) {
		unsigned d = (unsigned)(name[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*seq = v;
	return true;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n > (1U << 30) ? (1U << 30) : n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- the queue (callers hold mu) ---- */

static void queue_push(struct pp_pusher *p, uint64_t seq, uint64_t size)
{
	void *q = p->q;

	pp_grow(&q, &p->qcap, p->qn + 1, sizeof(*p->q));
	p->q = q;
	p->q[p->qn++] = (struct spool_ent){seq, size};
	p->qbytes += size;
}

static void queue_remove(struct pp_pusher *p, size_t i)
{
	p->qbytes -= p->q[i].size;
	memmove(&p->q[i], &p->q[i + 1], (p->qn - i - 1) * sizeof(*p->q));
	p->qn--;
}

static ssize_t queue_find(struct pp_pusher *p, uint64_t seq)
{
	for (size_t i = 0; i < p->qn; i++)
		if (p->q[i].seq == seq)
			return (ssize_t)i;
	return -1;
}

static void unlink_seq(struct pp_pusher *p, uint64_t seq)
{
	char name[SPOOL_NAME_LEN + 1];

	spool_name(name, sizeof(name), seq);
	if (unlinkat(p->dirfd, name, 0) != 0 && errno != ENOENT)
		pp_err("cannot remove %s/%s from the profile spool: %s", p->dir, name, strerror(errno));
}

/* Drops the oldest pending items (not the one being sent) until the spool
 * is within its cap. */
static void enforce_cap(struct pp_pusher *p)
{
	uint64_t n = 0, bytes = 0;

	while (p->cap && p->qbytes > p->cap) {
		size_t i = p->sending ? 1 : 0;

		if (i >= p->qn)
			break;
		unlink_seq(p, p->q[i].seq);
		n++;
		bytes += p->q[i].size;
		queue_remove(p, i);
	}
	if (!n)
		return;
	p->st.dropped += n;
	p->st.dropped_bytes += bytes;
	if (!p->told_cap)
		pp_err("profile spool %s is over its cap of %" PRIu64 " bytes: dropped the oldest %" PRIu64
		       " pending profile(s); further drops are only counted",
		       p->dir, p->cap, n);
	else
		pp_debug("push: over the spool cap, dropped %" PRIu64 " profile(s), %" PRIu64 " bytes", n, bytes);
	p->told_cap = true;
}

/* ---- spool files ---- */

/* The spool header of an item, sanitised; -1 with why if it is malformed. */
static int build_header(const struct pp_push_item *it, struct sbuf *h, char *why, size_t whylen)
{
	char num[64];
	size_t nlabels = 0;

	if (!it->app || !*it->app) {
		snprintf(why, whylen, "no application name");
		return -1;
	}
	if (!it->body && it->body_len) {
		snprintf(why, whylen, "no body");
		return -1;
	}
	if (it->body_len > PP_PUSH_MAX_BODY) {
		snprintf(why, whylen, "a profile of %zu bytes, over the limit of %llu", it->body_len,
			 (unsigned long long)PP_PUSH_MAX_BODY);
		return -1;
	}
	if (!it->sample_rate) {
		snprintf(why, whylen, "sample rate 0");
		return -1;
	}
	if (it->from_s > it->until_s) {
		snprintf(why, whylen, "interval from %" PRIu64 " until %" PRIu64 " ends before it starts", it->from_s,
			 it->until_s);
		return -1;
	}
	sb_str(h, SPOOL_MAGIC "app ");
	sb_sanitised(h, it->app, strlen(it->app), PP_PUSH_MAX_NAME);
	snprintf(num, sizeof(num), "\nfrom %" PRIu64 "\nuntil %" PRIu64 "\nrate %u\n", it->from_s, it->until_s,
		 it->sample_rate);
	sb_str(h, num);
	for (const char *const *l = it->labels; l && *l; l++) {
		const char *eq = strchr(*l, '=');

		if (++nlabels > PP_PUSH_MAX_LABELS) {
			snprintf(why, whylen, "more than %d labels", PP_PUSH_MAX_LABELS);
			return -1;
		}
		if (!eq || eq == *l || !eq[1]) {
			snprintf(why, whylen, "label \"%.80s\" is not key=value", *l);
			return -1;
		}
		sb_str(h, "label ");
		sb_sanitised(h, *l, (size_t)(eq - *l), PP_PUSH_MAX_NAME);
		sb_str(h, "=");
		sb_sanitised(h, eq + 1, strlen(eq + 1), PP_PUSH_MAX_VALUE);
		sb_str(h, "\n");
	}
	snprintf(num, sizeof(num), "body %zu\n", it->body_len);
	sb_str(h, num);
	return 0;
}

/* Writes one spool file: temporary, fsync, rename, fsync of the directory.
 * -1 with errno's text in why. */
static int spool_write(struct pp_pusher *p, uint64_t seq, const struct sbuf *h, const void *body, size_t len, char *why,
		       size_t whylen)
{
	char name[SPOOL_NAME_LEN + 1], tmp[sizeof(SPOOL_TMP_PREFIX) + SPOOL_NAME_LEN];
	int fd, err;

	spool_name(name, sizeof(name), seq);
	snprintf(tmp, sizeof(tmp), SPOOL_TMP_PREFIX "%s", name);
	fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "cannot create %s/%s: %s", p->dir, tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, h->s, h->n) != 0 || write_all(fd, body, len) != 0 || fsync(fd) != 0) {
		err = errno;
		close(fd);
		unlinkat(p->dirfd, tmp, 0);
		snprintf(why, whylen, "cannot write %s/%s: %s", p->dir, tmp, strerror(err));
		return -1;
	}
	if (close(fd) != 0 || renameat(p->dirfd, tmp, p->dirfd, name) != 0) {
		err = errno;
		unlinkat(p->dirfd, tmp, 0);
		snprintf(why, whylen, "cannot move %s/%s into place: %s", p->dir, name, strerror(err));
		return -1;
	}
	/* the rename itself reaches the disk; a failure here loses nothing now */
	fsync(p->dirfd);
	return 0;
}

/* An item read back from the spool; strings point into the file's bytes. */
struct spooled {
	char *data; /* the whole file, NUL-terminated */
	size_t len;
	const char *app;
	size_t app_len;
	const char *labels[PP_PUSH_MAX_LABELS]; /* each "key=value" */
	size_t label_len[PP_PUSH_MAX_LABELS];
	size_t nlabels;
	uint64_t from, until;
	unsigned rate;
	const char *body;
	size_t body_len;
};

/* One header line "KEY rest\n" at *pos; the rest and its length. */
static bool header_line(struct spooled *s, size_t *pos, size_t hmax, const char *key, const char **val, size_t *vlen)
{
	size_t klen = strlen(key), end;
	const char *nl;

	if (*pos + klen + 1 > hmax || memcmp(s->data + *pos, key, klen) != 0 || s->data[*pos + klen] != ' ')
		return false;
	nl = memchr(s->data + *pos + klen + 1, '\n', hmax - (*pos + klen + 1));
	if (!nl)
		return false;
	end = (size_t)(nl - s->data);
	*val = s->data + *pos + klen + 1;
	*vlen = end - (*pos + klen + 1);
	*pos = end + 1;
	return true;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool header_u64(struct spooled *s, size_t *pos, size_t hmax, const char *key, uint64_t *out)
{
	const char *v;
	size_t n;

	return header_line(s, pos, hmax, key, &v, &n) && parse_u64(v, n, out);
}

/* Checks a spool file's bytes; why says what is wrong. */
static bool spool_parse(struct spooled *s, char *why, size_t whylen)
{
	size_t pos = sizeof(SPOOL_MAGIC) - 1, hmax = s->len < PP_PUSH_MAX_HEADER ? s->len : PP_PUSH_MAX_HEADER, n;
	uint64_t rate, body_len;
	const char *v;

	if (s->len < pos || memcmp(s->data, SPOOL_MAGIC, pos) != 0) {
		snprintf(why, whylen, "not a pybpfprof spool file");
		return false;
	}
	if (!header_line(s, &pos, hmax, "app", &s->app, &s->app_len) || !s->app_len || s->app_len > PP_PUSH_MAX_NAME ||
	    !all_name_chars(s->app, s->app_len)) {
		snprintf(why, whylen, "bad app line");
		return false;
	}
	if (!header_u64(s, &pos, hmax, "from", &s->from) || !header_u64(s, &pos, hmax, "until", &s->until) ||
	    s->from > s->until) {
		snprintf(why, whylen, "bad interval");
		return false;
	}
	if (!header_u64(s, &pos, hmax, "rate", &rate) || !rate || rate > UINT_MAX) {
		snprintf(why, whylen, "bad rate line");
		return false;
	}
	s->rate = (unsigned)rate;
	while (header_line(s, &pos, hmax, "label", &v, &n)) {
		const char *eq = memchr(v, '=', n);
		size_t klen = eq ? (size_t)(eq - v) : 0;

		if (s->nlabels == PP_PUSH_MAX_LABELS || !eq || !klen || klen > PP_PUSH_MAX_NAME || n - klen - 1 == 0 ||
		    n - klen - 1 > PP_PUSH_MAX_VALUE || !all_name_chars(v, klen) ||
		    !all_name_chars(eq + 1, n - klen - 1)) {
			snprintf(why, whylen, "bad label line");
			return false;
		}
		s->labels[s->nlabels] = v;
		s->label_len[s->nlabels++] = n;
	}
	if (!header_u64(s, &pos, hmax, "body", &body_len) || body_len > PP_PUSH_MAX_BODY || body_len != s->len - pos) {
		snprintf(why, whylen, "bad body line or length (file of %zu bytes)", s->len);
		return false;
	}
	s->body = s->data + pos;
	s->body_len = (size_t)body_len;
	return true;
}

/* Reads and checks one spool file. -1 with why if it is gone, unreadable or
 * malformed; -2 if it cannot be opened for want of a resource (descriptors,
 * memory), which says nothing about the file. */
static int spool_read(struct pp_pusher *p, uint64_t seq, struct spooled *s, char *why, size_t whylen)
{
	char name[SPOOL_NAME_LEN + 1];
	struct stat st;
	size_t n = 0;
	int fd;

	memset(s, 0, sizeof(*s));
	spool_name(name, sizeof(name), seq);
	fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int err = errno;

		snprintf(why, whylen, "cannot open it: %s", strerror(err));
		return err == EMFILE || err == ENFILE || err == ENOMEM || err == EINTR ? -2 : -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > PP_PUSH_MAX_HEADER + PP_PUSH_MAX_BODY) {
		snprintf(why, whylen, "not a regular file of a sane size");
		close(fd);
		return -1;
	}
	s->data = pp_xmalloc((size_t)st.st_size + 1);
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, s->data + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(why, whylen, "%s", r < 0 ? strerror(errno) : "shorter than its size");
			close(fd);
			free(s->data);
			s->data = NULL;
			return -1;
		}
		n += (size_t)r;
	}
	close(fd);
	s->data[n] = '\0';
	s->len = n;
	if (!spool_parse(s, why, whylen)) {
		free(s->data);
		s->data = NULL;
		return -1;
	}
	return 0;
}

/* Removes leftover temporaries, queues the spool files oldest first. */
static int spool_scan(struct pp_pusher *p, char *why, size_t whylen)
{
	int fd = dup(p->dirfd);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		snprintf(why, whylen, "cannot read the profile spool %s: %s", p->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		struct stat st;
		uint64_t seq;

		if (strncmp(de->d_name, SPOOL_TMP_PREFIX, sizeof(SPOOL_TMP_PREFIX) - 1) == 0) {
			unlinkat(p->dirfd, de->d_name, 0);
			continue;
		}
		if (!parse_spool_name(de->d_name, &seq))
			continue;
		if (fstatat(p->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		queue_push(p, seq, (uint64_t)st.st_size);
		if (seq >= p->next_seq)
			p->next_seq = seq + 1;
	}
	closedir(d);
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct spool_ent *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* mkdir -p, new directories with mode 0700. */
static int mkdir_p(const char *path)
{
	char *s = pp_xstrdup(path);
	int rc = 0;

	for (char *c = s + 1;; c++) {
		if (*c == '/' || !*c) {
			char save = *c;

			*c = '\0';
			if (mkdir(s, 0700) != 0 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*c = save;
			if (!save)
				break;
		}
	}
	free(s);
	return rc;
}

/* ---- sending ---- */

enum outcome { SENT, RETRY, REJECTED, CORRUPT, ABORTED };

static size_t on_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct pp_pusher *p = arg;
	size_t n = size * nmemb, room = REPLY_KEEP - p->reply_len;

	if (room) {
		memcpy(p->reply + p->reply_len, data, n < room ? n : room);
		p->reply_len += n < room ? n : room;
		p->reply[p->reply_len] = '\0';
	}
	return n;
}

/* Cuts a request short once push_free's grace has run out. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct pp_pusher *p = arg;
	bool stop;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	pthread_mutex_lock(&p->mu);
	stop = p->stopping && pp_now_ns() >= p->deadline_ns;
	pthread_mutex_unlock(&p->mu);
	return stop;
}

/* The server's answer on one line, for messages. */
static const char *reply_text(struct pp_pusher *p)
{
	for (size_t i = 0; i < p->reply_len; i++)
		if ((unsigned char)p->reply[i] < ' ')
			p->reply[i] = ' ';
	while (p->reply_len && p->reply[p->reply_len - 1] == ' ')
		p->reply[--p->reply_len] = '\0';
	return p->reply;
}

static char *ingest_url(struct pp_pusher *p, const struct spooled *s)
{
	struct sbuf name = {0};
	char *esc, *url;

	sb_add(&name, s->app, s->app_len);
	if (s->nlabels) {
		sb_str(&name, "{");
		for (size_t i = 0; i < s->nlabels; i++) {
			if (i)
				sb_str(&name, ",");
			sb_add(&name, s->labels[i], s->label_len[i]);
		}
		sb_str(&name, "}");
	}
	esc = curl_easy_escape(p->curl, name.s, (int)name.n);
	free(name.s);
	if (!esc)
		return NULL;
	url = pp_xasprintf("%s/ingest?name=%s&from=%" PRIu64 "&until=%" PRIu64 "&sampleRate=%u&spyName=pybpfprof"
			   "&units=samples&aggregationType=sum&format=folded",
			   p->base, esc, s->from, s->until, s->rate);
	curl_free(esc);
	return url;
}

/* One request for the item seq; why says what went wrong. */
static enum outcome send_one(struct pp_pusher *p, uint64_t seq, char *why, size_t whylen)
{
	struct spooled s;
	enum outcome out;
	long timeout_ms = p->timeout_ms, code = 0;
	CURLcode rc;
	char *url;

	switch (spool_read(p, seq, &s, why, whylen)) {
	case 0:
		break;
	case -2:
		return RETRY; /* the file is fine: try again after a wait */
	default:
		return CORRUPT;
	}
	url = ingest_url(p, &s);
	if (!url) {
		free(s.data);
		snprintf(why, whylen, "cannot build the request URL");
		return RETRY;
	}
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		uint64_t now = pp_now_ns(), left = p->deadline_ns > now ? (p->deadline_ns - now) / 1000000 : 0;

		if ((long)left + 1 < timeout_ms)
			timeout_ms = (long)left + 1;
	}
	pthread_mutex_unlock(&p->mu);
	p->reply_len = 0;
	p->reply[0] = p->errbuf[0] = '\0';
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, s.body_len ? s.body : "");
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s.body_len);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	rc = curl_easy_perform(p->curl);
	free(url);
	free(s.data);
	pthread_mutex_lock(&p->mu);
	if (rc != CURLE_OK && p->stopping && pp_now_ns() >= p->deadline_ns)
		rc = CURLE_ABORTED_BY_CALLBACK; /* cut short by push_free, not a failure */
	pthread_mutex_unlock(&p->mu);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(why, whylen, "stopped");
		return ABORTED;
	}
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s", p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
		return RETRY;
	}
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300)
		return SENT;
	out = code >= 400 && code < 500 && code != 408 && code != 429 ? REJECTED : RETRY;
	reply_text(p);
	snprintf(why, whylen, "HTTP status %ld%s%s", code, p->reply_len ? ": " : "", p->reply);
	return out;
}

/* Books the outcome of a request for the queue head (mu held). */
static void settle(struct pp_pusher *p, uint64_t seq, enum outcome out, const char *why)
{
	ssize_t i = queue_find(p, seq);
	uint64_t size = i >= 0 ? p->q[i].size : 0;
	char name[SPOOL_NAME_LEN + 1];

	spool_name(name, sizeof(name), seq);
	if (out == ABORTED)
		return;
	if (out == RETRY) {
		p->st.attempts_failed++;
		p->backoff = p->backoff ? p->backoff * 2 : p->backoff_first;
		if (p->backoff > p->backoff_max)
			p->backoff = p->backoff_max;
		p->retry_ns = pp_now_ns() + secs_to_ns(p->backoff);
		if (!p->failing)
			pp_err("pushing profiles to %s failed (%s); they stay in %s and are retried", p->base, why,
			       p->dir);
		else
			pp_debug("push: %s: %s; next try in %.1f s", name, why, p->backoff);
		p->failing = true;
		return;
	}
	unlink_seq(p, seq);
	if (i >= 0)
		queue_remove(p, (size_t)i);
	if (out == CORRUPT) {
		pp_err("removed %s/%s from the profile spool: %s", p->dir, name, why);
		p->st.dropped++;
		p->st.dropped_bytes += size;
		return;
	}
	if (p->failing)
		pp_err("pushing profiles to %s works again", p->base);
	p->failing = false;
	p->backoff = 0;
	p->retry_ns = 0;
	if (out == SENT) {
		p->st.sent++;
		return;
	}
	p->st.attempts_failed++;
	p->st.dropped++;
	p->st.dropped_bytes += size;
	pp_err("%s refused a profile for good (%s): dropped it", p->base, why);
}

static void *sender_main(void *arg)
{
	struct pp_pusher *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		uint64_t now = pp_now_ns(), seq, wake;
		enum outcome out;
		char why[512];
		struct timespec ts;

		if (p->stopping && (!p->qn || now >= p->deadline_ns))
			break;
		if (!p->qn) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		if (now < p->retry_ns) {
			wake = p->retry_ns;
			if (p->stopping && p->deadline_ns < wake)
				wake = p->deadline_ns;
			ns_to_abstime(wake, &ts);
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			continue;
		}
		seq = p->q[0].seq;
		p->sending = true;
		pthread_mutex_unlock(&p->mu);
		why[0] = '\0';
		out = send_one(p, seq, why, sizeof(why));
		pthread_mutex_lock(&p->mu);
		p->sending = false;
		settle(p, seq, out, why);
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---- the API ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The base URL must be http(s)://host[:port][/path], without query. */
static int check_url(const char *url, char *why, size_t whylen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
	int rc = -1;

	if (!u) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		snprintf(why, whylen, "bad Pyroscope URL \"%s\"; give http://HOST:PORT", url);
	else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		snprintf(why, whylen, "bad Pyroscope URL \"%s\": only http and https are supported", url);
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
		 curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		snprintf(why, whylen, "bad Pyroscope URL \"%s\": give the server's base URL, without a query", url);
	else
		rc = 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return rc;
}

static int setup_curl(struct pp_pusher *p, char *why, size_t whylen)
{
	p->curl = curl_easy_init();
	p->headers = curl_slist_append(NULL, "Content-Type: text/plain");
	if (p->headers) {
		/* no "Expect: 100-continue" round trip before larger bodies */
		struct curl_slist *h = curl_slist_append(p->headers, "Expect:");

		if (h)
			p->headers = h;
	}
	if (!p->curl || !p->headers) {
		snprintf(why, whylen, "cannot set up libcurl");
		return -1;
	}
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, "pybpfprof/" PP_VERSION);
	curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(p->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(p->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(p->curl, CURLOPT_XFERINFODATA, p);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	return 0;
}

static void pusher_destroy(struct pp_pusher *p)
{
	if (p->curl)
		curl_easy_cleanup(p->curl);
	curl_slist_free_all(p->headers);
	if (p->lockfd >= 0)
		close(p->lockfd);
	if (p->dirfd >= 0)
		close(p->dirfd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->q);
	free(p->base);
	free(p->dir);
	free(p);
}

struct pp_pusher *push_new(const struct pp_push_opts *o, char *why, size_t whylen)
{
	struct pp_pusher *p;
	pthread_condattr_t ca;
	sigset_t all, old;
	size_t n;
	int err;

	if (!o->url || !*o->url) {
		snprintf(why, whylen, "no Pyroscope URL");
		return NULL;
	}
	if (!o->spool_dir || !*o->spool_dir) {
		snprintf(why, whylen, "no spool directory for the profiles to push");
		return NULL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(why, whylen, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	if (check_url(o->url, why, whylen) != 0)
		return NULL;

	p = pp_xcalloc(1, sizeof(*p));
	p->dirfd = p->lockfd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->base = pp_xstrdup(o->url);
	for (n = strlen(p->base); n && p->base[n - 1] == '/'; n--)
		p->base[n - 1] = '\0';
	p->dir = pp_xstrdup(o->spool_dir);
	p->cap = o->spool_max_bytes;
	p->timeout_ms =
		(long)((o->timeout_s > 0 ? (o->timeout_s < 86400 ? o->timeout_s : 86400) : DEFAULT_TIMEOUT_S) * 1000);
	if (p->timeout_ms < 1)
		p->timeout_ms = 1;
	p->backoff_first = o->backoff_first_s > 0 ? o->backoff_first_s : DEFAULT_BACKOFF_S;
	p->backoff_max = o->backoff_max_s > 0 ? o->backoff_max_s : DEFAULT_BACKOFF_MX;
	if (p->backoff_max < p->backoff_first)
		p->backoff_max = p->backoff_first;
	p->next_seq = 1;

	if (mkdir_p(p->dir) != 0 || (p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (p->lockfd = openat(p->dirfd, SPOOL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		snprintf(why, whylen, "cannot use %s as the profile spool: %s; choose another directory", p->dir,
			 strerror(errno));
		goto fail;
	}
	if (flock(p->lockfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(why, whylen, "the profile spool %s is in use by another pybpfprof%s%s", p->dir,
			 errno == EWOULDBLOCK ? "" : ": ", errno == EWOULDBLOCK ? "" : strerror(errno));
		goto fail;
	}
	if (spool_scan(p, why, whylen) != 0)
		goto fail;
	if (p->qn)
		qsort(p->q, p->qn, sizeof(*p->q), ent_cmp);
	p->st.recovered = p->qn;
	if (p->qn)
		pp_debug("push: %zu profile(s) left in %s by an earlier run", p->qn, p->dir);
	enforce_cap(p);
	if (setup_curl(p, why, whylen) != 0)
		goto fail;

	/* signals are for the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&p->thread, NULL, sender_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		snprintf(why, whylen, "cannot start the push thread: %s", strerror(err));
		goto fail;
	}
	return p;
fail:
	pusher_destroy(p);
	return NULL;
}

int push_enqueue(struct pp_pusher *p, const struct pp_push_item *it)
{
	struct sbuf h = {0};
	char why[512];
	uint64_t seq;

	if (build_header(it, &h, why, sizeof(why)) != 0) {
		pthread_mutex_lock(&p->mu);
		p->st.dropped++;
		p->st.dropped_bytes += it->body_len;
		pthread_mutex_unlock(&p->mu);
		pp_err("not pushing the profile of %s: %s", it->app && *it->app ? it->app : "(no app)", why);
		free(h.s);
		return -1;
	}
	pthread_mutex_lock(&p->mu);
	seq = p->next_seq++;
	pthread_mutex_unlock(&p->mu);
	if (spool_write(p, seq, &h, it->body, it->body_len, why, sizeof(why)) != 0) {
		pthread_mutex_lock(&p->mu);
		p->st.dropped++;
		p->st.dropped_bytes += it->body_len;
		if (!p->told_spool)
			pp_err("cannot spool a profile to push, dropped it: %s", why);
		else
			pp_debug("push: %s", why);
		p->told_spool = true;
		pthread_mutex_unlock(&p->mu);
		free(h.s);
		return -1;
	}
	pthread_mutex_lock(&p->mu);
	p->told_spool = false;
	queue_push(p, seq, h.n + it->body_len);
	p->st.queued++;
	enforce_cap(p);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	free(h.s);
	return 0;
}

void push_stats(struct pp_pusher *p, struct pp_push_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	out->pending = p->qn;
	out->pending_bytes = p->qbytes;
	pthread_mutex_unlock(&p->mu);
}

void push_stop(struct pp_pusher *p, double grace_s)
{
	if (!p || p->stopped)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	p->deadline_ns = pp_now_ns() + secs_to_ns(grace_s);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->stopped = true;
}

void push_free(struct pp_pusher *p, double grace_s)
{
	if (!p)
		return;
	push_stop(p, grace_s);
	if (p->qn)
		pp_debug("push: %zu profile(s), %" PRIu64 " bytes, left in %s for the next run", p->qn, p->qbytes,
			 p->dir);
	pusher_destroy(p);
}
