/*
 * gc.h - the collector's private types.  See mgc.c for the overview of a
 * collection; gh.h for the allocator's structures this builds on.
 */
#ifndef GH_GC_H
#define GH_GC_H

#include <signal.h>
#include <sys/types.h>

#include "gh.h"

/* ---- Threads (threads.c) and stopping the world (stw_linux.c) ------------ */

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
	/* The system call the thread was blocked in when the stop signal was
	 * sent, as the kernel showed it; the handler restarts it if the
	 * signal made it fail with EINTR (stw_linux.c).  Written by the
	 * collector for stop seen_epoch, then published by a release store
	 * of seen_epoch; the handler copies it before acknowledging, as the
	 * next stop rewrites it. */
	struct gh_syscall_seen {
		bool valid;
		long nr;
		uint64_t arg[6], sp, pc;
	} seen;
	uint32_t seen_epoch;
	/* Under ThreadSanitizer: the call the collector nudges the thread
	 * out of (stw_linux.c). */
	uint64_t nudge_pc, nudge_sp;
	long nudge_nr;
	/* A timed call restarted by the handler: its arguments after the
	 * restart, and its deadline, so that later stops keep the deadline. */
	struct gh_syscall_restart {
		long nr;
		uint64_t arg[6];
		uint64_t deadline; /* CLOCK_MONOTONIC ns */
		int64_t ts[2];     /* a timespec the restarted call reads */
	} restart;
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

/* The OS side: stack bounds of the calling thread, the stop signal. */
GH_INTERNAL int gh_os_stack_bounds(uintptr_t *lo, uintptr_t *hi);
GH_INTERNAL pid_t gh_os_gettid(void);
GH_INTERNAL int gh_stw_init(void);
/* The signal that stops threads (GOHEAP_SIGNAL, or the real-time signal
 * taken instead when the program handles it); 0 if there is none. */
GH_INTERNAL int gh_stw_signal(void);
/* Stop every registered thread but the caller (registry lock held).
 * Returns 0, or -1 if some thread did not acknowledge in time; then the
 * world is running again and a diagnostic has been printed. */
GH_INTERNAL int gh_stw_stop(void);
GH_INTERNAL void gh_stw_start(void);
/* Zero the calling thread's vector registers (SSE on x86-64; nothing
 * elsewhere).  A thread stopped by the signal has them saved in the signal
 * frame on its stack, which is scanned; memcpy and structure copies leave
 * block addresses in them.  Seen: a collecting thread's hand-off of mark
 * work (a memcpy of queue entries) left 8 addresses in XMM0-7 of the
 * finalizer thread, which then slept, and every later collection found
 * them in its signal frame: 8 to 21 dropped blocks in 100 kept for good
 * (t-gc-final, with two markers).  Call it where a library thread has
 * handled block addresses and is about to wait. */
GH_INTERNAL void gh_os_clear_vector_registers(void);
/* Call fn with the caller's callee-saved registers spilled to its stack,
 * and the stack pointer below them. */
GH_INTERNAL void gh_with_registers_spilled(void (*fn)(uintptr_t sp, void *arg), void *arg);

/* ---- Roots (roots.c) ------------------------------------------------------- */

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

/* When it points to a nonzero int, the static data of the loaded shared
 * objects is not scanned, the program's own still is (the drop-in's
 * GC_no_dls, boehm.c).  NULL in libgoheap itself. */
GH_INTERNAL extern const int *gh_roots_no_dls;

/* ---- Types (mbitmap.c) --------------------------------------------------------- */

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
GH_INTERNAL void gh_span_free_types(gh_span *s);
GH_INTERNAL void gh_types_lock(void);
GH_INTERNAL void gh_types_unlock(void);

/* ---- Marking (mgcmark.c) ---------------------------------------------------------- */

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

/* ---- Sweeping (mgcsweep.c) ---------------------------------------------------------- */

/* Sweep s if the current cycle has not; caller holds the lock of s's
 * mcentral if s is small.  Returns true if s went back to the page heap. */
GH_INTERNAL bool gh_span_sweep_locked(gh_span *s);
/* Make sure s is swept, taking whatever lock that needs. */
GH_INTERNAL void gh_span_ensure_swept(gh_span *s);
/* Sweep a few spans left from the last cycle (allocation slow path). */
GH_INTERNAL void gh_sweep_some(uint32_t spans);
/* Sweep every span left from the last cycle. */
GH_INTERNAL void gh_sweep_finish(void);
/* With GOHEAP_DEBUG=check=1: verify the heap's invariants, abort naming a
 * broken one (mcheck.c).  Call with the sweep finished, gh_gc.lock held and
 * no mcentral or heap lock; takes them all. */
GH_INTERNAL void gh_check_heap(void);
/* Start (or wake) the background sweeper. */
GH_INTERNAL void gh_sweep_background(void);
GH_INTERNAL void gh_sweep_after_fork(void);

/* ---- Finalizers (mfinal.c) ------------------------------------------------------------ */

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

/* ---- The cycle (mgc.c) -------------------------------------------------------------------- */

typedef struct gh_gcstate {
	pthread_mutex_t lock;       /* one collection at a time */
	pthread_mutex_t stats_lock; /* the figures below, for readers */
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
/* Called by every collection once it holds gh_gc.lock, before it does
 * anything: false skips the collection.  NULL but in the libgc.so.1
 * drop-in (boehm.c: GC_disable, GC_dont_gc, the start callback). */
GH_INTERNAL extern bool (*gh_gc_start_hook)(void);
/* Install the fork handlers. */
GH_INTERNAL void gh_gc_atfork(void);
GH_INTERNAL void gh_threads_after_fork(void);

/* The cache epoch: a thread cache whose epoch differs from gh_gc.epoch
 * may hold blocks of spans that were not swept yet; it must give them back
 * before it allocates again (mcache.c). */
static inline bool gh_mcache_stale(const gh_mcache *c)
{
	return GH_UNLIKELY(c->epoch != __atomic_load_n(&gh_gc.epoch, __ATOMIC_RELAXED));
}

#endif
