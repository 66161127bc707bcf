/*
 * boehm-util.h - helpers of the tests of the libgc.so.1 drop-in, which
 * see the heap through <gc.h> only (they link with libgc, which exports
 * nothing else).
 *
 * Whether a block was collected: the tests keep its address hidden
 * (bits inverted, so that no word points at it) and ask GC_base, which
 * answers NULL for a block that is free.  Blocks are made in a frame that
 * is gone, and its stack cleared, before collecting; as elsewhere in the
 * suite, "mostly" (95 %) leaves room for a stray conservative word.
 */
#ifndef GH_TESTS_BOEHM_UTIL_H
#define GH_TESTS_BOEHM_UTIL_H

#include <goheap/gc.h>
#include <string.h>

#define BU_NOINLINE __attribute__((noinline))
#define BU_HIDE(p) (~(GC_word)(p))
#define BU_REVEAL(h) ((void *)~(GC_word)(h))
#define BU_MOSTLY(n) ((n) - (n) / 20)

/* Overwrite the stack below the caller, where dead frames left
 * addresses. */
static BU_NOINLINE __attribute__((unused)) void bu_clear_stack(void)
{
	volatile char buf[32 << 10];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" ::"r"(buf) : "memory");
}

static __attribute__((unused)) void bu_collect(void)
{
	bu_clear_stack();
	GC_gcollect();
	GC_gcollect();
}

/* How many of the n hidden blocks are still allocated. */
static __attribute__((unused)) size_t bu_alive(const GC_word *hidden, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += GC_base(BU_REVEAL(hidden[i])) != NULL;
	return k;
}

#endif
