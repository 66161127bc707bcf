/*
 * soak.c - a long multi-threaded churn against libgoheap ("make soak"; not
 * part of make check).
 *
 * SOAK_THREADS threads (default 4) each keep a table of SOAK_SLOTS live
 * blocks (default 4096) of mixed sizes and kinds -- mostly small, some
 * large, scanned, atomic and typed, some linked to each other -- and
 * replace a random slot at a time.  Most replaced blocks are dropped for the
 * collector.  Besides, a quarter of the steps make a private block, grow
 * or shrink half of those with goheap_realloc, and free it by hand.  Each
 * block carries its own address and a pattern, checked before it is let go:
 * a block freed while still live, or handed out twice, shows as a broken
 * pattern.  The live set is therefore steady and the collector runs all the
 * time (GOGC as set; the tables themselves are in goheap memory, so they
 * are found only through the threads' stacks).
 *
 * The main thread samples the resident set (/proc/self/statm) every
 * SOAK_SAMPLE seconds (default 5) for SOAK_SECONDS (default 600).  After a
 * warm-up of a fifth of the run (at most 60 s), the largest sample must be
 * within 10 % of the smallest, and there must be no error: no NULL from an
 * allocation, no broken block.  It prints every sample and one summary
 * line, and exits 0 only if both hold.
 */
#include <goheap.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct blk {
	uintptr_t self;  /* the block's own address */
	uint64_t tag;    /* fills the rest of the block, word by word */
	size_t size;
	struct blk *peer; /* another live block (scanned kinds only) */
} blk;

static atomic_uint_fast64_t errors, allocs, frees, reallocs;
static atomic_int stop;
static long slots = 4096;
static goheap_type *link_type;

static long env_long(const char *name, long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v <= 0 ? def : v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15u);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static uint64_t resident(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void fill(blk *b, size_t size, uint64_t tag)
{
	b->self = (uintptr_t)b;
	b->tag = tag;
	b->size = size;
	uint64_t *w = (uint64_t *)b;
	for (size_t i = sizeof *b / 8; i < size / 8; i++)
		w[i] = tag ^ i;
}

static int intact(const blk *b)
{
	if (b->self != (uintptr_t)b)
		return 0;
	const uint64_t *w = (const uint64_t *)b;
	for (size_t i = sizeof *b / 8; i < b->size / 8; i++)
		if (w[i] != (b->tag ^ i))
			return 0;
	return 1;
}

/* A block realloc moved from old: the pattern is intact but for the
 * address it records. */
static int intact_moved(const blk *b, uintptr_t old)
{
	if (b->self != old && b->self != (uintptr_t)b)
		return 0;
	const uint64_t *w = (const uint64_t *)b;
	for (size_t i = sizeof *b / 8; i < b->size / 8; i++)
		if (w[i] != (b->tag ^ i))
			return 0;
	return 1;
}

static size_t pick_size(uint64_t *s)
{
	uint64_t r = rng(s) % 1000;
	if (r < 700)
		return sizeof(blk) + rng(s) % 224;    /* up to 256 B */
	if (r < 950)
		return sizeof(blk) + rng(s) % 4064;   /* up to 4 KiB */
	if (r < 995)
		return sizeof(blk) + rng(s) % 32736;  /* up to 32 KiB */
	return 32 * 1024 + rng(s) % (224 * 1024); /* large, up to 256 KiB */
}

static blk *make(uint64_t *s, blk **table)
{
	size_t size = pick_size(s);
	blk *b;
	uint64_t kind = rng(s) % 8;
	if (kind < 4)
		b = goheap_malloc(size);
	else if (kind < 7)
		b = goheap_malloc_atomic(size);
	else
		b = goheap_malloc_typed(size = (size + 31) & ~(size_t)31, link_type);
	if (!b) {
		atomic_fetch_add(&errors, 1);
		fprintf(stderr, "soak: allocation of %zu bytes failed: %s\n", size, strerror(errno));
		return NULL;
	}
	atomic_fetch_add(&allocs, 1);
	fill(b, size, rng(s));
	/* Scanned blocks keep a link to another slot's block: the block
	 * keeps its peer alive after the slot moves on. */
	if (kind < 4 || kind == 7)
		b->peer = table[rng(s) % (uint64_t)slots];
	else
		b->peer = NULL;
	return b;
}

/* Check the block a slot holds, and the peer it links to, and let it go
 * for the collector.  (Blocks in the table are never freed by hand: other
 * blocks may link to them.) */
static void let_go(blk **slot)
{
	blk *b = *slot;
	*slot = NULL;
	if (b && (!intact(b) || (b->peer && !intact(b->peer)))) {
		atomic_fetch_add(&errors, 1);
		fprintf(stderr, "soak: block %p broken\n", (void *)b);
	}
}

/* A block nobody else sees: made, grown or shrunk, checked, freed by hand. */
static void private_block(uint64_t *s)
{
	size_t size = pick_size(s);
	blk *t = rng(s) % 2 ? goheap_malloc(size) : goheap_malloc_atomic(size);
	if (!t) {
		atomic_fetch_add(&errors, 1);
		fprintf(stderr, "soak: allocation of %zu bytes failed: %s\n", size, strerror(errno));
		return;
	}
	atomic_fetch_add(&allocs, 1);
	fill(t, size, rng(s));
	t->peer = NULL;
	if (rng(s) % 2) {
		size_t ns = pick_size(s);
		blk *nt = goheap_realloc(t, ns);
		if (!nt) {
			atomic_fetch_add(&errors, 1);
			fprintf(stderr, "soak: realloc to %zu failed: %s\n", ns, strerror(errno));
			goheap_free(t);
			return;
		}
		atomic_fetch_add(&reallocs, 1);
		/* The common prefix moved intact: check it, then refill. */
		size_t keep = size < ns ? size : ns;
		nt->size = keep;
		if (!intact_moved(nt, (uintptr_t)t)) {
			atomic_fetch_add(&errors, 1);
			fprintf(stderr, "soak: realloc lost the contents of %p\n", (void *)t);
		}
		fill(nt, ns, rng(s));
		t = nt;
	}
	if (!intact(t)) {
		atomic_fetch_add(&errors, 1);
		fprintf(stderr, "soak: private block %p broken\n", (void *)t);
	}
	goheap_free(t);
	atomic_fetch_add(&frees, 1);
}

static void *churn(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 0x1234567u + 1;
	blk **table = goheap_malloc((size_t)slots * sizeof *table);
	if (!table) {
		atomic_fetch_add(&errors, 1);
		return NULL;
	}
	for (long i = 0; i < slots; i++)
		table[i] = make(&s, table);
	while (!atomic_load(&stop)) {
		for (int k = 0; k < 256; k++) {
			long i = (long)(rng(&s) % (uint64_t)slots);
			let_go(&table[i]);
			if (!table[i])
				table[i] = make(&s, table);
			if (rng(&s) % 4 == 0)
				private_block(&s);
		}
	}
	for (long i = 0; i < slots; i++)
		if (table[i] && !intact(table[i])) {
			atomic_fetch_add(&errors, 1);
			fprintf(stderr, "soak: block %p broken at the end\n", (void *)table[i]);
		}
	goheap_free(table);
	return NULL;
}

int main(void)
{
	long seconds = env_long("SOAK_SECONDS", 600);
	long nthreads = env_long("SOAK_THREADS", 4);
	long sample = env_long("SOAK_SAMPLE", 5);
	slots = env_long("SOAK_SLOTS", 4096);
	if (sample > seconds)
		sample = seconds;
	long warmup = seconds / 5 < 60 ? seconds / 5 : 60;

	size_t offs[2] = {offsetof(blk, peer), 0};
	link_type = goheap_type_new(sizeof(blk), offs, 1);
	if (!link_type) {
		fprintf(stderr, "soak: goheap_type_new failed\n");
		return 1;
	}
	pthread_t th[64];
	if (nthreads > 64)
		nthreads = 64;
	for (long i = 0; i < nthreads; i++)
		if (goheap_pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1)) != 0) {
			fprintf(stderr, "soak: cannot start thread %ld\n", i);
			return 1;
		}

	printf("soak: %ld threads x %ld slots for %ld s, warm-up %ld s, sample every %ld s\n",
	       nthreads, slots, seconds, warmup, sample);
	uint64_t t0 = now_ns(), lo = UINT64_MAX, hi = 0;
	for (long t = sample; t <= seconds; t += sample) {
		uint64_t until = t0 + (uint64_t)t * 1000000000u;
		for (uint64_t n; (n = now_ns()) < until;) {
			struct timespec ts = {(time_t)((until - n) / 1000000000u),
					      (long)((until - n) % 1000000000u)};
			nanosleep(&ts, NULL);
		}
		uint64_t rss = resident();
		goheap_memstats m;
		m.size = sizeof m;
		goheap_read_memstats(&m);
		int warm = t > warmup;
		if (warm) {
			lo = rss < lo ? rss : lo;
			hi = rss > hi ? rss : hi;
		}
		printf("t=%4lds rss=%6.1f MiB heap_alloc=%6.1f MiB heap_sys=%6.1f MiB numgc=%u "
		       "allocs=%" PRIu64 " errors=%" PRIu64 "%s\n",
		       t, rss / 1048576.0, m.heap_alloc / 1048576.0, m.heap_sys / 1048576.0,
		       m.numgc, (uint64_t)atomic_load(&allocs), (uint64_t)atomic_load(&errors),
		       warm ? "" : " (warm-up)");
		fflush(stdout);
	}
	atomic_store(&stop, 1);
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);

	goheap_memstats m;
	m.size = sizeof m;
	goheap_read_memstats(&m);
	uint64_t err = atomic_load(&errors);
	double spread = lo ? (double)(hi - lo) / (double)lo * 100 : 0;
	int flat = lo != UINT64_MAX && hi <= lo + lo / 10;
	printf("soak: %s: rss after warm-up %.1f..%.1f MiB (spread %.1f %%, limit 10 %%), "
	       "%" PRIu64 " allocations, %" PRIu64 " frees, %" PRIu64 " reallocs, %u collections, "
	       "%" PRIu64 " errors\n",
	       flat && !err ? "PASS" : "FAIL", lo / 1048576.0, hi / 1048576.0, spread,
	       (uint64_t)atomic_load(&allocs), (uint64_t)atomic_load(&frees),
	       (uint64_t)atomic_load(&reallocs), m.numgc, err);
	return flat && !err ? 0 : 1;
}
