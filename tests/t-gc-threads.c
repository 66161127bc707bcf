/*
 * t-gc-threads: collection while many threads allocate, come and go, or
 * sit blocked in system calls.
 *
 *   - Eight threads allocate, free some blocks explicitly, drop others,
 *     and check their live blocks, while one thread collects in a loop and
 *     another keeps creating short-lived threads (plain pthread_create ones,
 *     registered by their first allocation, and goheap_pthread_create ones)
 *     that allocate, hand a block over and exit.  No live block may be lost
 *     or damaged, including those whose allocating thread has exited.
 *   - Threads blocked in read(), pthread_cond_wait, pthread_cond_timedwait,
 *     poll() and nanosleep() while the world is stopped again and again
 *     must see their calls complete normally: the right result, no EINTR,
 *     nanosleep sleeping its full time.  (Linux never restarts poll or
 *     nanosleep after a signal handler, SA_RESTART or not, so the library
 *     must take care of those itself.)  The same for short poll() and
 *     nanosleep() calls made in a loop while collections come every
 *     millisecond, so that stops also land just before or after a call.
 *   - Rounds of explicit frees and collections, separated by a barrier:
 *     after each collection every block kept must be intact.
 */
#include <goheap.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gcutil.h"
#include "tap.h"

/* ---- Blocks with patterns ---- */

struct blk {
	unsigned char *p;
	size_t n;
	uint64_t tag;
};

static size_t random_size(struct tap_rng *r)
{
	uint64_t k = tap_rng_range(r, 0, 99);
	if (k < 60)
		return (size_t)tap_rng_range(r, 1, 256);
	if (k < 90)
		return (size_t)tap_rng_range(r, 257, 4096);
	if (k < 98)
		return (size_t)tap_rng_range(r, 4097, 32768);
	return (size_t)tap_rng_range(r, 32769, 100000);
}

static struct blk blk_new(struct tap_rng *r, uint64_t tag)
{
	struct blk b = { NULL, random_size(r), tag };
	switch (tap_rng_range(r, 0, 2)) {
	case 0:
		b.p = goheap_malloc(b.n);
		break;
	case 1:
		b.p = goheap_calloc(1, b.n);
		break;
	default:
		b.p = goheap_malloc_atomic(b.n);
		break;
	}
	if (b.p != NULL)
		tap_fill(b.p, b.n, tag);
	return b;
}

/* The block is alive (for blocks of 16 bytes or more, which are never
 * tiny), and holds its pattern. */
static int blk_ok(const struct blk *b)
{
	if (b->p == NULL)
		return 1;
	if (b->n >= 16 && goheap_base(b->p) != b->p)
		return 0;
	return tap_check(b->p, b->n, b->tag) == SIZE_MAX;
}

/* ---- Allocating threads, thread churn and a collector ---- */

enum { NWORKERS = 8, LIVE = 128, NHAND = 64 };

struct worker {
	int id;
	size_t ops, frees, checks;
	int bad, nulls;
};

static size_t worker_ops;
static int stop_flag;

static void note_bad(struct worker *w, const struct blk *b, const char *when)
{
	if (w->bad++ < 3)
		diag("worker %d: block %p (%zu bytes, tag %#llx) damaged or "
		     "freed %s",
		     w->id, (void *)b->p, b->n, (unsigned long long)b->tag,
		     when);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tap_rng r = tap_rng_init(1000 + (uint64_t)w->id);
	struct blk live[LIVE];
	uint64_t serial = 0;
	memset(live, 0, sizeof live);
	for (size_t op = 0; op < worker_ops; op++) {
		size_t i = (size_t)tap_rng_range(&r, 0, LIVE - 1);
		if (live[i].p != NULL) {
			if (!blk_ok(&live[i]))
				note_bad(w, &live[i], "before replacement");
			if (tap_rng_range(&r, 0, 3) == 0) {
				goheap_free(live[i].p);
				w->frees++;
			}
		}
		live[i] = blk_new(&r, (uint64_t)w->id << 40 | ++serial);
		w->nulls += live[i].p == NULL;
		w->ops++;
		if (op % 256 == 255) {
			for (size_t k = 0; k < LIVE; k++)
				if (!blk_ok(&live[k]))
					note_bad(w, &live[k],
						 "in a periodic check");
			w->checks++;
		}
	}
	for (size_t k = 0; k < LIVE; k++) {
		if (!blk_ok(&live[k]))
			note_bad(w, &live[k], "at the end");
		if (k % 2)
			goheap_free(live[k].p);
	}
	memset(live, 0, sizeof live);
	gcu_clear_stack();
	return NULL;
}

/* Blocks made by threads that have exited since. */
static struct blk handoff[NHAND];
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static int handoff_bad;
static size_t handoff_next;

static void *ephemeral_main(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	struct tap_rng r = tap_rng_init(50000 + id);
	struct blk mine[16];
	int bad = 0;
	for (size_t k = 0; k < 16; k++)
		mine[k] = blk_new(&r, (uint64_t)id << 32 | k);
	for (size_t k = 0; k < 16; k++)
		bad += !blk_ok(&mine[k]);
	pthread_mutex_lock(&handoff_lock);
	struct blk *slot = &handoff[handoff_next++ % NHAND];
	if (!blk_ok(slot))
		bad++;
	*slot = mine[id % 16];
	handoff_bad += bad;
	pthread_mutex_unlock(&handoff_lock);
	return NULL;
}

static size_t spawned_plain, spawned_goheap;

static void *spawner_main(void *arg)
{
	(void)arg;
	for (uintptr_t id = 1; !__atomic_load_n(&stop_flag, __ATOMIC_SEQ_CST);
	     id++) {
		pthread_t t;
		int plain = id % 2;
		int rc = plain ? pthread_create(&t, NULL, ephemeral_main,
						(void *)id)
			       : goheap_pthread_create(&t, NULL, ephemeral_main,
						       (void *)id);
		if (rc != 0)
			continue;
		pthread_join(t, NULL);
		if (plain)
			spawned_plain++;
		else
			spawned_goheap++;
	}
	return NULL;
}

static size_t collections;

static void *collector_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_flag, __ATOMIC_SEQ_CST)) {
		goheap_gc();
		collections++;
		gcu_sleep_ms(1);
	}
	return NULL;
}

static void test_churn(void)
{
	static struct worker workers[NWORKERS];
	pthread_t wt[NWORKERS], spawner, collector;
	worker_ops = tap_scale(15000, 20);
	goheap_set_gc_percent(100);
	__atomic_store_n(&stop_flag, 0, __ATOMIC_SEQ_CST);
	uint32_t gc0 = gcu_numgc();
	int started = 0;
	ok(goheap_pthread_create(&collector, NULL, collector_main, NULL) == 0 &&
		   goheap_pthread_create(&spawner, NULL, spawner_main, NULL) ==
			   0,
	   "collector and spawner threads started");
	for (int i = 0; i < NWORKERS; i++) {
		workers[i].id = i;
		started += goheap_pthread_create(&wt[i], NULL, worker_main,
						 &workers[i]) == 0;
	}
	is_int(started, NWORKERS, "%d allocating threads started", NWORKERS);
	for (int i = 0; i < started; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
	pthread_join(spawner, NULL);
	pthread_join(collector, NULL);

	int bad = 0, nulls = 0;
	size_t ops = 0, frees = 0;
	for (int i = 0; i < NWORKERS; i++) {
		bad += workers[i].bad;
		nulls += workers[i].nulls;
		ops += workers[i].ops;
		frees += workers[i].frees;
	}
	diag("%zu allocations, %zu explicit frees, %zu collections by the "
	     "collector thread, "
	     "%u in all; %zu plain and %zu goheap threads came and went",
	     ops, frees, collections, gcu_numgc() - gc0, spawned_plain,
	     spawned_goheap);
	is_int(nulls, 0, "no allocation failed");
	is_int(bad, 0,
	       "no live block of an allocating thread was lost or damaged");
	cmp_uint(collections, >, 0, "the collector thread collected");
	cmp_uint(spawned_plain + spawned_goheap, >, 1,
		 "short-lived threads came and went");
	is_int(handoff_bad, 0,
	       "blocks of exited threads were intact when replaced");
	int intact = 0, held = 0;
	for (size_t k = 0; k < NHAND; k++) {
		held += handoff[k].p != NULL;
		intact += handoff[k].p != NULL && blk_ok(&handoff[k]);
	}
	is_int(intact, held,
	       "blocks of exited threads are intact at the end (%d held)",
	       held);
	memset(handoff, 0, sizeof handoff);
}

/* ---- Blocked system calls ---- */

struct blocked {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fds[2];
	pid_t tid;
	int ready; /* the thread is about to block */
	int done; /* the call returned */
	long rc;
	int err;
	int extra; /* call-specific result */
	uint64_t elapsed_ns;
	struct blk own; /* a block the thread keeps on its stack meanwhile */
	int own_ok;
};

static void blocked_init(struct blocked *b)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	if (pipe(b->fds) != 0)
		b->fds[0] = b->fds[1] = -1;
}

static void blocked_destroy(struct blocked *b)
{
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	if (b->fds[0] >= 0) {
		close(b->fds[0]);
		close(b->fds[1]);
	}
}

/* Set up the thread's own block and announce that it will block now. */
static void blocked_enter(struct blocked *b, uint64_t tag)
{
	struct tap_rng r = tap_rng_init(tag);
	b->own = blk_new(&r, tag);
	b->tid = (pid_t)syscall(SYS_gettid);
	__atomic_store_n(&b->ready, 1, __ATOMIC_SEQ_CST);
}

static void blocked_leave(struct blocked *b)
{
	b->own_ok = blk_ok(&b->own);
	__atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
}

/* Wait until the thread sleeps in the kernel: its state in
 * /proc/self/task/TID/stat is S.  0 if it never did within the timeout. */
static int wait_sleeping(const struct blocked *b)
{
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(3000) * 1000000u;
	while (!__atomic_load_n(&b->ready, __ATOMIC_SEQ_CST) &&
	       gcu_now_ns() < end)
		gcu_sleep_ms(1);
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)b->tid);
	while (gcu_now_ns() < end) {
		FILE *f = fopen(path, "r");
		size_t n = 0;
		if (f != NULL) {
			n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		const char *paren = strrchr(buf, ')');
		if (paren != NULL && paren[1] == ' ' && paren[2] == 'S')
			return 1;
		gcu_sleep_ms(1);
	}
	return 0;
}

/* Collections while the thread stays blocked: n of them, a few
 * milliseconds apart so that each signal finds it asleep. */
/* n collections, each of which must stop the blocked thread: none may be
 * skipped (under ThreadSanitizer, a thread in read(2) is stopped by the
 * nudge signal). */
static void collect_while_blocked(int n)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	uint32_t before = m.numgc;
	for (int i = 0; i < n; i++) {
		goheap_gc();
		gcu_sleep_ms(3);
	}
	goheap_read_memstats(&m);
	ok(m.numgc - before >= (uint32_t)n, "all %d collections ran while it was blocked (%u)", n,
	   m.numgc - before);
}

static int blocked_collections(void)
{
	return (int)tap_scale(40, 4);
}

static void *read_main(void *arg)
{
	struct blocked *b = arg;
	unsigned char buf[64];
	memset(buf, 0, sizeof buf);
	blocked_enter(b, 0xaa01);
	errno = 0;
	b->rc = read(b->fds[0], buf, sizeof buf);
	b->err = errno;
	b->extra = tap_check(buf, sizeof buf, 0xfeed) == SIZE_MAX;
	blocked_leave(b);
	return NULL;
}

static void test_blocked_read(void)
{
	static struct blocked b;
	pthread_t t;
	blocked_init(&b);
	if (!ok(b.fds[0] >= 0 &&
			goheap_pthread_create(&t, NULL, read_main, &b) == 0,
		"a thread blocks in read() on a pipe"))
		return;
	ok(wait_sleeping(&b), "it sleeps in the kernel");
	collect_while_blocked(blocked_collections());
	unsigned char msg[64];
	tap_fill(msg, sizeof msg, 0xfeed);
	ssize_t w = write(b.fds[1], msg, sizeof msg);
	pthread_join(t, NULL);
	is_int(w, 64, "write 64 bytes after %d collections",
	       blocked_collections());
	is_int(b.rc, 64, "read() returns the 64 bytes written");
	if (b.rc < 0)
		diag("read() failed: %s", strerror(b.err));
	ok(b.extra, "... with the right contents");
	ok(b.own_ok, "the blocked thread's own block is intact");
	blocked_destroy(&b);
}

static int cond_flag;

static void *cond_main(void *arg)
{
	struct blocked *b = arg;
	int bad = 0, wakeups = 0;
	pthread_mutex_lock(&b->lock);
	blocked_enter(b, 0xaa02);
	while (!cond_flag) {
		int rc = pthread_cond_wait(&b->cond, &b->lock);
		if (rc != 0 && bad == 0)
			bad = rc;
		wakeups++;
	}
	pthread_mutex_unlock(&b->lock);
	b->rc = bad;
	b->extra = wakeups;
	blocked_leave(b);
	return NULL;
}

static void test_blocked_cond_wait(void)
{
	static struct blocked b;
	pthread_t t;
	blocked_init(&b);
	cond_flag = 0;
	if (!ok(goheap_pthread_create(&t, NULL, cond_main, &b) == 0,
		"a thread blocks in pthread_cond_wait"))
		return;
	ok(wait_sleeping(&b), "it sleeps in the kernel");
	collect_while_blocked(blocked_collections());
	pthread_mutex_lock(&b.lock);
	cond_flag = 1;
	pthread_cond_signal(&b.cond);
	pthread_mutex_unlock(&b.lock);
	pthread_join(t, NULL);
	is_int(b.rc, 0, "pthread_cond_wait returned 0 every time");
	diag("%d wakeup(s) for one signal", b.extra);
	ok(b.own_ok, "the blocked thread's own block is intact");
	blocked_destroy(&b);
}

static void *timedwait_main(void *arg)
{
	struct blocked *b = arg;
	struct timespec until;
	int rc = 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&b->lock);
	blocked_enter(b, 0xaa03);
	while (!cond_flag && rc == 0)
		rc = pthread_cond_timedwait(&b->cond, &b->lock, &until);
	b->extra = cond_flag;
	pthread_mutex_unlock(&b->lock);
	b->rc = rc;
	blocked_leave(b);
	return NULL;
}

static void test_blocked_cond_timedwait(void)
{
	static struct blocked b;
	pthread_t t;
	blocked_init(&b);
	cond_flag = 0;
	if (!ok(goheap_pthread_create(&t, NULL, timedwait_main, &b) == 0,
		"a thread blocks in pthread_cond_timedwait (60 s)"))
		return;
	ok(wait_sleeping(&b), "it sleeps in the kernel");
	collect_while_blocked(blocked_collections());
	pthread_mutex_lock(&b.lock);
	cond_flag = 1;
	pthread_cond_signal(&b.cond);
	pthread_mutex_unlock(&b.lock);
	pthread_join(t, NULL);
	is_int(b.rc, 0,
	       "pthread_cond_timedwait returned 0 (no EINTR, no ETIMEDOUT)");
	ok(b.extra, "... having seen the signal");
	ok(b.own_ok, "the blocked thread's own block is intact");
	blocked_destroy(&b);
}

static void *poll_main(void *arg)
{
	struct blocked *b = arg;
	struct pollfd pfd = { b->fds[0], POLLIN, 0 };
	blocked_enter(b, 0xaa04);
	uint64_t t0 = gcu_now_ns();
	errno = 0;
	b->rc = poll(&pfd, 1, 5000);
	b->err = errno;
	b->elapsed_ns = gcu_now_ns() - t0;
	b->extra = pfd.revents;
	blocked_leave(b);
	return NULL;
}

static void test_blocked_poll(void)
{
	static struct blocked b;
	pthread_t t;
	blocked_init(&b);
	if (!ok(b.fds[0] >= 0 &&
			goheap_pthread_create(&t, NULL, poll_main, &b) == 0,
		"a thread blocks in poll() on a pipe, 5 s timeout"))
		return;
	ok(wait_sleeping(&b), "it sleeps in the kernel");
	/* Stop while the thread polls, until its call returns (it should
	 * not) or enough collections have passed. */
	for (int i = 0; i < blocked_collections() &&
			!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST);
	     i++) {
		goheap_gc();
		gcu_sleep_ms(3);
	}
	char c = 'x';
	ssize_t w = write(b.fds[1], &c, 1);
	pthread_join(t, NULL);
	is_int(w, 1, "write a byte after the collections");
	is_int(b.rc, 1, "poll() returns 1: the pipe is readable");
	if (b.rc < 0)
		diag("poll() failed with %s after %.1f ms: a collection's stop "
		     "signal "
		     "interrupted it and the call was not restarted",
		     b.err == EINTR ? "EINTR" : strerror(b.err),
		     (double)b.elapsed_ns / 1e6);
	ok(b.extra & POLLIN, "... with POLLIN");
	ok(b.own_ok, "the blocked thread's own block is intact");
	blocked_destroy(&b);
}

static void *nanosleep_main(void *arg)
{
	struct blocked *b = arg;
	struct timespec ts = { 0, 300 * 1000000L }, rem = { 0, 0 };
	blocked_enter(b, 0xaa05);
	uint64_t t0 = gcu_now_ns();
	errno = 0;
	b->rc = nanosleep(&ts, &rem);
	b->err = errno;
	b->elapsed_ns = gcu_now_ns() - t0;
	blocked_leave(b);
	return NULL;
}

static void test_blocked_nanosleep(void)
{
	static struct blocked b;
	pthread_t t;
	blocked_init(&b);
	if (!ok(goheap_pthread_create(&t, NULL, nanosleep_main, &b) == 0,
		"a thread sleeps 300 ms in nanosleep()"))
		return;
	ok(wait_sleeping(&b), "it sleeps in the kernel");
	int n = 0;
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(2000) * 1000000u;
	while (!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST) &&
	       gcu_now_ns() < end) {
		goheap_gc();
		n++;
		gcu_sleep_ms(5);
	}
	pthread_join(t, NULL);
	diag("%d collections while it slept", n);
	is_int(b.rc, 0, "nanosleep() returns 0");
	if (b.rc != 0)
		diag("nanosleep() failed with %s after %.1f ms: a collection's "
		     "stop signal "
		     "interrupted it and the call was not restarted",
		     b.err == EINTR ? "EINTR" : strerror(b.err),
		     (double)b.elapsed_ns / 1e6);
	cmp_uint(b.elapsed_ns, >=, 300 * 1000000u,
		 "... after sleeping at least 300 ms");
	ok(b.own_ok, "the sleeping thread's own block is intact");
	blocked_destroy(&b);
}

/* Short calls in a loop while collections come every millisecond: each
 * stop may reach the thread just before, during or just after a call. */
struct looper {
	int use_poll;
	int stop;
	size_t calls, eintr, other_errors, short_sleeps;
};

static void *looper_main(void *arg)
{
	struct looper *l = arg;
	int fds[2];
	if (pipe(fds) != 0)
		return NULL;
	struct pollfd pfd = { fds[0], POLLIN, 0 };
	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
		int rc;
		uint64_t t0 = gcu_now_ns();
		errno = 0;
		if (l->use_poll) {
			rc = poll(&pfd, 1, 1); /* nothing to read: times out */
		} else {
			struct timespec ts = { 0, 200000 };
			rc = nanosleep(&ts, NULL);
			if (rc == 0 && gcu_now_ns() - t0 < 200000)
				l->short_sleeps++;
		}
		if (rc < 0 && errno == EINTR)
			l->eintr++;
		else if (rc < 0)
			l->other_errors++;
		l->calls++;
	}
	close(fds[0]);
	close(fds[1]);
	return NULL;
}

static void run_looper(int use_poll)
{
	static struct looper l;
	const char *name = use_poll ? "poll(1 ms)" : "nanosleep(200 us)";
	pthread_t t;
	memset(&l, 0, sizeof l);
	l.use_poll = use_poll;
	if (!ok(goheap_pthread_create(&t, NULL, looper_main, &l) == 0,
		"a thread calls %s in a loop", name))
		return;
	int n = (int)tap_scale(500, 10);
	for (int i = 0; i < n; i++) {
		goheap_gc();
		gcu_sleep_ms(1);
	}
	__atomic_store_n(&l.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	diag("%zu calls of %s during %d collections: %zu failed with EINTR",
	     l.calls, name, n, l.eintr);
	cmp_uint(l.calls, >, 0, "%s was called", name);
	is_uint(l.eintr, 0, "no %s call failed with EINTR", name);
	is_uint(l.other_errors, 0, "no %s call failed otherwise", name);
	if (!use_poll)
		is_uint(l.short_sleeps, 0,
			"every successful nanosleep slept its full time");
}

static void test_poll_loop(void)
{
	run_looper(1);
}

static void test_nanosleep_loop(void)
{
	run_looper(0);
}

/* ---- Rounds of explicit frees and collections ---- */

enum { NROUNDERS = 4, PER_ROUND = 200, KEPT = 64 };

struct rounder {
	int id;
	int bad;
	size_t freed, kept_checked;
};

static pthread_barrier_t round_barrier;
static size_t nrounds;

static void *rounder_main(void *arg)
{
	struct rounder *w = arg;
	struct tap_rng r = tap_rng_init(7000 + (uint64_t)w->id);
	struct blk kept[KEPT];
	struct blk fresh[PER_ROUND];
	size_t next_kept = 0;
	uint64_t serial = 0;
	memset(kept, 0, sizeof kept);
	for (size_t round = 0; round < nrounds; round++) {
		for (size_t i = 0; i < PER_ROUND; i++)
			fresh[i] = blk_new(&r, (uint64_t)(w->id + 1) << 40 |
						       ++serial);
		for (size_t i = 0; i < PER_ROUND; i++) {
			if (!blk_ok(&fresh[i]) && w->bad++ < 3)
				diag("rounder %d: fresh block %p damaged",
				     w->id, (void *)fresh[i].p);
			if (i % 2 == 0) {
				goheap_free(
					fresh[i].p); /* half freed by hand */
				w->freed++;
			} else if (i % 4 == 3) {
				kept[next_kept++ % KEPT] =
					fresh[i]; /* a quarter kept */
			}
			/* and a quarter left to the collector */
		}
		memset(fresh, 0, sizeof fresh);
		pthread_barrier_wait(
			&round_barrier); /* the main thread collects */
		pthread_barrier_wait(&round_barrier);
		for (size_t k = 0; k < KEPT; k++) {
			if (!blk_ok(&kept[k]) && w->bad++ < 3)
				diag("rounder %d, round %zu: kept block %p "
				     "(%zu bytes) damaged or freed",
				     w->id, round, (void *)kept[k].p,
				     kept[k].n);
			w->kept_checked += kept[k].p != NULL;
		}
	}
	memset(kept, 0, sizeof kept);
	gcu_clear_stack();
	return NULL;
}

static void test_free_and_collect(void)
{
	static struct rounder rs[NROUNDERS];
	pthread_t t[NROUNDERS];
	nrounds = tap_scale(40, 8);
	pthread_barrier_init(&round_barrier, NULL, NROUNDERS + 1);
	int started = 0;
	for (int i = 0; i < NROUNDERS; i++) {
		rs[i].id = i;
		if (goheap_pthread_create(&t[i], NULL, rounder_main, &rs[i]) !=
		    0)
			break;
		started++;
	}
	if (!is_int(started, NROUNDERS, "%d threads started", NROUNDERS)) {
		/* They would wait forever at the barrier. */
		bail_out("cannot start the threads");
	}
	uint32_t gc0 = gcu_numgc();
	for (size_t round = 0; round < nrounds; round++) {
		pthread_barrier_wait(&round_barrier);
		gcu_collect(1);
		pthread_barrier_wait(&round_barrier);
	}
	for (int i = 0; i < NROUNDERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&round_barrier);
	int bad = 0;
	size_t freed = 0, checked = 0;
	for (int i = 0; i < NROUNDERS; i++) {
		bad += rs[i].bad;
		freed += rs[i].freed;
		checked += rs[i].kept_checked;
	}
	diag("%zu rounds, %zu blocks freed by hand, %zu kept blocks checked, "
	     "%u collections",
	     nrounds, freed, checked, gcu_numgc() - gc0);
	cmp_uint(gcu_numgc() - gc0, >=, nrounds, "a collection every round");
	is_int(bad, 0, "every kept block intact after every collection");
	gcu_collect(2);
	uint64_t left = gcu_heap_alloc();
	cmp_uint(left, <, 2u << 20,
		 "with the threads gone, the heap is almost empty (%llu)",
		 (unsigned long long)left);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_churn),
	TAP_TEST(test_blocked_read),
	TAP_TEST(test_blocked_cond_wait),
	TAP_TEST(test_blocked_cond_timedwait),
	TAP_TEST(test_blocked_poll),
	TAP_TEST(test_blocked_nanosleep),
	TAP_TEST(test_poll_loop),
	TAP_TEST(test_nanosleep_loop),
	TAP_TEST(test_free_and_collect),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	gcu_finish();
	return status;
}
