// SPDX-License-Identifier: BSD-2-Clause
/* The Pyroscope pusher against a tiny HTTP server of this test's own on
 * 127.0.0.1: what one request holds; items that stay spooled while the
 * server fails or is gone and arrive, oldest first, once it is back; a 400
 * drops, a 429 retries; the disk cap drops the oldest; a restart sends what
 * was left; push_free's grace bounds a hanging request; corrupt spool files
 * are removed and counted; bad URLs, unusable or locked spools are refused. */
#include "check.h"
#include "push.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the server ---- */

#define MAX_REQS 256

struct req {
	char method[16];
	char *target;
	char *ctype;
	char *body;
	size_t body_len;
	int status; /* what it was answered; 0: nothing (hung up on) */
	double t; /* when it had arrived whole, now_s() */
};

struct srv {
	int lfd, port, wake[2];
	pthread_t th;
	pthread_mutex_t mu;
	int status; /* the answer to give; 0: hold the connection, answer nothing */
	struct req reqs[MAX_REQS];
	int nreq;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int srv_get_status(struct srv *s)
{
	int st;

	pthread_mutex_lock(&s->mu);
	st = s->status;
	pthread_mutex_unlock(&s->mu);
	return st;
}

static void srv_set_status(struct srv *s, int st)
{
	pthread_mutex_lock(&s->mu);
	s->status = st;
	pthread_mutex_unlock(&s->mu);
}

static int srv_nreq(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nreq;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* The value of a header, from the header block hdr (NUL-terminated). */
static char *header_value(const char *hdr, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = strstr(hdr, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *h = l + 2, *end = strstr(h, "\r\n");

		if (!end)
			break;
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ')
				h++;
			return strndup(h, (size_t)(end - h));
		}
	}
	return NULL;
}

static void serve_one(struct srv *s, int fd)
{
	struct timeval tv = {2, 0};
	char *buf = malloc(65536), *end = NULL, *cl;
	size_t n = 0, want;
	struct req r = {0};
	int status;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n < 65535) {
		ssize_t got = recv(fd, buf + n, 65535 - n, 0);

		if (got <= 0)
			goto out;
		n += (size_t)got;
		buf[n] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")))
			break;
	}
	if (!end)
		goto out;
	end[2] = '\0'; /* headers end with their last \r\n */
	if (sscanf(buf, "%15s", r.method) != 1)
		goto out;
	{
		const char *t = strchr(buf, ' '), *te = t ? strchr(t + 1, ' ') : NULL;

		if (!te)
			goto out;
		r.target = strndup(t + 1, (size_t)(te - t - 1));
	}
	r.ctype = header_value(buf, "Content-Type");
	cl = header_value(buf, "Content-Length");
	want = cl ? strtoul(cl, NULL, 10) : 0;
	free(cl);
	r.body = malloc(want + 1);
	r.body_len = n - (size_t)(end + 4 - buf);
	if (r.body_len > want)
		r.body_len = want;
	memcpy(r.body, end + 4, r.body_len);
	while (r.body_len < want) {
		ssize_t got = recv(fd, r.body + r.body_len, want - r.body_len, 0);

		if (got <= 0)
			break;
		r.body_len += (size_t)got;
	}
	r.body[r.body_len] = '\0';
	status = srv_get_status(s);
	r.status = status;
	r.t = now_s();
	pthread_mutex_lock(&s->mu);
	if (s->nreq < MAX_REQS)
		s->reqs[s->nreq++] = r;
	else
		free(r.target), free(r.ctype), free(r.body);
	pthread_mutex_unlock(&s->mu);
	memset(&r, 0, sizeof(r));
	if (status == 0) {
		/* hang until the client gives up or the server stops */
		struct pollfd pf[2] = {{fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};

		for (int i = 0; i < 200; i++) {
			char c;

			if (poll(pf, 2, 50) > 0 && (pf[1].revents || recv(fd, &c, 1, MSG_DONTWAIT) == 0))
				break;
		}
	} else {
		char out[256];
		const char *text = status / 100 == 2 ? "" : "no, thanks\n";
		int len = snprintf(out, sizeof(out),
				   "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
				   "Connection: close\r\n\r\n%s",
				   status, strlen(text), text);

		if (send(fd, out, (size_t)len, MSG_NOSIGNAL) < 0)
			perror("send");
	}
out:
	free(r.target);
	free(r.ctype);
	free(r.body);
	free(buf);
	close(fd);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd pf[2] = {{s->lfd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
		int fd;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		if (!pf[0].revents)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd >= 0)
			serve_one(s, fd);
	}
	return NULL;
}

/* Listens on 127.0.0.1:port (0: any free port). */
static bool srv_start(struct srv *s, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t alen = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 16) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0 || pipe(s->wake) != 0) {
		perror("test server");
		return false;
	}
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, srv_main, s) == 0;
}

static void srv_stop(struct srv *s)
{
	if (write(s->wake[1], "x", 1) != 1)
		perror("write");
	pthread_join(s->th, NULL);
	close(s->lfd);
	close(s->wake[0]);
	close(s->wake[1]);
}

/* ---- request decoding ---- */

static int unhex(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The percent-decoded value of query parameter key in target; NULL if it is
 * missing or given twice. */
static char *query_param(const char *target, const char *key)
{
	const char *q = strchr(target, '?');
	size_t klen = strlen(key);
	char *val = NULL;

	while (q && *q) {
		const char *p = q + 1, *amp = strchr(p, '&'), *vend = amp ? amp : p + strlen(p);

		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			char *d;

			if (val) {
				free(val);
				return NULL;
			}
			d = val = malloc((size_t)(vend - p) + 1);
			for (const char *c = p + klen + 1; c < vend; c++) {
				if (*c == '%' && c + 2 < vend + 1 && unhex(c[1]) >= 0 && unhex(c[2]) >= 0) {
					*d++ = (char)(unhex(c[1]) * 16 + unhex(c[2]));
					c += 2;
				} else {
					*d++ = *c == '+' ? ' ' : *c;
				}
			}
			*d = '\0';
		}
		q = amp;
	}
	return val;
}

static bool param_is(const struct req *r, const char *key, const char *want)
{
	char *v = query_param(r->target, key);
	bool ok = v && strcmp(v, want) == 0;

	if (!ok)
		fprintf(stderr, "  query %s: \"%s\", expected \"%s\" (in %s)\n", key, v ? v : "(missing)", want,
			r->target);
	free(v);
	return ok;
}

static long long param_int(const struct req *r, const char *key)
{
	char *v = query_param(r->target, key);
	long long n = v ? atoll(v) : -1;

	free(v);
	return n;
}

/* The "from" of the requests answered with status st, in arrival order;
 * returns how many. */
static int froms_with_status(struct srv *s, int st, long long *out, int max)
{
	int n = 0;

	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nreq && n < max; i++)
		if (s->reqs[i].status == st)
			out[n++] = param_int(&s->reqs[i], "from");
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* The arrival times of the requests from index first on; returns how many. */
static int times_from(struct srv *s, int first, double *out, int max)
{
	int n = 0;

	pthread_mutex_lock(&s->mu);
	for (int i = first; i < s->nreq && n < max; i++)
		out[n++] = s->reqs[i].t;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- spool helpers ---- */

static int count_suffix(const char *dir, const char *suffix, bool prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);

		if (prefix ? strncmp(de->d_name, suffix, sl) == 0 : l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int spooled(const char *dir)
{
	return count_suffix(dir, ".push", false);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		return;
	}
	fputs(text, f);
	fclose(f);
}

/* Polls the stats until cond holds (5 s at most). */
#define WAIT_STATS(p, st, cond)                                                                                        \
	({                                                                                                             \
		bool _ok = false;                                                                                      \
		for (int _i = 0; _i < 500 && !_ok; _i++) {                                                             \
			push_stats((p), &(st));                                                                        \
			_ok = (cond);                                                                                  \
			if (!_ok)                                                                                      \
				usleep(10000);                                                                         \
		}                                                                                                      \
		if (!_ok)                                                                                              \
			fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__, __LINE__, #cond);               \
		_ok;                                                                                                   \
	})

static char url[64];
static const char *const labels3[] = {"host=web1", "pid=4711", "weird key=va lue/\xc3\xbc", NULL};
static const char body_a[] = "main;f (x.py:1) 3\nmain 5\n";

static struct pp_push_item item(uint64_t from)
{
	static const char *const lab[] = {"pid=1", NULL};

	return (struct pp_push_item){.app = "t",
				     .labels = lab,
				     .from_s = from,
				     .until_s = from + 60,
				     .sample_rate = 99,
				     .body = body_a,
				     .body_len = sizeof(body_a) - 1};
}

static struct pp_pusher *new_pusher(const char *dir, uint64_t cap, double backoff, double timeout)
{
	struct pp_push_opts o = {.url = url,
				 .spool_dir = dir,
				 .spool_max_bytes = cap,
				 .timeout_s = timeout,
				 .backoff_first_s = backoff,
				 .backoff_max_s = backoff * 4};
	char why[256] = "";
	struct pp_pusher *p = push_new(&o, why, sizeof(why));

	if (!p)
		fprintf(stderr, "push_new: %s\n", why);
	CHECK(p != NULL);
	return p;
}

struct burst {
	struct pp_pusher *p;
	uint64_t first;
	int failed;
};

static void *enqueue_burst(void *arg)
{
	struct burst *b = arg;

	for (int i = 0; i < 20; i++) {
		struct pp_push_item it = item(b->first + (uint64_t)i);

		if (push_enqueue(b->p, &it) != 0)
			b->failed++;
	}
	return NULL;
}

int main(void)
{
	char top[] = "/tmp/test_push.XXXXXX", dir1[128], dir2[128], dir3[128], dir4[128], dir5[128], dir6[128],
	     path[256], why[256];
	struct srv s = {.status = 200, .mu = PTHREAD_MUTEX_INITIALIZER};
	struct pp_push_stats st;
	struct pp_pusher *p;
	long long froms[MAX_REQS];
	uint64_t failed, size1;
	double t0;
	int n, port;

	if (!mkdtemp(top) || !srv_start(&s, 0)) {
		perror("setup");
		return 1;
	}
	port = s.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	snprintf(dir1, sizeof(dir1), "%s/a/spool", top); /* a parent that does not exist yet */
	snprintf(dir2, sizeof(dir2), "%s/cap", top);
	snprintf(dir3, sizeof(dir3), "%s/hang", top);
	snprintf(dir4, sizeof(dir4), "%s/corrupt", top);
	snprintf(dir5, sizeof(dir5), "%s/backoff", top);
	snprintf(dir6, sizeof(dir6), "%s/nofile", top);

	/* 1. One item: one request with the right method, path, query and body. */
	p = new_pusher(dir1, 0, 0.05, 2);
	if (!p)
		return check_report("test_push");
	{
		struct stat sb;

		CHECK(stat(dir1, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	}
	{
		struct pp_push_item it = {.app = "my service",
					  .labels = labels3,
					  .from_s = 1700000000,
					  .until_s = 1700000060,
					  .sample_rate = 99,
					  .body = body_a,
					  .body_len = sizeof(body_a) - 1};

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
	}
	CHECK(WAIT_STATS(p, st, st.sent == 1));
	usleep(100000); /* room for a duplicate to show */
	CHECK_EQ_INT(srv_nreq(&s), 1);
	if (srv_nreq(&s) >= 1) {
		struct req *r = &s.reqs[0];

		if (CHECK_VERBOSE)
			fprintf(stderr, "request: %s %s\n", r->method, r->target);
		CHECK_EQ_STR(r->method, "POST");
		CHECK(strncmp(r->target, "/ingest?", 8) == 0);
		CHECK(!strchr(r->target, '{') && !strchr(r->target, '}') && !strchr(r->target, ','));
		CHECK(param_is(r, "name", "my_service{host=web1,pid=4711,weird_key=va_lue___}"));
		CHECK(param_is(r, "from", "1700000000"));
		CHECK(param_is(r, "until", "1700000060"));
		CHECK(param_is(r, "sampleRate", "99"));
		CHECK(param_is(r, "spyName", "pybpfprof"));
		CHECK(param_is(r, "units", "samples"));
		CHECK(param_is(r, "aggregationType", "sum"));
		CHECK(param_is(r, "format", "folded"));
		CHECK_EQ_STR(r->ctype, "text/plain");
		CHECK_EQ_INT(r->body_len, sizeof(body_a) - 1);
		CHECK_EQ_STR(r->body, body_a);
		CHECK_EQ_INT(r->status, 200);
	}
	push_stats(p, &st);
	CHECK_EQ_INT(st.queued, 1);
	CHECK_EQ_INT(st.pending, 0);
	CHECK_EQ_INT(st.pending_bytes, 0);
	CHECK_EQ_INT(st.dropped, 0);
	CHECK_EQ_INT(st.attempts_failed, 0);
	CHECK_EQ_INT(spooled(dir1), 0);

	/* 2. The server answers 503: items stay spooled, the head alone is
	 * retried, all arrive oldest first once it answers 200. */
	srv_set_status(&s, 503);
	{
		struct pp_push_item b = item(2000), c = item(3000);

		CHECK_EQ_INT(push_enqueue(p, &b), 0);
		CHECK_EQ_INT(push_enqueue(p, &c), 0);
	}
	CHECK(WAIT_STATS(p, st, st.attempts_failed >= 2));
	CHECK_EQ_INT(st.pending, 2);
	CHECK(st.pending_bytes > 2 * (sizeof(body_a) - 1));
	CHECK_EQ_INT(spooled(dir1), 2);
	n = froms_with_status(&s, 503, froms, MAX_REQS);
	CHECK(n >= 2);
	for (int i = 0; i < n; i++)
		CHECK_EQ_INT(froms[i], 2000);
	srv_set_status(&s, 200);
	CHECK(WAIT_STATS(p, st, st.sent == 3));
	n = froms_with_status(&s, 200, froms, MAX_REQS);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_INT(froms[1], 2000);
		CHECK_EQ_INT(froms[2], 3000);
	}
	CHECK_EQ_INT(st.pending, 0);
	CHECK_EQ_INT(spooled(dir1), 0);

	/* 3. Nobody listens: spooled until the server is back on its port. */
	srv_stop(&s);
	failed = st.attempts_failed;
	{
		struct pp_push_item d = item(4000);

		CHECK_EQ_INT(push_enqueue(p, &d), 0);
	}
	CHECK(WAIT_STATS(p, st, st.attempts_failed >= failed + 2));
	CHECK_EQ_INT(st.pending, 1);
	CHECK_EQ_INT(spooled(dir1), 1);
	CHECK(srv_start(&s, port));
	CHECK(WAIT_STATS(p, st, st.sent == 4));
	n = froms_with_status(&s, 200, froms, MAX_REQS);
	CHECK(n == 4 && froms[3] == 4000);

	/* 4. A 400 drops the item; a 429 is retried. */
	srv_set_status(&s, 400);
	{
		struct pp_push_item e = item(5000);

		CHECK_EQ_INT(push_enqueue(p, &e), 0);
	}
	CHECK(WAIT_STATS(p, st, st.dropped == 1));
	CHECK(st.dropped_bytes > sizeof(body_a) - 1 && st.dropped_bytes < sizeof(body_a) + 200);
	CHECK_EQ_INT(st.pending, 0);
	CHECK_EQ_INT(st.sent, 4);
	CHECK_EQ_INT(spooled(dir1), 0);
	srv_set_status(&s, 429);
	failed = st.attempts_failed;
	{
		struct pp_push_item f = item(6000);

		CHECK_EQ_INT(push_enqueue(p, &f), 0);
	}
	CHECK(WAIT_STATS(p, st, st.attempts_failed >= failed + 2));
	CHECK_EQ_INT(st.dropped, 1);
	CHECK_EQ_INT(st.pending, 1);
	srv_set_status(&s, 200);
	CHECK(WAIT_STATS(p, st, st.sent == 5 && st.pending == 0));

	/* 5. Two threads enqueue at once: every item arrives exactly once. */
	{
		struct burst b1 = {p, 10000, 0}, b2 = {p, 20000, 0};
		pthread_t t1, t2;
		int seen[40] = {0}, bad = 0;

		pthread_create(&t1, NULL, enqueue_burst, &b1);
		pthread_create(&t2, NULL, enqueue_burst, &b2);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		CHECK_EQ_INT(b1.failed + b2.failed, 0);
		CHECK(WAIT_STATS(p, st, st.sent == 45 && st.pending == 0));
		n = froms_with_status(&s, 200, froms, MAX_REQS);
		for (int i = 5; i < n; i++) {
			long long f = froms[i];
			int k = f >= 20000 ? 20 + (int)(f - 20000) : (int)(f - 10000);

			if (k < 0 || k >= 40)
				bad++;
			else
				seen[k]++;
		}
		CHECK_EQ_INT(bad, 0);
		for (int k = 0; k < 40; k++)
			CHECK_EQ_INT(seen[k], 1);
	}
	push_stats(p, &st);
	CHECK_EQ_INT(st.queued, 46);
	CHECK_EQ_INT(st.sent + st.dropped + st.pending, 46); /* every item accounted for once */
	t0 = now_s();
	push_free(p, 1.0);
	CHECK(now_s() - t0 < 0.5);

	/* 6. The disk cap drops the oldest, counted; a restart sends the rest. */
	srv_set_status(&s, 503);
	p = new_pusher(dir2, 0, 30, 2); /* after a first failure it waits 30 s */
	{
		struct pp_push_item it = item(1);

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
	}
	CHECK(WAIT_STATS(p, st, st.attempts_failed == 1));
	size1 = st.pending_bytes; /* the size of each spool file below */
	t0 = now_s();
	push_free(p, 0);
	CHECK(now_s() - t0 < 0.5);
	CHECK_EQ_INT(spooled(dir2), 1);

	p = new_pusher(dir2, 3 * size1 + size1 / 2, 30, 2);
	push_stats(p, &st);
	CHECK_EQ_INT(st.recovered, 1);
	CHECK_EQ_INT(st.pending, 1);
	CHECK(WAIT_STATS(p, st, st.attempts_failed == 1));
	for (uint64_t i = 2; i <= 5; i++) {
		struct pp_push_item it = item(i);

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
	}
	push_stats(p, &st);
	CHECK_EQ_INT(st.queued, 4);
	CHECK_EQ_INT(st.dropped, 2);
	CHECK_EQ_INT(st.dropped_bytes, 2 * size1);
	CHECK_EQ_INT(st.pending, 3);
	CHECK_EQ_INT(st.pending_bytes, 3 * size1);
	CHECK_EQ_INT(spooled(dir2), 3);
	push_free(p, 0);

	srv_set_status(&s, 200);
	n = srv_nreq(&s);
	p = new_pusher(dir2, 0, 0.05, 2);
	push_stats(p, &st);
	CHECK_EQ_INT(st.recovered, 3);
	CHECK(WAIT_STATS(p, st, st.sent == 3));
	push_free(p, 0);
	{
		long long got[MAX_REQS];
		int m = froms_with_status(&s, 200, got, MAX_REQS);

		CHECK_EQ_INT(srv_nreq(&s) - n, 3);
		CHECK(m >= 3 && got[m - 3] == 3 && got[m - 2] == 4 && got[m - 1] == 5);
	}
	CHECK_EQ_INT(spooled(dir2), 0);

	/* 7. A request that hangs: the cap spares the item being sent and
	 * drops the next oldest; push_free's grace cuts the request short, the
	 * item stays spooled and the next pusher sends it. Items 6, 7, 8 have
	 * the size of those in 6. */
	srv_set_status(&s, 0);
	n = srv_nreq(&s);
	p = new_pusher(dir3, 2 * size1 + size1 / 2, 0.05, 5);
	{
		struct pp_push_item it = item(6);

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
	}
	for (int i = 0; i < 500 && srv_nreq(&s) == n; i++)
		usleep(10000);
	CHECK_EQ_INT(srv_nreq(&s), n + 1);
	for (uint64_t i = 7; i <= 8; i++) {
		struct pp_push_item it = item(i);

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
	}
	push_stats(p, &st);
	CHECK_EQ_INT(st.pending_bytes, 3 * size1 - size1);
	CHECK_EQ_INT(st.dropped, 1);
	CHECK_EQ_INT(st.dropped_bytes, size1);
	t0 = now_s();
	push_free(p, 0.2);
	CHECK(now_s() - t0 < 2.5);
	CHECK_EQ_INT(spooled(dir3), 2);
	srv_set_status(&s, 200);
	p = new_pusher(dir3, 0, 0.05, 5);
	CHECK(WAIT_STATS(p, st, st.sent == 2));
	n = froms_with_status(&s, 200, froms, MAX_REQS);
	CHECK(n >= 2 && froms[n - 2] == 6 && froms[n - 1] == 8);
	push_free(p, 0);

	/* 8. Backoff: waits of 0.1, 0.2, 0.4, 0.4 ... s between the tries of
	 * a failing head; back to 0.1 s after a success. */
	srv_set_status(&s, 503);
	n = srv_nreq(&s);
	p = new_pusher(dir5, 0, 0.1, 2); /* max 0.4 s */
	{
		struct pp_push_item it = item(8000);
		double t[MAX_REQS], want[] = {0.1, 0.2, 0.4, 0.4, 0.4};
		int m;

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
		usleep(2000000);
		m = times_from(&s, n, t, MAX_REQS);
		if (CHECK_VERBOSE)
			for (int i = 1; i < m; i++)
				fprintf(stderr, "backoff: wait %d %.3f s\n", i, t[i] - t[i - 1]);
		/* tries at 0, 0.1, 0.3, 0.7, 1.1, 1.5, 1.9 s */
		CHECK(m >= 6 && m <= 8);
		for (int i = 1; i < m && i <= 5; i++)
			CHECK(t[i] - t[i - 1] >= want[i - 1] * 0.95 && t[i] - t[i - 1] < want[i - 1] + 0.25);
		srv_set_status(&s, 200);
		CHECK(WAIT_STATS(p, st, st.sent == 1));
		srv_set_status(&s, 503);
		n = srv_nreq(&s);
		it = item(8001);
		CHECK_EQ_INT(push_enqueue(p, &it), 0);
		usleep(250000);
		m = times_from(&s, n, t, MAX_REQS);
		CHECK(m >= 2);
		if (m >= 2)
			CHECK(t[1] - t[0] >= 0.095 && t[1] - t[0] < 0.3);
		/* push_free waits out the backoff within its grace and sends all */
		for (uint64_t i = 8002; i <= 8003; i++) {
			it = item(i);
			CHECK_EQ_INT(push_enqueue(p, &it), 0);
		}
		srv_set_status(&s, 200);
		t0 = now_s();
		push_free(p, 3);
		CHECK(now_s() - t0 < 1.5);
		CHECK_EQ_INT(spooled(dir5), 0);
		m = froms_with_status(&s, 200, froms, MAX_REQS);
		CHECK(m >= 3 && froms[m - 3] == 8001 && froms[m - 2] == 8002 && froms[m - 1] == 8003);
	}

	/* 8b. Out of file descriptors: the spool file cannot be opened, which
	 * says nothing against it; it is kept and sent later, not dropped. */
	srv_set_status(&s, 503);
	p = new_pusher(dir6, 0, 0.3, 2);
	{
		struct pp_push_item it = item(8500);
		struct rlimit rl, few;
		int fd = dup(0);

		CHECK_EQ_INT(push_enqueue(p, &it), 0);
		CHECK(WAIT_STATS(p, st, st.attempts_failed == 1));
		srv_set_status(&s, 200);
		getrlimit(RLIMIT_NOFILE, &rl);
		few = rl;
		few.rlim_cur = (rlim_t)fd; /* the lowest free descriptor: no open can succeed */
		close(fd);
		CHECK(setrlimit(RLIMIT_NOFILE, &few) == 0);
		CHECK(WAIT_STATS(p, st, st.attempts_failed == 2));
		setrlimit(RLIMIT_NOFILE, &rl);
		CHECK_EQ_INT(st.dropped, 0);
		CHECK_EQ_INT(st.pending, 1);
		CHECK(WAIT_STATS(p, st, st.sent == 1));
		CHECK_EQ_INT(st.dropped, 0);
	}
	push_free(p, 0);

	/* 9. Corrupt spool files and leftover temporaries are removed; a file
	 * written in the documented format by hand is sent. */
	mkdir(dir4, 0700);
	write_text(dir4, "00000000000000000001.push", "hello\n");
	write_text(dir4, "00000000000000000002.push",
		   "pybpfprof-push 1\napp a\nfrom 1\nuntil 2\nrate 99\nbody 100\nshort\n");
	write_text(dir4, ".tmp-00000000000000000003.push", "pybpfprof-push 1\n");
	write_text(dir4, "00000000000000000004.push",
		   "pybpfprof-push 1\napp a\nfrom 1\nuntil 2\nrate 99\nlabel a b=c\nbody 4\nx 1\n");
	write_text(dir4, "00000000000000000005.push",
		   "pybpfprof-push 1\napp a\nfrom 3\nuntil 2\nrate 99\nbody 4\nx 1\n");
	write_text(dir4, "00000000000000000006.push",
		   "pybpfprof-push 1\napp hand\nfrom 10\nuntil 20\nrate 7\nlabel k=v\nbody 4\nx 1\n");
	write_text(dir4, "00000000000000000007.push",
		   "pybpfprof-push 1\napp a\nfrom 1\nuntil 2\nrate 99\nlabel k=v w\nbody 4\nx 1\n");
	write_text(dir4, "notes.txt", "not ours\n");
	p = new_pusher(dir4, 0, 0.05, 2);
	push_stats(p, &st);
	CHECK_EQ_INT(st.recovered, 6);
	CHECK_EQ_INT(count_suffix(dir4, ".tmp-", true), 0);
	CHECK(WAIT_STATS(p, st, st.sent == 1 && st.dropped == 5));
	CHECK_EQ_INT(st.pending, 0);
	CHECK_EQ_INT(spooled(dir4), 0);
	CHECK_EQ_INT(count_suffix(dir4, "notes.txt", true), 1);
	n = srv_nreq(&s);
	if (n > 0) {
		struct req *r = &s.reqs[n - 1];

		CHECK(param_is(r, "name", "hand{k=v}"));
		CHECK(param_is(r, "sampleRate", "7"));
		CHECK(param_is(r, "from", "10"));
		CHECK_EQ_STR(r->body, "x 1\n");
	}

	/* 10. The spool is locked while in use. */
	{
		struct pp_push_opts o = {.url = url, .spool_dir = dir4};

		why[0] = '\0';
		CHECK(push_new(&o, why, sizeof(why)) == NULL);
		CHECK(strstr(why, "in use") != NULL);
	}

	/* 11. Malformed items and a failed write are refused and counted. */
	{
		static const char *const bad1[] = {"novalue", NULL}, *const bad2[] = {"=v", NULL},
					 *const bad3[] = {"k=", NULL};
		struct pp_push_item it = item(1);
		static char big[1000];
		struct rlimit rl, small;
		uint64_t dropped, dropped_bytes;

		push_stats(p, &st);
		dropped = st.dropped;
		dropped_bytes = st.dropped_bytes;
		it.labels = bad1;
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		it.labels = bad2;
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		it.labels = bad3;
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		it = item(1);
		it.app = "";
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		it = item(1);
		it.sample_rate = 0;
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		it = item(1);
		it.until_s = 0;
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		push_stats(p, &st);
		CHECK_EQ_INT(st.dropped, dropped + 6);
		CHECK_EQ_INT(st.dropped_bytes, dropped_bytes + 6 * (sizeof(body_a) - 1));

		/* a file size limit stands for a full disk */
		memset(big, 'x', sizeof(big));
		it = item(1);
		it.body = big;
		it.body_len = sizeof(big);
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &rl);
		small = rl;
		small.rlim_cur = 64;
		CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
		CHECK_EQ_INT(push_enqueue(p, &it), -1);
		setrlimit(RLIMIT_FSIZE, &rl);
		push_stats(p, &st);
		CHECK_EQ_INT(st.dropped, dropped + 7);
		CHECK_EQ_INT(st.dropped_bytes, dropped_bytes + 6 * (sizeof(body_a) - 1) + sizeof(big));
		CHECK_EQ_INT(st.queued, 0);
		CHECK_EQ_INT(spooled(dir4), 0);
		CHECK_EQ_INT(count_suffix(dir4, ".tmp-", true), 0);
		/* and the next one goes through */
		CHECK_EQ_INT(push_enqueue(p, &it), 0);
		CHECK(WAIT_STATS(p, st, st.sent == 2));
		/* 6 recovered + 8 handed over */
		CHECK_EQ_INT(st.sent + st.dropped + st.pending, 14);
	}
	push_free(p, 0);

	/* 12. Bad URLs and unusable spool directories. */
	{
		static const char *const bad_urls[] = {"not a url", "ftp://127.0.0.1/", "http://127.0.0.1:4040/?x=1",
						       "", "http://"};

		for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
			struct pp_push_opts o = {.url = bad_urls[i], .spool_dir = dir1};

			why[0] = '\0';
			CHECK(push_new(&o, why, sizeof(why)) == NULL);
			CHECK(why[0] != '\0');
			if (CHECK_VERBOSE)
				fprintf(stderr, "%s: %s\n", bad_urls[i], why);
		}
		snprintf(path, sizeof(path), "%s/file", top);
		write_text(top, "file", "x");
		snprintf(path, sizeof(path), "%s/file/spool", top);
		{
			struct pp_push_opts o = {.url = url, .spool_dir = path};

			why[0] = '\0';
			CHECK(push_new(&o, why, sizeof(why)) == NULL);
			CHECK(strstr(why, path) != NULL);
		}
	}

	srv_stop(&s);
	for (int i = 0; i < s.nreq; i++) {
		free(s.reqs[i].target);
		free(s.reqs[i].ctype);
		free(s.reqs[i].body);
	}
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_report("test_push");
}
