/*
 * binarytrees.c - the Computer Language Benchmarks Game's binary-trees
 * workload, written afresh from its description, for one allocator chosen
 * at compile time (see gcb_alloc.h).
 *
 *   binarytrees [DEPTH [THREADS]]        (defaults 21 and 1)
 *
 * With n = max(DEPTH, 6): build a "stretch" tree of depth n + 1, count its
 * nodes and drop it; build a long-lived tree of depth n; then for each depth
 * d = 4, 6, ..., n build 2^(n - d + 4) trees of depth d bottom-up, count the
 * nodes of each and drop it; finally count the long-lived tree.  Each tree
 * is made of two-pointer nodes; the malloc variants free every dropped tree
 * explicitly, the collectors free nothing.
 *
 * With THREADS > 1 the trees of each depth are split between THREADS
 * threads (the main thread is one of them), each summing its own checks.
 * Threads are created through the allocator's own call (goheap_pthread_create,
 * GC_pthread_create) so that the collector knows them.
 *
 * The output is the benchmark's usual text, then "TIME seconds=..." and the
 * collector's "GC ..." line.
 */
#include <stddef.h>

struct node {
	struct node *left, *right;
};

#define BV_NODE_SIZE sizeof(struct node)
#define BV_NODE_NPTRS 2
#include "gcb_alloc.h"

#define MIN_DEPTH 4
#define MAX_THREADS 64

static struct node *bottom_up(int depth)
{
	struct node *n = bv_node();
	if (depth > 0) {
		n->left = bottom_up(depth - 1);
		n->right = bottom_up(depth - 1);
	} else {
		n->left = NULL;
		n->right = NULL;
	}
	return n;
}

static long check(const struct node *n)
{
	return n->left ? 1 + check(n->left) + check(n->right) : 1;
}

static void drop(struct node *n)
{
#if BV_FREES
	while (n) {
		drop(n->left);
		struct node *r = n->right;
		bv_free(n);
		n = r;
	}
#else
	(void)n;
#endif
}

struct share {
	pthread_t thread;
	int depth;
	long iters;
	long sum;
};

static void *run_share(void *arg)
{
	struct share *s = arg;
	long sum = 0;
	for (long i = 0; i < s->iters; i++) {
		struct node *t = bottom_up(s->depth);
		sum += check(t);
		drop(t);
	}
	s->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 21;
	int nthreads = argc > 2 ? atoi(argv[2]) : 1;
	if (n < 0 || n > 30 || nthreads < 1 || nthreads > MAX_THREADS) {
		fprintf(stderr, "usage: binarytrees [DEPTH [THREADS]]\n");
		return 1;
	}
	if (n < MIN_DEPTH + 2)
		n = MIN_DEPTH + 2;
	bv_init();
	double t0 = bv_now();

	struct node *stretch = bottom_up(n + 1);
	printf("stretch tree of depth %d\t check: %ld\n", n + 1, check(stretch));
	drop(stretch);

	struct node *long_lived = bottom_up(n);

	static struct share shares[MAX_THREADS];
	for (int d = MIN_DEPTH; d <= n; d += 2) {
		long iters = 1L << (n - d + MIN_DEPTH);
		for (int k = 0; k < nthreads; k++) {
			shares[k].depth = d;
			shares[k].iters = iters / nthreads + (k < iters % nthreads);
			shares[k].sum = 0;
		}
		for (int k = 1; k < nthreads; k++) {
			if (bv_thread_create(&shares[k].thread, run_share, &shares[k]) != 0) {
				fprintf(stderr, "binarytrees: cannot create a thread\n");
				return 2;
			}
		}
		run_share(&shares[0]);
		long sum = shares[0].sum;
		for (int k = 1; k < nthreads; k++) {
			pthread_join(shares[k].thread, NULL);
			sum += shares[k].sum;
		}
		printf("%ld\t trees of depth %d\t check: %ld\n", iters, d, sum);
	}
	printf("long lived tree of depth %d\t check: %ld\n", n, check(long_lived));
	drop(long_lived);
	printf("TIME seconds=%.4f\n", bv_now() - t0);
	bv_report_gc(stdout);
	return 0;
}
