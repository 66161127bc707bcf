/*
 * t-realloc: goheap_realloc.
 *
 * A resized block keeps its first min(old, new) bytes, whether it grows,
 * shrinks, crosses between small and large, or stays where it is; a
 * block whose new size falls in its class (or, when large, in its pages)
 * stays in place; a block that moved is freed; NULL and 0 act as malloc
 * and free; and a request that cannot be met fails with ENOMEM and
 * leaves the old block as it was.
 */
#include <goheap.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sizeclasses.h"
#include "tap.h"

enum { PAGE = 8192, MiB = 1 << 20 };

static size_t block_size(size_t n)
{
	if (n > GH_MAX_SMALL)
		return (n + PAGE - 1) / PAGE * PAGE;
	int c = 1;
	while (gh_class_size[c] < n)
		c++;
	return gh_class_size[c];
}

static void test_realloc_null(void)
{
	static const size_t sizes[] = { 1, 16, 100, 5000, 32768, 40000, MiB };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		unsigned char *p = goheap_realloc(NULL, n);
		if (!ok(p != NULL, "goheap_realloc(NULL, %zu) gives a block",
			n))
			continue;
		is_uint(goheap_usable_size(p), block_size(n),
			"goheap_realloc(NULL, %zu) has malloc's size", n);
		is_zero(p, goheap_usable_size(p),
			"goheap_realloc(NULL, %zu) is zeroed like malloc", n);
		goheap_free(p);
	}
}

static void test_realloc_to_zero(void)
{
	static const size_t sizes[] = { 1, 100, 32768, 40000, MiB };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = goheap_malloc(sizes[i]);
		unsigned char *q = goheap_realloc(p, 0);
		is_ptr(q, NULL, "goheap_realloc(%zu-byte block, 0) is NULL",
		       sizes[i]);
		is_ptr(goheap_base(p), NULL, "and the %zu-byte block is freed",
		       sizes[i]);
		goheap_free(q);
	}
}

/* One block grown step by step from 1 byte to max, then shrunk back; each
 * step keeps the old contents and gets the new tail filled. */
static void resize_chain(int atomic, int grow)
{
	const size_t max = tap_under_valgrind() ? 2 * MiB : 16 * MiB;
	const char *kind = atomic ? "atomic" : "pointer";
	struct tap_rng r = tap_rng_init((uint64_t)(2 * atomic + grow));
	const uint64_t tag = 77;
	/* Tiny blocks (atomic, under 16 bytes) share memory with others,
	 * so a moved one stays visible to goheap_base: start above them. */
	size_t n = grow ? (atomic ? 16 : 1) : max, steps = 0;
	int lost = 0, nulls = 0, short_blocks = 0, still_live = 0;
	unsigned char *p = atomic ? goheap_malloc_atomic(n) : goheap_malloc(n);

	if (p == NULL)
		bail_out("cannot allocate %zu bytes", n);
	tap_fill(p, n, tag);
	for (;;) {
		size_t m;
		if (grow) {
			if (n >= max)
				break;
			m = n + n / 4 + tap_rng_range(&r, 1, 64);
			if (m > max)
				m = max;
		} else {
			size_t min = atomic ? 16 : 1;
			if (n <= min)
				break;
			m = n - n / 4 - tap_rng_range(&r, 1, 64);
			if (m > n || m < min)
				m = min;
		}
		unsigned char *q = goheap_realloc(p, m);
		steps++;
		if (q == NULL) {
			nulls++;
			break;
		}
		if (goheap_usable_size(q) < m && short_blocks++ < 5)
			diag("%zu -> %zu: usable %zu", n, m,
			     goheap_usable_size(q));
		size_t keep = n < m ? n : m;
		size_t at = tap_check(q, keep, tag);
		if (at != SIZE_MAX && lost++ < 5)
			diag("%zu -> %zu (%p -> %p): byte %zu lost", n, m,
			     (void *)p, (void *)q, at);
		if (q != p && goheap_base(p) != NULL && still_live++ < 5)
			diag("%zu -> %zu moved %p -> %p but the old block "
			     "is still live",
			     n, m, (void *)p, (void *)q);
		if (m > n)
			tap_fill_range(q, n, m, tag);
		p = q;
		n = m;
	}
	is_int(nulls, 0, "%s %s chain: no realloc failed", kind,
	       grow ? "growth" : "shrink");
	is_int(short_blocks, 0, "%s %s chain: blocks held the new size", kind,
	       grow ? "growth" : "shrink");
	is_int(lost, 0, "%s %s chain: %zu steps kept the contents", kind,
	       grow ? "growth" : "shrink", steps);
	is_int(still_live, 0, "%s %s chain: moved blocks were freed", kind,
	       grow ? "growth" : "shrink");
	is_pattern(p, 0, n, tag, "%s %s chain: final contents", kind,
		   grow ? "growth" : "shrink");
	goheap_free(p);
}

static void test_grow_chain(void)
{
	resize_chain(0, 1);
	resize_chain(1, 1);
}

static void test_shrink_chain(void)
{
	resize_chain(0, 0);
	resize_chain(1, 0);
}

/* Back and forth across the small/large boundary. */
static void test_small_large_boundary(void)
{
	static const size_t sizes[] = {
		32768, 32769, 32768, 16, 40000, 32767, 65536, 100,
		32769, 1,     40960, 40961, 24576, MiB,	  32768,
	};
	for (int atomic = 0; atomic < 2; atomic++) {
		const uint64_t tag = 1000 + (uint64_t)atomic;
		size_t n = 1000;
		unsigned char *p = atomic ? goheap_malloc_atomic(n)
					  : goheap_malloc(n);
		tap_fill(p, n, tag);
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			size_t m = sizes[i];
			unsigned char *q = goheap_realloc(p, m);
			if (!ok(q != NULL, "%s: %zu -> %zu gives a block",
				atomic ? "atomic" : "pointer", n, m))
				break;
			/* A block that shrinks may stay where it is; tiny
			 * blocks have no usable size of their own. */
			if (atomic && m < 16)
				ok(goheap_base(q) != NULL,
				   "atomic: %zu -> %zu gives a tiny block", n,
				   m);
			else if (m > n)
				is_uint(goheap_usable_size(q), block_size(m),
					"%s: %zu -> %zu has the new size",
					atomic ? "atomic" : "pointer", n, m);
			else
				cmp_uint(goheap_usable_size(q), >=, m,
					 "%s: %zu -> %zu holds the new size",
					 atomic ? "atomic" : "pointer", n, m);
			is_pattern(q, 0, n < m ? n : m, tag,
				   "%s: %zu -> %zu keeps the contents",
				   atomic ? "atomic" : "pointer", n, m);
			if (m > n)
				tap_fill_range(q, n, m, tag);
			p = q;
			n = m;
		}
		goheap_free(p);
	}
}

/* A new size that rounds to the same block leaves the block in place. */
static void test_in_place(void)
{
	int moved = 0, lost = 0;
	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		size_t lo = gh_class_size[c - 1] + 1u, hi = gh_class_size[c];
		unsigned char *p = goheap_malloc(lo);
		tap_fill(p, lo, (uint64_t)c);
		unsigned char *q = goheap_realloc(p, hi);
		if (q != p && moved++ < 5)
			diag("class %d: %zu -> %zu moved %p -> %p", c, lo, hi,
			     (void *)p, (void *)q);
		if (q == NULL)
			q = p;
		if (tap_check(q, lo, (uint64_t)c) != SIZE_MAX)
			lost++;
		tap_fill(q, hi, (uint64_t)c);
		p = goheap_realloc(q, lo);
		if (p != q && moved++ < 5)
			diag("class %d: %zu -> %zu moved %p -> %p", c, hi, lo,
			     (void *)q, (void *)p);
		if (p == NULL)
			p = q;
		if (tap_check(p, lo, (uint64_t)c) != SIZE_MAX)
			lost++;
		goheap_free(p);
	}
	is_int(moved, 0, "resizing within a class never moves the block");
	is_int(lost, 0, "and keeps its contents");

	static const size_t large[][2] = {
		{ 40000, 40960 },	{ 40960, 32769 },
		{ 32769, 40000 },	{ MiB, MiB - 8000 },
		{ MiB - 8000, MiB },	{ 3 * MiB + 1, 3 * MiB + 8192 },
	};
	for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
		size_t a = large[i][0], b = large[i][1];
		unsigned char *p = goheap_malloc(a);
		tap_fill(p, a, a);
		unsigned char *q = goheap_realloc(p, b);
		is_ptr(q, p, "large %zu -> %zu (same pages) stays in place", a,
		       b);
		is_pattern(q, 0, a < b ? a : b, a,
			   "large %zu -> %zu keeps its contents", a, b);
		goheap_free(q != NULL ? q : p);
	}
}

/* Tiny pointer-free blocks resize like any other. */
static void test_tiny(void)
{
	static const size_t to[] = { 3, 15, 16, 17, 100, 40000 };
	int lost = 0, nulls = 0;
	for (size_t n = 1; n < 16; n++) {
		for (size_t i = 0; i < sizeof to / sizeof to[0]; i++) {
			/* A neighbour in the same 16-byte block. */
			unsigned char *other = goheap_malloc_atomic(1);
			unsigned char *p = goheap_malloc_atomic(n);
			*other = 0x42;
			tap_fill(p, n, n);
			unsigned char *q = goheap_realloc(p, to[i]);
			if (q == NULL) {
				nulls++;
				goheap_free(p);
				goheap_free(other);
				continue;
			}
			size_t keep = n < to[i] ? n : to[i];
			if ((tap_check(q, keep, n) != SIZE_MAX ||
			     *other != 0x42) &&
			    lost++ < 5)
				diag("tiny %zu -> %zu lost its contents", n,
				     to[i]);
			goheap_free(q);
			goheap_free(other);
		}
	}
	is_int(nulls, 0, "resizing tiny blocks never failed");
	is_int(lost, 0, "resized tiny blocks kept their contents and "
			"left their neighbours alone");
}

/* A request that cannot be met leaves the old block as it was. */
static void test_overflow(void)
{
	static const size_t start[] = { 24, 1000, 32768, 40000, 3 * MiB };
	static const size_t huge[] = {
		SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX - 8191, SIZE_MAX / 2 + 1,
		(size_t)1 << 62,
	};
	for (size_t i = 0; i < sizeof start / sizeof start[0]; i++) {
		size_t n = start[i];
		for (int atomic = 0; atomic < 2; atomic++) {
			unsigned char *p = atomic ? goheap_malloc_atomic(n)
						  : goheap_malloc(n);
			size_t usable = goheap_usable_size(p);
			tap_fill(p, n, n);
			for (size_t j = 0; j < sizeof huge / sizeof huge[0];
			     j++) {
				volatile size_t m = huge[j];
				errno = 0;
				unsigned char *q = goheap_realloc(p, m);
				ok(q == NULL && errno == ENOMEM,
				   "%s %zu -> %#zx fails with ENOMEM",
				   atomic ? "atomic" : "pointer", n, huge[j]);
				if (q != NULL)
					p = q; /* keep something to free */
			}
			is_ptr(goheap_base(p), p,
			       "%s %zu: the block is still live",
			       atomic ? "atomic" : "pointer", n);
			is_uint(goheap_usable_size(p), usable,
				"%s %zu: with the same size",
				atomic ? "atomic" : "pointer", n);
			is_pattern(p, 0, n, n,
				   "%s %zu: and the same contents",
				   atomic ? "atomic" : "pointer", n);
			unsigned char *q = goheap_realloc(p, n + 100);
			ok(q != NULL, "%s %zu: it can still be resized",
			   atomic ? "atomic" : "pointer", n);
			if (q != NULL)
				p = q;
			goheap_free(p);
		}
	}
}

/* Random resizes of many blocks at once, frees and mallocs by realloc
 * included. */
static void test_random_resizes(void)
{
	enum { NSLOT = 256 };
	static struct {
		unsigned char *p;
		size_t n;
		uint64_t tag;
	} s[NSLOT];
	struct tap_rng r = tap_rng_init(21);
	const size_t ops = tap_scale(40000, 5);
	int lost = 0, nulls = 0;

	for (size_t op = 0; op < ops; op++) {
		size_t i = tap_rng_range(&r, 0, NSLOT - 1);
		size_t m;
		switch (tap_rng_range(&r, 0, 9)) {
		case 0:
			m = s[i].p != NULL ? 0 : 1;
			break;
		case 1:
			m = tap_rng_range(&r, 32769, 400000);
			break;
		case 2:
		case 3:
			m = tap_rng_range(&r, 1, 32768);
			break;
		default:
			m = tap_rng_range(&r, 1, 512);
			break;
		}
		unsigned char *q = goheap_realloc(s[i].p, m);
		if (m == 0) {
			if (q != NULL)
				nulls++; /* should have been NULL */
			s[i].p = NULL;
			s[i].n = 0;
			continue;
		}
		if (q == NULL) {
			nulls++;
			continue;
		}
		size_t keep = s[i].n < m ? s[i].n : m;
		if (s[i].p != NULL) {
			size_t at = tap_check(q, keep, s[i].tag);
			if (at != SIZE_MAX && lost++ < 5)
				diag("%zu -> %zu: byte %zu lost", s[i].n, m,
				     at);
		} else {
			s[i].tag = op;
			keep = 0;
			if (tap_nonzero(q, m) != SIZE_MAX && lost++ < 5)
				diag("realloc(NULL, %zu) not zeroed", m);
		}
		tap_fill_range(q, keep, m, s[i].tag);
		s[i].p = q;
		s[i].n = m;
	}
	for (size_t i = 0; i < NSLOT; i++) {
		if (s[i].p != NULL &&
		    tap_check(s[i].p, s[i].n, s[i].tag) != SIZE_MAX &&
		    lost++ < 5)
			diag("block %zu lost its contents", i);
		goheap_free(s[i].p);
	}
	is_int(nulls, 0, "every resize gave what it should");
	is_int(lost, 0, "every resize kept the contents");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_realloc_null),
	TAP_TEST(test_realloc_to_zero),
	TAP_TEST(test_grow_chain),
	TAP_TEST(test_shrink_chain),
	TAP_TEST(test_small_large_boundary),
	TAP_TEST(test_in_place),
	TAP_TEST(test_tiny),
	TAP_TEST(test_overflow),
	TAP_TEST(test_random_resizes),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
