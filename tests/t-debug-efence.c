/*
 * t-debug-efence: GOHEAP_DEBUG=efence=1 catches a use after free and an
 * overrun at the faulting access.
 *
 * The program runs itself again with the mode set (it is read when the
 * library loads).  Each fault is provoked in a child process whose SIGSEGV
 * handler reports the faulting address (si_addr) through a pipe; the parent
 * checks that the child died in the handler and that the address is the
 * one the child touched: the freed block, or the first byte past the end.
 */
#include <goheap.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* The block as the compiler cannot size it: goheap_malloc's alloc_size
 * tells it the size asked for, but these tests use the whole usable size
 * and read or write past it on purpose, which _FORTIFY_SOURCE and
 * UBSan's object-size check would otherwise stop. */
static inline void *launder(void *p)
{
	__asm__("" : "+r"(p));
	return p;
}

static int report_fd = -1;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr;
	ssize_t w = write(report_fd, &a, sizeof a);
	(void)w;
	_exit(42);
}

/* Run fn in a child; its return value is the address it will touch last.
 * Returns the address the child faulted at, or 0 with *status set. */
static uintptr_t fault_in_child(uintptr_t (*fn)(uintptr_t *expect), uintptr_t *expect,
				int *status)
{
	int p[2];
	if (pipe(p) != 0)
		bail_out("pipe: %s", strerror(errno));
	/* The child writes the expected address first, then the fault. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		uintptr_t e = 0;
		fn(&e);
		/* fn returns only if nothing faulted: no fault address. */
		e = 0;
		ssize_t w = write(p[1], &e, sizeof e);
		(void)w;
		_exit(0);
	}
	close(p[1]);
	uintptr_t got[2] = {0, 0};
	size_t n = 0;
	while (n < sizeof got) {
		ssize_t r = read(p[0], (char *)got + n, sizeof got - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(p[0]);
	waitpid(pid, status, 0);
	*expect = got[0];
	return n == sizeof got ? got[1] : 0;
}

/* The children: each publishes what it expects to fault on through *e
 * before it touches it.  The pipe is written in order: expect, fault. */
static void publish(uintptr_t a)
{
	ssize_t w = write(report_fd, &a, sizeof a);
	(void)w;
}

static uintptr_t use_after_free(uintptr_t *e)
{
	char *p = goheap_malloc(100);
	p[0] = 1;
	goheap_free(p);
	publish((uintptr_t)p);
	*e = (uintptr_t)p;
	return *(volatile char *)p;
}

static uintptr_t overrun(uintptr_t *e)
{
	char *p = launder(goheap_malloc_atomic(1000));
	size_t n = goheap_usable_size(p);
	memset(p, 7, n); /* the whole usable block is fine */
	publish((uintptr_t)(p + n));
	*e = (uintptr_t)(p + n);
	return (uintptr_t)(((volatile char *)p)[n] = 1);
}

/* Blocks whose only references are hidden from the collector; a stale
 * word on the stack may keep one or two, so make several. */
enum { NHIDDEN = 32 };
static uintptr_t hidden[NHIDDEN];

static __attribute__((noinline)) void drop_blocks(void)
{
	for (int i = 0; i < NHIDDEN; i++)
		hidden[i] = (uintptr_t)goheap_malloc(64) ^ 0x5555;
}

static uintptr_t swept(uintptr_t *e)
{
	drop_blocks();
	goheap_gc();
	goheap_gc();
	/* A block the collector freed is no block any more. */
	char *p = NULL;
	for (int i = 0; i < NHIDDEN && !p; i++)
		if (!goheap_base((void *)(hidden[i] ^ 0x5555)))
			p = (char *)(hidden[i] ^ 0x5555);
	if (!p)
		return 0; /* nothing freed: the child exits 0, the test fails */
	publish((uintptr_t)p);
	*e = (uintptr_t)p;
	return *(volatile char *)p;
}

static uintptr_t large_after_free(uintptr_t *e)
{
	char *p = goheap_malloc(100000);
	goheap_free(p);
	publish((uintptr_t)p + 50000);
	*e = (uintptr_t)p + 50000;
	return ((volatile char *)p)[50000];
}

static void check_fault(const char *what, uintptr_t (*fn)(uintptr_t *))
{
	int status = 0;
	uintptr_t expect = 0;
	uintptr_t got = fault_in_child(fn, &expect, &status);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 42,
	   "%s: the child died of SIGSEGV in its handler (status %#x)", what, status);
	ok(expect != 0 && got == expect, "%s: at the access, %#lx (expected %#lx)", what,
	   (unsigned long)got, (unsigned long)expect);
}

static void test_use_after_free(void)
{
	check_fault("use after goheap_free", use_after_free);
}

static void test_overrun(void)
{
	check_fault("write one byte past the block", overrun);
}

static void test_swept(void)
{
	check_fault("use after the collector freed the block", swept);
}

static void test_large(void)
{
	check_fault("use of a freed large block", large_after_free);
}

/* Blocks work as blocks; freed addresses are not handed out again. */
static void test_works(void)
{
	enum { N = 200 };
	static char *blocks[N];
	int bad = 0, reused = 0, aligned = 0, badsize = 0;
	for (int i = 0; i < N; i++) {
		size_t n = 1 + (size_t)i * 37;
		blocks[i] = i % 2 ? goheap_malloc(n) : goheap_calloc(1, n);
		for (size_t k = 0; k < n; k++)
			bad += blocks[i][k] != 0;
		memset(blocks[i], i, n);
		aligned += ((uintptr_t)blocks[i] & 15) == 0;
		size_t u = goheap_usable_size(blocks[i]);
		badsize += u < n || u >= n + 16;
	}
	is_int(badsize, 0, "usable sizes are the requests rounded up to 16");
	is_int(bad, 0, "blocks come zeroed");
	is_int(aligned, N, "blocks are 16-byte aligned");
	char *q = goheap_realloc(blocks[10], 5000);
	ok(q && q[0] == 10 && q[369] == 10, "realloc keeps the contents");
	blocks[10] = q;
	for (int i = 0; i < N; i++)
		goheap_free(blocks[i]);
	for (int i = 0; i < N; i++) {
		char *p = goheap_malloc(64);
		for (int k = 0; k < N; k++)
			reused += p == blocks[k];
		goheap_free(p);
	}
	is_int(reused, 0, "no freed address is handed out again");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_works),
	TAP_TEST(test_use_after_free),
	TAP_TEST(test_overrun),
	TAP_TEST(test_swept),
	TAP_TEST(test_large),
};

int main(int argc, char **argv)
{
	/* The mode is read when the library loads: run again with it. */
	const char *d = getenv("GOHEAP_DEBUG");
	if (!d || strcmp(d, "efence=1") != 0) {
		setenv("GOHEAP_DEBUG", "efence=1", 1);
		execv("/proc/self/exe", argv);
		bail_out("execv: %s", strerror(errno));
	}
	return TAP_MAIN(argc, argv, tests);
}
