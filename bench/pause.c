/*
 * pause.c - allocation latency with a large live heap.
 *
 *   pause [-L LIVE_MIB] [-x CHURN_FACTOR] [-k KEEP_MIB] [-w WINDOW]
 *
 * 1. Build LIVE_MIB (default 1024) of long-lived data: a complete binary
 *    tree of 32-byte nodes (two pointers and two words of payload), the
 *    deepest whose size does not exceed LIVE_MIB.  A tree rather than a
 *    list so that parallel marking has parallel work.
 * 2. Churn CHURN_FACTOR (default 20) times the tree's size in 32-byte nodes
 *    that die young: each new node replaces the oldest of a ring of WINDOW
 *    (default 4096) nodes, and points to its predecessor in the ring (the
 *    link to the node that leaves the ring is cut).
 *    Every one of these allocations is timed (rdtsc on x86-64, calibrated
 *    against CLOCK_MONOTONIC over the churn; CLOCK_MONOTONIC elsewhere)
 *    into a log-linear histogram (32 sub-buckets per power of two, so a
 *    percentile is at most ~3 % above the truth; the maximum is exact).
 * 3. Drop all but a KEEP_MIB (default 64) subtree of the long-lived tree,
 *    empty the ring, collect, give free memory back to the OS
 *    (goheap_gc + goheap_free_os_memory; GC_gcollect_and_unmap for Boehm)
 *    and read the resident set size: it should be at most the kept live
 *    data + 10 % + 8 MiB.
 *
 * The malloc variants of gcb_alloc.h free each node that leaves the ring
 * (and free the dropped part of the tree), for reference.
 *
 * Output (one line each, parsed by bench/gcrun.py):
 *   LATENCY allocs=N max_us=.. p99_us=.. p999_us=.. p9999_us=.. mean_ns=..
 *   PHASES build_s=.. churn_s=..
 *   GC numgc=.. pause_total_ms=.. pause_max_ms=..  (during build and churn)
 *   AFTER rss_mib=.. kept_mib=.. heap_live_mib=.. target_mib=.. ok=0|1
 */
#include <stddef.h>
#include <stdint.h>

struct pnode {
	struct pnode *left, *right;
	uint64_t a, b;
};

#define BV_NODE_SIZE sizeof(struct pnode)
#define BV_NODE_NPTRS 2
#include "gcb_alloc.h"

#include <unistd.h>

#define SUB_BITS 5
#define SUB (1u << SUB_BITS)
#define NBUCKETS (64 * SUB)

static uint64_t hist[NBUCKETS];
static uint64_t hist_max;

static inline unsigned bucket_of(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= SUB_BITS */
	unsigned sub = (unsigned)(v >> (e - SUB_BITS)) & (SUB - 1);
	return (e - SUB_BITS + 1) * SUB + sub;
}

/* The largest value that falls in bucket b. */
static uint64_t bucket_top(unsigned b)
{
	if (b < SUB)
		return b;
	unsigned e = b / SUB + SUB_BITS - 1, sub = b % SUB;
	uint64_t lo = ((uint64_t)(SUB + sub)) << (e - SUB_BITS);
	return lo + (UINT64_C(1) << (e - SUB_BITS)) - 1;
}

#if defined(__x86_64__)
static inline uint64_t ticks(void)
{
	return __builtin_ia32_rdtsc();
}
#define TICK_SOURCE "rdtsc"
#else
static inline uint64_t ticks(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#define TICK_SOURCE "CLOCK_MONOTONIC"
#endif

/* Roots: static, as a program's globals. */
static struct pnode *tree;
static struct pnode *kept;
static struct pnode **ring;
static size_t ring_len = 4096;

static struct pnode *build(int depth, uint64_t *serial)
{
	struct pnode *n = bv_node();
	n->a = (*serial)++;
	n->b = (uint64_t)depth;
	if (depth > 0) {
		n->left = build(depth - 1, serial);
		n->right = build(depth - 1, serial);
	} else {
		n->left = NULL;
		n->right = NULL;
	}
	return n;
}

static uint64_t count(const struct pnode *n)
{
	return n ? 1 + count(n->left) + count(n->right) : 0;
}

/* Free the tree under n except the subtree keep (malloc variants only). */
static void free_except(struct pnode *n, const struct pnode *keep)
{
#if BV_FREES
	if (!n || n == keep)
		return;
	free_except(n->left, keep);
	free_except(n->right, keep);
	bv_free(n);
#else
	(void)n;
	(void)keep;
#endif
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Overwrite the stack below the caller, so that no stale copy of a dropped
 * pointer keeps the dropped tree reachable for a conservative scan. */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char pad[64 * 1024];
	memset((char *)pad, 0, sizeof pad);
	BV_ESCAPE(pad);
}

static __attribute__((noinline)) void churn(uint64_t n)
{
	size_t slot = 0;
	uint64_t mx = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = ticks();
		struct pnode *p = bv_node();
		uint64_t dt = ticks() - t0;
		hist[bucket_of(dt)]++;
		if (dt > mx)
			mx = dt;
		struct pnode *old = ring[slot];
		/* old's successor points to it: cut that link, so that the
		 * ring is all that lives, not a chain back to the start. */
		struct pnode *succ = ring[slot + 1 == ring_len ? 0 : slot + 1];
		if (succ)
			succ->left = NULL;
		p->left = ring[slot ? slot - 1 : ring_len - 1];
		p->right = NULL;
		p->a = i;
		p->b = 0;
		ring[slot] = p;
		bv_free(old);
		if (++slot == ring_len)
			slot = 0;
	}
	hist_max = mx;
}

int main(int argc, char **argv)
{
	double live_mib = 1024, factor = 20, keep_mib = 64;
	int c;
	while ((c = getopt(argc, argv, "L:x:k:w:")) != -1) {
		switch (c) {
		case 'L': live_mib = atof(optarg); break;
		case 'x': factor = atof(optarg); break;
		case 'k': keep_mib = atof(optarg); break;
		case 'w': ring_len = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: pause [-L LIVE_MIB] [-x CHURN_FACTOR] [-k KEEP_MIB] [-w WINDOW]\n");
			return 1;
		}
	}
	if (live_mib < 1 || factor <= 0 || keep_mib < 0 || keep_mib > live_mib || ring_len < 2) {
		fprintf(stderr, "pause: bad arguments\n");
		return 1;
	}
	bv_init();
	/* Deepest complete trees that fit: 2^(d+1) - 1 nodes of 32 bytes. */
	int depth = 0, kdepth = -1;
	while ((double)((UINT64_C(1) << (depth + 2)) - 1) * 32 <= live_mib * 1048576.0)
		depth++;
	while (kdepth + 1 <= depth &&
	       (double)((UINT64_C(1) << (kdepth + 2)) - 1) * 32 <= keep_mib * 1048576.0)
		kdepth++;
	ring = bv_alloc(ring_len * sizeof *ring);
	memset(ring, 0, ring_len * sizeof *ring);

	double t0 = bv_now();
	uint64_t serial = 0;
	tree = build(depth, &serial);
	double t1 = bv_now();
	uint64_t live_bytes = serial * 32;
	uint64_t n = (uint64_t)(factor * (double)live_bytes / 32);
	uint64_t tk0 = ticks();
	double c0 = bv_now();
	churn(n);
	double c1 = bv_now();
	uint64_t tk1 = ticks();
	double t2 = bv_now();
	uint64_t numgc;
	double ptot, pmax;
	bv_gc_stats(&numgc, &ptot, &pmax);

	double ns_per_tick = (c1 - c0) * 1e9 / (double)(tk1 - tk0);
	uint64_t total = 0;
	for (unsigned b = 0; b < NBUCKETS; b++)
		total += hist[b];
	const double qs[3] = {0.99, 0.999, 0.9999};
	double qv[3];
	for (int q = 0; q < 3; q++) {
		uint64_t need = (uint64_t)((double)total * qs[q]), acc = 0;
		unsigned b = 0;
		for (; b < NBUCKETS; b++) {
			acc += hist[b];
			if (acc >= need)
				break;
		}
		uint64_t top = bucket_top(b);
		qv[q] = (double)(top < hist_max ? top : hist_max) * ns_per_tick / 1e3;
	}
	if (count(tree) != serial) {
		fprintf(stderr, "pause: the long-lived tree was damaged\n");
		return 3;
	}

	printf("pause (%s): live tree depth %d, %.1f MiB; churn %llu allocations of 32 B (%.1f GiB); ring %zu; timer %s\n",
	       BV_NAME, depth, (double)live_bytes / 1048576.0, (unsigned long long)n,
	       (double)n * 32 / 1073741824.0, ring_len, TICK_SOURCE);
	printf("LATENCY allocs=%llu max_us=%.1f p99_us=%.3f p999_us=%.3f p9999_us=%.3f mean_ns=%.1f\n",
	       (unsigned long long)total, (double)hist_max * ns_per_tick / 1e3, qv[0], qv[1], qv[2],
	       (c1 - c0) * 1e9 / (double)n);
	printf("PHASES build_s=%.3f churn_s=%.3f\n", t1 - t0, t2 - t1);
	printf("GC numgc=%llu pause_total_ms=%.3f pause_max_ms=%.3f\n", (unsigned long long)numgc,
	       ptot, pmax);
	fflush(stdout);

	/* 3. Keep one subtree of kdepth, drop the rest and the ring. */
	struct pnode *k = tree;
	for (int d = depth; d > kdepth && k; d--)
		k = k->left;
	kept = kdepth >= 0 ? k : NULL;
	free_except(tree, kept);
	tree = NULL;
	k = NULL;
	for (size_t i = 0; i < ring_len; i++) {
		bv_free(ring[i]);
		ring[i] = NULL;
	}
	scrub_stack();
	bv_collect_and_release();
	uint64_t kept_bytes = count(kept) * 32;
	long rss = rss_kib();
	double target = (double)kept_bytes * 1.1 / 1048576.0 + 8;
	printf("AFTER rss_mib=%.1f kept_mib=%.1f heap_live_mib=%.1f target_mib=%.1f ok=%d\n",
	       (double)rss / 1024.0, (double)kept_bytes / 1048576.0,
	       (double)bv_heap_live() / 1048576.0, target, (double)rss / 1024.0 <= target);
	return 0;
}
