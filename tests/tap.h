/*
 * tap.h - a small header-only TAP producer for libgoheap's tests.
 *
 * Each test program is one subsystem's worth of tests.  It lists its
 * tests in a table and hands the table to tap_main(), which runs them all,
 * or only those named on the command line, so that each test can run
 * alone:
 *
 *	static const struct tap_test tests[] = {
 *		TAP_TEST(test_alignment),
 *		TAP_TEST(test_zeroing),
 *	};
 *	int main(int argc, char **argv)
 *	{
 *		return TAP_MAIN(argc, argv, tests);
 *	}
 *
 * "t-alloc --list" prints the names; "t-alloc test_zeroing" runs one.
 * The plan ("1..N") is printed after the last result, which TAP allows,
 * so that tests need not count their assertions in advance.
 *
 * The assertions print "ok N - name" or "not ok N - name" on stdout.  The
 * comparing ones (is_int, is_uint, is_ptr, is_str, cmp_int, cmp_uint)
 * print both sides as "#" diagnostics when they fail.  Every argument is
 * evaluated exactly once.  They are safe to call from several threads.
 * The program's exit status is 0 when every assertion passed and the
 * number of results matched the plan, non-zero otherwise.  A program that
 * runs longer than TAP_TIMEOUT seconds (default 300) bails out.
 *
 * Below the harness are a few helpers the allocator tests share: a seeded
 * pseudo-random generator, a position-dependent byte pattern to fill
 * blocks with and check, and the GOHEAP_UNDER_VALGRIND switch.
 */
#ifndef GH_TESTS_TAP_H
#define GH_TESTS_TAP_H

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__)
#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TAP_NORETURN __attribute__((noreturn))
#else
#define TAP_PRINTF(f, a)
#define TAP_NORETURN
#endif

/* The harness's state; one copy per test program. */
static pthread_mutex_t tap_lock_ = PTHREAD_MUTEX_INITIALIZER;
static int tap_planned_ = -1; /* -1: plan printed by done_testing() */
static int tap_count_;
static int tap_failed_;

/* Print fmt as diagnostic lines, "# " in front of each line.  Caller
 * holds tap_lock_. */
static inline void tap_vdiag_locked_(const char *fmt, va_list ap)
{
	char buf[4096];
	vsnprintf(buf, sizeof buf, fmt, ap);
	for (char *line = buf; line != NULL;) {
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		printf("# %s\n", line);
		line = nl != NULL && nl[1] != '\0' ? nl + 1 : NULL;
	}
	fflush(stdout);
}

static inline void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&tap_lock_);
	tap_vdiag_locked_(fmt, ap);
	pthread_mutex_unlock(&tap_lock_);
	va_end(ap);
}

/* Announce n assertions.  Optional: without it the plan comes last. */
static inline void plan(int n)
{
	pthread_mutex_lock(&tap_lock_);
	tap_planned_ = n;
	printf("1..%d\n", n);
	fflush(stdout);
	pthread_mutex_unlock(&tap_lock_);
}

/* Skip the whole program: the only output is the plan with the reason. */
static inline TAP_NORETURN void skip_all(const char *fmt, ...) TAP_PRINTF(1, 2);
static inline TAP_NORETURN void skip_all(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("1..0 # SKIP %s\n", buf);
	fflush(stdout);
	exit(0);
}

/* Give up: the TAP consumer reports the whole program as failed. */
static inline TAP_NORETURN void bail_out(const char *fmt, ...) TAP_PRINTF(1, 2);
static inline TAP_NORETURN void bail_out(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	printf("Bail out! %s\n", buf);
	fflush(stdout);
	exit(255);
}

/* Print one result.  A '#' in the name would start a TAP directive, so it
 * becomes a '_'.  Caller holds tap_lock_. */
static inline void tap_result_locked_(int pass, const char *file, int line,
				      const char *fmt, va_list ap)
{
	char name[512];
	vsnprintf(name, sizeof name, fmt, ap);
	for (char *c = name; *c != '\0'; c++)
		if (*c == '#' || *c == '\n')
			*c = '_';
	tap_count_++;
	if (!pass)
		tap_failed_++;
	printf("%sok %d - %s\n", pass ? "" : "not ", tap_count_, name);
	if (!pass)
		printf("#   Failed test at %s line %d.\n", file, line);
	fflush(stdout);
}

static inline int tap_ok_(int pass, const char *file, int line,
			  const char *fmt, ...) TAP_PRINTF(4, 5);
static inline int tap_ok_(int pass, const char *file, int line,
			  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&tap_lock_);
	tap_result_locked_(pass, file, line, fmt, ap);
	pthread_mutex_unlock(&tap_lock_);
	va_end(ap);
	return pass;
}

/* ok(condition, "name %d", args...) */
#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* skip("why", "name %d", args...): a result that cannot be had in this
 * build, reported as a TAP skip with the reason. */
static inline void skip(const char *why, const char *fmt, ...) TAP_PRINTF(2, 3);
static inline void skip(const char *why, const char *fmt, ...)
{
	char name[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	for (char *c = name; *c != '\0'; c++)
		if (*c == '#' || *c == '\n')
			*c = '_';
	pthread_mutex_lock(&tap_lock_);
	tap_count_++;
	printf("ok %d - %s # SKIP %s\n", tap_count_, name, why);
	fflush(stdout);
	pthread_mutex_unlock(&tap_lock_);
}

/* A result whose failure is explained by two diagnostic lines. */
static inline int tap_vcompare_(int pass, const char *file, int line,
				const char *got, const char *expected,
				const char *fmt, va_list ap)
{
	pthread_mutex_lock(&tap_lock_);
	tap_result_locked_(pass, file, line, fmt, ap);
	if (!pass) {
		printf("#          got: %s\n", got);
		printf("#     expected: %s\n", expected);
		fflush(stdout);
	}
	pthread_mutex_unlock(&tap_lock_);
	return pass;
}

static inline int tap_is_int_(intmax_t g, intmax_t e, const char *gs,
			      const char *es, const char *file, int line,
			      const char *fmt, ...) TAP_PRINTF(7, 8);
static inline int tap_is_int_(intmax_t g, intmax_t e, const char *gs,
			      const char *es, const char *file, int line,
			      const char *fmt, ...)
{
	char got[256], exp[256];
	va_list ap;
	snprintf(got, sizeof got, "%jd (%s)", g, gs);
	snprintf(exp, sizeof exp, "%jd (%s)", e, es);
	va_start(ap, fmt);
	int pass = tap_vcompare_(g == e, file, line, got, exp, fmt, ap);
	va_end(ap);
	return pass;
}

static inline int tap_is_uint_(uintmax_t g, uintmax_t e, const char *gs,
			       const char *es, const char *file, int line,
			       const char *fmt, ...) TAP_PRINTF(7, 8);
static inline int tap_is_uint_(uintmax_t g, uintmax_t e, const char *gs,
			       const char *es, const char *file, int line,
			       const char *fmt, ...)
{
	char got[256], exp[256];
	va_list ap;
	snprintf(got, sizeof got, "%ju = %#jx (%s)", g, g, gs);
	snprintf(exp, sizeof exp, "%ju = %#jx (%s)", e, e, es);
	va_start(ap, fmt);
	int pass = tap_vcompare_(g == e, file, line, got, exp, fmt, ap);
	va_end(ap);
	return pass;
}

static inline int tap_is_ptr_(const void *g, const void *e, const char *gs,
			      const char *es, const char *file, int line,
			      const char *fmt, ...) TAP_PRINTF(7, 8);
static inline int tap_is_ptr_(const void *g, const void *e, const char *gs,
			      const char *es, const char *file, int line,
			      const char *fmt, ...)
{
	char got[256], exp[256];
	va_list ap;
	snprintf(got, sizeof got, "%p (%s)", g, gs);
	snprintf(exp, sizeof exp, "%p (%s)", e, es);
	va_start(ap, fmt);
	int pass = tap_vcompare_(g == e, file, line, got, exp, fmt, ap);
	va_end(ap);
	return pass;
}

static inline int tap_is_str_(const char *g, const char *e, const char *gs,
			      const char *es, const char *file, int line,
			      const char *fmt, ...) TAP_PRINTF(7, 8);
static inline int tap_is_str_(const char *g, const char *e, const char *gs,
			      const char *es, const char *file, int line,
			      const char *fmt, ...)
{
	char got[512], exp[512];
	va_list ap;
	int pass = (g == NULL && e == NULL) ||
		   (g != NULL && e != NULL && strcmp(g, e) == 0);
	snprintf(got, sizeof got, "%s%s%s (%s)", g ? "\"" : "",
		 g ? g : "NULL", g ? "\"" : "", gs);
	snprintf(exp, sizeof exp, "%s%s%s (%s)", e ? "\"" : "",
		 e ? e : "NULL", e ? "\"" : "", es);
	va_start(ap, fmt);
	pass = tap_vcompare_(pass, file, line, got, exp, fmt, ap);
	va_end(ap);
	return pass;
}

/* The relation named by op ("<", "<=", "==", "!=", ">=", ">") between a
 * comparison result c (<0, 0, >0); -1 for an unknown op. */
static inline int tap_relation_(const char *op, int c)
{
	if (strcmp(op, "<") == 0)
		return c < 0;
	if (strcmp(op, "<=") == 0)
		return c <= 0;
	if (strcmp(op, "==") == 0)
		return c == 0;
	if (strcmp(op, "!=") == 0)
		return c != 0;
	if (strcmp(op, ">=") == 0)
		return c >= 0;
	if (strcmp(op, ">") == 0)
		return c > 0;
	return -1;
}

static inline int tap_cmp_int_(intmax_t a, const char *op, intmax_t b,
			       const char *as, const char *bs,
			       const char *file, int line, const char *fmt,
			       ...) TAP_PRINTF(8, 9);
static inline int tap_cmp_int_(intmax_t a, const char *op, intmax_t b,
			       const char *as, const char *bs,
			       const char *file, int line, const char *fmt,
			       ...)
{
	char got[256], exp[256];
	va_list ap;
	int pass = tap_relation_(op, (a > b) - (a < b));
	if (pass < 0)
		bail_out("cmp_int: unknown operator %s", op);
	snprintf(got, sizeof got, "%jd (%s)", a, as);
	snprintf(exp, sizeof exp, "%s %jd (%s)", op, b, bs);
	va_start(ap, fmt);
	pass = tap_vcompare_(pass, file, line, got, exp, fmt, ap);
	va_end(ap);
	return pass;
}

static inline int tap_cmp_uint_(uintmax_t a, const char *op, uintmax_t b,
				const char *as, const char *bs,
				const char *file, int line, const char *fmt,
				...) TAP_PRINTF(8, 9);
static inline int tap_cmp_uint_(uintmax_t a, const char *op, uintmax_t b,
				const char *as, const char *bs,
				const char *file, int line, const char *fmt,
				...)
{
	char got[256], exp[256];
	va_list ap;
	int pass = tap_relation_(op, (a > b) - (a < b));
	if (pass < 0)
		bail_out("cmp_uint: unknown operator %s", op);
	snprintf(got, sizeof got, "%ju = %#jx (%s)", a, a, as);
	snprintf(exp, sizeof exp, "%s %ju = %#jx (%s)", op, b, b, bs);
	va_start(ap, fmt);
	pass = tap_vcompare_(pass, file, line, got, exp, fmt, ap);
	va_end(ap);
	return pass;
}

/* is_int(got, expected, "name", ...) and friends: pass when equal. */
#define is_int(got, expected, ...)                                            \
	tap_is_int_((intmax_t)(got), (intmax_t)(expected), #got, #expected,   \
		    __FILE__, __LINE__, __VA_ARGS__)
#define is_uint(got, expected, ...)                                           \
	tap_is_uint_((uintmax_t)(got), (uintmax_t)(expected), #got,           \
		     #expected, __FILE__, __LINE__, __VA_ARGS__)
#define is_ptr(got, expected, ...)                                            \
	tap_is_ptr_((const void *)(got), (const void *)(expected), #got,      \
		    #expected, __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, expected, ...)                                            \
	tap_is_str_((got), (expected), #got, #expected, __FILE__, __LINE__,   \
		    __VA_ARGS__)
/* cmp_uint(a, >=, b, "name", ...): pass when a op b holds. */
#define cmp_int(a, op, b, ...)                                                \
	tap_cmp_int_((intmax_t)(a), #op, (intmax_t)(b), #a, #b, __FILE__,     \
		     __LINE__, __VA_ARGS__)
#define cmp_uint(a, op, b, ...)                                               \
	tap_cmp_uint_((uintmax_t)(a), #op, (uintmax_t)(b), #a, #b, __FILE__,  \
		      __LINE__, __VA_ARGS__)

/* Print the plan if none was given and return the exit status: 0 when
 * every result passed and their number matched the plan. */
static inline int done_testing(void)
{
	int status;
	pthread_mutex_lock(&tap_lock_);
	if (tap_planned_ < 0) {
		printf("1..%d\n", tap_count_);
		tap_planned_ = tap_count_;
	} else if (tap_planned_ != tap_count_) {
		printf("# planned %d tests but ran %d\n", tap_planned_,
		       tap_count_);
	}
	if (tap_failed_ > 0)
		printf("# failed %d of %d tests\n", tap_failed_, tap_count_);
	fflush(stdout);
	status = tap_failed_ > 0 || tap_planned_ != tap_count_;
	pthread_mutex_unlock(&tap_lock_);
	return status;
}

/* ----------------------------------------------------------------------
 * Running a table of tests.
 */

/* A hung test fails instead of holding up "make check": after TAP_TIMEOUT
 * seconds (default 300, 0 for none) the program bails out. */
static inline void tap_timed_out_(int sig)
{
	static const char msg[] = "Bail out! timed out (TAP_TIMEOUT)\n";
	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0)
		_exit(254);
	_exit(254);
}

static inline void tap_arm_timeout_(void)
{
	const char *t = getenv("TAP_TIMEOUT");
	unsigned seconds = t != NULL && *t != '\0'
				   ? (unsigned)strtoul(t, NULL, 10)
				   : 300;
	if (seconds > 0) {
		signal(SIGALRM, tap_timed_out_);
		alarm(seconds);
	}
}
struct tap_test {
	const char *name;
	void (*run)(void);
};
#define TAP_TEST(fn) { #fn, fn }
#define TAP_MAIN(argc, argv, table)                                           \
	tap_main((argc), (argv), (table), sizeof(table) / sizeof((table)[0]))

static inline void tap_seed_from_env_(void);

/* Run every test of the table, or those named in argv[1..]; "--list"
 * prints the names.  Returns done_testing()'s status. */
static inline int tap_main(int argc, char **argv, const struct tap_test *tests,
			   size_t ntests)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < ntests; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	tap_seed_from_env_();
	tap_arm_timeout_();
	for (int a = 1; a < argc; a++) {
		size_t i = 0;
		while (i < ntests && strcmp(tests[i].name, argv[a]) != 0)
			i++;
		if (i == ntests)
			bail_out("no test named %s (try --list)", argv[a]);
	}
	for (size_t i = 0; i < ntests; i++) {
		int chosen = argc < 2;
		for (int a = 1; a < argc && !chosen; a++)
			chosen = strcmp(tests[i].name, argv[a]) == 0;
		if (!chosen)
			continue;
		diag("%s", tests[i].name);
		tests[i].run();
	}
	return done_testing();
}

/* ----------------------------------------------------------------------
 * Helpers shared by the allocator tests.
 */

/* True when the tests run under Valgrind (make check-valgrind sets
 * GOHEAP_UNDER_VALGRIND), where they must do less work. */
static inline int tap_under_valgrind(void)
{
	const char *v = getenv("GOHEAP_UNDER_VALGRIND");
	return v != NULL && *v != '\0';
}

/* Whether this program was built with ThreadSanitizer. */
static inline bool tap_under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}


/* Pass on one line (NUL-terminated, written into) of a child that ran
 * cases of this test: its results and comments become this test's, name
 * in front; other lines are shown as what the child said. */
static inline void tap_relay_line(const char *name, char *line)
{
	char *desc;
	if (strncmp(line, "ok ", 3) == 0 && (desc = strstr(line, " - ")) != NULL) {
		char *sk = strstr(desc, " # SKIP ");
		if (sk) {
			*sk = 0;
			skip(sk + 8, "%s: %s", name, desc + 3);
			*sk = ' ';
		} else {
			ok(1, "%s: %s", name, desc + 3);
		}
	} else if (strncmp(line, "not ok ", 7) == 0 && (desc = strstr(line, " - ")) != NULL) {
		ok(0, "%s: %s", name, desc + 3);
	} else if (line[0] == '#') {
		diag("%s: %s", name, line + 2);
	} else if (strncmp(line, "1..", 3) != 0 && *line) {
		diag("%s says: %s", name, line);
	}
}
/* n natively, n / divisor (at least 1) under Valgrind or ThreadSanitizer,
 * which run the tests 5 to 50 times slower. */
static inline size_t tap_scale(size_t n, size_t divisor)
{
	if (!tap_under_valgrind() && !tap_under_tsan())
		return n;
	return n / divisor > 0 ? n / divisor : 1;
}

/* splitmix64: a fast, well-mixed 64-bit sequence from any state. */
static inline uint64_t tap_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* A pseudo-random stream; each thread keeps its own. */
struct tap_rng {
	uint64_t state;
};

static uint64_t tap_seed_ = 20240601;

/* TAP_SEED=<number> in the environment replays a run with other data. */
static inline void tap_seed_from_env_(void)
{
	const char *s = getenv("TAP_SEED");
	if (s != NULL && *s != '\0')
		tap_seed_ = strtoull(s, NULL, 0);
	diag("random seed %" PRIu64 " (set TAP_SEED to change)", tap_seed_);
}

/* A stream for one user; different salts give independent streams. */
static inline struct tap_rng tap_rng_init(uint64_t salt)
{
	struct tap_rng r = { tap_mix64(tap_seed_ ^ tap_mix64(salt)) };
	return r;
}

static inline uint64_t tap_rng_next(struct tap_rng *r)
{
	r->state += 0x9e3779b97f4a7c15u;
	return tap_mix64(r->state);
}

/* Uniform in [lo, hi]; the tiny modulo bias does not matter here. */
static inline uint64_t tap_rng_range(struct tap_rng *r, uint64_t lo,
				     uint64_t hi)
{
	if (hi <= lo)
		return lo;
	uint64_t span = hi - lo + 1;
	return span == 0 ? tap_rng_next(r) : lo + tap_rng_next(r) % span;
}

/*
 * The byte pattern: byte i of a block filled with tag is byte i % 8 of
 * the 64-bit word tap_pattern_word(tag, i / 8).  It depends on the tag
 * and on the absolute offset, so a prefix (after realloc) or any range
 * can be checked alone, and bytes that moved or blocks that overlap show
 * up as mismatches.
 */
static inline uint64_t tap_pattern_word(uint64_t tag, size_t word)
{
	return tap_mix64(tag * 0x2545f4914f6cdd1du + word);
}

static inline unsigned char tap_pattern_byte(uint64_t tag, size_t i)
{
	uint64_t w = tap_pattern_word(tag, i / 8);
	unsigned char b[8];
	memcpy(b, &w, 8);
	return b[i % 8];
}

/* Write the pattern for offsets [from, to) of the block at p. */
static inline void tap_fill_range(void *p, size_t from, size_t to,
				  uint64_t tag)
{
	unsigned char *c = p;
	size_t i = from;
	for (; i < to && i % 8 != 0; i++)
		c[i] = tap_pattern_byte(tag, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t w = tap_pattern_word(tag, i / 8);
		memcpy(c + i, &w, 8);
	}
	for (; i < to; i++)
		c[i] = tap_pattern_byte(tag, i);
}

static inline void tap_fill(void *p, size_t n, uint64_t tag)
{
	tap_fill_range(p, 0, n, tag);
}

/* The first offset in [from, to) whose byte differs from the pattern, or
 * SIZE_MAX if there is none. */
static inline size_t tap_check_range(const void *p, size_t from, size_t to,
				     uint64_t tag)
{
	const unsigned char *c = p;
	size_t i = from;
	for (; i < to && i % 8 != 0; i++)
		if (c[i] != tap_pattern_byte(tag, i))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t w = tap_pattern_word(tag, i / 8), v;
		memcpy(&v, c + i, 8);
		if (v != w)
			break;
	}
	for (; i < to; i++)
		if (c[i] != tap_pattern_byte(tag, i))
			return i;
	return SIZE_MAX;
}

static inline size_t tap_check(const void *p, size_t n, uint64_t tag)
{
	return tap_check_range(p, 0, n, tag);
}

/* The first non-zero byte among the n at p, or SIZE_MAX. */
static inline size_t tap_nonzero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, c + i, 8);
		if (v != 0)
			break;
	}
	for (; i < n; i++)
		if (c[i] != 0)
			return i;
	return SIZE_MAX;
}

/* is_pattern(p, from, to, tag, "name", ...): the range holds the pattern;
 * on failure the first differing offset is shown with both bytes. */
static inline int tap_is_pattern_(const void *p, size_t from, size_t to,
				  uint64_t tag, const char *file, int line,
				  const char *fmt, ...) TAP_PRINTF(7, 8);
static inline int tap_is_pattern_(const void *p, size_t from, size_t to,
				  uint64_t tag, const char *file, int line,
				  const char *fmt, ...)
{
	char got[256], exp[256];
	va_list ap;
	size_t bad = tap_check_range(p, from, to, tag);
	if (bad != SIZE_MAX) {
		snprintf(got, sizeof got, "byte %#04x at offset %zu of %p",
			 ((const unsigned char *)p)[bad], bad, p);
		snprintf(exp, sizeof exp, "byte %#04x (pattern %#" PRIx64 ")",
			 tap_pattern_byte(tag, bad), tag);
	} else {
		got[0] = exp[0] = '\0';
	}
	va_start(ap, fmt);
	int pass = tap_vcompare_(bad == SIZE_MAX, file, line, got, exp, fmt,
				 ap);
	va_end(ap);
	return pass;
}
#define is_pattern(p, from, to, tag, ...)                                     \
	tap_is_pattern_((p), (from), (to), (tag), __FILE__, __LINE__,         \
			__VA_ARGS__)

/* is_zero(p, n, "name", ...): the n bytes at p are all zero. */
static inline int tap_is_zero_(const void *p, size_t n, const char *file,
			       int line, const char *fmt, ...) TAP_PRINTF(5, 6);
static inline int tap_is_zero_(const void *p, size_t n, const char *file,
			       int line, const char *fmt, ...)
{
	char got[256];
	va_list ap;
	size_t bad = tap_nonzero(p, n);
	if (bad != SIZE_MAX)
		snprintf(got, sizeof got, "byte %#04x at offset %zu of %p",
			 ((const unsigned char *)p)[bad], bad, p);
	else
		got[0] = '\0';
	va_start(ap, fmt);
	int pass = tap_vcompare_(bad == SIZE_MAX, file, line, got,
				 "all zero bytes", fmt, ap);
	va_end(ap);
	return pass;
}
#define is_zero(p, n, ...)                                                    \
	tap_is_zero_((p), (n), __FILE__, __LINE__, __VA_ARGS__)

#endif /* GH_TESTS_TAP_H */
