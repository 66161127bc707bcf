/*
 * fuzz_api - libFuzzer target for sequences of libgoheap API calls.  The
 * input is a program: each operation is one byte (the call) followed by
 * the bytes of its arguments.  The target keeps a table of the blocks it
 * owns, each filled with a pattern it can check, and never passes the
 * library a pointer that the API says aborts the program (a wild, interior
 * or freed pointer to goheap_free or goheap_realloc: those are fatal by
 * design).  Deliberately invalid arguments that must give an error are
 * fed: interior pointers to goheap_set_finalizer, goheap_base and
 * goheap_usable_size, tiny blocks to goheap_set_finalizer, overflowing
 * goheap_calloc sizes, bad layouts to goheap_type_new, reversed and
 * unregistered ranges to goheap_add_roots / goheap_remove_roots.
 *
 * Checked after every operation that may collect: every owned block keeps
 * its pattern, and so does every block reachable only through a link
 * stored in another owned block.  Any crash, sanitizer report or failed
 * check (abort) is a finding.  Built with the library's sources by
 * fuzz/run.sh.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goheap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed check: say which, then crash for libFuzzer to keep the input. */
#define FAIL() (fprintf(stderr, "fuzz_api: check at line %d failed (errno %d)\n", \
			__LINE__, errno), abort())

enum { SLOTS = 32, K_SCAN, K_ATOMIC, K_TYPED };

typedef struct owned {
	unsigned char *p;
	size_t size; /* bytes asked for */
	int kind;
	uint8_t seed;
	/* A block reachable only through word 0 of this one (scanned kinds,
	 * size >= 16), with its own size and seed. */
	int has_child;
	size_t child_size;
	uint8_t child_seed;
} owned;

static owned slot[SLOTS];
static goheap_type *type16; /* 16 bytes, a pointer at offset 0 */
static unsigned type_news;
static uintptr_t roots_area[256];
static size_t ranges[16][2]; /* registered: [a, b) of roots_area */
static int nranges;
static int finalized;
static int collections; /* explicit ones in this input */

typedef struct input {
	const uint8_t *d;
	size_t n;
} input;

static unsigned get(input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->d++;
}

static size_t get_size(input *in)
{
	unsigned a = get(in), b = get(in);
	size_t n = (size_t)(a | b << 8);
	switch (a & 7) {
	case 0:
		return n & 15; /* tiny or zero */
	case 1:
		return n * 4; /* up to 256 KiB */
	default:
		return n & 4095;
	}
}

static void fill(unsigned char *p, size_t from, size_t n, uint8_t seed)
{
	for (size_t i = from; i < n; i++)
		p[i] = (uint8_t)(seed + i * 131);
}

static void check(const unsigned char *p, size_t from, size_t n, uint8_t seed)
{
	for (size_t i = from; i < n; i++)
		if (p[i] != (uint8_t)(seed + i * 131)) {
			fprintf(stderr, "fuzz_api: block %p of %zu bytes: byte %zu is %#x, not %#x\n",
				(const void *)p, n, i, p[i], (uint8_t)(seed + i * 131));
			FAIL();
		}
}

/* Bytes of the owned block that hold the pattern: all but a link. */
static size_t pattern_from(const owned *o)
{
	return o->has_child ? sizeof(void *) : 0;
}

static void check_all(void)
{
	for (int i = 0; i < SLOTS; i++) {
		owned *o = &slot[i];
		if (!o->p)
			continue;
		check(o->p, pattern_from(o), o->size, o->seed);
		if (o->has_child) {
			unsigned char *c;
			memcpy(&c, o->p, sizeof c);
			if (goheap_base(c) != c)
				FAIL();
			check(c, 0, o->child_size, o->child_seed);
		}
	}
}

/* Whether the library packed the block into a shared 16-byte tiny block
 * (small atomic requests; goheap_usable_size says 0 for those).  An atomic
 * block that realloc shrank in place is not one, whatever its size. */
static int is_tiny(const owned *o)
{
	return o->p && goheap_usable_size(o->p) == 0;
}

static void drop(owned *o, int by_hand)
{
	/* Tiny blocks are never freed by hand. */
	if (by_hand && !is_tiny(o))
		goheap_free(o->p);
	memset(o, 0, sizeof *o);
}

static void on_finalize(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	finalized++;
}

static void expect_errno(int r, int e1, int e2)
{
	if (r == 0)
		return;
	if (r != -1 || (errno != e1 && errno != e2 && errno != ENOMEM))
		FAIL();
}

static void *alloc(int kind, size_t n)
{
	if (kind == K_SCAN)
		return goheap_malloc(n);
	if (kind == K_ATOMIC)
		return goheap_malloc_atomic(n);
	return goheap_malloc_typed((n + 15) & ~(size_t)15, type16);
}

static void op(input *in)
{
	unsigned code = get(in);
	owned *o = &slot[get(in) % SLOTS];
	owned *q = &slot[get(in) % SLOTS];
#ifdef FUZZ_API_TRACE
	fprintf(stderr, "op %u (code %#x) o=%d (%p, %zu, kind %d) q=%d\n", code % 13, code,
		(int)(o - slot), (void *)o->p, o->size, o->kind, (int)(q - slot));
#endif
	switch (code % 13) {
	case 0:
	case 1:
	case 2: { /* allocate */
		int kind = K_SCAN + (int)(code % 3);
		size_t n = get_size(in);
		if (kind == K_TYPED && !n)
			n = 16;
		unsigned char *p = alloc(kind, n);
		if (!p) {
			if (errno != ENOMEM && !(n == 0 && kind != K_TYPED))
				FAIL();
			break;
		}
		if (o->p)
			drop(o, (int)(code & 16));
		o->p = p;
		o->size = kind == K_TYPED ? (n + 15) & ~(size_t)15 : n;
		o->kind = kind;
		o->seed = (uint8_t)get(in);
		for (size_t i = 0; kind != K_ATOMIC && i < o->size; i++)
			if (p[i])
				FAIL();
		fill(p, 0, o->size, o->seed);
		break;
	}
	case 3: { /* calloc, sometimes with a product that overflows */
		size_t a = get_size(in), b = get(in);
		if (code & 32)
			a = SIZE_MAX / 2 + a;
		size_t prod;
		int over = __builtin_mul_overflow(a, b, &prod);
		unsigned char *p = goheap_calloc(a, b);
		if (!p) {
			if (errno != ENOMEM && prod != 0)
				FAIL();
			break;
		}
		if (over)
			FAIL();
		for (size_t i = 0; i < prod; i++)
			if (p[i])
				FAIL();
		if (o->p)
			drop(o, 0);
		o->p = p;
		o->size = prod;
		o->kind = K_SCAN;
		o->seed = (uint8_t)get(in);
		fill(p, 0, o->size, o->seed);
		break;
	}
	case 4: { /* realloc an owned block, or NULL */
		size_t n = get_size(in);
		if (o->kind == K_TYPED)
			n = (n + 15) & ~(size_t)15;
		if (n == 0 && is_tiny(o))
			break; /* would free a tiny block by hand */
		unsigned char *p = goheap_realloc(o->p, n);
		if (!p) {
			if (n == 0) {
				memset(o, 0, sizeof *o);
				break;
			}
			if (errno != ENOMEM)
				FAIL();
			break;
		}
		if (!o->p) {
			o->kind = K_SCAN;
			o->seed = (uint8_t)get(in);
			o->size = 0;
		}
		size_t keep = o->size < n ? o->size : n, pf = pattern_from(o);
		check(p, pf < keep ? pf : keep, keep, o->seed);
		o->p = p;
		o->size = n;
		if (o->has_child && n < sizeof(void *)) {
			o->has_child = 0; /* the link was cut off */
			fill(p, 0, n, o->seed);
		} else {
			fill(p, keep > pf ? keep : pf, n, o->seed);
		}
		break;
	}
	case 5: /* free by hand */
		if (o->p)
			drop(o, 1);
		break;
	case 6: /* collect: a few times per input, as marking scans the
		 * fuzzer's own large tables too (some 40 ms) */
		if (collections++ < 4)
			goheap_gc();
		if (code & 64)
			goheap_run_finalizers();
		check_all();
		break;
	case 7: /* link q's block into o's and forget q */
		if (o != q && o->p && q->p && o->kind != K_ATOMIC && o->size >= 16 &&
		    !q->has_child && !o->has_child && !is_tiny(q)) {
			memcpy(o->p, &q->p, sizeof q->p);
			o->has_child = 1;
			o->child_size = q->size;
			o->child_seed = q->seed;
			memset(q, 0, sizeof *q);
		}
		break;
	case 8: { /* finalizers: on a block, an interior pointer, or removal */
		if (!o->p)
			break;
		size_t off = get(in) % 3 == 0 && o->size > 1 ? 1 : 0;
		int tiny = is_tiny(o);
		int r = goheap_set_finalizer(o->p + off, code & 32 ? NULL : on_finalize, NULL);
		if (off || tiny) {
			/* Removing from a pointer that cannot have one may
			 * also say "none there" (ENOENT). */
			if (r != -1 || (errno != EINVAL && !((code & 32) && errno == ENOENT))) {
				fprintf(stderr, "set_finalizer(%p + %zu) of a %s block of %zu bytes: "
					"%d, errno %d\n", (void *)o->p, off, tiny ? "tiny" : "",
					o->size, r, errno);
				FAIL();
			}
		} else {
			expect_errno(r, EEXIST, ENOENT);
		}
		break;
	}
	case 9: { /* roots: add a range of the static area (maybe reversed),
		   * or remove one, registered or not */
		size_t a = get(in), b = get(in);
		if (code & 32) {
			int known = -1;
			for (int i = 0; i < nranges; i++)
				if (ranges[i][0] == a && ranges[i][1] == b)
					known = i;
			int r = goheap_remove_roots(roots_area + a, roots_area + b);
			if (known >= 0) {
				if (r != 0)
					FAIL();
				ranges[known][0] = ranges[nranges - 1][0];
				ranges[known][1] = ranges[--nranges][1];
			} else if (r != -1 || errno != ENOENT) {
				FAIL();
			}
			break;
		}
		if (nranges == 16)
			break;
		int r = goheap_add_roots(roots_area + a, roots_area + b);
		if (a > b) {
			if (r != -1 || errno != EINVAL)
				FAIL();
			break;
		}
		expect_errno(r, ENOMEM, ENOMEM);
		if (r == 0) {
			ranges[nranges][0] = a;
			ranges[nranges++][1] = b;
			if (o->p && a < b)
				memcpy(&roots_area[a], &o->p, sizeof o->p);
		}
		break;
	}
	case 10: { /* usable size and base, also of interior and odd pointers */
		if (!o->p) {
			static int on_stack_or_data;
			if (goheap_base(&on_stack_or_data) || goheap_usable_size(&on_stack_or_data))
				FAIL();
			if (goheap_base(in) || goheap_base((void *)(uintptr_t)(get(in) << 12)))
				FAIL();
			break;
		}
		int tiny = is_tiny(o);
		size_t us = goheap_usable_size(o->p);
		if (!tiny && us < o->size)
			FAIL();
		size_t off = o->size ? get(in) % o->size : 0;
		if (!tiny && o->size && goheap_base(o->p + off) != o->p)
			FAIL();
		break;
	}
	case 11: { /* goheap_type_new, with fuzzed layouts, a bounded number */
		if (type_news >= 256)
			break;
		size_t offs[4], n = get(in) % 5, sz = get(in);
		for (size_t i = 0; i < n; i++)
			offs[i] = get(in);
		goheap_type *t = goheap_type_new(sz, offs, n);
		type_news++;
		int valid = sz != 0 && (n == 0 || sz % 8 == 0);
		/* offsets must be words inside the element */
		for (size_t i = 0; valid && i < n; i++)
			valid = offs[i] % 8 == 0 && offs[i] + 8 <= sz;
		if (!t && errno != EINVAL && errno != ENOMEM)
			FAIL();
		if (t && !valid)
			FAIL();
		break;
	}
	default: { /* memstats: the sums must hold */
		goheap_memstats m;
		m.size = sizeof m;
		goheap_read_memstats(&m);
		if (m.heap_inuse > m.heap_sys || m.heap_alloc > m.heap_sys)
			FAIL();
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!type16) {
		/* The library is linked into this program, whose data the
		 * collector then skips as its own: the table of owned blocks
		 * is a root only if registered. */
		if (goheap_add_roots(slot, slot + SLOTS) != 0)
			FAIL();
		size_t off0 = 0;
		type16 = goheap_type_new(16, &off0, 1);
		if (!type16)
			FAIL();
	}
	input in = {data, size};
	collections = 0;
	while (in.n)
		op(&in);
	check_all();
	/* Leave nothing for the next input: roots off, blocks dropped for
	 * the collector. */
	while (nranges > 0) {
		nranges--;
		if (goheap_remove_roots(roots_area + ranges[nranges][0],
					roots_area + ranges[nranges][1]) != 0)
			FAIL();
	}
	memset(roots_area, 0, sizeof roots_area);
	for (int i = 0; i < SLOTS; i++)
		drop(&slot[i], 0);
	return 0;
}
