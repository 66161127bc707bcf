/*
 * mgc.c - the garbage collector: one collection, its pacing, and the
 * collector's public entry points.
 *
 * libgoheap's collector is the seed's mark-sweep collector, made to work
 * on C programs: it cannot know which words are pointers on stacks and in
 * static data, so it scans them conservatively (mgcmark.c).  A collection:
 *
 *   1. Finish sweeping the previous cycle (mgcsweep.c).
 *   2. Take the roots, thread-registry, specials, cache-registry and
 *      unwinder locks, in that order (lockrank.h), and the dynamic
 *      loader's list lock (gh_os_with_loader_locked), so that no thread can
 *      join or leave, no root range change, no thread be stopped inside the
 *      unwinder (mprof.c) and no library be unloaded until the world runs
 *      again.
 *   3. Stop the world: signal every other registered thread and wait until
 *      each has spilled its registers and published its stack pointer
 *      (gh_stw_stop, os.h).
 *   4. Mark from the roots: thread stacks, static data, registered ranges,
 *      arguments of threads being started, finalizer records; then clear
 *      weak links to unmarked blocks and queue the finalizers of unmarked
 *      blocks, marking those (mspecial.c).
 *   5. Take every thread cache's spans back and mark the blocks on their
 *      free lists (mcache.c), then advance the sweepgen: every span is now
 *      to be swept.
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
#include <string.h>
#include <unistd.h>

#include "gc.h"
#include "debugmode.h"
#include "gh.h"
#include "os.h"
#include "mprof.h"
#include "monitor.h"
#include "track.h"

enum { GH_MIN_GOAL = 4 << 20 };
/* The trigger of a concurrent collection, in thousandths of the growth
 * the goal allows: where it starts (Go's first trigger, 7/8), and its
 * bounds. */
enum { GH_TRIGGER_START = 875, GH_TRIGGER_MIN = 400, GH_TRIGGER_MAX = 950 };
/* How long request_collection waits. */
enum wait_for { WAIT_NONE, WAIT_MARKING, WAIT_DONE };
static bool request_collection(bool forced, enum wait_for wait);
static bool collection_pending(void);
static bool goal_stale(void);
static void wait_goal(void);
static void collect_stw(bool forced);
static bool concurrent_mode(void);
/* The CPU limiter's allowance: the collector may run ahead of half the
 * time by this much. */
#define GH_DEBT_MAX_NS 100000000ull

bool (*gh_gc_start_hook)(void);
bool gh_gc_stw_only;

gh_gcstate gh_gc = {
	.lock = GH_MUTEX_INITIALIZER(GH_RANK_GC),
	.stats_lock = GH_MUTEX_INITIALIZER(GH_RANK_GCSTATS),
	.next_gc = GH_MIN_GOAL,
	.percent = 100,
	.memlimit = INT64_MAX,
	.scav_peak = UINT64_MAX,
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

/* The memory limit.  Go 1.19's soft limit: the collector keeps the memory
 * the library has mapped (and not released) under it by collecting earlier
 * and releasing free spans at once, but never spends more than half the
 * time collecting for it (the CPU limiter in gh_gc_maybe): a program whose
 * live data outgrows the limit slows down and exceeds it, rather than
 * collecting without end.  The heap may hold:
 *
 *   limit - memory that is not heap (span descriptors, caches, collector
 *   metadata), less 10 % headroom for fragmentation (blocks rounded up to
 *   their class, partly used spans), and so is the goal for heap_live.
 *   Free spans above limit less 5 % are released (retain_cap). */
static uint64_t nonheap_bytes(void)
{
	const gh_heapstats *h = &gh_heap.stats;
	return gh_stat_get(&h->mspan_sys) + gh_stat_get(&h->mcache_sys) + gh_stat_get(&h->gc_sys) +
	       gh_stat_get(&h->other_sys);
}

/* The scavenger keeps 10 % above what the heap needed at its recent peaks:
 * the larger of a collection's goal and the pages in use when it started
 * (blocks of the goal's bytes take more pages than that: partly used
 * spans, class rounding).  Not the last goal alone (Go's rule): the heap
 * would return pages that it faults back in before the next collection,
 * and the resident size would follow every dip of the live data.  The
 * peak decays by half every GH_SCAV_HALFLIFE_NS (linearly in between), so
 * memory a program no longer needs goes back within seconds, as with
 * jemalloc's decay. */
#define GH_SCAV_HALFLIFE_NS 2000000000ull

static uint64_t decayed(uint64_t peak, uint64_t dt)
{
	uint64_t halvings = dt / GH_SCAV_HALFLIFE_NS;
	if (halvings >= 64)
		return 0;
	peak >>= halvings;
	uint64_t rest = dt % GH_SCAV_HALFLIFE_NS; /* < 2^31: no overflow */
	return peak - (peak >> 1) / GH_SCAV_HALFLIFE_NS * rest -
	       (peak >> 1) % GH_SCAV_HALFLIFE_NS * rest / GH_SCAV_HALFLIFE_NS;
}

uint64_t gh_gc_scavenge_goal(uint64_t now)
{
	uint64_t peak = __atomic_load_n(&gh_gc.scav_peak, __ATOMIC_RELAXED);
	uint64_t at = __atomic_load_n(&gh_gc.scav_peak_ns, __ATOMIC_RELAXED);
	uint64_t goal = __atomic_load_n(&gh_gc.next_gc, __ATOMIC_RELAXED);
	uint64_t cap = __atomic_load_n(&gh_heap.retain_cap, __ATOMIC_RELAXED);
	if (peak == UINT64_MAX)
		return cap; /* no collection yet */
	peak = decayed(peak, now > at ? now - at : 0);
	if (peak < goal)
		peak = goal;
	uint64_t keep = peak + peak / 10;
	return keep < cap ? keep : cap;
}

/* Set next_gc, limited, the scavenger's peak and the heap's retain_cap
 * after a collection that marked live bytes and started with inuse bytes
 * of spans in use (0 when no collection ran).  Caller holds
 * gh_gc.stats_lock. */
/* Of what the last collection marked, the bytes allocated while it marked
 * (gh_mark_black_bytes): garbage or not, they are in the heap until the
 * next collection.  The goal does not grow with them: the trigger starts
 * from the heap they are part of (set_goals). */
static uint64_t last_floating;

static void set_goals(uint64_t live, uint64_t inuse)
{
	int percent = gh_gc.percent;
	uint64_t floating = last_floating;
	uint64_t goal = percent < 0 ? UINT64_MAX : goal_for(live, percent);
	uint64_t cap = UINT64_MAX;
	bool limited = false;
	int64_t limit = gh_gc.memlimit;
	if (limit != INT64_MAX) {
		uint64_t nonheap = nonheap_bytes();
		uint64_t room = (uint64_t)limit > nonheap ? (uint64_t)limit - nonheap : 0;
		uint64_t lg = room - room / 10;
		if (lg < goal) {
			goal = lg;
			limited = true;
		}
		uint64_t l95 = (uint64_t)limit - (uint64_t)limit / 20;
		cap = l95 > nonheap ? l95 - nonheap : 0;
	}
	/* With collection off and no limit to drive it, next_gc shows what
	 * GOGC=100 would ask for (the seed's figure after a forced
	 * collection). */
	if (goal == UINT64_MAX)
		goal = goal_for(live, 100);
	/* Some room to allocate in, whatever the limit says. */
	if (goal < live + (1u << 20))
		goal = live + (1u << 20);
	__atomic_store_n(&gh_gc.next_gc, goal, __ATOMIC_RELAXED);
	/* A concurrent collection starts before the goal, at the share of the
	 * growth adjust_trigger keeps (heap_live at its start counts the live
	 * bytes and what was allocated since). */
	uint64_t ratio = gh_gc.trigger_ratio ? gh_gc.trigger_ratio : GH_TRIGGER_START;
	uint64_t base = live + floating, growth = goal > base ? goal - base : 0;
	__atomic_store_n(&gh_gc.trigger, base + growth / 1000 * ratio + growth % 1000 * ratio / 1000,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&gh_gc.limited, limited, __ATOMIC_RELAXED);
	uint64_t now = gh_nanotime(), peak = gh_gc.scav_peak;
	peak = peak == UINT64_MAX ? 0 : decayed(peak, now - gh_gc.scav_peak_ns);
	uint64_t need = goal > inuse ? goal : inuse;
	__atomic_store_n(&gh_gc.scav_peak, peak > need ? peak : need, __ATOMIC_RELAXED);
	__atomic_store_n(&gh_gc.scav_peak_ns, now, __ATOMIC_RELAXED);
	__atomic_store_n(&gh_heap.retain_cap, cap, __ATOMIC_RELAXED);
}

/* After a concurrent collection that started with before bytes live and
 * whose marking ended with peak: move the trigger so that the next one
 * ends near its goal.  Go's pacer, in its simplest form: a step of 5 % of
 * the growth the goal allows, down when marking ended past the goal, up
 * when it ended well short of it.  Caller holds gh_gc.stats_lock. */
static void adjust_trigger(uint64_t before, uint64_t peak)
{
	uint64_t goal = gh_gc.next_gc, ratio = gh_gc.trigger_ratio;
	if (!ratio)
		ratio = GH_TRIGGER_START;
	uint64_t live = gh_gc.last_live + last_floating, growth = goal > live ? goal - live : 1;
	if (peak > goal && ratio > GH_TRIGGER_MIN + 50)
		ratio -= 50;
	else if (peak < goal - growth / 16 && ratio < GH_TRIGGER_MAX - 50)
		ratio += 50;
	gh_gc.trigger_ratio = ratio;
}

/* Whether the memory the library holds is over 80 % of the limit. */
static bool near_limit(void)
{
	int64_t limit = __atomic_load_n(&gh_gc.memlimit, __ATOMIC_RELAXED);
	return limit != INT64_MAX &&
	       gh_mheap_retained() + nonheap_bytes() > (uint64_t)limit - (uint64_t)limit / 5;
}

/* Whether the heap has reached its goal.  A goal lowered by the memory
 * limit counts only while the collector's time debt allows (see
 * charge_collection). */
static bool goal_reached(bool trigger)
{
	uint64_t at = __atomic_load_n(trigger ? &gh_gc.trigger : &gh_gc.next_gc, __ATOMIC_RELAXED);
	if (at > heap_live())
		return false;
	if (!__atomic_load_n(&gh_gc.limited, __ATOMIC_RELAXED))
		return __atomic_load_n(&gh_gc.percent, __ATOMIC_RELAXED) >= 0;
	uint64_t end = __atomic_load_n(&gh_gc.end_ns, __ATOMIC_RELAXED);
	uint64_t debt = __atomic_load_n(&gh_gc.debt_ns, __ATOMIC_RELAXED);
	uint64_t since = gh_nanotime() - end;
	return debt <= since || debt - since <= GH_DEBT_MAX_NS;
}

/* The CPU limiter's account, after a collection whose pause ran from t0
 * to t1 (the time every thread of the program waited; sweeping runs
 * beside the program and is not counted, as Go's limiter counts marking
 * only).
 * The debt grows by the time collections take and shrinks by the time
 * the program runs between them: over any stretch of time, a collection
 * the memory limit asks for starts only if the collector's share stays
 * under half, give or take GH_DEBT_MAX_NS.  Caller holds gh_gc.lock. */
static void charge_collection(uint64_t t0, uint64_t t1)
{
	gh_assert_held(&gh_gc.lock);
	uint64_t ran = t0 - gh_gc.end_ns;
	uint64_t debt = gh_gc.debt_ns > ran ? gh_gc.debt_ns - ran : 0;
	__atomic_store_n(&gh_gc.debt_ns, debt + (t1 - t0), __ATOMIC_RELAXED);
	__atomic_store_n(&gh_gc.end_ns, t1, __ATOMIC_RELAXED);
}

void gh_gc_note_alloc(int64_t bytes)
{
	__atomic_fetch_add(&gh_gc.heap_live, (uint64_t)bytes, __ATOMIC_RELAXED);
}

void gh_gc_init(void)
{
	gh_gc.percent = (int)gh_option(GH_OPT_GOGC);
	int64_t limit = gh_option(GH_OPT_MEMLIMIT);
	gh_gc.memlimit = limit < 0 ? INT64_MAX : limit;
	gh_gc.gctrace = (int)gh_option(GH_OPT_GCTRACE);
	gh_gc.start_ns = gh_nanotime();
	set_goals(0, 0);
	gh_heap.sweepgen = 4;
}

void gh_gc_maybe(void)
{
	gh_monitor_check();
	if (!concurrent_mode()) {
		if (goal_reached(false))
			gh_gc_collect(false);
		return;
	}
	if (!goal_reached(true))
		return;
	/* At the trigger: a collection runs, or is asked for.  A 32nd past
	 * the goal, wait until its marking runs (from then on assists pace
	 * this thread); a tenth past it, which assists did not prevent,
	 * until it ends. */
	uint64_t goal = __atomic_load_n(&gh_gc.next_gc, __ATOMIC_RELAXED), live = heap_live();
	enum wait_for wait = WAIT_NONE;
	if (live > goal + goal / 32 && goal_reached(false))
		wait = live > goal + goal / 10 ? WAIT_DONE
		       : gh_gc_marking_now()    ? WAIT_NONE
						: WAIT_MARKING;
	if (wait == WAIT_NONE && collection_pending())
		return;
	/* Marking has ended and its goal is not set yet: no new collection
	 * on the old goal, but a thread past it waits for the new one, or a
	 * goheap-gc short of CPU there would leave the heap unbounded
	 * (t-gc-bounded under load: 28 MB against a 16 MB goal). */
	if (goal_stale()) {
		if (wait != WAIT_NONE)
			wait_goal();
		return;
	}
	if (!request_collection(false, wait))
		collect_stw(false);
}

typedef struct cycle {
	bool ok;
	bool forced;
	uint64_t marked;
	uint64_t t0;              /* start, before the sweep */
	uint64_t t_stop, t_start; /* the (first) pause */
	uint64_t t_stop2, t_start2; /* the final pause (concurrent) */
	uint64_t t_swept;         /* end of the sweep after */
	uint64_t wall_end;        /* its end, ns since the Epoch */
	uint64_t before, peak;    /* heap_live at the start, at mark end */
	uint64_t inuse;
	uint32_t nmarkers;
	bool concurrent;
	/* CPU time (gctrace): of the first (or only) stop, of the final
	 * stop, of the markers while the world ran, of the assists. */
	uint64_t cpu_stop, cpu_stop2, cpu_mark, cpu_assist;
} cycle;

/* CPU time the collector has used, ever (gctrace's share). */
static uint64_t gc_cpu_total;

/* The CPU the collecting thread and the helper markers used since *t0
 * and *h0, which are set to now. */
static uint64_t cpu_since(uint64_t *t0, uint64_t *h0)
{
	uint64_t t = gh_thread_cputime(), h = __atomic_load_n(&gh_mark_helper_cpu_ns, __ATOMIC_RELAXED);
	uint64_t d = (t - *t0) + (h - *h0);
	*t0 = t;
	*h0 = h;
	return d;
}

/* Stop the world for c's first (or only) pause, its CPU clocks started
 * in *t0 and *h0; false, the collection off, if a thread did not stop. */
static bool pause_begin(cycle *c, uint64_t *t0, uint64_t *h0)
{
	*t0 = gh_thread_cputime();
	*h0 = __atomic_load_n(&gh_mark_helper_cpu_ns, __ATOMIC_RELAXED);
	c->t_stop = gh_nanotime();
	if (gh_stw_stop() == 0)
		return true;
	c->ok = false;
	c->t_start = gh_nanotime();
	return false;
}

/* Steps 3-6, with the loader's list lock held throughout. */
static void cycle_in_loader(void *arg)
{
	cycle *c = arg;
	uint64_t t0, h0;
	if (!pause_begin(c, &t0, &h0))
		return;
	gh_track_quiet_begin();
	c->marked = gh_mark();
	/* Weak links and finalizers, world still stopped (mspecial.c). */
	c->marked += gh_specials_mark_end();
	gh_track_quiet_end();
	c->peak = heap_live();
	__atomic_add_fetch(&gh_gc.epoch, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&gh_heap.sweepgen, 2, __ATOMIC_RELEASE);
	__atomic_store_n(&gh_gc.heap_live, c->marked, __ATOMIC_RELAXED);
	gh_sweep_reset(c->marked);
	gh_stw_start();
	c->t_start = gh_nanotime();
	c->t_stop2 = c->t_start2 = c->t_start;
	c->cpu_stop = cpu_since(&t0, &h0);
	c->wall_end = gh_walltime();
	c->ok = true;
}

/* Zero the stack below the caller, where the sweep just run and the
 * calls before it left copies of heap addresses: the frames of the
 * collection itself are built there next, and any slot of them left
 * unwritten would otherwise be a stale root that keeps garbage alive.
 * (A tree's root on such a slot kept a whole dropped list alive.) */
static __attribute__((noinline)) void clear_stack_below(void)
{
	volatile unsigned char buf[16 << 10];
	memset((unsigned char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Steps 2 to 6 around fn, which runs with the world stopped and the locks
 * of step 2 held (or not at all, if the world could not be stopped). */
static void with_stop_locks(void (*fn)(void *), void *arg)
{
	gh_roots_lock();
	gh_threads_lock();
	gh_specials_lock();
	gh_mcache_registry_lock(); /* marking walks the caches */
	gh_mprof_lock_unwinder();
	gh_os_with_loader_locked(fn, arg);
	gh_mprof_unlock_unwinder();
	gh_mcache_registry_unlock();
	gh_specials_unlock();
	gh_threads_unlock();
	gh_roots_unlock();
}

/* Steps 1 and the preparation of marking, common to both kinds of
 * collection; false if the collection is off after all.  Caller holds
 * gh_gc.lock. */
static bool cycle_begin(cycle *c, bool forced)
{
	if (!forced && !goal_reached(c->concurrent))
		return false; /* another thread collected meanwhile */
	/* The libgc.so.1 drop-in's GC_disable and start callback (boehm.c). */
	if (gh_gc_start_hook && !gh_gc_start_hook())
		return false;
	c->forced = forced;
	c->t0 = gh_nanotime();
	c->before = heap_live();
	c->inuse = gh_stat_get(&gh_heap.stats.heap_inuse);
	gh_sweep_finish();
	c->nmarkers = gh_mark_prepare();
	gh_check_heap();
	return true;
}

/* Step 8 and the books: the sweep, the figures, the next goal, gctrace.
 * Caller holds gh_gc.lock. */
static void cycle_end(cycle *c)
{
	if (c->forced || near_limit()) {
		/* Near the memory limit, garbage left unswept would make the
		 * heap grow: sweep it all now and release what is over the
		 * limit's share. */
		gh_sweep_finish();
		uint64_t cap = __atomic_load_n(&gh_heap.retain_cap, __ATOMIC_RELAXED);
		if (cap != UINT64_MAX)
			gh_mheap_scavenge_to(cap, UINT64_MAX);
	} else {
		gh_sweep_background();
	}
	c->t_swept = gh_nanotime();

	gh_lock(&gh_gc.stats_lock);
	if (c->ok) {
		uint64_t pause = (c->t_start - c->t_stop) + (c->t_start2 - c->t_stop2);
		uint32_t i = gh_gc.numgc % 256;
		gh_gc.pause_ns[i] = pause;
		gh_gc.pause_end[i] = c->wall_end;
		gh_gc.pause_total_ns += pause;
		gh_gc.last_gc = gh_gc.pause_end[i];
		/* Read without the lock by the monitor thread. */
		__atomic_store_n(&gh_gc.numgc, gh_gc.numgc + 1, __ATOMIC_RELAXED);
		if (c->concurrent)
			adjust_trigger(c->before, c->peak);
		/* The next goal grows from what marking found reachable, not
		 * from the blocks allocated while it ran: born marked,
		 * reachable or not, they count as allocated since.  (Go counts
		 * them as live; against a fast allocator the goal then grows
		 * with its own garbage.) */
		gh_gc.last_live = c->marked - gh_mark_black_bytes;
		last_floating = gh_mark_black_bytes;
		set_goals(gh_gc.last_live, c->inuse);
		gh_sweep_pace(c->concurrent ? gh_gc.trigger : gh_gc.next_gc);
	} else {
		/* Try again once the heap has grown by half. */
		uint64_t again = c->before + c->before / 2 + GH_MIN_GOAL;
		__atomic_store_n(&gh_gc.next_gc, again, __ATOMIC_RELAXED);
		__atomic_store_n(&gh_gc.trigger, again, __ATOMIC_RELAXED);
	}
	uint32_t numgc = gh_gc.numgc;
	uint64_t goal = gh_gc.next_gc;
	bool limited = gh_gc.limited;
	if (c->ok) {
		charge_collection(c->t_stop, c->t_start);
		if (c->concurrent)
			charge_collection(c->t_stop2, c->t_start2);
	}
	gh_unlock(&gh_gc.stats_lock);

	if (c->ok)
		gc_cpu_total += c->cpu_stop + c->cpu_stop2 + c->cpu_mark + c->cpu_assist;
	if (gh_gc.gctrace > 0 && c->ok) {
		uint64_t cpu = gh_process_cputime();
		unsigned share = cpu ? (unsigned)(gc_cpu_total * 100 / cpu) : 0;
		if (c->concurrent)
			gh_warn("gc %u @%.3fs %u%%: %.3f+%.3f+%.3f+%.3f ms clock, "
				"%.3f+%.3f/%.3f+%.3f ms cpu, %llu->%llu->%llu MB, %llu MB goal%s, "
				"%u+%u workers, concurrent (%s)%s",
				numgc, (double)(c->t0 - gh_gc.start_ns) / 1e9, share,
				(double)(c->t_stop - c->t0) / 1e6,
				(double)(c->t_start - c->t_stop) / 1e6,
				(double)(c->t_stop2 - c->t_start) / 1e6,
				(double)(c->t_start2 - c->t_stop2) / 1e6,
				(double)c->cpu_stop / 1e6, (double)c->cpu_assist / 1e6,
				(double)c->cpu_mark / 1e6, (double)c->cpu_stop2 / 1e6,
				(unsigned long long)(c->before >> 20),
				(unsigned long long)(c->peak >> 20),
				(unsigned long long)(c->marked >> 20),
				(unsigned long long)(goal >> 20), limited ? " (limit)" : "",
				gh_mark_concurrent_workers(), c->nmarkers,
				gh_wt_name(gh_wt_backend()), c->forced ? " (forced)" : "");
		else
			gh_warn("gc %u @%.3fs %u%%: %.3f+%.3f+%.3f ms sweep+pause+sweep, "
				"%.3f ms cpu, %llu->%llu MB, %llu MB goal%s, %llu MB marked, "
				"%u workers%s",
				numgc, (double)(c->t0 - gh_gc.start_ns) / 1e9, share,
				(double)(c->t_stop - c->t0) / 1e6,
				(double)(c->t_start - c->t_stop) / 1e6,
				(double)(c->t_swept - c->t_start) / 1e6, (double)c->cpu_stop / 1e6,
				(unsigned long long)(c->before >> 20),
				(unsigned long long)(heap_live() >> 20),
				(unsigned long long)(goal >> 20), limited ? " (limit)" : "",
				(unsigned long long)(c->marked >> 20), c->nmarkers,
				c->forced ? " (forced)" : "");
	}
}

/* A collection with the world stopped while it marks: by the thread that
 * found the goal reached. */
static void collect_stw(bool forced)
{
	/* The collecting thread's own stack is a root: it must be known. */
	if (gh_thread_autoregister() != 0)
		return;
	gh_lock(&gh_gc.lock);
	cycle c = {0};
	if (!cycle_begin(&c, forced)) {
		gh_unlock(&gh_gc.lock);
		return;
	}
	clear_stack_below();
	if (c.nmarkers) /* 0: no memory even for one mark buffer; skipped */
		with_stop_locks(cycle_in_loader, &c);
	cycle_end(&c);
	gh_unlock(&gh_gc.lock);
	if (c.ok)
		gh_monitor_gc_done();
}

/* ---- Concurrent collections ----
 *
 * With write tracking (os.h), marking runs while the program does
 * (mgcmark.c has the phases and why they are enough).  A background
 * thread, goheap-gc, runs every collection: it is not registered, so that
 * its own stops never wait for it, and it holds no block.  A thread that
 * finds the heap at the trigger asks for a collection and goes on; one
 * that calls goheap_gc waits for a whole collection that started after
 * its call.  gh_gc.lock is held from the start of a collection to its end,
 * as with the world stopped: fork, heap dumps and the libgc.so.1 drop-in's
 * GC_call_with_alloc_lock wait for a collection to end.
 *
 * Pacing, after Go's: a collection starts at the trigger, below the goal
 * by a share of the growth the goal allows that is adjusted after every
 * collection, so that marking ends near the goal (adjust_trigger).  While
 * marking runs, a thread that takes a span or a large block first does
 * mark work worth as many bytes (gh_mark_assist); one that finds the heap
 * a tenth past its goal waits for the marking to end. */

uint32_t gh_gc_phase;

static struct {
	gh_mutex lock;
	pthread_cond_t wake, done;
	bool started;      /* goheap-gc runs */
	bool failed;       /* and could not be started: collect in place */
	bool forced;       /* the next collection is goheap_gc's */
	uint64_t requested; /* collections asked for so far */
	uint64_t running;   /* the collections the one running answers */
	uint64_t marking;   /* ... whose marking has started */
	uint64_t marked;    /* ... whose marking has ended */
	uint64_t goals;     /* ... whose next goal is set */
	uint64_t completed; /* collections done (or given up) so far */
} bg = {GH_MUTEX_INITIALIZER(GH_RANK_GCTHREAD), PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, false, false, false, 0, 0, 0, 0, 0, 0};

/* Marking started (or the collection gave up): wake the threads that
 * wait for that. */
static void marking_started(void)
{
	gh_lock(&bg.lock);
	bg.marking = bg.running;
	pthread_cond_broadcast(&bg.done);
	gh_unlock(&bg.lock);
}

/* Marking ended, with the world stopped: what the program allocates from
 * now on is the next collection's to reclaim. */
static void marking_ended(void)
{
	__atomic_store_n(&bg.marked, bg.running, __ATOMIC_RELAXED);
}

static bool concurrent_mode(void)
{
	return !__atomic_load_n(&gh_gc_stw_only, __ATOMIC_RELAXED) &&
	       gh_wt_backend() != GH_WT_NONE &&
	       !(__atomic_load_n(&gh_debug_flags, __ATOMIC_RELAXED) & GH_DEBUG_EFENCE);
}

gh_wt_kind gh_gc_mode(void)
{
	return concurrent_mode() ? gh_wt_backend() : GH_WT_NONE;
}

/* What the next marking scans, as far as the last one tells: the bytes it
 * marked that hold pointers. */
static uint64_t scan_estimate(void)
{
	return gh_gc.last_live > gh_mark_noscan_bytes ? gh_gc.last_live - gh_mark_noscan_bytes : 0;
}

/* The start of marking, with the world stopped (loader's lock held). */
static void start_in_loader(void *arg)
{
	cycle *c = arg;
	uint64_t t0, h0;
	if (!pause_begin(c, &t0, &h0))
		return;
	gh_track_quiet_begin();
	__atomic_store_n(&gh_gc_phase, GH_PHASE_MARK, __ATOMIC_RELEASE);
	/* What the caches' spans hand out from now on is black. */
	gh_mcache_mark_start_all();
	c->ok = gh_mark_start(scan_estimate()) == 0;
	if (!c->ok)
		__atomic_store_n(&gh_gc_phase, GH_PHASE_OFF, __ATOMIC_RELEASE);
	gh_track_quiet_end();
	gh_stw_start();
	c->t_start = gh_nanotime();
	c->cpu_stop = cpu_since(&t0, &h0);
}

/* The end of marking, with the world stopped (loader's lock held). */
static void finish_in_loader(void *arg)
{
	cycle *c = arg;
	uint64_t t0 = gh_thread_cputime(), h0 = __atomic_load_n(&gh_mark_helper_cpu_ns, __ATOMIC_RELAXED);
	c->t_stop2 = gh_nanotime();
	/* Marking cannot end without the world stopped: a thread that does
	 * not stop for the end is waited for as long as it takes (each
	 * attempt waits GOHEAP_STOP_TIMEOUT and says why).  A signal that is
	 * lost meanwhile (its handler replaced, or it can no longer be sent)
	 * fails each attempt at once: retry every millisecond, not in a
	 * busy loop. */
	while (gh_stw_stop() != 0)
		gh_os_sleep(1000000);
	gh_track_quiet_begin();
	c->marked = gh_mark_finish();
	if (GH_UNLIKELY(gh_option(GH_OPT_CHECK)))
		gh_mark_verify();
	c->marked += gh_specials_mark_end();
	gh_track_quiet_end();
	__atomic_store_n(&gh_gc_phase, GH_PHASE_OFF, __ATOMIC_RELEASE);
	c->peak = heap_live();
	__atomic_add_fetch(&gh_gc.epoch, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&gh_heap.sweepgen, 2, __ATOMIC_RELEASE);
	__atomic_store_n(&gh_gc.heap_live, c->marked, __ATOMIC_RELAXED);
	gh_sweep_reset(c->marked);
	marking_ended();
	gh_stw_start();
	c->t_start2 = gh_nanotime();
	c->wall_end = gh_walltime();
	c->cpu_stop2 = cpu_since(&t0, &h0);
}

/* A concurrent collection, by goheap-gc.  Caller holds gh_gc.lock. */
static void collect_concurrent(bool forced)
{
	cycle c = {0};
	c.concurrent = true;
	if (!cycle_begin(&c, forced) || !c.nmarkers)
		return;
	/* Writes are tracked from before the stop: those between here and
	 * the stop are re-scanned for nothing, but none is missed. */
	if (gh_mheap_track_writes() != 0) {
		gh_wt_stop();
		gh_unlock(&gh_gc.lock);
		collect_stw(forced); /* this time */
		gh_lock(&gh_gc.lock);
		return;
	}
	with_stop_locks(start_in_loader, &c);
	marking_started();
	if (!c.ok) {
		gh_wt_stop();
		c.t_start2 = c.t_stop2 = c.t_start;
		cycle_end(&c);
		return;
	}
	uint64_t t0 = gh_thread_cputime(), h0 = __atomic_load_n(&gh_mark_helper_cpu_ns, __ATOMIC_RELAXED);
	/* Under Valgrind, memcheck's reports are off for this thread while
	 * it marks, as the helpers' are: the markers read blocks freed while
	 * marking runs (kept whole, mheap.c) and large blocks to their
	 * span's end. */
	gh_track_quiet_begin();
	gh_mark_concurrent();
	gh_track_quiet_end();
	c.cpu_mark = cpu_since(&t0, &h0);
	with_stop_locks(finish_in_loader, &c);
	gh_mheap_free_givenback();
	c.cpu_assist = __atomic_exchange_n(&gh_mark_assist_ns, 0, __ATOMIC_RELAXED);
	c.ok = true;
	cycle_end(&c);
	__atomic_store_n(&bg.goals, bg.running, __ATOMIC_RELAXED);
	/* Tracking ends with the world running, and after the new goal is
	 * set: dropping the protection of every page costs milliseconds per
	 * GiB (wtrack_linux.c). */
	gh_wt_stop();
}

static void *gc_thread_main(void *arg)
{
	(void)arg;
	for (;;) {
		gh_lock(&bg.lock);
		while (bg.requested == bg.completed)
			gh_cond_wait(&bg.wake, &bg.lock);
		uint64_t want = bg.requested;
		bool forced = bg.forced;
		bg.forced = false;
		bg.running = want;
		gh_unlock(&bg.lock);

		gh_lock(&gh_gc.lock);
		collect_concurrent(forced);
		gh_unlock(&gh_gc.lock);
		gh_monitor_gc_done();
		/* Block addresses went through them (the ring, hand-off). */
		gh_os_clear_vector_registers();

		gh_lock(&bg.lock);
		bg.marking = want;
		__atomic_store_n(&bg.marked, want, __ATOMIC_RELAXED);
		__atomic_store_n(&bg.goals, want, __ATOMIC_RELAXED);
		__atomic_store_n(&bg.completed, want, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&bg.done);
		gh_unlock(&bg.lock);
	}
	return NULL;
}

/* Whether a collection has been asked of goheap-gc whose marking has
 * not ended. */
static bool collection_pending(void)
{
	return __atomic_load_n(&bg.requested, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&bg.marked, __ATOMIC_RELAXED);
}

typedef struct waiter {
	uint64_t target;
	enum wait_for what;
} waiter;

/* Whether a collection's marking has ended and its goal is not set yet:
 * the goal in force is the last's, which the heap may be past already. */
static bool goal_stale(void)
{
	return __atomic_load_n(&bg.goals, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&bg.marked, __ATOMIC_RELAXED);
}

/* Wait, holding bg.lock, until collection w->target has completed or,
 * with WAIT_MARKING, started marking. */
static void wait_for(void *arg)
{
	waiter *w = arg;
	while ((w->what == WAIT_MARKING ? bg.marking : bg.completed) < w->target)
		gh_cond_wait(&bg.done, &bg.lock);
}

/* Wait, parked, until the collection whose marking has ended has
 * completed, its goal set. */
static void wait_goal(void)
{
	gh_lock(&bg.lock);
	waiter w = {__atomic_load_n(&bg.marked, __ATOMIC_RELAXED), WAIT_DONE};
	gh_stw_parked(wait_for, &w);
	gh_unlock(&bg.lock);
}

/* Ask goheap-gc for a collection (starting it if need be), unless one
 * is pending and this one is not forced (goheap_gc's starts after the
 * call), and wait as asked.  false if there is no goheap-gc: the caller
 * collects itself. */
static bool request_collection(bool forced, enum wait_for wait)
{
	gh_lock(&bg.lock);
	if (!bg.started && !bg.failed) {
		bg.started = gh_spawn_thread(gc_thread_main, "goheap-gc", false) == 0;
		bg.failed = !bg.started;
	}
	if (!bg.started) {
		gh_unlock(&bg.lock);
		return false;
	}
	uint64_t target = bg.requested;
	if (forced || bg.requested == bg.marked) {
		target = bg.requested + 1;
		__atomic_store_n(&bg.requested, target, __ATOMIC_RELAXED);
		bg.forced |= forced;
		pthread_cond_signal(&bg.wake);
	}
	if (wait != WAIT_NONE) {
		/* Parked: the stops of the collection take this thread as
		 * it is here, not where their signal would find it, below
		 * registers that may still hold blocks the caller dropped. */
		waiter w = {target, wait};
		gh_stw_parked(wait_for, &w);
	}
	gh_unlock(&bg.lock);
	return true;
}

void gh_gc_collect(bool forced)
{
	if (!concurrent_mode() || !request_collection(forced, forced ? WAIT_DONE : WAIT_NONE))
		collect_stw(forced);
}

/* Steps 2, 3 and 6 of a collection around fn instead of marking: fn runs
 * with the world stopped, no collection or sweep in progress, and the
 * roots, thread registry, specials and unwinder locks held (heapdump.c).
 * prepare, if not NULL, runs just before, with only gh_gc.lock held. */
typedef struct stopped_call {
	void (*fn)(void *);
	void *arg;
	bool ok;
} stopped_call;

static void call_in_loader(void *arg)
{
	stopped_call *c = arg;
	if (gh_stw_stop() != 0)
		return;
	c->fn(c->arg);
	gh_stw_start();
	c->ok = true;
}

int gh_with_world_stopped(void (*prepare)(void *), void (*fn)(void *), void *arg)
{
	if (gh_thread_autoregister() != 0)
		return -1;
	gh_lock(&gh_gc.lock);
	gh_sweep_finish();
	if (prepare)
		prepare(arg);
	stopped_call c = {fn, arg, false};
	gh_roots_lock();
	gh_threads_lock();
	gh_specials_lock();
	gh_mprof_lock_unwinder();
	gh_os_with_loader_locked(call_in_loader, &c);
	gh_mprof_unlock_unwinder();
	gh_specials_unlock();
	gh_threads_unlock();
	gh_roots_unlock();
	gh_unlock(&gh_gc.lock);
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
	gh_lock(&gh_gc.stats_lock);
	int old = gh_gc.percent;
	int p = percent < 0 ? -1 : percent;
	__atomic_store_n(&gh_gc.percent, p, __ATOMIC_RELAXED);
	/* Turning collection off leaves the goal as it was (goheap_gc(3)). */
	if (p >= 0 || gh_gc.memlimit != INT64_MAX)
		set_goals(gh_gc.last_live, 0);
	gh_unlock(&gh_gc.stats_lock);
	return old;
}

int64_t goheap_set_memory_limit(int64_t bytes)
{
	gh_init();
	gh_lock(&gh_gc.stats_lock);
	int64_t old = gh_gc.memlimit;
	if (bytes >= 0) {
		gh_gc.memlimit = bytes;
		set_goals(gh_gc.last_live, 0);
	}
	gh_unlock(&gh_gc.stats_lock);
	return old;
}

void gh_gc_read_stats(goheap_memstats *m)
{
	gh_lock(&gh_gc.stats_lock);
	m->next_gc = gh_gc.next_gc;
	m->last_gc = gh_gc.last_gc;
	m->pause_total_ns = gh_gc.pause_total_ns;
	memcpy(m->pause_ns, gh_gc.pause_ns, sizeof m->pause_ns);
	memcpy(m->pause_end, gh_gc.pause_end, sizeof m->pause_end);
	m->numgc = gh_gc.numgc;
	m->gc_percent = gh_gc.percent < 0 ? UINT32_MAX : (uint32_t)gh_gc.percent;
	gh_unlock(&gh_gc.stats_lock);
}

/* ---- fork ----
 *
 * The child of fork() has one thread and copies of every lock.  Before the
 * fork the forking thread takes the locks of lockrank.h from gc to types,
 * in rank order (mprof.c's own handler, called after this one, takes
 * unwind and prof), so that no structure is copied half-changed; both
 * sides then release them, and the child forgets the threads and caches
 * that did not come along and initialises afresh the locks of the
 * library's own threads. */

static void fork_prepare(void)
{
	gh_lock(&gh_gc.lock);
	gh_roots_lock();
	gh_threads_lock();
	for (uint32_t sc = 0; sc < GH_NUM_SPANCLASSES; sc++)
		gh_lock(&gh_heap.central[sc].lock);
	/* Sweeps run outside the locks: let those under way finish. */
	gh_sweep_freeze();
	gh_lock(&gh_heap.lock);
	gh_specials_lock();
	gh_lock(&gh_gc.stats_lock);
	gh_mcache_registry_lock();
	gh_types_lock();
}

static void fork_release(void)
{
	gh_types_unlock();
	gh_mcache_registry_unlock();
	gh_unlock(&gh_gc.stats_lock);
	gh_specials_unlock();
	gh_unlock(&gh_heap.lock);
	gh_sweep_thaw();
	for (uint32_t sc = GH_NUM_SPANCLASSES; sc-- > 0;)
		gh_unlock(&gh_heap.central[sc].lock);
	gh_threads_unlock();
	gh_roots_unlock();
	gh_unlock(&gh_gc.lock);
}

static void fork_child(void)
{
	fork_release();
	/* goheap-gc did not come along: the child starts its own when it
	 * first collects.  No collection ran at the fork (it holds
	 * gh_gc.lock), so marking is off. */
	gh_mutex_init(&bg.lock, GH_RANK_GCTHREAD, 0);
	pthread_cond_init(&bg.wake, NULL);
	pthread_cond_init(&bg.done, NULL);
	bg.started = bg.failed = bg.forced = false;
	bg.requested = bg.running = bg.marking = bg.marked = bg.goals = bg.completed = 0;
	gh_threads_after_fork();
	/* Spans first: giving the other threads' caches back sweeps. */
	gh_sweep_after_fork();
	gh_mcache_after_fork();
	gh_specials_after_fork();
	gh_mark_after_fork();
}

void gh_gc_atfork(void)
{
	pthread_atfork(fork_prepare, fork_release, fork_child);
}
