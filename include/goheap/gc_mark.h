/*
 * goheap/gc_mark.h - the Boehm collector's mark-procedure interface,
 * served by libgoheap's libgc.so.1: object kinds whose objects the
 * collector scans with a procedure of the program's (Guile, ECL and
 * Crystal use it).  Written for libgoheap from the documented interface;
 * goheap-gc(3) says what libgoheap does for each entry point.
 */
#ifndef GOHEAP_GC_MARK_H
#define GOHEAP_GC_MARK_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An entry of the mark stack a mark procedure pushes on: a range and its
 * descriptor. */
struct GC_ms_entry {
	void *mse_start;
	union word_ptr_ao_u {
		GC_word w;
		void *p;
	} mse_descr;
};

/* A mark procedure: scan the object at addr, mark (GC_mark_and_push) what
 * it references, and return the new top of the mark stack. */
typedef struct GC_ms_entry *(*GC_mark_proc)(GC_word *addr, struct GC_ms_entry *mark_stack_ptr,
					     struct GC_ms_entry *mark_stack_limit, GC_word env);

/* Descriptors: the low two bits say what the rest is. */
#define GC_LOG_MAX_MARK_PROCS 6
#define GC_MAX_MARK_PROCS (1 << GC_LOG_MAX_MARK_PROCS)
#define GC_RESERVED_MARK_PROCS 8
#define GC_DS_TAG_BITS 2
#define GC_DS_TAGS ((1 << GC_DS_TAG_BITS) - 1)
#define GC_DS_LENGTH 0     /* the rest: the bytes to scan from the start */
#define GC_DS_BITMAP 1     /* the rest: a bitmap, most significant bit the first word */
#define GC_DS_PROC 2       /* a mark procedure and its environment */
#define GC_DS_PER_OBJECT 3 /* the descriptor is in the object */
#define GC_MAKE_PROC(proc_index, env) \
	(((((GC_word)(env) << GC_LOG_MAX_MARK_PROCS) | (proc_index)) << GC_DS_TAG_BITS) | GC_DS_PROC)
#define GC_INDIR_PER_OBJ_BIAS 0x10

/* The predefined kinds. */
#define GC_I_PTRFREE 0
#define GC_I_NORMAL 1

GC_API void **GC_new_free_list(void);
GC_API void **GC_new_free_list_inner(void);
GC_API unsigned GC_new_kind(void **free_list, GC_word mark_descriptor_template,
			    int add_size_to_descriptor, int clear_new_objects);
GC_API unsigned GC_new_kind_inner(void **free_list, GC_word mark_descriptor_template,
				  int add_size_to_descriptor, int clear_new_objects);
GC_API unsigned GC_new_proc(GC_mark_proc);
GC_API unsigned GC_new_proc_inner(GC_mark_proc);
GC_API void *GC_generic_malloc(size_t lb, int k) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_generic_malloc_ignore_off_page(size_t lb, int k) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_generic_malloc_uncollectable(size_t lb, int k) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void *GC_generic_or_special_malloc(size_t lb, int k) GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1);
GC_API void GC_generic_malloc_many(size_t lb, int k, void **result);

/* In a mark procedure: mark obj, if it is in the heap, and what it
 * references in turn. */
GC_API struct GC_ms_entry *GC_mark_and_push(void *obj, struct GC_ms_entry *mark_stack_ptr,
					    struct GC_ms_entry *mark_stack_limit, void **src);
#define GC_MARK_AND_PUSH(obj, msp, lim, src)                                         \
	((GC_word)(obj) >= (GC_word)GC_least_plausible_heap_addr &&                   \
			 (GC_word)(obj) < (GC_word)GC_greatest_plausible_heap_addr          \
		 ? GC_mark_and_push(obj, msp, lim, src)                                    \
		 : (msp))
/* In a mark procedure or GC_push_other_roots: scan a range. */
GC_API void GC_push_all(void *bottom, void *top);
GC_API void GC_push_all_eager(void *bottom, void *top);
GC_API void GC_push_conditional(void *bottom, void *top, int all);
GC_API void GC_set_mark_bit(const void *);
GC_API void GC_clear_mark_bit(const void *);
GC_API int GC_is_marked(const void *);

/* Called by every collection, with the world stopped, to mark roots the
 * collector does not know of (with GC_push_all). */
typedef void (*GC_push_other_roots_proc)(void);
GC_API GC_push_other_roots_proc GC_push_other_roots;
GC_API void GC_set_push_other_roots(GC_push_other_roots_proc);
GC_API GC_push_other_roots_proc GC_get_push_other_roots(void);

#ifdef __cplusplus
}
#endif

#endif /* GOHEAP_GC_MARK_H */
