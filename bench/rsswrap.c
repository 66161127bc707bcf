/*
 * rsswrap.c - run a command and report its peak resident set size.
 *
 *   rsswrap COMMAND [ARG...]
 *
 * Forks, executes COMMAND, waits for it with wait4 and appends one line to
 * standard error:
 *
 *   RSSWRAP maxrss_kib=N wall_s=T status=S
 *
 * S is the exit status, or 128 + the signal number; rsswrap exits with S.
 *
 * Why a wrapper: a child's ru_maxrss counts the memory of the process it
 * was forked from until it calls exec, so a child of a Python runner never
 * reports less than the runner's own size.  This process is small, so the
 * figure is the command's own (to within the ~1 MiB this program occupies
 * between fork and exec).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rsswrap COMMAND [ARG...]\n");
		return 127;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("rsswrap: fork");
		return 127;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror("rsswrap: exec");
		_exit(127);
	}
	int st;
	struct rusage ru;
	while (wait4(pid, &st, 0, &ru) < 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	fprintf(stderr, "RSSWRAP maxrss_kib=%ld wall_s=%.4f status=%d\n", ru.ru_maxrss,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, code);
	return code;
}
