/*
 * t-gc-roots: each kind of root keeps blocks alive on its own, and stops
 * keeping them once it lets go.
 *
 * A test stores the only pointers to 100 watched blocks (gcutil.h) in one
 * kind of root: another thread's stack, a thread that registered without
 * allocating, initialised and zeroed static data of the program and of a
 * library loaded with dlopen(), a range given to goheap_add_roots, pointers
 * into the middle or to the last byte of the blocks, and goheap blocks
 * (small, large, zeroed, reallocated) themselves reachable from a root, and
 * a callee-saved register of the collecting thread.
 * After several collections every block must be intact and unfinalized;
 * once the root lets go (cleared, unregistered, removed, unloaded), nearly
 * all must be finalized.  Pointers inside goheap_malloc_atomic blocks must
 * keep nothing alive.
 */
#include <goheap.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcutil.h"
#include "tap.h"

enum { N = 100 };

/* Watched block i: small classes of several sizes, one of about a page,
 * and large ones of one and of many pages; every third one atomic. */
static size_t watch_size(size_t i)
{
	static const size_t sizes[] = { 16,   48,   200,   1024,
					3000, 9000, 40000, 100000 };
	return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static int watch_atomic(size_t i)
{
	return i % 3 == 2;
}

/* ---- A set of slots of one root kind, each holding one watched block ---- */

struct rootset {
	uintptr_t slots_h; /* GCU_HIDE(slot 0): the slots may be in the heap */
	size_t stride; /* words from one slot to the next */
	int interior; /* slots point into the blocks, not at their start */
	uint64_t tag;
	struct gcu_watch w[N];
};

static void *volatile *rs_slot(const struct rootset *rs, size_t i)
{
	return (void *volatile *)GCU_REVEAL(rs->slots_h) + i * rs->stride;
}

/* How far into block i its slot points: the middle, or the last byte. */
static size_t rs_offset(const struct rootset *rs, size_t i)
{
	if (!rs->interior)
		return 0;
	return i % 2 ? watch_size(i) / 2 : watch_size(i) - 1;
}

static void rs_init(struct rootset *rs, void *slots, size_t stride,
		    int interior, uint64_t tag)
{
	memset(rs, 0, sizeof *rs);
	rs->slots_h = GCU_HIDE(slots);
	rs->stride = stride;
	rs->interior = interior;
	rs->tag = tag;
}

/* Run through gcu_call: the new blocks stay only in the slots. */
static void rs_fill(void *arg)
{
	struct rootset *rs = arg;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p = gcu_watch_new(&rs->w[i], watch_size(i),
						 watch_atomic(i), rs->tag + i);
		*rs_slot(rs, i) = p != NULL ? p + rs_offset(rs, i) : NULL;
	}
}

static void rs_clear(void *arg)
{
	struct rootset *rs = arg;
	for (size_t i = 0; i < N; i++)
		*rs_slot(rs, i) = NULL;
}

/* Every block of rs, held by its slot, survives three collections intact. */
static GCU_NOINLINE void expect_alive(const struct rootset *rs,
				      const char *what)
{
	gcu_collect(3);
	gcu_settle();
	struct gcu_tally t = gcu_tally(rs->w, N);
	int intact = 0;
	for (size_t i = 0; i < N; i++) {
		unsigned char *p = *rs_slot(rs, i);
		intact += p != NULL &&
			  gcu_watch_intact(&rs->w[i], p - rs_offset(rs, i));
	}
	is_int(t.finalized, 0, "%s: no block finalized while held", what);
	is_int(intact, N, "%s: every block intact after 3 collections", what);
}

/* Nearly all of the n watched blocks, no longer held, get finalized, each
 * once, with its contents intact. */
static GCU_NOINLINE void expect_dead(const struct gcu_watch *w, size_t n,
				     const char *what)
{
	int got = gcu_collect_until(w, n, GCU_MOSTLY((int)n), 5000);
	struct gcu_tally t = gcu_tally(w, n);
	cmp_int(got, >=, GCU_MOSTLY((int)n),
		"%s: dropped blocks finalized (%d of %zu)", what, got, n);
	is_int(t.twice + t.wrong + t.damaged, 0,
	       "%s: each finalizer ran once, on its block, intact", what);
}

/* The whole cycle for slots that the test can clear. */
static void alive_then_dead(struct rootset *rs, const char *what)
{
	char name[128];
	gcu_call(rs_fill, rs);
	expect_alive(rs, what);
	gcu_call(rs_clear, rs);
	snprintf(name, sizeof name, "%s, cleared", what);
	expect_dead(rs->w, N, name);
}

/* ---- Static data of the program ---- */

/* Initialised, so in .data; slot 0 holds a non-heap address and is not
 * used. */
static void *volatile data_slots[N + 1] = { (void *)&data_slots };
/* Zero-initialised, so in .bss. */
static void *volatile bss_slots[N];

static struct rootset rs_data, rs_bss, rs_interior_small;

static void test_data(void)
{
	rs_init(&rs_data, (void *)&data_slots[1], 1, 0, 0x1000);
	alive_then_dead(&rs_data, "initialised global (.data)");
}

static void test_bss(void)
{
	rs_init(&rs_bss, (void *)bss_slots, 1, 0, 0x2000);
	alive_then_dead(&rs_bss, "zeroed global (.bss)");
}

static void test_interior(void)
{
	rs_init(&rs_interior_small, (void *)bss_slots, 1, 1, 0x3000);
	alive_then_dead(&rs_interior_small,
			"interior pointers (middle, last byte)");
}

/* ---- Another thread's stack ---- */

struct threadctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase;
	int intact;
	int reg_rc, unreg_rc, unreg2_rc, unreg2_errno;
	void *volatile mailbox[N]; /* static data, but cleared before use */
	struct gcu_watch w[N];
};

static void set_phase(struct threadctx *c, int phase)
{
	pthread_mutex_lock(&c->lock);
	c->phase = phase;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void wait_phase(struct threadctx *c, int phase)
{
	pthread_mutex_lock(&c->lock);
	while (c->phase < phase)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static void threadctx_init(struct threadctx *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
}

static void threadctx_destroy(struct threadctx *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
}

static GCU_NOINLINE void stack_fill(void *volatile *held, struct gcu_watch *w)
{
	for (size_t i = 0; i < N; i++)
		held[i] = gcu_watch_new(&w[i], watch_size(i), watch_atomic(i),
					0x4000 + i);
}

static GCU_NOINLINE int count_intact(void *volatile *held,
				     const struct gcu_watch *w)
{
	int n = 0;
	for (size_t i = 0; i < N; i++)
		n += gcu_watch_intact(&w[i], held[i]);
	return n;
}

/* Holds the only pointers in a local array while the main thread
 * collects. */
static void *stack_thread(void *arg)
{
	struct threadctx *c = arg;
	void *volatile held[N];
	void (*volatile fill)(void *volatile *, struct gcu_watch *) =
		stack_fill;

	fill(held, c->w);
	gcu_clear_stack();
	set_phase(c, 1);
	wait_phase(c, 2);
	c->intact = count_intact(held, c->w);
	for (size_t i = 0; i < N; i++)
		held[i] = NULL;
	gcu_clear_stack();
	set_phase(c, 3);
	wait_phase(c, 4);
	return NULL;
}

static struct threadctx stackctx;

static void test_thread_stack(void)
{
	struct threadctx *c = &stackctx;
	pthread_t t;
	threadctx_init(c);
	if (!is_int(goheap_pthread_create(&t, NULL, stack_thread, c), 0,
		    "goheap_pthread_create"))
		return;
	wait_phase(c, 1);
	gcu_collect(3);
	gcu_settle();
	is_int(gcu_tally(c->w, N).finalized, 0,
	       "other thread's stack: no block finalized while held");
	set_phase(c, 2);
	wait_phase(c, 3);
	is_int(c->intact, N,
	       "other thread's stack: every block intact after 3 collections");
	expect_dead(c->w, N, "other thread's stack, dropped");
	set_phase(c, 4);
	pthread_join(t, NULL);
	threadctx_destroy(c);
}

/* Made by the main thread, held only in the mailbox (which the thread
 * empties) until a plain thread takes them. */
static void mailbox_fill(void *arg)
{
	struct threadctx *c = arg;
	for (size_t i = 0; i < N; i++)
		c->mailbox[i] = gcu_watch_new(&c->w[i], watch_size(i),
					      watch_atomic(i), 0x5000 + i);
}

/* A thread of plain pthread_create that never allocates: registered only
 * by goheap_register_thread. */
static void *plain_thread(void *arg)
{
	struct threadctx *c = arg;
	void *volatile held[N];

	c->reg_rc = goheap_register_thread();
	for (size_t i = 0; i < N; i++) {
		held[i] = c->mailbox[i];
		c->mailbox[i] = NULL;
	}
	set_phase(c, 1);
	wait_phase(c, 2);
	c->intact = count_intact(held, c->w);
	/* Still holding the blocks, but no longer scanned: they are garbage
	 * now, and must not be touched again. */
	c->unreg_rc = goheap_unregister_thread();
	set_phase(c, 3);
	wait_phase(c, 4);
	for (size_t i = 0; i < N; i++)
		held[i] = NULL;
	errno = 0;
	c->unreg2_rc = goheap_unregister_thread();
	c->unreg2_errno = errno;
	return NULL;
}

static struct threadctx plainctx;

static void test_registered_thread(void)
{
	struct threadctx *c = &plainctx;
	pthread_t t;
	threadctx_init(c);
	/* No collection may run while the blocks are only in the mailbox. */
	int old = goheap_set_gc_percent(-1);
	gcu_call(mailbox_fill, c);
	if (!is_int(pthread_create(&t, NULL, plain_thread, c), 0,
		    "pthread_create")) {
		goheap_set_gc_percent(old);
		return;
	}
	wait_phase(c, 1);
	goheap_set_gc_percent(old);
	is_int(c->reg_rc, 0, "goheap_register_thread on a plain thread");
	gcu_collect(3);
	gcu_settle();
	is_int(gcu_tally(c->w, N).finalized, 0,
	       "registered thread's stack: no block finalized while held");
	set_phase(c, 2);
	wait_phase(c, 3);
	is_int(c->intact, N,
	       "registered thread's stack: every block intact after 3 "
	       "collections");
	is_int(c->unreg_rc, 0, "goheap_unregister_thread");
	expect_dead(c->w, N, "unregistered thread's stack, still holding");
	set_phase(c, 4);
	pthread_join(t, NULL);
	is_int(c->unreg2_rc, -1,
	       "goheap_unregister_thread when not registered fails");
	is_int(c->unreg2_errno, EINVAL, "... with EINVAL");
	threadctx_destroy(c);
}

/* ---- Static data of a library loaded with dlopen() ---- */

static void *gcroot_open(void)
{
	char path[PATH_MAX + 64];
	const char *top = getenv("top_builddir");
	if (top != NULL && *top != '\0') {
		snprintf(path, sizeof path, "%s/tests/.libs/libgcroot.so", top);
	} else {
		/* Run by hand: the library sits next to the program. */
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n < 0)
			n = 0;
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL)
			*slash = '\0';
		snprintf(path, sizeof path, "%s/.libs/libgcroot.so",
			 slash ? exe : ".");
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		diag("dlopen(%s): %s", path, dlerror());
	return h;
}

static struct rootset rs_lib_bss, rs_lib_data, rs_lib_unload;

static void test_dlopen(void)
{
	void *h = gcroot_open();
	if (!ok(h != NULL, "dlopen libgcroot.so"))
		return;
	void **bss = dlsym(h, "gcroot_slots");
	void **data = dlsym(h, "gcroot_data_slots");
	const size_t *nslots = dlsym(h, "gcroot_nslots");
	void (*set)(size_t, void *) =
		(void (*)(size_t, void *))dlsym(h, "gcroot_set");
	if (!ok(bss && data && nslots && set && *nslots > N,
		"libgcroot's symbols")) {
		dlclose(h);
		return;
	}

	rs_init(&rs_lib_bss, bss, 1, 0, 0x6000);
	alive_then_dead(&rs_lib_bss, "dlopen()ed library's .bss");
	rs_init(&rs_lib_data, data + 1, 1, 0, 0x7000);
	alive_then_dead(&rs_lib_data, "dlopen()ed library's .data");

	/* The library's data stops being a root when it is unloaded. */
	rs_init(&rs_lib_unload, bss, 1, 0, 0x8000);
	gcu_call(rs_fill, &rs_lib_unload);
	expect_alive(&rs_lib_unload, "dlopen()ed library, before dlclose");
	is_int(dlclose(h), 0, "dlclose");
	expect_dead(rs_lib_unload.w, N, "dlclose()d library's .bss");
}

/* ---- Ranges given to goheap_add_roots ---- */

static struct rootset rs_range, rs_range_twice, rs_range_unaligned;

static void test_add_roots(void)
{
	void **buf = calloc(N + 2, sizeof *buf);
	if (!ok(buf != NULL, "malloc a root buffer"))
		return;

	rs_init(&rs_range, buf, 1, 0, 0x9000);
	is_int(goheap_add_roots(buf, buf + N), 0,
	       "goheap_add_roots on a malloc()ed buffer");
	gcu_call(rs_fill, &rs_range);
	expect_alive(&rs_range, "goheap_add_roots range");
	is_int(goheap_remove_roots(buf, buf + N), 0, "goheap_remove_roots");
	expect_dead(rs_range.w, N, "removed root range, still holding");

	errno = 0;
	is_int(goheap_remove_roots(buf, buf + N), -1,
	       "removing the range again fails");
	is_int(errno, ENOENT, "... with ENOENT");
	errno = 0;
	is_int(goheap_remove_roots(buf + 1, buf + N), -1,
	       "removing an unknown range fails");
	is_int(errno, ENOENT, "... with ENOENT");
	errno = 0;
	is_int(goheap_add_roots(NULL, buf), -1,
	       "goheap_add_roots(NULL, ...) fails");
	is_int(errno, EINVAL, "... with EINVAL");
	errno = 0;
	is_int(goheap_add_roots(buf + N, buf), -1,
	       "goheap_add_roots with end < start fails");
	is_int(errno, EINVAL, "... with EINVAL");

	/* Registrations of one range nest: it stays a root until the last
	 * is removed. */
	memset(buf, 0, (N + 2) * sizeof *buf);
	rs_init(&rs_range_twice, buf, 1, 0, 0xa000);
	is_int(goheap_add_roots(buf, buf + N), 0,
	       "goheap_add_roots, first time");
	is_int(goheap_add_roots(buf, buf + N), 0,
	       "goheap_add_roots, same range again");
	gcu_call(rs_fill, &rs_range_twice);
	is_int(goheap_remove_roots(buf, buf + N), 0,
	       "goheap_remove_roots, once");
	expect_alive(&rs_range_twice, "range registered twice, removed once");
	is_int(goheap_remove_roots(buf, buf + N), 0,
	       "goheap_remove_roots, twice");
	expect_dead(rs_range_twice.w, N,
		    "range registered twice, removed twice");

	/* An unaligned start is rounded up to a word; removing takes the
	 * same bounds. */
	memset(buf, 0, (N + 2) * sizeof *buf);
	rs_init(&rs_range_unaligned, buf + 1, 1, 0, 0xb000);
	char *lo = (char *)buf + 3;
	is_int(goheap_add_roots(lo, buf + N + 1), 0,
	       "goheap_add_roots with an unaligned start");
	gcu_call(rs_fill, &rs_range_unaligned);
	expect_alive(&rs_range_unaligned, "unaligned root range");
	is_int(goheap_remove_roots(lo, buf + N + 1), 0,
	       "goheap_remove_roots, same bounds");
	expect_dead(rs_range_unaligned.w, N, "unaligned root range, removed");

	free(buf);
}

/* ---- Pointers inside goheap blocks ---- */

/* The container: the only root of the blocks of a test. */
static void *volatile heap_root;

struct container_args {
	struct rootset *rs;
	size_t size; /* bytes of the container */
	int how; /* 0 malloc, 1 calloc, 2 malloc then realloc to size */
	uint64_t tag;
};

static void container_fill(void *arg)
{
	struct container_args *a = arg;
	void *box;
	if (a->how == 0)
		box = goheap_malloc(a->size);
	else if (a->how == 1)
		box = goheap_calloc(a->size / 8, 8);
	else
		box = goheap_malloc(N * 8);
	heap_root = box;
	if (box == NULL)
		return;
	rs_init(a->rs, box, a->how == 2 ? 1 : a->size / 8 / N, 0, a->tag);
	rs_fill(a->rs);
	if (a->how == 2) {
		/* Grow it into a large block: the pointers move with it. */
		void *big = goheap_realloc(box, a->size);
		if (big != NULL) {
			heap_root = big;
			a->rs->slots_h = GCU_HIDE(big);
		}
	}
}

static void root_clear(void *arg)
{
	(void)arg;
	heap_root = NULL;
}

static struct rootset rs_box[4];

static void test_heap_object(void)
{
	static const struct {
		size_t size;
		int how;
		const char *what;
	} boxes[4] = {
		{ N * 8, 0, "small goheap_malloc block" },
		{ N * 8 * 2, 1, "goheap_calloc block" },
		{ 100000, 0, "large goheap_malloc block" },
		{ 70000, 2, "block grown by goheap_realloc" },
	};
	for (size_t b = 0; b < 4; b++) {
		char name[160];
		struct container_args a = { &rs_box[b], boxes[b].size,
					    boxes[b].how, 0xc000 + b * 0x100 };
		snprintf(name, sizeof name,
			 "held by a %s reachable from a global", boxes[b].what);
		gcu_call(container_fill, &a);
		if (!ok(heap_root != NULL, "%s: allocated", name))
			continue;
		expect_alive(&rs_box[b], name);
		gcu_call(root_clear, NULL);
		snprintf(name, sizeof name, "held by an unreachable %s",
			 boxes[b].what);
		expect_dead(rs_box[b].w, N, name);
	}
}

/* A long list: marking must follow a long chain of blocks. */
struct link {
	struct link *next;
	uint64_t tag;
	size_t size;
};

static void *volatile chain_root;
static size_t chain_len, chain_bytes;

static void chain_build(void *arg)
{
	(void)arg;
	chain_bytes = 0;
	for (size_t i = 0; i < chain_len; i++) {
		size_t size = sizeof(struct link) + (i * 37) % 480;
		struct link *l = goheap_malloc(size);
		if (l == NULL)
			return;
		l->next = chain_root;
		l->tag = 0xd0000 + i;
		l->size = size;
		tap_fill_range(l, sizeof *l, size, l->tag);
		chain_root = l;
		chain_bytes += goheap_usable_size(l);
	}
}

static GCU_NOINLINE size_t chain_check(void)
{
	size_t n = 0;
	for (struct link *l = chain_root; l != NULL; l = l->next) {
		if (goheap_base(l) != l ||
		    tap_check_range(l, sizeof *l, l->size, l->tag) != SIZE_MAX)
			break;
		n++;
	}
	return n;
}

static void chain_drop(void *arg)
{
	(void)arg;
	/* Cut the links first: a stale copy of one link's address (a
	 * register of chain_check's loop, seen on arm64) then keeps that
	 * block, not the rest of the list. */
	struct link *l = chain_root;
	chain_root = NULL;
	while (l) {
		struct link *next = l->next;
		l->next = NULL;
		l = next;
	}
}

static void test_chain(void)
{
	chain_len = tap_scale(20000, 10);
	gcu_call(chain_build, NULL);
	gcu_collect(3);
	is_uint(chain_check(), chain_len,
		"a list of %zu blocks survives, intact", chain_len);
	uint64_t before = gcu_heap_alloc();
	gcu_call(chain_drop, NULL);
	gcu_collect(2);
	uint64_t after = gcu_heap_alloc();
	cmp_uint(before > after ? before - after : 0, >=,
		 chain_bytes - chain_bytes / 20,
		 "the dropped list is freed (heap_alloc %llu -> %llu)",
		 (unsigned long long)before, (unsigned long long)after);
}

/* ---- Pointer-free blocks are not scanned ---- */

static struct rootset rs_atomic[2];

static void atomic_fill(void *arg)
{
	struct container_args *a = arg;
	void *box = goheap_malloc_atomic(a->size);
	heap_root = box;
	if (box == NULL)
		return;
	rs_init(a->rs, box, a->size / 8 / N, 0, a->tag);
	rs_fill(a->rs);
}

static void test_atomic(void)
{
	static const size_t sizes[2] = { N * 8, 100000 };
	for (size_t b = 0; b < 2; b++) {
		struct container_args a = { &rs_atomic[b], sizes[b], 0,
					    0xe000 + b * 0x100 };
		char name[128];
		snprintf(name, sizeof name,
			 "held only by a %zu-byte goheap_malloc_atomic block",
			 sizes[b]);
		gcu_call(atomic_fill, &a);
		if (!ok(heap_root != NULL, "%s: allocated", name))
			continue;
		expect_dead(rs_atomic[b].w, N, name);
		/* The atomic block itself is reachable and untouched. */
		size_t same = 0;
		for (size_t i = 0; i < N; i++)
			same += (uintptr_t)*rs_slot(&rs_atomic[b], i) ==
				~rs_atomic[b].w[i].hidden;
		unsigned char *box = heap_root;
		ok(goheap_base(box) == box && same == N,
		   "%s: the atomic block is intact", name);
		gcu_call(root_clear, NULL);
	}
}

/* ---- The argument of goheap_pthread_create ---- */

enum { NARG = 32 };
static struct gcu_watch argw[NARG];
static int arg_intact[NARG];
static int arg_gate, collector_stop;
static pthread_mutex_t arg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t arg_cond = PTHREAD_COND_INITIALIZER;

static void *arg_thread(void *arg)
{
	unsigned char *obj = arg;
	size_t i;
	memcpy(&i, obj, sizeof i);
	pthread_mutex_lock(&arg_lock);
	while (!arg_gate)
		pthread_cond_wait(&arg_cond, &arg_lock);
	pthread_mutex_unlock(&arg_lock);
	arg_intact[i % NARG] = i < NARG && gcu_watch_intact(&argw[i], obj);
	return NULL;
}

static void *collector(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&collector_stop, __ATOMIC_SEQ_CST))
		goheap_gc();
	return NULL;
}

static pthread_t arg_threads[NARG];
static int arg_created;

/* Each thread's argument is a new block that nothing else holds. */
static void arg_start(void *unused)
{
	(void)unused;
	for (size_t i = 0; i < NARG; i++) {
		unsigned char *obj = goheap_malloc(256);
		if (obj == NULL)
			continue;
		memcpy(obj, &i, sizeof i);
		gcu_watch_block(&argw[i], obj, sizeof i, 256, 0xf000 + i);
		if (goheap_pthread_create(&arg_threads[i], NULL, arg_thread,
					  obj) == 0)
			arg_created++;
	}
}

static void test_thread_arg(void)
{
	pthread_t c;
	int have_collector =
		goheap_pthread_create(&c, NULL, collector, NULL) == 0;
	gcu_call(arg_start, NULL);
	is_int(arg_created, NARG,
	       "goheap_pthread_create x %d, collecting meanwhile", NARG);
	__atomic_store_n(&collector_stop, 1, __ATOMIC_SEQ_CST);
	if (have_collector)
		pthread_join(c, NULL);
	gcu_collect(2);
	pthread_mutex_lock(&arg_lock);
	arg_gate = 1;
	pthread_cond_broadcast(&arg_cond);
	pthread_mutex_unlock(&arg_lock);
	for (int i = 0; i < arg_created; i++)
		pthread_join(arg_threads[i], NULL);
	int intact = 0;
	for (size_t i = 0; i < NARG; i++)
		intact += arg_intact[i];
	is_int(intact, arg_created, "every thread found its argument intact");
	expect_dead(argw, NARG, "thread arguments, after the threads exited");
}

/* ---- A callee-saved register of the collecting thread ----
 *
 * The pointer is put into the callee-saved register the compiler reaches
 * for last (x86-64 r15, arm64 x28) by the instruction that unmasks it, and
 * held nowhere else while goheap_gc runs.  (With the register cleared
 * instead, all 8 blocks die: no stale copy keeps them.)  Every function on
 * the way to marking either leaves the register as it is or saves it in
 * its frame, which is scanned; glibc's dl_iterate_phdr, on that way, saves
 * it, so the test passes even with the collector's own spill of it left
 * out (os.h: gh_with_registers_spilled): it checks that the register's
 * content is found, not which of the two finds it. */
#if defined(__x86_64__) || defined(__aarch64__)
static struct gcu_watch regw[8];

static GCU_NOINLINE uintptr_t reg_new(size_t i)
{
	void *p = gcu_watch_new(&regw[i], 48, 0, 0xe000 + i);
	return GCU_HIDE(p);
}

/* Collect with block i held in the register only; the block as the
 * register still holds it afterwards. */
static GCU_NOINLINE void *reg_collect(size_t i)
{
	uintptr_t h = reg_new(i);
	void *p;
	gcu_clear_stack();
#if defined(__x86_64__)
	__asm__ volatile("movq %0, %%r15\n\tnotq %%r15" : : "r"(h) : "r15");
	goheap_gc();
	__asm__ volatile("movq %%r15, %0" : "=r"(p));
#else
	__asm__ volatile("mvn x28, %0" : : "r"(h) : "x28");
	goheap_gc();
	__asm__ volatile("mov %0, x28" : "=r"(p));
#endif
	return p;
}

static void test_callee_saved_register(void)
{
	int intact = 0;
	for (size_t i = 0; i < 8; i++) {
		void *p = reg_collect(i);
		intact += gcu_watch_intact(&regw[i], p);
	}
	is_int(intact, 8, "a block held only in a callee-saved register lives");
}
#else
static void test_callee_saved_register(void)
{
	skip("no register test for this CPU", "a block held only in a callee-saved register");
}
#endif

static const struct tap_test tests[] = {
	TAP_TEST(test_thread_stack), TAP_TEST(test_registered_thread),
	TAP_TEST(test_data),         TAP_TEST(test_bss),
	TAP_TEST(test_dlopen),       TAP_TEST(test_add_roots),
	TAP_TEST(test_interior),     TAP_TEST(test_heap_object),
	TAP_TEST(test_chain),        TAP_TEST(test_atomic),
	TAP_TEST(test_thread_arg),   TAP_TEST(test_callee_saved_register),
};

int main(int argc, char **argv)
{
	int status = TAP_MAIN(argc, argv, tests);
	gcu_finish();
	return status;
}
