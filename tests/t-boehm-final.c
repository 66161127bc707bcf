/*
 * t-boehm-final: the Boehm finalization entry points of the libgc.so.1
 * drop-in: GC_register_finalizer and its old-finalizer out-parameters,
 * finalizers run by GC_gcollect, finalization on demand with
 * GC_invoke_finalizers and the notifier, the order of each variant,
 * GC_free; and the disappearing links.
 */
#include "boehm-util.h"
#include "tap.h"

enum { N = 100 };
static GC_word hidden[N];
static int finalized[N];
/* The finalizer thread counts with atomics: read them so. */
static int fin_count(int i)
{
	return __atomic_load_n(&finalized[i], __ATOMIC_ACQUIRE);
}
static void *seen_cd[N];

static void fin(void *obj, void *cd)
{
	for (int i = 0; i < N; i++)
		if (BU_REVEAL(hidden[i]) == obj) {
			__atomic_store_n(&seen_cd[i], cd, __ATOMIC_RELAXED);
			__atomic_add_fetch(&finalized[i], 1, __ATOMIC_RELEASE);
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
		n += fin_count(i);
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
		if (fin_count(i))
			good &= fin_count(i) == 1 &&
				__atomic_load_n(&seen_cd[i], __ATOMIC_RELAXED) == (void *)(long)(i + 1);
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
	is_int(fin_count(0), 0, "a reachable object is not finalized");
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
	is_int(fin_count(0), 0, "GC_free drops the object's finalizer");
}

/* Pairs A -> B (A at hidden[2i], B at hidden[2i + 1]), both finalizable,
 * unreachable.  Several pairs, so that a stale word on the stack keeping
 * one alive fails nothing: the checks are per pair, and "mostly". */
enum { PAIRS = 20 };
static int fin_seq[2 * PAIRS], seq;

static void fin_pair(void *obj, void *cd)
{
	(void)obj;
	long i = (long)cd;
	__atomic_store_n(&fin_seq[i], __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	__atomic_add_fetch(&finalized[i], 1, __ATOMIC_RELEASE);
}

static BU_NOINLINE void make_pairs(int mode)
{
	for (long i = 0; i < PAIRS; i++) {
		void **a = GC_malloc(32), **b = GC_malloc(32);
		a[0] = b;
		if (mode != 0)
			b[0] = a; /* a cycle, which only the unordered modes finalize */
		hidden[2 * i] = BU_HIDE(a);
		hidden[2 * i + 1] = BU_HIDE(b);
		if (mode == 0) {
			GC_register_finalizer(a, fin_pair, (void *)(2 * i), NULL, NULL);
			GC_register_finalizer(b, fin_pair, (void *)(2 * i + 1), NULL, NULL);
		} else if (mode == 1) {
			GC_register_finalizer_no_order(a, fin_pair, (void *)(2 * i), NULL, NULL);
			GC_register_finalizer_no_order(b, fin_pair, (void *)(2 * i + 1), NULL, NULL);
		} else {
			GC_register_finalizer_unreachable(a, fin_pair, (void *)(2 * i), NULL, NULL);
			GC_register_finalizer_unreachable(b, fin_pair, (void *)(2 * i + 1), NULL, NULL);
		}
	}
}

/* Collect until most pairs are wholly finalized (at most 12 times),
 * calling check after each collection; the pairs done. */
static int collect_pairs(void (*check)(int *bad), int *bad)
{
	int done = 0;
	for (int n = 0; n < 12 && done < BU_MOSTLY(PAIRS); n++) {
		bu_clear_stack();
		GC_gcollect();
		usleep(20000); /* a finalizer the finalizer thread took is done */
		check(bad);
		done = 0;
		for (int i = 0; i < PAIRS; i++)
			done += fin_count(2 * i) && fin_count(2 * i + 1);
	}
	return done;
}

/* Ordered: B never finalized before A is. */
static void check_ordered(int *bad)
{
	for (int i = 0; i < PAIRS; i++)
		if (fin_count(2 * i + 1) &&
		    (!fin_count(2 * i) || __atomic_load_n(&fin_seq[2 * i + 1], __ATOMIC_RELAXED) <
						  __atomic_load_n(&fin_seq[2 * i], __ATOMIC_RELAXED)))
			(*bad)++;
}

/* Unordered: the two of a cycle in the same collection. */
static void check_together(int *bad)
{
	for (int i = 0; i < PAIRS; i++)
		if (fin_count(2 * i) != fin_count(2 * i + 1))
			(*bad)++;
}

static void test_ordered(void)
{
	reset();
	make_pairs(0);
	int bad = 0, done = collect_pairs(check_ordered, &bad);
	cmp_int(done, >=, BU_MOSTLY(PAIRS), "ordered: pairs A -> B are finalized");
	is_int(bad, 0, "B only after A, in a later collection");
}

/* An object pointing to itself: never finalized when ordered, finalized
 * with ignore_self and no_order. */
static BU_NOINLINE void make_self(int i, int mode)
{
	void **p = GC_malloc(32);
	p[0] = p;
	p[1] = (char *)p + 8;
	hidden[i] = BU_HIDE(p);
	if (mode == 0)
		GC_register_finalizer(p, fin, NULL, NULL, NULL);
	else if (mode == 1)
		GC_register_finalizer_ignore_self(p, fin, NULL, NULL, NULL);
	else
		GC_register_finalizer_no_order(p, fin, NULL, NULL, NULL);
}

static void test_self_pointers(void)
{
	reset();
	make_self(0, 0);
	make_self(1, 1);
	make_self(2, 2);
	bu_collect();
	bu_collect();
	is_int(fin_count(0), 0, "ordered: an object that points to itself is never finalized");
	is_int(fin_count(1), 1, "ignore_self: its pointers into itself do not count");
	is_int(fin_count(2), 1, "no_order: finalized too");
	GC_register_finalizer(BU_REVEAL(hidden[0]), NULL, NULL, NULL, NULL);
}

static void test_no_order(void)
{
	reset();
	make_pairs(1);
	int bad = 0, done = collect_pairs(check_together, &bad);
	cmp_int(done, >=, BU_MOSTLY(PAIRS), "no_order: cycles of two are finalized");
	is_int(bad, 0, "both of a cycle in the same collection");
	reset();
	make_pairs(2);
	bad = 0;
	done = collect_pairs(check_together, &bad);
	cmp_int(done, >=, BU_MOSTLY(PAIRS), "unreachable: cycles of two are finalized");
	is_int(bad, 0, "both in the same collection");
}

static int notified; /* atomic: the finalizer thread calls the notifier */
static void notifier(void)
{
	__atomic_add_fetch(&notified, 1, __ATOMIC_RELAXED);
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
	cmp_int(__atomic_load_n(&notified, __ATOMIC_RELAXED), >, 0, "the notifier was called");
	ok(GC_should_invoke_finalizers(), "GC_should_invoke_finalizers");
	int n = GC_invoke_finalizers();
	cmp_int(n, >=, BU_MOSTLY(10), "GC_invoke_finalizers ran them");
	is_int(count(), n, "as many as it said");
	GC_set_finalize_on_demand(0);
	GC_set_finalizer_notifier(NULL);
	GC_set_java_finalization(1);
	ok(GC_get_java_finalization(), "GC_set_java_finalization");
}

/* ---- Disappearing links ---- */

static void *links[8]; /* static data: scanned, so the links hold hidden values */

/* Links to objects made unreachable: ten of them, as a stale word on a
 * stack may keep one alive (seen under ASan). */
static void *ulinks[10];

static BU_NOINLINE void make_linked(void)
{
	for (int i = 0; i < 10; i++) {
		void *u = GC_malloc(48);
		ulinks[i] = (void *)BU_HIDE(u);
		if (GC_general_register_disappearing_link(&ulinks[i], u) != GC_SUCCESS)
			ulinks[i] = (void *)1; /* counted as not cleared */
	}
	void *p = GC_malloc(48), *q = GC_malloc(48);
	hidden[0] = BU_HIDE(p);
	hidden[1] = BU_HIDE(q);
	links[0] = (void *)BU_HIDE(p);
	links[1] = (void *)BU_HIDE(q);
	is_int(GC_general_register_disappearing_link(&links[0], p), GC_SUCCESS,
	       "GC_general_register_disappearing_link");
	is_int(GC_general_register_disappearing_link(&links[0], p), GC_DUPLICATE, "again: GC_DUPLICATE");
	is_int(GC_general_register_disappearing_link(&links[1], q), GC_SUCCESS, "a second link");
	keep = q;
}

static void test_links(void)
{
	reset();
	make_linked();
	bu_collect();
	int cleared = links[0] == NULL;
	for (int i = 0; i < 10; i++)
		cleared += ulinks[i] == NULL;
	cmp_int(cleared, >=, 9, "the links to unreachable objects are cleared (all but a stale "
		"word's one or two of 11)");
	for (int i = 0; i < 10; i++)
		if (ulinks[i])
			GC_unregister_disappearing_link(&ulinks[i]);
	ok(links[1] == (void *)BU_HIDE(keep), "the link to a reachable one is not");
	is_int(GC_unregister_disappearing_link(&links[1]), 1, "GC_unregister_disappearing_link: 1");
	is_int(GC_unregister_disappearing_link(&links[1]), 0, "then 0");
	keep = NULL;
	bu_collect();
	ok(links[1] != NULL, "an unregistered link is left alone");
}

static BU_NOINLINE void make_moved(void)
{
	void *p = GC_malloc(48);
	links[2] = (void *)BU_HIDE(p);
	GC_general_register_disappearing_link(&links[2], p);
	GC_general_register_disappearing_link(&links[4], GC_malloc(16));
	links[4] = (void *)1;
	is_int(GC_move_disappearing_link(&links[2], &links[3]), GC_SUCCESS, "GC_move_disappearing_link");
	is_int(GC_move_disappearing_link(&links[2], &links[5]), GC_NOT_FOUND,
	       "moving an unregistered link: GC_NOT_FOUND");
	is_int(GC_move_disappearing_link(&links[3], &links[4]), GC_DUPLICATE,
	       "onto a registered one: GC_DUPLICATE");
	links[3] = links[2];
	links[2] = (void *)7;
}

static void test_move_link(void)
{
	make_moved();
	bu_collect();
	ok(links[3] == NULL, "the moved link is cleared");
	ok(links[2] == (void *)7, "the old place is not written");
	GC_unregister_disappearing_link(&links[4]);
}

/* The link lies in the object it points to (GC_register_disappearing_link):
 * and a link is cleared before the object's finalizer runs. */
static void *seen_link;
static void fin_link(void *obj, void *cd)
{
	(void)obj;
	seen_link = *(void **)cd;
}

static BU_NOINLINE void make_link_and_finalizer(void)
{
	void *p = GC_malloc(48);
	links[6] = (void *)BU_HIDE(p);
	GC_general_register_disappearing_link(&links[6], p);
	GC_register_finalizer(p, fin_link, &links[6], NULL, NULL);
	int good = 0;
	for (int i = 0; i < 20; i++) {
		void **self = GC_malloc_atomic(32);
		self[0] = self;
		good += GC_register_disappearing_link(&self[0]) == GC_SUCCESS;
		hidden[i] = BU_HIDE(self);
	}
	is_int(good, 20, "GC_register_disappearing_link: a link inside its object");
}

static void test_link_before_finalizer(void)
{
	seen_link = (void *)1;
	make_link_and_finalizer();
	bu_collect();
	ok(seen_link == NULL, "the link was cleared before the finalizer ran");
	cmp_uint(bu_alive(hidden, 20), <=, 20 - BU_MOSTLY(20),
		 "a link in its own object does not keep it");
}

static BU_NOINLINE void make_freed_link(void)
{
	void *p = GC_malloc(48);
	links[7] = (void *)BU_HIDE(p);
	GC_general_register_disappearing_link(&links[7], p);
	GC_free(p);
}

static void test_free_clears_link(void)
{
	make_freed_link();
	ok(links[7] == NULL, "GC_free clears the links to the object");
	int local;
	is_int(GC_general_register_disappearing_link(&links[7], &local), GC_SUCCESS,
	       "a link to an object outside the heap: accepted (never cleared)");
	is_int(GC_register_long_link(&links[7], GC_malloc(8)), GC_SUCCESS, "GC_register_long_link");
	is_int(GC_unregister_long_link(&links[7]), 1, "GC_unregister_long_link");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_finalizer_runs),
	TAP_TEST(test_reachable_not_finalized),
	TAP_TEST(test_old_finalizer),
	TAP_TEST(test_free_forgets),
	TAP_TEST(test_ordered),
	TAP_TEST(test_self_pointers),
	TAP_TEST(test_no_order),
	TAP_TEST(test_links),
	TAP_TEST(test_move_link),
	TAP_TEST(test_link_before_finalizer),
	TAP_TEST(test_free_clears_link),
	TAP_TEST(test_on_demand),
};

int main(int argc, char **argv)
{
	GC_INIT();
	return TAP_MAIN(argc, argv, tests);
}
