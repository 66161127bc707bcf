/*
 * mheap.c - the page heap.  See malloc.c for the overview.
 *
 * The heap hands out spans, runs of 8 KiB pages, for large objects and for
 * the mcentrals to cut into small blocks, and takes them back.
 *
 * Free spans sit in lists by length: free[n] holds spans of exactly n pages
 * for n < GH_HEAP_LISTS, freelarge all longer ones.  Allocation is best fit
 * (the shortest list with a span, or the smallest fitting large span, the
 * lowest address among equals) and splits off the tail.  A freed span merges
 * with free neighbours at once, so two free spans are never adjacent.
 *
 * Address space comes from the OS in reservations of whole 64 MiB arenas
 * when it can (growing the previous one in place if the OS agrees), of just
 * what is needed when it cannot, and is mapped in steps of at least 1 MiB.
 * Each arena touched by a reservation gets a gh_arena with its page-to-span
 * table, found through the index gh_arena_index; there is no fixed
 * ceiling on the heap's size or place.
 *
 * Lazy zeroing: a span's needzero says its pages may hold old bytes.  Fresh
 * memory from the OS, and memory returned with gh_sys_unused on an OS where
 * that zeroes it, need no clearing; large pointer-holding objects are
 * cleared only when needzero is set.
 *
 * Release (the scavenger): free spans are returned to the OS
 *   - in the background, by the monitor thread, at a bounded rate while the
 *     heap retains more than the collector's goal plus 10 % (Go 1.13's
 *     policy; mgc.c sets the goal, monitor.c paces it);
 *   - at once, a step per heap operation, while the heap retains more than
 *     the memory limit allows (retain_cap);
 *   - when idle for the scavenge delay (GOHEAP_SCAVENGE_DELAY), during
 *     later heap activity;
 *   - all, by gh_mheap_scavenge(0) (goheap_free_os_memory).
 * npreleased counts a span's released pages.
 *
 * The life of an in-use span: gh_mheap_alloc hands it out FRESH (see
 * gh_span.sweepgen), which no sweeper touches while the caller sets it up;
 * gh_span_publish makes it part of the current cycle, once the caller
 * holds what keeps its blocks alive (a block's address, an mcentral list);
 * gh_span_release gives it back, with its table of block types (while
 * marking runs with the world running, in two steps: see there).
 *
 * Every function here that is not "_locked" takes the heap lock; the
 * "_locked" ones expect the caller to hold it (gh_assert_held).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "debugmode.h"
#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

gh_mheap gh_heap;
gh_arena *gh_arena_index[1 << (GH_ADDR_BITS - GH_ARENA_SHIFT)];

/* ---- The page map. ---- */

/* Make sure every arena that [start, start + n) touches has its gh_arena.
 * Returns 0, or -1 if the OS refuses the metadata.  Caller holds the heap
 * lock; readers find new entries through acquire loads. */
static int pagemap_ensure(uintptr_t start, size_t n)
{
	gh_assert_held(&gh_heap.lock);
	for (uintptr_t i = start >> GH_ARENA_SHIFT; i <= (start + n - 1) >> GH_ARENA_SHIFT; i++) {
		gh_arena **slot = &gh_arena_index[i];
		if (!*slot) {
			gh_arena *a = gh_sys_alloc(sizeof(gh_arena), &gh_heap.stats.gc_sys);
			if (!a)
				return -1;
			__atomic_store_n(slot, a, __ATOMIC_RELEASE);
		}
	}
	return 0;
}

static void pagemap_set(uintptr_t p, gh_span *s)
{
	gh_arena *a = gh_arena_of(p);
	GH_ASSERT(a != NULL);
	__atomic_store_n(&a->spans[(p >> GH_PAGE_SHIFT) & (GH_ARENA_PAGES - 1)], s,
			 __ATOMIC_RELAXED);
}

static void pagemap_set_all(gh_span *s)
{
	for (size_t i = 0; i < s->npages; i++)
		pagemap_set(s->start + (i << GH_PAGE_SHIFT), s);
}

static void pagemap_set_ends(gh_span *s)
{
	pagemap_set(s->start, s);
	pagemap_set(s->start + ((s->npages - 1) << GH_PAGE_SHIFT), s);
}

/* ---- Free spans. ---- */

static gh_span *free_list_for(size_t npages)
{
	return npages < GH_HEAP_LISTS ? &gh_heap.free[npages] : &gh_heap.freelarge;
}

static void free_insert_locked(gh_span *s)
{
	gh_assert_held(&gh_heap.lock);
	gh_spanlist_insert(free_list_for(s->npages), s);
}

/* The free span that ends right before p, or starts at p, if any. */
static gh_span *free_span_at(uintptr_t p)
{
	gh_span *s = gh_span_at(p);
	if (!s || s->state != GH_SPAN_FREE)
		return NULL;
	if (p < s->start || p >= s->start + (s->npages << GH_PAGE_SHIFT))
		return NULL;
	return s;
}

/* Merge the free neighbour t into s (whose bounds the caller sets). */
static void absorb_locked(gh_span *s, gh_span *t)
{
	gh_assert_held(&gh_heap.lock);
	gh_spanlist_remove(t);
	if (t->unusedsince < s->unusedsince)
		s->unusedsince = t->unusedsince;
	s->npages += t->npages;
	s->npreleased += t->npreleased;
	s->needzero |= t->needzero;
	__atomic_store_n(&t->state, GH_SPAN_DEAD, __ATOMIC_RELEASE);
	gh_fixalloc_free(&gh_heap.spanalloc, t);
}

/* Put s, in use or fresh, into the free lists, merging it with free
 * neighbours.  Caller holds the heap lock. */
static void free_span_locked(gh_span *s, uint64_t now)
{
	gh_assert_held(&gh_heap.lock);
	__atomic_store_n(&s->state, GH_SPAN_FREE, __ATOMIC_RELEASE);
	__atomic_store_n(&s->spanclass, 0, __ATOMIC_RELAXED);
	s->unusedsince = now;
	s->limit = s->start + (s->npages << GH_PAGE_SHIFT);

	gh_span *t = s->start > GH_PAGE_SIZE ? free_span_at(s->start - GH_PAGE_SIZE) : NULL;
	if (t) {
		s->start = t->start;
		absorb_locked(s, t);
	}
	t = free_span_at(s->limit);
	if (t)
		absorb_locked(s, t);
	s->limit = s->start + (s->npages << GH_PAGE_SHIFT);
	pagemap_set_ends(s);
	free_insert_locked(s);
}

/* Best fit among the free spans, or NULL. */
static gh_span *best_fit_locked(size_t npages)
{
	gh_assert_held(&gh_heap.lock);
	for (size_t n = npages; n < GH_HEAP_LISTS; n++)
		if (!gh_spanlist_empty(&gh_heap.free[n]))
			return gh_heap.free[n].next;
	gh_span *best = NULL;
	for (gh_span *s = gh_heap.freelarge.next; s != &gh_heap.freelarge; s = s->next) {
		if (s->npages < npages)
			continue;
		if (!best || s->npages < best->npages ||
		    (s->npages == best->npages && s->start < best->start))
			best = s;
	}
	return best;
}

static void note_mapped_locked(uintptr_t lo, size_t n);

/* Map more memory: at least npages, at least GH_GROW_MIN.  Returns 0, or -1
 * with errno ENOMEM.  Caller holds the heap lock. */
static int grow_locked(size_t npages)
{
	gh_assert_held(&gh_heap.lock);
	if (npages > (SIZE_MAX >> GH_PAGE_SHIFT) / 2) {
		errno = ENOMEM;
		return -1;
	}
	size_t need = npages << GH_PAGE_SHIFT;
	if (need < GH_GROW_MIN)
		need = GH_GROW_MIN;
	need = (need + GH_GROW_ALIGN - 1) & ~(size_t)(GH_GROW_ALIGN - 1);

	if (gh_heap.arena_end - gh_heap.arena_next < need) {
		size_t whole = (need + GH_ARENA_SIZE - 1) & ~(size_t)(GH_ARENA_SIZE - 1);
		void *hint = (void *)gh_heap.arena_end;
		void *v = gh_sys_reserve(hint, whole, GH_ARENA_SIZE);
		size_t got = whole;
		if (!v) {
			/* Address space is short (ulimit -v): take just what
			 * this request needs. */
			v = gh_sys_reserve(NULL, need, GH_PAGE_SIZE);
			got = need;
		}
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		if (pagemap_ensure((uintptr_t)v, got) != 0) {
			gh_sys_free(v, got, NULL);
			errno = ENOMEM;
			return -1;
		}
		if (v == hint) {
			gh_heap.arena_end += got;
		} else {
			gh_heap.arena_next = (uintptr_t)v;
			gh_heap.arena_end = (uintptr_t)v + got;
		}
		if (!gh_heap.arena_lo || (uintptr_t)v < gh_heap.arena_lo)
			__atomic_store_n(&gh_heap.arena_lo, (uintptr_t)v, __ATOMIC_RELAXED);
		if ((uintptr_t)v + got > gh_heap.arena_hi)
			__atomic_store_n(&gh_heap.arena_hi, (uintptr_t)v + got, __ATOMIC_RELAXED);
	}

	gh_span *s = gh_fixalloc_alloc(&gh_heap.spanalloc);
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	if (gh_sys_map((void *)gh_heap.arena_next, need, &gh_heap.stats.heap_sys) != 0) {
		gh_fixalloc_free(&gh_heap.spanalloc, s);
		errno = ENOMEM;
		return -1;
	}
	s->start = gh_heap.arena_next;
	s->npages = need >> GH_PAGE_SHIFT;
	s->needzero = 0;
	s->npreleased = 0;
	gh_heap.arena_next += need;
	note_mapped_locked(s->start, need);
	/* Fresh pages are free pages: let the memory checker say so. */
	gh_track_noaccess((void *)s->start, need);
	free_span_locked(s, gh_nanotime());
	return 0;
}

/* ---- Mapped memory, for write tracking. ----
 *
 * Concurrent marking (mgcmark.c) tracks the writes to every mapped page of
 * the heap: the ranges mapped so far, merged where they touch, and every
 * range mapped while tracking is on is tracked at once, before any of its
 * pages is handed out.  Nothing is released to the OS while tracking is on
 * (a released page's tracking state would be lost with its memory). */
static struct {
	uintptr_t *lo, *hi;
	size_t n, cap;
	bool failed; /* tracking a new range failed during this marking */
} mapped;

static void note_mapped_locked(uintptr_t lo, size_t n)
{
	gh_assert_held(&gh_heap.lock);
	if (gh_wt_active() && gh_wt_track(lo, lo + n) != 0)
		__atomic_store_n(&mapped.failed, true, __ATOMIC_RELEASE);
	if (mapped.n && mapped.hi[mapped.n - 1] == lo) {
		mapped.hi[mapped.n - 1] = lo + n;
		return;
	}
	if (mapped.n == mapped.cap) {
		size_t cap = mapped.cap ? 2 * mapped.cap : 256;
		uintptr_t *nlo = gh_sys_alloc(cap * sizeof *nlo, &gh_heap.stats.other_sys);
		uintptr_t *nhi = nlo ? gh_sys_alloc(cap * sizeof *nhi, &gh_heap.stats.other_sys) : NULL;
		if (!nhi) {
			/* Cannot remember it: the next marking stops the world. */
			if (nlo)
				gh_sys_free(nlo, cap * sizeof *nlo, &gh_heap.stats.other_sys);
			__atomic_store_n(&mapped.failed, true, __ATOMIC_RELEASE);
			return;
		}
		if (mapped.n) {
			memcpy(nlo, mapped.lo, mapped.n * sizeof *nlo);
			memcpy(nhi, mapped.hi, mapped.n * sizeof *nhi);
			gh_sys_free(mapped.lo, mapped.cap * sizeof *nlo, &gh_heap.stats.other_sys);
			gh_sys_free(mapped.hi, mapped.cap * sizeof *nhi, &gh_heap.stats.other_sys);
		}
		mapped.lo = nlo;
		mapped.hi = nhi;
		mapped.cap = cap;
	}
	mapped.lo[mapped.n] = lo;
	mapped.hi[mapped.n] = lo + n;
	mapped.n++;
}

/* The most of the heap gh_mheap_track_writes arms under one hold of the
 * heap lock: arming takes 2.6 ms per GiB of touched pages (wtrack_linux.c),
 * and threads taking spans wait for the lock meanwhile (2 GiB in one
 * hold, as in bench/pause: some 6 ms). */
#define TRACK_STEP ((uintptr_t)32 << 20)

int gh_mheap_track_writes(void)
{
	/* Step by step, the heap lock dropped between steps.  Memory mapped
	 * meanwhile is tracked as it is mapped (note_mapped_locked), as the
	 * first step started the cycle; so only what was mapped before it
	 * is armed here: ranges 0 to n-1, the last one up to last_hi (it
	 * may grow since). */
	size_t i = 0, n = 0;
	uintptr_t at = 0, last_hi = 0;
	int r = 0;
	for (bool first = true;; first = false) {
		gh_lock(&gh_heap.lock);
		if (first) {
			if (__atomic_load_n(&mapped.failed, __ATOMIC_ACQUIRE))
				r = -1;
			n = mapped.n;
			last_hi = n ? mapped.hi[n - 1] : 0;
		}
		if (r != 0 || i == n) {
			gh_unlock(&gh_heap.lock);
			return r;
		}
		uintptr_t lo = mapped.lo[i], hi = i == n - 1 ? last_hi : mapped.hi[i];
		if (at < lo)
			at = lo;
		uintptr_t end = hi - at > TRACK_STEP ? at + TRACK_STEP : hi;
		r = gh_wt_track(at, end);
		at = end;
		if (at == hi) {
			i++; /* the next range may lie below this one */
			at = 0;
		}
		gh_unlock(&gh_heap.lock);
		if (r == 0 && i < n)
			gh_os_sleep(50000); /* a thread waiting for the lock takes it */
	}
}

bool gh_mheap_tracking_failed(void)
{
	/* No lock: called with the world stopped. */
	return __atomic_exchange_n(&mapped.failed, false, __ATOMIC_ACQ_REL);
}

/* Release free spans idle since before now - delay.  Caller holds the heap
 * lock.  Returns the bytes released. */
static uint64_t scavenge_locked(uint64_t now, uint64_t delay)
{
	gh_assert_held(&gh_heap.lock);
	uint64_t released = 0;
	if (gh_wt_active())
		return 0; /* see Mapped memory */
	for (size_t i = 0; i <= GH_HEAP_LISTS; i++) {
		gh_span *head = i < GH_HEAP_LISTS ? &gh_heap.free[i] : &gh_heap.freelarge;
		for (gh_span *s = head->next; s != head; s = s->next) {
			if (s->npreleased == s->npages || now - s->unusedsince < delay)
				continue;
			gh_sys_unused((void *)s->start, s->npages << GH_PAGE_SHIFT);
			released += (s->npages - s->npreleased) << GH_PAGE_SHIFT;
			s->npreleased = s->npages;
			if (gh_sys_unused_zeroes)
				s->needzero = 0;
		}
	}
	gh_stat_add(&gh_heap.stats.heap_released, (int64_t)released);
	return released;
}

/* Release free spans, biggest lists first, until at most goal bytes of the
 * heap are retained or at least budget bytes were released.  Caller holds
 * the heap lock.  Returns the bytes released. */
static uint64_t scavenge_to_locked(uint64_t goal, uint64_t budget)
{
	gh_assert_held(&gh_heap.lock);
	uint64_t released = 0;
	if (gh_wt_active())
		return 0; /* see Mapped memory */
	for (size_t i = GH_HEAP_LISTS + 1; i-- > 0 && released < budget;) {
		gh_span *head = i < GH_HEAP_LISTS ? &gh_heap.free[i] : &gh_heap.freelarge;
		for (gh_span *s = head->next; s != head && released < budget; s = s->next) {
			if (gh_mheap_retained() <= goal)
				return released;
			if (s->npreleased == s->npages)
				continue;
			gh_sys_unused((void *)s->start, s->npages << GH_PAGE_SHIFT);
			uint64_t b = (s->npages - s->npreleased) << GH_PAGE_SHIFT;
			released += b;
			gh_stat_add(&gh_heap.stats.heap_released, (int64_t)b);
			s->npreleased = s->npages;
			if (gh_sys_unused_zeroes)
				s->needzero = 0;
		}
	}
	return released;
}

/* The release check of every heap operation: cheap unless a span may have
 * become due, or the heap holds more than the memory limit allows. */
static void maybe_scavenge_locked(uint64_t now)
{
	gh_assert_held(&gh_heap.lock);
	if (gh_wt_active())
		return; /* see Mapped memory */
	uint64_t cap = __atomic_load_n(&gh_heap.retain_cap, __ATOMIC_RELAXED);
	if (GH_UNLIKELY(gh_mheap_retained() > cap))
		scavenge_to_locked(cap, GH_SCAVENGE_STEP);
	static uint64_t last;
	uint64_t delay = gh_heap.scavenge_delay;
	uint64_t period = delay < 1000000000u ? delay : 1000000000u;
	if (now - last < period)
		return;
	last = now;
	scavenge_locked(now, delay);
}

void gh_mheap_init(void)
{
	gh_mutex_init(&gh_heap.lock, GH_RANK_HEAP, 0);
	for (size_t i = 0; i < GH_HEAP_LISTS; i++)
		gh_spanlist_init(&gh_heap.free[i]);
	gh_spanlist_init(&gh_heap.freelarge);
	gh_fixalloc_init(&gh_heap.spanalloc, sizeof(gh_span), &gh_heap.stats.mspan_inuse,
			 &gh_heap.stats.mspan_sys);
	gh_heap.scavenge_delay = (uint64_t)gh_option(GH_OPT_SCAVENGE_DELAY) * 1000000u;
	gh_heap.retain_cap = UINT64_MAX;
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++)
		gh_mcentral_init(&gh_heap.central[sc], sc);
}

gh_span *gh_mheap_alloc(size_t npages, uint32_t spanclass)
{
	gh_lock(&gh_heap.lock);
	gh_span *s = best_fit_locked(npages);
	if (!s) {
		if (grow_locked(npages) != 0) {
			gh_unlock(&gh_heap.lock);
			return NULL;
		}
		s = best_fit_locked(npages);
		GH_ASSERT(s != NULL);
	}
	if (s->npages > npages) {
		gh_span *t = gh_fixalloc_alloc(&gh_heap.spanalloc);
		if (!t) {
			gh_unlock(&gh_heap.lock);
			errno = ENOMEM;
			return NULL;
		}
		/* A wholly released span stays released in its tail; one
		 * partly released becomes in use as a whole, as the seed
		 * does (which pages were released is not known). */
		size_t tail_released = 0;
		if (s->npreleased == s->npages) {
			tail_released = s->npages - npages;
			gh_sys_used((void *)s->start, npages << GH_PAGE_SHIFT);
			gh_stat_add(&gh_heap.stats.heap_released, -(int64_t)(npages << GH_PAGE_SHIFT));
			s->npreleased = 0;
		} else if (s->npreleased) {
			gh_sys_used((void *)s->start, s->npages << GH_PAGE_SHIFT);
			gh_stat_add(&gh_heap.stats.heap_released,
				    -(int64_t)(s->npreleased << GH_PAGE_SHIFT));
			s->npreleased = 0;
		}
		gh_spanlist_remove(s);
		t->start = s->start + (npages << GH_PAGE_SHIFT);
		t->npages = s->npages - npages;
		t->needzero = s->needzero;
		t->npreleased = tail_released;
		__atomic_store_n(&t->state, GH_SPAN_FREE, __ATOMIC_RELEASE);
		t->unusedsince = s->unusedsince;
		t->limit = t->start + (t->npages << GH_PAGE_SHIFT);
		pagemap_set_ends(t);
		free_insert_locked(t);
		s->npages = npages;
	} else {
		gh_spanlist_remove(s);
		if (s->npreleased) {
			gh_sys_used((void *)s->start, s->npages << GH_PAGE_SHIFT);
			gh_stat_add(&gh_heap.stats.heap_released,
				    -(int64_t)(s->npreleased << GH_PAGE_SHIFT));
			s->npreleased = 0;
		}
	}

	size_t bytes = npages << GH_PAGE_SHIFT;
	uint32_t cls = GH_SPANCLASS_CLASS(spanclass);
	__atomic_store_n(&s->spanclass, (uint16_t)spanclass, __ATOMIC_RELAXED);
	s->freelist = NULL;
	s->nfreelist = 0;
	s->markfrom = GH_MARKFROM_NONE;
	s->alloccache = 0;
	__atomic_store_n(&s->freeindex, 0, __ATOMIC_RELAXED);
	memset(s->allocbits, 0, sizeof s->allocbits);
	__atomic_store_n(&s->sweepgen, GH_SWEEPGEN_FRESH, __ATOMIC_RELAXED); /* until handed out */
	s->inlist = GH_LIST_NONE;
	__atomic_store_n(&s->nspecials, 0, __ATOMIC_RELAXED);
	s->nprofiled = 0;
	s->specials = NULL;
	s->types = NULL;
	memset(s->markbits, 0, sizeof s->markbits);
	if (cls == 0) {
		s->elemsize = bytes;
		s->nelems = 1;
		s->divmagic = 0;
		s->limit = s->start + bytes;
		gh_stat_add(&gh_heap.stats.large_nmalloc, 1);
		gh_stat_add(&gh_heap.stats.large_alloc_bytes, (int64_t)bytes);
	} else {
		s->elemsize = gh_class_size[cls];
		s->nelems = (uint16_t)(bytes / s->elemsize);
		s->divmagic = gh_class_divmagic[cls];
		s->limit = s->start + (size_t)s->nelems * s->elemsize;
	}
	pagemap_set_all(s);
	gh_stat_add(&gh_heap.stats.heap_inuse, (int64_t)bytes);
	__atomic_store_n(&s->state, GH_SPAN_INUSE, __ATOMIC_RELEASE);
	maybe_scavenge_locked(gh_nanotime());
	gh_unlock(&gh_heap.lock);
	return s;
}

void gh_span_publish(gh_span *s)
{
	/* A span swept for the current cycle must have clear mark bits, or
	 * the next marking takes its blocks for scanned already.  A
	 * collection that stops this thread between clearing and storing
	 * may set bits (the caller holds the block) and advance the cycle:
	 * then do both again. */
	for (;;) {
		uint32_t epoch = __atomic_load_n(&gh_gc.epoch, __ATOMIC_ACQUIRE);
		memset(s->markbits, 0, sizeof s->markbits);
		__atomic_store_n(&s->sweepgen, __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		/* Born marked while marking runs (mgcmark.c). */
		if (gh_gc_marking_now())
			gh_mark_new_large(s);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&gh_gc.epoch, __ATOMIC_ACQUIRE) == epoch)
			return;
	}
}

/* Giving a span back while marking runs with the world running.  A marker
 * may hold a block of the span in its queue, or be scanning one, reading
 * the span's size, kind and types as it goes (mgcmark.c): the span may not
 * be freed, merged or handed out again under it.  So it is given back in
 * two steps: now it leaves every lookup (GH_SPAN_GIVENBACK: gh_span_of,
 * the sweepers and new marks pass it by) and waits, whole, on the heap's
 * list; once marking has ended the collector frees it
 * (gh_mheap_free_givenback).  Whether marking runs is read in the same
 * section, closed to stops, that changes the span's state: a marking that
 * starts later (with the world stopped) finds the span out of every
 * lookup, and one that runs already finds it whole until it ends. */
void gh_span_release(gh_span *s)
{
	gh_lock(&gh_heap.lock);
	GH_ASSERT(s->state == GH_SPAN_INUSE || s->state == GH_SPAN_GIVENBACK);
	/* A special lives only as long as its block (mspecial.c). */
	if (GH_UNLIKELY(s->specials))
		gh_throw("span %p at %#lx freed with specials", (void *)s, (unsigned long)s->start);
	size_t bytes = s->npages << GH_PAGE_SHIFT;
	/* Counted out of use, and a large object freed, when given back. */
	if (s->state == GH_SPAN_INUSE) {
		if (GH_SPANCLASS_CLASS(s->spanclass) == 0) {
			gh_stat_add(&gh_heap.stats.large_nfree, 1);
			gh_stat_add(&gh_heap.stats.large_free_bytes, (int64_t)bytes);
		}
		gh_stat_add(&gh_heap.stats.heap_inuse, -(int64_t)bytes);
	}
	gh_stw_nostop_begin();
	bool later = gh_gc_marking_now();
	__atomic_store_n(&s->state, later ? GH_SPAN_GIVENBACK : GH_SPAN_FREE, __ATOMIC_RELEASE);
	gh_stw_nostop_end();
	if (later) {
		s->next = gh_heap.givenback;
		gh_heap.givenback = s;
		gh_unlock(&gh_heap.lock);
		return;
	}
	void *types = GH_SPANCLASS_CLASS(s->spanclass) != 0 ? s->types : NULL;
	s->types = NULL;
	__atomic_store_n(&s->nspecials, 0, __ATOMIC_RELAXED);
	s->nprofiled = 0;
	s->needzero = 1;
	uint64_t now = gh_nanotime();
	free_span_locked(s, now);
	maybe_scavenge_locked(now);
	gh_unlock(&gh_heap.lock);
	if (types)
		gh_span_free_types(types);
}

void gh_mheap_free_givenback(void)
{
	gh_lock(&gh_heap.lock);
	gh_span *s = gh_heap.givenback;
	gh_heap.givenback = NULL;
	gh_unlock(&gh_heap.lock);
	while (s) {
		gh_span *next = s->next;
		s->next = NULL;
		gh_span_release(s);
		s = next;
	}
}

uint64_t gh_mheap_scavenge_to(uint64_t goal, uint64_t budget)
{
	gh_lock(&gh_heap.lock);
	uint64_t r = gh_mheap_retained() > goal ? scavenge_to_locked(goal, budget) : 0;
	gh_unlock(&gh_heap.lock);
	return r;
}

uint64_t gh_mheap_retained(void)
{
	return __atomic_load_n(&gh_heap.stats.heap_sys, __ATOMIC_RELAXED) -
	       __atomic_load_n(&gh_heap.stats.heap_released, __ATOMIC_RELAXED);
}

static bool span_slot_dead(const void *slot)
{
	return __atomic_load_n(&((const gh_span *)slot)->state, __ATOMIC_RELAXED) == GH_SPAN_DEAD;
}

uint64_t gh_mheap_scavenge(uint64_t delay)
{
	gh_lock(&gh_heap.lock);
	uint64_t r = scavenge_locked(gh_nanotime(), delay);
	/* Releasing everything: the pages of free span descriptors too, but
	 * under efence, whose retired spans are dead and not free. */
	if (delay == 0 && !(__atomic_load_n(&gh_debug_flags, __ATOMIC_RELAXED) & GH_DEBUG_EFENCE))
		gh_fixalloc_release(&gh_heap.spanalloc, span_slot_dead);
	gh_unlock(&gh_heap.lock);
	return r;
}
