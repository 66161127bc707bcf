/*
 * t-signal - the collector and the program's own signals (stw_linux.c).
 *
 *   - A program that handles the collector's default signal (SIGPWR)
 *     before the library loads keeps its handler; the collector takes a
 *     free real-time signal, silently, and still stops threads.
 *   - GOHEAP_SIGNAL set explicitly to a signal the program handles: one
 *     "goheap:" line, and the same fallback.
 *   - A program that takes the signal after the library loaded: one
 *     "goheap:" line and collections with several threads are skipped,
 *     never a hang or a crash.
 *   - The program's own handlers keep running while collections stop its
 *     threads, and a stop leaves errno as it was.
 *   - A write blocked on a full pipe never fails with EINTR because of
 *     collections (it may return a short count, as with any signal).
 * (Calls blocked in read, poll, nanosleep and condition waits are tested
 * in t-gc-threads.)
 */
#include <goheap.h>

#include <sched.h>
#include <stdatomic.h>

#include "child.h"
#include "tap.h"

static char out[1 << 14];
static char lib[4096], prog[4096];

static void paths(void)
{
	const char *b = getenv("top_builddir");
	if (!b || !*b)
		b = ".";
	snprintf(lib, sizeof lib, "%s/lib/.libs/libgoheap.so.1", b);
	snprintf(prog, sizeof prog, "%s/tests/signal-child", b);
	if (lib[0] != '/') {
		/* dlopen wants a path with a slash; make it absolute. */
		char *abs = realpath(lib, NULL);
		if (abs && strlen(abs) < sizeof lib)
			strcpy(lib, abs);
		free(abs);
	}
}

static int field(const char *name)
{
	const char *p = strstr(out, name);
	return p ? atoi(p + strlen(name)) : -1;
}

static int count_lines(const char *prefix)
{
	int n = 0;
	for (const char *p = out; (p = strstr(p, prefix)); p++)
		n++;
	return n;
}

/* Run signal-child with its handler for sig, in mode (NULL: none), with
 * GOHEAP_SIGNAL set to env (NULL: unset); its output in out. */
static int run_signal_child(int sig, const char *mode, const char *env)
{
	paths();
	char s[16];
	snprintf(s, sizeof s, "%d", sig);
	char *argv[] = {prog, s, lib, (char *)mode, NULL};
	return child_exec(prog, argv, "GOHEAP_SIGNAL", env, out, sizeof out);
}

static void test_default_signal_taken(void)
{
	int st = run_signal_child(SIGPWR, NULL, NULL);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the program starts and runs (status %#x)", st);
	is_int(count_lines("goheap:"), 0, "no diagnostic for the default signal");
	cmp_int(field("numgc "), >=, 5, "collections stop the other thread");
	is_int(field("own "), 0, "the program's SIGPWR handler never ran");
	int s = field("stopsig ");
	ok(s >= SIGRTMIN && s <= SIGRTMAX, "the collector took real-time signal %d", s);
	if (!WIFEXITED(st) || field("numgc ") < 5)
		diag("%s", out);
}

static void test_explicit_signal_taken(void)
{
	char sig[16];
	snprintf(sig, sizeof sig, "%d", SIGUSR1);
	int st = run_signal_child(SIGUSR1, NULL, sig);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the program starts and runs (status %#x)", st);
	is_int(count_lines("goheap:"), 1, "one diagnostic line");
	ok(strstr(out, "goheap: GOHEAP_SIGNAL=10: the program already handles signal 10") != NULL,
	   "naming the variable and the signal");
	cmp_int(field("numgc "), >=, 5, "collections still stop the other thread");
	is_int(field("own "), 0, "the program's handler never ran");
	if (count_lines("goheap:") != 1)
		diag("%s", out);
}

static void test_signal_stolen_later(void)
{
	int st = run_signal_child(SIGPWR, "late", NULL);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the program runs to the end (status %#x)", st);
	is_int(count_lines("goheap:"), 1, "one diagnostic line, however many collections");
	ok(strstr(out, "replaced the handler of signal") != NULL, "saying the handler was replaced");
	is_int(field("numgc "), 0, "collections that would need the signal are skipped");
	is_int(field("own "), 0, "the program's handler never got a stop signal");
	if (count_lines("goheap:") != 1)
		diag("%s", out);
}

/* A signal that cannot be sent (tgkill refused by a seccomp filter, as
 * qemu-user refuses its highest real-time signals): at load, the library
 * silently takes another; after, collections with several threads are
 * skipped with one line -- a thread the signal did not reach must never
 * be taken for a stopped one. */
static void test_signal_unsendable(void)
{
	int st = run_signal_child(SIGPWR, "nosend", NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3 && strstr(out, "no seccomp")) {
		skip("no seccomp filters here (qemu-user)",
		     "a signal that cannot be sent, before and after load");
		return;
	}
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "refused before load: the program runs (status %#x)",
	   st);
	is_int(count_lines("goheap:"), 0, "no diagnostic");
	cmp_int(field("numgc "), >=, 5, "collections stop the other thread");
	int s = field("stopsig ");
	ok(s >= SIGRTMIN && s <= SIGRTMAX, "with real-time signal %d", s);
	if (count_lines("goheap:") != 0 || field("numgc ") < 5)
		diag("%s", out);

	st = run_signal_child(SIGPWR, "nosend-late", NULL);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "refused after load: the program runs (status %#x)",
	   st);
	is_int(count_lines("goheap:"), 1, "one diagnostic line, however many collections");
	ok(strstr(out, "goheap: cannot send signal") != NULL, "saying the signal cannot be sent");
	is_int(field("numgc "), 0, "collections that would need the signal are skipped");
	if (count_lines("goheap:") != 1 || field("numgc ") != 0)
		diag("%s", out);
}

/* ---- In this process: the program's handlers and errno ---- */

static atomic_int handled, stop_churn;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

static void *churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_churn)) {
		void *volatile p = goheap_malloc(256);
		(void)p;
	}
	return NULL;
}

static atomic_int errno_bad, errno_checks;

static void *errno_keeper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_churn)) {
		errno = 0;
		if (close(-1) == 0 || errno != EBADF)
			continue;
		/* Spin a little with errno set, so that stops land here. */
		for (volatile int i = 0; i < 1000; i++)
			;
		if (errno != EBADF)
			atomic_fetch_add(&errno_bad, 1);
		atomic_fetch_add(&errno_checks, 1);
	}
	return NULL;
}

static void test_own_handlers_and_errno(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	atomic_store(&stop_churn, 0);
	pthread_t c, e;
	ok(goheap_pthread_create(&c, NULL, churn, NULL) == 0, "a churning thread");
	ok(goheap_pthread_create(&e, NULL, errno_keeper, NULL) == 0, "an errno-checking thread");
	goheap_memstats m;
	m.size = sizeof m;
	goheap_read_memstats(&m);
	uint32_t gc0 = m.numgc;
	int sent = 0, lost = 0;
	for (int i = 0; i < 200; i++) {
		int want = atomic_load(&handled) + 1;
		pthread_kill(e, SIGUSR1);
		sent++;
		/* Wait for the handler: the thread may be stopped for a
		 * collection meanwhile, which only delays it. */
		int spins = 0;
		while (atomic_load(&handled) < want && spins++ < 2000000)
			sched_yield();
		if (atomic_load(&handled) < want)
			lost++;
		if (i % 20 == 0)
			goheap_gc();
	}
	atomic_store(&stop_churn, 1);
	pthread_join(c, NULL);
	pthread_join(e, NULL);
	goheap_read_memstats(&m);
	cmp_uint(m.numgc - gc0, >=, 10, "collections ran meanwhile");
	is_int(lost, 0, "each of %d SIGUSR1 signals reached the program's handler", sent);
	is_int(atomic_load(&handled), sent, "exactly once each");
	cmp_int(atomic_load(&errno_checks), >, 0, "errno was checked");
	is_int(atomic_load(&errno_bad), 0, "no stop changed a thread's errno");
	signal(SIGUSR1, SIG_DFL);
}

/* ---- A write blocked on a full pipe while collections stop its thread ---- */

static int pipefd[2];
static size_t wrote;
static int write_errno, short_writes;
static atomic_int writer_blocked;

static void *writer(void *arg)
{
	(void)arg;
	static char big[256 << 10];
	memset(big, 'x', sizeof big);
	atomic_store(&writer_blocked, 1);
	/* Far more than the pipe holds: the call blocks until the reader
	 * drains it, across the collections that run meanwhile.  A stop
	 * that comes after part of it was written ends it early with a
	 * short count (as any signal does): the loop that robust code has
	 * anyway finishes the job.  EINTR must never come. */
	while (wrote < sizeof big) {
		ssize_t r = write(pipefd[1], big + wrote, sizeof big - wrote);
		if (r < 0) {
			write_errno = errno;
			break;
		}
		wrote += (size_t)r;
		if (wrote < sizeof big)
			short_writes++;
	}
	close(pipefd[1]);
	return NULL;
}

static void test_blocked_write(void)
{
	if (!ok(pipe(pipefd) == 0, "a pipe"))
		return;
	pthread_t w;
	ok(goheap_pthread_create(&w, NULL, writer, NULL) == 0, "a writer thread");
	while (!atomic_load(&writer_blocked))
		sched_yield();
	usleep(20000); /* let it block in write */
	for (int i = 0; i < 20; i++)
		goheap_gc();
	static char buf[64 << 10];
	size_t got = 0;
	while (got < (256 << 10)) {
		ssize_t r = read(pipefd[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		goheap_gc();
	}
	pthread_join(w, NULL);
	is_int(write_errno, 0, "write never failed (errno %d; EINTR is %d)", write_errno, EINTR);
	is_uint(wrote, 256 << 10, "the writer wrote everything");
	diag("%d short writes (a stop after part of a write ends it early)", short_writes);
	is_uint(got, 256 << 10, "the reader got it all");
	close(pipefd[0]);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_blocked_write),
	TAP_TEST(test_default_signal_taken),
	TAP_TEST(test_explicit_signal_taken),
	TAP_TEST(test_signal_stolen_later),
	TAP_TEST(test_signal_unsendable),
	TAP_TEST(test_own_handlers_and_errno),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
