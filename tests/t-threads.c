/*
 * t-threads: the allocator under several threads at once.
 *
 * Eight threads allocate and free blocks of random sizes (small and
 * large, every kind), each checking that its blocks keep their patterns,
 * and pass a share of their blocks through a shared queue to be checked
 * and freed by whichever thread takes them: blocks freed on a thread
 * other than the one that allocated them must go back to the heap intact.
 * Threads also come and go while their blocks outlive them.
 */
#include <goheap.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

enum { NTHREADS = 8, QUEUE_CAP = 2048, LOCAL = 64 };

struct block {
	unsigned char *p;
	size_t n;
	uint64_t tag;
};

/* The queue through which blocks move between threads. */
static struct {
	pthread_mutex_t lock;
	struct block b[QUEUE_CAP];
	size_t head, len;
} queue = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int queue_push(struct block b)
{
	int pushed = 0;
	pthread_mutex_lock(&queue.lock);
	if (queue.len < QUEUE_CAP) {
		queue.b[(queue.head + queue.len) % QUEUE_CAP] = b;
		queue.len++;
		pushed = 1;
	}
	pthread_mutex_unlock(&queue.lock);
	return pushed;
}

static int queue_pop(struct block *b)
{
	int popped = 0;
	pthread_mutex_lock(&queue.lock);
	if (queue.len > 0) {
		*b = queue.b[queue.head];
		queue.head = (queue.head + 1) % QUEUE_CAP;
		queue.len--;
		popped = 1;
	}
	pthread_mutex_unlock(&queue.lock);
	return popped;
}

/* What one thread saw; the main thread turns the sums into results. */
struct report {
	int id;
	size_t ops, nalloc, crossed;
	int nulls, dirty, smashed, bad_usable;
};

/* Sizes 1..40000, most of them small, so that the run stays short while
 * every class and some large blocks are used. */
static size_t random_size(struct tap_rng *r)
{
	switch (tap_rng_range(r, 0, 7)) {
	case 0:
		return tap_rng_range(r, 1, 40000);
	case 1:
	case 2:
		return tap_rng_range(r, 1, 4096);
	default:
		return tap_rng_range(r, 1, 512);
	}
}

static struct block new_block(struct tap_rng *r, struct report *rep,
			      uint64_t tag)
{
	struct block b = { NULL, random_size(r), tag };
	int kind = (int)tap_rng_range(r, 0, 2);
	b.p = kind == 0	  ? goheap_malloc(b.n)
	      : kind == 1 ? goheap_calloc(1, b.n)
			  : goheap_malloc_atomic(b.n);
	if (b.p == NULL) {
		rep->nulls++;
		return b;
	}
	rep->nalloc++;
	if (kind != 2 && tap_nonzero(b.p, b.n) != SIZE_MAX && rep->dirty++ < 3)
		diag("thread %d: new %zu-byte block %p not zeroed", rep->id,
		     b.n, (void *)b.p);
	if ((kind != 2 || b.n >= 16) && goheap_usable_size(b.p) < b.n &&
	    rep->bad_usable++ < 3)
		diag("thread %d: %zu-byte block %p has usable size %zu",
		     rep->id, b.n, (void *)b.p, goheap_usable_size(b.p));
	tap_fill(b.p, b.n, b.tag);
	return b;
}

static void check_and_free(struct block *b, struct report *rep)
{
	if (b->p == NULL)
		return;
	size_t at = tap_check(b->p, b->n, b->tag);
	if (at != SIZE_MAX && rep->smashed++ < 3)
		diag("thread %d: block %p (%zu bytes, tag %#llx) byte %zu "
		     "smashed",
		     rep->id, (void *)b->p, b->n, (unsigned long long)b->tag,
		     at);
	goheap_free(b->p);
	b->p = NULL;
}

static size_t iterations;

static void *worker(void *arg)
{
	struct report *rep = arg;
	struct tap_rng r = tap_rng_init(100 + (uint64_t)rep->id);
	struct block local[LOCAL];
	uint64_t serial = 0;

	memset(local, 0, sizeof local);
	for (size_t i = 0; i < iterations; i++) {
		uint64_t tag = ((uint64_t)rep->id << 48) | ++serial;
		struct block b;
		rep->ops++;
		switch (tap_rng_range(&r, 0, 3)) {
		case 0: /* hand a block to whoever takes it */
			b = new_block(&r, rep, tag);
			if (b.p != NULL && !queue_push(b))
				check_and_free(&b, rep);
			break;
		case 1: /* take one, likely from another thread */
			if (queue_pop(&b)) {
				if (b.tag >> 48 != (uint64_t)rep->id)
					rep->crossed++;
				check_and_free(&b, rep);
			}
			break;
		default: { /* churn on private blocks */
			size_t at = tap_rng_range(&r, 0, LOCAL - 1);
			struct block *l = &local[at];
			if (l->p != NULL)
				check_and_free(l, rep);
			else
				*l = new_block(&r, rep, tag);
			break;
		}
		}
	}
	for (int i = 0; i < LOCAL; i++)
		check_and_free(&local[i], rep);
	return NULL;
}

static void test_cross_thread(void)
{
	pthread_t tid[NTHREADS];
	struct report rep[NTHREADS];
	struct report sum = { .id = 0 };
	struct block b;
	int started = 0;

	iterations = tap_scale(500000, 20);
	memset(rep, 0, sizeof rep);
	for (int i = 0; i < NTHREADS; i++) {
		rep[i].id = i + 1;
		if (pthread_create(&tid[i], NULL, worker, &rep[i]) == 0)
			started++;
		else
			bail_out("pthread_create failed");
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	struct report drain = { .id = 0 };
	while (queue_pop(&b))
		check_and_free(&b, &drain);
	for (int i = 0; i < NTHREADS; i++) {
		sum.ops += rep[i].ops;
		sum.nalloc += rep[i].nalloc;
		sum.crossed += rep[i].crossed;
		sum.nulls += rep[i].nulls;
		sum.dirty += rep[i].dirty;
		sum.smashed += rep[i].smashed;
		sum.bad_usable += rep[i].bad_usable;
	}
	sum.smashed += drain.smashed;
	diag("%d threads, %zu operations, %zu allocations, %zu blocks freed "
	     "by another thread",
	     NTHREADS, sum.ops, sum.nalloc, sum.crossed);
	is_int(started, NTHREADS, "all threads ran");
	is_int(sum.nulls, 0, "no allocation failed");
	is_int(sum.dirty, 0, "pointer blocks were zeroed");
	is_int(sum.bad_usable, 0, "usable sizes held the requests");
	is_int(sum.smashed, 0, "every block kept its pattern until freed");
	cmp_uint(sum.crossed, >, 0, "some blocks were freed by another thread");
}

/*
 * Short-lived threads: each allocates blocks of every size range, frees
 * some and leaves the rest to outlive it; the main thread checks and frees
 * those after the thread is gone.  Thread caches are set up and torn down
 * many times, with their spans still holding live blocks.
 */
enum { LEFT = 200 };

struct orphanage {
	int id;
	struct block left[LEFT];
	struct report rep;
};

static void *short_lived(void *arg)
{
	struct orphanage *o = arg;
	struct tap_rng r = tap_rng_init(1000 + (uint64_t)o->id);
	struct block tmp[LEFT];

	o->rep.id = o->id;
	for (int i = 0; i < LEFT; i++) {
		uint64_t id = (uint64_t)o->id;
		o->left[i] = new_block(&r, &o->rep, id << 32 | (uint64_t)i);
		tmp[i] = new_block(&r, &o->rep, id << 40 | (uint64_t)i);
	}
	for (int i = 0; i < LEFT; i++)
		check_and_free(&tmp[i], &o->rep);
	return NULL;
}

static void test_short_lived_threads(void)
{
	const int rounds = (int)tap_scale(16, 4);
	/* In static data, where the collector sees the pointers. */
	static struct orphanage o[4];
	int nulls = 0, smashed = 0, dirty = 0, failed = 0;

	for (int round = 0; round < rounds; round++) {
		pthread_t tid[4];
		for (int i = 0; i < 4; i++) {
			memset(&o[i], 0, sizeof o[i]);
			o[i].id = round * 4 + i + 1;
			if (pthread_create(&tid[i], NULL, short_lived, &o[i]))
				bail_out("pthread_create failed");
		}
		for (int i = 0; i < 4; i++)
			if (pthread_join(tid[i], NULL) != 0)
				failed++;
		for (int i = 0; i < 4; i++) {
			for (int j = 0; j < LEFT; j++)
				check_and_free(&o[i].left[j], &o[i].rep);
			nulls += o[i].rep.nulls;
			smashed += o[i].rep.smashed;
			dirty += o[i].rep.dirty;
		}
	}
	is_int(failed, 0, "all short-lived threads were joined");
	is_int(nulls, 0, "no allocation failed");
	is_int(dirty, 0, "pointer blocks were zeroed");
	is_int(smashed, 0,
	       "blocks that outlived their thread kept their patterns");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_cross_thread),
	TAP_TEST(test_short_lived_threads),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
