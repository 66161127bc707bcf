/*
 * malloc.c - the allocator's entry points, and its overview.
 *
 * libgoheap's allocator is the Go runtime's (itself after tcmalloc): blocks
 * of up to 32 KiB are rounded to one of 80 size classes (msize.c), each with
 * its own free blocks; larger blocks are whole runs of pages.
 *
 * Allocating a small block climbs a hierarchy of caches:
 *
 *   1. Round the size to its class and take a block from the calling
 *      thread's cache for the span class (class and kind): a block it freed
 *      by hand, from its free list, else the next free block of its cached
 *      span by the span's allocation bits (Go's nextFreeFast, below).  No
 *      lock, no atomic instruction, no read of a block's memory.
 *   2. The span has no free block left: trade it at the class's mcentral
 *      for one that has, sweeping spans of the last cycle outside the lock
 *      if need be (mcentral.c).
 *   3. The mcentral has no span with a free block: take a new span from
 *      the page heap (mheap.c); it is handed out without a write into it.
 *   4. The page heap has no fitting run of pages: it maps more from the OS,
 *      at least 1 MiB at a time, in 64 MiB arenas (os.h).
 *
 * Freeing a small block goes the other way: push it on the calling
 * thread's free list for its span class, to be handed out first; a list
 * longer than two batches gives a batch back to the blocks' spans (their
 * free lists, mcentral.c); a span whose blocks are all free returns to the
 * page heap, which gives pages idle long enough back to the OS.  A block
 * may be freed by any thread: it joins the freeing thread's list.
 *
 * Large blocks (more than 32 KiB) come straight from the page heap, one
 * span each.  Tiny pointer-free blocks (fewer than 16 bytes) are packed
 * into 16-byte blocks of their own span class, as the seed's tiny allocator
 * does; they can only be reclaimed by the collector.
 *
 * The state of a block of a small span:
 *
 *   free       its bit in allocbits clear and its index at or above the
 *              span's freeindex: its bytes are anything;
 *   live       allocated (bit set, or below freeindex) and handed out;
 *   listed     allocated, and on a free list (a thread's or its span's)
 *              with its free tag: its address mixed with a secret drawn at
 *              start-up in its second word, which a live block's data
 *              cannot guess.
 *
 * goheap_free rejects a pointer to a free or listed block (a double free,
 * or a wild pointer) with no side table, and goheap_base answers NULL for
 * one; every hand-out of a listed block clears its tag.  The collector
 * frees unreachable live blocks by sweeping (mgcsweep.c); listed blocks
 * stay allocated through a collection if they are on a thread's list, and
 * become free with the rest if on a span's.
 *
 * Zeroing: goheap_malloc and goheap_calloc blocks are cleared as they are
 * handed out, unless they come from a span that never handed out a block
 * since the page heap gave it (needzero clear: the OS gave zeroed pages);
 * large ones only if their pages may hold old bytes.  goheap_malloc_atomic
 * blocks are not cleared, but for the free tag's word.
 *
 * Any thread may call any entry point at any time; a thread's cache is
 * created on its first call and given back when it exits (mcache.c).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debugmode.h"
#include "gc.h"
#include "gh.h"
#include "os.h"
#include "mprof.h"
#include "track.h"

uintptr_t gh_tag_secret;
#ifdef HAVE_VALGRIND_MEMCHECK_H
int gh_track_on;
#endif

/* Abort for a pointer that goheap_free or goheap_realloc cannot take. */
static __attribute__((noinline, cold, noreturn)) void bad_pointer(const char *fn, const void *p, const char *why)
{
	gh_throw("%s(%p): %s", fn, p, why);
}

/* ---- Small blocks ----
 *
 * A thread takes a small block from its cache list for the span class:
 * first a block it freed by hand (the list's head, hot in the CPU's
 * cache), else the next free block of the list's span by its bits: count
 * the trailing zeros of alloccache, the complement of the allocation bits
 * shifted to freeindex, and move freeindex past the block.  No block's
 * memory is read to find it, and a fresh span is handed out without a
 * write into it.
 *
 * A collection stops threads anywhere, and takes every cached span back
 * (mcache.c): it must never do so while the owner is half-way through
 * taking a block from the span's bits, or the owner would write its stale
 * freeindex and alloccache into a span that someone else then sweeps or
 * caches.  So the owner marks those steps a no-stop section
 * (gh_stw_nostop, os.h), and a stop signal that finds it in one is put
 * off until it is done (stw_linux.c).
 * The steps are a dozen instructions with no call and no lock.
 *
 * The free lists need no such care: a block's free tag and list links are
 * changed in an order in which the block is, at every point, either on the
 * list (the collector marks every block on every list, so they all stay
 * allocated) or in a register of the thread, where the collector finds it
 * and marks it too (a block with its free tag is marked, not scanned).
 */

/* Take the next free block of the cached span s by its bits, moving to
 * the next word of bits as needed: the fast path's step, in full.  NULL
 * when s has no free block left.  Caller is in a no-stop section. */
static void *next_free(gh_span *s)
{
	uint32_t fi = s->freeindex, n = s->nelems;
	uint64_t cache = s->alloccache;
	while (fi < n) {
		if (!cache) {
			/* This word of bits is used up: the next one. */
			fi = (fi + 64) & ~(uint32_t)63;
			cache = fi < n ? ~s->allocbits[fi >> 6] : 0;
			continue;
		}
		uint32_t bit = (uint32_t)__builtin_ctzll(cache);
		uint32_t idx = fi + bit;
		if (idx >= n)
			break;
		fi = idx + 1;
		/* bit is 63 only when fi starts a word: no shift by 64. */
		cache = (fi & 63) ? cache >> (bit + 1) : fi < n ? ~s->allocbits[fi >> 6] : 0;
		s->alloccache = cache;
		__atomic_store_n(&s->freeindex, (uint16_t)fi, __ATOMIC_RELAXED);
		return (void *)(s->start + (size_t)idx * s->elemsize);
	}
	/* The empty span, every cache's until it has one, is never written:
	 * it has nothing to take, and threads share it. */
	if (s != &gh_empty_span) {
		s->alloccache = 0;
		__atomic_store_n(&s->freeindex, (uint16_t)n, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Take a block of span class sc from c: NULL with errno ENOMEM, or a
 * block still closed to the memory checker, with *dirty saying whether
 * its bytes may be other than zero. */
static void *cache_take(gh_mcache *c, uint32_t sc, bool *dirty)
{
	gh_cachelist *l = &c->list[sc];
	for (;;) {
		gh_link *o = l->head;
		if (o) {
			l->head = gh_link_read(o).next;
			l->n--;
			gh_local_add(&c->nmalloc[GH_SPANCLASS_CLASS(sc)], 1);
			*dirty = true;
			return o;
		}
		gh_stw_nostop_begin();
		gh_span *s = l->span;
		void *p = next_free(s);
		bool nz = s->needzero;
		gh_stw_nostop_end();
		if (p) {
			gh_local_add(&c->nmalloc[GH_SPANCLASS_CLASS(sc)], 1);
			*dirty = nz;
			return p;
		}
		gh_gc_maybe();
		gh_sweep_paced();
		if (gh_gc_marking_now())
			gh_mark_assist((uint64_t)gh_class_npages[GH_SPANCLASS_CLASS(sc)]
				       << GH_PAGE_SHIFT);
		if (!gh_mcentral_cache_span(&gh_heap.central[sc], c))
			return NULL;
	}
}

/* Clear a small block: inline 16-byte stores up to 256 bytes, where a
 * call to memset would cost as much as the clearing. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void
zero_block(void *p, size_t n)
{
	typedef uint64_t v2 __attribute__((vector_size(16), aligned(16)));
	if (n > 256) {
		memset(p, 0, n);
		return;
	}
	v2 *v = p, z = {0, 0};
	for (size_t i = 0; i < n / 16; i++)
		v[i] = z;
}

/* Hand out o, a block of n bytes, as a block of the given kind; dirty if
 * its bytes may be other than zero.  The fast path leaves out the memory
 * checker's hook (track): with Valgrind on, every allocation takes the
 * slow path (mprof.h). */
static inline __attribute__((always_inline)) void *hand_out(void *o, size_t n, uint32_t kind,
							  bool dirty, bool track)
{
	if (track)
		gh_track_malloc(o, n, kind != GH_KIND_NOSCAN);
	if (!dirty)
		return o;
	if (kind == GH_KIND_NOSCAN)
		((gh_link *)o)->tag = 0; /* no longer free; the rest is the caller's */
	else
		zero_block(o, n);
	return o;
}

/* Tiny allocator: pack pointer-free requests of 1..15 bytes into 16-byte
 * blocks, each aligned to the largest power of two dividing its size (at
 * most 8).  A block is reclaimed once nothing points into it.  A
 * collection drops c->tiny at any point here (mcache.c): the block stays
 * alive through the address in this thread's registers, and the next
 * call takes a new one. */
static void *tiny_alloc(gh_mcache *c, size_t size)
{
	size_t off = c->tinyoff;
	if ((size & 7) == 0)
		off = (off + 7) & ~(size_t)7;
	else if ((size & 3) == 0)
		off = (off + 3) & ~(size_t)3;
	else if ((size & 1) == 0)
		off = (off + 1) & ~(size_t)1;
	uintptr_t tiny = c->tiny;
	if (tiny && off + size <= GH_TINY_SIZE) {
		c->tinyoff = off + size;
		gh_local_add(&c->tinyallocs, 1);
		return (void *)(tiny + off);
	}
	bool dirty;
	gh_link *o = cache_take(c, GH_SPANCLASS(1, GH_KIND_TINY), &dirty);
	if (!o)
		return NULL;
	/* Not a malloc-like block to memcheck: freeing a tiny allocation
	 * does nothing, so memcheck would call every one of them leaked. */
	gh_track_undefined(o, GH_TINY_SIZE);
	o->tag = 0;
	/* Keep whichever block has more room left. */
	if (!c->tiny || size < c->tinyoff) {
		c->tiny = (uintptr_t)o;
		c->tinyoff = size;
	}
	return o;
}

/* ---- Large blocks ---- */

static void *large_alloc(size_t size, uint32_t kind, const goheap_type *type)
{
	if (size > SIZE_MAX - GH_PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	gh_gc_maybe();
	if (gh_gc_marking_now())
		gh_mark_assist(size);
	size_t npages = (size + GH_PAGE_SIZE - 1) >> GH_PAGE_SHIFT;
	gh_span *s = gh_mheap_alloc(npages, GH_SPANCLASS(0, kind));
	if (!s)
		return NULL;
	void *p = (void *)s->start;
	gh_track_malloc(p, s->elemsize, kind != GH_KIND_NOSCAN);
	if (kind != GH_KIND_NOSCAN && s->needzero)
		memset(p, 0, s->elemsize);
	if (type)
		gh_span_set_type(s, (uintptr_t)p, type);
	/* p is in hand: from here on a collection sees the block through it. */
	gh_span_publish(s);
	gh_gc_note_alloc((int64_t)s->elemsize);
	return p;
}

/* ---- Entry points ---- */

static __attribute__((noinline)) void *malloc_slow(size_t size, uint32_t kind,
						    const goheap_type *type)
{
	gh_mcache *c = gh_mcache_get();
	if (!c)
		return NULL;
	void *p;
	size_t n;
	if (GH_UNLIKELY(gh_debug_flags & GH_DEBUG_EFENCE)) {
		p = gh_efence_alloc(size, kind, type);
		n = size ? (size + 15) & ~(size_t)15 : 16;
	} else if (size > GH_MAX_SMALL) {
		p = large_alloc(size, kind, type);
		n = (size + GH_PAGE_SIZE - 1) & ~(size_t)(GH_PAGE_SIZE - 1);
	} else if (kind == GH_KIND_NOSCAN && size > 0 && size < GH_TINY_SIZE) {
		p = tiny_alloc(c, size);
		n = size;
	} else {
		uint32_t cls = gh_size_class(size);
		bool dirty;
		void *o = cache_take(c, GH_SPANCLASS(cls, kind), &dirty);
		if (!o)
			return NULL;
		n = gh_class_size[cls];
		p = hand_out(o, n, kind, dirty, true);
		if (type)
			gh_span_set_type(gh_span_of((uintptr_t)p), (uintptr_t)p, type);
	}
	if (!p)
		return NULL;
	/* The profile's countdown (mprof.c), and the debug modes. */
	int64_t left = c->sample_left - (int64_t)n;
	if (GH_LIKELY(left > 0 && !gh_debug_on())) {
		c->sample_left = left;
		return p;
	}
	gh_mprof_alloc(c, p, n);
	if (gh_debug_on())
		gh_debug_alloc(p, n, kind);
	return p;
}

/* The fast path of the entry points: a block of the right class from the
 * cache's free list, or from its span's current word of bits, when no
 * heap profile sample is due (which also stands for "no debug mode is
 * on", mprof.h); else the slow path.  The bits' step is Go's
 * nextFreeFast: a count of trailing zeros, an add, two compares and two
 * stores, in a no-stop section (see Small blocks). */
static inline __attribute__((always_inline)) void *malloc_kind(size_t size, uint32_t kind,
							     const goheap_type *type)
{
	gh_mcache *c = gh_tls_cache;
	if (GH_LIKELY(c != NULL && size <= GH_MAX_SMALL) &&
	    (kind != GH_KIND_NOSCAN || size >= GH_TINY_SIZE)) {
		uint32_t cls = gh_size_class(size);
		size_t n = gh_class_size[cls];
		int64_t left = c->sample_left - (int64_t)n;
		gh_cachelist *l = &c->list[GH_SPANCLASS(cls, kind)];
		gh_link *o = l->head;
		if (GH_LIKELY(left > 0)) {
			void *p;
			bool dirty = true;
			gh_span *s = NULL;
			if (o) {
				l->head = o->next;
				l->n--;
				p = o;
				if (type)
					s = gh_span_of((uintptr_t)p);
			} else {
				gh_stw_nostop_begin();
				s = l->span;
				uint64_t cache = s->alloccache;
				uint32_t bit = (uint32_t)__builtin_ctzll(cache | (UINT64_C(1) << 63));
				uint32_t idx = s->freeindex + bit;
				uint32_t fi = idx + 1;
				if (GH_UNLIKELY(!cache || !(fi & 63) || idx >= s->nelems)) {
					gh_stw_nostop_end();
					goto slow;
				}
				s->alloccache = cache >> (bit + 1);
				__atomic_store_n(&s->freeindex, (uint16_t)fi, __ATOMIC_RELAXED);
				p = (void *)(s->start + (size_t)idx * s->elemsize);
				dirty = s->needzero;
				gh_stw_nostop_end();
			}
			/* No memory checker here: see hand_out. */
			c->sample_left = left;
			gh_local_add(&c->nmalloc[cls], 1);
			hand_out(p, n, kind, dirty, false);
			if (type)
				gh_span_set_type(s, (uintptr_t)p, type);
			return p;
		}
	}
slow:
	return malloc_slow(size, kind, type);
}

void *goheap_malloc(size_t size)
{
	return malloc_kind(size, GH_KIND_SCAN, NULL);
}

void *goheap_malloc_atomic(size_t size)
{
	return malloc_kind(size, GH_KIND_NOSCAN, NULL);
}

void *goheap_malloc_typed(size_t size, const goheap_type *type)
{
	if (!type || size % type->size != 0) {
		errno = EINVAL;
		return NULL;
	}
	return malloc_kind(size, GH_KIND_TYPED, type);
}

void *goheap_calloc(size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc_kind(total, GH_KIND_SCAN, NULL);
}

/* The live block that starts at p, or NULL with *why saying what p is.
 * For a small block *idx receives its index in the span. */
static gh_span *block_at(const void *p, const char **why)
{
	uintptr_t a = (uintptr_t)p;
	gh_span *s = gh_span_of(a);
	if (GH_UNLIKELY(!s)) {
		*why = "not in a live goheap block (wild, stack or freed pointer)";
		return NULL;
	}
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0) {
		if (GH_UNLIKELY(a != s->start)) {
			*why = "interior pointer, not the start of a block";
			return NULL;
		}
		return s;
	}
	uint32_t idx = gh_span_index(s, a);
	if (GH_UNLIKELY(s->start + (size_t)idx * s->elemsize != a)) {
		*why = "interior pointer, not the start of a block";
		return NULL;
	}
	/* The word where a free block keeps its tag holds, in a live tiny
	 * block, bytes other threads may be writing: not read. */
	if (GH_UNLIKELY(!gh_span_allocated(s, idx) ||
			(GH_SPANCLASS_KIND(s->spanclass) != GH_KIND_TINY &&
			 gh_track_peek(&((const gh_link *)p)->tag) == gh_free_tag(p)))) {
		*why = "block is free (double free?)";
		return NULL;
	}
	return s;
}

/* Claim the large block at p for an explicit free: move its span's sweepgen
 * from "swept" to FRESH, which no sweeper touches, sweeping it first if a
 * cycle left it to sweep.  False if the block is no longer live. */
static bool claim_large(gh_span *s, uintptr_t p)
{
	for (;;) {
		uint32_t sg = __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_ACQUIRE);
		uint32_t cur = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE ||
		    s->start != p || cur == GH_SWEEPGEN_FRESH)
			return false;
		if (cur == sg) {
			if (__atomic_compare_exchange_n(&s->sweepgen, &cur, GH_SWEEPGEN_FRESH, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return true;
			continue;
		}
		gh_span_ensure_swept(s);
	}
}

/* Everything goheap_free does but its common case.
 *
 * p stays live to the end (the asm at the bottom): a collection that stops
 * this thread half-way must find the block through it, or it would free
 * the block a second time. */
static __attribute__((noinline, cold)) void free_slow(void *p)
{
	if (!p)
		return;
	const char *why;
	gh_span *s = gh_span_of((uintptr_t)p);
	/* A tiny block is shared: its memory waits for the collector. */
	if (s && GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY)
		return;
	/* A block of a span not swept yet may have been found garbage: sweep
	 * first, so that it cannot be freed twice. */
	if (s && __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) !=
			 __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_RELAXED))
		gh_span_ensure_swept(s);
	s = block_at(p, &why);
	if (!s)
		bad_pointer("goheap_free", p, why);
	uint32_t sc = s->spanclass;
	if (__atomic_load_n(&s->nspecials, __ATOMIC_SEQ_CST))
		gh_specials_free_block(s, GH_SPANCLASS_CLASS(sc) ? gh_span_index(s, (uintptr_t)p) : 0);
	if (GH_SPANCLASS_CLASS(sc) == 0) {
		if (!claim_large(s, (uintptr_t)p))
			bad_pointer("goheap_free", p, "block is free (double free?)");
		if (gh_debug_on())
			gh_debug_free(p, s->elemsize, 0, false);
		gh_track_free(p);
		if (GH_UNLIKELY(gh_debug_flags & GH_DEBUG_EFENCE)) {
			gh_gc_note_alloc(-(int64_t)s->elemsize);
			gh_efence_retire(s);
			__asm__ volatile("" ::"r"(p) : "memory");
			return;
		}
		gh_gc_note_alloc(-(int64_t)s->elemsize);
		gh_span_release(s);
		__asm__ volatile("" ::"r"(p) : "memory");
		return;
	}
	if (gh_debug_on())
		gh_debug_free(p, s->elemsize, sizeof(gh_link), false);
	gh_track_free(p);

	gh_link *o = p;
	gh_mcache *c = gh_mcache_get();
	if (!c) {
		/* No cache can be had: give the block straight back, from a
		 * list of one on this stack. */
		gh_link_write(o, NULL);
		gh_gc_note_alloc(-(int64_t)s->elemsize);
		gh_cachelist one = {.head = o, .n = 1};
		gh_mcentral_return(&gh_heap.central[sc], NULL, &one, 1);
		__asm__ volatile("" ::"r"(p) : "memory");
		return;
	}
	gh_cachelist *l = &c->list[sc];
	gh_link_write(o, l->head);
	l->head = o;
	gh_local_add(&c->nfree[GH_SPANCLASS_CLASS(sc)], 1);
	__asm__ volatile("" ::"r"(p) : "memory");
	if (++l->n > l->max)
		gh_mcache_trim(c, sc);
}

/* The common case: a live small block of a swept span without finalizers,
 * freed by a thread with a cache.  Three loads to find the span, one
 * multiplication to check the pointer is a block's start, one load to see
 * the block is not free already, and a push. */
void goheap_free(void *p)
{
	uintptr_t a = (uintptr_t)p;
	gh_mcache *c = gh_tls_cache;
	gh_span *s = gh_span_at(a);
	if (GH_LIKELY(s != NULL && c != NULL) && GH_LIKELY(!gh_debug_on())) {
		uint32_t sc = s->spanclass;
		uint32_t idx = gh_span_index(s, a);
		/* Fields other threads change are read with relaxed atomics
		 * (plain loads on the machines we know). */
		/* The span is swept (its sweepgen is read with acquire,
		 * paired with the sweep's release) before its allocation
		 * bits are read: a sweep in progress rewrites them. */
		if (GH_LIKELY(__atomic_load_n(&s->state, __ATOMIC_RELAXED) == GH_SPAN_INUSE &&
			      a >= s->start && a < s->limit &&
			      GH_SPANCLASS_CLASS(sc) != 0 && GH_SPANCLASS_KIND(sc) != GH_KIND_TINY &&
			      s->start + (size_t)idx * s->elemsize == a &&
			      __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) ==
				      __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_RELAXED) &&
			      gh_span_allocated(s, idx) &&
			      __atomic_load_n(&s->nspecials, __ATOMIC_RELAXED) == 0)) {
			gh_link *o = p;
			if (GH_LIKELY(o->tag != gh_free_tag(o))) {
				gh_cachelist *l = &c->list[sc];
				o->next = l->head;
				o->tag = gh_free_tag(o);
				l->head = o;
				gh_local_add(&c->nfree[GH_SPANCLASS_CLASS(sc)], 1);
				if (GH_LIKELY(++l->n <= l->max))
					return;
				gh_mcache_trim(c, sc);
				return;
			}
		}
	}
	free_slow(p);
}

void *goheap_realloc(void *p, size_t size)
{
	if (!p)
		return goheap_malloc(size);
	if (size == 0) {
		goheap_free(p);
		return NULL;
	}
	const char *why;
	gh_span *s = block_at(p, &why);
	uint32_t kind;
	size_t old;
	if (s) {
		kind = GH_SPANCLASS_KIND(s->spanclass);
		old = s->elemsize;
	} else {
		/* A tiny block: the bytes up to the end of its 16-byte block
		 * may be the caller's. */
		gh_span *t = gh_span_of((uintptr_t)p);
		if (!t || GH_SPANCLASS_KIND(t->spanclass) != GH_KIND_TINY)
			bad_pointer("goheap_realloc", p, why);
		kind = GH_KIND_TINY;
		old = GH_TINY_SIZE - (((uintptr_t)p - t->start) & (GH_TINY_SIZE - 1));
	}

	/* Keep the block when the new size fits and either needs the same
	 * class or wastes at most half of it. */
	if (kind != GH_KIND_TINY && size <= old &&
	    (size > old / 2 || (size <= GH_MAX_SMALL && gh_class_size[gh_size_class(size)] == old)))
		return p;

	void *q;
	if (kind == GH_KIND_TYPED) {
		/* Whole elements of the block's type. */
		const goheap_type *t = gh_span_type(s, (uintptr_t)p);
		if (size > SIZE_MAX - t->size) {
			errno = ENOMEM;
			return NULL;
		}
		q = goheap_malloc_typed((size + t->size - 1) / t->size * t->size, t);
	} else {
		q = malloc_kind(size, kind == GH_KIND_TINY ? GH_KIND_NOSCAN : kind, NULL);
	}
	if (!q)
		return NULL;
	/* memmove: a tiny block's new home may be in the same 16 bytes. */
	memmove(q, p, size < old ? size : old);
	goheap_free(p);
	return q;
}

/* Count a pointer lookup (memstats nlookup). */
static void count_lookup(void)
{
	gh_mcache *c = gh_tls_cache;
	if (c)
		gh_local_add(&c->nlookup, 1);
	else
		gh_stat_add(&gh_heap.stats.nlookup, 1);
}

size_t goheap_usable_size(const void *p)
{
	if (!p)
		return 0;
	count_lookup();
	const char *why;
	gh_span *s = block_at(p, &why);
	if (!s || GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY)
		return 0;
	return s->elemsize;
}

void *goheap_base(const void *p)
{
	count_lookup();
	uintptr_t a = (uintptr_t)p;
	gh_span *s = gh_span_of(a);
	if (!s)
		return NULL;
	uintptr_t base = s->start;
	if (GH_SPANCLASS_CLASS(s->spanclass) != 0) {
		uint32_t idx = gh_span_index(s, a);
		base = s->start + (size_t)idx * s->elemsize;
		if (!gh_span_allocated(s, idx) ||
		    gh_track_peek(&((const gh_link *)base)->tag) == gh_free_tag((void *)base))
			return NULL;
	}
	return (void *)base;
}

void goheap_free_os_memory(void)
{
	gh_init();
	/* As Go's debug.FreeOSMemory: collect, then release every free span. */
	gh_mcache *c = gh_tls_cache;
	if (c)
		gh_mcache_flush(c);
	gh_gc_collect(true);
	if (c)
		gh_mcache_flush(c);
	gh_mheap_scavenge(0);
}
