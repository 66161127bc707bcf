/*
 * mem_linux.c - memory and random bits of the OS layer on Linux: mmap,
 * mprotect, madvise, getrandom.  See os.h for the states and transitions.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "gh.h"
#include "os.h"

uint64_t gh_sys_nrequests;

const int gh_sys_unused_zeroes = 1;

void *gh_sys_alloc(size_t n, uint64_t *stat)
{
	if (gh_sys_inject_failure())
		return NULL;
	void *v = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		return NULL;
	if (stat)
		gh_stat_add(stat, n);
	return v;
}

void gh_sys_free(void *v, size_t n, uint64_t *stat)
{
	if (stat)
		gh_stat_add(stat, -(int64_t)n);
	munmap(v, n);
}

void *gh_sys_reserve(void *hint, size_t n, size_t align)
{
	if (gh_sys_inject_failure())
		return NULL;
	/* First try the hint as it is: arenas that follow each other let
	 * spans coalesce across them.  Otherwise over-reserve and trim to the
	 * alignment. */
	if (hint && ((uintptr_t)hint & (align - 1)) == 0) {
		void *v = mmap(hint, n, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				       MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (v == hint)
			return v;
		if (v != MAP_FAILED)
			munmap(v, n);
	}
	if (n + align < n) {
		errno = ENOMEM;
		return NULL;
	}
	void *v = mmap(NULL, n + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v == MAP_FAILED)
		return NULL;
	uintptr_t p = (uintptr_t)v;
	uintptr_t a = (p + align - 1) & ~(uintptr_t)(align - 1);
	if (a > p)
		munmap(v, a - p);
	if (p + n + align > a + n)
		munmap((void *)(a + n), p + n + align - (a + n));
	return (void *)a;
}

int gh_sys_map(void *v, size_t n, uint64_t *stat)
{
	if (gh_sys_inject_failure())
		return -1;
	/* A fresh mapping over the reservation rather than mprotect: the
	 * same for the kernel, much cheaper under Valgrind for large ranges. */
	void *p = mmap(v, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (stat)
		gh_stat_add(stat, n);
	return 0;
}

void gh_sys_unused(void *v, size_t n)
{
	/* MADV_DONTNEED drops the pages at once, so RSS falls now and the
	 * range reads as zero afterwards, which lazy zeroing relies on. */
	madvise(v, n, MADV_DONTNEED);
}

void gh_sys_used(void *v, size_t n)
{
	(void)v;
	(void)n;
}

void gh_sys_fault(void *v, size_t n)
{
	mprotect(v, n, PROT_NONE);
}

void *gh_sys_map_file(int fd, size_t n)
{
	void *v = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return v == MAP_FAILED ? NULL : v;
}

void gh_sys_unmap_file(void *v, size_t n)
{
	munmap(v, n);
}

uint64_t gh_sys_rss(void)
{
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[128];
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	unsigned long size, resident;
	if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return (uint64_t)resident * gh_sys_pagesize();
}

size_t gh_sys_pagesize(void)
{
	static size_t pagesize;
	if (!pagesize)
		pagesize = (size_t)sysconf(_SC_PAGESIZE);
	return pagesize;
}

uint64_t gh_sys_random(void)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
		/* Early boot or a seccomp filter: fall back on the kernel's
		 * per-process random bytes and the clock. */
		const uint64_t *at = (const uint64_t *)getauxval(AT_RANDOM);
		r = (at ? at[0] ^ at[1] : 0) ^ gh_nanotime() * 0x9e3779b97f4a7c15u;
	}
	return r;
}
