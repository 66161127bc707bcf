/*
 * stw_linux.c - stopping the world on Linux: the suspend signal, its
 * handler, and the restart of system calls the signal interrupted.  Part
 * of the OS layer (os.h); the CPU's side of it -- the signal context, the
 * system-call instruction and numbers -- is in arch_*_linux.c.
 *
 * The collecting thread, holding the thread registry lock, bumps the stop
 * epoch and sends the suspend signal (GOHEAP_SIGNAL, SIGPWR by default; if
 * the program already handles that one when the library loads, or it
 * cannot be sent, the highest real-time signal nobody handles that can)
 * to every other registered thread.  Each
 * handler spills the thread's registers onto its stack (the kernel has
 * already saved the interrupted context there, as the handler runs on the
 * thread's own stack), publishes its stack pointer, acknowledges with a
 * wake on a word, and sleeps on the resume epoch until the collector bumps
 * it.  The handler uses only async-signal-safe operations: atomics and the
 * futex system call.
 *
 * A thread busy in the allocator -- changing its cached span's allocation
 * state, a dozen instructions with no call (malloc.c) -- is not stopped
 * there: the handler notes that it put the stop off and returns, and the
 * collector signals it again 20 us later, by when it is out (the unsafe
 * points of Go's asynchronous preemption, with a flag instead of a table
 * of program counters, so that it holds with sanitizer calls inside).
 *
 * A thread waiting for the collector in the library (goheap_gc, an
 * allocation far past the goal while marking runs) parks first
 * (gh_stw_parked): stops take it as it parked, without a signal.
 *
 * The handler is installed with SA_RESTART, so system calls that the kernel
 * restarts (read, write, futex waits under pthread_cond_wait, ...) resume
 * by themselves.  Linux never restarts some calls after a handler has run,
 * SA_RESTART or not: poll, select, epoll_wait, nanosleep, clock_nanosleep
 * and their kin fail with EINTR.  A collection must not make them fail, so
 * the collector reads the call a thread is blocked in from
 * /proc/self/task/TID/syscall just before signalling it, and the handler,
 * finding that very call interrupted (same arguments, stack and program
 * counter, result -EINTR) -- or, for a call entered after the collector
 * looked, finding its number and arguments in the registers and in the
 * instructions that issued it, as glibc's wrappers do (arch_*_linux.c) --
 * rewinds the saved context to issue it again on return, with what is left
 * of its timeout once the world runs again.  A relative sleep keeps its
 * deadline (from the time the kernel says it had left, or, if the caller
 * gave no place for that, from when the first stop reached it: up to that
 * much longer); so does a timed poll or epoll_wait.  A later stop recognises a
 * call it restarted and keeps its deadline.  What cannot be known for
 * certain is not restarted: the call fails with EINTR, as POSIX allows
 * after any signal.  (Under qemu-user, /proc shows the host's calls, which
 * never match the guest's context.)
 *
 * A thread that does not acknowledge within the timeout
 * (GOHEAP_STOP_TIMEOUT ms; it blocks the signal, or is stuck) is named in
 * a one-line diagnostic and the collection is abandoned rather than hung.
 * The line is written after the world runs again, and without stdio (the
 * stopped threads may hold its lock).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "track.h"

__thread uint32_t gh_stw_nostop;
static int stop_signal;
static uint32_t stop_epoch;   /* odd while the world is stopped */
static uint32_t ack_count;    /* acknowledgements of the current stop */

/* ---- Restarting interrupted system calls ---- */

/* Parse /proc/self/task/TID/syscall into seen: "NR A1 .. A6 SP PC" for
 * a thread blocked in a call, anything else otherwise.  Uses only system
 * calls: other threads may hold stdio or malloc locks. */
static void read_syscall(pid_t tid, struct gh_syscall_seen *seen)
{
	seen->valid = false;
	char path[64], buf[256];
	int n = snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", (long)tid);
	if (n <= 0 || n >= (int)sizeof path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return;
	buf[r] = 0;
	uint64_t v[9];
	const char *p = buf;
	for (int i = 0; i < 9; i++) {
		while (*p == ' ')
			p++;
		int base = 10;
		if (p[0] == '0' && p[1] == 'x') {
			base = 16;
			p += 2;
		}
		if (!((*p >= '0' && *p <= '9') || (base == 16 && ((*p | 32) >= 'a' && (*p | 32) <= 'f'))))
			return; /* "running", or "-1 sp pc" */
		uint64_t x = 0;
		for (;; p++) {
			int d;
			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (base == 16 && (*p | 32) >= 'a' && (*p | 32) <= 'f')
				d = (*p | 32) - 'a' + 10;
			else
				break;
			x = x * (uint64_t)base + (uint64_t)d;
		}
		v[i] = x;
	}
	seen->nr = (long)v[0];
	memcpy(seen->arg, &v[1], sizeof seen->arg);
	seen->sp = v[7];
	seen->pc = v[8];
	seen->valid = true;
}

/* The deadline of a timed call: kept if the call is the one this handler
 * restarted last time, else timeout_ns from when the stop reached it. */
static uint64_t deadline_of(gh_os_thread *t, long nr, const uint64_t *arg, uint64_t stopped,
			    uint64_t timeout_ns)
{
	/* A call we restarted whose deadline has passed returned by itself:
	 * the same arguments now are a new call. */
	if (t->restart.nr == nr && t->restart.deadline > stopped &&
	    memcmp(t->restart.arg, arg, sizeof t->restart.arg) == 0)
		return t->restart.deadline;
	return stopped + timeout_ns;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* Whether the interrupted call c is the one the collector saw (seen):
 * same place, same stack, same arguments where the registers still hold
 * them.  What the CPU file recovered from the code is not compared: the
 * kernel's view wins. */
static bool is_seen_call(const gh_arch_syscall *c, const struct gh_syscall_seen *seen)
{
	if (!seen->valid || c->pc != seen->pc || c->sp != seen->sp ||
	    (c->arg0_in_register && c->arg[0] != seen->arg[0]))
		return false;
	return memcmp(&c->arg[1], &seen->arg[1], 5 * sizeof c->arg[0]) == 0;
}

/* If the stop (which reached the thread at time stopped) interrupted the
 * call t was seen blocked in (seen), or one the thread entered since whose
 * number and arguments the context shows, rewind the saved context so that
 * the call is issued again when the handler returns, with the time it has
 * left now that the world runs again. */
static void restart_syscall_if_interrupted(gh_os_thread *t, const struct gh_syscall_seen *seen,
					   void *uc, uint64_t stopped)
{
	gh_arch_syscall c;
	if (!gh_arch_syscall_interrupted(uc, &c))
		return;
	uint64_t arg[6];
	memcpy(arg, c.arg, sizeof arg);
	long nr;
	unsigned kind;
	if (is_seen_call(&c, seen)) {
		nr = seen->nr;
		arg[0] = seen->arg[0];
		kind = gh_arch_syscall_kind(nr) & GH_SYSCALL_KIND_MASK;
	} else {
		/* Entered after the collector looked: only the calls that
		 * never restart by themselves, and only if the context and
		 * the code tell number and arguments for certain. */
		if (!c.nr_known || !c.arg0_known)
			return;
		nr = c.nr;
		kind = gh_arch_syscall_kind(nr) & GH_SYSCALL_KIND_MASK;
		if (kind == GH_SYSCALL_OTHER)
			return;
	}
	uint64_t now, deadline;
	switch (kind) {
	case GH_SYSCALL_NANOSLEEP:
	case GH_SYSCALL_CLOCK_NANOSLEEP: {
		/* nanosleep(req, rem); clock_nanosleep(clk, flags, req, rem) */
		int req_i = kind == GH_SYSCALL_NANOSLEEP ? 0 : 2, rem_i = req_i + 1;
		if (kind == GH_SYSCALL_CLOCK_NANOSLEEP && (arg[1] & TIMER_ABSTIME))
			break; /* absolute: the same call is right */
		if (t->restart.nr == nr && t->restart.deadline > stopped &&
		    memcmp(t->restart.arg, arg, sizeof arg) == 0)
			deadline = t->restart.deadline;
		else if (arg[rem_i]) /* the kernel left what remains there */
			deadline = stopped + ts_ns((const struct timespec *)arg[rem_i]);
		else
			deadline = stopped + ts_ns((const struct timespec *)arg[req_i]);
		now = gh_nanotime();
		uint64_t left = deadline > now ? deadline - now : 0;
		t->restart.ts[0] = (int64_t)(left / 1000000000u);
		t->restart.ts[1] = (int64_t)(left % 1000000000u);
		arg[req_i] = (uint64_t)&t->restart.ts;
		t->restart.deadline = deadline;
		break;
	}
	case GH_SYSCALL_POLL:
	case GH_SYSCALL_EPOLL_WAIT: {
		/* poll(fds, n, ms); epoll_wait(fd, ev, n, ms) */
		int ms_i = kind == GH_SYSCALL_POLL ? 2 : 3;
		int ms = (int)arg[ms_i];
		if (ms <= 0)
			break;
		deadline = deadline_of(t, nr, arg, stopped, (uint64_t)ms * 1000000u);
		now = gh_nanotime();
		uint64_t left = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
		arg[ms_i] = left;
		t->restart.deadline = deadline;
		break;
	}
	default:
		/* select, pselect6, ppoll: the kernel updated the timeout in
		 * place; others seen blocked: issued again as they were. */
		break;
	}
	t->restart.nr = nr;
	memcpy(t->restart.arg, arg, sizeof arg);
	gh_arch_syscall_reissue(uc, nr, arg);
}

struct stop_call {
	gh_thread *t;
	uint32_t epoch; /* of the stop the handler answers */
};

/* Acknowledge the stop of c->epoch and wait for its end.  If that stop
 * was given up meanwhile, the acknowledgement is stale and the wait ends
 * at once; the collector only counts acknowledgements of its own epoch
 * (all_stopped). */
static void spill_and_wait(uintptr_t sp, void *arg)
{
	struct stop_call *c = arg;
	gh_thread *t = c->t;
	uint32_t epoch = c->epoch;
	__atomic_store_n(&t->saved_sp, sp, __ATOMIC_RELAXED);
	GH_TSAN_RELEASE(&t->ack_epoch);
	__atomic_store_n(&t->ack_epoch, epoch, __ATOMIC_RELEASE);
	__atomic_fetch_add(&ack_count, 1, __ATOMIC_RELEASE);
	gh_os_wake(&ack_count, 1);
	while (__atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE) == epoch)
		gh_os_wait(&stop_epoch, epoch, GH_OS_FOREVER);
	GH_TSAN_ACQUIRE(&stop_epoch);
}

static void suspend_handler(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)info;
	int saved_errno = errno;
	gh_thread *t = gh_self_thread;
	uint32_t epoch = __atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE);
	/* A late signal from an abandoned stop, or a thread that left the
	 * registry: nothing to do. */
	if (t && (epoch & 1) && __atomic_load_n(&t->ack_epoch, __ATOMIC_RELAXED) != epoch) {
		if (__atomic_load_n(&gh_stw_nostop, __ATOMIC_RELAXED)) {
			/* Half-way through a change of its cached span
			 * (malloc.c): put the stop off and say so; the
			 * collector signals again in a moment. */
			__atomic_store_n(&t->os.defer_epoch, epoch, __ATOMIC_RELEASE);
			gh_os_wake(&ack_count, 1);
			errno = saved_errno;
			return;
		}
		uint64_t stopped = gh_nanotime();
		struct gh_syscall_seen seen = {.valid = false};
		if (__atomic_load_n(&t->os.seen_epoch, __ATOMIC_ACQUIRE) == epoch) {
			GH_TSAN_ACQUIRE(&t->os.seen_epoch);
			seen = t->os.seen;
		}
		struct stop_call c = {t, epoch};
		gh_with_registers_spilled(spill_and_wait, &c);
		restart_syscall_if_interrupted(&t->os, &seen, context, stopped);
	}
	errno = saved_errno;
}

/* ---- Parked threads ----
 *
 * A thread parks by publishing where (park_sp) and then GH_STW_PARKED in
 * park.  A stop takes a parked thread by exchanging park for its own
 * epoch, with a compare-and-swap so that it cannot take one that is just
 * leaving; the thread leaves by swapping park back to 0, from
 * GH_STW_PARKED or from the epoch of a stop that has ended, and waits for
 * one that has not. */

struct park_call {
	gh_thread *t;
	void (*fn)(void *);
	void *arg;
};

static void unpark(gh_thread *t)
{
	for (;;) {
		uint32_t p = __atomic_load_n(&t->os.park, __ATOMIC_ACQUIRE);
		if (p != GH_STW_PARKED && __atomic_load_n(&stop_epoch, __ATOMIC_ACQUIRE) == p) {
			gh_os_wait(&stop_epoch, p, GH_OS_FOREVER);
			continue;
		}
		if (__atomic_compare_exchange_n(&t->os.park, &p, 0, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			if (p != GH_STW_PARKED)
				GH_TSAN_ACQUIRE(&stop_epoch);
			return;
		}
	}
}

static void park_and_call(uintptr_t sp, void *arg)
{
	struct park_call *c = arg;
	c->t->os.park_sp = sp;
	__atomic_store_n(&c->t->os.park, GH_STW_PARKED, __ATOMIC_RELEASE);
	c->fn(c->arg);
	unpark(c->t);
}

void gh_stw_parked(void (*fn)(void *), void *arg)
{
	gh_thread *t = gh_self_thread;
	if (t == NULL) {
		fn(arg);
		return;
	}
	struct park_call c = {t, fn, arg};
	gh_with_registers_spilled(park_and_call, &c);
}

/* Take t if it is parked, for the stop of epoch: true if taken. */
static bool take_parked(gh_thread *t, uint32_t epoch)
{
	uint32_t p = __atomic_load_n(&t->os.park, __ATOMIC_ACQUIRE);
	if (p == 0 ||
	    !__atomic_compare_exchange_n(&t->os.park, &p, epoch, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&t->saved_sp, t->os.park_sp, __ATOMIC_RELAXED);
	__atomic_store_n(&t->ack_epoch, epoch, __ATOMIC_RELAXED);
	return true;
}

/* ---- Under ThreadSanitizer ----
 *
 * TSan installs its own handler for each signal the program asks for, and
 * runs the program's handler later, where it chooses: when the thread next
 * leaves an intercepted call or does an atomic operation, or at once in
 * the calls it knows to block (poll, nanosleep, pthread_cond_wait, ...).
 * A thread blocked in read, write, select or pthread_mutex_lock would not
 * take the stop until the call returned.
 *
 * So with GCC's libtsan.so loaded (Clang links its runtime into the
 * program, where its code cannot be told apart), a thread that has not
 * acknowledged after a millisecond, and that /proc shows blocked in one of
 * those calls made from the C library, gets a second signal, the nudge,
 * whose handler is installed with the system call itself, out of TSan's
 * sight.  The kernel runs it at once; nudge_gate, which TSan does not
 * instrument, checks that the thread is still in that very call (and so
 * not inside the runtime, which may hold its own locks: it calls munmap
 * with its thread registry locked) and runs the stop handler.  There
 * TSan's atomics are live (the calls are not ones it marks blocking), and
 * the handler tells it the stop's happens-before edges besides.  Tested
 * on x86-64 only: ThreadSanitizer does not run under qemu-user. */
#if defined(GH_TSAN)
static int nudge_signal; /* 0: none (no libtsan.so, or no free signal) */
static uintptr_t tsan_lo, tsan_hi; /* libtsan's code */

/* The kernel's struct sigaction (rt_sigaction), as on x86-64 and arm64. */
struct kernel_sigaction {
	void (*action)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
#define GH_SA_RESTORER 0x04000000ul

static int find_tsan(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "/libtsan.so"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!tsan_lo || lo < tsan_lo)
			tsan_lo = lo;
		if (hi > tsan_hi)
			tsan_hi = hi;
	}
	return 1;
}

GH_NOT_INSTRUMENTED static void nudge_gate(int sig, siginfo_t *info, void *context)
{
	gh_thread *t = gh_self_thread;
	if (!t)
		return;
	uint64_t sp = gh_arch_context_sp(context);
	uint64_t want_pc = __atomic_load_n(&t->os.nudge_pc, __ATOMIC_RELAXED);
	long nr = __atomic_load_n(&t->os.nudge_nr, __ATOMIC_RELAXED);
	/* The call the collector saw, failed with EINTR, or rewound by the
	 * kernel to be issued again (SA_RESTART). */
	gh_arch_syscall c;
	if (sp != __atomic_load_n(&t->os.nudge_sp, __ATOMIC_RELAXED) ||
	    !((gh_arch_syscall_interrupted(context, &c) && c.pc == want_pc) ||
	      gh_arch_syscall_rewound(context, want_pc, nr)))
		return;
	suspend_handler(sig, info, context);
}

static bool nudge_installed(void)
{
	struct kernel_sigaction cur;
	return syscall(SYS_rt_sigaction, nudge_signal, NULL, &cur, sizeof cur.mask) == 0 &&
	       cur.action == nudge_gate;
}

static int free_rt_signal(int except);

static void nudge_init(void)
{
	dl_iterate_phdr(find_tsan, NULL);
	if (!tsan_hi)
		return;
	int sig = free_rt_signal(stop_signal);
	void (*restorer)(void) = gh_arch_sigreturn();
	struct kernel_sigaction sa = {
		.action = nudge_gate,
		.flags = SA_SIGINFO | SA_RESTART | (restorer ? GH_SA_RESTORER : 0),
		.restorer = restorer,
		.mask = 1ull << (sig - 1) | 1ull << (stop_signal - 1),
	};
	if (sig && syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask) == 0)
		nudge_signal = sig;
}

/* Nudge thread t if it is blocked in a call TSan holds its signal in. */
static void nudge(gh_thread *t)
{
	struct gh_syscall_seen now;
	read_syscall(t->tid, &now);
	if (!now.valid || !(gh_arch_syscall_kind(now.nr) & GH_SYSCALL_TSAN_HELD) ||
	    (now.pc >= tsan_lo && now.pc < tsan_hi))
		return;
	__atomic_store_n(&t->os.nudge_pc, now.pc, __ATOMIC_RELAXED);
	__atomic_store_n(&t->os.nudge_sp, now.sp, __ATOMIC_RELAXED);
	__atomic_store_n(&t->os.nudge_nr, now.nr, __ATOMIC_RELAXED);
	pthread_kill(t->pthread, nudge_signal);
}

/* Every millisecond of a stop, nudge the threads TSan keeps from taking
 * the signal; shortens *wait_ns to that millisecond. */
static void nudge_late(gh_thread *self, uint32_t epoch, uint64_t waited, uint64_t *wait_ns)
{
	if (!nudge_signal || !nudge_installed())
		return;
	if (*wait_ns > 1000000)
		*wait_ns = 1000000;
	if (waited < 1000000)
		return;
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		if (t != self && __atomic_load_n(&t->ack_epoch, __ATOMIC_ACQUIRE) != epoch)
			nudge(t);
}
#else
static void nudge_init(void)
{
}

static void nudge_late(gh_thread *self, uint32_t epoch, uint64_t waited, uint64_t *wait_ns)
{
	(void)self;
	(void)epoch;
	(void)waited;
	(void)wait_ns;
}
#endif

/* Whether the program has a handler of its own for sig (or ignores it on
 * purpose with SA_SIGINFO semantics). */
static bool signal_in_use(int sig)
{
	struct sigaction old;
	if (sigaction(sig, NULL, &old) != 0)
		return true; /* not a signal we may use */
	if (old.sa_flags & SA_SIGINFO)
		return old.sa_sigaction != NULL && old.sa_sigaction != suspend_handler;
	return old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
}

/* Whether sig can be sent to a thread here.  Not every signal the kernel
 * lets us handle can be sent: qemu-user 7.2 accepts a handler for the
 * guest's two highest real-time signals but fails tgkill on them with
 * EINVAL, and a seccomp filter may refuse any.  Sends sig to this thread
 * with it blocked, then takes it back off the pending set. */
static bool signal_sendable(int sig)
{
	sigset_t one, old;
	sigemptyset(&one);
	sigaddset(&one, sig);
	if (pthread_sigmask(SIG_BLOCK, &one, &old) != 0)
		return false;
	bool sent = syscall(SYS_tgkill, (long)getpid(), (long)gh_os_gettid(), sig) == 0;
	if (sent) {
		struct timespec now = {0, 0};
		while (sigtimedwait(&one, NULL, &now) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return sent;
}

/* A real-time signal other than except that no handler claims and that
 * can be sent, from SIGRTMAX down (programs that use real-time signals
 * mostly count up from SIGRTMIN), or 0. */
static int free_rt_signal(int except)
{
	for (int sig = SIGRTMAX; sig >= SIGRTMIN; sig--)
		if (sig != except && !signal_in_use(sig) && signal_sendable(sig))
			return sig;
	return 0;
}

static bool handler_replaced_warned, send_failed_warned;

int gh_stw_signal(void)
{
	return stop_signal;
}

int gh_stw_init(void)
{
	/* The signal: GOHEAP_SIGNAL, SIGPWR by default.  If the program
	 * already handles it, or it cannot be sent, take the highest free
	 * real-time signal instead -- silently for the default, with one
	 * line if the user chose it -- rather than steal the program's
	 * handler or refuse to load: a library must not be why its host
	 * fails to start. */
	int want = (int)gh_option(GH_OPT_SIGNAL);
	const char *env = getenv("GOHEAP_SIGNAL");
	stop_signal = want;
	bool taken = signal_in_use(want);
	if (taken || !signal_sendable(want)) {
		stop_signal = free_rt_signal(want);
		if (env && *env)
			gh_warn("GOHEAP_SIGNAL=%d: %s signal %d; %s", want,
				taken ? "the program already handles" : "cannot send", want,
				stop_signal ? "using a free real-time signal instead"
					    : "no signal is free either");
	}
	if (stop_signal == 0) {
		/* Collections still run while one thread is registered; with
		 * more, gh_stw_stop says why it cannot stop them. */
		if (!env || !*env)
			gh_warn("signal %d is taken and no real-time signal is free; "
				"collections with several threads are skipped", want);
		return 0;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = suspend_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, stop_signal);
	if (sigaction(stop_signal, &sa, NULL) != 0)
		return -1;
	nudge_init();
	return 0;
}

/* Before a stop with other threads to signal: is our handler still
 * there?  A program that installs its own handler for the signal after
 * the library loaded would get the stop signals (and the collector would
 * wait for acknowledgements that never come).  One line, once, and the
 * collection is skipped. */
static bool handler_lost(void)
{
	struct sigaction cur;
	if (stop_signal && sigaction(stop_signal, NULL, &cur) == 0 &&
	    (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == suspend_handler)
		return false;
	if (!__atomic_exchange_n(&handler_replaced_warned, true, __ATOMIC_RELAXED)) {
		if (stop_signal)
			gh_warn("the program replaced the handler of signal %d, which stops "
				"threads for the collector (GOHEAP_SIGNAL); collections "
				"with several threads are skipped", stop_signal);
		else
			gh_warn("no signal to stop threads with (see GOHEAP_SIGNAL); "
				"collections with several threads are skipped");
	}
	return true;
}

bool gh_stw_stopped(void)
{
	return __atomic_load_n(&stop_epoch, __ATOMIC_RELAXED) & 1;
}

/* The name of thread tid of this process, for a diagnostic: "goheap-mark",
 * the program's name for its own threads, or "exited".  System calls
 * only. */
static void thread_name(long tid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		snprintf(buf, size, "exited");
		return;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* Whether every thread but self acknowledged the stop of epoch.  The
 * count of acknowledgements only says when to look: a handler still
 * answering a stop that was given up adds to the count of the next. */
static bool all_stopped(gh_thread *self, uint32_t epoch)
{
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		if (t != self && __atomic_load_n(&t->ack_epoch, __ATOMIC_ACQUIRE) != epoch)
			return false;
	return true;
}

int gh_stw_stop(void)
{
	gh_thread *self = gh_self_thread;
	gh_thread *first = gh_threads_first();
	if ((first != self || (first && first->next)) && handler_lost())
		return -1;
	uint32_t epoch = __atomic_add_fetch(&stop_epoch, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&ack_count, 0, __ATOMIC_RELEASE);
	uint32_t want = 0;
	for (gh_thread *t = gh_threads_first(); t; t = t->next) {
		if (t == self || take_parked(t, epoch))
			continue;
		read_syscall(t->tid, &t->os.seen);
		GH_TSAN_RELEASE(&t->os.seen_epoch);
		__atomic_store_n(&t->os.seen_epoch, epoch, __ATOMIC_RELEASE);
		int err = pthread_kill(t->pthread, stop_signal);
		if (err == 0) {
			want++;
		} else if (err == ESRCH) {
			__atomic_store_n(&t->ack_epoch, epoch, __ATOMIC_RELAXED); /* gone: nothing to scan */
		} else {
			/* A thread that runs on must never be taken for a
			 * stopped one: give the stop up. */
			long tid = (long)t->tid;
			gh_stw_start();
			if (!__atomic_exchange_n(&send_failed_warned, true, __ATOMIC_RELAXED))
				gh_warn("cannot send signal %d to thread %ld to stop it for the "
					"collector: %s; collections with several threads are "
					"skipped",
					stop_signal, tid, strerror(err));
			return -1;
		}
	}

	uint64_t timeout = (uint64_t)gh_option(GH_OPT_STOP_TIMEOUT) * 1000000u;
	uint64_t start = gh_nanotime();
	for (;;) {
		uint32_t n = __atomic_load_n(&ack_count, __ATOMIC_ACQUIRE);
		if (n >= want && all_stopped(self, epoch)) {
			for (gh_thread *t = gh_threads_first(); t; t = t->next)
				GH_TSAN_ACQUIRE(&t->ack_epoch);
			return 0;
		}
		/* Threads that put the stop off are out of their busy section
		 * within a few instructions: signal them again after a pause
		 * that lets them get there. */
		bool deferred = false;
		for (gh_thread *t = gh_threads_first(); t; t = t->next)
			if (t != self && __atomic_load_n(&t->os.defer_epoch, __ATOMIC_ACQUIRE) == epoch &&
			    __atomic_load_n(&t->ack_epoch, __ATOMIC_ACQUIRE) != epoch) {
				if (!deferred) {
					struct timespec pause = {0, 20000};
					nanosleep(&pause, NULL);
				}
				deferred = true;
				__atomic_store_n(&t->os.defer_epoch, 0, __ATOMIC_RELAXED);
				pthread_kill(t->pthread, stop_signal);
			}
		uint64_t waited = gh_nanotime() - start;
		if (waited >= timeout)
			break;
		uint64_t wait = timeout - waited;
		if (wait > 100000000)
			wait = 100000000;
		nudge_late(self, epoch, waited, &wait);
		gh_os_wait(&ack_count, n, wait);
	}

	/* Name the first thread that did not stop, then restart the world
	 * before saying so: a stopped thread may hold any lock, stdio's
	 * included, and gh_warn takes none. */
	long tid = 0;
	char name[32] = "";
	for (gh_thread *t = gh_threads_first(); t; t = t->next)
		if (t != self && __atomic_load_n(&t->ack_epoch, __ATOMIC_ACQUIRE) != epoch) {
			tid = (long)t->tid;
			thread_name(tid, name, sizeof name);
			break;
		}
	gh_stw_start();
	gh_warn("thread %ld (%s) did not stop for the collector within %lld ms (signal %d "
		"blocked?); collection skipped",
		tid, name, (long long)gh_option(GH_OPT_STOP_TIMEOUT), stop_signal);
	return -1;
}

void gh_stw_start(void)
{
	GH_TSAN_RELEASE(&stop_epoch);
	__atomic_add_fetch(&stop_epoch, 1, __ATOMIC_ACQ_REL);
	gh_os_wake(&stop_epoch, GH_OS_WAKE_ALL);
}
