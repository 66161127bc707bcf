/*
 * os_ipc_linux.c - the services of os.h that the stats file needs across
 * processes: waiting on a word of a shared file mapping (a shared futex,
 * keyed by the file and the word's offset in it, so that the monitor and
 * goheap-stat meet on the same word whatever address each mapped it at),
 * and a process's start time, which tells a live process from a later one
 * with the same pid.
 *
 * goheap-stat and the tests' readers (tools/statread.c) link this file as
 * well as the library: it uses nothing but the C library and os.h's
 * declarations, and must stay so.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

void gh_os_wait_shared(uint32_t *word, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns != GH_OS_FOREVER) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		tp = &ts;
	}
	syscall(SYS_futex, word, FUTEX_WAIT, val, tp, NULL, 0);
}

void gh_os_wake_shared(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* Read from the entry of the process's main thread, /proc/PID/task/PID/stat,
 * which holds the same start time as /proc/PID/stat: emulators such as
 * qemu-user make up their own /proc/PID/stat for the process they run, and
 * its start time is a tick off the kernel's, which another process reads. */
uint64_t gh_os_proc_start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", (long)pid, (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* The command, field 2, may hold anything: count from its end. */
	const char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (int field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	uint64_t t = 0;
	while (*p >= '0' && *p <= '9')
		t = t * 10 + (uint64_t)(*p++ - '0');
	return t;
}
