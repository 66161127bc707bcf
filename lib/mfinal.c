/*
 * mfinal.c - finalizers: Go's semantics for goheap_set_finalizer, and the
 * variants of Boehm's collector for the libgc drop-in (gc.h).
 *
 * A finalizer is a special of its block (mspecial.c): a record with the
 * function, its argument and its mode, in the list of the block's span and
 * in the registry, a list of every attached finalizer, so that a
 * collection visits the finalizers without walking the spans.  Once its
 * block is found unreachable the record moves to the queue, from which
 * the finalizer thread or goheap_run_finalizers take it to run it.
 *
 * A collection (mgc.c, mgcmark.c) deals with finalizers in three steps:
 *
 *   1. While marking from the roots, the queued blocks and what they
 *      reference, and the argument of every finalizer, attached or queued,
 *      are roots (gh_final_mark_roots): the finalizers will use them.
 *   2. With marking done and the world still stopped, after weak links to
 *      dead blocks have been cleared (mweak.c): for each attached
 *      finalizer whose block is unmarked, mark what the block references,
 *      as its mode says (ordered: all of it; ignore_self: all but the
 *      block itself; no_order: nothing), and everything reachable from
 *      that (order_pass).
 *   3. Every block with a finalizer still unmarked is unreachable from the
 *      roots and from every other such block: its record moves to the
 *      queue, and the block is marked, with what it references, so that
 *      the sweep leaves all of it for the finalizer (queue_pass).  With
 *      Java mode off, a no_order block is marked alone, so that what only
 *      it referenced may be freed before it is finalized, as in Boehm's
 *      collector.
 *
 * Hence the rules of goheap_set_finalizer(3), which are Go's and those of
 * Boehm's ordered GC_register_finalizer alike: a finalizer runs at most
 * once, never while its block is reachable, and may allocate or resurrect;
 * when an unreachable block with a finalizer references another, only the
 * referencing one is finalized by a collection, the other one by a later
 * collection once the first finalizer has run; a block that can reach
 * itself, or whose argument points into it, is never finalized.  The block
 * is freed by a later collection if the finalizer did not make it
 * reachable again.  Step 2 comes after marking rather than with the roots,
 * as Go does it, so that weak links see what is reachable from the roots
 * alone, as Boehm's disappearing links do.
 *
 * Steps 2 and 3 cost a walk of the registry per collection, with the world
 * stopped: O(finalizers), whatever the number of spans.  The finalizers
 * are queued by the collection itself, not by the sweep: the sweep is lazy,
 * and finalizers would otherwise wait for it, span by span.
 *
 * Finalizers run on a finalizer thread, started when the first finalizer
 * is set, or on any thread that calls goheap_run_finalizers; in on-demand
 * mode only on the latter, and the thread calls the notifier instead, once
 * per collection that leaves finalizers queued.
 *
 * Records, registry and queue are guarded by the specials lock.  A
 * collection holds it while the world is stopped; the thread is woken
 * once the collection lets it go (gh_specials_unlock).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "mem.h"

typedef struct final_rec final_rec;
struct final_rec {
	gh_special sp; /* in its span's list while attached; first */
	gh_span *span;
	uintptr_t obj;
	gh_final_fn fn;
	void *arg;
	uint8_t mode; /* enum gh_final_mode */
	/* The registry while attached (doubly linked), the queue once queued
	 * (next only). */
	final_rec *next, *prev;
};

static pthread_cond_t final_cond = PTHREAD_COND_INITIALIZER;
static gh_fixalloc recs;
static uint64_t recs_inuse;
static bool recs_ready;
static final_rec registry = {.next = &registry, .prev = &registry}; /* head */
static uint64_t nregistered;
static final_rec *queue_head, **queue_tail = &queue_head;
static uint64_t nqueued;
static bool thread_started;
static bool wake;              /* the thread is to be woken at unlock */
static bool on_demand;         /* atomic */
static bool java_mode = true;  /* atomic */
static void (*notifier)(void); /* atomic */
/* Collections that left finalizers queued, and the last one the notifier
 * was called for. */
static uint64_t queued_gen, notified_gen;

static final_rec *rec_of(gh_special *sp)
{
	return (final_rec *)sp;
}

static final_rec *rec_alloc(void)
{
	if (!recs_ready) {
		gh_fixalloc_init(&recs, sizeof(final_rec), &recs_inuse, &gh_heap.stats.gc_sys);
		recs_ready = true;
	}
	return gh_fixalloc_alloc(&recs);
}

static void registry_add(final_rec *r)
{
	r->next = registry.next;
	r->prev = &registry;
	registry.next->prev = r;
	registry.next = r;
	nregistered++;
}

static void registry_remove(final_rec *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->next = r->prev = NULL;
	nregistered--;
}

/* Detach r from its block (span list and registry); caller holds the
 * specials lock. */
static void detach(final_rec *r)
{
	gh_special_remove(r->span, &r->sp);
	registry_remove(r);
}

static void queue_push(final_rec *r)
{
	r->next = NULL;
	*queue_tail = r;
	queue_tail = &r->next;
	__atomic_store_n(&nqueued, nqueued + 1, __ATOMIC_RELAXED);
	wake = true;
}

/* A finalizer taken from the queue to run. */
typedef struct final_call {
	gh_final_fn fn;
	uintptr_t obj;
	void *arg;
} final_call;

/* Take the first queued finalizer into *c. */
static bool queue_pop(final_call *c)
{
	final_rec *r = queue_head;
	if (!r)
		return false;
	queue_head = r->next;
	if (!queue_head)
		queue_tail = &queue_head;
	__atomic_store_n(&nqueued, nqueued - 1, __ATOMIC_RELAXED);
	/* Field by field, through general registers: a vector register
	 * left holding obj would keep it alive in the signal frame of every
	 * later stop of this thread. */
	c->obj = __atomic_load_n(&r->obj, __ATOMIC_RELAXED);
	c->fn = __atomic_load_n(&r->fn, __ATOMIC_RELAXED);
	c->arg = __atomic_load_n(&r->arg, __ATOMIC_RELAXED);
	gh_fixalloc_free(&recs, r);
	return true;
}

/* ---- Collection ---- */

void gh_final_mark_roots(void)
{
	for (final_rec *r = registry.next; r != &registry; r = r->next)
		gh_mark_range((uintptr_t)&r->arg, (uintptr_t)(&r->arg + 1));
	for (final_rec *r = queue_head; r; r = r->next) {
		gh_mark_range((uintptr_t)&r->obj, (uintptr_t)(&r->obj + 1));
		gh_mark_range((uintptr_t)&r->arg, (uintptr_t)(&r->arg + 1));
	}
}

/* Mark what the block at p of s references but for its pointers into
 * itself (ignore_self). */
static void mark_referents_but_self(gh_span *s, uintptr_t p)
{
	uintptr_t end = p + s->elemsize;
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (kind == GH_KIND_SCAN) {
		for (uintptr_t w = p; w + 8 <= end; w += 8) {
			uintptr_t v = *(const uintptr_t *)w;
			if (v - p >= s->elemsize)
				gh_mark_range(w, w + 8);
		}
	} else if (kind == GH_KIND_TYPED) {
		const goheap_type *t = gh_span_type(s, p);
		if (!t)
			return;
		for (uintptr_t e = p; e + t->size <= end; e += t->size)
			for (size_t i = 0; i < t->nwords; i++) {
				uintptr_t w = e + i * 8;
				if ((t->bits[i >> 6] >> (i & 63) & 1) &&
				    *(const uintptr_t *)w - p >= s->elemsize)
					gh_mark_range(w, w + 8);
			}
	}
}

/* Step 2 (see the top of the file), as the only marker. */
static void order_pass(void *arg)
{
	(void)arg;
	for (final_rec *r = registry.next; r != &registry; r = r->next) {
		if (gh_span_marked(r->span, r->sp.idx))
			continue;
		if (r->mode == GH_FINAL_ORDERED)
			gh_mark_referents(r->span, r->obj);
		else if (r->mode == GH_FINAL_IGNORE_SELF)
			mark_referents_but_self(r->span, r->obj);
	}
}

/* Step 3.  The blocks it marks are marked at once, what they reference
 * only once the pass is over: which blocks are queued does not depend on
 * the order of the registry. */
static void queue_pass(void *arg)
{
	uint64_t *unscanned = arg;
	bool java = __atomic_load_n(&java_mode, __ATOMIC_RELAXED);
	for (final_rec *r = registry.next, *next; r != &registry; r = next) {
		next = r->next;
		gh_span *s = r->span;
		if (gh_span_marked(s, r->sp.idx))
			continue;
		if (java || r->mode != GH_FINAL_NO_ORDER)
			gh_mark_range((uintptr_t)&r->obj, (uintptr_t)(&r->obj + 1));
		else if (!gh_span_testandmark(s, r->sp.idx))
			*unscanned += s->elemsize;
		detach(r);
		queue_push(r);
	}
}

uint64_t gh_final_mark_end(void)
{
	uint64_t bytes = 0, unscanned = 0;
	if (nregistered) {
		bytes += gh_mark_closure(order_pass, NULL);
		bytes += gh_mark_closure(queue_pass, &unscanned);
	}
	if (nqueued) {
		queued_gen++;
		wake = true;
	}
	return bytes + unscanned;
}

void gh_final_special_dead(gh_span *s, gh_special *sp, bool sweep)
{
	final_rec *r = rec_of(sp);
	detach(r);
	if (!sweep) {
		gh_fixalloc_free(&recs, r);
		return;
	}
	/* Found by a sweep, which gh_final_mark_end should have made
	 * impossible; keep the block and run the finalizer all the same. */
	gh_span_testandmark(s, sp->idx);
	queue_push(r);
}

bool gh_final_take_wake(void)
{
	bool w = wake;
	wake = false;
	return w;
}

void gh_final_wake(void)
{
	pthread_cond_broadcast(&final_cond);
}

void gh_final_foreach(void (*fn)(uintptr_t obj, void (*f)(void *, void *), void *arg,
				 bool queued, void *ctx),
		      void *ctx)
{
	for (final_rec *r = registry.next; r != &registry; r = r->next)
		fn(r->obj, r->fn, r->arg, false, ctx);
	for (final_rec *r = queue_head; r; r = r->next)
		fn(r->obj, r->fn, r->arg, true, ctx);
}

uint64_t gh_final_count(void)
{
	return nregistered;
}

const char *gh_final_special_bad(const gh_span *s, const gh_special *sp)
{
	const final_rec *r = (const final_rec *)sp;
	if (r->span != s)
		return "finalizer record names another span";
	if (r->obj != s->start + (size_t)sp->idx * s->elemsize)
		return "finalizer record's block is not its list's block";
	if (!r->fn || r->mode > GH_FINAL_NO_ORDER)
		return "finalizer record without a function or with a bad mode";
	return NULL;
}

/* ---- Running finalizers ---- */

int goheap_run_finalizers(void)
{
	/* The block is referenced from nowhere but this stack while its
	 * finalizer runs. */
	if (gh_thread_autoregister() != 0)
		return -1;
	int n = 0;
	final_call c;
	for (;;) {
		gh_specials_lock();
		bool got = queue_pop(&c);
		gh_specials_unlock();
		if (!got)
			return n;
		c.fn((void *)c.obj, c.arg);
		n++;
	}
}

static void *finalizer_main(void *unused)
{
	(void)unused;
	goheap_register_thread();
	for (;;) {
		final_call c;
		void (*notify)(void) = NULL;
		gh_specials_lock();
		for (;;) {
			if (__atomic_load_n(&on_demand, __ATOMIC_RELAXED)) {
				notify = __atomic_load_n(&notifier, __ATOMIC_RELAXED);
				if (notify && nqueued && notified_gen != queued_gen) {
					notified_gen = queued_gen;
					break;
				}
				notify = NULL;
			} else if (queue_pop(&c)) {
				break;
			}
			/* Records are copied through them (queue_pop). */
			gh_os_clear_vector_registers();
			gh_specials_wait(&final_cond);
		}
		gh_specials_unlock();
		if (notify) {
			notify();
			continue;
		}
		c.fn((void *)c.obj, c.arg);
		/* Nothing of the block may linger in this frame. */
		memset(&c, 0, sizeof c);
		__asm__ volatile("" ::"r"(&c) : "memory");
	}
	return NULL;
}

static void start_thread(void)
{
	gh_specials_lock();
	bool start = !thread_started;
	thread_started = true;
	gh_specials_unlock();
	if (!start)
		return;
	if (gh_spawn_thread(finalizer_main, "goheap-final", true) != 0) {
		gh_specials_lock();
		thread_started = false; /* goheap_run_finalizers still works */
		gh_specials_unlock();
	}
}

/* ---- Setting ---- */

/* Set, replace or remove obj's finalizer.  replace false: refuse to
 * replace (-EEXIST) or to remove none (-ENOENT), goheap_set_finalizer's
 * rules. */
static int set_finalizer(void *obj, gh_final_fn fn, void *arg, enum gh_final_mode mode,
			 bool replace, gh_final_fn *ofn, void **oarg)
{
	gh_init();
	uintptr_t p = (uintptr_t)obj;
	gh_span *s = gh_span_of(p);
	if (s) {
		gh_span_ensure_swept(s);
		s = gh_span_of(p);
	}
	if (!s || GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY || goheap_base(obj) != obj) {
		if (ofn)
			*ofn = NULL;
		if (oarg)
			*oarg = NULL;
		return -EINVAL;
	}
	uint32_t idx = GH_SPANCLASS_CLASS(s->spanclass) ? gh_span_index(s, p) : 0;
	int ret = 0;
	gh_specials_lock();
	gh_special *sp = gh_special_find(s, idx, GH_SPECIAL_FINALIZER);
	final_rec *r = sp ? rec_of(sp) : NULL;
	gh_final_fn old_fn = r ? r->fn : NULL;
	void *old_arg = r ? r->arg : NULL;
	if (!fn) {
		if (r) {
			detach(r);
			gh_fixalloc_free(&recs, r);
		} else if (!replace) {
			ret = -ENOENT;
		}
	} else if (r) {
		if (!replace) {
			ret = -EEXIST;
		} else {
			r->fn = fn;
			r->arg = arg;
			r->mode = (uint8_t)mode;
		}
	} else if (!(r = rec_alloc())) {
		ret = -ENOMEM;
	} else {
		r->sp.idx = idx;
		r->sp.kind = GH_SPECIAL_FINALIZER;
		r->span = s;
		r->obj = p;
		r->fn = fn;
		r->arg = arg;
		r->mode = (uint8_t)mode;
		gh_special_insert(s, &r->sp);
		registry_add(r);
	}
	gh_specials_unlock();
	if (ret == -ENOMEM)
		return ret;
	if (ofn)
		*ofn = old_fn;
	if (oarg)
		*oarg = old_arg;
	if (ret == 0 && fn)
		start_thread();
	return ret;
}

int gh_final_register(void *obj, gh_final_fn fn, void *arg, enum gh_final_mode mode,
		      gh_final_fn *ofn, void **oarg)
{
	return set_finalizer(obj, fn, arg, mode, true, ofn, oarg);
}

int goheap_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg)
{
	int r = set_finalizer(obj, fn, arg, GH_FINAL_ORDERED, false, NULL, NULL);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* ---- Modes ---- */

void gh_final_set_on_demand(bool on)
{
	gh_init();
	gh_specials_lock();
	__atomic_store_n(&on_demand, on, __ATOMIC_RELAXED);
	wake = true; /* off: run what is queued; on: notify */
	gh_specials_unlock();
}

bool gh_final_on_demand(void)
{
	return __atomic_load_n(&on_demand, __ATOMIC_RELAXED);
}

void gh_final_set_notifier(void (*fn)(void))
{
	__atomic_store_n(&notifier, fn, __ATOMIC_RELAXED);
}

void (*gh_final_notifier(void))(void)
{
	return __atomic_load_n(&notifier, __ATOMIC_RELAXED);
}

void gh_final_set_java(bool on)
{
	__atomic_store_n(&java_mode, on, __ATOMIC_RELAXED);
}

bool gh_final_java(void)
{
	return __atomic_load_n(&java_mode, __ATOMIC_RELAXED);
}

bool gh_final_pending(void)
{
	return __atomic_load_n(&nqueued, __ATOMIC_RELAXED) != 0;
}

void gh_final_after_fork(void)
{
	pthread_cond_init(&final_cond, NULL);
	bool pending = nqueued > 0 || nregistered > 0;
	thread_started = false;
	wake = false;
	if (pending)
		start_thread();
}
