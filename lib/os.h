/*
 * os.h - the operating-system layer: the one contract for every service
 * libgoheap takes from the system (mimalloc's prim.h, libuv's src/unix).
 * Nothing outside the files below makes a system call, reads /proc, walks
 * the dynamic loader's list, sends or handles a signal, or uses an
 * instruction of one CPU; calls that every supported system makes alike
 * (open and write on the user's files, pthread_*, sched_yield) are made
 * where they are needed.
 *
 * The implementations, one file per system and one per CPU architecture,
 * chosen by Makefile.am (AM_CONDITIONAL), never by #ifdef:
 *
 *   mem_linux.c      memory: mmap, madvise; random bits; resident size
 *   os_linux.c       the clock, stderr, waiting on a word, loaded objects,
 *                    CPUs, a thread's id and stack
 *   os_ipc_linux.c   waiting on a word of a shared file mapping, and a
 *                    process's start time: the stats file's services,
 *                    which goheap-stat links too (the file needs nothing
 *                    else of the library)
 *   stw_linux.c      stopping threads: the stop signal, its handler, and
 *                    the restart of system calls the signal interrupted
 *   wtrack_linux.c   write tracking: which heap pages the program wrote
 *                    while the collector marked (userfaultfd, mprotect)
 *   arch_x86_64_linux.c, arch_aarch64_linux.c
 *                    the CPU: register spill, vector registers, spin hint,
 *                    and Linux's view of it that stw_linux.c needs (the
 *                    signal context, the system-call instruction, the
 *                    system-call numbers)
 *   mem_darwin.c     memory on macOS.  The rest of a macOS port (an
 *                    os_darwin.c and a stw_darwin.c) is not written, and
 *                    configure refuses macOS until it is.
 *
 * Each function says which service it performs; memory functions also say
 * which transition of address space they make.
 *
 * Memory
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
 * The stat arguments are counters in the statistics (heap_sys, gc_sys, ...)
 * that the call adjusts by the bytes it moves in or out of "obtained from
 * the OS"; callers hold whatever lock protects that counter.
 */
#ifndef GH_OS_H
#define GH_OS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gh.h"

/* ---- Memory (mem_linux.c, mem_darwin.c) ---------------------------------- */

/* none -> ready: fresh zeroed memory for metadata, page aligned.  NULL on
 * failure (errno from the OS). */
GH_INTERNAL void *gh_sys_alloc(size_t n, uint64_t *stat);

/* ready/reserved -> none. */
GH_INTERNAL void gh_sys_free(void *v, size_t n, uint64_t *stat);

/* none -> reserved: n bytes of address space aligned to align (a power of
 * two, at least the page size), near hint if possible.  NULL on failure. */
GH_INTERNAL void *gh_sys_reserve(void *hint, size_t n, size_t align);

/* reserved -> ready.  Returns 0, or -1 with errno set. */
GH_INTERNAL int gh_sys_map(void *v, size_t n, uint64_t *stat);

/* ready -> prepared: the OS may reclaim the memory (it stays mapped). */
GH_INTERNAL void gh_sys_unused(void *v, size_t n);

/* prepared -> ready. */
GH_INTERNAL void gh_sys_used(void *v, size_t n);

/* ready -> reserved: any access faults (debug modes). */
GH_INTERNAL void gh_sys_fault(void *v, size_t n);

/* none -> a shared mapping of n bytes of the file open on fd, readable
 * and writable (the stats file).  NULL on failure (errno from the OS). */
GH_INTERNAL void *gh_sys_map_file(int fd, size_t n);

/* A mapping made by gh_sys_map_file -> none. */
GH_INTERNAL void gh_sys_unmap_file(void *v, size_t n);

/* Whether memory made prepared by gh_sys_unused reads as zero afterwards. */
GH_INTERNAL extern const int gh_sys_unused_zeroes;

/* Resident bytes of the calling process, or 0 if unknown. */
GH_INTERNAL uint64_t gh_sys_rss(void);

/* The OS page size in bytes. */
GH_INTERNAL size_t gh_sys_pagesize(void);

/* ---- Fault injection --------------------------------------------------------
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

/* ---- Random bits (mem_linux.c, mem_darwin.c) ----------------------------- */

/* 64 random bits for secrets (the free tag); never fails. */
GH_INTERNAL uint64_t gh_sys_random(void);

/* ---- The clock (os_linux.c) ---------------------------------------------- */

/* Monotonic clock in ns (CLOCK_MONOTONIC: no jumps, not counting
 * suspend).  A vDSO call, no system call. */
GH_INTERNAL uint64_t gh_nanotime(void);
/* Wall clock in ns since the Epoch (CLOCK_REALTIME). */
GH_INTERNAL uint64_t gh_walltime(void);
/* CPU time used so far by the calling thread, and by the whole process,
 * in nanoseconds (gctrace). */
GH_INTERNAL uint64_t gh_thread_cputime(void);
GH_INTERNAL uint64_t gh_process_cputime(void);

/* ---- Standard error (os_linux.c) ----------------------------------------- */

/* Write n bytes to file descriptor 2 with write(2) alone, retrying after
 * EINTR and short writes: no stdio lock and no allocation, so it is safe
 * while other threads are stopped (they may hold the stdio lock) and in a
 * signal handler.  Errors are ignored: there is nowhere left to report
 * them.  gh_warn and gh_throw (error.c) write their lines through it. */
GH_INTERNAL void gh_os_write_stderr(const char *buf, size_t n);

/* ---- Waiting on a word (os_linux.c; os_ipc_linux.c) ---------------------- */

#define GH_OS_FOREVER UINT64_MAX
#define GH_OS_WAKE_ALL UINT32_MAX

/* Sleep while *word == val, until a wake on word, a signal, a spurious
 * wake-up or timeout_ns (GH_OS_FOREVER: none); the caller checks its
 * condition again.  For words private to this process (os_linux.c: one
 * system call, no user-space lock).  Async-signal-safe. */
GH_INTERNAL void gh_os_wait(uint32_t *word, uint32_t val, uint64_t timeout_ns);
/* Wake up to n threads sleeping on word (GH_OS_WAKE_ALL: all). */
GH_INTERNAL void gh_os_wake(uint32_t *word, uint32_t n);

/* Sleep for about ns nanoseconds, less if a signal comes: a wait on a
 * word nobody wakes. */
static inline void gh_os_sleep(uint64_t ns)
{
	uint32_t never = 0;
	gh_os_wait(&never, 0, ns);
}

/* The same for a word of a shared file mapping, across processes: the
 * monitor sleeps on the stats file's kick word, goheap-stat wakes it, and
 * the other way round for a request's done_seq (statfile.h).  A waiter
 * and a waker of another process meet when the word is at the same offset
 * of the same file (os_ipc_linux.c). */
GH_INTERNAL void gh_os_wait_shared(uint32_t *word, uint32_t val, uint64_t timeout_ns);
/* Wake every waiter on word. */
GH_INTERNAL void gh_os_wake_shared(uint32_t *word);

/* ---- Processes (os_ipc_linux.c; os_linux.c) ------------------------------ */

/* The start time of process pid in clock ticks since boot (/proc/PID/stat
 * field 22, as the kernel has it), or 0 if unknown.  With the pid it
 * names a process for good: pids are reused, start times of one pid are
 * not.  System calls only. */
GH_INTERNAL uint64_t gh_os_proc_start_ticks(pid_t pid);

/* The path of the running program (/proc/self/exe) into buf, NUL-ended;
 * its length, or 0 (buf "") if unknown or longer than n - 1. */
GH_INTERNAL size_t gh_os_program_path(char *buf, size_t n);

/* Online CPUs, at least 1. */
GH_INTERNAL uint32_t gh_os_ncpu(void);

/* ---- Loaded objects (os_linux.c) -------------------------------------------
 *
 * The program, its shared libraries and the vDSO, as the dynamic loader
 * lists them, each with its segments (ELF program headers on Linux). */

enum gh_os_segment_kind {
	GH_SEGMENT_LOAD = 1,  /* mapped from the file (PT_LOAD) */
	GH_SEGMENT_RELRO = 2, /* read-only after relocation (PT_GNU_RELRO) */
	GH_SEGMENT_NOTE = 3,  /* notes, such as the build id (PT_NOTE) */
	GH_SEGMENT_OTHER = 4,
};

typedef struct gh_os_segment {
	int kind;            /* enum gh_os_segment_kind */
	bool writable, executable;
	uintptr_t lo, hi;    /* where it lies in memory */
	uint64_t offset;     /* where it starts in the file */
} gh_os_segment;

typedef struct gh_os_object {
	const char *name;    /* its path; "" for the program */
	bool first;          /* listed first: the program itself */
	uintptr_t base;      /* load bias: what was added to its addresses */
	unsigned nsegments;
	const void *sys;     /* the loader's own description (os_*.c only) */
} gh_os_object;

/* Call fn on every loaded object, the program first, until fn returns
 * non-zero.  Objects cannot come or go meanwhile.  fn may call this and
 * gh_os_with_loader_locked again (the loader's lock nests). */
GH_INTERNAL void gh_os_objects_foreach(int (*fn)(const gh_os_object *o, void *arg), void *arg);
/* Segment i (< o->nsegments) of o. */
GH_INTERNAL void gh_os_object_segment(const gh_os_object *o, unsigned i, gh_os_segment *s);
/* The bytes of o's GNU build id (*id), and their number; 0 if it has
 * none (or a longer one than 64 bytes). */
GH_INTERNAL size_t gh_os_object_build_id(const gh_os_object *o, const uint8_t **id);

/* Run fn(arg) holding the loader's list lock, so that no library is
 * loaded or unloaded meanwhile: a collection marks inside it, so that no
 * static data it scans goes away (mgc.c).  A thread that waits for the
 * lock with the stop signal blocked cannot be stopped meanwhile: libunwind
 * does that (see mprof.c for how the collector avoids it). */
GH_INTERNAL void gh_os_with_loader_locked(void (*fn)(void *arg), void *arg);

/* ---- Threads and stopping them (os_linux.c, stw_linux.c) ----------------- */

/* The calling thread's stack: [*lo, *hi), hi its base.  0, or -1. */
GH_INTERNAL int gh_os_stack_bounds(uintptr_t *lo, uintptr_t *hi);
/* The calling thread's id as the kernel knows it (what /proc/self/task
 * lists, what a heap dump and a diagnostic name). */
GH_INTERNAL pid_t gh_os_gettid(void);

/* What the stopping machinery keeps per registered thread (stw_linux.c):
 * a part of gh_thread (gc.h) that nothing else reads. */
typedef struct gh_os_thread {
	/* The system call the thread was blocked in when the stop signal was
	 * sent, as the kernel showed it; the handler restarts it if the
	 * signal made it fail with EINTR.  Written by the collector for stop
	 * seen_epoch, then published by a release store of seen_epoch; the
	 * handler copies it before acknowledging, as the next stop rewrites
	 * it. */
	struct gh_syscall_seen {
		bool valid;
		long nr;
		uint64_t arg[6], sp, pc;
	} seen;
	uint32_t seen_epoch;
	/* Under ThreadSanitizer: the call the collector nudges the thread
	 * out of. */
	uint64_t nudge_pc, nudge_sp;
	long nudge_nr;
	/* A timed call restarted by the handler: its arguments after the
	 * restart, and its deadline, so that later stops keep the deadline. */
	struct gh_syscall_restart {
		long nr;
		uint64_t arg[6];
		uint64_t deadline; /* gh_nanotime */
		int64_t ts[2];     /* a timespec the restarted call reads */
	} restart;
	/* The last stop the thread put off, busy in the allocator (malloc.c):
	 * the collector signals it again. */
	uint32_t defer_epoch;
	/* Parked (gh_stw_parked): GH_STW_PARKED, or the stop that took the
	 * thread as it was (odd, as stops are); 0 running.  park_sp: where
	 * it parked, its registers spilled above. */
	uint32_t park;
	uintptr_t park_sp;
} gh_os_thread;

#define GH_STW_PARKED 2u

/* Non-zero while the calling thread is in a section a stop must not fall
 * into: the stop signal's handler, finding it set, puts the stop off and
 * the collector signals the thread again 20 us later.  A section is a few
 * instructions that neither block nor call out (malloc.c says which). */
GH_INTERNAL extern __thread uint32_t gh_stw_nostop;

static inline __attribute__((always_inline)) void gh_stw_nostop_begin(void)
{
	__atomic_store_n(&gh_stw_nostop, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline __attribute__((always_inline)) void gh_stw_nostop_end(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&gh_stw_nostop, 0, __ATOMIC_RELAXED);
}

/* Run fn(arg) parked: the calling thread, registered, waits in fn for
 * the collector (on a condition variable, say) and touches no block.
 * Stops take it without a signal, as it was when it parked: its stack
 * from there up, its callee-saved registers spilled on it.  What it keeps
 * below -- fn's frames, the registers the calling convention lets fn
 * clobber, and, were it signalled, the signal frame with its vector
 * registers -- may hold addresses of blocks the program dropped.  A stop
 * that took it runs to its end before fn's caller goes on. */
GH_INTERNAL void gh_stw_parked(void (*fn)(void *), void *arg);

/* Install the stop signal's handler (at start-up).  0, or -1. */
GH_INTERNAL int gh_stw_init(void);
/* The signal that stops threads (GOHEAP_SIGNAL, or the real-time signal
 * taken instead when the program handles it); 0 if there is none.
 * Threads the library starts leave it open (threads.c). */
GH_INTERNAL int gh_stw_signal(void);
/* Stop every registered thread but the caller (registry lock held): each
 * spills its registers to its stack, publishes its stack pointer and
 * waits.  Returns 0, or -1 if some thread did not acknowledge within
 * GOHEAP_STOP_TIMEOUT; then the world is running again and a one-line
 * diagnostic has been written (gh_warn, after the restart). */
GH_INTERNAL int gh_stw_stop(void);
/* Restart the threads gh_stw_stop stopped. */
GH_INTERNAL void gh_stw_start(void);

/* ---- Write tracking (wtrack_linux.c) -------------------------------------
 *
 * Which pages of the heap were written since a point in time, so that a
 * collector that marks while the program runs can scan again what changed
 * (mostly-parallel collection, Boehm, Demers and Shenker 1991).  A cycle
 * of tracking: the first gh_wt_track starts it; gh_wt_collect, as often as
 * wanted, reports and re-arms; gh_wt_stop ends it.  The design, the costs
 * measured and each backend's limits are at the top of wtrack_linux.c. */

typedef enum gh_wt_kind {
	GH_WT_NONE = 0,     /* no tracking: the collector marks with the world stopped */
	GH_WT_UFFD = 1,     /* userfaultfd write-protect, async mode, read with PAGEMAP_SCAN */
	GH_WT_MPROTECT = 2, /* mprotect + SIGSEGV handler: only when asked for */
} gh_wt_kind;

/* Choose and set up a backend, once, at start-up (after gh_stw_init: the
 * mprotect backend's handler blocks the stop signal).  want is GH_WT_UFFD
 * for the best available (uffd if the kernel has it, else none; soft-dirty
 * bits are the next backend to add, not built), GH_WT_MPROTECT (only
 * taken when asked for by name) or GH_WT_NONE.  Returns the backend in
 * use; gh_wt_unavailable says why another was not. */
GH_INTERNAL gh_wt_kind gh_wt_init(gh_wt_kind want);
/* The backend in use: gh_wt_init's choice, or GH_WT_NONE once the
 * mprotect backend lost its SIGSEGV handler to the program. */
GH_INTERNAL gh_wt_kind gh_wt_backend(void);
/* "uffd", "mprotect", "none". */
GH_INTERNAL const char *gh_wt_name(gh_wt_kind k);
/* NULL if backend k works here, else a short reason why not ("the kernel
 * has no userfaultfd write-protection in async mode (Linux >= 6.7)",
 * "Valgrind does not emulate userfaultfd", ...), valid for good.  Known
 * for the backends gh_wt_init probed: the one asked for and none. */
GH_INTERNAL const char *gh_wt_unavailable(gh_wt_kind k);
/* Whether the kernel keeps soft-dirty bits (CONFIG_MEM_SOFT_DIRTY), the
 * backend to add next (see wtrack_linux.c); probed on the first call. */
GH_INTERNAL bool gh_wt_softdirty_available(void);
/* Whether a cycle of tracking is on: between its first gh_wt_track and
 * gh_wt_stop.  A relaxed load: the page heap asks it before tracking
 * memory it maps (heap lock held; see gh_wt_track). */
GH_INTERNAL bool gh_wt_active(void);

/* Start tracking writes to [lo, hi): ready heap memory, aligned to
 * GH_PAGE_SIZE (the OS page is enough).  From now on every write to a
 * page of it, by any thread (uffd: or by the kernel, as read(2) into it),
 * is noted.  Parts of it already tracked in this cycle are left as they
 * are: arming a page again would drop the write it holds.
 *   - With no cycle on, starts one: the collector calls it for every
 *     mapped heap range at the start of marking.  The world need not be
 *     stopped: arming costs about 3 ms per touched GiB (wtrack_linux.c),
 *     which the collector may spend before its first pause (writes made
 *     between arming and the pause are reported, needlessly but safely).
 *   - With a cycle on, adds the range: the page heap calls it, heap lock
 *     held, world running, for memory it maps while gh_wt_active(),
 *     before any block of it is handed out.  (One that looked at
 *     gh_wt_active just before the cycle ended starts the next cycle
 *     early, with its range: the collector's next gh_wt_track calls join
 *     that cycle, and the writes since are reported by its first
 *     collect.)
 * Takes a lock of its own (a leaf; only tried with the world stopped,
 * as a stopped thread may hold it).  Returns 0, or -1 with errno: ENOSYS
 * (backend none), EINVAL (not aligned), ENOMEM, ERANGE (above 48 bits),
 * EBUSY (the last cycle is still being torn down by a thread in it, or
 * the lock is held with the world stopped, or the program replaced the
 * mprotect backend's SIGSEGV handler, which then gives way to none for
 * good), or what the kernel said.  On -1 the collector marks with the
 * world stopped for this cycle (the range may be half tracked), and
 * still calls gh_wt_stop. */
GH_INTERNAL int gh_wt_track(uintptr_t lo, uintptr_t hi);

/* Report the pages written since tracking of their range started or since
 * the last gh_wt_collect, and re-arm them, atomically per page: a write
 * that lands after its page was reported is reported by the next call.
 * fn(lo, hi, arg) is called for each run of written pages, OS pages
 * (4 KiB here), after the run was re-armed; runs are not sorted across
 * ranges.  Callable with other threads running and writing (concurrent
 * re-scans), by several threads at once (a page goes to one of them), and
 * with the world stopped; never allocates from the GC heap, takes no
 * library lock (so no lock a stopped thread may hold).  Returns 0 (also
 * with no cycle on: nothing to report), or -1 with errno: then the caller
 * must treat every tracked page as written (EBUSY: the mprotect backend
 * lost its handler; its pages are all writable again; or the kernel's
 * error, EPERM if a tracked range was mapped afresh and so is not
 * tracked any more).  Reports never leave a written page out, and may
 * include one not written: uffd reports a page the heap released
 * (MADV_DONTNEED) once (see wtrack_linux.c). */
GH_INTERNAL int gh_wt_collect(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);

/* End the cycle: stop tracking everything (end of marking; the world
 * need not be stopped, and it costs about 9 ms per touched GiB, the
 * kernel dropping each page's protection: better after the final pause).
 * Every tracked page is writable as before, no write is noted any more,
 * and the next gh_wt_track starts a new cycle.  Idempotent.  A
 * gh_wt_track or gh_wt_collect running meanwhile in another thread ends
 * harmlessly (a collect may fail: its caller is done anyway).  In the
 * child of a fork, wtrack_linux.c's own fork handler has already ended the
 * cycle (the kernel does not copy a userfaultfd registration into a
 * child; the mprotect backend's pages are made writable there), so a call
 * there does nothing. */
GH_INTERNAL void gh_wt_stop(void);

/* ---- The CPU (arch_*_linux.c) -------------------------------------------- */

/* Call fn with the caller's callee-saved registers (x86-64: rbx, rbp,
 * r12-r15; arm64: x19-x29 and d8-d15) stored in this function's frame and
 * sp the stack pointer below them and below every frame of the caller, so
 * that a scan of [sp, stack base) sees every pointer the caller's frames
 * hold, in memory or in registers.  Other threads need no such call: the
 * kernel stores all their registers, vector ones included, in the signal
 * frame on their stack. */
GH_INTERNAL void gh_with_registers_spilled(void (*fn)(uintptr_t sp, void *arg), void *arg);

/* Zero the calling thread's vector registers (x86-64: XMM/YMM/ZMM 0-15,
 * and 16-31 with AVX-512; arm64: V0-V31, which also zeroes SVE's Z
 * registers above their low 128 bits).  A thread stopped by the signal has
 * them saved in the signal frame on its stack, which is scanned; memcpy
 * and structure copies leave block addresses in them.  Seen: a collecting
 * thread's hand-off of mark work (a memcpy of queue entries) left 8
 * addresses in XMM0-7 of the finalizer thread, which then slept, and every
 * later collection found them in its signal frame: 8 to 21 dropped blocks
 * in 100 kept for good (t-gc-final, with two markers).  Call it where a
 * library thread has handled block addresses and is about to wait. */
GH_INTERNAL void gh_os_clear_vector_registers(void);

/* Tell the CPU this thread is spinning on a memory word (x86-64: pause;
 * arm64: isb), in a loop that waits for another thread. */
GH_INTERNAL void gh_os_cpu_relax(void);

/* ---- Inside the layer: what stw_linux.c asks of arch_*_linux.c --------------
 *
 * A context is the ucontext_t a signal handler receives.  Only the OS
 * files use these. */

/* The interrupted program counter and stack pointer of a context. */
GH_INTERNAL uint64_t gh_arch_context_pc(const void *uc);
GH_INTERNAL uint64_t gh_arch_context_sp(const void *uc);

/* A system call as a context shows it, just after the system-call
 * instruction failed with EINTR. */
typedef struct gh_arch_syscall {
	uint64_t pc, sp;   /* the context's: pc is just past the instruction */
	uint64_t arg[6];
	/* What the registers do not hold any more is recovered, where it can
	 * be, from the instructions that issued the call (glibc's wrappers);
	 * else left unknown.  x86-64: the number (the result replaced it in
	 * rax); arm64: the first argument (the result replaced it in x0). */
	bool nr_known, arg0_known;
	/* Whether arg[0] is the register's, not recovered (x86-64). */
	bool arg0_in_register;
	long nr;
} gh_arch_syscall;

/* Whether the context stopped just past a system-call instruction whose
 * result is -EINTR; if so, fill c with what it shows. */
GH_INTERNAL bool gh_arch_syscall_interrupted(const void *uc, gh_arch_syscall *c);
/* Rewind the context to issue system call nr with arg again when the
 * handler returns (the instruction before pc, which it just made). */
GH_INTERNAL void gh_arch_syscall_reissue(void *uc, long nr, const uint64_t arg[6]);
/* Whether the kernel rewound the context to issue system call nr again
 * (SA_RESTART), nr's instruction ending at after_pc. */
GH_INTERNAL bool gh_arch_syscall_rewound(const void *uc, uint64_t after_pc, long nr);

/* The system calls stw_linux.c treats apart, by what they do (their
 * numbers differ between architectures, and some exist on one only). */
enum gh_syscall_kind {
	GH_SYSCALL_OTHER = 0,
	GH_SYSCALL_NANOSLEEP,       /* nanosleep(req, rem) */
	GH_SYSCALL_CLOCK_NANOSLEEP, /* clock_nanosleep(clk, flags, req, rem) */
	GH_SYSCALL_POLL,            /* poll(fds, n, ms) */
	GH_SYSCALL_EPOLL_WAIT,      /* epoll_wait(fd, ev, n, ms), epoll_pwait */
	/* select, pselect6 and ppoll: the kernel has updated their timeout
	 * in place, so they are issued again as they are. */
	GH_SYSCALL_AS_IS,
	GH_SYSCALL_KIND_MASK = 0xff,
	/* A flag: ThreadSanitizer holds signals back in the call, which the
	 * kernel restarts by itself (read, write, select, the wait in
	 * pthread_cond_wait, ...). */
	GH_SYSCALL_TSAN_HELD = 0x100,
};
/* The kind of call nr, with GH_SYSCALL_TSAN_HELD or not. */
GH_INTERNAL unsigned gh_arch_syscall_kind(long nr);

/* The address of a function that makes the rt_sigreturn system call, for
 * a handler installed with the system call itself (SA_RESTORER), or NULL
 * where the kernel provides one (arm64's vDSO). */
GH_INTERNAL void (*gh_arch_sigreturn(void))(void);

#endif /* GH_OS_H */
