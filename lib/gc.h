/*
 * gc.h - the collector's private types.  See mgc.c for the overview of a
 * collection; gh.h for the allocator's structures this builds on.
 */
#ifndef GH_GC_H
#define GH_GC_H

#include <signal.h>
#include <sys/types.h>

#include "gh.h"
#include "os.h"

/* ---- Threads (threads.c) ------------------------------------------------- */

/* A registered thread: the collector scans its stack and registers. */
typedef struct gh_thread gh_thread;
struct gh_thread {
	pthread_t pthread;
	pid_t tid;
	uintptr_t stack_lo, stack_hi; /* the stack: [lo, hi), hi is its base */
	/* Published by the thread when it stops: its stack pointer, below
	 * which nothing of it is live; its registers are on the stack above
	 * it. */
	uintptr_t saved_sp;
	uint32_t ack_epoch; /* the last stop this thread acknowledged */
	gh_os_thread os;    /* the stopping machinery's (os.h) */
	uint32_t nreg;      /* explicit registrations not yet undone */
	bool autoreg;       /* registered by its first allocation */
	gh_thread *next, *prev;
};

GH_INTERNAL extern __thread gh_thread *gh_self_thread;

GH_INTERNAL void gh_threads_init(void);
/* Start a detached helper thread of the library's own (sweeper, finalizer,
 * monitor) with every signal blocked, but the stop signal if stoppable
 * (the thread may then register).  0, or -1 if no thread could be had. */
GH_INTERNAL int gh_spawn_thread(void *(*fn)(void *), const char *name, bool stoppable);
/* Register the calling thread if it is not; 0 or -1 with errno. */
GH_INTERNAL int gh_thread_autoregister(void);
/* Forget the calling thread (at exit). */
GH_INTERNAL void gh_thread_forget(void);
/* The registry lock: held by a collection from before it stops the world
 * until after it restarts it, so no thread joins or leaves meanwhile. */
GH_INTERNAL void gh_threads_lock(void);
GH_INTERNAL void gh_threads_unlock(void);
GH_INTERNAL gh_thread *gh_threads_first(void);
/* Scan the arguments of threads being started by goheap_pthread_create. */
GH_INTERNAL void gh_threads_scan_pending(void (*scan)(uintptr_t lo, uintptr_t hi));
/* In the child of fork: forget the threads that did not come along. */
GH_INTERNAL void gh_threads_after_fork(void);

/* Stopping the world and the threads' registers: os.h (stw_linux.c,
 * arch_*_linux.c). */

/* ---- Roots (roots.c) ----------------------------------------------------- */

GH_INTERNAL void gh_roots_init(void);
GH_INTERNAL void gh_roots_lock(void);
GH_INTERNAL void gh_roots_unlock(void);
/* Call scan on every static data range and registered root range. */
GH_INTERNAL void gh_roots_scan(void (*scan)(uintptr_t lo, uintptr_t hi));
/* The same ranges, each with what it is: a loaded object's writable
 * segment (name: the object's path, "" for the program) or a registered
 * range (registered 1, name NULL).  Caller holds the roots lock. */
GH_INTERNAL void gh_roots_foreach(void (*fn)(int registered, const char *name, uintptr_t lo,
					     uintptr_t hi, void *arg),
				  void *arg);

/* ---- Types (mbitmap.c) --------------------------------------------------- */

struct goheap_type {
	size_t size;     /* bytes per element, a multiple of 8 */
	size_t nwords;   /* size / 8 */
	uint64_t bits[]; /* bit i set: word i of an element is a pointer */
};

/* The type of the typed block of s at p (NULL before it is set). */
static inline const goheap_type *gh_span_type(const gh_span *s, uintptr_t p)
{
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0)
		return __atomic_load_n((const goheap_type *const *)&s->types, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&((const goheap_type *const *)s->types)[gh_span_index(s, p)],
			       __ATOMIC_ACQUIRE);
}
GH_INTERNAL void gh_span_set_type(gh_span *s, uintptr_t p, const goheap_type *t);
/* The table of block types of a small typed span (s->types); 0 or -1. */
GH_INTERNAL int gh_span_alloc_types(gh_span *s);
GH_INTERNAL void gh_span_free_types(gh_span *s);
GH_INTERNAL void gh_types_lock(void);
GH_INTERNAL void gh_types_unlock(void);

/* ---- Marking (mgcmark.c) ------------------------------------------------- */

/* Start the helper markers the next marking will use, with the world
 * running (gh_gc.lock held); returns the number of markers, 0 if the OS
 * refuses even one mark buffer (the collection is then skipped). */
GH_INTERNAL uint32_t gh_mark_prepare(void);
/* Mark everything reachable from the roots, with the world stopped;
 * returns the bytes marked. */
GH_INTERNAL uint64_t gh_mark(void);
GH_INTERNAL void gh_mark_after_fork(void);
/* Mark what the block at p (not the block itself) references. */
GH_INTERNAL void gh_mark_referents(gh_span *s, uintptr_t p);
/* Scan [lo, hi) conservatively, during marking. */
GH_INTERNAL void gh_mark_range(uintptr_t lo, uintptr_t hi);

/* The span's finalizers and profile samples, which goheap_set_finalizer
 * and the profiler change without its mcentral's lock. */
static inline uint32_t gh_span_nspecials(const gh_span *s)
{
	return __atomic_load_n(&s->nspecials, __ATOMIC_RELAXED);
}

static inline bool gh_span_marked(const gh_span *s, uint32_t idx)
{
	return (__atomic_load_n(&s->markbits[idx >> 6], __ATOMIC_RELAXED) >> (idx & 63)) & 1;
}

/* Set the mark of block idx; true if it was set already (by another
 * marker).  One locked bit-test-and-set. */
static inline bool gh_span_testandmark(gh_span *s, uint32_t idx)
{
	uint64_t bit = (uint64_t)1 << (idx & 63);
	return (__atomic_fetch_or(&s->markbits[idx >> 6], bit, __ATOMIC_RELAXED) & bit) != 0;
}

/* ---- Sweeping (mgcsweep.c) ----------------------------------------------- */

/* Sweep the small span s, claimed by the caller (gh_mcentral_claim_locked,
 * which took its free list, freelist and nfreelist): its marked blocks
 * become its allocated ones.  The caller then puts it back with
 * gh_mcentral_swept.  No lock held. */
GH_INTERNAL void gh_span_sweep_claimed(gh_span *s, gh_link *freelist, uint32_t nfreelist);
/* Make sure s is swept, taking whatever lock that needs. */
GH_INTERNAL void gh_span_ensure_swept(gh_span *s);
/* Sweep a few spans left from the last cycle (allocation slow path). */
GH_INTERNAL void gh_sweep_some(uint32_t spans);
/* Sweep every span left from the last cycle. */
GH_INTERNAL void gh_sweep_finish(void);
/* Start (or wake) the background sweeper. */
GH_INTERNAL void gh_sweep_background(void);
GH_INTERNAL void gh_sweep_after_fork(void);
/* fork: wait for the sweeps under way to finish and hold back new ones
 * (caller holds every mcentral lock, so no small span can be claimed),
 * until gh_sweep_thaw. */
GH_INTERNAL void gh_sweep_freeze(void);
GH_INTERNAL void gh_sweep_thaw(void);
/* A small span was just claimed (mcentral.c, under its lock). */
GH_INTERNAL void gh_sweep_claimed_small(void);

/* ---- Heap checks (mcheck.c) ------------------------------------------------------------ */

/* With GOHEAP_DEBUG=check=1: verify the heap's invariants, abort naming a
 * broken one.  Call with the sweep finished, gh_gc.lock held and no
 * mcentral or heap lock; takes them all. */
GH_INTERNAL void gh_check_heap(void);

/* The invariants of small spans, as predicates (mcheck.c): true if they
 * hold; else false, with the rule broken and the details in *b. */
typedef struct gh_broken {
	const char *inv;
	char why[240];
} gh_broken;
/* s, a small span in use, agrees with its class; its bits, free index
 * and free list agree with each other.  Caller holds its mcentral's lock
 * or has claimed it. */
GH_INTERNAL bool gh_span_small_ok(const gh_span *s, gh_broken *b);
/* s is where its inlist says, as the mcentral's lists require in cycle
 * sg.  Caller holds its mcentral's lock. */
GH_INTERNAL bool gh_span_listed_ok(const gh_span *s, uint32_t sg, gh_broken *b);
/* The block at p, on a free list, is a block of s, allocated in its bits,
 * with its free tag (inv names the list, for the message). */
GH_INTERNAL bool gh_block_listed_ok(const gh_span *s, uintptr_t p, gh_broken *b,
				    const char *inv);
/* Assert a predicate in --enable-debug builds: GH_CHECK(gh_span_small_ok, s). */
#ifdef GH_DEBUG
#define GH_CHECK(pred, ...)                                                         \
	do {                                                                        \
		gh_broken b_;                                                       \
		if (!pred(__VA_ARGS__, &b_))                                        \
			gh_throw("invariant broken: %s: %s", b_.inv, b_.why);       \
	} while (0)
#else
#define GH_CHECK(pred, ...) ((void)0)
#endif

/* ---- Finalizers (mfinal.c) ----------------------------------------------- */

/* A finalizer attached to a block (the seed's "special"). */
typedef struct gh_special gh_special;
struct gh_special {
	gh_special *next;
	uint32_t idx; /* block index in its span */
	void (*fn)(void *obj, void *arg);
	void *arg;
};

GH_INTERNAL void gh_final_lock(void);
GH_INTERNAL void gh_final_unlock(void);
GH_INTERNAL void gh_final_after_fork(void);
/* During marking: keep alive what finalizable blocks reference, and the
 * blocks queued for finalization and their arguments. */
GH_INTERNAL void gh_final_mark_roots(void);
/* During sweeping (span lock held): block idx of s is unreachable; queue
 * its finalizer if it has one.  Returns true if the block must live on. */
GH_INTERNAL bool gh_final_sweep_block(gh_span *s, uint32_t idx);
/* Explicit free of a block that may have a finalizer: drop it. */
GH_INTERNAL void gh_final_drop(gh_span *s, uint32_t idx);
/* Call fn on every finalizer, set (queued false) or queued to run; caller
 * holds the finalizer lock (heapdump.c). */
GH_INTERNAL void gh_final_foreach(void (*fn)(uintptr_t obj, void (*f)(void *, void *), void *arg,
					     bool queued, void *ctx),
				  void *ctx);

/* ---- The cycle (mgc.c) --------------------------------------------------- */

typedef struct gh_gcstate {
	gh_mutex lock;       /* one collection at a time */
	gh_mutex stats_lock; /* the figures below, for readers */
	int percent;          /* GOGC; < 0 off */
	int64_t memlimit;     /* soft memory limit, bytes; INT64_MAX none */
	bool limited;         /* next_gc was lowered by the memory limit */
	uint64_t scav_peak;   /* largest recent goal, as of scav_peak_ns (mgc.c) */
	uint64_t scav_peak_ns;
	uint64_t debt_ns;     /* the CPU limiter's account (mgc.c) */
	uint64_t end_ns;      /* when the last collection ended (monotonic) */
	uint32_t epoch;       /* incremented at every mark termination */
	uint64_t next_gc;     /* heap_live that triggers the next cycle */
	uint64_t last_live;   /* bytes marked by the last cycle */
	uint64_t heap_live;   /* pacing estimate of live bytes, see mgc.c */
	uint32_t numgc;
	uint64_t pause_total_ns, last_gc;
	uint64_t pause_ns[256], pause_end[256];
	int gctrace;
	uint64_t start_ns; /* library start, for gctrace */
} gh_gcstate;

GH_INTERNAL extern gh_gcstate gh_gc;

GH_INTERNAL void gh_gc_init(void);
/* Collect if the heap has reached its goal (allocation slow paths). */
GH_INTERNAL void gh_gc_maybe(void);
/* A collection: forced (goheap_gc) collects whatever the heap's size and
 * sweeps everything before returning. */
GH_INTERNAL void gh_gc_collect(bool forced);
/* Run fn(arg) with the world stopped, as a collection marks (after
 * prepare(arg), if given, under gh_gc.lock only).  fn may take no lock and
 * call no malloc or stdio.  0, or -1 with errno EAGAIN if the world could
 * not be stopped. */
GH_INTERNAL int gh_with_world_stopped(void (*prepare)(void *), void (*fn)(void *), void *arg);
/* Count bytes taken (> 0) or given back (< 0) by a thread since the last
 * collection, for pacing. */
GH_INTERNAL void gh_gc_note_alloc(int64_t bytes);
/* The collector's figures of goheap_memstats. */
GH_INTERNAL void gh_gc_read_stats(goheap_memstats *m);
/* The heap bytes the scavenger lets the heap retain at time now (ns,
 * monotonic): 10 % above the largest recent goal, within the memory
 * limit's share. */
GH_INTERNAL uint64_t gh_gc_scavenge_goal(uint64_t now);
/* Install the fork handlers. */
GH_INTERNAL void gh_gc_atfork(void);

#endif
