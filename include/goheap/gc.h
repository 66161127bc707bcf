/*
 * goheap/gc.h - the Boehm-Demers-Weiser collector's C interface, served by
 * libgoheap.
 *
 * Written for libgoheap from the Boehm collector's documented interface:
 * programs written for that collector build against this header and link
 * with libgoheap's libgc.so.1 (installed in $(libdir)/goheap, with
 * pkg-config goheap-gc), or run unchanged with goheap-run(1).  What each
 * entry point does on libgoheap is in goheap-gc(3).
 *
 * Every function is thread-safe.  Types and values are those of the Boehm
 * collector's ABI on 64-bit Linux (libgc.so.1), so that programs built
 * against either header work with either library.
 */
#ifndef GOHEAP_GC_H
#define GOHEAP_GC_H

#include <stddef.h>
#if defined(GC_THREADS) || defined(GC_PTHREADS) || defined(_REENTRANT)
#include <pthread.h>
#include <signal.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The Boehm collector release whose interface this header follows. */
#define GC_VERSION_MAJOR 8
#define GC_VERSION_MINOR 2
#define GC_VERSION_MICRO 2
/* libgoheap serves it. */
#define GC_GOHEAP 1

#if defined(__GNUC__) && defined(GOHEAP_BUILDING)
#define GC_API extern __attribute__((visibility("default")))
#else
#define GC_API extern
#endif
#define GC_CALL
#define GC_CALLBACK
#if defined(__GNUC__)
#define GC_ATTR_MALLOC __attribute__((__malloc__))
#define GC_ATTR_ALLOC_SIZE(n) __attribute__((__alloc_size__(n)))
#define GC_ATTR_NONNULL(n) __attribute__((__nonnull__(n)))
#define GC_ATTR_DEPRECATED __attribute__((__deprecated__))
#define GC_ATTR_NORETURN __attribute__((__noreturn__))
#else
#define GC_ATTR_MALLOC
#define GC_ATTR_ALLOC_SIZE(n)
#define GC_ATTR_NONNULL(n)
#define GC_ATTR_DEPRECATED
#define GC_ATTR_NORETURN
#endif

/* A machine word, as an unsigned and a signed integer. */
typedef unsigned long GC_word;
typedef long GC_signed_word;
#define GC_PTR void *

/* Results of the registration functions. */
#define GC_SUCCESS 0
#define GC_DUPLICATE 1      /* already registered */
#define GC_NO_THREADS 2     /* no thread support */
#define GC_NO_MEMORY 2      /* out of memory */
#define GC_UNIMPLEMENTED 3  /* not supported here */
#define GC_NOT_FOUND 4      /* nothing registered */

/* ---- Variables (set them before GC_init; prefer the setters) ------------ */

GC_API GC_word GC_gc_no;          /* collections done (see GC_get_gc_no) */
GC_API int GC_parallel;           /* markers besides the caller (read only) */
GC_API int GC_find_leak;          /* leak detection mode: not supported */
GC_API int GC_all_interior_pointers; /* 1: a byte is added to each object */
GC_API int GC_finalize_on_demand; /* see GC_set_finalize_on_demand */
GC_API int GC_java_finalization;  /* see GC_set_java_finalization */
GC_API int GC_dont_gc;            /* nonzero: no collection at all */
GC_API int GC_dont_expand;        /* see GC_set_dont_expand */
GC_API int GC_dont_precollect;    /* accepted, no effect */
GC_API int GC_no_dls;             /* 1: do not scan libraries' static data */
GC_API int GC_use_entire_heap;    /* accepted, no effect */
GC_API int GC_full_freq;          /* accepted, no effect */
GC_API GC_word GC_free_space_divisor; /* see GC_set_free_space_divisor */
GC_API GC_word GC_max_retries;    /* accepted, no effect */
GC_API GC_word GC_non_gc_bytes;   /* bytes of uncollectable objects */
GC_API unsigned long GC_time_limit; /* see GC_set_time_limit */
#define GC_TIME_UNLIMITED 999999
GC_API char *GC_stackbottom;      /* the main thread's stack base */
/* Bounds of the heap: every heap object lies in
 * [GC_least_plausible_heap_addr, GC_greatest_plausible_heap_addr). */
GC_API void *GC_least_plausible_heap_addr;
GC_API void *GC_greatest_plausible_heap_addr;

/* ---- Start-up and collection --------------------------------------------- */

GC_API void GC_init(void);
GC_API int GC_is_init_called(void);
GC_API void GC_deinit(void);
#define GC_INIT() GC_init()
GC_API unsigned GC_get_version(void);

/* Collect now, then run the finalizers that became ready (unless
 * finalization is on demand). */
GC_API void GC_gcollect(void);
/* The same, then return the free memory to the operating system. */
GC_API void GC_gcollect_and_unmap(void);
typedef int (*GC_stop_func)(void);
GC_API int GC_try_to_collect(GC_stop_func stop_func);
/* Turn automatic and explicit collection off and on; the calls nest. */
GC_API void GC_disable(void);
GC_API int GC_is_disabled(void);
GC_API void GC_enable(void);
GC_API void GC_set_disable_automatic_collection(int);
GC_API int GC_get_disable_automatic_collection(void);
/* A little collection work; nonzero if more remains. */
GC_API int GC_collect_a_little(void);
GC_API void GC_enable_incremental(void);
GC_API int GC_is_incremental_mode(void);
GC_API void GC_start_incremental_collection(void);

/* Grow the heap by at least bytes; 1 on success, 0 on failure. */
GC_API int GC_expand_hp(size_t bytes);
GC_API void GC_set_max_heap_size(GC_word bytes);
GC_API void GC_set_free_space_divisor(GC_word);
GC_API GC_word GC_get_free_space_divisor(void);
GC_API void GC_set_dont_expand(int);
GC_API int GC_get_dont_expand(void);
GC_API void GC_set_time_limit(unsigned long ms);
GC_API unsigned long GC_get_time_limit(void);
GC_API void GC_set_handle_fork(int);
GC_API void GC_set_all_interior_pointers(int);
GC_API int GC_get_all_interior_pointers(void);
GC_API void GC_set_no_dls(int);
GC_API int GC_get_no_dls(void);
GC_API void GC_set_find_leak(int);
GC_API int GC_get_find_leak(void);
GC_API void GC_set_dont_precollect(int);
GC_API int GC_get_dont_precollect(void);
GC_API void GC_set_full_freq(int);
GC_API int GC_get_full_freq(void);
GC_API void GC_set_max_retries(GC_word);
GC_API GC_word GC_get_max_retries(void);
GC_API void GC_set_non_gc_bytes(GC_word);
GC_API GC_word GC_get_non_gc_bytes(void);
GC_API void GC_set_markers_count(unsigned);
GC_API int GC_get_parallel(void);
GC_API void GC_set_pages_executable(int);
GC_API int GC_get_pages_executable(void);
GC_API void GC_set_force_unmap_on_gcollect(int);
GC_API int GC_get_force_unmap_on_gcollect(void);

/* Called at the start of every collection, with the collector's lock
 * held: it must not allocate or call the collector. */
typedef void (*GC_start_callback_proc)(void);
GC_API void GC_set_start_callback(GC_start_callback_proc);
GC_API GC_start_callback_proc GC_get_start_callback(void);

/* Called when an allocation fails, with the size asked for; what it
 * returns is what the allocation returns (by default NULL). */
typedef void *(*GC_oom_func)(size_t bytes_requested);
GC_API GC_oom_func GC_oom_fn;
GC_API void GC_set_oom_fn(GC_oom_func);
GC_API GC_oom_func GC_get_oom_fn(void);

/* Warnings: msg is a printf format with one GC_word argument. */
typedef void (*GC_warn_proc)(char *msg, GC_word arg);
GC_API void GC_set_warn_proc(GC_warn_proc);
GC_API GC_warn_proc GC_get_warn_proc(void);
GC_API void GC_ignore_warn_proc(char *msg, GC_word arg);

/* Run fn(client_data) with no collection starting meanwhile.  fn must not
 * allocate or call the collector. */
typedef void *(*GC_fn_type)(void *client_data);
GC_API void *GC_call_with_alloc_lock(GC_fn_type fn, void *client_data);

/* Print the heap's figures on standard output. */
GC_API void GC_dump(void);

/* ---- Allocation ------------------------------------------------------------ */

/* Zeroed, scanned for pointers, collected. */
GC_API void *GC_malloc(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
/* Not zeroed, never scanned (holds no pointers), collected. */
GC_API void *GC_malloc_atomic(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
/* Scanned, never collected: free it with GC_free. */
GC_API void *GC_malloc_uncollectable(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_malloc_atomic_uncollectable(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
/* As GC_malloc and GC_malloc_atomic: the caller keeps a pointer into the
 * first 512 bytes (every interior pointer counts here anyway). */
GC_API void *GC_malloc_ignore_off_page(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_malloc_atomic_ignore_off_page(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
/* A list of zeroed objects of the size, linked through their first word. */
GC_API void *GC_malloc_many(size_t);
#define GC_NEXT(p) (*(void **)(p))
GC_API void *GC_memalign(size_t align, size_t lb) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(2);
GC_API int GC_posix_memalign(void **memptr, size_t align, size_t lb) GC_ATTR_NONNULL(1);
GC_API void *GC_realloc(void *old_object, size_t new_size) GC_ATTR_ALLOC_SIZE(2);
GC_API void GC_free(void *);
GC_API char *GC_strdup(const char *) GC_ATTR_MALLOC;
GC_API char *GC_strndup(const char *, size_t) GC_ATTR_MALLOC;
/* Start of the object holding p, or NULL. */
GC_API void *GC_base(void *p);
GC_API int GC_is_heap_ptr(const void *p);
/* Bytes usable in the object that starts at p. */
GC_API size_t GC_size(const void *p);
GC_API void GC_register_displacement(size_t);
GC_API void GC_debug_register_displacement(size_t);
/* Returns p; calls GC_is_visible_print_proc if the collector cannot see
 * the location p. */
GC_API void *GC_is_visible(void *p);
GC_API void (*GC_is_visible_print_proc)(void *);
GC_API void *GC_same_obj(void *p, void *q);
GC_API void (*GC_same_obj_print_proc)(void *, void *);
GC_API void *GC_is_valid_displacement(void *p);
GC_API void (*GC_is_valid_displacement_print_proc)(void *);
GC_API void GC_noop1(GC_word);
GC_API void GC_change_stubborn(const void *);
GC_API void GC_end_stubborn_change(const void *);
GC_API void *GC_malloc_stubborn(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void GC_ptr_store_and_dirty(void *p, const void *q);

/* ---- Debugging versions: the same, the caller's place ignored ---------- */

#define GC_EXTRA_PARAMS const char *s, int i
GC_API void *GC_debug_malloc(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_atomic(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_uncollectable(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_atomic_uncollectable(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_ignore_off_page(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_atomic_ignore_off_page(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_stubborn(size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_malloc_replacement(size_t) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_debug_realloc(void *, size_t, GC_EXTRA_PARAMS) GC_ATTR_ALLOC_SIZE(2);
GC_API void *GC_debug_realloc_replacement(void *, size_t) GC_ATTR_ALLOC_SIZE(2);
GC_API char *GC_debug_strdup(const char *, GC_EXTRA_PARAMS) GC_ATTR_MALLOC;
GC_API char *GC_debug_strndup(const char *, size_t, GC_EXTRA_PARAMS) GC_ATTR_MALLOC;
GC_API void GC_debug_free(void *);
GC_API void GC_debug_change_stubborn(const void *);
GC_API void GC_debug_end_stubborn_change(const void *);
GC_API void GC_debug_ptr_store_and_dirty(void *p, const void *q);

#ifdef GC_DEBUG
#define GC_EXTRAS __FILE__, __LINE__
#define GC_MALLOC(sz) GC_debug_malloc(sz, GC_EXTRAS)
#define GC_MALLOC_ATOMIC(sz) GC_debug_malloc_atomic(sz, GC_EXTRAS)
#define GC_MALLOC_UNCOLLECTABLE(sz) GC_debug_malloc_uncollectable(sz, GC_EXTRAS)
#define GC_MALLOC_ATOMIC_UNCOLLECTABLE(sz) GC_debug_malloc_atomic_uncollectable(sz, GC_EXTRAS)
#define GC_MALLOC_IGNORE_OFF_PAGE(sz) GC_debug_malloc_ignore_off_page(sz, GC_EXTRAS)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(sz) GC_debug_malloc_atomic_ignore_off_page(sz, GC_EXTRAS)
#define GC_REALLOC(p, sz) GC_debug_realloc(p, sz, GC_EXTRAS)
#define GC_STRDUP(s) GC_debug_strdup(s, GC_EXTRAS)
#define GC_STRNDUP(s, n) GC_debug_strndup(s, n, GC_EXTRAS)
#define GC_FREE(p) GC_debug_free(p)
#define GC_REGISTER_FINALIZER(p, f, d, of, od) GC_debug_register_finalizer(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od) \
	GC_debug_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od) \
	GC_debug_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od) \
	GC_debug_register_finalizer_unreachable(p, f, d, of, od)
#define GC_REGISTER_DISPLACEMENT(n) GC_debug_register_displacement(n)
#else
#define GC_EXTRAS "unknown", 0
#define GC_MALLOC(sz) GC_malloc(sz)
#define GC_MALLOC_ATOMIC(sz) GC_malloc_atomic(sz)
#define GC_MALLOC_UNCOLLECTABLE(sz) GC_malloc_uncollectable(sz)
#define GC_MALLOC_ATOMIC_UNCOLLECTABLE(sz) GC_malloc_atomic_uncollectable(sz)
#define GC_MALLOC_IGNORE_OFF_PAGE(sz) GC_malloc_ignore_off_page(sz)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(sz) GC_malloc_atomic_ignore_off_page(sz)
#define GC_REALLOC(p, sz) GC_realloc(p, sz)
#define GC_STRDUP(s) GC_strdup(s)
#define GC_STRNDUP(s, n) GC_strndup(s, n)
#define GC_FREE(p) GC_free(p)
#define GC_REGISTER_FINALIZER(p, f, d, of, od) GC_register_finalizer(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od) \
	GC_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od) \
	GC_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od) \
	GC_register_finalizer_unreachable(p, f, d, of, od)
#define GC_REGISTER_DISPLACEMENT(n) GC_register_displacement(n)
#endif
#define GC_NEW(t) ((t *)GC_MALLOC(sizeof(t)))
#define GC_NEW_ATOMIC(t) ((t *)GC_MALLOC_ATOMIC(sizeof(t)))
#define GC_NEW_UNCOLLECTABLE(t) ((t *)GC_MALLOC_UNCOLLECTABLE(sizeof(t)))
#define GC_MALLOC_STUBBORN(sz) GC_MALLOC(sz)
#define GC_NEW_STUBBORN(t) GC_NEW(t)
#define GC_CHANGE_STUBBORN(p) ((void)(p))
#define GC_END_STUBBORN_CHANGE(p) GC_end_stubborn_change(p)
#define GC_PTR_STORE_AND_DIRTY(p, q) GC_ptr_store_and_dirty(p, q)
#define GC_GENERAL_REGISTER_DISAPPEARING_LINK(link, obj) \
	GC_general_register_disappearing_link(link, obj)

/* ---- Precisely typed objects ------------------------------------------------ */

/* A layout: bit i of bitmap (word i / (8 * sizeof(GC_word)), bit
 * i % that) set means word i of the object is a pointer; len words. */
typedef GC_word GC_descr;
#define GC_WORDSZ (8 * sizeof(GC_word))
#define GC_get_bit(bm, i) (((bm)[(i) / GC_WORDSZ] >> ((i) % GC_WORDSZ)) & 1)
#define GC_set_bit(bm, i) ((bm)[(i) / GC_WORDSZ] |= (GC_word)1 << ((i) % GC_WORDSZ))
#define GC_WORD_OFFSET(t, f) (offsetof(t, f) / sizeof(GC_word))
#define GC_BITMAP_SIZE(t) ((sizeof(t) / sizeof(GC_word) + GC_WORDSZ - 1) / GC_WORDSZ)
GC_API GC_descr GC_make_descriptor(const GC_word *bitmap, size_t len);
GC_API void *GC_malloc_explicitly_typed(size_t, GC_descr) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_malloc_explicitly_typed_ignore_off_page(size_t, GC_descr) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_calloc_explicitly_typed(size_t nelements, size_t element_size, GC_descr) GC_ATTR_MALLOC;
#define GC_MALLOC_EXPLICITLY_TYPED(bytes, d) GC_malloc_explicitly_typed(bytes, d)
#define GC_CALLOC_EXPLICITLY_TYPED(n, bytes, d) GC_calloc_explicitly_typed(n, bytes, d)

/* ---- Finalization -------------------------------------------------------------- */

typedef void (*GC_finalization_proc)(void *obj, void *client_data);
/* Run fn(obj, cd) once obj is unreachable; fn NULL removes the
 * finalizer.  The previous finalizer and its data go to *ofn and *ocd
 * (when not NULL), NULL if there was none. */
GC_API void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
				  GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
					      GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
					   GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
					      GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
					GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
						    GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
						 GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
						    GC_finalization_proc *ofn, void **ocd);
/* Run the finalizers that are ready; returns how many ran. */
GC_API int GC_invoke_finalizers(void);
GC_API int GC_should_invoke_finalizers(void);
GC_API void GC_finalize_all(void);
/* Nonzero: finalizers run only from GC_invoke_finalizers. */
GC_API void GC_set_finalize_on_demand(int);
GC_API int GC_get_finalize_on_demand(void);
/* Nonzero: finalizers of objects reachable from other finalizable objects
 * run too (in no order), as Java asks. */
GC_API void GC_set_java_finalization(int);
GC_API int GC_get_java_finalization(void);
/* Called when finalizers become ready to run. */
typedef void (*GC_finalizer_notifier_proc)(void);
GC_API GC_finalizer_notifier_proc GC_finalizer_notifier;
GC_API void GC_set_finalizer_notifier(GC_finalizer_notifier_proc);
GC_API GC_finalizer_notifier_proc GC_get_finalizer_notifier(void);

/* ---- Disappearing links (weak pointers) -------------------------------------- */

/* *link is set to NULL when obj becomes unreachable.  GC_SUCCESS,
 * GC_DUPLICATE (link registered already) or GC_NO_MEMORY. */
GC_API int GC_general_register_disappearing_link(void **link, const void *obj);
/* obj is the object holding link. */
GC_API int GC_register_disappearing_link(void **link);
/* 1 if link was registered, 0 if not. */
GC_API int GC_unregister_disappearing_link(void **link);
/* GC_SUCCESS, GC_DUPLICATE (new_link registered already), GC_NOT_FOUND. */
GC_API int GC_move_disappearing_link(void **link, void **new_link);
GC_API int GC_register_long_link(void **link, const void *obj);
GC_API int GC_unregister_long_link(void **link);
GC_API int GC_move_long_link(void **link, void **new_link);

/* Hidden pointers: invisible to the collector. */
#define GC_HIDE_POINTER(p) (~(GC_word)(p))
#define GC_REVEAL_POINTER(p) ((void *)GC_HIDE_POINTER(p))
#if defined(I_HIDE_POINTERS) || defined(GC_I_HIDE_POINTERS)
#define HIDE_POINTER(p) GC_HIDE_POINTER(p)
#define REVEAL_POINTER(p) GC_REVEAL_POINTER(p)
#endif

/* ---- Roots ---------------------------------------------------------------------- */

/* Scan [low, high_plus_1) as a root. */
GC_API void GC_add_roots(void *low, void *high_plus_1);
/* Stop scanning the ranges given to GC_add_roots that lie within
 * [low, high_plus_1). */
GC_API void GC_remove_roots(void *low, void *high_plus_1);
GC_API void GC_clear_roots(void);
GC_API void GC_exclude_static_roots(void *low, void *high_plus_1);
GC_API void *GC_dlopen(const char *path, int mode);

/* ---- Threads ------------------------------------------------------------------- */

struct GC_stack_base {
	void *mem_base; /* the stack's base: its highest address on x86-64 */
};
typedef void *(*GC_stack_base_func)(struct GC_stack_base *sb, void *arg);
GC_API int GC_get_stack_base(struct GC_stack_base *);
GC_API void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg);
GC_API void GC_allow_register_threads(void);
GC_API int GC_register_my_thread(const struct GC_stack_base *);
GC_API int GC_unregister_my_thread(void);
GC_API int GC_thread_is_registered(void);
GC_API void *GC_do_blocking(GC_fn_type fn, void *client_data);
GC_API void *GC_call_with_gc_active(GC_fn_type fn, void *client_data);
GC_API int GC_get_suspend_signal(void);
GC_API int GC_get_thr_restart_signal(void);
GC_API void GC_set_suspend_signal(int);
GC_API void GC_set_thr_restart_signal(int);
GC_API void GC_start_mark_threads(void);

#if defined(GC_THREADS) || defined(GC_PTHREADS) || defined(_REENTRANT)
/* Declared for every threaded build; pthread_create and the others are
 * redirected to them only where the program asks, with GC_THREADS. */
GC_API int GC_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
GC_API int GC_pthread_join(pthread_t, void **);
GC_API int GC_pthread_detach(pthread_t);
GC_API int GC_pthread_cancel(pthread_t);
GC_API void GC_pthread_exit(void *) GC_ATTR_NORETURN;
GC_API int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset);
#if (defined(GC_THREADS) || defined(GC_PTHREADS)) && !defined(GC_NO_THREAD_REDIRECTS) && \
	!defined(GOHEAP_BUILDING)
#undef pthread_create
#undef pthread_join
#undef pthread_detach
#undef pthread_cancel
#undef pthread_exit
#undef pthread_sigmask
#define pthread_create GC_pthread_create
#define pthread_join GC_pthread_join
#define pthread_detach GC_pthread_detach
#define pthread_cancel GC_pthread_cancel
#define pthread_exit GC_pthread_exit
#define pthread_sigmask GC_pthread_sigmask
#endif
#endif

/* ---- Statistics ------------------------------------------------------------------ */

GC_API size_t GC_get_heap_size(void);       /* heap bytes mapped, not released */
GC_API size_t GC_get_free_bytes(void);      /* of them, bytes in no live object */
GC_API size_t GC_get_unmapped_bytes(void);  /* heap bytes returned to the OS */
GC_API size_t GC_get_bytes_since_gc(void);  /* allocated since the last collection */
GC_API size_t GC_get_expl_freed_bytes_since_gc(void);
GC_API size_t GC_get_total_bytes(void);     /* allocated, ever */
GC_API size_t GC_get_obtained_from_os_bytes(void);
GC_API size_t GC_get_memory_use(void);
GC_API GC_word GC_get_gc_no(void);
GC_API void GC_get_heap_usage_safe(GC_word *pheap_size, GC_word *pfree_bytes,
				   GC_word *punmapped_bytes, GC_word *pbytes_since_gc,
				   GC_word *ptotal_bytes);

#ifdef __cplusplus
}
#endif

#endif /* GOHEAP_GC_H */
