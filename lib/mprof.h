/*
 * mprof.h - heap profiling (mprof.c): the hooks the allocation and free
 * paths call.  See mprof.c for how sampling works.
 *
 * The allocation fast path pays for it with one subtraction and one
 * branch: the calling thread's byte countdown to the next sample
 * (gh_mcache.sample_left).  The allocation that would take it to zero or
 * below goes to the slow path, which samples; the debug modes hold it at
 * zero to send every allocation there (debugmode.h).  Sampled blocks carry
 * a special (nspecials, and nprofiled of those), which sends the frees of
 * all the span's blocks to the slow path; there, in a span with samples
 * only (nspecials == nprofiled), a block that was not sampled skips the
 * specials lock (a counting filter in mprof.c).
 */
#ifndef GH_MPROF_H
#define GH_MPROF_H

#include "gh.h"

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
