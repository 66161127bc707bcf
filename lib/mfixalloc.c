/*
 * mfixalloc.c - a free-list allocator for fixed-size metadata (span
 * descriptors, thread caches).  Memory comes straight from the OS in 64 KiB
 * chunks and is never returned to it, so a stale pointer to a descriptor
 * always points at readable memory: lookups rely on that (see gh_span_at).
 * Never takes memory from the collected heap.  Chunks are kept on a list
 * so that the collector can visit every span descriptor ever made
 * (gh_fixalloc_foreach); slots not yet carved read as zero.
 *
 * The caller serialises calls on one gh_fixalloc (its own lock).
 */
#include "config.h"

#include <string.h>

#include "gh.h"
#include "mem.h"

enum { GH_FIXALLOC_CHUNK = 64 << 10, CHUNK_HEADER = 16 };

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
