/*
 * mcentral.c - the shared spans of one span class.  See malloc.c for the
 * overview.
 *
 * An mcentral keeps the spans of its class that no thread caches, in four
 * lists: partial (some block free) and full (none), each in two halves,
 * those swept in this cycle and those still to sweep (gh_sweep_half; a
 * collection turns every swept span into one to sweep by advancing the
 * sweepgen, without touching the lists).  A thread takes one span at a time
 * into its cache and allocates from its bits without a lock
 * (gh_mcentral_cache_span); the blocks it frees by hand it keeps on a list
 * of its own, and gives back in batches to their spans' free lists
 * (gh_mcentral_return).
 *
 * Sweeping happens outside the lock.  A span still to sweep is claimed
 * under the lock -- taken off its list, its sweepgen moved from "to sweep"
 * to "being swept", its free list taken (gh_mcentral_claim_locked) -- and
 * swept by the claiming thread alone (mgcsweep.c), which then puts it back
 * (gh_mcentral_swept).  So the lock is held for list moves only: two
 * threads refilling one class sweep side by side.
 *
 * Which thread may touch what of a small span:
 *   allocbits, markbits  the claiming sweeper (allocbits), the marker and
 *                        the sweeper (markbits); fixed otherwise;
 *   freeindex,           its owner while the span is cached, in no-stop
 *   alloccache           sections (malloc.c); the collector, with the world
 *                        stopped; the sweeper, having claimed it;
 *   freelist, nfreelist, under this lock, by anyone;
 *   inlist, list links
 *   sweepgen             under this lock, but for the claimed span's
 *                        sweeper, which stores "swept" when done.
 *
 * Invariants, under the lock (mcheck.c's gh_span_small_ok and
 * gh_span_listed_ok, asserted here in debug builds):
 *   a span is on exactly the list its inlist names, of the half of its
 *   sweepgen, partial iff gh_span_nfree() > 0;
 *   a listed span is swept or still to sweep, never being swept;
 *   a cached span (inlist CACHED) is swept, and is its owner's
 *   gh_cachelist.span: a thread caches a span, and decides which list
 *   half is the swept one, inside a no-stop section (malloc.c), so that no
 *   collection can fall between its reading the sweepgen and the span
 *   being in its cache, where the collection takes it back;
 *   every block on a span's free list is a block of it, allocated in its
 *   bits, with its free tag.
 *
 * A small span changes hands (goes back to the page heap, or comes from
 * it) only under its mcentral's lock or claimed, so a span of this class
 * stays one while the lock is held.
 */
#include "config.h"

#include <errno.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

gh_span gh_empty_span; /* alloccache 0: the fast path finds nothing */

void gh_mcentral_init(gh_mcentral *c, uint32_t spanclass)
{
	gh_mutex_init(&c->lock, GH_RANK_MCENTRAL, spanclass);
	c->spanclass = spanclass;
	for (int i = 0; i < 2; i++) {
		gh_spanlist_init(&c->partial[i]);
		gh_spanlist_init(&c->full[i]);
	}
}

uint32_t gh_span_nfree(const gh_span *s)
{
	uint32_t fi = s->freeindex, n = s->nelems;
	uint32_t taken = 0;
	for (uint32_t w = fi >> 6; w < (n + 63) >> 6; w++) {
		uint64_t bits = s->allocbits[w];
		if (w == fi >> 6 && (fi & 63))
			bits &= ~(uint64_t)0 << (fi & 63);
		taken += (uint32_t)__builtin_popcountll(bits);
	}
	return n - fi - taken + s->nfreelist;
}

/* The list of c that s belongs on, as swept in cycle sg. */
static gh_span *list_for(gh_mcentral *c, gh_span *s, uint32_t sg)
{
	uint32_t h = gh_sweep_half(sg);
	return gh_span_nfree(s) ? &c->partial[h] : &c->full[h];
}

static void unlist_locked(gh_span *s)
{
	if (s->inlist == GH_LIST_PARTIAL || s->inlist == GH_LIST_FULL)
		gh_spanlist_remove(s);
	s->inlist = GH_LIST_NONE;
}

/* Put s, swept in the current cycle sg and on no list, on its list. */
static void list_swept_locked(gh_mcentral *c, gh_span *s, uint32_t sg)
{
	GH_ASSERT(s->inlist == GH_LIST_NONE || s->inlist == GH_LIST_CACHED);
	gh_span *head = list_for(c, s, sg);
	gh_spanlist_insert(head, s);
	s->inlist = head == &c->partial[gh_sweep_half(sg)] ? GH_LIST_PARTIAL : GH_LIST_FULL;
	GH_CHECK(gh_span_small_ok, s);
	GH_CHECK(gh_span_listed_ok, s, sg);
}

bool gh_mcentral_claim_locked(gh_mcentral *c, gh_span *s, uint32_t sg, gh_link **freelist,
			      uint32_t *nfreelist)
{
	if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != GH_SPAN_INUSE ||
	    __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED) != c->spanclass ||
	    __atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED) != sg - 2)
		return false;
	GH_ASSERT(s->inlist != GH_LIST_CACHED);
	unlist_locked(s);
	*freelist = s->freelist;
	*nfreelist = s->nfreelist;
	s->freelist = NULL;
	s->nfreelist = 0;
	__atomic_store_n(&s->sweepgen, sg - 1, __ATOMIC_RELEASE);
	gh_sweep_claimed_small();
	return true;
}

void gh_mcentral_swept(gh_mcentral *c, gh_span *s)
{
	gh_lock(&c->lock);
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	/* Blocks given back while it was being swept are on its free list:
	 * they count. */
	if (gh_span_nfree(s) == s->nelems) {
		/* Under the lock: whoever holds it may rely on a span of this
		 * class staying one. */
		__atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
		gh_span_release(s);
	} else {
		__atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
		list_swept_locked(c, s, sg);
	}
	gh_unlock(&c->lock);
}

/* ---- Caching a span ---- */

/* Take the span cached in c back onto its list.  Caller holds mc->lock,
 * in a no-stop section. */
static void uncache_locked(gh_mcentral *mc, gh_mcache *c)
{
	gh_cachelist *l = &c->list[mc->spanclass];
	gh_span *s = l->span;
	if (s == &gh_empty_span)
		return;
	l->span = &gh_empty_span;
	GH_ASSERT(s->inlist == GH_LIST_CACHED);
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_RELAXED);
	/* Cached spans are taken back by every collection: s is swept. */
	GH_ASSERT(s->sweepgen == sg);
	if (s->markfrom != GH_MARKFROM_NONE)
		gh_mark_new_blocks(s);
	uint32_t nfree = gh_span_nfree(s);
	gh_gc_note_alloc(-(int64_t)(nfree - s->nfreelist) * (int64_t)s->elemsize);
	list_swept_locked(mc, s, sg);
}

/* Make s, swept in this cycle and on no list, c's cached span: its bits
 * from freeindex on to allocate from, and its free list, if c has none,
 * as c's.  Caller holds mc->lock, in a no-stop section. */
static void install_locked(gh_mcentral *mc, gh_mcache *c, gh_span *s)
{
	gh_cachelist *l = &c->list[mc->spanclass];
	GH_ASSERT(l->span == &gh_empty_span && s->inlist == GH_LIST_NONE);
	uint32_t fi = s->freeindex;
	s->alloccache = fi < s->nelems ? ~s->allocbits[fi >> 6] >> (fi & 63) : 0;
	uint32_t nfree = gh_span_nfree(s);
	if (!l->head && s->freelist) {
		l->head = s->freelist;
		l->n = s->nfreelist;
		s->freelist = NULL;
		s->nfreelist = 0;
	}
	/* While marking runs, what it hands out from here on is black. */
	__atomic_store_n(&s->markfrom,
			 gh_gc_marking_now() ? s->freeindex : (uint16_t)GH_MARKFROM_NONE,
			 __ATOMIC_RELAXED);
	s->inlist = GH_LIST_CACHED;
	l->span = s;
	gh_gc_note_alloc((int64_t)nfree * (int64_t)s->elemsize);
	GH_CHECK(gh_span_small_ok, s);
	GH_CHECK(gh_span_listed_ok, s, __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_RELAXED));
}

void gh_mcentral_uncache_span(gh_mcentral *mc, gh_mcache *c)
{
	if (c->list[mc->spanclass].span == &gh_empty_span)
		return;
	gh_lock(&mc->lock);
	gh_stw_nostop_begin();
	uncache_locked(mc, c);
	gh_stw_nostop_end();
	gh_unlock(&mc->lock);
}

/* A new span for mc, or NULL with errno ENOMEM.  No lock held. */
static gh_span *grow(gh_mcentral *mc)
{
	uint32_t cls = GH_SPANCLASS_CLASS(mc->spanclass);
	gh_span *s = gh_mheap_alloc(gh_class_npages[cls], mc->spanclass);
	if (!s)
		return NULL;
	if (GH_SPANCLASS_KIND(mc->spanclass) == GH_KIND_TYPED && gh_span_alloc_types(s) != 0) {
		gh_span_release(s);
		errno = ENOMEM;
		return NULL;
	}
	/* Free blocks are closed to the memory checker until handed out. */
	gh_track_noaccess((void *)s->start, s->npages << GH_PAGE_SHIFT);
	return s;
}

/* The first span of list head that can be claimed in cycle sg, claimed;
 * or NULL.  Caller holds mc->lock. */
static gh_span *claim_first_locked(gh_mcentral *mc, gh_span *head, uint32_t sg,
				   gh_link **fl, uint32_t *nfl)
{
	for (gh_span *s = head->next; s != head; s = s->next)
		if (gh_mcentral_claim_locked(mc, s, sg, fl, nfl))
			return s;
	return NULL;
}

/* How many spans of the full list still to sweep a refill sweeps before
 * it takes a new span from the page heap: they may have garbage to give,
 * but a heap of long-lived full spans must not make every refill walk
 * them all (Go stops after 100). */
enum { SWEEP_FULL_MAX = 100 };

bool gh_mcentral_cache_span(gh_mcentral *mc, gh_mcache *c)
{
	uint32_t full_swept = 0;
	gh_lock(&mc->lock);
	for (;;) {
		/* Busy from reading the sweepgen to caching a span: a
		 * collection in between would make the half read "to sweep"
		 * and the span cached stale. */
		gh_stw_nostop_begin();
		uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
		uint32_t h = gh_sweep_half(sg);
		gh_span *s = mc->partial[h].next;
		if (s != &mc->partial[h]) {
			uncache_locked(mc, c);
			gh_spanlist_remove(s);
			s->inlist = GH_LIST_NONE;
			install_locked(mc, c, s);
			gh_stw_nostop_end();
			gh_unlock(&mc->lock);
			return true;
		}
		gh_stw_nostop_end();
		/* Spans still to sweep: partial ones first, then full ones. */
		gh_link *fl = NULL;
		uint32_t nfl = 0;
		s = claim_first_locked(mc, &mc->partial[h ^ 1], sg, &fl, &nfl);
		if (!s && full_swept < SWEEP_FULL_MAX) {
			s = claim_first_locked(mc, &mc->full[h ^ 1], sg, &fl, &nfl);
			full_swept += s != NULL;
		}
		if (s) {
			gh_unlock(&mc->lock);
			gh_span_sweep_claimed(s, fl, nfl);
			gh_mcentral_swept(mc, s); /* on partial if it has room */
			gh_lock(&mc->lock);
			continue;
		}
		gh_unlock(&mc->lock);
		s = grow(mc);
		if (!s)
			return false;
		gh_lock(&mc->lock);
		gh_stw_nostop_begin();
		__atomic_store_n(&s->sweepgen, __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
		uncache_locked(mc, c);
		install_locked(mc, c, s);
		gh_stw_nostop_end();
		gh_unlock(&mc->lock);
		return true;
	}
}

/* ---- Blocks given back ---- */

/* Blocks moved from a thread's list to their spans' in one no-stop section,
 * at most: it must stay short. */
enum { RETURN_CHUNK = 128 };

/* Move up to RETURN_CHUNK blocks from the head of l to their spans' free
 * lists, in one no-stop section: a collection finds each block
 * either on l, where it marks it, or on its span's list.  Spans left with
 * no allocated block go to release[].  Caller holds mc->lock. */
static uint32_t move_locked(gh_mcentral *mc, gh_mcache *c, gh_cachelist *l, uint32_t n,
			    gh_span **release)
{
	uint32_t nrelease = 0;
	gh_stw_nostop_begin();
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		gh_link *o = l->head;
		l->head = gh_link_read(o).next;
		l->n--;
		gh_span *s = gh_span_of((uintptr_t)o);
		GH_ASSERT(s && s->spanclass == mc->spanclass &&
			  gh_span_allocated(s, gh_span_index(s, (uintptr_t)o)));
		gh_link_write(o, s->freelist);
		s->freelist = o;
		s->nfreelist++;
		/* A span being swept, or cached, is listed by its sweeper or
		 * its owner; a collection since the caller swept s may have
		 * made it one to sweep, whose claim will drop its free list
		 * (the blocks, marked on l, stay allocated until the next
		 * sweep after). */
		if ((s->inlist != GH_LIST_PARTIAL && s->inlist != GH_LIST_FULL) ||
		    __atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED) != sg)
			continue;
		if (gh_span_nfree(s) == s->nelems) {
			unlist_locked(s);
			release[nrelease++] = s;
		} else if (s->inlist == GH_LIST_FULL) {
			unlist_locked(s);
			list_swept_locked(mc, s, sg);
		}
	}
	gh_stw_nostop_end();
	return nrelease;
}

void gh_mcentral_return(gh_mcentral *mc, gh_mcache *c, gh_cachelist *l, uint32_t n)
{
	while (n) {
		uint32_t k = n < RETURN_CHUNK ? n : RETURN_CHUNK;
		/* Every block's span is swept before its free list takes the
		 * block: a sweep that claims a span drops its free list
		 * (mgcsweep.c). */
		uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
		gh_link *o = l->head;
		for (uint32_t i = 0; i < k; i++) {
			gh_span *s = gh_span_of((uintptr_t)o);
			if (__atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) != sg)
				gh_span_ensure_swept(s);
			o = gh_link_read(o).next;
		}
		gh_span *release[RETURN_CHUNK];
		gh_lock(&mc->lock);
		uint32_t nrelease = move_locked(mc, c, l, k, release);
		/* Under the lock: whoever holds it may rely on a span of this
		 * class staying one. */
		for (uint32_t i = 0; i < nrelease; i++)
			gh_span_release(release[i]);
		gh_unlock(&mc->lock);
		n -= k;
	}
}
