/*
 * t-heapdump: goheap_write_heapdump, and the stats file and monitor thread
 * seen from inside the process.
 *
 * A dump read back with the readers goheap-stat uses (tools/statread.c)
 * holds exactly the blocks goheap_read_memstats counts, with their kind,
 * class and size, the pointers between them, the registered root range,
 * the threads and the finalizers.  Bad descriptors give the documented
 * errors.  The process's own stats file appears, parses, agrees with
 * goheap_read_memstats, and a collection requested through it runs.
 * Runs under Valgrind too (make check-valgrind): the monitor thread and
 * the dump must be clean.
 */
#include <goheap.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "statfile.h"
#include "tap.h"

struct node {
	struct node *next;
	long value;
};

static void *roots[2];
static int finalized;

static void fin(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	finalized++;
}

typedef struct totals {
	uint64_t objects, bytes, kinds[4], threads, finalizers, ranges;
	int saw_link, saw_root_ptr, saw_large, saw_memstats, records;
	uint64_t ms_objects, ms_alloc;
} totals;

/* Read the dump in fd back; 0 or a GH_READ_* status. */
static int read_dump(int fd, totals *t, uintptr_t a, uintptr_t b, uintptr_t large)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size == 0)
		return GH_READ_TRUNCATED;
	void *buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED)
		return GH_READ_SYSTEM;
	gh_dump_reader r;
	static gh_dump_record rec;
	memset(t, 0, sizeof *t);
	int s = gh_dump_open(&r, buf, (size_t)st.st_size);
	uint64_t cur = 0, cur_root = 0;
	while (s >= 0 && (s = gh_dump_next(&r, &rec)) > 0) {
		t->records++;
		switch (rec.tag) {
		case GH_DUMP_MEMSTATS:
			t->saw_memstats = gh_dump_named_get(&rec, "heap_objects", &t->ms_objects) == 0 &&
					  gh_dump_named_get(&rec, "heap_alloc", &t->ms_alloc) == 0;
			break;
		case GH_DUMP_OBJECT:
			t->objects++;
			t->bytes += rec.u[1];
			if (rec.u[2] < 4)
				t->kinds[rec.u[2]]++;
			if (rec.u[0] == large && rec.u[3] == 0 && rec.u[1] >= 100000)
				t->saw_large = 1;
			cur = rec.u[0];
			cur_root = 0;
			break;
		case GH_DUMP_ROOT:
			cur_root = rec.u[0];
			if (rec.u[0] == GH_DUMP_ROOT_RANGE && rec.u[1] == (uintptr_t)roots)
				t->ranges++;
			break;
		case GH_DUMP_POINTERS:
			for (uint32_t i = 0; i < rec.nptrs; i++) {
				if (!cur_root && cur == a && rec.ptr_off[i] == 0 && rec.ptr_to[i] == b)
					t->saw_link = 1;
				if (cur_root == GH_DUMP_ROOT_RANGE && rec.ptr_to[i] == a)
					t->saw_root_ptr = 1;
			}
			break;
		case GH_DUMP_THREAD:
			t->threads++;
			break;
		case GH_DUMP_FINALIZER:
			if (rec.u[0] == b)
				t->finalizers++;
			break;
		}
	}
	munmap(buf, (size_t)st.st_size);
	return s;
}

static int tmpfile_fd(void)
{
	char name[] = "/tmp/t-heapdump.XXXXXX";
	int fd = mkstemp(name);
	if (fd < 0)
		bail_out("mkstemp: %s", strerror(errno));
	unlink(name);
	return fd;
}

static void test_roundtrip(void)
{
	struct node *a = goheap_malloc(sizeof *a);
	struct node *b = goheap_malloc(sizeof *b);
	a->next = b;
	roots[0] = a;
	ok(goheap_add_roots(roots, roots + 2) == 0, "goheap_add_roots");
	ok(goheap_set_finalizer(b, fin, NULL) == 0, "goheap_set_finalizer");
	void *atomic = goheap_malloc_atomic(200);
	memset(atomic, 0, 200);
	static const size_t offs[] = {0};
	void **typed = goheap_malloc_typed(32, goheap_type_new(16, offs, 1));
	typed[0] = a;
	void *tiny = goheap_malloc_atomic(3);
	void *large = goheap_malloc(200000);
	ok(atomic && typed && tiny && large, "blocks of every kind");

	goheap_memstats *m = malloc(sizeof *m);
	int fd = tmpfile_fd();
	int r = goheap_write_heapdump(fd);
	goheap_read_memstats(m);
	is_int(r, 0, "goheap_write_heapdump succeeds");
	totals t;
	is_int(read_dump(fd, &t, (uintptr_t)a, (uintptr_t)b, (uintptr_t)large), 0,
	       "the dump reads back to its END");
	is_uint(t.objects, m->heap_objects, "objects in the dump == heap_objects");
	is_uint(t.bytes, m->heap_alloc, "bytes in the dump == heap_alloc");
	ok(t.saw_memstats, "the dump has memstats");
	is_uint(t.ms_objects, t.objects, "its heap_objects == the objects dumped");
	is_uint(t.ms_alloc, t.bytes, "its heap_alloc == the bytes dumped");
	ok(t.kinds[0] && t.kinds[1] && t.kinds[2] && t.kinds[3], "objects of every kind");
	ok(t.saw_large, "the large block, as class 0");
	ok(t.saw_link, "a's pointer to b, at offset 0");
	is_uint(t.ranges, 1, "the registered range is a root");
	ok(t.saw_root_ptr, "the range's pointer to a");
	cmp_uint(t.threads, >=, 1, "the dumping thread is listed");
	is_uint(t.finalizers, 1, "b's finalizer");
	close(fd);
	free(m);
	goheap_remove_roots(roots, roots + 2);
	__asm__ volatile("" ::"r"(a), "r"(b), "r"(tiny) : "memory");
}

static void test_errors(void)
{
	errno = 0;
	is_int(goheap_write_heapdump(-1), -1, "fd -1 fails");
	is_int(errno, EBADF, "with EBADF");
	int fd = open("/dev/null", O_RDONLY);
	errno = 0;
	is_int(goheap_write_heapdump(fd), -1, "a read-only fd fails");
	is_int(errno, EBADF, "with write's EBADF");
	close(fd);
	/* Truncated and foreign dumps are refused, not misread. */
	fd = tmpfile_fd();
	is_int(goheap_write_heapdump(fd), 0, "another dump");
	struct stat st;
	fstat(fd, &st);
	char *buf = malloc((size_t)st.st_size);
	ok(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size, "read it");
	gh_dump_reader r;
	static gh_dump_record rec;
	int s = gh_dump_open(&r, buf, (size_t)st.st_size / 2);
	while (s >= 0 && (s = gh_dump_next(&r, &rec)) > 0)
		;
	is_int(s, GH_READ_TRUNCATED, "half a dump is truncated");
	buf[16] = 2;
	is_int(gh_dump_open(&r, buf, (size_t)st.st_size), GH_READ_VERSION,
	       "version 2 is unknown");
	buf[0] = 'X';
	is_int(gh_dump_open(&r, buf, (size_t)st.st_size), GH_READ_NOT_OURS, "bad magic");
	free(buf);
	close(fd);
}

static int open_own_statfile(void)
{
	const char *base = getenv("GOHEAP_STATS_DIR");
	char path[600];
	snprintf(path, sizeof path, "%s/goheap-%u/%ld", base && *base ? base : "/dev/shm",
		 (unsigned)geteuid(), (long)getpid());
	/* The monitor creates it once running: a moment, or more under
	 * Valgrind. */
	for (int i = 0; i < 300; i++) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void test_statfile(void)
{
	if (getenv("GOHEAP_STATS") && strcmp(getenv("GOHEAP_STATS"), "0") == 0) {
		ok(1, "# SKIP GOHEAP_STATS=0");
		return;
	}
	int fd = open_own_statfile();
	ok(fd >= 0, "the process's stats file exists");
	if (fd < 0)
		return;
	struct stat st;
	fstat(fd, &st);
	is_uint(st.st_mode & 0777, 0600, "it is mode 0600");
	static uint64_t snap[GH_STATFILE_MAX_SIZE / 8];
	size_t len;
	gh_statfile_view v;
	int64_t result = -1, value = -1;
	goheap_memstats *m = malloc(sizeof *m);
	is_int(gh_statfile_send(fd, GH_OP_GC, 0, NULL, 60000, &result, &value), 0,
	       "a collection requested through the file is answered");
	goheap_read_memstats(m);
	is_int(result, 0, "and succeeds");
	is_int(value, m->numgc, "its value is numgc");
	cmp_uint(m->numgc, >=, 1, "a collection ran");
	is_int(gh_statfile_snapshot(fd, snap, sizeof snap, &len), 0, "snapshot");
	is_int(gh_statfile_parse(snap, len, &v), 0, "it parses");
	uint64_t x = 0;
	ok(gh_statfile_get(&v, "numgc", 0, &x) == 0 && x == m->numgc,
	   "numgc as memstats");
	ok(gh_statfile_get(&v, "heap_objects", 0, &x) == 0 && x == m->heap_objects,
	   "heap_objects as memstats");
	ok(gh_statfile_get(&v, "by_size.size", 1, &x) == 0 && x == m->by_size[1].size,
	   "by_size.size[1] as memstats");
	is_int(v.h->pid, getpid(), "the header names this process");
	is_int(gh_statfile_send(fd, 999, 0, NULL, 60000, &result, &value), 0, "an unknown op");
	is_int(result, -ENOSYS, "is refused with ENOSYS");
	free(m);
	close(fd);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_roundtrip),
	TAP_TEST(test_errors),
	TAP_TEST(test_statfile),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
