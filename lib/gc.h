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

/* When it points to a nonzero int, the static data of the loaded shared
 * objects is not scanned, the program's own still is (the drop-in's
 * GC_no_dls, boehm.c).  NULL in libgoheap itself. */
GH_INTERNAL extern const int *gh_roots_no_dls;
/* Called by gh_roots_scan, during marking, after the static roots: the
 * drop-in's GC_push_other_roots (boehm_mark.c).  NULL in libgoheap. */
GH_INTERNAL extern void (*gh_roots_push_other)(void);

/* ---- Types (mbitmap.c) --------------------------------------------------- */

struct goheap_type {
	size_t size;     /* bytes per element, a multiple of 8 */
	size_t nwords;   /* size / 8 */
	uint64_t bits[]; /* bit i set: word i of an element is a pointer */
};

/* The type of the typed block of s at p (NULL before it is set).  A small
 * span gets its table of types after it is in use (gh_span_alloc_types),
 * where concurrent marking may already look: NULL until then too. */
static inline const goheap_type *gh_span_type(const gh_span *s, uintptr_t p)
{
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0)
		return __atomic_load_n((const goheap_type *const *)&s->types, __ATOMIC_ACQUIRE);
	const goheap_type *const *types =
		__atomic_load_n((const goheap_type *const *const *)&s->types, __ATOMIC_ACQUIRE);
	return types ? __atomic_load_n(&types[gh_span_index(s, p)], __ATOMIC_ACQUIRE) : NULL;
}
GH_INTERNAL void gh_span_set_type(gh_span *s, uintptr_t p, const goheap_type *t);
/* The table of block types of a small typed span (s->types); 0 or -1. */
GH_INTERNAL int gh_span_alloc_types(gh_span *s);
/* Free such a table, taken from a span being freed. */
GH_INTERNAL void gh_span_free_types(void *types);
GH_INTERNAL void gh_types_lock(void);
GH_INTERNAL void gh_types_unlock(void);

/* ---- Marking (mgcmark.c) ------------------------------------------------- */

/* The collector's phase, read without a lock by the allocator: while it
 * marks concurrently, spans cached allocate black (gh_span.markfrom), large
 * blocks are born marked, and allocating threads assist (mgcmark.c). */
enum { GH_PHASE_OFF = 0, GH_PHASE_MARK = 1 };
GH_INTERNAL extern uint32_t gh_gc_phase;
/* How collections mark now: GH_WT_NONE with the world stopped, else
 * concurrently with that write tracking (os.h).  GOHEAP_DEBUG=efence and
 * a backend lost at run time mean GH_WT_NONE. */
GH_INTERNAL gh_wt_kind gh_gc_mode(void);
static inline bool gh_gc_marking_now(void)
{
	return GH_UNLIKELY(__atomic_load_n(&gh_gc_phase, __ATOMIC_RELAXED) != GH_PHASE_OFF);
}

/* Mostly-concurrent marking (mgcmark.c has the protocol).  With the world
 * stopped, at the start: note the roots (scan them, graying what they
 * reach).  scan_estimate: the bytes marking will scan if the last cycle
 * is no guide (the first one).  0, or -1 if no mark buffer can be had. */
GH_INTERNAL int gh_mark_start(uint64_t scan_estimate);
/* With the world running: mark from the gray blocks, then re-scan the
 * pages written meanwhile, round after round while that shrinks. */
GH_INTERNAL void gh_mark_concurrent(void);
/* With the world stopped, at the end: re-scan the roots and the pages
 * written since, and mark to the end; returns the bytes marked in all. */
GH_INTERNAL uint64_t gh_mark_finish(void);
/* GOHEAP_DEBUG=check=1, after gh_mark_finish, world stopped: mark again
 * from scratch and abort, saying so on stderr, if a reachable block was
 * left unmarked; the marks are then as gh_mark_finish left them. */
GH_INTERNAL void gh_mark_verify(void);
/* Markers while the world runs (gctrace). */
GH_INTERNAL uint32_t gh_mark_concurrent_workers(void);
/* An allocating thread's share of the marking, for bytes it takes: it
 * scans blocks worth bytes times the cycle's assist ratio, as far as the
 * markers left gray blocks where it can take them. */
GH_INTERNAL void gh_mark_assist(uint64_t bytes);
/* The blocks s handed out since it was cached while marking runs: mark
 * them (allocated black) and forget markfrom.  Caller owns s (its cache,
 * under the mcentral lock, or the world stopped). */
GH_INTERNAL void gh_mark_new_blocks(gh_span *s);
/* A large block just allocated while marking runs: born marked. */
GH_INTERNAL void gh_mark_new_large(gh_span *s);

/* Start the helper markers the next marking will use, with the world
 * running (gh_gc.lock held); returns the number of markers, 0 if the OS
 * refuses even one mark buffer (the collection is then skipped). */
GH_INTERNAL uint32_t gh_mark_prepare(void);
/* Mark everything reachable from the roots, with the world stopped;
 * returns the bytes marked. */
GH_INTERNAL uint64_t gh_mark(void);
GH_INTERNAL void gh_mark_after_fork(void);
/* Of what the last gh_mark marked, the bytes of pointer-free blocks (the
 * libgc.so.1 drop-in paces by the mix, boehm.c).  Written by gh_mark. */
GH_INTERNAL extern uint64_t gh_mark_noscan_bytes;
/* Of what the last marking marked, the bytes of blocks allocated while it
 * ran: born marked whether or not they are reachable, counted as new
 * allocation by the pacer (mgc.c).  Written by gh_mark and
 * gh_mark_finish. */
GH_INTERNAL extern uint64_t gh_mark_black_bytes;
/* For gctrace, added to as marking runs; the collector resets them: the
 * CPU time helper markers spent marking, and the time threads spent in
 * assists' scanning (not waiting for credit). */
GH_INTERNAL extern uint64_t gh_mark_helper_cpu_ns, gh_mark_assist_ns;
/* Types in [gh_markproc_types, + len) stand for the libgc.so.1 drop-in's
 * kinds with a mark procedure (boehm_mark.c): marking scans a typed block
 * of one of them with gh_markproc_scan instead of the type's bitmap.
 * Empty in libgoheap itself.  Set once, before any such block exists. */
GH_INTERNAL extern uintptr_t gh_markproc_types;
GH_INTERNAL extern size_t gh_markproc_types_len;
GH_INTERNAL extern void (*gh_markproc_scan)(uintptr_t p, gh_span *s, const goheap_type *t);
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
/* Proportional sweeping, Go's: the end of marking (world stopped) notes
 * the pages to sweep and heap_live, base (gh_sweep_reset); the end of the
 * collection, the trigger of the next (gh_sweep_pace); a thread that
 * takes a span then sweeps a few, and more while the share of pages swept
 * lags the share of the way from base to the trigger the heap has grown
 * (gh_sweep_paced), so that sweeping is done by the next collection's
 * start, which otherwise finishes it while allocating threads wait. */
GH_INTERNAL void gh_sweep_reset(uint64_t base);
GH_INTERNAL void gh_sweep_pace(uint64_t trigger);
GH_INTERNAL void gh_sweep_paced(void);
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

/* ---- Specials (mspecial.c) ---------------------------------------------- */

/*
 * A special is a small record attached to one block of a span: its
 * finalizer, a weak link to it or inside it, a heap profile sample.  Each
 * span keeps its specials in one list (gh_span.specials), sorted by block
 * index and, for one block, by kind, in the order of enum gh_special_kind,
 * which is the order in which they act when the block dies.  nspecials
 * counts them, so that goheap_free's fast path and the sweeper look at
 * spans with specials only.  Records live in fixed-size metadata
 * (mfixalloc.c), never in the GC heap, and every list and record is
 * guarded by one lock, the specials lock (see mspecial.c for why one).
 */
enum gh_special_kind {
	GH_SPECIAL_FINALIZER = 0, /* the block's finalizer (mfinal.c) */
	GH_SPECIAL_WEAK = 1,      /* a weak link points at the block (mweak.c) */
	GH_SPECIAL_LINK = 2,      /* a weak link lies inside the block (mweak.c) */
	GH_SPECIAL_PROFILE = 3,   /* a heap profile sample (mprof.c) */
	GH_SPECIAL_NKINDS = 4,
};

/* The part of a record that the span's list links.  Each kind's record
 * starts with one (a weak link has two: one in the list of its target's
 * span, one in that of the span it lies in). */
struct gh_special {
	gh_special *next, *prev; /* the span's list; prev NULL for the first */
	uint32_t idx;            /* index of the block in the span */
	uint8_t kind;            /* enum gh_special_kind */
};

/* The specials lock.  A leaf: taken under an mcentral lock (sweeping) and
 * held by a collection from before it stops the world until after it
 * restarts it (mgc.c), like the roots and thread-registry locks, so that
 * the collector may read and change every list while the world is
 * stopped.  Nothing that takes another lock runs under it. */
GH_INTERNAL void gh_specials_lock(void);
GH_INTERNAL void gh_specials_unlock(void);
/* In the child of fork: the lock anew, the finalizer thread if needed. */
GH_INTERNAL void gh_specials_after_fork(void);

/*
 * The sweeper's hook.  Contract:
 *   - called once per sweep of a span s whose nspecials is not zero, by
 *     whoever sweeps s, before s's mark bits become its allocation state
 *     and before any block of s is freed;
 *   - the caller holds s's mcentral lock (a small span) or has claimed s
 *     (a large span), and not the specials lock;
 *   - for every special whose block is unmarked it acts by kind: a
 *     finalizer is queued and its block kept (its mark bit set); a profile
 *     sample's free is counted and the record dropped; a weak link to the
 *     block is cleared (*link = NULL) and dropped; a weak link lying in the
 *     block is dropped without writing to it;
 *   - it sets mark bits of s, never clears one, and frees no block; it may
 *     unlink records from other spans' lists (a weak link's other half);
 *   - when it returns, a block of s is live exactly when it is marked.
 * Finalizers and weak links to dead blocks are normally dealt with earlier,
 * at mark termination (gh_specials_mark_end), so that the sweep mostly
 * drops profile samples and the weak links of blocks that died.
 */
GH_INTERNAL void gh_specials_sweep(gh_span *s);

/* The explicit free's hook: block idx of s, live, is about to be freed by
 * goheap_free (or goheap_realloc moving it).  Called only if s has
 * specials, with no lock held, the span swept.  Drops the block's
 * finalizer without running it, counts the free of its profile samples,
 * clears (to NULL) and drops the weak links that point at it, and drops
 * those that lie in it without writing to them. */
GH_INTERNAL void gh_specials_free_block(gh_span *s, uint32_t idx);

/* Mark termination's hook: called by the collecting thread right after
 * gh_mark, with the world still stopped and the specials lock held:
 *   1. clears every weak link whose target is unmarked (before any
 *      finalizer is looked at, as Boehm's collector does);
 *   2. marks what the unmarked blocks with finalizers reference, each as
 *      its mode says (GH_FINAL_*), for finalization order;
 *   3. queues the finalizers of the blocks still unmarked, and marks
 *      those blocks and what they reference, which their finalizers may
 *      use (in Java mode, or unless GH_FINAL_NO_ORDER).
 * Returns the bytes it marked, which the collection adds to gh_mark's. */
GH_INTERNAL uint64_t gh_specials_mark_end(void);

/* Mark more, after gh_mark, with the world stopped (mgcmark.c): run fn(arg)
 * as the only marker, which marks through gh_mark_range and
 * gh_mark_referents, then everything reachable from what it marked.
 * Returns the bytes marked. */
GH_INTERNAL uint64_t gh_mark_closure(void (*fn)(void *), void *arg);

/* ---- Finalizers (mfinal.c) ------------------------------------------------ */

typedef void (*gh_final_fn)(void *obj, void *arg);

/* How a finalizable block's own pointers count for finalization order
 * (Boehm's GC_register_finalizer variants).  In every mode arg is a root
 * until the finalizer has run, and the block and everything it references
 * live until then (but see gh_final_set_java). */
enum gh_final_mode {
	/* goheap_set_finalizer, GC_register_finalizer: what the block
	 * references is kept alive, so that an unreachable finalizable block
	 * reachable from another is finalized only after that one; a block
	 * that reaches itself (a cycle, or a pointer to itself) never is. */
	GH_FINAL_ORDERED = 0,
	/* GC_register_finalizer_ignore_self: as ORDERED, but the block's
	 * pointers into itself do not keep it alive (longer cycles still do). */
	GH_FINAL_IGNORE_SELF = 1,
	/* GC_register_finalizer_no_order: the block's pointers do not count
	 * for order: it is finalized even if it reaches itself or other
	 * finalizable blocks, which may be finalized in the same collection.
	 * It is not finalized while another block's ORDERED finalizer keeps
	 * it alive. */
	GH_FINAL_NO_ORDER = 2,
};

/* Give obj the finalizer (fn, arg) in the given mode, replacing any it
 * has (Boehm's semantics; goheap_set_finalizer refuses to replace), or
 * remove its finalizer if fn is NULL.  The finalizer it had, or NULL and
 * NULL, go to *ofn and *oarg where these are not NULL.  Returns 0;
 * -EINVAL if obj is not the start of a live, non-tiny goheap block (*ofn
 * and *oarg are set to NULL); -ENOMEM (nothing changed).  Starts the
 * finalizer thread with the first finalizer.  Thread-safe. */
GH_INTERNAL int gh_final_register(void *obj, gh_final_fn fn, void *arg, enum gh_final_mode mode,
				  gh_final_fn *ofn, void **oarg);
/* Finalize on demand (GC_set_finalize_on_demand): while on, queued
 * finalizers run only in goheap_run_finalizers (GC_invoke_finalizers),
 * never on the finalizer thread.  Off by default. */
GH_INTERNAL void gh_final_set_on_demand(bool on);
GH_INTERNAL bool gh_final_on_demand(void);
/* The notifier (GC_set_finalizer_notifier): in on-demand mode, called
 * (on the library's finalizer thread, with no lock held) after a
 * collection that leaves finalizers queued, at most once per collection.
 * NULL: none (the default). */
GH_INTERNAL void gh_final_set_notifier(void (*fn)(void));
GH_INTERNAL void (*gh_final_notifier(void))(void);
/* Java mode (GC_set_java_finalization), on by default as in Debian's
 * libgc: what a GH_FINAL_NO_ORDER block references is kept alive until
 * its finalizer has run, marked after the order is decided.  Off, only
 * the block itself is kept: what only it referenced may be freed first
 * (Boehm's documented risk of unordered finalization). */
GH_INTERNAL void gh_final_set_java(bool on);
GH_INTERNAL bool gh_final_java(void);
/* Whether finalizers are queued (GC_should_invoke_finalizers). */
GH_INTERNAL bool gh_final_pending(void);
/* During marking (a root job, mgcmark.c): mark the blocks queued for
 * finalization and what they reference, and the arguments of every
 * finalizer, attached or queued.  What attached finalizers' blocks
 * reference is marked later, by gh_specials_mark_end.  Caller holds the
 * specials lock (the collection does). */
GH_INTERNAL void gh_final_mark_roots(void);
/* Call fn on every finalizer, attached (queued false) or queued to run;
 * caller holds the specials lock (heapdump.c). */
GH_INTERNAL void gh_final_foreach(void (*fn)(uintptr_t obj, void (*f)(void *, void *), void *arg,
					     bool queued, void *ctx),
				  void *ctx);

/* ---- Weak links (mweak.c) ------------------------------------------------- */

/*
 * A weak link is a word anywhere in memory (static data, a stack, a
 * malloc'd or a goheap block) that the collector sets to NULL once the
 * block it is registered for becomes unreachable: Boehm's disappearing
 * links, on which goheap_register_weak_link(3) builds.  The collector
 * never reads the word, and never keeps the block alive for it: the word
 * must hold a pointer the collector cannot see (hidden, ~p, or in an
 * atomic block).  Clearing happens with the world stopped at the end of
 * marking, before any finalizer is queued (gh_specials_mark_end), and on
 * an explicit free of the block; a link lying in a block that dies or is
 * freed is dropped, never written.  Costs O(links) per collection, nothing
 * on the allocation and free fast paths.
 */

/* Register link (8-aligned, not NULL) for obj, the start of a live,
 * non-tiny goheap block; does not write *link.  Returns 0 (registered), 1
 * (link was registered already: it now stands for obj, Boehm's
 * GC_DUPLICATE), -EINVAL (bad link or obj, or link in a free block),
 * -ENOMEM.  Thread-safe. */
GH_INTERNAL int gh_weak_register(void **link, const void *obj);
/* Unregister link; *link is left as it is.  1 if it was registered, 0 if
 * not (Boehm's GC_unregister_disappearing_link). */
GH_INTERNAL int gh_weak_unregister(void **link);
/* Move the registration of link to new_link, same target; neither word is
 * written.  0; -ENOENT (link not registered); -EEXIST (new_link, other
 * than link, is registered).  new_link == link asks whether link is
 * registered (Boehm's GC_move_disappearing_link). */
GH_INTERNAL int gh_weak_move(void **link, void **new_link);
/* Registered links (the heap checker). */
GH_INTERNAL uint64_t gh_weak_count(void);

/* ---- Between the specials' files (mspecial.c, mfinal.c, mweak.c) ---------- */

/* The list of s: insert sp (idx and kind set) at its sorted place, after
 * those of equal key; remove sp; find block idx's first special of a kind.
 * Caller holds the specials lock. */
GH_INTERNAL void gh_special_insert(gh_span *s, gh_special *sp);
GH_INTERNAL void gh_special_remove(gh_span *s, gh_special *sp);
GH_INTERNAL gh_special *gh_special_find(gh_span *s, uint32_t idx, uint8_t kind);
/* pthread_cond_wait on the specials lock (the finalizer thread). */
GH_INTERNAL void gh_specials_wait(pthread_cond_t *cond);

/* The block of finalizer sp, still in s's list, died: with sweep, queue
 * the finalizer and keep the block (its mark bit); without (an explicit
 * free), drop it.  Removes sp alone from the list. */
GH_INTERNAL void gh_final_special_dead(gh_span *s, gh_special *sp, bool sweep);
/* Steps 2 and 3 of gh_specials_mark_end (see mfinal.c). */
GH_INTERNAL uint64_t gh_final_mark_end(void);
/* Whether the finalizer thread is to be woken, which gh_specials_unlock
 * does once the lock is free (gh_final_wake); clears the request. */
GH_INTERNAL bool gh_final_take_wake(void);
GH_INTERNAL void gh_final_wake(void);
GH_INTERNAL void gh_final_after_fork(void);
/* Attached finalizers; what is wrong with finalizer sp of s, or NULL (the
 * heap checker). */
GH_INTERNAL uint64_t gh_final_count(void);
GH_INTERNAL const char *gh_final_special_bad(const gh_span *s, const gh_special *sp);

/* Step 1 of gh_specials_mark_end: clear the links to unmarked blocks. */
GH_INTERNAL void gh_weak_mark_end(void);
/* sp, half of a weak link, was detached from its list because its block
 * died: clear the link if sp is its target's half, unregister it, and
 * free the record once both halves are out of their lists. */
GH_INTERNAL void gh_weak_special_dead(gh_special *sp);
/* Registered links lying in the heap; what is wrong with weak link
 * special sp of s, or NULL (the heap checker). */
GH_INTERNAL uint64_t gh_weak_count_in_heap(void);
GH_INTERNAL const char *gh_weak_special_bad(const gh_span *s, const gh_special *sp);

/* ---- The cycle (mgc.c) -------------------------------------------------------------------- */

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
	uint64_t next_gc;     /* the goal: heap_live the next cycle must not pass */
	uint64_t trigger;     /* heap_live that starts a concurrent cycle */
	uint64_t trigger_ratio; /* its share of the growth, 1/1000 (mgc.c) */
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
/* Set by the libgc.so.1 drop-in (boehm.c): mark with the world stopped,
 * as Boehm's collector does until the program asks for incremental
 * collection (GC_enable_incremental).  Its programs' mark procedures and
 * their reads of disappearing links assume a stopped world. */
GH_INTERNAL extern bool gh_gc_stw_only;
/* Install the fork handlers. */
GH_INTERNAL void gh_gc_atfork(void);

#endif
