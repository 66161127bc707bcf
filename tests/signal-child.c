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
 * its handler afterwards, stealing the library's signal.
 */
#include <goheap.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t own;
static int go_on = 1, running; /* atomics, which ThreadSanitizer sees */

static void handler(int sig)
{
	(void)sig;
	own++;
}

static void *(*g_malloc)(size_t);

static void *spin(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&go_on, __ATOMIC_ACQUIRE)) {
		void *volatile p = g_malloc(64);
		(void)p;
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

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int sig = atoi(argv[1]);
	int late = argc > 3 && strcmp(argv[3], "late") == 0;
	int before[65] = {0};
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		before[s] = handled(s);
	if (!late)
		signal(sig, handler);
	void *lib = dlopen(argv[2], RTLD_NOW);
	if (!lib) {
		printf("dlopen: %s\n", dlerror());
		return 2;
	}
	if (late)
		signal(sig, handler);
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
	if (create(&th, NULL, spin, NULL) != 0)
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
