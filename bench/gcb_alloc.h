/*
 * gcb_alloc.h - the allocator of a collector benchmark, chosen at compile
 * time, for gcbench.c, binarytrees.c, allocrate.c and pause.c.
 *
 *   -DBV_GOHEAP        goheap_malloc nodes (conservatively scanned), no frees
 *   -DBV_GOHEAP_TYPED  goheap_malloc_typed nodes (only the pointer words of
 *                      a node are scanned), no frees
 *   -DBV_BOEHM         GC_MALLOC of the Boehm-Demers-Weiser collector
 *                      (libgc, built with GC_THREADS), no frees
 *   -DBV_JEMALLOC      malloc/free of libjemalloc (replaces malloc)
 *   -DBV_MIMALLOC      mi_malloc/mi_free
 *   (none)             glibc malloc/free
 *
 * A program that includes this defines BV_NODE_SIZE (bytes of its node)
 * and BV_NODE_NPTRS (how many pointer words the node starts with) first;
 * the typed variant describes nodes with them.
 *
 *   bv_init()            once, first thing in main
 *   bv_node()            a node; every field is set by the caller
 *   bv_alloc(n)          a block that may hold pointers (scanned)
 *   bv_alloc_atomic(n)   a block that holds no pointers
 *   bv_free(p)           free(p) for the malloc family, nothing for the
 *                        collectors; BV_FREES says whether it does anything,
 *                        so that programs skip walking garbage to free it
 *   bv_thread_create()   a thread that the collector knows about
 *   bv_gc_stats()        collections and their pause time so far
 *   bv_collect_and_release()  full collection, then return free memory to
 *                        the OS where the allocator can (pause.c)
 *
 * Allocation failure prints one line and exits: no benchmark goes on with
 * a NULL node.
 */
#ifndef GCB_ALLOC_H
#define GCB_ALLOC_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BV_NODE_SIZE
#error "define BV_NODE_SIZE and BV_NODE_NPTRS before including gcb_alloc.h"
#endif

#define BV_UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline void bv_oom(size_t n)
{
	fprintf(stderr, "benchmark: out of memory allocating %zu bytes\n", n);
	exit(2);
}

#if defined(BV_GOHEAP) || defined(BV_GOHEAP_TYPED)
#include <goheap.h>
#define BV_FREES 0
#define BV_IS_GOHEAP 1
#ifdef BV_GOHEAP_TYPED
#define BV_NAME "goheap-typed"
static goheap_type *bv_node_type;
#else
#define BV_NAME "goheap"
#endif

static inline void bv_init(void)
{
#ifdef BV_GOHEAP_TYPED
	size_t offs[BV_NODE_NPTRS];
	for (size_t i = 0; i < BV_NODE_NPTRS; i++)
		offs[i] = i * sizeof(void *);
	bv_node_type = goheap_type_new(BV_NODE_SIZE, offs, BV_NODE_NPTRS);
	if (!bv_node_type) {
		perror("goheap_type_new");
		exit(2);
	}
#endif
}

static inline void *bv_node(void)
{
#ifdef BV_GOHEAP_TYPED
	void *p = goheap_malloc_typed(BV_NODE_SIZE, bv_node_type);
#else
	void *p = goheap_malloc(BV_NODE_SIZE);
#endif
	if (BV_UNLIKELY(!p))
		bv_oom(BV_NODE_SIZE);
	return p;
}

static inline void *bv_alloc(size_t n)
{
	void *p = goheap_malloc(n);
	if (BV_UNLIKELY(!p))
		bv_oom(n);
	return p;
}

static inline void *bv_alloc_atomic(size_t n)
{
	void *p = goheap_malloc_atomic(n);
	if (BV_UNLIKELY(!p))
		bv_oom(n);
	return p;
}

static inline void bv_free(void *p) { (void)p; }

static inline int bv_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return goheap_pthread_create(t, NULL, fn, arg);
}

/* Collections so far, their total pause and the longest of the last 256. */
static inline void bv_gc_stats(uint64_t *numgc, double *pause_total_ms, double *pause_max_ms)
{
	static goheap_memstats ms; /* big: not on the stack */
	goheap_read_memstats(&ms);
	uint64_t mx = 0;
	unsigned n = ms.numgc < 256 ? ms.numgc : 256;
	for (unsigned i = 0; i < n; i++)
		if (ms.pause_ns[i] > mx)
			mx = ms.pause_ns[i];
	*numgc = ms.numgc;
	*pause_total_ms = (double)ms.pause_total_ns / 1e6;
	*pause_max_ms = (double)mx / 1e6;
}

static inline void bv_collect_and_release(void)
{
	goheap_gc();
	goheap_free_os_memory();
}

/* Bytes in allocated blocks, as the allocator counts them. */
static inline uint64_t bv_heap_live(void)
{
	static goheap_memstats ms;
	goheap_read_memstats(&ms);
	return ms.heap_alloc;
}

#elif defined(BV_BOEHM)
#define GC_THREADS 1
#include <gc/gc.h>
#define BV_NAME "boehm"
#define BV_FREES 0

static inline void bv_init(void)
{
	GC_INIT();
	GC_allow_register_threads();
	GC_start_performance_measurement();
}

static inline void *bv_node(void)
{
	void *p = GC_MALLOC(BV_NODE_SIZE);
	if (BV_UNLIKELY(!p))
		bv_oom(BV_NODE_SIZE);
	return p;
}

static inline void *bv_alloc(size_t n)
{
	void *p = GC_MALLOC(n);
	if (BV_UNLIKELY(!p))
		bv_oom(n);
	return p;
}

static inline void *bv_alloc_atomic(size_t n)
{
	void *p = GC_MALLOC_ATOMIC(n);
	if (BV_UNLIKELY(!p))
		bv_oom(n);
	return p;
}

static inline void bv_free(void *p) { (void)p; }

static inline int bv_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return GC_pthread_create(t, NULL, fn, arg);
}

/* libgc keeps the total only (GC_get_full_gc_total_time, in ms), and the
 * longest collection (GC_get_full_gc_total_time's companion is not public
 * in 8.2), so the maximum is reported as -1: unknown. */
static inline void bv_gc_stats(uint64_t *numgc, double *pause_total_ms, double *pause_max_ms)
{
	*numgc = GC_get_gc_no();
	*pause_total_ms = (double)GC_get_full_gc_total_time();
	*pause_max_ms = -1;
}

static inline void bv_collect_and_release(void)
{
	GC_gcollect();
	GC_gcollect_and_unmap();
}

static inline uint64_t bv_heap_live(void)
{
	/* Heap bytes less free bytes: what the last collection found live
	 * plus what was allocated since. */
	return (uint64_t)(GC_get_heap_size() - GC_get_free_bytes());
}

#else /* the malloc family */
#define BV_FREES 1
#if defined(BV_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define BV_NAME "jemalloc"
#define bv_raw_malloc malloc
#define bv_raw_free free
#elif defined(BV_MIMALLOC)
#include <mimalloc.h>
#define BV_NAME "mimalloc"
#define bv_raw_malloc mi_malloc
#define bv_raw_free mi_free
#else
#include <malloc.h>
#define BV_NAME "glibc"
#define bv_raw_malloc malloc
#define bv_raw_free free
#endif

static inline void bv_init(void) {}

static inline void *bv_node(void)
{
	void *p = bv_raw_malloc(BV_NODE_SIZE);
	if (BV_UNLIKELY(!p))
		bv_oom(BV_NODE_SIZE);
	return p;
}

static inline void *bv_alloc(size_t n)
{
	void *p = bv_raw_malloc(n);
	if (BV_UNLIKELY(!p))
		bv_oom(n);
	return p;
}

#define bv_alloc_atomic bv_alloc

static inline void bv_free(void *p) { bv_raw_free(p); }

static inline int bv_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return pthread_create(t, NULL, fn, arg);
}

static inline void bv_gc_stats(uint64_t *numgc, double *pause_total_ms, double *pause_max_ms)
{
	*numgc = 0;
	*pause_total_ms = 0;
	*pause_max_ms = 0;
}

static inline void bv_collect_and_release(void)
{
#if defined(BV_MIMALLOC)
	mi_collect(true);
#elif !defined(BV_JEMALLOC)
	malloc_trim(0);
#endif
}

static inline uint64_t bv_heap_live(void) { return 0; }
#endif

static inline double bv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The end of every benchmark's output: one line the runner parses. */
static inline void bv_report_gc(FILE *f)
{
	uint64_t n;
	double tot, mx;
	bv_gc_stats(&n, &tot, &mx);
	fprintf(f, "GC numgc=%llu pause_total_ms=%.3f pause_max_ms=%.3f\n",
		(unsigned long long)n, tot, mx);
}

/* Keep the compiler from dropping or merging what p points to. */
#define BV_ESCAPE(p) __asm__ __volatile__("" : : "r"(p) : "memory")

#endif /* GCB_ALLOC_H */
