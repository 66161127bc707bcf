/*
 * lockrank.c - the lock-order checker of --enable-debug builds.  See
 * lockrank.h for the ranks and the rule; release builds compile none of
 * this (gh.h's gh_lock is then pthread_mutex_lock alone).
 *
 * Every lock has a place in one total order: its rank, then, among the
 * locks of its rank, its index (the mcentral locks are numbered by span
 * class, which is also their address order; a rank of one lock has index
 * 0).  Each thread keeps the set of places it holds as a bitmap: taking a
 * lock requires that no place at or after its own is held, releasing it
 * that its own is.  A bitmap, not a stack of the locks taken: the fork
 * handler holds 334 locks, and a stack of them in thread-local storage
 * would take 3 KiB of it per thread, more than the C library keeps for a
 * library loaded by dlopen (a module's thread-local block is all
 * initial-exec or all dynamic, and the rest of libgoheap's is
 * initial-exec).  The bitmap takes 48 bytes.
 *
 * Locks of one rank that are not numbered (the spawn hand-shake's, one per
 * call) share one place: holding two of them at once is reported as a
 * misorder, which it would be.
 */
#include "config.h"

#ifdef GH_DEBUG

#include <stdio.h>

#include "gh.h"

static const char *const rank_names[GH_NUM_RANKS] = {
	[GH_RANK_NONE] = "unranked",
	[GH_RANK_GC] = "gc",
	[GH_RANK_DROPIN] = "dropin",
	[GH_RANK_ROOTS] = "roots",
	[GH_RANK_THREADS] = "threads",
	[GH_RANK_MCENTRAL] = "mcentral",
	[GH_RANK_HEAP] = "heap",
	[GH_RANK_SPECIALS] = "specials",
	[GH_RANK_GCSTATS] = "gcstats",
	[GH_RANK_MCACHES] = "mcaches",
	[GH_RANK_TYPES] = "types",
	[GH_RANK_UNWIND] = "unwind",
	[GH_RANK_PROF] = "prof",
	[GH_RANK_MARKHELPERS] = "markhelpers",
	[GH_RANK_SWEEPER] = "sweeper",
	[GH_RANK_SPAWN] = "spawn",
	[GH_RANK_SWEEPCURSOR] = "sweepcursor",
	[GH_RANK_GCTHREAD] = "gcthread",
};

/* Places: one per rank, GH_NUM_SPANCLASSES for mcentral. */
enum {
	NPLACES = GH_NUM_RANKS - 1 + GH_NUM_SPANCLASSES - 1,
	NWORDS = (NPLACES + 63) / 64,
};

static __thread uint64_t held[NWORDS];

static uint32_t count_of(uint32_t rank)
{
	return rank == GH_RANK_MCENTRAL ? GH_NUM_SPANCLASSES : 1;
}

/* The place of m in the order; aborts for a lock without a valid rank
 * (a gh_mutex never initialised). */
static uint32_t place_of(const gh_mutex *m)
{
	if (m->rank == GH_RANK_NONE || m->rank >= GH_NUM_RANKS || m->index >= count_of(m->rank))
		gh_throw("lock order: a lock at %p has rank %u, index %u (never initialised?)",
			 (const void *)m, m->rank, m->index);
	uint32_t p = 0;
	for (uint32_t r = GH_RANK_NONE + 1; r < m->rank; r++)
		p += count_of(r);
	return p + m->index;
}

static bool is_held(uint32_t p)
{
	return (held[p / 64] >> (p % 64)) & 1;
}

/* "mcentral[12] (rank 4)": the lock at place p, for a message. */
static const char *describe(uint32_t p, char *buf, size_t size)
{
	uint32_t r = GH_RANK_NONE + 1;
	while (p >= count_of(r))
		p -= count_of(r++);
	if (count_of(r) > 1)
		snprintf(buf, size, "%s[%u] (rank %u)", rank_names[r], p, r);
	else
		snprintf(buf, size, "%s (rank %u)", rank_names[r], r);
	return buf;
}

void gh_lockrank_acquire(const gh_mutex *m)
{
	uint32_t p = place_of(m);
	/* The last place held, if it is at or after p. */
	for (uint32_t q = NPLACES; q-- > p;) {
		if (!is_held(q))
			continue;
		char want[64], have[64];
		gh_throw("lock order: taking %s while holding %s", describe(p, want, sizeof want),
			 describe(q, have, sizeof have));
	}
}

void gh_lockrank_push(const gh_mutex *m)
{
	uint32_t p = place_of(m);
	held[p / 64] |= (uint64_t)1 << (p % 64);
}

void gh_lockrank_release(const gh_mutex *m)
{
	uint32_t p = place_of(m);
	char buf[64];
	if (!is_held(p))
		gh_throw("lock order: releasing %s, which this thread does not hold",
			 describe(p, buf, sizeof buf));
	held[p / 64] &= ~((uint64_t)1 << (p % 64));
}

void gh_lockrank_assert_held(const gh_mutex *m, const char *fn)
{
	uint32_t p = place_of(m);
	char buf[64];
	if (!is_held(p))
		gh_throw("lock order: %s without %s held", fn, describe(p, buf, sizeof buf));
}

#endif /* GH_DEBUG */
