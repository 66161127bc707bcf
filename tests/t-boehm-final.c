/*
 * t-boehm-final: the Boehm finalization entry points of the libgc.so.1
 * drop-in: GC_register_finalizer and its old-finalizer out-parameters,
 * finalizers run by GC_gcollect, finalization on demand with
 * GC_invoke_finalizers and the notifier, ordering, GC_free.
 */
#include "boehm-util.h"
#include "tap.h"

enum { N = 100 };
static GC_word hidden[N];
static int finalized[N];
static void *seen_cd[N];

static void fin(void *obj, void *cd)
{
	for (int i = 0; i < N; i++)
		if (BU_REVEAL(hidden[i]) == obj) {
			finalized[i]++;
			seen_cd[i] = cd;
		}
}

static void fin2(void *obj, void *cd)
{
	fin(obj, cd);
}

static void reset(void)
{
	memset(hidden, 0, sizeof hidden);
	memset(finalized, 0, sizeof finalized);
	memset(seen_cd, 0, sizeof seen_cd);
}

static int count(void)
{
	int n = 0;
	for (int i = 0; i < N; i++)
		n += finalized[i];
	return n;
}

static BU_NOINLINE void make_finalizable(int n)
{
	for (int i = 0; i < n; i++) {
		void *p = GC_malloc(32);
		hidden[i] = BU_HIDE(p);
		GC_register_finalizer(p, fin, (void *)(long)(i + 1), NULL, NULL);
	}
}

static void test_finalizer_runs(void)
{
	reset();
	make_finalizable(N);
	bu_collect();
	cmp_int(count(), >=, BU_MOSTLY(N), "finalizers of unreachable objects ran by GC_gcollect's end");
	int good = 1;
	for (int i = 0; i < N; i++)
		if (finalized[i])
			good &= finalized[i] == 1 && seen_cd[i] == (void *)(long)(i + 1);
	ok(good, "each once, with its client data");
	bu_collect();
	cmp_uint(bu_alive(hidden, N), <=, N - BU_MOSTLY(N), "and the objects are freed afterwards");
}

static void *volatile keep;

static void test_reachable_not_finalized(void)
{
	reset();
	void *p = GC_malloc(32);
	keep = p;
	hidden[0] = BU_HIDE(p);
	GC_register_finalizer(p, fin, NULL, NULL, NULL);
	p = NULL;
	bu_collect();
	is_int(finalized[0], 0, "a reachable object is not finalized");
	keep = NULL;
}

static void test_old_finalizer(void)
{
	void *p = GC_malloc(32);
	GC_finalization_proc ofn = fin2;
	void *ocd = &ofn;
	GC_register_finalizer(p, fin, (void *)1, &ofn, &ocd);
	ok(ofn == NULL && ocd == NULL, "no old finalizer: NULL, NULL");
	GC_register_finalizer_ignore_self(p, fin2, (void *)2, &ofn, &ocd);
	ok(ofn == fin && ocd == (void *)1, "the old finalizer and its data come back");
	GC_register_finalizer_no_order(p, NULL, NULL, &ofn, &ocd);
	ok(ofn == fin2 && ocd == (void *)2, "removing returns the one removed");
	GC_register_finalizer(p, NULL, NULL, &ofn, &ocd);
	ok(ofn == NULL, "and then there is none");
	int local;
	GC_register_finalizer(&local, fin, NULL, &ofn, &ocd);
	ok(ofn == NULL, "not a heap object: ignored");
	GC_debug_register_finalizer_ignore_self(p, fin, (void *)3, &ofn, &ocd);
	GC_REGISTER_FINALIZER(p, NULL, NULL, &ofn, &ocd);
	ok(ofn == fin && ocd == (void *)3, "GC_debug_register_finalizer_ignore_self");
}

static void test_free_forgets(void)
{
	reset();
	void *p = GC_malloc(32);
	hidden[0] = BU_HIDE(p);
	GC_register_finalizer(p, fin, NULL, NULL, NULL);
	GC_free(p);
	p = NULL;
	void *q = GC_malloc(32); /* may reuse the block */
	(void)q;
	bu_collect();
	is_int(finalized[0], 0, "GC_free drops the object's finalizer");
}

/* A -> B, both finalizable and unreachable: A first, B a cycle later. */
static BU_NOINLINE void make_chain(void)
{
	void **a = GC_malloc(32), **b = GC_malloc(32);
	a[0] = b;
	hidden[0] = BU_HIDE(a);
	hidden[1] = BU_HIDE(b);
	GC_register_finalizer(a, fin, NULL, NULL, NULL);
	GC_register_finalizer(b, fin, NULL, NULL, NULL);
}

static void test_ordered(void)
{
	reset();
	make_chain();
	bu_clear_stack();
	GC_gcollect();
	ok(finalized[0] == 1 && finalized[1] == 0,
	   "ordered: of A -> B, A is finalized first (A %d, B %d)", finalized[0], finalized[1]);
	bu_clear_stack();
	GC_gcollect();
	GC_gcollect();
	is_int(finalized[1], 1, "B in a later collection");
}

static int notified;
static void notifier(void)
{
	notified++;
}

static void test_on_demand(void)
{
	reset();
	GC_set_finalize_on_demand(1);
	ok(GC_get_finalize_on_demand() && GC_finalize_on_demand, "GC_set_finalize_on_demand");
	GC_set_finalizer_notifier(notifier);
	ok(GC_get_finalizer_notifier() == notifier, "GC_get_finalizer_notifier");
	make_finalizable(10);
	bu_collect();
	usleep(100000); /* the finalizer thread queues them */
	is_int(count(), 0, "on demand, no finalizer runs by itself");
	cmp_int(notified, >, 0, "the notifier was called");
	ok(GC_should_invoke_finalizers(), "GC_should_invoke_finalizers");
	int n = GC_invoke_finalizers();
	cmp_int(n, >=, BU_MOSTLY(10), "GC_invoke_finalizers ran them");
	is_int(count(), n, "as many as it said");
	GC_set_finalize_on_demand(0);
	GC_set_finalizer_notifier(NULL);
	GC_set_java_finalization(1);
	ok(GC_get_java_finalization(), "GC_set_java_finalization");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_finalizer_runs),
	TAP_TEST(test_reachable_not_finalized),
	TAP_TEST(test_old_finalizer),
	TAP_TEST(test_free_forgets),
	TAP_TEST(test_ordered),
	TAP_TEST(test_on_demand),
};

int main(int argc, char **argv)
{
	GC_INIT();
	return TAP_MAIN(argc, argv, tests);
}
