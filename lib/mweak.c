/*
 * mweak.c - weak links: words that the collector sets to NULL once the
 * block they are registered for dies (Boehm's disappearing links), and
 * goheap_register_weak_link(3), the public API on top, which keeps the
 * block's address in the word hidden (~p) and reads it back safely.
 *
 * A registration is one record with two specials (mspecial.c): one in the
 * list of the target block's span (GH_SPECIAL_WEAK), one in the list of the
 * span of the block the link lies in, if it lies in the heap
 * (GH_SPECIAL_LINK).  Records are also in a hash table keyed by the link's
 * address, for unregister and move, and in a list of all links, which each
 * collection walks once.  All under the specials lock.
 *
 * Clearing.  At mark termination, with the world stopped, every link whose
 * target is unmarked is set to NULL and its record dropped
 * (gh_weak_mark_end), before finalizers are looked at (mfinal.c), as
 * Boehm's collector does: a link to a block reachable only from a
 * finalizable block is cleared, and stays cleared if a finalizer
 * resurrects the block.  Clearing while the world is stopped, rather than
 * as the sweep reaches the target's span (Go's choice for its weak
 * handles), makes a link that reads non-NULL, at any time the world runs,
 * point at a block that the last marking found alive or that was
 * registered since, whatever the sweep has got to: a reader needs no
 * check of the span and no lock.  One race is left, and the reader closes
 * it (goheap_read_weak_link): a thread stopped after loading the hidden
 * word but before making a pointer of it holds nothing the collector sees;
 * the reader therefore makes the pointer, then loads the word again, and
 * returns the pointer only if the word has not changed.  If the stop came
 * before the pointer existed, the link was cleared and the second load
 * sees it; if after, the pointer was in a register or on the stack, was
 * scanned, and kept the block alive.
 *
 * Concurrent marking needs no read barrier either (Go's weak pointers
 * shade what they give back, because Go does not scan stacks again at the
 * end of marking).  A pointer read while marking runs is, by the final
 * pause, in a register or on a stack, which that pause scans again, or
 * written into the heap or static data, which write tracking and that
 * pause re-scan: the block is marked before links are cleared, in the same
 * pause.  t-gc-concurrent (case_weak) fails without either re-scan.
 *
 * An explicit free of the target clears its links the same way (under the
 * specials lock; a reader racing with the free of what it reads gets the
 * pointer or NULL, as with any free).  A link lying in a block that dies
 * (the sweep) or is freed is dropped and never written again: its memory
 * may be reused.  A link outside the heap must stay writable until it is
 * unregistered.
 *
 * Costs: one walk of the links per collection, with the world stopped;
 * nothing on the allocation and free fast paths, beyond the nspecials
 * test goheap_free makes anyway.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"

typedef struct weak_rec weak_rec;
struct weak_rec {
	gh_special target; /* GH_SPECIAL_WEAK, in the target's span */
	gh_special holder; /* GH_SPECIAL_LINK, in the span the link lies in */
	gh_span *tspan;
	gh_span *hspan; /* NULL: the link is not in the heap */
	void **link;
	uintptr_t obj;
	weak_rec *hnext;        /* hash chain */
	weak_rec *next, *prev;  /* all links */
	bool dropped;           /* unregistered, one half still detached */
};

static gh_fixalloc recs;
static uint64_t recs_inuse;
static bool recs_ready;
static weak_rec all = {.next = &all, .prev = &all}; /* list head */
static uint64_t nlinks, nlinks_in_heap;
static weak_rec **buckets;
static size_t nbuckets; /* a power of two, or 0 */

/* ---- The table of links (under the specials lock) ---- */

static size_t bucket_of(void **link, size_t n)
{
	uint64_t h = ((uintptr_t)link >> 3) * UINT64_C(0x9e3779b97f4a7c15);
	return (size_t)(h >> 32) & (n - 1);
}

static weak_rec *find(void **link)
{
	if (!nbuckets)
		return NULL;
	for (weak_rec *r = buckets[bucket_of(link, nbuckets)]; r; r = r->hnext)
		if (r->link == link)
			return r;
	return NULL;
}

static void hash_insert(weak_rec *r)
{
	size_t b = bucket_of(r->link, nbuckets);
	r->hnext = buckets[b];
	buckets[b] = r;
}

static void hash_remove(weak_rec *r)
{
	weak_rec **pp = &buckets[bucket_of(r->link, nbuckets)];
	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
}

/* Room for one more link: at most one per bucket on average.  A table
 * that cannot grow only makes chains longer; -1 if there is none at all. */
static int table_reserve(void)
{
	if (nlinks < nbuckets)
		return 0;
	size_t n = nbuckets ? nbuckets * 2 : 256;
	weak_rec **b = gh_sys_alloc(n * sizeof *b, &gh_heap.stats.gc_sys);
	if (!b)
		return nbuckets ? 0 : -1;
	for (size_t i = 0; i < nbuckets; i++)
		for (weak_rec *r = buckets[i], *next; r; r = next) {
			next = r->hnext;
			size_t k = bucket_of(r->link, n);
			r->hnext = b[k];
			b[k] = r;
		}
	if (buckets)
		gh_sys_free(buckets, nbuckets * sizeof *b, &gh_heap.stats.gc_sys);
	buckets = b;
	nbuckets = n;
	return 0;
}

static weak_rec *rec_alloc(void)
{
	if (!recs_ready) {
		gh_fixalloc_init(&recs, sizeof(weak_rec), &recs_inuse, &gh_heap.stats.gc_sys);
		recs_ready = true;
	}
	return gh_fixalloc_alloc(&recs);
}

static weak_rec *rec_of(gh_special *sp)
{
	if (sp->kind == GH_SPECIAL_WEAK)
		return (weak_rec *)sp;
	return (weak_rec *)((char *)sp - offsetof(weak_rec, holder));
}

static void clear_link(weak_rec *r)
{
	__atomic_store_n((uintptr_t *)r->link, 0, __ATOMIC_RELAXED);
}

/* Take r out of the table and the list of links. */
static void unregister(weak_rec *r)
{
	hash_remove(r);
	r->prev->next = r->next;
	r->next->prev = r->prev;
	nlinks--;
	if (r->hspan)
		nlinks_in_heap--;
}

/* Unregister r and free it, both halves being in their lists. */
static void drop(weak_rec *r)
{
	unregister(r);
	gh_special_remove(r->tspan, &r->target);
	if (r->hspan)
		gh_special_remove(r->hspan, &r->holder);
	gh_fixalloc_free(&recs, r);
}

/* ---- The collector's side ---- */

void gh_weak_mark_end(void)
{
	for (weak_rec *r = all.next, *next; r != &all; r = next) {
		next = r->next;
		if (gh_span_marked(r->tspan, r->target.idx))
			continue;
		clear_link(r);
		drop(r);
	}
}

void gh_weak_special_dead(gh_special *sp)
{
	weak_rec *r = rec_of(sp);
	if (r->dropped) {
		/* The other half came first in the same list of the dead. */
		gh_fixalloc_free(&recs, r);
		return;
	}
	/* The target dies: its links read NULL from now on.  A link lying
	 * in a dead block is not written. */
	if (sp->kind == GH_SPECIAL_WEAK)
		clear_link(r);
	unregister(r);
	gh_special *other = sp->kind == GH_SPECIAL_WEAK ? (r->hspan ? &r->holder : NULL)
						      : &r->target;
	if (other && !other->prev) {
		/* Detached too, further on in the same list. */
		r->dropped = true;
		return;
	}
	if (other)
		gh_special_remove(other == &r->target ? r->tspan : r->hspan, other);
	gh_fixalloc_free(&recs, r);
}

uint64_t gh_weak_count(void)
{
	return nlinks;
}

uint64_t gh_weak_count_in_heap(void)
{
	return nlinks_in_heap;
}

const char *gh_weak_special_bad(const gh_span *s, const gh_special *sp)
{
	const weak_rec *r = rec_of((gh_special *)sp);
	uintptr_t block = s->start + (size_t)sp->idx * s->elemsize;
	if (sp->kind == GH_SPECIAL_WEAK) {
		if (r->tspan != s || r->obj != block)
			return "weak link record's target is not its list's block";
	} else if (r->hspan != s || (uintptr_t)r->link < block ||
		   (uintptr_t)r->link + sizeof(void *) > block + s->elemsize) {
		return "weak link record's link does not lie in its list's block";
	}
	if (r->dropped || find(r->link) != r)
		return "weak link record not registered under its link";
	return NULL;
}

/* ---- Registering ---- */

/* The live, non-tiny block that starts at obj: its span and index, or
 * NULL. */
static gh_span *target_of(const void *obj, uint32_t *idx)
{
	uintptr_t p = (uintptr_t)obj;
	gh_span *s = gh_span_of(p);
	if (!s)
		return NULL;
	gh_span_ensure_swept(s);
	s = gh_span_of(p);
	if (!s || GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY || goheap_base(obj) != obj)
		return NULL;
	*idx = GH_SPANCLASS_CLASS(s->spanclass) ? gh_span_index(s, p) : 0;
	return s;
}

/* Where link lies: *hs the span of its live block and *idx its index, or
 * *hs NULL outside the heap.  -EINVAL for a misaligned link or one in
 * heap memory that is not a live block. */
static int holder_of(void **link, gh_span **hs, uint32_t *idx)
{
	uintptr_t a = (uintptr_t)link;
	*hs = NULL;
	if (!link || (a & (sizeof(void *) - 1)))
		return -EINVAL;
	gh_span *s = gh_span_of(a);
	if (!s)
		return gh_arena_of(a) ? -EINVAL : 0;
	gh_span_ensure_swept(s);
	s = gh_span_of(a);
	if (!s || !goheap_base(link))
		return -EINVAL;
	*hs = s;
	*idx = GH_SPANCLASS_CLASS(s->spanclass) ? gh_span_index(s, a) : 0;
	return 0;
}

/* Register link for obj; with store, write obj's hidden address in it.
 * Caller holds neither lock. */
static int weak_register(void **link, const void *obj, bool store)
{
	gh_init();
	uint32_t tidx = 0, hidx = 0;
	gh_span *ts = target_of(obj, &tidx), *hs;
	int err = holder_of(link, &hs, &hidx);
	if (!ts || err)
		return -EINVAL;
	int ret = 0;
	gh_specials_lock();
	weak_rec *r = find(link);
	if (r) {
		ret = 1;
		if (r->obj != (uintptr_t)obj) {
			gh_special_remove(r->tspan, &r->target);
			r->tspan = ts;
			r->obj = (uintptr_t)obj;
			r->target.idx = tidx;
			gh_special_insert(ts, &r->target);
		}
	} else if (table_reserve() != 0 || !(r = rec_alloc())) {
		ret = -ENOMEM;
	} else {
		r->target.idx = tidx;
		r->target.kind = GH_SPECIAL_WEAK;
		r->holder.idx = hidx;
		r->holder.kind = GH_SPECIAL_LINK;
		r->tspan = ts;
		r->hspan = hs;
		r->link = link;
		r->obj = (uintptr_t)obj;
		r->dropped = false;
		gh_special_insert(ts, &r->target);
		if (hs)
			gh_special_insert(hs, &r->holder);
		hash_insert(r);
		r->next = all.next;
		r->prev = &all;
		all.next->prev = r;
		all.next = r;
		nlinks++;
		if (hs)
			nlinks_in_heap++;
	}
	if (ret >= 0 && store)
		__atomic_store_n((uintptr_t *)link, ~(uintptr_t)obj, __ATOMIC_RELEASE);
	gh_specials_unlock();
	return ret;
}

/* Unregister link; with store, set it to NULL.  1, or 0 if it was not
 * registered. */
static int weak_unregister(void **link, bool store)
{
	gh_init();
	gh_specials_lock();
	weak_rec *r = find(link);
	if (r) {
		drop(r);
		if (store)
			__atomic_store_n((uintptr_t *)link, 0, __ATOMIC_RELEASE);
	}
	gh_specials_unlock();
	return r != NULL;
}

/* Move link's registration to new_link; with store, move the word too
 * (*new_link = *link, *link = NULL). */
static int weak_move(void **link, void **new_link, bool store)
{
	gh_init();
	gh_span *hs;
	uint32_t hidx = 0;
	int err = holder_of(new_link, &hs, &hidx);
	gh_specials_lock();
	weak_rec *r = find(link);
	if (!r)
		err = -ENOENT;
	else if (new_link == link)
		err = 0;
	else if (!err && find(new_link))
		err = -EEXIST;
	if (err || new_link == link) {
		gh_specials_unlock();
		return err;
	}
	hash_remove(r);
	if (r->hspan) {
		gh_special_remove(r->hspan, &r->holder);
		nlinks_in_heap--;
	}
	r->link = new_link;
	r->hspan = hs;
	r->holder.idx = hidx;
	if (hs) {
		gh_special_insert(hs, &r->holder);
		nlinks_in_heap++;
	}
	hash_insert(r);
	if (store) {
		uintptr_t v = __atomic_load_n((uintptr_t *)link, __ATOMIC_RELAXED);
		__atomic_store_n((uintptr_t *)new_link, v, __ATOMIC_RELEASE);
		__atomic_store_n((uintptr_t *)link, 0, __ATOMIC_RELEASE);
	}
	gh_specials_unlock();
	return 0;
}

int gh_weak_register(void **link, const void *obj)
{
	return weak_register(link, obj, false);
}

int gh_weak_unregister(void **link)
{
	return weak_unregister(link, false);
}

int gh_weak_move(void **link, void **new_link)
{
	return weak_move(link, new_link, false);
}

/* ---- The public API (goheap_register_weak_link(3)) ---- */

int goheap_register_weak_link(void **link, const void *obj)
{
	int r = weak_register(link, obj, true);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int goheap_unregister_weak_link(void **link)
{
	if (!weak_unregister(link, true)) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int goheap_move_weak_link(void **link, void **new_link)
{
	int r = weak_move(link, new_link, true);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

void *goheap_read_weak_link(void *const *link)
{
	for (;;) {
		uintptr_t h = __atomic_load_n((const uintptr_t *)link, __ATOMIC_ACQUIRE);
		if (!h)
			return NULL;
		/* See the top of the file: the pointer exists, where a stop
		 * would find it, before the word is checked again. */
		void *p = (void *)~h;
		__asm__ volatile("" : "+r"(p));
		if (__atomic_load_n((const uintptr_t *)link, __ATOMIC_ACQUIRE) == h) {
			__asm__ volatile("" ::"r"(p));
			return p;
		}
	}
}
