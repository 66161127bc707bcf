/*
 * t-gc-concurrent - mostly-concurrent marking (lib/mgcmark.c, "Mostly-
 * concurrent marking") frees no block the program can still reach, however
 * the program moves its pointers while the collector marks, under every
 * write-tracking backend this machine has (lib/wtrack_linux.c).
 *
 * The library picks its backend once, at start-up, from GOHEAP_GC, so the
 * cases run in a child of their own per backend: GOHEAP_GC=concurrent
 * (uffd), concurrent-mprotect, and stw as the control; the parent passes
 * the child's TAP lines on with the backend's name in front, and counts
 * the collections that the child's gctrace lines say were concurrent.  A
 * backend the machine lacks is skipped with the reason the library gave
 * (uffd under Valgrind: Valgrind does not emulate userfaultfd).  Under
 * Valgrind (make check-valgrind) the children run under Valgrind too, with
 * less work, as under ThreadSanitizer.
 *
 * The race (case_moves).  A chain of nodes, one OS page each, hangs from a
 * global; marking reaches node i + 1 only by scanning node i, so at any
 * time the nodes before the marker are black and those after it white.
 * Payloads (pointer-free blocks with a pattern) each have two slots, one
 * in a node of the first half of the chain and one half a chain further
 * on, and sit in one of them: three threads move payloads between their
 * two slots as fast as they can, each pointer being the payload's only
 * one, so that again and again the only pointer to a live block leaves a
 * node the marker has not reached for one it has already scanned.  Only
 * the page the pointer was written to tells the collector about it.  One
 * thread moves by a plain store, one by memcpy of the slot, one by
 * write(2) of the slot into a pipe and read(2) from the pipe straight into
 * the heap (the kernel writes the page); each thread owns its nodes, so
 * that no other kind of write dirties the pages the read(2) thread writes.
 * Each thread checks every payload of its own after each pass (alive by
 * goheap_base, pattern intact): a payload freed while reachable is found
 * out once swept, or once another thread's allocation has reused it.
 * Collections are forced in a loop and start by themselves as another
 * thread allocates garbage of the payloads' size.
 *
 * That the race is real: GOHEAP_DEBUG=wtrackdrop=1 makes write tracking
 * report nothing.  The uffd child must then fail, both with
 * GOHEAP_DEBUG=check=1 (the collector's own self-check aborts naming
 * "concurrent marking") and without it (the payloads' checks alone).
 *
 * The children run with GOHEAP_DEBUG=check=1, so that the collector checks
 * itself as well: at the end of each marking, that no reachable block was
 * left unmarked; as it scans, that no span was freed under it.
 *
 * Also the guarantees the collector gave with the world stopped, now with
 * marking running beside the program: weak links read while marking runs,
 * the block read kept in a block scanned before or on the stack alone
 * (case_weak: no read barrier needed); blocks freed explicitly by threads
 * while collections run (case_frees; a span given back meanwhile stays
 * whole for the markers until marking ends, lib/mheap.c); heap dumps and heap profiles asked
 * for while marking runs complete and read back whole (case_dumps); fork
 * while collections run, the child allocating and collecting and finding
 * the parent's data intact, the parent's data unchanged (case_fork).
 */
#include <goheap.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcutil.h"
#include "tap.h"

extern char **environ;

static atomic_int stop;

/* Under Valgrind or ThreadSanitizer: less work (vg below). */
static bool slow(void)
{
	return tap_under_valgrind() || tap_under_tsan();
}

/* Whether read(2) into the heap may fail with EFAULT: under the mprotect
 * backend, which the kernel does not fault through (goheap(7)). */
static bool efault_ok;

/* ---- Threads beside a case ---- */

/* Garbage of the payloads' size, filled so that a payload freed and
 * reused shows, and scannable garbage pointing at it, so that assists
 * have work; enough of it that collections also start by themselves. */
static void *garbage_main(void *arg)
{
	uint64_t *count = arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		void **g = goheap_malloc(64 * sizeof(void *));
		for (int i = 0; i < 64; i++) {
			unsigned char *b = goheap_malloc_atomic(64);
			if (b)
				memset(b, 0xa5, 64);
			if (g)
				g[i] = b;
		}
		(*count)++;
		if (tap_under_valgrind())
			gcu_sleep_ms(1);
	}
	gcu_clear_stack();
	return NULL;
}

/* Forced collections back to back, until told to stop. */
static void *collector_main(void *arg)
{
	uint64_t *count = arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		gcu_clear_stack();
		goheap_gc();
		__atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* ---- The race: moving the only pointer behind the marker ---- */

enum { PAYLOAD = 64, NMOVERS = 3, SLOTS = (4096 - 16) / 16 };
enum mech { MECH_STORE, MECH_MEMCPY, MECH_READ };
static const char *const mech_name[] = {"plain store", "memcpy", "read(2) from a pipe"};

struct slot {
	void *p;
	uint64_t id;
};

struct node {
	struct node *next;
	uint64_t serial;
	struct slot slot[SLOTS];
};
_Static_assert(sizeof(struct node) == 4096, "a node is one OS page");

/* The chain: the only way to the nodes, and so the order of marking. */
static struct node *volatile chain;
/* The nodes by position, hidden (GCU_HIDE), in system memory, which the
 * collector does not scan anyway. */
static uintptr_t *node_at;
static size_t nnodes;

static struct node *node(size_t i)
{
	return GCU_REVEAL(node_at[i]);
}

/* Where a payload is: its slot in node near (reached first) or in node
 * far, at = 0 or 1. */
struct spot {
	uint32_t node[2];
	uint32_t slot;
	uint8_t at;
	uint8_t lost;
	uint64_t id;
	uintptr_t hidden;
};

struct mover {
	enum mech mech;
	int pipe[2];
	struct tap_rng r;
	struct spot *spot;
	size_t n;
	uint64_t moves, passes, lost, misplaced, io_errors, efaults;
};

static uint64_t payload_tag(uint64_t id)
{
	return 0xc0c0000000000000u ^ id;
}

static bool payload_ok(const void *p, uint64_t id)
{
	return p && goheap_base(p) == p && tap_check(p, PAYLOAD, payload_tag(id)) == SIZE_MAX;
}

/* Copy the slot src into the heap slot dst by m's mechanism. */
static void slot_put(struct mover *m, struct slot *dst, const struct slot *src)
{
	static void *(*volatile copy)(void *, const void *, size_t) = memcpy;
	switch (m->mech) {
	case MECH_STORE:
		dst->p = src->p;
		dst->id = src->id;
		return;
	case MECH_MEMCPY:
		copy(dst, src, sizeof *dst);
		return;
	case MECH_READ:
		break;
	}
	ssize_t r;
	do
		r = write(m->pipe[1], src, sizeof *src);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof *src) {
		m->io_errors++;
		return;
	}
	do
		r = read(m->pipe[0], dst, sizeof *dst);
	while (r < 0 && errno == EINTR);
	if (r == (ssize_t)sizeof *dst)
		return;
	if (r < 0 && errno == EFAULT && efault_ok) {
		/* The mprotect backend: the kernel does not fault through a
		 * protected page, read(2) fails and leaves the bytes in the
		 * pipe.  The move goes through a bounce buffer on the stack
		 * (a root while it holds the pointer) and a store, which
		 * the backend's handler notes. */
		struct slot bounce;
		do
			r = read(m->pipe[0], &bounce, sizeof bounce);
		while (r < 0 && errno == EINTR);
		if (r == (ssize_t)sizeof bounce) {
			*dst = bounce;
			m->efaults++;
			return;
		}
	}
	m->io_errors++;
}

/* Move payload s to its other slot: a write to the destination, then
 * one clearing the source. */
static void move(struct mover *m, struct spot *s)
{
	static const struct slot empty;
	struct slot *src = &node(s->node[s->at])->slot[s->slot];
	struct slot *dst = &node(s->node[!s->at])->slot[s->slot];
	if (src->id != s->id || src->p != GCU_REVEAL(s->hidden) || dst->p) {
		m->misplaced++;
		s->lost = 1;
		return;
	}
	slot_put(m, dst, src);
	slot_put(m, src, &empty);
	s->at = !s->at;
	m->moves++;
}

/* Check every payload of m; stop moving those found freed. */
static void check_payloads(struct mover *m, const char *when)
{
	for (size_t i = 0; i < m->n; i++) {
		struct spot *s = &m->spot[i];
		if (s->lost)
			continue;
		struct slot *sl = &node(s->node[s->at])->slot[s->slot];
		if (sl->p == GCU_REVEAL(s->hidden) && sl->id == s->id && payload_ok(sl->p, s->id))
			continue;
		if (m->lost++ < 3)
			diag("%s: payload %llu at %p freed or damaged %s", mech_name[m->mech],
			     (unsigned long long)s->id, GCU_REVEAL(s->hidden), when);
		s->lost = 1;
		sl->p = NULL;
	}
}

static void *mover_main(void *arg)
{
	struct mover *m = arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (size_t k = 0; k < m->n; k++) {
			struct spot *s = &m->spot[tap_rng_range(&m->r, 0, m->n - 1)];
			if (!s->lost)
				move(m, s);
		}
		m->passes++;
		check_payloads(m, "while collections ran");
	}
	gcu_clear_stack();
	return NULL;
}

static struct mover movers[NMOVERS];
static size_t spans_per_mover; /* near nodes of each mover */
static size_t per_node;        /* payload slots used in each node */

/* Build the chain and the payloads, in their far slots. */
static void moves_build(void *arg)
{
	(void)arg;
	size_t unaligned = 0;
	for (size_t i = 0; i < nnodes; i++) {
		struct node *n = goheap_malloc(sizeof *n);
		if (!n)
			bail_out("no memory for node %zu", i);
		unaligned += ((uintptr_t)n & 4095) != 0;
		n->serial = i;
		node_at[i] = GCU_HIDE(n);
		/* Linked at once: collections may run while the chain grows. */
		if (i)
			node(i - 1)->next = n;
		else
			chain = n;
	}
	if (unaligned)
		diag("%zu nodes not on a page of their own", unaligned);
	uint64_t id = 0;
	for (int t = 0; t < NMOVERS; t++) {
		struct mover *m = &movers[t];
		for (size_t j = 0; j < m->n; j++) {
			struct spot *s = &m->spot[j];
			size_t near = (size_t)t + NMOVERS * (j % spans_per_mover);
			s->node[0] = (uint32_t)near;
			s->node[1] = (uint32_t)(near + nnodes / 2);
			s->slot = (uint32_t)(j / spans_per_mover);
			s->at = 1;
			s->id = ++id;
			void *p = goheap_malloc_atomic(PAYLOAD);
			if (!p)
				bail_out("no memory for payload %llu", (unsigned long long)id);
			tap_fill(p, PAYLOAD, payload_tag(id));
			s->hidden = GCU_HIDE(p);
			struct slot *sl = &node(s->node[1])->slot[s->slot];
			sl->p = p;
			sl->id = id;
		}
	}
}

static void case_moves(void)
{
	bool vg = slow();
	spans_per_mover = vg ? 8 : 256;
	per_node = vg ? 4 : 8;
	nnodes = 2 * NMOVERS * spans_per_mover;
	unsigned forced = vg ? 4 : 40;
	node_at = calloc(nnodes, sizeof *node_at);
	if (!node_at)
		bail_out("no memory");
	for (int t = 0; t < NMOVERS; t++) {
		struct mover *m = &movers[t];
		memset(m, 0, sizeof *m);
		m->mech = (enum mech)t;
		m->r = tap_rng_init(0xc0c0 + (uint64_t)t);
		m->n = spans_per_mover * per_node;
		m->spot = calloc(m->n, sizeof *m->spot);
		if (!m->spot || pipe(m->pipe) != 0 ||
		    fcntl(m->pipe[0], F_SETFL, O_NONBLOCK) != 0)
			bail_out("cannot set up mover %d: %s", t, strerror(errno));
	}
	gcu_call(moves_build, NULL);
	size_t total = NMOVERS * movers[0].n;
	diag("%zu nodes of 4096 bytes in a chain, %zu payloads of %d bytes, %d movers", nnodes,
	     total, PAYLOAD, NMOVERS);

	atomic_store(&stop, 0);
	pthread_t mt[NMOVERS], gt;
	uint64_t garbage = 0;
	int started = 0;
	for (int t = 0; t < NMOVERS; t++)
		if (goheap_pthread_create(&mt[t], NULL, mover_main, &movers[t]) == 0)
			started++;
	bool gstarted = goheap_pthread_create(&gt, NULL, garbage_main, &garbage) == 0;
	uint32_t gc0 = gcu_numgc();
	uint64_t t0 = gcu_now_ns();
	/* A generous cap, so that a collector that cannot keep up fails
	 * the count below rather than hanging. */
	uint64_t cap = t0 + (uint64_t)gcu_timeout_ms(30000) * 1000000u;
	for (unsigned g = 0; g < forced && gcu_now_ns() < cap; g++) {
		gcu_clear_stack();
		goheap_gc();
	}
	atomic_store(&stop, 1);
	for (int t = 0; t < started; t++)
		pthread_join(mt[t], NULL);
	if (gstarted)
		pthread_join(gt, NULL);
	uint32_t ngc = gcu_numgc() - gc0;
	double secs = (double)(gcu_now_ns() - t0) / 1e9;
	is_int(started, NMOVERS, "%d moving threads", NMOVERS);
	ok(gstarted, "a thread allocating garbage");

	gcu_collect(2);
	uint64_t moves = 0, lost = 0, misplaced = 0, io = 0, efaults = 0;
	for (int t = 0; t < NMOVERS; t++) {
		struct mover *m = &movers[t];
		check_payloads(m, "at the end");
		diag("%s: %llu moves in %llu passes", mech_name[t], (unsigned long long)m->moves,
		     (unsigned long long)m->passes);
		moves += m->moves;
		lost += m->lost;
		misplaced += m->misplaced;
		io += m->io_errors;
		efaults += m->efaults;
	}
	diag("%u collections (%u forced) in %.2f s, %llu moves: %llu per collection; "
	     "%llu garbage batches",
	     ngc, forced, secs, (unsigned long long)moves,
	     (unsigned long long)(ngc ? moves / ngc : 0), (unsigned long long)garbage);
	if (efaults)
		diag("read(2) into a protected heap page failed with EFAULT %llu times: moved "
		     "through a bounce buffer", (unsigned long long)efaults);
	cmp_uint(ngc, >=, forced, "collections ran while the threads moved pointers");
	cmp_uint(moves, >=, (uint64_t)ngc * (vg ? 10 : 1000),
		 "thousands of moves per collection (fewer under Valgrind)");
	is_uint(io, 0, "write(2) and read(2) moved every slot whole%s",
		efault_ok ? " (read(2) failing with EFAULT only)" : "");
	if (!efault_ok)
		is_uint(efaults, 0, "read(2) into the heap never failed with EFAULT");
	is_uint(misplaced, 0, "every pointer was where its last move left it");
	is_uint(lost, 0,
		"all %zu payloads intact: none freed while its only pointer moved behind the "
		"marker (plain store, memcpy, read(2))", total);

	chain = NULL;
	for (int t = 0; t < NMOVERS; t++) {
		close(movers[t].pipe[0]);
		close(movers[t].pipe[1]);
		free(movers[t].spot);
	}
	free(node_at);
	node_at = NULL;
}

/* ---- Explicit frees while marking runs ---- */

enum { FREERS = 2 };

/* A parent block whose first word is the only pointer to its child. */
struct pair {
	unsigned char *parent, *child;
	size_t pn, cn;
	uint64_t tag;
};

/* Each thread's pairs, in a heap block of their own. */
static struct pair *volatile pairs[FREERS];
static size_t npairs;

struct freer {
	int id;
	struct tap_rng r;
	uint64_t ops, frees, bad;
};

static bool pair_ok(const struct pair *q)
{
	return goheap_base(q->parent) == q->parent && *(void **)q->parent == q->child &&
	       tap_check_range(q->parent, sizeof(void *), q->pn, q->tag) == SIZE_MAX &&
	       goheap_base(q->child) == q->child &&
	       tap_check(q->child, q->cn, q->tag ^ 0xc417d) == SIZE_MAX;
}

static size_t some_size(struct tap_rng *r)
{
	uint64_t k = tap_rng_range(r, 0, 99);
	if (k < 70)
		return (size_t)tap_rng_range(r, 16, 512);
	if (k < 97)
		return (size_t)tap_rng_range(r, 513, 8192);
	return (size_t)tap_rng_range(r, 32769, 70000);
}

static unsigned char *new_child(struct freer *f, struct pair *q)
{
	q->cn = some_size(&f->r);
	unsigned char *c = tap_rng_range(&f->r, 0, 1) ? goheap_malloc(q->cn)
						       : goheap_malloc_atomic(q->cn);
	if (c)
		tap_fill(c, q->cn, q->tag ^ 0xc417d);
	return c;
}

static void new_pair(struct freer *f, struct pair *q)
{
	q->parent = NULL;
	q->tag = (uint64_t)f->id << 48 | ++f->ops;
	unsigned char *c = new_child(f, q);
	size_t pn = (size_t)tap_rng_range(&f->r, 16, 1024);
	unsigned char *p = goheap_malloc(pn);
	if (!p || !c)
		return;
	*(void **)p = c;
	tap_fill_range(p, sizeof(void *), pn, q->tag);
	q->pn = pn;
	q->child = c;
	q->parent = p;
}

static void *freer_main(void *arg)
{
	struct freer *f = arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct pair *q = &pairs[f->id][tap_rng_range(&f->r, 0, npairs - 1)];
		if (q->parent && !pair_ok(q)) {
			if (f->bad++ < 3)
				diag("thread %d: block %p or its child %p freed or damaged", f->id,
				     (void *)q->parent, (void *)q->child);
			q->parent = NULL;
		}
		if (!q->parent) {
			new_pair(f, q);
			continue;
		}
		switch (tap_rng_range(&f->r, 0, 3)) {
		case 0: /* both freed by hand */
			goheap_free(q->child);
			goheap_free(q->parent);
			f->frees += 2;
			new_pair(f, q);
			break;
		case 1: /* both dropped */
			new_pair(f, q);
			break;
		case 2: /* the child freed by hand, another in its place */
			goheap_free(q->child);
			f->frees++;
			q->child = new_child(f, q);
			*(void **)q->parent = q->child;
			if (!q->child)
				q->parent = NULL;
			break;
		default: /* the parent freed by hand, its child dropped */
			goheap_free(q->parent);
			f->frees++;
			new_pair(f, q);
			break;
		}
	}
	gcu_clear_stack();
	return NULL;
}

static void case_frees(void)
{
	bool vg = slow();
	npairs = vg ? 64 : 512;
	unsigned forced = vg ? 4 : 30;
	static struct freer fs[FREERS];
	for (int i = 0; i < FREERS; i++) {
		pairs[i] = goheap_malloc(npairs * sizeof(struct pair));
		if (!pairs[i])
			bail_out("no memory");
		memset(&fs[i], 0, sizeof fs[i]);
		fs[i].id = i;
		fs[i].r = tap_rng_init(0xf4ee + (uint64_t)i);
	}
	atomic_store(&stop, 0);
	pthread_t t[FREERS];
	int started = 0;
	for (int i = 0; i < FREERS; i++)
		if (goheap_pthread_create(&t[i], NULL, freer_main, &fs[i]) == 0)
			started++;
	uint32_t gc0 = gcu_numgc();
	uint64_t cap = gcu_now_ns() + (uint64_t)gcu_timeout_ms(30000) * 1000000u;
	for (unsigned g = 0; g < forced && gcu_now_ns() < cap; g++) {
		gcu_clear_stack();
		goheap_gc();
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	uint32_t ngc = gcu_numgc() - gc0;
	gcu_collect(2);
	uint64_t frees = 0, ops = 0, bad = 0, kept = 0;
	for (int i = 0; i < FREERS; i++) {
		frees += fs[i].frees;
		ops += fs[i].ops;
		bad += fs[i].bad;
		for (size_t k = 0; k < npairs; k++) {
			const struct pair *q = &pairs[i][k];
			if (!q->parent)
				continue;
			kept++;
			bad += !pair_ok(q);
		}
	}
	diag("%u collections, %llu pairs made, %llu blocks freed by hand, %llu pairs kept", ngc,
	     (unsigned long long)ops, (unsigned long long)frees, (unsigned long long)kept);
	is_int(started, FREERS, "%d threads allocating and freeing", FREERS);
	cmp_uint(ngc, >=, forced, "collections ran meanwhile");
	cmp_uint(frees, >, 0, "blocks freed by hand while collections ran");
	is_uint(bad, 0, "every block kept intact, its child too, through frees during marking");
	for (int i = 0; i < FREERS; i++)
		pairs[i] = NULL;
}

/* ---- A live list, for heap dumps, profiles and fork ---- */

struct link {
	struct link *next;
	uint64_t tag;
	unsigned char data[48];
};

static struct link *volatile live;

static void list_build(void *arg)
{
	size_t n = *(size_t *)arg;
	struct link *head = NULL;
	for (size_t i = 0; i < n; i++) {
		struct link *l = goheap_malloc(sizeof *l);
		if (!l)
			bail_out("no memory");
		l->tag = 0x11c0000 + i;
		tap_fill(l->data, sizeof l->data, l->tag);
		l->next = head;
		head = l;
	}
	live = head;
}

/* The links of the list that are intact (alive, pattern kept). */
static size_t list_intact(const struct link *l)
{
	size_t n = 0;
	for (; l; l = l->next)
		n += goheap_base(l) == l && tap_check(l->data, sizeof l->data, l->tag) == SIZE_MAX;
	return n;
}

/* Start the forced-collection and garbage threads. */
struct background {
	pthread_t c, g;
	bool cs, gs;
	uint64_t collections, garbage;
};

static void background_start(struct background *b)
{
	memset(b, 0, sizeof *b);
	atomic_store(&stop, 0);
	b->cs = goheap_pthread_create(&b->c, NULL, collector_main, &b->collections) == 0;
	b->gs = goheap_pthread_create(&b->g, NULL, garbage_main, &b->garbage) == 0;
}

static void background_stop(struct background *b)
{
	atomic_store(&stop, 1);
	if (b->cs)
		pthread_join(b->c, NULL);
	if (b->gs)
		pthread_join(b->g, NULL);
}

/* ---- Weak links read while marking runs ---- */

/* Blocks reached only through weak links die at the next collection, and
 * their links read NULL.  Threads read the links while collections run
 * and keep what they read, strongly, either in a heap block marked long
 * before (the store is behind the marker: write tracking must see it) or
 * on their stack alone (the final pause scans stacks again).  A block
 * read from a link and so kept must never be freed: no read barrier is
 * needed (goheap(7), "Weak links and specials").  A link that reads NULL
 * gets a new block. */
enum { WEAK_READERS = 2, WEAK_BLOCK = 64 };

struct weak_reader {
	int id;
	struct tap_rng r;
	size_t n;
	void **links;   /* weak links, in system memory (not a root) */
	uint64_t *tags; /* the pattern of each link's block */
	uint64_t next_tag;
	uint64_t reads, nulls, kept, stacked, renewed, lost, errors;
};

/* Each reader's strong slots, a heap block rooted here. */
static void **volatile weak_held[WEAK_READERS];

static bool weak_ok(const void *p, uint64_t tag)
{
	return goheap_base(p) == p && tap_check(p, WEAK_BLOCK, tag) == SIZE_MAX;
}

static void weak_lost(struct weak_reader *w, const void *p, const char *how)
{
	if (w->lost++ < 3)
		diag("weak reader %d: block %p, %s, freed or damaged", w->id, p, how);
}

/* A new block for link k, reachable through it alone. */
static void weak_renew(struct weak_reader *w, size_t k)
{
	unsigned char *b = goheap_malloc_atomic(WEAK_BLOCK);
	if (!b) {
		w->errors++;
		return;
	}
	w->tags[k] = (uint64_t)w->id << 56 | ++w->next_tag;
	tap_fill(b, WEAK_BLOCK, w->tags[k]);
	if (goheap_register_weak_link(&w->links[k], b) != 0)
		w->errors++;
	w->renewed++;
}

/* Hold p on the stack alone while allocating, then check it. */
static __attribute__((noinline)) void weak_stack_hold(struct weak_reader *w, void *p,
						       uint64_t tag)
{
	void *volatile hold = p;
	p = NULL;
	for (int i = 0; i < 64; i++) {
		unsigned char *g = goheap_malloc_atomic(WEAK_BLOCK);
		if (g)
			memset(g, 0xa5, WEAK_BLOCK);
	}
	if (!weak_ok(hold, tag))
		weak_lost(w, hold, "held on the stack");
	w->stacked++;
}

static void *weak_reader_main(void *arg)
{
	struct weak_reader *w = arg;
	void **held = weak_held[w->id];
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		size_t k = (size_t)tap_rng_range(&w->r, 0, w->n - 1);
		if (held[k]) {
			if (!weak_ok(held[k], w->tags[k])) {
				weak_lost(w, held[k], "kept in a heap block");
				held[k] = NULL;
			} else if (tap_rng_range(&w->r, 0, 3) == 0) {
				held[k] = NULL; /* weak only again */
			}
			continue;
		}
		void *p = goheap_read_weak_link(&w->links[k]);
		w->reads++;
		if (!p) {
			w->nulls++;
			weak_renew(w, k);
		} else if (!weak_ok(p, w->tags[k])) {
			weak_lost(w, p, "as the link gave it");
		} else if (tap_rng_range(&w->r, 0, 1)) {
			held[k] = p; /* into a block scanned long ago */
			w->kept++;
		} else {
			weak_stack_hold(w, p, w->tags[k]);
		}
	}
	gcu_clear_stack();
	return NULL;
}

static void weak_setup(void *arg)
{
	struct weak_reader *w = arg;
	weak_held[w->id] = goheap_malloc(w->n * sizeof(void *));
	if (!weak_held[w->id])
		bail_out("no memory");
	for (size_t k = 0; k < w->n; k++)
		weak_renew(w, k);
}

static void case_weak(void)
{
	bool vg = slow();
	unsigned forced = vg ? 4 : 30;
	static struct weak_reader ws[WEAK_READERS];
	for (int i = 0; i < WEAK_READERS; i++) {
		struct weak_reader *w = &ws[i];
		memset(w, 0, sizeof *w);
		w->id = i;
		w->r = tap_rng_init(0x3ea4 + (uint64_t)i);
		w->n = vg ? 64 : 1024;
		w->links = calloc(w->n, sizeof *w->links);
		w->tags = calloc(w->n, sizeof *w->tags);
		if (!w->links || !w->tags)
			bail_out("no memory");
		gcu_call(weak_setup, w);
	}
	struct background bg;
	background_start(&bg);
	pthread_t t[WEAK_READERS];
	int started = 0;
	for (int i = 0; i < WEAK_READERS; i++)
		if (goheap_pthread_create(&t[i], NULL, weak_reader_main, &ws[i]) == 0)
			started++;
	/* The library's count: the collecting thread's own is not atomic. */
	uint32_t gc0 = gcu_numgc();
	uint64_t cap = gcu_now_ns() + (uint64_t)gcu_timeout_ms(30000) * 1000000u;
	while (gcu_numgc() - gc0 < forced && gcu_now_ns() < cap)
		gcu_sleep_ms(1);
	background_stop(&bg);
	atomic_store(&stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	uint64_t reads = 0, nulls = 0, kept = 0, stacked = 0, lost = 0, errors = 0;
	for (int i = 0; i < WEAK_READERS; i++) {
		struct weak_reader *w = &ws[i];
		void **held = weak_held[i];
		for (size_t k = 0; k < w->n; k++)
			if (held[k] && !weak_ok(held[k], w->tags[k]))
				weak_lost(w, held[k], "kept in a heap block, at the end");
		reads += w->reads;
		nulls += w->nulls;
		kept += w->kept;
		stacked += w->stacked;
		lost += w->lost;
		errors += w->errors;
	}
	diag("%llu forced collections; %llu links read, %llu NULL (block died, renewed); "
	     "%llu blocks kept in the heap, %llu on the stack",
	     (unsigned long long)bg.collections, (unsigned long long)reads,
	     (unsigned long long)nulls, (unsigned long long)kept, (unsigned long long)stacked);
	is_int(started, WEAK_READERS, "%d threads reading weak links", WEAK_READERS);
	cmp_uint(gcu_numgc() - gc0, >=, forced, "collections ran meanwhile");
	cmp_uint(nulls, >, 0, "links read NULL: blocks reached only through them died");
	cmp_uint(kept, >, 0, "blocks read from links kept in a heap block scanned before");
	cmp_uint(stacked, >, 0, "blocks read from links held on the stack alone");
	is_uint(errors, 0, "every block allocated and its link registered");
	is_uint(lost, 0, "no block read from a weak link and kept was freed");
	for (int i = 0; i < WEAK_READERS; i++) {
		for (size_t k = 0; k < ws[i].n; k++)
			goheap_unregister_weak_link(&ws[i].links[k]);
		weak_held[i] = NULL;
		free(ws[i].links);
		free(ws[i].tags);
	}
}

/* ---- Heap dumps and profiles while marking runs ---- */

/* A file that is gone when closed. */
static int temp_fd(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR, 0600);
	if (fd >= 0)
		return fd;
	char path[4096];
	snprintf(path, sizeof path, "%s/t-gc-concurrent-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* The whole of fd, from its start, in system memory; NULL if not read. */
static unsigned char *slurp(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	if (end <= 0 || lseek(fd, 0, SEEK_SET) != 0)
		return NULL;
	unsigned char *b = malloc((size_t)end);
	size_t n = 0;
	while (b && n < (size_t)end) {
		ssize_t r = read(fd, b + n, (size_t)end - n);
		if (r <= 0) {
			free(b);
			return NULL;
		}
		n += (size_t)r;
	}
	*len = n;
	return b;
}

static bool uvarint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		unsigned char c = *(*p)++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/* A heap dump read back (goheap-heapdump(5)): framing whole up to its END
 * record; the OBJECT records counted, and whether one is the block at
 * want.  false if malformed. */
static bool dump_read(const unsigned char *b, size_t len, uintptr_t want, size_t *objects,
		      bool *found)
{
	const unsigned char *p = b + 16, *end = b + len;
	uint64_t v, tag, n;
	*objects = 0;
	*found = false;
	if (len < 17 || memcmp(b, "GOHEAP HEAPDUMP\n", 16) != 0 || !uvarint(&p, end, &v) || v != 1)
		return false;
	while (p < end) {
		if (!uvarint(&p, end, &tag) || !uvarint(&p, end, &n) || n > (uint64_t)(end - p))
			return false;
		const unsigned char *body = p;
		p += n;
		if (tag == 1)
			return p == end;
		if (tag == 5) {
			(*objects)++;
			if (uvarint(&body, p, &v) && v == want)
				*found = true;
		}
	}
	return false; /* no END: truncated */
}

/* A profile read back (uncompressed profile.proto): every field of the
 * message whole, to its end; the sample types and samples counted. */
static bool profile_read(const unsigned char *b, size_t len, size_t *types, size_t *samples)
{
	const unsigned char *p = b, *end = b + len;
	*types = *samples = 0;
	while (p < end) {
		uint64_t key, v;
		if (!uvarint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0:
			if (!uvarint(&p, end, &v))
				return false;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 2:
			if (!uvarint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			p += v;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		default:
			return false;
		}
		*types += key == (1 << 3 | 2);
		*samples += key == (2 << 3 | 2);
	}
	return len > 0;
}

static void case_dumps(void)
{
	bool vg = slow();
	size_t n = vg ? 2000 : 50000;
	int rounds = vg ? 3 : 20;
	long rate = goheap_set_profile_rate(4096);
	gcu_call(list_build, &n);
	struct background bg;
	background_start(&bg);
	int dumped = 0, dump_good = 0, profiled = 0, profile_good = 0, again = 0;
	size_t min_objects = SIZE_MAX, min_samples = SIZE_MAX;
	/* rounds dumps and profiles at least; more, up to ten times as
	 * many, while fewer than rounds / 2 collections ran meanwhile (a
	 * loaded machine gives the collecting thread less time). */
	int i;
	for (i = 0; i < rounds || (__atomic_load_n(&bg.collections, __ATOMIC_RELAXED) <
					   (uint64_t)rounds / 2 &&
				   i < 10 * rounds);
	     i++) {
		int fd = temp_fd();
		if (fd < 0)
			bail_out("no temporary file: %s", strerror(errno));
		if (goheap_write_heapdump(fd) == 0) {
			dumped++;
			size_t len = 0, objects;
			bool found;
			unsigned char *b = slurp(fd, &len);
			if (b && dump_read(b, len, (uintptr_t)live, &objects, &found) &&
			    objects >= n && found)
				dump_good++;
			else if (dump_good == i)
				diag("heap dump %d: %zu bytes, not whole or short of the list", i, len);
			if (b && objects < min_objects)
				min_objects = objects;
			free(b);
		} else {
			diag("goheap_write_heapdump: %s", strerror(errno));
			again += errno == EAGAIN && tap_under_tsan();
		}
		close(fd);
		fd = temp_fd();
		if (fd < 0)
			bail_out("no temporary file: %s", strerror(errno));
		if (goheap_write_heap_profile(fd) == 0) {
			profiled++;
			size_t len = 0, types, samples;
			unsigned char *b = slurp(fd, &len);
			if (b && profile_read(b, len, &types, &samples) && types == 4 && samples > 0)
				profile_good++;
			else
				diag("heap profile %d: %zu bytes, not whole", i, len);
			if (b && samples < min_samples)
				min_samples = samples;
			free(b);
		} else {
			diag("goheap_write_heap_profile: %s", strerror(errno));
		}
		close(fd);
	}
	background_stop(&bg);
	goheap_set_profile_rate(rate);
	diag("%llu forced collections meanwhile; dumps of at least %zu blocks, profiles of at "
	     "least %zu samples",
	     (unsigned long long)bg.collections, min_objects, min_samples);
	ok(bg.cs && bg.gs, "threads collecting and allocating");
	cmp_uint(bg.collections, >=, (uint64_t)rounds / 2, "collections ran meanwhile");
	/* Under ThreadSanitizer, whose runtime delays signals, a stop may
	 * give up (EAGAIN, goheap_write_heapdump(3)): a dump may fail so,
	 * not otherwise. */
	if (again)
		diag("%d heap dumps failed with EAGAIN (a thread not stopped in time)", again);
	cmp_int(dumped, >=, 1, "heap dumps written while collections ran");
	is_int(dumped, i - again, "%d heap dumps asked for while collections ran: all written",
	       i - again);
	is_int(dump_good, dumped, "each read back whole, with every block of the live list");
	is_int(profiled, i, "%d heap profiles asked for meanwhile: all written", i);
	is_int(profile_good, i, "each read back whole, with its 4 sample types and samples");
	is_uint(list_intact(live), n, "the live list intact");
	live = NULL;
}

/* ---- fork while collections run ---- */

static void say(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

static struct link *volatile child_live;

static void child_list(void *arg)
{
	list_build(arg);
	child_live = live;
}

/* The child of a fork: the parent's list intact, then its own, through
 * collections of its own.  Its exit status: 0, or bits of what failed. */
static int fork_child(size_t n)
{
	int bad = 0;
	if (list_intact(live) != n) {
		say("fork child: the parent's list damaged\n");
		bad |= 1;
	}
	struct link *saved = live;
	size_t m = n / 4;
	gcu_call(child_list, &m);
	live = saved;
	for (int i = 0; i < 3; i++) {
		for (int k = 0; k < 1000; k++) {
			void *g = goheap_malloc(256);
			if (g)
				memset(g, 0x5a, 256);
		}
		gcu_collect(1);
	}
	if (list_intact(child_live) != m) {
		say("fork child: its own list damaged\n");
		bad |= 2;
	}
	if (list_intact(live) != n) {
		say("fork child: the parent's list damaged by its collections\n");
		bad |= 4;
	}
	return bad;
}

static void case_fork(void)
{
	const char *qemu = getenv("QEMU_LD_PREFIX");
	if (qemu && *qemu) {
		/* As t-gc-fork, left out of make check-qemu (Makefile.am). */
		skip("under qemu-user", "fork while collections run: qemu-user 7.2 aborts the "
					"child of a threaded process that starts a thread");
		return;
	}
	bool vg = slow();
	size_t n = vg ? 1000 : 20000;
	int forks = vg ? 3 : 30;
	gcu_call(list_build, &n);
	struct background bg;
	background_start(&bg);
	int good = 0;
	for (int i = 0; i < forks; i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			diag("fork: %s", strerror(errno));
			continue;
		}
		if (pid == 0)
			_exit(fork_child(n));
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			good++;
		else
			diag("fork %d: child status %#x", i, st);
	}
	background_stop(&bg);
	diag("%llu forced collections meanwhile", (unsigned long long)bg.collections);
	ok(bg.cs && bg.gs, "threads collecting and allocating");
	is_int(good, forks,
	       "%d forks while collections ran: each child found the parent's list intact, "
	       "allocated and collected", forks);
	gcu_collect(1);
	is_uint(list_intact(live), n, "the parent's list intact after");
	live = NULL;
}

/* ---- The children ---- */

/* A heap of some 160 MiB, live, in 4 KiB blocks: the heap's memory in
 * several ranges (it grows in reservations of 64 MiB, each below the
 * last), each more than one of the steps in which marking arms write
 * tracking (lib/mheap.c, gh_mheap_track_writes).  Two collections; 0 if
 * every block came out intact.  The parent checks that both marked
 * concurrently: a range armed wrong makes the collection fall back to
 * marking with the world stopped. */
static int child_big(void)
{
	enum { N = 40000, SZ = 4096 };
	unsigned char **b = goheap_malloc(N * sizeof *b);
	if (!b)
		return 2;
	for (size_t i = 0; i < N; i++) {
		if (!(b[i] = goheap_malloc_atomic(SZ)))
			return 2;
		memset(b[i], (int)(i & 0xff), SZ);
	}
	goheap_gc();
	goheap_gc();
	for (size_t i = 0; i < N; i++)
		if (b[i][0] != (i & 0xff) || b[i][SZ - 1] != (i & 0xff))
			return 1;
	return 0;
}

static int child_main(const char *mode)
{
	const char *gc = getenv("GOHEAP_GC");
	efault_ok = gc && strcmp(gc, "concurrent-mprotect") == 0;
	if (strcmp(mode, "probe") == 0) {
		goheap_gc();
		return 0;
	}
	if (strcmp(mode, "big") == 0)
		return child_big();
	static const struct tap_test suite[] = {
		TAP_TEST(case_moves),
		TAP_TEST(case_frees),
		TAP_TEST(case_weak),
		TAP_TEST(case_dumps),
		TAP_TEST(case_fork),
	};
	char *argv[] = {(char *)mode, (char *)"case_moves", NULL};
	int rc;
	if (strcmp(mode, "suite") == 0)
		rc = tap_main(1, argv, suite, sizeof suite / sizeof suite[0]);
	else if (strcmp(mode, "moves") == 0)
		rc = tap_main(2, argv, suite, sizeof suite / sizeof suite[0]);
	else if (strncmp(mode, "case_", 5) == 0) /* one case, by hand */
		rc = tap_main(2, (char *[]){(char *)mode, (char *)mode, NULL}, suite,
			      sizeof suite / sizeof suite[0]);
	else
		return 99;
	gcu_finish();
	return rc;
}

/* ---- The parent ---- */

static char out[4 << 20];

/* Run this program as a child in mode, with GOHEAP_GC=gc and GOHEAP_DEBUG
 * set to the parent's, if any, followed by debug; under Valgrind if the
 * parent is (make check-valgrind).  Its wait status; its stdout and
 * stderr together in out. */
static int run_child(const char *gc, const char *debug, const char *mode)
{
	char self[4096];
	ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sn <= 0)
		return -1;
	self[sn] = 0;
	static char gcvar[64], dbgvar[512];
	snprintf(gcvar, sizeof gcvar, "GOHEAP_GC=%s", gc);
	const char *outer = getenv("GOHEAP_DEBUG");
	snprintf(dbgvar, sizeof dbgvar, "GOHEAP_DEBUG=%s%s%s", outer ? outer : "",
		 outer && *outer ? "," : "", debug);
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **envp = calloc(nenv + 3, sizeof *envp), **e = envp;
	if (!envp)
		return -1;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "GOHEAP_GC=", 10) != 0 &&
		    strncmp(environ[i], "GOHEAP_DEBUG=", 13) != 0)
			*e++ = environ[i];
	*e++ = gcvar;
	*e++ = dbgvar;
	char *argv[8], **a = argv;
	const char *vg = getenv("VALGRIND");
	const char *path = self;
	if (tap_under_valgrind() && vg && *vg) {
		path = vg;
		*a++ = (char *)vg;
		*a++ = (char *)"--quiet";
		*a++ = (char *)"--error-exitcode=99";
		/* The mprotect backend's handler returns from SIGSEGV: exact
		 * registers (lib/wtrack_linux.c). */
		if (strcmp(gc, "concurrent-mprotect") == 0)
			*a++ = (char *)"--vex-iropt-register-updates=allregs-at-mem-access";
	}
	*a++ = self;
	*a++ = (char *)"--child";
	*a++ = (char *)mode;
	*a = NULL;

	int fd[2];
	if (pipe(fd) != 0) {
		free(envp);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		execve(path, argv, envp);
		_exit(127);
	}
	free(envp);
	close(fd[1]);
	size_t n = 0;
	for (;;) {
		char buf[8192];
		ssize_t r = pid > 0 ? read(fd[0], buf, sizeof buf) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t take = (size_t)r;
		if (n + take > sizeof out - 1)
			take = sizeof out - 1 - n;
		memcpy(out + n, buf, take);
		n += take;
	}
	close(fd[0]);
	out[n] = 0;
	if (pid < 0)
		return -1;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Whether the child's gctrace line is one of a concurrent collection
 * with backend name. */
static bool concurrent_line(const char *line, const char *name)
{
	char want[64];
	snprintf(want, sizeof want, "concurrent (%s)", name);
	return strstr(line, want) != NULL;
}

/* Pass the child's TAP lines on, its backend's name in front; its
 * gctrace lines are counted: all of them, and those of concurrent
 * collections with backend name. */
static void relay(const char *name, size_t *lines, size_t *concurrent)
{
	*lines = *concurrent = 0;
	for (char *line = out; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strstr(line, "goheap: gc ")) {
			++*lines;
			*concurrent += concurrent_line(line, name);
		} else {
			tap_relay_line(name, line);
		}
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
}

/* Whether backend name (GOHEAP_GC=gc) is here: a collection of a child
 * that asked for it says so in its gctrace line.  If not, why not, as the
 * library said, in why. */
static bool backend_here(const char *gc, const char *name, char *why, size_t whysz)
{
	int st = run_child(gc, "gctrace=1", "probe");
	for (char *line = out; line && *line;) {
		char *nl = strchr(line, '\n');
		if (strstr(line, "goheap: gc ") && (!strcmp(gc, "stw") ? !strstr(line, "concurrent")
								     : concurrent_line(line, name)))
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		line = nl ? nl + 1 : NULL;
	}
	const char *r = strstr(out, "GOHEAP_GC=");
	snprintf(why, whysz, "%.*s", r ? (int)strcspn(r, "\n") : 60,
		 r ? r : "the child did not say (status, output: see the log)");
	if (!r)
		diag("probe child: status %#x, output:\n%s", st, out);
	return false;
}

/* Run the child in mode with backend name (GOHEAP_GC=gc) and gctrace on,
 * and relay its output (relay), or skip what if the backend is not here.
 * Whether it ran; its wait status in *st. */
static bool run_relayed(const char *gc, const char *name, const char *what, const char *debug,
			const char *mode, int *st, size_t *lines, size_t *concurrent)
{
	char why[256];
	if (!backend_here(gc, name, why, sizeof why)) {
		skip(why, "%s: backend %s not available here", what, name);
		return false;
	}
	*st = run_child(gc, debug, mode);
	relay(name, lines, concurrent);
	return true;
}

/* The cases in a child with backend name (GOHEAP_GC=gc), or a skip. */
static void suite_for(const char *gc, const char *name)
{
	/* check=1: the collector checks itself too, at the end of each
	 * marking (a reachable block left unmarked) and as it scans (a block
	 * whose span was freed under the marker: case_frees). */
	int st;
	size_t lines, concurrent;
	if (!run_relayed(gc, name, "the cases", "gctrace=1,check=1", "suite", &st, &lines,
			 &concurrent))
		return;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the cases passed (status %#x)", name, st);
	diag("%s: %zu collections traced, %zu concurrent", name, lines, concurrent);
	if (strcmp(gc, "stw") == 0) {
		is_uint(concurrent, 0, "%s: no collection concurrent", name);
		cmp_uint(lines, >=, 40, "%s: collections ran", name);
	} else {
		unsigned want = slow() ? 12 : 100;
		cmp_uint(concurrent, >=, want, "%s: that many collections concurrent", name);
	}
}

static void test_uffd(void)
{
	suite_for("concurrent", "uffd");
}

static void test_mprotect(void)
{
	suite_for("concurrent-mprotect", "mprotect");
}

static void test_stw(void)
{
	suite_for("stw", "none");
}

/* A heap of 160 MiB in several ranges (child_big): both collections mark
 * concurrently, under each backend here, and the blocks stay intact. */
static void big(const char *gc, const char *name)
{
	if (tap_under_valgrind()) {
		skip("under Valgrind", "%s, 160 MiB heap: too slow there", name);
		return;
	}
	int st;
	size_t lines, concurrent;
	if (!run_relayed(gc, name, "160 MiB heap", "gctrace=1", "big", &st, &lines, &concurrent))
		return;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "%s, 160 MiB heap: every block intact after two collections (status %#x)", name, st);
	if (!ok(lines >= 2 && concurrent == lines,
		"%s, 160 MiB heap in several ranges: every collection concurrent (%zu of %zu)",
		name, concurrent, lines))
		diag("%s", out);
}

static void test_big_heap(void)
{
	big("concurrent", "uffd");
	big("concurrent-mprotect", "mprotect");
}

/* The child's first line that starts with start and holds has, or NULL. */
static const char *out_line(const char *start, const char *has)
{
	for (const char *line = out; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *h = strstr(line, has);
		if (strncmp(line, start, strlen(start)) == 0 && h && h < line + len)
			return line;
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Write tracking broken on purpose (GOHEAP_DEBUG=wtrackdrop=1): the race
 * case must fail under uffd.  With check=1 the collector's self-check
 * sees it at the end of the first marking that misses a payload; without
 * it, the payloads' own checks must. */
static void broken(bool check)
{
	char why[256];
	if (tap_under_valgrind()) {
		skip("under Valgrind", "broken tracking: uffd is not available there");
		return;
	}
	if (tap_under_tsan()) {
		skip("under ThreadSanitizer", "broken tracking: the race runs with less work here, "
		     "too little to be sure to lose a block; the other builds run it whole");
		return;
	}
	if (!backend_here("concurrent", "uffd", why, sizeof why)) {
		skip(why, "broken tracking: uffd not available here");
		return;
	}
	int st = run_child("concurrent", check ? "wtrackdrop=1,check=1" : "wtrackdrop=1,check=0",
			   "moves");
	bool failed = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *lost = out_line("not ok ", "payloads intact");
	const char *self = out_line("goheap: ", "heap check: concurrent marking: ");
	for (const char *line = out; line && *line;) {
		const char *nl = strchr(line, '\n');
		if (line[0] == '#' || strncmp(line, "goheap: heap check", 18) == 0)
			diag("child: %.*s", (int)(nl ? nl - line : (ptrdiff_t)strlen(line)), line);
		line = nl ? nl + 1 : NULL;
	}
	if (check) {
		if (!ok(failed && (self || lost),
			"uffd, tracking dropped, check=1: the child fails (status %#x: %s)", st,
			self ? "the self-check caught it" : lost ? "a payload was lost" : "no cause"))
			diag("%s", out);
	} else if (!ok(failed && lost && !self,
		       "uffd, tracking dropped, no self-check: the payloads' checks fail the child "
		       "(status %#x)", st)) {
		diag("%s", out);
	}
}

static void test_broken_selfcheck(void)
{
	broken(true);
}

static void test_broken_payloads(void)
{
	broken(false);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_uffd),
	TAP_TEST(test_mprotect),
	TAP_TEST(test_stw),
	TAP_TEST(test_big_heap),
	TAP_TEST(test_broken_selfcheck),
	TAP_TEST(test_broken_payloads),
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);
	return TAP_MAIN(argc, argv, tests);
}
