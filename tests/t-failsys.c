/*
 * t-failsys - fault injection: GOHEAP_DEBUG=failsys=N makes the Nth request
 * for OS memory fail (lib/mem.h; goheap(7) lists where a refusal is
 * absorbed).  The verdicts rest on what the design guarantees, never on how
 * many failures happen to reach the API: that depends on timing, since a
 * request made while the world is stopped is not failed, and which requests
 * those are depends on when collections start.  The design guarantees:
 *
 *   - one refused request makes at most one call fail, as NULL (or -1, or
 *     an error number) with ENOMEM, never another error, a crash or an
 *     abort; the other calls, before and after it, succeed;
 *   - every block kept stays intact, and the heap consistent at every
 *     collection (the heap checker, check=1, aborts otherwise);
 *   - a refusal that reaches no call was absorbed on a path goheap(7)
 *     lists: a request made while the world was stopped, one of marking's
 *     (which overflows), a reservation of address space (retried at once),
 *     the start-up registration of the loading thread (retried at its
 *     first call), a heap profile sample's (dropped), or one to queue a
 *     finalizer while sweeping (left for the next collection).
 *
 * test_probe shows that refusals do reach the API, deterministically: one
 * thread, no collections, no profile samples and no monitor thread, so the
 * requests are made by the call running, in program order, and only the
 * start-up registration and the reservation retry absorb one.  Each call asks for a block larger than
 * all earlier ones together, which the heap cannot have: it must ask the
 * OS, and its mapping cannot be absorbed.  Sweeping N must make each call
 * fail, in order.
 *
 * test_sweep runs an allocation-heavy, collecting, three-thread workload
 * with the heap checker on for each N over its requests and past them, and
 * checks every child against the guarantees above.
 */
#include <goheap.h>

#include "child.h"
#include "tap.h"

static int api_failures, wrong_errno, broken;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void failed(const char *what)
{
	int e = errno;
	pthread_mutex_lock(&count_lock);
	if (e == ENOMEM) {
		api_failures++;
	} else {
		wrong_errno++;
		printf("%s failed with errno %d, not ENOMEM\n", what, e);
	}
	pthread_mutex_unlock(&count_lock);
}

static void finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
}

static uintptr_t root_area[64];

/* One worker: a ring of kept blocks of every kind, replaced at random,
 * each checked before it is let go. */
static void *work(void *arg)
{
	struct tap_rng r = tap_rng_init((uintptr_t)arg);
	enum { KEEP = 128 };
	struct {
		unsigned char *p;
		size_t n;
		uint64_t tag;
	} keep[KEEP] = {{0}};
	size_t offs[1] = {8};
	goheap_type *t = goheap_type_new(16, offs, 1);
	if (!t)
		failed("goheap_type_new");
	for (int i = 0; i < 1500; i++) {
		size_t k = tap_rng_range(&r, 0, KEEP - 1);
		if (keep[k].p) {
			for (size_t j = 0; j < keep[k].n; j++)
				if (keep[k].p[j] != tap_pattern_byte(keep[k].tag, j)) {
					pthread_mutex_lock(&count_lock);
					broken++;
					pthread_mutex_unlock(&count_lock);
					printf("kept block %p broken at byte %zu\n", (void *)keep[k].p, j);
					break;
				}
		}
		size_t n = tap_rng_range(&r, 1, i % 50 == 0 ? 1 << 20 : 3000);
		unsigned char *p = NULL;
		const char *what = "";
		switch (tap_rng_range(&r, 0, 5)) {
		case 0:
			p = goheap_malloc(n), what = "goheap_malloc";
			break;
		case 1:
			p = goheap_malloc_atomic(n), what = "goheap_malloc_atomic";
			break;
		case 2:
			n = (n + 15) & ~(size_t)15;
			p = t ? goheap_malloc_typed(n, t) : goheap_malloc(n);
			what = "goheap_malloc_typed";
			break;
		case 3:
			p = goheap_calloc(1, n), what = "goheap_calloc";
			break;
		case 4:
			if (keep[k].p) {
				/* realloc: on failure the old block stays. */
				p = goheap_realloc(keep[k].p, n);
				what = "goheap_realloc";
				if (!p) {
					failed(what);
					continue;
				}
				keep[k].p = NULL;
				break;
			}
			p = goheap_malloc(n), what = "goheap_malloc";
			break;
		default:
			if (keep[k].p && tap_rng_range(&r, 0, 1)) {
				goheap_free(keep[k].p);
				keep[k].p = NULL;
				continue;
			}
			p = goheap_malloc(n), what = "goheap_malloc";
			break;
		}
		if (!p) {
			failed(what);
			continue;
		}
		keep[k].p = p;
		keep[k].n = n;
		keep[k].tag = tap_rng_next(&r);
		tap_fill(p, n, keep[k].tag);
		if (i % 100 == 7 && goheap_set_finalizer(p, finalizer, NULL) != 0 && errno != EEXIST)
			failed("goheap_set_finalizer");
		if (i % 300 == 11) {
			if (goheap_add_roots(root_area, root_area + 64) != 0)
				failed("goheap_add_roots");
			else
				goheap_remove_roots(root_area, root_area + 64);
		}
		if (i % 400 == 399)
			goheap_gc();
	}
	for (size_t k = 0; k < KEEP; k++)
		for (size_t j = 0; keep[k].p && j < keep[k].n; j++)
			if (keep[k].p[j] != tap_pattern_byte(keep[k].tag, j)) {
				pthread_mutex_lock(&count_lock);
				broken++;
				pthread_mutex_unlock(&count_lock);
				printf("kept block %p broken at the end\n", (void *)keep[k].p);
				break;
			}
	return NULL;
}

static int child_work(void)
{
	pthread_t th[2];
	int started[2] = {0};
	for (int i = 0; i < 2; i++) {
		int e = goheap_pthread_create(&th[i], NULL, work, (void *)(uintptr_t)(i + 1));
		if (e == 0) {
			started[i] = 1;
		} else {
			errno = e;
			failed("goheap_pthread_create");
		}
	}
	work((void *)(uintptr_t)7);
	for (int i = 0; i < 2; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	goheap_gc();

	/* More, small and large, after the workload: if the refusal came in
	 * it, these must all work; if it comes here, it is the one failure. */
	for (int i = 0; i < 200; i++) {
		size_t n = i % 20 == 0 ? (size_t)(1 << 20) + (size_t)i * 4096 : (size_t)(16 + i * 8);
		unsigned char *p = i % 2 ? goheap_malloc(n) : goheap_malloc_atomic(n);
		if (!p) {
			printf("allocation of %zu bytes after the workload failed\n", n);
			failed("a later allocation");
			continue;
		}
		tap_fill(p, n, (uint64_t)i);
		if (i % 50 == 0)
			goheap_gc();
	}
	goheap_gc();
	printf("api-failures %d wrong-errno %d broken %d\n", api_failures, wrong_errno, broken);
	return wrong_errno || broken || api_failures > 1 ? 1 : 0;
}

/* The probe's calls: call i asks for 2^i MiB, more than calls 0 .. i - 1
 * together, so with nothing collected the heap must grow for each. */
enum { PROBE_CALLS = 7 };

static int child_probe(void)
{
	unsigned char *kept[PROBE_CALLS] = {0};
	size_t size[PROBE_CALLS] = {0};
	int failed_call = -1;
	for (int i = 0; i < PROBE_CALLS; i++) {
		size_t n = (size_t)1 << (20 + i);
		unsigned char *p = NULL;
		const char *what = "";
		switch (i % 4) {
		case 0:
			p = goheap_malloc(n), what = "goheap_malloc";
			break;
		case 1:
			p = goheap_malloc_atomic(n), what = "goheap_malloc_atomic";
			break;
		case 2:
			p = goheap_calloc(1, n), what = "goheap_calloc";
			break;
		default:
			/* Grows the previous call's block, which stays as it
			 * was if this fails. */
			p = goheap_realloc(kept[i - 1], n), what = "goheap_realloc";
			if (p)
				kept[i - 1] = NULL;
			break;
		}
		if (!p) {
			failed(what);
			failed_call = i;
			continue;
		}
		p[0] = p[n - 1] = (unsigned char)(i + 1);
		kept[i] = p;
		size[i] = n;
	}
	for (int i = 0; i < PROBE_CALLS; i++)
		if (kept[i] && (kept[i][0] != i + 1 || kept[i][size[i] - 1] != i + 1)) {
			broken++;
			printf("the block of call %d is broken\n", i);
		}
	printf("probe failed-call %d api-failures %d wrong-errno %d broken %d\n",
	       failed_call, api_failures, wrong_errno, broken);
	return wrong_errno || broken || api_failures > 1 ? 1 : 0;
}

static char out[1 << 16];

/* Set name to value, or unset it for NULL; returns the old value, copied,
 * or NULL. */
static char *swap_env(const char *name, const char *value)
{
	const char *old = getenv(name);
	char *copy = old ? strdup(old) : NULL;
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
	return copy;
}

static void test_probe(void)
{
	static const char *const vars[] = {"GOHEAP_GOGC", "GOHEAP_PROFILE_RATE", "GOHEAP_STATS"};
	static const char *const values[] = {"off", "0", "0"};
	char *saved[3];
	for (int i = 0; i < 3; i++)
		saved[i] = swap_env(vars[i], values[i]);

	/* Up to N = 400, stopping once the last call has failed and five
	 * more requests in a row reached no call: the probe makes no more. */
	int first[PROBE_CALLS] = {0};
	int bad = 0, disorder = 0, prev = -1, quiet = 0, n;
	char absorbed[512] = "";
	size_t alen = 0;
	for (n = 1; n <= 400 && !(first[PROBE_CALLS - 1] && quiet >= 5); n++) {
		char env[64];
		snprintf(env, sizeof env, "failsys=%d", n);
		int st = child_run("GOHEAP_DEBUG", env, "probe", NULL, out, sizeof out);
		const char *c = strstr(out, "probe failed-call ");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !c) {
			if (bad++ < 5)
				diag("probe, failsys=%d: status %#x, output:\n%s", n, st, out);
			continue;
		}
		int call = atoi(c + 18);
		if (call < 0) {
			quiet++;
			if (!first[PROBE_CALLS - 1] && alen < sizeof absorbed - 16)
				alen += (size_t)snprintf(absorbed + alen, sizeof absorbed - alen,
							 " %d", n);
			continue;
		}
		quiet = 0;
		if (call >= PROBE_CALLS)
			continue;
		if (!first[call])
			first[call] = n;
		if (call < prev && disorder++ < 5)
			diag("probe: failsys=%d failed call %d, after failsys=%d failed call "
			     "%d", n, call, n - 1, prev);
		prev = call;
	}
	for (int i = 0; i < 3; i++) {
		free(swap_env(vars[i], saved[i]));
		free(saved[i]);
	}

	is_int(bad, 0, "probe, failsys=1..%d: every child ran to the end, kept its blocks, "
		       "and saw at most one failure, ENOMEM", n - 1);
	int missing = 0;
	char firsts[256] = "";
	size_t flen = 0;
	for (int i = 0; i < PROBE_CALLS; i++) {
		missing += !first[i];
		flen += (size_t)snprintf(firsts + flen, sizeof firsts - flen, " %d", first[i]);
	}
	is_int(missing, 0, "each of the probe's %d calls, which must ask the OS for memory, "
			   "reported a refusal (first at failsys=%s)", PROBE_CALLS, firsts);
	is_int(disorder, 0, "the probe's calls failed in program order as N grew");
	diag("probe: the requests that reached no call (before the last call's): %s",
	     *absorbed ? absorbed : " none");
}

static void test_sweep(void)
{
	/* The workload makes some 60 requests; 150 goes well past them.  A
	 * child takes seconds under Valgrind or ThreadSanitizer (5 s under
	 * TSan, marking concurrently): there fewer, and under TSan every
	 * sixth request only.  If failures still reach the API near the end,
	 * the sweep goes on until 20 requests in a row reached none, up to
	 * three times as far. */
	int last = tap_under_valgrind() || tap_under_tsan() ? 90 : 150;
	int step = tap_under_tsan() ? 6 : 1;
	if (getenv("FAILSYS_LAST"))
		last = atoi(getenv("FAILSYS_LAST"));
	int bad = 0, seen = 0, last_seen = 0, quiet = 0, n, runs = 0;
	for (n = 1; n <= last || (quiet * step < 20 && n <= 3 * last); n += step) {
		char env[64];
		snprintf(env, sizeof env, "failsys=%d,check=1", n);
		int st = child_run("GOHEAP_DEBUG", env, "work", NULL, out, sizeof out);
		const char *c = strstr(out, "api-failures ");
		int f = c ? atoi(c + 13) : 0;
		runs++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !c) {
			if (bad++ < 5)
				diag("failsys=%d: status %#x, output:\n%s", n, st, out);
			quiet = 0;
			continue;
		}
		if (f) {
			seen++;
			last_seen = n;
			quiet = 0;
		} else {
			quiet++;
		}
	}
	is_int(bad, 0, "failsys=1..%d (step %d): every child ran to the end, kept its "
		       "blocks, and saw at most one failure, ENOMEM", n - step, step);
	ok(quiet * step >= 20, "the sweep went past the workload's last request: the "
			       "last %d children saw no failure", quiet);
	diag("%d of %d injected failures reached the API as ENOMEM, the last at "
	     "request %d; the others were absorbed or came after the workload", seen,
	     runs, last_seen);
}

static void test_no_injection(void)
{
	int st = child_run("GOHEAP_DEBUG", "check=1", "work", NULL, out, sizeof out);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "api-failures 0 "),
	   "without failsys the workload sees no failure");
	if (!strstr(out, "api-failures 0 "))
		diag("%s", out);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_no_injection),
	TAP_TEST(test_probe),
	TAP_TEST(test_sweep),
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return strcmp(argv[2], "probe") == 0 ? child_probe() : child_work();
	return TAP_MAIN(argc, argv, tests);
}
