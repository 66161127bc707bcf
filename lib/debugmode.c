/*
 * debugmode.c - the GOHEAP_DEBUG modes that help find bugs in the program
 * on top of the heap (goheap(7)):
 *
 *   efence=1          every block on pages of its own, its end at the end
 *                     of its last page, followed by an inaccessible guard
 *                     page; a freed block's pages become inaccessible and
 *                     are never used again.  An overrun past the end or a
 *                     use after free faults at the access.  Slow, and it
 *                     never gives memory back: for debugging only.
 *   allocfreetrace=1  one line per allocation and free, with a short
 *                     backtrace, on stderr or in GOHEAP_TRACE_FILE.
 *   poison=1          freed blocks, by goheap_free or by the collector,
 *                     are filled with GH_POISON_WORD (0xdeadbeefdeadbeef),
 *                     but for the free link in the first 16 bytes of a
 *                     small block.
 *
 * All of them cost the fast paths nothing while off: gh_debug_flags holds
 * the modes (and whether Valgrind is there), and any bit set sends every
 * allocation and free to the slow paths (debugmode.h).
 *
 * An efence block is a large span whose start is moved up to the block, so
 * that its end meets the guard page: s->start is then not page aligned,
 * s->limit is the guard page and s->elemsize the block's rounded size.
 * A retired efence span keeps its pages in the page map but its state is
 * GH_SPAN_DEAD, so no lookup finds it and the page heap never merges it.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debugmode.h"
#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

int gh_debug_flags;
static int trace_fd = STDERR_FILENO;

void gh_debug_init(void)
{
	int f = 0;
	if (gh_track_on_now())
		f |= GH_DEBUG_VALGRIND;
	if (gh_option(GH_OPT_EFENCE))
		f |= GH_DEBUG_EFENCE;
	if (gh_option(GH_OPT_ALLOCFREETRACE)) {
		f |= GH_DEBUG_TRACE;
		const char *path = getenv("GOHEAP_TRACE_FILE");
		if (path && *path) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
				      0644);
			if (fd >= 0)
				trace_fd = fd;
			else
				gh_warn("allocfreetrace: cannot open GOHEAP_TRACE_FILE %s: %s; "
					"tracing to stderr",
					path, strerror(errno));
		}
	}
	if (gh_option(GH_OPT_POISON))
		f |= GH_DEBUG_POISON;
	__atomic_store_n(&gh_debug_flags, f, __ATOMIC_RELAXED);
}

/* ---- efence ---- */

void *gh_efence_alloc(size_t size, uint32_t kind, const goheap_type *type)
{
	size_t n = size ? (size + 15) & ~(size_t)15 : 16;
	if (size > SIZE_MAX - 2 * GH_PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	gh_gc_maybe();
	size_t npages = ((n + GH_PAGE_SIZE - 1) >> GH_PAGE_SHIFT) + 1;
	gh_span *s = gh_mheap_alloc(npages, GH_SPANCLASS(0, kind == GH_KIND_TINY ? GH_KIND_NOSCAN : kind));
	if (!s)
		return NULL;
	uintptr_t guard = s->start + ((npages - 1) << GH_PAGE_SHIFT);
	uintptr_t p = guard - n;
	/* A collection may stop this thread at any point here and find the
	 * span in use through its address in a register: at every step the
	 * range it would scan, [start, start + elemsize), must stay in the
	 * span's accessible pages.  So shrink it from the top, move its start
	 * up, and only then protect the guard page. */
	__atomic_store_n(&s->elemsize, n, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&s->limit, guard, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&s->start, p, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	gh_sys_fault((void *)guard, GH_PAGE_SIZE);
	if (s->needzero)
		memset((void *)p, 0, n);
	gh_track_malloc((void *)p, n, true);
	if (type)
		gh_span_set_type(s, p, type);
	gh_span_publish(s);
	gh_gc_note_alloc((int64_t)n);
	return (void *)p;
}

void gh_efence_retire(gh_span *s)
{
	size_t bytes = s->npages << GH_PAGE_SHIFT;
	uintptr_t base = s->limit - ((s->npages - 1) << GH_PAGE_SHIFT);
	/* Out of every lookup first: a collection that stops this thread
	 * (which may hold the block's address) must not scan the pages once
	 * they are protected. */
	s->types = NULL;
	__atomic_store_n(&s->state, GH_SPAN_DEAD, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	gh_sys_unused((void *)base, bytes);
	gh_sys_fault((void *)base, bytes);
	gh_stat_add(&gh_heap.stats.large_nfree, 1);
	gh_stat_add(&gh_heap.stats.large_free_bytes, (int64_t)bytes);
}

/* ---- allocfreetrace ---- */

static const char *const kind_names[GH_NKINDS] = {"scan", "atomic", "typed", "tiny"};

/* Append the caller's stack, without libgoheap's frames, as object+offset
 * (or symbol+offset) words. */
static int put_stack(char *buf, int len, int max)
{
	void *raw[24];
	int n = backtrace(raw, 24);
	Dl_info self;
	if (!dladdr((void *)gh_debug_init, &self))
		self.dli_fbase = NULL;
	int shown = 0;
	for (int i = 0; i < n && shown < 4 && len < max - 64; i++) {
		Dl_info info;
		if (!dladdr(raw[i], &info) || !info.dli_fname) {
			len += snprintf(buf + len, (size_t)(max - len), " %p", raw[i]);
			shown++;
			continue;
		}
		if (info.dli_fbase == self.dli_fbase && self.dli_fbase)
			continue; /* libgoheap's own frame */
		uintptr_t a = (uintptr_t)raw[i] - 1;
		if (info.dli_sname && info.dli_saddr)
			len += snprintf(buf + len, (size_t)(max - len), " %s+%#lx", info.dli_sname,
					(unsigned long)(a - (uintptr_t)info.dli_saddr));
		else {
			const char *base = strrchr(info.dli_fname, '/');
			len += snprintf(buf + len, (size_t)(max - len), " %s+%#lx",
					base ? base + 1 : info.dli_fname,
					(unsigned long)(a - (uintptr_t)info.dli_fbase));
		}
		shown++;
	}
	return len < max ? len : max - 1;
}

static void trace_line(const char *what, void *p, size_t size, const char *kind, bool stack)
{
	char buf[512];
	const gh_thread *t = gh_self_thread;
	int len = snprintf(buf, sizeof buf, "goheap: %s %p size %zu kind %s thread %d", what, p,
			   size, kind, t ? (int)t->tid : 0);
	if (len < 0 || len >= (int)sizeof buf - 2)
		len = (int)sizeof buf - 2;
	if (stack) {
		len += snprintf(buf + len, sizeof buf - (size_t)len, " at");
		len = put_stack(buf, len, (int)sizeof buf - 1);
	}
	buf[len++] = '\n';
	ssize_t w = write(trace_fd, buf, (size_t)len);
	(void)w;
}

void gh_debug_alloc(void *p, size_t size, uint32_t kind)
{
	if (gh_debug_flags & GH_DEBUG_TRACE)
		trace_line("alloc", p, size, kind_names[kind & 3], true);
}

void gh_debug_free(void *p, size_t size, size_t skip, bool bygc)
{
	int f = gh_debug_flags;
	if (f & GH_DEBUG_TRACE) {
		gh_span *s = gh_span_of((uintptr_t)p);
		const char *kind = s ? kind_names[GH_SPANCLASS_KIND(s->spanclass)] : "?";
		/* The sweeper's stack says nothing about the block. */
		trace_line(bygc ? "free-by-gc" : "free", p, size, kind, !bygc);
	}
	if ((f & GH_DEBUG_POISON) && size > skip) {
		uint64_t *w = (uint64_t *)((uintptr_t)p + skip);
		for (size_t i = 0; i < (size - skip) / 8; i++)
			w[i] = GH_POISON_WORD;
	}
}
