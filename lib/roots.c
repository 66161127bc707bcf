/*
 * roots.c - the static roots: the writable segments of the executable and
 * of every loaded shared object, and the ranges given to goheap_add_roots.
 *
 * Segments are found through the loader's list (gh_os_objects_foreach) at
 * every collection, so libraries loaded or unloaded since the last one are
 * seen; the collection runs holding the loader's list lock (mgc.c), so no
 * library can be unloaded while its data is scanned.  libgoheap's own data
 * is never scanned: it holds heap addresses (arena bounds, cursors) that
 * must not keep blocks alive.
 *
 * Registered ranges live in an array under roots_lock, which a collection
 * holds throughout; goheap_add_roots waits for a running collection.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "os.h"

typedef struct root_range {
	uintptr_t lo, hi;
} root_range;

static gh_mutex roots_lock = GH_MUTEX_INITIALIZER(GH_RANK_ROOTS);
static root_range *ranges;
static size_t nranges, capranges;
static uintptr_t self_base; /* load address of libgoheap itself */
const int *gh_roots_no_dls;
void (*gh_roots_push_other)(void);

/* Whether libgoheap's code lies in the first object, the program. */
static int in_program(const gh_os_object *o, void *arg)
{
	uintptr_t self = (uintptr_t)gh_roots_init;
	for (unsigned i = 0; i < o->nsegments; i++) {
		gh_os_segment seg;
		gh_os_object_segment(o, i, &seg);
		if (seg.kind == GH_SEGMENT_LOAD && self >= seg.lo && self < seg.hi)
			*(bool *)arg = true;
	}
	return 1; /* the first object is the program */
}

void gh_roots_init(void)
{
	Dl_info info;
	if (dladdr((void *)gh_roots_init, &info) && info.dli_fbase)
		self_base = (uintptr_t)info.dli_fbase;
	/* Linked statically, libgoheap is part of the program, whose data
	 * must be scanned: then skip nothing (our own globals hold at most a
	 * heap bound or two, which can only keep a block alive). */
	bool linked_in = false;
	gh_os_objects_foreach(in_program, &linked_in);
	if (linked_in)
		self_base = 0;
}

void gh_roots_lock(void)
{
	gh_lock(&roots_lock);
}

void gh_roots_unlock(void)
{
	gh_unlock(&roots_lock);
}

typedef struct foreach_ctx {
	void (*fn)(int registered, const char *name, uintptr_t lo, uintptr_t hi, void *arg);
	void *arg;
	const char *name;
	size_t nobjects; /* loaded objects seen; the first is the program */
} foreach_ctx;

/* Report [lo, hi) less the ranges [alo, ahi) and [blo, bhi). */
static void emit_without(foreach_ctx *c, uintptr_t lo, uintptr_t hi, uintptr_t alo,
			 uintptr_t ahi, uintptr_t blo, uintptr_t bhi)
{
	if (alo > blo) {
		uintptr_t t = alo;
		alo = blo;
		blo = t;
		t = ahi;
		ahi = bhi;
		bhi = t;
	}
	uintptr_t cut[2][2] = {{alo, ahi}, {blo, bhi}};
	for (int i = 0; i < 2 && lo < hi; i++) {
		if (cut[i][0] >= cut[i][1] || cut[i][1] <= lo || cut[i][0] >= hi)
			continue;
		if (lo < cut[i][0])
			c->fn(0, c->name, lo, cut[i][0], c->arg);
		lo = cut[i][1];
	}
	if (lo < hi)
		c->fn(0, c->name, lo, hi, c->arg);
}

/* The static roots of one loaded object: its writable segments. */
static int object_roots(const gh_os_object *o, void *arg)
{
	foreach_ctx *c = arg;
	if (c->nobjects++ > 0 && gh_roots_no_dls && __atomic_load_n(gh_roots_no_dls, __ATOMIC_RELAXED))
		return 0;
	if (o->base == self_base && self_base != 0)
		return 0;
	c->name = o->name;
	/* The part made read-only after relocation (.got, .dynamic,
	 * .data.rel.ro) cannot hold heap pointers: skip it. */
	uintptr_t rlo = 0, rhi = 0;
	gh_os_segment seg;
	for (unsigned i = 0; i < o->nsegments; i++) {
		gh_os_object_segment(o, i, &seg);
		if (seg.kind == GH_SEGMENT_RELRO) {
			rlo = seg.lo;
			rhi = seg.hi;
		}
	}
	/* Linked statically, the program's data holds the arena index: 32 MiB
	 * of metadata that must not be read at every collection. */
	uintptr_t xlo = (uintptr_t)gh_arena_index, xhi = xlo + sizeof gh_arena_index;
	for (unsigned i = 0; i < o->nsegments; i++) {
		gh_os_object_segment(o, i, &seg);
		if (seg.kind != GH_SEGMENT_LOAD || !seg.writable)
			continue;
		emit_without(c, seg.lo & ~(uintptr_t)7, seg.hi, rlo, rhi, xlo, xhi);
	}
	return 0;
}

void gh_roots_foreach(void (*fn)(int registered, const char *name, uintptr_t lo, uintptr_t hi,
				 void *arg),
		      void *arg)
{
	gh_assert_held(&roots_lock);
	foreach_ctx c = {fn, arg, NULL, 0};
	gh_os_objects_foreach(object_roots, &c);
	for (size_t i = 0; i < nranges; i++)
		fn(1, NULL, ranges[i].lo, ranges[i].hi, arg);
}

static void scan_one(int registered, const char *name, uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)registered;
	(void)name;
	((void (*)(uintptr_t, uintptr_t))arg)(lo, hi);
}

/* The heap dump lists exactly what marking scans: both go through
 * gh_roots_foreach. */
void gh_roots_scan(void (*scan)(uintptr_t lo, uintptr_t hi))
{
	gh_roots_foreach(scan_one, (void *)scan);
	/* The drop-in's GC_push_other_roots (boehm_mark.c): marks at once. */
	if (gh_roots_push_other)
		gh_roots_push_other();
}

int goheap_add_roots(void *start, void *end)
{
	uintptr_t lo = ((uintptr_t)start + 7) & ~(uintptr_t)7, hi = (uintptr_t)end;
	if (!start || hi < (uintptr_t)start) {
		errno = EINVAL;
		return -1;
	}
	gh_init();
	gh_lock(&roots_lock);
	if (nranges == capranges) {
		size_t cap = capranges ? capranges * 2 : 64;
		root_range *r = gh_sys_alloc(cap * sizeof *r, &gh_heap.stats.other_sys);
		if (!r) {
			gh_unlock(&roots_lock);
			errno = ENOMEM;
			return -1;
		}
		if (ranges) {
			memcpy(r, ranges, nranges * sizeof *r);
			gh_sys_free(ranges, capranges * sizeof *r, &gh_heap.stats.other_sys);
		}
		ranges = r;
		capranges = cap;
	}
	ranges[nranges].lo = lo;
	ranges[nranges].hi = hi;
	nranges++;
	gh_unlock(&roots_lock);
	return 0;
}

int goheap_remove_roots(void *start, void *end)
{
	uintptr_t lo = ((uintptr_t)start + 7) & ~(uintptr_t)7, hi = (uintptr_t)end;
	int found = -1;
	gh_lock(&roots_lock);
	for (size_t i = nranges; i-- > 0;)
		if (ranges[i].lo == lo && ranges[i].hi == hi) {
			ranges[i] = ranges[--nranges];
			found = 0;
			break;
		}
	gh_unlock(&roots_lock);
	if (found)
		errno = ENOENT;
	return found;
}
