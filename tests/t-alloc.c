/*
 * t-alloc: small-object allocation and explicit free.
 *
 * Blocks must not overlap (every live byte is checked against a pattern
 * that depends on its block and offset), must be aligned as goheap.h
 * promises, must be zeroed when they come from goheap_malloc or
 * goheap_calloc (fresh or reused after a free), and goheap_base and
 * goheap_usable_size must answer for every byte of a live block and for
 * addresses that are not in the heap.  Requests too large for the
 * address space fail with ENOMEM.
 */
#include <goheap.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sizeclasses.h"
#include "tap.h"

static int smallest_class(size_t n)
{
	int c = 1;
	while (c < GH_NUM_CLASSES && gh_class_size[c] < n)
		c++;
	return c;
}

/* A random small request: a class chosen uniformly, then a size that
 * falls in it, so that big classes are tested as often as small ones. */
static size_t random_small_size(struct tap_rng *r)
{
	int c = (int)tap_rng_range(r, 1, GH_NUM_CLASSES - 1);
	size_t lo = gh_class_size[c - 1] + 1u, hi = gh_class_size[c];
	return (size_t)tap_rng_range(r, lo, hi);
}

static int aligned(const void *p, uintptr_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

static void test_free_null(void)
{
	goheap_free(NULL);
	ok(1, "goheap_free(NULL) does nothing");
	is_uint(goheap_usable_size(NULL), 0, "goheap_usable_size(NULL) is 0");
	is_ptr(goheap_base(NULL), NULL, "goheap_base(NULL) is NULL");
}

/* Sizes 0..2100 one by one, and every class size and its neighbours. */
static void test_malloc_basic(void)
{
	int nulls = 0, misaligned = 0, bad_usable = 0, bad_base = 0;
	int dirty = 0;
	size_t sizes[2200 + 3 * GH_NUM_CLASSES], nsizes = 0;

	for (size_t n = 0; n <= 2100; n++)
		sizes[nsizes++] = n;
	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		sizes[nsizes++] = gh_class_size[c] - 1u;
		sizes[nsizes++] = gh_class_size[c];
		sizes[nsizes++] = gh_class_size[c] + 1u;
	}
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i];
		unsigned char *p = goheap_malloc(n);
		if (p == NULL) {
			if (nulls++ < 5)
				diag("goheap_malloc(%zu) gave NULL", n);
			continue;
		}
		size_t usable = goheap_usable_size(p);
		size_t want = n <= GH_MAX_SMALL
				      ? gh_class_size[smallest_class(n)]
				      : (n + 8191) / 8192 * 8192;
		if (!aligned(p, 16) && misaligned++ < 5)
			diag("goheap_malloc(%zu) = %p", n, (void *)p);
		if (usable != want && bad_usable++ < 5)
			diag("goheap_malloc(%zu): usable %zu, want %zu", n,
			     usable, want);
		if (goheap_base(p) != p && bad_base++ < 5)
			diag("goheap_base(%p) = %p", (void *)p,
			     goheap_base(p));
		if (usable >= n && tap_nonzero(p, usable) != SIZE_MAX &&
		    dirty++ < 5)
			diag("goheap_malloc(%zu) = %p: byte %zu not zero", n,
			     (void *)p, tap_nonzero(p, usable));
		/* The whole usable size may be written. */
		memset(p, 0xa5, usable);
		goheap_free(p);
	}
	is_int(nulls, 0, "goheap_malloc never gave NULL");
	is_int(misaligned, 0, "goheap_malloc blocks are 16-byte aligned");
	is_int(bad_usable, 0, "goheap_usable_size is the class size");
	is_int(bad_base, 0, "goheap_base of a block start is itself");
	is_int(dirty, 0, "goheap_malloc blocks are zeroed");
}

static void test_malloc_zero(void)
{
	enum { N = 64 };
	void *p[N];
	int nulls = 0, dup = 0, bad_usable = 0;

	for (int i = 0; i < N; i++) {
		p[i] = goheap_malloc(0);
		if (p[i] == NULL)
			nulls++;
		else if (goheap_usable_size(p[i]) != 16)
			bad_usable++;
		for (int j = 0; j < i; j++)
			if (p[i] != NULL && p[i] == p[j])
				dup++;
	}
	is_int(nulls, 0, "goheap_malloc(0) gives a block");
	is_int(dup, 0, "each goheap_malloc(0) block is a different one");
	is_int(bad_usable, 0, "goheap_malloc(0) blocks have 16 usable bytes");
	for (int i = 0; i < N; i++)
		goheap_free(p[i]);
}

/* Blocks of 16 bytes and more are 16-byte aligned, whatever their kind;
 * tiny pointer-free blocks are aligned to the largest power of two that
 * divides their size, at most 8. */
static void test_alignment(void)
{
	enum { LIVE = 4096 };
	static void *live[LIVE];
	struct tap_rng r = tap_rng_init(1);
	int bad_malloc = 0, bad_atomic = 0, bad_calloc = 0, bad_tiny = 0;
	int nulls = 0;

	/* Many live blocks at once, so that alignment is checked at every
	 * position of a span and not only at its start. */
	for (int i = 0; i < LIVE; i++) {
		size_t n = random_small_size(&r);
		int kind = (int)tap_rng_range(&r, 0, 2);
		if (kind == 1 && n < 16)
			n = 16; /* tiny blocks come below */
		void *p = kind == 0   ? goheap_malloc(n)
			  : kind == 1 ? goheap_malloc_atomic(n)
				      : goheap_calloc(n, 1);
		live[i] = p;
		if (p == NULL) {
			nulls++;
		} else if (!aligned(p, 16)) {
			int *bad = kind == 0	 ? &bad_malloc
				   : kind == 1 ? &bad_atomic
					       : &bad_calloc;
			if ((*bad)++ < 5)
				diag("kind %d, size %zu: %p", kind, n, p);
		}
	}
	for (int i = 0; i < LIVE; i++)
		goheap_free(live[i]);

	for (int i = 0; i < LIVE; i++) {
		size_t n = (size_t)tap_rng_range(&r, 1, 15);
		uintptr_t want = n & -n;
		if (want > 8)
			want = 8;
		void *p = goheap_malloc_atomic(n);
		live[i] = p;
		if (p == NULL)
			nulls++;
		else if (!aligned(p, want) && bad_tiny++ < 5)
			diag("goheap_malloc_atomic(%zu) = %p", n, p);
	}
	for (int i = 0; i < LIVE; i++)
		goheap_free(live[i]);

	is_int(nulls, 0, "no allocation failed");
	is_int(bad_malloc, 0, "goheap_malloc blocks are 16-byte aligned");
	is_int(bad_atomic, 0,
	       "goheap_malloc_atomic blocks of 16+ bytes are 16-byte aligned");
	is_int(bad_calloc, 0, "goheap_calloc blocks are 16-byte aligned");
	is_int(bad_tiny, 0, "tiny atomic blocks are aligned to their size's "
			    "largest power-of-two divisor, up to 8");
}

/*
 * Freed memory that comes back from goheap_malloc or goheap_calloc is
 * zero again.  For each class: fill two spans' worth of blocks with
 * non-zero bytes, free them all, allocate as many again and check them,
 * several rounds, alternating the kind that dirtied the memory (pointer
 * free blocks may hand dirty memory to pointer blocks).
 */
static void test_zeroed_after_free(void)
{
	const int rounds = (int)tap_scale(6, 3);
	int bad = 0, nulls = 0;
	enum { MAXN = 1024 };
	static unsigned char *blk[MAXN];

	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		size_t size = gh_class_size[c];
		size_t per_span = gh_class_npages[c] * 8192u / size;
		size_t n = 2 * per_span + 1;
		if (n > MAXN)
			n = MAXN;
		for (int round = 0; round < rounds; round++) {
			int dirty_atomic = round % 2 == 1;
			for (size_t i = 0; i < n; i++) {
				blk[i] = dirty_atomic
						 ? goheap_malloc_atomic(size)
						 : goheap_malloc(size);
				if (blk[i] == NULL) {
					nulls++;
					continue;
				}
				memset(blk[i], 0xff ^ (int)i, size);
			}
			for (size_t i = 0; i < n; i++)
				goheap_free(blk[i]);
			for (size_t i = 0; i < n; i++) {
				blk[i] = round % 3 == 2 ? goheap_calloc(1, size)
							: goheap_malloc(size);
				if (blk[i] == NULL) {
					nulls++;
					continue;
				}
				size_t at = tap_nonzero(blk[i], size);
				if (at != SIZE_MAX && bad++ < 5)
					diag("class %d round %d: block %p "
					     "byte %zu is %#x",
					     c, round, (void *)blk[i], at,
					     blk[i][at]);
			}
			for (size_t i = 0; i < n; i++)
				goheap_free(blk[i]);
		}
	}
	is_int(nulls, 0, "no allocation failed");
	is_int(bad, 0, "reused blocks of every class come back zeroed");

	/* The simplest reuse: one block, written, freed, taken again. */
	bad = 0;
	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		size_t size = gh_class_size[c];
		for (int i = 0; i < 16; i++) {
			unsigned char *p = goheap_malloc(size);
			if (tap_nonzero(p, size) != SIZE_MAX && bad++ < 5)
				diag("class %d pass %d: %p not zero", c, i,
				     (void *)p);
			memset(p, 0x5a, size);
			goheap_free(p);
		}
	}
	is_int(bad, 0, "malloc, write, free, malloc again: always zeroed");
}

static void test_calloc(void)
{
	static const size_t dims[][2] = {
		{ 1, 1 },     { 1, 16 },     { 16, 1 },	    { 3, 5 },
		{ 7, 9 },     { 4, 256 },    { 100, 100 },  { 7, 4681 },
		{ 1, 32768 }, { 2, 16384 },  { 32768, 1 },  { 3, 10923 },
		{ 1, 32769 }, { 1000, 1000 },
	};
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		size_t n = dims[i][0] * dims[i][1];
		unsigned char *p = goheap_calloc(dims[i][0], dims[i][1]);
		if (!ok(p != NULL, "goheap_calloc(%zu, %zu) gives a block",
			dims[i][0], dims[i][1]))
			continue;
		ok(aligned(p, 16), "goheap_calloc(%zu, %zu) is 16-aligned",
		   dims[i][0], dims[i][1]);
		cmp_uint(goheap_usable_size(p), >=, n,
			 "goheap_calloc(%zu, %zu) holds the product",
			 dims[i][0], dims[i][1]);
		is_zero(p, goheap_usable_size(p),
			"goheap_calloc(%zu, %zu) is zeroed", dims[i][0],
			dims[i][1]);
		memset(p, 0x77, goheap_usable_size(p));
		goheap_free(p);
		p = goheap_calloc(dims[i][0], dims[i][1]);
		is_zero(p, n, "goheap_calloc(%zu, %zu) again is zeroed",
			dims[i][0], dims[i][1]);
		goheap_free(p);
	}

	void *p = goheap_calloc(0, 5), *q = goheap_calloc(5, 0);
	ok(p != NULL && q != NULL && p != q,
	   "goheap_calloc with a zero dimension gives unique blocks");
	goheap_free(p);
	goheap_free(q);
}

/* Requests that cannot fit the address space; the volatile keeps the
 * compiler from rejecting the constants at build time. */
static void test_overflow(void)
{
	static const size_t huge[] = {
		SIZE_MAX,	  SIZE_MAX - 1,	       SIZE_MAX - 4096,
		SIZE_MAX - 8191,  SIZE_MAX - 8192,     SIZE_MAX - 65536,
		SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX, (size_t)1 << 62,
	};
	for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
		volatile size_t n = huge[i];
		errno = 0;
		void *p = goheap_malloc(n);
		ok(p == NULL && errno == ENOMEM,
		   "goheap_malloc(%#zx) fails with ENOMEM", huge[i]);
		if (p != NULL)
			diag("got %p", p);
		else if (errno != ENOMEM)
			diag("errno %d (%s)", errno, strerror(errno));
		goheap_free(p);
		errno = 0;
		p = goheap_malloc_atomic(n);
		ok(p == NULL && errno == ENOMEM,
		   "goheap_malloc_atomic(%#zx) fails with ENOMEM", huge[i]);
		goheap_free(p);
	}

	static const size_t dims[][2] = {
		{ SIZE_MAX / 2, 4 },
		{ SIZE_MAX, SIZE_MAX },
		{ (size_t)1 << 32, (size_t)1 << 32 }, /* wraps to exactly 0 */
		{ 16, ((size_t)1 << 60) + 1 },
		{ 3, SIZE_MAX / 3 + 1 },
		{ (size_t)1 << 31, (size_t)1 << 31 }, /* no wrap; too big */
	};
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		volatile size_t a = dims[i][0], b = dims[i][1];
		errno = 0;
		void *p = goheap_calloc(a, b);
		ok(p == NULL && errno == ENOMEM,
		   "goheap_calloc(%#zx, %#zx) fails with ENOMEM", dims[i][0],
		   dims[i][1]);
		goheap_free(p);
	}

	unsigned char *p = goheap_malloc(100);
	ok(p != NULL && tap_nonzero(p, 100) == SIZE_MAX,
	   "the heap still works after failed requests");
	goheap_free(p);
}

/*
 * Random allocations and frees with many blocks live at once.  (Like every
 * test here, it keeps its heap pointers on the stack or in static data,
 * the collector's roots, never in memory from the system malloc.)  Each block
 * carries a pattern of its own; every byte is checked before the block is
 * freed, and a random other live block is checked now and then, so a block
 * handed out twice or overlapping another shows up.
 */
struct slot {
	unsigned char *p;
	size_t n;
	uint64_t tag;
	int tiny;
};

enum { MAXSLOTS = 4096 };

static void test_patterns(void)
{
	/* In static data, where the collector sees the pointers. */
	static struct slot slot[MAXSLOTS];
	const size_t nslots = tap_scale(MAXSLOTS, 4);
	const size_t ops = tap_scale(300000, 10);
	struct tap_rng r = tap_rng_init(2);
	uint64_t next_tag = 1;
	int nulls = 0, dirty = 0, smashed = 0, bad_usable = 0;
	size_t nalloc = 0, maxlive = 0, live = 0;

	memset(slot, 0, sizeof slot);
	for (size_t op = 0; op < ops; op++) {
		struct slot *s = &slot[tap_rng_range(&r, 0, nslots - 1)];
		if (s->p != NULL) {
			size_t at = tap_check(s->p, s->n, s->tag);
			if (at != SIZE_MAX && smashed++ < 5)
				diag("block %p (%zu bytes) byte %zu smashed",
				     (void *)s->p, s->n, at);
			goheap_free(s->p);
			s->p = NULL;
			live--;
			continue;
		}
		int kind = (int)tap_rng_range(&r, 0, 15);
		size_t n = kind == 15 ? tap_rng_range(&r, 1, 15)
				      : random_small_size(&r);
		/* Pointer-free requests below 16 bytes are tiny. */
		s->tiny = kind >= 6 && kind < 11 ? n < 16 : kind == 15;
		s->p = kind == 15  ? goheap_malloc_atomic(n)
		       : kind < 6  ? goheap_malloc(n)
		       : kind < 11 ? goheap_malloc_atomic(n)
				   : goheap_calloc(1, n);
		if (s->p == NULL) {
			nulls++;
			continue;
		}
		if ((kind < 6 || (kind >= 11 && kind < 15)) &&
		    tap_nonzero(s->p, n) != SIZE_MAX && dirty++ < 5)
			diag("new block %p (%zu bytes) not zeroed",
			     (void *)s->p, n);
		size_t want = gh_class_size[smallest_class(n)];
		if (!s->tiny && goheap_usable_size(s->p) != want &&
		    bad_usable++ < 5)
			diag("block %p of %zu bytes: usable %zu", (void *)s->p,
			     n, goheap_usable_size(s->p));
		s->n = n;
		s->tag = next_tag++;
		tap_fill(s->p, n, s->tag);
		nalloc++;
		if (++live > maxlive)
			maxlive = live;

		/* Now and then, look at another live block. */
		if (op % 8 == 0) {
			size_t other = tap_rng_range(&r, 0, nslots - 1);
			struct slot *o = &slot[other];
			if (o->p != NULL) {
				size_t at = tap_check(o->p, o->n, o->tag);
				if (at != SIZE_MAX && smashed++ < 5)
					diag("block %p (%zu bytes) byte %zu "
					     "smashed",
					     (void *)o->p, o->n, at);
			}
		}
	}
	for (size_t i = 0; i < nslots; i++) {
		if (slot[i].p == NULL)
			continue;
		size_t at = tap_check(slot[i].p, slot[i].n, slot[i].tag);
		if (at != SIZE_MAX && smashed++ < 5)
			diag("block %p (%zu bytes) byte %zu smashed",
			     (void *)slot[i].p, slot[i].n, at);
		goheap_free(slot[i].p);
		slot[i].p = NULL;
	}
	diag("%zu allocations, up to %zu live at once", nalloc, maxlive);
	is_int(nulls, 0, "no allocation failed");
	is_int(dirty, 0, "goheap_malloc and goheap_calloc blocks were zeroed");
	is_int(bad_usable, 0, "usable sizes were the class sizes");
	is_int(smashed, 0, "every live byte kept its pattern");
}

/* Many blocks live at once never overlap: sorted by address, each one
 * ends before the next begins. */
struct extent {
	uintptr_t start;
	size_t len;
};

static int by_start(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

static void test_no_overlap(void)
{
	enum { MAXN = 100000 };
	static struct extent e[MAXN]; /* where the collector sees them */
	const size_t n = tap_scale(MAXN, 10);
	struct tap_rng r = tap_rng_init(3);
	int nulls = 0, overlaps = 0;

	for (size_t i = 0; i < n; i++) {
		size_t size = tap_rng_range(&r, 0, 15) == 0
				      ? random_small_size(&r)
				      : tap_rng_range(&r, 1, 512);
		void *p;
		if (tap_rng_range(&r, 0, 1))
			p = goheap_malloc(size);
		else
			p = goheap_malloc_atomic(size < 16 ? 16 : size);
		if (p == NULL)
			nulls++;
		e[i].start = (uintptr_t)p;
		e[i].len = goheap_usable_size(p);
	}
	qsort(e, n, sizeof *e, by_start);
	for (size_t i = 0; i + 1 < n; i++) {
		if (e[i].start == 0)
			continue;
		if (e[i].start + e[i].len > e[i + 1].start && overlaps++ < 5)
			diag("%#zx+%zu overlaps %#zx", (size_t)e[i].start,
			     e[i].len, (size_t)e[i + 1].start);
	}
	is_int(nulls, 0, "no allocation failed");
	is_int(overlaps, 0, "%zu live blocks do not overlap", n);

	/* Free in an order unrelated to the allocation order. */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = tap_rng_range(&r, 0, i);
		struct extent t = e[i];
		e[i] = e[j];
		e[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		goheap_free((void *)e[i].start);
		e[i].start = 0;
	}
}

/* goheap_base maps every byte of a block to its start; goheap_usable_size
 * answers only for the start. */
static void test_interior_pointers(void)
{
	int bad_base = 0, bad_usable = 0, beyond = 0;
	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		size_t size = gh_class_size[c];
		for (int kind = 0; kind < 2; kind++) {
			/* Neighbours on both sides, to catch an answer
			 * that belongs to the block before or after. */
			unsigned char *before = goheap_malloc(size);
			unsigned char *p = kind ? goheap_malloc_atomic(size)
						: goheap_malloc(size);
			unsigned char *after = goheap_malloc(size);
			for (size_t off = 0; off < size; off++) {
				void *b = goheap_base(p + off);
				size_t u = goheap_usable_size(p + off);
				if (b != p && bad_base++ < 5)
					diag("class %d: goheap_base(%p + %zu) "
					     "= %p",
					     c, (void *)p, off, b);
				if (u != (off == 0 ? size : 0) &&
				    bad_usable++ < 5)
					diag("class %d: goheap_usable_size("
					     "%p + %zu) = %zu",
					     c, (void *)p, off, u);
			}
			/* One past the end is some other block, or none. */
			if (goheap_base(p + size) == p && beyond++ < 5)
				diag("class %d: goheap_base(%p + %zu) is %p", c,
				     (void *)p, size, (void *)p);
			goheap_free(before);
			goheap_free(p);
			goheap_free(after);
		}
	}
	is_int(bad_base, 0,
	       "goheap_base of every byte of a block is the block's start");
	is_int(bad_usable, 0, "goheap_usable_size is the class size at the "
			      "start and 0 inside");
	is_int(beyond, 0, "the byte after a block does not belong to it");
}

/* Tiny pointer-free blocks share 16-byte blocks; each still keeps its
 * own bytes, and goheap_base finds the 16-byte block around it. */
static void test_tiny(void)
{
	enum { N = 3000 };
	static struct slot t[N];
	struct tap_rng r = tap_rng_init(4);
	int nulls = 0, smashed = 0, bad_base = 0;

	for (int i = 0; i < N; i++) {
		t[i].n = (size_t)tap_rng_range(&r, 1, 15);
		t[i].tag = (uint64_t)i + 1000;
		t[i].p = goheap_malloc_atomic(t[i].n);
		if (t[i].p == NULL) {
			nulls++;
			continue;
		}
		tap_fill(t[i].p, t[i].n, t[i].tag);
		unsigned char *b = goheap_base(t[i].p);
		if ((b == NULL || b > t[i].p || t[i].p + t[i].n > b + 16) &&
		    bad_base++ < 5)
			diag("tiny %p (%zu bytes): goheap_base %p",
			     (void *)t[i].p, t[i].n, (void *)b);
	}
	for (int i = 0; i < N; i++) {
		if (t[i].p == NULL)
			continue;
		size_t at = tap_check(t[i].p, t[i].n, t[i].tag);
		if (at != SIZE_MAX && smashed++ < 5)
			diag("tiny %p (%zu bytes) byte %zu smashed",
			     (void *)t[i].p, t[i].n, at);
	}
	for (int i = 0; i < N; i++)
		goheap_free(t[i].p);
	is_int(nulls, 0, "no tiny allocation failed");
	is_int(smashed, 0, "tiny blocks keep their own bytes");
	is_int(bad_base, 0,
	       "goheap_base of a tiny block is the 16-byte block around it");
}

/* Addresses outside the heap, and blocks already freed, are no block. */
static int static_object[64];

static void test_not_heap(void)
{
	int stack_object[64] = { 0 };
	const char *literal = "a string literal";
	unsigned char *sys = malloc(64);

	is_ptr(goheap_base(stack_object), NULL, "a stack address");
	is_ptr(goheap_base(stack_object + 10), NULL, "inside a stack array");
	is_ptr(goheap_base(static_object), NULL, "a static address");
	is_ptr(goheap_base(literal), NULL, "a string literal");
	is_ptr(goheap_base(sys), NULL, "a block from the system malloc");
	is_ptr(goheap_base(sys + 17), NULL, "inside a system malloc block");
	is_ptr(goheap_base((void *)16), NULL, "address 16");
	is_ptr(goheap_base((void *)(uintptr_t)0xdead0000), NULL,
	       "address 0xdead0000");
	is_ptr(goheap_base((void *)((uintptr_t)1 << 46)), NULL,
	       "address 1 << 46");
	is_ptr(goheap_base((void *)((uintptr_t)1 << 47)), NULL,
	       "address 1 << 47");
	is_ptr(goheap_base((void *)(UINTPTR_MAX - 15)), NULL,
	       "the top of the address space");
	is_uint(goheap_usable_size(stack_object), 0, "usable size of stack");
	is_uint(goheap_usable_size(static_object), 0, "usable size of static");
	is_uint(goheap_usable_size(sys), 0, "usable size of system malloc");
	is_uint(goheap_usable_size((void *)(UINTPTR_MAX - 15)), 0,
		"usable size of the top of the address space");
	free(sys);

	for (int c = 1; c < GH_NUM_CLASSES; c += 7) {
		size_t size = gh_class_size[c];
		unsigned char *keep = goheap_malloc(size);
		unsigned char *p = goheap_malloc(size);
		goheap_free(p);
		is_ptr(goheap_base(p), NULL, "freed %zu-byte block: base",
		       size);
		is_ptr(goheap_base(p + size / 2), NULL,
		       "freed %zu-byte block: base of its middle", size);
		is_uint(goheap_usable_size(p), 0,
			"freed %zu-byte block: usable size", size);
		is_ptr(goheap_base(keep), keep,
		       "its live neighbour is still found");
		goheap_free(keep);
	}
}

static const struct tap_test tests[] = {
	TAP_TEST(test_free_null),
	TAP_TEST(test_malloc_basic),
	TAP_TEST(test_malloc_zero),
	TAP_TEST(test_alignment),
	TAP_TEST(test_zeroed_after_free),
	TAP_TEST(test_calloc),
	TAP_TEST(test_overflow),
	TAP_TEST(test_patterns),
	TAP_TEST(test_no_overlap),
	TAP_TEST(test_interior_pointers),
	TAP_TEST(test_tiny),
	TAP_TEST(test_not_heap),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
