/*
 * t-gc-typed: precise layouts (goheap_type_new, goheap_malloc_typed) and
 * pointer-free blocks.
 *
 * The collector scans a typed block precisely: only the words its type
 * declares as pointers, in every element of the array the block holds.  A
 * block referenced only from a word the type does not declare must be
 * reclaimed; one referenced from a declared word, in any element, must
 * survive.  Blocks from goheap_malloc_atomic, and typed blocks whose type
 * declares no pointer, are not scanned at all.  goheap_realloc keeps a
 * block's kind: a typed block stays typed (same layout) and an atomic one
 * stays atomic.  Bad layouts and sizes give NULL with EINVAL.
 */
#include <goheap.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gcutil.h"
#include "tap.h"

enum { N = 100 };

/* The element of the main test type: two pointers, two words that hold
 * addresses but are declared as plain data, and padding. */
struct elem {
	void *ptr_a; /* declared */
	uintptr_t not_ptr_a; /* not declared */
	void *ptr_b; /* declared */
	uintptr_t not_ptr_b; /* not declared */
	unsigned char data[32];
};

static goheap_type *elem_type;

static int make_types(void)
{
	if (elem_type != NULL)
		return 1;
	static const size_t offs[] = { offsetof(struct elem, ptr_a),
				       offsetof(struct elem, ptr_b) };
	elem_type = goheap_type_new(sizeof(struct elem), offs, 2);
	return elem_type != NULL;
}

static size_t target_size(size_t i)
{
	static const size_t sizes[] = { 16, 96, 512, 4000, 50000 };
	return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

/* The typed block of a test: its only root. */
static void *volatile typed_root;

/* ---- Layout validation ---- */

static void test_type_new_errors(void)
{
	size_t offs[3] = { 0, 8, 16 };
	errno = 0;
	is_ptr(goheap_type_new(0, NULL, 0), NULL, "size 0 is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_ptr(goheap_type_new(24, NULL, 2), NULL,
	       "pointers without offsets are refused");
	is_int(errno, EINVAL, "... with EINVAL");
	offs[1] = 12;
	errno = 0;
	is_ptr(goheap_type_new(24, offs, 2), NULL,
	       "an offset not a multiple of 8 is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	offs[1] = 24;
	errno = 0;
	is_ptr(goheap_type_new(24, offs, 2), NULL,
	       "an offset past the end is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	offs[1] = 20;
	errno = 0;
	is_ptr(goheap_type_new(24, offs, 2), NULL,
	       "a pointer that would cross the end is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	offs[1] = 8;
	errno = 0;
	is_ptr(goheap_type_new(20, offs, 2), NULL,
	       "a size not a multiple of 8 with pointers is refused");
	is_int(errno, EINVAL, "... with EINVAL");

	ok(goheap_type_new(24, offs, 3) != NULL,
	   "every word a pointer is a valid layout");
	ok(goheap_type_new(12, NULL, 0) != NULL,
	   "a pointer-free type of any size is valid");
	ok(goheap_type_new(8, offs, 1) != NULL,
	   "a single pointer is a valid layout");

	ok(make_types(), "goheap_type_new for struct elem");
	if (elem_type == NULL)
		return;
	errno = 0;
	is_ptr(goheap_malloc_typed(sizeof(struct elem) + 8, elem_type), NULL,
	       "goheap_malloc_typed with a size not a multiple of the type's "
	       "is refused");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_ptr(goheap_malloc_typed(sizeof(struct elem) * 3 - 1, elem_type),
	       NULL, "... also one byte short");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_ptr(goheap_malloc_typed(64, NULL), NULL,
	       "goheap_malloc_typed without a type is refused");
	is_int(errno, EINVAL, "... with EINVAL");

	struct elem *e =
		goheap_malloc_typed(sizeof(struct elem) * 5, elem_type);
	if (ok(e != NULL, "goheap_malloc_typed of 5 elements")) {
		is_zero(e, sizeof(struct elem) * 5, "a typed block is zeroed");
		cmp_uint(goheap_usable_size(e), >=, sizeof(struct elem) * 5,
			 "its usable size");
		is_ptr(goheap_base((char *)e + 100), e,
		       "goheap_base of an interior pointer");
		goheap_free(e);
	}
	e = goheap_malloc_typed(sizeof(struct elem) * 2000, elem_type);
	if (ok(e != NULL,
	       "goheap_malloc_typed of 2000 elements (a large block)")) {
		is_zero(e, sizeof(struct elem) * 2000,
			"a large typed block is zeroed");
		goheap_free(e);
	}
}

/* ---- Declared words keep blocks alive, undeclared ones do not ---- */

struct typed_case {
	size_t nelem; /* elements in the typed block */
	int declared; /* targets in declared pointer words, or not */
	int grow; /* realloc the block to this many elements first (0: no) */
	struct gcu_watch w[N];
};

/* Put target i in element i * nelem / N (so that the targets spread over
 * the whole array; nelem >= N / 2), in its first or second declared word
 * or in an undeclared one, pointing at its start or into it. */
static void place(struct elem *arr, size_t nelem, size_t i, void *target,
		  size_t size, int declared)
{
	struct elem *e = &arr[i * nelem / N];
	unsigned char *p =
		(unsigned char *)target + (i % 3 == 0 ? size / 2 : 0);
	int second = i % 2;
	if (declared) {
		if (second)
			e->ptr_b = p;
		else
			e->ptr_a = p;
	} else {
		if (second)
			e->not_ptr_b = (uintptr_t)p;
		else
			e->not_ptr_a = (uintptr_t)p;
	}
}

static void typed_fill(void *arg)
{
	struct typed_case *c = arg;
	size_t nelem = c->nelem;
	struct elem *arr = goheap_malloc_typed(nelem * sizeof *arr, elem_type);
	typed_root = arr;
	if (arr == NULL)
		return;
	for (size_t i = 0; i < nelem; i++)
		tap_fill(arr[i].data, sizeof arr[i].data, 0x77000 + i);
	for (size_t i = 0; i < N; i++) {
		void *t = gcu_watch_new(&c->w[i], target_size(i), i % 2,
					0x71000 + i);
		if (t != NULL)
			place(arr, nelem, i, t, target_size(i), c->declared);
	}
	if (c->grow) {
		struct elem *big = goheap_realloc(arr, c->grow * sizeof *arr);
		typed_root = big;
		if (big != NULL)
			for (size_t i = nelem; i < (size_t)c->grow; i++)
				tap_fill(big[i].data, sizeof big[i].data,
					 0x77000 + i);
	}
}

/* One-element blocks, each holding one target, themselves held by a
 * conservatively scanned holder. */
static void single_fill(void *arg)
{
	struct typed_case *c = arg;
	void **holder = goheap_malloc(N * sizeof *holder);
	typed_root = holder;
	if (holder == NULL)
		return;
	for (size_t i = 0; i < N; i++) {
		struct elem *e = goheap_malloc_typed(sizeof *e, elem_type);
		holder[i] = e;
		void *t = gcu_watch_new(&c->w[i], target_size(i), i % 2,
					0x71000 + i);
		if (e == NULL || t == NULL)
			continue;
		tap_fill(e->data, sizeof e->data, 0x77000 + i);
		place(e, 1, i, t, target_size(i), c->declared);
		if (!c->declared)
			e->ptr_a = e->ptr_b = NULL;
	}
}

static void root_clear(void *arg)
{
	const struct typed_case *c = arg;
	/* The holder of one-element blocks is cut first: a stale copy of
	 * its address (a register of typed_block_intact's loop, seen on
	 * arm64) then keeps only it, not every target. */
	if (c && c->nelem == 1 && typed_root)
		memset(typed_root, 0, N * sizeof(void *));
	typed_root = NULL;
}

/* The typed block (or the one-element blocks) still holds its data. */
static GCU_NOINLINE int typed_block_intact(const struct typed_case *c)
{
	if (c->nelem == 1) {
		void *const *holder = typed_root;
		if (holder == NULL || goheap_base(holder) != holder)
			return 0;
		for (size_t i = 0; i < N; i++) {
			const struct elem *e = holder[i];
			if (e == NULL || goheap_base(e) != e ||
			    tap_check(e->data, sizeof e->data, 0x77000 + i) !=
				    SIZE_MAX)
				return 0;
		}
		return 1;
	}
	const struct elem *arr = typed_root;
	size_t nelem = c->grow ? (size_t)c->grow : c->nelem;
	if (arr == NULL || goheap_base(arr) != arr)
		return 0;
	for (size_t i = 0; i < nelem; i++)
		if (tap_check(arr[i].data, sizeof arr[i].data, 0x77000 + i) !=
		    SIZE_MAX)
			return 0;
	return 1;
}

static GCU_NOINLINE int targets_intact(const struct typed_case *c)
{
	int n = 0;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p = GCU_REVEAL(c->w[i].hidden);
		n += gcu_watch_intact(&c->w[i], p);
	}
	return n;
}

static GCU_NOINLINE void run_case_body(struct typed_case *c, const char *what)
{
	gcu_call(c->nelem == 1 ? single_fill : typed_fill, c);
	if (!ok(typed_root != NULL, "%s: allocated", what))
		return;
	if (c->declared) {
		gcu_collect(3);
		gcu_settle();
		is_int(gcu_tally(c->w, N).finalized, 0,
		       "%s: no target finalized", what);
		is_int(targets_intact(c), N,
		       "%s: every target intact after 3 collections", what);
		ok(typed_block_intact(c), "%s: the typed block is intact",
		   what);
		gcu_call(root_clear, c);
		int got = gcu_collect_until(c->w, N, GCU_MOSTLY(N), 5000);
		cmp_int(got, >=, GCU_MOSTLY(N),
			"%s: once the typed block is dropped, targets die (%d "
			"of %d)",
			what, got, N);
	} else {
		int got = gcu_collect_until(c->w, N, GCU_MOSTLY(N), 5000);
		cmp_int(got, >=, GCU_MOSTLY(N),
			"%s: targets are reclaimed (%d of %d)", what, got, N);
		ok(typed_block_intact(c), "%s: the typed block is intact",
		   what);
		gcu_call(root_clear, NULL);
	}
	struct gcu_tally t = gcu_tally(c->w, N);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "%s: each finalizer once, on its block, intact", what);
}

/* A case starts from a cleared stack: its own frame may have slots it never
 * writes, holding what earlier tests left there (seen: the address of a
 * large block freed by an earlier test, whose pages the case's holder
 * then took, kept the holder and every target alive). */
static void run_case(struct typed_case *c, const char *what)
{
	gcu_clear_stack();
	run_case_body(c, what);
}

static struct typed_case cases[8];

static void test_declared_words(void)
{
	if (!ok(make_types(), "goheap_type_new"))
		return;
	cases[0] = (struct typed_case){ .nelem = 1, .declared = 1 };
	run_case(&cases[0], "one-element blocks, declared pointer words");
	cases[1] = (struct typed_case){ .nelem = 1, .declared = 0 };
	run_case(&cases[1], "one-element blocks, undeclared words");
}

static void test_arrays(void)
{
	if (!ok(make_types(), "goheap_type_new"))
		return;
	/* Small arrays, and large ones (more than 32 KiB), every element
	 * holding targets. */
	cases[2] = (struct typed_case){ .nelem = 50, .declared = 1 };
	run_case(&cases[2], "array of 50 elements, declared words");
	cases[3] = (struct typed_case){ .nelem = 50, .declared = 0 };
	run_case(&cases[3], "array of 50 elements, undeclared words");
	cases[4] = (struct typed_case){ .nelem = 1000, .declared = 1 };
	run_case(&cases[4], "array of 1000 elements (large), declared words");
	cases[5] = (struct typed_case){ .nelem = 1000, .declared = 0 };
	run_case(&cases[5], "array of 1000 elements (large), undeclared words");
}

static void test_realloc_typed(void)
{
	if (!ok(make_types(), "goheap_type_new"))
		return;
	/* Grown from a small block into a large one: the copy is typed as
	 * the original was. */
	cases[6] =
		(struct typed_case){ .nelem = 50, .declared = 1, .grow = 1200 };
	run_case(&cases[6],
		 "typed block grown by goheap_realloc, declared words");
	cases[7] =
		(struct typed_case){ .nelem = 50, .declared = 0, .grow = 1200 };
	run_case(&cases[7],
		 "typed block grown by goheap_realloc, undeclared words");
}

/* ---- Elements whose size is not a divisor of the block's size class ---- */

/* 24-byte elements, a pointer in the last word. */
struct elem24 {
	uintptr_t a, b;
	void *p;
};

static struct gcu_watch w24[N];

static void odd_fill(void *arg)
{
	goheap_type *t = arg;
	/* 7 elements: 168 bytes, rounded up by the size class. */
	struct elem24 *arr[N / 7 + 1];
	for (size_t k = 0; k < N / 7 + 1; k++)
		arr[k] = NULL;
	void **holder = goheap_malloc(sizeof arr);
	typed_root = holder;
	if (holder == NULL)
		return;
	for (size_t k = 0; k < N / 7 + 1; k++)
		holder[k] = goheap_malloc_typed(7 * sizeof(struct elem24), t);
	for (size_t i = 0; i < N; i++) {
		struct elem24 *a = holder[i / 7];
		void *p =
			gcu_watch_new(&w24[i], target_size(i), 0, 0x72000 + i);
		if (a != NULL)
			a[i % 7].p = p;
	}
}

static void test_odd_element_size(void)
{
	size_t off = offsetof(struct elem24, p);
	goheap_type *t = goheap_type_new(sizeof(struct elem24), &off, 1);
	if (!ok(t != NULL, "goheap_type_new(24, {16})"))
		return;
	gcu_call(odd_fill, t);
	gcu_collect(3);
	gcu_settle();
	is_int(gcu_tally(w24, N).finalized, 0,
	       "targets of 24-byte elements in 168-byte blocks survive");
	int intact = 0;
	for (size_t i = 0; i < N; i++)
		intact += gcu_watch_intact(&w24[i], GCU_REVEAL(w24[i].hidden));
	is_int(intact, N, "... intact");
	gcu_call(root_clear, NULL);
	int got = gcu_collect_until(w24, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N),
		"... and die with their holder (%d of %d)", got, N);
}

/* ---- A type with pointers far into a large element ---- */

enum { WIDE = 1024 };
static struct gcu_watch w_wide_yes[N], w_wide_no[N];

static void wide_fill(void *arg)
{
	goheap_type *t = arg;
	/* N elements of 1 KiB: word 125 is a pointer, word 1 is not. */
	unsigned char *arr = goheap_malloc_typed((size_t)N * WIDE, t);
	typed_root = arr;
	if (arr == NULL)
		return;
	for (size_t i = 0; i < N; i++) {
		void *yes = gcu_watch_new(&w_wide_yes[i], 64, 0, 0x73000 + i);
		void *no = gcu_watch_new(&w_wide_no[i], 64, 0, 0x74000 + i);
		memcpy(arr + i * WIDE + 125 * 8, &yes, sizeof yes);
		memcpy(arr + i * WIDE + 1 * 8, &no, sizeof no);
	}
}

static void test_wide_bitmap(void)
{
	size_t off = 125 * 8;
	goheap_type *t = goheap_type_new(WIDE, &off, 1);
	if (!ok(t != NULL, "goheap_type_new(1024, {1000})"))
		return;
	gcu_call(wide_fill, t);
	int dead = gcu_collect_until(w_wide_no, N, GCU_MOSTLY(N), 5000);
	gcu_settle();
	cmp_int(dead, >=, GCU_MOSTLY(N),
		"blocks held only by word 1 of 1 KiB elements are reclaimed "
		"(%d of %d)",
		dead, N);
	is_int(gcu_tally(w_wide_yes, N).finalized, 0,
	       "blocks held by word 125 (second bitmap word) survive");
	int intact = 0;
	for (size_t i = 0; i < N; i++)
		intact += gcu_watch_intact(&w_wide_yes[i],
					   GCU_REVEAL(w_wide_yes[i].hidden));
	is_int(intact, N, "... intact");
	gcu_call(root_clear, NULL);
	int got = gcu_collect_until(w_wide_yes, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N), "... and die with the array (%d of %d)",
		got, N);
}

/* ---- Blocks that are never scanned ---- */

struct noscan_case {
	int how; /* 0 atomic, 1 atomic then realloc, 2 typed, no pointers */
	size_t size;
	struct gcu_watch w[N];
};

static void noscan_fill(void *arg)
{
	struct noscan_case *c = arg;
	void **box;
	size_t size = c->how == 1 ? N * sizeof(void *) : c->size;
	if (c->how == 2)
		box = goheap_malloc_typed(
			size, goheap_type_new(sizeof(void *), NULL, 0));
	else
		box = goheap_malloc_atomic(size);
	typed_root = box;
	if (box == NULL)
		return;
	memset(box, 0, size);
	size_t stride = size / sizeof(void *) / N;
	for (size_t i = 0; i < N; i++)
		box[i * stride] =
			gcu_watch_new(&c->w[i], target_size(i), 0, 0x75000 + i);
	if (c->how == 1) {
		/* Grown into a large block: still atomic. */
		void **big = goheap_realloc(box, c->size);
		typed_root = big;
	}
}

static struct noscan_case noscan[4];

static void test_not_scanned(void)
{
	static const struct {
		int how;
		size_t size;
		const char *what;
	} kinds[4] = {
		{ 0, N * sizeof(void *), "a small goheap_malloc_atomic block" },
		{ 0, 200000, "a large goheap_malloc_atomic block" },
		{ 1, 100000, "an atomic block grown by goheap_realloc" },
		{ 2, N * sizeof(void *),
		  "a typed block whose type has no pointers" },
	};
	for (size_t k = 0; k < 4; k++) {
		noscan[k].how = kinds[k].how;
		noscan[k].size = kinds[k].size;
		gcu_call(noscan_fill, &noscan[k]);
		if (!ok(typed_root != NULL, "%s: allocated", kinds[k].what))
			continue;
		int got =
			gcu_collect_until(noscan[k].w, N, GCU_MOSTLY(N), 5000);
		cmp_int(got, >=, GCU_MOSTLY(N),
			"blocks held only by %s are reclaimed (%d of %d)",
			kinds[k].what, got, N);
		ok(goheap_base(typed_root) == typed_root, "%s: itself alive",
		   kinds[k].what);
		gcu_call(root_clear, NULL);
	}
}

/* ---- A typed block is a normal block otherwise ---- */

static struct gcu_watch w_self[N];
static void *volatile self_slots[N];

static void self_fill(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++) {
		size_t n = (i % 4 == 3 ? 800 : 1 + i % 7) * sizeof(struct elem);
		struct elem *e = goheap_malloc_typed(n, elem_type);
		if (e == NULL)
			continue;
		gcu_watch_block(&w_self[i], e, offsetof(struct elem, data), n,
				0x76000 + i);
		/* Held by an interior pointer. */
		self_slots[i] = (unsigned char *)e + n / 2;
	}
}

static void self_drop(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < N; i++)
		self_slots[i] = NULL;
}

static void test_typed_blocks_themselves(void)
{
	if (!ok(make_types(), "goheap_type_new"))
		return;
	gcu_call(self_fill, NULL);
	gcu_collect(3);
	gcu_settle();
	is_int(gcu_tally(w_self, N).finalized, 0,
	       "typed blocks held by interior pointers are not finalized");
	int alive = 0;
	for (size_t i = 0; i < N; i++) {
		unsigned char *e = GCU_REVEAL(w_self[i].hidden);
		alive += goheap_base(e) == e && self_slots[i] != NULL;
	}
	is_int(alive, N, "... and alive");
	gcu_call(self_drop, NULL);
	int got = gcu_collect_until(w_self, N, GCU_MOSTLY(N), 5000);
	cmp_int(got, >=, GCU_MOSTLY(N),
		"dropped typed blocks are finalized (%d of %d)", got, N);
	struct gcu_tally t = gcu_tally(w_self, N);
	is_int(t.wrong + t.twice, 0, "each once, on its block");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_type_new_errors),  TAP_TEST(test_declared_words),
	TAP_TEST(test_arrays),           TAP_TEST(test_realloc_typed),
	TAP_TEST(test_odd_element_size), TAP_TEST(test_wide_bitmap),
	TAP_TEST(test_not_scanned),      TAP_TEST(test_typed_blocks_themselves),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	gcu_finish();
	return status;
}
