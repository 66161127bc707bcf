/*
 * demo - put libgoheap under load and print its statistics.
 *
 * Worker threads build binary trees of goheap blocks and keep a few alive;
 * of the trees they let go, half are freed by hand and half are left to
 * the garbage collector.  The main thread prints a line of memstats every
 * second.  Usage: demo [SECONDS [THREADS]]  (default 10 s, 2 threads).
 */
#include <goheap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct node {
	struct node *left, *right;
	long value;
};

static volatile int stop;

static struct node *build(int depth)
{
	struct node *n = goheap_malloc(sizeof *n);
	if (!n) {
		perror("goheap_malloc");
		exit(1);
	}
	n->value = depth;
	if (depth > 0) {
		n->left = build(depth - 1);
		n->right = build(depth - 1);
	}
	return n;
}

static long check(const struct node *n)
{
	return n->left ? n->value + check(n->left) - check(n->right) : n->value;
}

static void drop(struct node *n)
{
	if (n->left) {
		drop(n->left);
		drop(n->right);
	}
	goheap_free(n);
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct node *keep[8] = {0};
	while (!stop) {
		int slot = (int)(rand_r(&seed) % 8);
		struct node *t = build(10 + (int)(rand_r(&seed) % 6));
		if (check(t) < -1000000)
			puts("impossible");
		/* Some payload that holds no pointers. */
		char *blob = goheap_malloc_atomic(1000 + rand_r(&seed) % 60000);
		blob[0] = 1;
		goheap_free(blob);
		if (keep[slot] && rand_r(&seed) % 2)
			drop(keep[slot]); /* else: garbage, for the collector */
		keep[slot] = t;
	}
	for (int i = 0; i < 8; i++)
		if (keep[i])
			drop(keep[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 10;
	int nthreads = argc > 2 ? atoi(argv[2]) : 2;
	if (seconds < 1 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: demo [SECONDS [THREADS]]\n");
		return 2;
	}
	printf("demo: pid %ld, %d threads, %d s\n", (long)getpid(), nthreads, seconds);
	pthread_t *t = calloc((size_t)nthreads, sizeof *t);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));

	printf("%4s %10s %10s %10s %10s %12s %12s %6s\n", "s", "alloc MiB", "sys MiB",
	       "idle MiB", "rel MiB", "objects", "mallocs", "GCs");
	for (int s = 1; s <= seconds; s++) {
		sleep(1);
		goheap_memstats m;
		goheap_read_memstats(&m);
		printf("%4d %10.1f %10.1f %10.1f %10.1f %12llu %12llu %6u\n", s,
		       m.alloc / 1048576.0, m.sys / 1048576.0, m.heap_idle / 1048576.0,
		       m.heap_released / 1048576.0, (unsigned long long)m.heap_objects,
		       (unsigned long long)m.nmalloc, m.numgc);
		fflush(stdout);
	}
	stop = 1;
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	free(t);
	goheap_free_os_memory();
	goheap_memstats m;
	goheap_read_memstats(&m);
	printf("done: alloc %.1f MiB, released %.1f of %.1f MiB heap, %llu blocks allocated "
	       "in all, %u collections, %.1f ms paused\n",
	       m.alloc / 1048576.0, m.heap_released / 1048576.0, m.heap_sys / 1048576.0,
	       (unsigned long long)m.nmalloc, m.numgc, m.pause_total_ns / 1e6);
	return 0;
}
