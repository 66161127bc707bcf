/*
 * t-lockrank - the lock-order checker of --enable-debug builds
 * (lib/lockrank.c): a lock taken out of order aborts the program with one
 * line naming both locks, before it can deadlock.
 *
 * The test makes a real misorder through the public API alone.  A fork
 * handler registered before libgoheap's own runs after them (POSIX calls
 * prepare handlers in reverse order of registration), so while the library
 * holds every lock its fork handlers take; one registered from the
 * program's preinit array, which runs before any library's constructor,
 * is such a handler.  If it calls goheap_add_roots, that takes the roots
 * lock while the heap profile's lock, the last one, is held.  In a release
 * build the call would wait forever for a lock its own thread holds: the
 * test is skipped there.  The children run with an alarm, so that a broken
 * checker fails the test instead of hanging it.
 */
#include "config.h"

#include <goheap.h>

#include <pthread.h>
#include <signal.h>

#include "child.h"
#include "lockrank.h"
#include "tap.h"

static char out[256];
static int root_word;

static void prepare_misordered(void)
{
	goheap_add_roots(&root_word, &root_word + 1);
}

static void prepare_nothing(void)
{
}

/* From the preinit array: before libgoheap's constructor registers its
 * fork handlers.  glibc passes it the program's arguments, which say the
 * mode; getenv does not work yet. */
static void register_handler(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 3 || strcmp(argv[1], "--child") != 0)
		return;
	if (strcmp(argv[2], "misordered") == 0)
		pthread_atfork(prepare_misordered, NULL, NULL);
	else
		pthread_atfork(prepare_nothing, NULL, NULL);
}

typedef void preinit_fn(int argc, char **argv, char **envp);
__attribute__((section(".preinit_array"), used)) static preinit_fn *const preinit =
	register_handler;

/* Use the heap (every lock of it gets taken), then fork. */
static int child_fork(void)
{
	alarm(30);
	void *keep[64];
	for (int i = 0; i < 64; i++)
		keep[i] = goheap_malloc((size_t)16 << (i % 14));
	goheap_gc();
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	printf("forked %p\n", keep[63]);
	return 0;
}

static void test_misorder_aborts(void)
{
	int st = child_run("GOHEAP_DEBUG", NULL, "misordered", NULL, out, sizeof out);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "a misordered lock aborts (status %#x)",
	   st);
	char want[128];
	snprintf(want, sizeof want,
		 "goheap: lock order: taking roots (rank %d) while holding prof (rank %d)\n",
		 GH_RANK_ROOTS, GH_RANK_PROF);
	is_str(out, want, "with one line naming the lock taken and the last one held");
}

static void test_fork_in_order_passes(void)
{
	int st = child_run("GOHEAP_DEBUG", NULL, "inorder", NULL, out, sizeof out);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "fork, which takes every lock in order (324 of one rank), passes (status %#x)", st);
	ok(strncmp(out, "forked ", 7) == 0 && !strstr(out, "goheap:"), "without a diagnostic");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		diag("child output: %s", out);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_misorder_aborts),
	TAP_TEST(test_fork_in_order_passes),
};

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return child_fork();
#ifndef GH_DEBUG
	skip_all("the lock-order checker is in --enable-debug builds only");
#endif
	return TAP_MAIN(argc, argv, tests);
}
