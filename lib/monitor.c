/*
 * monitor.c - the monitor thread: the seed's sysmon, forcegc and scavenger
 * goroutines in one thread, plus the server of goheap-stat's requests.
 *
 * It is started by gh_init unless GOHEAP_STATS=0, and loops:
 *
 *   1. Serve a request found in the stats file's slot (collect, write a
 *      heap dump, set GOGC, free OS memory); refresh the file, then post
 *      the result, so that the requester reads figures that include it.
 *   2. Refresh the file when a collection has ended (gh_monitor_gc_done
 *      kicks the thread) and at least every GH_REFRESH_NS.
 *   3. Force a collection when none has ended for GOHEAP_FORCEGC_PERIOD
 *      (2 minutes, as the seed's forcegc) and GOGC is not off.
 *   4. Scavenge: while the heap retains more than the collector's recent
 *      goal plus 10 % (gh_gc_scavenge_goal), return free spans to the OS, a step of
 *      GH_SCAVENGE_STEP every GH_PACE_NS at most: about 100 MiB/s, for a
 *      few percent of one CPU (Go 1.13's background scavenger, which aims
 *      at 1 %).  Also return free spans idle for GOHEAP_SCAVENGE_DELAY,
 *      every min(forcegc period, delay) / 2, as the seed's scavenger did.
 *   5. Sleep on the file's kick word (gh_os_wait_shared) until the next
 *      deadline.
 *
 * The thread is not a registered thread: it holds no heap pointers, so a
 * collection neither stops nor scans it.  To collect or dump it must be
 * one, so it registers for the call (gh_gc_collect does it) and leaves
 * again.  All signals but the stop signal are blocked in it, so that the
 * host's handlers run on its own threads.
 *
 * fork: the child has no monitor, and the parent's file mapping must not
 * be written by it.  The child handler drops the mapping and asks for a
 * restart, which gh_monitor_check (on allocation slow paths) performs:
 * a child that goes on using the heap gets its own monitor and file, one
 * that only calls execve does not leave a file behind.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc.h"
#include "gh.h"
#include "os.h"
#include "monitor.h"
#include "statfile.h"

/* At least one refresh a second: goheap-stat's shortest interval. */
#define GH_REFRESH_NS 1000000000ull
#define GH_SCAVENGE_TICK_MIN_NS 1000000000ull
#define GH_PACE_NS 10000000ull

int gh_monitor_restart_wanted;
static bool running;
static uint32_t local_kick; /* the kick word while there is no file */
static gh_monitor_figures fig;
static goheap_memstats ms; /* the monitor's only: too big for its stack */

static uint32_t *kick_word(void)
{
	gh_statfile_header *h = gh_statfile_header_ptr();
	return h ? &h->kick : &local_kick;
}

void gh_monitor_gc_done(void)
{
	if (!__atomic_load_n(&running, __ATOMIC_RELAXED))
		return;
	uint32_t *k = kick_word();
	__atomic_add_fetch(k, 1, __ATOMIC_RELEASE);
	gh_os_wake_shared(k);
}

static void refresh(void)
{
	goheap_read_memstats(&ms);
	fig.update_ns = gh_walltime();
	fig.nupdates++;
	fig.gc_mode = (uint64_t)gh_gc_mode();
	gh_statfile_update(&ms, &fig);
}

/* Collect or dump from this thread, which is not registered, then leave
 * the registry again. */
static void collect(void)
{
	goheap_gc();
	goheap_unregister_thread();
}

/* Write a heap dump or a heap profile to path, a new file. */
static int64_t write_to(const char *path, int (*writer)(int fd), int64_t *value)
{
	if (path[0] != '/')
		return -EINVAL;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = writer(fd);
	int err = errno;
	goheap_unregister_thread();
	struct stat st;
	if (r == 0 && fstat(fd, &st) == 0)
		*value = st.st_size;
	if (close(fd) != 0 && r == 0) {
		r = -1;
		err = errno;
	}
	if (r != 0) {
		unlink(path); /* made by us (O_EXCL), and incomplete */
		return -err;
	}
	return 0;
}

/* Run one request; returns 0 or -errno, the op's answer in *value. */
static int64_t run_request(uint32_t op, int64_t arg, const char *path, int64_t *value)
{
	*value = 0;
	switch (op) {
	case GH_OP_GC:
		collect();
		goheap_read_memstats(&ms);
		*value = ms.numgc;
		return 0;
	case GH_OP_HEAPDUMP:
		return write_to(path, goheap_write_heapdump, value);
	case GH_OP_HEAP_PROFILE:
		return write_to(path, goheap_write_heap_profile, value);
	case GH_OP_SET_GC_PERCENT:
		if (arg > INT32_MAX)
			return -EINVAL;
		*value = goheap_set_gc_percent(arg < 0 ? -1 : (int)arg);
		return 0;
	case GH_OP_FREE_OS_MEMORY:
		goheap_free_os_memory();
		goheap_read_memstats(&ms);
		*value = (int64_t)ms.heap_released;
		return 0;
	default:
		return -ENOSYS; /* from a newer goheap-stat */
	}
}

/* Step 1.  The slot is written by another process: copy what is read and
 * trust none of it. */
static bool serve_request(void)
{
	gh_statfile_request *r = gh_statfile_request_ptr();
	if (!r)
		return false;
	uint32_t want = __atomic_load_n(&r->req_seq, __ATOMIC_ACQUIRE);
	if (want == __atomic_load_n(&r->done_seq, __ATOMIC_RELAXED))
		return false;
	static char path[sizeof r->path];
	uint32_t op = __atomic_load_n(&r->op, __ATOMIC_RELAXED);
	int64_t arg = __atomic_load_n(&r->arg, __ATOMIC_RELAXED);
	memcpy(path, r->path, sizeof path);
	path[sizeof path - 1] = 0;
	int64_t value;
	int64_t result = run_request(op, arg, path, &value);
	fig.requests++;
	refresh();
	__atomic_store_n(&r->value, value, __ATOMIC_RELAXED);
	__atomic_store_n(&r->result, result, __ATOMIC_RELAXED);
	__atomic_store_n(&r->done_seq, want, __ATOMIC_RELEASE);
	gh_os_wake_shared(&r->done_seq);
	return true;
}

static void *monitor_main(void *arg)
{
	(void)arg;
	if (!gh_statfile_header_ptr()) /* a forked child's, made here */
		gh_statfile_create();
	uint64_t scav_delay = (uint64_t)gh_option(GH_OPT_SCAVENGE_DELAY) * 1000000u;
	uint64_t force = (uint64_t)gh_option(GH_OPT_FORCEGC_PERIOD) * 1000000u;
	uint64_t tick = force && force < scav_delay ? force : scav_delay;
	tick /= 2;
	if (tick < GH_SCAVENGE_TICK_MIN_NS)
		tick = GH_SCAVENGE_TICK_MIN_NS;
	fig.forcegc_period = force;
	fig.scavenge_delay = scav_delay;
	fig.start_ns = gh_walltime() - (gh_nanotime() - gh_gc.start_ns);

	uint64_t now = gh_nanotime();
	uint64_t next_refresh = 0, next_scav = now + tick, last_gc_seen = now, next_pace = now;
	uint32_t numgc_seen = 0, kick_seen = 0;
	for (;;) {
		uint32_t *k = kick_word();
		uint32_t kick = __atomic_load_n(k, __ATOMIC_ACQUIRE);
		now = gh_nanotime();
		bool served = serve_request();

		uint32_t numgc = __atomic_load_n(&gh_gc.numgc, __ATOMIC_RELAXED);
		if (numgc != numgc_seen) {
			numgc_seen = numgc;
			last_gc_seen = now;
		}
		if (force && now - last_gc_seen >= force &&
		    __atomic_load_n(&gh_gc.percent, __ATOMIC_RELAXED) >= 0) {
			collect();
			fig.forced_gc++;
			last_gc_seen = now;
			next_refresh = 0;
		}
		if (now >= next_scav) {
			fig.scavenged += gh_mheap_scavenge(scav_delay);
			next_scav = now + tick;
		}
		uint64_t keep = gh_gc_scavenge_goal(now);
		bool over = gh_mheap_retained() > keep;
		if (over && now >= next_pace) {
			fig.scavenged += gh_mheap_scavenge_to(keep, GH_SCAVENGE_STEP);
			next_pace = now + GH_PACE_NS;
		}
		if (!served && (kick != kick_seen || now >= next_refresh)) {
			refresh();
			next_refresh = now + GH_REFRESH_NS;
		}
		kick_seen = kick;

		uint64_t until = next_refresh < next_scav ? next_refresh : next_scav;
		if (over && next_pace < until)
			until = next_pace;
		if (force && last_gc_seen + force < until)
			until = last_gc_seen + force;
		now = gh_nanotime();
		if (until > now)
			gh_os_wait_shared(k, kick, until - now);
	}
	return NULL;
}

static void spawn(void)
{
	__atomic_store_n(&running, true, __ATOMIC_RELAXED);
	if (gh_spawn_thread(monitor_main, "goheap-monitor", true) != 0)
		__atomic_store_n(&running, false, __ATOMIC_RELAXED);
}

static void fork_child(void)
{
	bool was = running;
	running = false;
	local_kick = 0;
	gh_statfile_forget();
	if (was)
		__atomic_store_n(&gh_monitor_restart_wanted, 1, __ATOMIC_RELAXED);
}

static void at_exit(void)
{
	gh_statfile_remove();
}

void gh_monitor_restart(void)
{
	if (__atomic_exchange_n(&gh_monitor_restart_wanted, 0, __ATOMIC_ACQ_REL))
		spawn();
}

void gh_monitor_start(void)
{
	if (gh_option(GH_OPT_STATS) == 0)
		return;
	gh_statfile_configure();
	pthread_atfork(NULL, NULL, fork_child);
	/* The file exists once the library is loaded, as the JVM's
	 * hsperfdata does: a process that exits at once still cleans up
	 * after dead predecessors and leaves nothing behind. */
	gh_statfile_create();
	atexit(at_exit);
	spawn();
}
