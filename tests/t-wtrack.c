/*
 * t-wtrack - write tracking, the OS layer's gh_wt_* (lib/os.h,
 * lib/wtrack_linux.c), tested directly on memory of the test's own.
 *
 * Linked with the static library, whose internal functions it calls; the
 * shared one exports goheap_* only.
 *
 * The library picks its backend once, at start-up, from GOHEAP_GC, so
 * each backend's cases run in a child of their own (GOHEAP_GC=concurrent
 * for uffd, concurrent-mprotect for mprotect), whose TAP lines the parent
 * passes on with the backend's name in front; under Valgrind
 * (GOHEAP_UNDER_VALGRIND and VALGRIND set, make check-valgrind) the child
 * runs under Valgrind too.  A backend this machine lacks is skipped with
 * the library's reason (uffd under Valgrind: Valgrind does not emulate
 * userfaultfd).
 *
 * The cases, for each backend: pages written by a plain store, by memcpy,
 * by another thread, and by read(2) from a pipe into the page (uffd: the
 * page is reported; mprotect: read(2) fails with EFAULT and writes
 * nothing) are reported by the next collect and not by the one after
 * unless written again; pages not written are never reported; a range
 * tracked while a cycle runs is tracked, and tracking a tracked range
 * again keeps its pending reports; a writer thread that never stops while
 * the main thread collects, its writes numbered per page, leaves no write
 * unreported; gh_wt_stop really stops (no fault, no report, memory
 * writable, and a new cycle starts afresh); a forked child gets writable
 * memory and no cycle, and the parent's tracking goes on; memory the heap
 * releases (MADV_DONTNEED).  For the mprotect backend's handler: a fault
 * that is not a write to a tracked page reaches the program's earlier
 * handler or kills as by default, and a handler the program installs
 * later makes the backend give way (pages writable, none from then on).
 * case_cost prints what the calls cost, over GH_WTRACK_COST_MIB (default
 * 64) of memory, all touched first unless GH_WTRACK_COST_FRESH=1.
 */
#include "config.h"

#include <goheap.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "os.h"
#include "tap.h"

static size_t pg;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* n OS pages of fresh memory, aligned to GH_PAGE_SIZE, readable and
 * writable.  Never unmapped: a case's memory outlives its cycle. */
static char *region(size_t n)
{
	size_t len = n * pg + GH_PAGE_SIZE;
	char *v = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	return (char *)(((uintptr_t)v + GH_PAGE_SIZE - 1) & ~(uintptr_t)(GH_PAGE_SIZE - 1));
}

/* ---- What a collect reported ---- */

enum { MAXPAGES = 1024 };

typedef struct seen {
	char *base; /* the region whose pages are counted */
	size_t n;
	uint32_t count[MAXPAGES];
	size_t outside; /* pages reported outside it */
	size_t calls;
} seen;

static void on_run(uintptr_t lo, uintptr_t hi, void *arg)
{
	seen *s = arg;
	s->calls++;
	for (uintptr_t p = lo; p < hi; p += pg) {
		if (p >= (uintptr_t)s->base && p < (uintptr_t)s->base + s->n * pg)
			s->count[(p - (uintptr_t)s->base) / pg]++;
		else
			s->outside++;
	}
}

static int collect(seen *s, char *base, size_t n)
{
	memset(s, 0, sizeof *s);
	s->base = base;
	s->n = n;
	return gh_wt_collect(on_run, s);
}

/* Assert that exactly the pages listed (ending with -1) were reported,
 * once each, and none outside. */
static void expect(const seen *s, const int *want, const char *what)
{
	char got[512] = "", exp[512] = "";
	bool good = s->outside == 0;
	for (size_t i = 0; i < s->n; i++) {
		bool w = false;
		for (const int *k = want; *k >= 0; k++)
			w |= (size_t)*k == i;
		if (s->count[i])
			snprintf(got + strlen(got), sizeof got - strlen(got), " %zu", i);
		if (w)
			snprintf(exp + strlen(exp), sizeof exp - strlen(exp), " %zu", i);
		good &= s->count[i] == (w ? 1u : 0u);
	}
	if (!ok(good, "%s", what))
		diag("reported pages:%s (%zu outside); expected:%s", got, s->outside, exp);
}

static const int NONE[] = {-1};

/* Start a cycle on a fresh region of n pages, its pages touched (as heap
 * pages mostly are) but some. */
static char *tracked_region(size_t n)
{
	char *r = region(n);
	for (size_t i = 0; i < n; i += 1 + (i % 7 == 3))
		r[i * pg] = 1;
	int rc = gh_wt_track((uintptr_t)r, (uintptr_t)r + n * pg);
	if (!is_int(rc, 0, "gh_wt_track starts a cycle (%s)", rc ? strerror(errno) : "ok"))
		bail_out("cannot track");
	ok(gh_wt_active(), "tracking is active");
	return r;
}

/* ---- The cases of one backend (run in the child) ---- */

static void *store_page(void *arg)
{
	*(volatile char *)arg = 7;
	return NULL;
}

static void case_writes(void)
{
	enum { N = 64 };
	static seen s;
	char *r = tracked_region(N);
	is_int(collect(&s, r, N), 0, "collect");
	expect(&s, NONE, "nothing written: nothing reported");

	r[0] = 1;
	r[5 * pg + 100] = 2;
	*(volatile uint64_t *)(r + 17 * pg + 8) = 3;
	r[(N - 1) * pg + pg - 1] = 4; /* the last byte */
	is_int(collect(&s, r, N), 0, "collect");
	expect(&s, (const int[]){0, 5, 17, N - 1, -1}, "plain stores: their pages reported");
	is_int(collect(&s, r, N), 0, "collect");
	expect(&s, NONE, "not reported again unless written again");

	char buf[2 * 4096 + 200];
	memset(buf, 0x5a, sizeof buf);
	memcpy(r + 3 * pg + pg - 100, buf, 2 * pg + 200); /* pages 3, 4, 5, 6 */
	collect(&s, r, N);
	expect(&s, (const int[]){3, 4, 5, 6, -1}, "memcpy across pages: every page reported");

	pthread_t t;
	pthread_create(&t, NULL, store_page, r + 9 * pg + 33);
	pthread_join(t, NULL);
	collect(&s, r, N);
	expect(&s, (const int[]){9, -1}, "a store by another thread: reported");

	r[5 * pg] = 9;
	collect(&s, r, N);
	expect(&s, (const int[]){5, -1}, "a page written again after its report: reported again");
	collect(&s, r, N);
	expect(&s, NONE, "and then not");

	/* Read-only accesses are no writes. */
	volatile char sum = 0;
	for (size_t i = 0; i < N; i++)
		sum = (char)(sum + r[i * pg]);
	(void)sum;
	collect(&s, r, N);
	expect(&s, NONE, "reads: nothing reported");
	gh_wt_stop();
}

static void case_read_syscall(void)
{
	enum { N = 16 };
	static seen s;
	char *r = tracked_region(N);
	collect(&s, r, N);
	int fd[2];
	if (pipe2(fd, O_NONBLOCK) != 0) /* a broken backend must not hang the test */
		bail_out("pipe");
	const char msg[] = "written by the kernel";
	if (write(fd[1], msg, sizeof msg) != (ssize_t)sizeof msg)
		bail_out("write");
	char *at = r + 12 * pg + 40;
	memset(r + 12 * pg, 0, 64); /* populated, and reported ... */
	collect(&s, r, N);          /* ... here, so that only read(2) writes next */
	ssize_t got = read(fd[0], at, sizeof msg);
	int e = errno;
	collect(&s, r, N);
	if (gh_wt_backend() == GH_WT_UFFD) {
		is_int(got, (ssize_t)sizeof msg, "uffd: read(2) into a tracked page works");
		ok(memcmp(at, msg, sizeof msg) == 0, "uffd: and wrote the page");
		expect(&s, (const int[]){12, -1}, "uffd: the page the kernel wrote is reported");
	} else {
		is_int(got, -1, "mprotect: read(2) into a tracked page fails");
		is_int(e, EFAULT, "mprotect: with EFAULT");
		ok(at[0] == 0, "mprotect: and the page is unchanged");
		expect(&s, NONE, "mprotect: nothing reported, as nothing was written");
		/* The data is still in the pipe: a write makes the page
		 * writable, then read(2) works. */
		at[0] = 1;
		is_int(read(fd[0], at, sizeof msg), (ssize_t)sizeof msg,
		       "mprotect: read(2) works once the program wrote the page");
		collect(&s, r, N);
		expect(&s, (const int[]){12, -1}, "mprotect: that page is reported");
	}
	close(fd[0]);
	close(fd[1]);
	gh_wt_stop();
}

static void case_ranges(void)
{
	enum { N = 32 };
	static seen s;
	/* Two neighbours, so that the second grows the first range. */
	char *r = region(2 * N);
	char *r2 = r + N * pg;
	r[0] = r2[0] = 1;
	is_int(gh_wt_track((uintptr_t)r, (uintptr_t)r2), 0, "track a range");
	collect(&s, r, 2 * N);
	r2[3 * pg] = 1; /* not tracked yet */
	is_int(gh_wt_track((uintptr_t)r2, (uintptr_t)r2 + N * pg), 0,
	       "track the range that follows, with the cycle on");
	collect(&s, r, 2 * N);
	expect(&s, NONE, "a write before its range was tracked is not reported");
	r2[3 * pg] = 2;
	r[4 * pg] = 2;
	collect(&s, r, 2 * N);
	expect(&s, (const int[]){4, N + 3, -1}, "writes to both ranges are reported");

	/* A range apart from the others, with room in front. */
	char *far = region(N + 8) + 4 * pg;
	is_int(gh_wt_track((uintptr_t)far, (uintptr_t)far + N * pg), 0, "track a range apart");
	collect(&s, far, N);
	far[7 * pg] = 1;
	collect(&s, far, N);
	expect(&s, (const int[]){7, -1}, "a write to a range apart is reported");

	/* Tracking again must not drop the pending write. */
	r[6 * pg] = 3;
	is_int(gh_wt_track((uintptr_t)r + 4 * pg, (uintptr_t)r2 + 8 * pg), 0,
	       "track a tracked range again");
	collect(&s, r, 2 * N);
	expect(&s, (const int[]){6, -1}, "the write made before is still reported");
	far[8 * pg] = 3;
	is_int(gh_wt_track((uintptr_t)far - 4 * pg, (uintptr_t)far + 16 * pg), 0,
	       "track a range that overlaps one tracked");
	collect(&s, far, N);
	expect(&s, (const int[]){8, -1}, "in the overlapping range too");
	far[-2 * (ssize_t)pg] = 1;
	far[(N / 2 + 2) * pg] = 1;
	collect(&s, far - 4 * pg, N);
	expect(&s, (const int[]){2, 4 + N / 2 + 2, -1},
	       "the part added in front is tracked, with the rest");

	is_int(gh_wt_track((uintptr_t)r + 1, (uintptr_t)r + pg), -1, "an unaligned range");
	is_int(errno, EINVAL, "is refused with EINVAL");
	gh_wt_stop();
}

/* A writer that numbers its writes per page: the first word of page i
 * holds how often it was written. */
typedef struct writer {
	char *base;
	size_t n;
	int stop;
	int how; /* 0 stores, 1 stores and memcpy in turn */
	uint64_t writes;
} writer;

static void *write_forever(void *arg)
{
	writer *w = arg;
	uint64_t x = 88172645463325252ull ^ (uint64_t)w->how;
	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t i = (size_t)(x % w->n);
		uint64_t *p = (uint64_t *)(w->base + i * pg);
		uint64_t v = __atomic_load_n(p, __ATOMIC_RELAXED) + 1;
		if (w->how && (w->writes & 1))
			memcpy(p, &v, sizeof v);
		else
			__atomic_store_n(p, v, __ATOMIC_RELAXED);
		w->writes++;
		if ((w->writes & 255) == 0)
			sched_yield();
	}
	return NULL;
}

typedef struct seqs {
	char *base;
	size_t n;
	uint64_t val[MAXPAGES]; /* the page's number when last reported */
	uint64_t reports, outside;
} seqs;

static void on_run_seq(uintptr_t lo, uintptr_t hi, void *arg)
{
	seqs *q = arg;
	for (uintptr_t p = lo; p < hi; p += pg) {
		if (p < (uintptr_t)q->base || p >= (uintptr_t)q->base + q->n * pg) {
			q->outside++;
			continue;
		}
		size_t i = (p - (uintptr_t)q->base) / pg;
		q->val[i] = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
		q->reports++;
	}
}

static void case_concurrent(void)
{
	enum { N = 256 };
	static seqs q;
	char *r = region(N);
	memset(r, 0, N * pg);
	memset(&q, 0, sizeof q);
	q.base = r;
	q.n = N;
	is_int(gh_wt_track((uintptr_t)r, (uintptr_t)r + N * pg), 0, "track");
	gh_wt_collect(on_run_seq, &q);
	/* One writer, on the other CPU of two, alternating stores and
	 * memcpy (ThreadSanitizer would call memcpy racing with the
	 * collector's reads a race, as it is, so stores alone there). */
	writer w = {r, N, 0, !tap_under_tsan(), 0};
	pthread_t t;
	pthread_create(&t, NULL, write_forever, &w);
	/* Races show where the two run at once: on CPUs of their own. */
	cpu_set_t all, one;
	int cpus[2], ncpus = 0;
	if (sched_getaffinity(0, sizeof all, &all) == 0)
		for (int c = 0; c < CPU_SETSIZE && ncpus < 2; c++)
			if (CPU_ISSET(c, &all))
				cpus[ncpus++] = c;
	if (ncpus == 2) {
		CPU_ZERO(&one);
		CPU_SET(cpus[0], &one);
		sched_setaffinity(0, sizeof one, &one);
		CPU_ZERO(&one);
		CPU_SET(cpus[1], &one);
		pthread_setaffinity_np(t, sizeof one, &one);
	}
	uint64_t end = now_ns() + (tap_under_valgrind() ? 2000 : 300) * 1000000ull;
	int collects = 0, failed = 0;
	while (now_ns() < end) {
		failed += gh_wt_collect(on_run_seq, &q) != 0;
		collects++;
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	if (ncpus == 2)
		sched_setaffinity(0, sizeof all, &all);
	failed += gh_wt_collect(on_run_seq, &q) != 0;
	is_int(failed, 0, "%d collects while another thread writes, none failed", collects);
	size_t lost = 0, first = 0;
	for (size_t i = 0; i < N; i++) {
		uint64_t v = *(uint64_t *)(r + i * pg);
		if (v != q.val[i] && !lost++)
			first = i;
	}
	if (!is_uint(lost, 0, "every write after its page was reported shows in a later collect"))
		diag("page %zu: %" PRIu64 " writes, the last report saw %" PRIu64, first,
		     *(uint64_t *)(r + first * pg), q.val[first]);
	diag("%" PRIu64 " writes, %d collects, %" PRIu64 " pages reported", w.writes, collects,
	     q.reports);
	size_t written = 0;
	for (size_t i = 0; i < N; i++)
		written += *(uint64_t *)(r + i * pg) != 0;
	cmp_uint(q.reports, >=, written,
		 "the writes were reported as they came (%zu pages written)", written);
	is_uint(q.outside, 0, "no page reported outside the range");
	gh_wt_stop();
}

static long minor_faults(void)
{
	struct rusage u;
	getrusage(RUSAGE_THREAD, &u);
	return u.ru_minflt;
}

static void case_stop(void)
{
	enum { N = 32 };
	static seen s;
	char *r = tracked_region(N);
	memset(r, 1, N * pg);
	collect(&s, r, N);
	/* Armed: every first write to a page faults (uffd: a minor fault the
	 * kernel resolves; mprotect: SIGSEGV, not counted there). */
	long f0 = minor_faults();
	for (size_t i = 0; i < N; i++)
		r[i * pg] = 2;
	long armed = minor_faults() - f0;
	gh_wt_stop();
	ok(!gh_wt_active(), "stopped: not active");
	for (size_t i = 0; i < N; i++)
		r[i * pg + 1] = 3;
	collect(&s, r, N);
	expect(&s, NONE, "stopped: a collect reports nothing");
	collect(&s, r, N);
	f0 = minor_faults();
	for (size_t i = 0; i < N; i++)
		r[i * pg + 2] = 4;
	long after = minor_faults() - f0;
	if (gh_wt_backend() == GH_WT_UFFD)
		cmp_int(armed, >=, N, "uffd: armed, each page's first write faulted (%ld)", armed);
	cmp_int(after, <, 4, "stopped: writes do not fault (%ld minor faults)", after);
	/* A system call writes into every page: it would get EFAULT from a
	 * page left protected. */
	int fd[2];
	if (pipe(fd) != 0)
		bail_out("pipe");
	int efault = 0;
	for (size_t i = 0; i < N; i++) {
		if (write(fd[1], "x", 1) != 1)
			bail_out("write");
		efault += read(fd[0], r + i * pg + 5, 1) != 1;
	}
	close(fd[0]);
	close(fd[1]);
	is_int(efault, 0, "stopped: read(2) into every page works");
	gh_wt_stop(); /* idempotent */

	/* A new cycle starts afresh. */
	is_int(gh_wt_track((uintptr_t)r, (uintptr_t)r + N * pg), 0, "a new cycle");
	collect(&s, r, N);
	expect(&s, NONE, "starts clean");
	r[11 * pg] = 1;
	collect(&s, r, N);
	expect(&s, (const int[]){11, -1}, "and tracks");
	gh_wt_stop();
}

static void case_fork(void)
{
	enum { N = 16 };
	static seen s;
	char *r = tracked_region(N);
	collect(&s, r, N);
	r[1 * pg] = 1; /* pending across the fork */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: no cycle, writable memory, nothing reported. */
		int bad = 0;
		bad |= gh_wt_active() << 0;
		int fd[2];
		if (pipe(fd) != 0 || write(fd[1], "abcd", 4) != 4 ||
		    read(fd[0], r + 2 * pg, 4) != 4)
			bad |= 1 << 1;
		for (size_t i = 0; i < N; i++)
			r[i * pg + 8] = 5;
		memset(&s, 0, sizeof s);
		s.base = r;
		s.n = N;
		if (gh_wt_collect(on_run, &s) != 0 || s.calls)
			bad |= 1 << 2;
		gh_wt_stop();
		/* The child can start a cycle of its own. */
		if (gh_wt_track((uintptr_t)r, (uintptr_t)r + N * pg) != 0)
			bad |= 1 << 3;
		collect(&s, r, N);
		r[4 * pg] = 1;
		collect(&s, r, N);
		for (size_t i = 0; i < N; i++)
			if (s.count[i] != (i == 4))
				bad |= 1 << 4;
		gh_wt_stop();
		_exit(bad);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	if (!ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"fork: the child has no cycle, writable memory, and a cycle of its own"))
		diag("status %#x (bits: 1 active, 2 read(2), 4 reports, 8 track, 16 own cycle)",
		     st);
	r[3 * pg] = 1;
	collect(&s, r, N);
	expect(&s, (const int[]){1, 3, -1},
	       "fork: the parent's writes, before and after it, are reported");
	r[3 * pg] = 2;
	collect(&s, r, N);
	expect(&s, (const int[]){3, -1}, "fork: and tracking goes on");
	gh_wt_stop();
}

static void case_released(void)
{
	enum { N = 32 };
	static seen s;
	char *r = tracked_region(N);
	memset(r, 1, N * pg);
	collect(&s, r, N);
	madvise(r + 8 * pg, 8 * pg, MADV_DONTNEED);
	collect(&s, r, N);
	size_t fp = 0;
	for (size_t i = 0; i < N; i++)
		fp += s.count[i] != 0;
	/* uffd: the kernel keeps no protection for a dropped page, which
	 * then reads as written, once. */
	if (gh_wt_backend() == GH_WT_UFFD)
		cmp_uint(fp, <=, 8, "released pages: reported at most once (%zu of 8)", fp);
	else
		is_uint(fp, 0, "released pages: not reported");
	diag("%zu of 8 released pages reported as written", fp);
	collect(&s, r, N);
	expect(&s, NONE, "then not again");
	r[9 * pg] = 1;
	collect(&s, r, N);
	expect(&s, (const int[]){9, -1}, "a write to a released page is reported");
	gh_wt_stop();
}

/* Threads that track ranges and collect while the main thread stops
 * cycles and starts new ones. */
typedef struct churn {
	char *base;
	size_t n;
	int stop;
	unsigned tracked, busy;
} churn;

static void *track_forever(void *arg)
{
	churn *c = arg;
	static seen s;
	for (size_t i = 0; !__atomic_load_n(&c->stop, __ATOMIC_RELAXED); i = (i + 1) % c->n) {
		uintptr_t lo = (uintptr_t)c->base + i * 2 * pg;
		if (gh_wt_track(lo, lo + 2 * pg) == 0)
			c->tracked++;
		else
			c->busy++;
		c->base[i * 2 * pg] = 1;
		gh_wt_collect(on_run, memset(&s, 0, sizeof s));
	}
	return NULL;
}

static void case_stop_races(void)
{
	enum { N = 64 };
	churn c = {region(2 * N), N, 0, 0, 0};
	pthread_t t;
	pthread_create(&t, NULL, track_forever, &c);
	uint64_t end = now_ns() + 200 * 1000000ull;
	unsigned cycles = 0;
	while (now_ns() < end) {
		gh_wt_track((uintptr_t)c.base, (uintptr_t)c.base + 2 * pg);
		usleep(100);
		gh_wt_stop();
		cycles++;
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	gh_wt_stop();
	diag("%u cycles; the other thread tracked %u ranges, %u refused (EBUSY: "
	     "a cycle ending)", cycles, c.tracked, c.busy);
	ok(!gh_wt_active(), "after the last stop: not active");
	int fd[2];
	if (pipe(fd) != 0)
		bail_out("pipe");
	int efault = 0;
	for (size_t i = 0; i < 2 * N; i++) {
		if (write(fd[1], "x", 1) != 1)
			bail_out("write");
		efault += read(fd[0], c.base + i * pg + 9, 1) != 1;
	}
	close(fd[0]);
	close(fd[1]);
	is_int(efault, 0, "no page left protected by a track racing with a stop");
	/* And the machinery still works. */
	static seen s;
	is_int(gh_wt_track((uintptr_t)c.base, (uintptr_t)c.base + 2 * N * pg), 0, "a new cycle");
	collect(&s, c.base, 2 * N);
	c.base[5 * pg] = 1;
	collect(&s, c.base, 2 * N);
	expect(&s, (const int[]){5, -1}, "tracks");
	gh_wt_stop();
}

/* A collect reporting runs calls gh_wt_stop from its callback: the rest
 * of that collect runs after the stop, as a concurrent one would. */
static void stop_on_first_run(uintptr_t lo, uintptr_t hi, void *arg)
{
	seen *s = arg;
	if (s->calls == 0)
		gh_wt_stop();
	on_run(lo, hi, arg);
}

static void case_stop_in_collect(void)
{
	enum { N = 32 };
	static seen s;
	char *r = tracked_region(N);
	collect(&s, r, N);
	r[2 * pg] = r[10 * pg] = r[20 * pg] = 1;
	memset(&s, 0, sizeof s);
	s.base = r;
	s.n = N;
	int rc = gh_wt_collect(stop_on_first_run, &s);
	diag("the collect returned %d (%s) after %zu runs", rc, rc ? strerror(errno) : "ok",
	     s.calls);
	ok(!gh_wt_active(), "stopped from the collect's callback: not active");
	int fd[2];
	if (pipe2(fd, O_NONBLOCK) != 0)
		bail_out("pipe");
	int efault = 0;
	for (size_t i = 0; i < N; i++) {
		if (write(fd[1], "x", 1) != 1)
			bail_out("write");
		efault += read(fd[0], r + i * pg + 9, 1) != 1;
	}
	close(fd[0]);
	close(fd[1]);
	is_int(efault, 0, "the runs the collect re-armed after the stop are writable again");
	is_int(gh_wt_track((uintptr_t)r, (uintptr_t)r + N * pg), 0, "a new cycle");
	collect(&s, r, N);
	r[7 * pg] = 1;
	collect(&s, r, N);
	expect(&s, (const int[]){7, -1}, "tracks");
	gh_wt_stop();
}

static void case_cost(void)
{
	const char *e = getenv("GH_WTRACK_COST_MIB");
	size_t mib = e && *e ? (size_t)atol(e) : tap_under_valgrind() ? 8 : 64;
	size_t len = mib << 20;
	char *r = region(len / pg);
	const char *fresh = getenv("GH_WTRACK_COST_FRESH"); /* 1: memory never touched */
	if (!fresh || *fresh != '1')
		memset(r, 1, len);
	static seen s;
	uint64_t t0 = now_ns();
	int rc = gh_wt_track((uintptr_t)r, (uintptr_t)r + len);
	uint64_t t1 = now_ns();
	is_int(rc, 0, "track %zu MiB", mib);
	uint64_t clean = UINT64_MAX, dirty = UINT64_MAX;
	for (int k = 0; k < 3; k++) {
		memset(&s, 0, sizeof s);
		uint64_t a = now_ns();
		gh_wt_collect(on_run, &s);
		uint64_t b = now_ns();
		clean = b - a < clean ? b - a : clean;
		for (size_t i = 0; i < 10; i++)
			r[(i * 7919 % (len / pg)) * pg] = 2;
		memset(&s, 0, sizeof s);
		a = now_ns();
		gh_wt_collect(on_run, &s);
		b = now_ns();
		dirty = b - a < dirty ? b - a : dirty;
	}
	is_uint(s.outside, 10, "10 pages written, 10 reported");
	/* What an armed page costs the program: its first write faults. */
	uint64_t a = now_ns();
	memset(r, 3, len / 4);
	uint64_t b = now_ns();
	memset(&s, 0, sizeof s);
	uint64_t c0 = now_ns();
	gh_wt_collect(on_run, &s);
	uint64_t c1 = now_ns();
	gh_wt_stop();
	uint64_t t2 = now_ns();
	uint64_t d0 = now_ns();
	memset(r, 4, len / 4);
	uint64_t d1 = now_ns();
	diag("%s over %zu MiB: track %.3f ms; collect: clean %.3f ms, 10 pages written %.3f ms, "
	     "%zu MiB written %.3f ms; stop %.3f ms; writing a quarter: armed %.1f ms, "
	     "unarmed %.1f ms (%.2f us more per page)",
	     gh_wt_name(gh_wt_backend()), mib, (t1 - t0) / 1e6, clean / 1e6, dirty / 1e6, mib / 4,
	     (c1 - c0) / 1e6, (t2 - c1) / 1e6, (b - a) / 1e6, (d1 - d0) / 1e6,
	     ((double)(b - a) - (double)(d1 - d0)) / 1e3 / (double)(len / 4 / pg));
}

static void suite_main(void)
{
	static const struct tap_test cases[] = {
		TAP_TEST(case_writes),     TAP_TEST(case_read_syscall),
		TAP_TEST(case_ranges),     TAP_TEST(case_concurrent),
		TAP_TEST(case_stop),       TAP_TEST(case_fork),
		TAP_TEST(case_released),   TAP_TEST(case_stop_races),
		TAP_TEST(case_stop_in_collect), TAP_TEST(case_cost),
	};
	char *argv[] = {(char *)"suite", NULL};
	exit(tap_main(1, argv, cases, sizeof cases / sizeof cases[0]));
}

/* ---- The SIGSEGV handler's neighbours (children) ---- */

static void program_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	_exit(42);
}

/* A kernel without what uffd needs, as seccomp makes it: the system call
 * nr fails with errno e (ioctl: only for request cmd). */
static void deny(long nr, unsigned long cmd, int e)
{
#if defined(__x86_64__)
	const uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
	const uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)cmd, 1, 0),
		BPF_STMT(BPF_RET | BPF_K,
			 cmd ? SECCOMP_RET_ALLOW : SECCOMP_RET_ERRNO | (uint32_t)e),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)e),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		_exit(97);
}

/* From the preinit array, before the library's constructor picks its
 * backend: a SIGSEGV handler of the program's, which the library's must
 * leave faults that are not its own to; or a kernel made to lack
 * something. */
static void preinit_handler(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 3 || strcmp(argv[1], "--child") != 0)
		return;
	if (strcmp(argv[2], "no-userfaultfd") == 0)
		deny(SYS_userfaultfd, 0, ENOSYS);
	else if (strcmp(argv[2], "userfaultfd-eperm") == 0)
		deny(SYS_userfaultfd, 0, EPERM);
	else if (strcmp(argv[2], "no-wp-async") == 0)
		deny(SYS_ioctl, (unsigned long)UFFDIO_API, EINVAL);
	else if (strcmp(argv[2], "no-pagemap-scan") == 0)
		deny(SYS_ioctl, (unsigned long)_IOWR('f', 16, char[96]), ENOTTY);
	if (strcmp(argv[2], "segv-earlier") != 0)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = program_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
}

typedef void preinit_fn(int argc, char **argv, char **envp);
__attribute__((section(".preinit_array"), used)) static preinit_fn *const preinit =
	preinit_handler;

/* A write to a page nobody tracks, under a tracking cycle. */
static int child_bad_write(void)
{
	char *r = region(4);
	if (gh_wt_track((uintptr_t)r, (uintptr_t)r + 4 * pg) != 0 && gh_wt_backend() != GH_WT_NONE)
		return 3;
	r[0] = 1;
	char *bad = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*(volatile char *)bad = 1;
	return 4;
}

/* The program installs a handler after the library: the backend must
 * notice, make its pages writable and give way. */
static int child_segv_later(void)
{
	char *r = region(4);
	if (gh_wt_track((uintptr_t)r, (uintptr_t)r + 4 * pg) != 0)
		return 3;
	static seen s;
	collect(&s, r, 4);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = program_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	errno = 0;
	if (collect(&s, r, 4) != -1 || errno != EBUSY)
		return 5;
	r[pg] = 1; /* writable again: the program's handler is not called */
	if (gh_wt_backend() != GH_WT_NONE || !gh_wt_unavailable(GH_WT_MPROTECT))
		return 6;
	gh_wt_stop();
	if (gh_wt_track((uintptr_t)r, (uintptr_t)r + 4 * pg) != -1 || errno != EBUSY)
		return 7;
	r[2 * pg] = 1;
	return 0;
}

static int child_main(const char *mode)
{
	if (strcmp(mode, "suite") == 0)
		suite_main();
	if (strcmp(mode, "backend") == 0 || strcmp(mode, "no-userfaultfd") == 0 ||
	    strcmp(mode, "userfaultfd-eperm") == 0 || strcmp(mode, "no-wp-async") == 0 ||
	    strcmp(mode, "no-pagemap-scan") == 0) {
		printf("backend %s\n", gh_wt_name(gh_wt_backend()));
		return 0;
	}
	if (strcmp(mode, "segv-earlier") == 0 || strcmp(mode, "segv-default") == 0)
		return child_bad_write();
	if (strcmp(mode, "segv-later") == 0)
		return child_segv_later();
	return 99;
}

/* ---- The parent ---- */

static char out[1 << 18];

/* Under Valgrind, the mprotect backend's handler returns from SIGSEGV,
 * which needs Valgrind to keep registers exact (lib/wtrack_linux.c). */
static const char *vg_exact = "--vex-iropt-register-updates=allregs-at-mem-access";

/* Run this program as a child in mode with GOHEAP_GC=gc (under Valgrind,
 * with option vgopt if not NULL, if the parent is); its status, its
 * output in out. */
static int run_child_vg(const char *gc, const char *mode, const char *vgopt)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	const char *vg = getenv("VALGRIND");
	if (tap_under_valgrind() && vg && *vg) {
		char *argv[8], **a = argv;
		*a++ = (char *)vg;
		*a++ = (char *)"--quiet";
		*a++ = (char *)"--error-exitcode=99";
		if (vgopt)
			*a++ = (char *)vgopt;
		*a++ = self;
		*a++ = (char *)"--child";
		*a++ = (char *)mode;
		*a = NULL;
		return child_exec(vg, argv, "GOHEAP_GC", gc, out, sizeof out);
	}
	char *argv[] = {self, (char *)"--child", (char *)mode, NULL};
	return child_exec(self, argv, "GOHEAP_GC", gc, out, sizeof out);
}

static int run_child(const char *gc, const char *mode)
{
	return run_child_vg(gc, mode, strcmp(gc, "concurrent-mprotect") == 0 ? vg_exact : NULL);
}

/* Pass the child's TAP lines on, its backend's name in front. */
static void relay(const char *name, int st)
{
	for (char *line = out; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		tap_relay_line(name, line);
		line = nl ? nl + 1 : NULL;
	}
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the cases passed (status %#x)", name, st);
}

/* Run the suite under backend k, or skip it with the reason. */
static void suite_for(gh_wt_kind k, const char *gc)
{
	int st = run_child(gc, "backend");
	char want[64];
	snprintf(want, sizeof want, "backend %s\n", gh_wt_name(k));
	if (!strstr(out, want)) {
		/* The reason, as the library gave it to the child. */
		const char *why = strstr(out, "GOHEAP_GC=");
		char reason[256];
		snprintf(reason, sizeof reason, "%.*s", why ? (int)strcspn(why, "\n") : 40,
			 why ? why : "the child did not run");
		skip(reason, "backend %s not available here", gh_wt_name(k));
		(void)st;
		return;
	}
	st = run_child(gc, "suite");
	relay(gh_wt_name(k), st);
}

static void test_uffd(void)
{
	suite_for(GH_WT_UFFD, "concurrent");
}

static void test_mprotect(void)
{
	suite_for(GH_WT_MPROTECT, "concurrent-mprotect");
	if (!tap_under_valgrind() || !getenv("VALGRIND"))
		return;
	int st = run_child_vg("concurrent-mprotect", "backend", NULL);
	ok(WIFEXITED(st) && strstr(out, "backend none\n") &&
		   strstr(out, "needs --vex-iropt-register-updates"),
	   "under Valgrind without exact registers, mprotect is refused, saying why");
}

static void test_none(void)
{
	int st = run_child("stw", "backend");
	ok(WIFEXITED(st) && strstr(out, "backend none\n") && !strstr(out, "goheap:"),
	   "GOHEAP_GC=stw: no tracking, quietly");
	/* In this process: whatever the default chose; none answers so. */
	if (gh_wt_backend() == GH_WT_NONE) {
		static seen s;
		char *r = region(2);
		errno = 0;
		is_int(gh_wt_track((uintptr_t)r, (uintptr_t)r + 2 * pg), -1, "none: track fails");
		is_int(errno, ENOSYS, "with ENOSYS");
		is_int(collect(&s, r, 2), 0, "none: collect reports nothing");
		is_uint(s.calls, 0, "not a page");
		ok(!gh_wt_active(), "none: never active");
		gh_wt_stop();
	}
	st = run_child("bogus", "backend");
	ok(strstr(out, "ignoring GOHEAP_GC=bogus") != NULL, "a malformed GOHEAP_GC is reported");
	is_str(gh_wt_name(GH_WT_NONE), "none", "names");
	is_str(gh_wt_name(GH_WT_UFFD), "uffd", "names");
	is_str(gh_wt_name(GH_WT_MPROTECT), "mprotect", "names");
}

/* Kernels that lack a part of what uffd needs (made so with seccomp):
 * the library falls back to none, quietly unless asked for concurrent by
 * name, and says why. */
static void test_fallback(void)
{
	/* Where uffd is missing anyway (Valgrind, qemu-user, which also has
	 * no seccomp), there is nothing to take away. */
	run_child_vg(NULL, "backend", NULL);
	if (!strstr(out, "backend uffd\n")) {
		skip("uffd is not available here anyway", "fallbacks from uffd");
		return;
	}
	static const struct {
		const char *mode, *why;
	} k[] = {
		{"no-userfaultfd", "the kernel has no userfaultfd"},
		{"userfaultfd-eperm", "userfaultfd is not permitted"},
		{"no-wp-async", "no userfaultfd write-protection in async mode (Linux >= 6.7)"},
		{"no-pagemap-scan", "PAGEMAP_SCAN does not work"},
	};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
		int st = run_child_vg(NULL, k[i].mode, NULL);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "backend none\n") &&
			   !strstr(out, "goheap:"),
		   "%s: the default falls back to none, quietly", k[i].mode);
		st = run_child_vg("concurrent", k[i].mode, NULL);
		if (!ok(strstr(out, "backend none\n") && strstr(out, k[i].why),
			"%s: GOHEAP_GC=concurrent falls back too, saying why", k[i].mode))
			diag("%s", out);
	}
}

static void test_default(void)
{
	const char *gc = getenv("GOHEAP_GC");
	if (gc && *gc) {
		skip("GOHEAP_GC is set", "the default backend");
		return;
	}
	const char *why = gh_wt_unavailable(GH_WT_UFFD);
	if (gh_wt_backend() == GH_WT_UFFD)
		ok(why == NULL, "the default is uffd, which works here");
	else
		ok(gh_wt_backend() == GH_WT_NONE && why, "the default falls back to none: %s", why);
	ok(gh_wt_unavailable(GH_WT_MPROTECT) != NULL, "mprotect is not taken unless asked for");
}

/* The kernel's configuration, if it publishes it, says whether soft-dirty
 * bits exist; the probe must agree. */
static void test_softdirty(void)
{
	FILE *f = popen("gzip -dc /proc/config.gz 2>/dev/null", "r");
	int has = -1;
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		if (has < 0)
			has = 0; /* a configuration, without the option unless below */
		if (strncmp(line, "CONFIG_MEM_SOFT_DIRTY=y", 23) == 0)
			has = 1;
	}
	if (f)
		pclose(f);
	bool probe = gh_wt_softdirty_available();
	if (has < 0) {
		skip("no /proc/config.gz", "soft-dirty detection (the probe says %s)",
		     probe ? "yes" : "no");
		return;
	}
	is_int(probe, has, "soft-dirty bits detected as the kernel's configuration says (%s)",
	       has ? "CONFIG_MEM_SOFT_DIRTY=y" : "not set");
}

static void segv_children(gh_wt_kind k, const char *gc)
{
	int st = run_child(gc, "backend");
	char want[64];
	snprintf(want, sizeof want, "backend %s\n", gh_wt_name(k));
	if (!strstr(out, want)) {
		const char *why = strstr(out, "GOHEAP_GC=");
		char reason[256];
		snprintf(reason, sizeof reason, "%.*s", why ? (int)strcspn(why, "\n") : 40,
			 why ? why : "the child did not run");
		skip(reason, "%s: SIGSEGV handling", gh_wt_name(k));
		return;
	}
	/* What a bad write does without tracking: killed by SIGSEGV, or
	 * what a sanitizer's handler does (ASan: a report, exit 1). */
	int ref = run_child("stw", "segv-default");
	st = run_child(gc, "segv-default");
	ok(st == ref && (WIFSIGNALED(st) || WIFEXITED(st)),
	   "%s: a bad write ends the program as without tracking (status %#x, without %#x)",
	   gh_wt_name(k), st, ref);
	st = run_child(gc, "segv-earlier");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 42,
	   "%s: a bad write reaches the program's earlier handler (status %#x)", gh_wt_name(k), st);
	if (k != GH_WT_MPROTECT)
		return;
	st = run_child(gc, "segv-later");
	if (!ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"mprotect: a handler the program installs later makes the backend give way "
		"(status %#x)", st))
		diag("%s", out);
	ok(strstr(out, "goheap: the program replaced the SIGSEGV handler") != NULL,
	   "mprotect: and the library says so");
	const char *first = strstr(out, "goheap:");
	ok(first && !strstr(first + 1, "goheap:"), "once");
}

static void test_segv_uffd(void)
{
	segv_children(GH_WT_UFFD, "concurrent");
}

static void test_segv_mprotect(void)
{
	segv_children(GH_WT_MPROTECT, "concurrent-mprotect");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_default),   TAP_TEST(test_fallback),  TAP_TEST(test_none),
	TAP_TEST(test_softdirty),
	TAP_TEST(test_uffd),      TAP_TEST(test_mprotect),  TAP_TEST(test_segv_uffd),
	TAP_TEST(test_segv_mprotect),
};

int main(int argc, char **argv)
{
	gh_init(); /* links the library's start-up, which picks the backend */
	pg = gh_sys_pagesize();
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);
	return TAP_MAIN(argc, argv, tests);
}
