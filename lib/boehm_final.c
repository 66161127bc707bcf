/*
 * boehm_final.c - the Boehm collector's finalization and disappearing-link
 * interface on libgoheap's specials (mfinal.c, mweak.c).  See boehm.c for
 * the drop-in's overview.
 *
 * Each entry point is one call of the collector's internal interface:
 *
 *   GC_register_finalizer              gh_final_register, GH_FINAL_ORDERED
 *   GC_register_finalizer_ignore_self  GH_FINAL_IGNORE_SELF
 *   GC_register_finalizer_no_order     GH_FINAL_NO_ORDER
 *   GC_register_finalizer_unreachable  GH_FINAL_NO_ORDER (see below)
 *   GC_invoke_finalizers               goheap_run_finalizers
 *   GC_set_finalize_on_demand          gh_final_set_on_demand
 *   GC_set_finalizer_notifier          gh_final_set_notifier
 *   GC_set_java_finalization           gh_final_set_java
 *   GC_general_register_disappearing_link, GC_unregister_..., GC_move_...
 *                                      gh_weak_register, _unregister, _move
 *
 * The old finalizer and its data come back through gh_final_register's
 * out-parameters; GC_free drops an object's finalizer and clears the links
 * to it (goheap_free).  A program may also set GC_finalize_on_demand,
 * GC_finalizer_notifier and GC_java_finalization directly, as Boehm
 * allows before GC_init: GC_init, the setters and the start of every
 * collection (boehm.c's hook) pass them on.
 *
 * Boehm's "unreachable" finalizers run once nothing but other finalizable
 * objects reaches the object, in no order: the collector's unordered mode
 * is the nearest.  Long links are cleared with the short ones, at the end
 * of marking, not once finalizers have run: a finalizer that resurrects
 * its object finds its long links cleared.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "gh.h"
#include "boehm.h"

int GC_finalize_on_demand;
int GC_java_finalization = 1;
GC_finalizer_notifier_proc GC_finalizer_notifier;

void gh_boehm_final_sync(void)
{
	bool on = __atomic_load_n(&GC_finalize_on_demand, __ATOMIC_RELAXED) != 0;
	if (on != gh_final_on_demand())
		gh_final_set_on_demand(on);
	gh_final_set_notifier(__atomic_load_n(&GC_finalizer_notifier, __ATOMIC_RELAXED));
	bool java = __atomic_load_n(&GC_java_finalization, __ATOMIC_RELAXED) != 0;
	if (java != gh_final_java())
		gh_final_set_java(java);
}

/* ---- Finalizers ---- */

static void reg(void *obj, GC_finalization_proc fn, void *cd, enum gh_final_mode mode,
		GC_finalization_proc *ofn, void **ocd)
{
	gh_final_fn old_fn = NULL;
	void *old_cd = NULL;
	/* -EINVAL (not the start of a heap object): ignored, as Boehm
	 * ignores it, with no old finalizer. */
	if (gh_final_register(obj, fn, cd, mode, &old_fn, &old_cd) == -ENOMEM)
		gh_boehm_warn("GC Warning: no memory to register a finalizer for %p\n",
			      (GC_word)obj);
	if (ofn)
		*ofn = old_fn;
	if (ocd)
		*ocd = old_cd;
}

void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
			   GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, GH_FINAL_ORDERED, ofn, ocd);
}

void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
				       GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, GH_FINAL_IGNORE_SELF, ofn, ocd);
}

void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
				    GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, GH_FINAL_NO_ORDER, ofn, ocd);
}

void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
				       GC_finalization_proc *ofn, void **ocd)
{
	reg(obj, fn, cd, GH_FINAL_NO_ORDER, ofn, ocd);
}

void GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
				 GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
					     GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer_ignore_self(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
					  GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer_no_order(obj, fn, cd, ofn, ocd);
}

void GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
					     GC_finalization_proc *ofn, void **ocd)
{
	GC_register_finalizer_unreachable(obj, fn, cd, ofn, ocd);
}

int GC_invoke_finalizers(void)
{
	gh_boehm_final_sync();
	int n = goheap_run_finalizers();
	return n > 0 ? n : 0;
}

int GC_should_invoke_finalizers(void)
{
	return gh_final_pending();
}

void GC_finalize_all(void)
{
	/* The finalizers of unreachable objects only: a reachable object
	 * keeps its finalizer. */
	GC_gcollect();
	GC_invoke_finalizers();
}

/* After an explicit collection the ready finalizers run on the calling
 * thread, as Boehm runs them there, unless finalization is on demand. */
void gh_boehm_after_collect(void)
{
	if (!__atomic_load_n(&GC_finalize_on_demand, __ATOMIC_RELAXED))
		goheap_run_finalizers();
}

void GC_set_finalize_on_demand(int v)
{
	__atomic_store_n(&GC_finalize_on_demand, v, __ATOMIC_RELAXED);
	gh_boehm_final_sync();
}

int GC_get_finalize_on_demand(void)
{
	return __atomic_load_n(&GC_finalize_on_demand, __ATOMIC_RELAXED);
}

void GC_set_java_finalization(int v)
{
	__atomic_store_n(&GC_java_finalization, v, __ATOMIC_RELAXED);
	gh_boehm_final_sync();
}

int GC_get_java_finalization(void)
{
	return __atomic_load_n(&GC_java_finalization, __ATOMIC_RELAXED);
}

void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn)
{
	__atomic_store_n(&GC_finalizer_notifier, fn, __ATOMIC_RELAXED);
	gh_boehm_final_sync();
}

GC_finalizer_notifier_proc GC_get_finalizer_notifier(void)
{
	return __atomic_load_n(&GC_finalizer_notifier, __ATOMIC_RELAXED);
}

/* ---- Disappearing links ----
 *
 * As with Boehm, the link must not itself keep the object alive: it holds
 * a hidden pointer (GC_HIDE_POINTER) or lies in memory the collector does
 * not scan.  A link that is NULL or not word-aligned is a fatal misuse, as
 * with Boehm. */

static void check_link(const char *fn, void **link)
{
	if (!link || ((uintptr_t)link & (sizeof(void *) - 1)))
		gh_throw("%s(%p): not a word-aligned link", fn, (void *)link);
}

int GC_general_register_disappearing_link(void **link, const void *obj)
{
	check_link("GC_general_register_disappearing_link", link);
	gh_init();
	/* An object the collector does not manage is never collected: its
	 * link would never be cleared, so there is nothing to register. */
	if (!obj || goheap_base((void *)obj) != obj)
		return GC_SUCCESS;
	switch (gh_weak_register(link, obj)) {
	case 0:
		return GC_SUCCESS;
	case 1:
		return GC_DUPLICATE;
	case -ENOMEM:
		return GC_NO_MEMORY;
	default:
		/* The link lies in a free block. */
		gh_throw("GC_general_register_disappearing_link(%p): the link is in freed memory",
			 (void *)link);
	}
}

int GC_register_disappearing_link(void **link)
{
	void *base = GC_base(link);
	if (!base)
		gh_throw("GC_register_disappearing_link(%p): not in a heap object", (void *)link);
	return GC_general_register_disappearing_link(link, base);
}

int GC_unregister_disappearing_link(void **link)
{
	if (!link || ((uintptr_t)link & (sizeof(void *) - 1)))
		return 0;
	return gh_weak_unregister(link);
}

int GC_move_disappearing_link(void **link, void **new_link)
{
	check_link("GC_move_disappearing_link", new_link);
	if (!link || ((uintptr_t)link & (sizeof(void *) - 1)))
		return GC_NOT_FOUND;
	switch (gh_weak_move(link, new_link)) {
	case 0:
		return GC_SUCCESS;
	case -EEXIST:
		return GC_DUPLICATE;
	default:
		return GC_NOT_FOUND;
	}
}

int GC_register_long_link(void **link, const void *obj)
{
	return GC_general_register_disappearing_link(link, obj);
}

int GC_unregister_long_link(void **link)
{
	return GC_unregister_disappearing_link(link);
}

int GC_move_long_link(void **link, void **new_link)
{
	return GC_move_disappearing_link(link, new_link);
}
