/*
 * mgc.c - the garbage collector: one collection, its pacing, and the
 * collector's public entry points.
 *
 * libgoheap's collector is the seed's mark-sweep collector, made to work
 * on C programs: it cannot know which words are pointers on stacks and in
 * static data, so it scans them conservatively (mgcmark.c).  A collection:
 *
 *   1. Finish sweeping the previous cycle (mgcsweep.c).
 *   2. Take the roots, thread-registry and finalizer locks, and enter the
 *      dynamic loader's object list (dl_iterate_phdr), so that no thread
 *      can join or leave, no root range change and no library be unloaded
 *      until the world runs again.
 *   3. Stop the world: signal every other registered thread and wait until
 *      each has spilled its registers and published its stack pointer
 *      (stw_linux.c).
 *   4. Mark from the roots: thread stacks, static data, registered ranges,
 *      arguments of threads being started, finalizer records.
 *   5. Advance the cache epoch (thread caches give their blocks back before
 *      their next allocation) and the sweepgen (every span is now to be
 *      swept).
 *   6. Restart the world.  Pause = steps 3-6.
 *   7. Set the next goal: live bytes marked x (1 + GOGC/100), at least
 *      4 MiB, as the seed does.
 *   8. Sweep: in the background, or all at once for goheap_gc.
 *
 * A collection starts when heap_live reaches the goal.  heap_live is set to
 * the bytes marked at the end of each collection, then counts the blocks
 * threads take into their caches or as large blocks, less those they give
 * back (Go's heapLive, counted per batch rather than per span).  The check
 * sits on the allocation slow path, once per batch or large block.
 *
 * While the world is stopped the collecting thread takes no lock that a
 * stopped thread may hold (heap, mcentral, stdio, malloc): everything it
 * needs it locked before stopping, or is its own.
 */
#include "config.h"

#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gc.h"
#include "gh.h"
#include "mem.h"
#include "monitor.h"
#include "track.h"

enum { GH_MIN_GOAL = 4 << 20 };

gh_gcstate gh_gc = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.stats_lock = PTHREAD_MUTEX_INITIALIZER,
	.next_gc = GH_MIN_GOAL,
	.percent = 100,
};

static uint64_t goal_for(uint64_t live, int percent)
{
	uint64_t g = live + live / 100 * (uint64_t)percent + live % 100 * (uint64_t)percent / 100;
	return g < GH_MIN_GOAL ? GH_MIN_GOAL : g;
}

/* The pacing estimate of live bytes: what the last collection marked, plus
 * what threads have taken into their caches or as large blocks since, less
 * what they gave back.  Sweeping does not count: garbage was never in it. */
static uint64_t heap_live(void)
{
	int64_t v = (int64_t)__atomic_load_n(&gh_gc.heap_live, __ATOMIC_RELAXED);
	return v > 0 ? (uint64_t)v : 0;
}

void gh_gc_note_alloc(int64_t bytes)
{
	__atomic_fetch_add(&gh_gc.heap_live, (uint64_t)bytes, __ATOMIC_RELAXED);
}

void gh_gc_init(void)
{
	gh_gc.percent = (int)gh_option(GH_OPT_GOGC);
	gh_gc.gctrace = (int)gh_option(GH_OPT_GCTRACE);
	gh_gc.start_ns = gh_nanotime();
	gh_gc.next_gc = GH_MIN_GOAL;
	gh_heap.sweepgen = 4;
}

void gh_gc_maybe(void)
{
	gh_monitor_check();
	if (__atomic_load_n(&gh_gc.percent, __ATOMIC_RELAXED) < 0)
		return;
	if (heap_live() < __atomic_load_n(&gh_gc.next_gc, __ATOMIC_RELAXED))
		return;
	gh_gc_collect(false);
}

typedef struct cycle {
	bool ok;
	uint64_t marked;
	uint64_t t_stop, t_start; /* the pause */
	uint64_t wall_end;        /* its end, ns since the Epoch */
} cycle;

/* Steps 3-6, called by dl_iterate_phdr for the first loaded object, so that
 * the loader's list lock is held throughout. */
static int cycle_in_loader(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	cycle *c = arg;
	c->t_stop = gh_nanotime();
	if (gh_stw_stop() != 0) {
		c->ok = false;
		c->t_start = gh_nanotime();
		return 1;
	}
	gh_track_quiet_begin();
	c->marked = gh_mark();
	gh_track_quiet_end();
	__atomic_add_fetch(&gh_gc.epoch, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&gh_heap.sweepgen, 2, __ATOMIC_RELEASE);
	__atomic_store_n(&gh_gc.heap_live, c->marked, __ATOMIC_RELAXED);
	gh_stw_start();
	c->t_start = gh_nanotime();
	c->wall_end = gh_walltime();
	c->ok = true;
	return 1;
}

void gh_gc_collect(bool forced)
{
	/* The collecting thread's own stack is a root: it must be known. */
	if (gh_thread_autoregister() != 0)
		return;
	pthread_mutex_lock(&gh_gc.lock);
	if (!forced && (gh_gc.percent < 0 || heap_live() < gh_gc.next_gc)) {
		pthread_mutex_unlock(&gh_gc.lock);
		return; /* another thread collected meanwhile */
	}
	uint64_t t0 = gh_nanotime();
	uint64_t before = heap_live();
	gh_sweep_finish();
	gh_check_heap();

	cycle c = {0};
	gh_roots_lock();
	gh_threads_lock();
	gh_final_lock();
	dl_iterate_phdr(cycle_in_loader, &c);
	gh_final_unlock();
	gh_threads_unlock();
	gh_roots_unlock();

	uint64_t t1 = gh_nanotime();
	if (forced)
		gh_sweep_finish();
	else
		gh_sweep_background();
	uint64_t t2 = gh_nanotime();

	pthread_mutex_lock(&gh_gc.stats_lock);
	if (c.ok) {
		uint64_t pause = c.t_start - c.t_stop;
		uint32_t i = gh_gc.numgc % 256;
		gh_gc.pause_ns[i] = pause;
		gh_gc.pause_end[i] = c.wall_end;
		gh_gc.pause_total_ns += pause;
		gh_gc.last_gc = gh_gc.pause_end[i];
		gh_gc.last_live = c.marked;
		gh_gc.numgc++;
		__atomic_store_n(&gh_gc.next_gc, goal_for(c.marked, gh_gc.percent < 0 ? 100 : gh_gc.percent),
				 __ATOMIC_RELAXED);
	} else {
		/* Try again once the heap has grown by half. */
		__atomic_store_n(&gh_gc.next_gc, before + before / 2 + GH_MIN_GOAL, __ATOMIC_RELAXED);
	}
	uint32_t numgc = gh_gc.numgc;
	uint64_t goal = gh_gc.next_gc;
	pthread_mutex_unlock(&gh_gc.stats_lock);

	if (gh_gc.gctrace > 0 && c.ok)
		gh_warn("gc %u @%.3fs: %.3f+%.3f+%.3f ms sweep+pause+sweep, "
			"%llu->%llu MB, %llu MB goal, %llu MB marked, %u workers%s",
			numgc, (double)(t0 - gh_gc.start_ns) / 1e9, (double)(c.t_stop - t0) / 1e6,
			(double)(c.t_start - c.t_stop) / 1e6, (double)(t2 - t1) / 1e6,
			(unsigned long long)(before >> 20), (unsigned long long)(heap_live() >> 20),
			(unsigned long long)(goal >> 20), (unsigned long long)(c.marked >> 20), 1u,
			forced ? " (forced)" : "");
	pthread_mutex_unlock(&gh_gc.lock);
	if (c.ok)
		gh_monitor_gc_done();
}

/* Steps 2, 3 and 6 of a collection around fn instead of marking: fn runs
 * with the world stopped, no collection or sweep in progress, and the
 * roots, thread registry and finalizer locks held (heapdump.c).  prepare,
 * if not NULL, runs just before, with only gh_gc.lock held. */
typedef struct stopped_call {
	void (*fn)(void *);
	void *arg;
	bool ok;
} stopped_call;

static int call_in_loader(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	stopped_call *c = arg;
	if (gh_stw_stop() != 0)
		return 1;
	c->fn(c->arg);
	gh_stw_start();
	c->ok = true;
	return 1;
}

int gh_with_world_stopped(void (*prepare)(void *), void (*fn)(void *), void *arg)
{
	if (gh_thread_autoregister() != 0)
		return -1;
	pthread_mutex_lock(&gh_gc.lock);
	gh_sweep_finish();
	if (prepare)
		prepare(arg);
	stopped_call c = {fn, arg, false};
	gh_roots_lock();
	gh_threads_lock();
	gh_final_lock();
	dl_iterate_phdr(call_in_loader, &c);
	gh_final_unlock();
	gh_threads_unlock();
	gh_roots_unlock();
	pthread_mutex_unlock(&gh_gc.lock);
	if (!c.ok) {
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

void goheap_gc(void)
{
	gh_init();
	gh_gc_collect(true);
}

int goheap_set_gc_percent(int percent)
{
	gh_init();
	pthread_mutex_lock(&gh_gc.stats_lock);
	int old = gh_gc.percent;
	int p = percent < 0 ? -1 : percent;
	__atomic_store_n(&gh_gc.percent, p, __ATOMIC_RELAXED);
	if (p >= 0)
		__atomic_store_n(&gh_gc.next_gc, goal_for(gh_gc.last_live, p), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&gh_gc.stats_lock);
	return old;
}

void gh_gc_read_stats(goheap_memstats *m)
{
	pthread_mutex_lock(&gh_gc.stats_lock);
	m->next_gc = gh_gc.next_gc;
	m->last_gc = gh_gc.last_gc;
	m->pause_total_ns = gh_gc.pause_total_ns;
	memcpy(m->pause_ns, gh_gc.pause_ns, sizeof m->pause_ns);
	memcpy(m->pause_end, gh_gc.pause_end, sizeof m->pause_end);
	m->numgc = gh_gc.numgc;
	m->gc_percent = gh_gc.percent < 0 ? UINT32_MAX : (uint32_t)gh_gc.percent;
	pthread_mutex_unlock(&gh_gc.stats_lock);
}

/* ---- fork ----
 *
 * The child of fork() has one thread and copies of every lock.  Before the
 * fork the forking thread takes every lock of the library, in lock order,
 * so that no structure is copied half-changed; both sides then release
 * them, and the child forgets the threads and caches that did not come
 * along. */

static void fork_prepare(void)
{
	pthread_mutex_lock(&gh_gc.lock);
	gh_roots_lock();
	gh_threads_lock();
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++)
		pthread_mutex_lock(&gh_heap.central[sc].lock);
	pthread_mutex_lock(&gh_heap.lock);
	gh_final_lock();
	pthread_mutex_lock(&gh_gc.stats_lock);
	gh_mcache_registry_lock();
	gh_types_lock();
}

static void fork_release(void)
{
	gh_types_unlock();
	gh_mcache_registry_unlock();
	pthread_mutex_unlock(&gh_gc.stats_lock);
	gh_final_unlock();
	pthread_mutex_unlock(&gh_heap.lock);
	for (uint32_t sc = GH_NUM_SPANCLASSES; sc-- > 0;)
		pthread_mutex_unlock(&gh_heap.central[sc].lock);
	gh_threads_unlock();
	gh_roots_unlock();
	pthread_mutex_unlock(&gh_gc.lock);
}

static void fork_child(void)
{
	fork_release();
	gh_threads_after_fork();
	gh_mcache_after_fork();
	gh_sweep_after_fork();
	gh_final_after_fork();
}

void gh_gc_atfork(void)
{
	pthread_atfork(fork_prepare, fork_release, fork_child);
}
