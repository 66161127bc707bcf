/*
 * t-release: giving free memory back to the operating system.
 *
 * goheap_free_os_memory() must really shrink the process: after large
 * and small blocks worth 256 MiB were written and freed, the resident set
 * size (from /proc/self/statm) drops by most of it and heap_released
 * grows; the memory comes back zeroed when it is allocated again.  The
 * delayed release (the scavenger) returns spans idle for longer than
 * GOHEAP_SCAVENGE_DELAY milliseconds during later heap activity; that
 * is tested in a copy of this program started with the variable set,
 * since the library reads it once.  goheap_free_os_memory() also returns
 * the pages of span descriptors left free, which come back into use.
 */
#include <goheap.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

enum { MiB = 1 << 20 };

/* Resident set size in bytes. */
static uint64_t rss(void)
{
	unsigned long long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL || fscanf(f, "%llu %llu", &size, &resident) != 2)
		bail_out("cannot read /proc/self/statm");
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* One figure of goheap_read_memstats, e.g. memstat(offsetof(goheap_memstats,
 * heap_released)); the structure is too big for a test's stack. */
static uint64_t memstat(size_t field)
{
	goheap_memstats *s = malloc(sizeof *s);
	if (s == NULL)
		bail_out("out of memory");
	goheap_read_memstats(s);
	uint64_t r;
	memcpy(&r, (const char *)s + field, sizeof r);
	free(s);
	return r;
}

static uint64_t heap_released(void)
{
	return memstat(offsetof(goheap_memstats, heap_released));
}

/* Write one byte in every page, so that every page is resident. */
static void touch(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (unsigned char)(i / 4096 + 1);
	if (n > 0)
		p[n - 1] = 1;
}

/* How much to allocate, and how much of it must come back: most of it
 * (200 of 256 MiB). */
static size_t total_bytes(void)
{
	return tap_under_valgrind() ? 64 * (size_t)MiB : 256 * (size_t)MiB;
}

static uint64_t must_return(size_t total)
{
	return (uint64_t)total / 256 * 200;
}

/* Allocate total bytes in blocks of the sizes given (cycling through
 * them), touch all of it, free it all, return it, and measure. */
static void fill_free_release(const size_t *sizes, size_t nsizes,
			      const char *what)
{
	const size_t total = total_bytes();
	size_t smallest = sizes[0], n = 0, bytes = 0;
	for (size_t i = 1; i < nsizes; i++)
		if (sizes[i] < smallest)
			smallest = sizes[i];
	/* In static data, where the collector sees the pointers. */
	static unsigned char *blk[256 * MiB / 1024 + 16];
	size_t cap = total / smallest + 16;
	if (cap > sizeof blk / sizeof blk[0])
		bail_out("%zu blocks do not fit the table", cap);
	uint64_t rss0 = rss();
	while (bytes < total && n < cap) {
		size_t size = sizes[n % nsizes];
		blk[n] = goheap_malloc(size);
		if (blk[n] == NULL)
			break;
		touch(blk[n], size);
		bytes += size;
		n++;
	}
	ok(bytes >= total, "%s: allocated %zu MiB in %zu blocks", what,
	   bytes / MiB, n);
	uint64_t rss1 = rss();
	cmp_uint(rss1 - rss0, >=, must_return(total),
		 "%s: the written blocks are resident", what);

	for (size_t i = 0; i < n; i++)
		goheap_free(blk[i]);
	uint64_t rss2 = rss(), released2 = heap_released();
	goheap_free_os_memory();
	uint64_t rss3 = rss(), released3 = heap_released();
	diag("%s: RSS %" PRIu64 " MiB -> %" PRIu64 " MiB written -> %" PRIu64
	     " MiB freed -> %" PRIu64 " MiB returned",
	     what, rss0 / MiB, rss1 / MiB, rss2 / MiB, rss3 / MiB);
	cmp_uint(rss2 > rss3 ? rss2 - rss3 : 0, >=, must_return(total),
		 "%s: goheap_free_os_memory shrinks the RSS", what);
	cmp_uint(released3 - released2, >=, must_return(total),
		 "%s: heap_released grows as much", what);

	/* The returned memory comes back, zeroed, when asked for. */
	int dirty = 0, nulls = 0;
	for (size_t i = 0; i < n; i++) {
		size_t size = sizes[i % nsizes];
		blk[i] = goheap_malloc(size);
		if (blk[i] == NULL) {
			nulls++;
			continue;
		}
		if (tap_nonzero(blk[i], size) != SIZE_MAX)
			dirty++;
	}
	is_int(nulls, 0, "%s: the memory can be allocated again", what);
	is_int(dirty, 0, "%s: and comes back zeroed", what);
	for (size_t i = 0; i < n; i++) {
		goheap_free(blk[i]);
		blk[i] = NULL;
	}
	goheap_free_os_memory();
}

static void test_release_large(void)
{
	static const size_t sizes[] = { 16 * MiB, 4 * MiB, 1 * MiB, 40000 };
	fill_free_release(sizes, sizeof sizes / sizeof sizes[0],
			  "large blocks");
}

static void test_release_small(void)
{
	/* Classes with one-page and multi-page spans. */
	static const size_t sizes[] = { 1024, 4096, 32768, 6400, 3000, 20480 };
	fill_free_release(sizes, sizeof sizes / sizeof sizes[0],
			  "small blocks");
}

/*
 * The delayed release, in a copy of this program started with
 * GOHEAP_SCAVENGE_DELAY=50: it frees 64 MiB of large blocks, waits 200 ms,
 * allocates and frees one large block, and writes what it measured to
 * the file descriptor it was given.
 */
enum { SCAVENGE_MIB = 64 };

static int scavenge_child(int fd)
{
	enum { N = SCAVENGE_MIB / 16 };
	unsigned char *blk[N];
	for (int i = 0; i < N; i++) {
		blk[i] = goheap_malloc(16 * MiB);
		if (blk[i] == NULL)
			return 2;
		touch(blk[i], 16 * MiB);
	}
	uint64_t rss1 = rss(), rel1 = heap_released();
	for (int i = 0; i < N; i++)
		goheap_free(blk[i]);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	void *p = goheap_malloc(MiB);
	goheap_free(p);
	uint64_t rss2 = rss(), rel2 = heap_released();
	char buf[256];
	int len = snprintf(buf, sizeof buf,
			   "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			   rss1, rss2, rel1, rel2);
	return write(fd, buf, (size_t)len) == len ? 0 : 3;
}

/* Span descriptors: 40000 spans of one 8 KiB block each, freed, leave
 * their descriptors free; goheap_free_os_memory returns the pages they
 * fill, and the descriptors come back into use for the next 40000. */
static uint64_t mspan_sys(void)
{
	return memstat(offsetof(goheap_memstats, mspan_sys));
}

static void test_release_descriptors(void)
{
	enum { N = 40000 };
	/* In the heap: the collector must see the blocks it points to. */
	unsigned char **blk = goheap_malloc(N * sizeof *blk);
	if (blk == NULL)
		bail_out("out of memory");
	goheap_free_os_memory();
	uint64_t sys0 = mspan_sys();
	for (int round = 0; round < 2; round++) {
		int n = 0;
		for (; n < N; n++) {
			blk[n] = goheap_malloc_atomic(8192);
			if (blk[n] == NULL)
				break;
			blk[n][0] = (unsigned char)n;
			blk[n][8191] = (unsigned char)(n >> 8);
		}
		is_int(n, N, "round %d: %d blocks of 8 KiB allocated", round, N);
		int bad = 0;
		for (int i = 0; i < n; i++)
			bad += blk[i][0] != (unsigned char)i ||
			       blk[i][8191] != (unsigned char)(i >> 8);
		is_int(bad, 0, "round %d: every block holds what was written", round);
		uint64_t desc = mspan_sys() - sys0;
		for (int i = 0; i < n; i++)
			goheap_free(blk[i]);
		uint64_t rss1 = rss(), rel1 = heap_released();
		goheap_free_os_memory();
		uint64_t rss2 = rss(), rel2 = heap_released();
		diag("round %d: descriptors took %llu KiB more; RSS %llu -> %llu KiB, "
		     "heap released %llu KiB more",
		     round, (unsigned long long)desc >> 10, (unsigned long long)rss1 >> 10,
		     (unsigned long long)rss2 >> 10,
		     (unsigned long long)(rel2 - rel1) >> 10);
		if (round == 0)
			cmp_uint(desc, >=, (uint64_t)N * 64,
				 "the spans needed descriptors");
		else
			cmp_uint(mspan_sys() - sys0, <=, desc + desc / 4 + 65536,
				 "round 1 reused the released descriptors");
		cmp_uint(rss1 > rss2 ? rss1 - rss2 : 0, >=, (rel2 - rel1) + desc / 2,
			 "round %d: the heap and most descriptor pages went back", round);
	}
	goheap_free(blk);
}

static char self_path[4096];

static void test_delayed_release(void)
{
	int fds[2];
	if (pipe(fds) != 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		char fdarg[16];
		close(fds[0]);
		snprintf(fdarg, sizeof fdarg, "%d", fds[1]);
		setenv("GOHEAP_SCAVENGE_DELAY", "50", 1);
		execl(self_path, self_path, "--scavenge-child", fdarg,
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char buf[256];
	size_t len = 0;
	ssize_t got;
	while (len < sizeof buf - 1 &&
	       (got = read(fds[0], buf + len, sizeof buf - 1 - len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "the child with GOHEAP_SCAVENGE_DELAY=50 ran (status %#x)", status);
	unsigned long long rss1 = 0, rss2 = 0, rel1 = 0, rel2 = 0;
	if (!ok(sscanf(buf, "%llu %llu %llu %llu", &rss1, &rss2, &rel1,
		       &rel2) == 4,
		"it reported its measurements"))
		return;
	diag("RSS %llu MiB with %d MiB of blocks, %llu MiB after freeing, "
	     "waiting and one more allocation",
	     rss1 / MiB, SCAVENGE_MIB, rss2 / MiB);
	cmp_uint(rss1 > rss2 ? rss1 - rss2 : 0, >=,
		 (uint64_t)SCAVENGE_MIB * 3 / 4 * MiB,
		 "spans idle past the delay were returned: RSS dropped");
	diag("heap_released %llu MiB -> %llu MiB", rel1 / MiB, rel2 / MiB);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_release_large),
	TAP_TEST(test_release_small),
	TAP_TEST(test_release_descriptors),
	TAP_TEST(test_delayed_release),
};

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--scavenge-child") == 0)
		return scavenge_child(atoi(argv[2]));
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
	if (n <= 0)
		snprintf(self_path, sizeof self_path, "%s", argv[0]);
	else
		self_path[n] = '\0';
	return TAP_MAIN(argc, argv, tests);
}
