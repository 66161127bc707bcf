/*
 * gcutil.h - helpers shared by the collector's tests (t-gc-*.c).
 *
 * A C program cannot ask the collector whether a block is still alive
 * without holding a pointer to it, which would keep it alive.  The tests
 * therefore observe the collector from the side:
 *
 *   - Death is seen through a finalizer.  A watched block (struct
 *     gcu_watch) gets a finalizer that counts its runs and checks that the
 *     block it receives is the one watched and still holds the pattern it
 *     was filled with.  The watch keeps the block's address bit-inverted,
 *     so that the watch itself (in static data) never points at the block.
 *   - Life is seen through the block's contents: a live block must still
 *     be a live block (goheap_base gives its start back), hold its pattern,
 *     and its finalizer must not have run.
 *
 * The collector scans stacks conservatively, so a stale copy of a pointer
 * on the stack or in a callee-saved register keeps a block alive.  Blocks
 * that must die are therefore made and dropped in a function of their own,
 * called through a volatile function pointer (gcu_call) so that it cannot
 * be inlined into the test; gcu_clear_stack then overwrites the stack below
 * the caller before it collects.  Even so, a test never requires that one
 * particular block dies: it drops many and requires that nearly all die
 * (GCU_MOSTLY), while blocks that must live must all live.
 *
 * Finalizers run on the library's finalizer thread as well as in
 * goheap_run_finalizers, so the tests both call goheap_run_finalizers and
 * wait, with a timeout, for the counts they expect (gcu_collect_until).
 */
#ifndef GH_TESTS_GCUTIL_H
#define GH_TESTS_GCUTIL_H

#include <goheap.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tap.h"

#define GCU_NOINLINE __attribute__((noinline))
/* A helper some programs do not call, and the compiler may not inline. */
#define GCU_HELPER __attribute__((noinline, unused))

/* How many of n dropped blocks must at least die: 95 %. */
#define GCU_MOSTLY(n) ((n) - (n) / 20)

/* A block's address in a form that does not keep it alive, and back. */
#define GCU_HIDE(p) (~(uintptr_t)(p))
#define GCU_REVEAL(h) ((void *)~(uintptr_t)(h))

/* ---- Time ---------------------------------------------------------------- */

static inline uint64_t gcu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t gcu_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds, whatever signals arrive meanwhile (the collector
 * interrupts registered threads). */
static inline void gcu_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
			       (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A timeout in milliseconds, stretched under Valgrind, which runs the
 * program some fifty times slower and one thread at a time. */
static inline unsigned gcu_timeout_ms(unsigned ms)
{
	return tap_under_valgrind() ? ms * 20 : ms;
}

/* ---- Stale pointers ------------------------------------------------------ */

/* Overwrite 64 KiB of stack below the caller, where the frames of the
 * functions it called have left copies of pointers. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
/* Under AddressSanitizer an instrumented buf would sit between redzones,
 * which the clearing would skip: stale pointers would survive there. */
#define GCU_NO_ASAN __attribute__((no_sanitize("address")))
#endif
#endif
#ifndef GCU_NO_ASAN
#define GCU_NO_ASAN
#endif
static GCU_HELPER GCU_NO_ASAN void gcu_clear_stack(void)
{
	unsigned char buf[64 << 10];
	/* A loop, not memset, which ASan would intercept and check. */
	for (size_t i = 0; i < sizeof buf; i++)
		((volatile unsigned char *)buf)[i] = 0;
	__asm__ volatile("" : : "r"(buf) : "memory");
}

/* Call fn(arg) where it cannot be inlined, then clear the stack it used:
 * the pointers fn handled are left only where fn stored them. */
static inline void gcu_call(void (*fn)(void *), void *arg)
{
	void (*volatile f)(void *) = fn;
	f(arg);
	gcu_clear_stack();
}

/* n forced collections, each from a cleared stack. */
static inline void gcu_collect(int n)
{
	for (int i = 0; i < n; i++) {
		gcu_clear_stack();
		goheap_gc();
	}
}

/* ---- Watched blocks ------------------------------------------------------ */

/*
 * What the finalizer of a watched block saw.  Lives in static data or in
 * system-malloc memory, never in the heap; holds no pointer to the block.
 * The pattern covers bytes [from, size) of the block, so that a block may
 * hold pointers (not part of the pattern) in its first bytes.
 */
struct gcu_watch {
	uintptr_t hidden; /* GCU_HIDE(block) */
	size_t from, size;
	uint64_t tag;
	int runs; /* finalizer runs (atomic) */
	int wrong; /* the finalizer got another block (atomic) */
	int damaged; /* it had lost its pattern when finalized (atomic) */
};

static inline void gcu_watch_check_(void *obj, void *arg)
{
	struct gcu_watch *w = arg;
	if ((uintptr_t)obj != ~w->hidden)
		__atomic_add_fetch(&w->wrong, 1, __ATOMIC_SEQ_CST);
	else if (tap_check_range(obj, w->from, w->size, w->tag) != SIZE_MAX)
		__atomic_add_fetch(&w->damaged, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&w->runs, 1, __ATOMIC_SEQ_CST);
}

/* The finalizer of watched blocks; arg is the watch.  It leaves no copy
 * of obj on the stack of the thread that runs it: otherwise the finalizer
 * thread, idle after its last finalizer, would keep that block alive. */
static inline void gcu_watch_fin(void *obj, void *arg)
{
	void (*volatile check)(void *, void *) = gcu_watch_check_;
	check(obj, arg);
	gcu_clear_stack();
}

/* Watch the block p: fill [from, size) with the pattern of tag and give it
 * the watch's finalizer.  0, or -1 if goheap_set_finalizer failed. */
static inline int gcu_watch_block(struct gcu_watch *w, void *p, size_t from,
				  size_t size, uint64_t tag)
{
	memset(w, 0, sizeof *w);
	w->hidden = GCU_HIDE(p);
	w->from = from;
	w->size = size;
	w->tag = tag;
	tap_fill_range(p, from, size, tag);
	return goheap_set_finalizer(p, gcu_watch_fin, w);
}

/* A new watched block of size bytes, pointer-holding or atomic; NULL if
 * allocation or goheap_set_finalizer failed (then w->wrong is set). */
static inline void *gcu_watch_new(struct gcu_watch *w, size_t size, int atomic,
				  uint64_t tag)
{
	void *p = atomic ? goheap_malloc_atomic(size) : goheap_malloc(size);
	if (p == NULL || gcu_watch_block(w, p, 0, size, tag) != 0) {
		memset(w, 0, sizeof *w);
		w->wrong = 1;
		return NULL;
	}
	return p;
}

/* True if p is the watched block, alive, intact and not finalized. */
static inline int gcu_watch_intact(const struct gcu_watch *w, const void *p)
{
	return p != NULL && (uintptr_t)p == ~w->hidden && goheap_base(p) == p &&
	       __atomic_load_n(&w->runs, __ATOMIC_SEQ_CST) == 0 &&
	       tap_check_range(p, w->from, w->size, w->tag) == SIZE_MAX;
}

/* Sums over an array of watches. */
struct gcu_tally {
	int finalized; /* watches whose finalizer ran */
	int twice; /* ... more than once */
	int wrong; /* ... with the wrong block */
	int damaged; /* ... on a block that lost its contents */
};

static inline struct gcu_tally gcu_tally(const struct gcu_watch *w, size_t n)
{
	struct gcu_tally t = { 0, 0, 0, 0 };
	for (size_t i = 0; i < n; i++) {
		int runs = __atomic_load_n(&w[i].runs, __ATOMIC_SEQ_CST);
		t.finalized += runs > 0;
		t.twice += runs > 1;
		t.wrong += __atomic_load_n(&w[i].wrong, __ATOMIC_SEQ_CST) > 0;
		t.damaged +=
			__atomic_load_n(&w[i].damaged, __ATOMIC_SEQ_CST) > 0;
	}
	return t;
}

/* Collect (from a cleared stack) and run finalizers until at least want of
 * the n watches were finalized or the timeout passed; the number
 * finalized. */
static inline int gcu_collect_until(const struct gcu_watch *w, size_t n,
				    int want, unsigned timeout_ms)
{
	uint64_t end =
		gcu_now_ns() + (uint64_t)gcu_timeout_ms(timeout_ms) * 1000000u;
	for (;;) {
		gcu_clear_stack();
		goheap_gc();
		goheap_run_finalizers();
		int got = gcu_tally(w, n).finalized;
		if (got >= want || gcu_now_ns() > end)
			return got;
		gcu_sleep_ms(5);
	}
}

/* Wait until counter reaches want (finalizers run on the finalizer
 * thread too), running finalizers meanwhile; the last value read. */
static inline int gcu_wait_count(const int *counter, int want,
				 unsigned timeout_ms)
{
	uint64_t end =
		gcu_now_ns() + (uint64_t)gcu_timeout_ms(timeout_ms) * 1000000u;
	for (;;) {
		goheap_run_finalizers();
		int got = __atomic_load_n(counter, __ATOMIC_SEQ_CST);
		if (got >= want || gcu_now_ns() > end)
			return got;
		gcu_sleep_ms(2);
	}
}

/* Run what the last collections queued and give the finalizer thread time
 * to finish the one it may be running, so that counts can be read as
 * final. */
static inline void gcu_settle(void)
{
	goheap_run_finalizers();
	gcu_sleep_ms(tap_under_valgrind() ? 200 : 20);
	goheap_run_finalizers();
}

/* ---- Statistics ---------------------------------------------------------- */

static inline uint64_t gcu_heap_alloc(void)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	return m.heap_alloc;
}

static inline uint32_t gcu_numgc(void)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	return m.numgc;
}

/* ---- The end of a program ------------------------------------------------ */

static void *volatile gcu_last_finalized_;
static int gcu_flush_runs_;

static inline void gcu_flush_fin_(void *obj, void *arg)
{
	(void)arg;
	gcu_last_finalized_ = obj; /* resurrected, to be freed by gcu_finish */
	__atomic_add_fetch(&gcu_flush_runs_, 1, __ATOMIC_SEQ_CST);
}

static inline void gcu_flush_make_(void *arg)
{
	(void)arg;
	void *p = goheap_malloc(64);
	if (p != NULL && goheap_set_finalizer(p, gcu_flush_fin_, NULL) != 0)
		goheap_free(p);
}

/*
 * Free what the program dropped, so that memcheck finds no goheap block
 * lost at exit: every test program calls this last.
 *
 * The library's finalizer thread keeps the last block it finalized alive:
 * the copy of the block's address that fetching the finalizer leaves in a
 * vector register is saved on the thread's stack by the stop signal, and
 * scanned.  Memcheck does not count that register as a root, and would
 * report the block lost.  So the finalizer thread is made to finalize one
 * more block, which resurrects itself and is freed here explicitly.
 */
static inline void gcu_finish(void)
{
	gcu_collect(2);
	goheap_run_finalizers();
	gcu_call(gcu_flush_make_, NULL);
	uint64_t end = gcu_now_ns() + (uint64_t)gcu_timeout_ms(3000) * 1000000u;
	while (__atomic_load_n(&gcu_flush_runs_, __ATOMIC_SEQ_CST) == 0 &&
	       gcu_now_ns() < end) {
		gcu_collect(1);
		gcu_sleep_ms(tap_under_valgrind() ? 100 : 10);
	}
	if (__atomic_load_n(&gcu_flush_runs_, __ATOMIC_SEQ_CST) == 0)
		goheap_run_finalizers();
	gcu_collect(2);
	void *last = gcu_last_finalized_;
	gcu_last_finalized_ = NULL;
	goheap_free(last);
	gcu_collect(1);
}

#endif /* GH_TESTS_GCUTIL_H */
