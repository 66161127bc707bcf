/*
 * mstats.c - goheap_read_memstats: the heap's figures, named as in Go's
 * MemStats.
 *
 * Small-block counts live in the thread caches (written by their owners
 * without atomics) and, for threads that have exited, in the heap; they are
 * summed under the cache registry lock, so a reader sees every block counted
 * exactly once.  Large-block counts change under the heap lock.
 */
#include "config.h"

#include <string.h>

#include "gc.h"
#include "gh.h"

void goheap_read_memstats(goheap_memstats *m)
{
	gh_init();
	gh_cachesums sums;
	gh_mcache_sum(&sums);

	memset(m, 0, sizeof *m);
	m->size = sizeof *m;
	m->version = GOHEAP_MEMSTATS_VERSION;

	gh_lock(&gh_heap.lock);
	const gh_heapstats *h = &gh_heap.stats;
	uint64_t large_nmalloc = h->large_nmalloc, large_nfree = h->large_nfree;
	uint64_t large_alloc = h->large_alloc_bytes, large_free = h->large_free_bytes;
	m->heap_sys = h->heap_sys;
	m->heap_inuse = h->heap_inuse;
	m->heap_released = h->heap_released;
	m->mspan_inuse = h->mspan_inuse;
	m->mspan_sys = h->mspan_sys;
	gh_unlock(&gh_heap.lock);
	m->mcache_inuse = gh_stat_get(&h->mcache_inuse);
	m->mcache_sys = gh_stat_get(&h->mcache_sys);
	m->gc_sys = gh_stat_get(&h->gc_sys);
	m->other_sys = gh_stat_get(&h->other_sys);

	uint64_t nmalloc = large_nmalloc, nfree = large_nfree;
	uint64_t alloc = large_alloc - large_free, total = large_alloc;
	m->by_size[0].nmalloc = large_nmalloc;
	m->by_size[0].nfree = large_nfree;
	for (uint32_t c = 1; c < GH_NUM_CLASSES; c++) {
		m->by_size[c].size = gh_class_size[c];
		m->by_size[c].nmalloc = sums.nmalloc[c];
		m->by_size[c].nfree = sums.nfree[c];
		nmalloc += sums.nmalloc[c];
		nfree += sums.nfree[c];
		alloc += (sums.nmalloc[c] - sums.nfree[c]) * gh_class_size[c];
		total += sums.nmalloc[c] * gh_class_size[c];
	}
	m->alloc = m->heap_alloc = alloc;
	m->total_alloc = total;
	m->heap_objects = nmalloc - nfree;
	/* Tiny allocations count as allocated and freed at once, as in Go,
	 * so that nmalloc - nfree stays the number of blocks. */
	m->nmalloc = nmalloc + sums.tinyallocs;
	m->nfree = nfree + sums.tinyallocs;
	m->nlookup = sums.nlookup;
	m->heap_idle = m->heap_sys - m->heap_inuse;
	m->sys = m->heap_sys + m->mspan_sys + m->mcache_sys + m->gc_sys + m->other_sys;
	gh_gc_read_stats(m);
}
