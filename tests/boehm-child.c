/*
 * boehm-child: a Boehm program, linked the ordinary way with -lgc, that
 * t-boehm-run.sh runs with goheap-run.  It allocates, then reports on
 * stdout which libgc.so.1 it runs on (dladdr of GC_malloc) and its
 * LD_LIBRARY_PATH; then, if told to, it waits until its standard input
 * closes, so that goheap-stat can look at it, and it exits with the status
 * given as its first argument.
 *
 *	boehm-child STATUS [wait]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <goheap/gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	GC_INIT();
	void **list = NULL;
	for (int i = 0; i < 100000; i++) {
		void **n = GC_MALLOC(4 * sizeof(void *));
		n[0] = i % 100 ? list : NULL;
		list = n;
	}
	GC_gcollect();
	Dl_info info;
	if (dladdr((void *)GC_malloc, &info) && info.dli_fname)
		printf("libgc %s\n", info.dli_fname);
	const char *path = getenv("LD_LIBRARY_PATH");
	printf("path %s\n", path ? path : "(unset)");
	printf("collections %lu\n", (unsigned long)GC_get_gc_no());
	fflush(stdout);
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char c;
		while (read(0, &c, 1) > 0)
			;
	}
	return argc > 1 ? atoi(argv[1]) : 0;
}
