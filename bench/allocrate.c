/*
 * allocrate.c - allocation rate with a collector at work: every thread
 * allocates blocks into a sliding window of W live blocks (default 1024)
 * and never frees one; the block that leaves the window is garbage for the
 * collector.  The malloc variants (see gcb_alloc.h) free the block that
 * leaves the window instead, as a reference.  Each new block has its first
 * and last byte written.
 *
 *   allocrate [-z SIZE|mixed] [-t THREADS] [-s SECONDS] [-w WINDOW]
 *
 * SIZE is the block size in bytes (default 64); "mixed" draws sizes from
 * 16 to 8192 bytes, half of them at most 64 (the same bands as
 * alloc_bench.c's mixed pattern: 50 % 16-64, 25 % 65-256, 15 % 257-1024,
 * 7 % 1025-4096, 3 % 4097-8192).  Every thread fills its window, then all
 * run together for SECONDS (default 0.5) of wall time.  The windows are
 * static arrays, roots the collector finds in the program's data.
 *
 * Prints "RATE ns_per_alloc=X mallocs_per_s=Y": X is the mean over the
 * threads of a thread's elapsed time per allocation, Y the aggregate
 * allocations per second; then the collector's "GC ..." line.
 */
#include <stddef.h>

#define BV_NODE_SIZE 16
#define BV_NODE_NPTRS 1
#include "gcb_alloc.h"

#include <stdatomic.h>
#include <unistd.h>

#define MAX_THREADS 8
#define MAX_WINDOW 65536
#define SIZE_TABLE_LEN 4096
#define STOP_CHECK 64

static void *windows[MAX_THREADS][MAX_WINDOW];
static uint16_t size_table[SIZE_TABLE_LEN];
static size_t fixed_size = 64, window = 1024;
static atomic_int ready, go, stop;

struct worker {
	pthread_t thread;
	int id;
	uint64_t count;
	double seconds;
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void make_size_table(void)
{
	static const unsigned band[][3] = {
		{16, 64, 50}, {65, 256, 25}, {257, 1024, 15}, {1025, 4096, 7}, {4097, 8192, 3},
	};
	uint64_t s = 0x853c49e6748fea9bULL;
	for (size_t i = 0; i < SIZE_TABLE_LEN; i++) {
		unsigned p = (unsigned)(xorshift(&s) % 100), acc = 0, b;
		for (b = 0; b < 4; b++) {
			acc += band[b][2];
			if (p < acc)
				break;
		}
		size_table[i] = (uint16_t)(band[b][0] + xorshift(&s) % (band[b][1] - band[b][0] + 1));
	}
}

static inline void *new_block(uint64_t r)
{
	size_t n = fixed_size ? fixed_size : size_table[r % SIZE_TABLE_LEN];
	unsigned char *p = bv_alloc(n);
	p[0] = (unsigned char)r;
	p[n - 1] = (unsigned char)(r >> 8);
	BV_ESCAPE(p);
	return p;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	void **win = windows[w->id];
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->id + 1);
	for (size_t i = 0; i < window; i++)
		win[i] = new_block(xorshift(&rng));
	atomic_fetch_add(&ready, 1);
	while (!atomic_load(&go))
		;
	uint64_t count = 0;
	size_t slot = 0;
	double t0 = bv_now();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int k = 0; k < STOP_CHECK; k++) {
			void *old = win[slot];
			win[slot] = new_block(xorshift(&rng));
			bv_free(old);
			if (++slot == window)
				slot = 0;
		}
		count += STOP_CHECK;
	}
	w->seconds = bv_now() - t0;
	w->count = count;
	for (size_t i = 0; i < window; i++) {
		bv_free(win[i]);
		win[i] = NULL;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = 1, c;
	double seconds = 0.5;
	while ((c = getopt(argc, argv, "z:t:s:w:")) != -1) {
		switch (c) {
		case 'z': fixed_size = strcmp(optarg, "mixed") == 0 ? 0 : strtoul(optarg, NULL, 10); break;
		case 't': nthreads = atoi(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'w': window = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: allocrate [-z SIZE|mixed] [-t THREADS] [-s SECONDS] [-w WINDOW]\n");
			return 1;
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || window < 1 || window > MAX_WINDOW ||
	    seconds <= 0 || fixed_size > (1u << 20)) {
		fprintf(stderr, "allocrate: bad arguments\n");
		return 1;
	}
	bv_init();
	make_size_table();
	for (int i = 0; i < nthreads; i++) {
		workers[i].id = i;
		if (bv_thread_create(&workers[i].thread, run, &workers[i]) != 0) {
			fprintf(stderr, "allocrate: cannot create a thread\n");
			return 2;
		}
	}
	while (atomic_load(&ready) < nthreads)
		usleep(100);
	atomic_store(&go, 1);
	struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
	atomic_store(&stop, 1);
	double ns = 0, rate = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		ns += workers[i].seconds * 1e9 / (double)workers[i].count;
		rate += (double)workers[i].count / workers[i].seconds;
	}
	printf("allocrate (%s): size %s, %d thread(s), window %zu, %.2f s\n", BV_NAME,
	       fixed_size ? "fixed" : "mixed", nthreads, window, seconds);
	printf("RATE ns_per_alloc=%.3f mallocs_per_s=%.0f\n", ns / nthreads, rate);
	bv_report_gc(stdout);
	return 0;
}
