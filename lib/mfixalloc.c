/*
 * mfixalloc.c - a free-list allocator for fixed-size metadata (span
 * descriptors, thread caches).  Memory comes straight from the OS in 64 KiB
 * chunks and is never returned to it, so a stale pointer to a descriptor
 * always points at readable memory: lookups rely on that (see gh_span_at).
 * Never takes memory from the collected heap.  Chunks are kept on a list
 * so that the collector can visit every span descriptor ever made
 * (gh_fixalloc_foreach); slots not yet carved read as zero.
 *
 * Releasing: after a heap has shrunk, most span descriptors are free
 * (gh_fixalloc_release).  A page of a chunk whose slots are all free goes
 * back to the OS: it stays mapped and reads as zeros, which is how a free
 * span descriptor reads to a lock-free lookup.  The free list is then made
 * anew from the free slots whose first word (the list link) lies in a page
 * kept; the slots that start in a released page are recovered, page by
 * page, when the list runs dry (reclaim), before a new chunk is mapped.
 * Each chunk's header keeps the mask of its released pages.
 *
 * The caller serialises calls on one gh_fixalloc (its own lock).
 */
#include "config.h"

#include <string.h>

#include "gh.h"
#include "os.h"

/* A chunk: its first word links the chunks, its second is the mask of its
 * released pages. */
enum { GH_FIXALLOC_CHUNK = 64 << 10, CHUNK_HEADER = 16 };

static uint64_t *released_mask(uint8_t *chunk)
{
	return (uint64_t *)chunk + 1;
}

/* Slots end before this offset in chunk c: the whole chunk, but for the
 * one being carved. */
static size_t carved_end(const gh_fixalloc *f, const uint8_t *c)
{
	if (f->chunk && f->chunk >= c && f->chunk <= c + GH_FIXALLOC_CHUNK)
		return (size_t)(f->chunk - c);
	return GH_FIXALLOC_CHUNK;
}

/* Put back on the free list the slots that start in the released pages of
 * one chunk; false if no chunk has any. */
static bool reclaim(gh_fixalloc *f)
{
	size_t ps = gh_sys_pagesize();
	for (uint8_t *c = f->chunks; c; c = *(void **)c) {
		uint64_t mask = *released_mask(c);
		if (!mask)
			continue;
		*released_mask(c) = 0;
		size_t end = carved_end(f, c);
		for (size_t off = CHUNK_HEADER; off + f->size <= end; off += f->size)
			if (mask >> (off / ps) & 1) {
				*(void **)(c + off) = f->list;
				f->list = c + off;
			}
		return true;
	}
	return false;
}

void gh_fixalloc_init(gh_fixalloc *f, size_t size, uint64_t *inuse, uint64_t *sys)
{
	memset(f, 0, sizeof *f);
	f->size = (size + 15) & ~(size_t)15;
	f->inuse = inuse;
	f->sys = sys;
}

/* A zeroed object, or NULL if the OS refuses memory. */
void *gh_fixalloc_alloc(gh_fixalloc *f)
{
	void *p;
	if (!f->list && f->nreleased)
		f->nreleased -= reclaim(f);
	if (f->list) {
		p = f->list;
		f->list = *(void **)p;
		/* Word by word, atomically: span descriptors are read
		 * without locks (their state, by the sweeper's walk) even
		 * while free. */
		for (size_t i = 0; i < f->size / 8; i++)
			__atomic_store_n((uint64_t *)p + i, 0, __ATOMIC_RELAXED);
	} else {
		if (f->nchunk < f->size) {
			uint8_t *c = gh_sys_alloc(GH_FIXALLOC_CHUNK, f->sys);
			if (!c)
				return NULL;
			*(void **)c = f->chunks;
			__atomic_store_n(&f->chunks, c, __ATOMIC_RELEASE);
			f->chunk = c + CHUNK_HEADER;
			f->nchunk = GH_FIXALLOC_CHUNK - CHUNK_HEADER;
		}
		p = f->chunk;
		f->chunk += f->size;
		f->nchunk -= f->size;
	}
	gh_stat_add(f->inuse, (int64_t)f->size);
	return p;
}

void gh_fixalloc_free(gh_fixalloc *f, void *p)
{
	gh_stat_add(f->inuse, -(int64_t)f->size);
	*(void **)p = f->list;
	f->list = p;
}

size_t gh_fixalloc_release(gh_fixalloc *f, bool (*is_free)(const void *obj))
{
	size_t ps = gh_sys_pagesize(), released = 0;
	if (ps > GH_FIXALLOC_CHUNK / 2)
		return 0;
	/* 1. Release the pages (but a chunk's first, with its header) whose
	 * slots are all free; not in the chunk being carved, whose slots past
	 * the carving point are not free but not carved yet. */
	for (uint8_t *c = f->chunks; c; c = *(void **)c) {
		if (carved_end(f, c) != GH_FIXALLOC_CHUNK)
			continue;
		size_t end = GH_FIXALLOC_CHUNK / ps * ps;
		uint64_t mask = *released_mask(c);
		for (size_t pg = ps; pg + ps <= end; pg += ps) {
			if (mask >> (pg / ps) & 1)
				continue;
			/* The slots that overlap [pg, pg + ps). */
			size_t first = (pg - CHUNK_HEADER) / f->size;
			size_t last = (pg + ps - 1 - CHUNK_HEADER) / f->size;
			bool all_free = true;
			for (size_t i = first; i <= last && all_free; i++) {
				size_t off = CHUNK_HEADER + i * f->size;
				all_free = off + f->size > GH_FIXALLOC_CHUNK || is_free(c + off);
			}
			if (!all_free)
				continue;
			gh_sys_unused(c + pg, ps);
			mask |= (uint64_t)1 << (pg / ps);
			released += ps;
		}
		if (mask && !*released_mask(c))
			f->nreleased++;
		*released_mask(c) = mask;
	}
	if (!released)
		return 0;
	/* 2. The free list anew, from the free slots whose link lies in a
	 * page kept. */
	f->list = NULL;
	for (uint8_t *c = f->chunks; c; c = *(void **)c) {
		size_t end = carved_end(f, c);
		uint64_t mask = *released_mask(c);
		for (size_t off = CHUNK_HEADER; off + f->size <= end; off += f->size)
			if (!(mask >> (off / ps) & 1) && is_free(c + off)) {
				*(void **)(c + off) = f->list;
				f->list = c + off;
			}
	}
	return released;
}

void *gh_bumpalloc_alloc(gh_bumpalloc *b, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > b->left) {
		size_t chunk = n > GH_FIXALLOC_CHUNK ? n : GH_FIXALLOC_CHUNK;
		uint8_t *c = gh_sys_alloc(chunk, &gh_heap.stats.other_sys);
		if (!c)
			return NULL;
		b->next = c;
		b->left = chunk;
	}
	void *p = b->next;
	b->next += n;
	b->left -= n;
	return p;
}

void gh_fixalloc_foreach(gh_fixalloc *f, void (*fn)(void *obj))
{
	for (uint8_t *c = __atomic_load_n(&f->chunks, __ATOMIC_ACQUIRE); c; c = *(void **)c)
		for (size_t off = CHUNK_HEADER; off + f->size <= GH_FIXALLOC_CHUNK; off += f->size)
			fn(c + off);
}

void *gh_fixalloc_next(gh_fixalloc *f, void **chunk, size_t *off)
{
	if (!*chunk) {
		*chunk = __atomic_load_n(&f->chunks, __ATOMIC_ACQUIRE);
		*off = CHUNK_HEADER;
	}
	while (*chunk) {
		if (*off + f->size <= GH_FIXALLOC_CHUNK) {
			void *slot = (uint8_t *)*chunk + *off;
			*off += f->size;
			return slot;
		}
		*chunk = *(void **)*chunk;
		*off = CHUNK_HEADER;
	}
	return NULL;
}
