/*
 * t-badinput: goheap_free of something that is not a live block.
 *
 * Freeing an interior pointer, a stack, static or wild address, a block
 * of another allocator, or a block twice must abort the process with
 * exactly one line on stderr that starts with "goheap:" and names the
 * pointer as %p prints it.  Each case runs in a forked child whose stderr
 * goes through a pipe; the parent checks that the child died of SIGABRT
 * and what it wrote.
 */
#include <goheap.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* What a case does in the child: free things, the last of them bad. */
typedef void (*bad_op)(void *arg);

struct outcome {
	int status;
	char err[4096];
};

static void run_child(bad_op op, void *arg, struct outcome *out)
{
	int fds[2];
	if (pipe(fds) != 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		/* No core files from the expected aborts. */
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) < 0)
			_exit(126);
		close(fds[1]);
		op(arg);
		_exit(0); /* the bad free returned: a failure */
	}
	close(fds[1]);
	size_t len = 0;
	for (;;) {
		ssize_t got = read(fds[0], out->err + len,
				   sizeof out->err - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		if (len == sizeof out->err - 1)
			break;
	}
	out->err[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &out->status, 0) < 0)
		if (errno != EINTR)
			bail_out("waitpid: %s", strerror(errno));
}

/* Run op in a child and check the abort and its one line naming ptr. */
static void expect_abort(const char *what, bad_op op, void *arg,
			 const void *ptr)
{
	struct outcome out;
	char name[64];

	memset(&out, 0, sizeof out);
	snprintf(name, sizeof name, "%p", ptr);
	run_child(op, arg, &out);

	int aborted = WIFSIGNALED(out.status) &&
		      WTERMSIG(out.status) == SIGABRT;
	if (!ok(aborted, "%s: the process aborts", what)) {
		if (WIFEXITED(out.status))
			diag("it exited with status %d",
			     WEXITSTATUS(out.status));
		else if (WIFSIGNALED(out.status))
			diag("it died of signal %d", WTERMSIG(out.status));
	}
	size_t len = strlen(out.err);
	const char *nl = strchr(out.err, '\n');
	int one_line = len > 0 && nl == out.err + len - 1;
	if (!ok(one_line, "%s: stderr is exactly one line", what))
		diag("stderr: \"%s\"", out.err);
	if (!ok(strncmp(out.err, "goheap:", 7) == 0,
		"%s: the line starts with \"goheap:\"", what))
		diag("stderr: \"%s\"", out.err);
	if (!ok(strstr(out.err, name) != NULL, "%s: the line names %s", what,
		name))
		diag("stderr: \"%s\"", out.err);
}

static void free_it(void *p)
{
	goheap_free(p);
}

static void free_twice(void *p)
{
	goheap_free(p);
	goheap_free(p);
}

/* Moves the block with realloc, then frees the old address. */
static void free_after_realloc(void *p)
{
	void *q = goheap_realloc(p, 100000);
	if (q == p || q == NULL)
		_exit(3); /* the case cannot be set up */
	goheap_free(p);
}

static void test_interior_pointers(void)
{
	static const size_t sizes[] = { 16, 100, 4096, 32768, 40000, 1 << 20 };
	static const size_t offsets[] = { 1, 8, 16, 4095, 8192 };

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = goheap_malloc(sizes[i]);
		for (size_t j = 0; j < sizeof offsets / sizeof offsets[0];
		     j++) {
			char what[96];
			if (offsets[j] >= sizes[i])
				continue;
			snprintf(what, sizeof what,
				 "free of %zu-byte block + %zu", sizes[i],
				 offsets[j]);
			expect_abort(what, free_it, p + offsets[j],
				     p + offsets[j]);
		}
		goheap_free(p);
	}
	unsigned char *a = goheap_malloc_atomic(1000);
	expect_abort("free of atomic block + 16", free_it, a + 16, a + 16);
	goheap_free(a);
}

static int static_object[16];

static void test_foreign_addresses(void)
{
	int stack_object[16] = { 0 };
	void *sys = malloc(64);
	const char *literal = "a string literal";

	expect_abort("free of a stack address", free_it, stack_object,
		     stack_object);
	expect_abort("free of a static address", free_it, static_object,
		     static_object);
	expect_abort("free of a string literal", free_it, (void *)literal,
		     literal);
	expect_abort("free of a system malloc block", free_it, sys, sys);
	void *wild = (void *)(uintptr_t)0xdead0000;
	expect_abort("free of a wild address", free_it, wild, wild);
	wild = (void *)((uintptr_t)1 << 46);
	expect_abort("free of a wild high address", free_it, wild, wild);
	free(sys);
}

static void test_double_free(void)
{
	static const size_t sizes[] = { 16, 100, 32768, 40000, 1 << 20 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char what[64];
		void *p = goheap_malloc(sizes[i]);
		snprintf(what, sizeof what, "double free of %zu bytes",
			 sizes[i]);
		expect_abort(what, free_twice, p, p);
		void *q = goheap_malloc_atomic(sizes[i]);
		snprintf(what, sizeof what, "double free of %zu atomic bytes",
			 sizes[i]);
		expect_abort(what, free_twice, q, q);
		goheap_free(p);
		goheap_free(q);
	}

	/* A block freed by the parent is just as dead in the child. */
	unsigned char *keep = goheap_malloc(48);
	void *gone = goheap_malloc(48);
	goheap_free(gone);
	expect_abort("free of a block freed before", free_it, gone, gone);
	goheap_free(keep);

	void *p = goheap_malloc(64);
	expect_abort("free of the old address after realloc moved it",
		     free_after_realloc, p, p);
	goheap_free(p);
}

/* The start of a slot that no live block occupies. */
static void test_free_slot(void)
{
	unsigned char *p = goheap_malloc(208);
	unsigned char *slot = NULL;
	for (int k = 1; k <= 8 && slot == NULL; k++)
		if (goheap_base(p + 208 * k) == NULL)
			slot = p + 208 * k;
	if (ok(slot != NULL, "a free slot near a 208-byte block was found"))
		expect_abort("free of an unallocated slot", free_it, slot,
			     slot);
	goheap_free(p);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_interior_pointers),
	TAP_TEST(test_foreign_addresses),
	TAP_TEST(test_double_free),
	TAP_TEST(test_free_slot),
};

int main(int argc, char **argv)
{
	return TAP_MAIN(argc, argv, tests);
}
