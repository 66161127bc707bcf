/*
 * debugmode.h - the GOHEAP_DEBUG modes that help find bugs in the program
 * (debugmode.c: efence, allocfreetrace, poison): the hooks the allocation
 * and free paths call, and the word that says whether they must.
 *
 * While off they cost the fast paths nothing they do not pay already.  The
 * free fast path tests gh_debug_flags, one word that is zero unless a debug
 * mode or Valgrind is on.  The allocation fast path pays only the heap
 * profile's countdown (mprof.h), which is held at zero while any debug mode
 * or Valgrind is on, so that every allocation then takes the slow path,
 * where the hooks live (the fast path has no memory-checker hook of its
 * own).
 */
#ifndef GH_DEBUGMODE_H
#define GH_DEBUGMODE_H

#include "gh.h"

/* Bits of gh_debug_flags. */
enum {
	GH_DEBUG_VALGRIND = 1, /* track.h's memcheck hooks are live */
	GH_DEBUG_EFENCE = 2,
	GH_DEBUG_TRACE = 4,
	GH_DEBUG_POISON = 8,
};

/* The word every freed block is filled with under GOHEAP_DEBUG=poison=1
 * (goheap(7)): a pointer read from dead memory shows as 0xdeadbeefdeadbeef,
 * which is also never a valid user-space address. */
#define GH_POISON_WORD UINT64_C(0xdeadbeefdeadbeef)

GH_INTERNAL extern int gh_debug_flags;

/* Whether a debug mode or Valgrind wants every call on the slow path. */
static inline bool gh_debug_on(void)
{
	return GH_UNLIKELY(__atomic_load_n(&gh_debug_flags, __ATOMIC_RELAXED) != 0);
}

/* Read the GOHEAP_DEBUG modes; called once at start-up, after options. */
GH_INTERNAL void gh_debug_init(void);
/* efence: a block of size bytes of the given kind on pages of its own,
 * ending at the end of its last page, with an inaccessible page after it.
 * NULL with errno ENOMEM. */
GH_INTERNAL void *gh_efence_alloc(size_t size, uint32_t kind, const goheap_type *type);
/* efence: make the large span s of a dead block inaccessible for good
 * (instead of gh_span_release). */
GH_INTERNAL void gh_efence_retire(gh_span *s);
/* A block handed out (trace). */
GH_INTERNAL void gh_debug_alloc(void *p, size_t size, uint32_t kind);
/* A block freed by goheap_free (byGC false) or by the collector (true), of
 * size usable bytes: trace, then poison all but the first skip bytes. */
GH_INTERNAL void gh_debug_free(void *p, size_t size, size_t skip, bool bygc);

#endif
