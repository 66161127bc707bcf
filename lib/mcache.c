/*
 * mcache.c - per-thread caches.  See malloc.c for the overview.
 *
 * Each thread that allocates or frees gets a gh_mcache on first use: for
 * every span class one cached span, whose free blocks it hands out from
 * the span's bits, and a list of the blocks it freed by hand, which it
 * hands out first.  The owner does all this without locks or atomic
 * instructions (malloc.c).  An exhausted span is traded for another at the
 * mcentral (gh_mcentral_cache_span); a free list longer than two batches
 * gives one batch back.  When the thread exits, a pthread key destructor
 * gives everything back and folds the cache's counters into the heap's.
 *
 * A collection, with the world stopped, takes every cache's spans back
 * (they are swept like the others: blocks the owner handed out from them
 * and that nobody references are garbage), marks every block on the
 * caches' free lists, which stay allocated and stay the owners', and drops
 * the tiny blocks (gh_mcache_collect_all).  It never finds a cache in the
 * middle of a change it would undo: the owner changes its cached spans in
 * no-stop sections, which a stop waits for, and its free lists and tiny block
 * in an order the collector tolerates (malloc.c).
 *
 * Live caches are kept on a registry so that goheap_read_memstats can sum
 * their counters and the collector can find them all.  Nothing is taken
 * under the registry lock but by the fork handler and by the collector,
 * which holds it while the world is stopped (lockrank.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

__thread gh_mcache *gh_tls_cache;

static gh_mutex registry_lock = GH_MUTEX_INITIALIZER(GH_RANK_MCACHES);
static gh_mcache *registry;
static gh_fixalloc cachealloc;
static pthread_key_t cache_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void cache_destroy(void *arg);

static void make_key(void)
{
	pthread_key_create(&cache_key, cache_destroy);
	gh_fixalloc_init(&cachealloc, sizeof(gh_mcache), &gh_heap.stats.mcache_inuse,
			 &gh_heap.stats.mcache_sys);
}

gh_mcache *gh_mcache_get(void)
{
	gh_mcache *c = gh_tls_cache;
	if (GH_LIKELY(c))
		return c;
	gh_init();
	pthread_once(&key_once, make_key);
	/* Registered before the thread has a cache: a thread that failed to
	 * register (no memory) must not allocate, or its stack would hold
	 * blocks the collector never sees. */
	if (gh_thread_autoregister() != 0) {
		errno = ENOMEM;
		return NULL;
	}

	gh_lock(&registry_lock);
	c = gh_fixalloc_alloc(&cachealloc);
	if (c) {
		/* Whole before the registry shows it: a collection walks
		 * every cache there. */
		for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++) {
			c->list[sc].max = 2 * gh_class_batch(GH_SPANCLASS_CLASS(sc));
			c->list[sc].span = &gh_empty_span;
		}
		c->next = registry;
		c->prev = NULL;
		if (registry)
			registry->prev = c;
		registry = c;
	}
	gh_unlock(&registry_lock);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	gh_tls_cache = c;
	pthread_setspecific(cache_key, c);
	/* A thread that allocates holds heap pointers: its stack is a root
	 * from now on. */
	if (gh_thread_autoregister() != 0) {
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

static void give_back(gh_mcache *c, uint32_t spanclass, uint32_t n)
{
	if (!n)
		return;
	gh_gc_note_alloc(-(int64_t)n * gh_class_size[GH_SPANCLASS_CLASS(spanclass)]);
	gh_mcentral_return(&gh_heap.central[spanclass], c, &c->list[spanclass], n);
}

void gh_mcache_trim(gh_mcache *c, uint32_t spanclass)
{
	give_back(c, spanclass, gh_class_batch(GH_SPANCLASS_CLASS(spanclass)));
}

void gh_mcache_flush(gh_mcache *c)
{
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++) {
		gh_mcentral_uncache_span(&gh_heap.central[sc], c);
		give_back(c, sc, c->list[sc].n);
	}
	/* The rest of the tiny block stays allocated; the collector frees
	 * it once nothing points into it. */
	c->tiny = 0;
	c->tinyoff = 0;
}

/* GOHEAP_DEBUG=check=1: a block on a thread's list for span class sc is
 * one of a span of that class, allocated, with its free tag. */
static void check_listed(uint32_t sc, const gh_link *o)
{
	gh_span *s = gh_span_of((uintptr_t)o);
	gh_broken b;
	if (!s || s->spanclass != sc)
		gh_throw("heap check: thread free list: block %p of span class %u is in no span "
			 "of that class", (const void *)o, sc);
	if (!gh_block_listed_ok(s, (uintptr_t)o, &b, "thread free list"))
		gh_throw("heap check: %s: %s", b.inv, b.why);
}

void gh_mcache_mark_start_all(void)
{
	for (gh_mcache *c = registry; c; c = c->next)
		for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++) {
			gh_span *s = c->list[sc].span;
			if (s != &gh_empty_span)
				__atomic_store_n(&s->markfrom, s->freeindex, __ATOMIC_RELAXED);
		}
}

void gh_mcache_collect_all(void (*mark)(uintptr_t p))
{
	bool check = gh_option(GH_OPT_CHECK) != 0;
	uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_RELAXED);
	for (gh_mcache *c = registry; c; c = c->next) {
		for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++) {
			gh_cachelist *l = &c->list[sc];
			gh_span *s = l->span;
			if (s != &gh_empty_span) {
				/* Swept in this cycle, on no list: the end of
				 * marking makes it one to sweep, which anyone
				 * may claim (mcentral.c). */
				GH_ASSERT(s->inlist == GH_LIST_CACHED && s->sweepgen == sg);
				if (s->markfrom != GH_MARKFROM_NONE)
					gh_mark_new_blocks(s);
				s->inlist = GH_LIST_NONE;
				s->alloccache = 0;
				l->span = &gh_empty_span;
			}
			for (gh_link *o = l->head; o; o = gh_link_read(o).next) {
				if (GH_UNLIKELY(check))
					check_listed(sc, o);
				mark((uintptr_t)o);
			}
		}
		c->tiny = 0;
		c->tinyoff = 0;
	}
	(void)sg;
}

/* Fold c's counters into the heap's and drop it; registry lock held. */
static void retire_locked(gh_mcache *c)
{
	gh_assert_held(&registry_lock);
	for (uint32_t i = 0; i < GH_NUM_CLASSES; i++) {
		gh_stat_add(&gh_heap.stats.small_nmalloc[i], (int64_t)c->nmalloc[i]);
		gh_stat_add(&gh_heap.stats.small_nfree[i], (int64_t)c->nfree[i]);
	}
	gh_stat_add(&gh_heap.stats.tinyallocs, (int64_t)c->tinyallocs);
	gh_stat_add(&gh_heap.stats.nlookup, (int64_t)c->nlookup);
	if (c->prev)
		c->prev->next = c->next;
	else
		registry = c->next;
	if (c->next)
		c->next->prev = c->prev;
	gh_fixalloc_free(&cachealloc, c);
}

static void cache_destroy(void *arg)
{
	gh_mcache *c = arg;
	gh_mcache_flush(c);
	gh_tls_cache = NULL;
	gh_lock(&registry_lock);
	retire_locked(c);
	gh_unlock(&registry_lock);
}

void gh_mcache_exit(void)
{
	gh_mcache *c = gh_tls_cache;
	if (!c)
		return;
	pthread_setspecific(cache_key, NULL);
	cache_destroy(c);
}

void gh_mcache_registry_lock(void)
{
	gh_lock(&registry_lock);
}

void gh_mcache_registry_unlock(void)
{
	gh_unlock(&registry_lock);
}

void gh_mcache_after_fork(void)
{
	/* The child has one thread: no other can touch the registry. */
	gh_mcache *c = registry;
	while (c) {
		gh_mcache *next = c->next;
		if (c != gh_tls_cache) {
			gh_mcache_flush(c);
			gh_lock(&registry_lock);
			retire_locked(c);
			gh_unlock(&registry_lock);
		}
		c = next;
	}
}

void gh_mcache_sum(gh_cachesums *sums)
{
	gh_lock(&registry_lock);
	for (uint32_t i = 0; i < GH_NUM_CLASSES; i++) {
		sums->nmalloc[i] = gh_stat_get(&gh_heap.stats.small_nmalloc[i]);
		sums->nfree[i] = gh_stat_get(&gh_heap.stats.small_nfree[i]);
	}
	sums->tinyallocs = gh_stat_get(&gh_heap.stats.tinyallocs);
	sums->nlookup = gh_stat_get(&gh_heap.stats.nlookup);
	for (gh_mcache *c = registry; c; c = c->next) {
		for (uint32_t i = 0; i < GH_NUM_CLASSES; i++) {
			sums->nmalloc[i] += gh_stat_get(&c->nmalloc[i]);
			sums->nfree[i] += gh_stat_get(&c->nfree[i]);
		}
		sums->tinyallocs += gh_stat_get(&c->tinyallocs);
		sums->nlookup += gh_stat_get(&c->nlookup);
	}
	gh_unlock(&registry_lock);
}
