/*
 * goheap.h - the public interface of libgoheap, a Go-style heap for C.
 *
 * Every function here is thread-safe unless its comment says otherwise.
 * The manual pages (goheap(7) for the overview, one section-3 page per
 * function family) say the same at more length.
 */
#ifndef GOHEAP_H
#define GOHEAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* GOHEAP_VERSION: this release as major * 10000 + minor * 100 + patch
 * (10203 for 1.2.3), written by configure. */
#include <goheap/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(GOHEAP_BUILDING)
#define GOHEAP_API __attribute__((visibility("default")))
#else
#define GOHEAP_API
#endif

#if defined(__GNUC__)
#define GOHEAP_ATTR(...) __attribute__((__VA_ARGS__))
#else
#define GOHEAP_ATTR(...)
#endif
#define GOHEAP_MALLOC_ATTR(...) GOHEAP_ATTR(malloc, warn_unused_result, __VA_ARGS__)

/* Number of small size classes, class 0 (large objects) included. */
#define GOHEAP_NUM_SIZE_CLASSES 81

/*
 * Allocation.
 *
 * Blocks of 16 bytes or more, and every block from goheap_malloc, are
 * aligned to 16 bytes.  Pointer-free blocks of fewer than 16 bytes are aligned
 * to the largest power of two that divides their size, at most 8.  Requests too large for the
 * address space, and requests the operating system refuses, give NULL with
 * errno set to ENOMEM; the heap stays usable.
 */

/* A block of at least size bytes, zeroed, which may hold pointers to other
 * goheap blocks.  size 0 gives a unique block of the smallest class. */
GOHEAP_API void *goheap_malloc(size_t size) GOHEAP_MALLOC_ATTR(alloc_size(1));

/* A block of at least size bytes that holds no pointers (the collector will
 * never look inside it).  Its contents are unspecified, not zeroed. */
GOHEAP_API void *goheap_malloc_atomic(size_t size) GOHEAP_MALLOC_ATTR(alloc_size(1));

/* A zeroed pointer-holding block of nmemb * size bytes; NULL with ENOMEM if
 * the product overflows. */
GOHEAP_API void *goheap_calloc(size_t nmemb, size_t size) GOHEAP_MALLOC_ATTR(alloc_size(1, 2));

/* Resize ptr's block to size bytes, keeping its kind (pointer-holding or
 * atomic) and its first min(old, new) bytes.  ptr NULL acts as
 * goheap_malloc(size); size 0 frees ptr and returns NULL.  On failure
 * returns NULL with errno ENOMEM and leaves ptr's block untouched. */
GOHEAP_API void *goheap_realloc(void *ptr, size_t size) GOHEAP_ATTR(warn_unused_result, alloc_size(2));

/* Free the block that starts at ptr now.  NULL does nothing.  Anything that
 * is not the start of a live goheap block aborts the process with a
 * one-line "goheap:" diagnostic.  Tiny pointer-free blocks (goheap_malloc_atomic
 * of fewer than 16 bytes) share memory with their neighbours: freeing one is
 * accepted and left to the collector. */
GOHEAP_API void goheap_free(void *ptr);

/* Bytes usable in the block that starts at ptr (at least what was asked for);
 * 0 for NULL or a pointer that is not the start of a live block. */
GOHEAP_API size_t goheap_usable_size(const void *ptr);

/* The start of the live goheap block that contains ptr (interior pointers
 * included), or NULL if ptr points into no live block. */
GOHEAP_API void *goheap_base(const void *ptr);

/* Collect, then return all free memory of the heap to the operating system
 * now (as Go's debug.FreeOSMemory). */
GOHEAP_API void goheap_free_os_memory(void);

/*
 * Garbage collection.
 *
 * Blocks that no pointer reaches are freed by the collector.  It scans the
 * stacks and registers of registered threads and the static data of the
 * program and its libraries conservatively, goheap_malloc blocks
 * conservatively, goheap_malloc_typed blocks precisely and
 * goheap_malloc_atomic blocks not at all.  A collection starts when the heap
 * has grown by GOHEAP_GOGC percent (default 100) since the last one left it.
 */

/* Collect now; returns once the collection and its sweeping are done. */
GOHEAP_API void goheap_gc(void);

/* Set the growth percentage that triggers a collection; negative turns
 * automatic collection off.  Returns the previous value (-1 for off). */
GOHEAP_API int goheap_set_gc_percent(int percent);

/* Set the soft memory limit: the collector collects earlier, and returns
 * free memory to the OS at once, so as to keep the memory the library has
 * mapped and not released under bytes, but spends at most about half the
 * program's time doing so (Go 1.19's GOMEMLIMIT).  INT64_MAX means no
 * limit (the default, or GOHEAP_MEMLIMIT); a negative argument changes
 * nothing.  Returns the previous limit.  Thread-safe; cannot fail. */
GOHEAP_API int64_t goheap_set_memory_limit(int64_t bytes);

/* A precise layout: elements of size bytes whose pointers sit at the n_ptrs
 * byte offsets given (multiples of 8).  Types live until the process ends.
 * NULL with errno EINVAL for a bad layout, ENOMEM without memory. */
typedef struct goheap_type goheap_type;
GOHEAP_API goheap_type *goheap_type_new(size_t size, const size_t *ptr_offsets, size_t n_ptrs);

/* A zeroed block of size bytes, an array of elements of type: only the
 * pointer words of each element are scanned.  size must be a multiple of the
 * type's size (EINVAL otherwise). */
GOHEAP_API void *goheap_malloc_typed(size_t size, const goheap_type *type) GOHEAP_MALLOC_ATTR(alloc_size(1));

/* Run fn(obj, arg) once obj has become unreachable; obj and what it
 * references stay alive until fn has returned, and obj is freed by a later
 * collection if fn did not make it reachable again.  fn NULL removes obj's
 * finalizer.  0, or -1 with errno EINVAL (obj is not the start of a live
 * block, or a tiny one), EEXIST (obj has a finalizer already), ENOENT
 * (removing none) or ENOMEM. */
GOHEAP_API int goheap_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg);

/* Run the queued finalizers on the calling thread; returns how many ran.
 * (A finalizer thread, started with the first finalizer, runs them too.) */
GOHEAP_API int goheap_run_finalizers(void);

/*
 * Weak links (goheap_register_weak_link(3)), added in 0.3.0.  A weak link
 * is a void * word, anywhere in memory, that refers to a block without
 * keeping it alive: once the collector finds the block unreachable (before
 * its finalizer, if any, is queued), or once the block is freed, the link
 * reads NULL.  The word holds the block's address hidden from the
 * collector: read it only with goheap_read_weak_link.
 *
 * goheap_register_weak_link makes *link a weak link to obj, the start of a
 * live goheap block (not a tiny one); a link registered already is
 * pointed at obj instead.  link must be aligned to 8 bytes and, if it lies
 * in a goheap block, in a live one; a link lying in a block that dies or
 * is freed is unregistered with it.  0, or -1 with errno EINVAL (bad link
 * or obj) or ENOMEM.
 *
 * goheap_unregister_weak_link makes *link an ordinary word again, set to
 * NULL.  0, or -1 with errno ENOENT (link is not registered).
 *
 * goheap_move_weak_link moves the weak link at link to new_link (same
 * block, or NULL if cleared), leaving NULL at link: for code that moves
 * the memory holding a link.  0, or -1 with errno ENOENT (link is not
 * registered), EEXIST (new_link is another registered link) or EINVAL.
 *
 * goheap_read_weak_link returns the block *link refers to, which stays
 * alive as long as the returned pointer is seen by the collector, or NULL
 * if the block has died or been freed.  link must be registered (or hold
 * NULL).  No lock, no system call.
 *
 * All four are thread-safe; a link may be read while it is being cleared.
 */
GOHEAP_API int goheap_register_weak_link(void **link, const void *obj);
GOHEAP_API int goheap_unregister_weak_link(void **link);
GOHEAP_API int goheap_move_weak_link(void **link, void **new_link);
GOHEAP_API void *goheap_read_weak_link(void *const *link);

/* Make the calling thread's stack and registers roots.  Threads that
 * allocate are registered by their first allocation until they exit; a
 * thread that holds heap pointers without ever allocating must register.
 * Registrations nest; 0, or -1 with errno. */
GOHEAP_API int goheap_register_thread(void);

/* Undo one goheap_register_thread; at the last one the thread is no longer
 * scanned, unless it has allocated: a thread that allocates stays
 * registered until it exits.  0, or -1 with EINVAL if the thread is not
 * registered. */
GOHEAP_API int goheap_unregister_thread(void);

/* pthread_create, with the new thread registered for its whole life and arg
 * kept alive until the thread has started.  Returns as pthread_create. */
GOHEAP_API int goheap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
				     void *(*start)(void *), void *arg);

/* Scan [start, end) conservatively as a root (memory the collector does not
 * see otherwise: malloc'd or mmap'd blocks holding heap pointers).  0, or -1
 * with errno EINVAL or ENOMEM. */
GOHEAP_API int goheap_add_roots(void *start, void *end);

/* Stop scanning a range given to goheap_add_roots, by the same bounds.
 * 0, or -1 with errno ENOENT. */
GOHEAP_API int goheap_remove_roots(void *start, void *end);

/*
 * Statistics, named as in the Go runtime's MemStats.  All byte counts are in
 * bytes.  goheap_read_memstats() fills the whole structure, sets size to
 * sizeof(goheap_memstats) and version to GOHEAP_MEMSTATS_VERSION; a future,
 * larger structure comes with a new symbol version, so programs built
 * against this header keep receiving this layout.
 */
#define GOHEAP_MEMSTATS_VERSION 1

typedef struct goheap_memstats goheap_memstats;
struct goheap_memstats {
	uint32_t size;    /* sizeof(goheap_memstats) as filled in */
	uint32_t version; /* GOHEAP_MEMSTATS_VERSION as filled in */

	/* General. */
	uint64_t alloc;       /* bytes in allocated blocks (= heap_alloc) */
	uint64_t total_alloc; /* bytes ever allocated, freed ones included */
	uint64_t sys;         /* bytes obtained from the OS, all uses */
	uint64_t nlookup;     /* pointer lookups (goheap_base, usable_size) */
	uint64_t nmalloc;     /* blocks allocated, ever */
	uint64_t nfree;       /* blocks freed, ever */

	/* Main heap. */
	uint64_t heap_alloc;    /* bytes in allocated blocks */
	uint64_t heap_sys;      /* heap bytes obtained from the OS */
	uint64_t heap_idle;     /* heap bytes in free spans */
	uint64_t heap_inuse;    /* heap bytes in spans in use */
	uint64_t heap_released; /* of heap_idle, bytes returned to the OS */
	uint64_t heap_objects;  /* allocated blocks */

	/* Allocator metadata. */
	uint64_t mspan_inuse;  /* span descriptors in use */
	uint64_t mspan_sys;    /* span descriptors obtained from the OS */
	uint64_t mcache_inuse; /* thread caches in use */
	uint64_t mcache_sys;   /* thread caches obtained from the OS */
	uint64_t gc_sys;       /* collector and page-map metadata */
	uint64_t other_sys;    /* everything else */

	/* Collector. */
	uint64_t next_gc;        /* heap_alloc at which the next collection starts */
	uint64_t last_gc;        /* end of the last collection, ns since the Epoch */
	uint64_t pause_total_ns; /* stop-the-world time, all collections */
	uint64_t pause_ns[256];  /* recent pauses, the latest at [(numgc+255)%256] */
	uint64_t pause_end[256]; /* their ends, ns since the Epoch */
	uint32_t numgc;          /* collections completed */
	uint32_t gc_percent;     /* the GOGC setting, 0xffffffff when off */

	/* Per size class; by_size[0] covers the large objects. */
	struct {
		uint32_t size;   /* the class's block size (0 for large) */
		uint32_t _pad;
		uint64_t nmalloc; /* blocks of this class allocated, ever */
		uint64_t nfree;   /* blocks of this class freed, ever */
	} by_size[GOHEAP_NUM_SIZE_CLASSES];
};

GOHEAP_API void goheap_read_memstats(goheap_memstats *stats);

/*
 * Heap dump.  Write the whole heap to fd in the format of
 * goheap-heapdump(5): parameters, memstats, every allocated block (address,
 * size, kind, size class, and which of its words point into the heap), the
 * roots (thread stacks, data segments, registered ranges) and the
 * finalizers.  The world is stopped while it is written, so the dump is
 * consistent; fd must not need another thread of this process to drain it
 * (a pipe to itself).  0, or -1 with errno: EBADF (fd < 0), the error of
 * write(2), ENOMEM, or EAGAIN if some thread could not be stopped.
 * goheap-stat(1) reads dumps ("goheap-stat histo FILE").
 */
GOHEAP_API int goheap_write_heapdump(int fd);

/*
 * Heap profile (goheap_set_profile_rate(3)).  On average one allocation in
 * every `rate` bytes allocated is sampled (GOHEAP_PROFILE_RATE, default
 * 524288 as Go's MemProfileRate; 0 off): its call stack is recorded, and
 * its free, by goheap_free or by the collector, is counted against it.
 *
 * goheap_set_profile_rate sets the rate in bytes and returns the previous
 * one; a negative argument only returns the current rate.  The calling
 * thread uses the new rate at once, other threads from their next sample.
 * Thread safe.
 *
 * goheap_write_heap_profile writes the profile to fd in pprof's format
 * (uncompressed profile.proto), with the sample types alloc_objects,
 * alloc_space, inuse_objects and inuse_space, scaled up for sampling as Go
 * does, and the executable mappings of the process, so that
 * "go tool pprof -top PROGRAM FILE" names the program's functions.  0, or
 * -1 with errno: EBADF (fd < 0), ENOMEM, or the error of write(2).  Thread
 * safe; does not stop the world.
 */
GOHEAP_API long goheap_set_profile_rate(long bytes);
GOHEAP_API int goheap_write_heap_profile(int fd);

#ifdef __cplusplus
}
#endif

#endif /* GOHEAP_H */
