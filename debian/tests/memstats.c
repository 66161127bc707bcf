/*
 * memstats.c - the autopkgtest program: allocate, check, collect, free and
 * read the heap's statistics through the installed <goheap.h> and libgoheap.
 * Prints TAP; exits non-zero if any check fails.
 *
 * Usage: memstats [--hold FILE]
 * With --hold, after its checks it prints "# holding PID" and waits (30 s
 * at most) until FILE exists, so that goheap-stat can look at the running
 * process.
 */
#include <errno.h>
#include <goheap.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NSMALL 1000
#define SMALL 100
#define LARGE (1 << 20)
#define NTHREAD_ALLOCS 500

static int n, failed;

static void ok(int cond, const char *what)
{
	n++;
	if (!cond)
		failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

static void *worker(void *arg)
{
	void *p[NTHREAD_ALLOCS];
	int good = 1;
	for (int i = 0; i < NTHREAD_ALLOCS; i++) {
		p[i] = goheap_malloc(48);
		good &= p[i] != NULL;
	}
	for (int i = 0; i < NTHREAD_ALLOCS; i++)
		goheap_free(p[i]);
	*(int *)arg = good;
	return NULL;
}

/* Wait until path exists, for 30 s at most. */
static void hold(const char *path)
{
	struct stat st;
	struct timespec tick = {0, 10 * 1000 * 1000};
	printf("# holding %ld\n", (long)getpid());
	fflush(stdout);
	for (int i = 0; i < 3000 && stat(path, &st) != 0; i++)
		nanosleep(&tick, NULL);
}

int main(int argc, char **argv)
{
	const char *hold_file = argc == 3 && strcmp(argv[1], "--hold") == 0 ? argv[2] : NULL;
	setvbuf(stdout, NULL, _IOLBF, 0); /* every line out before any abort */
	static goheap_memstats before, mid, after, released;
	static void *blocks[NSMALL];

	goheap_read_memstats(&before);
	ok(before.size == sizeof before, "memstats: size is sizeof(goheap_memstats)");
	ok(before.version == GOHEAP_MEMSTATS_VERSION, "memstats: version is GOHEAP_MEMSTATS_VERSION");

	/* Small pointer-holding blocks: zeroed, usable, found from inside. */
	int allnonnull = 1, allzero = 1, allusable = 1, allbase = 1;
	uint64_t usable = 0;
	for (int i = 0; i < NSMALL; i++) {
		unsigned char *p = blocks[i] = goheap_malloc(SMALL);
		if (!p) {
			allnonnull = 0;
			continue;
		}
		for (int j = 0; j < SMALL; j++)
			allzero &= p[j] == 0;
		size_t u = goheap_usable_size(p);
		allusable &= u >= SMALL;
		usable += u;
		allbase &= goheap_base(p + SMALL / 2) == p;
		memset(p, 0xa5, SMALL);
	}
	ok(allnonnull, "goheap_malloc(100) x 1000 gives blocks");
	ok(allzero, "goheap_malloc blocks are zeroed");
	ok(allusable, "goheap_usable_size >= the size asked for");
	ok(allbase, "goheap_base finds each block from an interior pointer");

	/* One large pointer-free block. */
	unsigned char *big = goheap_malloc_atomic(LARGE);
	ok(big != NULL && goheap_usable_size(big) >= LARGE, "goheap_malloc_atomic(1 MiB)");
	if (big) {
		memset(big, 0x5a, LARGE);
		usable += goheap_usable_size(big);
	}

	goheap_read_memstats(&mid);
	ok(mid.nmalloc - before.nmalloc == NSMALL + 1, "memstats: nmalloc counts every allocation");
	ok(mid.heap_objects - before.heap_objects == NSMALL + 1, "memstats: heap_objects counts the live blocks");
	ok(mid.heap_alloc - before.heap_alloc == usable, "memstats: heap_alloc grew by the blocks' usable sizes");
	ok(mid.alloc == mid.heap_alloc, "memstats: alloc == heap_alloc");
	ok(mid.total_alloc - before.total_alloc == usable, "memstats: total_alloc grew by the same");
	ok(mid.heap_inuse >= mid.heap_alloc, "memstats: heap_inuse >= heap_alloc");
	ok(mid.heap_idle == mid.heap_sys - mid.heap_inuse, "memstats: heap_idle == heap_sys - heap_inuse");
	ok(mid.sys >= mid.heap_sys + mid.mspan_sys + mid.mcache_sys, "memstats: sys covers the heap and its metadata");
	int cls = -1;
	if (blocks[0])
		for (int c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++)
			if (mid.by_size[c].size == goheap_usable_size(blocks[0]))
				cls = c;
	ok(cls > 0 && mid.by_size[cls].nmalloc - before.by_size[cls].nmalloc == NSMALL,
	   "memstats: by_size counts the 100-byte blocks in their class");
	ok(mid.by_size[0].nmalloc - before.by_size[0].nmalloc == 1, "memstats: by_size[0] counts the large block");

	/* A collection keeps every block, all being reachable (blocks[] from
	 * static data, big from this registered thread's stack). */
	static goheap_memstats gc;
	goheap_gc();
	goheap_read_memstats(&gc);
	ok(gc.numgc > mid.numgc, "goheap_gc: memstats numgc grows");
	ok(gc.heap_objects == mid.heap_objects && gc.heap_alloc == mid.heap_alloc,
	   "goheap_gc: every reachable block survives");
	int live = 1;
	for (int i = 0; i < NSMALL; i++)
		live &= blocks[i] != NULL && goheap_usable_size(blocks[i]) >= SMALL &&
			((unsigned char *)blocks[i])[SMALL - 1] == 0xa5;
	ok(live && big != NULL && goheap_usable_size(big) >= LARGE && big[LARGE - 1] == 0x5a,
	   "goheap_gc: the blocks are still live and intact");

	/* realloc keeps the contents; calloc overflow fails cleanly. */
	unsigned char *r = goheap_realloc(blocks[0], 4 * SMALL);
	int kept = r != NULL;
	for (int j = 0; kept && j < SMALL; j++)
		kept &= r[j] == 0xa5;
	ok(kept, "goheap_realloc keeps the contents");
	if (r)
		blocks[0] = r;
	volatile size_t huge = SIZE_MAX / 2; /* volatile: no compile-time warning */
	errno = 0;
	void *ovf = goheap_calloc(huge, 4);
	ok(ovf == NULL && errno == ENOMEM, "goheap_calloc overflow gives NULL with ENOMEM");

	/* Another thread allocates and frees, then exits. */
	pthread_t t;
	int tgood = 0;
	ok(pthread_create(&t, NULL, worker, &tgood) == 0 && pthread_join(t, NULL) == 0 && tgood,
	   "a second thread allocates and frees");

	for (int i = 0; i < NSMALL; i++)
		goheap_free(blocks[i]);
	goheap_free(big);
	goheap_free(NULL);

	goheap_read_memstats(&after);
	ok(after.heap_objects == before.heap_objects, "memstats: heap_objects is back where it started");
	ok(after.heap_alloc == before.heap_alloc, "memstats: heap_alloc is back where it started");
	ok(after.nfree - mid.nfree == after.nmalloc - mid.nmalloc + NSMALL + 1,
	   "memstats: nfree counts every free, the thread's included");
	ok(after.total_alloc >= mid.total_alloc, "memstats: total_alloc never shrinks");

	goheap_free_os_memory();
	goheap_read_memstats(&released);
	ok(released.heap_released > 0 && released.heap_released <= released.heap_idle,
	   "goheap_free_os_memory: heap_released > 0 and <= heap_idle");

	printf("# heap_sys %llu, heap_inuse %llu, heap_idle %llu, heap_released %llu, nmalloc %llu, nfree %llu\n",
	       (unsigned long long)released.heap_sys, (unsigned long long)released.heap_inuse,
	       (unsigned long long)released.heap_idle, (unsigned long long)released.heap_released,
	       (unsigned long long)released.nmalloc, (unsigned long long)released.nfree);
	if (hold_file)
		hold(hold_file);
	printf("1..%d\n", n);
	return failed != 0;
}
