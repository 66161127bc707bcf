/*
 * signal-child - a program that handles a signal before libgoheap loads
 * (t-signal).  It is not linked with the library: it installs its handler
 * for the signal named by argv[1], then loads libgoheap with dlopen (path
 * in argv[2]), starts a registered thread, collects, and prints
 *
 *   numgc N own H stopsig S
 *
 * N: collections done; H: times its own handler ran (the collector must
 * not use it); S: the signal now handled by the library (a real-time
 * signal other than argv[1], found by looking for the handler that
 * appeared).  With argv[3] "late", it loads the library first and installs
 * its handler afterwards, stealing the library's signal.  With "nosend"
 * it installs no handler but a seccomp filter that refuses to send the
 * signal (tgkill fails with EINVAL, as qemu-user does for the highest
 * real-time signals) before loading the library; with "nosend-late",
 * after.  Without seccomp (qemu-user) it prints "no seccomp" and exits
 * with 3.
 */
#include <goheap.h>

#include <dlfcn.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH_NR AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH_NR AUDIT_ARCH_AARCH64
#endif

static volatile sig_atomic_t own;
static int go_on = 1, running; /* atomics, which ThreadSanitizer sees */

static void handler(int sig)
{
	(void)sig;
	own++;
}

static void *(*g_malloc)(size_t);

/* Allocates as it spins, or with arg non-null never calls the library,
 * so that every stop must signal it (one waiting in the library may be
 * stopped without). */
static void *spin(void *arg)
{
	while (__atomic_load_n(&go_on, __ATOMIC_ACQUIRE)) {
		if (!arg) {
			void *volatile p = g_malloc(64);
			(void)p;
		}
		__atomic_store_n(&running, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int handled(int sig)
{
	struct sigaction sa;
	sigaction(sig, NULL, &sa);
	return (sa.sa_flags & SA_SIGINFO) ? sa.sa_sigaction != NULL
					   : sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

/* Make tgkill(..., sig) fail with EINVAL from now on; false if seccomp
 * cannot do it here. */
static int refuse_to_send(int sig)
{
#ifdef ARCH_NR
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NR, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_tgkill, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)sig, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
	};
	struct sock_fprog fprog = {sizeof prog / sizeof prog[0], prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0)
		return 0;
	/* Check that it works (qemu-user may accept the call and ignore
	 * it). */
	return syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig) != 0 &&
	       errno == EINVAL;
#else
	(void)sig;
	return 0;
#endif
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int sig = atoi(argv[1]);
	const char *mode = argc > 3 ? argv[3] : "";
	int late = strcmp(mode, "late") == 0, nosend = strcmp(mode, "nosend") == 0,
	    nosend_late = strcmp(mode, "nosend-late") == 0;
	int before[65] = {0};
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		before[s] = handled(s);
	if (nosend && !refuse_to_send(sig)) {
		printf("no seccomp\n");
		return 3;
	}
	if (!*mode)
		signal(sig, handler);
	void *lib = dlopen(argv[2], RTLD_NOW);
	if (!lib) {
		printf("dlopen: %s\n", dlerror());
		return 2;
	}
	if (late)
		signal(sig, handler);
	if (nosend_late && !refuse_to_send(sig)) {
		printf("no seccomp\n");
		return 3;
	}
	g_malloc = (void *(*)(size_t))dlsym(lib, "goheap_malloc");
	void (*gc)(void) = (void (*)(void))dlsym(lib, "goheap_gc");
	int (*create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
		(int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
			lib, "goheap_pthread_create");
	void (*readstats)(goheap_memstats *) =
		(void (*)(goheap_memstats *))dlsym(lib, "goheap_read_memstats");
	if (!g_malloc || !gc || !create || !readstats)
		return 2;
	pthread_t th;
	if (create(&th, NULL, spin, nosend_late ? &th : NULL) != 0)
		return 2;
	while (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
		usleep(1000);
	for (int i = 0; i < 5; i++)
		gc();
	__atomic_store_n(&go_on, 0, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	goheap_memstats m;
	m.size = sizeof m;
	readstats(&m);
	int stopsig = 0;
	for (int s = SIGRTMAX; s >= SIGRTMIN; s--)
		if (!before[s] && handled(s) && s != sig)
			stopsig = s;
	printf("numgc %u own %d stopsig %d\n", m.numgc, (int)own, stopsig);
	return 0;
}
