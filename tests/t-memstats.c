/*
 * t-memstats: goheap_read_memstats.
 *
 * The structure identifies itself (size, version, class sizes), its
 * totals agree with each other (sys covers heap_sys, which is idle plus
 * in use, of which released is part of idle), and, in a single-threaded
 * program, every allocation and free moves the counters by exactly what
 * it allocated or freed: k blocks of class c add k * size(c) bytes and k
 * objects, in total and in by_size[c]; large blocks count in by_size[0]
 * with their page-rounded size.
 */
#include <goheap.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sizeclasses.h"
#include "tap.h"

enum { PAGE = 8192, MiB = 1 << 20 };

static goheap_memstats *read_stats(void)
{
	/* Too large for the stack of some threads; use the system heap so
	 * that reading statistics does not change goheap's. */
	goheap_memstats *s = malloc(sizeof *s);
	if (s == NULL)
		bail_out("out of memory");
	memset(s, 0xa5, sizeof *s); /* catch fields left unset */
	goheap_read_memstats(s);
	return s;
}

static void check_invariants(const goheap_memstats *s, const char *when)
{
	is_uint(s->alloc, s->heap_alloc, "%s: alloc == heap_alloc", when);
	cmp_uint(s->sys, >=, s->heap_sys, "%s: sys >= heap_sys", when);
	is_uint(s->heap_sys, s->heap_idle + s->heap_inuse,
		"%s: heap_sys == heap_idle + heap_inuse", when);
	cmp_uint(s->heap_released, <=, s->heap_idle,
		 "%s: heap_released <= heap_idle", when);
	cmp_uint(s->heap_alloc, <=, s->heap_inuse,
		 "%s: heap_alloc <= heap_inuse", when);
	cmp_uint(s->nfree, <=, s->nmalloc, "%s: nfree <= nmalloc", when);
	cmp_uint(s->alloc, <=, s->total_alloc, "%s: alloc <= total_alloc",
		 when);
}

static void test_identity(void)
{
	goheap_memstats *s = read_stats();
	is_uint(s->size, sizeof(goheap_memstats), "size is sizeof the struct");
	is_uint(s->version, GOHEAP_MEMSTATS_VERSION,
		"version is GOHEAP_MEMSTATS_VERSION");
	is_uint(s->by_size[0].size, 0, "by_size[0] (large objects) has size 0");
	int bad = 0;
	for (int c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
		if (s->by_size[c].size != gh_class_size[c] && bad++ < 5)
			diag("by_size[%d].size = %u, class size %u", c,
			     s->by_size[c].size, gh_class_size[c]);
	}
	is_int(bad, 0, "by_size[c].size is the size of class c");
	check_invariants(s, "at start");
	free(s);
}

/* The totals agree at every stage of a heap's life. */
static void test_invariants(void)
{
	enum { N = 2000 };
	static void *blk[N];
	struct tap_rng r = tap_rng_init(31);
	goheap_memstats *s;

	for (int i = 0; i < N; i++) {
		size_t n = i % 50 == 0 ? tap_rng_range(&r, 32769, 2 * MiB)
				       : tap_rng_range(&r, 1, 32768);
		blk[i] = goheap_malloc(n);
	}
	s = read_stats();
	check_invariants(s, "blocks allocated");
	cmp_uint(s->heap_alloc, >=, 2 * N, "heap_alloc counts them");
	cmp_uint(s->heap_objects, >=, N, "heap_objects counts them");
	free(s);

	for (int i = 0; i < N; i += 2)
		goheap_free(blk[i]);
	s = read_stats();
	check_invariants(s, "half freed");
	free(s);

	for (int i = 1; i < N; i += 2)
		goheap_free(blk[i]);
	s = read_stats();
	check_invariants(s, "all freed");
	free(s);

	goheap_free_os_memory();
	s = read_stats();
	check_invariants(s, "memory returned to the OS");
	free(s);
}

/* Allocating k blocks in class c and freeing them moves the counters by
 * exactly k blocks of size(c). */
static void test_small_deltas(void)
{
	enum { K = 12 };
	void *blk[K];
	int bad = 0;

	for (int c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
		uint64_t size = gh_class_size[c];
		/* Sizes anywhere in the class, made in every way. */
		size_t lo = gh_class_size[c - 1] + 1u;
		size_t req[K];
		for (int i = 0; i < K; i++)
			req[i] = lo + (size - lo) * (size_t)i / (K - 1);

		goheap_memstats *s0 = read_stats();
		for (int i = 0; i < K; i++) {
			switch (i % 3) {
			case 0:
				blk[i] = goheap_malloc(req[i]);
				break;
			case 1:
				blk[i] = goheap_calloc(1, req[i]);
				break;
			default:
				/* Below 16 bytes atomic requests are tiny. */
				blk[i] = req[i] >= 16
						 ? goheap_malloc_atomic(req[i])
						 : goheap_malloc(req[i]);
				break;
			}
		}
		goheap_memstats *s1 = read_stats();
		for (int i = 0; i < K; i++)
			goheap_free(blk[i]);
		goheap_memstats *s2 = read_stats();

		struct {
			const char *what;
			uint64_t got, want;
		} d[] = {
			{ "alloc", s1->alloc - s0->alloc, K * size },
			{ "heap_alloc", s1->heap_alloc - s0->heap_alloc,
			  K * size },
			{ "total_alloc", s1->total_alloc - s0->total_alloc,
			  K * size },
			{ "nmalloc", s1->nmalloc - s0->nmalloc, K },
			{ "heap_objects", s1->heap_objects - s0->heap_objects,
			  K },
			{ "by_size.nmalloc",
			  s1->by_size[c].nmalloc - s0->by_size[c].nmalloc, K },
			{ "nfree after allocating", s1->nfree - s0->nfree, 0 },
			{ "nfree", s2->nfree - s1->nfree, K },
			{ "by_size.nfree",
			  s2->by_size[c].nfree - s1->by_size[c].nfree, K },
			{ "alloc after freeing", s2->alloc, s0->alloc },
			{ "heap_objects after freeing", s2->heap_objects,
			  s0->heap_objects },
			{ "total_alloc after freeing", s2->total_alloc,
			  s1->total_alloc },
		};
		int good = 1;
		for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
			if (d[i].got != d[i].want) {
				good = 0;
				diag("class %d (%u bytes): %s: got %" PRIu64
				     ", expected %" PRIu64,
				     c, gh_class_size[c], d[i].what, d[i].got,
				     d[i].want);
			}
		}
		if (!good)
			bad++;
		free(s0);
		free(s1);
		free(s2);
	}
	is_int(bad, 0, "every class: %d blocks move alloc, total_alloc, "
		       "nmalloc, heap_objects, nfree and by_size exactly",
	       K);
}

/* Large blocks count in by_size[0] with their page-rounded size. */
static void test_large_deltas(void)
{
	static const size_t sizes[] = { 32769, 40960, 100000, MiB + 1 };
	enum { K = 3 };
	void *blk[K];

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		uint64_t rounded = (n + PAGE - 1) / PAGE * PAGE;
		goheap_memstats *s0 = read_stats();
		for (int j = 0; j < K; j++)
			blk[j] = j == 1 ? goheap_malloc_atomic(n)
					: goheap_malloc(n);
		goheap_memstats *s1 = read_stats();
		for (int j = 0; j < K; j++)
			goheap_free(blk[j]);
		goheap_memstats *s2 = read_stats();

		is_uint(s1->alloc - s0->alloc, K * rounded,
			"%d x %zu bytes: alloc grows by the rounded size", K,
			n);
		is_uint(s1->heap_alloc - s0->heap_alloc, K * rounded,
			"%d x %zu bytes: heap_alloc too", K, n);
		is_uint(s1->total_alloc - s0->total_alloc, K * rounded,
			"%d x %zu bytes: total_alloc too", K, n);
		is_uint(s1->nmalloc - s0->nmalloc, K,
			"%d x %zu bytes: nmalloc", K, n);
		is_uint(s1->heap_objects - s0->heap_objects, K,
			"%d x %zu bytes: heap_objects", K, n);
		is_uint(s1->by_size[0].nmalloc - s0->by_size[0].nmalloc, K,
			"%d x %zu bytes: by_size[0].nmalloc", K, n);
		cmp_uint(s1->heap_inuse - s0->heap_inuse, >=, K * rounded,
			 "%d x %zu bytes: heap_inuse holds them", K, n);
		is_uint(s2->nfree - s1->nfree, K, "%d x %zu bytes: nfree", K,
			n);
		is_uint(s2->by_size[0].nfree - s1->by_size[0].nfree, K,
			"%d x %zu bytes: by_size[0].nfree", K, n);
		is_uint(s2->alloc, s0->alloc,
			"%d x %zu bytes: alloc is back after the frees", K, n);
		is_uint(s2->heap_objects, s0->heap_objects,
			"%d x %zu bytes: heap_objects is back", K, n);
		free(s0);
		free(s1);
		free(s2);
	}
}

/* Counters of things ever done never go down. */
static void test_monotone(void)
{
	enum { NSLOT = 128 };
	static void *slot[NSLOT];
	struct tap_rng r = tap_rng_init(32);
	goheap_memstats *prev = read_stats();
	int bad = 0;
	const int steps = (int)tap_scale(400, 4);

	for (int step = 0; step < steps; step++) {
		for (int k = 0; k < 20; k++) {
			size_t i = tap_rng_range(&r, 0, NSLOT - 1);
			if (slot[i] != NULL) {
				goheap_free(slot[i]);
				slot[i] = NULL;
			} else {
				slot[i] = goheap_malloc(
					tap_rng_range(&r, 0, 9) == 0
						? tap_rng_range(&r, 1, 200000)
						: tap_rng_range(&r, 1, 2000));
			}
		}
		if (step % 100 == 99)
			goheap_free_os_memory();
		goheap_memstats *s = read_stats();
		if ((s->total_alloc < prev->total_alloc ||
		     s->nmalloc < prev->nmalloc || s->nfree < prev->nfree) &&
		    bad++ < 5)
			diag("step %d: total_alloc %" PRIu64 " -> %" PRIu64
			     ", nmalloc %" PRIu64 " -> %" PRIu64
			     ", nfree %" PRIu64 " -> %" PRIu64,
			     step, prev->total_alloc, s->total_alloc,
			     prev->nmalloc, s->nmalloc, prev->nfree, s->nfree);
		for (int c = 0; c < GOHEAP_NUM_SIZE_CLASSES; c++)
			if ((s->by_size[c].nmalloc < prev->by_size[c].nmalloc ||
			     s->by_size[c].nfree < prev->by_size[c].nfree) &&
			    bad++ < 5)
				diag("step %d: by_size[%d] went down", step,
				     c);
		free(prev);
		prev = s;
	}
	is_int(bad, 0, "total_alloc, nmalloc, nfree and by_size never "
		       "decrease");
	check_invariants(prev, "after random work");
	free(prev);
	for (int i = 0; i < NSLOT; i++)
		goheap_free(slot[i]);
}

/* Pointer lookups are counted. */
static void test_nlookup(void)
{
	enum { N = 1000 };
	char *p = goheap_malloc(100);
	goheap_memstats *s0 = read_stats();
	for (int i = 0; i < N; i++) {
		if (goheap_base(p + i % 100) != p)
			break;
		if (goheap_usable_size(p) != 112)
			break;
	}
	goheap_memstats *s1 = read_stats();
	cmp_uint(s1->nlookup - s0->nlookup, >=, 2 * N,
		 "%d goheap_base and goheap_usable_size calls count in nlookup",
		 2 * N);
	free(s0);
	free(s1);
	goheap_free(p);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_identity),
	TAP_TEST(test_invariants),
	TAP_TEST(test_small_deltas),
	TAP_TEST(test_large_deltas),
	TAP_TEST(test_monotone),
	TAP_TEST(test_nlookup),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
