/*
 * t-profile: the sampled heap profile (goheap_set_profile_rate,
 * goheap_write_heap_profile).
 *
 * Two functions allocate known amounts; the profile, read back by a small
 * protobuf reader here and, where Go is installed, by "go tool pprof -top",
 * attributes the in-use and allocated bytes to the right functions within
 * the sampling error.  Frees, by hand and by the collector, move bytes from
 * in-use to allocated only.  Built with -export-dynamic so that dladdr(3)
 * names the test's own functions.
 */
#include <goheap.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* Sampling every 4 KiB on average: a few thousand samples, so a relative
 * error of a few per cent; the checks allow 20 %. */
#define RATE 4096
#define TOL 0.20

enum { A_SIZE = 256, A_COUNT = 16384,  /* 4 MiB from site_a */
       B_SIZE = 1024, B_COUNT = 2048,  /* 2 MiB from site_b */
       C_SIZE = 512, C_COUNT = 4096 }; /* 2 MiB from site_c, left to the collector */

/* Not static: -export-dynamic makes them visible to dladdr(3). */
void site_a(void);
void site_b(void);
void site_c(void);

/* Not static either, or the compiler may drop stores it sees never read,
 * and the collector would rightly free the blocks. */
extern void *a_blocks[A_COUNT], *b_blocks[B_COUNT];
void *a_blocks[A_COUNT], *b_blocks[B_COUNT];

__attribute__((noinline)) void site_a(void)
{
	for (int i = 0; i < A_COUNT; i++)
		a_blocks[i] = goheap_malloc(A_SIZE);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void site_b(void)
{
	for (int i = 0; i < B_COUNT; i++)
		b_blocks[i] = goheap_malloc_atomic(B_SIZE);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void site_c(void)
{
	for (int i = 0; i < C_COUNT; i++) {
		volatile char *p = goheap_malloc(C_SIZE);
		p[0] = 1;
	}
	__asm__ volatile("" ::: "memory");
}

/* ---- A reader for the part of profile.proto we write ---- */

typedef struct prof {
	char *strs[4096];
	int nstr;
	int types[4]; /* string index of each sample type */
	int ntypes;
	struct { uint64_t id, addr; } locs[8192];
	int nlocs;
	struct { uint64_t loc0; int64_t v[4]; } samples[8192];
	int nsamples;
	int64_t period;
	int nmappings;
	int bad;
} prof;

static uint64_t rd_varint(const uint8_t **p, const uint8_t *end, int *bad)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end) {
			*bad = 1;
			return 0;
		}
		uint8_t c = *(*p)++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	*bad = 1;
	return 0;
}

/* Call fn for each field of the message [p, end). */
static void rd_fields(const uint8_t *p, const uint8_t *end, int *bad,
		      void (*fn)(void *ctx, int field, uint64_t v, const uint8_t *d, size_t n),
		      void *ctx)
{
	while (p < end && !*bad) {
		uint64_t key = rd_varint(&p, end, bad);
		int field = (int)(key >> 3), wire = (int)(key & 7);
		if (wire == 0) {
			uint64_t v = rd_varint(&p, end, bad);
			fn(ctx, field, v, NULL, 0);
		} else if (wire == 2) {
			uint64_t n = rd_varint(&p, end, bad);
			if (n > (uint64_t)(end - p)) {
				*bad = 1;
				return;
			}
			fn(ctx, field, 0, p, (size_t)n);
			p += n;
		} else {
			*bad = 1;
		}
	}
}

struct sub {
	prof *pr;
	uint64_t f[16];
	uint64_t packed[2][64];
	int npacked[2];
};

static void sub_fn(void *ctx, int field, uint64_t v, const uint8_t *d, size_t n)
{
	struct sub *s = ctx;
	if (field >= 16)
		return;
	if (!d) {
		s->f[field] = v;
		return;
	}
	if (field == 1 || field == 2) { /* packed location ids / values */
		const uint8_t *e = d + n;
		while (d < e && s->npacked[field - 1] < 64)
			s->packed[field - 1][s->npacked[field - 1]++] =
				rd_varint(&d, e, &s->pr->bad);
	}
}

static void top_fn(void *ctx, int field, uint64_t v, const uint8_t *d, size_t n)
{
	prof *pr = ctx;
	struct sub s;
	memset(&s, 0, sizeof s);
	s.pr = pr;
	switch (field) {
	case 1: /* sample_type */
		rd_fields(d, d + n, &pr->bad, sub_fn, &s);
		if (pr->ntypes < 4)
			pr->types[pr->ntypes] = (int)s.f[1];
		pr->ntypes++;
		break;
	case 2: /* sample */
		rd_fields(d, d + n, &pr->bad, sub_fn, &s);
		if (pr->nsamples < 8192 && s.npacked[0] > 0 && s.npacked[1] == 4) {
			pr->samples[pr->nsamples].loc0 = s.packed[0][0];
			for (int i = 0; i < 4; i++)
				pr->samples[pr->nsamples].v[i] = (int64_t)s.packed[1][i];
			pr->nsamples++;
		} else {
			pr->bad = 1;
		}
		break;
	case 3:
		pr->nmappings++;
		break;
	case 4: /* location */
		rd_fields(d, d + n, &pr->bad, sub_fn, &s);
		if (pr->nlocs < 8192) {
			pr->locs[pr->nlocs].id = s.f[1];
			pr->locs[pr->nlocs].addr = s.f[3];
			pr->nlocs++;
		}
		break;
	case 6:
		if (pr->nstr < 4096) {
			pr->strs[pr->nstr] = strndup((const char *)d, n);
			pr->nstr++;
		}
		break;
	case 12:
		pr->period = (int64_t)v;
		break;
	}
}

static int read_profile(const char *path, prof *pr)
{
	memset(pr, 0, sizeof *pr);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	struct stat st;
	fstat(fd, &st);
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	ssize_t r = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (r != st.st_size) {
		free(buf);
		return -1;
	}
	rd_fields(buf, buf + r, &pr->bad, top_fn, pr);
	free(buf);
	return pr->bad ? -1 : 0;
}

static void free_profile(prof *pr)
{
	for (int i = 0; i < pr->nstr; i++)
		free(pr->strs[i]);
}

/* Totals of the four values over the samples whose leaf is in fn. */
static void totals_for(const prof *pr, const char *fn, int64_t out[4])
{
	memset(out, 0, 4 * sizeof *out);
	for (int i = 0; i < pr->nsamples; i++) {
		uint64_t addr = 0;
		for (int k = 0; k < pr->nlocs; k++)
			if (pr->locs[k].id == pr->samples[i].loc0)
				addr = pr->locs[k].addr;
		Dl_info info;
		if (!addr || !dladdr((void *)(uintptr_t)addr, &info) || !info.dli_sname ||
		    strcmp(info.dli_sname, fn) != 0)
			continue;
		for (int k = 0; k < 4; k++)
			out[k] += pr->samples[i].v[k];
	}
}

static int near(double got, double want)
{
	return got >= want * (1 - TOL) && got <= want * (1 + TOL);
}

static char path[] = "/tmp/t-profile-XXXXXX";

static int write_profile(void)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
	int r = goheap_write_heap_profile(fd);
	close(fd);
	return r;
}

/* ---- Tests ---- */

static void test_rate(void)
{
	is_int(goheap_set_profile_rate(-1), 512 * 1024, "default rate is 512 KiB");
	is_int(goheap_set_profile_rate(RATE), 512 * 1024, "setting returns the previous rate");
	is_int(goheap_set_profile_rate(-5), RATE, "a negative argument only queries");
	errno = 0;
	is_int(goheap_write_heap_profile(-1), -1, "a bad descriptor fails");
	is_int(errno, EBADF, "with EBADF");
}

static void test_sites(void)
{
	goheap_set_profile_rate(RATE);
	site_a();
	site_b();
	site_c();
	goheap_gc();
	ok(write_profile() == 0, "profile written");

	static prof pr;
	int rp = read_profile(path, &pr);
	ok(rp == 0, "profile parses (%d samples, %d locations)", pr.nsamples, pr.nlocs);
	is_int(pr.ntypes, 4, "four sample types");
	static const char *const want[4] = {"alloc_objects", "alloc_space", "inuse_objects",
					    "inuse_space"};
	for (int i = 0; i < 4 && i < pr.ntypes; i++)
		is_str(pr.types[i] < pr.nstr ? pr.strs[pr.types[i]] : NULL, want[i],
		       "sample type %d", i);
	is_int(pr.period, RATE, "period is the rate");
	cmp_int(pr.nmappings, >=, 2, "mappings of the program and its libraries");

	int64_t a[4], b[4], c[4];
	totals_for(&pr, "site_a", a);
	totals_for(&pr, "site_b", b);
	totals_for(&pr, "site_c", c);
	diag("site_a: %lld objects %lld bytes allocated, %lld %lld in use", (long long)a[0],
	     (long long)a[1], (long long)a[2], (long long)a[3]);
	diag("site_b: %lld objects %lld bytes allocated, %lld %lld in use", (long long)b[0],
	     (long long)b[1], (long long)b[2], (long long)b[3]);
	diag("site_c: %lld objects %lld bytes allocated, %lld %lld in use", (long long)c[0],
	     (long long)c[1], (long long)c[2], (long long)c[3]);
	ok(near((double)a[3], (double)A_SIZE * A_COUNT), "site_a: in-use bytes %lld near %d",
	   (long long)a[3], A_SIZE * A_COUNT);
	ok(near((double)a[2], A_COUNT), "site_a: in-use objects %lld near %d", (long long)a[2],
	   A_COUNT);
	ok(near((double)b[3], (double)B_SIZE * B_COUNT), "site_b: in-use bytes %lld near %d",
	   (long long)b[3], B_SIZE * B_COUNT);
	ok(near((double)c[1], (double)C_SIZE * C_COUNT), "site_c: allocated bytes %lld near %d",
	   (long long)c[1], C_SIZE * C_COUNT);
	cmp_int(c[3], <, (int64_t)C_SIZE * C_COUNT / 10,
		"site_c: the collector's frees left under 10 %% in use");
	free_profile(&pr);

	/* Free half of site_a's blocks by hand. */
	for (int i = 0; i < A_COUNT; i += 2) {
		goheap_free(a_blocks[i]);
		a_blocks[i] = NULL;
	}
	ok(write_profile() == 0, "second profile written");
	ok(read_profile(path, &pr) == 0, "second profile parses");
	int64_t a2[4];
	totals_for(&pr, "site_a", a2);
	is_int(a2[1], a[1], "site_a: allocated bytes unchanged by frees");
	ok(near((double)a2[3], (double)A_SIZE * A_COUNT / 2),
	   "site_a: in-use bytes %lld near half, %d", (long long)a2[3], A_SIZE * A_COUNT / 2);
	free_profile(&pr);
}

/* The same profile through the standard tool, where Go is installed. */
static void test_pprof(void)
{
	if (system("go version >/dev/null 2>&1") != 0) {
		ok(1, "# SKIP go tool pprof: Go is not installed");
		return;
	}
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	char cmd[8192];
	snprintf(cmd, sizeof cmd,
		 "HOME=${HOME:-/tmp} GOCACHE=${GOCACHE:-/tmp/go-cache} go tool pprof -top "
		 "-sample_index=inuse_space -unit=bytes '%s' '%s' 2>&1",
		 exe, path);
	FILE *f = popen(cmd, "r");
	ok(f != NULL, "go tool pprof runs");
	if (!f)
		return;
	char line[1024];
	double fa = -1, fb = -1;
	while (fgets(line, sizeof line, f)) {
		double flat;
		char fn[256];
		/* "   2097152B 33.33% 33.33%    2097152B 33.33%  site_a" */
		if (sscanf(line, " %lfB %*s %*s %*s %*s %255s", &flat, fn) == 2) {
			if (strcmp(fn, "site_a") == 0)
				fa = flat;
			else if (strcmp(fn, "site_b") == 0)
				fb = flat;
		}
		fputs("# ", stdout);
		fputs(line, stdout);
	}
	int st = pclose(f);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "go tool pprof exits 0");
	ok(near(fa, (double)A_SIZE * A_COUNT / 2), "pprof: site_a in use %.0f near %d", fa,
	   A_SIZE * A_COUNT / 2);
	ok(near(fb, (double)B_SIZE * B_COUNT), "pprof: site_b in use %.0f near %d", fb,
	   B_SIZE * B_COUNT);
}

/* Rate 0: nothing more is sampled. */
static void test_off(void)
{
	goheap_set_profile_rate(0);
	static prof p1, p2;
	ok(write_profile() == 0 && read_profile(path, &p1) == 0, "profile before");
	for (int i = 0; i < 20000; i++)
		goheap_free(goheap_malloc(1000));
	ok(write_profile() == 0 && read_profile(path, &p2) == 0, "profile after");
	is_int(p2.nsamples, p1.nsamples, "no new buckets with profiling off");
	free_profile(&p1);
	free_profile(&p2);
	goheap_set_profile_rate(RATE);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_rate),
	TAP_TEST(test_sites),
	TAP_TEST(test_pprof),
	TAP_TEST(test_off),
};

int main(int argc, char **argv)
{
	/* For t-profile-stat.sh: read the profile named by T_PROFILE_READ
	 * and print the sum of each sample type. */
	const char *readpath = getenv("T_PROFILE_READ");
	if (readpath) {
		static prof pr;
		if (read_profile(readpath, &pr) != 0 || pr.ntypes != 4) {
			fprintf(stderr, "t-profile: %s: not a heap profile\n", readpath);
			return 1;
		}
		int64_t sum[4] = {0, 0, 0, 0};
		for (int i = 0; i < pr.nsamples; i++)
			for (int k = 0; k < 4; k++)
				sum[k] += pr.samples[i].v[k];
		for (int k = 0; k < 4; k++)
			printf("%s %lld\n", pr.types[k] < pr.nstr ? pr.strs[pr.types[k]] : "?",
			       (long long)sum[k]);
		return 0;
	}
	int fd = mkstemp(path);
	if (fd < 0)
		bail_out("mkstemp: %s", strerror(errno));
	close(fd);
	/* Each test may run alone: the sites' profile comes first. */
	if (argc > 1 && strcmp(argv[1], "--list") != 0 && strcmp(argv[1], "test_sites") != 0 &&
	    strcmp(argv[1], "test_rate") != 0) {
		goheap_set_profile_rate(RATE);
		site_a();
		site_b();
		for (int i = 0; i < A_COUNT; i += 2)
			goheap_free(a_blocks[i]);
		write_profile();
	}
	int r = TAP_MAIN(argc, argv, tests);
	unlink(path);
	return r;
}
