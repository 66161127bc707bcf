/*
 * t-sizeclass: the size-class tables (lib/sizeclasses.h) and how the
 * allocator applies them.
 *
 * The tables must describe what the generator promises: classes that
 * grow in 16-byte multiples up to 32 KiB, spans whose tail waste is at
 * most 1/8, rounding waste at most 1/8 above 128 bytes, and lookup tables
 * that send every request to the smallest class that holds it.  The
 * allocator must then hand out exactly that class for every small size,
 * and page-rounded blocks for large ones.
 */
#include <goheap.h>

#include "sizeclasses.h"
#include "tap.h"

enum { PAGE = 8192 };

/* The class the lookup tables give for a request of n bytes. */
static int table_class(size_t n)
{
	if (n <= 1024)
		return gh_size_to_class16[(n + 15) / 16];
	return gh_size_to_class128[(n - 1024 + 127) / 128];
}

/* The smallest class whose size holds n bytes (n 0 counts as 1), found by
 * walking the class sizes. */
static int smallest_class(size_t n)
{
	int c = 1;
	while (c < GH_NUM_CLASSES && gh_class_size[c] < n)
		c++;
	return c;
}

static void test_constants(void)
{
	is_int(GH_NUM_CLASSES, GOHEAP_NUM_SIZE_CLASSES,
	       "the table has as many classes as goheap.h says");
	is_int(GH_NUM_CLASSES, 81, "80 small classes and class 0");
	is_int(GH_MAX_SMALL, 32768, "small objects end at 32 KiB");
	is_int(gh_class_size[0], 0, "class 0 (large) has no size");
	is_int(gh_class_npages[0], 0, "class 0 (large) has no span size");
	is_int(gh_class_size[1], 16, "the smallest class is 16 bytes");
	is_int(gh_class_size[GH_NUM_CLASSES - 1], GH_MAX_SMALL,
	       "the largest class is GH_MAX_SMALL");
	is_int(sizeof gh_size_to_class16 / sizeof gh_size_to_class16[0],
	       1024 / 16 + 1, "the 16-byte lookup table covers 0..1024");
	is_int(sizeof gh_size_to_class128 / sizeof gh_size_to_class128[0],
	       (GH_MAX_SMALL - 1024) / 128 + 1,
	       "the 128-byte lookup table covers 1024..GH_MAX_SMALL");
}

static void test_class_table(void)
{
	int increasing = 1, multiple16 = 1, pages_ok = 1, tail_ok = 1;
	int rounding_ok = 1;

	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		unsigned size = gh_class_size[c];
		unsigned span = gh_class_npages[c] * PAGE;
		if (c > 1 && size <= gh_class_size[c - 1]) {
			diag("class %d: size %u after %u", c, size,
			     gh_class_size[c - 1]);
			increasing = 0;
		}
		if (size % 16 != 0) {
			diag("class %d: size %u is not a multiple of 16", c,
			     size);
			multiple16 = 0;
		}
		if (gh_class_npages[c] < 1 || span < size) {
			diag("class %d: %u pages cannot hold %u bytes", c,
			     gh_class_npages[c], size);
			pages_ok = 0;
			continue;
		}
		if ((span % size) * 8 > span) {
			diag("class %d: span %u wastes %u bytes at its tail", c,
			     span, span % size);
			tail_ok = 0;
		}
		/* The worst request for class c is one byte more than the
		 * class below: it wastes size - (prev + 1) bytes. */
		unsigned prev = gh_class_size[c - 1];
		if (c > 1 && prev >= 128 && size > prev &&
		    (size - prev - 1) * 8 > prev + 1) {
			diag("class %d: a request of %u bytes wastes %u", c,
			     prev + 1, size - prev - 1);
			rounding_ok = 0;
		}
	}
	ok(increasing, "class sizes strictly increase");
	ok(multiple16, "class sizes are multiples of 16");
	ok(pages_ok, "every span holds at least one object");
	ok(tail_ok, "span tail waste is at most 1/8");
	ok(rounding_ok, "rounding waste is at most 1/8 from 128 bytes up");
}

static void test_lookup_tables(void)
{
	int bad = 0;
	for (size_t n = 0; n <= GH_MAX_SMALL; n++) {
		int got = table_class(n), want = smallest_class(n);
		if (got != want && bad++ < 10)
			diag("size %zu: tables give class %d (%u bytes), "
			     "smallest fit is class %d (%u bytes)",
			     n, got, gh_class_size[got], want,
			     gh_class_size[want]);
	}
	is_int(bad, 0, "the lookup tables give the smallest fitting class "
		       "for every size 0..%d", GH_MAX_SMALL);
}

/* Every small request gets exactly its class's size, for each way of
 * asking. */
static void test_malloc_rounding(void)
{
	int bad_malloc = 0, bad_atomic = 0, bad_calloc = 0, nulls = 0;

	for (size_t n = 0; n <= GH_MAX_SMALL; n++) {
		size_t want = gh_class_size[smallest_class(n)];
		void *p = goheap_malloc(n);
		if (p == NULL) {
			nulls++;
			continue;
		}
		size_t got = goheap_usable_size(p);
		if (got != want && bad_malloc++ < 10)
			diag("goheap_malloc(%zu): usable %zu, want %zu", n,
			     got, want);
		goheap_free(p);

		/* Atomic requests below 16 bytes go to the tiny allocator,
		 * whose blocks are not exact. */
		if (n >= 16) {
			p = goheap_malloc_atomic(n);
			if (p == NULL) {
				nulls++;
				continue;
			}
			got = goheap_usable_size(p);
			if (got != want && bad_atomic++ < 10)
				diag("goheap_malloc_atomic(%zu): usable %zu, "
				     "want %zu", n, got, want);
			goheap_free(p);
		}

		p = goheap_calloc(1, n);
		if (p == NULL) {
			nulls++;
			continue;
		}
		got = goheap_usable_size(p);
		if (got != want && bad_calloc++ < 10)
			diag("goheap_calloc(1, %zu): usable %zu, want %zu", n,
			     got, want);
		goheap_free(p);
	}
	is_int(nulls, 0, "no small allocation failed");
	is_int(bad_malloc, 0, "goheap_malloc(n) is n's class, n 0..32768");
	is_int(bad_atomic, 0,
	       "goheap_malloc_atomic(n) is n's class, n 16..32768");
	is_int(bad_calloc, 0, "goheap_calloc(1, n) is n's class, n 0..32768");
}

/* A request of exactly a class's size uses the whole block. */
static void test_exact_class_sizes(void)
{
	int bad = 0;
	for (int c = 1; c < GH_NUM_CLASSES; c++) {
		void *p = goheap_malloc(gh_class_size[c]);
		void *q = goheap_malloc(gh_class_size[c] - 1u);
		size_t up = goheap_usable_size(p), uq = goheap_usable_size(q);
		if (up != gh_class_size[c] || uq != gh_class_size[c]) {
			diag("class %d (%u bytes): usable %zu and %zu", c,
			     gh_class_size[c], up, uq);
			bad++;
		}
		goheap_free(p);
		goheap_free(q);
	}
	is_int(bad, 0, "requests of size and size - 1 fill their class");
}

/* Large requests are rounded up to whole 8 KiB pages. */
static void test_large_rounding(void)
{
	static const size_t sizes[] = {
		GH_MAX_SMALL + 1, GH_MAX_SMALL + 16, 40000, 40960, 40961,
		49151, 65536, 65537, 100000, 1 << 20, (1 << 20) + 1,
	};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		size_t want = (n + PAGE - 1) / PAGE * PAGE;
		void *p = goheap_malloc(n);
		is_uint(goheap_usable_size(p), want,
			"goheap_malloc(%zu) is rounded up to pages", n);
		goheap_free(p);
		p = goheap_malloc_atomic(n);
		is_uint(goheap_usable_size(p), want,
			"goheap_malloc_atomic(%zu) is rounded up to pages", n);
		goheap_free(p);
	}
	/* Every size just around the small/large boundary. */
	int bad = 0;
	for (size_t n = GH_MAX_SMALL - 300; n <= GH_MAX_SMALL + 3 * PAGE;
	     n += 7) {
		size_t want = n <= GH_MAX_SMALL
				      ? GH_MAX_SMALL
				      : (n + PAGE - 1) / PAGE * PAGE;
		void *p = goheap_malloc(n);
		size_t got = goheap_usable_size(p);
		if (got != want && bad++ < 10)
			diag("goheap_malloc(%zu): usable %zu, want %zu", n,
			     got, want);
		goheap_free(p);
	}
	is_int(bad, 0, "sizes around the small/large boundary round right");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_constants),
	TAP_TEST(test_class_table),
	TAP_TEST(test_lookup_tables),
	TAP_TEST(test_malloc_rounding),
	TAP_TEST(test_exact_class_sizes),
	TAP_TEST(test_large_rounding),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
