/*
 * track.h - tell memory checkers about goheap blocks.
 *
 * When built with Valgrind's headers, the allocator describes each block to
 * memcheck as malloc-like, so a use after free, an overrun into a free block
 * or a leak of a goheap block is reported as it would be for malloc.  The
 * allocator itself reads and writes the free link of free blocks; it does so
 * through gh_link_read / gh_link_write, which open the two words to memcheck
 * for the access and close them again.
 *
 * Outside Valgrind each hook costs one predictable branch on gh_track_on.
 */
#ifndef GH_TRACK_H
#define GH_TRACK_H

#include "config.h"
#include "gh.h"

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>

GH_INTERNAL extern int gh_track_on;

static inline void gh_track_init(void)
{
	gh_track_on = RUNNING_ON_VALGRIND ? 1 : 0;
}

/* Whether the hooks are live: the fast paths leave the work to their slow
 * paths then. */
static inline bool gh_track_on_now(void)
{
	return GH_UNLIKELY(gh_track_on);
}

static inline void gh_track_malloc(void *p, size_t size, bool zeroed)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
}

static inline void gh_track_free(void *p)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_FREELIKE_BLOCK(p, 0);
}

static inline void gh_track_resize(void *p, size_t oldsize, size_t newsize)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_RESIZEINPLACE_BLOCK(p, oldsize, newsize, 0);
}

static inline void gh_track_defined(const void *p, size_t n)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_MAKE_MEM_DEFINED(p, n);
}

static inline void gh_track_undefined(const void *p, size_t n)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

static inline void gh_track_noaccess(const void *p, size_t n)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

/* Conservative scanning reads words memcheck may think undefined (stack
 * slots never written): errors are off while the collector marks. */
static inline void gh_track_quiet_begin(void)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_DISABLE_ERROR_REPORTING;
}

static inline void gh_track_quiet_end(void)
{
	if (GH_UNLIKELY(gh_track_on))
		VALGRIND_ENABLE_ERROR_REPORTING;
}

/* Read a word whatever memcheck thinks of it (it may be a free block's free
 * tag), without changing what memcheck thinks. */
static inline uintptr_t gh_track_peek(const uintptr_t *p)
{
	if (GH_LIKELY(!gh_track_on))
		return *p;
	VALGRIND_DISABLE_ERROR_REPORTING;
	uintptr_t v = *(const volatile uintptr_t *)p;
	VALGRIND_ENABLE_ERROR_REPORTING;
	VALGRIND_MAKE_MEM_DEFINED(&v, sizeof v);
	return v;
}

#else

static inline void gh_track_init(void) {}
static inline bool gh_track_on_now(void) { return false; }
static inline void gh_track_malloc(void *p, size_t size, bool zeroed) {}
static inline void gh_track_free(void *p) {}
static inline void gh_track_resize(void *p, size_t oldsize, size_t newsize) {}
static inline void gh_track_defined(const void *p, size_t n) {}
static inline void gh_track_undefined(const void *p, size_t n) {}
static inline void gh_track_noaccess(const void *p, size_t n) {}
static inline uintptr_t gh_track_peek(const uintptr_t *p) { return *p; }
static inline void gh_track_quiet_begin(void) {}
static inline void gh_track_quiet_end(void) {}

#endif

/* ---- Sanitizers ----
 *
 * The conservative scanner reads memory the sanitizers would flag, and it
 * is right to: every word of a thread's stack, redzones between locals
 * included (AddressSanitizer poisons them), every word of static data,
 * redzones around globals included, and the stacks of other threads,
 * stopped in a signal handler, which ThreadSanitizer cannot see to be
 * stopped.  The functions that make those reads carry these attributes;
 * nothing else is exempt.  GH_NO_SANITIZE_SCAN is both, for the word
 * loops of the marker and the heap dump.
 */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define GH_NO_SANITIZE_ADDRESS __attribute__((no_sanitize("address")))
#define GH_NO_SANITIZE_THREAD __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef GH_NO_SANITIZE_ADDRESS
#define GH_NO_SANITIZE_ADDRESS
#define GH_NO_SANITIZE_THREAD
#endif
#define GH_NO_SANITIZE_SCAN GH_NO_SANITIZE_ADDRESS GH_NO_SANITIZE_THREAD

/* No sanitizer code at all, not even a function's entry hook: for what a
 * handler does before it knows that it did not interrupt ThreadSanitizer's
 * runtime itself (stw_linux.c's nudge, and the CPU file's functions it
 * calls). */
#if defined(__clang__)
#define GH_NOT_INSTRUMENTED __attribute__((disable_sanitizer_instrumentation))
#else
#define GH_NOT_INSTRUMENTED __attribute__((no_sanitize_thread))
#endif

/* Happens-before edges told to ThreadSanitizer directly, where it cannot
 * see them in the atomics: those of the stop handler, which TSan runs with
 * its atomics unobserved when the thread is in a call it knows to block
 * (stw_linux.c).  release(a) before, acquire(a) after. */
#ifdef GH_TSAN
#include <sanitizer/tsan_interface.h>
#define GH_TSAN_RELEASE(a) __tsan_release((void *)(a))
#define GH_TSAN_ACQUIRE(a) __tsan_acquire((void *)(a))
#else
#define GH_TSAN_RELEASE(a) ((void)(a))
#define GH_TSAN_ACQUIRE(a) ((void)(a))
#endif

/* The free link of a free block, read and written with memcheck's leave.
 * Read whatever memcheck thinks of the block, and without changing it: a
 * collection that stops this thread between making the link readable and
 * reading it reads the same link (it marks the threads' lists with the
 * world stopped), and closes it again (make check-valgrind, t-threads:
 * an invalid read in cache_take, one run in many). */
static inline gh_link gh_link_read(const gh_link *o)
{
	gh_link l;
	l.next = (gh_link *)gh_track_peek((const uintptr_t *)&o->next);
	l.tag = gh_track_peek(&o->tag);
	return l;
}

static inline void gh_link_write(gh_link *o, gh_link *next)
{
	gh_track_undefined(o, sizeof *o);
	o->next = next;
	o->tag = gh_free_tag(o);
	gh_track_noaccess(o, sizeof *o);
}

#endif
