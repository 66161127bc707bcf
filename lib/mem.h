/*
 * mem.h - the operating-system memory contract, implemented once per OS in
 * mem_linux.c and mem_darwin.c.  Nothing else in libgoheap calls mmap,
 * madvise or their relatives.
 *
 * Address space moves through four states:
 *
 *   none --reserve--> reserved --map--> ready <--unused/used--> prepared
 *
 *   reserved  address space that is ours but not accessible, costing no
 *             memory (PROT_NONE on Linux);
 *   ready     readable and writable; the OS backs it with memory as it is
 *             touched;
 *   prepared  the OS may have taken the memory back (MADV_DONTNEED): the
 *             range still reads and writes, and reads as zero on Linux;
 *             gh_sys_used() must be called before use (a no-op on Linux).
 *
 * Each function names the transition it performs.  The stat arguments are
 * counters in the statistics (heap_sys, gc_sys, ...) that the call adjusts
 * by the bytes it moves in or out of "obtained from the OS"; callers hold
 * whatever lock protects that counter.
 */
#ifndef GH_MEM_H
#define GH_MEM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gh.h"

/* none -> ready: fresh zeroed memory for metadata, page aligned.  NULL on
 * failure (errno from the OS). */
void *gh_sys_alloc(size_t n, uint64_t *stat);

/* ready/reserved -> none. */
void gh_sys_free(void *v, size_t n, uint64_t *stat);

/* none -> reserved: n bytes of address space aligned to align (a power of
 * two, at least the page size), near hint if possible.  NULL on failure. */
void *gh_sys_reserve(void *hint, size_t n, size_t align);

/* reserved -> ready.  Returns 0, or -1 with errno set. */
int gh_sys_map(void *v, size_t n, uint64_t *stat);

/* ready -> prepared: the OS may reclaim the memory (it stays mapped). */
void gh_sys_unused(void *v, size_t n);

/* prepared -> ready. */
void gh_sys_used(void *v, size_t n);

/* ready -> reserved: any access faults (debug modes). */
void gh_sys_fault(void *v, size_t n);

/* Whether memory made prepared by gh_sys_unused reads as zero afterwards. */
extern const int gh_sys_unused_zeroes;

/* 64 random bits for secrets (the free tag); never fails. */
uint64_t gh_sys_random(void);

/* Resident bytes of the calling process, or 0 if unknown. */
uint64_t gh_sys_rss(void);

/* The OS page size in bytes. */
size_t gh_sys_pagesize(void);

/* ---- Fault injection ----
 *
 * GOHEAP_DEBUG=failsys=N makes the Nth request for OS memory since start-up
 * fail with ENOMEM, as if the OS had refused it: gh_sys_alloc,
 * gh_sys_reserve and gh_sys_map each count as one request.  The rest of
 * the library must turn such a failure into NULL or -1 with ENOMEM at the
 * API and leave the heap as it was (tests/t-failsys.c sweeps N).
 *
 * Requests made while the world is stopped are counted but never failed,
 * but for marking's: the collector has no caller to report them to, and
 * only marking survives a refusal (see Overflow in mgcmark.c). */
GH_INTERNAL extern uint64_t gh_sys_nrequests;
/* Whether the world is stopped for a collection or a heap dump (stw_*.c). */
GH_INTERNAL bool gh_stw_stopped(void);
/* Whether a marking is under way (mgcmark.c). */
GH_INTERNAL extern bool gh_marking;

/* Count one request; true (errno ENOMEM) if it is the one to fail.  One
 * load and a predicted branch when fault injection is off. */
static inline bool gh_sys_inject_failure(void)
{
	int64_t n = gh_option(GH_OPT_FAILSYS);
	if (GH_LIKELY(n <= 0))
		return false;
	uint64_t k = __atomic_add_fetch(&gh_sys_nrequests, 1, __ATOMIC_RELAXED);
	if (k != (uint64_t)n || (gh_stw_stopped() && !__atomic_load_n(&gh_marking, __ATOMIC_RELAXED)))
		return false;
	errno = ENOMEM;
	return true;
}

#endif
