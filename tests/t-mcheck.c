/*
 * t-mcheck - the heap checker, GOHEAP_DEBUG=check=1 (lib/mcheck.c).
 *
 * The checker runs at every collection; a program that uses the heap
 * correctly must never trip it, and one that writes into a block it freed
 * must be stopped with one line naming the invariant it broke.  Both run
 * as children of this program, with the option set in their environment
 * (tests/child.h).
 */
#include <goheap.h>

#include "child.h"
#include "tap.h"

static char out[1 << 16];

static void no_op_fin(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
}

/* A busy, varied heap: every kind, large blocks, frees by hand, realloc,
 * finalizers, weak links (in a table and in blocks), heap profile samples,
 * several threads, and collections all along. */
static void *churn_thread(void *arg)
{
	uint64_t seed = (uintptr_t)arg;
	struct tap_rng r = tap_rng_init(seed);
	void *keep[512] = {0};
	void **links = calloc(64, sizeof *links);
	size_t offs[1] = {0};
	goheap_type *t = goheap_type_new(16, offs, 1);
	for (int i = 0; i < 20000; i++) {
		size_t k = tap_rng_range(&r, 0, 511);
		size_t n = tap_rng_range(&r, 1, i % 97 == 0 ? 300000 : 2000);
		void *o = keep[tap_rng_range(&r, 0, 511)];
		if (o && goheap_usable_size(o) >= 16) {
			switch (tap_rng_range(&r, 0, 15)) {
			case 0:
				goheap_set_finalizer(o, no_op_fin, NULL);
				break;
			case 1:
				if (links)
					goheap_register_weak_link(&links[k % 64], o);
				break;
			case 2:
				if (keep[k] && goheap_usable_size(keep[k]) >= 16)
					goheap_register_weak_link(keep[k], o);
				break;
			default:
				break;
			}
		}
		switch (tap_rng_range(&r, 0, 5)) {
		case 0:
			keep[k] = goheap_malloc(n);
			break;
		case 1:
			keep[k] = goheap_malloc_atomic(n);
			break;
		case 2:
			keep[k] = t ? goheap_malloc_typed((n + 15) & ~(size_t)15, t) : NULL;
			break;
		case 3:
			keep[k] = goheap_realloc(keep[k], n);
			break;
		case 4:
			if (keep[k] && goheap_usable_size(keep[k]) >= 16 &&
			    tap_rng_range(&r, 0, 1))
				goheap_free(keep[k]);
			keep[k] = NULL;
			break;
		default:
			keep[k] = goheap_calloc(n, 2);
			break;
		}
		if (i % 5000 == 0)
			goheap_gc();
	}
	for (size_t j = 0; links && j < 64; j++)
		goheap_unregister_weak_link(&links[j]);
	free(links);
	return NULL;
}

static int child_churn(void)
{
	pthread_t th[3];
	goheap_set_profile_rate(4096);
	for (int i = 0; i < 3; i++)
		if (goheap_pthread_create(&th[i], NULL, churn_thread, (void *)(uintptr_t)(i + 1)))
			return 2;
	churn_thread((void *)(uintptr_t)9);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	goheap_gc();
	goheap_memstats m;
	m.size = sizeof m;
	goheap_read_memstats(&m);
	printf("collections %u\n", m.numgc);
	return 0;
}

/* Free every other block of a few spans' worth, then write over the free
 * tag of each freed block, as a use after free would, and collect. */
static int child_corrupt(void)
{
	enum { N = 4096 };
	static char *blocks[N];
	goheap_gc();
	for (int i = 0; i < N; i++)
		if (!(blocks[i] = goheap_malloc(64)))
			return 2;
	for (int i = 1; i < N; i += 2)
		goheap_free(blocks[i]);
	for (int i = 1; i < N; i += 2)
		memset(blocks[i] + 8, 0, 8);
	goheap_gc();
	printf("not stopped\n");
	return 0;
}

static void test_clean_heap_passes(void)
{
	int st = child_run("GOHEAP_DEBUG", "check=1", "churn", NULL, out, sizeof out);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a correct program runs to the end with check=1");
	ok(!strstr(out, "heap check"), "no heap check failed");
	unsigned n = 0;
	const char *c = strstr(out, "collections ");
	if (c)
		n = (unsigned)strtoul(c + 12, NULL, 10);
	cmp_uint(n, >=, 8, "the checker had collections to run at");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strstr(out, "heap check"))
		diag("child output: %s", out);
}

static void test_use_after_free_is_named(void)
{
	int st = child_run("GOHEAP_DEBUG", "check=1", "corrupt", NULL, out, sizeof out);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "the checker aborts (status %#x)", st);
	ok(strstr(out, "goheap: heap check: block free list: ") != NULL,
	   "it names the broken invariant");
	ok(strstr(out, "has no free tag") != NULL, "and says what is wrong");
	const char *nl = strchr(out, '\n');
	ok(nl && !strchr(nl + 1, '\n') && strncmp(out, "goheap: ", 8) == 0,
	   "in one line");
	if (!strstr(out, "heap check"))
		diag("child output: %s", out);
}

static void test_off_by_default(void)
{
	int st = child_run("GOHEAP_DEBUG", NULL, "corrupt", NULL, out, sizeof out);
	ok(WIFEXITED(st) && strstr(out, "not stopped"),
	   "without check=1 the same program is not checked (status %#x)", st);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_clean_heap_passes),
	TAP_TEST(test_use_after_free_is_named),
	TAP_TEST(test_off_by_default),
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return strcmp(argv[2], "churn") == 0 ? child_churn() : child_corrupt();
	return TAP_MAIN(argc, argv, tests);
}
