/*
 * init.c - start-up: the order in which the layers are set up, once, when
 * the library is loaded (the constructor) or first called.
 *
 *   1. Memory checkers, tunables and debug modes: everything below reads
 *      them.
 *   2. The free tag's secret (malloc.c), from the OS's random bits.
 *   3. The page heap, the collector's state, the thread registry and the
 *      static roots.
 *   4. The stop signal's handler (stw_linux.c): without it no collection
 *      can stop other threads, so a failure aborts.  Then write tracking
 *      (wtrack_linux.c), as GOHEAP_GC asks, after it: the mprotect
 *      backend's handler blocks the stop signal.
 *   5. The heap profile, then the fork handlers (the profile's must run
 *      first: its lock is a leaf), then the monitor thread and stats file.
 *
 * Then the constructor registers the loading (normally the main) thread.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "gc.h"
#include "gh.h"
#include "monitor.h"
#include "debugmode.h"
#include "mprof.h"
#include "os.h"
#include "track.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Write tracking as GOHEAP_GC asks.  Falling back to marking with the
 * world stopped is said only to who asked for more by name: the default
 * falls back quietly on kernels before 6.7. */
static void wtrack_init(void)
{
	gh_wt_kind want = (gh_wt_kind)gh_option(GH_OPT_GC);
	const char *env = getenv("GOHEAP_GC");
	if (gh_wt_init(want) != want && env && *env)
		gh_warn("GOHEAP_GC=%s: %s; the collector marks with the world stopped", env,
			gh_wt_unavailable(want));
}

static void init_once_fn(void)
{
	gh_track_init();
	gh_options_init();
	gh_debug_init();
	/* The secret must differ from 0 so that zeroed memory never looks
	 * free. */
	do
		gh_tag_secret = (uintptr_t)gh_sys_random();
	while (gh_tag_secret == 0);
	gh_mheap_init();
	gh_gc_init();
	gh_threads_init();
	gh_roots_init();
	if (gh_stw_init() != 0)
		gh_throw("cannot install the stop-the-world signal handler");
	wtrack_init();
	/* Before gh_gc_atfork: its fork handlers must prepare first, as
	 * the profile's lock is a leaf. */
	gh_mprof_init();
	gh_gc_atfork();
	gh_monitor_start();
}

void gh_init(void)
{
	pthread_once(&init_once, init_once_fn);
}

/* At load: set up, and register the loading (normally the main) thread. */
__attribute__((constructor)) static void gh_constructor(void)
{
	gh_init();
	/* Out of memory already: the thread registers at its first
	 * allocation or collection instead (mcache.c); refusing to load
	 * would fail the whole program. */
	if (gh_thread_autoregister() != 0 && errno != ENOMEM)
		gh_throw("cannot register the main thread: no stack bounds");
}
