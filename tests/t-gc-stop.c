/*
 * t-gc-stop: a registered thread that never acknowledges the stop signal
 * (it blocks it) gets a one-line "goheap:" diagnostic naming it, and the
 * collection is skipped instead of hanging; once the thread unblocks the
 * signal, collections work again.  The same while another registered
 * thread, which does stop, holds stderr's stdio lock: the diagnostic must
 * not wait for that lock (the thread holding it is parked until the world
 * runs again).  Each case runs in a child (the program run again with
 * --child) with a short GOHEAP_STOP_TIMEOUT, its output captured through a
 * pipe; a child that hangs is killed by its own alarm.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goheap.h"
#include "tap.h"
#include "child.h"

/* Shared with the thread: atomics, which ThreadSanitizer sees. */
static int phase; /* 0: blocking, 1: unblock, 2: done */
static long tid;

static int get_phase(void)
{
	return __atomic_load_n(&phase, __ATOMIC_ACQUIRE);
}

static void set_phase(int p)
{
	__atomic_store_n(&phase, p, __ATOMIC_RELEASE);
}

static void *stubborn(void *arg)
{
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPWR); /* the default stop signal */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	goheap_register_thread();
	__atomic_store_n(&tid, (long)gettid(), __ATOMIC_RELEASE);
	while (get_phase() == 0)
		usleep(1000);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (get_phase() == 1)
		usleep(1000);
	goheap_unregister_thread();
	return NULL;
}

/* A child that hangs is killed by SIGALRM after this many seconds. */
#define CHILD_ALARM 60

/* The child: exit status bit 0: the skipped collection counted; bit 1:
 * a collection after unblocking did not run. */
static int child(void)
{
	alarm(CHILD_ALARM);
	pthread_t t;
	if (pthread_create(&t, NULL, stubborn, NULL) != 0)
		return 64;
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	printf("tid %ld\n", __atomic_load_n(&tid, __ATOMIC_ACQUIRE));
	fflush(stdout);
	goheap_memstats m;
	goheap_read_memstats(&m);
	uint32_t before = m.numgc;
	goheap_gc(); /* must come back after the timeout */
	goheap_read_memstats(&m);
	int status = m.numgc != before ? 1 : 0;
	set_phase(1);
	usleep(50000);
	before = m.numgc;
	goheap_gc();
	goheap_read_memstats(&m);
	if (m.numgc == before)
		status |= 2;
	set_phase(2);
	pthread_join(t, NULL);
	return status;
}

/* Holds stderr's stdio lock from when it is registered until phase 2;
 * it takes the stop signal meanwhile. */
static int held;

static void *holder(void *arg)
{
	(void)arg;
	goheap_register_thread();
	flockfile(stderr);
	__atomic_store_n(&held, 1, __ATOMIC_RELEASE);
	while (get_phase() < 2)
		usleep(1000);
	funlockfile(stderr);
	goheap_unregister_thread();
	return NULL;
}

/* The child of the stdio case: exit status bit 0: the collection was not
 * skipped.  A hang is an alarm's SIGALRM. */
static int child_stdio(void)
{
	alarm(CHILD_ALARM);
	pthread_t s, h;
	if (pthread_create(&s, NULL, stubborn, NULL) != 0 ||
	    pthread_create(&h, NULL, holder, NULL) != 0)
		return 64;
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE) || !__atomic_load_n(&held, __ATOMIC_ACQUIRE))
		usleep(1000);
	printf("tid %ld\n", __atomic_load_n(&tid, __ATOMIC_ACQUIRE));
	fflush(stdout);
	goheap_memstats m;
	goheap_read_memstats(&m);
	uint32_t before = m.numgc;
	goheap_gc(); /* the diagnostic, while the holder keeps stderr locked */
	goheap_read_memstats(&m);
	int status = m.numgc != before ? 1 : 0;
	set_phase(2);
	pthread_join(h, NULL);
	pthread_join(s, NULL);
	return status;
}

/* The child's output: "tid N", then what the library said; checks there
 * is exactly one line of it, a "goheap:" line naming thread N. */
static void check_diagnostic(const char *out)
{
	long tid_seen = strncmp(out, "tid ", 4) == 0 ? atol(out + 4) : 0;
	const char *ebuf = strchr(out, '\n');
	ebuf = ebuf ? ebuf + 1 : out + strlen(out);
	int lines = 0;
	for (const char *p = ebuf; *p; p++)
		lines += *p == '\n';
	is_int(lines, 1, "exactly one line from the library");
	if (lines != 1)
		diag("%s", ebuf);
	ok(strncmp(ebuf, "goheap: ", 8) == 0, "it starts with \"goheap: \" (%.200s)", ebuf);
	char want[64];
	snprintf(want, sizeof want, "thread %ld ", tid_seen);
	ok(tid_seen > 0 && strstr(ebuf, want) != NULL, "it names the thread (%s)", want);
}

static void test_stdio_lock_held(void)
{
	char out[8192];
	int st = child_run("GOHEAP_STOP_TIMEOUT", "300", "stdio", NULL, out, sizeof out);
	ok(st != -1 && WIFEXITED(st),
	   "with stderr locked by a stopped thread, the collection came back (status %#x%s)", st,
	   st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ": hung" : "");
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) & 1 : -1, 0,
	       "the collection that could not stop the thread was skipped");
	check_diagnostic(out);
}

static void test_unacknowledged_stop(void)
{
	/* Run as a program of its own (exec, not a bare fork): the child
	 * starts threads, which ThreadSanitizer refuses in the child of a
	 * threaded process. */
	char out[8192];
	int st = child_run("GOHEAP_STOP_TIMEOUT", "300", "stop", NULL, out, sizeof out);
	ok(st != -1 && WIFEXITED(st), "the child was not hung or killed (status %#x)", st);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) & 1 : -1, 0,
	       "the collection that could not stop the thread was skipped");
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) & 2 : -1, 0,
	       "collections run again once the thread takes the signal");
	check_diagnostic(out);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--child") == 0)
		return strcmp(argv[2], "stdio") == 0 ? child_stdio() : child();
	static const struct tap_test tests[] = {
		TAP_TEST(test_unacknowledged_stop),
		TAP_TEST(test_stdio_lock_held),
	};
	return TAP_MAIN(argc, argv, tests);
}
