/*
 * mgcmark.c - marking: find every block reachable from the roots.
 * See mgc.c for where this sits in a collection.
 *
 * Marking runs with the world stopped.  Every root range (thread stacks
 * from their saved stack pointer to their base, static data, registered
 * ranges, finalizer records) is scanned conservatively: each aligned word
 * that points into a live span is taken as a pointer to the block holding
 * it.  A newly marked block that may hold pointers is pushed on the work
 * list; popping it scans it: every word of a goheap_malloc block, the
 * declared pointer words of a typed block.  Nothing recurses on the C
 * stack: the work list lives in buffers from the OS, kept between cycles.
 *
 * A word is a pointer to block b when it points anywhere inside b (interior
 * pointers keep blocks alive).  Blocks never carved are skipped.  Free
 * blocks (on a list, with their free tag) are marked too but not scanned:
 * a thread stopped between taking a block from its cache and clearing the
 * tag holds the block in a register, and the mark is what keeps the sweep
 * from freeing it once the thread hands it out (see malloc.c).
 *
 * Mark bits are set with an atomic OR after a plain test, so that parallel
 * markers may later share spans; a block marked twice is merely scanned
 * twice.
 */
#include "config.h"

#include <string.h>

#include "gc.h"
#include "gh.h"
#include "mem.h"
#include "track.h"

enum { WORKBUF_ENTRIES = 4094 };

typedef struct workbuf workbuf;
struct workbuf {
	workbuf *next;
	size_t n;
	struct {
		uintptr_t p;
		gh_span *s;
	} e[WORKBUF_ENTRIES / 2];
};

static workbuf *work;   /* the current buffer, with full ones behind it */
static workbuf *spare;  /* empty buffers kept for the next cycle */
static uint64_t marked_bytes;
static uintptr_t heap_lo, heap_hi; /* bounds of the heap, for a fast reject */

static void push(uintptr_t p, gh_span *s)
{
	workbuf *b = work;
	if (GH_UNLIKELY(!b || b->n == WORKBUF_ENTRIES / 2)) {
		workbuf *nb = spare;
		if (nb) {
			spare = nb->next;
		} else {
			nb = gh_sys_alloc(sizeof *nb, &gh_heap.stats.gc_sys);
			if (!nb)
				gh_throw("out of memory for the mark work list");
		}
		nb->n = 0;
		nb->next = b;
		work = b = nb;
	}
	b->e[b->n].p = p;
	b->e[b->n].s = s;
	b->n++;
}

/* Mark the block holding w, if any; queue it for scanning if it may hold
 * pointers. */
static inline void mark_word(uintptr_t w)
{
	if (w - heap_lo >= heap_hi - heap_lo)
		return;
	gh_span *s = gh_span_of(w);
	if (!s)
		return;
	uint32_t idx = 0;
	uintptr_t base = s->start;
	if (GH_SPANCLASS_CLASS(s->spanclass) != 0) {
		idx = gh_span_index(s, w);
		if (idx >= s->ncarved)
			return;
		base = s->start + (size_t)idx * s->elemsize;
	}
	if (gh_span_marked(s, idx))
		return;
	gh_span_setmark(s, idx);
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (kind == GH_KIND_NOSCAN || kind == GH_KIND_TINY)
		goto counted;
	if (GH_SPANCLASS_CLASS(s->spanclass) != 0 &&
	    gh_track_peek(&((const gh_link *)base)->tag) == gh_free_tag((void *)base))
		return; /* free: nothing inside is live */
	push(base, s);
counted:
	marked_bytes += s->elemsize;
}

GH_NO_SANITIZE_SCAN void gh_mark_range(uintptr_t lo, uintptr_t hi)
{
	lo = (lo + 7) & ~(uintptr_t)7;
	if (GH_UNLIKELY(gh_track_on_now())) {
		/* Stack words may be undefined to memcheck; the marks made
		 * from them must not be. */
		for (uintptr_t p = lo; p + 8 <= hi; p += 8) {
			uintptr_t w = *(const uintptr_t *)p;
			gh_track_defined(&w, sizeof w);
			mark_word(w);
		}
		return;
	}
	for (uintptr_t p = lo; p + 8 <= hi; p += 8)
		mark_word(*(const uintptr_t *)p);
}

static void scan_typed(uintptr_t p, gh_span *s)
{
	const goheap_type *t = gh_span_type(s, p);
	if (!t)
		return;
	size_t n = s->elemsize / t->size;
	for (size_t e = 0; e < n; e++, p += t->size)
		for (size_t i = 0; i < t->nwords; i++)
			if (t->bits[i >> 6] >> (i & 63) & 1)
				mark_word(((const uintptr_t *)p)[i]);
}

static void scan_block(uintptr_t p, gh_span *s)
{
	if (GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TYPED)
		scan_typed(p, s);
	else
		gh_mark_range(p, p + s->elemsize);
}

void gh_mark_drain(void)
{
	while (work) {
		workbuf *b = work;
		if (b->n == 0) {
			work = b->next;
			b->next = spare;
			spare = b;
			continue;
		}
		b->n--;
		scan_block(b->e[b->n].p, b->e[b->n].s);
	}
}

void gh_mark_referents(gh_span *s, uintptr_t p)
{
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (kind == GH_KIND_SCAN || kind == GH_KIND_TYPED)
		scan_block(p, s);
}

static void mark_stack_from(uintptr_t sp, void *arg)
{
	gh_thread *t = arg;
	if (sp >= t->stack_lo && sp < t->stack_hi)
		gh_mark_range(sp, t->stack_hi);
}

uint64_t gh_mark(void)
{
	marked_bytes = 0;
	heap_lo = __atomic_load_n(&gh_heap.arena_lo, __ATOMIC_RELAXED);
	heap_hi = __atomic_load_n(&gh_heap.arena_hi, __ATOMIC_RELAXED);

	gh_thread *self = gh_self_thread;
	for (gh_thread *t = gh_threads_first(); t; t = t->next) {
		if (t == self)
			gh_with_registers_spilled(mark_stack_from, t);
		else
			mark_stack_from(t->saved_sp, t);
		gh_mark_drain();
	}
	gh_roots_scan(gh_mark_range);
	gh_threads_scan_pending(gh_mark_range);
	gh_mark_drain();
	gh_final_mark_roots();
	gh_mark_drain();
	return marked_bytes;
}
