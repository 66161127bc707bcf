/*
 * t-large: large objects (more than 32 KiB), which come straight from the
 * page heap as runs of 8 KiB pages.
 *
 * A large block's usable size is its request rounded up to whole pages;
 * goheap_base finds its start from any byte inside it; its contents stay
 * its own while other large blocks come and go; and pages that come back
 * after a free are zero again for goheap_malloc and goheap_calloc,
 * whether they come back as a large block or carved into small ones.
 */
#include <goheap.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

enum { PAGE = 8192, MiB = 1 << 20 };

static size_t page_round(size_t n)
{
	return (n + PAGE - 1) / PAGE * PAGE;
}

/* Offsets worth asking goheap_base about in a block of usable bytes: the
 * first few, every page boundary and its neighbours, and the last few. */
static void check_offsets(unsigned char *p, size_t usable, int *bad_base,
			  int *bad_usable)
{
	for (size_t off = 0; off < usable;) {
		void *b = goheap_base(p + off);
		size_t u = goheap_usable_size(p + off);
		if (b != p && (*bad_base)++ < 5)
			diag("goheap_base(%p + %zu) = %p", (void *)p, off, b);
		if (u != (off == 0 ? usable : 0) && (*bad_usable)++ < 5)
			diag("goheap_usable_size(%p + %zu) = %zu", (void *)p,
			     off, u);
		if (off < 64 || off + 64 >= usable || off % PAGE == PAGE - 1 ||
		    off % PAGE == 0)
			off++;
		else
			off = (off / PAGE + 1) * PAGE - 1;
	}
}

static void test_large_basic(void)
{
	static const size_t sizes[] = {
		32769,	  32784,   40000,   40960,    40961,
		65536,	  100000,  MiB - 1, MiB,      MiB + 1,
		16 * MiB, 64 * MiB, 3 * MiB + 12345,
	};
	const size_t max = tap_under_valgrind() ? 16 * MiB : 64 * MiB;

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		if (n > max)
			continue;
		for (int kind = 0; kind < 3; kind++) {
			const char *how = kind == 0   ? "goheap_malloc"
					  : kind == 1 ? "goheap_malloc_atomic"
						      : "goheap_calloc";
			unsigned char *p = kind == 0 ? goheap_malloc(n)
					   : kind == 1
						   ? goheap_malloc_atomic(n)
						   : goheap_calloc(n / 16 + 1,
								   16);
			size_t want = page_round(kind == 2 ? (n / 16 + 1) * 16
							   : n);
			if (!ok(p != NULL, "%s(%zu) gives a block", how, n))
				continue;
			ok(((uintptr_t)p & 15) == 0, "%s(%zu) is 16-aligned",
			   how, n);
			is_uint(goheap_usable_size(p), want,
				"%s(%zu) is rounded up to pages", how, n);
			if (kind != 1)
				is_zero(p, want, "%s(%zu) is zeroed", how, n);
			tap_fill(p, want, n + (size_t)kind);
			int bad_base = 0, bad_usable = 0;
			check_offsets(p, want, &bad_base, &bad_usable);
			is_int(bad_base, 0, "%s(%zu): goheap_base inside", how,
			       n);
			is_int(bad_usable, 0,
			       "%s(%zu): goheap_usable_size inside", how, n);
			is_pattern(p, 0, want, n + (size_t)kind,
				   "%s(%zu) keeps its contents", how, n);
			goheap_free(p);
			is_ptr(goheap_base(p), NULL,
			       "%s(%zu): freed, goheap_base is NULL", how, n);
			is_ptr(goheap_base(p + want / 2), NULL,
			       "%s(%zu): freed, NULL in the middle too", how,
			       n);
			is_uint(goheap_usable_size(p), 0,
				"%s(%zu): freed, usable size 0", how, n);
		}
	}
}

/* goheap_base for every byte of a few large blocks between neighbours. */
static void test_every_offset(void)
{
	static const size_t sizes[] = { 32769, 49153, 106496 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *before = goheap_malloc(sizes[i]);
		unsigned char *p = goheap_malloc(sizes[i]);
		unsigned char *after = goheap_malloc(sizes[i]);
		size_t usable = page_round(sizes[i]);
		int bad = 0;
		for (size_t off = 0; off < usable; off++) {
			void *b = goheap_base(p + off);
			if (b != p && bad++ < 5)
				diag("goheap_base(%p + %zu) = %p", (void *)p,
				     off, b);
		}
		is_int(bad, 0, "goheap_base of every byte of a %zu-byte block",
		       sizes[i]);
		ok(goheap_base(p + usable) != p,
		   "the byte after a %zu-byte block is not in it", sizes[i]);
		goheap_free(before);
		goheap_free(p);
		goheap_free(after);
	}
}

/* Pages that a free gives back come back zeroed. */
static void test_zeroed_reuse(void)
{
	static const size_t sizes[] = {
		32769, 40960, 65536 + 1, 100000, MiB, 5 * MiB + 123,
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		for (int round = 0; round < 6; round++) {
			/* Dirty the pages through either kind of block. */
			unsigned char *p = round % 2 ? goheap_malloc_atomic(n)
						     : goheap_malloc(n);
			memset(p, 0xab, goheap_usable_size(p));
			goheap_free(p);
			unsigned char *q = round % 3 == 2 ? goheap_calloc(1, n)
							  : goheap_malloc(n);
			size_t at = tap_nonzero(q, page_round(n));
			if (at != SIZE_MAX && bad++ < 5)
				diag("%zu bytes, round %d: %p (was %p) byte "
				     "%zu is %#x",
				     n, round, (void *)q, (void *)p, at, q[at]);
			goheap_free(q);
		}
	}
	is_int(bad, 0, "a large block allocated after a free is zeroed");

	/* Two freed neighbours coalesce; the combined run is zero too. */
	bad = 0;
	for (int round = 0; round < 4; round++) {
		size_t n = (size_t)(round + 1) * 3 * PAGE;
		unsigned char *a = goheap_malloc_atomic(n);
		unsigned char *b = goheap_malloc_atomic(n);
		unsigned char *c = goheap_malloc_atomic(n);
		memset(a, 0xcd, n);
		memset(b, 0xcd, n);
		memset(c, 0xcd, n);
		goheap_free(a);
		goheap_free(b);
		goheap_free(c);
		unsigned char *big = goheap_malloc(3 * n);
		size_t at = tap_nonzero(big, 3 * n);
		if (at != SIZE_MAX && bad++ < 5)
			diag("%zu bytes after three frees of %zu: byte %zu "
			     "is %#x",
			     3 * n, n, at, big[at]);
		goheap_free(big);
	}
	is_int(bad, 0, "a block over several freed blocks is zeroed");

	/* Freed large pages carved into small blocks are zero as well. */
	enum { SMALL = 1024, BIG = 4 * MiB, NSMALL = 2 * BIG / SMALL };
	static unsigned char *small[NSMALL];
	bad = 0;
	unsigned char *p = goheap_malloc_atomic(BIG);
	memset(p, 0xef, BIG);
	goheap_free(p);
	for (int i = 0; i < NSMALL; i++) {
		small[i] = goheap_malloc(SMALL);
		size_t at = tap_nonzero(small[i], SMALL);
		if (at != SIZE_MAX && bad++ < 5)
			diag("small block %p byte %zu is %#x",
			     (void *)small[i], at, small[i][at]);
	}
	for (int i = 0; i < NSMALL; i++)
		goheap_free(small[i]);
	is_int(bad, 0, "small blocks on freed large pages are zeroed");
}

/* Many large blocks of random sizes, allocated and freed in random order,
 * each with its own pattern checked in full before it is freed. */
static void test_random_large(void)
{
	enum { NSLOT = 64 };
	struct {
		unsigned char *p;
		size_t n;
		uint64_t tag;
	} slot[NSLOT] = { { 0 } };
	struct tap_rng r = tap_rng_init(11);
	const size_t ops = tap_scale(3000, 15);
	const size_t maxsize = tap_under_valgrind() ? MiB / 2 : 2 * MiB;
	int nulls = 0, smashed = 0, bad_usable = 0, dirty = 0;

	for (size_t op = 0; op < ops; op++) {
		size_t i = tap_rng_range(&r, 0, NSLOT - 1);
		if (slot[i].p != NULL) {
			size_t at = tap_check(slot[i].p, slot[i].n,
					      slot[i].tag);
			if (at != SIZE_MAX && smashed++ < 5)
				diag("%p (%zu bytes): byte %zu smashed",
				     (void *)slot[i].p, slot[i].n, at);
			goheap_free(slot[i].p);
			slot[i].p = NULL;
			continue;
		}
		size_t n = tap_rng_range(&r, 32769, maxsize);
		int atomic = tap_rng_range(&r, 0, 1) == 1;
		slot[i].p = atomic ? goheap_malloc_atomic(n) : goheap_malloc(n);
		if (slot[i].p == NULL) {
			nulls++;
			continue;
		}
		if (goheap_usable_size(slot[i].p) != page_round(n) &&
		    bad_usable++ < 5)
			diag("%zu bytes: usable %zu", n,
			     goheap_usable_size(slot[i].p));
		if (!atomic && tap_nonzero(slot[i].p, n) != SIZE_MAX &&
		    dirty++ < 5)
			diag("%p (%zu bytes) not zeroed", (void *)slot[i].p, n);
		slot[i].n = n;
		slot[i].tag = op + 1;
		tap_fill(slot[i].p, n, slot[i].tag);
	}
	for (size_t i = 0; i < NSLOT; i++) {
		if (slot[i].p == NULL)
			continue;
		size_t at = tap_check(slot[i].p, slot[i].n, slot[i].tag);
		if (at != SIZE_MAX && smashed++ < 5)
			diag("%p (%zu bytes): byte %zu smashed",
			     (void *)slot[i].p, slot[i].n, at);
		goheap_free(slot[i].p);
	}
	is_int(nulls, 0, "no large allocation failed");
	is_int(bad_usable, 0, "usable sizes were page-rounded");
	is_int(dirty, 0, "goheap_malloc large blocks were zeroed");
	is_int(smashed, 0, "every large block kept its pattern");
}

/* Small and large blocks interleaved do not disturb each other. */
static void test_mixed_with_small(void)
{
	enum { N = 200 };
	static unsigned char *blk[N];
	static size_t len[N];
	struct tap_rng r = tap_rng_init(12);
	int smashed = 0, nulls = 0;

	for (int i = 0; i < N; i++) {
		len[i] = i % 2 ? tap_rng_range(&r, 1, 32768)
			       : tap_rng_range(&r, 32769, 300000);
		blk[i] = goheap_malloc(len[i]);
		if (blk[i] == NULL) {
			nulls++;
			continue;
		}
		tap_fill(blk[i], len[i], (uint64_t)i);
	}
	for (int i = 0; i < N; i += 3) {
		if (blk[i] != NULL &&
		    tap_check(blk[i], len[i], (uint64_t)i) != SIZE_MAX)
			smashed++;
		goheap_free(blk[i]);
		blk[i] = NULL;
	}
	for (int i = 0; i < N; i++) {
		if (blk[i] == NULL)
			continue;
		if (tap_check(blk[i], len[i], (uint64_t)i) != SIZE_MAX &&
		    smashed++ < 5)
			diag("block %d (%zu bytes) smashed", i, len[i]);
		if (goheap_base(blk[i] + len[i] - 1) != blk[i] && smashed++ < 5)
			diag("block %d: base of last byte wrong", i);
		goheap_free(blk[i]);
	}
	is_int(nulls, 0, "no allocation failed");
	is_int(smashed, 0, "small and large blocks kept their contents");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_large_basic),
	TAP_TEST(test_every_offset),
	TAP_TEST(test_zeroed_reuse),
	TAP_TEST(test_random_large),
	TAP_TEST(test_mixed_with_small),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
