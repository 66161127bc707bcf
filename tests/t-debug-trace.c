/*
 * t-debug-trace: GOHEAP_DEBUG=allocfreetrace=1 writes one line per
 * allocation and free to GOHEAP_TRACE_FILE, in order, with the block's
 * address, size, kind, thread and a short backtrace that names the caller
 * (the test is built with -export-dynamic, so dladdr(3) can).
 *
 * The program runs itself again with the mode set, since it is read when
 * the library loads.
 */
#include <goheap.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tap.h"

static char trace_path[] = "/tmp/t-debug-trace-XXXXXX";

void traced_calls(void **p, void **q, void **r);

/* The known sequence. */
__attribute__((noinline)) void traced_calls(void **p, void **q, void **r)
{
	*p = goheap_malloc(100);
	*q = goheap_malloc_atomic(40000);
	goheap_free(*p);
	goheap_free(*q);
	*r = goheap_calloc(3, 8);
	__asm__ volatile("" ::: "memory");
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t k;
	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* The line of the trace that starts with prefix, searching from *from;
 * moves *from past it.  NULL if none. */
static char *find_line(char **from, const char *prefix)
{
	for (char *l = *from; l && *l;) {
		char *nl = strchr(l, '\n');
		if (strncmp(l, prefix, strlen(prefix)) == 0) {
			*from = nl ? nl + 1 : l + strlen(l);
			if (nl)
				*nl = 0;
			return l;
		}
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static void test_sequence(void)
{
	void *p, *q, *r;
	traced_calls(&p, &q, &r);
	char *trace = read_all(trace_path);
	ok(trace != NULL, "trace file readable");
	if (!trace)
		return;
	long tid = syscall(SYS_gettid);
	char want[256];
	char *at = trace;
	struct {
		const char *what;
		void *ptr;
		const char *rest;
	} seq[] = {
		{"alloc", p, "size 112 kind scan"},
		{"alloc", q, "size 40960 kind atomic"},
		{"free", p, "size 112 kind scan"},
		{"free", q, "size 40960 kind atomic"},
		{"alloc", r, "size 32 kind scan"},
	};
	for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		snprintf(want, sizeof want, "goheap: %s %p %s thread %ld at", seq[i].what,
			 seq[i].ptr, seq[i].rest, tid);
		char *line = find_line(&at, want);
		ok(line != NULL, "line %zu in order: %s", i + 1, want);
		if (line) {
			ok(strstr(line, " traced_calls+") != NULL,
			   "its backtrace starts in the caller: %s", line);
		}
	}
	free(trace);
}

static void test_collector(void)
{
	/* Blocks dropped without a free: some are freed by the collector
	 * and traced as such (a conservative collector may keep a few). */
	enum { N = 64 };
	uintptr_t hidden[N];
	for (int i = 0; i < N; i++)
		hidden[i] = (uintptr_t)goheap_malloc(48) ^ 0xa5a5;
	goheap_gc();
	goheap_gc();
	char *trace = read_all(trace_path);
	ok(trace != NULL, "trace file readable");
	if (!trace)
		return;
	int found = 0;
	for (int i = 0; i < N; i++) {
		char want[128];
		snprintf(want, sizeof want, "goheap: free-by-gc %p size 48 kind scan",
			 (void *)(hidden[i] ^ 0xa5a5));
		found += strstr(trace, want) != NULL;
	}
	cmp_int(found, >=, N / 2, "collector frees are traced (%d of %d)", found, N);
	free(trace);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_sequence),
	TAP_TEST(test_collector),
};

int main(int argc, char **argv)
{
	const char *d = getenv("GOHEAP_DEBUG");
	if (!d || strcmp(d, "allocfreetrace=1") != 0) {
		int fd = mkstemp(trace_path);
		if (fd < 0)
			bail_out("mkstemp: %s", strerror(errno));
		close(fd);
		setenv("GOHEAP_DEBUG", "allocfreetrace=1", 1);
		setenv("GOHEAP_TRACE_FILE", trace_path, 1);
		execv("/proc/self/exe", argv);
		bail_out("execv: %s", strerror(errno));
	}
	const char *path = getenv("GOHEAP_TRACE_FILE");
	if (!path || strlen(path) >= sizeof trace_path)
		bail_out("GOHEAP_TRACE_FILE not set");
	strcpy(trace_path, path);
	int rc = TAP_MAIN(argc, argv, tests);
	unlink(trace_path);
	return rc;
}
