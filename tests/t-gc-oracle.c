/*
 * t-gc-oracle: random object graphs mutated by several threads while the
 * collector runs, checked against what the program itself knows to be
 * reachable.
 *
 * Each of four threads owns a graph of nodes.  A node has up to four child
 * references, a payload filled with a pattern, and may own a pointer-free
 * blob (goheap_malloc_atomic) with a pattern of its own.  Nodes come in
 * small and large sizes, from goheap_malloc, goheap_calloc and
 * goheap_malloc_typed.  A reference is a pointer to the start of the node
 * or into it (an interior pointer), with the offset kept beside it so the
 * oracle can find the start.  The graph hangs from roots of every kind:
 * the thread's stack, a global array per thread, and a malloc()ed array
 * given to goheap_add_roots.  Threads add nodes and blobs, link nodes to
 * each other (sharing and cycles), cut links and drop roots at random.
 *
 * Meanwhile the main thread forces collections, and allocation triggers
 * others (GOGC=20).  After every collection each thread walks its graph
 * from its roots and checks that every node it reaches is a live block
 * holding its pattern, as is its blob: a collector that freed anything
 * reachable fails here.  At the end the threads drop their roots; two
 * collections must then bring heap_alloc down to nearly nothing: a
 * collector that kept garbage fails there.
 */
#include <goheap.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcutil.h"
#include "tap.h"

enum { NTHREADS = 4, NCHILD = 4, NSTACK = 8, NGLOBAL = 16, NHEAPROOT = 16 };

/* A reference: p points at the node's start plus off. */
struct ref {
	uintptr_t p;
	uintptr_t off;
};

struct node {
	uint64_t tag; /* payload pattern; never 0 */
	uint32_t size; /* bytes asked for */
	uint32_t kind; /* 0 malloc, 1 calloc, 2 typed */
	uint64_t visit;
	struct ref blob; /* an atomic block, or p = 0 */
	uint64_t blob_tag;
	uint64_t blob_size;
	struct ref child[NCHILD];
	/* the payload, up to size */
};

#define NODE_TYPE_SIZE 128 /* typed nodes are multiples of this */

static goheap_type *node_type;

static int make_node_type(void)
{
	size_t offs[NCHILD + 1];
	offs[0] = offsetof(struct node, blob.p);
	for (size_t k = 0; k < NCHILD; k++)
		offs[k + 1] =
			offsetof(struct node, child) + k * sizeof(struct ref);
	node_type = goheap_type_new(NODE_TYPE_SIZE, offs, NCHILD + 1);
	return node_type != NULL && sizeof(struct node) <= NODE_TYPE_SIZE;
}

/* Roots in static data; the others are on the threads' stacks and in
 * malloc()ed arrays. */
static struct ref global_roots[NTHREADS][NGLOBAL];

struct oracle {
	int id;
	struct tap_rng rng;
	struct ref *stack_roots; /* in the thread's frame */
	struct ref *heap_roots; /* malloc()ed, registered */
	uint64_t serial, walk;
	/* The walk's own stack, in system memory: not a root. */
	struct ref *todo;
	size_t todo_cap;
	/* What the last walk found. */
	size_t live_nodes, live_bytes;
	/* Totals. */
	size_t ops, walks, nodes_made, errors, max_live_bytes;
	uint32_t last_numgc;
	int finished; /* atomic: the thread is about to exit */
};

static size_t ops_per_thread, live_budget;

static struct ref *root_slot(struct oracle *o, size_t i)
{
	if (i < NSTACK)
		return &o->stack_roots[i];
	i -= NSTACK;
	if (i < NGLOBAL)
		return &global_roots[o->id][i];
	return &o->heap_roots[i - NGLOBAL];
}

enum { NROOTS = NSTACK + NGLOBAL + NHEAPROOT };

static void report(struct oracle *o, const char *fmt, ...) TAP_PRINTF(2, 3);
static void report(struct oracle *o, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (o->errors++ < 5)
		diag("thread %d, walk %llu: %s", o->id,
		     (unsigned long long)o->walk, buf);
}

/* The node r refers to, if r is a sound reference to a live block (any
 * other value is reported, never followed). */
static struct node *deref(struct oracle *o, struct ref r)
{
	if (r.p == 0)
		return NULL;
	struct node *n = (struct node *)(r.p - r.off);
	if (goheap_base((void *)r.p) != n) {
		report(o,
		       "reference %#lx (offset %lu) is not into a live block "
		       "(base %p)",
		       (unsigned long)r.p, (unsigned long)r.off,
		       goheap_base((void *)r.p));
		return NULL;
	}
	return n;
}

static struct ref ref_to(struct oracle *o, struct node *n)
{
	struct ref r = { 0, 0 };
	if (n == NULL)
		return r;
	if (tap_rng_range(&o->rng, 0, 1))
		r.off = (uintptr_t)tap_rng_range(&o->rng, 0, n->size - 1);
	r.p = (uintptr_t)n + r.off;
	return r;
}

static size_t node_size(struct oracle *o)
{
	uint64_t k = tap_rng_range(&o->rng, 0, 99);
	if (k < 70)
		return (size_t)tap_rng_range(&o->rng, sizeof(struct node), 512);
	if (k < 95)
		return (size_t)tap_rng_range(&o->rng, 513, 8192);
	if (k < 99)
		return (size_t)tap_rng_range(&o->rng, 8193, 32768);
	return (size_t)tap_rng_range(&o->rng, 32769, 100000);
}

static size_t blob_size(struct oracle *o)
{
	uint64_t k = tap_rng_range(&o->rng, 0, 99);
	if (k < 20)
		return (size_t)tap_rng_range(&o->rng, 1, 15); /* tiny */
	if (k < 95)
		return (size_t)tap_rng_range(&o->rng, 16, 2048);
	return (size_t)tap_rng_range(&o->rng, 2049, 60000);
}

static void set_blob(struct oracle *o, struct node *n)
{
	n->blob.p = 0;
	if (tap_rng_range(&o->rng, 0, 2) == 0)
		return;
	size_t size = blob_size(o);
	unsigned char *b = goheap_malloc_atomic(size);
	if (b == NULL) {
		report(o, "goheap_malloc_atomic(%zu) failed", size);
		return;
	}
	n->blob_tag = (uint64_t)(o->id + 1) << 48 | 1u << 31 | ++o->serial;
	n->blob_size = size;
	tap_fill(b, size, n->blob_tag);
	n->blob.off = size > 1 && tap_rng_range(&o->rng, 0, 1)
			      ? (uintptr_t)tap_rng_range(&o->rng, 0, size - 1)
			      : 0;
	n->blob.p = (uintptr_t)b + n->blob.off;
}

/* A random node reachable from the roots, or NULL. */
static struct node *random_node(struct oracle *o)
{
	for (int tries = 0; tries < 8; tries++) {
		struct node *n = deref(
			o, *root_slot(o, (size_t)tap_rng_range(&o->rng, 0,
							       NROOTS - 1)));
		if (n == NULL)
			continue;
		for (uint64_t depth = tap_rng_range(&o->rng, 0, 6); depth > 0;
		     depth--) {
			struct node *c =
				deref(o, n->child[tap_rng_range(&o->rng, 0,
								NCHILD - 1)]);
			if (c == NULL)
				break;
			n = c;
		}
		return n;
	}
	return NULL;
}

static struct node *new_node(struct oracle *o)
{
	size_t size = node_size(o);
	uint32_t kind = (uint32_t)tap_rng_range(&o->rng, 0, 2);
	struct node *n;
	if (kind == 2) {
		size = (size + NODE_TYPE_SIZE - 1) / NODE_TYPE_SIZE *
		       NODE_TYPE_SIZE;
		n = goheap_malloc_typed(size, node_type);
	} else if (kind == 1) {
		n = goheap_calloc(1, size);
	} else {
		n = goheap_malloc(size);
	}
	if (n == NULL) {
		report(o, "allocating a %zu-byte node failed", size);
		return NULL;
	}
	n->tag = (uint64_t)(o->id + 1) << 48 | ++o->serial;
	n->size = (uint32_t)size;
	n->kind = kind;
	n->visit = 0;
	tap_fill_range(n, sizeof *n, size, n->tag);
	set_blob(o, n);
	for (size_t k = 0; k < NCHILD; k++)
		n->child[k] = tap_rng_range(&o->rng, 0, 9) < 3
				      ? ref_to(o, random_node(o))
				      : (struct ref){ 0, 0 };
	o->nodes_made++;
	return n;
}

/* One random change to the graph. */
static void mutate(struct oracle *o)
{
	uint64_t op = tap_rng_range(&o->rng, 0, 99);
	struct node *a;
	if (o->live_bytes > live_budget) {
		/* Over budget (as of the last walk): mostly cuts. */
		op = op < 60 ? 70 : op < 80 ? 0 : 55;
	}
	if (op < 25) { /* a new node in a root */
		struct node *n = new_node(o);
		*root_slot(o, (size_t)tap_rng_range(&o->rng, 0, NROOTS - 1)) =
			ref_to(o, n);
	} else if (op < 50) { /* a new node as a child */
		struct node *n = new_node(o);
		if ((a = random_node(o)) != NULL)
			a->child[tap_rng_range(&o->rng, 0, NCHILD - 1)] =
				ref_to(o, n);
	} else if (op < 65) { /* a link between reachable nodes */
		struct node *b = random_node(o);
		if ((a = random_node(o)) != NULL)
			a->child[tap_rng_range(&o->rng, 0, NCHILD - 1)] =
				ref_to(o, b);
	} else if (op < 80) { /* a cut */
		if (tap_rng_range(&o->rng, 0, 2) == 0)
			*root_slot(o, (size_t)tap_rng_range(&o->rng, 0,
							    NROOTS - 1)) =
				(struct ref){ 0, 0 };
		else if ((a = random_node(o)) != NULL)
			a->child[tap_rng_range(&o->rng, 0, NCHILD - 1)] =
				(struct ref){ 0, 0 };
	} else if (op < 90) { /* a new blob */
		if ((a = random_node(o)) != NULL)
			set_blob(o, a);
	} else { /* a root moves to a root of another kind */
		struct ref *from = root_slot(
			o, (size_t)tap_rng_range(&o->rng, 0, NROOTS - 1));
		struct ref *to = root_slot(
			o, (size_t)tap_rng_range(&o->rng, 0, NROOTS - 1));
		*to = *from;
		if (to != from)
			*from = (struct ref){ 0, 0 };
	}
	o->ops++;
}

static void push(struct oracle *o, size_t *n, struct ref r)
{
	if (*n == o->todo_cap) {
		size_t cap = o->todo_cap ? o->todo_cap * 2 : 1024;
		struct ref *t = realloc(o->todo, cap * sizeof *t);
		if (t == NULL)
			return;
		o->todo = t;
		o->todo_cap = cap;
	}
	o->todo[(*n)++] = r;
}

/* Walk everything reachable from the roots and check it. */
static void verify(struct oracle *o)
{
	size_t n = 0;
	o->walk++;
	o->walks++;
	o->live_nodes = o->live_bytes = 0;
	for (size_t i = 0; i < NROOTS; i++)
		if (root_slot(o, i)->p != 0)
			push(o, &n, *root_slot(o, i));
	while (n > 0) {
		struct ref r = o->todo[--n];
		struct node *x = deref(o, r);
		if (x == NULL || x->visit == o->walk)
			continue;
		x->visit = o->walk;
		if (r.off >= x->size || x->tag >> 48 != (uint64_t)(o->id + 1) ||
		    goheap_usable_size(x) < x->size) {
			report(o,
			       "node %p: bad header (size %u, tag %#llx, "
			       "reached at offset %lu)",
			       (void *)x, x->size, (unsigned long long)x->tag,
			       (unsigned long)r.off);
			continue;
		}
		size_t bad = tap_check_range(x, sizeof *x, x->size, x->tag);
		if (bad != SIZE_MAX)
			report(o,
			       "node %p (%u bytes, kind %u): payload damaged "
			       "at offset %zu",
			       (void *)x, x->size, x->kind, bad);
		o->live_nodes++;
		o->live_bytes += x->size;
		if (x->blob.p != 0) {
			const unsigned char *b =
				(const unsigned char *)(x->blob.p -
							x->blob.off);
			if (x->blob_size >= 16 && goheap_base(b) != b)
				report(o,
				       "blob %p of node %p is not a live block",
				       (const void *)b, (void *)x);
			else if ((bad = tap_check(b, x->blob_size,
						  x->blob_tag)) != SIZE_MAX)
				report(o,
				       "blob %p (%llu bytes) of node %p "
				       "damaged at offset %zu",
				       (const void *)b,
				       (unsigned long long)x->blob_size,
				       (void *)x, bad);
			else
				o->live_bytes += x->blob_size;
		}
		for (size_t k = 0; k < NCHILD; k++)
			if (x->child[k].p != 0)
				push(o, &n, x->child[k]);
	}
	if (o->live_bytes > o->max_live_bytes)
		o->max_live_bytes = o->live_bytes;
}

static GCU_NOINLINE void run_oracle(struct oracle *o)
{
	struct ref stack_roots[NSTACK];
	memset(stack_roots, 0, sizeof stack_roots);
	o->stack_roots = stack_roots;
	for (size_t i = 0; i < ops_per_thread; i++) {
		mutate(o);
		if (i % 64 == 63) {
			uint32_t gc = gcu_numgc();
			if (gc != o->last_numgc) {
				o->last_numgc = gc;
				verify(o);
			}
		}
	}
	verify(o);
	/* Drop everything. */
	memset(stack_roots, 0, sizeof stack_roots);
	memset(global_roots[o->id], 0, sizeof global_roots[o->id]);
	memset(o->heap_roots, 0, NHEAPROOT * sizeof *o->heap_roots);
	o->stack_roots = NULL;
}

static void *oracle_main(void *arg)
{
	struct oracle *o = arg;
	o->rng = tap_rng_init(9000 + (uint64_t)o->id);
	o->heap_roots = calloc(NHEAPROOT, sizeof *o->heap_roots);
	if (o->heap_roots == NULL ||
	    goheap_add_roots(o->heap_roots, o->heap_roots + NHEAPROOT) != 0) {
		report(o, "cannot set up the heap roots");
		free(o->heap_roots);
		__atomic_store_n(&o->finished, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	run_oracle(o);
	if (goheap_remove_roots(o->heap_roots, o->heap_roots + NHEAPROOT) != 0)
		report(o, "goheap_remove_roots failed");
	free(o->heap_roots);
	free(o->todo);
	o->heap_roots = NULL;
	o->todo = NULL;
	gcu_clear_stack();
	__atomic_store_n(&o->finished, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* What still holds the heap: the roots of a heap dump, by kind, as
 * goheap-stat histo lists them. */
static void show_roots(void)
{
	const char *b = getenv("top_builddir");
	char dump[] = "/tmp/t-gc-oracle.XXXXXX", cmd[4200];
	int fd = mkstemp(dump);
	if (fd < 0 || goheap_write_heapdump(fd) != 0) {
		diag("no heap dump");
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	snprintf(cmd, sizeof cmd, "%s/tools/goheap-stat histo %s 2>&1", b && *b ? b : ".", dump);
	FILE *f = popen(cmd, "r");
	char line[512];
	while (f && fgets(line, sizeof line, f))
		diag("%s", strtok(line, "\n") ? line : "");
	if (f)
		pclose(f);
	unlink(dump);
}

static void test_oracle(void)
{
	static struct oracle oracles[NTHREADS];
	pthread_t t[NTHREADS];
	if (!ok(make_node_type(), "goheap_type_new for typed nodes"))
		return;
	ops_per_thread = tap_scale(100000, 10);
	live_budget = tap_under_valgrind() ? 512 << 10 : 3 << 20;
	int old = goheap_set_gc_percent(20);
	gcu_collect(2);
	uint64_t base = gcu_heap_alloc();
	uint32_t gc0 = gcu_numgc();
	int started = 0, done = 0;
	for (int i = 0; i < NTHREADS; i++) {
		oracles[i].id = i;
		if (goheap_pthread_create(&t[i], NULL, oracle_main,
					  &oracles[i]) != 0)
			break;
		started++;
	}
	is_int(started, NTHREADS, "%d mutator threads started", NTHREADS);

	/* Force collections while they run, and watch the heap's size. */
	uint64_t peak = 0;
	size_t forced = 0;
	while (done < started) {
		goheap_gc();
		forced++;
		uint64_t h = gcu_heap_alloc();
		if (h > peak)
			peak = h;
		gcu_sleep_ms(tap_under_valgrind() ? 20 : 3);
		done = 0;
		for (int i = 0; i < started; i++)
			done += __atomic_load_n(&oracles[i].finished,
						__ATOMIC_SEQ_CST);
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	uint32_t ncollections = gcu_numgc() - gc0;

	size_t errors = 0, walks = 0, made = 0, maxlive = 0;
	for (int i = 0; i < started; i++) {
		errors += oracles[i].errors;
		walks += oracles[i].walks;
		made += oracles[i].nodes_made;
		maxlive += oracles[i].max_live_bytes;
		diag("thread %d: %zu operations, %zu nodes made, %zu walks, "
		     "last walk %zu nodes (%zu bytes)",
		     i, oracles[i].ops, oracles[i].nodes_made, oracles[i].walks,
		     oracles[i].live_nodes, oracles[i].live_bytes);
	}
	diag("%u collections (%zu forced), peak heap_alloc %llu, largest live "
	     "graphs %zu bytes",
	     ncollections, forced, (unsigned long long)peak, maxlive);
	is_int(errors, 0,
	       "every reachable node and blob intact after every collection");
	cmp_uint(ncollections, >, forced,
		 "collections were also triggered by allocation");
	cmp_uint(walks, >=, (size_t)started * 4,
		 "the graphs were checked after collections");
	cmp_uint(made, >=, ops_per_thread * (size_t)started / 4,
		 "the threads made nodes (%zu)", made);

	gcu_collect(2);
	uint64_t left = gcu_heap_alloc();
	uint64_t limit = base + (1u << 20) + peak / 20;
	if (!cmp_uint(left, <, limit,
		      "with every root dropped, two collections empty the heap "
		      "(heap_alloc %llu, "
		      "peak %llu)",
		      (unsigned long long)left, (unsigned long long)peak))
		show_roots();
	goheap_set_gc_percent(old);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_oracle),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	gcu_finish();
	return status;
}
