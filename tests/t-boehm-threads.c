/*
 * t-boehm-threads: the Boehm thread entry points of the libgc.so.1
 * drop-in.  Built with GC_THREADS, so that <goheap/gc.h> redirects
 * pthread_create and friends to GC_pthread_create and friends, as in a
 * Boehm program.
 */
#include <pthread.h>
#include <signal.h>

#include "boehm-util.h"
#include "tap.h"

static GC_word hidden_arg;

static void *child(void *arg)
{
	void **a = arg;
	usleep(100000); /* a collection runs meanwhile */
	return a[0];
}

static BU_NOINLINE void start_child(pthread_t *t)
{
	void **arg = GC_malloc(2 * sizeof(void *));
	arg[0] = GC_malloc(16);
	hidden_arg = BU_HIDE(arg[0]);
	pthread_create(t, NULL, child, arg);
}

static void test_create_join(void)
{
	pthread_t t;
	start_child(&t);
	bu_collect();
	void *ret = NULL;
	is_int(pthread_join(t, &ret), 0, "pthread_join (GC_pthread_join)");
	is_ptr(ret, BU_REVEAL(hidden_arg), "the thread ran with its argument");
	ok(GC_base(ret) == ret, "an argument referenced only by the thread lives");
}

static int returned; /* atomic */

static void *make_result(void *arg)
{
	(void)arg;
	void *p = GC_malloc(64);
	hidden_arg = BU_HIDE(p);
	__atomic_store_n(&returned, 1, __ATOMIC_RELEASE);
	return p;
}

/* What a thread returns lives until it is joined: the thread is gone, and
 * the value sits only in the C library's record of it. */
static void test_result_until_join(void)
{
	pthread_t t;
	__atomic_store_n(&returned, 0, __ATOMIC_RELEASE);
	pthread_create(&t, NULL, make_result, NULL);
	while (!__atomic_load_n(&returned, __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(100000);
	bu_collect();
	void *ret = NULL;
	pthread_join(t, &ret);
	ok(ret == BU_REVEAL(hidden_arg) && GC_base(ret) == ret,
	   "a thread's result lives until pthread_join");
}

static void *exiter(void *arg)
{
	pthread_exit(arg);
}

static void test_exit_detach(void)
{
	pthread_t t;
	pthread_create(&t, NULL, exiter, (void *)42);
	void *ret;
	pthread_join(t, &ret);
	is_ptr(ret, (void *)42, "pthread_exit (GC_pthread_exit) returns through join");
	pthread_create(&t, NULL, exiter, NULL);
	is_int(pthread_detach(t), 0, "pthread_detach (GC_pthread_detach)");
}

static void test_sigmask(void)
{
	sigset_t all, old, now;
	sigfillset(&all);
	is_int(pthread_sigmask(SIG_BLOCK, &all, &old), 0, "GC_pthread_sigmask");
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	int sig = GC_get_suspend_signal();
	ok(!sigismember(&now, sig), "it never blocks the suspend signal");
	ok(sigismember(&now, SIGUSR1), "but blocks the others");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void *returns_cd(void *cd)
{
	return cd;
}

static void *with_base(struct GC_stack_base *sb, void *arg)
{
	int local;
	*(int *)arg = sb->mem_base != NULL && (char *)sb->mem_base > (char *)&local;
	return sb->mem_base;
}

static void test_stack_base(void)
{
	struct GC_stack_base sb;
	int local;
	is_int(GC_get_stack_base(&sb), GC_SUCCESS, "GC_get_stack_base");
	ok((char *)sb.mem_base > (char *)&local, "above the caller's frame");
	int good = 0;
	GC_call_with_stack_base(with_base, &good);
	ok(good, "GC_call_with_stack_base passes the stack base");
	ok(GC_stackbottom != NULL && GC_stackbottom > (char *)&local,
	   "GC_stackbottom is the main thread's stack base");
	is_ptr(GC_do_blocking(returns_cd, &local), &local, "GC_do_blocking calls fn");
	is_ptr(GC_call_with_gc_active(returns_cd, &local), &local, "GC_call_with_gc_active calls fn");
	GC_allow_register_threads();
	ok(GC_thread_is_registered(), "the main thread is registered");
}

/* Many threads allocate lists while collections run. */
struct node {
	struct node *next;
	long v;
};

static void *builder(void *arg)
{
	long id = (long)arg, bad = 0;
	for (int round = 0; round < 20; round++) {
		struct node *list = NULL;
		for (long i = 0; i < 2000; i++) {
			struct node *n = GC_MALLOC(sizeof *n);
			n->v = i * 7 + id;
			n->next = list;
			list = n;
		}
		for (long i = 1999; list; list = list->next, i--)
			bad += list->v != i * 7 + id;
		if (round % 5 == 0)
			GC_gcollect();
	}
	return (void *)bad;
}

static void test_threads_allocate(void)
{
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, builder, (void *)i);
	long bad = 0;
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	is_int(bad, 0, "four threads' lists survive concurrent collections intact");
}

/* A thread the collector knows nothing of registers itself. */
#undef pthread_create
#undef pthread_join

static GC_word raw_hidden;
static int raw_phase; /* atomic */

static BU_NOINLINE void **raw_alloc(void)
{
	void **p = GC_malloc(64);
	raw_hidden = BU_HIDE(p);
	return p;
}

static void *raw_thread(void *arg)
{
	int *res = arg;
	struct GC_stack_base sb;
	GC_get_stack_base(&sb);
	res[0] = GC_register_my_thread(&sb);
	res[1] = GC_register_my_thread(&sb);
	void **volatile p = raw_alloc(); /* on this stack only */
	__atomic_store_n(&raw_phase, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&raw_phase, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	res[2] = GC_base(p) == p;
	res[3] = GC_unregister_my_thread();
	return NULL;
}

static void test_register_my_thread(void)
{
	int res[4] = {-1, -1, -1, -1};
	pthread_t t;
	pthread_create(&t, NULL, raw_thread, res);
	while (__atomic_load_n(&raw_phase, __ATOMIC_ACQUIRE) != 1)
		usleep(1000);
	bu_collect();
	__atomic_store_n(&raw_phase, 2, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	is_int(res[0], GC_SUCCESS, "GC_register_my_thread");
	is_int(res[1], GC_DUPLICATE, "again: GC_DUPLICATE");
	ok(res[2], "an object on a registered thread's stack lives through a collection");
	is_int(res[3], GC_SUCCESS, "GC_unregister_my_thread");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_create_join),
	TAP_TEST(test_result_until_join),
	TAP_TEST(test_exit_detach),
	TAP_TEST(test_sigmask),
	TAP_TEST(test_stack_base),
	TAP_TEST(test_threads_allocate),
	TAP_TEST(test_register_my_thread),
};

int main(int argc, char **argv)
{
	GC_INIT();
	return TAP_MAIN(argc, argv, tests);
}
