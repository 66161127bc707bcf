/*
 * boehm_mark.c - the Boehm collector's mark-procedure interface
 * (<goheap/gc_mark.h>) on libgoheap's marker.  See boehm.c for the
 * drop-in's overview.
 *
 * A kind (GC_new_kind) is a descriptor and two flags.  Objects of the
 * predefined kinds and of kinds described by a length or a bitmap are
 * ordinary blocks: atomic when the descriptor says nothing is to be
 * scanned, scanned conservatively otherwise (a superset of what the
 * descriptor asks).  Objects of a kind with a mark procedure (GC_DS_PROC)
 * are typed blocks whose type is the kind's own: a sentinel goheap_type,
 * one per kind, all in one array, which marking recognises by its address
 * (gh_markproc_types, mgcmark.c) and hands to markproc_scan instead of
 * reading its bitmap.
 *
 * markproc_scan runs inside a marker, with the world stopped, as Boehm
 * runs mark procedures.  It gives the procedure a small mark stack: what
 * GC_mark_and_push is given is marked at once, through the marker
 * (gh_mark_range on the one word), so the stack stays as it was; ranges
 * the procedure pushes on the stack itself are scanned once it returns,
 * as their descriptors say.  GC_push_all and friends scan at once, and
 * only while a marking runs.  GC_push_other_roots is called by every
 * marking, after the static roots (gh_roots_push_other, roots.c).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "boehm.h"
#include "goheap/gc_mark.h"

enum {
	FIRST_KIND = 8, /* after Boehm's predefined kinds */
	MAX_KINDS = 64,
	STACK_ENTRIES = 512,
	FREE_LIST_ENTRIES = 129 + 1,
};

typedef struct kind {
	GC_word descr;
	bool adds_size;
	bool clear;
} kind;

static gh_mutex kinds_lock = GH_MUTEX_INITIALIZER(GH_RANK_DROPIN);
static kind kinds[MAX_KINDS];
static unsigned nkinds = FIRST_KIND;
static GC_mark_proc procs[GC_MAX_MARK_PROCS];
static unsigned nprocs = GC_RESERVED_MARK_PROCS;

/* The sentinel types, one per kind, TYPE_STRIDE bytes apart: a type of
 * one word that is a pointer (what the heap dump shows of such a block). */
#define TYPE_STRIDE 32
static uint8_t *types;

static goheap_type *type_of_kind(unsigned k)
{
	return (goheap_type *)(types + (size_t)k * TYPE_STRIDE);
}

GC_push_other_roots_proc GC_push_other_roots;

static void push_other_roots(void)
{
	GC_push_other_roots_proc fn = __atomic_load_n(&GC_push_other_roots, __ATOMIC_ACQUIRE);
	if (fn)
		fn();
}

/* Scan [lo, hi) if a marking runs on this thread's marker. */
static void push_range(uintptr_t lo, uintptr_t hi)
{
	if (__atomic_load_n(&gh_marking, __ATOMIC_RELAXED) && lo < hi)
		gh_mark_range(lo, hi);
}

/* An entry a mark procedure pushed: scan it as its descriptor says. */
static void scan_entry(struct GC_ms_entry *e, int depth);

static void call_proc(GC_word *addr, GC_word descr, int depth)
{
	GC_mark_proc proc = procs[(descr >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1)];
	if (!proc)
		return;
	struct GC_ms_entry stack[STACK_ENTRIES];
	struct GC_ms_entry *top = proc(addr, &stack[0], &stack[STACK_ENTRIES - 1],
				       descr >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS));
	for (struct GC_ms_entry *e = &stack[1]; e <= top && e < &stack[STACK_ENTRIES]; e++)
		scan_entry(e, depth + 1);
}

static void scan_entry(struct GC_ms_entry *e, int depth)
{
	uintptr_t lo = (uintptr_t)e->mse_start;
	GC_word d = e->mse_descr.w;
	switch (d & GC_DS_TAGS) {
	case GC_DS_LENGTH:
		push_range(lo, lo + d);
		break;
	case GC_DS_BITMAP:
		for (unsigned i = 0; i < 8 * sizeof(GC_word) - GC_DS_TAG_BITS; i++)
			if (d >> (8 * sizeof(GC_word) - 1 - i) & 1)
				push_range(lo + 8 * i, lo + 8 * i + 8);
		break;
	case GC_DS_PROC:
		if (depth < 16)
			call_proc((GC_word *)lo, d, depth);
		break;
	default: {
		/* Per object: the whole object, conservatively. */
		void *b = goheap_base((void *)lo);
		if (b)
			push_range(lo, (uintptr_t)b + goheap_usable_size(b));
	}
	}
}

/* Marking's hook for a block of a kind with a mark procedure. */
static void markproc_scan(uintptr_t p, gh_span *s, const goheap_type *t)
{
	(void)s;
	unsigned k = (unsigned)(((const uint8_t *)t - types) / TYPE_STRIDE);
	call_proc((GC_word *)p, kinds[k].descr, 0);
}

void gh_boehm_mark_init(void)
{
	types = gh_sys_alloc((size_t)MAX_KINDS * TYPE_STRIDE, &gh_heap.stats.other_sys);
	if (!types)
		return; /* no kind with a mark procedure can be made */
	for (unsigned k = 0; k < MAX_KINDS; k++) {
		goheap_type *t = type_of_kind(k);
		t->size = sizeof(GC_word);
		t->nwords = 1;
		t->bits[0] = 1;
	}
	gh_markproc_scan = markproc_scan;
	gh_markproc_types_len = (size_t)MAX_KINDS * TYPE_STRIDE;
	__atomic_store_n(&gh_markproc_types, (uintptr_t)types, __ATOMIC_RELEASE);
	gh_roots_push_other = push_other_roots;
}

void **GC_new_free_list(void)
{
	/* Boehm's free lists are per size in granules (129 of them);
	 * objects here come from libgoheap's caches, and the list is a
	 * token the collector never reads.  Kept for ever, as Boehm's. */
	gh_init();
	return gh_sys_alloc(FREE_LIST_ENTRIES * sizeof(void *), &gh_heap.stats.other_sys);
}

void **GC_new_free_list_inner(void)
{
	return GC_new_free_list();
}

unsigned GC_new_kind(void **free_list, GC_word descr, int adds_size, int clear)
{
	(void)free_list;
	gh_lock(&kinds_lock);
	unsigned k = nkinds;
	if (k < MAX_KINDS && ((descr & GC_DS_TAGS) != GC_DS_PROC || types)) {
		kinds[k].descr = descr;
		kinds[k].adds_size = adds_size != 0;
		kinds[k].clear = clear != 0;
		nkinds++;
	} else {
		gh_throw("GC_new_kind: no kind left (at most %d)", MAX_KINDS - FIRST_KIND);
	}
	gh_unlock(&kinds_lock);
	return k;
}

unsigned GC_new_kind_inner(void **free_list, GC_word descr, int adds_size, int clear)
{
	return GC_new_kind(free_list, descr, adds_size, clear);
}

unsigned GC_new_proc(GC_mark_proc proc)
{
	gh_lock(&kinds_lock);
	unsigned i = nprocs;
	if (i >= GC_MAX_MARK_PROCS)
		gh_throw("GC_new_proc: no mark procedure left (at most %d)",
			 GC_MAX_MARK_PROCS - GC_RESERVED_MARK_PROCS);
	procs[i] = proc;
	nprocs++;
	gh_unlock(&kinds_lock);
	return i;
}

unsigned GC_new_proc_inner(GC_mark_proc proc)
{
	return GC_new_proc(proc);
}

void *GC_generic_malloc(size_t n, int k)
{
	switch (k) {
	case GC_I_PTRFREE:
		return GC_malloc_atomic(n);
	case GC_I_NORMAL:
		return GC_malloc(n);
	case 2:
		return GC_malloc_uncollectable(n);
	case 3:
		return GC_malloc_atomic_uncollectable(n);
	}
	if (k < FIRST_KIND || (unsigned)k >= __atomic_load_n(&nkinds, __ATOMIC_ACQUIRE))
		gh_throw("GC_generic_malloc(%zu, %d): no such kind", n, k);
	const kind *kd = &kinds[k];
	if ((kd->descr & GC_DS_TAGS) == GC_DS_PROC) {
		if (n > SIZE_MAX - 16)
			return gh_boehm_oom(n);
		/* The extra byte of all interior pointers, in whole words. */
		size_t m = (n + 1 + 7) & ~(size_t)7;
		void *p = goheap_malloc_typed(m < 16 ? 16 : m, type_of_kind((unsigned)k));
		return p ? p : gh_boehm_oom(n);
	}
	if (kd->descr == 0 && !kd->adds_size) {
		void *p = GC_malloc_atomic(n);
		if (p && kd->clear)
			memset(p, 0, n);
		return p;
	}
	return GC_malloc(n);
}

void *GC_generic_malloc_ignore_off_page(size_t n, int k)
{
	return GC_generic_malloc(n, k);
}

void *GC_generic_or_special_malloc(size_t n, int k)
{
	return GC_generic_malloc(n, k);
}

void *GC_generic_malloc_uncollectable(size_t n, int k)
{
	return k == GC_I_PTRFREE ? GC_malloc_atomic_uncollectable(n) : GC_malloc_uncollectable(n);
}

void GC_generic_malloc_many(size_t n, int k, void **result)
{
	size_t each = n < sizeof(void *) ? sizeof(void *) : n;
	size_t count = each >= 4096 ? 1 : 4096 / each;
	void *head = NULL;
	for (size_t i = 0; i < count; i++) {
		void *p = GC_generic_malloc(each, k);
		if (!p)
			break;
		*(void **)p = head;
		head = p;
	}
	*result = head;
}

struct GC_ms_entry *GC_mark_and_push(void *obj, struct GC_ms_entry *msp,
				     struct GC_ms_entry *msl, void **src)
{
	(void)msl, (void)src;
	uintptr_t w = (uintptr_t)obj;
	push_range((uintptr_t)&w, (uintptr_t)(&w + 1));
	return msp;
}

void GC_push_all(void *lo, void *hi)
{
	push_range(((uintptr_t)lo + 7) & ~(uintptr_t)7, (uintptr_t)hi);
}

void GC_push_all_eager(void *lo, void *hi)
{
	GC_push_all(lo, hi);
}

void GC_push_conditional(void *lo, void *hi, int all)
{
	(void)all;
	GC_push_all(lo, hi);
}

void GC_set_mark_bit(const void *p)
{
	uintptr_t w = (uintptr_t)p;
	push_range((uintptr_t)&w, (uintptr_t)(&w + 1));
}

void GC_clear_mark_bit(const void *p)
{
	(void)p; /* marks are the collector's own */
}

int GC_is_marked(const void *p)
{
	gh_span *s = gh_span_of((uintptr_t)p);
	return s && gh_span_marked(s, GH_SPANCLASS_CLASS(s->spanclass)
						? gh_span_index(s, (uintptr_t)p)
						: 0);
}

void GC_set_push_other_roots(GC_push_other_roots_proc fn)
{
	__atomic_store_n(&GC_push_other_roots, fn, __ATOMIC_RELEASE);
}

GC_push_other_roots_proc GC_get_push_other_roots(void)
{
	return __atomic_load_n(&GC_push_other_roots, __ATOMIC_ACQUIRE);
}
