/*
 * libgcroot.c - a library that t-gc-roots loads with dlopen(), so that the
 * only pointer to a block can sit in the static data of a shared object
 * loaded after the program started.  The collector finds such data with
 * dl_iterate_phdr at every collection (lib/roots.c).
 *
 * The slots are plain exported variables, written by the test through the
 * addresses dlsym gives: zero-initialised ones end up in .bss, initialised
 * ones in .data.
 */
#include <stddef.h>

#define GCROOT_NSLOTS 128

/* Declared first: the library has no header of its own. */
extern void *gcroot_slot;
extern void *gcroot_slots[GCROOT_NSLOTS];
extern void *gcroot_data_slots[GCROOT_NSLOTS];
extern const size_t gcroot_nslots;
void gcroot_set(size_t i, void *p);
void *gcroot_get(size_t i);

/* One slot, and arrays for tests that drop many blocks at once. */
void *gcroot_slot;
void *gcroot_slots[GCROOT_NSLOTS];
/* Slot 0 holds an address of the library's own, only so that the array
 * is initialised and lands in .data; tests use slots 1 and up. */
void *gcroot_data_slots[GCROOT_NSLOTS] = { &gcroot_slot };
const size_t gcroot_nslots = GCROOT_NSLOTS;

/* Store p in the .bss slot i through code of the library itself. */
void gcroot_set(size_t i, void *p)
{
	if (i < GCROOT_NSLOTS)
		__atomic_store_n(&gcroot_slots[i], p, __ATOMIC_SEQ_CST);
}

void *gcroot_get(size_t i)
{
	return i < GCROOT_NSLOTS
		       ? __atomic_load_n(&gcroot_slots[i], __ATOMIC_SEQ_CST)
		       : NULL;
}
