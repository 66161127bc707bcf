/*
 * heapdump.c - goheap_write_heapdump: every object of the heap, the roots
 * and the finalizers, in the format of goheap-heapdump(5) (the seed's
 * heapdump.c, adapted to C: no types or goroutines, but size classes,
 * kinds, conservative roots).  statfile.h summarises the framing.
 *
 * A dump is consistent because it is written with the world stopped
 * (gh_with_world_stopped, mgc.c), after the previous cycle's sweeping has
 * finished, so every block is either free (its free tag is set) or
 * allocated.  While the world is stopped the dumper may not take a lock
 * that a stopped thread could hold, nor call malloc or stdio: it builds
 * records in buffers of its own from the OS and writes them with write(2).
 * The memstats are read just before the world stops, with no collection
 * possible in between.
 *
 * The walk:
 *
 *   1. PARAMS, MEMSTATS and a SIZECLASS record per class;
 *   2. each registered thread: THREAD, then its live stack as a ROOT, with
 *      the words that point into the heap (POINTERS); the dumping thread's
 *      registers are spilled to its stack first, as marking does;
 *   3. the static roots (data segments, registered ranges) and the
 *      arguments of threads being started, as ROOTs with POINTERS;
 *   4. FINALIZER records, set and queued;
 *   5. every in-use span from the span allocator's chunks: each allocated
 *      block as an OBJECT, with POINTERS for the words the collector would
 *      take as pointers (all words of goheap_malloc blocks, the declared
 *      ones of typed blocks, none of atomic and tiny blocks);
 *   6. END.
 *
 * "Points into the heap" means: into a block, handed out at least once,
 * of an in-use span, as the collector's mark_word decides.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "statfile.h"
#include "track.h"

enum {
	OUTBUF = 1 << 20, /* written out when full */
	BODYBUF = 128 << 10, /* one record's body; > 4096 pointers of 20 bytes */
};

typedef struct dumper {
	int fd;
	int err; /* the first write error; nothing is written after it */
	uint8_t *out;
	size_t nout;
	uint8_t *body;
	size_t nbody;
	goheap_memstats *ms;
	uintptr_t heap_lo, heap_hi;
	uint32_t nptrs; /* pointers pending for the current OBJECT or ROOT */
	uint64_t ptr_off[GH_DUMP_MAX_PTRS], ptr_to[GH_DUMP_MAX_PTRS];
} dumper;

/* The dump in progress, for iterators without an argument; set only with
 * the world stopped, under gh_gc.lock. */
static dumper *cur;

/* ---- Output ---- */

static void flush(dumper *d)
{
	size_t done = 0;
	gh_track_defined(d->out, d->nout);
	while (!d->err && done < d->nout) {
		ssize_t w = write(d->fd, d->out + done, d->nout - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			d->err = w < 0 ? errno : EIO;
		else
			done += (size_t)w;
	}
	d->nout = 0;
}

static void out_bytes(dumper *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		if (d->nout == OUTBUF)
			flush(d);
		size_t k = OUTBUF - d->nout < n ? OUTBUF - d->nout : n;
		memcpy(d->out + d->nout, b, k);
		d->nout += k;
		b += k;
		n -= k;
	}
}

static size_t uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static void put(dumper *d, uint64_t v)
{
	if (d->nbody + 10 <= BODYBUF)
		d->nbody += uvarint(d->body + d->nbody, v);
}

static void put_string(dumper *d, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 4096)
		n = 4096;
	put(d, n);
	if (n && d->nbody + n <= BODYBUF) {
		memcpy(d->body + d->nbody, s, n);
		d->nbody += n;
	}
}

static void put_named(dumper *d, const char *name, uint64_t v)
{
	put_string(d, name);
	put(d, v);
}

/* Emit the record built in d->body. */
static void record(dumper *d, uint64_t tag)
{
	uint8_t head[20];
	size_t n = uvarint(head, tag);
	n += uvarint(head + n, d->nbody);
	out_bytes(d, head, n);
	out_bytes(d, d->body, d->nbody);
	d->nbody = 0;
}

/* ---- Pointers ---- */

static bool points_into_heap(const dumper *d, uintptr_t w)
{
	if (w - d->heap_lo >= d->heap_hi - d->heap_lo)
		return false;
	gh_span *s = gh_span_of(w);
	if (!s)
		return false;
	return GH_SPANCLASS_CLASS(s->spanclass) == 0 || gh_span_allocated(s, gh_span_index(s, w));
}

static void ptrs_flush(dumper *d)
{
	if (d->nptrs == 0)
		return;
	put(d, d->nptrs);
	for (uint32_t i = 0; i < d->nptrs; i++) {
		put(d, d->ptr_off[i]);
		put(d, d->ptr_to[i]);
	}
	record(d, GH_DUMP_POINTERS);
	d->nptrs = 0;
}

static void ptr_add(dumper *d, uint64_t off, uintptr_t to)
{
	d->ptr_off[d->nptrs] = off;
	d->ptr_to[d->nptrs] = to;
	if (++d->nptrs == GH_DUMP_MAX_PTRS)
		ptrs_flush(d);
}

/* Every aligned word of [lo, hi), conservatively, as marking scans. */
GH_NO_SANITIZE_SCAN static void scan_words(dumper *d, uintptr_t lo, uintptr_t hi)
{
	uintptr_t start = lo;
	lo = (lo + 7) & ~(uintptr_t)7;
	for (uintptr_t p = lo; p + 8 <= hi; p += 8) {
		uintptr_t w = *(const uintptr_t *)p;
		if (points_into_heap(d, w))
			ptr_add(d, p - start, w);
	}
	ptrs_flush(d);
}

static void root(dumper *d, uint64_t kind, uintptr_t lo, uintptr_t hi, uint64_t tid,
		 const char *name)
{
	put(d, kind);
	put(d, lo);
	put(d, hi);
	put(d, tid);
	put_string(d, name);
	record(d, GH_DUMP_ROOT);
	scan_words(d, lo, hi);
}

/* ---- The walk ---- */

static void params(dumper *d)
{
	put(d, 10);
	put_named(d, "ptr_size", sizeof(void *));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	put_named(d, "big_endian", 0);
#else
	put_named(d, "big_endian", 1);
#endif
	put_named(d, "page_size", GH_PAGE_SIZE);
	put_named(d, "heap_lo", d->heap_lo);
	put_named(d, "heap_hi", d->heap_hi);
	put_named(d, "pid", (uint64_t)getpid());
	put_named(d, "time_ns", gh_walltime());
	put_named(d, "num_size_classes", GH_NUM_CLASSES);
	put_named(d, "max_small_size", GH_MAX_SMALL);
	put_named(d, "sweepgen", __atomic_load_n(&gh_heap.sweepgen, __ATOMIC_RELAXED));
	record(d, GH_DUMP_PARAMS);

	const goheap_memstats *m = d->ms;
	uint64_t n = 2;
#define X(name, unit) n++;
	GH_MEMSTATS_SCALARS(X)
#undef X
	put(d, n);
#define X(name, unit) put_named(d, #name, m->name);
	GH_MEMSTATS_SCALARS(X)
#undef X
	put_named(d, "numgc", m->numgc);
	put_named(d, "gc_percent", m->gc_percent);
	record(d, GH_DUMP_MEMSTATS);

	for (uint32_t c = 0; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
		put(d, c);
		put(d, m->by_size[c].size);
		put(d, m->by_size[c].nmalloc);
		put(d, m->by_size[c].nfree);
		record(d, GH_DUMP_SIZECLASS);
	}
}

static void stack_from(uintptr_t sp, void *arg)
{
	gh_thread *t = arg;
	dumper *d = cur;
	put(d, (uint64_t)t->tid);
	put(d, t->stack_lo);
	put(d, t->stack_hi);
	put(d, sp);
	record(d, GH_DUMP_THREAD);
	if (sp >= t->stack_lo && sp < t->stack_hi)
		root(d, GH_DUMP_ROOT_STACK, sp, t->stack_hi, (uint64_t)t->tid, "");
}

static void static_root(int registered, const char *name, uintptr_t lo, uintptr_t hi, void *arg)
{
	root(arg, registered ? GH_DUMP_ROOT_RANGE : GH_DUMP_ROOT_DATA, lo, hi, 0, name);
}

static void pending_root(uintptr_t lo, uintptr_t hi)
{
	root(cur, GH_DUMP_ROOT_PENDING, lo, hi, 0, "");
}

static void finalizer(uintptr_t obj, void (*fn)(void *, void *), void *arg, bool queued,
		      void *ctx)
{
	dumper *d = ctx;
	put(d, obj);
	put(d, (uint64_t)(uintptr_t)fn);
	put(d, (uint64_t)(uintptr_t)arg);
	put(d, queued);
	record(d, GH_DUMP_FINALIZER);
}

static void object(dumper *d, gh_span *s, uintptr_t p)
{
	uint32_t kind = GH_SPANCLASS_KIND(s->spanclass);
	put(d, p);
	put(d, s->elemsize);
	put(d, kind);
	put(d, GH_SPANCLASS_CLASS(s->spanclass));
	record(d, GH_DUMP_OBJECT);
	if (kind == GH_KIND_SCAN) {
		scan_words(d, p, p + s->elemsize);
	} else if (kind == GH_KIND_TYPED) {
		const goheap_type *t = gh_span_type(s, p);
		if (!t)
			return;
		for (size_t e = 0; e < s->elemsize / t->size; e++)
			for (size_t i = 0; i < t->nwords; i++) {
				if (!(t->bits[i >> 6] >> (i & 63) & 1))
					continue;
				size_t off = e * t->size + i * 8;
				uintptr_t w = *(const uintptr_t *)(p + off);
				if (points_into_heap(d, w))
					ptr_add(d, off, w);
			}
		ptrs_flush(d);
	}
}

static void span_objects(void *obj)
{
	gh_span *s = obj;
	dumper *d = cur;
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GH_SPAN_INUSE)
		return;
	if (GH_SPANCLASS_CLASS(s->spanclass) == 0) {
		object(d, s, s->start);
		return;
	}
	for (uint32_t i = 0; i < s->nelems; i++) {
		uintptr_t p = s->start + (size_t)i * s->elemsize;
		if (gh_span_allocated(s, i) &&
		    gh_track_peek(&((const gh_link *)p)->tag) != gh_free_tag((void *)p))
			object(d, s, p);
	}
}

static void prepare(void *arg)
{
	goheap_read_memstats(((dumper *)arg)->ms);
}

/* With the world stopped. */
static void dump_stopped(void *arg)
{
	dumper *d = arg;
	cur = d;
	gh_track_quiet_begin();
	d->heap_lo = __atomic_load_n(&gh_heap.arena_lo, __ATOMIC_RELAXED);
	d->heap_hi = __atomic_load_n(&gh_heap.arena_hi, __ATOMIC_RELAXED);
	out_bytes(d, GH_DUMP_MAGIC, GH_DUMP_MAGIC_LEN);
	put(d, GH_DUMP_VERSION);
	out_bytes(d, d->body, d->nbody);
	d->nbody = 0;

	params(d);
	gh_thread *self = gh_self_thread;
	for (gh_thread *t = gh_threads_first(); t; t = t->next) {
		if (t == self)
			gh_with_registers_spilled(stack_from, t);
		else
			stack_from(t->saved_sp, t);
	}
	gh_roots_foreach(static_root, d);
	gh_threads_scan_pending(pending_root);
	gh_final_foreach(finalizer, d);
	gh_fixalloc_foreach(&gh_heap.spanalloc, span_objects);
	record(d, GH_DUMP_END);
	flush(d);
	gh_track_quiet_end();
	cur = NULL;
}

int goheap_write_heapdump(int fd)
{
	gh_init();
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	/* Buffers from the OS, counted apart: the dump must not change the
	 * figures it reports. */
	uint64_t bytes = 0;
	size_t need = OUTBUF + BODYBUF + ((sizeof(dumper) + sizeof(goheap_memstats) + 4095) & ~(size_t)4095);
	uint8_t *mem = gh_sys_alloc(need, &bytes);
	if (!mem) {
		errno = ENOMEM;
		return -1;
	}
	dumper *d = (dumper *)(mem + OUTBUF + BODYBUF);
	d->fd = fd;
	d->out = mem;
	d->body = mem + OUTBUF;
	d->ms = (goheap_memstats *)(d + 1);
	int r = gh_with_world_stopped(prepare, dump_stopped, d);
	int err = r != 0 ? errno : d->err;
	gh_sys_free(mem, need, &bytes);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
