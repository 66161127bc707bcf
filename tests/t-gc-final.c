/*
 * t-gc-final: finalizers (goheap_set_finalizer, goheap_run_finalizers).
 *
 * The semantics under test, from goheap.h and lib/mfinal.c: a finalizer
 * runs at most once, never while its block is reachable; an unreachable
 * block with a finalizer is kept, with everything it references and the
 * finalizer's argument, until the finalizer has returned; then a later
 * collection frees it unless the finalizer made it reachable again
 * (resurrection) or gave it a new finalizer.  Among unreachable blocks
 * that reference each other, the referencing one is finalized first.
 * Finalizers may allocate.  Setting, replacing and removing finalizers
 * report EEXIST, ENOENT and EINVAL as documented, and goheap_free drops a
 * block's finalizer.
 *
 * Deaths are observed through the finalizers themselves (gcu_watch), frees
 * through heap_alloc, with large blocks so that the figures stand out.
 */
#include <goheap.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gcutil.h"
#include "tap.h"

enum { N = 100 };

static size_t mixed_size(size_t i)
{
	static const size_t sizes[] = { 16, 64, 256, 1500, 8192, 33000, 90000 };
	return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static void *volatile slots[N];

/* Collections with garbage made in between, so that memory freed by
 * mistake is reused (and its contents changed) before anyone checks it. */
struct churn {
	size_t bytes;
	uint64_t tag;
};

static void churn_fn(void *arg)
{
	struct churn *c = arg;
	size_t done = 0;
	for (size_t i = 0; done < c->bytes; i++) {
		size_t n = mixed_size(i * 7 + 3);
		unsigned char *p =
			i % 2 ? goheap_malloc(n) : goheap_malloc_atomic(n);
		if (p == NULL)
			break;
		tap_fill(p, n, c->tag + i);
		done += n;
	}
}

static void churn_collect(int cycles, size_t bytes)
{
	for (int i = 0; i < cycles; i++) {
		struct churn c = { bytes, 0xc4u << 24 | (uint64_t)i << 16 };
		gcu_call(churn_fn, &c);
		gcu_collect(1);
	}
}

static GCU_NOINLINE int slots_intact(const struct gcu_watch *w, size_t lo,
				     size_t hi, size_t step)
{
	int n = 0;
	for (size_t i = lo; i < hi; i += step)
		n += gcu_watch_intact(&w[i], slots[i]);
	return n;
}

/* ---- Unreachable blocks are finalized, once ---- */

static struct gcu_watch w_basic[N];

static void basic_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		if (gcu_watch_new(&w_basic[i], mixed_size(i), i % 4 == 3,
				  0x100 + i) == NULL)
			diag("could not make watched block %zu", i);
}

static void test_basic(void)
{
	gcu_call(basic_make, NULL);
	int got = gcu_collect_until(w_basic, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N),
		"unreachable blocks are finalized (%d of %d)", got, N);
	struct gcu_tally t = gcu_tally(w_basic, N);
	is_int(t.wrong, 0, "each finalizer got its own block and argument");
	is_int(t.damaged, 0, "each block was intact when its finalizer ran");
	/* Several more collections: nothing runs twice. */
	gcu_collect(4);
	gcu_settle();
	t = gcu_tally(w_basic, N);
	is_int(t.twice, 0, "no finalizer ran twice over 4 more collections");
	cmp_int(t.finalized, >=, got, "finalized blocks stay finalized");
	is_int(goheap_run_finalizers(), 0,
	       "goheap_run_finalizers with nothing queued returns 0");
}

/* ---- Never while reachable ---- */

static struct gcu_watch w_reach[N];

static void reach_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		slots[i] = gcu_watch_new(&w_reach[i], mixed_size(i), i % 3 == 1,
					 0x200 + i);
}

static void reach_drop_even(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i += 2)
		slots[i] = NULL;
}

static void reach_drop_all(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		slots[i] = NULL;
}

static void test_not_while_reachable(void)
{
	gcu_call(reach_make, NULL);
	churn_collect(5, 4 << 20);
	gcu_settle();
	is_int(gcu_tally(w_reach, N).finalized, 0,
	       "no finalizer runs while its block is reachable (5 "
	       "collections)");
	is_int(slots_intact(w_reach, 0, N, 1), N,
	       "the reachable blocks are intact");

	gcu_call(reach_drop_even, NULL);
	int got = 0;
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(5000) * 1000000u;
	do {
		gcu_collect(1);
		goheap_run_finalizers();
		got = 0;
		for (size_t i = 0; i < N; i += 2)
			got += __atomic_load_n(&w_reach[i].runs,
					       __ATOMIC_SEQ_CST) > 0;
	} while (got < GCU_MOSTLY(N / 2) && gcu_now_ns() < end);
	gcu_settle();
	cmp_int(got, >=, GCU_MOSTLY(N / 2),
		"the dropped half is finalized (%d of %d)", got, N / 2);
	int kept_finalized = 0;
	for (size_t i = 1; i < N; i += 2)
		kept_finalized +=
			__atomic_load_n(&w_reach[i].runs, __ATOMIC_SEQ_CST) > 0;
	is_int(kept_finalized, 0,
	       "none of the half still reachable is finalized");
	is_int(slots_intact(w_reach, 1, N, 2), N / 2,
	       "the half still reachable is intact");

	gcu_call(reach_drop_all, NULL);
	got = gcu_collect_until(w_reach, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N),
		"then the rest is finalized too (%d of %d)", got, N);
	struct gcu_tally t = gcu_tally(w_reach, N);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "each once, on its block, intact");
}

/* ---- Referents live until the finalizer has run ---- */

/* A parent: a pointer to its child, then its pattern.  The child: a
 * pointer to a grandchild (atomic), then its pattern. */
struct kin {
	void *next;
};

static struct gcu_watch w_parent[N];
static int kin_seen_intact[N], kin_seen_damaged[N];
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_waiting;

static size_t child_size(size_t i)
{
	return mixed_size(i + 2) < 24 ? 24 : mixed_size(i + 2);
}

static size_t grandchild_size(size_t i)
{
	return mixed_size(i + 5);
}

static void kin_check_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_parent);
	const struct kin *parent = obj;
	const struct kin *child = parent->next;
	const unsigned char *grandchild = child != NULL ? child->next : NULL;
	int intact = child != NULL && grandchild != NULL &&
		     goheap_base(child) == child &&
		     goheap_base(grandchild) == grandchild &&
		     tap_check_range(child, sizeof *child, child_size(i),
				     0x3100 + i) == SIZE_MAX &&
		     tap_check(grandchild, grandchild_size(i), 0x3200 + i) ==
			     SIZE_MAX;
	if (intact)
		kin_seen_intact[i] = 1;
	else
		kin_seen_damaged[i] = 1;
	gcu_watch_check_(obj, arg);
}

/* The first finalizer to run waits at the gate, so that the others stay
 * queued while the test collects. */
static void kin_fin(void *obj, void *arg)
{
	pthread_mutex_lock(&gate_lock);
	gate_waiting++;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	void (*volatile check)(void *, void *) = kin_check_;
	check(obj, arg);
	gcu_clear_stack();
}

static void kin_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		struct kin *parent =
			goheap_malloc(mixed_size(i) < 24 ? 24 : mixed_size(i));
		struct kin *child = goheap_malloc(child_size(i));
		unsigned char *grandchild =
			goheap_malloc_atomic(grandchild_size(i));
		if (parent == NULL || child == NULL || grandchild == NULL) {
			diag("allocation failed");
			continue;
		}
		tap_fill(grandchild, grandchild_size(i), 0x3200 + i);
		child->next = grandchild;
		tap_fill_range(child, sizeof *child, child_size(i), 0x3100 + i);
		parent->next = child;
		memset(&w_parent[i], 0, sizeof w_parent[i]);
		w_parent[i].hidden = GCU_HIDE(parent);
		w_parent[i].from = sizeof *parent;
		w_parent[i].size = goheap_usable_size(parent);
		w_parent[i].tag = 0x3000 + i;
		tap_fill_range(parent, w_parent[i].from, w_parent[i].size,
			       w_parent[i].tag);
		if (goheap_set_finalizer(parent, kin_fin, &w_parent[i]) != 0)
			diag("goheap_set_finalizer failed");
	}
}

static void test_keeps_referents(void)
{
	gcu_call(kin_make, NULL);
	/* This collection queues every parent; the finalizer thread takes
	 * one and waits at the gate; the others stay queued. */
	gcu_collect(1);
	pthread_mutex_lock(&gate_lock);
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(1000) * 1000000u;
	while (gate_waiting == 0 && gcu_now_ns() < end) {
		pthread_mutex_unlock(&gate_lock);
		gcu_sleep_ms(1);
		pthread_mutex_lock(&gate_lock);
	}
	int thread_took_one = gate_waiting > 0;
	pthread_mutex_unlock(&gate_lock);
	if (!thread_took_one)
		diag("the finalizer thread did not take a finalizer within 1 "
		     "s");

	/* Collections and reuse of freed memory while the finalizers wait. */
	churn_collect(3, 8 << 20);
	is_int(gcu_tally(w_parent, N).finalized, 0,
	       "no parent finalized while the gate is shut");

	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	int got = gcu_collect_until(w_parent, N, GCU_MOSTLY(N), 5000);
	gcu_settle();
	cmp_int(got, >=, GCU_MOSTLY(N),
		"unreachable parents are finalized (%d of %d)", got, N);
	int intact = 0, damaged = 0;
	for (size_t i = 0; i < N; i++) {
		intact += kin_seen_intact[i];
		damaged += kin_seen_damaged[i];
	}
	is_int(damaged, 0,
	       "no finalizer found its child or grandchild freed or damaged");
	is_int(intact, gcu_tally(w_parent, N).finalized,
	       "every finalizer found child and grandchild intact after 4 "
	       "collections");
	struct gcu_tally t = gcu_tally(w_parent, N);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "each once, on its block, intact");
}

/* ---- Freed by a later collection ---- */

enum { BIG = 40000 };
static struct gcu_watch w_free[N];

static void free_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		gcu_watch_new(&w_free[i], BIG, i % 2, 0x400 + i);
}

static void test_freed_after(void)
{
	gcu_collect(2);
	goheap_run_finalizers();
	goheap_memstats m0, m1;
	goheap_read_memstats(&m0);
	gcu_call(free_make, NULL);
	int got = gcu_collect_until(w_free, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N), "large blocks finalized (%d of %d)",
		got, N);
	gcu_settle();
	gcu_collect(2);
	goheap_read_memstats(&m1);
	uint64_t total = (uint64_t)N * BIG;
	cmp_uint(m1.heap_alloc, <=, m0.heap_alloc + total / 20,
		 "then freed by later collections (heap_alloc %llu before, "
		 "%llu after)",
		 (unsigned long long)m0.heap_alloc,
		 (unsigned long long)m1.heap_alloc);
	cmp_uint(m1.by_size[0].nfree - m0.by_size[0].nfree, >=,
		 (uint64_t)GCU_MOSTLY(N), "large blocks freed");
	is_int(gcu_tally(w_free, N).twice, 0, "no finalizer ran twice");
}

/* ---- A finalizer that sets a new finalizer ---- */

static struct gcu_watch w_rereg[N];
static int rereg_rc[N], rereg_errno[N], rereg_second[N];
static int rereg_first_total, rereg_second_total;

static void rereg_fin2(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_rereg);
	__atomic_add_fetch(&rereg_second[i], 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&rereg_second_total, 1, __ATOMIC_SEQ_CST);
	(void)obj;
	gcu_clear_stack();
}

static void rereg_fin1_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_rereg);
	errno = 0;
	rereg_rc[i] = goheap_set_finalizer(obj, rereg_fin2, arg);
	rereg_errno[i] = errno;
	gcu_watch_check_(obj, arg);
	__atomic_add_fetch(&rereg_first_total, 1, __ATOMIC_SEQ_CST);
}

static void rereg_fin1(void *obj, void *arg)
{
	void (*volatile f)(void *, void *) = rereg_fin1_;
	f(obj, arg);
	gcu_clear_stack();
}

static void rereg_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p = goheap_malloc(BIG);
		if (p == NULL)
			continue;
		memset(&w_rereg[i], 0, sizeof w_rereg[i]);
		w_rereg[i].hidden = GCU_HIDE(p);
		w_rereg[i].size = BIG;
		w_rereg[i].tag = 0x500 + i;
		tap_fill(p, BIG, w_rereg[i].tag);
		goheap_set_finalizer(p, rereg_fin1, &w_rereg[i]);
	}
}

static void test_reregister(void)
{
	gcu_collect(2);
	goheap_run_finalizers();
	uint64_t base = gcu_heap_alloc();
	/* One collection queues the first finalizers; with no further
	 * collection, the new ones they set must not run.  Collections by
	 * the goal are off meanwhile: one started by the allocations below
	 * would, with concurrent marking, still run when goheap_gc is
	 * called and be followed by goheap_gc's own. */
	int old_percent = goheap_set_gc_percent(-1);
	gcu_call(rereg_make, NULL);
	gcu_collect(1);
	int first = gcu_wait_count(&rereg_first_total, GCU_MOSTLY(N), 2000);
	gcu_settle();
	diag("%d first finalizers ran after one collection", first);
	is_int(rereg_second_total, 0,
	       "no new finalizer runs before another collection");
	goheap_set_gc_percent(old_percent);
	int got = gcu_collect_until(w_rereg, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N), "first finalizers ran (%d of %d)", got,
		N);
	int rc_ok = 0;
	for (size_t i = 0; i < N; i++)
		rc_ok += w_rereg[i].runs > 0 && rereg_rc[i] == 0;
	is_int(rc_ok, got,
	       "goheap_set_finalizer inside the finalizer succeeded");

	/* The second finalizers run at later collections. */
	int second = 0;
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(5000) * 1000000u;
	do {
		gcu_collect(1);
		goheap_run_finalizers();
		second = 0;
		for (size_t i = 0; i < N; i++)
			second += __atomic_load_n(&rereg_second[i],
						  __ATOMIC_SEQ_CST) > 0;
	} while (second < GCU_MOSTLY(N) && gcu_now_ns() < end);
	gcu_settle();
	cmp_int(second, >=, GCU_MOSTLY(N),
		"the new finalizers ran too (%d of %d)", second, N);
	int twice = 0, orphan = 0;
	for (size_t i = 0; i < N; i++) {
		twice += rereg_second[i] > 1 || w_rereg[i].runs > 1;
		orphan += rereg_second[i] > 0 && w_rereg[i].runs == 0;
	}
	is_int(orphan, 0, "no second finalizer without a first");
	is_int(twice, 0, "neither finalizer ran twice");
	gcu_collect(2);
	uint64_t after = gcu_heap_alloc();
	cmp_uint(after, <=, base + (uint64_t)N * BIG / 20,
		 "then the blocks are freed (heap_alloc %llu before, %llu "
		 "after)",
		 (unsigned long long)base, (unsigned long long)after);
}

/* ---- Resurrection ---- */

static struct gcu_watch w_res[N];
static void *volatile resurrected[N];

static void res_fin_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_res);
	gcu_watch_check_(obj, arg);
	resurrected[i] = obj;
}

static void res_fin(void *obj, void *arg)
{
	void (*volatile f)(void *, void *) = res_fin_;
	f(obj, arg);
	gcu_clear_stack();
}

static void res_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p =
			i % 2 ? goheap_malloc(BIG) : goheap_malloc_atomic(BIG);
		if (p == NULL)
			continue;
		memset(&w_res[i], 0, sizeof w_res[i]);
		w_res[i].hidden = GCU_HIDE(p);
		w_res[i].size = BIG;
		w_res[i].tag = 0x600 + i;
		tap_fill(p, BIG, w_res[i].tag);
		goheap_set_finalizer(p, res_fin, &w_res[i]);
	}
}

static void res_drop(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		resurrected[i] = NULL;
}

static GCU_NOINLINE int res_intact(void)
{
	int n = 0;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p = resurrected[i];
		n += p != NULL && (uintptr_t)p == ~w_res[i].hidden &&
		     goheap_base(p) == p &&
		     tap_check(p, BIG, w_res[i].tag) == SIZE_MAX;
	}
	return n;
}

static void test_resurrect(void)
{
	gcu_collect(2);
	goheap_run_finalizers();
	uint64_t base = gcu_heap_alloc();
	gcu_call(res_make, NULL);
	int got = gcu_collect_until(w_res, N, GCU_MOSTLY(N), 5000);
	gcu_settle();
	cmp_int(got, >=, GCU_MOSTLY(N),
		"finalizers ran and resurrected their blocks (%d of %d)", got,
		N);
	churn_collect(3, 8 << 20);
	gcu_settle();
	is_int(res_intact(), gcu_tally(w_res, N).finalized,
	       "resurrected blocks stay alive and intact over 3 more "
	       "collections");
	is_int(gcu_tally(w_res, N).twice, 0,
	       "no finalizer ran again while resurrected");

	gcu_call(res_drop, NULL);
	gcu_collect(3);
	gcu_settle();
	gcu_collect(1);
	struct gcu_tally t = gcu_tally(w_res, N);
	is_int(t.twice, 0, "dropped again, the blocks are not finalized again");
	is_int(t.wrong + t.damaged, 0, "each finalizer got its block intact");
	uint64_t after = gcu_heap_alloc();
	cmp_uint(after, <=, base + (uint64_t)N * BIG / 20,
		 "the resurrected blocks are freed once dropped (heap_alloc "
		 "%llu before, "
		 "%llu after)",
		 (unsigned long long)base, (unsigned long long)after);
}

/* ---- Finalizers that allocate ---- */

static struct gcu_watch w_alloc[N], w_born[N];
static void *volatile born[N];
static int born_failed;

static void alloc_fin_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_alloc);
	gcu_watch_check_(obj, arg);
	/* A new watched block, and some garbage. */
	void *p =
		gcu_watch_new(&w_born[i], mixed_size(i + 1), i % 2, 0x700 + i);
	if (p == NULL)
		__atomic_add_fetch(&born_failed, 1, __ATOMIC_SEQ_CST);
	born[i] = p;
	for (size_t k = 0; k < 8; k++) {
		unsigned char *g = goheap_malloc(mixed_size(k));
		if (g != NULL)
			g[0] = 1;
	}
}

static void alloc_fin(void *obj, void *arg)
{
	void (*volatile f)(void *, void *) = alloc_fin_;
	f(obj, arg);
	gcu_clear_stack();
}

static void alloc_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p = goheap_malloc(mixed_size(i));
		if (p != NULL) {
			gcu_watch_block(&w_alloc[i], p, 0, mixed_size(i),
					0x780 + i);
			goheap_set_finalizer(p, NULL, NULL);
			goheap_set_finalizer(p, alloc_fin, &w_alloc[i]);
		}
	}
}

static void born_drop(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		born[i] = NULL;
}

static GCU_NOINLINE int born_intact(void)
{
	int n = 0;
	for (size_t i = 0; i < N; i++)
		n += born[i] != NULL && gcu_watch_intact(&w_born[i], born[i]);
	return n;
}

static void test_finalizer_allocates(void)
{
	gcu_call(alloc_make, NULL);
	int got = gcu_collect_until(w_alloc, N, GCU_MOSTLY(N), 5000);
	gcu_settle();
	cmp_int(got, >=, GCU_MOSTLY(N), "allocating finalizers ran (%d of %d)",
		got, N);
	is_int(born_failed, 0,
	       "allocation and goheap_set_finalizer inside finalizers "
	       "succeeded");
	churn_collect(3, 4 << 20);
	gcu_settle();
	int finalized = gcu_tally(w_alloc, N).finalized;
	is_int(gcu_tally(w_born, N).finalized, 0,
	       "no block made by a finalizer is finalized");
	is_int(born_intact(), finalized,
	       "blocks made by finalizers are intact, held by a global");
	gcu_call(born_drop, NULL);
	int dead = gcu_collect_until(w_born, N, GCU_MOSTLY(finalized), 5000);
	cmp_int(dead, >=, GCU_MOSTLY(finalized),
		"dropped, they are finalized in turn (%d of %d)", dead,
		finalized);
	struct gcu_tally t = gcu_tally(w_born, N);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "each once, on its block, intact");
}

/* ---- Errors, removal, explicit free ---- */

static int never_runs;

static void never_fin(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	__atomic_add_fetch(&never_runs, 1, __ATOMIC_SEQ_CST);
}

static struct gcu_watch w_twice;
static int static_object;

static void test_errors(void)
{
	unsigned char *p = goheap_malloc(100);
	unsigned char *big = goheap_malloc(100000);
	unsigned char *tiny = goheap_malloc_atomic(8);
	int local = 0;
	void *sys = malloc(64);
	if (!ok(p != NULL && big != NULL && tiny != NULL && sys != NULL,
		"allocations"))
		return;

	is_int(gcu_watch_block(&w_twice, p, 0, 100, 0x800), 0,
	       "goheap_set_finalizer");
	errno = 0;
	is_int(goheap_set_finalizer(p, never_fin, NULL), -1,
	       "a second finalizer is refused");
	is_int(errno, EEXIST, "... with EEXIST");
	is_int(goheap_set_finalizer(p, NULL, NULL), 0,
	       "removing the finalizer");
	errno = 0;
	is_int(goheap_set_finalizer(p, NULL, NULL), -1,
	       "removing it again fails");
	is_int(errno, ENOENT, "... with ENOENT");
	is_int(goheap_set_finalizer(p, never_fin, NULL), 0,
	       "a finalizer can be set again");
	is_int(goheap_set_finalizer(p, NULL, NULL), 0, "and removed again");

	static const struct {
		size_t off;
		const char *what;
	} interiors[] = { { 1, "1 byte in" },
			  { 8, "8 bytes in" },
			  { 99, "at the last byte" } };
	for (size_t k = 0; k < 3; k++) {
		errno = 0;
		is_int(goheap_set_finalizer(p + interiors[k].off, never_fin,
					    NULL),
		       -1, "interior pointer %s is refused", interiors[k].what);
		is_int(errno, EINVAL, "... with EINVAL");
	}
	errno = 0;
	is_int(goheap_set_finalizer(big + 4096, never_fin, NULL), -1,
	       "interior pointer into a large block is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_set_finalizer(&local, never_fin, NULL), -1,
	       "a stack address is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_set_finalizer(&static_object, never_fin, NULL), -1,
	       "a static address is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_set_finalizer(sys, never_fin, NULL), -1,
	       "a malloc() block is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_set_finalizer(NULL, never_fin, NULL), -1,
	       "NULL is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_set_finalizer(tiny, never_fin, NULL), -1,
	       "a tiny (8-byte atomic) block is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_set_finalizer(p + 1, NULL, NULL), -1,
	       "removing on an interior pointer fails");
	is_int(errno, EINVAL, "... with EINVAL");

	goheap_free(big);
	errno = 0;
	is_int(goheap_set_finalizer(big, never_fin, NULL), -1,
	       "a freed large block is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	goheap_free(p);
	errno = 0;
	is_int(goheap_set_finalizer(p, never_fin, NULL), -1,
	       "a freed small block is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	free(sys);
}

static struct gcu_watch w_removed[N], w_freed[N];

static void removed_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		void *p = gcu_watch_new(&w_removed[i], mixed_size(i), i % 2,
					0x900 + i);
		if (p != NULL && goheap_set_finalizer(p, NULL, NULL) != 0)
			diag("removing finalizer %zu failed", i);
	}
}

static void test_removed_never_runs(void)
{
	gcu_call(removed_make, NULL);
	gcu_collect(3);
	gcu_settle();
	gcu_collect(1);
	gcu_settle();
	is_int(gcu_tally(w_removed, N).finalized, 0,
	       "removed finalizers never run");
}

static int freed_reused, freed_reset_ok;

static void freed_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		size_t n = mixed_size(i);
		unsigned char *p = gcu_watch_new(&w_freed[i], n, 0, 0xa00 + i);
		if (p == NULL)
			continue;
		goheap_free(p);
		/* The next block of that size is likely the same memory: it
		 * must not inherit the finalizer. */
		unsigned char *q = goheap_malloc(n);
		if (q == NULL)
			continue;
		freed_reused += q == p;
		freed_reset_ok +=
			goheap_set_finalizer(q, never_fin, NULL) == 0 &&
			goheap_set_finalizer(q, NULL, NULL) == 0;
		goheap_free(q);
	}
}

static void test_free_drops_finalizer(void)
{
	gcu_call(freed_make, NULL);
	gcu_collect(3);
	gcu_settle();
	is_int(gcu_tally(w_freed, N).finalized, 0,
	       "goheap_free drops the finalizer: it never runs");
	is_int(freed_reset_ok, N,
	       "a new block of the freed memory takes a new finalizer");
	diag("%d of %d new blocks reused the freed block's address",
	     freed_reused, N);
	is_int(never_runs, 0, "no removed finalizer ever ran");
}

/* ---- Order: referencing blocks before referenced ones ---- */

static struct gcu_watch w_head[N], w_tail[N];
static uint64_t order_seq;
static uint64_t head_at[N], tail_at[N];
static int tail_seen_intact[N];

static void head_fin_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_head);
	const struct kin *head = obj;
	const unsigned char *tail = head->next;
	head_at[i] = __atomic_add_fetch(&order_seq, 1, __ATOMIC_SEQ_CST);
	tail_seen_intact[i] =
		tail != NULL && (uintptr_t)tail == ~w_tail[i].hidden &&
		__atomic_load_n(&w_tail[i].runs, __ATOMIC_SEQ_CST) == 0 &&
		tap_check(tail, w_tail[i].size, w_tail[i].tag) == SIZE_MAX;
	gcu_watch_check_(obj, arg);
}

static void head_fin(void *obj, void *arg)
{
	void (*volatile f)(void *, void *) = head_fin_;
	f(obj, arg);
	gcu_clear_stack();
}

static void tail_fin_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	size_t i = (size_t)(w - w_tail);
	tail_at[i] = __atomic_add_fetch(&order_seq, 1, __ATOMIC_SEQ_CST);
	gcu_watch_check_(obj, arg);
}

static void tail_fin(void *obj, void *arg)
{
	void (*volatile f)(void *, void *) = tail_fin_;
	f(obj, arg);
	gcu_clear_stack();
}

static void order_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		struct kin *head = goheap_malloc(64);
		unsigned char *tail = goheap_malloc(mixed_size(i));
		if (head == NULL || tail == NULL)
			continue;
		head->next = tail;
		memset(&w_tail[i], 0, sizeof w_tail[i]);
		w_tail[i].hidden = GCU_HIDE(tail);
		w_tail[i].size = mixed_size(i);
		w_tail[i].tag = 0xb00 + i;
		tap_fill(tail, w_tail[i].size, w_tail[i].tag);
		goheap_set_finalizer(tail, tail_fin, &w_tail[i]);
		memset(&w_head[i], 0, sizeof w_head[i]);
		w_head[i].hidden = GCU_HIDE(head);
		w_head[i].from = sizeof *head;
		w_head[i].size = 64;
		w_head[i].tag = 0xc00 + i;
		tap_fill_range(head, sizeof *head, 64, w_head[i].tag);
		goheap_set_finalizer(head, head_fin, &w_head[i]);
	}
}

static void test_order(void)
{
	gcu_call(order_make, NULL);
	int heads = gcu_collect_until(w_head, N, GCU_MOSTLY(N), 5000);
	int tails = gcu_collect_until(w_tail, N, GCU_MOSTLY(N), 5000);
	gcu_settle();
	cmp_int(heads, >=, GCU_MOSTLY(N),
		"referencing blocks finalized (%d of %d)", heads, N);
	cmp_int(tails, >=, GCU_MOSTLY(N),
		"referenced blocks finalized (%d of %d)", tails, N);
	int in_order = 0, tails_done = 0, intact = 0;
	for (size_t i = 0; i < N; i++) {
		if (tail_at[i] == 0)
			continue;
		tails_done++;
		in_order += head_at[i] != 0 && head_at[i] < tail_at[i];
		intact += tail_seen_intact[i];
	}
	is_int(in_order, tails_done,
	       "each referenced block finalized after its referrer");
	is_int(intact, tails_done,
	       "each referrer's finalizer found the referenced block intact, "
	       "not finalized");
	struct gcu_tally h = gcu_tally(w_head, N), t = gcu_tally(w_tail, N);
	is_int(h.twice + h.wrong + h.damaged + t.twice + t.wrong + t.damaged, 0,
	       "each once, on its block, intact");
}

/* ---- The finalizer's argument lives as long as the finalizer ---- */

static struct gcu_watch w_argobj[N];
static uintptr_t argblock_h[N];
static int arg_seen_intact[N];

static size_t argblock_size(size_t i)
{
	return mixed_size(i + 3);
}

static void argobj_fin_(void *obj, void *arg)
{
	const unsigned char *block = arg;
	size_t i;
	memcpy(&i, block, sizeof i);
	if (i >= N)
		return;
	arg_seen_intact[i] = (uintptr_t)block == ~argblock_h[i] &&
			     tap_check_range(block, sizeof i, argblock_size(i),
					     0xd00 + i) == SIZE_MAX;
	gcu_watch_check_(obj, &w_argobj[i]);
}

static void argobj_fin(void *obj, void *arg)
{
	void (*volatile f)(void *, void *) = argobj_fin_;
	f(obj, arg);
	gcu_clear_stack();
}

static void argobj_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		unsigned char *obj = goheap_malloc(48);
		/* The argument: a block that nothing but the finalizer
		 * record holds. */
		unsigned char *block = goheap_malloc_atomic(argblock_size(i));
		if (obj == NULL || block == NULL)
			continue;
		memcpy(block, &i, sizeof i);
		tap_fill_range(block, sizeof i, argblock_size(i), 0xd00 + i);
		argblock_h[i] = GCU_HIDE(block);
		memset(&w_argobj[i], 0, sizeof w_argobj[i]);
		w_argobj[i].hidden = GCU_HIDE(obj);
		w_argobj[i].size = 48;
		w_argobj[i].tag = 0xe00 + i;
		tap_fill(obj, 48, w_argobj[i].tag);
		goheap_set_finalizer(obj, argobj_fin, block);
		slots[i] = obj;
	}
}

static GCU_NOINLINE int argblocks_alive(void)
{
	int n = 0;
	for (size_t i = 0; i < N; i++) {
		const unsigned char *b = GCU_REVEAL(argblock_h[i]);
		n += goheap_base(b) == b &&
		     tap_check_range(b, sizeof i, argblock_size(i),
				     0xd00 + i) == SIZE_MAX;
	}
	return n;
}

static void test_arg_kept(void)
{
	gcu_call(argobj_make, NULL);
	churn_collect(3, 4 << 20);
	gcu_settle();
	is_int(argblocks_alive(), N,
	       "blocks held only as finalizer arguments survive 3 collections, "
	       "intact");
	gcu_call(reach_drop_all, NULL);
	int got = gcu_collect_until(w_argobj, N, GCU_MOSTLY(N), 5000);
	gcu_settle();
	cmp_int(got, >=, GCU_MOSTLY(N), "the objects are finalized (%d of %d)",
		got, N);
	int seen = 0;
	for (size_t i = 0; i < N; i++)
		seen += arg_seen_intact[i];
	is_int(seen, gcu_tally(w_argobj, N).finalized,
	       "each finalizer got its argument intact");
}

/* ---- Many finalizers: the table and the queue grow ---- */

static struct gcu_watch *w_many;
static size_t n_many;

static void many_make(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n_many; i++)
		gcu_watch_new(&w_many[i], 16 + (i % 64) * 16, i % 5 == 0,
			      0x10000 + i);
}

static void test_many(void)
{
	n_many = tap_scale(20000, 10);
	w_many = calloc(n_many, sizeof *w_many);
	if (!ok(w_many != NULL, "calloc"))
		return;
	gcu_call(many_make, NULL);
	int got = gcu_collect_until(w_many, n_many, GCU_MOSTLY((int)n_many),
				    10000);
	cmp_int(got, >=, GCU_MOSTLY((int)n_many),
		"%zu finalizers: finalized %d", n_many, got);
	gcu_collect(2);
	gcu_settle();
	struct gcu_tally t = gcu_tally(w_many, n_many);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "each once, on its block, intact");
	/* Watches must outlive any finalizer that may still come. */
	if (t.finalized == (int)n_many)
		free(w_many);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_basic),
	TAP_TEST(test_not_while_reachable),
	TAP_TEST(test_keeps_referents),
	TAP_TEST(test_freed_after),
	TAP_TEST(test_reregister),
	TAP_TEST(test_resurrect),
	TAP_TEST(test_finalizer_allocates),
	TAP_TEST(test_errors),
	TAP_TEST(test_removed_never_runs),
	TAP_TEST(test_free_drops_finalizer),
	TAP_TEST(test_order),
	TAP_TEST(test_arg_kept),
	TAP_TEST(test_many),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	gcu_finish();
	return status;
}
