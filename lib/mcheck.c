/*
 * mcheck.c - the heap's invariants: predicates, and the whole-heap checker
 * (GOHEAP_DEBUG=check=1).
 *
 * The rules of a small span are written once, as predicates
 * (gh_span_small_ok, gh_span_listed_ok, gh_block_listed_ok): --enable-debug
 * builds assert them where spans and blocks change hands (mcentral.c,
 * mgcsweep.c, mcache.c, GH_CHECK), and the checker applies them to every
 * span.  Each fills a gh_broken with the name of the rule it found broken
 * and the details.
 *
 * gh_check_heap runs at the start of every collection, once the previous
 * cycle's sweep has finished (mgc.c), with every mcentral lock, the heap
 * lock and the specials lock held (in lock order), so that no structure it
 * reads is half-changed:
 * every other thread that touches spans waits.  It is not run with the
 * world stopped: a thread stopped by signal may be in the middle of a list
 * update.  The blocks on threads' free lists are checked by the collection
 * instead, with the world stopped, as it marks them (mcache.c).  What is
 * verified, each under the name it aborts with:
 *
 *   free list       every span on the page heap's free lists is free, on
 *                   the list for its length, linked both ways, entered in
 *                   the page map at both ends, not touching another free
 *                   span (neighbours always merge);
 *   span map        every page of an in-use span maps back to the span;
 *   span            an in-use span's geometry agrees with its class (block
 *                   size, count, bounds), and its free index with its
 *                   blocks;
 *   sweep           every in-use span is swept (or fresh) once the sweep
 *                   has finished;
 *   mark bits       a swept span carries no mark bit, and no span a mark
 *                   bit past its last block;
 *   allocation bits no bit past the last block;
 *   block free list every block on a span's free list lies inside the span
 *                   at a block boundary, is allocated in its bits, and
 *                   carries its free tag; nfreelist counts them;
 *   thread free list the same of every block on a thread's free list
 *                   (with the world stopped, at the end of marking);
 *   central list    each mcentral lists exactly its in-use spans that no
 *                   thread caches, swept ones on the lists of the current
 *                   half, those with free blocks on partial and the others
 *                   on full, with inlist saying which; a cached span is
 *                   swept;
 *   specials        a span's list of specials (mspecial.c) is sorted by
 *                   block and kind, linked both ways (the first one's prev
 *                   is the last), each special on an allocated block of the
 *                   span not on its free list, agreeing with its record,
 *                   at most one finalizer a block; nspecials and nprofiled
 *                   count the list; a span not in use has none; the
 *                   finalizers and weak links found in all lists are those
 *                   registered;
 *   given back      the spans given back while marking runs are those on
 *                   the heap's list (gh_span_release);
 *   statistics      heap_inuse, heap_sys and heap_released equal the sums
 *                   over in-use and free spans (and given back ones); the
 *                   large object counts and bytes equal the large spans in
 *                   use; mspan_inuse equals
 *                   the span descriptors in use.
 *
 * A broken invariant aborts with one line, "goheap: heap check:
 * <invariant>: <details>" (the checker), or "goheap: invariant broken:
 * <invariant>: <details>" (a debug build's assertion).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "track.h"

typedef struct tally {
	uint64_t inuse_bytes, free_bytes, released_bytes;
	uint64_t nlarge, large_bytes;
	uint64_t ngivenback, givenback_bytes;
	uint64_t ninuse, nfree, nsmall, ncached, nfresh;
	uint64_t nfinalizers, nweak, nlinks; /* specials found, by kind */
	uint64_t nslots;
} tally;

#define FAIL(inv, ...) gh_throw("heap check: " inv ": " __VA_ARGS__)
#define FAIL_B(b) gh_throw("heap check: %s: %s", (b).inv, (b).why)

static size_t span_bytes(const gh_span *s)
{
	return s->npages << GH_PAGE_SHIFT;
}

static void check_free_lists(tally *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i <= GH_HEAP_LISTS; i++) {
		gh_span *head = i < GH_HEAP_LISTS ? &gh_heap.free[i] : &gh_heap.freelarge;
		gh_span *prev = head;
		for (gh_span *s = head->next; s != head; prev = s, s = s->next) {
			if (++n > t->nslots)
				FAIL("free list", "list %zu loops or holds unknown spans", i);
			if (s->prev != prev)
				FAIL("free list", "span %p on list %zu: prev %p, want %p", (void *)s,
				     i, (void *)s->prev, (void *)prev);
			if (s->state != GH_SPAN_FREE)
				FAIL("free list", "span %p on list %zu is in state %u, not free",
				     (void *)s, i, s->state);
			if (s->npages == 0 ||
			    (i < GH_HEAP_LISTS ? s->npages != i : s->npages < GH_HEAP_LISTS))
				FAIL("free list", "span %p of %zu pages on list %zu", (void *)s,
				     s->npages, i);
			uintptr_t end = s->start + span_bytes(s);
			if (s->limit != end)
				FAIL("free list", "span %p at %#lx: limit %#lx, want %#lx", (void *)s,
				     (unsigned long)s->start, (unsigned long)s->limit,
				     (unsigned long)end);
			if (gh_span_at(s->start) != s || gh_span_at(end - GH_PAGE_SIZE) != s)
				FAIL("span map", "free span %p at %#lx: ends map to %p and %p",
				     (void *)s, (unsigned long)s->start,
				     (void *)gh_span_at(s->start),
				     (void *)gh_span_at(end - GH_PAGE_SIZE));
			if (s->npreleased > s->npages)
				FAIL("free list", "span %p: %zu of %zu pages released", (void *)s,
				     s->npreleased, s->npages);
			gh_span *b = s->start > GH_PAGE_SIZE ? gh_span_at(s->start - GH_PAGE_SIZE) : NULL;
			gh_span *a = gh_span_at(end);
			if ((b && b != s && b->state == GH_SPAN_FREE &&
			     b->start + span_bytes(b) == s->start) ||
			    (a && a != s && a->state == GH_SPAN_FREE && a->start == end))
				FAIL("free list", "free span %p at %#lx has a free neighbour not "
				     "merged", (void *)s, (unsigned long)s->start);
		}
	}
}

/* ---- Predicates ---- */

#define BROKEN(b, rule, ...) \
	(snprintf((b)->why, sizeof (b)->why, __VA_ARGS__), (b)->inv = (rule), false)

/* The bits of words w of a bitmap that stand for no block of s. */
static uint64_t past_end(const gh_span *s, uint32_t w)
{
	uint32_t n = s->nelems;
	if (n >= (w + 1) * 64)
		return 0;
	if (n <= w * 64)
		return ~(uint64_t)0;
	return ~(uint64_t)0 << (n - w * 64);
}

bool gh_block_listed_ok(const gh_span *s, uintptr_t p, gh_broken *b, const char *inv)
{
	if (p < s->start || p >= s->limit || (p - s->start) % s->elemsize != 0)
		return BROKEN(b, inv, "span %p at %#lx: block %p is not one of its blocks",
			      (const void *)s, (unsigned long)s->start, (void *)p);
	if (!gh_span_allocated(s, gh_span_index(s, p)))
		return BROKEN(b, inv, "span %p at %#lx: block %p is free in the span's bits",
			      (const void *)s, (unsigned long)s->start, (void *)p);
	if (gh_track_peek(&((const gh_link *)p)->tag) != gh_free_tag((void *)p))
		return BROKEN(b, inv, "span %p at %#lx: block %p has no free tag (written after "
			      "it was freed?)", (const void *)s, (unsigned long)s->start,
			      (void *)p);
	return true;
}

bool gh_span_small_ok(const gh_span *s, gh_broken *b)
{
	uint32_t cls = GH_SPANCLASS_CLASS(s->spanclass);
	size_t bytes = s->npages << GH_PAGE_SHIFT;
	if (cls == 0 || cls >= GH_NUM_CLASSES || s->elemsize != gh_class_size[cls] ||
	    s->npages != gh_class_npages[cls] || s->nelems != bytes / s->elemsize ||
	    s->limit != s->start + (size_t)s->nelems * s->elemsize)
		return BROKEN(b, "span", "span %p at %#lx of class %u: elemsize %zu, %zu pages, "
			      "nelems %u, limit %#lx", (const void *)s, (unsigned long)s->start,
			      cls, s->elemsize, s->npages, s->nelems, (unsigned long)s->limit);
	/* A cached span's owner moves its free index without a lock. */
	uint16_t fi = __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED);
	if (fi > s->nelems || s->nfreelist > s->nelems)
		return BROKEN(b, "span", "span %p at %#lx: free index %u, %u on its free list, of "
			      "%u blocks", (const void *)s, (unsigned long)s->start, fi,
			      s->nfreelist, s->nelems);
	for (uint32_t w = 0; w < GH_BITWORDS; w++) {
		uint64_t past = past_end(s, w);
		if (s->allocbits[w] & past)
			return BROKEN(b, "allocation bits", "span %p at %#lx: word %u %#llx has "
				      "bits past block %u", (const void *)s,
				      (unsigned long)s->start, w,
				      (unsigned long long)s->allocbits[w], s->nelems);
		if (__atomic_load_n(&s->markbits[w], __ATOMIC_RELAXED) & past)
			return BROKEN(b, "mark bits", "span %p at %#lx: word %u has marks past "
				      "block %u", (const void *)s, (unsigned long)s->start, w,
				      s->nelems);
	}
	uint32_t n = 0;
	for (gh_link *o = s->freelist; o; o = gh_link_read(o).next) {
		if (++n > s->nelems)
			return BROKEN(b, "block free list", "span %p at %#lx: list longer than "
				      "its %u blocks", (const void *)s, (unsigned long)s->start,
				      s->nelems);
		if (!gh_block_listed_ok(s, (uintptr_t)o, b, "block free list"))
			return false;
	}
	if (n != s->nfreelist)
		return BROKEN(b, "block free list", "span %p at %#lx: nfreelist %u, %u listed",
			      (const void *)s, (unsigned long)s->start, s->nfreelist, n);
	return true;
}

bool gh_span_listed_ok(const gh_span *s, uint32_t sg, gh_broken *b)
{
	uint32_t sgs = __atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED);
	switch (s->inlist) {
	case GH_LIST_CACHED:
		if (sgs != sg)
			return BROKEN(b, "central list", "cached span %p at %#lx: sweepgen %u, "
				      "want %u", (const void *)s, (unsigned long)s->start, sgs, sg);
		return true;
	case GH_LIST_PARTIAL:
	case GH_LIST_FULL:
		if (sgs != sg && sgs != sg - 2)
			return BROKEN(b, "central list", "listed span %p at %#lx: sweepgen %u in "
				      "cycle %u", (const void *)s, (unsigned long)s->start, sgs, sg);
		if ((gh_span_nfree(s) != 0) != (s->inlist == GH_LIST_PARTIAL))
			return BROKEN(b, "central list", "span %p at %#lx with %u free blocks: "
				      "inlist %u", (const void *)s, (unsigned long)s->start,
				      gh_span_nfree(s), s->inlist);
		return true;
	default:
		return BROKEN(b, "central list", "span %p at %#lx: inlist %u", (const void *)s,
			      (unsigned long)s->start, s->inlist);
	}
}

/* ---- The checker ---- */

/* Whether block idx of s may be live: allocated in its bits and not on
 * the span's free list (free, a bit per block of a small span).  Blocks
 * are not read: their owners may be writing them, so a block on a
 * thread's free list passes. */
static bool block_live(const gh_span *s, uint32_t idx, const uint64_t *free)
{
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0)
		return idx == 0;
	return gh_span_allocated(s, idx) && !(free[idx >> 6] >> (idx & 63) & 1);
}

/* The blocks on s's free list, a bit per block (its free list is checked
 * by gh_span_small_ok). */
static void free_listed(const gh_span *s, uint64_t free[GH_BITWORDS])
{
	memset(free, 0, GH_BITWORDS * sizeof *free);
	uint32_t n = 0;
	for (gh_link *o = s->freelist; o && n++ < s->nelems; o = gh_link_read(o).next) {
		uint32_t idx = gh_span_index(s, (uintptr_t)o);
		free[idx >> 6] |= (uint64_t)1 << (idx & 63);
	}
}

static void check_specials(const gh_span *s, const uint64_t *free, tally *t)
{
	const gh_special *first = s->specials, *prev = NULL;
	uint32_t n = 0, nprof = 0;
	for (const gh_special *sp = first; sp; prev = sp, sp = sp->next) {
		if (++n > s->nelems * 64u + 1000000u)
			FAIL("specials", "span %p at %#lx: list loops", (const void *)s,
			     (unsigned long)s->start);
		if (sp->prev != (sp == first ? first->prev : prev) || !sp->prev)
			FAIL("specials", "span %p at %#lx: special %p (block %u) has prev %p",
			     (const void *)s, (unsigned long)s->start, (const void *)sp, sp->idx,
			     (const void *)sp->prev);
		if (sp->kind >= GH_SPECIAL_NKINDS)
			FAIL("specials", "span %p at %#lx: special %p of kind %u", (const void *)s,
			     (unsigned long)s->start, (const void *)sp, sp->kind);
		if (prev && (prev->idx > sp->idx ||
			     (prev->idx == sp->idx && prev->kind > sp->kind) ||
			     (prev->idx == sp->idx && sp->kind == GH_SPECIAL_FINALIZER &&
			      prev->kind == GH_SPECIAL_FINALIZER)))
			FAIL("specials", "span %p at %#lx: block %u kind %u after block %u kind %u "
			     "(unsorted, or two finalizers)", (const void *)s,
			     (unsigned long)s->start, sp->idx, sp->kind, prev->idx, prev->kind);
		if (!block_live(s, sp->idx, free))
			FAIL("specials", "span %p at %#lx: special of kind %u on block %u, "
			     "which is not live", (const void *)s, (unsigned long)s->start, sp->kind,
			     sp->idx);
		const char *bad = NULL;
		switch (sp->kind) {
		case GH_SPECIAL_FINALIZER:
			t->nfinalizers++;
			bad = gh_final_special_bad(s, sp);
			break;
		case GH_SPECIAL_WEAK:
			t->nweak++;
			bad = gh_weak_special_bad(s, sp);
			break;
		case GH_SPECIAL_LINK:
			t->nlinks++;
			bad = gh_weak_special_bad(s, sp);
			break;
		default:
			nprof++;
		}
		if (bad)
			FAIL("specials", "span %p at %#lx, block %u: %s", (const void *)s,
			     (unsigned long)s->start, sp->idx, bad);
	}
	if (first && first->prev != prev)
		FAIL("specials", "span %p at %#lx: first special's prev %p, last special %p",
		     (const void *)s, (unsigned long)s->start, (const void *)first->prev,
		     (const void *)prev);
	if (n != s->nspecials || nprof != s->nprofiled)
		FAIL("specials", "span %p at %#lx: nspecials %u and nprofiled %u, the list holds "
		     "%u and %u", (const void *)s, (unsigned long)s->start, s->nspecials,
		     s->nprofiled, n, nprof);
}


static void check_inuse(gh_span *s, uint32_t sg, tally *t)
{
	size_t bytes = span_bytes(s);
	if (s->npages == 0)
		FAIL("span", "in-use span %p has no pages", (void *)s);
	for (size_t i = 0; i < s->npages; i++)
		if (gh_span_at(s->start + (i << GH_PAGE_SHIFT)) != s)
			FAIL("span map", "page %#lx of span %p at %#lx maps to %p",
			     (unsigned long)(s->start + (i << GH_PAGE_SHIFT)), (void *)s,
			     (unsigned long)s->start,
			     (void *)gh_span_at(s->start + (i << GH_PAGE_SHIFT)));
	/* A large block's allocator publishes its span without the locks
	 * held here: read the sweepgen that orders it, and leave the mark
	 * bits of a span still FRESH (being set up) alone. */
	uint32_t sgs = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
	if (sgs != sg && sgs != GH_SWEEPGEN_FRESH)
		FAIL("sweep", "span %p at %#lx: sweepgen %u after the sweep of %u finished",
		     (void *)s, (unsigned long)s->start, sgs, sg);
	uint32_t cls = GH_SPANCLASS_CLASS(s->spanclass);
	for (uint32_t w = 0; w < GH_BITWORDS && sgs == sg; w++) {
		uint64_t m = __atomic_load_n(&s->markbits[w], __ATOMIC_RELAXED);
		if (m)
			FAIL("mark bits", "swept span %p at %#lx still has mark bits (word %u: "
			     "%#llx)", (void *)s, (unsigned long)s->start, w,
			     (unsigned long long)m);
	}
	t->ninuse++;
	t->inuse_bytes += bytes;
	if (cls == 0) {
		if (s->elemsize != bytes || s->nelems != 1 || s->limit != s->start + bytes)
			FAIL("span", "large span %p at %#lx: elemsize %zu, nelems %u, limit %#lx "
			     "for %zu bytes", (void *)s, (unsigned long)s->start, s->elemsize,
			     s->nelems, (unsigned long)s->limit, bytes);
		t->nlarge++;
		t->large_bytes += bytes;
		uint64_t none[GH_BITWORDS] = {0};
		check_specials(s, none, t);
		return;
	}
	t->nsmall++;
	gh_broken b;
	if (!gh_span_small_ok(s, &b))
		FAIL_B(b);
	uint64_t free[GH_BITWORDS];
	free_listed(s, free);
	check_specials(s, free, t);
	if (sgs == GH_SWEEPGEN_FRESH) {
		/* On its way from the page heap to a thread's cache. */
		t->nfresh++;
		return;
	}
	if (!gh_span_listed_ok(s, sg, &b))
		FAIL_B(b);
	if (s->inlist == GH_LIST_CACHED)
		t->ncached++;
}

static void check_spans(uint32_t sg, tally *t)
{
	void *chunk = NULL;
	size_t off = 0;
	for (gh_span *s; (s = gh_fixalloc_next(&gh_heap.spanalloc, &chunk, &off));) {
		switch (s->state) {
		case GH_SPAN_DEAD:
			break;
		case GH_SPAN_FREE:
			if (s->specials || s->nspecials)
				FAIL("specials", "free span %p at %#lx has %u specials", (void *)s,
				     (unsigned long)s->start, s->nspecials);
			t->nfree++;
			t->free_bytes += span_bytes(s);
			t->released_bytes += s->npreleased << GH_PAGE_SHIFT;
			break;
		case GH_SPAN_INUSE:
			check_inuse(s, sg, t);
			break;
		case GH_SPAN_GIVENBACK:
			/* Counted out of use already, its descriptor in use
			 * until freed (gh_span_release). */
			t->ngivenback++;
			t->ninuse++;
			t->givenback_bytes += span_bytes(s);
			break;
		default:
			FAIL("span", "descriptor %p in unknown state %u", (void *)s, s->state);
		}
	}
}

static uint64_t count_free_listed(void)
{
	uint64_t n = 0;
	for (size_t i = 0; i <= GH_HEAP_LISTS; i++) {
		gh_span *head = i < GH_HEAP_LISTS ? &gh_heap.free[i] : &gh_heap.freelarge;
		for (gh_span *s = head->next; s != head; s = s->next)
			n++;
	}
	return n;
}

static void check_centrals(tally *t, uint32_t sg)
{
	uint64_t listed = 0;
	uint32_t h = gh_sweep_half(sg);
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++) {
		gh_mcentral *c = &gh_heap.central[sc];
		for (int l = 0; l < 4; l++) {
			gh_span *head = l < 2 ? &c->partial[l] : &c->full[l - 2];
			uint8_t want = l < 2 ? GH_LIST_PARTIAL : GH_LIST_FULL;
			gh_span *prev = head;
			for (gh_span *s = head->next; s != head; prev = s, s = s->next) {
				if (++listed > t->nsmall)
					FAIL("central list", "span class %u lists more spans than are "
					     "in use, or loops", sc);
				if (s->prev != prev || s->state != GH_SPAN_INUSE ||
				    s->spanclass != sc || s->inlist != want || (l & 1) != h)
					FAIL("central list", "span %p on %s list %d of span class "
					     "%u (half %u swept): prev %p (want %p), state %u, span "
					     "class %u, inlist %u", (void *)s,
					     l < 2 ? "partial" : "full", l & 1, sc, h,
					     (void *)s->prev, (void *)prev, s->state, s->spanclass,
					     s->inlist);
			}
		}
	}
	if (listed + t->ncached + t->nfresh != t->nsmall)
		FAIL("central list", "%llu small spans in use, %llu listed, %llu cached and "
		     "%llu new", (unsigned long long)t->nsmall, (unsigned long long)listed,
		     (unsigned long long)t->ncached, (unsigned long long)t->nfresh);
}

static void check_stats(const tally *t)
{
	const gh_heapstats *h = &gh_heap.stats;
	uint64_t v;
	if ((v = gh_stat_get(&h->heap_inuse)) != t->inuse_bytes)
		FAIL("statistics", "heap_inuse %llu, in-use spans hold %llu",
		     (unsigned long long)v, (unsigned long long)t->inuse_bytes);
	if ((v = gh_stat_get(&h->heap_sys)) != t->inuse_bytes + t->free_bytes + t->givenback_bytes)
		FAIL("statistics", "heap_sys %llu, spans hold %llu in use + %llu free + %llu given "
		     "back", (unsigned long long)v, (unsigned long long)t->inuse_bytes,
		     (unsigned long long)t->free_bytes, (unsigned long long)t->givenback_bytes);
	if ((v = gh_stat_get(&h->heap_released)) != t->released_bytes)
		FAIL("statistics", "heap_released %llu, free spans have %llu released",
		     (unsigned long long)v, (unsigned long long)t->released_bytes);
	uint64_t nl = gh_stat_get(&h->large_nmalloc) - gh_stat_get(&h->large_nfree);
	uint64_t bl = gh_stat_get(&h->large_alloc_bytes) - gh_stat_get(&h->large_free_bytes);
	if (nl != t->nlarge || bl != t->large_bytes)
		FAIL("statistics", "large objects: %llu (%llu bytes) counted, %llu (%llu bytes) "
		     "in use", (unsigned long long)nl, (unsigned long long)bl,
		     (unsigned long long)t->nlarge, (unsigned long long)t->large_bytes);
	uint64_t want = (t->ninuse + t->nfree) * gh_heap.spanalloc.size;
	if ((v = gh_stat_get(&h->mspan_inuse)) != want)
		FAIL("statistics", "mspan_inuse %llu, %llu descriptors in use make %llu",
		     (unsigned long long)v, (unsigned long long)(t->ninuse + t->nfree),
		     (unsigned long long)want);
}

void gh_check_heap(void)
{
	if (GH_LIKELY(!gh_option(GH_OPT_CHECK)))
		return;
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++)
		gh_lock(&gh_heap.central[sc].lock);
	gh_lock(&gh_heap.lock);
	gh_specials_lock();

	tally t;
	memset(&t, 0, sizeof t);
	void *chunk = NULL;
	size_t off = 0;
	while (gh_fixalloc_next(&gh_heap.spanalloc, &chunk, &off))
		t.nslots++;
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	check_free_lists(&t);
	check_spans(sg, &t);
	uint64_t listed = count_free_listed();
	if (listed != t.nfree)
		FAIL("free list", "%llu free span descriptors, %llu on the free lists",
		     (unsigned long long)t.nfree, (unsigned long long)listed);
	uint64_t given = 0;
	for (const gh_span *g = gh_heap.givenback; g; g = g->next)
		given++;
	if (given != t.ngivenback)
		FAIL("given back", "%llu span descriptors given back, %llu on the heap's list",
		     (unsigned long long)t.ngivenback, (unsigned long long)given);
	check_centrals(&t, sg);
	check_stats(&t);
	if (t.nfinalizers != gh_final_count() || t.nweak != gh_weak_count() ||
	    t.nlinks != gh_weak_count_in_heap())
		FAIL("specials", "lists hold %llu finalizers, %llu weak links and %llu links in "
		     "blocks; %llu, %llu and %llu are registered",
		     (unsigned long long)t.nfinalizers, (unsigned long long)t.nweak,
		     (unsigned long long)t.nlinks, (unsigned long long)gh_final_count(),
		     (unsigned long long)gh_weak_count(),
		     (unsigned long long)gh_weak_count_in_heap());

	gh_specials_unlock();

	gh_unlock(&gh_heap.lock);
	for (uint32_t sc = GH_NUM_SPANCLASSES; sc-- > 0;)
		gh_unlock(&gh_heap.central[sc].lock);
}
