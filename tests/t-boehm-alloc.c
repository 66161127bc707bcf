/*
 * t-boehm-alloc: the Boehm allocation entry points of the libgc.so.1
 * drop-in, as Boehm's interface documents them, built against
 * <goheap/gc.h> and linked with lib/libgc.la.
 */
#include <errno.h>
#include <stdint.h>

#include "boehm-util.h"
#include "tap.h"

enum { N = 400 };
static GC_word hidden[N];

/* ---- GC_malloc, GC_malloc_atomic ---- */

static void test_malloc_zeroed(void)
{
	for (size_t n = 0; n < 5000; n += 97) {
		unsigned char *p = GC_malloc(n);
		ok(p != NULL, "GC_malloc(%zu)", n);
		size_t nz = 0;
		for (size_t i = 0; i < n; i++)
			nz += p[i] != 0;
		is_uint(nz, 0, "GC_malloc(%zu) is zeroed", n);
		memset(p, 0xa5, n);
		cmp_uint(GC_size(p), >, n, "GC_size counts the extra byte of all interior pointers");
		is_ptr(GC_base(p + n), p, "a pointer just past the end finds the object");
	}
	void *big = GC_malloc(1 << 20);
	ok(big != NULL && ((char *)big)[(1 << 20) - 1] == 0, "a large GC_malloc is zeroed");
}

static BU_NOINLINE void make_garbage(int atomic)
{
	for (int i = 0; i < N; i++) {
		void *p = atomic ? GC_malloc_atomic(48) : GC_malloc(48);
		hidden[i] = BU_HIDE(p);
	}
}

static void test_garbage_is_collected(void)
{
	make_garbage(0);
	bu_collect();
	cmp_uint(bu_alive(hidden, N), <=, N - BU_MOSTLY(N), "unreachable GC_malloc objects are collected");
	make_garbage(1);
	bu_collect();
	cmp_uint(bu_alive(hidden, N), <=, N - BU_MOSTLY(N),
		 "unreachable GC_malloc_atomic objects are collected");
}

static void *volatile keep;

static BU_NOINLINE void make_referenced(int atomic_holder)
{
	void **holder = atomic_holder ? GC_malloc_atomic(N * sizeof(void *))
				      : GC_malloc(N * sizeof(void *));
	for (int i = 0; i < N; i++) {
		holder[i] = GC_malloc(32);
		hidden[i] = BU_HIDE(holder[i]);
	}
	keep = holder;
}

static void test_scanned_or_not(void)
{
	make_referenced(0);
	bu_collect();
	is_uint(bu_alive(hidden, N), N, "objects referenced from a GC_malloc object live");
	make_referenced(1);
	bu_collect();
	cmp_uint(bu_alive(hidden, N), <=, N - BU_MOSTLY(N),
		 "a GC_malloc_atomic object is not scanned: what it points to is collected");
	keep = NULL;
}

static char *volatile past_end;

static BU_NOINLINE void make_past_end(void)
{
	char *p = GC_malloc(64);
	hidden[0] = BU_HIDE(p);
	past_end = p + 64;
}

static void test_past_end_pointer(void)
{
	make_past_end();
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) != NULL,
	   "a pointer one past the end keeps the object alive (GC_all_interior_pointers)");
	past_end = NULL;
}

static void test_ignore_off_page(void)
{
	char *p = GC_malloc_ignore_off_page(200000);
	char *q = GC_malloc_atomic_ignore_off_page(200000);
	ok(p && q, "GC_malloc_ignore_off_page and the atomic one allocate");
	ok(p[199999] == 0, "GC_malloc_ignore_off_page is zeroed");
	is_ptr(GC_base(p + 150000), p, "GC_base of a deep interior pointer");
	memset(q, 1, 200000);
	GC_free(p);
	GC_free(q);
}

/* ---- Uncollectable objects ---- */

static BU_NOINLINE void make_uncollectable(int atomic)
{
	for (int i = 0; i < N; i++) {
		void **p = atomic ? GC_malloc_atomic_uncollectable(32) : GC_malloc_uncollectable(32);
		memset(p, 0, 32);
		if (!atomic)
			p[1] = GC_malloc(24); /* reachable only from p */
		((char *)p)[31] = (char)i;
		hidden[i] = BU_HIDE(p);
	}
}

static void test_uncollectable(void)
{
	GC_word before = GC_get_non_gc_bytes();
	make_uncollectable(0);
	cmp_uint(GC_get_non_gc_bytes(), >=, before + N * 32, "GC_non_gc_bytes counts them");
	bu_collect();
	is_uint(bu_alive(hidden, N), N, "GC_malloc_uncollectable objects are never collected");
	size_t ok_ref = 0, intact = 0;
	for (int i = 0; i < N; i++) {
		void **p = BU_REVEAL(hidden[i]);
		ok_ref += GC_base(p[1]) == p[1];
		intact += ((char *)p)[31] == (char)i;
	}
	is_uint(ok_ref, N, "what they point to lives");
	is_uint(intact, N, "their contents are intact");
	for (int i = 0; i < N; i++)
		GC_free(BU_REVEAL(hidden[i]));
	is_uint(GC_get_non_gc_bytes(), before, "GC_free gives the bytes back");
	bu_collect();
	cmp_uint(bu_alive(hidden, N), <=, N - BU_MOSTLY(N), "GC_free frees them");
}

static BU_NOINLINE void make_atomic_unc(void)
{
	void **p = GC_malloc_atomic_uncollectable(64);
	p[0] = GC_malloc(32);
	hidden[0] = BU_HIDE(p);
	hidden[1] = BU_HIDE(p[0]);
}

static void test_atomic_uncollectable(void)
{
	make_atomic_unc();
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) != NULL, "GC_malloc_atomic_uncollectable is never collected");
	ok(GC_base(BU_REVEAL(hidden[1])) == NULL, "and not scanned");
	void *q = GC_realloc(BU_REVEAL(hidden[0]), 5000);
	hidden[0] = BU_HIDE(q);
	q = NULL;
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) != NULL, "GC_realloc of an uncollectable one is uncollectable");
	GC_free(BU_REVEAL(hidden[0]));
}

/* ---- GC_realloc, GC_free ---- */

static void test_realloc(void)
{
	char *p = GC_realloc(NULL, 100);
	ok(p != NULL && p[99] == 0, "GC_realloc(NULL, n) is GC_malloc(n)");
	for (int i = 0; i < 100; i++)
		p[i] = (char)i;
	p = GC_realloc(p, 10000);
	int same = 1;
	for (int i = 0; i < 100; i++)
		same &= p[i] == (char)i;
	ok(same, "growing keeps the contents");
	ok(p[9999] == 0, "the new part of a GC_malloc object is zeroed");
	char *q = GC_realloc(p, 50);
	ok(q != NULL && q[49] == 49, "shrinking keeps the start");
	memset(q, 7, 50);
	q = GC_realloc(q, 60);
	ok(q[55] == 0, "shrunk then grown in place: the bytes past the old size are zero");
	is_ptr(GC_realloc(q, 0), NULL, "GC_realloc(p, 0) frees p and returns NULL");
	ok(GC_base(q) == NULL, "and p is free");
}

static BU_NOINLINE void make_atomic_realloc(void)
{
	void **p = GC_malloc_atomic(64);
	p = GC_realloc(p, 20000);
	p[0] = GC_malloc(32);
	hidden[0] = BU_HIDE(p[0]);
	keep = p;
}

static void test_realloc_keeps_kind(void)
{
	make_atomic_realloc();
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) == NULL,
	   "GC_realloc of a GC_malloc_atomic object gives an atomic one");
	keep = NULL;
}

static void test_free(void)
{
	void *p = GC_malloc(100), *q = GC_malloc_atomic(100000);
	ok(GC_base(p) == p && GC_base(q) == q, "live objects are their own base");
	GC_free(p);
	GC_free(q);
	ok(GC_base(p) == NULL, "GC_free frees a small object at once");
	ok(GC_base(q) == NULL, "GC_free frees a large object at once");
	GC_free(NULL);
	ok(1, "GC_free(NULL) does nothing");
}

static void test_strdup(void)
{
	char *s = GC_strdup("boehm");
	is_str(s, "boehm", "GC_strdup");
	ok(GC_base(s) == s, "GC_strdup's copy is a heap object");
	is_str(GC_strndup("collector", 4), "coll", "GC_strndup stops at n");
	is_str(GC_strndup("gc", 10), "gc", "GC_strndup stops at the end");
	is_ptr(GC_strdup(NULL), NULL, "GC_strdup(NULL) is NULL");
}

static int static_word;

static void test_base_and_heap_ptr(void)
{
	char *p = GC_malloc(1000);
	is_ptr(GC_base(p + 500), p, "GC_base of an interior pointer");
	is_ptr(GC_base(&static_word), NULL, "GC_base of static data is NULL");
	int local;
	is_ptr(GC_base(&local), NULL, "GC_base of the stack is NULL");
	ok(GC_is_heap_ptr(p + 10), "GC_is_heap_ptr of an object");
	ok(!GC_is_heap_ptr(&local) && !GC_is_heap_ptr(&static_word),
	   "GC_is_heap_ptr of the stack and static data");
	ok((char *)GC_least_plausible_heap_addr <= p &&
		   p < (char *)GC_greatest_plausible_heap_addr,
	   "objects lie within the plausible heap bounds");
	GC_register_displacement(8);
	GC_REGISTER_DISPLACEMENT(16);
	ok(1, "GC_register_displacement is accepted");
}

static void test_malloc_many(void)
{
	void *list = GC_malloc_many(40);
	ok(list != NULL, "GC_malloc_many gives a list");
	int n = 0, zero = 1, sized = 1;
	for (void *p = list; p; p = GC_NEXT(p)) {
		n++;
		for (int i = sizeof(void *); i < 40; i++)
			zero &= ((char *)p)[i] == 0;
		sized &= GC_size(p) >= 40;
	}
	cmp_int(n, >=, 2, "of several objects");
	ok(zero, "zeroed past the link");
	ok(sized, "each of at least the size asked");
}

/* ---- Typed objects ---- */

struct mixed {
	void *ptr;
	GC_word notptr;
	void *ptr2;
};

static BU_NOINLINE void make_typed(GC_descr d)
{
	struct mixed *m = GC_malloc_explicitly_typed(sizeof *m, d);
	m->ptr = GC_malloc(16);
	m->notptr = (GC_word)GC_malloc(16);
	m->ptr2 = GC_malloc(16);
	hidden[0] = BU_HIDE(m->ptr);
	hidden[1] = BU_HIDE(m->notptr);
	hidden[2] = BU_HIDE(m->ptr2);
	keep = m;
}

static void test_typed(void)
{
	GC_word bm[GC_BITMAP_SIZE(struct mixed)] = {0};
	GC_set_bit(bm, GC_WORD_OFFSET(struct mixed, ptr));
	GC_set_bit(bm, GC_WORD_OFFSET(struct mixed, ptr2));
	GC_descr d = GC_make_descriptor(bm, sizeof(struct mixed) / sizeof(GC_word));
	ok(GC_make_descriptor(bm, 3) == d, "equal bitmaps give the same descriptor");
	make_typed(d);
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) && GC_base(BU_REVEAL(hidden[2])),
	   "the pointer words of a typed object keep their objects");
	ok(GC_base(BU_REVEAL(hidden[1])) == NULL, "a non-pointer word does not");
	struct mixed *arr = GC_calloc_explicitly_typed(10, sizeof *arr, d);
	ok(arr && arr[9].ptr2 == NULL, "GC_calloc_explicitly_typed gives zeroed elements");
	keep = NULL;
}

/* ---- Debugging versions, GC_is_visible, GC_memalign, out of memory ---- */

static void test_debug_versions(void)
{
	char *p = GC_debug_malloc(10, __FILE__, __LINE__);
	char *q = GC_debug_malloc_atomic(10, __FILE__, __LINE__);
	char *u = GC_debug_malloc_uncollectable(10, __FILE__, __LINE__);
	ok(p && q && u && p[9] == 0, "GC_debug_malloc, _atomic and _uncollectable allocate");
	GC_debug_free(p);
	GC_debug_free(u);
	ok(GC_base(p) == NULL && GC_base(u) == NULL, "GC_debug_free frees");
}

static void *not_visible;
static void record_invisible(void *p)
{
	not_visible = p;
}

static void test_is_visible(void)
{
	void (*old)(void *) = GC_is_visible_print_proc;
	GC_is_visible_print_proc = record_invisible;
	int local;
	void **scanned = GC_malloc(64);
	char *atomic = GC_malloc_atomic(64);
	is_ptr(GC_is_visible(&local), &local, "GC_is_visible returns its argument");
	is_ptr(GC_is_visible(&static_word), &static_word, "static data");
	GC_is_visible(scanned + 3);
	is_ptr(not_visible, NULL, "the stack, static data and scanned objects are visible");
	GC_is_visible(atomic + 8);
	is_ptr(not_visible, atomic + 8, "a word of an atomic object is not");
	not_visible = NULL;
	void *m = malloc(64);
	GC_is_visible(m);
	is_ptr(not_visible, m, "nor is malloc'd memory");
	free(m);
	GC_is_visible_print_proc = old;
}

static void test_memalign(void)
{
	for (size_t a = 32; a <= 65536; a *= 2) {
		void *p = GC_memalign(a, 100);
		ok(p && ((uintptr_t)p & (a - 1)) == 0, "GC_memalign(%zu, 100) is aligned", a);
	}
	void *p;
	is_int(GC_posix_memalign(&p, 3, 10), EINVAL, "GC_posix_memalign rejects a bad alignment");
	is_int(GC_posix_memalign(&p, 64, 10), 0, "GC_posix_memalign(64)");
}

static size_t oom_asked;
static char oom_answer[4];
static void *on_oom(size_t n)
{
	oom_asked = n;
	return oom_answer;
}

static void test_oom_fn(void)
{
	GC_oom_func old = GC_get_oom_fn();
	GC_set_oom_fn(on_oom);
	ok(GC_get_oom_fn() == on_oom, "GC_get_oom_fn returns what was set");
	void *p = GC_malloc((size_t)1 << 62);
	is_ptr(p, oom_answer, "a failed GC_malloc returns what the oom function returns");
	is_uint(oom_asked, (size_t)1 << 62, "which was told the size asked");
	volatile size_t huge = SIZE_MAX;
	p = GC_malloc_atomic(huge);
	is_ptr(p, oom_answer, "GC_malloc_atomic too");
	GC_set_oom_fn(old);
	is_ptr(GC_malloc((size_t)1 << 62), NULL, "without one, NULL");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_malloc_zeroed),
	TAP_TEST(test_garbage_is_collected),
	TAP_TEST(test_scanned_or_not),
	TAP_TEST(test_past_end_pointer),
	TAP_TEST(test_ignore_off_page),
	TAP_TEST(test_uncollectable),
	TAP_TEST(test_atomic_uncollectable),
	TAP_TEST(test_realloc),
	TAP_TEST(test_realloc_keeps_kind),
	TAP_TEST(test_free),
	TAP_TEST(test_strdup),
	TAP_TEST(test_base_and_heap_ptr),
	TAP_TEST(test_malloc_many),
	TAP_TEST(test_typed),
	TAP_TEST(test_debug_versions),
	TAP_TEST(test_is_visible),
	TAP_TEST(test_memalign),
	TAP_TEST(test_oom_fn),
};

int main(int argc, char **argv)
{
	GC_INIT();
	return TAP_MAIN(argc, argv, tests);
}
