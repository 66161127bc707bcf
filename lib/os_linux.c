/*
 * os_linux.c - the services of os.h that Linux gives through the C
 * library or a plain system call: the clock, stderr, private waits on a
 * word (futex), loaded objects (dl_iterate_phdr), the CPU count, a
 * thread's id and stack.  See os.h for the contract; memory is in
 * mem_linux.c, stopping threads in stw_linux.c, the stats file's shared
 * waits in os_ipc_linux.c.
 */
#include "config.h"

#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

/* ---- The clock ---- */

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t gh_nanotime(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t gh_walltime(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t gh_thread_cputime(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t gh_process_cputime(void)
{
	return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

/* ---- Standard error ---- */

void gh_os_write_stderr(const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

/* ---- Waiting on a word ---- */

void gh_os_wait(uint32_t *word, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns != GH_OS_FOREVER) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		tp = &ts;
	}
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}

void gh_os_wake(uint32_t *word, uint32_t n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n > INT32_MAX ? INT32_MAX : (int)n, NULL,
		NULL, 0);
}

/* ---- Processes and CPUs ---- */

size_t gh_os_program_path(char *buf, size_t n)
{
	ssize_t r = n > 1 ? readlink("/proc/self/exe", buf, n - 1) : -1;
	if (r <= 0 || (size_t)r >= n - 1) {
		if (n)
			buf[0] = 0;
		return 0;
	}
	buf[r] = 0;
	return (size_t)r;
}

uint32_t gh_os_ncpu(void)
{
	long c = sysconf(_SC_NPROCESSORS_ONLN);
	return c > 0 ? (uint32_t)c : 1;
}

/* ---- Loaded objects ---- */

typedef struct objects_call {
	int (*fn)(const gh_os_object *o, void *arg);
	void *arg;
	bool first;
} objects_call;

static int each_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	objects_call *c = arg;
	gh_os_object o = {
		.name = info->dlpi_name ? info->dlpi_name : "",
		.first = c->first,
		.base = info->dlpi_addr,
		.nsegments = info->dlpi_phnum,
		.sys = info,
	};
	c->first = false;
	return c->fn(&o, c->arg);
}

void gh_os_objects_foreach(int (*fn)(const gh_os_object *o, void *arg), void *arg)
{
	objects_call c = {fn, arg, true};
	dl_iterate_phdr(each_object, &c);
}

void gh_os_object_segment(const gh_os_object *o, unsigned i, gh_os_segment *s)
{
	const struct dl_phdr_info *info = o->sys;
	const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
	switch (ph->p_type) {
	case PT_LOAD:
		s->kind = GH_SEGMENT_LOAD;
		break;
	case PT_GNU_RELRO:
		s->kind = GH_SEGMENT_RELRO;
		break;
	case PT_NOTE:
		s->kind = GH_SEGMENT_NOTE;
		break;
	default:
		s->kind = GH_SEGMENT_OTHER;
		break;
	}
	s->writable = (ph->p_flags & PF_W) != 0;
	s->executable = (ph->p_flags & PF_X) != 0;
	s->lo = info->dlpi_addr + ph->p_vaddr;
	s->hi = s->lo + ph->p_memsz;
	s->offset = ph->p_offset;
}

size_t gh_os_object_build_id(const gh_os_object *o, const uint8_t **id)
{
	for (unsigned i = 0; i < o->nsegments; i++) {
		gh_os_segment s;
		gh_os_object_segment(o, i, &s);
		if (s.kind != GH_SEGMENT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)s.lo, *end = (const uint8_t *)s.hi;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof *nh;
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
			const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
			if (next > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= 64) {
				*id = desc;
				return nh->n_descsz;
			}
			p = next;
		}
	}
	return 0;
}

typedef struct locked_call {
	void (*fn)(void *arg);
	void *arg;
} locked_call;

/* dl_iterate_phdr holds the loader's list lock while it calls back: run
 * the call from the callback for the first object, then stop. */
static int call_locked(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	locked_call *c = arg;
	c->fn(c->arg);
	return 1;
}

void gh_os_with_loader_locked(void (*fn)(void *arg), void *arg)
{
	locked_call c = {fn, arg};
	dl_iterate_phdr(call_locked, &c);
}

/* ---- Threads ---- */

pid_t gh_os_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int gh_os_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return -1;
	int r = pthread_attr_getstack(&attr, &addr, &size);
	pthread_attr_destroy(&attr);
	if (r != 0)
		return -1;
	*lo = (uintptr_t)addr;
	*hi = (uintptr_t)addr + size;
	return 0;
}
