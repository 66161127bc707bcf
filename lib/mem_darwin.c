/*
 * mem_darwin.c - memory and random bits of the OS layer on macOS.  See
 * os.h for the states and transitions.  Unlike Linux, macOS keeps released
 * pages accounted to the process until told they are reusable again, so
 * gh_sys_unused and gh_sys_used are a MADV_FREE_REUSABLE / MADV_FREE_REUSE
 * pair, and released pages are not promised to read as zero: the heap
 * keeps such spans marked as needing zeroing (see mheap.c).  Not built:
 * the rest of the macOS port is missing (os.h).
 */
#include "config.h"

#include <errno.h>
#include <mach/mach.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

#include "gh.h"
#include "os.h"

uint64_t gh_sys_nrequests;

const int gh_sys_unused_zeroes = 0;

void *gh_sys_alloc(size_t n, uint64_t *stat)
{
	if (gh_sys_inject_failure())
		return NULL;
	void *v = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON,
		       -1, 0);
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
	if (hint && ((uintptr_t)hint & (align - 1)) == 0) {
		/* No MAP_FIXED_NOREPLACE here: a hint that the kernel does
		 * not honour comes back elsewhere and is given back. */
		void *v = mmap(hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANON, -1, 0);
		if (v == hint)
			return v;
		if (v != MAP_FAILED)
			munmap(v, n);
	}
	if (n + align < n) {
		errno = ENOMEM;
		return NULL;
	}
	void *v = mmap(NULL, n + align, PROT_NONE, MAP_PRIVATE | MAP_ANON, -1, 0);
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
	if (mprotect(v, n, PROT_READ | PROT_WRITE) != 0)
		return -1;
	if (stat)
		gh_stat_add(stat, n);
	return 0;
}

void gh_sys_unused(void *v, size_t n)
{
	madvise(v, n, MADV_FREE_REUSABLE);
}

void gh_sys_used(void *v, size_t n)
{
	madvise(v, n, MADV_FREE_REUSE);
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
	struct mach_task_basic_info info;
	mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
	if (task_info(mach_task_self(), MACH_TASK_BASIC_INFO,
		      (task_info_t)&info, &count) != KERN_SUCCESS)
		return 0;
	return info.resident_size;
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
	uint64_t r;
	arc4random_buf(&r, sizeof r);
	return r;
}
