/*
 * t-gc-overflow - marking when its work list cannot grow (mgcmark.c,
 * "Overflow").
 *
 * GOHEAP_DEBUG=markbufs=N caps the work list at N buffers, as if the OS
 * refused more memory.  A child builds a wide structure (an array of
 * 100 000 pointers to two-node chains), a deep one (a list of 100 000
 * nodes) and 200 000 dropped nodes, collects, and checks every live node.
 * Run with a cap of 1 buffer (one marker, which must overflow: the array
 * alone queues 100 000 blocks, a buffer holds 2048), of 3 (two markers)
 * and without a cap, it must:
 *
 *   - keep every reachable node intact (nothing reachable freed);
 *   - free the dropped nodes (heap_alloc near the live bytes);
 *   - count the same live bytes with and without the cap (the recount
 *     from the mark bits agrees with the markers' count): the next goal,
 *     twice the marked bytes at GOGC=100, is the same.
 */
#include <goheap.h>

#include <stdint.h>

#include "child.h"
#include "tap.h"

enum { WIDE = 100000, DEEP = 100000, GARBAGE = 200000 };

struct node {
	struct node *next;
	uint64_t magic;
	uint64_t pad[2];
};

static struct node **wide; /* roots: static data */
static struct node *deep;

static uint64_t magic(uint64_t i, uint64_t kind)
{
	return (i * 0x9e3779b97f4a7c15u) ^ kind;
}

static struct node *node(uint64_t i, uint64_t kind, struct node *next)
{
	struct node *n = goheap_malloc(sizeof *n);
	if (!n) {
		printf("out of memory\n");
		exit(2);
	}
	n->next = next;
	n->magic = magic(i, kind);
	return n;
}

/* Dropped nodes, unchained: a stale word on the stack keeps one alive. */
static __attribute__((noinline)) void make_garbage(void)
{
	for (uint64_t i = 0; i < GARBAGE; i++) {
		struct node *volatile g = node(i, 3, NULL);
		(void)g;
	}
}

static int child_work(void)
{
	wide = goheap_malloc(WIDE * sizeof *wide);
	if (!wide)
		return 2;
	for (uint64_t i = 0; i < WIDE; i++)
		wide[i] = node(i, 1, node(i, 2, NULL));
	for (uint64_t i = 0; i < DEEP; i++)
		deep = node(i, 4, deep);
	make_garbage();
	goheap_gc();
	goheap_gc();

	uint64_t bad = 0;
	for (uint64_t i = 0; i < WIDE; i++)
		if (wide[i]->magic != magic(i, 1) || !wide[i]->next ||
		    wide[i]->next->magic != magic(i, 2))
			bad++;
	uint64_t i = DEEP;
	for (struct node *n = deep; n; n = n->next)
		if (n->magic != magic(--i, 4))
			bad++;
	if (i != 0)
		bad++;
	goheap_memstats m;
	m.size = sizeof m;
	goheap_read_memstats(&m);
	printf("bad %llu heap_alloc %llu next_gc %llu numgc %u\n", (unsigned long long)bad,
	       (unsigned long long)m.heap_alloc, (unsigned long long)m.next_gc, m.numgc);
	return 0;
}

static char out[1 << 14];

static long long field(const char *name)
{
	const char *p = strstr(out, name);
	return p ? atoll(p + strlen(name)) : -1;
}

/* Live bytes: the array, two nodes per entry, the list. */
static const long long live = (long long)WIDE * 8 + (long long)WIDE * 2 * 32 + (long long)DEEP * 32;
static long long goal_uncapped = -1;

static void run(const char *debug)
{
	int st = child_run("GOHEAP_DEBUG", debug, "work", NULL, out, sizeof out);
	const char *what = debug ? debug : "no cap";
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the child ran (status %#x)", what, st);
	is_int(field("bad "), 0, "%s: every reachable node intact", what);
	long long a = field("heap_alloc ");
	cmp_int(a, >=, live, "%s: heap_alloc %lld holds the live %lld bytes", what, a, live);
	cmp_int(a, <, live + GARBAGE * 32 / 4, "%s: and the dropped nodes were freed", what);
	cmp_int(field("numgc "), >=, 2, "%s: the collections ran", what);
	long long g = field("next_gc ");
	if (!debug)
		goal_uncapped = g;
	else
		cmp_int(llabs(g - goal_uncapped), <=, goal_uncapped / 100,
			"%s: the same goal, from the same marked bytes, as without a cap "
			"(%lld, %lld)", what, g, goal_uncapped);
	if (!WIFEXITED(st) || field("bad ") != 0)
		diag("%s", out);
}

static void test_no_cap(void)
{
	run(NULL);
}

static void test_one_buffer(void)
{
	run("markbufs=1");
}

static void test_three_buffers(void)
{
	run("markbufs=3");
}

static void test_one_buffer_checked(void)
{
	run("markbufs=1,check=1");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_no_cap),
	TAP_TEST(test_one_buffer),
	TAP_TEST(test_three_buffers),
	TAP_TEST(test_one_buffer_checked),
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return child_work();
	return TAP_MAIN(argc, argv, tests);
}
