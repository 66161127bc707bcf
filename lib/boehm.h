/*
 * boehm.h - what the files of the libgc.so.1 drop-in share (boehm.c for
 * the overview).  Only the drop-in library is built from them.
 */
#ifndef GH_BOEHM_H
#define GH_BOEHM_H

#include "goheap/gc.h"
#include "gh.h"

/* Print a warning through the program's warn proc (GC_set_warn_proc). */
GH_INTERNAL void gh_boehm_warn(const char *msg, GC_word arg);
/* A failed allocation of n bytes: ENOMEM, and what the program's
 * out-of-memory function returns (GC_set_oom_fn), or NULL. */
GH_INTERNAL __attribute__((noinline, cold)) void *gh_boehm_oom(size_t n);
/* Uncollectable objects now (GC_dump). */
GH_INTERNAL size_t gh_boehm_uncollectable_count(void);

/* boehm_final.c: pass GC_finalize_on_demand, GC_finalizer_notifier and
 * GC_java_finalization, which the program may set directly, on to the
 * collector; run the finalizers due after an explicit collection (unless
 * finalization is on demand). */
GH_INTERNAL void gh_boehm_final_sync(void);
GH_INTERNAL void gh_boehm_after_collect(void);

/* boehm_mark.c: the kinds with mark procedures, set up at load. */
GH_INTERNAL void gh_boehm_mark_init(void);

#endif
