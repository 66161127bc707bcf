/*
 * stat-child - a program that uses libgoheap, for t-stat.sh to watch with
 * goheap-stat.
 *
 * It allocates blocks of every kind (pointer-holding, atomic, typed,
 * tiny, large), links some of them, sets a finalizer and registers a root
 * range, prints "ready PID" and then obeys commands, one a line, on
 * stdin:
 *
 *   stats FILE   write its goheap_read_memstats figures to FILE, as
 *                "name value" lines, through a temporary file and rename;
 *   alloc N      allocate N more 64-byte blocks and keep them;
 *   quit         exit normally (the stats file is removed).
 *
 * End of input exits too.
 *
 * It waits for a command in poll, then reads it unbuffered: built with
 * Clang's ThreadSanitizer, a thread blocked in read(2) does not take the
 * collector's stop signal (the runtime holds signals back except in calls
 * it knows to block, such as poll; goheap(7)), and goheap-stat's requests
 * would time out.
 */
#include <goheap.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
	struct node *next;
	long value;
};

/* Kept blocks: global, so that the compiler cannot drop the stores to
 * an array nothing reads; the collector finds them in the data segment. */
void *stat_child_keep[4096];
static size_t nkeep;
static void *roots[4]; /* registered as a root range */

static void noop_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
}

static void *must(void *p)
{
	if (!p) {
		perror("stat-child: goheap");
		exit(1);
	}
	if (nkeep < sizeof stat_child_keep / sizeof stat_child_keep[0])
		stat_child_keep[nkeep++] = p;
	return p;
}

static void write_stats(const char *file)
{
	goheap_memstats *m = malloc(sizeof *m);
	if (!m)
		exit(1);
	goheap_read_memstats(m);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", file);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		exit(1);
	}
	fprintf(f, "heap_alloc %llu\nheap_objects %llu\nnmalloc %llu\nnfree %llu\n"
		   "total_alloc %llu\nnumgc %u\nnext_gc %llu\nheap_sys %llu\n",
		(unsigned long long)m->heap_alloc, (unsigned long long)m->heap_objects,
		(unsigned long long)m->nmalloc, (unsigned long long)m->nfree,
		(unsigned long long)m->total_alloc, m->numgc, (unsigned long long)m->next_gc,
		(unsigned long long)m->heap_sys);
	fclose(f);
	rename(tmp, file);
	free(m);
}

int main(void)
{
	struct node *prev = NULL;
	for (int i = 0; i < 1000; i++) {
		struct node *n = must(goheap_malloc(sizeof *n));
		n->next = prev;
		n->value = i;
		prev = n;
	}
	for (int i = 0; i < 200; i++)
		memset(must(goheap_malloc_atomic(100 + (size_t)i)), 1, 100);
	static const size_t offs[] = {0};
	goheap_type *t = goheap_type_new(16, offs, 1);
	for (int i = 0; i < 50; i++)
		((void **)must(goheap_malloc_typed(64, t)))[0] = prev;
	for (int i = 0; i < 30; i++)
		must(goheap_malloc_atomic(5));
	must(goheap_malloc(100000));
	must(goheap_malloc_atomic(300000));
	roots[0] = goheap_malloc(48);
	goheap_add_roots(roots, roots + 4);
	goheap_set_finalizer(prev, noop_finalizer, NULL);

	printf("ready %ld\n", (long)getpid());
	fflush(stdout);
	char line[4200];
	setvbuf(stdin, NULL, _IONBF, 0);
	for (;;) {
		struct pollfd in = {.fd = 0, .events = POLLIN};
		if (poll(&in, 1, -1) < 0 || !fgets(line, sizeof line, stdin))
			break;
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "stats ", 6) == 0) {
			write_stats(line + 6);
		} else if (strncmp(line, "alloc ", 6) == 0) {
			long n = atol(line + 6);
			for (long i = 0; i < n; i++)
				must(goheap_malloc(64));
		} else if (strcmp(line, "quit") == 0) {
			break;
		}
	}
	return 0;
}
