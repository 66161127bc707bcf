/*
 * mgcsweep.c - sweeping: free the blocks a collection found unreachable.
 * See mgc.c for where this sits in a collection.
 *
 * Sweeping is lazy and concurrent, with the seed's sweepgen protocol (the
 * states are listed next to gh_span.sweepgen): the end of marking adds 2 to
 * the heap's sweepgen, which makes every span in use "still to sweep".
 * From then on a span is swept by whoever needs it first:
 *   - a thread that needs a span to allocate from (mcentral.c);
 *   - goheap_free, before it frees a block of the span (malloc.c), and a
 *     thread giving blocks back to their spans (mcentral.c);
 *   - the background sweeper thread, which walks every span descriptor;
 *   - goheap_gc, and the next collection, which finish the walk.
 * No block is ever handed out from a span not yet swept.
 *
 * A small span is claimed under its mcentral's lock (which takes it off
 * its list) and swept outside any lock by the thread that claimed it; a
 * large span is claimed by moving its sweepgen from "to sweep" to "being
 * swept" with a compare-and-swap.
 *
 * Sweeping a small span does not visit its blocks.  Its mark bits are the
 * blocks found live; they become its allocation bits, its free index goes
 * back to 0, and the mark bits are cleared for the next collection (Go's
 * gcmarkBits -> allocBits).  A block allocated before and not marked is
 * free from then on, its bytes left as they were (a span that ever handed
 * out a block is "needzero").  Blocks are visited only:
 *   - those with specials, before the swap (gh_specials_sweep, mspecial.c):
 *     the collection queued the finalizers of unreachable blocks already,
 *     and marked the blocks; the sweep drops the profile samples and weak
 *     links of the blocks that died;
 *   - under a debug mode or Valgrind, the blocks freed, for the poison,
 *     the trace and the memory checker.
 * The span's own free list (blocks threads gave back, mcentral.c) was
 * taken by the claim and is dropped: its blocks are freed with the rest,
 * their marks cleared first (the collection marks the blocks on the
 * threads' lists, mcache.c, not those on spans' lists; a mark on one of
 * these came from a stale word).  A span left with no live block goes back
 * to the page heap.
 */
#include "config.h"

#include <sched.h>
#include <string.h>

#include "debugmode.h"
#include "gc.h"
#include "gh.h"
#include "os.h"
#include "mprof.h"
#include "track.h"

static gh_mutex sweeper_lock = GH_MUTEX_INITIALIZER(GH_RANK_SWEEPER);
static pthread_cond_t sweeper_cond = PTHREAD_COND_INITIALIZER;
static bool sweeper_started;
static uint32_t sweeper_want; /* sweepgen the sweeper should reach */

/* Pacing: the pages still to sweep when marking ended, and those swept
 * since by anyone; the heap_live of then, and how far it may grow before
 * the next collection starts (gh_sweep_pace). */
static struct {
	uint64_t pages, swept;
	uint64_t base, distance;
} pace;

static inline void count_swept(const gh_span *s)
{
	__atomic_add_fetch(&pace.swept, s->npages, __ATOMIC_RELAXED);
}

static bool sweep_large(gh_span *s, uint32_t sg)
{
	count_swept(s);
	if (gh_span_nspecials(s))
		gh_specials_sweep(s);
	if (!gh_span_marked(s, 0)) {
		if (gh_debug_on())
			gh_debug_free((void *)s->start, s->elemsize, 0, true);
		gh_track_free((void *)s->start);
		/* Not "swept" but FRESH, which no sweeper touches: a whole
		 * cycle may pass before the heap takes the span, and it must
		 * not be found to sweep (and freed) again meanwhile. */
		__atomic_store_n(&s->sweepgen, GH_SWEEPGEN_FRESH, __ATOMIC_RELEASE);
		if (GH_UNLIKELY(gh_debug_flags & GH_DEBUG_EFENCE)) {
			gh_efence_retire(s);
			return true;
		}
		gh_span_release(s);
		return true;
	}
	memset(s->markbits, 0, sizeof s->markbits);
	__atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
	return false;
}

/* Sweeps under way, from claim until the span's bits are consistent
 * again, and whether fork stops new ones (gh_sweep_freeze): a child must
 * not inherit a span half swept by a thread it does not have. */
static uint32_t nsweeping, frozen;

void gh_sweep_freeze(void)
{
	__atomic_store_n(&frozen, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&nsweeping, __ATOMIC_SEQ_CST))
		sched_yield();
}

void gh_sweep_thaw(void)
{
	__atomic_store_n(&frozen, 0, __ATOMIC_SEQ_CST);
}

void gh_sweep_claimed_small(void)
{
	/* Under the span's mcentral lock, which fork takes before it
	 * freezes: never refused. */
	__atomic_add_fetch(&nsweeping, 1, __ATOMIC_SEQ_CST);
}

/* Before claiming a large span: false while fork freezes sweeping. */
static bool sweep_enter(void)
{
	__atomic_add_fetch(&nsweeping, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&frozen, __ATOMIC_SEQ_CST))
		return true;
	__atomic_sub_fetch(&nsweeping, 1, __ATOMIC_SEQ_CST);
	return false;
}

static void sweep_leave(void)
{
	__atomic_sub_fetch(&nsweeping, 1, __ATOMIC_SEQ_CST);
}

/* The blocks of s allocated before this sweep: its bits, and the blocks
 * below its free index. */
static void allocated_before(const gh_span *s, uint64_t was[GH_BITWORDS])
{
	uint32_t fi = s->freeindex;
	for (uint32_t w = 0; w < GH_BITWORDS; w++) {
		uint64_t below = fi >= (w + 1) * 64 ? ~(uint64_t)0
				 : fi > w * 64	 ? ((uint64_t)1 << (fi - w * 64)) - 1
						 : 0;
		was[w] = s->allocbits[w] | below;
	}
}

/* The blocks of s allocated and not marked, one by one: fn(s, idx, arg). */
static void foreach_unmarked(gh_span *s, const uint64_t was[GH_BITWORDS],
			     void (*fn)(gh_span *s, uint32_t idx, void *arg), void *arg)
{
	for (uint32_t w = 0; w < GH_BITWORDS; w++) {
		uint64_t dead = was[w] & ~__atomic_load_n(&s->markbits[w], __ATOMIC_RELAXED);
		while (dead) {
			uint32_t idx = w * 64 + (uint32_t)__builtin_ctzll(dead);
			dead &= dead - 1;
			fn(s, idx, arg);
		}
	}
}

/* A block this sweep frees, under a debug mode or Valgrind.  One with
 * its free tag was freed by goheap_free already, and reported then. */
static void sweep_debug(gh_span *s, uint32_t idx, void *arg)
{
	(void)arg;
	gh_link *o = (gh_link *)(s->start + (size_t)idx * s->elemsize);
	if (GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY) {
		gh_track_noaccess(o, GH_TINY_SIZE);
		return;
	}
	if (gh_track_peek(&o->tag) == gh_free_tag(o))
		return;
	gh_debug_free(o, s->elemsize, sizeof(gh_link), true);
	gh_track_free(o);
}

void gh_span_sweep_claimed(gh_span *s, gh_link *freelist, uint32_t nfreelist)
{
	uint32_t cls = GH_SPANCLASS_CLASS(s->spanclass);
	GH_ASSERT(cls != 0);
	count_swept(s);
	/* The dropped free list's blocks become free: a mark on one of them
	 * came from a stale word that happened to point at it (or from a
	 * thread that held it in a register on its way to the list), not
	 * from a live reference.  Clearing it keeps the count below exact. */
	for (gh_link *o = freelist; o; o = gh_link_read(o).next) {
		uint32_t idx = gh_span_index(s, (uintptr_t)o);
		s->markbits[idx >> 6] &= ~((uint64_t)1 << (idx & 63));
	}
	uint64_t was[GH_BITWORDS];
	allocated_before(s, was);
	if (gh_span_nspecials(s))
		gh_specials_sweep(s);
	if (gh_debug_on())
		foreach_unmarked(s, was, sweep_debug, NULL);

	uint32_t nwas = 0, nlive = 0;
	for (uint32_t w = 0; w < GH_BITWORDS; w++) {
		uint64_t m = __atomic_load_n(&s->markbits[w], __ATOMIC_RELAXED);
		nwas += (uint32_t)__builtin_popcountll(was[w]);
		nlive += (uint32_t)__builtin_popcountll(m);
		__atomic_store_n(&s->allocbits[w], m, __ATOMIC_RELAXED);
		__atomic_store_n(&s->markbits[w], 0, __ATOMIC_RELAXED);
	}
	/* The bits and free index are read without the span's lock by
	 * goheap_free, goheap_base and the marker's lookups: relaxed
	 * stores. */
	__atomic_store_n(&s->freeindex, 0, __ATOMIC_RELAXED);
	if (nwas)
		s->needzero = 1;
	/* The blocks of the dropped free list were counted free when they
	 * were freed by hand; the others not marked are freed now. */
	GH_ASSERT(nwas >= nlive + nfreelist);
	gh_stat_add(&gh_heap.stats.small_nfree[cls], nwas - nlive - nfreelist);
	GH_CHECK(gh_span_small_ok, s);
	sweep_leave();
}

void gh_span_ensure_swept(gh_span *s)
{
	for (;;) {
		/* Collections may pass while this thread waits: reread both. */
		uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
		uint32_t cur = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
		if (cur == sg || cur == GH_SWEEPGEN_FRESH ||
		    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE)
			return;
		uint32_t sc = __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED);
		if (GH_SPANCLASS_CLASS(sc) != 0) {
			gh_mcentral *c = &gh_heap.central[sc];
			gh_link *fl;
			uint32_t nfl;
			gh_lock(&c->lock);
			bool mine = gh_mcentral_claim_locked(c, s, sg, &fl, &nfl);
			gh_unlock(&c->lock);
			if (mine) {
				gh_span_sweep_claimed(s, fl, nfl);
				gh_mcentral_swept(c, s);
				return;
			}
			if (__atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) == sg - 1)
				sched_yield(); /* another thread is sweeping it */
			continue;
		}
		if (cur != sg - 2 || !sweep_enter()) {
			sched_yield(); /* being swept, or fork under way */
			continue;
		}
		if (__atomic_compare_exchange_n(&s->sweepgen, &cur, sg - 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			/* The descriptor may have been freed and reused for a
			 * small span since its class was read: claimed, a large
			 * span cannot change, so check now, and hand back a
			 * claim on anything else. */
			if (GH_SPANCLASS_CLASS(__atomic_load_n(&s->spanclass, __ATOMIC_ACQUIRE)) != 0 ||
			    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE) {
				uint32_t mine = sg - 1;
				__atomic_compare_exchange_n(&s->sweepgen, &mine, sg - 2, false,
							    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
				sweep_leave();
				continue;
			}
			sweep_large(s, sg);
			sweep_leave();
			return;
		}
		sweep_leave();
	}
}

static void sweep_slot(void *obj)
{
	gh_span *s = obj;
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == GH_SPAN_INUSE)
		gh_span_ensure_swept(s);
}

/* Proportional sweeping: the cursor each refill advances, so that the
 * sweep keeps pace with allocation even when the background sweeper gets
 * no CPU (Go's proportional sweep, in spans per batch). */
static gh_mutex cursor_lock = GH_MUTEX_INITIALIZER(GH_RANK_SWEEPCURSOR);
static void *cursor_chunk;
static size_t cursor_off;
static uint32_t cursor_gen;
static bool cursor_done;

void gh_sweep_some(uint32_t spans)
{
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&cursor_gen, __ATOMIC_RELAXED) == sg &&
	    __atomic_load_n(&cursor_done, __ATOMIC_RELAXED))
		return;
	gh_span *todo[16];
	uint32_t n = 0;
	gh_lock(&cursor_lock);
	if (cursor_gen != sg) {
		/* Both read without the lock above. */
		__atomic_store_n(&cursor_gen, sg, __ATOMIC_RELAXED);
		cursor_chunk = NULL;
		__atomic_store_n(&cursor_done, false, __ATOMIC_RELAXED);
	}
	/* Look at up to 64 slots for spans still to sweep. */
	for (int looked = 0; looked < 64 && n < spans && n < 16; looked++) {
		gh_span *s = gh_fixalloc_next(&gh_heap.spanalloc, &cursor_chunk, &cursor_off);
		if (!s) {
			__atomic_store_n(&cursor_done, true, __ATOMIC_RELAXED);
			break;
		}
		uint32_t cur = __atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED);
		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) == GH_SPAN_INUSE && cur != sg &&
		    cur != GH_SWEEPGEN_FRESH)
			todo[n++] = s;
	}
	gh_unlock(&cursor_lock);
	for (uint32_t i = 0; i < n; i++)
		sweep_slot(todo[i]);
}

void gh_sweep_reset(uint64_t base)
{
	__atomic_store_n(&pace.pages, gh_stat_get(&gh_heap.stats.heap_inuse) >> GH_PAGE_SHIFT,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&pace.swept, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pace.base, base, __ATOMIC_RELAXED);
	__atomic_store_n(&pace.distance, UINT64_MAX, __ATOMIC_RELAXED);
}

void gh_sweep_pace(uint64_t trigger)
{
	uint64_t base = __atomic_load_n(&pace.base, __ATOMIC_RELAXED);
	__atomic_store_n(&pace.distance, trigger > base ? trigger - base : 1, __ATOMIC_RELAXED);
}

void gh_sweep_paced(void)
{
	for (int i = 0; i < 64; i++) {
		uint64_t pages = __atomic_load_n(&pace.pages, __ATOMIC_RELAXED);
		uint64_t swept = __atomic_load_n(&pace.swept, __ATOMIC_RELAXED);
		if (swept >= pages)
			return;
		int64_t live = (int64_t)__atomic_load_n(&gh_gc.heap_live, __ATOMIC_RELAXED);
		uint64_t base = __atomic_load_n(&pace.base, __ATOMIC_RELAXED);
		uint64_t grown = live > 0 && (uint64_t)live > base ? (uint64_t)live - base : 0;
		uint64_t distance = __atomic_load_n(&pace.distance, __ATOMIC_RELAXED);
		/* Behind if the share swept is under the share of the
		 * distance grown (in 1/1024ths), and always 4 spans. */
		uint64_t due = grown >= distance ? 1024 : (grown << 10) / distance;
		if (i > 0 && (swept << 10) / pages >= due)
			return;
		uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
		gh_sweep_some(4);
		if (__atomic_load_n(&cursor_gen, __ATOMIC_RELAXED) == sg &&
		    __atomic_load_n(&cursor_done, __ATOMIC_RELAXED))
			return;
	}
}

void gh_sweep_finish(void)
{
	gh_fixalloc_foreach(&gh_heap.spanalloc, sweep_slot);
}

static void *sweeper_main(void *arg)
{
	(void)arg;
	gh_lock(&sweeper_lock);
	for (;;) {
		while (sweeper_want == 0)
			gh_cond_wait(&sweeper_cond, &sweeper_lock);
		sweeper_want = 0;
		gh_unlock(&sweeper_lock);
		gh_sweep_finish();
		gh_lock(&sweeper_lock);
	}
	return NULL;
}

void gh_sweep_background(void)
{
	gh_lock(&sweeper_lock);
	/* If no thread can be had, lazy sweeping still does it all. */
	if (!sweeper_started)
		sweeper_started = gh_spawn_thread(sweeper_main, "goheap-sweep", false) == 0;
	sweeper_want = 1;
	pthread_cond_signal(&sweeper_cond);
	gh_unlock(&sweeper_lock);
}

/* In the child of fork: a span whose sweep a thread of the parent had
 * finished but not yet listed is listed now; a new small span on its way
 * to a cache the child does not have goes back to the page heap. */
static void adopt_slot(void *obj)
{
	gh_span *s = obj;
	if (s->state != GH_SPAN_INUSE || GH_SPANCLASS_CLASS(s->spanclass) == 0)
		return;
	uint32_t sg = gh_heap.sweepgen;
	if (s->sweepgen == sg - 1) {
		gh_mcentral_swept(&gh_heap.central[s->spanclass], s);
	} else if (s->sweepgen == GH_SWEEPGEN_FRESH) {
		gh_span_release(s);
	}
}

void gh_sweep_after_fork(void)
{
	gh_sweep_thaw();
	gh_fixalloc_foreach(&gh_heap.spanalloc, adopt_slot);
	gh_mutex_init(&cursor_lock, GH_RANK_SWEEPCURSOR, 0);
	gh_mutex_init(&sweeper_lock, GH_RANK_SWEEPER, 0);
	pthread_cond_init(&sweeper_cond, NULL);
	sweeper_started = false;
	sweeper_want = 0;
}
