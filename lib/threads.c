/*
 * threads.c - the registry of threads whose stacks the collector scans.
 *
 * A thread joins the registry in one of three ways: the main thread at
 * load time, a thread started with goheap_pthread_create for its whole
 * life, and any other thread at its first allocation (its cache's creation,
 * mcache.c).  goheap_register_thread registers explicitly, for threads that
 * hold heap pointers without allocating.  A thread leaves at exit (the cache
 * key destructor) or when its explicit registrations are undone.
 *
 * The registry lock is held by a collection for the whole time the world
 * is stopped, so threads join and leave only between collections.  It is
 * no leaf: the collection takes the finalizer, unwinder and mark helpers'
 * locks under it, the fork handler the mcentral and heap locks
 * (lockrank.h).
 *
 * goheap_pthread_create keeps the start argument on a pending list, which
 * the collector scans, until the new thread has registered: in between,
 * the argument may be referenced from nowhere else.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "gc.h"
#include "gh.h"

__thread gh_thread *gh_self_thread;

static gh_mutex registry_lock = GH_MUTEX_INITIALIZER(GH_RANK_THREADS);
static gh_thread *registry;
static gh_fixalloc threadalloc;
static uint64_t thread_inuse;

typedef struct pending_start pending_start;
struct pending_start {
	void *(*start)(void *);
	void *arg;
	pending_start *next, *prev;
};
static pending_start *pending;
static pthread_key_t thread_key;

/* Thread exit: give back the cache, then leave the registry, whatever
 * registered the thread.  In that order: a thread out of the registry is
 * not stopped by a collection, and must not change free blocks while it
 * marks (the key destructors run in no order we choose). */
static void thread_exit(void *arg)
{
	(void)arg;
	gh_mcache_exit();
	gh_thread_forget();
}

void gh_threads_lock(void)
{
	gh_lock(&registry_lock);
}

void gh_threads_unlock(void)
{
	gh_unlock(&registry_lock);
}

gh_thread *gh_threads_first(void)
{
	return registry;
}

void gh_threads_init(void)
{
	gh_fixalloc_init(&threadalloc, sizeof(gh_thread), &thread_inuse,
			 &gh_heap.stats.other_sys);
	pthread_key_create(&thread_key, thread_exit);
}

/* Add the calling thread; caller holds the registry lock. */
static gh_thread *add_self_locked(void)
{
	gh_assert_held(&registry_lock);
	gh_thread *t = gh_fixalloc_alloc(&threadalloc);
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	if (gh_os_stack_bounds(&t->stack_lo, &t->stack_hi) != 0) {
		gh_fixalloc_free(&threadalloc, t);
		errno = EAGAIN;
		return NULL;
	}
	t->pthread = pthread_self();
	t->tid = gh_os_gettid();
	t->next = registry;
	t->prev = NULL;
	if (registry)
		registry->prev = t;
	registry = t;
	gh_self_thread = t;
	pthread_setspecific(thread_key, t);
	return t;
}

static void remove_self_locked(gh_thread *t)
{
	gh_assert_held(&registry_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		registry = t->next;
	if (t->next)
		t->next->prev = t->prev;
	gh_self_thread = NULL;
	pthread_setspecific(thread_key, NULL);
	gh_fixalloc_free(&threadalloc, t);
}

int gh_thread_autoregister(void)
{
	gh_thread *t = gh_self_thread;
	if (t && t->autoreg)
		return 0;
	gh_lock(&registry_lock);
	if (!t)
		t = add_self_locked();
	if (t)
		t->autoreg = true;
	gh_unlock(&registry_lock);
	return t ? 0 : -1;
}

void gh_thread_forget(void)
{
	gh_thread *t = gh_self_thread;
	if (!t)
		return;
	gh_lock(&registry_lock);
	remove_self_locked(t);
	gh_unlock(&registry_lock);
}

int goheap_register_thread(void)
{
	gh_init();
	gh_lock(&registry_lock);
	gh_thread *t = gh_self_thread;
	if (!t)
		t = add_self_locked();
	if (t)
		t->nreg++;
	gh_unlock(&registry_lock);
	return t ? 0 : -1;
}

int goheap_unregister_thread(void)
{
	gh_thread *t = gh_self_thread;
	if (!t) {
		errno = EINVAL;
		return -1;
	}
	gh_lock(&registry_lock);
	if (t->nreg > 0)
		t->nreg--;
	/* A thread that allocates stays registered until it exits: its cache
	 * would hand it blocks the collector could not see it hold. */
	if (t->nreg == 0 && !t->autoreg)
		remove_self_locked(t);
	gh_unlock(&registry_lock);
	return 0;
}

void gh_threads_scan_pending(void (*scan)(uintptr_t lo, uintptr_t hi))
{
	for (pending_start *p = pending; p; p = p->next)
		scan((uintptr_t)&p->arg, (uintptr_t)(&p->arg + 1));
}

/* Take p off the pending list and free it. */
static void pending_drop(pending_start *p)
{
	gh_lock(&registry_lock);
	if (p->prev)
		p->prev->next = p->next;
	else
		pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	gh_unlock(&registry_lock);
	free(p);
}

static void *thread_start(void *v)
{
	pending_start *p = v;
	void *(*start)(void *) = p->start;
	void *arg = p->arg;
	goheap_register_thread();
	pending_drop(p);
	/* The registration lasts until the thread exits. */
	return start(arg);
}

int goheap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*start)(void *), void *arg)
{
	gh_init();
	pending_start *p = malloc(sizeof *p);
	if (!p)
		return EAGAIN;
	p->start = start;
	p->arg = arg;
	p->prev = NULL;
	gh_lock(&registry_lock);
	p->next = pending;
	if (pending)
		pending->prev = p;
	pending = p;
	gh_unlock(&registry_lock);
	int r = pthread_create(thread, attr, thread_start, p);
	if (r != 0)
		pending_drop(p);
	return r;
}

void gh_threads_after_fork(void)
{
	gh_thread *self = gh_self_thread;
	gh_thread *t = registry;
	while (t) {
		gh_thread *next = t->next;
		if (t != self)
			gh_fixalloc_free(&threadalloc, t);
		t = next;
	}
	registry = self;
	if (self) {
		self->next = self->prev = NULL;
		self->tid = gh_os_gettid();
		self->pthread = pthread_self();
	}
	/* Threads being started belong to the parent. */
	while (pending) {
		pending_start *p = pending;
		pending = p->next;
		free(p);
	}
}

/* gh_spawn_thread's hand-shake with the thread it starts. */
typedef struct {
	void *(*fn)(void *);
	gh_mutex lock;
	pthread_cond_t cond;
	bool started;
} spawn_start;

static void *spawned_main(void *arg)
{
	spawn_start *st = arg;
	void *(*fn)(void *) = st->fn;
	gh_lock(&st->lock);
	st->started = true;
	pthread_cond_signal(&st->cond);
	gh_unlock(&st->lock); /* st is gone after this */
	return fn(NULL);
}

/* Start a detached library thread running fn, and return once it runs fn:
 * a fork() that follows never copies it in the middle of starting, where
 * the C library or a sanitizer's runtime may hold a lock of its allocator
 * (ASan's thread start calls calloc) that the child would then find held
 * forever. */
int gh_spawn_thread(void *(*fn)(void *), const char *name, bool stoppable)
{
	spawn_start st = {fn, GH_MUTEX_INITIALIZER(GH_RANK_SPAWN), PTHREAD_COND_INITIALIZER, false};
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The new thread takes no signal of the host's, and only the stop
	 * signal if it is stoppable. */
	sigset_t all;
	sigfillset(&all);
	if (stoppable && gh_stw_signal() > 0)
		sigdelset(&all, gh_stw_signal());
	pthread_t t;
#ifdef HAVE_PTHREAD_ATTR_SETSIGMASK_NP
	/* The caller keeps its own mask: a collection can stop it while
	 * pthread_create waits for the new thread (ASan's does, and the new
	 * thread may wait for a lock of a thread already stopped). */
	int r = pthread_attr_setsigmask_np(&attr, &all);
	if (r == 0)
		r = pthread_create(&t, &attr, spawned_main, &st);
#else
	sigset_t old;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&t, &attr, spawned_main, &st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
	if (r == 0)
		pthread_setname_np(t, name);
	pthread_attr_destroy(&attr);
	if (r != 0)
		return -1;
	/* With the signals of the caller back: a collection can stop it
	 * meanwhile. */
	gh_lock(&st.lock);
	while (!st.started)
		gh_cond_wait(&st.cond, &st.lock);
	gh_unlock(&st.lock);
	gh_mutex_destroy(&st.lock);
	pthread_cond_destroy(&st.cond);
	return 0;
}
