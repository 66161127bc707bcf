/*
 * mprof.h - heap profiling (mprof.c) and the debug modes (debugmode.c):
 * the hooks the allocation and free paths call.  See mprof.c for how
 * sampling works and debugmode.c for efence, allocfreetrace and poison.
 *
 * The allocation fast path pays for all of this with one subtraction and
 * one branch: the calling thread's byte countdown to the next sample
 * (gh_mcache.sample_left).  The allocation that would take it to zero or
 * below goes to the slow path, which samples; and it is held at zero while
 * any debug mode or Valgrind is on, so that every allocation then takes
 * the slow path, where the hooks live (the fast path has no memory-checker
 * hook of its own any more).  The free fast path tests gh_debug_flags, one
 * word that is zero unless a debug mode or Valgrind is on.  Sampled blocks
 * carry a special (nspecials, and nprofiled of those), which sends the
 * frees of all the span's blocks to the slow path; there, in a span with
 * samples only (nspecials == nprofiled), a block that was not sampled
 * skips the specials lock (a counting filter in mprof.c).
 */
#ifndef GH_MPROF_H
#define GH_MPROF_H

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

/* ---- Debug modes (debugmode.c) ---- */

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

/* ---- Heap profile (mprof.c) ---- */

/* Set up from GOHEAP_PROFILE_RATE; called once at start-up. */
GH_INTERNAL void gh_mprof_init(void);
/* The slow path of an allocation whose countdown ran out, or that a debug
 * mode sent there: count p, of size usable bytes, against the countdown of
 * cache c, and record it as a sample if that ran out. */
GH_INTERNAL void gh_mprof_alloc(gh_mcache *c, void *p, size_t size);
/* Whether block idx of s may have been sampled; false is sure.  No lock. */
GH_INTERNAL bool gh_mprof_maybe_sampled(const gh_span *s, uint32_t idx);
/* The sampled block of sp, a profile special detached from s, died: count
 * its free and free the record.  Caller holds the specials lock. */
GH_INTERNAL void gh_mprof_special_dead(gh_span *s, gh_special *sp);
/* Keep every thread out of the unwinder, around a stop of the world (see
 * mprof.c). */
GH_INTERNAL void gh_mprof_lock_unwinder(void);
GH_INTERNAL void gh_mprof_unlock_unwinder(void);

#endif
