/*
 * alloc_bench.c - allocation speed of libgoheap against its peers.
 *
 * One source, compiled once per allocator; the allocator is chosen with a
 * macro at compile time so that the timed loop calls the allocator directly,
 * with no indirection that would add the same cost to every column:
 *
 *   (none)               glibc malloc/free
 *   -DALLOC_JEMALLOC     malloc/free of libjemalloc (link -ljemalloc, which
 *                        replaces malloc process-wide; checked at start-up)
 *   -DALLOC_MIMALLOC     mi_malloc/mi_free from <mimalloc.h> (-lmimalloc)
 *   -DALLOC_GOHEAP_ATOMIC goheap_malloc_atomic/goheap_free: memory that is
 *                        not zeroed, the apples-to-apples peer of malloc
 *   -DALLOC_GOHEAP       goheap_malloc/goheap_free: zeroed, scanned blocks
 *
 * What is measured, in nanoseconds per allocation+free pair:
 *
 *   window/SIZE  Each thread keeps a window of W live blocks (default 1000).
 *                Each step frees a pseudo-randomly chosen slot and allocates
 *                a new block into it, writing its first and last byte.  The
 *                window is filled before the clock starts and emptied after
 *                it stops.
 *   imm/SIZE     Allocate, write the first and last byte, free at once.
 *
 * SIZE is 16, 64, 256, 1024, 8192 or "mixed": sizes from 16 to 8192 drawn
 * from a fixed distribution weighted towards small blocks (see
 * build_size_table).  The pseudo-random streams (slot choice and sizes) are
 * seeded identically for every allocator, so each allocator sees the same
 * sequence of requests; thread i uses stream i.
 *
 * Each cell runs for a fixed wall time (default 0.3 s) rather than a fixed
 * number of steps: the threads start together, run until the main thread
 * raises a stop flag, and each reports its own step count and elapsed time
 * (CLOCK_MONOTONIC).  So with 2 threads both run the whole interval; nobody
 * is measured running alone after the other finished.
 *
 *   ns/pair   mean over the threads of (elapsed / steps): the cost of one
 *             pair as seen by one thread.
 *   Mpairs/s  sum over the threads of (steps / elapsed): the aggregate
 *             throughput.  Its 2-thread/1-thread ratio is the speedup.
 *
 * With -r N each cell is run N times and the median is printed.
 * bench/run-alloc.sh runs every allocator's binary with -r 1, alternating
 * between allocators, and takes the medians itself.
 *
 * Output: lines starting with '#' are comments; every other line is
 *   PATTERN THREADS NS_PER_PAIR MPAIRS_PER_S ONCPU OTHERS
 * separated by blanks.  ONCPU is the smallest fraction of the interval that
 * a thread actually ran (CLOCK_THREAD_CPUTIME_ID / CLOCK_MONOTONIC).  Well
 * below 1, the thread was either preempted by other processes or blocked
 * by the allocator itself (a lock, a stop-the-world collection).  OTHERS
 * tells the two apart: the share of the machine's CPU capacity that other
 * processes used meanwhile (busy time from /proc/stat less this process's
 * CPU time), or -1 where /proc/stat is not available.  Before each cell a comment "# begin PATTERN THREADS"
 * is flushed, so that a crash can be attributed to its cell.
 *
 * The live-block arrays are static (.bss) so that a conservative collector
 * that scans the program's data segments sees every live block, as it
 * would in a real program; blocks are freed explicitly in any case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(ALLOC_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define ALLOC_NAME "jemalloc"
#define BENCH_ALLOC(n) malloc(n)
#define BENCH_FREE(p) free(p)
#elif defined(ALLOC_MIMALLOC)
#include <mimalloc.h>
#define ALLOC_NAME "mimalloc"
#define BENCH_ALLOC(n) mi_malloc(n)
#define BENCH_FREE(p) mi_free(p)
#elif defined(ALLOC_GOHEAP_ATOMIC)
#include <dlfcn.h>
#include <goheap.h>
#define ALLOC_NAME "goheap-atomic"
#define ALLOC_IS_GOHEAP 1
#define BENCH_ALLOC(n) goheap_malloc_atomic(n)
#define BENCH_FREE(p) goheap_free(p)
#elif defined(ALLOC_GOHEAP)
#include <dlfcn.h>
#include <goheap.h>
#define ALLOC_NAME "goheap"
#define ALLOC_IS_GOHEAP 1
#define BENCH_ALLOC(n) goheap_malloc(n)
#define BENCH_FREE(p) goheap_free(p)
#else
#include <gnu/libc-version.h>
#define ALLOC_NAME "glibc"
#define ALLOC_IS_GLIBC 1
#define BENCH_ALLOC(n) malloc(n)
#define BENCH_FREE(p) free(p)
#endif

#define MAX_THREADS 16
#define MAX_WINDOW 16384
/* How many steps a thread takes between looks at the stop flag. */
#define STOP_CHECK_STEPS 64
/* Entries in the mixed-size table: a power of two, 8 KiB of uint16_t. */
#define SIZE_TABLE_LEN 4096
#define MIXED_SEED UINT64_C(0x9e3779b97f4a7c15)
#define STREAM_SEED UINT64_C(0x2545f4914f6cdd1d)

/*
 * Optimisation barrier: the compiler must assume p escapes and that memory
 * was read, so an allocate/write/free sequence can't be folded away.
 */
#define ESCAPE(p) __asm__ __volatile__("" : : "r"(p) : "memory")

enum pattern_kind { PAT_WINDOW, PAT_IMMEDIATE };

struct pattern {
	const char *name;
	enum pattern_kind kind;
	size_t size; /* 0: mixed */
};

static const struct pattern patterns[] = {
	{"window/16", PAT_WINDOW, 16},
	{"window/64", PAT_WINDOW, 64},
	{"window/256", PAT_WINDOW, 256},
	{"window/1024", PAT_WINDOW, 1024},
	{"window/8192", PAT_WINDOW, 8192},
	{"window/mixed", PAT_WINDOW, 0},
	{"imm/16", PAT_IMMEDIATE, 16},
	{"imm/64", PAT_IMMEDIATE, 64},
	{"imm/256", PAT_IMMEDIATE, 256},
	{"imm/1024", PAT_IMMEDIATE, 1024},
	{"imm/8192", PAT_IMMEDIATE, 8192},
	{"imm/mixed", PAT_IMMEDIATE, 0},
};
#define NPATTERNS (sizeof patterns / sizeof patterns[0])

/* The live windows: static, see the header comment. */
static void *live[MAX_THREADS][MAX_WINDOW] __attribute__((aligned(64)));

static uint16_t size_table[SIZE_TABLE_LEN];

/* One cell's parameters, set by the main thread before it starts workers. */
static struct {
	const struct pattern *pat;
	int nthreads;
	size_t window;
} cell;

static atomic_int ready_count; /* workers that have filled their window */
static atomic_int go_flag;     /* main: start the clock */
static atomic_int stop_flag;   /* main: stop */

struct worker {
	pthread_t thread;
	int id;
	uint64_t steps;
	double seconds;     /* wall time, CLOCK_MONOTONIC */
	double cpu_seconds; /* this thread's CPU time over the same interval */
	int failed;         /* an allocation returned NULL */
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];

/* Worker pool: workers wait for a new generation, run the cell if their id
 * is below cell.nthreads, and report done. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static unsigned pool_generation;
static int pool_finished;
static int pool_quit;
static int pool_size;

static double clock_seconds(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_seconds(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

static double thread_cpu_seconds(void)
{
	return clock_seconds(CLOCK_THREAD_CPUTIME_ID);
}

/* CPU seconds that the whole machine has spent busy (all processes), from
 * the first line of /proc/stat; -1 if unavailable.  Resolution: one clock
 * tick (10 ms) per CPU. */
static double machine_busy_seconds(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		       &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	/* user nice system [idle iowait] irq softirq steal */
	unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* splitmix64: seeds and the size table. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* xorshift64*: the in-loop stream; a few cycles, the same for everyone. */
static inline uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/*
 * The mixed distribution: a size band is chosen with these weights, then a
 * size uniformly within the band.  Mean about 500 bytes; half of all requests
 * are at most 64 bytes, as in typical C and Go programs.
 */
static void build_size_table(void)
{
	static const struct {
		unsigned lo, hi, percent;
	} bands[] = {
		{16, 64, 50}, {65, 256, 25}, {257, 1024, 15},
		{1025, 4096, 7}, {4097, 8192, 3},
	};
	uint64_t st = MIXED_SEED;
	for (size_t i = 0; i < SIZE_TABLE_LEN; i++) {
		unsigned pick = (unsigned)(splitmix64(&st) % 100), acc = 0;
		size_t b = 0;
		for (b = 0; b < sizeof bands / sizeof bands[0] - 1; b++) {
			acc += bands[b].percent;
			if (pick < acc)
				break;
		}
		unsigned span = bands[b].hi - bands[b].lo + 1;
		size_table[i] = (uint16_t)(bands[b].lo + splitmix64(&st) % span);
	}
}

static void die(const char *msg)
{
	fprintf(stderr, "alloc_bench (%s): %s\n", ALLOC_NAME, msg);
	exit(1);
}

static inline size_t pick_size(size_t fixed, uint64_t r)
{
	return fixed ? fixed : size_table[(r >> 20) & (SIZE_TABLE_LEN - 1)];
}

static inline void *alloc_touch(size_t size, uint64_t r, int *failed)
{
	unsigned char *p = BENCH_ALLOC(size);
	if (__builtin_expect(p == NULL, 0)) {
		*failed = 1;
		return NULL;
	}
	p[0] = (unsigned char)r;
	p[size - 1] = (unsigned char)(r >> 8);
	ESCAPE(p);
	return p;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void wait_for_go(void)
{
	while (!atomic_load_explicit(&go_flag, memory_order_acquire))
		cpu_relax();
}

static void run_window(struct worker *w, uint64_t rng)
{
	void **slots = live[w->id];
	size_t window = cell.window, fixed = cell.pat->size;
	uint64_t steps = 0;
	int failed = 0;

	for (size_t i = 0; i < window; i++) {
		uint64_t r = next_random(&rng);
		slots[i] = alloc_touch(pick_size(fixed, r), r, &failed);
	}
	atomic_fetch_add(&ready_count, 1);
	wait_for_go();

	double c0 = thread_cpu_seconds(), t0 = now_seconds();
	while (!failed) {
		for (int k = 0; k < STOP_CHECK_STEPS; k++) {
			uint64_t r = next_random(&rng);
			size_t slot = (size_t)(((r >> 32) * window) >> 32);
			BENCH_FREE(slots[slot]);
			slots[slot] = alloc_touch(pick_size(fixed, r), r, &failed);
		}
		steps += STOP_CHECK_STEPS;
		if (atomic_load_explicit(&stop_flag, memory_order_relaxed))
			break;
	}
	double t1 = now_seconds(), c1 = thread_cpu_seconds();

	for (size_t i = 0; i < window; i++) {
		BENCH_FREE(slots[i]);
		slots[i] = NULL;
	}
	w->steps = steps;
	w->seconds = t1 - t0;
	w->cpu_seconds = c1 - c0;
	w->failed = failed;
}

static void run_immediate(struct worker *w, uint64_t rng)
{
	size_t fixed = cell.pat->size;
	uint64_t steps = 0;
	int failed = 0;

	atomic_fetch_add(&ready_count, 1);
	wait_for_go();

	double c0 = thread_cpu_seconds(), t0 = now_seconds();
	while (!failed) {
		for (int k = 0; k < STOP_CHECK_STEPS; k++) {
			uint64_t r = next_random(&rng);
			void *p = alloc_touch(pick_size(fixed, r), r, &failed);
			BENCH_FREE(p);
		}
		steps += STOP_CHECK_STEPS;
		if (atomic_load_explicit(&stop_flag, memory_order_relaxed))
			break;
	}
	double t1 = now_seconds(), c1 = thread_cpu_seconds();

	w->steps = steps;
	w->seconds = t1 - t0;
	w->cpu_seconds = c1 - c0;
	w->failed = failed;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned seen = 0;

	for (;;) {
		pthread_mutex_lock(&pool_lock);
		while (pool_generation == seen && !pool_quit)
			pthread_cond_wait(&pool_wake, &pool_lock);
		if (pool_quit) {
			pthread_mutex_unlock(&pool_lock);
			return NULL;
		}
		seen = pool_generation;
		pthread_mutex_unlock(&pool_lock);

		if (w->id < cell.nthreads) {
			/* Stream w->id: the same for every allocator. */
			uint64_t st = STREAM_SEED + (uint64_t)w->id;
			uint64_t rng = splitmix64(&st) | 1;
			if (cell.pat->kind == PAT_WINDOW)
				run_window(w, rng);
			else
				run_immediate(w, rng);
		}

		pthread_mutex_lock(&pool_lock);
		pool_finished++;
		pthread_cond_signal(&pool_done);
		pthread_mutex_unlock(&pool_lock);
	}
}

static void sleep_seconds(double s)
{
	struct timespec ts;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run one cell once; fills *ns, *mops, *cpu (the smallest share of the
 * interval that a thread spent on a CPU) and *others (the share of the
 * machine that other processes used meanwhile; see the header comment). */
static void run_cell(const struct pattern *pat, int nthreads, size_t window,
		     double seconds, double *ns, double *mops, double *cpu,
		     double *others)
{
	cell.pat = pat;
	cell.nthreads = nthreads;
	cell.window = window;
	atomic_store(&ready_count, 0);
	atomic_store(&go_flag, 0);
	atomic_store(&stop_flag, 0);

	pthread_mutex_lock(&pool_lock);
	pool_finished = 0;
	pool_generation++;
	pthread_cond_broadcast(&pool_wake);
	pthread_mutex_unlock(&pool_lock);

	while (atomic_load(&ready_count) < nthreads)
		sleep_seconds(50e-6);
	double busy0 = machine_busy_seconds();
	double self0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
	double wall0 = now_seconds();
	atomic_store_explicit(&go_flag, 1, memory_order_release);
	sleep_seconds(seconds);
	atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);

	pthread_mutex_lock(&pool_lock);
	while (pool_finished < pool_size)
		pthread_cond_wait(&pool_done, &pool_lock);
	pthread_mutex_unlock(&pool_lock);
	double busy1 = machine_busy_seconds();
	double self1 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
	double wall1 = now_seconds();
	if (busy0 < 0 || busy1 < 0) {
		*others = -1;
	} else {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		double o = (busy1 - busy0) - (self1 - self0);
		*others = o > 0 ? o / ((double)(ncpu > 0 ? ncpu : 1) * (wall1 - wall0)) : 0;
	}

	double ns_sum = 0, rate = 0, cpu_min = 1;
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		if (w->failed)
			die("allocation returned NULL");
		ns_sum += w->seconds * 1e9 / (double)w->steps;
		rate += (double)w->steps / w->seconds;
		if (w->cpu_seconds / w->seconds < cpu_min)
			cpu_min = w->cpu_seconds / w->seconds;
	}
	*ns = ns_sum / nthreads;
	*mops = rate / 1e6;
	*cpu = cpu_min;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Say which allocator is really in use; refuse to measure the wrong one. */
static void identify(char *buf, size_t len)
{
#if defined(ALLOC_JEMALLOC)
	const char *version = NULL;
	size_t vlen = sizeof version;
	uint64_t before = 0, after = 0;
	size_t ulen = sizeof before;
	if (mallctl("version", &version, &vlen, NULL, 0) != 0)
		die("mallctl(\"version\") failed: not linked with jemalloc?");
	/* malloc itself must be jemalloc's: its per-thread counter moves. */
	mallctl("thread.allocated", &before, &ulen, NULL, 0);
	void *p = malloc(1000);
	ESCAPE(p);
	ulen = sizeof after;
	mallctl("thread.allocated", &after, &ulen, NULL, 0);
	free(p);
	if (after <= before)
		die("malloc is not jemalloc's (thread.allocated did not move)");
	snprintf(buf, len, "jemalloc %s", version);
#elif defined(ALLOC_MIMALLOC)
	int v = mi_version();
	snprintf(buf, len, "mimalloc %d.%d.%d (mi_malloc/mi_free)", v / 100,
		 (v / 10) % 10, v % 10);
#elif defined(ALLOC_IS_GOHEAP)
	Dl_info info;
	const char *where = "?";
	if (dladdr((void *)goheap_free, &info) && info.dli_fname)
		where = info.dli_fname;
	snprintf(buf, len, "%s (goheap.h version %d) from %s", ALLOC_NAME,
		 GOHEAP_VERSION, where);
#else
	snprintf(buf, len, "glibc %s malloc/free", gnu_get_libc_version());
#endif
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-p PATTERN[,PATTERN..]] [-T THREADS[,THREADS..]] "
		"[-w WINDOW] [-s SECONDS] [-r REPEATS] [-l]\n"
		"  -p  patterns to run (default: all; -l lists them)\n"
		"  -T  thread counts (default 1,2; at most %d)\n"
		"  -w  live blocks per thread in window/* (default 1000, at most %d)\n"
		"  -s  seconds per cell (default 0.3)\n"
		"  -r  repeats per cell; the median is printed (default 3)\n",
		argv0, MAX_THREADS, MAX_WINDOW);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *pattern_list = NULL;
	int threads[MAX_THREADS], nthreads_list = 0;
	size_t window = 1000;
	double seconds = 0.3;
	int repeats = 3;
	int opt;

	threads[nthreads_list++] = 1;
	threads[nthreads_list++] = 2;
	while ((opt = getopt(argc, argv, "p:T:w:s:r:lh")) != -1) {
		switch (opt) {
		case 'p':
			pattern_list = optarg;
			break;
		case 'T': {
			char *s = optarg, *end;
			nthreads_list = 0;
			while (*s && nthreads_list < MAX_THREADS) {
				long t = strtol(s, &end, 10);
				if (end == s || t < 1 || t > MAX_THREADS)
					usage(argv[0]);
				threads[nthreads_list++] = (int)t;
				s = *end == ',' ? end + 1 : end;
				if (*end && *end != ',')
					usage(argv[0]);
			}
			break;
		}
		case 'w':
			window = strtoul(optarg, NULL, 10);
			if (window < 1 || window > MAX_WINDOW)
				usage(argv[0]);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			if (!(seconds > 0.001 && seconds < 60))
				usage(argv[0]);
			break;
		case 'r':
			repeats = atoi(optarg);
			if (repeats < 1 || repeats > 99)
				usage(argv[0]);
			break;
		case 'l':
			for (size_t i = 0; i < NPATTERNS; i++)
				printf("%s\n", patterns[i].name);
			return 0;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);

	int selected[NPATTERNS] = {0};
	if (pattern_list) {
		char *copy = strdup(pattern_list), *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			size_t i;
			for (i = 0; i < NPATTERNS; i++)
				if (strcmp(tok, patterns[i].name) == 0)
					break;
			if (i == NPATTERNS) {
				fprintf(stderr, "unknown pattern %s (-l lists them)\n", tok);
				return 2;
			}
			selected[i] = 1;
		}
		free(copy);
	} else {
		for (size_t i = 0; i < NPATTERNS; i++)
			selected[i] = 1;
	}

	build_size_table();

	char ident[512];
	identify(ident, sizeof ident);
	printf("# allocator %s: %s\n", ALLOC_NAME, ident);
	printf("# window %zu, %.3f s per cell, median of %d\n", window, seconds,
	       repeats);
	printf("# %-14s %7s %10s %10s %6s %6s\n", "pattern", "threads",
	       "ns/pair", "Mpairs/s", "oncpu", "others");
	fflush(stdout);

	pool_size = 0;
	for (int i = 0; i < nthreads_list; i++)
		if (threads[i] > pool_size)
			pool_size = threads[i];
	for (int i = 0; i < pool_size; i++) {
		workers[i].id = i;
		if (pthread_create(&workers[i].thread, NULL, worker_main,
				   &workers[i]) != 0)
			die("pthread_create failed");
	}

	for (size_t p = 0; p < NPATTERNS; p++) {
		if (!selected[p])
			continue;
		for (int t = 0; t < nthreads_list; t++) {
			double ns[99], mops[99], cpu[99], others[99];
			printf("# begin %s %d\n", patterns[p].name, threads[t]);
			fflush(stdout);
			for (int r = 0; r < repeats; r++)
				run_cell(&patterns[p], threads[t], window, seconds,
					 &ns[r], &mops[r], &cpu[r], &others[r]);
			/* oncpu and others: the worst repeat's. */
			double worst = 1, most = -1;
			for (int r = 0; r < repeats; r++) {
				if (cpu[r] < worst)
					worst = cpu[r];
				if (others[r] > most)
					most = others[r];
			}
			printf("%-16s %7d %10.2f %10.2f %6.3f %6.3f\n",
			       patterns[p].name, threads[t], median(ns, repeats),
			       median(mops, repeats), worst, most);
			fflush(stdout);
		}
	}

	pthread_mutex_lock(&pool_lock);
	pool_quit = 1;
	pthread_cond_broadcast(&pool_wake);
	pthread_mutex_unlock(&pool_lock);
	for (int i = 0; i < pool_size; i++)
		pthread_join(workers[i].thread, NULL);

#if defined(ALLOC_IS_GOHEAP)
	{
		static goheap_memstats ms; /* large: keep it off the stack */
		goheap_read_memstats(&ms);
		printf("# goheap: nmalloc %llu nfree %llu heap_objects %llu "
		       "heap_sys %.1f MiB sys %.1f MiB numgc %u\n",
		       (unsigned long long)ms.nmalloc,
		       (unsigned long long)ms.nfree,
		       (unsigned long long)ms.heap_objects,
		       (double)ms.heap_sys / 1048576.0,
		       (double)ms.sys / 1048576.0, ms.numgc);
	}
#endif
	return 0;
}
