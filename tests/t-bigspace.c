/*
 * t-bigspace: the heap's address space has no fixed ceiling.
 *
 * The seed's heap reserved one 128 GiB arena; libgoheap maps arenas as
 * it needs them, so 160 blocks of 1 GiB (160 GiB of address space) must
 * all be granted.  They are pointer-free and never written but for one
 * byte at each end, so they cost address space and not memory: the
 * mappings that hold them are measured, not the whole process, whose
 * resident size a sanitizer's shadow memory inflates.  Under
 * Valgrind, whose address-space manager cannot hold 160 GiB, 20 blocks
 * are used instead.
 */
#include <goheap.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"

enum { MAXBLOCKS = 160 };
static const size_t GiB = (size_t)1 << 30;

/* The resident bytes of the mappings that overlap one of the n blocks of
 * 1 GiB at blk[]: all of each such mapping, so at least the blocks' own. */
static uint64_t rss_of(unsigned char *const *blk, int n)
{
	char line[512];
	unsigned long start = 0, end = 0, kb;
	bool in = false;
	uint64_t sum = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	if (f == NULL)
		bail_out("cannot read /proc/self/smaps");
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = false;
			for (int i = 0; i < n && !in; i++)
				in = start < (uintptr_t)blk[i] + GiB && end > (uintptr_t)blk[i];
		} else if (in && sscanf(line, "Rss: %lu kB", &kb) == 1) {
			sum += (uint64_t)kb << 10;
		}
	}
	fclose(f);
	return sum;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (unsigned char *const *)a;
	uintptr_t y = (uintptr_t) * (unsigned char *const *)b;
	return (x > y) - (x < y);
}

static void test_160_gib(void)
{
	static unsigned char *blk[MAXBLOCKS], *sorted[MAXBLOCKS];
	int nblocks = MAXBLOCKS;
	int nulls = 0, bad_base = 0, bad_usable = 0, bad_bytes = 0;
	int overlaps = 0;

	if (tap_under_valgrind()) {
		nblocks = 20;
		diag("under valgrind: 20 blocks of 1 GiB instead of 160, "
		     "as valgrind cannot map 160 GiB");
	}
	for (int i = 0; i < nblocks; i++) {
		blk[i] = goheap_malloc_atomic(GiB);
		if (blk[i] == NULL && nulls++ < 5)
			diag("block %d: goheap_malloc_atomic(1 GiB) gave NULL",
			     i);
	}
	is_int(nulls, 0, "%d blocks of 1 GiB were granted", nblocks);

	int n = 0;
	for (int i = 0; i < nblocks; i++)
		if (blk[i] != NULL)
			sorted[n++] = blk[i];
	qsort(sorted, (size_t)n, sizeof sorted[0], by_address);
	for (int i = 0; i + 1 < n; i++)
		if (sorted[i] + GiB > sorted[i + 1] && overlaps++ < 5)
			diag("%p + 1 GiB overlaps %p", (void *)sorted[i],
			     (void *)sorted[i + 1]);
	is_int(overlaps, 0, "the blocks are distinct and do not overlap");
	if (n > 0)
		diag("they span %p .. %p", (void *)sorted[0],
		     (void *)(sorted[n - 1] + GiB));

	for (int i = 0; i < nblocks; i++) {
		unsigned char *p = blk[i];
		if (p == NULL)
			continue;
		void *b = goheap_base(p + 12345678);
		if (b != p && bad_base++ < 5)
			diag("goheap_base(%p + 12345678) = %p", (void *)p, b);
		b = goheap_base(p + GiB - 1);
		if (b != p && bad_base++ < 5)
			diag("goheap_base(%p + 1 GiB - 1) = %p", (void *)p, b);
		size_t u = goheap_usable_size(p);
		if (u != GiB && bad_usable++ < 5)
			diag("goheap_usable_size(%p) = %zu", (void *)p, u);
		p[0] = (unsigned char)i;
		p[GiB - 1] = (unsigned char)~i;
	}
	for (int i = 0; i < nblocks; i++) {
		unsigned char *p = blk[i];
		if (p != NULL &&
		    (p[0] != (unsigned char)i ||
		     p[GiB - 1] != (unsigned char)~i) &&
		    bad_bytes++ < 5)
			diag("block %d at %p: first byte %#x, last %#x", i,
			     (void *)p, p[0], p[GiB - 1]);
	}
	is_int(bad_base, 0, "goheap_base finds each block from inside it");
	is_int(bad_usable, 0, "each block's usable size is 1 GiB");
	is_int(bad_bytes, 0, "the first and last byte of each block hold");
	if (n > 0) {
		uint64_t rss = rss_of(sorted, n);
		diag("their mappings hold %llu KiB", (unsigned long long)(rss >> 10));
		cmp_uint(rss, <, (uint64_t)256 << 20,
			 "untouched blocks cost address space, not memory");
	} else {
		ok(0, "untouched blocks cost address space, not memory (no blocks)");
	}

	for (int i = 0; i < nblocks; i++)
		goheap_free(blk[i]);
	int still = 0;
	for (int i = 0; i < nblocks; i++)
		if (blk[i] != NULL && goheap_base(blk[i]) != NULL)
			still++;
	is_int(still, 0, "after goheap_free none of them is live");

	/* The heap goes on working, big and small. */
	unsigned char *p = goheap_malloc_atomic(GiB);
	ok(p != NULL && goheap_usable_size(p) == GiB,
	   "1 GiB can be allocated again");
	goheap_free(p);
	p = goheap_malloc(100);
	ok(p != NULL && tap_nonzero(p, 100) == SIZE_MAX,
	   "and so can a small block");
	goheap_free(p);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_160_gib),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
