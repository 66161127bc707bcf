/*
 * mspecial.c - specials: the records attached to blocks (finalizers, weak
 * links, heap profile samples), kept in one list per span, as the Go
 * runtime keeps them.  See gc.h for the kinds and the hooks' contracts;
 * mfinal.c, mweak.c and mprof.c for what each kind means.
 *
 * The list.  gh_span.specials points at the span's first special; each
 * special links to the next, sorted by block index and, for one block, by
 * kind (enum gh_special_kind), records of equal key in the order they came.
 * The first special's prev points at the last, so that appending, which
 * is what allocation order mostly asks for, costs no walk; every other
 * prev points at the predecessor, and an unlinked special has prev NULL.
 * nspecials counts the list (and nprofiled its profile samples), read
 * without the lock by goheap_free's fast path and the sweeper to skip
 * spans without specials.  A span goes back to the page heap with an
 * empty list: a special lives only as long as its block.
 *
 * When a block dies:
 *   1. at mark termination, with the world stopped, weak links to
 *      unmarked blocks are cleared and the finalizers of unmarked blocks
 *      queued, their blocks marked again (gh_specials_mark_end: the order
 *      of these steps is Boehm's, see mfinal.c);
 *   2. the sweep of a span (gh_specials_sweep) then finds only specials of
 *      dead blocks that need no decision: profile samples, whose free it
 *      counts, and weak links lying in dead blocks, which it drops;
 *   3. an explicit free (gh_specials_free_block) does both at once for one
 *      block: drops its finalizer unrun, counts its profile samples' free,
 *      clears and drops the weak links to it, drops those in it.
 * Steps 2 and 3 first detach the dead block's specials (the finalizers'
 * actions excepted, which keep the block) into a list of their own, then
 * act on that list: dropping a weak link unlinks its other half, which may
 * sit in the same list further on, so acting while walking would follow a
 * freed record.
 *
 * One lock.  All lists and all records are guarded by the specials lock,
 * not by a lock per span as in Go, because the collector reads and changes
 * specials of many spans while the world is stopped (mark termination,
 * heap dumps), and a thread stopped by signal may hold any lock it takes:
 * a lock per span would have to be taken for every span before each
 * stop.  One lock, taken before the stop like the roots and registry
 * locks, gives the collector every list whole.  It is a leaf, held only
 * for a walk of one span's list or a record's change; the paths that take
 * it are rare: setting finalizers and weak links, one heap profile sample
 * per 512 KiB allocated, the sweep of a span with specials, and the free
 * of a block of such a span, unless the span holds profile samples only
 * and the block was not sampled (mprof.c's filter answers without it).
 */
#include "config.h"

#include <string.h>

#include "gc.h"
#include "gh.h"
#include "mprof.h"

static pthread_mutex_t specials_lock = PTHREAD_MUTEX_INITIALIZER;

void gh_specials_lock(void)
{
	gh_mutex_lock(&specials_lock);
}

void gh_specials_unlock(void)
{
	/* A collection queues finalizers with the world stopped, where it
	 * may not wake a thread: it is done here, once the lock is free. */
	bool wake = gh_final_take_wake();
	pthread_mutex_unlock(&specials_lock);
	if (wake)
		gh_final_wake();
}

void gh_specials_wait(pthread_cond_t *cond)
{
	pthread_cond_wait(cond, &specials_lock);
}

/* ---- The list ---- */

static inline bool key_less(const gh_special *a, const gh_special *b)
{
	return a->idx < b->idx || (a->idx == b->idx && a->kind < b->kind);
}

static inline void count(gh_span *s, const gh_special *sp, int d)
{
	/* nprofiled rises after nspecials and falls before it (gh.h). */
	if (sp->kind == GH_SPECIAL_PROFILE && d < 0)
		__atomic_fetch_sub(&s->nprofiled, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&s->nspecials, (uint32_t)d, __ATOMIC_SEQ_CST);
	if (sp->kind == GH_SPECIAL_PROFILE && d > 0)
		__atomic_fetch_add(&s->nprofiled, 1, __ATOMIC_SEQ_CST);
}

void gh_special_insert(gh_span *s, gh_special *sp)
{
	gh_special *first = s->specials;
	if (!first) {
		sp->next = NULL;
		sp->prev = sp;
		s->specials = sp;
	} else if (!key_less(sp, first->prev)) {
		gh_special *last = first->prev;
		sp->prev = last;
		sp->next = NULL;
		last->next = sp;
		first->prev = sp;
	} else {
		/* Back from the end to the first special with a greater key. */
		gh_special *q = first->prev;
		while (q != first && key_less(sp, q->prev))
			q = q->prev;
		sp->next = q;
		sp->prev = q->prev;
		if (q == first)
			s->specials = sp;
		else
			q->prev->next = sp;
		q->prev = sp;
	}
	count(s, sp, 1);
}

void gh_special_remove(gh_span *s, gh_special *sp)
{
	gh_special *first = s->specials;
	GH_ASSERT(sp->prev != NULL && first != NULL);
	if (sp == first) {
		s->specials = sp->next;
		if (sp->next)
			sp->next->prev = sp->prev;
	} else {
		sp->prev->next = sp->next;
		if (sp->next)
			sp->next->prev = sp->prev;
		else
			first->prev = sp->prev;
	}
	sp->next = sp->prev = NULL;
	count(s, sp, -1);
}

/* The first special of block idx, or NULL; walks from the nearer end. */
static gh_special *first_of_block(gh_span *s, uint32_t idx)
{
	gh_special *first = s->specials;
	if (!first)
		return NULL;
	gh_special *last = first->prev, *q;
	if (idx < first->idx || idx > last->idx)
		return NULL;
	if (idx - first->idx <= last->idx - idx) {
		for (q = first; q->idx < idx; q = q->next)
			;
	} else {
		for (q = last; q != first && q->prev->idx >= idx; q = q->prev)
			;
	}
	return q->idx == idx ? q : NULL;
}

gh_special *gh_special_find(gh_span *s, uint32_t idx, uint8_t kind)
{
	for (gh_special *q = first_of_block(s, idx); q && q->idx == idx; q = q->next)
		if (q->kind == kind)
			return q;
	return NULL;
}

/* ---- A dead block's specials ---- */

/* Detach sp from s's list onto *dead, whose order it keeps (tail *tail). */
static void detach(gh_span *s, gh_special *sp, gh_special **dead, gh_special ***tail)
{
	gh_special_remove(s, sp);
	**tail = sp;
	*tail = &sp->next;
}

/* Act on specials of dead blocks detached from s; the finalizers were
 * dealt with before detaching. */
static void act(gh_span *s, gh_special *dead)
{
	while (dead) {
		gh_special *next = dead->next;
		switch (dead->kind) {
		case GH_SPECIAL_WEAK:
		case GH_SPECIAL_LINK:
			gh_weak_special_dead(dead);
			break;
		case GH_SPECIAL_PROFILE:
			gh_mprof_special_dead(s, dead);
			break;
		default:
			gh_throw("specials: a detached special of kind %u", dead->kind);
		}
		dead = next;
	}
}

void gh_specials_sweep(gh_span *s)
{
	gh_special *dead = NULL, **tail = &dead;
	gh_specials_lock();
	for (gh_special *sp = s->specials, *next; sp; sp = next) {
		next = sp->next;
		if (gh_span_marked(s, sp->idx))
			continue;
		if (sp->kind == GH_SPECIAL_FINALIZER)
			/* Keeps the block: the rest of its specials stay. */
			gh_final_special_dead(s, sp, true);
		else
			detach(s, sp, &dead, &tail);
	}
	*tail = NULL;
	act(s, dead);
	gh_specials_unlock();
}

void gh_specials_free_block(gh_span *s, uint32_t idx)
{
	/* A span whose specials are all profile samples: most of its blocks
	 * were not sampled, which the profile's filter tells without the
	 * lock. */
	if (__atomic_load_n(&s->nspecials, __ATOMIC_SEQ_CST) ==
		    __atomic_load_n(&s->nprofiled, __ATOMIC_SEQ_CST) &&
	    !gh_mprof_maybe_sampled(s, idx))
		return;
	gh_special *dead = NULL, **tail = &dead;
	gh_specials_lock();
	for (gh_special *sp = first_of_block(s, idx), *next; sp && sp->idx == idx; sp = next) {
		next = sp->next;
		if (sp->kind == GH_SPECIAL_FINALIZER)
			gh_final_special_dead(s, sp, false);
		else
			detach(s, sp, &dead, &tail);
	}
	*tail = NULL;
	act(s, dead);
	gh_specials_unlock();
}

uint64_t gh_specials_mark_end(void)
{
	gh_weak_mark_end();
	return gh_final_mark_end();
}

void gh_specials_after_fork(void)
{
	pthread_mutex_init(&specials_lock, NULL);
	gh_final_after_fork();
}
