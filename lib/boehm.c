/*
 * boehm.c - the Boehm collector's interface (libgc.so.1) on libgoheap's
 * heap: allocation, control, roots, threads and statistics.  Finalizers
 * and disappearing links, on the collector's specials, are in
 * boehm_final.c; both implement
 * <goheap/gc.h>, and goheap-gc(3) says what each entry point does.
 *
 * The drop-in is a second shared library built from libgoheap's own
 * sources plus these files (Makefile.am), exporting only the GC_* names
 * (libgc.map) under Debian's libgc1 SONAME, libgc.so.1, and installed off
 * the default search path, in $(libdir)/goheap, where goheap-run(1) points
 * the dynamic loader.  One library, one heap: a Boehm program on it has
 * the stats file, the monitor and everything else a libgoheap program
 * has, and the shim calls the collector's internal gh_* functions
 * directly where the public goheap_* interface has no equivalent.
 *
 * How Boehm's model maps onto libgoheap's:
 *
 *   - Objects are goheap blocks: GC_malloc a scanned block, GC_malloc_atomic
 *     an unscanned one, GC_malloc_explicitly_typed a typed one.  Every
 *     interior pointer keeps a block alive, so displacements need no
 *     registration.  As in Boehm's default configuration
 *     (GC_all_interior_pointers), each object gets one byte more than
 *     asked for, so that a pointer just past its end keeps it alive; and no
 *     object is smaller than 16 bytes, so that none comes from the tiny
 *     allocator, whose blocks share memory (GC_base and GC_free must see
 *     each object as a block of its own).
 *   - Uncollectable objects are scanned blocks whose addresses sit in a
 *     table that is itself a registered root range: scanned, never
 *     collected, freed by GC_free, which takes them out of the table.
 *   - GC_disable, GC_dont_gc and the start callback act through one hook
 *     every collection calls before it starts (gh_gc_start_hook, mgc.c).
 *   - Pacing: GOGC follows Boehm's rule, from the free-space divisor and
 *     the live heap's mix of scanned and atomic bytes (see Pacing below),
 *     unless GOHEAP_GOGC is set.
 *   - A failed allocation returns what the out-of-memory function returns
 *     for the size asked (GC_set_oom_fn; NULL by default).
 *
 * Exported variables (GC_all_interior_pointers, GC_no_dls, ...) may be
 * copies in the program (copy relocations): the shim reads them through
 * their symbols every time, never caching them.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "boehm.h"

/* ---- Exported variables ---------------------------------------------------- */

GC_word GC_gc_no;
int GC_parallel;
int GC_find_leak;
int GC_all_interior_pointers = 1;
int GC_dont_gc;
int GC_dont_expand;
int GC_dont_precollect;
int GC_no_dls;
int GC_use_entire_heap;
int GC_full_freq = 19;
GC_word GC_free_space_divisor = 3;
GC_word GC_max_retries;
GC_word GC_non_gc_bytes;
unsigned long GC_time_limit = 50;
char *GC_stackbottom;
void *GC_least_plausible_heap_addr = (void *)~(uintptr_t)0;
void *GC_greatest_plausible_heap_addr;
GC_oom_func GC_oom_fn;

static void default_is_visible_print_proc(void *p)
{
	gh_throw("GC_is_visible(%p): the collector does not see this location", p);
}

static void default_same_obj_print_proc(void *p, void *q)
{
	gh_throw("GC_same_obj(%p, %p): not in the same object", p, q);
}

static void default_is_valid_displacement_print_proc(void *p)
{
	gh_throw("GC_is_valid_displacement(%p): not a pointer into an object", p);
}

void (*GC_is_visible_print_proc)(void *) = default_is_visible_print_proc;
void (*GC_same_obj_print_proc)(void *, void *) = default_same_obj_print_proc;
void (*GC_is_valid_displacement_print_proc)(void *) = default_is_valid_displacement_print_proc;

/* Boehm prints its warnings as printf formats with one word argument. */
static void default_warn_proc(char *msg, GC_word arg)
{
	fprintf(stderr, msg, arg);
}

static GC_warn_proc warn_proc = default_warn_proc;
static GC_start_callback_proc start_callback;

void gh_boehm_warn(const char *msg, GC_word arg)
{
	GC_warn_proc w = __atomic_load_n(&warn_proc, __ATOMIC_ACQUIRE);
	if (w)
		w((char *)msg, arg);
}

/* ---- Start-up ------------------------------------------------------------------- */

/* ---- Pacing ----
 *
 * Boehm's collector collects once the program has allocated its scanning
 * work divided by the free-space divisor D, where pointer-holding bytes
 * count twice and pointer-free bytes a quarter: a heap of strings is
 * collected more often than one of pointers, as collecting it costs less.
 * libgoheap paces by GOGC, a percentage of the live heap; the drop-in sets
 * it, at the start of every collection, to 100 w / D with
 * w = (2 S + A / 4) / (S + A), S and A the bytes of scanned and of
 * pointer-free blocks the last collection found live (gh_mark_noscan_bytes,
 * mgcmark.c): 66 % for a heap of pointers with the default D = 3, 8 % for
 * one of strings.  Until a collection has found 1 MiB live, w is 2.
 * Measured on Debian's w3m (bench/run-boehm.sh): peak memory as with
 * libgc1, where a flat 66 % took a third more.  GOHEAP_GOGC, when set,
 * wins, and so does GC_set_disable_automatic_collection. */
static bool gogc_from_env;    /* GOHEAP_GOGC is set */
static int auto_disabled;     /* GC_set_disable_automatic_collection */
static int pace_weight = 200; /* w x 100 */
static int pace_percent = -2; /* the GOGC set last; -2 none yet */

/* Set GOGC from the weight and D, if it changed.  Caller holds nothing,
 * or gh_gc.lock (the start hook). */
static void apply_pacing(void)
{
	if (gogc_from_env || __atomic_load_n(&auto_disabled, __ATOMIC_RELAXED))
		return;
	GC_word d = __atomic_load_n(&GC_free_space_divisor, __ATOMIC_RELAXED);
	long p = (long)__atomic_load_n(&pace_weight, __ATOMIC_RELAXED) / (long)(d ? d : 1);
	if (p < 1)
		p = 1;
	if (p != __atomic_load_n(&pace_percent, __ATOMIC_RELAXED)) {
		__atomic_store_n(&pace_percent, (int)p, __ATOMIC_RELAXED);
		goheap_set_gc_percent((int)p);
	}
}

/* At the start of a collection (gh_gc.lock held): the mix of what the
 * last one found live. */
static void update_pacing(void)
{
	uint64_t live = __atomic_load_n(&gh_gc.last_live, __ATOMIC_RELAXED);
	uint64_t noscan = gh_mark_noscan_bytes;
	if (noscan > live)
		noscan = live;
	if (live >= (1 << 20))
		__atomic_store_n(&pace_weight, (int)((200 * (live - noscan) + 25 * noscan) / live),
				 __ATOMIC_RELAXED);
	apply_pacing();
}

/* Collections as the start callback and GC_disable see them: called by
 * every collection with gh_gc.lock held. */
static bool start_hook(void)
{
	if (__atomic_load_n(&GC_dont_gc, __ATOMIC_ACQUIRE) != 0)
		return false;
	__atomic_store_n(&GC_gc_no, __atomic_load_n(&gh_gc.numgc, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	gh_boehm_final_sync();
	update_pacing();
	GC_start_callback_proc cb = __atomic_load_n(&start_callback, __ATOMIC_ACQUIRE);
	if (cb)
		cb();
	return true;
}

static pthread_once_t boehm_once = PTHREAD_ONCE_INIT;

static void boehm_init_once(void)
{
	gh_init();
	gh_gc_start_hook = start_hook;
	gh_roots_no_dls = &GC_no_dls;
	GC_parallel = gh_os_ncpu() > 1;
	if (!GC_stackbottom) {
		uintptr_t lo, hi;
		if (gh_os_stack_bounds(&lo, &hi) == 0)
			GC_stackbottom = (char *)hi;
	}
	/* Boehm's collector marks with the world stopped unless asked for
	 * incremental collection: so does the drop-in, unless GOHEAP_GC
	 * says otherwise (guile-3.0's mark procedures freed live objects
	 * when marking ran beside it). */
	const char *gc = getenv("GOHEAP_GC");
	if (!gc || !*gc)
		__atomic_store_n(&gh_gc_stw_only, true, __ATOMIC_RELAXED);
	const char *env = getenv("GOHEAP_GOGC");
	gogc_from_env = env && *env;
	apply_pacing();
	gh_boehm_final_sync();
	gh_boehm_mark_init();
}

/* At load, from the thread that loads the library: normally the main
 * thread, whose stack base becomes GC_stackbottom. */
__attribute__((constructor)) static void boehm_constructor(void)
{
	pthread_once(&boehm_once, boehm_init_once);
}

void GC_init(void)
{
	pthread_once(&boehm_once, boehm_init_once);
	/* Settings a program made in the variables before calling GC_init. */
	apply_pacing();
	gh_boehm_final_sync();
	gh_thread_autoregister();
}

int GC_is_init_called(void)
{
	return 1;
}

void GC_deinit(void)
{
}

unsigned GC_get_version(void)
{
	return GC_VERSION_MAJOR << 16 | GC_VERSION_MINOR << 8 | GC_VERSION_MICRO;
}

/* ---- Allocation ------------------------------------------------------------------ */

/* What goheap allocates for n bytes asked: one more with all interior
 * pointers on, at least 16 (no tiny blocks); SIZE_MAX on overflow, which
 * goheap refuses with ENOMEM. */
static inline size_t padded(size_t n)
{
	size_t extra = __atomic_load_n(&GC_all_interior_pointers, __ATOMIC_RELAXED) != 0;
	if (GH_UNLIKELY(n > SIZE_MAX - 16))
		return SIZE_MAX;
	n += extra;
	return n < GH_TINY_SIZE ? GH_TINY_SIZE : n;
}

void *gh_boehm_oom(size_t n)
{
	GC_oom_func f = __atomic_load_n(&GC_oom_fn, __ATOMIC_ACQUIRE);
	errno = ENOMEM;
	return f ? f(n) : NULL;
}

/* Keep GC_least/greatest_plausible_heap_addr around every object handed
 * out: two compares, and the heap's bounds read when one fails. */
static __attribute__((noinline)) void widen_bounds(void)
{
	void *lo = (void *)__atomic_load_n(&gh_heap.arena_lo, __ATOMIC_RELAXED);
	void *hi = (void *)__atomic_load_n(&gh_heap.arena_hi, __ATOMIC_RELAXED);
	if ((uintptr_t)lo < (uintptr_t)GC_least_plausible_heap_addr)
		GC_least_plausible_heap_addr = lo;
	if ((uintptr_t)hi > (uintptr_t)GC_greatest_plausible_heap_addr)
		GC_greatest_plausible_heap_addr = hi;
}

static inline void *handed_out(void *p, size_t n)
{
	if (GH_UNLIKELY(!p))
		return gh_boehm_oom(n);
	if (GH_UNLIKELY((uintptr_t)p < (uintptr_t)GC_least_plausible_heap_addr ||
			(uintptr_t)p >= (uintptr_t)GC_greatest_plausible_heap_addr))
		widen_bounds();
	return p;
}

void *GC_malloc(size_t n)
{
	return handed_out(goheap_malloc(padded(n)), n);
}

void *GC_malloc_atomic(size_t n)
{
	return handed_out(goheap_malloc_atomic(padded(n)), n);
}

void *GC_malloc_ignore_off_page(size_t n)
{
	return GC_malloc(n);
}

void *GC_malloc_atomic_ignore_off_page(size_t n)
{
	return GC_malloc_atomic(n);
}

void *GC_malloc_stubborn(size_t n)
{
	return GC_malloc(n);
}

/* ---- Uncollectable objects ----
 *
 * An open-addressing set of their addresses, in memory of its own that is
 * a registered root range: the collector scans it conservatively, which
 * marks every object in it, and scans each (but atomic ones) like any
 * block.  Empty slots hold 0, deleted ones 1; neither points into the
 * heap.  Growing registers the new table before it unregisters the old,
 * so that no collection sees neither. */
static gh_mutex unc_lock = GH_MUTEX_INITIALIZER(GH_RANK_DROPIN);
static uintptr_t *unc_table;
static size_t unc_cap, unc_used, unc_live;

static size_t unc_hash(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15u >> 20);
}

static uintptr_t *unc_find(uintptr_t p)
{
	if (!unc_cap)
		return NULL;
	for (size_t i = unc_hash(p) & (unc_cap - 1);; i = (i + 1) & (unc_cap - 1)) {
		if (unc_table[i] == p)
			return &unc_table[i];
		if (unc_table[i] == 0)
			return NULL;
	}
}

static int unc_grow(void)
{
	size_t cap = unc_live * 2 >= unc_cap ? (unc_cap ? unc_cap * 2 : 512) : unc_cap;
	uintptr_t *t = gh_sys_alloc(cap * sizeof *t, &gh_heap.stats.other_sys);
	if (!t)
		return -1;
	for (size_t i = 0; i < unc_cap; i++) {
		uintptr_t p = unc_table[i];
		if (p <= 1)
			continue;
		size_t j = unc_hash(p) & (cap - 1);
		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = p;
	}
	if (goheap_add_roots(t, t + cap) != 0) {
		gh_sys_free(t, cap * sizeof *t, &gh_heap.stats.other_sys);
		return -1;
	}
	if (unc_table) {
		goheap_remove_roots(unc_table, unc_table + unc_cap);
		gh_sys_free(unc_table, unc_cap * sizeof *t, &gh_heap.stats.other_sys);
	}
	unc_table = t;
	unc_cap = cap;
	unc_used = unc_live;
	return 0;
}

static int unc_add(void *obj)
{
	uintptr_t p = (uintptr_t)obj;
	gh_lock(&unc_lock);
	if ((unc_used + 1) * 4 > unc_cap * 3 && unc_grow() != 0) {
		gh_unlock(&unc_lock);
		return -1;
	}
	size_t i = unc_hash(p) & (unc_cap - 1);
	while (unc_table[i] > 1)
		i = (i + 1) & (unc_cap - 1);
	if (unc_table[i] == 0)
		unc_used++;
	__atomic_store_n(&unc_table[i], p, __ATOMIC_RELAXED);
	__atomic_store_n(&unc_live, unc_live + 1, __ATOMIC_RELAXED);
	gh_unlock(&unc_lock);
	return 0;
}

/* Take obj out of the set; whether it was in it.  One load when there are
 * no uncollectable objects. */
static bool unc_remove(void *obj)
{
	if (__atomic_load_n(&unc_live, __ATOMIC_RELAXED) == 0)
		return false;
	gh_lock(&unc_lock);
	uintptr_t *slot = unc_find((uintptr_t)obj);
	if (slot) {
		__atomic_store_n(slot, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&unc_live, unc_live - 1, __ATOMIC_RELAXED);
	}
	gh_unlock(&unc_lock);
	return slot != NULL;
}

static bool unc_contains(const void *obj)
{
	if (__atomic_load_n(&unc_live, __ATOMIC_RELAXED) == 0)
		return false;
	gh_lock(&unc_lock);
	bool in = unc_find((uintptr_t)obj) != NULL;
	gh_unlock(&unc_lock);
	return in;
}

static void *uncollectable(size_t n, bool atomic)
{
	void *p = atomic ? goheap_malloc_atomic(padded(n)) : goheap_malloc(padded(n));
	if (p && unc_add(p) != 0) {
		goheap_free(p);
		p = NULL;
	}
	if (p)
		__atomic_fetch_add(&GC_non_gc_bytes, goheap_usable_size(p), __ATOMIC_RELAXED);
	return handed_out(p, n);
}

void *GC_malloc_uncollectable(size_t n)
{
	return uncollectable(n, false);
}

void *GC_malloc_atomic_uncollectable(size_t n)
{
	return uncollectable(n, true);
}

size_t gh_boehm_uncollectable_count(void)
{
	return __atomic_load_n(&unc_live, __ATOMIC_RELAXED);
}

/* ---- Free, realloc, lookups ------------------------------------------------------ */

void GC_free(void *p)
{
	if (!p)
		return;
	if (GH_UNLIKELY(unc_remove(p)))
		__atomic_fetch_sub(&GC_non_gc_bytes, goheap_usable_size(p), __ATOMIC_RELAXED);
	goheap_free(p);
}

static bool is_atomic(const void *p)
{
	gh_span *s = gh_span_of((uintptr_t)p);
	return s && GH_SPANCLASS_KIND(s->spanclass) != GH_KIND_SCAN &&
	       GH_SPANCLASS_KIND(s->spanclass) != GH_KIND_TYPED;
}

void *GC_realloc(void *p, size_t n)
{
	if (!p)
		return GC_malloc(n);
	if (n == 0) {
		GC_free(p);
		return NULL;
	}
	if (GH_UNLIKELY(unc_contains(p))) {
		/* The new object is uncollectable too. */
		size_t old = goheap_usable_size(p);
		void *q = uncollectable(n, is_atomic(p));
		if (q) {
			memcpy(q, p, old < n ? old : n);
			GC_free(p);
		}
		return q;
	}
	void *q = goheap_realloc(p, padded(n));
	if (!q)
		return gh_boehm_oom(n);
	if (q == p && !is_atomic(q)) {
		/* Kept in place, maybe shrunk: the bytes past the new size
		 * must not hold stale pointers, nor show through if it grows
		 * again. */
		size_t have = goheap_usable_size(q);
		if (have > n)
			memset((char *)q + n, 0, have - n);
	}
	return handed_out(q, n);
}

char *GC_strdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *p = GC_malloc_atomic(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *GC_strndup(const char *s, size_t max)
{
	if (!s)
		return NULL;
	size_t n = strnlen(s, max);
	char *p = GC_malloc_atomic(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

void *GC_malloc_many(size_t n)
{
	/* About 8 KiB of objects, at most 64: a thread-local free list's
	 * refill, as Boehm hands out a block's worth. */
	size_t each = padded(n < sizeof(void *) ? sizeof(void *) : n);
	size_t count = each >= 8192 ? 1 : 8192 / each;
	if (count > 64)
		count = 64;
	void *head = NULL;
	for (size_t i = 0; i < count; i++) {
		void *p = goheap_malloc(each);
		if (!p)
			break;
		*(void **)p = head;
		head = p;
	}
	return head ? handed_out(head, n) : gh_boehm_oom(n);
}

void *GC_memalign(size_t align, size_t n)
{
	if (align <= 16)
		return GC_malloc(n);
	if (align & (align - 1)) {
		errno = EINVAL;
		return NULL;
	}
	if (align <= GH_PAGE_SIZE) {
		/* A block whose class size is a multiple of align is aligned
		 * to it: spans start on a page, blocks at multiples of their
		 * size.  Large blocks start on a page. */
		size_t m = padded(n);
		if (m < align)
			m = align;
		while (m <= GH_MAX_SMALL && gh_class_size[gh_size_class(m)] % align != 0)
			m = (gh_class_size[gh_size_class(m)] + align) & ~(align - 1);
		return handed_out(goheap_malloc(m), n);
	}
	/* Beyond a page: an aligned pointer inside a larger object, which
	 * keeps it alive (and, as with Boehm, cannot be given to GC_free). */
	if (n > SIZE_MAX - align)
		return gh_boehm_oom(n);
	char *p = GC_malloc(n + align);
	if (!p)
		return NULL;
	return (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

int GC_posix_memalign(void **out, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = GC_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *GC_base(void *p)
{
	return goheap_base(p);
}

int GC_is_heap_ptr(const void *p)
{
	return gh_span_of((uintptr_t)p) != NULL;
}

size_t GC_size(const void *p)
{
	void *b = goheap_base(p);
	return b ? goheap_usable_size(b) : 0;
}

void GC_register_displacement(size_t offset)
{
	(void)offset; /* every interior pointer counts */
}

void GC_debug_register_displacement(size_t offset)
{
	(void)offset;
}

/* Keeps w live to the compiler: nothing else. */
void GC_noop1(GC_word w)
{
	__asm__ volatile("" ::"r"(w) : "memory");
}

void GC_change_stubborn(const void *p)
{
	(void)p;
}

void GC_end_stubborn_change(const void *p)
{
	(void)p;
}

void GC_ptr_store_and_dirty(void *p, const void *q)
{
	*(const void **)p = q;
}

/* ---- GC_is_visible and the pointer checks ---- */

typedef struct visible_ctx {
	uintptr_t p;
	bool found;
} visible_ctx;

static void in_root(int registered, const char *name, uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)registered;
	(void)name;
	visible_ctx *c = arg;
	if (c->p >= lo && c->p < hi)
		c->found = true;
}

/* Whether the collector scans the word at p. */
static bool scanned_location(uintptr_t p)
{
	gh_span *s = gh_span_of(p);
	if (s) {
		uintptr_t base = (uintptr_t)goheap_base((void *)p);
		if (!base)
			return false;
		switch (GH_SPANCLASS_KIND(s->spanclass)) {
		case GH_KIND_SCAN:
			return true;
		case GH_KIND_TYPED: {
			const goheap_type *t = gh_span_type(s, base);
			if (!t)
				return false;
			size_t w = (p - base) % t->size / 8;
			return t->bits[w >> 6] >> (w & 63) & 1;
		}
		default:
			return false;
		}
	}
	visible_ctx c = {p, false};
	gh_threads_lock();
	for (gh_thread *t = gh_threads_first(); t && !c.found; t = t->next)
		c.found = p >= t->stack_lo && p < t->stack_hi;
	gh_threads_unlock();
	if (c.found)
		return true;
	gh_roots_lock();
	gh_roots_foreach(in_root, &c);
	gh_roots_unlock();
	return c.found;
}

void *GC_is_visible(void *p)
{
	if (!scanned_location((uintptr_t)p))
		GC_is_visible_print_proc(p);
	return p;
}

void *GC_same_obj(void *p, void *q)
{
	void *b = goheap_base(p);
	if (b ? b != goheap_base(q) : gh_span_of((uintptr_t)q) != NULL)
		GC_same_obj_print_proc(p, q);
	return p;
}

void *GC_is_valid_displacement(void *p)
{
	if (gh_span_of((uintptr_t)p) && !goheap_base(p))
		GC_is_valid_displacement_print_proc(p);
	return p;
}

/* ---- Debugging versions: no debugging header (GOHEAP_DEBUG has modes of
 * its own); the caller's file and line are ignored. ---- */

void *GC_debug_malloc(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc(n);
}

void *GC_debug_malloc_atomic(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc_atomic(n);
}

void *GC_debug_malloc_uncollectable(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc_uncollectable(n);
}

void *GC_debug_malloc_atomic_uncollectable(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc_atomic_uncollectable(n);
}

void *GC_debug_malloc_ignore_off_page(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc(n);
}

void *GC_debug_malloc_atomic_ignore_off_page(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc_atomic(n);
}

void *GC_debug_malloc_stubborn(size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_malloc(n);
}

void *GC_debug_malloc_replacement(size_t n)
{
	return GC_malloc(n);
}

void *GC_debug_realloc(void *p, size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_realloc(p, n);
}

void *GC_debug_realloc_replacement(void *p, size_t n)
{
	return GC_realloc(p, n);
}

char *GC_debug_strdup(const char *str, const char *s, int i)
{
	(void)s, (void)i;
	return GC_strdup(str);
}

char *GC_debug_strndup(const char *str, size_t n, const char *s, int i)
{
	(void)s, (void)i;
	return GC_strndup(str, n);
}

void GC_debug_free(void *p)
{
	GC_free(p);
}

void GC_debug_change_stubborn(const void *p)
{
	(void)p;
}

void GC_debug_end_stubborn_change(const void *p)
{
	(void)p;
}

void GC_debug_ptr_store_and_dirty(void *p, const void *q)
{
	*(const void **)p = q;
}

/* ---- Precisely typed objects ----
 *
 * A descriptor is a goheap_type's address, or one of two odd values for
 * the layouts that need none: no pointer (atomic) and all pointers
 * (conservative, GC_malloc).  Types live for ever, so equal bitmaps share
 * one (a small cache), whatever the number of GC_make_descriptor calls. */
enum { DESCR_ATOMIC = 1, DESCR_CONSERVATIVE = 3 };

typedef struct descr_entry {
	struct descr_entry *next;
	size_t len;
	goheap_type *type;
	GC_word bits[];
} descr_entry;

static gh_mutex descr_lock = GH_MUTEX_INITIALIZER(GH_RANK_DROPIN);
static descr_entry *descr_cache[64];

GC_descr GC_make_descriptor(const GC_word *bm, size_t len)
{
	size_t nw = (len + 63) / 64, npt = 0, last = 0;
	for (size_t i = 0; i < len; i++)
		if (bm[i / 64] >> (i % 64) & 1) {
			npt++;
			last = i;
		}
	if (npt == 0)
		return DESCR_ATOMIC;
	if (npt == len)
		return DESCR_CONSERVATIVE;
	(void)last;
	size_t h = len;
	for (size_t i = 0; i < nw; i++) {
		GC_word w = bm[i];
		if (i == nw - 1 && len % 64)
			w &= ((GC_word)1 << (len % 64)) - 1;
		h = h * 31 + w;
	}
	h %= 64;
	gh_lock(&descr_lock);
	for (descr_entry *e = descr_cache[h]; e; e = e->next) {
		if (e->len != len)
			continue;
		bool same = true;
		for (size_t i = 0; i < len && same; i++)
			same = (e->bits[i / 64] >> (i % 64) & 1) == (bm[i / 64] >> (i % 64) & 1);
		if (same) {
			gh_unlock(&descr_lock);
			return (GC_descr)(uintptr_t)e->type;
		}
	}
	GC_descr d = DESCR_CONSERVATIVE;
	size_t *offs = malloc(npt * sizeof *offs);
	descr_entry *e = malloc(sizeof *e + nw * sizeof(GC_word));
	if (offs && e) {
		size_t k = 0;
		for (size_t i = 0; i < len; i++)
			if (bm[i / 64] >> (i % 64) & 1)
				offs[k++] = i * sizeof(GC_word);
		goheap_type *t = goheap_type_new(len * sizeof(GC_word), offs, npt);
		if (t) {
			e->len = len;
			e->type = t;
			memcpy(e->bits, bm, nw * sizeof(GC_word));
			e->next = descr_cache[h];
			descr_cache[h] = e;
			e = NULL;
			d = (GC_descr)(uintptr_t)t;
		}
	}
	free(e);
	free(offs);
	gh_unlock(&descr_lock);
	return d;
}

void *GC_malloc_explicitly_typed(size_t n, GC_descr d)
{
	if (d == DESCR_ATOMIC)
		return GC_malloc_atomic(n);
	if (d == DESCR_CONSERVATIVE)
		return GC_malloc(n);
	const goheap_type *t = (const goheap_type *)(uintptr_t)d;
	size_t m = (n + 7) & ~(size_t)7;
	/* The layout repeats over the object; an object that is not a whole
	 * number of layouts is scanned conservatively instead. */
	if (m == 0 || m % t->size != 0)
		return GC_malloc(n);
	return handed_out(goheap_malloc_typed(m, t), n);
}

void *GC_malloc_explicitly_typed_ignore_off_page(size_t n, GC_descr d)
{
	return GC_malloc_explicitly_typed(n, d);
}

void *GC_calloc_explicitly_typed(size_t count, size_t each, GC_descr d)
{
	size_t n;
	if (__builtin_mul_overflow(count, each, &n))
		return gh_boehm_oom(SIZE_MAX);
	if (d == DESCR_ATOMIC) {
		void *p = GC_malloc_atomic(n);
		if (p)
			memset(p, 0, n);
		return p;
	}
	if (d == DESCR_CONSERVATIVE || each % 8 != 0 ||
	    ((const goheap_type *)(uintptr_t)d)->size != each)
		return GC_malloc(n);
	return GC_malloc_explicitly_typed(n, d);
}

/* ---- Collection ---------------------------------------------------------------------- */

void GC_gcollect(void)
{
	goheap_gc();
	__atomic_store_n(&GC_gc_no, __atomic_load_n(&gh_gc.numgc, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	gh_boehm_after_collect();
}

void GC_gcollect_and_unmap(void)
{
	if (__atomic_load_n(&GC_dont_gc, __ATOMIC_ACQUIRE) != 0)
		return;
	goheap_free_os_memory();
	__atomic_store_n(&GC_gc_no, __atomic_load_n(&gh_gc.numgc, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	gh_boehm_after_collect();
}

int GC_try_to_collect(GC_stop_func stop)
{
	(void)stop; /* a collection is not abandoned half-way */
	if (__atomic_load_n(&GC_dont_gc, __ATOMIC_ACQUIRE) != 0)
		return 0;
	GC_gcollect();
	return 1;
}

void GC_disable(void)
{
	__atomic_add_fetch(&GC_dont_gc, 1, __ATOMIC_ACQ_REL);
}

void GC_enable(void)
{
	int old = __atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED);
	while (old > 0 && !__atomic_compare_exchange_n(&GC_dont_gc, &old, old - 1, true,
						       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
	if (old <= 0)
		gh_boehm_warn("GC Warning: GC_enable without GC_disable\n", 0);
}

int GC_is_disabled(void)
{
	return __atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) != 0;
}

/* Automatic collection only: explicit ones still run. */
void GC_set_disable_automatic_collection(int off)
{
	if (off && !__atomic_exchange_n(&auto_disabled, 1, __ATOMIC_RELAXED)) {
		goheap_set_gc_percent(-1);
	} else if (!off && __atomic_exchange_n(&auto_disabled, 0, __ATOMIC_RELAXED)) {
		if (gogc_from_env) {
			goheap_set_gc_percent((int)gh_option(GH_OPT_GOGC));
		} else {
			__atomic_store_n(&pace_percent, -2, __ATOMIC_RELAXED);
			apply_pacing();
		}
	}
}

int GC_get_disable_automatic_collection(void)
{
	return auto_disabled;
}

int GC_collect_a_little(void)
{
	gh_init();
	if (!GC_dont_gc)
		gh_gc_maybe();
	gh_sweep_some(8);
	return 0;
}

void GC_enable_incremental(void)
{
	/* Boehm's incremental mode asks for marking beside the program:
	 * libgoheap's mostly-concurrent marking, where the system has write
	 * tracking. */
	pthread_once(&boehm_once, boehm_init_once);
	__atomic_store_n(&gh_gc_stw_only, false, __ATOMIC_RELAXED);
}

int GC_is_incremental_mode(void)
{
	return gh_gc_mode() != GH_WT_NONE;
}

void GC_start_incremental_collection(void)
{
}

int GC_expand_hp(size_t bytes)
{
	gh_init();
	if (bytes == 0)
		return 1;
	/* Map the memory now, as a free span of the page heap: later
	 * allocations find it there. */
	void *p = goheap_malloc_atomic(bytes);
	if (!p)
		return 0;
	goheap_free(p);
	return 1;
}

void GC_set_max_heap_size(GC_word bytes)
{
	goheap_set_memory_limit(bytes == 0 || bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes);
}

void GC_set_free_space_divisor(GC_word d)
{
	if (d == 0)
		return;
	__atomic_store_n(&GC_free_space_divisor, d, __ATOMIC_RELAXED);
	apply_pacing();
}

GC_word GC_get_free_space_divisor(void)
{
	return GC_free_space_divisor;
}

void GC_set_dont_expand(int v)
{
	GC_dont_expand = v;
}

int GC_get_dont_expand(void)
{
	return GC_dont_expand;
}

void GC_set_time_limit(unsigned long ms)
{
	GC_time_limit = ms;
}

unsigned long GC_get_time_limit(void)
{
	return GC_time_limit;
}

void GC_set_handle_fork(int v)
{
	(void)v; /* fork is always handled (pthread_atfork) */
}

void GC_set_all_interior_pointers(int v)
{
	__atomic_store_n(&GC_all_interior_pointers, v != 0, __ATOMIC_RELAXED);
}

int GC_get_all_interior_pointers(void)
{
	return GC_all_interior_pointers;
}

void GC_set_no_dls(int v)
{
	__atomic_store_n(&GC_no_dls, v, __ATOMIC_RELAXED);
}

int GC_get_no_dls(void)
{
	return GC_no_dls;
}

void GC_set_find_leak(int v)
{
	GC_find_leak = v;
}

int GC_get_find_leak(void)
{
	return GC_find_leak;
}

void GC_set_dont_precollect(int v)
{
	GC_dont_precollect = v;
}

int GC_get_dont_precollect(void)
{
	return GC_dont_precollect;
}

void GC_set_full_freq(int v)
{
	GC_full_freq = v;
}

int GC_get_full_freq(void)
{
	return GC_full_freq;
}

void GC_set_max_retries(GC_word v)
{
	GC_max_retries = v;
}

GC_word GC_get_max_retries(void)
{
	return GC_max_retries;
}

void GC_set_non_gc_bytes(GC_word v)
{
	GC_non_gc_bytes = v;
}

GC_word GC_get_non_gc_bytes(void)
{
	return GC_non_gc_bytes;
}

void GC_set_markers_count(unsigned n)
{
	(void)n; /* GOHEAP_GCPROCS */
}

int GC_get_parallel(void)
{
	return GC_parallel;
}

static int pages_executable, force_unmap;

void GC_set_pages_executable(int v)
{
	pages_executable = v; /* heap pages are never executable */
}

int GC_get_pages_executable(void)
{
	return 0;
}

void GC_set_force_unmap_on_gcollect(int v)
{
	force_unmap = v;
}

int GC_get_force_unmap_on_gcollect(void)
{
	return force_unmap;
}

void GC_set_start_callback(GC_start_callback_proc cb)
{
	__atomic_store_n(&start_callback, cb, __ATOMIC_RELEASE);
}

GC_start_callback_proc GC_get_start_callback(void)
{
	return __atomic_load_n(&start_callback, __ATOMIC_ACQUIRE);
}

void GC_set_oom_fn(GC_oom_func f)
{
	__atomic_store_n(&GC_oom_fn, f, __ATOMIC_RELEASE);
}

GC_oom_func GC_get_oom_fn(void)
{
	return __atomic_load_n(&GC_oom_fn, __ATOMIC_ACQUIRE);
}

void GC_set_warn_proc(GC_warn_proc p)
{
	__atomic_store_n(&warn_proc, p, __ATOMIC_RELEASE);
}

GC_warn_proc GC_get_warn_proc(void)
{
	return __atomic_load_n(&warn_proc, __ATOMIC_ACQUIRE);
}

void GC_ignore_warn_proc(char *msg, GC_word arg)
{
	(void)msg, (void)arg;
}

/* No collection starts while gh_gc.lock is held: every one takes it
 * first. */
void *GC_call_with_alloc_lock(GC_fn_type fn, void *cd)
{
	gh_init();
	gh_lock(&gh_gc.lock);
	void *r = fn(cd);
	gh_unlock(&gh_gc.lock);
	return r;
}

/* ---- Roots ------------------------------------------------------------------------- */

/* The ranges given to GC_add_roots, so that GC_remove_roots can find the
 * ones inside its range and GC_clear_roots all of them. */
static gh_mutex roots_lock = GH_MUTEX_INITIALIZER(GH_RANK_DROPIN);
static struct root {
	void *lo, *hi;
} *roots;
static size_t nroots, caproots;

void GC_add_roots(void *lo, void *hi)
{
	gh_init();
	if ((uintptr_t)lo >= (uintptr_t)hi)
		return;
	gh_lock(&roots_lock);
	if (nroots == caproots) {
		size_t cap = caproots ? caproots * 2 : 32;
		struct root *r = realloc(roots, cap * sizeof *r);
		if (!r) {
			gh_unlock(&roots_lock);
			gh_boehm_warn("GC Warning: no memory to add a root range (%p)\n",
				      (GC_word)lo);
			return;
		}
		roots = r;
		caproots = cap;
	}
	if (goheap_add_roots(lo, hi) == 0) {
		roots[nroots].lo = lo;
		roots[nroots].hi = hi;
		nroots++;
	} else {
		gh_boehm_warn("GC Warning: no memory to add a root range (%p)\n", (GC_word)lo);
	}
	gh_unlock(&roots_lock);
}

void GC_remove_roots(void *lo, void *hi)
{
	gh_lock(&roots_lock);
	for (size_t i = 0; i < nroots;) {
		struct root *r = &roots[i];
		if ((uintptr_t)r->lo >= (uintptr_t)lo && (uintptr_t)r->hi <= (uintptr_t)hi) {
			goheap_remove_roots(r->lo, r->hi);
			*r = roots[--nroots];
		} else {
			i++;
		}
	}
	gh_unlock(&roots_lock);
}

void GC_clear_roots(void)
{
	gh_lock(&roots_lock);
	while (nroots > 0) {
		nroots--;
		goheap_remove_roots(roots[nroots].lo, roots[nroots].hi);
	}
	gh_unlock(&roots_lock);
}

void GC_exclude_static_roots(void *lo, void *hi)
{
	(void)lo, (void)hi; /* scanned anyway: safe, if slower */
}

void *GC_dlopen(const char *path, int mode)
{
	/* Collections scan loaded objects with the loader's lock held
	 * (gh_os_with_loader_locked): one never sees a half-loaded
	 * library. */
	return dlopen(path, mode);
}

/* ---- Threads ----------------------------------------------------------------------- */

int GC_get_stack_base(struct GC_stack_base *sb)
{
	uintptr_t lo, hi;
	if (gh_os_stack_bounds(&lo, &hi) != 0)
		return GC_UNIMPLEMENTED;
	sb->mem_base = (void *)hi;
	return GC_SUCCESS;
}

void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg)
{
	struct GC_stack_base sb = {NULL};
	GC_get_stack_base(&sb);
	return fn(&sb, arg);
}

void GC_allow_register_threads(void)
{
	gh_init();
}

/* The stack base given is not used: libgoheap finds the calling thread's
 * stack bounds itself. */
int GC_register_my_thread(const struct GC_stack_base *sb)
{
	(void)sb;
	gh_init();
	gh_thread *t = gh_self_thread;
	if (t && t->nreg > 0)
		return GC_DUPLICATE;
	return goheap_register_thread() == 0 ? GC_SUCCESS : GC_NO_MEMORY;
}

int GC_unregister_my_thread(void)
{
	gh_thread *t = gh_self_thread;
	if (!t)
		return GC_SUCCESS;
	if (t->nreg > 0)
		goheap_unregister_thread();
	return GC_SUCCESS;
}

int GC_thread_is_registered(void)
{
	return gh_self_thread != NULL;
}

/* Threads are stopped by a signal wherever they are, blocked in a system
 * call included: nothing to change around fn. */
void *GC_do_blocking(GC_fn_type fn, void *cd)
{
	return fn(cd);
}

void *GC_call_with_gc_active(GC_fn_type fn, void *cd)
{
	return fn(cd);
}

int GC_get_suspend_signal(void)
{
	gh_init();
	int sig = gh_stw_signal();
	return sig > 0 ? sig : -1;
}

/* Threads are restarted without a signal; the stop signal stands in, so
 * that a program that keeps the restart signal unblocked keeps it. */
int GC_get_thr_restart_signal(void)
{
	return GC_get_suspend_signal();
}

void GC_set_suspend_signal(int sig)
{
	(void)sig; /* GOHEAP_SIGNAL, read at start-up */
}

void GC_set_thr_restart_signal(int sig)
{
	(void)sig;
}

void GC_start_mark_threads(void)
{
}

/* Threads made by GC_pthread_create keep what they return alive until
 * they are joined, as Boehm's do: the value sits in a record of the
 * thread, an uncollectable object (scanned), from the thread's end to
 * GC_pthread_join, or to its end if it is detached.  The records are
 * listed (under threads_lock) so that join and detach find them. */
typedef struct thread_rec thread_rec;
struct thread_rec {
	void *(*start)(void *);
	void *arg;
	void *result;
	pthread_t id;
	bool detached, done;
	thread_rec *next;
};

static gh_mutex threads_lock = GH_MUTEX_INITIALIZER(GH_RANK_DROPIN);
static thread_rec *threads;
static __thread thread_rec *self_rec;

/* Take r off the list; caller holds threads_lock. */
static void unlink_rec(thread_rec *r)
{
	for (thread_rec **pp = &threads; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static thread_rec *find_rec(pthread_t t)
{
	for (thread_rec *r = threads; r; r = r->next)
		if (pthread_equal(r->id, t))
			return r;
	return NULL;
}

/* The thread is ending with result: keep it, or drop the record of a
 * detached thread. */
static void thread_done(thread_rec *r, void *result)
{
	gh_lock(&threads_lock);
	r->result = result;
	r->done = true;
	bool drop = r->detached;
	if (drop)
		unlink_rec(r);
	gh_unlock(&threads_lock);
	self_rec = NULL;
	if (drop)
		GC_free(r);
}

static void *thread_main(void *v)
{
	thread_rec *r = v;
	self_rec = r;
	void *result = r->start(r->arg);
	thread_done(r, result);
	return result;
}

int GC_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*start)(void *),
		      void *arg)
{
	thread_rec *r = GC_malloc_uncollectable(sizeof *r);
	if (!r)
		return EAGAIN;
	int state = PTHREAD_CREATE_JOINABLE;
	if (attr)
		pthread_attr_getdetachstate(attr, &state);
	r->start = start;
	r->arg = arg;
	r->detached = state == PTHREAD_CREATE_DETACHED;
	/* Listed before it runs, with its id set before anyone can look
	 * for it: the lock is held across the creation. */
	gh_lock(&threads_lock);
	int rc = goheap_pthread_create(&r->id, attr, thread_main, r);
	if (rc == 0) {
		*t = r->id;
		r->next = threads;
		threads = r;
	}
	gh_unlock(&threads_lock);
	if (rc != 0)
		GC_free(r);
	return rc;
}

int GC_pthread_join(pthread_t t, void **ret)
{
	int rc = pthread_join(t, ret);
	if (rc == 0) {
		gh_lock(&threads_lock);
		thread_rec *r = find_rec(t);
		if (r)
			unlink_rec(r);
		gh_unlock(&threads_lock);
		if (r)
			GC_free(r);
	}
	return rc;
}

int GC_pthread_detach(pthread_t t)
{
	int rc = pthread_detach(t);
	if (rc == 0) {
		gh_lock(&threads_lock);
		thread_rec *r = find_rec(t);
		bool drop = r && r->done;
		if (r)
			r->detached = true;
		if (drop)
			unlink_rec(r);
		gh_unlock(&threads_lock);
		if (drop)
			GC_free(r);
	}
	return rc;
}

int GC_pthread_cancel(pthread_t t)
{
	return pthread_cancel(t);
}

void GC_pthread_exit(void *ret)
{
	thread_rec *r = self_rec;
	if (r)
		thread_done(r, ret);
	pthread_exit(ret);
}

/* A thread must never block the stop signal. */
int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset)
{
	int sig = gh_stw_signal();
	if (set && sig > 0 && how != SIG_UNBLOCK && sigismember(set, sig) == 1) {
		sigset_t s = *set;
		sigdelset(&s, sig);
		return pthread_sigmask(how, &s, oset);
	}
	return pthread_sigmask(how, set, oset);
}

/* ---- Statistics -------------------------------------------------------------------- */

typedef struct usage {
	GC_word heap, free, unmapped, since_gc, total;
} usage;

static void read_usage(usage *u)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	u->heap = m.heap_sys - m.heap_released;
	u->free = u->heap > m.heap_alloc ? u->heap - m.heap_alloc : 0;
	u->unmapped = m.heap_released;
	u->total = m.total_alloc;
	int64_t since = (int64_t)__atomic_load_n(&gh_gc.heap_live, __ATOMIC_RELAXED) -
			(int64_t)__atomic_load_n(&gh_gc.last_live, __ATOMIC_RELAXED);
	u->since_gc = since > 0 ? (GC_word)since : 0;
	__atomic_store_n(&GC_gc_no, m.numgc, __ATOMIC_RELAXED);
}

size_t GC_get_heap_size(void)
{
	usage u;
	read_usage(&u);
	return u.heap;
}

size_t GC_get_free_bytes(void)
{
	usage u;
	read_usage(&u);
	return u.free;
}

size_t GC_get_unmapped_bytes(void)
{
	usage u;
	read_usage(&u);
	return u.unmapped;
}

size_t GC_get_bytes_since_gc(void)
{
	usage u;
	read_usage(&u);
	return u.since_gc;
}

size_t GC_get_expl_freed_bytes_since_gc(void)
{
	return 0; /* not counted */
}

size_t GC_get_total_bytes(void)
{
	usage u;
	read_usage(&u);
	return u.total;
}

size_t GC_get_memory_use(void)
{
	usage u;
	read_usage(&u);
	return u.heap - u.free;
}

size_t GC_get_obtained_from_os_bytes(void)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	return m.sys;
}

GC_word GC_get_gc_no(void)
{
	GC_word n = __atomic_load_n(&gh_gc.numgc, __ATOMIC_RELAXED);
	__atomic_store_n(&GC_gc_no, n, __ATOMIC_RELAXED);
	return n;
}

void GC_get_heap_usage_safe(GC_word *heap, GC_word *free_bytes, GC_word *unmapped,
			    GC_word *since_gc, GC_word *total)
{
	usage u;
	read_usage(&u);
	if (heap)
		*heap = u.heap;
	if (free_bytes)
		*free_bytes = u.free;
	if (unmapped)
		*unmapped = u.unmapped;
	if (since_gc)
		*since_gc = u.since_gc;
	if (total)
		*total = u.total;
}

static void dump_root(int registered, const char *name, uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	printf("  %#lx-%#lx %8lu bytes  %s\n", (unsigned long)lo, (unsigned long)hi,
	       (unsigned long)(hi - lo),
	       registered ? "(registered)" : (name && *name ? name : "(program)"));
}

void GC_dump(void)
{
	goheap_memstats m;
	goheap_read_memstats(&m);
	printf("***libgoheap heap (GC_dump)\n");
	printf("heap: %llu bytes mapped, %llu in use spans, %llu in live objects, "
	       "%llu returned to the OS\n",
	       (unsigned long long)m.heap_sys, (unsigned long long)m.heap_inuse,
	       (unsigned long long)m.heap_alloc, (unsigned long long)m.heap_released);
	printf("objects: %llu live; %llu allocated, %llu freed since start; "
	       "%llu bytes allocated since start\n",
	       (unsigned long long)m.heap_objects, (unsigned long long)m.nmalloc,
	       (unsigned long long)m.nfree, (unsigned long long)m.total_alloc);
	printf("uncollectable: %zu objects, %lu bytes\n", gh_boehm_uncollectable_count(),
	       (unsigned long)GC_non_gc_bytes);
	printf("collections: %u, next at %llu bytes, GOGC %d%s, pauses %llu ns in all\n",
	       m.numgc, (unsigned long long)m.next_gc,
	       m.gc_percent == UINT32_MAX ? -1 : (int)m.gc_percent,
	       GC_dont_gc ? " (disabled)" : "", (unsigned long long)m.pause_total_ns);
	printf("memory from the OS: %llu bytes (%llu heap, %llu metadata)\n",
	       (unsigned long long)m.sys, (unsigned long long)m.heap_sys,
	       (unsigned long long)(m.sys - m.heap_sys));
	printf("size classes (bytes: live objects):\n");
	int col = 0;
	for (int c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
		uint64_t live = m.by_size[c].nmalloc - m.by_size[c].nfree;
		if (!live)
			continue;
		printf("%s%6u: %-9llu", col == 0 ? "  " : "  ", m.by_size[c].size,
		       (unsigned long long)live);
		if (++col == 4) {
			printf("\n");
			col = 0;
		}
	}
	if (col)
		printf("\n");
	printf("  large: %llu\n",
	       (unsigned long long)(m.by_size[0].nmalloc - m.by_size[0].nfree));
	printf("static roots:\n");
	gh_roots_lock();
	gh_roots_foreach(dump_root, NULL);
	gh_roots_unlock();
	printf("threads:\n");
	gh_threads_lock();
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		printf("  tid %d, stack %#lx-%#lx\n", (int)t->tid, (unsigned long)t->stack_lo,
		       (unsigned long)t->stack_hi);
	gh_threads_unlock();
	fflush(stdout);
}
