/*
 * lockrank.h - every lock of libgoheap, with its rank: the one place that
 * says which lock may be taken while holding which.
 *
 * The rule: a thread takes a lock only if its rank is above the rank of
 * every lock it holds already.  Locks of one rank may be held together only
 * if taken in increasing index order, which is their address order; only
 * the mcentral locks ever are (numbered by span class), by the two that
 * take all 324 of them: the fork handler (mgc.c) and the heap checker
 * (mcheck.c).  A release may come in any order.  So no two threads can
 * each hold a lock the other waits for.
 *
 * Locks are gh_mutex (gh.h), taken with gh_lock and dropped with gh_unlock.
 * An --enable-debug build (GH_DEBUG) checks the rule at every acquire
 * (lockrank.c), that every release drops a lock the thread holds, and,
 * with gh_assert_held, that every function named "_locked" (and a few
 * whose comment says the caller holds a lock) is called with its lock
 * held; a violation aborts with one line, e.g.
 *
 *   goheap: lock order: taking heap (rank 5) while holding prof (rank 11)
 *
 * Release builds carry no rank: gh_lock is pthread_mutex_lock.
 *
 * Why this order, from the top (what is taken under what):
 *
 *   gc           A collection, goheap_gc and the heap dump hold it from
 *                start to end, and take nearly every other lock under it:
 *                they sweep (mcentral, heap, specials, types, prof), start
 *                helper threads (markhelpers, sweeper, spawn), stop the
 *                world (roots .. unwind), read the statistics (mcaches,
 *                heap, gcstats).
 *   roots        Held by a collection from before it stops the world to
 *   threads      after it restarts it, in this order, so that no root range
 *                changes and no thread joins or leaves meanwhile (mgc.c,
 *                step 2).  Under threads the collection takes specials,
 *                unwind and markhelpers, and the fork handler the mcentral
 *                locks; so the thread registry is no leaf.
 *   mcentral     A class's span lists and its spans' free lists.  Spans are
 *                swept outside it (claimed under it), but a span that
 *                comes out of a sweep or a give-back with no block left
 *                goes to the page heap (heap) with its type table (types)
 *                under it; growing takes a span from the heap outside it.
 *                fork freezes sweeping (gh_sweep_freeze) under all of them.
 *   heap         The page heap.  Nothing is taken under it but by the fork
 *                handler; everything that changes spans may take it.
 *   specials     Every span's list of specials, and the finalizers'
 *                registry and queue and the weak links' table (mspecial.c,
 *                mfinal.c, mweak.c): taken by the sweep, and held by a
 *                collection while the world is stopped, which takes
 *                mcaches, unwind and markhelpers under it; so it is no
 *                leaf either.
 *   gcstats      The collector's figures (gh_gc.stats_lock): taken under
 *                gc at the end of a collection, alone by readers.
 *   mcaches      The registry of thread caches: alone, or under gc by the
 *                heap dump's statistics, or by a collection from before it
 *                stops the world (under specials) to after, as marking takes
 *                every cache's spans back and marks their lists.
 *   types        Type descriptors and the type tables of small typed
 *                spans: alone (goheap_type_new), or under mcentral
 *                (growth, sweep).
 *   unwind       Held around the unwinder (mprof.c): taken alone by a
 *                sample, and by a collection last before it enters the
 *                dynamic loader's lock and stops the world.
 *   prof         The heap profile: alone (a sample, an explicit free, the
 *                profile's writer), under mcentral (sweep), and after
 *                unwind by mprof.c's own fork handler.
 *   markhelpers  The parked mark helpers: under gc when they are started,
 *                and under everything a collection holds while the world
 *                is stopped, when they are woken and waited for.  Only
 *                the collecting thread and the helpers, which are not
 *                registered, take it: no stopped thread holds it.
 *   sweeper      The background sweeper's wake-up: alone (the sweeper),
 *                or under gc.
 *   spawn        The hand-shake of gh_spawn_thread, one lock per call:
 *                under markhelpers and sweeper, which start threads.
 *   sweepcursor  The proportional sweep's cursor: alone.
 *   gcthread     Requests to goheap-gc, the concurrent collector's thread,
 *                and their completion (mgc.c): alone.
 *
 * Outside this table: the dynamic loader's lock, which a collection takes
 * (gh_os_with_loader_locked) after unwind and before it stops the world,
 * and holds while it takes markhelpers; and the C library's own locks (stdio,
 * malloc, its thread list), which the collecting thread never takes while
 * the world is stopped (mgc.c).  The stats file has no lock: it is a
 * seqlock with a word to sleep on (statfile.h, gh_os_wait_shared); the
 * debug modes take none.
 *
 * fork: the prepare handler (mgc.c) takes gc .. types in this order, then
 * mprof.c's handler, registered earlier and so called later, unwind and
 * prof; the child releases them all.  The rest (markhelpers, sweeper,
 * spawn, sweepcursor) belong to the library's own threads or to moments
 * no fork can copy half-way; the child, which has none of those threads,
 * initialises them afresh.
 *
 * While the world is stopped, the collecting thread takes no lock a
 * stopped thread may hold (mgc.c): everything it needs it took before
 * stopping, in the order above.
 */
#ifndef GH_LOCKRANK_H
#define GH_LOCKRANK_H

/* Lower ranks are taken first.  The names in lockrank.c follow this
 * order. */
enum gh_lockrank {
	GH_RANK_NONE = 0,     /* a gh_mutex never initialised: a bug */
	GH_RANK_GC,           /* gh_gc.lock (mgc.c) */
	GH_RANK_DROPIN,       /* the libgc.so.1 drop-in's (boehm*.c) */
	GH_RANK_ROOTS,        /* roots_lock (roots.c) */
	GH_RANK_THREADS,      /* registry_lock (threads.c) */
	GH_RANK_MCENTRAL,     /* gh_heap.central[i].lock, 324 (mcentral.c) */
	GH_RANK_HEAP,         /* gh_heap.lock (mheap.c) */
	GH_RANK_SPECIALS,     /* specials_lock (mspecial.c) */
	GH_RANK_GCSTATS,      /* gh_gc.stats_lock (mgc.c) */
	GH_RANK_MCACHES,      /* registry_lock (mcache.c) */
	GH_RANK_TYPES,        /* type_lock (mbitmap.c) */
	GH_RANK_UNWIND,       /* unwind_lock (mprof.c) */
	GH_RANK_PROF,         /* prof_lock (mprof.c) */
	GH_RANK_MARKHELPERS,  /* helpers.lock (mgcmark.c) */
	GH_RANK_SWEEPER,      /* sweeper_lock (mgcsweep.c) */
	GH_RANK_SPAWN,        /* spawn_start.lock (threads.c) */
	GH_RANK_SWEEPCURSOR,  /* cursor_lock (mgcsweep.c) */
	GH_RANK_GCTHREAD,     /* bg.lock (mgc.c) */
	GH_NUM_RANKS,
};

#endif
