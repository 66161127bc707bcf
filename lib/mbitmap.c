/*
 * mbitmap.c - precise pointer layouts for typed blocks.
 *
 * goheap_type_new describes a C type by its size and the offsets of its
 * pointer fields; the description is a bitmap with one bit per 8-byte word
 * of the type.  goheap_malloc_typed gives a block holding an array of such
 * elements; the collector scans only the words the bitmap names, repeated
 * for every element (mgcmark.c).  A span of typed blocks keeps, per block,
 * the type it was allocated with (gh_span.types).
 *
 * Types live as long as the process; their memory comes from the OS, never
 * from the collected heap.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"

static gh_mutex type_lock = GH_MUTEX_INITIALIZER(GH_RANK_TYPES);
static gh_bumpalloc type_mem; /* type descriptors (under type_lock) */
static gh_fixalloc typesalloc; /* side tables of small typed spans */
static uint64_t types_inuse;
static pthread_once_t types_once = PTHREAD_ONCE_INIT;

static void types_init(void)
{
	gh_fixalloc_init(&typesalloc, GH_MAX_OBJS_PER_SPAN * sizeof(void *), &types_inuse,
			 &gh_heap.stats.gc_sys);
}


goheap_type *goheap_type_new(size_t size, const size_t *ptr_offsets, size_t n_ptrs)
{
	if (size == 0 || size > ((size_t)1 << 40) || (n_ptrs && (!ptr_offsets || size % 8))) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n_ptrs; i++)
		if (ptr_offsets[i] % 8 || ptr_offsets[i] + 8 > size) {
			errno = EINVAL;
			return NULL;
		}
	size_t nwords = n_ptrs ? size / 8 : 0;
	gh_init();
	gh_lock(&type_lock);
	goheap_type *t = gh_bumpalloc_alloc(&type_mem, sizeof *t + (nwords + 63) / 64 * 8);
	gh_unlock(&type_lock);
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->size = size;
	t->nwords = nwords;
	memset(t->bits, 0, (nwords + 63) / 64 * 8);
	for (size_t i = 0; i < n_ptrs; i++) {
		size_t w = ptr_offsets[i] / 8;
		t->bits[w >> 6] |= (uint64_t)1 << (w & 63);
	}
	return t;
}

int gh_span_alloc_types(gh_span *s)
{
	pthread_once(&types_once, types_init);
	gh_lock(&type_lock);
	void *types = gh_fixalloc_alloc(&typesalloc);
	gh_unlock(&type_lock);
	/* Release: concurrent marking may read the table (gh_span_type). */
	__atomic_store_n(&s->types, types, __ATOMIC_RELEASE);
	return types ? 0 : -1;
}

void gh_span_free_types(void *types)
{
	gh_lock(&type_lock);
	gh_fixalloc_free(&typesalloc, types);
	gh_unlock(&type_lock);
}

void gh_span_set_type(gh_span *s, uintptr_t p, const goheap_type *t)
{
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0)
		__atomic_store_n((const goheap_type **)&s->types, t, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&((const goheap_type **)s->types)[gh_span_index(s, p)], t,
				 __ATOMIC_RELEASE);
}

void gh_types_lock(void)
{
	gh_lock(&type_lock);
}

void gh_types_unlock(void)
{
	gh_unlock(&type_lock);
}
