/*
 * mprof.c - the sampled heap profile: which call stacks allocated how much,
 * and how much of it is still in use.
 *
 * Sampling (the seed's MemProfileRate, with Go's later exponential
 * distances):
 *
 *   1. Each thread cache counts down the bytes to its next sample
 *      (gh_mcache.sample_left).  The distance is drawn from an exponential
 *      distribution with mean GOHEAP_PROFILE_RATE bytes, so that every
 *      allocated byte is equally likely to be sampled and the samples form
 *      a Poisson process that can be unbiased exactly (step 4).
 *   2. The fast path subtracts the block's size and leaves to the slow path
 *      the allocation that takes the count to zero or below; the slow path
 *      does the same for the blocks it hands out (malloc.c).  That one
 *      allocation is the sample: gh_mprof_alloc records its call stack
 *      (backtrace(3), without libgoheap's own frames) in a bucket per
 *      (stack, block size), attaches a record naming the bucket to the
 *      block, a special of its span (mspecial.c), and draws the next
 *      distance.
 *   3. When a sampled block dies, by goheap_free or in the sweep, its span's
 *      list of specials gives the record (gh_mprof_special_dead), and the
 *      free is counted in its bucket.  So a bucket holds allocations and
 *      frees, objects and bytes, and in-use = allocated - freed.
 *   4. goheap_write_heap_profile writes the buckets as a pprof profile
 *      (profile.proto), each count scaled by 1 / (1 - exp(-size / rate)),
 *      the inverse of the probability that a block of that size is sampled,
 *      as Go does.
 *
 * Unlike Go, the in-use figures are those of the moment of the write, not
 * of the last collection: a C program frees most of its blocks by hand.
 *
 * Costs: the fast path pays a subtraction and a branch; a sample costs a
 * lock and a backtrace, once per 512 KiB by default.  The backtrace is
 * what counts: libgcc's unwinder, behind backtrace(3), takes about 0.1 us
 * a frame, a microsecond for a shallow stack, which at the default rate
 * costs 5-8 % of the time of a loop of ~500-byte allocations.  So where
 * libunwind is installed (libunwind.so.8), its unw_backtrace, which caches
 * what it learns of each return address, is used instead: 60 ns for the
 * same stack.  It is loaded with RTLD_LOCAL so that its _Unwind_* entry
 * points, which it exports too, do not take over the program's C++
 * exception handling.
 *
 * prof_lock guards the buckets' table and list; their counts are atomic,
 * as the free of a sample is counted under the specials lock, which guards
 * the records.  Neither lock is taken under the other; nothing is taken
 * under prof_lock; the backtrace is taken before it (under unwind_lock),
 * and the profile is written after dropping it, from a copy of the counts.
 *
 * unwind_lock is held around the unwinder for two reasons.  fork must
 * never copy the unwinder mid-way (see below).  And the collector takes it
 * before it takes the loader's lock and stops the world: libunwind blocks
 * every signal while it looks up a return address, and waits meanwhile for
 * the loader's lock (dl_iterate_phdr); a thread waiting there could not
 * take the stop signal, and the collector, holding that lock, would wait
 * for it in vain.  Waiting for unwind_lock instead, it can.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gc.h"
#include "gh.h"
#include "mem.h"
#include "mprof.h"

enum {
	MAX_STACK = 32,       /* frames kept per sample */
	BUCKET_HASH = 1 << 12, /* chains of the bucket table */
	/* With profiling off, a cache still visits the slow path every
	 * this many bytes, to notice a rate set later; it costs nothing
	 * measurable. */
	OFF_RECHECK = 4 << 20,
};

typedef struct gh_bucket gh_bucket;
struct gh_bucket {
	gh_bucket *next;    /* hash chain */
	gh_bucket *allnext; /* list of all buckets, newest first */
	uint64_t hash;
	size_t size; /* block size */
	uint64_t allocs, frees, alloc_bytes, free_bytes;
	uint32_t nstk;
	uintptr_t stk[];
};

/* A sampled block: a special of its span (mspecial.c). */
typedef struct prof_rec {
	gh_special sp; /* first */
	gh_bucket *b;
} prof_rec;

static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;
/* Held around the unwinder, so that fork never copies it mid-way: neither
 * libunwind nor libgcc's unwinder has fork handlers for its own locks, and
 * a child that inherits one held hangs at its first sample.  Taken with no
 * other lock held, and before prof_lock; the collector takes it after
 * gh_gc.lock (gh_mprof_lock_unwinder). */
static pthread_mutex_t unwind_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t prof_rate;       /* bytes; 0 off (atomic) */
static int64_t prof_rate_used;  /* the last rate that was not 0 */
static gh_bucket *bucket_hash[BUCKET_HASH];
static gh_bucket *bucket_all;
static uint64_t nbuckets;
static gh_bumpalloc bucket_mem; /* buckets (under prof_lock) */
/* Records of sampled blocks, under the specials lock. */
static gh_fixalloc recs;
static uint64_t recs_inuse;
static bool recs_ready;
/* How many sampled blocks hash to each slot (changed under the specials
 * lock): a free that finds its slot at zero was not sampled and need not
 * take the lock.  A span with a sampled block sends every free of its
 * blocks to the slow path, so this is the common case there. */
static uint8_t sampled_filter[1 << 16];

static size_t filter_slot(uintptr_t p)
{
	return (size_t)(((p >> 4) * 0x9e3779b97f4a7c15u) >> 48);
}
/* libgoheap's own code, whose frames a recorded stack leaves out. */
static uintptr_t self_lo, self_hi;
/* backtrace(3), or libunwind's faster one (set once, at start-up). */
static int (*unwinder)(void **frames, int max) = backtrace;
/* Per thread: the countdown while a debug mode holds the cache's at zero,
 * and the state of the generator of sample distances. */
static __thread int64_t debug_left;
static __thread uint64_t rng_state;

/* ---- Sample distances ---- */

static uint64_t rng_next(void)
{
	if (GH_UNLIKELY(rng_state == 0))
		rng_state = gh_sys_random() | 1;
	/* xorshift64* */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Bytes to the next sample at the given rate: exponential, mean rate. */
static int64_t next_distance(int64_t rate)
{
	if (rate <= 0)
		return OFF_RECHECK;
	if (rate == 1)
		return 1; /* every block; never 0, which means a fresh countdown */
	/* u uniform in (0, 1]. */
	double u = (double)((rng_next() >> 11) + 1) * 0x1p-53;
	double d = -log(u) * (double)rate;
	if (d > (double)(INT64_MAX / 2))
		return INT64_MAX / 2;
	return d < 1 ? 1 : (int64_t)d;
}

/* ---- Buckets (under prof_lock) ---- */


static uint64_t stack_hash(const uintptr_t *stk, uint32_t n, size_t size)
{
	uint64_t h = 0xcbf29ce484222325u ^ size;
	for (uint32_t i = 0; i < n; i++) {
		h ^= stk[i];
		h *= 0x100000001b3u;
		h ^= h >> 29;
	}
	return h;
}

static gh_bucket *bucket_get(const uintptr_t *stk, uint32_t n, size_t size)
{
	uint64_t h = stack_hash(stk, n, size);
	gh_bucket **head = &bucket_hash[h & (BUCKET_HASH - 1)];
	for (gh_bucket *b = *head; b; b = b->next)
		if (b->hash == h && b->size == size && b->nstk == n &&
		    memcmp(b->stk, stk, n * sizeof *stk) == 0)
			return b;
	gh_bucket *b = gh_bumpalloc_alloc(&bucket_mem, sizeof *b + n * sizeof *stk);
	if (!b)
		return NULL;
	b->hash = h;
	b->size = size;
	b->nstk = n;
	memcpy(b->stk, stk, n * sizeof *stk);
	b->next = *head;
	*head = b;
	b->allnext = bucket_all;
	bucket_all = b;
	nbuckets++;
	return b;
}

static size_t addr_hash(uintptr_t p)
{
	p >>= 4;
	p *= 0x9e3779b97f4a7c15u;
	return (size_t)(p >> 17);
}

/* ---- Recording ---- */

/* The caller's stack, without libgoheap's frames, as call sites (return
 * address - 1, inside the call instruction). */
static uint32_t take_stack(uintptr_t *stk)
{
	/* Room for libgoheap's own frames (backtrace's caller, malloc_slow,
	 * an entry point) and an interceptor's: unwinding costs about 0.1 us
	 * a frame, so ask for no more than is kept. */
	void *raw[MAX_STACK + 6];
	int n = unwinder(raw, MAX_STACK + 6);
	int i = 0;
	/* The unwinder's own frames first, if any (ASan intercepts
	 * backtrace), then libgoheap's. */
	while (i < n && !((uintptr_t)raw[i] >= self_lo && (uintptr_t)raw[i] < self_hi))
		i++;
	while (i < n && (uintptr_t)raw[i] >= self_lo && (uintptr_t)raw[i] < self_hi)
		i++;
	if (i == n)
		i = n > 3 ? 3 : 0; /* linked statically: no way to tell */
	uint32_t k = 0;
	for (; i < n && k < MAX_STACK; i++)
		stk[k++] = (uintptr_t)raw[i] - 1;
	return k;
}

static prof_rec *rec_alloc(void)
{
	if (!recs_ready) {
		gh_fixalloc_init(&recs, sizeof(prof_rec), &recs_inuse, &gh_heap.stats.other_sys);
		recs_ready = true;
	}
	return gh_fixalloc_alloc(&recs);
}

static void filter_add(uintptr_t block, int d)
{
	/* A saturated slot never drops back: its frees all look. */
	uint8_t *f = &sampled_filter[filter_slot(block)];
	if (*f != UINT8_MAX)
		__atomic_store_n(f, (uint8_t)(*f + d), __ATOMIC_RELAXED);
}

static void record(void *p, size_t size)
{
	uintptr_t stk[MAX_STACK];
	gh_mutex_lock(&unwind_lock);
	uint32_t n = take_stack(stk);
	pthread_mutex_unlock(&unwind_lock);
	gh_span *s = gh_span_of((uintptr_t)p);
	if (!s)
		return;
	/* A tiny allocation is recorded on its 16-byte block, which is what
	 * the sweeper frees; one block may hold several. */
	uint32_t idx = GH_SPANCLASS_CLASS(s->spanclass) ? gh_span_index(s, (uintptr_t)p) : 0;
	gh_mutex_lock(&prof_lock);
	gh_bucket *b = bucket_get(stk, n, size);
	pthread_mutex_unlock(&prof_lock);
	if (!b)
		return;
	gh_specials_lock();
	prof_rec *r = rec_alloc();
	if (r) {
		/* Counted before the record exists, so that its free is
		 * never counted before its allocation. */
		__atomic_fetch_add(&b->allocs, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&b->alloc_bytes, size, __ATOMIC_RELAXED);
		r->sp.idx = idx;
		r->sp.kind = GH_SPECIAL_PROFILE;
		r->b = b;
		filter_add(s->start + (size_t)idx * s->elemsize, 1);
		gh_special_insert(s, &r->sp);
	}
	gh_specials_unlock();
}

void gh_mprof_alloc(gh_mcache *c, void *p, size_t size)
{
	int64_t rate = __atomic_load_n(&prof_rate, __ATOMIC_RELAXED);
	bool debug = gh_debug_on();
	/* While a debug mode holds the cache's countdown at zero, count in
	 * the thread's own.  A countdown of zero is a fresh one. */
	int64_t *left = debug ? &debug_left : &c->sample_left;
	if (*left == 0)
		*left = next_distance(rate);
	*left -= (int64_t)size;
	if (*left <= 0) {
		if (rate > 0)
			record(p, size);
		*left = next_distance(rate);
	}
	if (debug)
		c->sample_left = 0;
}

bool gh_mprof_maybe_sampled(const gh_span *s, uint32_t idx)
{
	uintptr_t block = s->start + (size_t)idx * s->elemsize;
	return __atomic_load_n(&sampled_filter[filter_slot(block)], __ATOMIC_RELAXED) != 0;
}

void gh_mprof_special_dead(gh_span *s, gh_special *sp)
{
	prof_rec *r = (prof_rec *)sp;
	gh_bucket *b = r->b;
	__atomic_fetch_add(&b->frees, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&b->free_bytes, b->size, __ATOMIC_RELAXED);
	filter_add(s->start + (size_t)sp->idx * s->elemsize, -1);
	gh_fixalloc_free(&recs, r);
}

long goheap_set_profile_rate(long bytes)
{
	gh_init();
	int64_t old = __atomic_load_n(&prof_rate, __ATOMIC_RELAXED);
	if (bytes < 0)
		return (long)old;
	gh_mutex_lock(&prof_lock);
	__atomic_store_n(&prof_rate, (int64_t)bytes, __ATOMIC_RELAXED);
	if (bytes > 0)
		prof_rate_used = bytes;
	pthread_mutex_unlock(&prof_lock);
	/* The calling thread starts afresh; the others take the new rate
	 * at their next sample (at most 4 MiB away if profiling was off). */
	gh_mcache *c = gh_tls_cache;
	if (gh_debug_on())
		debug_left = next_distance(bytes);
	else if (c)
		c->sample_left = next_distance(bytes);
	return (long)old;
}

void gh_mprof_lock_unwinder(void)
{
	gh_mutex_lock(&unwind_lock);
}

void gh_mprof_unlock_unwinder(void)
{
	pthread_mutex_unlock(&unwind_lock);
}

/* ---- Start-up ---- */

static void lock_prepare(void)
{
	gh_mutex_lock(&unwind_lock);
	gh_mutex_lock(&prof_lock);
}

static void lock_release(void)
{
	pthread_mutex_unlock(&prof_lock);
	pthread_mutex_unlock(&unwind_lock);
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (me >= lo && me < hi) {
			self_lo = lo;
			self_hi = hi;
			return 1;
		}
	}
	return 0;
}

void gh_mprof_init(void)
{
	int64_t rate = gh_option(GH_OPT_PROFILE_RATE);
	prof_rate = rate;
	prof_rate_used = rate > 0 ? rate : 512 * 1024;
	dl_iterate_phdr(find_self, (void *)(uintptr_t)gh_mprof_init);
	/* Not under Valgrind: libunwind probes addresses with system calls
	 * that memcheck reports.  Nor in a sanitizer build: its per-thread
	 * cache's destructor runs after the sanitizer has let go of the
	 * exiting thread (ThreadSanitizer crashes there, LeakSanitizer's
	 * exit check did). */
#ifdef GH_SANITIZED
	void *unw = NULL;
#else
	void *unw = gh_debug_flags & GH_DEBUG_VALGRIND
			    ? NULL
			    : dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
#endif
	if (unw) {
		int (*fn)(void **, int);
		*(void **)&fn = dlsym(unw, "unw_backtrace");
		if (fn)
			unwinder = fn;
		else
			dlclose(unw);
	}
	/* Both unwinders set themselves up on their first call (backtrace(3)
	 * loads libgcc_s): do it now, not in the middle of an allocation. */
	void *warm[4];
	unwinder(warm, 4);
	/* A leaf lock: taken last before fork (handlers registered earlier
	 * prepare later). */
	pthread_atfork(lock_prepare, lock_release, lock_release);
}

/* ---- Writing a pprof profile ----
 *
 * profile.proto (github.com/google/pprof/proto/profile.proto), encoded by
 * hand: a Profile is a sequence of fields, so it is streamed; each
 * sub-message (sample, location, mapping) is built in a small buffer first
 * for its length.
 */

enum {
	PB_VARINT = 0,
	PB_LEN = 2,
	/* Profile fields */
	P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4,
	P_STRING_TABLE = 6, P_TIME_NANOS = 9, P_PERIOD_TYPE = 11, P_PERIOD = 12,
	P_DEFAULT_SAMPLE_TYPE = 14,
};

typedef struct pbuf {
	uint8_t *b;
	size_t n, cap;
	bool overflow;
} pbuf;

static void pb_byte(pbuf *p, uint8_t c)
{
	if (p->n < p->cap)
		p->b[p->n++] = c;
	else
		p->overflow = true;
}

static void pb_varint(pbuf *p, uint64_t v)
{
	while (v >= 0x80) {
		pb_byte(p, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	pb_byte(p, (uint8_t)v);
}

static void pb_key(pbuf *p, uint32_t field, uint32_t wire)
{
	pb_varint(p, (uint64_t)field << 3 | wire);
}

static void pb_uint(pbuf *p, uint32_t field, uint64_t v)
{
	pb_key(p, field, PB_VARINT);
	pb_varint(p, v);
}

static void pb_bytes(pbuf *p, uint32_t field, const void *d, size_t n)
{
	pb_key(p, field, PB_LEN);
	pb_varint(p, n);
	for (size_t i = 0; i < n; i++)
		pb_byte(p, ((const uint8_t *)d)[i]);
}

/* The output: a buffer flushed to fd when full. */
typedef struct pout {
	int fd;
	int err;
	uint8_t buf[8192];
	size_t n;
} pout;

static void out_flush(pout *o)
{
	size_t off = 0;
	while (off < o->n && !o->err) {
		ssize_t w = write(o->fd, o->buf + off, o->n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			o->err = errno;
		} else {
			off += (size_t)w;
		}
	}
	o->n = 0;
}

static void out_data(pout *o, const void *d, size_t n)
{
	const uint8_t *s = d;
	while (n) {
		if (o->n == sizeof o->buf)
			out_flush(o);
		size_t k = sizeof o->buf - o->n;
		if (k > n)
			k = n;
		memcpy(o->buf + o->n, s, k);
		o->n += k;
		s += k;
		n -= k;
	}
}

/* Write a length-delimited field whose content is m. */
static void out_msg(pout *o, uint32_t field, const pbuf *m)
{
	uint8_t hdr[16];
	pbuf h = {hdr, 0, sizeof hdr, false};
	pb_key(&h, field, PB_LEN);
	pb_varint(&h, m->n);
	out_data(o, hdr, h.n);
	out_data(o, m->b, m->n);
}

static void out_uint(pout *o, uint32_t field, uint64_t v)
{
	uint8_t tmp[24];
	pbuf h = {tmp, 0, sizeof tmp, false};
	pb_uint(&h, field, v);
	out_data(o, tmp, h.n);
}

/* Mappings: the executable segments of every loaded object. */
enum { MAX_MAPPINGS = 256, MAX_STRINGS = 2 * MAX_MAPPINGS + 16 };

typedef struct mapping {
	uintptr_t start, limit, offset;
	uint32_t file, buildid; /* string indexes */
} mapping;

typedef struct profctx {
	mapping maps[MAX_MAPPINGS];
	uint32_t nmaps;
	/* The string table: fixed names, then file names and build ids,
	 * kept in a scratch area. */
	const char *str[MAX_STRINGS];
	uint32_t nstr;
	char scratch[64 << 10];
	size_t nscratch;
	size_t pagesize;
} profctx;

static const char *const fixed_strings[] = {
	"", "alloc_objects", "count", "alloc_space", "bytes", "inuse_objects",
	"inuse_space", "space",
};
enum { S_EMPTY, S_ALLOC_OBJECTS, S_COUNT, S_ALLOC_SPACE, S_BYTES, S_INUSE_OBJECTS,
       S_INUSE_SPACE, S_SPACE, S_NFIXED };

static uint32_t add_string(profctx *x, const char *s, size_t n)
{
	if (x->nstr == MAX_STRINGS || x->nscratch + n + 1 > sizeof x->scratch)
		return S_EMPTY;
	char *d = x->scratch + x->nscratch;
	memcpy(d, s, n);
	d[n] = 0;
	x->nscratch += n + 1;
	x->str[x->nstr] = d;
	return x->nstr++;
}

/* The GNU build id of an object, as hex, from its PT_NOTE segments. */
static uint32_t build_id(profctx *x, struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof *nh;
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
			const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
			if (next > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= 64) {
				char hex[129];
				static const char digits[] = "0123456789abcdef";
				for (uint32_t k = 0; k < nh->n_descsz; k++) {
					hex[2 * k] = digits[desc[k] >> 4];
					hex[2 * k + 1] = digits[desc[k] & 15];
				}
				return add_string(x, hex, 2 * nh->n_descsz);
			}
			p = next;
		}
	}
	return S_EMPTY;
}

static int add_mappings(struct dl_phdr_info *info, size_t size, void *arg)
{
	profctx *x = arg;
	const char *name = info->dlpi_name;
	char exe[4096];
	if (!name || !*name) {
		/* The first object is the executable itself. */
		if (x->nmaps != 0)
			return 0; /* the vDSO */
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		exe[n > 0 ? n : 0] = 0;
		name = exe;
	}
	uint32_t file = add_string(x, name, strlen(name));
	uint32_t bid = build_id(x, info);
	for (int i = 0; i < info->dlpi_phnum && x->nmaps < MAX_MAPPINGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		/* As /proc/PID/maps shows it: whole pages. */
		uintptr_t pg = x->pagesize - 1;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		mapping *m = &x->maps[x->nmaps++];
		m->start = lo & ~pg;
		m->limit = (lo + ph->p_memsz + pg) & ~pg;
		m->offset = ph->p_offset & ~(uintptr_t)pg;
		m->file = file;
		m->buildid = bid;
	}
	return 0;
}

static uint32_t mapping_of(const profctx *x, uintptr_t a)
{
	for (uint32_t i = 0; i < x->nmaps; i++)
		if (a >= x->maps[i].start && a < x->maps[i].limit)
			return i + 1;
	return 0;
}

/* A bucket's figures, copied under the lock. */
typedef struct snap {
	gh_bucket *b; /* for the stack and size, which never change */
	uint64_t allocs, frees, alloc_bytes, free_bytes;
} snap;

/* Scale a sampled count of blocks of the given size to an estimate of the
 * real count: each block was sampled with probability 1 - exp(-size/rate). */
static double scale(size_t size, int64_t rate)
{
	if (rate <= 1)
		return 1;
	double p = 1 - exp(-(double)size / (double)rate);
	return p > 0 ? 1 / p : 1;
}

/* Location ids: addresses seen, in an open-addressing set; the id of an
 * address is its slot + 1. */
typedef struct locset {
	uintptr_t *slot;
	size_t cap;
} locset;

static uint64_t loc_id(locset *l, uintptr_t a, bool *fresh)
{
	size_t i = addr_hash(a << 4) & (l->cap - 1);
	while (l->slot[i] && l->slot[i] != a)
		i = (i + 1) & (l->cap - 1);
	*fresh = l->slot[i] == 0;
	l->slot[i] = a;
	return i + 1;
}

int goheap_write_heap_profile(int fd)
{
	gh_init();
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	/* Copy the counts under the lock; write without it. */
	gh_mutex_lock(&prof_lock);
	uint64_t nb = nbuckets;
	int64_t rate = prof_rate_used;
	size_t snapsize = (nb ? nb : 1) * sizeof(snap);
	snap *sn = gh_sys_alloc(snapsize, &gh_heap.stats.other_sys);
	size_t nframes = 0;
	if (sn) {
		uint64_t i = 0;
		for (gh_bucket *b = bucket_all; b && i < nb; b = b->allnext, i++) {
			sn[i] = (snap){b, __atomic_load_n(&b->allocs, __ATOMIC_RELAXED),
				       __atomic_load_n(&b->frees, __ATOMIC_RELAXED),
				       __atomic_load_n(&b->alloc_bytes, __ATOMIC_RELAXED),
				       __atomic_load_n(&b->free_bytes, __ATOMIC_RELAXED)};
			nframes += b->nstk;
		}
	}
	pthread_mutex_unlock(&prof_lock);
	if (!sn) {
		errno = ENOMEM;
		return -1;
	}

	int ret = -1, saved = ENOMEM;
	locset ls = {NULL, 16};
	while (ls.cap < 2 * nframes + 2)
		ls.cap *= 2;
	profctx *x = gh_sys_alloc(sizeof *x, &gh_heap.stats.other_sys);
	pout *o = gh_sys_alloc(sizeof *o, &gh_heap.stats.other_sys);
	ls.slot = gh_sys_alloc(ls.cap * sizeof *ls.slot, &gh_heap.stats.other_sys);
	if (!x || !o || !ls.slot)
		goto out;
	o->fd = fd;
	x->pagesize = gh_sys_pagesize();
	for (uint32_t i = 0; i < S_NFIXED; i++)
		x->str[x->nstr++] = fixed_strings[i];
	dl_iterate_phdr(add_mappings, x);

	uint8_t mb[1024];
	pbuf m;
	static const uint32_t types[4][2] = {
		{S_ALLOC_OBJECTS, S_COUNT},
		{S_ALLOC_SPACE, S_BYTES},
		{S_INUSE_OBJECTS, S_COUNT},
		{S_INUSE_SPACE, S_BYTES},
	};
	for (int i = 0; i < 4; i++) {
		m = (pbuf){mb, 0, sizeof mb, false};
		pb_uint(&m, 1, types[i][0]);
		pb_uint(&m, 2, types[i][1]);
		out_msg(o, P_SAMPLE_TYPE, &m);
	}
	for (uint64_t i = 0; i < nb; i++) {
		gh_bucket *b = sn[i].b;
		double sc = scale(b->size, rate);
		uint64_t inuse = sn[i].allocs - sn[i].frees;
		int64_t v[4] = {
			(int64_t)((double)sn[i].allocs * sc + 0.5),
			(int64_t)((double)sn[i].alloc_bytes * sc + 0.5),
			(int64_t)((double)inuse * sc + 0.5),
			(int64_t)((double)(sn[i].alloc_bytes - sn[i].free_bytes) * sc + 0.5),
		};
		/* Locations first: a location before the sample that uses it. */
		uint64_t ids[MAX_STACK];
		for (uint32_t k = 0; k < b->nstk; k++) {
			bool fresh;
			ids[k] = loc_id(&ls, b->stk[k], &fresh);
			if (!fresh)
				continue;
			m = (pbuf){mb, 0, sizeof mb, false};
			pb_uint(&m, 1, ids[k]);
			uint32_t map = mapping_of(x, b->stk[k]);
			if (map)
				pb_uint(&m, 2, map);
			pb_uint(&m, 3, b->stk[k]);
			out_msg(o, P_LOCATION, &m);
		}
		uint8_t pk[MAX_STACK * 10 + 64];
		pbuf packed = {pk, 0, sizeof pk, false};
		m = (pbuf){mb, 0, sizeof mb, false};
		for (uint32_t k = 0; k < b->nstk; k++)
			pb_varint(&packed, ids[k]);
		pb_bytes(&m, 1, pk, packed.n);
		packed.n = 0;
		for (int k = 0; k < 4; k++)
			pb_varint(&packed, (uint64_t)v[k]);
		pb_bytes(&m, 2, pk, packed.n);
		/* label { key: "bytes", num: size }, as Go writes. */
		uint8_t lb[32];
		pbuf label = {lb, 0, sizeof lb, false};
		pb_uint(&label, 1, S_BYTES);
		pb_uint(&label, 3, b->size);
		pb_bytes(&m, 3, lb, label.n);
		out_msg(o, P_SAMPLE, &m);
	}
	for (uint32_t i = 0; i < x->nmaps; i++) {
		mapping *mp = &x->maps[i];
		m = (pbuf){mb, 0, sizeof mb, false};
		pb_uint(&m, 1, i + 1);
		pb_uint(&m, 2, mp->start);
		pb_uint(&m, 3, mp->limit);
		pb_uint(&m, 4, mp->offset);
		pb_uint(&m, 5, mp->file);
		if (mp->buildid)
			pb_uint(&m, 6, mp->buildid);
		out_msg(o, P_MAPPING, &m);
	}
	for (uint32_t i = 0; i < x->nstr; i++) {
		size_t n = strlen(x->str[i]);
		uint8_t hdr[16];
		pbuf h = {hdr, 0, sizeof hdr, false};
		pb_key(&h, P_STRING_TABLE, PB_LEN);
		pb_varint(&h, n);
		out_data(o, hdr, h.n);
		out_data(o, x->str[i], n);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	out_uint(o, P_TIME_NANOS, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	m = (pbuf){mb, 0, sizeof mb, false};
	pb_uint(&m, 1, S_SPACE);
	pb_uint(&m, 2, S_BYTES);
	out_msg(o, P_PERIOD_TYPE, &m);
	out_uint(o, P_PERIOD, (uint64_t)rate);
	out_uint(o, P_DEFAULT_SAMPLE_TYPE, S_INUSE_SPACE);
	out_flush(o);
	if (o->err) {
		saved = o->err;
		goto out;
	}
	ret = 0;
out:
	if (ls.slot)
		gh_sys_free(ls.slot, ls.cap * sizeof *ls.slot, &gh_heap.stats.other_sys);
	if (o)
		gh_sys_free(o, sizeof *o, &gh_heap.stats.other_sys);
	if (x)
		gh_sys_free(x, sizeof *x, &gh_heap.stats.other_sys);
	gh_sys_free(sn, snapsize, &gh_heap.stats.other_sys);
	if (ret != 0)
		errno = saved;
	return ret;
}
