/*
 * gh.h - libgoheap's private types.  See malloc.c for the overview of the
 * allocator; this header is the map of its data structures.
 *
 * Glossary
 *
 *   page        8 KiB, the heap's unit of address space (GH_PAGE_SIZE).
 *   arena       64 MiB of address space, aligned to its size, with its own
 *               page-to-span table.  Arenas are found through an index of
 *               the whole address space, so the heap has no fixed ceiling.
 *   span        a run of pages (gh_span): free in the page heap, or in use
 *               for one large object or for small objects of one span class.
 *   size class  one of GH_NUM_CLASSES - 1 block sizes of 16 .. 32768 bytes
 *               (sizeclasses.h); class 0 means a large object.
 *   kind        how the collector treats a block: conservatively scanned,
 *               never scanned (atomic), precisely typed, or tiny.
 *   span class  size class and kind together: every small span holds blocks
 *               of one span class only.
 *   free link   the first two words of a free small block: the next free
 *               block, and the free tag (the block's address mixed with a
 *               per-process secret) that tells free blocks from live ones.
 *   mcache      a thread's cache of free blocks, per span class (mcache.c).
 *   mcentral    the shared free blocks of one span class (mcentral.c).
 *   mheap       the page heap: spans, arenas, growth, release (mheap.c).
 *   fixalloc    free-list allocator for fixed-size metadata (mfixalloc.c).
 *   special     a record attached to one block of a span, in the span's
 *               list of specials: a finalizer (mfinal.c), a weak link to or
 *               in the block (mweak.c), a heap profile sample (mprof.c);
 *               see mspecial.c.
 *   weak link   a word the collector sets to NULL when the block it is
 *               registered for dies, without keeping the block alive.
 *
 * Locks: every lock is a gh_mutex with a rank; lockrank.h lists them all,
 * in the order they may be taken, and says why.
 */
#ifndef GH_H
#define GH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef GH_TSAN
#include <time.h>
#endif

#include "goheap.h"
#include "lockrank.h"
#include "sizeclasses.h"

#define GH_LIKELY(x) __builtin_expect(!!(x), 1)
#define GH_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define GH_INTERNAL __attribute__((visibility("hidden")))
#define GH_NORETURN __attribute__((noreturn))
#define GH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- Locks (lockrank.h has the table and the order) ------------------- */

/* A lock of the library.  In an --enable-debug build it carries its rank
 * (enum gh_lockrank) and its index among the locks of that rank (the
 * mcentral's span class; 0 for the others), checked at every acquire; in
 * a release build it is just the pthread mutex, and gh_lock and gh_unlock
 * cost what pthread_mutex_lock and pthread_mutex_unlock cost. */
typedef struct gh_mutex {
	pthread_mutex_t m;
#ifdef GH_DEBUG
	uint16_t rank, index;
#endif
} gh_mutex;

#ifdef GH_DEBUG
#define GH_MUTEX_INITIALIZER(rank) {PTHREAD_MUTEX_INITIALIZER, (rank), 0}
/* The checks of lockrank.c, each aborting with one "goheap: lock order:"
 * line: m may be taken (no lock of its rank and index or after is held);
 * note m as held; m is held, and is no longer; m is held, in the
 * function fn. */
GH_INTERNAL void gh_lockrank_acquire(const gh_mutex *m);
GH_INTERNAL void gh_lockrank_push(const gh_mutex *m);
GH_INTERNAL void gh_lockrank_release(const gh_mutex *m);
GH_INTERNAL void gh_lockrank_assert_held(const gh_mutex *m, const char *fn);
#else
#define GH_MUTEX_INITIALIZER(rank) {PTHREAD_MUTEX_INITIALIZER}
static inline void gh_lockrank_acquire(const gh_mutex *m)
{
	(void)m;
}

static inline void gh_lockrank_push(const gh_mutex *m)
{
	(void)m;
}

static inline void gh_lockrank_release(const gh_mutex *m)
{
	(void)m;
}

static inline void gh_lockrank_assert_held(const gh_mutex *m, const char *fn)
{
	(void)m;
	(void)fn;
}
#endif

/* The caller holds m: the first line of every "_locked" function. */
#define gh_assert_held(m) gh_lockrank_assert_held((m), __func__)

/* Initialise m (or again, in the child of fork) with its rank and its
 * index among the locks of that rank. */
static inline void gh_mutex_init(gh_mutex *m, enum gh_lockrank rank, uint32_t index)
{
	pthread_mutex_init(&m->m, NULL);
#ifdef GH_DEBUG
	m->rank = (uint16_t)rank;
	m->index = (uint16_t)index;
#else
	(void)rank;
	(void)index;
#endif
}

static inline void gh_mutex_destroy(gh_mutex *m)
{
	pthread_mutex_destroy(&m->m);
}

/* Take m.  A thread waiting for a lock must still take the stop signal:
 * the holder may be stopped, or be the collector.  It does in
 * pthread_mutex_lock, but not under ThreadSanitizer, which holds a signal
 * back until the thread leaves the call (and stops a thread as it leaves
 * pthread_mutex_lock, holding the lock): there it waits in nanosleep,
 * where TSan delivers signals. */
static inline void gh_lock(gh_mutex *m)
{
	gh_lockrank_acquire(m);
#ifdef GH_TSAN
	while (pthread_mutex_trylock(&m->m) != 0) {
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
#else
	pthread_mutex_lock(&m->m);
#endif
	gh_lockrank_push(m);
}

/* Take m if it is free; true if taken.  It cannot wait, so it cannot
 * deadlock: not checked against the order, but held from then on. */
static inline bool gh_trylock(gh_mutex *m)
{
	if (pthread_mutex_trylock(&m->m) != 0)
		return false;
	gh_lockrank_push(m);
	return true;
}

static inline void gh_unlock(gh_mutex *m)
{
	gh_lockrank_release(m);
	pthread_mutex_unlock(&m->m);
}

/* pthread_cond_wait on m, which the caller holds: m is dropped while the
 * thread waits, and taken again (in order) before it returns. */
static inline void gh_cond_wait(pthread_cond_t *c, gh_mutex *m)
{
	gh_lockrank_release(m);
	pthread_cond_wait(c, &m->m);
	gh_lockrank_acquire(m);
	gh_lockrank_push(m);
}

enum {
	GH_PAGE_SHIFT = 13,
	GH_PAGE_SIZE = 1 << GH_PAGE_SHIFT,
	GH_ARENA_SHIFT = 26,
	GH_ARENA_SIZE = 1 << GH_ARENA_SHIFT,
	GH_ARENA_PAGES = GH_ARENA_SIZE / GH_PAGE_SIZE,
	/* The arena index covers a 48-bit address space. */
	GH_ADDR_BITS = 48,
	/* Heap growth: at least 1 MiB, in 64 KiB multiples (seed figures). */
	GH_GROW_MIN = 1 << 20,
	GH_GROW_ALIGN = 64 << 10,
	/* Free spans shorter than this many pages have exact-size lists. */
	GH_HEAP_LISTS = 128,
	/* Requests below this many bytes that hold no pointers share 16-byte
	 * tiny blocks. */
	GH_TINY_SIZE = 16,
	GH_MAX_OBJS_PER_SPAN = GH_PAGE_SIZE / 16,
};

enum gh_kind {
	GH_KIND_SCAN = 0,   /* goheap_malloc: scanned conservatively */
	GH_KIND_NOSCAN = 1, /* goheap_malloc_atomic: never scanned */
	GH_KIND_TYPED = 2,  /* goheap_malloc_typed: scanned precisely */
	GH_KIND_TINY = 3,   /* tiny blocks: never scanned, never freed by hand */
	GH_NKINDS = 4,
};
#define GH_SPANCLASS(cls, kind) ((uint32_t)(cls) << 2 | (uint32_t)(kind))
#define GH_SPANCLASS_CLASS(sc) ((sc) >> 2)
#define GH_SPANCLASS_KIND(sc) ((sc) & 3)
#define GH_NUM_SPANCLASSES (GH_NUM_CLASSES * GH_NKINDS)

/* ---- Errors (error.c) ---------------------------------------------------- */

/* Print one "goheap: ..." line on stderr and abort.  For broken invariants
 * and for misuse the host cannot recover from (a bad free). */
GH_INTERNAL GH_NORETURN GH_PRINTF(1, 2) void gh_throw(const char *fmt, ...);
/* Print one "goheap: ..." line on stderr without stdio's locks or
 * allocation, so safe while other threads are stopped (they may hold the
 * stdio or malloc locks). */
GH_INTERNAL GH_PRINTF(1, 2) void gh_warn(const char *fmt, ...);

#ifdef GH_DEBUG
#define GH_ASSERT(cond) \
	((cond) ? (void)0 : gh_throw("%s:%d: invariant broken: %s", __FILE__, __LINE__, #cond))
#else
#define GH_ASSERT(cond) ((void)0)
#endif

/* ---- Statistics ---------------------------------------------------------- */

/* Add to a shared counter.  Counters of the OS layer and the heap are
 * changed under the heap lock, but read without it by goheap_read_memstats. */
static inline void gh_stat_add(uint64_t *stat, int64_t n)
{
	__atomic_fetch_add(stat, (uint64_t)n, __ATOMIC_RELAXED);
}

static inline uint64_t gh_stat_get(const uint64_t *stat)
{
	return __atomic_load_n(stat, __ATOMIC_RELAXED);
}

/* Add to a counter that only its owner thread writes but others read. */
static inline void gh_local_add(uint64_t *stat, uint64_t n)
{
	__atomic_store_n(stat, __atomic_load_n(stat, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/* ---- Size classes (msize.c) ---------------------------------------------- */

/* The size class for a small size (<= GH_MAX_SMALL): two table loads. */
static inline uint32_t gh_size_class(size_t size)
{
	if (size <= GH_SMALL_STEP_LIMIT)
		return gh_size_to_class16[(size + 15) >> 4];
	return gh_size_to_class128[(size - GH_SMALL_STEP_LIMIT + 127) >> 7];
}

/* Blocks a thread cache moves to or from its mcentral at once. */
GH_INTERNAL uint32_t gh_class_batch(uint32_t cls);

/* ---- Fixed-size metadata (mfixalloc.c) ----------------------------------- */

typedef struct gh_fixalloc {
	size_t size;     /* bytes per object */
	void *list;      /* freed objects */
	void *chunks;    /* all chunks, linked through their first word */
	uint8_t *chunk;  /* unused tail of the current chunk */
	size_t nchunk;   /* bytes left in it */
	uint64_t *inuse; /* statistics: bytes handed out */
	uint64_t *sys;   /* statistics: bytes obtained from the OS */
	size_t nreleased; /* chunks with released pages */
} gh_fixalloc;

/* Metadata that lives as long as the process (types, profile buckets):
 * carved in order from 64 KiB chunks (or one of the size asked, if
 * larger) of OS memory, counted in other_sys.  The caller serialises. */
typedef struct gh_bumpalloc {
	uint8_t *next;
	size_t left;
} gh_bumpalloc;

/* n bytes, 16-aligned and zeroed, or NULL if the OS refuses memory. */
GH_INTERNAL void *gh_bumpalloc_alloc(gh_bumpalloc *b, size_t n);

GH_INTERNAL void gh_fixalloc_init(gh_fixalloc *f, size_t size, uint64_t *inuse,
				  uint64_t *sys);
GH_INTERNAL void *gh_fixalloc_alloc(gh_fixalloc *f);
GH_INTERNAL void gh_fixalloc_free(gh_fixalloc *f, void *p);
/* Return to the OS the pages of f whose slots are all free (is_free says
 * which are, for every slot carved, free or not); the slots come back
 * into use as needed.  Returns the bytes released. */
GH_INTERNAL size_t gh_fixalloc_release(gh_fixalloc *f, bool (*is_free)(const void *obj));
/* Call fn on every object slot ever carved from f, live or free.  Safe
 * against concurrent allocation: slots only ever get added. */
GH_INTERNAL void gh_fixalloc_foreach(gh_fixalloc *f, void (*fn)(void *obj));
/* A cursor over the same slots: *chunk NULL starts it; NULL at the end.
 * Slots of chunks added after the start are not visited. */
GH_INTERNAL void *gh_fixalloc_next(gh_fixalloc *f, void **chunk, size_t *off);

/* ---- Spans --------------------------------------------------------------- */

/* An explicitly freed small block waiting on a free list (a thread's, or
 * its span's): the first word links the list, the second is the free tag,
 * which equals gh_free_tag(block) exactly while the block is on a list (or
 * was dropped from one, see mgcsweep.c).  See malloc.c. */
typedef struct gh_link {
	struct gh_link *next;
	uintptr_t tag;
} gh_link;

/* Where a small span is (inlist), each change made under its mcentral's
 * lock: on one of its mcentral's lists, cached by one thread (its owner
 * allocates from its bits), or on none (being swept, on its way to or
 * from the page heap, or left by a collection that took it from its
 * cache: see mcache.c). */
enum { GH_LIST_NONE = 0, GH_LIST_PARTIAL = 1, GH_LIST_FULL = 2, GH_LIST_CACHED = 3 };
#define GH_SWEEPGEN_FRESH 1u
#define GH_MARKFROM_NONE 0xffffu
/* Words of a span's allocation and mark bitmaps. */
#define GH_BITWORDS (GH_MAX_OBJS_PER_SPAN / 64)

enum gh_span_state {
	GH_SPAN_DEAD = 0,  /* descriptor on the fixalloc free list */
	GH_SPAN_FREE = 1,  /* pages free in the page heap */
	GH_SPAN_INUSE = 2, /* pages hold a large object or small blocks */
	/* Given back while marking ran with the world running: free to
	 * every lookup, whole for the markers until marking ends
	 * (gh_span_release). */
	GH_SPAN_GIVENBACK = 3,
};

typedef struct gh_span gh_span;
typedef struct gh_special gh_special; /* gc.h */
struct gh_span {
	/* The first 64 bytes are what allocation, goheap_free and the
	 * marker read. */
	uintptr_t start;   /* first byte */
	uintptr_t limit;   /* end of the last block (in use) or of the pages */
	size_t elemsize;   /* block size; for a large object, the span size */
	/* Small spans: the allocation state (malloc.c has the protocol).
	 * A block is allocated (handed out, or on a free list) iff its index
	 * is below freeindex or its bit in allocbits is set; allocbits is
	 * fixed between two sweeps, freeindex only grows.  alloccache is the
	 * complement of allocbits from bit freeindex on, shifted down so
	 * that bit 0 stands for block freeindex; only the span's owner reads
	 * it, and only while the span is cached. */
	uint64_t alloccache;
	uint32_t divmagic; /* offset * divmagic >> 32 == offset / elemsize */
	/* The sweep state (mgcsweep.c):
	 *   sweepgen == heap sweepgen      swept (or new) in this cycle;
	 *   sweepgen == heap sweepgen - 1  being swept, by the thread that
	 *                                  claimed it;
	 *   sweepgen == heap sweepgen - 2  still to sweep;
	 *   sweepgen == GH_SWEEPGEN_FRESH  just allocated, not yet handed out:
	 *                                  never swept (see gh_span_publish). */
	uint32_t sweepgen;
	uint16_t nelems;
	uint16_t freeindex;
	uint16_t spanclass; /* 0 .. 3 for a large object (class 0) */
	uint8_t state;      /* enum gh_span_state; changed under the heap lock */
	uint8_t needzero;   /* the pages may hold non-zero bytes */
	uint32_t nspecials; /* records on the specials list (mspecial.c) */
	uint8_t inlist;     /* GH_LIST_*, under the mcentral lock */
	uint8_t overflow;   /* marking could not queue a block of it (mgcmark.c) */
	/* Blocks given back by threads (mcentral.c), each with its free tag:
	 * still allocated in the bits, handed out again before the bits'
	 * free blocks.  Under the mcentral lock. */
	uint16_t nfreelist;
	/* Cached while the collector marks (mgcmark.c): the free index when
	 * the span was cached.  Its blocks from there to freeindex that were
	 * free are new in this cycle, and as good as marked ("allocated
	 * black").  GH_MARKFROM_NONE otherwise. */
	uint16_t markfrom;
	gh_link *freelist;
	/* Typed spans: the block's goheap_type, one pointer (large) or an
	 * array of nelems pointers (small). */
	void *types;

	size_t npages;
	gh_span *next, *prev; /* list of the heap or of an mcentral */

	/* Free spans. */
	size_t npreleased;    /* pages returned to the OS */
	uint64_t unusedsince; /* when the span became free, ns (monotonic) */

	/* Of nspecials, those that are heap profile samples (mprof.c):
	 * raised after nspecials and lowered before it, so that nspecials ==
	 * nprofiled, read without the lock, means samples only. */
	uint32_t nprofiled;
	/* Its specials, sorted by block index, then kind; changed under the
	 * specials lock (mspecial.c). */
	gh_special *specials;

	/* Small spans: one bit per block, as of the last sweep (see above). */
	uint64_t allocbits[GH_BITWORDS];
	/* The collector's mark bits, one per block; the sweep makes them the
	 * allocation bits. */
	uint64_t markbits[GH_BITWORDS];
};

/* Whether block idx of the small span s is allocated: handed out, or on a
 * free list with its free tag.  Exact for the owner of a cached span and
 * for a thread that has the block from it (the owner's stores come before
 * the handing over); otherwise it may lag behind allocations. */
static inline bool gh_span_allocated(const gh_span *s, uint32_t idx)
{
	return idx < __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED) ||
	       ((__atomic_load_n(&s->allocbits[idx >> 6], __ATOMIC_RELAXED) >> (idx & 63)) & 1);
}

/* Circular span lists with a gh_span as the head (page heap, mcentrals). */
static inline void gh_spanlist_init(gh_span *head)
{
	head->next = head->prev = head;
}

static inline bool gh_spanlist_empty(const gh_span *head)
{
	return head->next == head;
}

static inline void gh_spanlist_remove(gh_span *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static inline void gh_spanlist_insert(gh_span *head, gh_span *s)
{
	s->next = head->next;
	s->prev = head;
	head->next->prev = s;
	head->next = s;
}

static inline void gh_spanlist_insert_tail(gh_span *head, gh_span *s)
{
	gh_spanlist_insert(head->prev, s);
}

/* ---- Arenas and the page map (mheap.c) ----------------------------------- */

typedef struct gh_arena {
	/* For each page: the span holding it.  In-use spans are entered for
	 * every page, free spans for their first and last page; other entries
	 * may be stale, so a lookup checks the span's state and bounds. */
	gh_span *spans[GH_ARENA_PAGES];
} gh_arena;

/* The arena of every 64 MiB of address space: 2^22 entries, 32 MiB of
 * .bss of which only the pages for arenas in use are ever touched (Go uses
 * the same one-level index on amd64).  A static array, so that finding an
 * arena is one load that depends on p: a two-level index, or a pointer to
 * a mapped table, costs another dependent load, which measured 0.5 ns (7 %)
 * of an allocation+free pair. */
GH_INTERNAL extern gh_arena *gh_arena_index[1 << (GH_ADDR_BITS - GH_ARENA_SHIFT)];

static inline gh_arena *gh_arena_of(uintptr_t p)
{
	if (GH_UNLIKELY(p >> GH_ADDR_BITS))
		return NULL;
	return __atomic_load_n(&gh_arena_index[p >> GH_ARENA_SHIFT], __ATOMIC_ACQUIRE);
}

/* The span entered for the page of p: may be stale or free.  Three
 * dependent loads, no locks. */
static inline gh_span *gh_span_at(uintptr_t p)
{
	gh_arena *a = gh_arena_of(p);
	if (!a)
		return NULL;
	return __atomic_load_n(&a->spans[(p >> GH_PAGE_SHIFT) & (GH_ARENA_PAGES - 1)],
			       __ATOMIC_RELAXED);
}

/* The in-use span whose blocks cover p, or NULL. */
static inline gh_span *gh_span_of(uintptr_t p)
{
	gh_span *s = gh_span_at(p);
	/* Acquire: the span's fields are set before it is put in use. */
	if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE ||
	    p < s->start || p >= s->limit)
		return NULL;
	return s;
}

/* Index of the block of s that holds p (p inside s). */
static inline uint32_t gh_span_index(const gh_span *s, uintptr_t p)
{
	return (uint32_t)(((uint64_t)(p - s->start) * s->divmagic) >> 32);
}

/* ---- Central lists (mcentral.c) ------------------------------------------ */

typedef struct gh_mcache gh_mcache;
typedef struct gh_cachelist gh_cachelist;

/* An mcentral's spans, in four lists: with and without free blocks, each
 * twice, for the spans swept in this cycle and those still to sweep.
 * Which of the two is which turns at every collection (the sweepgen's
 * parity, gh_sweep_half), so that a collection makes every swept span
 * "to sweep" without touching a list. */
typedef struct gh_mcentral {
	gh_mutex lock;
	uint32_t spanclass;
	gh_span partial[2]; /* list heads: spans with free blocks */
	gh_span full[2];    /* list heads: spans with none */
} gh_mcentral;

/* The index of the lists of spans whose sweepgen is sg. */
static inline uint32_t gh_sweep_half(uint32_t sg)
{
	return (sg >> 1) & 1;
}

GH_INTERNAL void gh_mcentral_init(gh_mcentral *c, uint32_t spanclass);
/* Give the calling thread's cache c a span of c's class with free blocks
 * in place of the one it has (mcache.c), sweeping spans or growing the
 * heap as needed; false with errno ENOMEM if the heap is out of memory. */
GH_INTERNAL bool gh_mcentral_cache_span(gh_mcentral *mc, gh_mcache *c);
/* Take the span cached in c for mc's class back, if any. */
GH_INTERNAL void gh_mcentral_uncache_span(gh_mcentral *mc, gh_mcache *c);
/* Give the first n blocks of list l (their free links written) back to
 * their spans.  c is the calling thread's cache l belongs to, or NULL if l
 * is a list of the caller's own on its stack. */
GH_INTERNAL void gh_mcentral_return(gh_mcentral *mc, gh_mcache *c, gh_cachelist *l, uint32_t n);
/* Sweeping a small span (mgcsweep.c): claim s for sweeping if it is still
 * to sweep in cycle sg, taking it off its list and its free list (into
 * *freelist, *nfreelist).  Caller holds c->lock. */
GH_INTERNAL bool gh_mcentral_claim_locked(gh_mcentral *c, gh_span *s, uint32_t sg,
					  gh_link **freelist, uint32_t *nfreelist);
/* Put a span just swept (claimed, nlive blocks marked live) back: on the
 * list its free blocks call for, or to the page heap if it has no live
 * block.  Takes c->lock. */
GH_INTERNAL void gh_mcentral_swept(gh_mcentral *c, gh_span *s);
/* Free blocks of a small span: those of its bits from freeindex on, and
 * those on its free list.  Caller holds its mcentral's lock, or owns it. */
GH_INTERNAL uint32_t gh_span_nfree(const gh_span *s);

/* ---- The page heap (mheap.c) --------------------------------------------- */

/* Statistics the heap keeps; summed into goheap_memstats by mstats.c. */
typedef struct gh_heapstats {
	uint64_t heap_sys;      /* arena bytes mapped */
	uint64_t heap_inuse;    /* bytes in in-use spans */
	uint64_t heap_released; /* bytes of free spans returned to the OS */
	uint64_t mspan_inuse, mspan_sys;
	uint64_t mcache_inuse, mcache_sys;
	uint64_t gc_sys;
	uint64_t other_sys;
	uint64_t nlookup;
	/* Large objects, changed under the heap lock. */
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_alloc_bytes, large_free_bytes;
	/* Small blocks counted by thread caches that have since gone. */
	uint64_t small_nmalloc[GH_NUM_CLASSES], small_nfree[GH_NUM_CLASSES];
	uint64_t tinyallocs;
} gh_heapstats;

typedef struct gh_mheap {
	gh_mutex lock;
	gh_span free[GH_HEAP_LISTS]; /* list heads: free spans of i pages */
	gh_span freelarge;           /* list head: free spans of more */
	uintptr_t arena_next;        /* next unmapped byte of the reservation */
	uintptr_t arena_end;         /* end of the current reservation */
	uintptr_t arena_lo, arena_hi; /* bounds of all mapped heap memory */
	gh_fixalloc spanalloc;
	uint32_t sweepgen; /* even, from 4 up; += 2 per collection */  /* counts frees between release checks */
	uint64_t scavenge_delay; /* ns a free span stays before release */
	/* Heap bytes that may stay retained (heap_sys - heap_released)
	 * under the memory limit; heap operations release free spans above
	 * it (set by mgc.c; UINT64_MAX without a limit). */
	uint64_t retain_cap;
	/* Spans given back while marking ran (GH_SPAN_GIVENBACK), linked by
	 * next, freed when it ends (gh_mheap_free_givenback). */
	gh_span *givenback;
	gh_heapstats stats;
	gh_mcentral central[GH_NUM_SPANCLASSES];
} gh_mheap;

GH_INTERNAL extern gh_mheap gh_heap;

GH_INTERNAL void gh_mheap_init(void);
/* A span of npages for the given span class (0 for a large object); NULL
 * with errno ENOMEM if the OS refuses.  Takes the heap lock. */
GH_INTERNAL gh_span *gh_mheap_alloc(size_t npages, uint32_t spanclass);
/* Make a span from gh_mheap_alloc sweepable: it belongs to the current
 * cycle from now on.  Call it once the caller holds what keeps the span's
 * blocks alive (the block's address, a central list). */
GH_INTERNAL void gh_span_publish(gh_span *s);
/* Give the in-use span s, large or small, back to the page heap, with its
 * table of block types (gh_span_alloc_types) if it has one; while marking
 * runs with the world running, only once it has ended (mheap.c says why).
 * For a small span the caller holds its mcentral's lock (mcentral.c says
 * why); takes the heap lock, then the type lock. */
GH_INTERNAL void gh_span_release(gh_span *s);
/* Free the spans given back while marking ran.  The collector calls it
 * once marking has ended, with the world running.  Takes the heap lock. */
GH_INTERNAL void gh_mheap_free_givenback(void);
/* Return free spans idle at least delay ns to the OS (0: all).  Takes the
 * heap lock. Returns bytes released. */
GH_INTERNAL uint64_t gh_mheap_scavenge(uint64_t delay);
/* Release free spans until at most goal heap bytes are retained or budget
 * bytes were released; returns the bytes released. */
GH_INTERNAL uint64_t gh_mheap_scavenge_to(uint64_t goal, uint64_t budget);
/* Concurrent marking: track the writes to every mapped page of the heap,
 * and to every page mapped from now on while tracking is on (os.h,
 * gh_wt_track).  0, or -1 if some range could not be tracked.  Takes the
 * heap lock. */
GH_INTERNAL int gh_mheap_track_writes(void);
/* Whether tracking a range mapped during marking failed (then the marking
 * must not trust the write tracking); clears it.  Takes no lock. */
GH_INTERNAL bool gh_mheap_tracking_failed(void);
/* Heap bytes mapped and not released: heap_sys - heap_released. */
GH_INTERNAL uint64_t gh_mheap_retained(void);
/* What a heap operation releases at most when over retain_cap: bounds the
 * time it holds the heap lock (about 0.1 ms). */
#define GH_SCAVENGE_STEP (1u << 20)

/* ---- Thread caches (mcache.c) -------------------------------------------- */

/* A thread's cache for one span class: the span it allocates from, and
 * the blocks it freed, kept for reuse. */
struct gh_cachelist {
	gh_link *head; /* freed blocks, each with its free tag */
	uint32_t n;    /* blocks on the list */
	uint32_t max;  /* above this, a batch goes back to the mcentral */
	gh_span *span; /* the cached span, or &gh_empty_span */
};

struct gh_mcache {
	/* Bytes the owner may still allocate before the next heap profile
	 * sample; at or below zero every allocation takes the slow path
	 * (mprof.h).  A fresh cache's zero sends the first one there. */
	int64_t sample_left;
	gh_cachelist list[GH_NUM_SPANCLASSES];
	/* Tiny allocator: the current 16-byte block and the offset of its
	 * first unused byte. */
	uintptr_t tiny;
	size_t tinyoff;
	/* Statistics, written by the owner thread only. */
	uint64_t nmalloc[GH_NUM_CLASSES];
	uint64_t nfree[GH_NUM_CLASSES];
	uint64_t tinyallocs;
	uint64_t nlookup;
	gh_mcache *next, *prev; /* registry of live caches */
};

/* The span of a cache list with no span: no free block, ever. */
GH_INTERNAL extern gh_span gh_empty_span;

GH_INTERNAL extern __thread gh_mcache *gh_tls_cache;

/* The calling thread's cache, created on first use; NULL if no memory. */
GH_INTERNAL gh_mcache *gh_mcache_get(void);
/* Give back a batch of an over-long free list to its mcentral. */
GH_INTERNAL void gh_mcache_trim(gh_mcache *c, uint32_t spanclass);
/* Give every cached span and block back (thread exit,
 * goheap_free_os_memory). */
GH_INTERNAL void gh_mcache_flush(gh_mcache *c);
/* The calling thread is exiting: give its cache back now.  It does so
 * while still registered, so that no collection runs meanwhile. */
GH_INTERNAL void gh_mcache_exit(void);
/* With the world stopped, at the end of marking: take every cache's spans
 * back (they are swept with the others), mark every block on the caches'
 * free lists (they stay allocated), and drop the tiny blocks.  mark(p)
 * sets the mark of the free block p.  Caller holds the registry lock. */
GH_INTERNAL void gh_mcache_collect_all(void (*mark)(uintptr_t p));
/* With the world stopped, at the start of a concurrent marking: what
 * every cached span hands out from now on is black (gh_span.markfrom).
 * Caller holds the registry lock. */
GH_INTERNAL void gh_mcache_mark_start_all(void);
/* Counters of all caches, live and gone, summed under the registry lock. */
typedef struct gh_cachesums {
	uint64_t nmalloc[GH_NUM_CLASSES], nfree[GH_NUM_CLASSES];
	uint64_t tinyallocs, nlookup;
} gh_cachesums;
GH_INTERNAL void gh_mcache_sum(gh_cachesums *sums);
GH_INTERNAL void gh_mcache_registry_lock(void);
GH_INTERNAL void gh_mcache_registry_unlock(void);
/* In the child of fork: give back the blocks of threads that did not come
 * along, and forget their caches. */
GH_INTERNAL void gh_mcache_after_fork(void);

/* ---- Tunables (options.c) ------------------------------------------------ */

typedef enum gh_option_id {
	GH_OPT_GOGC,           /* percent; -1 off */
	GH_OPT_SCAVENGE_DELAY, /* ms */
	GH_OPT_SIGNAL,         /* the stop-the-world signal */
	GH_OPT_STOP_TIMEOUT,   /* ms */
	GH_OPT_GCTRACE,        /* GOHEAP_DEBUG=gctrace=N */
	GH_OPT_STATS,          /* 0: no stats file, no monitor thread */
	GH_OPT_FORCEGC_PERIOD, /* ms; 0 never */
	GH_OPT_GCPROCS,        /* markers; 0: online CPUs */
	GH_OPT_MEMLIMIT,       /* bytes; -1 none */
	GH_OPT_PROFILE_RATE,   /* bytes per heap profile sample; 0 off */
	GH_OPT_EFENCE,         /* GOHEAP_DEBUG=efence=1 (debugmode.c) */
	GH_OPT_ALLOCFREETRACE, /* GOHEAP_DEBUG=allocfreetrace=1 */
	GH_OPT_POISON,         /* GOHEAP_DEBUG=poison=1 */
	GH_OPT_FAILSYS,        /* GOHEAP_DEBUG=failsys=N: fail OS request N */
	GH_OPT_CHECK,          /* GOHEAP_DEBUG=check=1: heap checks (mcheck.c) */
	GH_OPT_MARKBUFS,       /* GOHEAP_DEBUG=markbufs=N: at most N mark buffers */
	GH_OPT_GC,             /* GOHEAP_GC: the gh_wt_kind asked for (os.h) */
	GH_OPT_WTRACKDROP,     /* GOHEAP_DEBUG=wtrackdrop=1: tracking reports nothing */
	GH_NUM_OPTIONS,
} gh_option_id;

GH_INTERNAL void gh_options_init(void);
GH_INTERNAL int64_t gh_option(gh_option_id id);

/* ---- Entry points (malloc.c) --------------------------------------------- */

GH_INTERNAL extern uintptr_t gh_tag_secret;

static inline uintptr_t gh_free_tag(const void *p)
{
	return (uintptr_t)p ^ gh_tag_secret;
}

/* ---- Start-up (init.c) --------------------------------------------------- */

/* Set the library up, once; every entry point that may come first calls
 * it (the constructor normally has). */
GH_INTERNAL void gh_init(void);

#endif /* GH_H */
