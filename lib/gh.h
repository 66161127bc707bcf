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
 * Lock order: an mcentral lock may be held while taking the heap lock,
 * never the other way round; the cache registry lock is a leaf, and so is
 * the specials lock (mspecial.c), taken under either.
 */
#ifndef GH_H
#define GH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "goheap.h"
#include "sizeclasses.h"

#define GH_LIKELY(x) __builtin_expect(!!(x), 1)
#define GH_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Every lock of the library is taken with gh_mutex_lock.  A thread
 * waiting for a lock must still take the stop signal: the holder may be
 * stopped, or be the collector.  It does in pthread_mutex_lock, but not
 * under ThreadSanitizer, which holds a signal back until the thread leaves
 * the call (and stops a thread as it leaves pthread_mutex_lock, holding
 * the lock): there it waits in nanosleep, where TSan delivers signals. */
#ifdef GH_TSAN
#include <time.h>
static inline void gh_mutex_lock(pthread_mutex_t *m)
{
	while (pthread_mutex_trylock(m) != 0) {
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
}
#else
static inline void gh_mutex_lock(pthread_mutex_t *m)
{
	pthread_mutex_lock(m);
}
#endif
#define GH_INTERNAL __attribute__((visibility("hidden")))
#define GH_NORETURN __attribute__((noreturn))
#define GH_PRINTF(f, a) __attribute__((format(printf, f, a)))

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

/* ---- Errors -------------------------------------------------------------- */

/* Print one "goheap: ..." line on stderr and abort.  For broken invariants
 * and for misuse the host cannot recover from (a bad free). */
GH_INTERNAL GH_NORETURN GH_PRINTF(1, 2) void gh_throw(const char *fmt, ...);
/* Print one "goheap: ..." line on stderr without stdio (safe while other
 * threads are stopped). */
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

/* ---- Spans ---------------------------------------------------------------- */

/* A free small block.  Its tag equals gh_free_tag(block) exactly when the
 * block is free; see malloc.c. */
typedef struct gh_link {
	struct gh_link *next;
	uintptr_t tag;
} gh_link;

enum { GH_LIST_NONE = 0, GH_LIST_NONEMPTY = 1, GH_LIST_EMPTY = 2 };
#define GH_SWEEPGEN_FRESH 1u

enum gh_span_state {
	GH_SPAN_DEAD = 0,  /* descriptor on the fixalloc free list */
	GH_SPAN_FREE = 1,  /* pages free in the page heap */
	GH_SPAN_INUSE = 2, /* pages hold a large object or small blocks */
};

typedef struct gh_span gh_span;
typedef struct gh_special gh_special; /* gc.h */
struct gh_span {
	/* The first 64 bytes are what goheap_free and the marker read. */
	uintptr_t start;   /* first byte */
	uintptr_t limit;   /* end of the last block (in use) or of the pages */
	size_t elemsize;   /* block size; for a large object, the span size */
	uint32_t divmagic; /* offset * divmagic >> 32 == offset / elemsize */
	/* The sweep state (mgcsweep.c):
	 *   sweepgen == heap sweepgen      swept (or new) in this cycle;
	 *   sweepgen == heap sweepgen - 1  being swept (large spans);
	 *   sweepgen == heap sweepgen - 2  still to sweep;
	 *   sweepgen == GH_SWEEPGEN_FRESH  just allocated, not yet handed out:
	 *                                  never swept (see gh_span_publish). */
	uint32_t sweepgen;
	/* Small spans.  Changed under the mcentral lock; blocks below
	 * ncarved have been handed out at least once, blocks from ncarved on
	 * are untouched and free.  nfree counts both the blocks on freelist
	 * and the uncarved ones. */
	uint16_t nelems;
	uint16_t nfree;
	uint16_t ncarved;
	uint16_t spanclass; /* 0 .. 3 for a large object (class 0) */
	uint8_t state;      /* enum gh_span_state; changed under the heap lock */
	uint8_t needzero;   /* the pages may hold non-zero bytes */
	uint8_t inlist;     /* GH_LIST_*: which mcentral list holds the span */
	uint8_t overflow;   /* marking could not queue a block of it (mgcmark.c) */
	uint32_t nspecials; /* records on the specials list (mspecial.c) */
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

	/* The collector's mark bits, one per block. */
	uint64_t markbits[GH_MAX_OBJS_PER_SPAN / 64];
};

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

/* ---- Arenas and the page map (mheap.c) ------------------------------------ */

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
	if (!s || __atomic_load_n(&s->state, __ATOMIC_RELAXED) != GH_SPAN_INUSE ||
	    p < s->start || p >= s->limit)
		return NULL;
	return s;
}

/* Index of the block of s that holds p (p inside s). */
static inline uint32_t gh_span_index(const gh_span *s, uintptr_t p)
{
	return (uint32_t)(((uint64_t)(p - s->start) * s->divmagic) >> 32);
}

/* ---- Central lists (mcentral.c) -------------------------------------------- */

typedef struct gh_mcentral {
	pthread_mutex_t lock;
	uint32_t spanclass;
	gh_span nonempty; /* list head: spans with free blocks */
	gh_span empty;    /* list head: spans with none */
} gh_mcentral;

GH_INTERNAL void gh_mcentral_init(gh_mcentral *c, uint32_t spanclass);
GH_INTERNAL uint32_t gh_mcentral_grab(gh_mcentral *c, uint32_t want, gh_link **head);
GH_INTERNAL void gh_mcentral_return(gh_mcentral *c, gh_link *head, uint32_t n);
/* Put s on the list its free count calls for; caller holds c->lock. */
GH_INTERNAL void gh_mcentral_relist(gh_mcentral *c, gh_span *s);
/* Take s off its list (it is going back to the page heap). */
GH_INTERNAL void gh_mcentral_unlist(gh_span *s);
/* A small span all of whose blocks are free goes back to the page heap,
 * with its side tables.  No mcentral lock needed. */
GH_INTERNAL void gh_span_release(gh_span *s);
/* Side table of block types for a typed span; 0 or -1. */
GH_INTERNAL int gh_span_alloc_types(gh_span *s);

/* ---- The page heap (mheap.c) ------------------------------------------------ */

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
	pthread_mutex_t lock;
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
/* Give s back to the page heap.  Takes the heap lock. */
GH_INTERNAL void gh_mheap_free(gh_span *s);
/* Return free spans idle at least delay ns to the OS (0: all).  Takes the
 * heap lock. Returns bytes released. */
GH_INTERNAL uint64_t gh_mheap_scavenge(uint64_t delay);
/* Release free spans until at most goal heap bytes are retained or budget
 * bytes were released; returns the bytes released. */
GH_INTERNAL uint64_t gh_mheap_scavenge_to(uint64_t goal, uint64_t budget);
/* Heap bytes mapped and not released: heap_sys - heap_released. */
GH_INTERNAL uint64_t gh_mheap_retained(void);
/* What a heap operation releases at most when over retain_cap: bounds the
 * time it holds the heap lock (about 0.1 ms). */
#define GH_SCAVENGE_STEP (1u << 20)
/* Monotonic clock in ns. */
GH_INTERNAL uint64_t gh_nanotime(void);
/* Wall clock in ns since the Epoch. */
GH_INTERNAL uint64_t gh_walltime(void);

/* ---- Thread caches (mcache.c) ------------------------------------------------ */

typedef struct gh_cachelist {
	gh_link *head;
	uint32_t n;   /* blocks on the list */
	uint32_t max; /* above this, a batch goes back to the mcentral */
} gh_cachelist;

typedef struct gh_mcache gh_mcache;
struct gh_mcache {
	uint32_t epoch; /* the collection epoch the lists belong to (gc.h) */
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

GH_INTERNAL extern __thread gh_mcache *gh_tls_cache;

/* The calling thread's cache, created on first use; NULL if no memory. */
GH_INTERNAL gh_mcache *gh_mcache_get(void);
/* Fill an empty list; returns its first block or NULL with errno ENOMEM. */
GH_INTERNAL gh_link *gh_mcache_refill(gh_mcache *c, uint32_t spanclass);
/* Give a batch of an over-long list back to its mcentral. */
GH_INTERNAL void gh_mcache_trim(gh_mcache *c, uint32_t spanclass);
/* Give every cached block back (thread exit, goheap_free_os_memory). */
GH_INTERNAL void gh_mcache_flush(gh_mcache *c);
/* The calling thread is exiting: give its cache back now.  It does so
 * while still registered, so that no collection runs meanwhile. */
GH_INTERNAL void gh_mcache_exit(void);
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

/* ---- Tunables (options.c) ------------------------------------------------------ */

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
	GH_NUM_OPTIONS,
} gh_option_id;

GH_INTERNAL void gh_options_init(void);
GH_INTERNAL int64_t gh_option(gh_option_id id);

/* ---- Entry points (malloc.c) ----------------------------------------------------- */

GH_INTERNAL extern uintptr_t gh_tag_secret;

static inline uintptr_t gh_free_tag(const void *p)
{
	return (uintptr_t)p ^ gh_tag_secret;
}

GH_INTERNAL void gh_init(void);

#endif /* GH_H */
