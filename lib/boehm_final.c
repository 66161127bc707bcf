/*
 * boehm_final.c - the Boehm collector's finalization interface on
 * libgoheap's finalizers.  See boehm.c for the drop-in's overview.
 *
 * Every object with a Boehm finalizer has one libgoheap finalizer,
 * run_one, whose argument is a record (fn, cd) in a scanned heap block:
 * libgoheap keeps a finalizer's argument alive, so the record keeps the
 * client data alive.  A table from object to record, not scanned (it must
 * not keep the objects alive), lets a new registration return the old
 * finalizer and replace it in place, and lets GC_free forget it.
 *
 * Finalization on demand (GC_set_finalize_on_demand): run_one, called by
 * libgoheap's finalizer thread, does not run the finalizer but moves
 * (object, record) to a queue of its own, which is a registered root range,
 * and calls the finalizer notifier; GC_invoke_finalizers runs the queue.
 *
 * libgoheap's finalizers are ordered as Boehm's GC_register_finalizer
 * asks: an object reachable from another finalizable object is finalized
 * in a later cycle, and an object that points to itself is never
 * finalized.  GC_register_finalizer_ignore_self, _no_order and
 * _unreachable and Java finalization give the same order for now; the
 * collector-side variants are being added (issue 16).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "mem.h"
#include "boehm.h"

int GC_finalize_on_demand;
int GC_java_finalization = 1;
GC_finalizer_notifier_proc GC_finalizer_notifier;

typedef struct final_rec {
	GC_finalization_proc fn;
	void *cd;
} final_rec;

/* ---- The table: object -> record (open addressing, 0 empty, 1 deleted) --- */

typedef struct slot {
	uintptr_t obj;
	final_rec *rec;
} slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot *table;
static size_t cap, used, live;

static size_t hash(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15u >> 20);
}

static slot *find(uintptr_t obj)
{
	if (!cap)
		return NULL;
	for (size_t i = hash(obj) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (table[i].obj == obj)
			return &table[i];
		if (table[i].obj == 0)
			return NULL;
	}
}

static int grow(void)
{
	size_t ncap = live * 2 >= cap ? (cap ? cap * 2 : 256) : cap;
	slot *t = gh_sys_alloc(ncap * sizeof *t, &gh_heap.stats.gc_sys);
	if (!t)
		return -1;
	for (size_t i = 0; i < cap; i++) {
		if (table[i].obj <= 1)
			continue;
		size_t j = hash(table[i].obj) & (ncap - 1);
		while (t[j].obj)
			j = (j + 1) & (ncap - 1);
		t[j] = table[i];
	}
	if (table)
		gh_sys_free(table, cap * sizeof *t, &gh_heap.stats.gc_sys);
	table = t;
	cap = ncap;
	used = live;
	return 0;
}

static int insert(uintptr_t obj, final_rec *rec)
{
	if ((used + 1) * 4 > cap * 3 && grow() != 0)
		return -1;
	size_t i = hash(obj) & (cap - 1);
	while (table[i].obj > 1)
		i = (i + 1) & (cap - 1);
	if (table[i].obj == 0)
		used++;
	table[i].obj = obj;
	table[i].rec = rec;
	__atomic_store_n(&live, live + 1, __ATOMIC_RELAXED);
	return 0;
}

static void delete(slot *s)
{
	s->obj = 1;
	s->rec = NULL;
	__atomic_store_n(&live, live - 1, __ATOMIC_RELAXED);
}

/* ---- The on-demand queue: a registered root range of (object, record) --- */

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static slot *queue;
static size_t queue_cap, queue_len;

static int queue_push(void *obj, final_rec *rec)
{
	if (queue_len == queue_cap) {
		size_t ncap = queue_cap ? queue_cap * 2 : 256;
		slot *q = gh_sys_alloc(ncap * sizeof *q, &gh_heap.stats.gc_sys);
		if (!q)
			return -1;
		memcpy(q, queue, queue_len * sizeof *q);
		if (goheap_add_roots(q, q + ncap) != 0) {
			gh_sys_free(q, ncap * sizeof *q, &gh_heap.stats.gc_sys);
			return -1;
		}
		if (queue) {
			goheap_remove_roots(queue, queue + queue_cap);
			gh_sys_free(queue, queue_cap * sizeof *q, &gh_heap.stats.gc_sys);
		}
		queue = q;
		queue_cap = ncap;
	}
	queue[queue_len].obj = (uintptr_t)obj;
	queue[queue_len].rec = rec;
	__atomic_store_n(&queue_len, queue_len + 1, __ATOMIC_RELEASE);
	return 0;
}

static bool queue_pop(void **obj, final_rec **rec)
{
	gh_mutex_lock(&queue_lock);
	bool got = queue_len > 0;
	if (got) {
		slot *s = &queue[--queue_len];
		*obj = (void *)s->obj;
		*rec = s->rec;
		s->obj = 0;
		s->rec = NULL;
	}
	pthread_mutex_unlock(&queue_lock);
	return got;
}

/* ---- Running finalizers ---- */

/* libgoheap's finalizer for every object with a Boehm one. */
static void run_one(void *obj, void *arg)
{
	final_rec *rec = arg;
	gh_mutex_lock(&lock);
	slot *s = find((uintptr_t)obj);
	if (s && s->rec == rec)
		delete(s);
	GC_finalization_proc fn = rec->fn;
	void *cd = rec->cd;
	pthread_mutex_unlock(&lock);
	if (!fn)
		return;
	if (__atomic_load_n(&GC_finalize_on_demand, __ATOMIC_ACQUIRE)) {
		gh_mutex_lock(&queue_lock);
		int r = queue_push(obj, rec);
		pthread_mutex_unlock(&queue_lock);
		if (r == 0) {
			GC_finalizer_notifier_proc n =
				__atomic_load_n(&GC_finalizer_notifier, __ATOMIC_ACQUIRE);
			if (n)
				n();
			return;
		}
		/* No memory to queue it: run it now rather than never. */
	}
	fn(obj, cd);
}

int GC_invoke_finalizers(void)
{
	int n = 0;
	if (!__atomic_load_n(&GC_finalize_on_demand, __ATOMIC_ACQUIRE))
		n += goheap_run_finalizers();
	void *obj;
	final_rec *rec;
	while (queue_pop(&obj, &rec)) {
		rec->fn(obj, rec->cd);
		n++;
	}
	return n;
}

int GC_should_invoke_finalizers(void)
{
	return __atomic_load_n(&queue_len, __ATOMIC_ACQUIRE) != 0;
}

void GC_finalize_all(void)
{
	/* Finalizers of unreachable objects only: an object still reachable
	 * keeps its finalizer. */
	GC_gcollect();
	GC_invoke_finalizers();
}

void gh_boehm_after_collect(void)
{
	if (!__atomic_load_n(&GC_finalize_on_demand, __ATOMIC_ACQUIRE))
		goheap_run_finalizers();
}

void gh_boehm_final_init(void)
{
}

void gh_boehm_final_forget(void *obj)
{
	if (__atomic_load_n(&live, __ATOMIC_RELAXED) == 0)
		return;
	gh_mutex_lock(&lock);
	slot *s = find((uintptr_t)obj);
	if (s)
		delete(s);
	pthread_mutex_unlock(&lock);
}

/* ---- Registration ---- */

static void reg(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
		void **ocd)
{
	GC_finalization_proc old_fn = NULL;
	void *old_cd = NULL;
	gh_init();
	if (obj && goheap_base(obj) == obj) {
		gh_mutex_lock(&lock);
		slot *s = find((uintptr_t)obj);
		if (s) {
			old_fn = s->rec->fn;
			old_cd = s->rec->cd;
			if (fn) {
				s->rec->fn = fn;
				s->rec->cd = cd;
			} else {
				goheap_set_finalizer(obj, NULL, NULL);
				delete(s);
			}
		} else if (fn) {
			final_rec *rec = goheap_malloc(sizeof *rec);
			if (rec) {
				rec->fn = fn;
				rec->cd = cd;
				if (goheap_set_finalizer(obj, run_one, rec) != 0)
					gh_boehm_warn("GC Warning: cannot register a finalizer "
						      "for %p\n", (GC_word)obj);
				else if (insert((uintptr_t)obj, rec) != 0)
					goheap_set_finalizer(obj, NULL, NULL);
			}
		}
		pthread_mutex_unlock(&lock);
	}
	if (ofn)
		*ofn = old_fn;
	if (ocd)
		*ocd = old_cd;
}

void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
			   GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, ofn, ocd);
}

void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
				       GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, ofn, ocd);
}

void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
				    GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, ofn, ocd);
}

void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
				       GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
				 GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
					     GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer_ignore_self(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
					  GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer_no_order(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
					     GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer_unreachable(obj, fn, cd, ofn, ocd);
}

void GC_set_finalize_on_demand(int v)
{
	__atomic_store_n(&GC_finalize_on_demand, v, __ATOMIC_RELEASE);
}

int GC_get_finalize_on_demand(void)
{
	return __atomic_load_n(&GC_finalize_on_demand, __ATOMIC_ACQUIRE);
}

void GC_set_java_finalization(int v)
{
	__atomic_store_n(&GC_java_finalization, v, __ATOMIC_RELEASE);
}

int GC_get_java_finalization(void)
{
	return __atomic_load_n(&GC_java_finalization, __ATOMIC_ACQUIRE);
}

void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn)
{
	__atomic_store_n(&GC_finalizer_notifier, fn, __ATOMIC_RELEASE);
}

GC_finalizer_notifier_proc GC_get_finalizer_notifier(void)
{
	return __atomic_load_n(&GC_finalizer_notifier, __ATOMIC_ACQUIRE);
}

/* ---- Disappearing links: on libgoheap's weak references (issue 16) ---- */

int GC_general_register_disappearing_link(void **link, const void *obj)
{
	(void)link, (void)obj;
	return GC_UNIMPLEMENTED;
}

int GC_register_disappearing_link(void **link)
{
	return GC_general_register_disappearing_link(link, GC_base(link));
}

int GC_unregister_disappearing_link(void **link)
{
	(void)link;
	return 0;
}

int GC_move_disappearing_link(void **link, void **new_link)
{
	(void)link, (void)new_link;
	return GC_NOT_FOUND;
}

int GC_register_long_link(void **link, const void *obj)
{
	return GC_general_register_disappearing_link(link, obj);
}

int GC_unregister_long_link(void **link)
{
	return GC_unregister_disappearing_link(link);
}

int GC_move_long_link(void **link, void **new_link)
{
	return GC_move_disappearing_link(link, new_link);
}
