/*
 * t-boehm-control: the Boehm control, roots and statistics entry points
 * of the libgc.so.1 drop-in (GC_disable, the start callback,
 * GC_call_with_alloc_lock, GC_add_roots, GC_get_heap_size, GC_dump, ...).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "boehm-util.h"
#include "tap.h"

enum { N = 300 };
static GC_word hidden[N];

/* Allocate bytes of garbage (bytes / divisor under Valgrind). */
static BU_NOINLINE void churn(size_t bytes, size_t divisor)
{
	bytes = tap_scale(bytes, divisor);
	for (size_t done = 0; done < bytes; done += 4096)
		GC_malloc(4096);
}

static void test_disable_nests(void)
{
	GC_word n0 = GC_get_gc_no();
	GC_disable();
	GC_disable();
	ok(GC_is_disabled(), "GC_disable disables");
	GC_gcollect();
	churn(64 << 20, 16);
	is_uint(GC_get_gc_no(), n0, "no collection, explicit or automatic, while disabled");
	GC_enable();
	ok(GC_is_disabled(), "GC_disable nests: one GC_enable is not enough");
	GC_gcollect();
	is_uint(GC_get_gc_no(), n0, "still none");
	GC_enable();
	ok(!GC_is_disabled(), "the second GC_enable enables");
	GC_gcollect();
	cmp_uint(GC_get_gc_no(), >, n0, "GC_gcollect collects again");
	is_uint(GC_gc_no, GC_get_gc_no(), "GC_gc_no follows");
	GC_dont_gc = 1;
	n0 = GC_get_gc_no();
	GC_gcollect();
	is_uint(GC_get_gc_no(), n0, "GC_dont_gc = 1 stops collections too");
	GC_dont_gc = 0;
}

static int starts;
static void on_start(void)
{
	starts++;
}

static void test_start_callback(void)
{
	GC_set_start_callback(on_start);
	ok(GC_get_start_callback() == on_start, "GC_get_start_callback");
	GC_gcollect();
	GC_gcollect();
	is_int(starts, 2, "called at the start of each collection");
	churn(32 << 20, 2);
	cmp_int(starts, >, 2, "automatic collections too");
	GC_disable();
	int before = starts;
	GC_gcollect();
	is_int(starts, before, "not for a collection GC_disable skips");
	GC_enable();
	GC_set_start_callback(NULL);
}

static char *warned;
static GC_word warned_arg;
static void on_warn(char *msg, GC_word arg)
{
	warned = msg;
	warned_arg = arg;
}

static void test_warn_proc(void)
{
	GC_warn_proc old = GC_get_warn_proc();
	ok(old != NULL, "a default warn proc");
	GC_set_warn_proc(on_warn);
	ok(GC_get_warn_proc() == on_warn, "GC_get_warn_proc returns what was set");
	GC_enable(); /* without GC_disable: a warning */
	ok(warned != NULL, "the warn proc gets the collector's warnings");
	GC_set_warn_proc(GC_ignore_warn_proc);
	GC_enable();
	GC_ignore_warn_proc("x %lu", 1);
	ok(1, "GC_ignore_warn_proc ignores");
	GC_set_warn_proc(old);
	GC_oom_func f = GC_get_oom_fn();
	GC_set_oom_fn(f);
	ok(GC_get_oom_fn() == f, "GC_set_oom_fn / GC_get_oom_fn");
}

/* GC_call_with_alloc_lock: a collection asked for by another thread
 * waits until fn has returned.  fn may not allocate (nor create a thread
 * with GC_pthread_create, which does): the thread is made before. */
static int fn_running, collector_started, collector_done; /* atomic */
#define LOAD(v) __atomic_load_n(&(v), __ATOMIC_ACQUIRE)
#define STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELEASE)

static void *collector(void *arg)
{
	(void)arg;
	while (!LOAD(fn_running))
		usleep(1000);
	STORE(collector_started, 1);
	GC_gcollect();
	STORE(collector_done, 1);
	return NULL;
}

static void *locked(void *cd)
{
	GC_word before = GC_get_gc_no();
	STORE(fn_running, 1);
	while (!LOAD(collector_started))
		usleep(1000);
	usleep(200000);
	*(int *)cd = GC_get_gc_no() == before && !LOAD(collector_done);
	return cd;
}

static void test_call_with_alloc_lock(void)
{
	int excluded = 0;
	pthread_t t;
	pthread_create(&t, NULL, collector, NULL);
	is_ptr(GC_call_with_alloc_lock(locked, &excluded), &excluded,
	       "GC_call_with_alloc_lock returns what fn returns");
	ok(excluded, "no collection runs while fn runs");
	pthread_join(t, NULL);
	ok(LOAD(collector_done), "the waiting collection ran once fn returned");
}

static void test_settings(void)
{
	ok(GC_get_all_interior_pointers(), "all interior pointers by default, as Debian's libgc");
	GC_set_all_interior_pointers(0);
	is_int(GC_all_interior_pointers, 0, "GC_set_all_interior_pointers sets the variable");
	void *p = GC_malloc(64);
	is_uint(GC_size(p), 64, "and then no byte is added");
	GC_set_all_interior_pointers(1);
	GC_set_no_dls(1);
	ok(GC_get_no_dls() && GC_no_dls, "GC_set_no_dls");
	GC_gcollect();
	ok(GC_base(p) == p, "with GC_no_dls the program's own data is still scanned");
	GC_set_no_dls(0);
	GC_set_dont_expand(1);
	is_int(GC_get_dont_expand(), 1, "GC_set_dont_expand");
	GC_set_dont_expand(0);
	GC_set_time_limit(GC_TIME_UNLIMITED);
	is_uint(GC_get_time_limit(), GC_TIME_UNLIMITED, "GC_set_time_limit");
	GC_word d = GC_get_free_space_divisor();
	GC_set_free_space_divisor(4);
	is_uint(GC_get_free_space_divisor(), 4, "GC_set_free_space_divisor");
	GC_set_free_space_divisor(d);
	const char *gcenv = getenv("GOHEAP_GC");
	if (!gcenv || !*gcenv)
		ok(!GC_is_incremental_mode(), "the world stopped for marking, as Boehm's default");
	GC_enable_incremental();
	/* Marking beside the program where the system has write tracking
	 * and GOHEAP_GC does not say stw. */
	int inc = GC_is_incremental_mode();
	if (gcenv && !strcmp(gcenv, "stw"))
		ok(!inc, "GC_enable_incremental: GOHEAP_GC=stw keeps the world stopped");
	else
		diag("GC_enable_incremental: incremental mode %d (write tracking %s)", inc,
		     inc ? "here" : "not available here");
	is_int(GC_collect_a_little(), 0, "GC_collect_a_little: nothing left");
	cmp_uint(GC_get_version() >> 16, ==, 8, "GC_get_version: 8.x");
	GC_init();
	ok(GC_is_init_called(), "GC_init may be called again");
}

static void test_expand_and_max(void)
{
	/* The heap holds 64 MiB afterwards, free pages of it maybe
	 * returned to the OS already (the scavenger). */
	ok(GC_expand_hp(64 << 20), "GC_expand_hp succeeds");
	cmp_uint(GC_get_heap_size() + GC_get_unmapped_bytes(), >=, 64 << 20,
		 "and the heap has that much");
	GC_set_max_heap_size(96 << 20);
	GC_gcollect_and_unmap();
	churn(512 << 20, 16);
	cmp_uint(GC_get_heap_size(), <=, 100 << 20,
		 "GC_set_max_heap_size keeps the heap about that size (a soft limit)");
	GC_set_max_heap_size(0);
}

static void test_handle_fork(void)
{
	const char *qemu = getenv("QEMU_LD_PREFIX");
	if (qemu && *qemu) {
		/* As t-gc-fork, left out of make check-qemu (Makefile.am). */
		skip("under qemu-user", "GC_set_handle_fork: qemu-user 7.2 aborts the child of a "
		     "threaded process");
		return;
	}
	GC_set_handle_fork(1);
	pid_t pid = fork();
	if (pid == 0) {
		churn(16 << 20, 2);
		GC_gcollect();
		_exit(GC_get_gc_no() > 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child allocates and collects");
}

static BU_NOINLINE void *make_rooted(void)
{
	void **r = malloc(4 * sizeof(void *));
	r[1] = GC_malloc(32);
	hidden[0] = BU_HIDE(r[1]);
	GC_add_roots(r, r + 4);
	return r;
}

static void test_roots(void)
{
	void *r = make_rooted();
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) != NULL, "GC_add_roots: malloc'd memory as a root");
	GC_remove_roots((char *)r - 64, (char *)r + 4096);
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) == NULL,
	   "GC_remove_roots drops the roots inside its range");
	free(r);
	r = make_rooted();
	GC_clear_roots();
	bu_collect();
	ok(GC_base(BU_REVEAL(hidden[0])) == NULL, "GC_clear_roots drops them all");
	free(r);
	void *h = GC_dlopen("libm.so.6", RTLD_NOW);
	ok(h != NULL, "GC_dlopen");
	if (h)
		dlclose(h);
}

static BU_NOINLINE void alloc_some(size_t n)
{
	for (size_t i = 0; i < n / 1024; i++)
		hidden[i % N] = BU_HIDE(GC_malloc(1000));
}

static void test_statistics(void)
{
	GC_gcollect();
	size_t total = GC_get_total_bytes(), since = GC_get_bytes_since_gc();
	alloc_some(1 << 20);
	cmp_uint(GC_get_total_bytes(), >=, total + (1 << 20) - 4096, "GC_get_total_bytes counts");
	cmp_uint(GC_get_bytes_since_gc(), >=, since + (1 << 20) - 65536,
		 "GC_get_bytes_since_gc counts");
	size_t heap = GC_get_heap_size(), fr = GC_get_free_bytes();
	cmp_uint(heap, >=, 1 << 20, "GC_get_heap_size");
	cmp_uint(fr, <, heap, "GC_get_free_bytes is less");
	GC_word n = GC_get_gc_no();
	GC_gcollect();
	is_uint(GC_get_gc_no(), n + 1, "GC_get_gc_no counts collections");
	cmp_uint(GC_get_bytes_since_gc(), <, 1 << 20, "GC_get_bytes_since_gc drops at a collection");
	GC_word h, f, u, s, t;
	GC_get_heap_usage_safe(&h, &f, &u, &s, &t);
	ok(h == GC_get_heap_size() && t == GC_get_total_bytes(),
	   "GC_get_heap_usage_safe agrees with the single getters");
	GC_get_heap_usage_safe(NULL, NULL, NULL, NULL, NULL);
	ok(1, "GC_get_heap_usage_safe takes NULL");
	cmp_uint(GC_get_unmapped_bytes() + h, <=, GC_get_obtained_from_os_bytes(),
		 "GC_get_unmapped_bytes: not in the heap size, obtained from the OS");
}

static void test_dump(void)
{
	char path[] = "/tmp/t-boehm-dump.XXXXXX";
	int fd = mkstemp(path);
	fflush(stdout);
	int saved = dup(1);
	dup2(fd, 1);
	GC_dump();
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	char buf[8192] = {0};
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	unlink(path);
	cmp_int(n, >, 100, "GC_dump prints");
	ok(strstr(buf, "collections:") && strstr(buf, "static roots:") && strstr(buf, "threads:"),
	   "the heap, collections, roots and threads");
}

/* Boehm's pacing: collections come sooner for a live heap of strings than
 * for one of pointers, and the free-space divisor scales both. */
static unsigned collections_during(size_t garbage)
{
	GC_word before = GC_get_gc_no();
	churn(garbage, 1);
	return (unsigned)(GC_get_gc_no() - before);
}

static unsigned paced(int atomic, GC_word divisor)
{
	enum { LIVE = 4096 };
	void **live = GC_malloc_uncollectable(LIVE * sizeof(void *));
	for (int i = 0; i < LIVE; i++)
		live[i] = atomic ? GC_malloc_atomic(4000) : GC_malloc(4000);
	GC_set_free_space_divisor(divisor);
	GC_gcollect(); /* finds the live heap's mix */
	GC_gcollect(); /* and sets the pace from it */
	unsigned n = collections_during(48 << 20);
	GC_free(live);
	GC_set_free_space_divisor(3);
	GC_gcollect();
	return n;
}

static void test_pacing(void)
{
	const char *env = getenv("GOHEAP_GOGC");
	if ((env && *env) || tap_under_valgrind()) {
		skip(env && *env ? "GOHEAP_GOGC is set" : "under Valgrind", "pacing");
		return;
	}
	unsigned strings = paced(1, 3), pointers = paced(0, 3), loose = paced(0, 1);
	diag("collections during 48 MiB of garbage over a 16 MiB live heap: %u (strings), "
	     "%u (pointers), %u (pointers, divisor 1)", strings, pointers, loose);
	cmp_uint(strings, >=, 2 * pointers, "a heap of strings is collected more often (Boehm's rule)");
	cmp_uint(pointers, >, loose, "a larger free-space divisor collects more often");
}

static void test_signals(void)
{
	int s = GC_get_suspend_signal();
	const char *env = getenv("GOHEAP_SIGNAL");
	if (env && *env)
		cmp_int(s, >, 0, "GC_get_suspend_signal");
	else
		is_int(s, SIGPWR, "GC_get_suspend_signal is libgoheap's stop signal");
	cmp_int(GC_get_thr_restart_signal(), >, 0, "GC_get_thr_restart_signal");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_disable_nests),
	TAP_TEST(test_start_callback),
	TAP_TEST(test_warn_proc),
	TAP_TEST(test_call_with_alloc_lock),
	TAP_TEST(test_settings),
	TAP_TEST(test_expand_and_max),
	TAP_TEST(test_handle_fork),
	TAP_TEST(test_roots),
	TAP_TEST(test_statistics),
	TAP_TEST(test_dump),
	TAP_TEST(test_pacing),
	TAP_TEST(test_signals),
};

int main(int argc, char **argv)
{
	GC_INIT();
	return TAP_MAIN(argc, argv, tests);
}
