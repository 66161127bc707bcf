/*
 * statfile.c - publish this process's heap figures in a small file that
 * goheap-stat reads from outside, as the JVM's hsperfdata files do.  See
 * statfile.h for the layout and the seqlock, monitor.c for who writes it.
 *
 * Where: $GOHEAP_STATS_DIR/goheap-<uid>/<pid>, by default under /dev/shm, a
 * tmpfs on every Linux system, so updates never reach a disk.  Not
 * $XDG_RUNTIME_DIR: daemons have none, and root's goheap-stat must find
 * every user's processes in one place.
 *
 * Creation follows the hsperfdata rules, as nothing in a shared directory
 * can be trusted:
 *
 *   1. mkdir goheap-<uid> with mode 0700 (an existing one is fine);
 *   2. open it with O_NOFOLLOW | O_DIRECTORY and check, on the open
 *      descriptor, that it is a directory, ours, and closed to group and
 *      others; otherwise publish nothing and say why, once;
 *   3. remove files of processes that are gone (killed processes leave
 *      theirs behind), or whose pid now belongs to another process;
 *   4. create .<pid>.tmp in it with O_CREAT | O_EXCL | O_NOFOLLOW, mode
 *      0600, check it is a regular file of ours with one link, size and
 *      map it, fill in header and schema, and rename it to <pid>: readers
 *      never see a half-made file.
 *
 * The file is removed at normal exit (atexit) by the process that made
 * it, and never by a child of fork, which makes its own.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gh.h"
#include "os.h"
#include "statfile.h"

static char stats_dir[512]; /* the base directory */
static char file_path[600]; /* the published file, while there is one */
static pid_t file_pid;      /* the process that made it */
static void *map;
static size_t map_size;
static uint32_t seq;

/* The schema: goheap_memstats scalars first (GH_MEMSTATS_SCALARS, in
 * monitor.h), then its arrays, then the monitor's figures.  Names are the
 * structure's, so that readers (and goheap-stat -o json) find fields by the
 * names users know. */
enum {
#define X(name, unit) F_##name,
	GH_MEMSTATS_SCALARS(X)
#undef X
	F_numgc,
	F_gc_percent,
	F_pause_ns,
	F_pause_end,
	F_by_size_size,
	F_by_size_nmalloc,
	F_by_size_nfree,
	F_update_ns,
	F_nupdates,
	F_forced_gc,
	F_scavenged,
	F_requests,
	F_start_ns,
	F_forcegc_period,
	F_scavenge_delay,
	F_gc_mode,
	NFIELDS,
};

static const struct {
	const char *name;
	uint32_t count, unit;
} schema[NFIELDS] = {
#define X(name, unit) [F_##name] = {#name, 1, GH_UNIT_##unit},
	GH_MEMSTATS_SCALARS(X)
#undef X
	[F_numgc] = {"numgc", 1, GH_UNIT_COUNT},
	[F_gc_percent] = {"gc_percent", 1, GH_UNIT_PERCENT},
	[F_pause_ns] = {"pause_ns", 256, GH_UNIT_NS},
	[F_pause_end] = {"pause_end", 256, GH_UNIT_TIMESTAMP},
	[F_by_size_size] = {"by_size.size", GOHEAP_NUM_SIZE_CLASSES, GH_UNIT_BYTES},
	[F_by_size_nmalloc] = {"by_size.nmalloc", GOHEAP_NUM_SIZE_CLASSES, GH_UNIT_COUNT},
	[F_by_size_nfree] = {"by_size.nfree", GOHEAP_NUM_SIZE_CLASSES, GH_UNIT_COUNT},
	[F_update_ns] = {"update_ns", 1, GH_UNIT_TIMESTAMP},
	[F_nupdates] = {"nupdates", 1, GH_UNIT_COUNT},
	[F_forced_gc] = {"forced_gc", 1, GH_UNIT_COUNT},
	[F_scavenged] = {"scavenged", 1, GH_UNIT_BYTES},
	[F_requests] = {"requests", 1, GH_UNIT_COUNT},
	[F_start_ns] = {"start_ns", 1, GH_UNIT_TIMESTAMP},
	[F_forcegc_period] = {"forcegc_period", 1, GH_UNIT_NS},
	[F_scavenge_delay] = {"scavenge_delay", 1, GH_UNIT_NS},
	[F_gc_mode] = {"gc_mode", 1, GH_UNIT_COUNT},
};

static uint32_t value_index[NFIELDS];
static uint32_t nvalues;

static const size_t scalar_offset[] = {
#define X(name, unit) offsetof(goheap_memstats, name),
	GH_MEMSTATS_SCALARS(X)
#undef X
};

void gh_statfile_configure(void)
{
	const char *d = getenv("GOHEAP_STATS_DIR");
	if (!d || !*d)
		d = GH_STATFILE_DEFAULT_DIR;
	if (strlen(d) >= sizeof stats_dir - 32) {
		gh_warn("GOHEAP_STATS_DIR is too long; using %s", GH_STATFILE_DEFAULT_DIR);
		d = GH_STATFILE_DEFAULT_DIR;
	}
	snprintf(stats_dir, sizeof stats_dir, "%s", d);
}

/* Whether process pid is alive and is the one that made the file open on
 * fd (its start time matches). */
static int owner_alive(pid_t pid, int fd)
{
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 0;
	gh_statfile_header h;
	if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h.magic, GH_STATFILE_MAGIC, 8) != 0)
		return 1; /* not ours to judge */
	uint64_t ticks = gh_os_proc_start_ticks(pid);
	return h.start_ticks == 0 || ticks == 0 || h.start_ticks == ticks;
}

/* Step 3: remove what processes that are gone left in the directory. */
static void remove_stale(int dirfd)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		bool tmp = n[0] == '.';
		if (tmp)
			n++;
		char *end;
		long pid = strtol(n, &end, 10);
		if (pid <= 0 || end == n || (tmp ? strcmp(end, ".tmp") : *end) != 0)
			continue;
		if (pid == getpid()) {
			unlinkat(dirfd, e->d_name, 0); /* a predecessor's */
			continue;
		}
		int f = openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (f < 0)
			continue;
		struct stat st;
		if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    !owner_alive((pid_t)pid, f))
			unlinkat(dirfd, e->d_name, 0);
		close(f);
	}
	closedir(d);
}

/* Step 2: the per-user directory, opened and checked; -1 if unusable. */
static int open_private_dir(char *dir, size_t n)
{
	snprintf(dir, n, "%s/goheap-%u", stats_dir, (unsigned)geteuid());
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1; /* no tmpfs, read-only: silently without stats */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			gh_warn("not publishing statistics: %s is not a directory", dir);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		gh_warn("not publishing statistics: %s must be a directory of user %u "
			"with mode 0700", dir, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

static uint64_t self_start_ticks(void)
{
	return gh_os_proc_start_ticks(getpid());
}

static size_t layout(gh_statfile_header *h)
{
	nvalues = 0;
	for (int i = 0; i < NFIELDS; i++) {
		value_index[i] = nvalues;
		nvalues += schema[i].count;
	}
	size_t off = (sizeof *h + 63) & ~(size_t)63;
	h->fields_off = (uint32_t)off;
	h->nfields = NFIELDS;
	off += NFIELDS * sizeof(gh_statfile_field);
	off = (off + 63) & ~(size_t)63;
	h->values_off = (uint32_t)off;
	h->nvalues = nvalues;
	off += nvalues * sizeof(uint64_t);
	off = (off + 63) & ~(size_t)63;
	h->request_off = (uint32_t)off;
	h->request_size = sizeof(gh_statfile_request);
	off += sizeof(gh_statfile_request);
	size_t page = gh_sys_pagesize();
	return (off + page - 1) & ~(page - 1);
}

int gh_statfile_create(void)
{
	char dir[sizeof stats_dir + 32];
	int dfd = open_private_dir(dir, sizeof dir);
	if (dfd < 0)
		return -1;
	remove_stale(dfd);

	char tmp[32], name[32];
	pid_t pid = getpid();
	snprintf(tmp, sizeof tmp, ".%ld.tmp", (long)pid);
	snprintf(name, sizeof name, "%ld", (long)pid);
	int fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		unlinkat(dfd, tmp, 0);
		fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		close(dfd);
		return -1;
	}
	gh_statfile_header hdr;
	memset(&hdr, 0, sizeof hdr);
	size_t size = layout(&hdr);
	struct stat st;
	void *m = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1 || ftruncate(fd, (off_t)size) != 0 ||
	    (m = gh_sys_map_file(fd, size)) == NULL) {
		close(fd);
		unlinkat(dfd, tmp, 0);
		close(dfd);
		return -1;
	}
	close(fd);

	gh_statfile_header *h = m;
	memcpy(h->magic, GH_STATFILE_MAGIC, 8);
	h->version = GH_STATFILE_VERSION;
	h->header_size = sizeof *h;
	h->file_size = size;
	h->pid = (int32_t)pid;
	h->uid = (uint32_t)geteuid();
	h->start_ticks = self_start_ticks();
	h->created_ns = gh_walltime();
	h->nfields = hdr.nfields;
	h->fields_off = hdr.fields_off;
	h->nvalues = hdr.nvalues;
	h->values_off = hdr.values_off;
	h->request_off = hdr.request_off;
	h->request_size = hdr.request_size;
	snprintf(h->command, sizeof h->command, "%s", program_invocation_short_name);
	gh_statfile_field *f = (gh_statfile_field *)((char *)m + h->fields_off);
	for (int i = 0; i < NFIELDS; i++) {
		snprintf(f[i].name, sizeof f[i].name, "%s", schema[i].name);
		f[i].index = value_index[i];
		f[i].count = schema[i].count;
		f[i].unit = schema[i].unit;
	}
	seq = 0;
	if (renameat(dfd, tmp, dfd, name) != 0) {
		gh_sys_unmap_file(m, size);
		unlinkat(dfd, tmp, 0);
		close(dfd);
		return -1;
	}
	close(dfd);
	snprintf(file_path, sizeof file_path, "%s/%s", dir, name);
	file_pid = pid;
	map_size = size;
	__atomic_store_n(&map, m, __ATOMIC_RELEASE);
	return 0;
}

void gh_statfile_update(const goheap_memstats *m, const gh_monitor_figures *x)
{
	gh_statfile_header *h = map;
	if (!h)
		return;
	uint64_t *v = (uint64_t *)((char *)h + h->values_off);

	/* Seqlock, writer side: odd, values, even with release.  The odd
	 * value is an exchange with acquire as well as release, so that no
	 * value write moves above it (a fence would do, but ThreadSanitizer
	 * does not model fences). */
	++seq;
	__atomic_exchange_n(&h->seq, seq, __ATOMIC_ACQ_REL);
	for (int i = 0; i <= F_pause_total_ns; i++)
		v[value_index[i]] = *(const uint64_t *)((const char *)m + scalar_offset[i]);
	v[value_index[F_numgc]] = m->numgc;
	v[value_index[F_gc_percent]] = m->gc_percent;
	memcpy(&v[value_index[F_pause_ns]], m->pause_ns, sizeof m->pause_ns);
	memcpy(&v[value_index[F_pause_end]], m->pause_end, sizeof m->pause_end);
	for (uint32_t c = 0; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
		v[value_index[F_by_size_size] + c] = m->by_size[c].size;
		v[value_index[F_by_size_nmalloc] + c] = m->by_size[c].nmalloc;
		v[value_index[F_by_size_nfree] + c] = m->by_size[c].nfree;
	}
	v[value_index[F_update_ns]] = x->update_ns;
	v[value_index[F_nupdates]] = x->nupdates;
	v[value_index[F_forced_gc]] = x->forced_gc;
	v[value_index[F_scavenged]] = x->scavenged;
	v[value_index[F_requests]] = x->requests;
	v[value_index[F_start_ns]] = x->start_ns;
	v[value_index[F_forcegc_period]] = x->forcegc_period;
	v[value_index[F_scavenge_delay]] = x->scavenge_delay;
	v[value_index[F_gc_mode]] = x->gc_mode;
	__atomic_store_n(&h->seq, ++seq, __ATOMIC_RELEASE);
}

gh_statfile_header *gh_statfile_header_ptr(void)
{
	return __atomic_load_n(&map, __ATOMIC_ACQUIRE);
}

gh_statfile_request *gh_statfile_request_ptr(void)
{
	gh_statfile_header *h = gh_statfile_header_ptr();
	return h ? (gh_statfile_request *)((char *)h + h->request_off) : NULL;
}

void gh_statfile_remove(void)
{
	if (map && file_pid == getpid())
		unlink(file_path);
}

void gh_statfile_forget(void)
{
	/* The mapping is shared with the parent: drop it unwritten. */
	void *m = map;
	__atomic_store_n(&map, NULL, __ATOMIC_RELAXED);
	if (m)
		gh_sys_unmap_file(m, map_size);
	file_path[0] = 0;
	file_pid = 0;
}
