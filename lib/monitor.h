/*
 * monitor.h - the monitor thread (monitor.c), which keeps the stats file
 * (statfile.h) and serves goheap-stat's requests.
 */
#ifndef GH_MONITOR_H
#define GH_MONITOR_H

#include "gh.h"

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
