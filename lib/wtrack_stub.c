/* TEMPORARY development stub (not for commit): reports every tracked range as written. */
#include "config.h"
#include "gh.h"
#include "os.h"
static struct { uintptr_t lo, hi; } rg[4096];
static int nrg, active, kind = GH_WT_UFFD;
gh_wt_kind gh_wt_init(gh_wt_kind want) { kind = want; return want; }
#include <stdlib.h>
gh_wt_kind gh_wt_backend(void) { return getenv("STUB_STW") ? GH_WT_NONE : kind; }
const char *gh_wt_name(gh_wt_kind k) { return k == GH_WT_UFFD ? "stub-all" : "none"; }
int gh_wt_track(uintptr_t lo, uintptr_t hi) { if (nrg < 4096) { rg[nrg].lo = lo; rg[nrg].hi = hi; nrg++; } __atomic_store_n(&active, 1, __ATOMIC_RELEASE); return 0; }
int gh_wt_collect(void (*fn)(uintptr_t, uintptr_t, void *), void *arg) { int n = __atomic_load_n(&nrg, __ATOMIC_ACQUIRE); for (int i = 0; i < n; i++) fn(rg[i].lo, rg[i].hi, arg); return 0; }
void gh_wt_stop(void) { nrg = 0; __atomic_store_n(&active, 0, __ATOMIC_RELEASE); }
bool gh_wt_active(void) { return __atomic_load_n(&active, __ATOMIC_ACQUIRE); }
