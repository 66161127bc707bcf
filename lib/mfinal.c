/*
 * mfinal.c - finalizers, with the seed's semantics.
 *
 * goheap_set_finalizer records (block, fn, arg) in a table keyed by the
 * block's address; the block's span counts its finalizers (nspecials) so
 * that sweeping and freeing look in the table only for spans that have any.
 *
 * A collection treats every finalizer record as a root for what the block
 * references and for arg, but not for the block itself (gh_final_mark_roots).
 * When sweeping finds the block unmarked, it moves the record to the
 * finalizer queue and keeps the block (gh_final_sweep_block).  The queue is
 * a root too, so the block and everything it references survive until the
 * finalizer has run; the block is freed by a later collection if the
 * finalizer did not make it reachable again.  So a finalizer runs at most
 * once, never while its block is reachable, and may allocate or resurrect.
 * In a chain of unreachable finalizable blocks, a referenced block is
 * finalized in a later cycle than the block referencing it; blocks in a
 * cycle of references (or whose arg points back at them) keep each other
 * alive and are never finalized, as in Go.
 *
 * Finalizers run on a finalizer thread, started when the first finalizer is
 * set, or on any thread that calls goheap_run_finalizers.
 *
 * final_lock guards the table and the queue.  It is taken under an
 * mcentral lock (sweeping), and by a collection, which holds it while the
 * world is stopped and takes the unwinder and mark helpers' locks under
 * it; so it is no leaf (lockrank.h).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"

typedef struct final_rec {
	uintptr_t obj; /* 0: empty slot; 1: deleted slot */
	void (*fn)(void *obj, void *arg);
	void *arg;
} final_rec;

enum { SLOT_EMPTY = 0, SLOT_DELETED = 1 };

static gh_mutex final_lock = GH_MUTEX_INITIALIZER(GH_RANK_FINAL);
static pthread_cond_t final_cond = PTHREAD_COND_INITIALIZER;
static final_rec *table;
static size_t table_cap, table_used, table_live; /* used counts deleted too */
static final_rec *queue;
static size_t queue_cap, queue_head, queue_len;
static bool thread_started;

void gh_final_lock(void)
{
	gh_lock(&final_lock);
}

void gh_final_unlock(void)
{
	gh_unlock(&final_lock);
}

static size_t hash(uintptr_t p)
{
	p >>= 4;
	p *= 0x9e3779b97f4a7c15u;
	return (size_t)(p >> 17);
}

/* The slot for obj, or NULL. */
static final_rec *table_find(uintptr_t obj)
{
	if (!table_cap)
		return NULL;
	for (size_t i = hash(obj) & (table_cap - 1);; i = (i + 1) & (table_cap - 1)) {
		if (table[i].obj == obj)
			return &table[i];
		if (table[i].obj == SLOT_EMPTY)
			return NULL;
	}
}

static int table_grow(void)
{
	size_t cap = table_cap ? table_cap * 2 : 256;
	if (table_live * 2 < table_cap)
		cap = table_cap; /* only tombstones to clear */
	final_rec *t = gh_sys_alloc(cap * sizeof *t, &gh_heap.stats.gc_sys);
	if (!t)
		return -1;
	for (size_t i = 0; i < table_cap; i++) {
		if (table[i].obj <= SLOT_DELETED)
			continue;
		size_t j = hash(table[i].obj) & (cap - 1);
		while (t[j].obj != SLOT_EMPTY)
			j = (j + 1) & (cap - 1);
		t[j] = table[i];
	}
	if (table)
		gh_sys_free(table, table_cap * sizeof *t, &gh_heap.stats.gc_sys);
	table = t;
	table_cap = cap;
	table_used = table_live;
	return 0;
}

static int table_insert(uintptr_t obj, void (*fn)(void *, void *), void *arg)
{
	if ((table_used + 1) * 4 > table_cap * 3 && table_grow() != 0)
		return -1;
	size_t i = hash(obj) & (table_cap - 1);
	while (table[i].obj > SLOT_DELETED)
		i = (i + 1) & (table_cap - 1);
	if (table[i].obj == SLOT_EMPTY)
		table_used++;
	table[i].obj = obj;
	table[i].fn = fn;
	table[i].arg = arg;
	table_live++;
	return 0;
}

static void table_delete(final_rec *r)
{
	r->obj = SLOT_DELETED;
	r->fn = NULL;
	r->arg = NULL;
	table_live--;
}

static int queue_push(final_rec r)
{
	if (queue_len == queue_cap) {
		size_t cap = queue_cap ? queue_cap * 2 : 256;
		final_rec *q = gh_sys_alloc(cap * sizeof *q, &gh_heap.stats.gc_sys);
		if (!q)
			return -1;
		for (size_t i = 0; i < queue_len; i++)
			q[i] = queue[(queue_head + i) % queue_cap];
		if (queue)
			gh_sys_free(queue, queue_cap * sizeof *q, &gh_heap.stats.gc_sys);
		queue = q;
		queue_cap = cap;
		queue_head = 0;
	}
	queue[(queue_head + queue_len) % queue_cap] = r;
	queue_len++;
	return 0;
}

static bool queue_pop(final_rec *r)
{
	if (!queue_len)
		return false;
	/* Field by field, through general registers: a vector register
	 * left holding obj would keep it alive in the signal frame of every
	 * later stop of this thread. */
	final_rec *q = &queue[queue_head];
	r->obj = __atomic_load_n(&q->obj, __ATOMIC_RELAXED);
	r->fn = __atomic_load_n(&q->fn, __ATOMIC_RELAXED);
	r->arg = __atomic_load_n(&q->arg, __ATOMIC_RELAXED);
	memset(&queue[queue_head], 0, sizeof *r);
	queue_head = (queue_head + 1) % queue_cap;
	queue_len--;
	return true;
}

void gh_final_mark_roots(void)
{
	for (size_t i = 0; i < table_cap; i++) {
		final_rec *r = &table[i];
		if (r->obj <= SLOT_DELETED)
			continue;
		gh_span *s = gh_span_of(r->obj);
		if (s)
			gh_mark_referents(s, r->obj);
		gh_mark_range((uintptr_t)&r->arg, (uintptr_t)(&r->arg + 1));
	}
	for (size_t i = 0; i < queue_len; i++) {
		final_rec *r = &queue[(queue_head + i) % queue_cap];
		gh_mark_range((uintptr_t)&r->obj, (uintptr_t)(&r->obj + 1));
		gh_mark_range((uintptr_t)&r->arg, (uintptr_t)(&r->arg + 1));
	}
}

void gh_final_foreach(void (*fn)(uintptr_t obj, void (*f)(void *, void *), void *arg,
				 bool queued, void *ctx),
		      void *ctx)
{
	gh_assert_held(&final_lock);
	for (size_t i = 0; i < table_cap; i++)
		if (table[i].obj > SLOT_DELETED)
			fn(table[i].obj, table[i].fn, table[i].arg, false, ctx);
	for (size_t i = 0; i < queue_len; i++) {
		final_rec *r = &queue[(queue_head + i) % queue_cap];
		fn(r->obj, r->fn, r->arg, true, ctx);
	}
}

bool gh_final_sweep_block(gh_span *s, uint32_t idx)
{
	uintptr_t obj = s->start + (size_t)idx * s->elemsize;
	bool keep = false;
	gh_lock(&final_lock);
	final_rec *r = table_find(obj);
	if (r && queue_push(*r) == 0) {
		table_delete(r);
		__atomic_fetch_sub(&s->nspecials, 1, __ATOMIC_RELAXED);
		pthread_cond_signal(&final_cond);
		keep = true;
	} else if (r) {
		keep = true; /* no memory to queue it: try again next cycle */
	}
	gh_unlock(&final_lock);
	return keep;
}

void gh_final_drop(gh_span *s, uint32_t idx)
{
	uintptr_t obj = s->start + (size_t)idx * s->elemsize;
	gh_lock(&final_lock);
	final_rec *r = table_find(obj);
	if (r) {
		table_delete(r);
		__atomic_fetch_sub(&s->nspecials, 1, __ATOMIC_RELAXED);
	}
	gh_unlock(&final_lock);
}

int goheap_run_finalizers(void)
{
	/* The block is referenced from nowhere but this stack while its
	 * finalizer runs. */
	if (gh_thread_autoregister() != 0)
		return -1;
	int n = 0;
	final_rec r;
	for (;;) {
		gh_lock(&final_lock);
		bool got = queue_pop(&r);
		gh_unlock(&final_lock);
		if (!got)
			return n;
		r.fn((void *)r.obj, r.arg);
		n++;
	}
}

static void *finalizer_main(void *arg)
{
	(void)arg;
	goheap_register_thread();
	for (;;) {
		final_rec r;
		gh_lock(&final_lock);
		while (!queue_pop(&r)) {
			/* Records are copied through them (queue_pop). */
			gh_os_clear_vector_registers();
			gh_cond_wait(&final_cond, &final_lock);
		}
		gh_unlock(&final_lock);
		r.fn((void *)r.obj, r.arg);
		/* Nothing of the block may linger in this frame. */
		memset(&r, 0, sizeof r);
		__asm__ volatile("" ::"r"(&r) : "memory");
	}
	return NULL;
}

static void start_thread(void)
{
	gh_lock(&final_lock);
	bool start = !thread_started;
	thread_started = true;
	gh_unlock(&final_lock);
	if (!start)
		return;
	if (gh_spawn_thread(finalizer_main, "goheap-final", true) != 0) {
		gh_lock(&final_lock);
		thread_started = false; /* goheap_run_finalizers still works */
		gh_unlock(&final_lock);
	}
}

int goheap_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg)
{
	gh_init();
	uintptr_t p = (uintptr_t)obj;
	gh_span *s = gh_span_of(p);
	if (!s) {
		errno = EINVAL;
		return -1;
	}
	gh_span_ensure_swept(s);
	s = gh_span_of(p);
	if (!s || GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TINY || goheap_base(obj) != obj) {
		errno = EINVAL;
		return -1;
	}
	int ret = 0;
	gh_lock(&final_lock);
	final_rec *r = table_find(p);
	if (!fn) {
		if (r) {
			table_delete(r);
			__atomic_fetch_sub(&s->nspecials, 1, __ATOMIC_RELAXED);
		} else {
			errno = ENOENT;
			ret = -1;
		}
	} else if (r) {
		errno = EEXIST;
		ret = -1;
	} else if (table_insert(p, fn, arg) != 0) {
		errno = ENOMEM;
		ret = -1;
	} else {
		__atomic_fetch_add(&s->nspecials, 1, __ATOMIC_RELAXED);
	}
	gh_unlock(&final_lock);
	if (ret == 0 && fn)
		start_thread();
	return ret;
}

void gh_final_after_fork(void)
{
	gh_mutex_init(&final_lock, GH_RANK_FINAL, 0);
	pthread_cond_init(&final_cond, NULL);
	bool pending = queue_len > 0 || table_live > 0;
	thread_started = false;
	if (pending)
		start_thread();
}
