/*
 * t-gc-stop: a registered thread that never acknowledges the stop signal
 * (it blocks it) gets a one-line "goheap:" diagnostic naming it, and the
 * collection is skipped instead of hanging; once the thread unblocks the
 * signal, collections work again.  Runs in a child with a short
 * GOHEAP_STOP_TIMEOUT, its stderr captured through a pipe.
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

static volatile int phase; /* 0: blocking, 1: unblock, 2: done */
static volatile long tid;

static void *stubborn(void *arg)
{
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPWR); /* the default stop signal */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	goheap_register_thread();
	tid = (long)gettid();
	while (phase == 0)
		usleep(1000);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (phase == 1)
		usleep(1000);
	goheap_unregister_thread();
	return NULL;
}

/* The child: exit status bit 0: the skipped collection counted; bit 1:
 * a collection after unblocking did not run. */
static int child(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, stubborn, NULL) != 0)
		return 64;
	while (!tid)
		usleep(1000);
	goheap_memstats m;
	goheap_read_memstats(&m);
	uint32_t before = m.numgc;
	goheap_gc(); /* must come back after the timeout */
	goheap_read_memstats(&m);
	int status = m.numgc != before ? 1 : 0;
	fprintf(stdout, "%ld\n", tid);
	fflush(stdout);
	phase = 1;
	usleep(50000);
	before = m.numgc;
	goheap_gc();
	goheap_read_memstats(&m);
	if (m.numgc == before)
		status |= 2;
	phase = 2;
	pthread_join(t, NULL);
	return status;
}

static void test_unacknowledged_stop(void)
{
	int err[2], out[2];
	if (!ok(pipe(err) == 0 && pipe(out) == 0, "pipes"))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(err[1], 2);
		dup2(out[1], 1);
		close(err[0]);
		close(out[0]);
		_exit(child());
	}
	close(err[1]);
	close(out[1]);
	char ebuf[4096] = {0}, obuf[64] = {0};
	size_t n = 0;
	ssize_t r;
	while (n < sizeof ebuf - 1 && (r = read(err[0], ebuf + n, sizeof ebuf - 1 - n)) > 0)
		n += (size_t)r;
	if (read(out[0], obuf, sizeof obuf - 1) < 0)
		obuf[0] = 0;
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st), "the child was not hung or killed (status %#x)", st);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) & 1 : -1, 0,
	       "the collection that could not stop the thread was skipped");
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) & 2 : -1, 0,
	       "collections run again once the thread takes the signal");
	int lines = 0;
	for (char *p = ebuf; *p; p++)
		lines += *p == '\n';
	is_int(lines, 1, "exactly one line on stderr");
	ok(strncmp(ebuf, "goheap: ", 8) == 0, "it starts with \"goheap: \" (%s)", ebuf);
	char want[64];
	snprintf(want, sizeof want, "thread %ld ", atol(obuf));
	ok(strstr(ebuf, want) != NULL, "it names the thread (%s)", want);
}

int main(int argc, char **argv)
{
	/* Set before the library reads it: the child inherits it too. */
	if (!getenv("GOHEAP_STOP_TIMEOUT")) {
		setenv("GOHEAP_STOP_TIMEOUT", "300", 1);
		execv(argv[0], argv);
	}
	static const struct tap_test tests[] = {
		TAP_TEST(test_unacknowledged_stop),
	};
	return TAP_MAIN(argc, argv, tests);
}
