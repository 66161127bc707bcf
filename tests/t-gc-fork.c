/*
 * t-gc-fork: the heap and its collector in the child of fork().
 *
 * The child of fork() has one thread and copies of every lock and list.
 * In each test the child must find the parent's live data intact, allocate,
 * collect (several times), run finalizers, and free what it drops; it
 * exits with a bit mask of what went wrong (0 for nothing), which the
 * parent checks.  The child forks from a quiet parent; from a parent whose
 * other threads allocate and collect meanwhile; from a thread other than
 * the main one, registered or not; from a child; and with finalizers
 * queued but not run at the time of the fork.  The parent's heap must be
 * unaffected by what its children did.
 *
 * Children print nothing on stdout (the TAP stream is the parent's); they
 * say what failed on stderr, with write(), which takes no lock that a
 * thread of the parent might have held at the fork.
 */
#include <goheap.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcutil.h"
#include "tap.h"

enum { N = 100, NLIVE = 1000, NNEW = 2000 };

/* ---- The parent's live data: a list rooted in a global ---- */

struct node {
	struct node *next;
	uint64_t tag;
	size_t size;
};

static struct node *volatile live_head;
static size_t live_count;

static void live_build(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < NLIVE; i++) {
		size_t n = sizeof(struct node) + (i * 131) % 2000 +
			   (i % 50 == 0 ? 40000 : 0);
		struct node *l = goheap_malloc(n);
		if (l == NULL)
			return;
		l->tag = 0xf0000 + i;
		l->size = n;
		tap_fill_range(l, sizeof *l, n, l->tag);
		l->next = live_head;
		live_head = l;
		live_count++;
	}
}

static GCU_NOINLINE size_t live_check(void)
{
	size_t n = 0;
	for (const struct node *l = live_head; l != NULL; l = l->next) {
		if (goheap_base(l) != l ||
		    tap_check_range(l, sizeof *l, l->size, l->tag) != SIZE_MAX)
			break;
		n++;
	}
	return n;
}

static int live_setup(void)
{
	if (live_head == NULL)
		gcu_call(live_build, NULL);
	return live_check() == NLIVE;
}

/* ---- What every child does ---- */

enum {
	BAD_PARENT_DATA = 1, /* the parent's data was not intact in the child */
	BAD_ALLOC = 2, /* the child could not allocate */
	BAD_AFTER_GC = 4, /* data damaged or lost by the child's collections */
	BAD_FINALIZERS = 8, /* dropped blocks were not finalized */
	BAD_NO_GC = 16, /* the child's collections did not count */
	BAD_NOT_FREED = 32, /* what the child dropped was not freed */
	BAD_FIN_SEMANTICS = 64 /* a finalizer ran twice, or saw a wrong block */
};

static const char *const bad_names[] = {
	"parent's data damaged",
	"allocation failed",
	"data damaged by collections",
	"dropped blocks not finalized",
	"numgc did not grow",
	"dropped data not freed",
	"finalizer ran twice or on a damaged block",
};

/* Say something on stderr with no lock taken. */
static void child_say(const char *fmt, ...) TAP_PRINTF(1, 2);
static void child_say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
	(void)w;
}

static struct blkref {
	void *p;
	size_t n;
	uint64_t tag;
} child_new[NNEW];
static struct gcu_watch child_w[N];
static uint64_t child_bytes;

static void child_alloc(void *arg)
{
	uint64_t salt = *(const uint64_t *)arg;
	struct tap_rng r = tap_rng_init(salt);
	child_bytes = 0;
	for (size_t i = 0; i < NNEW; i++) {
		size_t n = (size_t)tap_rng_range(&r, 16,
						 i % 100 == 0 ? 60000 : 2000);
		unsigned char *p =
			i % 3 ? goheap_malloc(n) : goheap_malloc_atomic(n);
		child_new[i].p = p;
		child_new[i].n = n;
		child_new[i].tag = salt << 20 | i;
		if (p != NULL) {
			tap_fill(p, n, child_new[i].tag);
			child_bytes += goheap_usable_size(p);
		}
		/* and garbage */
		unsigned char *g = goheap_malloc(n);
		if (g != NULL)
			g[0] = 1;
	}
}

static GCU_NOINLINE size_t child_check(void)
{
	size_t n = 0;
	for (size_t i = 0; i < NNEW; i++) {
		const struct blkref *b = &child_new[i];
		n += b->p != NULL && goheap_base(b->p) == b->p &&
		     tap_check(b->p, b->n, b->tag) == SIZE_MAX;
	}
	return n;
}

static void child_drop(void *arg)
{
	(void)arg;
	memset(child_new, 0, sizeof child_new);
}

static void child_watch_make(void *arg)
{
	uint64_t salt = *(const uint64_t *)arg;
	for (size_t i = 0; i < N; i++)
		gcu_watch_new(&child_w[i], 16 + (i * 97) % 5000, i % 2,
			      salt << 20 | 0x80000 | i);
}

/* The child's whole test; returns the BAD_* bits. */
static int child_work(uint64_t salt)
{
	int bad = 0;
	if (live_check() != live_count) {
		child_say("child %d: %zu of %zu parent blocks intact",
			  (int)getpid(), live_check(), live_count);
		bad |= BAD_PARENT_DATA;
	}
	gcu_call(child_alloc, &salt);
	size_t made = 0;
	for (size_t i = 0; i < NNEW; i++)
		made += child_new[i].p != NULL;
	if (made != NNEW)
		bad |= BAD_ALLOC;

	uint32_t gc0 = gcu_numgc();
	gcu_collect(2);
	if (gcu_numgc() < gc0 + 2)
		bad |= BAD_NO_GC;
	size_t intact = child_check();
	if (live_check() != live_count || intact != made) {
		child_say("child %d: after collecting, %zu of %zu parent and "
			  "%zu of %zu own blocks "
			  "intact",
			  (int)getpid(), live_check(), live_count, intact,
			  made);
		bad |= BAD_AFTER_GC;
	}

	gcu_call(child_watch_make, &salt);
	int got = gcu_collect_until(child_w, N, GCU_MOSTLY(N), 10000);
	if (got < GCU_MOSTLY(N)) {
		child_say("child %d: %d of %d dropped blocks finalized",
			  (int)getpid(), got, N);
		bad |= BAD_FINALIZERS;
	}
	struct gcu_tally t = gcu_tally(child_w, N);
	if (t.twice + t.wrong + t.damaged)
		bad |= BAD_FIN_SEMANTICS;

	uint64_t before = gcu_heap_alloc();
	gcu_call(child_drop, NULL);
	gcu_collect(2);
	uint64_t after = gcu_heap_alloc();
	if (before < after || before - after < child_bytes - child_bytes / 10) {
		child_say(
			"child %d: dropped %llu bytes, heap_alloc %llu -> %llu",
			(int)getpid(), (unsigned long long)child_bytes,
			(unsigned long long)before, (unsigned long long)after);
		bad |= BAD_NOT_FREED;
	}
	if (live_check() != live_count)
		bad |= BAD_AFTER_GC;
	gcu_finish();
	return bad;
}

/* ThreadSanitizer does not support threads started in the child of a
 * threaded process, and a child that goes on using the heap starts the
 * collector's: there the parent's side is tested, the child's skipped. */
#define CHILD_UNSUPPORTED "ThreadSanitizer does not run threads in a forked child (goheap(7))"

/* The result of a child that allocated, collected and finalized. */
static void child_result(int status, const char *what)
{
	if (tap_under_tsan())
		skip(CHILD_UNSUPPORTED, "%s: the child allocated, collected and finalized", what);
	else
		is_int(status, 0, "%s: the child allocated, collected and finalized", what);
}

/* Fork; the child runs fn(arg) and exits with its result.  Returns the
 * child's pid, or -1. */
static pid_t fork_child(int (*fn)(uint64_t), uint64_t salt)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (tap_under_tsan())
			_exit(0);
		/* A child that hangs is killed rather than hanging the test. */
		alarm(tap_under_valgrind() ? 600 : 60);
		_exit(fn(salt));
	}
	return pid;
}

/* Wait for the child; its exit status, or a diagnostic and -1. */
static int reap(pid_t pid)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid) {
		diag("waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(st)) {
		diag("child %d killed by signal %d%s", (int)pid, WTERMSIG(st),
		     WTERMSIG(st) == SIGALRM ? " (it hung)" : "");
		return -1;
	}
	int code = WEXITSTATUS(st);
	if (code == 99)
		diag("child %d: exit status 99 (Valgrind found errors)",
		     (int)pid);
	else
		for (size_t b = 0; b < sizeof bad_names / sizeof bad_names[0];
		     b++)
			if (code & (1 << b))
				diag("child %d: %s", (int)pid, bad_names[b]);
	return code;
}

static void check_child(pid_t pid, const char *what)
{
	if (!ok(pid > 0, "%s: fork", what))
		return;
	child_result(reap(pid), what);
}

/* ---- The tests ---- */

static void test_fork_quiet(void)
{
	if (!ok(live_setup(), "parent's live data"))
		return;
	gcu_collect(1);
	check_child(fork_child(child_work, 1), "fork from a quiet parent");
	gcu_collect(2);
	is_uint(live_check(), live_count,
		"the parent's data is intact afterwards");
}

/* Finalizers pending at the fork: the parent's finalizer thread is held
 * at a gate in the first one it runs, the others stay queued.  The child
 * has no finalizer thread of the parent: it must run them itself (or
 * start its own). */
static struct gcu_watch pend_w[N];
static int gate_open, gate_waiting;

/* The gate is a flag polled with sleeps, not a condition variable: the
 * child gets a copy of whatever state the parent's waiting thread left in
 * one, and its own finalizer thread may arrive at the gate first. */
static void gated_fin(void *obj, void *arg)
{
	__atomic_add_fetch(&gate_waiting, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&gate_open, __ATOMIC_SEQ_CST))
		gcu_sleep_ms(1);
	gcu_watch_fin(obj, arg);
}

static void pend_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		void *p =
			gcu_watch_new(&pend_w[i], 64 + i * 16, 0, 0xe0000 + i);
		if (p != NULL) {
			goheap_set_finalizer(p, NULL, NULL);
			goheap_set_finalizer(p, gated_fin, &pend_w[i]);
		}
	}
}

static int child_pending(uint64_t salt)
{
	int bad = 0;
	__atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
	/* The queued ones run here; the one the parent's thread was running
	 * is the parent's business. */
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(5000) * 1000000u;
	while (gcu_tally(pend_w, N).finalized < GCU_MOSTLY(N - 1) &&
	       gcu_now_ns() < end) {
		/* Collect too: a block the parent's collection kept by a stale
		 * pointer is queued only now. */
		gcu_collect(1);
		goheap_run_finalizers();
		gcu_sleep_ms(2);
	}
	struct gcu_tally t = gcu_tally(pend_w, N);
	if (t.finalized < GCU_MOSTLY(N - 1)) {
		child_say("child %d: %d queued finalizers ran (want %d)",
			  (int)getpid(), t.finalized, GCU_MOSTLY(N - 1));
		bad |= BAD_FINALIZERS;
	}
	if (t.twice + t.wrong + t.damaged)
		bad |= BAD_FIN_SEMANTICS;
	return bad | child_work(salt);
}

static void test_fork_pending_finalizers(void)
{
	if (!ok(live_setup(), "parent's live data"))
		return;
	gcu_call(pend_make, NULL);
	gcu_collect(1); /* queues them all */
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(2000) * 1000000u;
	while (__atomic_load_n(&gate_waiting, __ATOMIC_SEQ_CST) == 0 &&
	       gcu_now_ns() < end)
		gcu_sleep_ms(1);
	int held = __atomic_load_n(&gate_waiting, __ATOMIC_SEQ_CST);
	if (!ok(held == 1,
		"the parent's finalizer thread waits in the first finalizer"))
		return;
	is_int(gcu_tally(pend_w, N).finalized, 0,
	       "no finalizer has finished at the fork");
	check_child(fork_child(child_pending, 2),
		    "fork with 99 finalizers queued and one running");

	/* The parent runs its own. */
	__atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
	int got = gcu_collect_until(pend_w, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N),
		"the parent ran its finalizers, unaffected by the child's "
		"(%d of %d)",
		got, N);
	struct gcu_tally t = gcu_tally(pend_w, N);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "each once, on its block, intact");
}

/* Fork while other threads allocate and collect. */
enum { NBUSY = 4 };

struct busy {
	int id;
	int plain;
	int bad;
	size_t ops;
};

static int busy_stop;

static void *busy_main(void *arg)
{
	struct busy *b = arg;
	struct tap_rng r = tap_rng_init(3000 + (uint64_t)b->id);
	struct blkref mine[64];
	uint64_t serial = 0;
	memset(mine, 0, sizeof mine);
	while (!__atomic_load_n(&busy_stop, __ATOMIC_SEQ_CST)) {
		size_t i = (size_t)tap_rng_range(&r, 0, 63);
		if (mine[i].p != NULL &&
		    (goheap_base(mine[i].p) != mine[i].p ||
		     tap_check(mine[i].p, mine[i].n, mine[i].tag) != SIZE_MAX))
			b->bad++;
		size_t n = (size_t)tap_rng_range(&r, 16, i == 0 ? 50000 : 3000);
		mine[i].p = goheap_malloc(n);
		mine[i].n = n;
		mine[i].tag = (uint64_t)b->id << 40 | ++serial;
		if (mine[i].p != NULL)
			tap_fill(mine[i].p, n, mine[i].tag);
		if (b->id == 0 && serial % 500 == 0)
			goheap_gc();
		b->ops++;
	}
	memset(mine, 0, sizeof mine);
	gcu_clear_stack();
	return NULL;
}

static void test_fork_busy(void)
{
	static struct busy busy[NBUSY + 1];
	pthread_t t[NBUSY + 1];
	if (!ok(live_setup(), "parent's live data"))
		return;
	__atomic_store_n(&busy_stop, 0, __ATOMIC_SEQ_CST);
	int started = 0;
	for (int i = 0; i <= NBUSY; i++) {
		busy[i].id = i;
		busy[i].plain = i == NBUSY;
		int rc = busy[i].plain
				 ? pthread_create(&t[i], NULL, busy_main,
						  &busy[i])
				 : goheap_pthread_create(&t[i], NULL, busy_main,
							 &busy[i]);
		if (rc != 0)
			break;
		started++;
	}
	is_int(started, NBUSY + 1,
	       "%d goheap and 1 plain thread allocate and collect", NBUSY);
	int nforks = (int)tap_scale(6, 3);
	for (int k = 0; k < nforks; k++) {
		gcu_sleep_ms(20);
		char what[64];
		snprintf(what, sizeof what, "fork %d of %d among busy threads",
			 k + 1, nforks);
		check_child(fork_child(child_work, 10 + (uint64_t)k), what);
	}
	__atomic_store_n(&busy_stop, 1, __ATOMIC_SEQ_CST);
	int bad = 0;
	size_t ops = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		bad += busy[i].bad;
		ops += busy[i].ops;
	}
	diag("%zu allocations by the busy threads", ops);
	is_int(bad, 0, "the busy threads' blocks stayed intact in the parent");
	is_uint(live_check(), live_count, "the parent's data is intact");
}

/* Fork from a thread other than the main one. */
struct forker {
	int register_it;
	pid_t pid;
	int status;
};

static void *forker_main(void *arg)
{
	struct forker *f = arg;
	if (f->register_it)
		goheap_register_thread();
	f->pid = fork_child(child_work, f->register_it ? 20 : 21);
	f->status = f->pid > 0 ? reap(f->pid) : -1;
	if (f->register_it)
		goheap_unregister_thread();
	return NULL;
}

static void test_fork_from_thread(void)
{
	if (!ok(live_setup(), "parent's live data"))
		return;
	static struct forker f[2];
	static const char *const what[2] = {
		"fork from a plain thread that never used the heap",
		"fork from a thread registered with goheap_register_thread",
	};
	for (int k = 0; k < 2; k++) {
		pthread_t t;
		f[k].register_it = k;
		if (!ok(pthread_create(&t, NULL, forker_main, &f[k]) == 0,
			"%s: thread", what[k]))
			continue;
		pthread_join(t, NULL);
		ok(f[k].pid > 0, "%s: fork", what[k]);
		child_result(f[k].status, what[k]);
	}
	is_uint(live_check(), live_count, "the parent's data is intact");
}

/* A child forks in turn. */
static int child_forks(uint64_t salt)
{
	int bad = child_work(salt);
	pid_t pid = fork_child(child_work, salt + 1);
	int st = 0;
	pid_t r = -1;
	if (pid > 0)
		do
			r = waitpid(pid, &st, 0);
		while (r < 0 && errno == EINTR);
	if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		child_say("grandchild %d failed (wait status %#x)", (int)pid,
			  (unsigned)st);
		/* Its own bits if it had any, else a generic one. */
		int code = r == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 0;
		bad |= code > 0 && code < 128 ? code : BAD_AFTER_GC;
	}
	return bad;
}

static void test_fork_twice(void)
{
	if (!ok(live_setup(), "parent's live data"))
		return;
	check_child(fork_child(child_forks, 30),
		    "a child that forks a grandchild");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_fork_quiet), TAP_TEST(test_fork_pending_finalizers),
	TAP_TEST(test_fork_busy),  TAP_TEST(test_fork_from_thread),
	TAP_TEST(test_fork_twice),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	live_head = NULL;
	gcu_finish();
	return status;
}
