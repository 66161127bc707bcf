/*
 * mcache.c - per-thread caches of free blocks.  See malloc.c for the
 * overview.
 *
 * Each thread that allocates or frees gets a gh_mcache on first use: for
 * every span class a list of free blocks.  The owner pops and pushes without
 * locks or atomics; an empty list is refilled with a batch from the
 * mcentral, a list longer than two batches gives one batch back.  When the
 * thread exits, a pthread key destructor gives every block back and the
 * cache's counters are folded into the heap's.
 *
 * A collection makes every cache stale (gh_mcache_stale): its lists may
 * hold blocks of spans not swept yet, which must not be handed out.  The
 * owner flushes a stale cache before its next allocation (malloc.c).
 *
 * Live caches are kept on a registry so that goheap_read_memstats can sum
 * their counters (and the collector can find them all).  The registry lock
 * is a leaf: nothing else is taken while it is held.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

__thread gh_mcache *gh_tls_cache;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
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

	gh_mutex_lock(&registry_lock);
	c = gh_fixalloc_alloc(&cachealloc);
	if (c) {
		c->next = registry;
		c->prev = NULL;
		if (registry)
			registry->prev = c;
		registry = c;
	}
	pthread_mutex_unlock(&registry_lock);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++)
		c->list[sc].max = 2 * gh_class_batch(GH_SPANCLASS_CLASS(sc));
	c->epoch = __atomic_load_n(&gh_gc.epoch, __ATOMIC_ACQUIRE);
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

gh_link *gh_mcache_refill(gh_mcache *c, uint32_t spanclass)
{
	gh_cachelist *l = &c->list[spanclass];
	uint32_t cls = GH_SPANCLASS_CLASS(spanclass);
	gh_link *head;
	gh_sweep_some(4);
	uint32_t n = gh_mcentral_grab(&gh_heap.central[spanclass], gh_class_batch(cls), &head);
	if (!n)
		return NULL;
	gh_gc_note_alloc((int64_t)n * gh_class_size[cls]);
	l->head = head;
	l->n = n;
	return head;
}

/* Detach the first n blocks of list l. */
static gh_link *take(gh_cachelist *l, uint32_t n)
{
	gh_link *head = l->head, *o = head;
	for (uint32_t i = 1; i < n; i++)
		o = gh_link_read(o).next;
	l->head = gh_link_read(o).next;
	l->n -= n;
	return head;
}

static void give_back(gh_cachelist *l, uint32_t spanclass, uint32_t n)
{
	if (!n)
		return;
	gh_link *head = take(l, n);
	gh_gc_note_alloc(-(int64_t)n * gh_class_size[GH_SPANCLASS_CLASS(spanclass)]);
	gh_mcentral_return(&gh_heap.central[spanclass], head, n);
}

void gh_mcache_trim(gh_mcache *c, uint32_t spanclass)
{
	give_back(&c->list[spanclass], spanclass, gh_class_batch(GH_SPANCLASS_CLASS(spanclass)));
}

void gh_mcache_flush(gh_mcache *c)
{
	c->epoch = __atomic_load_n(&gh_gc.epoch, __ATOMIC_ACQUIRE);
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++)
		give_back(&c->list[sc], sc, c->list[sc].n);
	/* The rest of the tiny block stays allocated; the collector frees
	 * it once nothing points into it. */
	c->tiny = 0;
	c->tinyoff = 0;
}

/* Fold c's counters into the heap's and drop it; registry lock held. */
static void retire_locked(gh_mcache *c)
{
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
	gh_mutex_lock(&registry_lock);
	retire_locked(c);
	pthread_mutex_unlock(&registry_lock);
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
	gh_mutex_lock(&registry_lock);
}

void gh_mcache_registry_unlock(void)
{
	pthread_mutex_unlock(&registry_lock);
}

void gh_mcache_after_fork(void)
{
	/* The child has one thread: no other can touch the registry. */
	gh_mcache *c = registry;
	while (c) {
		gh_mcache *next = c->next;
		if (c != gh_tls_cache) {
			gh_mcache_flush(c);
			gh_mutex_lock(&registry_lock);
			retire_locked(c);
			pthread_mutex_unlock(&registry_lock);
		}
		c = next;
	}
}

void gh_mcache_sum(gh_cachesums *sums)
{
	gh_mutex_lock(&registry_lock);
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
	pthread_mutex_unlock(&registry_lock);
}
