/*
 * t-debug-poison: GOHEAP_DEBUG=poison=1 fills freed blocks with
 * 0xdeadbeefdeadbeef: those freed by goheap_free, small and large, and
 * those the collector frees.  The first 16 bytes of a free small block are
 * its free link and are not poisoned.  The memory stays mapped after a free
 * in this mode's absence of efence, so the test can look at it.
 *
 * The program runs itself again with the mode set, since it is read when
 * the library loads.
 */
#include <goheap.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

/* The block as the compiler cannot size it: goheap_malloc's alloc_size
 * tells it the size asked for, but these tests use the whole usable size
 * and read or write past it on purpose, which _FORTIFY_SOURCE and
 * UBSan's object-size check would otherwise stop. */
static inline void *launder(void *p)
{
	__asm__("" : "+r"(p));
	return p;
}

#define POISON UINT64_C(0xdeadbeefdeadbeef)

/* Words of [p + from, p + n) that are not the poison. */
static size_t unpoisoned(const void *p, size_t from, size_t n)
{
	const volatile uint64_t *w = launder((void *)((uintptr_t)p + from));
	size_t bad = 0;
	for (size_t i = 0; i < (n - from) / 8; i++)
		bad += w[i] != POISON;
	return bad;
}

static void test_free_small(void)
{
	char *p = launder(goheap_malloc(256));
	size_t n = goheap_usable_size(p);
	memset(p, 0x11, n);
	goheap_free(p);
	is_uint(unpoisoned(p, 16, n), 0, "a freed small block is poisoned past its free link");
	/* It is handed out again zeroed all the same. */
	char *q = goheap_malloc(256);
	size_t nonzero = 0;
	for (size_t i = 0; i < goheap_usable_size(q); i++)
		nonzero += q[i] != 0;
	is_uint(nonzero, 0, "goheap_malloc still returns zeroed memory");
	goheap_free(q);
}

static void test_free_large(void)
{
	char *p = launder(goheap_malloc_atomic(100000));
	size_t n = goheap_usable_size(p);
	memset(p, 0x22, n);
	goheap_free(p);
	is_uint(unpoisoned(p, 0, n), 0, "a freed large block is poisoned whole");
	char *q = goheap_malloc(100000);
	size_t nonzero = 0;
	for (size_t i = 0; i < 100000; i++)
		nonzero += q[i] != 0;
	is_uint(nonzero, 0, "a large goheap_malloc block is still zeroed");
	goheap_free(q);
}

static void test_swept(void)
{
	enum { N = 256 };
	uintptr_t hidden[N];
	for (int i = 0; i < N; i++) {
		char *p = goheap_malloc(64);
		memset(p, 0x33, 64);
		hidden[i] = (uintptr_t)p ^ 0x5a5a;
	}
	goheap_gc();
	goheap_gc();
	int freed = 0;
	size_t bad = 0;
	for (int i = 0; i < N; i++) {
		void *p = (void *)(hidden[i] ^ 0x5a5a);
		if (goheap_base(p) == p)
			continue; /* kept by a stale word somewhere */
		freed++;
		bad += unpoisoned(p, 16, 64);
	}
	cmp_int(freed, >=, N / 2, "the collector freed most dropped blocks (%d of %d)", freed, N);
	is_uint(bad, 0, "every block the collector freed is poisoned");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_free_small),
	TAP_TEST(test_free_large),
	TAP_TEST(test_swept),
};

int main(int argc, char **argv)
{
	const char *d = getenv("GOHEAP_DEBUG");
	if (!d || strcmp(d, "poison=1") != 0) {
		setenv("GOHEAP_DEBUG", "poison=1", 1);
		execv("/proc/self/exe", argv);
		bail_out("execv: %s", strerror(errno));
	}
	return TAP_MAIN(argc, argv, tests);
}
