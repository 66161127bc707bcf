/*
 * mcentral.c - the shared free blocks of one span class.  See malloc.c for
 * the overview.
 *
 * An mcentral lists its spans in two lists: nonempty, the spans with at
 * least one free block (on the span's freelist or not yet carved), and
 * empty, the spans with none.  Thread caches take blocks in batches
 * (gh_mcentral_grab) and give them back in batches (gh_mcentral_return);
 * each batch costs one lock.  A span whose blocks have all come back goes
 * back to the page heap.
 *
 * Blocks are only ever taken from swept spans: grab sweeps a span of the
 * last cycle before it takes anything from it, and before it takes a new
 * span it sweeps spans of the empty list, which may have garbage to give.
 * A small span is swept only under its mcentral's lock (mgcsweep.c).
 *
 * A small span changes hands (goes back to the page heap, or comes from
 * it) only under its mcentral's lock, so a span of this class stays one
 * while the lock is held.
 *
 * Invariants, under c->lock:
 *   s->nfree == blocks on s->freelist + (s->nelems - s->ncarved);
 *   s->inlist says which list holds s: NONEMPTY iff s->nfree > 0, EMPTY
 *   iff s->nfree == 0, NONE while a wholly free span is on its way back to
 *   the page heap;
 *   every block on a freelist carries its free tag;
 *   on the empty list, spans still to sweep come before swept ones, so
 *   that grab finds them without walking swept spans: every span is swept
 *   when it is put on a list, and a span (re)listed as empty goes to the
 *   tail; a new cycle makes them all "still to sweep" at once.
 */
#include "config.h"

#include <errno.h>

#include "gc.h"
#include "gh.h"
#include "track.h"

void gh_mcentral_init(gh_mcentral *c, uint32_t spanclass)
{
	gh_mutex_init(&c->lock, GH_RANK_MCENTRAL, spanclass);
	c->spanclass = spanclass;
	gh_spanlist_init(&c->nonempty);
	gh_spanlist_init(&c->empty);
}

void gh_mcentral_relist(gh_mcentral *c, gh_span *s)
{
	gh_assert_held(&c->lock);
	if (s->nfree) {
		if (s->inlist == GH_LIST_NONEMPTY)
			return;
		if (s->inlist != GH_LIST_NONE)
			gh_spanlist_remove(s);
		gh_spanlist_insert(&c->nonempty, s);
		s->inlist = GH_LIST_NONEMPTY;
		return;
	}
	/* To the tail of empty, even from empty: it is swept (see the
	 * invariants above). */
	if (s->inlist != GH_LIST_NONE)
		gh_spanlist_remove(s);
	gh_spanlist_insert_tail(&c->empty, s);
	s->inlist = GH_LIST_EMPTY;
}

void gh_mcentral_unlist(gh_span *s)
{
	gh_assert_held(&gh_heap.central[s->spanclass].lock);
	if (s->inlist != GH_LIST_NONE)
		gh_spanlist_remove(s);
	s->inlist = GH_LIST_NONE;
}

/* A new span for c, on its nonempty list.  Caller holds c->lock. */
static gh_span *grow_locked(gh_mcentral *c)
{
	gh_assert_held(&c->lock);
	uint32_t cls = GH_SPANCLASS_CLASS(c->spanclass);
	gh_span *s = gh_mheap_alloc(gh_class_npages[cls], c->spanclass);
	if (!s)
		return NULL;
	if (GH_SPANCLASS_KIND(c->spanclass) == GH_KIND_TYPED && gh_span_alloc_types(s) != 0) {
		gh_mheap_free(s);
		return NULL;
	}
	/* Uncarved blocks are free: closed to the memory checker until
	 * handed out. */
	gh_track_noaccess((void *)s->start, s->npages << GH_PAGE_SHIFT);
	gh_mcentral_relist(c, s);
	gh_span_publish(s);
	return s;
}

/* Sweep spans of the empty list left from the last cycle until one has a
 * free block.  They are at its head: a span swept stays at the tail or
 * leaves.  Caller holds c->lock. */
static void sweep_empty_locked(gh_mcentral *c)
{
	gh_assert_held(&c->lock);
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	while (c->nonempty.next == &c->nonempty) {
		gh_span *s = c->empty.next;
		if (s == &c->empty || __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) == sg)
			return;
		gh_span_sweep_locked(s);
	}
}

/* Take up to want free blocks, linked through their free links, into
 * *head.  Returns how many; 0 with errno ENOMEM if the heap is out of
 * memory. */
uint32_t gh_mcentral_grab(gh_mcentral *c, uint32_t want, gh_link **head)
{
	gh_link *list = NULL;
	uint32_t got = 0;

	gh_lock(&c->lock);
	while (got < want) {
		gh_span *s = c->nonempty.next;
		if (s == &c->nonempty) {
			sweep_empty_locked(c);
			s = c->nonempty.next;
		}
		if (s == &c->nonempty) {
			s = grow_locked(c);
			if (!s)
				break;
		}
		if (__atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) != __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE)) {
			gh_span_sweep_locked(s);
			continue;
		}
		while (got < want && s->freelist) {
			gh_link *o = s->freelist;
			s->freelist = gh_link_read(o).next;
			gh_link_write(o, list);
			list = o;
			got++;
			s->nfree--;
		}
		/* Carve untouched blocks, highest first, so that the list
		 * hands them out in address order. */
		uint32_t carve = s->nfree;
		if (carve > want - got)
			carve = want - got;
		uint32_t first = s->ncarved;
		for (uint32_t i = first + carve; i-- > first;) {
			gh_link *o = (gh_link *)(s->start + (size_t)i * s->elemsize);
			gh_link_write(o, list);
			list = o;
		}
		/* Read without the lock by goheap_free and goheap_base. */
		__atomic_store_n(&s->ncarved, (uint16_t)(first + carve), __ATOMIC_RELAXED);
		s->nfree = (uint16_t)(s->nfree - carve);
		got += carve;
		gh_mcentral_relist(c, s);
	}
	gh_unlock(&c->lock);

	*head = list;
	if (!got)
		errno = ENOMEM;
	return got;
}

/* Give back n free blocks linked from head (their free links written).
 * Spans that become wholly free go back to the page heap. */
void gh_mcentral_return(gh_mcentral *c, gh_link *head, uint32_t n)
{
	gh_lock(&c->lock);
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		gh_link *o = head;
		head = gh_link_read(o).next;
		gh_span *s = gh_span_of((uintptr_t)o);
		GH_ASSERT(s && s->spanclass == c->spanclass);
		if (__atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) != sg)
			gh_span_sweep_locked(s);
		gh_link_write(o, s->freelist);
		s->freelist = o;
		s->nfree++;
		if (s->nfree == s->nelems) {
			/* Under the lock: whoever holds it may rely on a span
			 * of this class staying one (mgcsweep.c). */
			gh_mcentral_unlist(s);
			gh_span_release(s);
		} else {
			gh_mcentral_relist(c, s);
		}
	}
	gh_unlock(&c->lock);
}
