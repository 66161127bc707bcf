/*
 * child.h - run this test program again as a child with its own
 * environment (t-mcheck, t-failsys, t-signal).
 *
 * Options such as GOHEAP_DEBUG are read once, when the library loads, so a
 * test that needs other settings runs itself again: fork, then exec its
 * own program with "--child MODE [ARG]" and the variable set.  The
 * child's stdout and stderr are collected together; the parent gets the
 * wait status.  main() hands "--child" invocations to the program's own
 * child function before the TAP harness sees them.
 */
#ifndef GH_TESTS_CHILD_H
#define GH_TESTS_CHILD_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run the program path with argv, with name=value in the environment
 * (value NULL: unset).  Up to outsz - 1 bytes of its output go to out.
 * Returns the wait status, or -1. */
static inline int child_exec(const char *path, char *const argv[], const char *name,
			     const char *value, char *out, size_t outsz)
{
	int fd[2];
	if (pipe(fd) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Die with the test: one that times out (TAP_TIMEOUT) must
		 * not leave a hung child holding the harness's pipe. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		if (value)
			setenv(name, value, 1);
		else
			unsetenv(name);
		execv(path, argv);
		_exit(127);
	}
	close(fd[1]);
	size_t n = 0;
	for (;;) {
		char buf[4096];
		ssize_t r = read(fd[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t take = (size_t)r;
		if (outsz && n + take > outsz - 1)
			take = outsz - 1 - n;
		memcpy(out + n, buf, take);
		n += take;
	}
	close(fd[0]);
	if (outsz)
		out[n] = 0;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Run "self --child mode arg" (see child_exec). */
static inline int child_run(const char *name, const char *value, const char *mode,
			    const char *arg, char *out, size_t outsz)
{
	/* The path readlink gives, not /proc/self/exe itself: under
	 * Valgrind the latter is Valgrind's own program, the former (which
	 * Valgrind rewrites) this one. */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	char *argv[] = {(char *)"child", (char *)"--child", (char *)mode, (char *)arg, NULL};
	return child_exec(self, argv, name, value, out, outsz);
}

#endif
