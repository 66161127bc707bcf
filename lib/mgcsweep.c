/*
 * mgcsweep.c - sweeping: free the blocks a collection found unreachable.
 * See mgc.c for where this sits in a collection.
 *
 * Sweeping is lazy and concurrent, with the seed's sweepgen protocol (the
 * states are listed next to gh_span.sweepgen): the end of marking adds 2 to
 * the heap's sweepgen, which makes every span in use "still to sweep".
 * From then on a span is swept by whoever needs it first:
 *   - an mcentral, before it takes a block from the span (mcentral.c);
 *   - goheap_free, before it frees a block of the span (malloc.c);
 *   - the background sweeper thread, which walks every span descriptor;
 *   - goheap_gc, and the next collection, which finish the walk.
 * No block is ever handed out from a span not yet swept.
 *
 * A small span is swept under its mcentral's lock, which also guards its
 * free list and counts; a large span is claimed by moving its sweepgen from
 * "to sweep" to "being swept" with a compare-and-swap.
 *
 * Sweeping a span with specials first hands them to gh_specials_sweep
 * (mspecial.c), which deals with those of unmarked blocks: a finalizer
 * keeps its block by marking it; a profile sample counts the free.  Then
 * a block: marked, or free already (free tag) -> keep; otherwise -> free:
 * the block joins its span's free list.  A span left with no live block
 * goes back to the page heap.
 */
#include "config.h"

#include <sched.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "mem.h"
#include "mprof.h"
#include "track.h"

static pthread_mutex_t sweeper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweeper_cond = PTHREAD_COND_INITIALIZER;
static bool sweeper_started;
static uint32_t sweeper_want; /* sweepgen the sweeper should reach */

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
		if (__atomic_load_n(&gh_gc.epoch, __ATOMIC_ACQUIRE) == epoch)
			return;
	}
}

void gh_span_release(gh_span *s)
{
	if (s->types) {
		if (GH_SPANCLASS_CLASS(s->spanclass) != 0)
			gh_span_free_types(s);
		s->types = NULL;
	}
	gh_mheap_free(s);
}

static bool sweep_large(gh_span *s, uint32_t sg)
{
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

bool gh_span_sweep_locked(gh_span *s)
{
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	uint32_t cur = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
	if (cur == sg || cur == GH_SWEEPGEN_FRESH)
		return false;
	uint32_t cls = GH_SPANCLASS_CLASS(s->spanclass);
	GH_ASSERT(cls != 0);

	uint32_t nfreed = 0;
	if (gh_span_nspecials(s))
		gh_specials_sweep(s);
	if (s->inlist != GH_LIST_NONE) {
		for (uint32_t idx = 0; idx < s->ncarved; idx++) {
			if (gh_span_marked(s, idx))
				continue;
			gh_link *o = (gh_link *)(s->start + (size_t)idx * s->elemsize);
			if (gh_track_peek(&o->tag) == gh_free_tag(o))
				continue;
			if (gh_debug_on())
				gh_debug_free(o, s->elemsize, sizeof(gh_link), true);
			if (GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY)
				gh_track_noaccess(o, GH_TINY_SIZE);
			else
				gh_track_free(o);
			gh_link_write(o, s->freelist);
			s->freelist = o;
			nfreed++;
		}
	}
	memset(s->markbits, 0, sizeof s->markbits);
	__atomic_store_n(&s->sweepgen, sg, __ATOMIC_RELEASE);
	if (!nfreed) {
		/* Behind the empty spans still to sweep (mcentral.c). */
		if (s->inlist == GH_LIST_EMPTY)
			gh_mcentral_relist(&gh_heap.central[s->spanclass], s);
		return false;
	}

	s->nfree = (uint16_t)(s->nfree + nfreed);
	gh_stat_add(&gh_heap.stats.small_nfree[cls], nfreed);
	if (s->nfree == s->nelems) {
		gh_mcentral_unlist(s);
		gh_span_release(s);
		return true;
	}
	gh_mcentral_relist(&gh_heap.central[s->spanclass], s);
	return false;
}

void gh_span_ensure_swept(gh_span *s)
{
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
	uint32_t cur = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
	if (cur == sg || cur == GH_SWEEPGEN_FRESH)
		return;
	uint32_t sc = __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED);
	if (GH_SPANCLASS_CLASS(sc) != 0) {
		gh_mcentral *c = &gh_heap.central[sc];
		gh_mutex_lock(&c->lock);
		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) == GH_SPAN_INUSE &&
		    __atomic_load_n(&s->spanclass, __ATOMIC_RELAXED) == sc)
			gh_span_sweep_locked(s);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	for (;;) {
		/* Collections may pass while this thread waits: reread both. */
		sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
		cur = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
		if (cur == sg || cur == GH_SWEEPGEN_FRESH ||
		    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE)
			return;
		if (cur == sg - 2 &&
		    __atomic_compare_exchange_n(&s->sweepgen, &cur, sg - 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			/* The descriptor may have been freed and reused for a
			 * small span since its class was read: claimed, a large
			 * span cannot change, so check now, and hand back a
			 * claim on anything else. */
			if (GH_SPANCLASS_CLASS(__atomic_load_n(&s->spanclass, __ATOMIC_ACQUIRE)) != 0 ||
			    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE) {
				uint32_t mine = sg - 1;
				__atomic_compare_exchange_n(&s->sweepgen, &mine, sg - 2, false,
							    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
				gh_span_ensure_swept(s);
				return;
			}
			sweep_large(s, sg);
			return;
		}
		sched_yield(); /* another thread is sweeping it */
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
static pthread_mutex_t cursor_lock = PTHREAD_MUTEX_INITIALIZER;
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
	gh_mutex_lock(&cursor_lock);
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
	pthread_mutex_unlock(&cursor_lock);
	for (uint32_t i = 0; i < n; i++)
		sweep_slot(todo[i]);
}

void gh_sweep_finish(void)
{
	gh_fixalloc_foreach(&gh_heap.spanalloc, sweep_slot);
}

static void *sweeper_main(void *arg)
{
	(void)arg;
	gh_mutex_lock(&sweeper_lock);
	for (;;) {
		while (sweeper_want == 0)
			pthread_cond_wait(&sweeper_cond, &sweeper_lock);
		sweeper_want = 0;
		pthread_mutex_unlock(&sweeper_lock);
		gh_sweep_finish();
		gh_mutex_lock(&sweeper_lock);
	}
	return NULL;
}

void gh_sweep_background(void)
{
	gh_mutex_lock(&sweeper_lock);
	/* If no thread can be had, lazy sweeping still does it all. */
	if (!sweeper_started)
		sweeper_started = gh_spawn_thread(sweeper_main, "goheap-sweep", false) == 0;
	sweeper_want = 1;
	pthread_cond_signal(&sweeper_cond);
	pthread_mutex_unlock(&sweeper_lock);
}

void gh_sweep_after_fork(void)
{
	pthread_mutex_init(&cursor_lock, NULL);
	pthread_mutex_init(&sweeper_lock, NULL);
	pthread_cond_init(&sweeper_cond, NULL);
	sweeper_started = false;
	sweeper_want = 0;
}
