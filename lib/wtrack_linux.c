/*
 * wtrack_linux.c - write tracking on Linux (os.h, "Write tracking"): which
 * pages of the heap the program wrote while the collector marked, so that
 * marking can run alongside the program and then scan again only what
 * changed (Boehm, Demers and Shenker, PLDI 1991).
 *
 * The backends, best first:
 *
 *   uffd      userfaultfd write-protection in asynchronous mode (Linux >=
 *             6.7: UFFD_FEATURE_WP_ASYNC, PAGEMAP_SCAN).  Each tracked
 *             range is registered with a userfaultfd for write-protection
 *             and write-protected; the kernel then resolves a write fault
 *             on a protected page by itself, at once, and only drops the
 *             page's protection, so that the page reads as "written".
 *             The PAGEMAP_SCAN ioctl on /proc/self/pagemap lists the
 *             written pages of a range and protects them again in the same
 *             walk, each page under its page-table lock: a write after
 *             the walk passed a page faults again and shows in the next
 *             walk.  The kernel's own writes (read(2) into the heap) go
 *             through the same faults and are seen.  An unprivileged
 *             process may use it with UFFD_USER_MODE_ONLY (Linux >= 5.11),
 *             whatever vm.unprivileged_userfaultfd says (0 here).  The
 *             userfaultfd and the pagemap file are open only during a
 *             cycle, so that a program that closes every descriptor
 *             between cycles does no harm; a forked child closes its
 *             copies without using them (they would act on the parent).
 *
 *   soft-dirty  /proc/self/clear_refs (4) and bit 55 of /proc/self/pagemap:
 *             what Debian 12's own kernel (6.1) has and uffd needs 6.7
 *             for.  Not built: this machine's kernel lacks
 *             CONFIG_MEM_SOFT_DIRTY, so nothing here could test it, and no
 *             untested backend may become a default.  gh_wt_init tells
 *             whether the kernel has it (gh_wt_softdirty_available): it is
 *             the next backend to add, with its costs (clear_refs clears
 *             the bits of the whole process, and reading is 8 bytes of
 *             /proc per page) measured where it runs.
 *
 *   mprotect  only when asked for (GOHEAP_GC=concurrent-mprotect): a
 *             tracked range is made read-only; a SIGSEGV handler, for a
 *             write fault on a tracked page, makes the page writable,
 *             notes it in a dirty bitmap and returns, and the write is
 *             made again.  gh_wt_collect swaps out the dirty bits and
 *             makes those pages read-only again.  The kernel does not
 *             fault on the program's behalf: a system call that writes
 *             into a read-only heap page (read(2), recv(2), a stat buffer
 *             in the heap) fails with EFAULT, as under Boehm's incremental
 *             mode.  Hence only on request.
 *
 *   none      nothing is tracked: the collector marks with the world
 *             stopped.
 *
 * The cycle.  The first gh_wt_track of a cycle starts it (opens the
 * userfaultfd, or clears the dirty bits); gh_wt_collect reports and
 * re-arms; gh_wt_stop ends it.  Nothing needs the world stopped: the
 * collector arms at the start of marking and ends after its final pause,
 * where it likes (see the costs below), while the page heap, holding its
 * lock, may be tracking a range it just mapped, and marker threads may be
 * collecting.  A thread may also be stopped for a collection anywhere in
 * these functions, and gh_wt_stop must then neither wait for it nor pull
 * a descriptor from under it.  So:
 *
 *   - state holds a generation and a phase: IDLE -> ACTIVE (first track)
 *     -> DRAINING (gh_wt_stop) -> TEARING -> IDLE.  gh_wt_track and
 *     gh_wt_collect count themselves in users for as long as they use
 *     the cycle's descriptors and range list; gh_wt_stop disarms every
 *     listed range at once, and whichever of it and the last user leaves
 *     last closes the descriptors and empties the list (teardown).  A
 *     track that armed its range after gh_wt_stop disarmed the others sees
 *     the phase change and disarms its own.  A new cycle cannot start
 *     before the old one's teardown: EBUSY, and the collector marks with
 *     the world stopped that once.
 *   - the ranges of a cycle are an append-only list in segments, read
 *     without a lock (a count published with a release store; the last
 *     range grows in place when the heap maps the memory right after it);
 *     trackers are serialized by track_lock, a lock of this file only,
 *     which a thread stopped for a collection may hold: with the world
 *     stopped it is only tried.
 *   - tracking a range that overlaps a tracked one tracks only what was not
 *     tracked: arming a page again would drop the write it holds.
 *
 * The mprotect backend's bitmaps are kept for the life of the process,
 * one chunk of 64 KiB per GiB of address space ever tracked, found from
 * the address through a directory of 2 MiB of address space (touched only
 * where tracked); a chunk holds a "tracked" bit and a "dirty" bit per OS
 * page.  The handler reads them with no lock and no allocation (it is a
 * signal handler).  A page tracked once stays known to the handler: a
 * fault that was on its way when a cycle ended still finds its page and
 * makes it writable.  Races between the handler and gh_wt_collect are
 * settled by order alone: the handler makes the page writable, then sets
 * its dirty bit; gh_wt_collect takes the bits of the cycle's ranges (an
 * atomic and), then protects the pages.  A write after the protection
 * faults again; a bit set after the take is reported next time; a page
 * made writable before the protection is protected again, and its write
 * faults again.  (The other order loses writes: t-wtrack's concurrent
 * case counts them.)
 * The handler blocks the stop signal, so a thread is never stopped half
 * way through it: with the world stopped, every fault noted is complete.
 * Unlike uffd (PM_SCAN_CHECK_WPASYNC fails the collect), this backend
 * cannot see a tracked range mapped afresh, which is writable and silent:
 * the heap never does that (gh_sys_map maps reserved memory only), and
 * GOHEAP_DEBUG=efence, which protects heap pages itself, excludes it.
 *
 * Costs measured on this machine (Linux 6.18, 2 CPUs; t-wtrack's case_cost
 * with GH_WTRACK_COST_MIB=1024, three runs; 1 GiB = 262144 pages of
 * 4 KiB, all touched before, or never (GH_WTRACK_COST_FRESH=1)):
 *
 *                                          uffd             mprotect
 *                                      touched   fresh   touched   fresh
 *   gh_wt_track of 1 GiB               2.9 ms   1.1 ms    8-10 ms  0.07 ms
 *   gh_wt_collect, nothing written     0.17 ms  0.35 ms   0.01 ms  0.01 ms
 *   gh_wt_collect, 10 pages written    0.19 ms  0.37 ms   0.03 ms  0.03 ms
 *   gh_wt_collect, 256 MiB written     1.1-1.6 ms         1.6-3.7 ms
 *   gh_wt_stop                         8.3-9 ms 2.6 ms    7.4-8.6 ms 2.1 ms
 *   a program's first write to a
 *   page after it was armed            +1.0 us            +3.4 us
 *
 * (uffd protects with a PAGEMAP_SCAN pass rather than UFFDIO_WRITEPROTECT,
 * which takes 10 ms per touched GiB; the mprotect figures are for one
 * mapping: its faults split it into one per page written, at most
 * vm.max_map_count, 65530 here.)  gh_wt_stop's cost is the kernel dropping
 * the protection of every page: better after the world restarts than in
 * the final pause, and nothing requires the world stopped.  Starting a
 * cycle (gh_wt_init's probe, then opening the userfaultfd and pagemap
 * file) costs 12 us once at start-up and some microseconds per cycle.
 *
 * Reports are never short, and are exact but for these (t-wtrack counts
 * them): under uffd, a page of a tracked range that the heap released
 * (MADV_DONTNEED) reads as written once, as the kernel keeps no protection
 * for a dropped page (a later read of it is not a write); a transparent
 * huge page is split by the kernel at its first write, which is reported
 * for its 4 KiB page alone.  Under mprotect, a handler that is slow to
 * note its page may have it reported in the next cycle too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gh.h"
#include "os.h"
#include "track.h"

/* ---- What Debian 12's kernel headers (6.1) lack ----
 *
 * configure checks each (AC_CHECK_DECLS); the values are the kernel's ABI
 * (include/uapi/linux/userfaultfd.h and fs.h of Linux 6.7). */
#if !HAVE_DECL_UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#if !HAVE_DECL_UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#if !HAVE_DECL_UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#if !HAVE_DECL_PAGEMAP_SCAN
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};
struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

static gh_wt_kind backend;
static const char *why_not[3];
static size_t os_page;
static unsigned os_page_shift;

/* ---- The cycle ---- */

enum { WT_IDLE = 0, WT_ACTIVE = 1, WT_DRAINING = 2, WT_TEARING = 3, WT_PHASE = 3 };

static uint32_t state; /* generation << 2 | phase */
static uint32_t users; /* calls using the cycle's descriptors and list */
static int uffd = -1, pagemap = -1;

/* The descriptors are read by every user of a cycle and reset by the
 * last one out (teardown): with atomics, as ThreadSanitizer does not see
 * the users' count order the two. */
static int fd_of(const int *fd)
{
	return __atomic_load_n(fd, __ATOMIC_RELAXED);
}

static uint32_t phase_of(uint32_t s)
{
	return s & WT_PHASE;
}

/* The state, read with a read-modify-write: ordered against gh_wt_stop's
 * change of state (one too), so that what the caller did before (list a
 * range, protect pages) is seen by gh_wt_stop if the caller sees no
 * change; a fence and a load would do, but ThreadSanitizer does not
 * model fences. */
static uint32_t state_now(void)
{
	return __atomic_fetch_add(&state, 0, __ATOMIC_SEQ_CST);
}

/* Count the caller in; the state it saw. */
static uint32_t enter(void)
{
	__atomic_add_fetch(&users, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&state, __ATOMIC_SEQ_CST);
}

static void teardown(void);

/* Count the caller (which entered in state seen) out; the last one out of
 * a stopped cycle tears it down. */
static void leave(uint32_t seen)
{
	if (__atomic_sub_fetch(&users, 1, __ATOMIC_SEQ_CST) != 0)
		return;
	uint32_t draining = (seen & ~(uint32_t)WT_PHASE) | WT_DRAINING;
	if (__atomic_compare_exchange_n(&state, &draining, draining + 1, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST))
		teardown();
}

/* ---- The ranges of a cycle ---- */

typedef struct wt_range {
	uintptr_t lo, hi; /* hi grows in place (atomic) */
	/* Armed up to here (atomic, <= hi): a range is listed before it is
	 * armed (see track_new), and the part not armed yet is not
	 * collected -- the heap has handed none of it out, and PAGEMAP_SCAN
	 * refuses (EPERM) a range with memory not registered. */
	uintptr_t armed;
} wt_range;

enum { WT_SEG_RANGES = 4095 };

typedef struct wt_seg {
	struct wt_seg *next;
	uint32_t n; /* published with a release store */
	wt_range r[WT_SEG_RANGES];
} wt_seg;

static wt_seg *segs; /* kept and reused from cycle to cycle */

/* Memory for this file's tables: straight from the kernel, zeroed. */
static void *wt_alloc(size_t n)
{
	void *v = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	return v == MAP_FAILED ? NULL : v;
}

/* Call fn on every range of the cycle, as far as it was published. */
/* fn on each listed range, or with armed, on the armed part of each. */
static int ranges_walk(bool armed, int (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	for (wt_seg *s = __atomic_load_n(&segs, __ATOMIC_ACQUIRE); s;
	     s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE)) {
		uint32_t n = __atomic_load_n(&s->n, __ATOMIC_ACQUIRE);
		for (uint32_t i = 0; i < n; i++) {
			/* Atomic, as the entry may be written again for a later
			 * cycle (ranges_clear): ThreadSanitizer cannot see that
			 * the walkers of this one have left by then. */
			uintptr_t lo = __atomic_load_n(&s->r[i].lo, __ATOMIC_RELAXED);
			uintptr_t hi = __atomic_load_n(armed ? &s->r[i].armed : &s->r[i].hi,
						       __ATOMIC_ACQUIRE);
			int rc = lo < hi ? fn(lo, hi, arg) : 0;
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int ranges_foreach(int (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	return ranges_walk(false, fn, arg);
}

static int ranges_foreach_armed(int (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	return ranges_walk(true, fn, arg);
}

/* The first range of the cycle that overlaps [lo, hi), or NULL. */
static const wt_range *ranges_overlap(uintptr_t lo, uintptr_t hi)
{
	for (wt_seg *s = segs; s; s = s->next)
		for (uint32_t i = 0; i < s->n; i++)
			if (s->r[i].lo < hi && lo < s->r[i].hi)
				return &s->r[i];
	return NULL;
}

/* Add [lo, hi) to the list (track_lock held): grow the last range if it
 * ends at lo.  0, or -1 (ENOMEM).  In a cycle the segments before the
 * first one not full are full, those after it empty. */
/* List [lo, hi), not armed yet: the range it is in, or NULL (no memory). */
static wt_range *ranges_add(uintptr_t lo, uintptr_t hi)
{
	if (!segs) {
		wt_seg *s = wt_alloc(sizeof *s);
		if (!s)
			return NULL;
		__atomic_store_n(&segs, s, __ATOMIC_RELEASE);
	}
	wt_seg *s = segs;
	while (s->n == WT_SEG_RANGES && s->next)
		s = s->next;
	if (s->n > 0 && s->r[s->n - 1].hi == lo) {
		__atomic_store_n(&s->r[s->n - 1].hi, hi, __ATOMIC_RELEASE);
		return &s->r[s->n - 1];
	}
	if (s->n == WT_SEG_RANGES) {
		wt_seg *t = wt_alloc(sizeof *t);
		if (!t)
			return NULL;
		__atomic_store_n(&s->next, t, __ATOMIC_RELEASE);
		s = t;
	}
	__atomic_store_n(&s->r[s->n].lo, lo, __ATOMIC_RELAXED);
	__atomic_store_n(&s->r[s->n].hi, hi, __ATOMIC_RELAXED);
	__atomic_store_n(&s->r[s->n].armed, lo, __ATOMIC_RELAXED);
	__atomic_store_n(&s->n, s->n + 1, __ATOMIC_RELEASE);
	return &s->r[s->n - 1];
}

static void ranges_clear(void)
{
	for (wt_seg *s = segs; s; s = s->next)
		__atomic_store_n(&s->n, 0, __ATOMIC_RELEASE);
}

/* ---- track_lock: serializes trackers ---- */

static uint32_t track_lock; /* 0 free, 1 held, 2 held with waiters */

/* Take the lock; false (the world is stopped and the lock held, maybe by
 * a stopped thread) if it cannot. */
static bool track_lock_take(void)
{
	uint32_t c = 0;
	if (__atomic_compare_exchange_n(&track_lock, &c, 1, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED))
		return true;
	while (__atomic_exchange_n(&track_lock, 2, __ATOMIC_ACQUIRE) != 0) {
		if (gh_stw_stopped())
			return false;
		gh_os_wait(&track_lock, 2, 1000000);
	}
	return true;
}

static void track_lock_drop(void)
{
	if (__atomic_exchange_n(&track_lock, 0, __ATOMIC_RELEASE) == 2)
		gh_os_wake(&track_lock, GH_OS_WAKE_ALL);
}

/* ---- uffd ---- */

/* A userfaultfd set up for asynchronous write-protection, or -1 with
 * errno.  UFFD_USER_MODE_ONLY lets an unprivileged process have one
 * whatever vm.unprivileged_userfaultfd says; kernels before 5.11 refuse
 * the flag (EINVAL), and then only a privileged process gets one. */
static int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	/* WP_UNPOPULATED makes a never-touched page count as protected
	 * (PAGEMAP_SCAN needs it on anonymous memory; 6.7 turns it on with
	 * WP_ASYNC anyway); a kernel without either says EINVAL. */
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The most address space one PAGEMAP_SCAN or UFFDIO_UNREGISTER call
 * covers.  Each call holds the process's mmap lock, which the program's
 * mmap (the heap growing) waits for: over 2 GiB in one call, gh_wt_stop
 * kept allocations waiting 4-9 ms in mmap (bench/pause under perf).
 * 32 MiB takes 0.1-0.3 ms. */
#define UFFD_STEP ((uintptr_t)32 << 20)

/* One PAGEMAP_SCAN pass over [lo, hi): protect the written pages again
 * and call fn on each run of them (if fn), a step (UFFD_STEP) per call.
 * 0, or -1 with errno. */
static int uffd_scan(int pm, uintptr_t lo, uintptr_t hi,
		     void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	struct page_region vec[64];
	while (lo < hi) {
		uintptr_t end = hi - lo > UFFD_STEP ? lo + UFFD_STEP : hi;
		struct pm_scan_arg a = {
			.size = sizeof a,
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = lo,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = 64,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(pm, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -1;
		gh_track_defined(vec, (size_t)n * sizeof vec[0]);
		for (long i = 0; fn && i < n; i++)
			fn((uintptr_t)vec[i].start, (uintptr_t)vec[i].end, arg);
		if (a.walk_end <= lo || a.walk_end > end) {
			errno = EIO; /* no progress: never seen */
			return -1;
		}
		lo = (uintptr_t)a.walk_end;
	}
	return 0;
}

static int uffd_arm(uintptr_t lo, uintptr_t hi)
{
	struct uffdio_register r = {
		.range = {.start = lo, .len = hi - lo},
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(fd_of(&uffd), UFFDIO_REGISTER, &r) != 0)
		return -1;
	/* Protect with a PAGEMAP_SCAN pass rather than UFFDIO_WRITEPROTECT:
	 * 2.6 ms per GiB of touched pages against 10 (every page counts as
	 * written until protected, so the pass protects them all). */
	if (uffd_scan(fd_of(&pagemap), lo, hi, NULL, NULL) != 0) {
		int e = errno;
		struct uffdio_range u = {.start = lo, .len = hi - lo};
		ioctl(fd_of(&uffd), UFFDIO_UNREGISTER, &u);
		errno = e;
		return -1;
	}
	return 0;
}

typedef struct uffd_report {
	void (*fn)(uintptr_t lo, uintptr_t hi, void *arg);
	void *arg;
} uffd_report;

static int uffd_collect_range(uintptr_t lo, uintptr_t hi, void *arg)
{
	const uffd_report *r = arg;
	return uffd_scan(fd_of(&pagemap), lo, hi, r->fn, r->arg);
}

/* Unregister [lo, hi) a step at a time, pausing between steps (the
 * world runs).  The mapping is split at each step and merged again as
 * the next step joins the unregistered part: two or three at a time. */
static int uffd_disarm(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	while (lo < hi) {
		uintptr_t end = hi - lo > UFFD_STEP ? lo + UFFD_STEP : hi;
		struct uffdio_range u = {.start = lo, .len = end - lo};
		ioctl(fd_of(&uffd), UFFDIO_UNREGISTER, &u);
		lo = end;
		/* A thread waiting for the mmap lock takes it: back to
		 * back, the next step would take it first. */
		if (lo < hi)
			gh_os_sleep(50000);
	}
	return 0;
}

/* Open the cycle's descriptors.  0, or -1 with errno. */
static int uffd_start(void)
{
	int u = uffd_open();
	if (u < 0)
		return -1;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		int e = errno;
		close(u);
		errno = e;
		return -1;
	}
	__atomic_store_n(&pagemap, pm, __ATOMIC_RELAXED);
	__atomic_store_n(&uffd, u, __ATOMIC_RELAXED);
	return 0;
}

static void uffd_close(void)
{
	int u = fd_of(&uffd), pm = fd_of(&pagemap);
	if (u >= 0)
		close(u);
	if (pm >= 0)
		close(pm);
	__atomic_store_n(&uffd, -1, __ATOMIC_RELAXED);
	__atomic_store_n(&pagemap, -1, __ATOMIC_RELAXED);
}

/* Whether Valgrind runs the program: its client request where the library
 * was built with its headers, else the preload libraries it always sets. */
static bool under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");
	return gh_track_on_now() || (pre && strstr(pre, "/vgpreload_"));
}

/* Whether the whole mechanism works here: a page written, then seen
 * written once, then not.  NULL, or why not.  Not under Valgrind, which
 * would print a warning of its own for the unknown system call. */
static const char *uffd_probe(void)
{
	if (under_valgrind())
		return "Valgrind does not emulate userfaultfd (3.19: an unhandled "
		       "system call)";
	int fd = uffd_open();
	if (fd < 0)
		return errno == EINVAL ? "the kernel has no userfaultfd write-protection in "
					 "async mode (Linux >= 6.7)"
		       : errno == ENOSYS ? "the kernel has no userfaultfd"
					 : "userfaultfd is not permitted";
	const char *why = "PAGEMAP_SCAN does not work (Linux >= 6.7)";
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t n = 2 * os_page;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pm < 0 || p == MAP_FAILED) {
		why = "cannot open /proc/self/pagemap";
		goto out;
	}
	p[0] = 1;
	struct uffdio_register r = {
		.range = {.start = (uintptr_t)p, .len = n},
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(fd, UFFDIO_REGISTER, &r) != 0) {
		why = "userfaultfd cannot write-protect anonymous memory";
		goto out;
	}
	struct page_region v[2];
	struct pm_scan_arg a = {
		.size = sizeof a,
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + n,
		.vec = (uintptr_t)v,
		.vec_len = 2,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	if (ioctl(pm, PAGEMAP_SCAN, &a) < 0)
		goto out;
	p[os_page] = 1;
	long k = ioctl(pm, PAGEMAP_SCAN, &a);
	if (k != 1 || v[0].start != (uintptr_t)p + os_page || v[0].end != (uintptr_t)p + n)
		goto out;
	if (ioctl(pm, PAGEMAP_SCAN, &a) != 0)
		goto out;
	why = NULL;
out:
	if (p != MAP_FAILED)
		munmap(p, n);
	if (pm >= 0)
		close(pm);
	close(fd);
	return why;
}

/* ---- Soft-dirty: detected, not built ---- */

/* A page just written is soft-dirty where the kernel keeps the bits
 * (CONFIG_MEM_SOFT_DIRTY); without them bit 55 is always clear. */
static bool softdirty_probe(void)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return false;
	volatile char *p = mmap(NULL, os_page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool yes = false;
	if (p != MAP_FAILED) {
		p[0] = 1;
		uint64_t e = 0;
		off_t off = (off_t)(((uintptr_t)p >> os_page_shift) * sizeof e);
		yes = pread(pm, &e, sizeof e, off) == (ssize_t)sizeof e && (e >> 55 & 1);
		munmap((void *)p, os_page);
	}
	close(pm);
	return yes;
}

bool gh_wt_softdirty_available(void)
{
	static int known; /* 0 unknown, 1 no, 2 yes */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	if (!k) {
		if (!os_page) {
			os_page = gh_sys_pagesize();
			os_page_shift = (unsigned)__builtin_ctzl(os_page);
		}
		k = softdirty_probe() ? 2 : 1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k == 2;
}

/* ---- mprotect ---- */

enum {
	WT_CHUNK_SHIFT = 30,                                /* a chunk covers 1 GiB */
	WT_DIR_SIZE = 1 << (GH_ADDR_BITS - WT_CHUNK_SHIFT), /* chunks in 48 bits */
	WT_CHUNK_WORDS = (1 << (WT_CHUNK_SHIFT - 12)) / 64, /* for 4 KiB pages */
};

typedef struct wt_chunk {
	uint64_t tracked[WT_CHUNK_WORDS]; /* ever tracked: the handler's */
	uint64_t dirty[WT_CHUNK_WORDS];   /* written since collected */
	uintptr_t base;
	struct wt_chunk *next; /* all chunks, newest first */
} wt_chunk;

static wt_chunk **chunk_dir; /* WT_DIR_SIZE entries, set with release */
static wt_chunk *chunks;
static struct sigaction segv_prev;
static bool segv_lost; /* the program replaced our handler */
static unsigned reprotect_failures;

static wt_chunk *chunk_of(uintptr_t a)
{
	uintptr_t i = a >> WT_CHUNK_SHIFT;
	if (i >= WT_DIR_SIZE)
		return NULL;
	return __atomic_load_n(&chunk_dir[i], __ATOMIC_ACQUIRE);
}

/* The chunk for address a, made if need be (track_lock held).  NULL if
 * out of memory (ENOMEM) or above 48 bits (ERANGE). */
static wt_chunk *chunk_get(uintptr_t a)
{
	if ((a >> WT_CHUNK_SHIFT) >= WT_DIR_SIZE) {
		errno = ERANGE;
		return NULL;
	}
	wt_chunk *c = chunk_of(a);
	if (c)
		return c;
	c = wt_alloc(sizeof *c);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->base = a & ~(((uintptr_t)1 << WT_CHUNK_SHIFT) - 1);
	c->next = chunks;
	__atomic_store_n(&chunks, c, __ATOMIC_RELEASE);
	__atomic_store_n(&chunk_dir[a >> WT_CHUNK_SHIFT], c, __ATOMIC_RELEASE);
	return c;
}

/* Call op on each word of the bitmaps that covers pages of [lo, hi), with
 * the mask of those pages; make: make chunks that are missing (track_lock
 * held), else they must be there.  0, or -1 with errno.  Async-signal-safe
 * without make. */
static int bits_foreach(uintptr_t lo, uintptr_t hi, bool make,
			void (*op)(wt_chunk *c, size_t w, uint64_t mask))
{
	while (lo < hi) {
		wt_chunk *c = make ? chunk_get(lo) : chunk_of(lo);
		if (!c)
			return -1;
		uintptr_t end = c->base + ((uintptr_t)1 << WT_CHUNK_SHIFT);
		if (end > hi)
			end = hi;
		size_t i = (lo - c->base) >> os_page_shift, j = (end - c->base) >> os_page_shift;
		while (i < j) {
			unsigned b = (unsigned)(i % 64);
			size_t n = j - i < 64 - b ? j - i : 64 - b;
			op(c, i / 64, (n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1) << b);
			i += n;
		}
		lo = end;
	}
	return 0;
}

/* Pages made tracked for this cycle: clean, and known to the handler. */
static void op_track(wt_chunk *c, size_t w, uint64_t mask)
{
	__atomic_fetch_and(&c->dirty[w], ~mask, __ATOMIC_RELAXED);
	__atomic_fetch_or(&c->tracked[w], mask, __ATOMIC_RELEASE);
}

static void op_dirty(wt_chunk *c, size_t w, uint64_t mask)
{
	__atomic_fetch_or(&c->dirty[w], mask, __ATOMIC_RELEASE);
}

/* A short line on stderr and no more: async-signal-safe. */
static void say(const char *s)
{
	gh_os_write_stderr(s, strlen(s));
}

/* The handler could not make the page writable (vm.max_map_count: every
 * protected page may be a mapping of its own).  Make the whole tracked
 * range writable and dirty, which joins its mappings.  Whether it could. */
static int unprotect_range_of(uintptr_t lo, uintptr_t hi, void *arg)
{
	uintptr_t a = (uintptr_t)arg;
	if (a < lo || a >= hi)
		return 0;
	if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0)
		return -1;
	bits_foreach(lo, hi, false, op_dirty);
	return 1;
}

/* A write fault at a: if on a tracked page, make the page writable, note
 * it and say so.  Async-signal-safe. */
static bool note_write(uintptr_t a)
{
	wt_chunk *c = chunk_of(a);
	if (!c)
		return false;
	size_t i = (a - c->base) >> os_page_shift, w = i / 64;
	uint64_t bit = (uint64_t)1 << (i % 64);
	if (!(__atomic_load_n(&c->tracked[w], __ATOMIC_ACQUIRE) & bit))
		return false;
	uintptr_t page = a & ~(uintptr_t)(os_page - 1);
	if (mprotect((void *)page, os_page, PROT_READ | PROT_WRITE) != 0 &&
	    ranges_foreach(unprotect_range_of, (void *)a) != 1) {
		say("goheap: write tracking: cannot make a heap page writable again "
		    "(mprotect; vm.max_map_count?)\n");
		return false;
	}
	/* After the page is writable: see the top of the file. */
	__atomic_fetch_or(&c->dirty[w], bit, __ATOMIC_RELEASE);
	return true;
}

/* The program's handler, or the default action. */
static void segv_chain(int sig, siginfo_t *si, void *uc)
{
	if (segv_prev.sa_flags & SA_SIGINFO) {
		segv_prev.sa_sigaction(sig, si, uc);
	} else if (segv_prev.sa_handler == SIG_DFL || segv_prev.sa_handler == SIG_IGN) {
		/* The fault happens again on return, and kills as it would
		 * have without us (with the faulting context in the core). */
		signal(sig, SIG_DFL);
	} else {
		segv_prev.sa_handler(sig);
	}
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	bool ours = si->si_code == SEGV_ACCERR && note_write((uintptr_t)si->si_addr);
	errno = saved;
	if (!ours)
		segv_chain(sig, si, uc);
}

/* Whether our handler is still the one: the program may install its own
 * after we did.  Says so once. */
static bool segv_ours(void)
{
	struct sigaction cur;
	if (__atomic_load_n(&segv_lost, __ATOMIC_RELAXED))
		return false;
	if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == segv_handler)
		return true;
	if (!__atomic_exchange_n(&segv_lost, true, __ATOMIC_RELAXED))
		gh_warn("the program replaced the SIGSEGV handler that the mprotect write "
			"tracking needs (GOHEAP_GC=concurrent-mprotect); the collector "
			"marks with the world stopped from now on");
	return false;
}

/* Under Valgrind, a SIGSEGV handler that returns has the faulting
 * instruction run again with the registers as they were only if Valgrind
 * keeps them exact at every memory access (--vex-iropt-register-updates
 * or --px-default = allregs-at-mem-access or allregs-at-each-insn); by
 * default it does not, and the program goes on with stale registers
 * (seen: a wild write a few faults later).  Valgrind shows the program
 * its own command line in /proc/self/cmdline, but its real one, options
 * and all, in /proc/self/task/TID/cmdline.  Whether that, or
 * VALGRIND_OPTS, asks for exact registers; *under says whether Valgrind
 * runs the program at all. */
static bool valgrind_exact_registers(bool *under)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%ld/cmdline", (long)gh_os_gettid());
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	n = n > 0 ? n : 0;
	buf[n] = 0;
	*under = under_valgrind() || strstr(buf, "valgrind") != NULL;
	bool exact = false;
	const char *opts = getenv("VALGRIND_OPTS");
	for (int pass = 0; pass < 2; pass++) {
		const char *p = pass ? buf : opts ? opts : "";
		const char *end = pass ? buf + n : p + strlen(p);
		while (p < end) {
			size_t len = strcspn(p, pass ? "" : " \t");
			if (len == 0) {
				p++;
				continue;
			}
			static const char *const names[] = {"--vex-iropt-register-updates=",
							    "--px-default="};
			for (int i = 0; i < 2; i++) {
				size_t k = strlen(names[i]);
				if (len > k && strncmp(p, names[i], k) == 0)
					exact = strncmp(p + k, "allregs-at-", 11) == 0;
			}
			p += len + 1;
		}
	}
	return exact;
}

static const char *mprotect_init(void)
{
	bool under;
	if (gh_option(GH_OPT_EFENCE) > 0)
		return "GOHEAP_DEBUG=efence protects heap pages itself";
	if (!valgrind_exact_registers(&under) && under)
		return "under Valgrind it needs --vex-iropt-register-updates="
		       "allregs-at-mem-access (a SIGSEGV handler that returns resumes "
		       "with stale registers otherwise)";
	chunk_dir = wt_alloc(WT_DIR_SIZE * sizeof *chunk_dir);
	if (!chunk_dir)
		return "no memory for its directory";
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = segv_handler;
	/* SA_ONSTACK: a program that catches stack overflows on an
	 * alternate stack still can, through us.  The stop signal is
	 * blocked: no thread is stopped half way through a fault. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (gh_stw_signal())
		sigaddset(&sa.sa_mask, gh_stw_signal());
	if (sigaction(SIGSEGV, &sa, &segv_prev) != 0)
		return "cannot install a SIGSEGV handler";
	struct sigaction cur;
	if (sigaction(SIGSEGV, NULL, &cur) != 0 || cur.sa_sigaction != segv_handler)
		return "something (a sanitizer?) keeps SIGSEGV to itself";
	return NULL;
}

static int mprotect_arm(uintptr_t lo, uintptr_t hi)
{
	if (bits_foreach(lo, hi, true, op_track) != 0)
		return -1;
	return mprotect((void *)lo, hi - lo, PROT_READ);
}

static int mprotect_disarm(uintptr_t lo, uintptr_t hi, void *arg)
{
	(void)arg;
	mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE);
	return 0;
}

static int mprotect_start(void)
{
	if (!segv_ours()) {
		errno = EBUSY;
		return -1;
	}
	for (wt_chunk *c = chunks; c; c = c->next)
		for (size_t w = 0; w < WT_CHUNK_WORDS; w++)
			if (__atomic_load_n(&c->dirty[w], __ATOMIC_RELAXED))
				__atomic_store_n(&c->dirty[w], 0, __ATOMIC_RELAXED);
	return 0;
}

/* Report the runs of dirty pages and protect them again, unless the cycle
 * (seen) ended meanwhile: gh_wt_stop may have made the range writable
 * before this protected it, and then this makes it writable again
 * (state_now: the protection before the look at the state). */
static void mprotect_flush(uintptr_t lo, uintptr_t hi, uint32_t seen,
			   void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	if (mprotect((void *)lo, hi - lo, PROT_READ) != 0) {
		/* Left writable, so reported until it can be protected. */
		bits_foreach(lo, hi, false, op_dirty);
		if (__atomic_fetch_add(&reprotect_failures, 1, __ATOMIC_RELAXED) == 0)
			gh_warn("write tracking: cannot protect heap pages again (%s); "
				"they count as written from now on",
				errno == ENOMEM ? "too many mappings: vm.max_map_count"
						: "mprotect failed");
	}
	if (state_now() != seen)
		mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE);
	fn(lo, hi, arg);
}

typedef struct collect_ctx {
	uint32_t seen;
	void (*fn)(uintptr_t lo, uintptr_t hi, void *arg);
	void *arg;
	uintptr_t run_lo, run_hi; /* the run of dirty pages being gathered */
} collect_ctx;

static void run_add(collect_ctx *x, uintptr_t p)
{
	if (p == x->run_hi) {
		x->run_hi += os_page;
		return;
	}
	if (x->run_hi)
		mprotect_flush(x->run_lo, x->run_hi, x->seen, x->fn, x->arg);
	x->run_lo = p;
	x->run_hi = p + os_page;
}

/* Take the dirty bits of the range's pages.  Only the cycle's ranges: a
 * handler that was slow to set its bit may set it after the cycle it
 * faulted in has ended, on a page the next cycle does not track, which
 * must not be protected (nothing would make it writable again). */
static int collect_range(uintptr_t lo, uintptr_t hi, void *arg)
{
	collect_ctx *x = arg;
	while (lo < hi) {
		wt_chunk *c = chunk_of(lo);
		uintptr_t end = (lo | (((uintptr_t)1 << WT_CHUNK_SHIFT) - 1)) + 1;
		if (end > hi)
			end = hi;
		if (!c) { /* its arming failed */
			lo = end;
			continue;
		}
		size_t i = (lo - c->base) >> os_page_shift, j = (end - c->base) >> os_page_shift;
		while (i < j) {
			unsigned b = (unsigned)(i % 64);
			size_t n = j - i < 64 - b ? j - i : 64 - b, w = i / 64;
			uint64_t mask = (n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1) << b;
			i += n;
			if (!(__atomic_load_n(&c->dirty[w], __ATOMIC_RELAXED) & mask))
				continue;
			uint64_t bits = __atomic_fetch_and(&c->dirty[w], ~mask, __ATOMIC_ACQ_REL);
			bits &= mask;
			while (bits) {
				unsigned k = (unsigned)__builtin_ctzll(bits);
				bits &= bits - 1;
				run_add(x, c->base + ((w * 64 + k) << os_page_shift));
			}
		}
		lo = end;
	}
	return 0;
}

static int mprotect_collect(uint32_t seen, void (*fn)(uintptr_t lo, uintptr_t hi, void *arg),
			    void *arg)
{
	if (!segv_ours()) {
		/* Whatever faults on a protected page now goes to the
		 * program's handler: protect nothing any more. */
		ranges_foreach(mprotect_disarm, NULL);
		errno = EBUSY;
		return -1;
	}
	collect_ctx x = {.seen = seen, .fn = fn, .arg = arg};
	ranges_foreach_armed(collect_range, &x);
	if (x.run_hi)
		mprotect_flush(x.run_lo, x.run_hi, seen, fn, arg);
	return 0;
}

/* In a forked child, mid-cycle: the pages were copied protected. */
static void mprotect_child(void)
{
	ranges_foreach(mprotect_disarm, NULL);
}

/* ---- The cycle's steps, by backend ---- */

static int arm(uintptr_t lo, uintptr_t hi)
{
	return backend == GH_WT_UFFD ? uffd_arm(lo, hi) : mprotect_arm(lo, hi);
}

static int disarm(uintptr_t lo, uintptr_t hi, void *arg)
{
	return backend == GH_WT_UFFD ? uffd_disarm(lo, hi, arg) : mprotect_disarm(lo, hi, arg);
}

static void teardown(void)
{
	if (backend == GH_WT_UFFD)
		uffd_close();
	ranges_clear();
	uint32_t s = __atomic_load_n(&state, __ATOMIC_RELAXED);
	__atomic_store_n(&state, (s & ~(uint32_t)WT_PHASE) | WT_IDLE, __ATOMIC_SEQ_CST);
}

/* Track the parts of [lo, hi) that are not tracked yet (track_lock held,
 * cycle active). */
static int track_new(uintptr_t lo, uintptr_t hi)
{
	while (lo < hi) {
		const wt_range *r = ranges_overlap(lo, hi);
		if (!r) {
			wt_range *nr = ranges_add(lo, hi);
			if (!nr) {
				errno = ENOMEM;
				return -1;
			}
			/* Listed before armed: gh_wt_stop disarms it even if
			 * this thread is stopped right after arming; collected
			 * once armed. */
			if (arm(lo, hi) != 0)
				return -1;
			__atomic_store_n(&nr->armed, hi, __ATOMIC_RELEASE);
			return 0;
		}
		uintptr_t rlo = r->lo, rhi = __atomic_load_n(&r->hi, __ATOMIC_RELAXED);
		if (rlo > lo && track_new(lo, rlo) != 0)
			return -1;
		lo = rhi;
	}
	return 0;
}

static void fork_child(void)
{
	/* Only the forking thread is left, and it is here: no user. */
	uint32_t s = __atomic_load_n(&state, __ATOMIC_RELAXED);
	if (phase_of(s) == WT_IDLE)
		return;
	if (backend == GH_WT_MPROTECT)
		mprotect_child();
	/* The descriptors act on the parent: close them unused. */
	uffd_close();
	ranges_clear();
	users = 0;
	track_lock = 0;
	state = (s & ~(uint32_t)WT_PHASE) + 4;
}

/* ---- The contract (os.h) ---- */

gh_wt_kind gh_wt_init(gh_wt_kind want)
{
	static bool done;
	if (done)
		return backend; /* once: a second handler would chain to itself */
	done = true;
	os_page = gh_sys_pagesize();
	os_page_shift = (unsigned)__builtin_ctzl(os_page);
	why_not[GH_WT_NONE] = NULL;
	backend = GH_WT_NONE;
	if (os_page < 4096 || os_page > ((size_t)1 << WT_CHUNK_SHIFT)) {
		why_not[want] = "an OS page size this file does not expect";
		return backend;
	}
	if (want == GH_WT_UFFD) {
		why_not[GH_WT_UFFD] = uffd_probe();
		if (!why_not[GH_WT_UFFD])
			backend = GH_WT_UFFD;
	} else if (want == GH_WT_MPROTECT) {
		why_not[GH_WT_MPROTECT] = mprotect_init();
		if (!why_not[GH_WT_MPROTECT])
			backend = GH_WT_MPROTECT;
	}
	if (backend != GH_WT_NONE)
		pthread_atfork(NULL, NULL, fork_child);
	return backend;
}

gh_wt_kind gh_wt_backend(void)
{
	if (backend == GH_WT_MPROTECT && __atomic_load_n(&segv_lost, __ATOMIC_RELAXED))
		return GH_WT_NONE;
	return backend;
}

const char *gh_wt_name(gh_wt_kind k)
{
	switch (k) {
	case GH_WT_UFFD:
		return "uffd";
	case GH_WT_MPROTECT:
		return "mprotect";
	default:
		return "none";
	}
}

const char *gh_wt_unavailable(gh_wt_kind k)
{
	if (k == GH_WT_MPROTECT && backend == k && __atomic_load_n(&segv_lost, __ATOMIC_RELAXED))
		return "the program replaced its SIGSEGV handler";
	if (k == backend)
		return NULL;
	if ((unsigned)k < 3 && why_not[k])
		return why_not[k];
	return k == GH_WT_MPROTECT ? "not asked for (GOHEAP_GC=concurrent-mprotect)"
				   : "not probed";
}

bool gh_wt_active(void)
{
	return phase_of(__atomic_load_n(&state, __ATOMIC_RELAXED)) == WT_ACTIVE;
}

int gh_wt_track(uintptr_t lo, uintptr_t hi)
{
	if (gh_wt_backend() == GH_WT_NONE) {
		errno = backend == GH_WT_NONE ? ENOSYS : EBUSY;
		return -1;
	}
	if (lo >= hi || (lo | hi) & (os_page - 1)) {
		errno = EINVAL;
		return -1;
	}
	uint32_t seen = enter();
	int rc = -1;
	if (!track_lock_take()) {
		errno = EBUSY;
		leave(seen);
		return -1;
	}
	uint32_t s = __atomic_load_n(&state, __ATOMIC_SEQ_CST);
	if (phase_of(s) == WT_IDLE) {
		/* Start a cycle. */
		if ((backend == GH_WT_UFFD ? uffd_start() : mprotect_start()) != 0)
			goto out;
		s = (s & ~(uint32_t)WT_PHASE) + 4 + WT_ACTIVE;
		__atomic_store_n(&state, s, __ATOMIC_SEQ_CST);
		seen = s;
	} else if (phase_of(s) != WT_ACTIVE) {
		errno = EBUSY; /* the last cycle is still ending */
		goto out;
	} else {
		seen = s;
	}
	rc = track_new(lo, hi);
	/* The range listed and armed before the look at the state, and
	 * gh_wt_stop's change of state before its walk of the list: one of
	 * the two sees the other (state_now). */
	if (state_now() != seen) {
		/* gh_wt_stop came meanwhile, and may have disarmed the list
		 * before this range was armed. */
		disarm(lo, hi, NULL);
		rc = 0;
	}
out:
	track_lock_drop();
	leave(seen);
	return rc;
}

int gh_wt_collect(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
	/* GOHEAP_DEBUG=wtrackdrop=1: tracking broken on purpose, so that the
	 * suite can show it notices (t-gc-concurrent). */
	if (GH_UNLIKELY(gh_option(GH_OPT_WTRACKDROP)))
		return 0;
	uint32_t seen = enter();
	int rc = 0;
	if (phase_of(seen) == WT_ACTIVE) {
		if (backend == GH_WT_UFFD) {
			uffd_report r = {fn, arg};
			rc = ranges_foreach_armed(uffd_collect_range, &r);
		} else if (backend == GH_WT_MPROTECT) {
			rc = mprotect_collect(seen, fn, arg);
		}
	}
	int e = errno;
	leave(seen);
	errno = e;
	return rc;
}

void gh_wt_stop(void)
{
	/* Counted in as a user: the descriptors stay open while this walks
	 * the list, even if the last other user leaves meanwhile. */
	uint32_t s = enter();
	uint32_t draining = (s & ~(uint32_t)WT_PHASE) | WT_DRAINING;
	if (phase_of(s) != WT_ACTIVE ||
	    !__atomic_compare_exchange_n(&state, &s, draining, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST)) {
		leave(s); /* no cycle, or another gh_wt_stop */
		return;
	}
	ranges_foreach(disarm, NULL);
	leave(draining);
}
