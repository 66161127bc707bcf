/*
 * t-oom: the operating system refuses memory.
 *
 * In a forked child whose address space is limited (RLIMIT_AS) to what it
 * uses now plus 256 MiB, 16 MiB blocks and then 1 KiB blocks are
 * allocated until goheap says no.  It must say so with NULL and ENOMEM,
 * not crash; a realloc that cannot be met must leave its block alone; and
 * once half of the blocks are freed the heap must serve both sizes again.
 * The child sends what it saw through a pipe.
 *
 * Valgrind manages the address space itself, so the limit means nothing
 * there and the test is skipped under it.
 */
#include <goheap.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

enum {
	MiB = 1 << 20,
	LARGE = 16 * MiB,
	SMALL = 1024,
	HEADROOM = 256 * MiB,
	MAX_LARGE = 1024,
	MAX_SMALL = 1 << 20,
};

/* What the child reports. */
struct findings {
	int setup_errno;     /* non-zero: the limit could not be set */
	long long vmsize_kib;
	size_t nlarge, nsmall;
	int large_errno, small_errno;
	int realloc_null, realloc_errno, realloc_kept;
	int calloc_null, calloc_errno;
	int large_again, small_again;
	size_t survivors_smashed;
};

/* Filled before the limit is set, so that they need no memory after. */
static unsigned char *large[MAX_LARGE];
static unsigned char *small[MAX_SMALL];

static long long vmsize_kib(void)
{
	char line[256];
	long long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmSize: %lld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void run_out_of_memory(struct findings *f)
{
	f->vmsize_kib = vmsize_kib();
	if (f->vmsize_kib <= 0) {
		f->setup_errno = ENOENT;
		return;
	}
	rlim_t limit = (rlim_t)f->vmsize_kib * 1024 + HEADROOM;
	struct rlimit rl = { limit, limit };
	if (setrlimit(RLIMIT_AS, &rl) != 0) {
		f->setup_errno = errno;
		return;
	}

	for (f->nlarge = 0; f->nlarge < MAX_LARGE; f->nlarge++) {
		errno = 0;
		unsigned char *p = goheap_malloc(LARGE);
		if (p == NULL) {
			f->large_errno = errno;
			break;
		}
		p[0] = p[LARGE - 1] = 1;
		large[f->nlarge] = p;
	}
	for (f->nsmall = 0; f->nsmall < MAX_SMALL; f->nsmall++) {
		errno = 0;
		unsigned char *p = goheap_malloc(SMALL);
		if (p == NULL) {
			f->small_errno = errno;
			break;
		}
		memset(p, (int)(f->nsmall % 251) + 1, SMALL);
		small[f->nsmall] = p;
	}

	/* With the space used up, a big realloc and calloc fail cleanly. */
	if (f->nsmall > 0) {
		errno = 0;
		unsigned char *q = goheap_realloc(small[0], 4 * LARGE);
		f->realloc_null = q == NULL;
		f->realloc_errno = errno;
		if (q != NULL)
			small[0] = q;
		f->realloc_kept = q == NULL && small[0][0] == 1 &&
				  small[0][SMALL - 1] == 1;
	}
	errno = 0;
	void *c = goheap_calloc(LARGE / 8, 16);
	f->calloc_null = c == NULL;
	f->calloc_errno = errno;
	goheap_free(c);

	for (size_t i = 0; i < f->nlarge; i += 2) {
		goheap_free(large[i]);
		large[i] = NULL;
	}
	for (size_t i = 0; i < f->nsmall; i += 2) {
		goheap_free(small[i]);
		small[i] = NULL;
	}
	unsigned char *p = goheap_malloc(LARGE);
	f->large_again = p != NULL;
	goheap_free(p);
	p = goheap_malloc(SMALL);
	f->small_again = p != NULL;
	goheap_free(p);

	for (size_t i = 1; i < f->nsmall; i += 2) {
		unsigned char want = (unsigned char)(i % 251 + 1);
		if (small[i][0] != want || small[i][SMALL - 1] != want)
			f->survivors_smashed++;
		goheap_free(small[i]);
	}
	for (size_t i = 1; i < f->nlarge; i += 2)
		goheap_free(large[i]);
}

static void test_out_of_memory(void)
{
	struct findings f;
	int fds[2];

	memset(&f, 0, sizeof f);
	if (pipe(fds) != 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		run_out_of_memory(&f);
		_exit(write(fds[1], &f, sizeof f) == (ssize_t)sizeof f ? 0 : 3);
	}
	close(fds[1]);
	size_t len = 0;
	while (len < sizeof f) {
		ssize_t got = read(fds[0], (char *)&f + len, sizeof f - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bail_out("waitpid: %s", strerror(errno));

	if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"the child ran out of memory without crashing")) {
		if (WIFSIGNALED(status))
			diag("it died of signal %d", WTERMSIG(status));
		else
			diag("it exited with status %d", WEXITSTATUS(status));
	}
	if (!is_uint(len, sizeof f, "it reported what it saw"))
		return;
	if (!is_int(f.setup_errno, 0, "the address-space limit was set"))
		return;
	diag("VmSize %lld KiB, limit +256 MiB: %zu blocks of 16 MiB, then "
	     "%zu of 1 KiB",
	     f.vmsize_kib, f.nlarge, f.nsmall);
	cmp_uint(f.nlarge, >=, 4, "several 16 MiB blocks fit under the limit");
	cmp_uint(f.nlarge, <, MAX_LARGE, "but not without end");
	is_int(f.large_errno, ENOMEM, "the failing 16 MiB request set ENOMEM");
	cmp_uint(f.nsmall, >, 0, "1 KiB blocks still fit after that");
	cmp_uint(f.nsmall, <, MAX_SMALL, "but not without end");
	is_int(f.small_errno, ENOMEM, "the failing 1 KiB request set ENOMEM");
	ok(f.realloc_null, "a 64 MiB realloc failed");
	is_int(f.realloc_errno, ENOMEM, "with ENOMEM");
	ok(f.realloc_kept, "and left its block as it was");
	ok(f.calloc_null, "a 16 MiB calloc failed");
	is_int(f.calloc_errno, ENOMEM, "with ENOMEM");
	ok(f.large_again, "after freeing half, 16 MiB can be allocated again");
	ok(f.small_again, "and 1 KiB too");
	is_uint(f.survivors_smashed, 0,
		"the blocks not freed kept their contents");
}

static const struct tap_test tests[] = {
	TAP_TEST(test_out_of_memory),
};

int main(int argc, char **argv)
{
	if (tap_under_valgrind())
		skip_all("address-space limits are not enforceable under "
			 "valgrind");
	return TAP_MAIN(argc, argv, tests);
}
