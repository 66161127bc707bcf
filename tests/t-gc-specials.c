/*
 * t-gc-specials: the collector's internal API for Boehm's finalizer
 * variants and disappearing links (lib/gc.h: gh_final_*, gh_weak_*), which
 * the libgc drop-in builds on, and the heap checker's rules for specials.
 *
 * Linked with the static library, whose internal (gh_*) functions it
 * calls; the shared one exports goheap_* only.
 *
 * Each mode has a test that fails if the mode were ignored:
 *   - ordered: a block that points to itself is never finalized; of two
 *     unreachable finalizable blocks, A pointing to B, a collection
 *     finalizes A only;
 *   - ignore_self: a block that points to itself is finalized; a cycle of
 *     two is not; A -> B still finalizes A first;
 *   - no_order: a block that points to itself, or A -> B, are finalized in
 *     one collection, but not while an ordered block keeps it;
 *   - on demand: no finalizer runs until goheap_run_finalizers, which runs
 *     them all and says how many;
 *   - the notifier: called after a collection that leaves finalizers
 *     queued, at most once per collection, only in on-demand mode;
 *   - Java mode: what a no_order block alone references lives until its
 *     finalizer has run; off, it is freed by the collection that queues
 *     the finalizer;
 *   - disappearing links are cleared before finalization order is
 *     decided: A -> B through a registered link finalizes both at once.
 * Old finalizers come back through the out-parameters; gh_weak_* return
 * Boehm's codes and never write the link but to clear it.
 */
#include <goheap.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "gc.h"
#include "gcutil.h"
#include "tap.h"

enum { N = 100, BLOCK = 64 };

/* ---- Finalizable blocks: p[0] is a pointer, the rest a pattern ---- */

/* Watches, fresh for each case: a finalizer of an earlier case may still
 * be reading its own (so they are never reused, nor freed). */
static struct gcu_watch *wa, *wb;
static void *volatile keep_a[N];
static enum gh_final_mode mode_a, mode_b;
static int link_a; /* A's pointer to B is a registered disappearing link */

static void *block(struct gcu_watch *w, uint64_t tag, enum gh_final_mode mode)
{
	void **p = goheap_malloc(BLOCK);
	if (p == NULL)
		return NULL;
	gcu_watch_block(w, p, sizeof(void *), BLOCK, tag);
	goheap_set_finalizer(p, NULL, NULL);
	gh_final_fn ofn = (gh_final_fn)1;
	void *oarg = (void *)1;
	if (gh_final_register(p, gcu_watch_fin, w, mode, &ofn, &oarg) != 0 || ofn || oarg)
		w->wrong = 1;
	return p;
}

/* N blocks of mode_a pointing to themselves. */
static void self_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		void **a = block(&wa[i], 0x100 + i, mode_a);
		if (a)
			a[0] = a;
	}
}

/* N pairs A -> B, modes mode_a and mode_b. */
static void pair_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		void **a = block(&wa[i], 0x200 + i, mode_a);
		void **b = block(&wb[i], 0x300 + i, mode_b);
		if (!a || !b)
			continue;
		a[0] = b;
		if (link_a && gh_weak_register(&a[0], b) != 0)
			wa[i].wrong = 1;
	}
}

/* N cycles A -> B -> A, both of mode_a. */
static void cycle_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		void **a = block(&wa[i], 0x400 + i, mode_a);
		void **b = block(&wb[i], 0x500 + i, mode_a);
		if (a && b) {
			a[0] = b;
			b[0] = a;
		}
	}
}

/* Collect n times, running what was queued. */
static void collect_settle(int n)
{
	gcu_collect(n);
	gcu_settle();
}

static void reset(void)
{
	collect_settle(2);
	/* Never freed: a finalizer that runs late still writes to its own
	 * test's watches.  LeakSanitizer sees them in these statics. */
	static struct gcu_watch *old[64];
	static size_t nold;
	if (wa && nold + 2 <= sizeof old / sizeof old[0]) {
		old[nold++] = wa;
		old[nold++] = wb;
	}
	wa = calloc(N, sizeof *wa);
	wb = calloc(N, sizeof *wb);
	if (!wa || !wb)
		bail_out("calloc failed");
	link_a = 0;
}

static void test_self_pointers(void)
{
	static const struct {
		enum gh_final_mode mode;
		const char *name;
		int finalized;
	} m[] = {
		{ GH_FINAL_ORDERED, "ordered", 0 },
		{ GH_FINAL_IGNORE_SELF, "ignore_self", 1 },
		{ GH_FINAL_NO_ORDER, "no_order", 1 },
	};
	for (size_t k = 0; k < 3; k++) {
		reset();
		mode_a = m[k].mode;
		gcu_call(self_make, NULL);
		int got = m[k].finalized ? gcu_collect_until(wa, N, GCU_MOSTLY(N), 5000)
					 : (collect_settle(4), gcu_tally(wa, N).finalized);
		if (m[k].finalized)
			cmp_int(got, >=, GCU_MOSTLY(N),
				"%s: unreachable blocks pointing to themselves are "
				"finalized (%d of %d)",
				m[k].name, got, N);
		else
			is_int(got, 0, "%s: blocks pointing to themselves are never finalized "
			       "(4 collections)", m[k].name);
		struct gcu_tally t = gcu_tally(wa, N);
		is_int(t.twice + t.wrong + t.damaged, 0, "%s: each once, on its block, intact",
		       m[k].name);
	}
}

static void test_order(void)
{
	static const struct {
		enum gh_final_mode a, b;
		int link;
		const char *name;
		int b_too; /* B finalized by the same collection as A */
	} m[] = {
		{ GH_FINAL_ORDERED, GH_FINAL_ORDERED, 0, "ordered -> ordered", 0 },
		{ GH_FINAL_IGNORE_SELF, GH_FINAL_ORDERED, 0, "ignore_self -> ordered", 0 },
		{ GH_FINAL_NO_ORDER, GH_FINAL_ORDERED, 0, "no_order -> ordered", 1 },
		{ GH_FINAL_NO_ORDER, GH_FINAL_NO_ORDER, 0, "no_order -> no_order", 1 },
		{ GH_FINAL_ORDERED, GH_FINAL_NO_ORDER, 0, "ordered -> no_order", 0 },
		{ GH_FINAL_ORDERED, GH_FINAL_ORDERED, 1,
		  "ordered -> ordered through a disappearing link", 1 },
	};
	for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
		reset();
		mode_a = m[k].a;
		mode_b = m[k].b;
		link_a = m[k].link;
		gcu_call(pair_make, NULL);
		collect_settle(1);
		int a = gcu_tally(wa, N).finalized, b = gcu_tally(wb, N).finalized;
		cmp_int(a, >=, GCU_MOSTLY(N), "%s: one collection finalizes A (%d of %d)",
			m[k].name, a, N);
		if (m[k].b_too)
			cmp_int(b, >=, GCU_MOSTLY(N), "%s: ... and B with it (%d of %d)",
				m[k].name, b, N);
		else
			is_int(b, 0, "%s: ... but not B, which A keeps", m[k].name);
		int later = gcu_collect_until(wb, N, GCU_MOSTLY(N), 5000);
		cmp_int(later, >=, GCU_MOSTLY(N), "%s: later collections finalize B (%d of %d)",
			m[k].name, later, N);
		struct gcu_tally ta = gcu_tally(wa, N), tb = gcu_tally(wb, N);
		is_int(ta.twice + ta.wrong + ta.damaged + tb.twice + tb.wrong + tb.damaged, 0,
		       "%s: each once, on its block, intact", m[k].name);
	}
}

static void test_cycles(void)
{
	reset();
	mode_a = GH_FINAL_IGNORE_SELF;
	gcu_call(cycle_make, NULL);
	collect_settle(4);
	is_int(gcu_tally(wa, N).finalized + gcu_tally(wb, N).finalized, 0,
	       "ignore_self: cycles of two are never finalized (4 collections)");
	reset();
	mode_a = GH_FINAL_NO_ORDER;
	gcu_call(cycle_make, NULL);
	collect_settle(1);
	int a = gcu_tally(wa, N).finalized, b = gcu_tally(wb, N).finalized;
	cmp_int(a + b, >=, GCU_MOSTLY(2 * N),
		"no_order: cycles of two are finalized whole by one collection (%d of %d)", a + b,
		2 * N);
}

/* ---- Registering: old finalizers, replacing, errors ---- */

static void fin_one(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
}

static void fin_two(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
}

static void test_register(void)
{
	void *p = goheap_malloc(48), *tiny = goheap_malloc_atomic(8);
	int x, y;
	gh_final_fn ofn = fin_two;
	void *oarg = &y;
	is_int(gh_final_register(p, fin_one, &x, GH_FINAL_ORDERED, &ofn, &oarg), 0, "register");
	ok(ofn == NULL && oarg == NULL, "... the old finalizer was none");
	is_int(gh_final_register(p, fin_two, &y, GH_FINAL_NO_ORDER, &ofn, &oarg), 0,
	       "register another: it replaces the first");
	ok(ofn == fin_one && oarg == &x, "... and gives the first back");
	is_int(goheap_set_finalizer(p, fin_one, NULL) == -1 ? errno : 0, EEXIST,
	       "goheap_set_finalizer still refuses to replace (EEXIST)");
	is_int(gh_final_register(p, NULL, NULL, GH_FINAL_ORDERED, &ofn, &oarg), 0,
	       "a NULL function removes it");
	ok(ofn == fin_two && oarg == &y, "... giving it back");
	is_int(gh_final_register(p, NULL, NULL, GH_FINAL_ORDERED, &ofn, &oarg), 0,
	       "removing none succeeds");
	ok(ofn == NULL && oarg == NULL, "... with none given back");
	is_int(gh_final_register(p, fin_one, NULL, GH_FINAL_ORDERED, NULL, NULL), 0,
	       "the out-parameters may be NULL");
	ofn = fin_two;
	oarg = &y;
	is_int(gh_final_register(NULL, fin_one, NULL, GH_FINAL_ORDERED, &ofn, &oarg), -EINVAL,
	       "NULL is refused with -EINVAL");
	ok(ofn == NULL && oarg == NULL, "... and the out-parameters set to NULL");
	is_int(gh_final_register((char *)p + 8, fin_one, NULL, GH_FINAL_ORDERED, NULL, NULL),
	       -EINVAL, "an interior pointer is refused");
	is_int(gh_final_register(tiny, fin_one, NULL, GH_FINAL_ORDERED, NULL, NULL), -EINVAL,
	       "a tiny block is refused");
	is_int(gh_final_register(&x, fin_one, NULL, GH_FINAL_ORDERED, NULL, NULL), -EINVAL,
	       "the stack is refused");
	goheap_free(p);
	is_int(gh_final_register(p, fin_one, NULL, GH_FINAL_ORDERED, NULL, NULL), -EINVAL,
	       "a freed block is refused (its finalizer went with it)");
}

/* ---- On demand, the notifier ---- */

static int notified;

static void notifier(void)
{
	__atomic_add_fetch(&notified, 1, __ATOMIC_SEQ_CST);
}

static void plain_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		block(&wa[i], 0x600 + i, GH_FINAL_ORDERED);
}

static void test_on_demand(void)
{
	reset();
	ok(!gh_final_on_demand(), "finalizing on demand is off by default");
	gh_final_set_notifier(notifier);
	gcu_call(plain_make, NULL);
	gcu_collect(2);
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(5000) * 1000000u;
	while (gcu_tally(wa, N).finalized < GCU_MOSTLY(N) && gcu_now_ns() < end)
		gcu_sleep_ms(5);
	int ran = gcu_tally(wa, N).finalized;
	cmp_int(ran, >=, GCU_MOSTLY(N), "off, the finalizer thread runs them (%d)", ran);
	is_int(__atomic_load_n(&notified, __ATOMIC_SEQ_CST), 0,
	       "off, the notifier is never called");

	reset();
	gh_final_set_on_demand(true);
	ok(gh_final_on_demand(), "on demand");
	gcu_call(plain_make, NULL);
	gcu_collect(1);
	end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(2000) * 1000000u;
	while (__atomic_load_n(&notified, __ATOMIC_SEQ_CST) == 0 && gcu_now_ns() < end)
		gcu_sleep_ms(2);
	gcu_sleep_ms(30);
	is_int(__atomic_load_n(&notified, __ATOMIC_SEQ_CST), 1,
	       "the collection that queued finalizers called the notifier, once");
	ok(gh_final_pending(), "finalizers are pending");
	gcu_collect(3);
	gcu_sleep_ms(tap_under_valgrind() ? 300 : 30);
	int n = __atomic_load_n(&notified, __ATOMIC_SEQ_CST);
	ok(n >= 2 && n <= 4, "3 more collections with finalizers still queued: called "
	   "again, at most once each (%d calls in all)", n);
	is_int(gcu_tally(wa, N).finalized, 0, "no finalizer ran before goheap_run_finalizers");
	int got = goheap_run_finalizers();
	int fin = gcu_tally(wa, N).finalized;
	cmp_int(fin, >=, GCU_MOSTLY(N), "goheap_run_finalizers ran them (%d)", fin);
	is_int(got, fin, "and said how many");
	ok(!gh_final_pending(), "none pending then");
	gh_final_set_on_demand(false);
	gh_final_set_notifier(NULL);
	ok(gh_final_notifier() == NULL, "the notifier is removed");
}

/* ---- Java mode ---- */

enum { BIG = 256 << 10, NJ = 16 };
static struct gcu_watch *wj;
static int big_intact;

static void java_fin(void *obj, void *arg)
{
	void **a = obj;
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - wj);
	if (gh_final_java() && a[0] && tap_check(a[0], BIG, 0x900 + i) == SIZE_MAX)
		__atomic_add_fetch(&big_intact, 1, __ATOMIC_SEQ_CST);
	gcu_watch_fin(obj, arg);
}

static void java_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < NJ; i++) {
		void **a = goheap_malloc(BLOCK);
		void *big = goheap_malloc_atomic(BIG);
		if (!a || !big)
			continue;
		tap_fill(big, BIG, 0x900 + i);
		a[0] = big;
		gcu_watch_block(&wj[i], a, sizeof(void *), BLOCK, 0x800 + i);
		goheap_set_finalizer(a, NULL, NULL);
		gh_final_register(a, java_fin, &wj[i], GH_FINAL_NO_ORDER, NULL, NULL);
	}
}

static uint64_t large_frees(void)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	return m.by_size[0].nfree;
}

static void test_java(void)
{
	ok(gh_final_java(), "Java mode is on by default");
	for (int java = 1; java >= 0; java--) {
		const char *name = java ? "Java mode" : "without Java mode";
		reset();
		/* Static, one array per pass: a finalizer the next pass runs
		 * late still writes to its own pass's watches (calloc'ed and
		 * never freed, they were a leak to LeakSanitizer). */
		static struct gcu_watch wj_store[2][NJ];
		wj = wj_store[java];
		memset(wj, 0, NJ * sizeof *wj);
		big_intact = 0;
		gh_final_set_java(java);
		gh_final_set_on_demand(true);
		/* Only the collection below may see the blocks unreachable:
		 * none started by the goal (sooner, with concurrent marking,
		 * at its trigger) while java_make allocates. */
		int percent = goheap_set_gc_percent(-1);
		gcu_call(java_make, NULL);
		uint64_t f0 = large_frees();
		gcu_collect(1);
		uint64_t freed = large_frees() - f0;
		goheap_set_gc_percent(percent);
		if (java)
			cmp_uint(freed, <=, NJ / 4, "%s: the collection that queues no_order "
				 "finalizers keeps what their blocks alone reference (%llu of %d "
				 "freed)", name, (unsigned long long)freed, NJ);
		else
			cmp_uint(freed, >=, (uint64_t)GCU_MOSTLY(NJ),
				 "%s: that collection frees what their blocks alone reference "
				 "(%llu of %d)", name, (unsigned long long)freed, NJ);
		int ran = goheap_run_finalizers();
		cmp_int(ran, >=, GCU_MOSTLY(NJ), "%s: the finalizers ran (%d)", name, ran);
		if (java)
			is_int(big_intact, ran, "%s: each found what its block references intact",
			       name);
		gh_final_set_on_demand(false);
	}
	gh_final_set_java(true);
}

/* ---- Disappearing links, internal API ---- */

static void *wl[4];
static void *volatile wt[4];

static void weak_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 4; i++) {
		wt[i] = goheap_malloc(32);
		wl[i] = (void *)0x1234;
	}
}

static void weak_drop(void *arg)
{
	size_t i = *(size_t *)arg;
	wt[i] = NULL;
}

static void test_weak_internal(void)
{
	gcu_call(weak_make, NULL);
	is_int(gh_weak_register(&wl[0], wt[0]), 0, "gh_weak_register: a new link");
	ok(wl[0] == (void *)0x1234, "... does not write it");
	is_int(gh_weak_register(&wl[0], wt[1]), 1, "again: 1 (GC_DUPLICATE), re-pointed");
	size_t i0 = 0, i1 = 1;
	gcu_call(weak_drop, &i0);
	gcu_collect(2);
	ok(wl[0] == (void *)0x1234, "the first target's death leaves it alone");
	gcu_call(weak_drop, &i1);
	gcu_collect(2);
	ok(wl[0] == NULL, "the second's clears it");
	is_int(gh_weak_unregister(&wl[0]), 0, "a cleared link is unregistered: 0");
	is_int(gh_weak_register(&wl[2], wt[2]), 0, "register");
	is_int(gh_weak_move(&wl[2], &wl[2]), 0, "gh_weak_move onto itself: registered");
	is_int(gh_weak_move(&wl[1], &wl[1]), -ENOENT, "... or not");
	is_int(gh_weak_move(&wl[2], &wl[3]), 0, "move");
	ok(wl[2] == (void *)0x1234 && wl[3] == (void *)0x1234, "... writing neither word");
	is_int(gh_weak_register(&wl[2], wt[3]), 0, "register the old word again");
	is_int(gh_weak_move(&wl[2], &wl[3]), -EEXIST, "moving onto a link: -EEXIST");
	is_int(gh_weak_move(&wl[1], &wl[0]), -ENOENT, "moving no link: -ENOENT");
	is_int(gh_weak_unregister(&wl[3]), 1, "unregister: 1");
	is_int(gh_weak_unregister(&wl[3]), 0, "again: 0");
	is_int(gh_weak_unregister(&wl[2]), 1, "unregister the other");
	ok(wl[3] == (void *)0x1234, "unregistering writes nothing");
	is_int(gh_weak_register(&wl[1], (char *)wt[2] + 8), -EINVAL, "an interior target: -EINVAL");
	is_int(gh_weak_register((void **)((char *)&wl[1] + 1), wt[2]), -EINVAL,
	       "a misaligned link: -EINVAL");
	for (size_t i = 0; i < 4; i++)
		wt[i] = NULL;
}

/* Boehm's idiom: the real pointer in an atomic block, which hides it. */
static void *volatile holder;

static void idiom_make(void *arg)
{
	(void)arg;
	void **h = goheap_malloc_atomic(64);
	void *t = goheap_malloc(64);
	if (!h || !t)
		return;
	h[0] = t;
	gh_weak_register(&h[0], t);
	holder = h;
}

static void test_weak_atomic_holder(void)
{
	gcu_call(idiom_make, NULL);
	void **h = holder;
	ok(h && h[0] && goheap_base(h[0]) == h[0], "a real pointer in an atomic block");
	gcu_collect(2);
	ok(h && h[0] == NULL, "... does not keep its block: the link is cleared");
	holder = NULL;
}

/* ---- The heap checker ---- */

static char out[1 << 16];

/* With check=1: a finalizer, then a span's count of specials made wrong. */
static int child_corrupt(void)
{
	void *p = goheap_malloc(64);
	if (!p || goheap_set_finalizer(p, fin_one, NULL) != 0)
		return 2;
	gh_span *s = gh_span_of((uintptr_t)p);
	__atomic_fetch_add(&s->nspecials, 1, __ATOMIC_SEQ_CST);
	goheap_gc();
	printf("not stopped\n");
	return 0;
}

static void test_checker(void)
{
	const char *qemu = getenv("QEMU_LD_PREFIX");
	if (qemu && *qemu) {
		/* As t-gc-fork, left out of make check-qemu (Makefile.am). */
		skip("under qemu-user", "%s: qemu-user 7.2 aborts the child of a threaded process",
		     "the heap checker run in a child");
		return;
	}
	int st = child_run("GOHEAP_DEBUG", "check=1", "corrupt", NULL, out, sizeof out);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "a wrong count of specials: the checker "
	   "aborts (status %#x)", st);
	ok(strstr(out, "goheap: heap check: specials: ") != NULL, "naming the invariant");
	ok(strstr(out, "nspecials 2") != NULL, "and what is wrong");
	if (!strstr(out, "heap check: specials"))
		diag("child output: %s", out);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_self_pointers),
	TAP_TEST(test_order),
	TAP_TEST(test_cycles),
	TAP_TEST(test_register),
	TAP_TEST(test_on_demand),
	TAP_TEST(test_java),
	TAP_TEST(test_weak_internal),
	TAP_TEST(test_weak_atomic_holder),
	TAP_TEST(test_checker),
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return child_corrupt();
	int status = TAP_MAIN(argc, argv, tests);
	gcu_finish();
	return status;
}
