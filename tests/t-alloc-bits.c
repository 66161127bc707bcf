/*
 * t-alloc-bits - small blocks come from their span's allocation bits, and
 * blocks freed by hand wait on the freeing thread's list (lib/malloc.c);
 * a collection, with the world stopped, marks every block on every list
 * and takes every thread's cached span back (lib/mcache.c), and never
 * stops a thread half-way through taking a block from its span's bits
 * (the busy section, lib/stw_linux.c).  Each test here fails if one of
 * those is left out:
 *
 *   - blocks on a thread's list must stay allocated through a collection:
 *     otherwise the sweep frees them too, and they are handed out twice,
 *     once from the list and once from the bits;
 *   - a cached span must be taken back: otherwise its sweep resets the
 *     bits the owner allocates from, and live blocks are handed out again;
 *   - a collection must wait for a busy thread: otherwise a block the
 *     thread was taking is found free, and handed out twice.
 *
 * A block handed out twice shows as two live blocks at one address, or as
 * a block whose pattern another overwrote.
 */
#include <goheap.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcutil.h"
#include "tap.h"

struct blk {
	unsigned char *p;
	size_t n;
	uint64_t tag;
};

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct blk *)a)->p;
	uintptr_t y = (uintptr_t)((const struct blk *)b)->p;
	return x < y ? -1 : x > y;
}

/* Blocks of bs that overlap another, or lost their pattern. */
static int count_bad(struct blk *bs, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		if (bs[i].p && tap_check(bs[i].p, bs[i].n, bs[i].tag) != SIZE_MAX)
			bad++;
	struct blk *sorted = malloc(n * sizeof *sorted);
	if (!sorted)
		return bad + 1;
	memcpy(sorted, bs, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_ptr);
	for (size_t i = 1; i < n; i++)
		if (sorted[i - 1].p && sorted[i - 1].p + sorted[i - 1].n > sorted[i].p)
			bad++;
	free(sorted);
	return bad;
}

static void fill(struct blk *b, unsigned char *p, size_t n, uint64_t tag)
{
	b->p = p;
	b->n = n;
	b->tag = tag;
	if (p)
		tap_fill(p, n, tag);
}

/* ---- Listed blocks stay allocated ---- */

enum { K = 64 };
static struct blk kept[4 * K];

static void listed_fill(void *arg)
{
	size_t n = *(size_t *)arg;
	for (size_t i = 0; i < 2 * K; i++)
		fill(&kept[i], goheap_malloc(n), n, 0x5100 + i);
	/* Half of them on this thread's list, which holds 2 x 64 KiB worth
	 * before it gives any back. */
	for (size_t i = 0; i < 2 * K; i += 2) {
		goheap_free(kept[i].p);
		kept[i].p = NULL;
	}
}

static void listed_refill(void *arg)
{
	size_t n = *(size_t *)arg;
	for (size_t i = 2 * K; i < 4 * K; i++)
		fill(&kept[i], goheap_malloc(n), n, 0x5200 + i);
	for (size_t i = 0; i < 2 * K; i += 2)
		fill(&kept[i], goheap_malloc(n), n, 0x5300 + i);
}

static void test_listed_blocks(void)
{
	static const size_t sizes[] = {16, 48, 256, 2048};
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];
		memset(kept, 0, sizeof kept);
		gcu_call(listed_fill, &n);
		gcu_collect(2);
		gcu_call(listed_refill, &n);
		gcu_collect(1);
		size_t got = 0;
		for (size_t i = 0; i < 4 * K; i++)
			got += kept[i].p != NULL;
		is_uint(got, 4 * K, "%zu-byte blocks: all allocated", n);
		is_int(count_bad(kept, 4 * K), 0,
		       "%zu-byte blocks freed by hand, a collection, then as many again and "
		       "more: no block handed out twice",
		       n);
	}
	memset(kept, 0, sizeof kept);
}

/* ---- Cached spans are taken back ---- */

enum { CACHED = 300, ROUNDS = 4 };
static struct blk cached[ROUNDS][2 * CACHED];
static size_t cached_size;

static void cached_fill(void *arg)
{
	struct blk *bs = arg;
	/* This thread's span for the class is part-used when the collection
	 * comes, with garbage and live blocks below its free index. */
	for (size_t i = 0; i < CACHED; i++) {
		unsigned char *p = goheap_malloc(cached_size);
		if (i % 3 == 0)
			fill(&bs[i], p, cached_size, 0x6100 + i);
	}
}

static void cached_more(void *arg)
{
	struct blk *bs = arg;
	for (size_t i = CACHED; i < 2 * CACHED; i++)
		fill(&bs[i], goheap_malloc(cached_size), cached_size, 0x6200 + i);
}

static void test_cached_span(void)
{
	static const size_t sizes[] = {112, 48, 1024};
	for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		cached_size = sizes[z];
		memset(cached, 0, sizeof cached);
		/* goheap_gc sweeps every span before it returns: the cached
		 * ones too, if the collection left them in their caches. */
		for (int r = 0; r < ROUNDS; r++) {
			gcu_call(cached_fill, cached[r]);
			gcu_collect(1);
			gcu_call(cached_more, cached[r]);
		}
		gcu_collect(1);
		is_int(count_bad(cached[0], ROUNDS * 2 * CACHED), 0,
		       "%zu-byte blocks allocated from spans cached across collections: "
		       "none handed out twice, every live one intact",
		       cached_size);
	}
	memset(cached, 0, sizeof cached);
}

/* ---- Collections while threads take blocks ---- */

enum { NALLOC = 2, RING = 2048 };
static atomic_int stop;

struct allocator {
	int id;
	uint64_t n;
	int bad;
	struct blk ring[RING];
};

static void *allocator_main(void *arg)
{
	struct allocator *a = arg;
	struct tap_rng r = tap_rng_init(0x7100 + (uint64_t)a->id);
	for (uint64_t i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		struct blk *b = &a->ring[i % RING];
		if (b->p && tap_check(b->p, b->n, b->tag) != SIZE_MAX && a->bad++ < 3)
			diag("allocator %d: block %p (%zu bytes) overwritten", a->id,
			     (void *)b->p, b->n);
		/* Small sizes of a few classes, so that both threads take
		 * spans of the same classes, and only the first and last
		 * words written: the bits' step is most of the time spent. */
		size_t n = 16 * (1 + (size_t)tap_rng_range(&r, 0, 3));
		unsigned char *p = tap_rng_range(&r, 0, 1) ? goheap_malloc(n) : goheap_malloc_atomic(n);
		if (!p) {
			b->p = NULL;
			continue;
		}
		b->p = p;
		b->n = n;
		b->tag = (uint64_t)a->id << 40 | i;
		tap_fill(p, n, b->tag);
		a->n++;
	}
	int dup = count_bad(a->ring, RING);
	a->bad += dup;
	memset(a->ring, 0, sizeof a->ring);
	return NULL;
}

static void test_collect_while_allocating(void)
{
	static struct allocator as[NALLOC];
	pthread_t t[NALLOC];
	atomic_store(&stop, 0);
	int started = 0;
	for (int i = 0; i < NALLOC; i++) {
		as[i].id = i;
		if (goheap_pthread_create(&t[i], NULL, allocator_main, &as[i]) == 0)
			started++;
	}
	is_int(started, NALLOC, "%d allocating threads", NALLOC);
	/* At least 1.5 s and 20 collections (a collection stops the world
	 * in tens of ms under ThreadSanitizer, whose runtime delays
	 * signals), with a cap that fails the count rather than hangs. */
	uint64_t t0 = gcu_now_ns();
	uint64_t end = t0 + (uint64_t)tap_scale(1500, 10) * 1000000u;
	uint64_t cap = t0 + (uint64_t)gcu_timeout_ms(60000) * 1000000u;
	uint32_t ngc = 0;
	for (uint64_t now = t0; (now < end || ngc < 20) && now < cap; now = gcu_now_ns()) {
		goheap_gc();
		ngc++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	uint64_t n = 0;
	int bad = 0;
	for (int i = 0; i < started; i++) {
		n += as[i].n;
		bad += as[i].bad;
	}
	diag("%u collections, %llu allocations", ngc, (unsigned long long)n);
	cmp_uint(ngc, >=, 20, "collections ran");
	is_int(bad, 0, "no block handed out twice or overwritten while collections stopped "
		       "threads taking blocks from their spans' bits");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_listed_blocks),
	TAP_TEST(test_cached_span),
	TAP_TEST(test_collect_while_allocating),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	/* The allocating threads' last blocks are garbage no collection has
	 * seen yet: collect them, or memcheck (make check-valgrind) counts
	 * them lost. */
	gcu_finish();
	return status;
}
