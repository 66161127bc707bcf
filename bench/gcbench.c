/*
 * gcbench.c - the GCBench workload of Ellis, Kovac and Boehm, written
 * afresh from its description, for one allocator chosen at compile time
 * (see gcb_alloc.h).
 *
 * The workload: build and drop a "stretch" tree of depth S (default 18);
 * build a long-lived tree of depth L (16) and an array of A (500 000)
 * doubles that stay live to the end; then for each depth d = 4, 6, ..., M
 * (16) build N(d) = 2 * nodes(S) / nodes(d) trees of depth d top-down
 * (allocate a node, then populate its children) and as many bottom-up
 * (children first), dropping each tree at once.  nodes(d) = 2^(d+1) - 1.
 * At the end the long-lived tree and the array are checked.  The malloc
 * variants free every dropped tree explicitly; the collectors free nothing.
 *
 *   gcbench [-s STRETCH] [-l LONGLIVED] [-a ARRAY] [-M MAXDEPTH] [-r REPS]
 *
 * -r runs the whole workload REPS times in one process ("GCBench x5").
 * Prints the time of each repetition, then "TIME seconds=..." for all of
 * them and the collector's "GC ..." line.
 */
#include <stddef.h>

struct node {
	struct node *left, *right;
	int i, j;
};

#define BV_NODE_SIZE sizeof(struct node)
#define BV_NODE_NPTRS 2
#include "gcb_alloc.h"

#include <unistd.h>

#define MIN_DEPTH 4

static int stretch_depth = 18, long_lived_depth = 16, max_depth = 16;
static long array_size = 500000;

static struct node *new_node(struct node *l, struct node *r)
{
	struct node *n = bv_node();
	n->left = l;
	n->right = r;
	n->i = 0;
	n->j = 0;
	return n;
}

static long tree_size(int depth)
{
	return (1L << (depth + 1)) - 1;
}

static long num_iters(int depth)
{
	return 2 * tree_size(stretch_depth) / tree_size(depth);
}

/* Give n two children and populate them, down to depth 0. */
static void populate(int depth, struct node *n)
{
	if (depth <= 0)
		return;
	depth--;
	n->left = new_node(NULL, NULL);
	n->right = new_node(NULL, NULL);
	populate(depth, n->left);
	populate(depth, n->right);
}

/* A tree of the given depth, children before parents. */
static struct node *make_tree(int depth)
{
	if (depth <= 0)
		return new_node(NULL, NULL);
	struct node *l = make_tree(depth - 1);
	struct node *r = make_tree(depth - 1);
	return new_node(l, r);
}

static void drop_tree(struct node *n)
{
#if BV_FREES
	while (n) {
		drop_tree(n->left);
		struct node *r = n->right;
		bv_free(n);
		n = r;
	}
#else
	(void)n;
#endif
}

static long count_nodes(const struct node *n)
{
	long c = 0;
	while (n) {
		c += 1 + count_nodes(n->left);
		n = n->right;
	}
	return c;
}

static void time_construction(int depth)
{
	long iters = num_iters(depth);
	double t0 = bv_now();
	for (long k = 0; k < iters; k++) {
		struct node *t = new_node(NULL, NULL);
		populate(depth, t);
		BV_ESCAPE(t);
		drop_tree(t);
	}
	double t1 = bv_now();
	for (long k = 0; k < iters; k++) {
		struct node *t = make_tree(depth);
		BV_ESCAPE(t);
		drop_tree(t);
	}
	double t2 = bv_now();
	printf("  depth %2d: %6ld trees top-down %7.1f ms, bottom-up %7.1f ms\n",
	       depth, iters, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
}

static double array_value(long i)
{
	return i < array_size / 2 ? 1.0 / (double)(i + 1) : 0.5 * (double)i;
}

/* Roots of the long-lived data: static, as a real program's globals. */
static struct node *long_lived;
static double *array;

static int run_once(void)
{
	struct node *stretch = make_tree(stretch_depth);
	BV_ESCAPE(stretch);
	drop_tree(stretch);

	long_lived = new_node(NULL, NULL);
	populate(long_lived_depth, long_lived);
	array = bv_alloc_atomic((size_t)array_size * sizeof(double));
	for (long i = 0; i < array_size; i++)
		array[i] = array_value(i);

	for (int d = MIN_DEPTH; d <= max_depth; d += 2)
		time_construction(d);

	int ok = count_nodes(long_lived) == tree_size(long_lived_depth);
	for (long i = 0; i < array_size; i += 997)
		ok = ok && array[i] == array_value(i);
	drop_tree(long_lived);
	long_lived = NULL;
	bv_free(array);
	array = NULL;
	return ok;
}

int main(int argc, char **argv)
{
	int reps = 1, c;
	while ((c = getopt(argc, argv, "s:l:a:M:r:")) != -1) {
		switch (c) {
		case 's': stretch_depth = atoi(optarg); break;
		case 'l': long_lived_depth = atoi(optarg); break;
		case 'a': array_size = atol(optarg); break;
		case 'M': max_depth = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: gcbench [-s STRETCH] [-l LONGLIVED] [-a ARRAY] [-M MAXDEPTH] [-r REPS]\n");
			return 1;
		}
	}
	if (stretch_depth < MIN_DEPTH || long_lived_depth < 0 || max_depth < MIN_DEPTH ||
	    max_depth > stretch_depth || array_size < 1 || reps < 1) {
		fprintf(stderr, "gcbench: bad arguments\n");
		return 1;
	}
	bv_init();
	printf("gcbench (%s): stretch %d, long-lived %d, array %ld, depths %d..%d, %d repetition(s)\n",
	       BV_NAME, stretch_depth, long_lived_depth, array_size, MIN_DEPTH, max_depth, reps);
	double t0 = bv_now();
	for (int r = 0; r < reps; r++) {
		double r0 = bv_now();
		if (!run_once()) {
			fprintf(stderr, "gcbench: the long-lived data was damaged\n");
			return 3;
		}
		printf("repetition %d: %.3f s\n", r + 1, bv_now() - r0);
	}
	printf("TIME seconds=%.4f\n", bv_now() - t0);
	bv_report_gc(stdout);
	return 0;
}
