/*
 * monitor.h - the library side of the outside view: the stats file
 * (statfile.c) and the monitor thread that keeps it (monitor.c).  The file
 * format is in statfile.h, which the tool shares.
 */
#ifndef GH_MONITOR_H
#define GH_MONITOR_H

#include "gh.h"
#include "statfile.h"

/* ---- The stats file (statfile.c) ---------------------------------------- */

/* The uint64_t scalars of goheap_memstats, in order, with their units:
 * the stats file's schema and the heap dump's MEMSTATS record. */
#define GH_MEMSTATS_SCALARS(X)                                                     \
	X(alloc, BYTES) X(total_alloc, BYTES) X(sys, BYTES) X(nlookup, COUNT)      \
	X(nmalloc, COUNT) X(nfree, COUNT) X(heap_alloc, BYTES) X(heap_sys, BYTES)  \
	X(heap_idle, BYTES) X(heap_inuse, BYTES) X(heap_released, BYTES)           \
	X(heap_objects, COUNT) X(mspan_inuse, BYTES) X(mspan_sys, BYTES)           \
	X(mcache_inuse, BYTES) X(mcache_sys, BYTES) X(gc_sys, BYTES)               \
	X(other_sys, BYTES) X(next_gc, BYTES) X(last_gc, TIMESTAMP)                \
	X(pause_total_ns, NS)

/* Figures the monitor adds to goheap_memstats in the file. */
typedef struct gh_monitor_figures {
	uint64_t update_ns;      /* wall clock of this update */
	uint64_t nupdates;       /* updates so far */
	uint64_t forced_gc;      /* collections forced by the monitor */
	uint64_t scavenged;      /* bytes the monitor's scavenger released */
	uint64_t requests;       /* requests served */
	uint64_t start_ns;       /* process start, wall clock */
	uint64_t forcegc_period; /* ns; 0 never */
	uint64_t scavenge_delay; /* ns */
} gh_monitor_figures;

/* Remember where the stats file goes ($GOHEAP_STATS_DIR); at start-up,
 * before threads may change the environment. */
GH_INTERNAL void gh_statfile_configure(void);
/* Create and publish this process's stats file; 0, or -1 (nothing
 * published; a diagnostic was printed if something looked hostile). */
GH_INTERNAL int gh_statfile_create(void);
/* Write a new snapshot (the monitor thread only). */
GH_INTERNAL void gh_statfile_update(const goheap_memstats *m, const gh_monitor_figures *f);
/* The mapped header and request slot, or NULL if there is no file. */
GH_INTERNAL gh_statfile_header *gh_statfile_header_ptr(void);
GH_INTERNAL gh_statfile_request *gh_statfile_request_ptr(void);
/* Unlink the file if this process made it (at exit). */
GH_INTERNAL void gh_statfile_remove(void);
/* In the child of fork: forget the parent's file without touching it. */
GH_INTERNAL void gh_statfile_forget(void);

/* ---- The monitor thread (monitor.c) ------------------------------------------ */

/* Start the monitor unless GOHEAP_STATS=0 (from gh_init). */
GH_INTERNAL void gh_monitor_start(void);
/* A collection has ended: refresh the file soon. */
GH_INTERNAL void gh_monitor_gc_done(void);

GH_INTERNAL extern int gh_monitor_restart_wanted;
GH_INTERNAL void gh_monitor_restart(void);

/* On allocation slow paths: in a child of fork, start the child's own
 * monitor and stats file.  One load and a predicted branch otherwise. */
static inline void gh_monitor_check(void)
{
	if (GH_UNLIKELY(__atomic_load_n(&gh_monitor_restart_wanted, __ATOMIC_RELAXED)))
		gh_monitor_restart();
}

#endif
