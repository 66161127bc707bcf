/*
 * mgcmark.c - marking: find every block reachable from the roots, with up
 * to GOHEAP_GCPROCS threads.  See mgc.c for where this sits in a
 * collection.
 *
 * Marking runs with the world stopped.  Every root range (thread stacks
 * from their saved stack pointer to their base, static data, registered
 * ranges, arguments of threads being started, finalizer arguments and
 * queued finalizers) is scanned conservatively: each aligned word that points into a live span
 * is taken as a pointer to the block holding it.  A newly marked block
 * that may hold pointers is queued; taking it from the queue scans it:
 * every word of a goheap_malloc block, the declared pointer words of a
 * typed block.  Nothing recurses on the C stack.
 *
 * A word is a pointer to block b when it points anywhere inside b (interior
 * pointers keep blocks alive) and b is allocated (gh_span_allocated): a
 * word that points at a free block by its span's bits is no pointer.
 * Blocks on free lists (allocated in the bits, with their free tag) are
 * marked but not scanned: a thread stopped between taking a block off its
 * list and clearing the tag, or between taking it off its list and putting
 * it on its span's, holds the block in a register only, and the mark is
 * what keeps the sweep from freeing it (see malloc.c).  Once marking is
 * done, every block on a thread's free list is marked, and every thread's
 * cached spans taken back (gh_mcache_collect_all).
 *
 * Parallel marking.  The collecting thread is marker 0; markers 1..n-1 are
 * helper threads of the library, started at the first collection that
 * wants them and parked between collections.  They are not registered
 * threads: they hold no heap pointer of their own across collections, so
 * the world stop neither waits for nor scans them, and while the world is
 * stopped they take no lock a stopped thread may hold.  A collection:
 *
 *   1. The collecting thread lists the roots as jobs: each range cut into
 *      pieces of at most JOB_BYTES, plus one job for the finalizer records.
 *   2. It wakes the helpers; every marker claims jobs by an atomic counter
 *      until none is left, then drains the queue.
 *   3. The queue is a set of work buffers.  Each marker pushes and pops on
 *      its own current buffer; a full buffer goes to the shared list of
 *      full buffers, an empty one to the list of empty buffers.  A marker
 *      whose buffer is empty takes a full one from the list.  A marker with
 *      a long buffer gives half of it away (hand-off) when the full list is
 *      empty and some marker is waiting for work.
 *   4. Termination: a marker with no buffer and nothing on the full list
 *      counts itself idle and watches the list; marking is done when all n
 *      markers are idle at once, since a marker only goes idle with no
 *      work of its own and the list is empty.
 *   5. The collecting thread waits until every helper has left marking,
 *      then sums the marked bytes.
 *   6. Once gh_mark has returned, mark termination may mark more, alone
 *      (gh_mark_closure): what blocks with finalizers keep alive, marked
 *      after weak links are cleared (mspecial.c).
 *
 * The two shared lists are lock-free stacks.  A buffer may be popped,
 * pushed again and popped by others while a pop that read it is between
 * its load and its compare-and-swap (the ABA problem), so the stack word
 * packs a generation count beside the pointer and every change bumps it.
 * Buffers are never unmapped while marking, so the stale read of a
 * buffer's link is harmless.
 *
 * Free blocks are recognised (and not scanned) when taken from the queue,
 * not when marked: that is when the block is read anyway.
 *
 * Overflow.  Buffers come from the OS as marking needs them, and the OS
 * may refuse one.  Marking then goes on without it: the block that did not
 * fit stays marked but unqueued, and its span and the marking are flagged
 * as overflowed.  Once the markers are done, the collecting thread scans
 * every marked block of the flagged spans again (scanning twice marks
 * nothing twice), draining after each, until a pass overflows no more,
 * and counts the marked bytes from the mark bits.  Slower, but nothing
 * reachable is freed and nothing aborts.
 * Each marker needs one buffer to start with: gh_mark_prepare keeps one
 * per marker on the empty list, and marks with fewer markers, or not at
 * all, when it cannot.
 *
 * Mark bits are set with an atomic OR whose result says whether this
 * marker set the bit, after a plain test that skips the locked instruction
 * for blocks already marked: each block is scanned and counted once.
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

enum {
	WORKBUF_BYTES = 32 << 10,
	/* A root piece: big enough that claiming it costs nothing beside
	 * scanning it, small enough that two markers share a big data
	 * segment or stack. */
	JOB_BYTES = 64 << 10,
	/* Hand-off: give away half of a buffer holding at least this many
	 * entries when another marker is idle. */
	HANDOFF_MIN = 8,
	/* Blocks prefetched ahead of their scan (drain). */
	RING = 16,
	MAX_MARKERS = 32,
};

typedef struct workbuf workbuf;
struct workbuf {
	workbuf *next; /* link on a shared list */
	size_t n;
	struct entry {
		uintptr_t p;
		gh_span *s;
	} e[(WORKBUF_BYTES - 2 * sizeof(size_t)) / (2 * sizeof(uintptr_t))];
};
#define WORKBUF_ENTRIES (sizeof(((workbuf *)0)->e) / sizeof(((workbuf *)0)->e[0]))

/* ---- Lock-free stacks of work buffers ----
 *
 * The word holds the buffer's address shifted right by 12 (buffers are
 * page-aligned and below 2^48: 36 bits) and a 28-bit generation above it. */
typedef uint64_t lfstack;

static inline workbuf *lf_ptr(uint64_t v)
{
	return (workbuf *)(uintptr_t)((v & ((UINT64_C(1) << 36) - 1)) << 12);
}

static inline uint64_t lf_pack(workbuf *b, uint64_t old)
{
	return ((uint64_t)(uintptr_t)b >> 12) | (((old >> 36) + 1) << 36);
}

static void lf_push(lfstack *st, workbuf *b)
{
	uint64_t old = __atomic_load_n(st, __ATOMIC_RELAXED);
	do /* atomic: a pop holding a stale b may read it meanwhile */
		__atomic_store_n(&b->next, lf_ptr(old), __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(st, &old, lf_pack(b, old), true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

static workbuf *lf_pop(lfstack *st)
{
	uint64_t old = __atomic_load_n(st, __ATOMIC_ACQUIRE);
	for (;;) {
		workbuf *b = lf_ptr(old);
		if (!b)
			return NULL;
		/* b may be popped and reused meanwhile: then next is stale
		 * and the generation makes the exchange fail. */
		workbuf *next = __atomic_load_n(&b->next, __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(st, &old, lf_pack(next, old), true, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			return b;
	}
}

static inline bool lf_empty(const lfstack *st)
{
	return lf_ptr(__atomic_load_n(st, __ATOMIC_RELAXED)) == NULL;
}

/* ---- Shared state of one marking ---- */

typedef struct job {
	uintptr_t lo, hi; /* lo == hi == 0: the finalizer records */
} job;

typedef struct marker {
	workbuf *buf;    /* current buffer, never NULL while marking */
	uint64_t marked; /* bytes of the blocks this marker marked */
	uint64_t marked_noscan; /* of them, pointer-free blocks */
	uint64_t credit;        /* bytes scanned, not yet in scan_credit */
	/* drain's prefetch ring: here rather than on the stack, where the
	 * addresses it held would outlive the marking as stale roots of a
	 * later collection started deeper in the same thread. */
	struct entry ring[RING];
} __attribute__((aligned(64))) marker;

static struct {
	lfstack full, empty;
	uint32_t nmarkers; /* markers in this marking */
	uint32_t nbufs;    /* work buffers made so far (they are never freed) */
	bool overflow;     /* a block could not be queued (no buffer) */
	uint32_t nidle;    /* markers waiting for work (step 4) */
	uint32_t nextjob;
	uint32_t njobs, capjobs;
	job *jobs;
	uintptr_t heap_lo, heap_hi; /* bounds of the heap, for a fast reject */
	bool check;                 /* GOHEAP_DEBUG=check=1 */
	marker m[MAX_MARKERS];
} mk;

/* Helpers park on gen: the collecting thread bumps it to start a marking.
 * running counts helpers not yet done with the current one. */
static struct {
	gh_mutex lock;
	pthread_cond_t wake, done;
	uint64_t gen;
	uint32_t nstarted; /* helpers started (they never stop) */
	uint32_t nready;   /* helpers that took their id and read gen */
	uint32_t running;
} helpers = {GH_MUTEX_INITIALIZER(GH_RANK_MARKHELPERS), PTHREAD_COND_INITIALIZER,
	     PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

bool gh_marking;
uint64_t gh_mark_noscan_bytes, gh_mark_black_bytes;
uint64_t gh_mark_helper_cpu_ns, gh_mark_assist_ns;

/* The marker of the calling thread, for the callbacks that reach marking
 * through other files (root enumeration, finalizer records). */
static __thread marker *self_marker;

/* A buffer more, or NULL if the OS refuses one (or GOHEAP_DEBUG=markbufs
 * says it would). */
static workbuf *new_buffer(void)
{
	int64_t cap = gh_option(GH_OPT_MARKBUFS);
	if (cap > 0 && __atomic_load_n(&mk.nbufs, __ATOMIC_RELAXED) >= cap)
		return NULL;
	workbuf *b = gh_sys_alloc(sizeof *b, &gh_heap.stats.gc_sys);
	if (b)
		__atomic_add_fetch(&mk.nbufs, 1, __ATOMIC_RELAXED);
	return b;
}

/* An empty buffer, or NULL if the OS refuses memory for one. */
static workbuf *get_empty(void)
{
	workbuf *b = lf_pop(&mk.empty);
	if (!b && !(b = new_buffer()))
		return NULL;
	b->n = 0;
	return b;
}

static __attribute__((noinline)) void overflow(gh_span *s)
{
	__atomic_store_n(&s->overflow, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&mk.overflow, true, __ATOMIC_RELAXED);
}

/* Queue the block at p of span s for scanning.  About five instructions
 * unless the buffer is full. */
static inline void push(marker *m, uintptr_t p, gh_span *s)
{
	workbuf *b = m->buf;
	if (GH_UNLIKELY(b->n == WORKBUF_ENTRIES)) {
		workbuf *nb = get_empty();
		if (!nb) {
			overflow(s); /* p stays marked; rescanned later */
			return;
		}
		lf_push(&mk.full, b);
		m->buf = b = nb;
	}
	b->e[b->n].p = p;
	b->e[b->n].s = s;
	b->n++;
}

/* Mark the block holding w, if any; queue it for scanning if it may hold
 * pointers. */
static inline void mark_word(marker *m, uintptr_t w)
{
	if (w - mk.heap_lo >= mk.heap_hi - mk.heap_lo)
		return;
	gh_span *s = gh_span_of(w);
	if (!s)
		return;
	uint32_t idx = 0;
	uintptr_t base = s->start;
	if (GH_SPANCLASS_CLASS(s->spanclass) != 0) {
		idx = gh_span_index(s, w);
		if (!gh_span_allocated(s, idx))
			return;
		base = s->start + (size_t)idx * s->elemsize;
	} else if (__atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED) == GH_SWEEPGEN_FRESH) {
		/* A large block not handed out yet (its allocating thread is
		 * clearing it: old bytes) or being freed: no block. */
		return;
	}
	if (gh_span_marked(s, idx) || gh_span_testandmark(s, idx))
		return;
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (kind == GH_KIND_NOSCAN || kind == GH_KIND_TINY) {
		m->marked += s->elemsize;
		m->marked_noscan += s->elemsize;
	} else
		push(m, base, s); /* counted when scanned, unless free */
}

GH_NO_SANITIZE_SCAN static void scan_range(marker *m, uintptr_t lo, uintptr_t hi)
{
	lo = (lo + 7) & ~(uintptr_t)7;
	if (GH_UNLIKELY(gh_track_on_now())) {
		/* Stack words may be undefined to memcheck; the marks made
		 * from them must not be. */
		for (uintptr_t p = lo; p + 8 <= hi; p += 8) {
			uintptr_t w = *(const uintptr_t *)p;
			gh_track_defined(&w, sizeof w);
			mark_word(m, w);
		}
		return;
	}
	for (uintptr_t p = lo; p + 8 <= hi; p += 8)
		mark_word(m, *(const uintptr_t *)p);
}

void gh_mark_range(uintptr_t lo, uintptr_t hi)
{
	scan_range(self_marker, lo, hi);
}

uintptr_t gh_markproc_types;
size_t gh_markproc_types_len;
void (*gh_markproc_scan)(uintptr_t p, gh_span *s, const goheap_type *t);

GH_NO_SANITIZE_SCAN static void scan_typed(marker *m, uintptr_t p, gh_span *s)
{
	const goheap_type *t = gh_span_type(s, p);
	if (!t)
		return;
	/* A block of one of the drop-in's kinds with a mark procedure
	 * (boehm_mark.c): one compare, never true in libgoheap. */
	if (GH_UNLIKELY((uintptr_t)t - gh_markproc_types < gh_markproc_types_len)) {
		gh_markproc_scan(p, s, t);
		return;
	}
	size_t n = s->elemsize / t->size;
	for (size_t e = 0; e < n; e++, p += t->size)
		for (size_t i = 0; i < t->nwords; i++)
			if (t->bits[i >> 6] >> (i & 63) & 1)
				mark_word(m, ((const uintptr_t *)p)[i]);
}

static void scan_block(marker *m, uintptr_t p, gh_span *s)
{
	if (GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_TYPED)
		scan_typed(m, p, s);
	else
		scan_range(m, p, p + s->elemsize);
}

/* Whether the block at p of s, of a kind that may hold pointers, is free
 * (a small block with its free tag).  While marking runs with the world
 * running, the tag may be written meanwhile: a free block is seen free or
 * not, either way safely (a free block is neither live nor scanned for
 * good; see the sweep), so ThreadSanitizer does not watch the read. */
GH_NO_SANITIZE_THREAD static bool block_free(const gh_span *s, uintptr_t p)
{
	/* The read is made here, not in gh_track_peek, which GCC does not
	 * inline into a function with other sanitizer attributes. */
	const uintptr_t *tag = &((const gh_link *)p)->tag;
	return GH_SPANCLASS_CLASS(s->spanclass) != 0 &&
	       (!gh_track_on_now() ? *tag : gh_track_peek(tag)) == gh_free_tag((void *)p);
}

/* ---- Assist credit ----
 *
 * While the world runs, markers turn what they scan into credit, which
 * allocating threads draw on before they owe scanning of their own
 * (gh_mark_assist), in batches, so that the shared counter is touched
 * once per CREDIT_BATCH bytes. */
enum { CREDIT_BATCH = 64 << 10 };
/* Pacing (gh_mark_assist): the scanning this marking is expected to do,
 * and what it has done so far -- markers' credit made and assists'
 * scanning -- and what the last concurrent marking did. */
static uint64_t work_expected, work_done, work_last;
static int64_t scan_credit;
static uint32_t credit_seq;     /* bumped with each batch, for waiters */
static uint32_t credit_waiters; /* threads waiting for credit */

static void flush_credit(marker *m)
{
	__atomic_add_fetch(&work_done, m->credit, __ATOMIC_RELAXED);
	__atomic_add_fetch(&scan_credit, (int64_t)m->credit, __ATOMIC_RELAXED);
	m->credit = 0;
	__atomic_add_fetch(&credit_seq, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&credit_waiters, __ATOMIC_RELAXED))
		gh_os_wake(&credit_seq, GH_OS_WAKE_ALL);
}

/* Take up to want bytes of credit; returns what was taken. */
static int64_t take_credit(int64_t want)
{
	int64_t have = __atomic_load_n(&scan_credit, __ATOMIC_RELAXED);
	while (have > 0) {
		int64_t take = have < want ? have : want;
		if (__atomic_compare_exchange_n(&scan_credit, &have, have - take, true,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return take;
	}
	return 0;
}

/* check=1: a span with a block in a queue is in use, or given back and
 * kept whole until marking ends (gh_span_release). */
static __attribute__((noinline, cold)) void check_queued(uintptr_t p, const gh_span *s)
{
	uint8_t state = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
	if (state != GH_SPAN_INUSE && state != GH_SPAN_GIVENBACK)
		gh_throw("heap check: marking: the span %p of block %#lx, queued for scanning, "
			 "was freed under the marker (state %u)",
			 (const void *)s, (unsigned long)p, state);
}

/* A block taken from the queue: count and scan it, unless it is free. */
static void scan_queued(marker *m, uintptr_t p, gh_span *s)
{
	if (GH_UNLIKELY(mk.check))
		check_queued(p, s);
	if (block_free(s, p))
		return; /* free: marked, but neither live nor holding pointers */
	m->marked += s->elemsize;
	scan_block(m, p, s);
	if (GH_UNLIKELY((m->credit += s->elemsize) >= CREDIT_BATCH))
		flush_credit(m);
}

void gh_mark_referents(gh_span *s, uintptr_t p)
{
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (kind == GH_KIND_SCAN || kind == GH_KIND_TYPED)
		scan_block(self_marker, p, s);
}

/* Step 4: a buffer with work, or NULL when marking is done.  Spins, then
 * yields the CPU, while other markers may still produce work. */
static workbuf *get_full(void)
{
	workbuf *b = lf_pop(&mk.full);
	if (b || mk.nmarkers == 1)
		return b;
	__atomic_add_fetch(&mk.nidle, 1, __ATOMIC_ACQ_REL);
	for (uint32_t i = 0;; i++) {
		if (!lf_empty(&mk.full)) {
			__atomic_sub_fetch(&mk.nidle, 1, __ATOMIC_ACQ_REL);
			b = lf_pop(&mk.full);
			if (b)
				return b;
			__atomic_add_fetch(&mk.nidle, 1, __ATOMIC_ACQ_REL);
		}
		if (__atomic_load_n(&mk.nidle, __ATOMIC_ACQUIRE) == mk.nmarkers)
			return NULL;
		if (i < 64)
			gh_os_cpu_relax();
		else
			sched_yield();
	}
}

/* Step 3's hand-off: half of m's buffer to the full list. */
static void handoff(marker *m)
{
	workbuf *b = m->buf, *nb = get_empty();
	if (!nb)
		return;
	size_t half = b->n / 2;
	memcpy(nb->e, b->e + b->n - half, half * sizeof b->e[0]);
	nb->n = half;
	b->n -= half;
	lf_push(&mk.full, nb);
}

/* The world runs: markers keep gray blocks on the full list, where
 * assists can take them. */
static bool concurrent_now;

/* Scan queued blocks until marking is done.  The blocks pass through a
 * small ring on their way from the buffer to scan_block, and each is
 * prefetched as it enters: by the time it is scanned, its first line is
 * (mostly) in the cache.  Without the ring, marking a tree of 32-byte
 * nodes waited on a cache miss per node. */
static void drain(marker *m)
{
	struct entry *ring = m->ring;
	uint32_t head = 0, n = 0;
	for (;;) {
		workbuf *b = m->buf;
		while (n < RING && b->n) {
			struct entry e = b->e[--b->n];
			__builtin_prefetch((const void *)e.p);
			ring[(head + n++) % RING] = e;
		}
		if (n == 0) {
			workbuf *f = get_full();
			if (!f) {
				/* No stale root for a program that links
				 * the library statically. */
				memset(ring, 0, sizeof m->ring);
				return;
			}
			lf_push(&mk.empty, b);
			m->buf = f;
			continue;
		}
		if (b->n >= HANDOFF_MIN &&
		    (__atomic_load_n(&mk.nidle, __ATOMIC_RELAXED) != 0 || concurrent_now) &&
		    lf_empty(&mk.full))
			handoff(m);
		struct entry e = ring[head];
		head = (head + 1) % RING;
		n--;
		scan_queued(m, e.p, e.s);
	}
}

/* Steps 2-4 for one marker.  Marker 0 comes with its buffer. */
static void mark_worker(marker *m)
{
	self_marker = m;
	if (!m->buf && !(m->buf = get_empty())) {
		/* Idle from the start: the others claim the jobs. */
		__atomic_add_fetch(&mk.nidle, 1, __ATOMIC_ACQ_REL);
		return;
	}
	uint32_t j;
	while ((j = __atomic_fetch_add(&mk.nextjob, 1, __ATOMIC_RELAXED)) < mk.njobs) {
		job *jb = &mk.jobs[j];
		if (jb->lo == 0 && jb->hi == 0)
			gh_final_mark_roots();
		else
			scan_range(m, jb->lo, jb->hi);
	}
	drain(m);
	lf_push(&mk.empty, m->buf);
	m->buf = NULL;
	self_marker = NULL;
}

static void *helper_main(void *arg)
{
	(void)arg;
	gh_lock(&helpers.lock);
	uint32_t id = ++helpers.nready; /* 1, 2, ... */
	uint64_t seen = helpers.gen;
	pthread_cond_broadcast(&helpers.done);
	for (;;) {
		while (helpers.gen == seen)
			gh_cond_wait(&helpers.wake, &helpers.lock);
		seen = helpers.gen;
		bool mine = id < mk.nmarkers;
		gh_unlock(&helpers.lock);
		if (mine) {
			/* Memcheck's leave is per thread (see mgc.c). */
			uint64_t cpu = gh_thread_cputime();
			gh_track_quiet_begin();
			mark_worker(&mk.m[id]);
			gh_track_quiet_end();
			__atomic_add_fetch(&gh_mark_helper_cpu_ns, gh_thread_cputime() - cpu,
					   __ATOMIC_RELAXED);
		}
		gh_lock(&helpers.lock);
		if (mine && --helpers.running == 0)
			pthread_cond_broadcast(&helpers.done);
	}
	return NULL;
}

static uint32_t gcprocs(void)
{
	int64_t n = gh_option(GH_OPT_GCPROCS);
	if (n <= 0)
		n = gh_os_ncpu();
	return n > MAX_MARKERS ? MAX_MARKERS : (uint32_t)n;
}

uint32_t gh_mark_prepare(void)
{
	uint32_t want = gcprocs();
	gh_lock(&helpers.lock);
	while (helpers.nstarted + 1 < want) {
		if (gh_spawn_thread(helper_main, "goheap-mark", false) != 0)
			break; /* mark with fewer */
		helpers.nstarted++;
	}
	/* Each new helper must have read the generation before a marking
	 * bumps it. */
	while (helpers.nready < helpers.nstarted)
		gh_cond_wait(&helpers.done, &helpers.lock);
	gh_unlock(&helpers.lock);
	uint32_t n = helpers.nstarted + 1 < want ? helpers.nstarted + 1 : want;
	/* A buffer for each marker to start with (see Overflow). */
	workbuf *b;
	while (mk.nbufs < n && (b = new_buffer()))
		lf_push(&mk.empty, b);
	mk.nmarkers = n < mk.nbufs ? n : mk.nbufs;
	return mk.nmarkers;
}

void gh_mark_after_fork(void)
{
	/* The child has none of the helpers. */
	gh_mutex_init(&helpers.lock, GH_RANK_MARKHELPERS, 0);
	pthread_cond_init(&helpers.wake, NULL);
	pthread_cond_init(&helpers.done, NULL);
	helpers.nstarted = helpers.nready = helpers.running = 0;
}

/* Step 1: add [lo, hi) to the jobs, in pieces.  0, or -1 if out of
 * memory for the job list (the caller then scans the range itself). */
static int add_job(uintptr_t lo, uintptr_t hi)
{
	if (mk.njobs == mk.capjobs) {
		uint32_t cap = mk.capjobs ? mk.capjobs * 2 : 4096;
		job *j = gh_sys_alloc(cap * sizeof *j, &gh_heap.stats.gc_sys);
		if (!j)
			return -1;
		if (mk.jobs) {
			memcpy(j, mk.jobs, mk.njobs * sizeof *j);
			gh_sys_free(mk.jobs, mk.capjobs * sizeof *j, &gh_heap.stats.gc_sys);
		}
		mk.jobs = j;
		mk.capjobs = cap;
	}
	mk.jobs[mk.njobs].lo = lo;
	mk.jobs[mk.njobs].hi = hi;
	mk.njobs++;
	return 0;
}

static void add_range(uintptr_t lo, uintptr_t hi)
{
	while (lo < hi) {
		uintptr_t end = hi - lo > JOB_BYTES ? lo + JOB_BYTES : hi;
		if (add_job(lo, end) != 0)
			scan_range(&mk.m[0], lo, end);
		lo = end;
	}
}

static void add_stack(gh_thread *t, uintptr_t sp)
{
	if (sp >= t->stack_lo && sp < t->stack_hi)
		add_range(sp, t->stack_hi);
}

/* Mark the block at p, on a thread's free list, without scanning it. */
static void mark_listed(uintptr_t p)
{
	gh_span *s = gh_span_of(p);
	GH_ASSERT(s && GH_SPANCLASS_CLASS(s->spanclass) != 0);
	gh_span_testandmark(s, gh_span_index(s, p));
}

/* Overflow, for one span: if flagged, scan its marked blocks, as marker 0,
 * alone. */
static void rescan_span(void *obj)
{
	gh_span *s = obj;
	if (!s->overflow)
		return;
	s->overflow = 0;
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != GH_SPAN_INUSE ||
	    kind == GH_KIND_NOSCAN || kind == GH_KIND_TINY)
		return;
	marker *m0 = &mk.m[0];
	uint32_t n = s->nelems;
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t p = s->start + (size_t)i * s->elemsize;
		if (gh_span_marked(s, i) && !block_free(s, p)) {
			scan_block(m0, p, s);
			drain(m0);
		}
	}
}

/* The bytes of the marked blocks, from the mark bits, counted as
 * mark_word and scan_queued count them. */
static uint64_t marked_total, marked_noscan_total;

static void count_span(void *obj)
{
	gh_span *s = obj;
	if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != GH_SPAN_INUSE)
		return;
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	bool scan = kind == GH_KIND_SCAN || kind == GH_KIND_TYPED;
	uint32_t n = s->nelems;
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t p = s->start + (size_t)i * s->elemsize;
		if (gh_span_marked(s, i) && !(scan && block_free(s, p))) {
			marked_total += s->elemsize;
			if (!scan)
				marked_noscan_total += s->elemsize;
		}
	}
}

/* After an overflow (see the top of the file): rescan until no pass
 * overflows, then count the marked bytes into marker 0's. */
static void recover(void)
{
	marker *m0 = &mk.m[0];
	uint32_t nmarkers = mk.nmarkers;
	mk.nmarkers = 1; /* drain: no one to wait for */
	m0->buf = lf_pop(&mk.empty); /* every buffer is back there */
	self_marker = m0;
	while (mk.overflow) {
		mk.overflow = false;
		gh_fixalloc_foreach(&gh_heap.spanalloc, rescan_span);
	}
	lf_push(&mk.empty, m0->buf);
	m0->buf = NULL;
	self_marker = NULL;
	mk.nmarkers = nmarkers;
	marked_total = marked_noscan_total = 0;
	gh_fixalloc_foreach(&gh_heap.spanalloc, count_span);
	for (uint32_t i = 0; i < nmarkers; i++)
		mk.m[i].marked = mk.m[i].marked_noscan = 0;
	m0->marked = marked_total;
	m0->marked_noscan = marked_noscan_total;
}

/* Mark as m0, with nhelp helper threads woken to mark beside it, until
 * all are done. */
static void mark_with_helpers(marker *m0, uint32_t nhelp)
{
	if (nhelp) {
		gh_lock(&helpers.lock);
		helpers.running = nhelp;
		helpers.gen++;
		pthread_cond_broadcast(&helpers.wake);
		gh_unlock(&helpers.lock);
	}
	mark_worker(m0);
	if (nhelp) {
		gh_lock(&helpers.lock);
		while (helpers.running)
			gh_cond_wait(&helpers.done, &helpers.lock);
		gh_unlock(&helpers.lock);
	}
}

/* Steps 1-5, called with the collecting thread's registers on its stack
 * below everything that add_stack lists of it. */
static void mark_all(uintptr_t sp, void *arg)
{
	(void)arg;
	marker *m0 = &mk.m[0];
	for (uint32_t i = 0; i < mk.nmarkers; i++)
		mk.m[i].marked = mk.m[i].marked_noscan = 0;
	m0->buf = get_empty(); /* one of gh_mark_prepare's */
	self_marker = m0;
	mk.njobs = 0;
	mk.nextjob = 0;
	mk.nidle = 0;
	gh_thread *self = gh_self_thread;
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		add_stack(t, t == self ? sp : t->saved_sp);
	gh_roots_scan(add_range);
	gh_threads_scan_pending(add_range);
	if (add_job(0, 0) != 0)
		gh_final_mark_roots();
	/* m0 keeps its buffer, and what a job list that could not grow
	 * queued in it: hand-off shares it out. */
	mark_with_helpers(m0, mk.nmarkers - 1);
	gh_mcache_collect_all(mark_listed);
	if (mk.overflow)
		recover();
	/* The queue's entries went through them (hand-off, the ring). */
	gh_os_clear_vector_registers();
}

uint64_t gh_mark(void)
{
	mk.heap_lo = __atomic_load_n(&gh_heap.arena_lo, __ATOMIC_RELAXED);
	mk.heap_hi = __atomic_load_n(&gh_heap.arena_hi, __ATOMIC_RELAXED);
	__atomic_store_n(&gh_marking, true, __ATOMIC_RELAXED);
	gh_with_registers_spilled(mark_all, NULL);
	__atomic_store_n(&gh_marking, false, __ATOMIC_RELAXED);
	uint64_t marked = 0, noscan = 0;
	for (uint32_t i = 0; i < mk.nmarkers; i++) {
		marked += mk.m[i].marked;
		noscan += mk.m[i].marked_noscan;
	}
	gh_mark_noscan_bytes = noscan;
	gh_mark_black_bytes = 0;
	return marked;
}

uint64_t gh_mark_closure(void (*fn)(void *), void *arg)
{
	marker *m0 = &mk.m[0];
	uint32_t nmarkers = mk.nmarkers;
	uint64_t before = 0, after = 0;
	for (uint32_t i = 0; i < nmarkers; i++)
		before += mk.m[i].marked;
	/* Every buffer is back on the empty list after a marking. */
	m0->buf = lf_pop(&mk.empty);
	if (!m0->buf)
		gh_throw("no mark buffer left after marking");
	m0->buf->n = 0;
	mk.nmarkers = 1; /* drain alone: the helpers are parked */
	self_marker = m0;
	__atomic_store_n(&gh_marking, true, __ATOMIC_RELAXED);
	fn(arg);
	drain(m0);
	lf_push(&mk.empty, m0->buf);
	m0->buf = NULL;
	self_marker = NULL;
	mk.nmarkers = nmarkers;
	if (mk.overflow)
		recover();
	__atomic_store_n(&gh_marking, false, __ATOMIC_RELAXED);
	gh_os_clear_vector_registers();
	for (uint32_t i = 0; i < nmarkers; i++)
		after += mk.m[i].marked;
	return after - before;
}

/* ---- Mostly-concurrent marking ----
 *
 * Boehm, Demers and Shenker's mostly-parallel collection (PLDI 1991), paced
 * and assisted as Go paces its marking.  A C program has no write barrier;
 * the kernel tells which pages were written instead (os.h, write tracking).
 * mgc.c runs the phases:
 *
 *   1. Start, world stopped (gh_mark_start): every thread cache's span is
 *      taken back, so that every span a thread allocates from from now on
 *      is cached while marking runs and hands out black blocks
 *      (gh_span.markfrom); the roots (stacks and registers, static data,
 *      registered ranges, arguments of threads being started, finalizer
 *      records) are scanned, graying what they reach.  The writes to the
 *      heap's pages have been tracked since just before the stop.
 *   2. Concurrent, world running (gh_mark_concurrent): GOHEAP_GCPROCS / 4
 *      markers (at least one) drain the gray blocks, while allocating
 *      threads assist in proportion to what they take (gh_mark_assist).
 *      Then, round after round, the pages written since the last round are
 *      collected (their tracking re-armed at once) and the black blocks on
 *      them scanned again, where the program may have stored a pointer to
 *      a block not reached yet, while that set of pages shrinks.
 *   3. End, world stopped (gh_mark_finish): the roots are scanned again,
 *      and the black blocks on the pages written since the last round;
 *      all markers drain to the end; then the black blocks allocated from
 *      cached spans are marked, and the blocks on the threads' free lists.
 *
 * Why nothing reachable at the end is left unmarked: take a reachable
 * block b, unmarked, and the last marked block (or root) a on a path to
 * it.  a was not scanned after a's pointer to the path's next block was
 * stored -- or that block would be marked.  If a is a root, the end scans
 * it.  If a is a heap block, the store came after a's scan: it wrote a's
 * page, which a later round or the end scans again; a round collects a
 * page before it scans it, so a store racing with the scan shows in the
 * next round.  A block allocated while marking runs is black: marked (or,
 * from a cached span, counted as marked through markfrom, see is_black),
 * its later stores tracked like any other.
 *
 * A black block is marked but not scanned at once: scanning it before its
 * first store would find nothing.  So blocks allocated during marking
 * cost the rounds their rescans, never the final pause, unless written
 * in the last round.
 *
 * Assists run in a no-stop section (os.h): the final stop waits for them,
 * so no gray block is ever held where the end could not see it.  Pages
 * are never released to the OS while tracking is on (mheap.c).
 */

/* Rounds after the first drain: stop when the pages written in a round are
 * this few (their rescan is left to the final pause), or the count stops
 * shrinking, or after this many rounds. */
enum { FINAL_PAGES = 64, MAX_ROUNDS = 16 };

static uint32_t conc_nmarkers; /* markers while the world runs */
static uint64_t black_bytes, black_noscan; /* allocated black this cycle */
static uint64_t assist_bytes, assist_noscan; /* marked by assists */
static bool tracking_lost; /* a round could not read the written pages */
static uintptr_t start_lo, start_hi; /* the heap's range when marking started */

/* Whether block idx of the small span s is black: handed out by its owner
 * since the span was cached while marking runs (markfrom), or marked.  In
 * that order: the owner, taking the span out of its cache, marks those
 * blocks before it drops markfrom (gh_mark_new_blocks, release), so that a
 * block read here as no longer covered by markfrom is read marked. */
static bool is_black(const gh_span *s, uint32_t idx)
{
	uint32_t from = __atomic_load_n(&s->markfrom, __ATOMIC_ACQUIRE);
	if (from != GH_MARKFROM_NONE && idx >= from &&
	    idx < __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED) &&
	    !((s->allocbits[idx >> 6] >> (idx & 63)) & 1))
		return true;
	return gh_span_marked(s, idx);
}

void gh_mark_new_blocks(gh_span *s)
{
	uint32_t from = s->markfrom, fi = s->freeindex;
	uint64_t n = 0;
	for (uint32_t w = from >> 6; from < fi && w <= (fi - 1) >> 6; w++) {
		uint64_t range = ~(uint64_t)0;
		if (w == from >> 6)
			range &= ~(uint64_t)0 << (from & 63);
		if (w == (fi - 1) >> 6 && (fi & 63))
			range &= ((uint64_t)1 << (fi & 63)) - 1;
		uint64_t fresh = range & ~s->allocbits[w];
		uint64_t old = __atomic_fetch_or(&s->markbits[w], fresh, __ATOMIC_RELAXED);
		n += (uint64_t)__builtin_popcountll(fresh & ~old);
	}
	__atomic_store_n(&s->markfrom, GH_MARKFROM_NONE, __ATOMIC_RELEASE);
	if (n) {
		uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
		__atomic_add_fetch(&black_bytes, n * s->elemsize, __ATOMIC_RELAXED);
		if (kind == GH_KIND_NOSCAN || kind == GH_KIND_TINY)
			__atomic_add_fetch(&black_noscan, n * s->elemsize, __ATOMIC_RELAXED);
	}
}

void gh_mark_new_large(gh_span *s)
{
	if (gh_span_testandmark(s, 0))
		return;
	__atomic_add_fetch(&black_bytes, s->elemsize, __ATOMIC_RELAXED);
	if (GH_SPANCLASS_KIND(s->spanclass) == GH_KIND_NOSCAN)
		__atomic_add_fetch(&black_noscan, s->elemsize, __ATOMIC_RELAXED);
}

/* Scan the words of the block at p of s that lie in [a, b). */
GH_NO_SANITIZE_SCAN static void scan_block_part(marker *m, gh_span *s, uintptr_t p, uintptr_t a,
						 uintptr_t b)
{
	if (GH_SPANCLASS_KIND(s->spanclass) != GH_KIND_TYPED) {
		scan_range(m, a, b);
		return;
	}
	const goheap_type *t = gh_span_type(s, p);
	if (!t)
		return;
	if ((uintptr_t)t - gh_markproc_types < gh_markproc_types_len) {
		scan_typed(m, p, s); /* a mark procedure's kind: the whole block */
		return;
	}
	for (uintptr_t e = p + (a - p) / t->size * t->size; e < b; e += t->size)
		for (size_t i = 0; i < t->nwords; i++) {
			uintptr_t w = e + i * 8;
			if (w >= a && w < b && (t->bits[i >> 6] >> (i & 63) & 1))
				mark_word(m, *(const uintptr_t *)w);
		}
}

/* Scan again the black blocks of s, in use, that have words in [a, b). */
static void rescan_span_part(marker *m, gh_span *s, uintptr_t a, uintptr_t b)
{
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	if (kind == GH_KIND_NOSCAN || kind == GH_KIND_TINY)
		return;
	if (a < s->start)
		a = s->start;
	if (b > s->limit)
		b = s->limit;
	if (a >= b)
		return;
	if ((m->credit += b - a) >= CREDIT_BATCH)
		flush_credit(m);
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0) {
		if (gh_span_marked(s, 0))
			scan_block_part(m, s, s->start, a, b);
		return;
	}
	for (uint32_t idx = gh_span_index(s, a), last = gh_span_index(s, b - 1); idx <= last;
	     idx++) {
		uintptr_t p = s->start + (size_t)idx * s->elemsize;
		if (!is_black(s, idx) || block_free(s, p))
			continue;
		scan_block_part(m, s, p, p > a ? p : a, p + s->elemsize < b ? p + s->elemsize : b);
	}
}

typedef struct rescan_ctx {
	marker *m;
	uint64_t bytes; /* written memory reported */
} rescan_ctx;

/* gh_wt_collect's callback: [lo, hi) was written. */
static void rescan_written(uintptr_t lo, uintptr_t hi, void *arg)
{
	rescan_ctx *c = arg;
	c->bytes += hi - lo;
	while (lo < hi) {
		uintptr_t end = (lo & ~(uintptr_t)(GH_PAGE_SIZE - 1)) + GH_PAGE_SIZE;
		if (end > hi)
			end = hi;
		gh_span *s = gh_span_at(lo);
		if (s && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == GH_SPAN_INUSE &&
		    lo >= (s->start & ~(uintptr_t)(GH_PAGE_SIZE - 1)) &&
		    lo < (s->start & ~(uintptr_t)(GH_PAGE_SIZE - 1)) + (s->npages << GH_PAGE_SHIFT))
			rescan_span_part(c->m, s, lo, end);
		lo = end;
	}
}

/* Scan a root range at once, as the calling marker (start of marking). */
static void scan_root(uintptr_t lo, uintptr_t hi)
{
	scan_range(self_marker, lo, hi);
}

int gh_mark_start(uint64_t scan_estimate)
{
	work_expected = work_last ? work_last : scan_estimate;
	if (work_expected < (1u << 20))
		work_expected = 1u << 20;
	work_done = 0;
	scan_credit = 0;
	mk.check = gh_option(GH_OPT_CHECK) != 0;
	mk.heap_lo = __atomic_load_n(&gh_heap.arena_lo, __ATOMIC_RELAXED);
	mk.heap_hi = __atomic_load_n(&gh_heap.arena_hi, __ATOMIC_RELAXED);
	start_lo = mk.heap_lo;
	start_hi = mk.heap_hi;
	for (uint32_t i = 0; i < MAX_MARKERS; i++)
		mk.m[i].marked = mk.m[i].marked_noscan = 0;
	black_bytes = black_noscan = assist_bytes = assist_noscan = 0;
	tracking_lost = false;
	marker *m0 = &mk.m[0];
	if (!(m0->buf = get_empty()))
		return -1;
	__atomic_store_n(&gh_marking, true, __ATOMIC_RELAXED);
	self_marker = m0;
	/* Every thread is stopped; the collecting thread is not registered
	 * (mgc.c) and holds no block. */
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		if (t->saved_sp >= t->stack_lo && t->saved_sp < t->stack_hi)
			scan_range(m0, t->saved_sp, t->stack_hi);
	gh_roots_scan(scan_root);
	gh_threads_scan_pending(scan_root);
	gh_final_mark_roots();
	self_marker = NULL;
	/* Gray blocks stay in m0's buffer, for the first round. */
	uint32_t n = mk.nmarkers / 4;
	conc_nmarkers = n ? n : 1;
	return 0;
}

/* Drain with the concurrent markers, marker 0 (the collecting thread)
 * among them, until they all find no work. */
static void drain_round(uint32_t nmarkers)
{
	marker *m0 = &mk.m[0];
	mk.njobs = 0;
	mk.nextjob = 0;
	mk.nidle = 0;
	mk.nmarkers = nmarkers;
	mark_with_helpers(m0, nmarkers - 1);
}

static uint32_t assists_active; /* threads in assist_scan */

/* Drain rounds until no gray block is left where the markers see it, nor
 * with an assist (which puts back what it did not scan).  Gray blocks
 * left over would be the final pause's to mark, with all they reach. */
static void drain_quiet(uint32_t nmarkers)
{
	for (;;) {
		drain_round(nmarkers);
		uint32_t active = __atomic_load_n(&assists_active, __ATOMIC_ACQUIRE);
		if (!lf_empty(&mk.full))
			continue;
		if (!active)
			return;
		sched_yield();
	}
}

void gh_mark_concurrent(void)
{
	uint32_t nall = mk.nmarkers;
	concurrent_now = true;
	drain_quiet(conc_nmarkers);
	uint64_t prev = UINT64_MAX;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		marker *m0 = &mk.m[0];
		if (!(m0->buf = get_empty()))
			break; /* the end scans what is left */
		self_marker = m0;
		rescan_ctx c = {m0, 0};
		if (gh_wt_collect(rescan_written, &c) != 0)
			tracking_lost = true;
		self_marker = NULL;
		drain_quiet(conc_nmarkers);
		if (tracking_lost)
			break;
		uint64_t pages = c.bytes >> GH_PAGE_SHIFT;
		if (pages <= FINAL_PAGES || (round >= 2 && pages >= prev))
			break;
		prev = pages;
	}
	/* What assists queued after the last round is the end's. */
	concurrent_now = false;
	mk.nmarkers = nall;
}

/* Flag every span so that the end's recovery scans every marked block:
 * the written pages are not known (write tracking failed). */
static void flag_all(void *obj)
{
	gh_span *s = obj;
	if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) == GH_SPAN_INUSE) {
		s->overflow = 1;
		mk.overflow = true;
	}
}

uint64_t gh_mark_finish(void)
{
	marker *m0 = &mk.m[0];
	m0->buf = get_empty(); /* gh_mark_prepare's reserve: all are back */
	self_marker = m0;
	mk.heap_lo = __atomic_load_n(&gh_heap.arena_lo, __ATOMIC_RELAXED);
	mk.heap_hi = __atomic_load_n(&gh_heap.arena_hi, __ATOMIC_RELAXED);
	mk.njobs = 0;
	mk.nextjob = 0;
	mk.nidle = 0;
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		add_stack(t, t->saved_sp);
	gh_roots_scan(add_range);
	gh_threads_scan_pending(add_range);
	if (add_job(0, 0) != 0)
		gh_final_mark_roots();
	rescan_ctx c = {m0, 0};
	if (tracking_lost || gh_mheap_tracking_failed() || gh_wt_collect(rescan_written, &c) != 0)
		gh_fixalloc_foreach(&gh_heap.spanalloc, flag_all);
	mark_with_helpers(m0, mk.nmarkers - 1);
	/* Then the blocks allocated black, the blocks on the threads' lists,
	 * every cached span taken back.  After the roots: a black block that
	 * a stopped thread holds and may still be clearing is scanned from
	 * its roots, old bytes and all, as a marking from scratch would
	 * (gh_mark_verify); the others are known to hold only what was
	 * written into them since, which the written pages gave. */
	gh_mcache_collect_all(mark_listed);
	bool recovered = mk.overflow;
	if (mk.overflow)
		recover();
	work_last = __atomic_load_n(&work_done, __ATOMIC_RELAXED);
	gh_os_clear_vector_registers();
	__atomic_store_n(&gh_marking, false, __ATOMIC_RELAXED);
	uint64_t marked = 0, noscan = 0;
	for (uint32_t i = 0; i < mk.nmarkers; i++) {
		marked += mk.m[i].marked;
		noscan += mk.m[i].marked_noscan;
	}
	if (!recovered) { /* recover counted them from the mark bits */
		marked += black_bytes + assist_bytes;
		noscan += black_noscan + assist_noscan;
	}
	gh_mark_noscan_bytes = noscan;
	gh_mark_black_bytes = black_bytes < marked ? black_bytes : marked;
	return marked;
}

/* ---- The self-check of concurrent marking (GOHEAP_DEBUG=check=1) ----
 *
 * At the end of a concurrent marking, world still stopped: keep the mark
 * bits it made, clear them, mark again from the roots as a collection
 * with the world stopped would, and require every block that marks to
 * have been marked before.  (The other way round is expected: blocks
 * allocated while marking ran are marked, reachable or not.)  Then the
 * first marking's bits are put back. */

typedef struct verify_ctx {
	uint64_t (*bits)[GH_BITWORDS]; /* the first marking's, span by span */
	size_t n;
	bool count_only;
	uintptr_t missed; /* a block the first marking missed, or 0 */
	const gh_span *missed_span;
	size_t nmissed;
} verify_ctx;

static bool span_in_use(const gh_span *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_RELAXED) == GH_SPAN_INUSE;
}

static void verify_save(void *obj, void *arg)
{
	gh_span *s = obj;
	verify_ctx *v = arg;
	if (!span_in_use(s))
		return;
	if (!v->count_only) {
		memcpy(v->bits[v->n], s->markbits, sizeof s->markbits);
		memset(s->markbits, 0, sizeof s->markbits);
	}
	v->n++;
}

static void verify_compare(void *obj, void *arg)
{
	gh_span *s = obj;
	verify_ctx *v = arg;
	if (!span_in_use(s))
		return;
	const uint64_t *before = v->bits[v->n++];
	for (uint32_t w = 0; w < GH_BITWORDS; w++) {
		uint64_t missed = s->markbits[w] & ~before[w];
		if (missed) {
			if (!v->missed) {
				v->missed = s->start + (size_t)(w * 64 + (uint32_t)__builtin_ctzll(missed)) *
							   s->elemsize;
				v->missed_span = s;
			}
			v->nmissed += (size_t)__builtin_popcountll(missed);
		}
	}
	memcpy(s->markbits, before, sizeof s->markbits);
}

static void verify_each(void (*fn)(void *obj, void *arg), verify_ctx *v)
{
	void *chunk = NULL, *obj;
	size_t off = 0;
	while ((obj = gh_fixalloc_next(&gh_heap.spanalloc, &chunk, &off)))
		fn(obj, v);
}

/* For the diagnostic of a missed block: where a pointer into [lo, hi)
 * is, in a block of the heap (the first one found) or on a thread's
 * stack.  Writes a description into buf. */
GH_NO_SANITIZE_SCAN static uintptr_t verify_find_holder(uintptr_t lo, uintptr_t hi, char *buf,
							 size_t n, bool *unmarked, size_t *holder_size)
{
	*unmarked = false;
	void *chunk = NULL, *obj;
	size_t off = 0;
	while ((obj = gh_fixalloc_next(&gh_heap.spanalloc, &chunk, &off))) {
		gh_span *s = obj;
		uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
		if (!span_in_use(s) || kind == GH_KIND_NOSCAN || kind == GH_KIND_TINY)
			continue;
		uint32_t nblocks = GH_SPANCLASS_CLASS(s->spanclass) ? s->nelems : 1;
		for (uint32_t i = 0; i < nblocks; i++) {
			if (GH_SPANCLASS_CLASS(s->spanclass) && !gh_span_allocated(s, i))
				continue;
			uintptr_t b = s->start + (size_t)i * s->elemsize;
			for (uintptr_t w = b; w + 8 <= b + s->elemsize; w += 8) {
				uintptr_t v = *(const uintptr_t *)w;
				if (v < lo || v >= hi)
					continue;
				snprintf(buf, n,
					 "held at %p, word %zu of block %p (span class %u, %zu bytes, "
					 "marked %d, black %d, free-tagged %d, markfrom %u, freeindex %u, "
					 "list %u, sweepgen %u of %u, needzero %u)",
					 (void *)w, (size_t)(w - b) / 8, (void *)b, (unsigned)s->spanclass,
					 (size_t)s->elemsize, (int)gh_span_marked(s, i),
					 GH_SPANCLASS_CLASS(s->spanclass) ? (int)is_black(s, i) : -1,
					 (int)block_free(s, b), (unsigned)s->markfrom,
					 (unsigned)s->freeindex, (unsigned)s->inlist,
					 (unsigned)s->sweepgen, (unsigned)gh_heap.sweepgen,
					 (unsigned)s->needzero);
				*unmarked = !gh_span_marked(s, i);
				*holder_size = s->elemsize;
				return b;
			}
		}
	}
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		for (uintptr_t w = (t->saved_sp + 7) & ~(uintptr_t)7; w + 8 <= t->stack_hi; w += 8) {
			uintptr_t v = *(const uintptr_t *)w;
			if (v >= lo && v < hi) {
				snprintf(buf, n, "held on the stack of thread %ld at %p", (long)t->tid,
					 (void *)w);
				return 0;
			}
		}
	snprintf(buf, n, "holder not found in the heap or on a stack");
	return 0;
}

void gh_mark_verify(void)
{
	verify_ctx v = {.count_only = true};
	verify_each(verify_save, &v);
	size_t bytes = (v.n ? v.n : 1) * sizeof *v.bits;
	v.bits = gh_sys_alloc(bytes, NULL);
	if (!v.bits) {
		gh_warn("heap check: no memory to check concurrent marking; not checked");
		return;
	}
	v.n = 0;
	v.count_only = false;
	verify_each(verify_save, &v);
	uint64_t noscan = gh_mark_noscan_bytes, black = gh_mark_black_bytes;
	gh_mark();
	gh_mark_noscan_bytes = noscan;
	gh_mark_black_bytes = black;
	v.n = 0;
	verify_each(verify_compare, &v);
	gh_sys_free(v.bits, bytes, NULL);
	if (v.nmissed) {
		const gh_span *s = v.missed_span;
		uint32_t idx = gh_span_index(s, v.missed);
		char holder[1200];
		size_t used = 0, hsize = s->elemsize;
		uintptr_t h = v.missed;
		bool unmarked = true;
		for (int level = 0; level < 3 && h && unmarked && used < sizeof holder - 330; level++) {
			uintptr_t lo = h;
			h = verify_find_holder(lo, lo + hsize, holder + used, sizeof holder - used,
					       &unmarked, &hsize);
			used += strlen(holder + used);
			if (h && unmarked && used + 4 < sizeof holder) {
				memcpy(holder + used, " <- ", 5);
				used += 4;
			}
		}
		gh_throw("heap check: concurrent marking: %zu reachable block(s) left unmarked, "
			 "the first at %p (span class %u, %zu bytes, %s, %s, list %u, markfrom %u, "
			 "freeindex %u, index %u; %s; heap range at the start %#lx-%#lx)",
			 v.nmissed, (void *)v.missed, (unsigned)s->spanclass, (size_t)s->elemsize,
			 block_free(s, v.missed) ? "free-tagged" : "not free-tagged",
			 gh_span_allocated(s, idx) ? "allocated" : "not allocated", (unsigned)s->inlist,
			 (unsigned)s->markfrom, (unsigned)s->freeindex, idx, holder,
			 (unsigned long)start_lo, (unsigned long)start_hi);
	}
}

uint32_t gh_mark_concurrent_workers(void)
{
	return conc_nmarkers;
}

/* Scan up to budget bytes of gray blocks from the full list as the
 * calling thread; returns the bytes scanned. */
static int64_t assist_scan(int64_t budget)
{
	/* A no-stop section: the end cannot fall while this thread holds
	 * gray blocks where no one else sees them. */
	gh_stw_nostop_begin();
	if (!gh_gc_marking_now() || lf_empty(&mk.full)) {
		gh_stw_nostop_end();
		return 0;
	}
	/* On the stack, not in thread-local storage: the library's TLS must
	 * fit the few hundred bytes glibc keeps for a library loaded by
	 * dlopen (arm64: "cannot allocate memory in static TLS block").
	 * Its ring is unused here (scan_queued, not drain). */
	marker am = {0}, *m = &am, *saved = self_marker;
	if (!(m->buf = get_empty())) {
		gh_stw_nostop_end();
		return 0;
	}
	__atomic_add_fetch(&assists_active, 1, __ATOMIC_ACQ_REL);
	self_marker = m;
	int64_t done = 0;
	workbuf *f;
	while (done < budget && (f = lf_pop(&mk.full))) {
		while (f->n && done < budget) {
			struct entry e = f->e[--f->n];
			scan_queued(m, e.p, e.s);
			done += (int64_t)e.s->elemsize;
		}
		lf_push(f->n ? &mk.full : &mk.empty, f);
	}
	lf_push(m->buf->n ? &mk.full : &mk.empty, m->buf);
	m->buf = NULL;
	self_marker = saved;
	__atomic_add_fetch(&work_done, (uint64_t)done, __ATOMIC_RELAXED);
	m->credit = 0; /* spent on this thread's own debt */
	__atomic_add_fetch(&assist_bytes, m->marked, __ATOMIC_RELAXED);
	__atomic_add_fetch(&assist_noscan, m->marked_noscan, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&assists_active, 1, __ATOMIC_ACQ_REL);
	gh_stw_nostop_end();
	return done;
}

typedef struct credit_wait {
	uint32_t seq;
} credit_wait;

static void wait_credit(void *arg)
{
	credit_wait *w = arg;
	__atomic_add_fetch(&credit_waiters, 1, __ATOMIC_RELAXED);
	if (gh_gc_marking_now())
		gh_os_wait(&credit_seq, w->seq, 100000);
	__atomic_sub_fetch(&credit_waiters, 1, __ATOMIC_RELAXED);
}

/* The scanning owed for taking bytes: Go's assist ratio, kept up to date
 * -- the scanning left to do over the room left before the goal, so that
 * marking ends by the goal however the work is shared between markers and
 * assists.  Past the goal the room is what is left before the heap is a
 * tenth over it, shrunk fourfold; at least an eighth of the expected work
 * is always counted as left, as marking may need more than expected. */
static int64_t assist_debt(uint64_t bytes)
{
	uint64_t expected = work_expected, done = __atomic_load_n(&work_done, __ATOMIC_RELAXED);
	uint64_t left = expected > done ? expected - done : 0;
	if (left < expected / 8)
		left = expected / 8;
	uint64_t goal = __atomic_load_n(&gh_gc.next_gc, __ATOMIC_RELAXED);
	int64_t live = (int64_t)__atomic_load_n(&gh_gc.heap_live, __ATOMIC_RELAXED);
	uint64_t hard = goal + goal / 10, room;
	if (live < 0 || (uint64_t)live < goal)
		room = goal - (live < 0 ? 0 : (uint64_t)live);
	else
		room = (uint64_t)live < hard ? (hard - (uint64_t)live) / 4 : 0;
	if (room < goal / 256 + 1)
		room = goal / 256 + 1;
	double debt = (double)bytes * (double)left / (double)room;
	return debt > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)debt;
}

void gh_mark_assist(uint64_t bytes)
{
	int64_t debt = assist_debt(bytes);
	debt -= take_credit(debt);
	while (debt > 0 && gh_gc_marking_now()) {
		uint64_t t0 = gh_nanotime();
		/* Memcheck's reports off for this thread while it scans (see
		 * gh_mark_concurrent). */
		gh_track_quiet_begin();
		debt -= assist_scan(debt);
		gh_track_quiet_end();
		__atomic_add_fetch(&gh_mark_assist_ns, gh_nanotime() - t0, __ATOMIC_RELAXED);
		if (debt <= 0)
			break;
		/* Nothing gray within reach: the markers hold it, or are
		 * scanning written pages again.  Wait for their credit,
		 * parked (this thread holds no block the collector needs
		 * but in its frames), a tenth of a millisecond at a time. */
		credit_wait w = {__atomic_load_n(&credit_seq, __ATOMIC_ACQUIRE)};
		debt -= take_credit(debt);
		if (debt > 0) {
			gh_stw_parked(wait_credit, &w);
			debt -= take_credit(debt);
		}
	}
}
