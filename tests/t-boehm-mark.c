/*
 * t-boehm-mark: the Boehm mark-procedure interface of the libgc.so.1
 * drop-in (<goheap/gc_mark.h>): kinds, mark procedures called by the
 * collector, GC_mark_and_push, entries pushed on the mark stack,
 * GC_push_other_roots, GC_generic_malloc and GC_generic_malloc_many.
 */
#include <goheap/gc_mark.h>

#include "boehm-util.h"
#include "tap.h"

static GC_word hidden[8];
static unsigned proc_kind, calls;

/* Objects of the kind: word 0 is a strong pointer, word 1 a pointer the
 * procedure ignores, word 2 the start of a malloc'd range of 4 words
 * that it pushes on the mark stack, word 3 its environment's copy. */
static struct GC_ms_entry *mark_first(GC_word *addr, struct GC_ms_entry *msp,
				      struct GC_ms_entry *msl, GC_word env)
{
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	addr[3] = env;
	msp = GC_MARK_AND_PUSH((void *)addr[0], msp, msl, (void **)addr);
	if (addr[2]) {
		msp++;
		msp->mse_start = (void *)addr[2];
		msp->mse_descr.w = 4 * sizeof(GC_word) | GC_DS_LENGTH;
	}
	return msp;
}

static void *volatile keep;

static BU_NOINLINE void make_objects(void)
{
	GC_word *o = GC_generic_malloc(4 * sizeof(GC_word), (int)proc_kind);
	o[0] = (GC_word)GC_malloc(16);
	o[1] = (GC_word)GC_malloc(16);
	void **range = malloc(4 * sizeof(void *));
	range[2] = GC_malloc(16);
	o[2] = (GC_word)range;
	hidden[0] = BU_HIDE(o[0]);
	hidden[1] = BU_HIDE(o[1]);
	hidden[2] = BU_HIDE(range[2]);
	keep = o;
}

static void test_mark_proc(void)
{
	unsigned proc = GC_new_proc(mark_first);
	proc_kind = GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 42), 0, 1);
	cmp_uint(proc_kind, >, GC_I_NORMAL, "GC_new_kind gives a kind of its own");
	make_objects();
	calls = 0;
	bu_collect();
	cmp_uint(calls, >=, 1, "the collector calls the kind's mark procedure");
	is_uint(((GC_word *)keep)[3], 42, "with the kind's environment");
	ok(GC_base(BU_REVEAL(hidden[0])) != NULL, "what it marks with GC_mark_and_push lives");
	ok(GC_base(BU_REVEAL(hidden[1])) == NULL, "what it does not mark is collected");
	ok(GC_base(BU_REVEAL(hidden[2])) != NULL, "a range it pushes on the mark stack is scanned");
	free((void *)((GC_word *)keep)[2]);
	keep = NULL;
}

/* A malloc'd cell, which the collector does not scan, holds an object;
 * GC_push_other_roots pushes the cell. */
static void **cell;
static int other_calls;

static void push_cell(void)
{
	other_calls++;
	if (cell)
		GC_push_all(cell, cell + 1);
}

static BU_NOINLINE void make_other_root(void)
{
	cell = malloc(sizeof(void *));
	*cell = GC_malloc(24);
	hidden[3] = BU_HIDE(*cell);
}

static void test_push_other_roots(void)
{
	make_other_root();
	GC_set_push_other_roots(push_cell);
	ok(GC_get_push_other_roots() == push_cell, "GC_get_push_other_roots");
	bu_collect();
	cmp_int(other_calls, >=, 1, "every collection calls GC_push_other_roots");
	ok(GC_base(BU_REVEAL(hidden[3])) != NULL, "what it pushes with GC_push_all lives");
	GC_set_push_other_roots(NULL);
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[3])) == NULL, "and is collected once it no longer does");
	free(cell);
	cell = NULL;
}

static void test_generic_malloc(void)
{
	char *a = GC_generic_malloc(100, GC_I_PTRFREE), *n = GC_generic_malloc(100, GC_I_NORMAL);
	ok(a && n && n[99] == 0, "GC_generic_malloc of the predefined kinds");
	unsigned k = GC_new_kind(GC_new_free_list(), 0 | GC_DS_LENGTH, 1, 1);
	char *p = GC_generic_malloc(64, (int)k);
	ok(p && p[63] == 0, "a kind described by its length");
	void *list = NULL;
	GC_generic_malloc_many(48, (int)proc_kind, &list);
	int count = 0;
	for (void *q = list; q; q = *(void **)q)
		count++;
	cmp_int(count, >=, 2, "GC_generic_malloc_many gives a list");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_mark_proc),
	TAP_TEST(test_push_other_roots),
	TAP_TEST(test_generic_malloc),
};

int main(int argc, char **argv)
{
	GC_INIT();
	return TAP_MAIN(argc, argv, tests);
}
