/*
 * goheap-stat - watch the heap of running libgoheap processes from outside,
 * send them requests, and read heap dumps.  See goheap-stat(1).
 *
 * It reads the stats files processes publish (lib/statfile.c) with the
 * readers of statread.c: by name, so that it copes with older and newer
 * libraries, and without ever stopping, tracing or locking the target.
 * Requests go through the same file to the target's monitor thread
 * (lib/monitor.c).  The tool is not linked with libgoheap.
 *
 * Exit status: one code per kind of failure (EX_* below, goheap-stat(1)),
 * after one line on stderr naming it.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os.h"
#include "statfile.h"

enum {
	EX_FAIL = 1,        /* the target refused or failed the request; I/O */
	EX_USAGE_ = 2,      /* bad command line */
	EX_NOPROC = 3,      /* no such process */
	EX_NOTGOHEAP = 4,   /* the process does not publish libgoheap stats */
	EX_PERM = 5,        /* another user's process */
	EX_VERSION = 6,     /* a stats file or dump of an unknown version */
	EX_CORRUPT = 7,     /* a corrupt or truncated stats file or dump */
	EX_TIMEOUT = 8,     /* the target did not answer a request in time */
};

static const char *stats_dir;
static bool json;
static int timeout_ms = 60000;
static uint64_t snap[GH_STATFILE_MAX_SIZE / 8]; /* a stats file copy */

static void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("goheap-stat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static int read_status_exit(int st)
{
	switch (st) {
	case GH_READ_VERSION:
		return EX_VERSION;
	case GH_READ_NOT_OURS:
	case GH_READ_TRUNCATED:
	case GH_READ_CORRUPT:
	case GH_READ_BUSY:
		return EX_CORRUPT;
	case GH_READ_TIMEOUT:
		return EX_TIMEOUT;
	default:
		return EX_FAIL;
	}
}

static void usage(FILE *f)
{
	fputs("usage: goheap-stat [-d DIR] [-o json]                 list processes using libgoheap\n"
	      "       goheap-stat [-d DIR] [-o json] PID [INTERVAL [COUNT]]\n"
	      "                                                      sample a process's heap\n"
	      "       goheap-stat [-d DIR] [-t SECONDS] gc PID       collect now\n"
	      "       goheap-stat [-d DIR] [-t SECONDS] dump PID FILE\n"
	      "                                                      write a heap dump\n"
	      "       goheap-stat [-d DIR] [-t SECONDS] profile PID FILE\n"
	      "                                                      write a pprof heap profile\n"
	      "       goheap-stat [-d DIR] set-gc-percent PID N|off  set GOGC\n"
	      "       goheap-stat [-d DIR] free-os-memory PID        return memory to the OS\n"
	      "       goheap-stat [-o json] histo FILE               summarise a heap dump\n",
	      f);
}

static pid_t parse_pid(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		die(EX_USAGE_, "'%s' is not a process id", s);
	return (pid_t)v;
}

/* ---- Formatting ---- */

static const char *fmt_bytes(char *buf, size_t n, uint64_t v)
{
	static const char unit[] = "KMGTPE";
	if (v < 1024) {
		snprintf(buf, n, "%" PRIu64 "B", v);
		return buf;
	}
	double d = (double)v / 1024;
	int u = 0;
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(buf, n, d < 10 ? "%.1f%c" : "%.0f%c", d, unit[u]);
	return buf;
}

static const char *fmt_ns(char *buf, size_t n, uint64_t v)
{
	if (v < 1000)
		snprintf(buf, n, "%" PRIu64 "ns", v);
	else if (v < 1000000)
		snprintf(buf, n, "%.1fus", (double)v / 1e3);
	else if (v < 1000000000)
		snprintf(buf, n, "%.1fms", (double)v / 1e6);
	else
		snprintf(buf, n, "%.2fs", (double)v / 1e9);
	return buf;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static const char *user_name(uid_t uid, char *buf, size_t n)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, n, "%s", pw->pw_name);
	else
		snprintf(buf, n, "%u", (unsigned)uid);
	return buf;
}

/* The command line of pid, or the command the file names. */
static void command_of(pid_t pid, const gh_statfile_view *v, char *buf, size_t n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, buf, n - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (r <= 0) {
		snprintf(buf, n, "%s", v->h->command);
		return;
	}
	buf[r] = 0;
	for (ssize_t i = 0; i < r - 1; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	for (char *p = buf; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
}

/* How much of a command line a listing shows: what is left of the
 * terminal's width after the other columns (67 characters), at least 20;
 * all of it when the output is not a terminal, for the scripts that read
 * it (and for programs started by an emulator with a long path, such as
 * qemu-user's binfmt wrapper). */
static int command_width(void)
{
	struct winsize ws;
	if (!isatty(STDOUT_FILENO))
		return INT_MAX;
	int cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
	return cols > 67 + 20 ? cols - 67 : 20;
}

/* ---- Finding and reading a process's stats file ---- */

static const char *dir_of(uid_t uid, char *buf, size_t n)
{
	snprintf(buf, n, "%s/goheap-%u", stats_dir, (unsigned)uid);
	return buf;
}

/* Whether the file open on fd belongs to process pid as it runs now. */
static bool same_process(const gh_statfile_view *v, pid_t pid)
{
	if (v->h->pid != pid)
		return false;
	uint64_t t = gh_os_proc_start_ticks(pid);
	return v->h->start_ticks == 0 || t == 0 || v->h->start_ticks == t;
}

/* Snapshot and parse fd into v; exits on failure, naming pid. */
static void read_snapshot(int fd, pid_t pid, gh_statfile_view *v)
{
	size_t len;
	int st = gh_statfile_snapshot(fd, snap, sizeof snap, &len);
	if (st == GH_READ_OK)
		st = gh_statfile_parse(snap, len, v);
	if (st != GH_READ_OK)
		die(read_status_exit(st), "stats file of process %ld: %s", (long)pid,
		    gh_read_strerror(st));
}

/* Open process pid's stats file; exits with the documented codes. */
static int open_target(pid_t pid, int flags)
{
	char path[64], dir[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%ld", (long)pid);
	if (stat(path, &st) != 0 || (kill(pid, 0) != 0 && errno == ESRCH))
		die(EX_NOPROC, "no such process: %ld", (long)pid);
	uid_t uid = st.st_uid;
	dir_of(uid, dir, sizeof dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && (errno == EACCES || errno == EPERM))
		die(EX_PERM, "permission denied: process %ld belongs to another user", (long)pid);
	if (dfd < 0)
		die(EX_NOTGOHEAP, "process %ld is not using libgoheap (no %s/%ld)", (long)pid, dir,
		    (long)pid);
	struct stat ds;
	if (fstat(dfd, &ds) != 0 || ds.st_uid != uid || (ds.st_mode & 077))
		die(EX_NOTGOHEAP, "%s is not a private directory of the process's user: ignored",
		    dir);
	snprintf(path, sizeof path, "%ld", (long)pid);
	int fd = openat(dfd, path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int err = errno;
	if (fd < 0 && (err == EACCES || err == EPERM))
		die(EX_PERM, "permission denied: process %ld belongs to another user", (long)pid);
	if (fd < 0) {
		close(dfd);
		die(EX_NOTGOHEAP, "process %ld is not using libgoheap (no stats file; "
				  "GOHEAP_STATS=0?)", (long)pid);
	}
	struct stat fs;
	if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode) || fs.st_uid != uid)
		die(EX_NOTGOHEAP, "%s/%ld is not a stats file of the process's user: ignored", dir,
		    (long)pid);
	gh_statfile_view v;
	read_snapshot(fd, pid, &v);
	if (!same_process(&v, pid)) {
		unlinkat(dfd, path, 0); /* left by an earlier process of that pid */
		die(EX_NOTGOHEAP, "process %ld is not using libgoheap (stale stats file removed)",
		    (long)pid);
	}
	close(dfd);
	return fd;
}

static uint64_t get(const gh_statfile_view *v, const char *name, bool *have)
{
	uint64_t x = 0;
	if (gh_statfile_get(v, name, 0, &x) != 0 && have)
		*have = false;
	return x;
}

/* How the process's collector marks (the file's gc_mode): "stw" with the
 * world stopped, "uffd" or "mprotect" concurrently, with that write
 * tracking; "-" from a library that does not say. */
static const char *gc_mode_name(const gh_statfile_view *v)
{
	bool have = true;
	uint64_t m = get(v, "gc_mode", &have);
	if (!have)
		return "-";
	return m == 0 ? "stw" : m == 1 ? "uffd" : m == 2 ? "mprotect" : "?";
}

static uint64_t last_pause(const gh_statfile_view *v, bool *have)
{
	uint64_t numgc, p;
	if (gh_statfile_get(v, "numgc", 0, &numgc) != 0 || numgc == 0 ||
	    gh_statfile_get(v, "pause_ns", (uint32_t)((numgc + 255) % 256), &p) != 0) {
		*have = false;
		return 0;
	}
	*have = true;
	return p;
}

/* ---- goheap-stat: the list ---- */

static void list_dir(uid_t uid, bool *header)
{
	char dir[PATH_MAX];
	dir_of(uid, dir, sizeof dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	struct stat ds;
	if (fstat(dfd, &ds) != 0 || ds.st_uid != uid || (ds.st_mode & 077)) {
		close(dfd);
		return;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		bool tmp = n[0] == '.';
		char *end;
		long pid = strtol(n + tmp, &end, 10);
		if (pid <= 0 || end == n + tmp || (tmp ? strcmp(end, ".tmp") : *end) != 0)
			continue;
		if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
			unlinkat(dirfd(d), n, 0); /* a process killed before its exit handlers */
			continue;
		}
		if (tmp)
			continue;
		int fd = openat(dirfd(d), n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		struct stat fs;
		gh_statfile_view v;
		size_t len;
		int st = GH_READ_CORRUPT;
		if (fstat(fd, &fs) == 0 && S_ISREG(fs.st_mode) && fs.st_uid == uid) {
			st = gh_statfile_snapshot(fd, snap, sizeof snap, &len);
			if (st == GH_READ_OK)
				st = gh_statfile_parse(snap, len, &v);
		}
		close(fd);
		if (st != GH_READ_OK) {
			fprintf(stderr, "goheap-stat: %s/%s: %s\n", dir, n, gh_read_strerror(st));
			continue;
		}
		if (!same_process(&v, (pid_t)pid)) {
			unlinkat(dirfd(d), n, 0);
			continue;
		}
		char user[64], cmd[256], b1[32], b2[32], b3[32];
		user_name(uid, user, sizeof user);
		command_of((pid_t)pid, &v, cmd, sizeof cmd);
		bool have = true, hp;
		uint64_t inuse = get(&v, "heap_inuse", &have);
		uint64_t goal = get(&v, "next_gc", &have);
		uint64_t numgc = get(&v, "numgc", &have);
		uint64_t pause = last_pause(&v, &hp);
		if (json) {
			printf("{\"pid\":%ld,\"user\":", pid);
			json_string(stdout, user);
			printf(",\"command\":");
			json_string(stdout, cmd);
			printf(",\"heap_inuse\":%" PRIu64 ",\"next_gc\":%" PRIu64
			       ",\"numgc\":%" PRIu64 ",\"last_pause_ns\":%" PRIu64
			       ",\"gc\":\"%s\"}\n",
			       inuse, goal, numgc, pause, gc_mode_name(&v));
			continue;
		}
		if (!*header) {
			printf("%7s %-10s %9s %9s %7s %10s %-8s %s\n", "PID", "USER", "INUSE",
			       "GOAL", "GCS", "LASTPAUSE", "GC", "COMMAND");
			*header = true;
		}
		printf("%7ld %-10.10s %9s %9s %7" PRIu64 " %10s %-8s %.*s\n", pid, user,
		       fmt_bytes(b1, sizeof b1, inuse), fmt_bytes(b2, sizeof b2, goal), numgc,
		       hp ? fmt_ns(b3, sizeof b3, pause) : "-", gc_mode_name(&v),
		       command_width(), cmd);
	}
	closedir(d);
}

static int cmd_list(void)
{
	bool header = false;
	if (geteuid() != 0) {
		list_dir(geteuid(), &header);
		return 0;
	}
	DIR *d = opendir(stats_dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		if (strncmp(e->d_name, "goheap-", 7) != 0)
			continue;
		unsigned long uid = strtoul(e->d_name + 7, &end, 10);
		if (end == e->d_name + 7 || *end || uid > UINT32_MAX)
			continue;
		list_dir((uid_t)uid, &header);
	}
	closedir(d);
	return 0;
}

/* ---- goheap-stat PID [INTERVAL [COUNT]] ---- */

static void sample_json(pid_t pid, const gh_statfile_view *v)
{
	char cmd[256];
	command_of(pid, v, cmd, sizeof cmd);
	printf("{\"pid\":%ld,\"command\":", (long)pid);
	json_string(stdout, cmd);
	const gh_statfile_field *f = v->fields;
	uint32_t n = v->h->nfields;
	for (uint32_t i = 0; i < n; i++) {
		const char *dot = strchr(f[i].name, '.');
		if (!dot) {
			putchar(',');
			json_string(stdout, f[i].name);
			putchar(':');
			if (f[i].count == 1) {
				printf("%" PRIu64, v->values[f[i].index]);
				continue;
			}
			putchar('[');
			for (uint32_t k = 0; k < f[i].count; k++)
				printf("%s%" PRIu64, k ? "," : "", v->values[f[i].index + k]);
			putchar(']');
			continue;
		}
		/* "p.x", "p.y": one array "p" of objects {x, y}, at the first
		 * field of the group. */
		size_t plen = (size_t)(dot - f[i].name);
		bool first = true;
		for (uint32_t j = 0; j < i && first; j++)
			if (strncmp(f[j].name, f[i].name, plen + 1) == 0)
				first = false;
		if (!first)
			continue;
		uint32_t max = 0;
		for (uint32_t j = i; j < n; j++)
			if (strncmp(f[j].name, f[i].name, plen + 1) == 0 && f[j].count > max)
				max = f[j].count;
		char prefix[sizeof f[i].name];
		memcpy(prefix, f[i].name, plen);
		prefix[plen] = 0;
		putchar(',');
		json_string(stdout, prefix);
		printf(":[");
		for (uint32_t k = 0; k < max; k++) {
			printf("%s{", k ? "," : "");
			bool comma = false;
			for (uint32_t j = i; j < n; j++) {
				if (strncmp(f[j].name, f[i].name, plen + 1) != 0 || k >= f[j].count)
					continue;
				printf("%s", comma ? "," : "");
				json_string(stdout, f[j].name + plen + 1);
				printf(":%" PRIu64, v->values[f[j].index + k]);
				comma = true;
			}
			putchar('}');
		}
		putchar(']');
	}
	printf("}\n");
}

static int screen_rows(void)
{
	struct winsize ws;
	if (!isatty(STDOUT_FILENO))
		return 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2)
		return ws.ws_row - 1;
	return 23;
}

static void sample_row(const gh_statfile_view *v, uint64_t *prev_pause, uint64_t *prev_time)
{
	char b[8][32];
	bool h[8] = {true, true, true, true, true, true, true, true};
	uint64_t alloc = get(v, "heap_alloc", &h[0]);
	uint64_t sys = get(v, "heap_sys", &h[1]);
	uint64_t idle = get(v, "heap_idle", &h[2]);
	uint64_t rel = get(v, "heap_released", &h[3]);
	uint64_t objs = get(v, "heap_objects", &h[4]);
	uint64_t numgc = get(v, "numgc", &h[5]);
	uint64_t total = get(v, "pause_total_ns", &h[6]);
	bool hp;
	uint64_t last = last_pause(v, &hp);
	bool ht = true;
	uint64_t now = get(v, "update_ns", &ht);
	uint64_t start = get(v, "start_ns", &ht);
	double gcpct = -1;
	if (ht && h[6]) {
		uint64_t t0 = *prev_time ? *prev_time : start;
		uint64_t p0 = *prev_time ? *prev_pause : 0;
		if (now > t0 && total >= p0)
			gcpct = 100.0 * (double)(total - p0) / (double)(now - t0);
		*prev_pause = total;
		*prev_time = now;
	}
	char pct[16] = "-";
	if (gcpct >= 0)
		snprintf(pct, sizeof pct, "%.1f", gcpct);
	printf("%8s %8s %8s %8s %10s %6s %9s %9s %5s\n",
	       h[0] ? fmt_bytes(b[0], 32, alloc) : "-", h[1] ? fmt_bytes(b[1], 32, sys) : "-",
	       h[2] ? fmt_bytes(b[2], 32, idle) : "-", h[3] ? fmt_bytes(b[3], 32, rel) : "-",
	       h[4] ? (snprintf(b[4], 32, "%" PRIu64, objs), b[4]) : "-",
	       h[5] ? (snprintf(b[5], 32, "%" PRIu64, numgc), b[5]) : "-",
	       hp ? fmt_ns(b[6], 32, last) : "-", h[6] ? fmt_ns(b[7], 32, total) : "-", pct);
}

static int cmd_sample(pid_t pid, double interval, long count)
{
	int fd = open_target(pid, O_RDONLY);
	int rows = screen_rows(), printed = 0;
	uint64_t prev_pause = 0, prev_time = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long i = 0; count < 0 || i < count; i++) {
		if (i > 0) {
			uint64_t ns = (uint64_t)(interval * 1e9);
			next.tv_sec += (time_t)(ns / 1000000000u);
			next.tv_nsec += (long)(ns % 1000000000u);
			if (next.tv_nsec >= 1000000000) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000;
			}
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
				;
			if (kill(pid, 0) != 0 && errno == ESRCH) {
				fprintf(stderr, "goheap-stat: process %ld has exited\n", (long)pid);
				break;
			}
		}
		gh_statfile_view v;
		read_snapshot(fd, pid, &v);
		if (json) {
			sample_json(pid, &v);
		} else {
			if (printed == 0 || (rows > 0 && printed % rows == 0))
				printf("%8s %8s %8s %8s %10s %6s %9s %9s %5s\n", "ALLOC", "SYS",
				       "IDLE", "RELEASED", "OBJECTS", "GCS", "LASTPAUSE", "PAUSES",
				       "GC%");
			sample_row(&v, &prev_pause, &prev_time);
			printed++;
		}
		fflush(stdout);
	}
	close(fd);
	return 0;
}

/* ---- Requests ---- */

static int request(pid_t pid, uint32_t op, int64_t arg, const char *path, int64_t *value)
{
	int fd = open_target(pid, O_RDWR);
	int64_t result;
	int st = gh_statfile_send(fd, op, arg, path, timeout_ms, &result, value);
	close(fd);
	if (st == GH_READ_TIMEOUT)
		die(EX_TIMEOUT, "process %ld did not answer within %d s", (long)pid,
		    timeout_ms / 1000);
	if (st != GH_READ_OK)
		die(read_status_exit(st), "stats file of process %ld: %s", (long)pid,
		    gh_read_strerror(st));
	if (result == -ENOSYS)
		die(EX_FAIL, "process %ld: its libgoheap does not know this request", (long)pid);
	if (result < 0)
		die(EX_FAIL, "process %ld: %s%s%s", (long)pid, path ? path : "",
		    path ? ": " : "", strerror((int)-result));
	return 0;
}

/* dump and profile: ask the process to write FILE (made absolute). */
static int cmd_write(pid_t pid, const char *file, uint32_t op)
{
	char path[4096];
	if (file[0] == '/') {
		snprintf(path, sizeof path, "%s", file);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			die(EX_FAIL, "cannot find the current directory: %s", strerror(errno));
		if ((size_t)snprintf(path, sizeof path, "%s/%s", cwd, file) >= sizeof path)
			die(EX_USAGE_, "%s: name too long", file);
	}
	int64_t bytes;
	request(pid, op, 0, path, &bytes);
	printf("wrote %" PRId64 " bytes to %s\n", bytes, path);
	return 0;
}

/* ---- histo FILE ---- */

static const char *kind_name(uint64_t k)
{
	static const char *names[] = {"scan", "noscan", "typed", "tiny"};
	return k < 4 ? names[k] : "other";
}

static const char *root_name(uint64_t k)
{
	static const char *names[] = {"other", "data", "stack", "range", "pending"};
	return k < GH_DUMP_NROOTKINDS ? names[k] : "other";
}

enum { MAXCLASS = 256, TOPN = 10 };

typedef struct histo {
	uint64_t count[MAXCLASS][GH_DUMP_NKINDS + 1], bytes[MAXCLASS][GH_DUMP_NKINDS + 1];
	uint64_t classsize[MAXCLASS];
	uint64_t objects, total;
	uint64_t top_addr[TOPN], top_size[TOPN], top_kind[TOPN], top_class[TOPN];
	int ntop;
	uint64_t roots[GH_DUMP_NROOTKINDS][3]; /* count, bytes, pointers */
	uint64_t objptrs, threads, fin_set, fin_queued;
	bool have_ms;
	uint64_t ms_objects, ms_alloc, ms_numgc, pid, time_ns;
} histo;

static void top_add(histo *h, const gh_dump_record *r)
{
	if (h->ntop == TOPN && h->top_size[TOPN - 1] >= r->u[1])
		return;
	int i = h->ntop < TOPN ? h->ntop++ : TOPN - 1;
	while (i > 0 && h->top_size[i - 1] < r->u[1]) {
		h->top_addr[i] = h->top_addr[i - 1];
		h->top_size[i] = h->top_size[i - 1];
		h->top_kind[i] = h->top_kind[i - 1];
		h->top_class[i] = h->top_class[i - 1];
		i--;
	}
	h->top_addr[i] = r->u[0];
	h->top_size[i] = r->u[1];
	h->top_kind[i] = r->u[2];
	h->top_class[i] = r->u[3];
}

static void histo_print(const histo *h, const char *file, uint64_t version)
{
	char b1[32], b2[32];
	if (json) {
		printf("{\"file\":");
		json_string(stdout, file);
		printf(",\"version\":%" PRIu64 ",\"pid\":%" PRIu64 ",\"time_ns\":%" PRIu64
		       ",\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64,
		       version, h->pid, h->time_ns, h->objects, h->total);
		if (h->have_ms)
			printf(",\"memstats\":{\"heap_objects\":%" PRIu64 ",\"heap_alloc\":%" PRIu64
			       ",\"numgc\":%" PRIu64 "}",
			       h->ms_objects, h->ms_alloc, h->ms_numgc);
		printf(",\"classes\":[");
		bool comma = false;
		for (int c = 0; c < MAXCLASS; c++)
			for (int k = 0; k <= GH_DUMP_NKINDS; k++)
				if (h->count[c][k]) {
					printf("%s{\"class\":%d,\"size\":%" PRIu64
					       ",\"kind\":\"%s\",\"objects\":%" PRIu64
					       ",\"bytes\":%" PRIu64 "}",
					       comma ? "," : "", c, h->classsize[c], kind_name((uint64_t)k),
					       h->count[c][k], h->bytes[c][k]);
					comma = true;
				}
		printf("],\"largest\":[");
		for (int i = 0; i < h->ntop; i++)
			printf("%s{\"addr\":%" PRIu64 ",\"size\":%" PRIu64 ",\"kind\":\"%s\",\"class\":%" PRIu64 "}",
			       i ? "," : "", h->top_addr[i], h->top_size[i], kind_name(h->top_kind[i]),
			       h->top_class[i]);
		printf("],\"roots\":[");
		comma = false;
		for (int k = 0; k < GH_DUMP_NROOTKINDS; k++)
			if (h->roots[k][0]) {
				printf("%s{\"kind\":\"%s\",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64
				       ",\"pointers\":%" PRIu64 "}",
				       comma ? "," : "", root_name((uint64_t)k), h->roots[k][0],
				       h->roots[k][1], h->roots[k][2]);
				comma = true;
			}
		printf("],\"threads\":%" PRIu64 ",\"object_pointers\":%" PRIu64
		       ",\"finalizers\":%" PRIu64 ",\"finalizers_queued\":%" PRIu64 "}\n",
		       h->threads, h->objptrs, h->fin_set, h->fin_queued);
		return;
	}
	printf("heap dump %s: format %" PRIu64 ", process %" PRIu64 "\n\n", file, version, h->pid);
	printf("%5s %7s %-6s %12s %12s\n", "CLASS", "SIZE", "KIND", "OBJECTS", "BYTES");
	for (int c = 0; c < MAXCLASS; c++)
		for (int k = 0; k <= GH_DUMP_NKINDS; k++)
			if (h->count[c][k])
				printf("%5d %7s %-6s %12" PRIu64 " %12" PRIu64 "\n", c,
				       c ? fmt_bytes(b1, sizeof b1, h->classsize[c]) : "large",
				       kind_name((uint64_t)k), h->count[c][k], h->bytes[c][k]);
	printf("%5s %7s %-6s %12" PRIu64 " %12" PRIu64 "\n", "total", "", "", h->objects, h->total);
	if (h->have_ms)
		printf("memstats at the dump: heap_objects %" PRIu64 ", heap_alloc %" PRIu64
		       ", numgc %" PRIu64 "\n",
		       h->ms_objects, h->ms_alloc, h->ms_numgc);
	printf("\nlargest objects:\n");
	for (int i = 0; i < h->ntop; i++)
		printf("  0x%012" PRIx64 " %9s %-6s class %" PRIu64 "\n", h->top_addr[i],
		       fmt_bytes(b1, sizeof b1, h->top_size[i]), kind_name(h->top_kind[i]),
		       h->top_class[i]);
	printf("\nroots:\n%9s %8s %10s %10s\n", "KIND", "RANGES", "BYTES", "POINTERS");
	for (int k = 0; k < GH_DUMP_NROOTKINDS; k++)
		if (h->roots[k][0])
			printf("%9s %8" PRIu64 " %10s %10" PRIu64 "\n", root_name((uint64_t)k),
			       h->roots[k][0], fmt_bytes(b2, sizeof b2, h->roots[k][1]), h->roots[k][2]);
	printf("\nthreads %" PRIu64 ", pointers between objects %" PRIu64
	       ", finalizers %" PRIu64 " set and %" PRIu64 " queued\n",
	       h->threads, h->objptrs, h->fin_set, h->fin_queued);
}

static int cmd_histo(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(EX_FAIL, "%s: %s", file, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0)
		die(EX_FAIL, "%s: %s", file, strerror(errno));
	uint8_t *buf = NULL;
	size_t len = 0;
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		len = (size_t)st.st_size;
		buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (buf == MAP_FAILED)
			die(EX_FAIL, "%s: %s", file, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		size_t cap = 0;
		for (;;) {
			if (len == cap) {
				cap = cap ? cap * 2 : 1 << 20;
				buf = realloc(buf, cap);
				if (!buf)
					die(EX_FAIL, "out of memory");
			}
			ssize_t r = read(fd, buf + len, cap - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die(EX_FAIL, "%s: %s", file, strerror(errno));
			if (r == 0)
				break;
			len += (size_t)r;
		}
	}
	close(fd);
	static uint8_t empty[1];
	if (!buf)
		buf = empty;

	gh_dump_reader r;
	int rs = gh_dump_open(&r, buf, len);
	if (rs != GH_READ_OK)
		die(read_status_exit(rs), "%s: %s", file,
		    rs == GH_READ_NOT_OURS ? "not a libgoheap heap dump" : gh_read_strerror(rs));
	static gh_dump_record rec;
	static histo h;
	bool progress = isatty(STDERR_FILENO) && len > (16u << 20);
	int pct_shown = -1;
	int cur_root = -1; /* what POINTERS belong to: -1 an object, else a root kind */
	int rst;
	while ((rst = gh_dump_next(&r, &rec)) > 0) {
		if (progress) {
			int pct = (int)((uint64_t)(r.p - r.base) * 100 / len);
			if (pct != pct_shown) {
				fprintf(stderr, "\rreading %s: %d%%", file, pct);
				pct_shown = pct;
			}
		}
		switch (rec.tag) {
		case GH_DUMP_PARAMS:
			gh_dump_named_get(&rec, "pid", &h.pid);
			gh_dump_named_get(&rec, "time_ns", &h.time_ns);
			break;
		case GH_DUMP_MEMSTATS:
			h.have_ms = gh_dump_named_get(&rec, "heap_objects", &h.ms_objects) == 0 &&
				    gh_dump_named_get(&rec, "heap_alloc", &h.ms_alloc) == 0;
			gh_dump_named_get(&rec, "numgc", &h.ms_numgc);
			break;
		case GH_DUMP_SIZECLASS:
			if (rec.u[0] < MAXCLASS)
				h.classsize[rec.u[0]] = rec.u[1];
			break;
		case GH_DUMP_OBJECT: {
			uint64_t cls = rec.u[3], kind = rec.u[2] < GH_DUMP_NKINDS ? rec.u[2] : GH_DUMP_NKINDS;
			if (cls >= MAXCLASS) {
				rst = GH_READ_CORRUPT;
				goto out;
			}
			h.count[cls][kind]++;
			h.bytes[cls][kind] += rec.u[1];
			h.objects++;
			h.total += rec.u[1];
			top_add(&h, &rec);
			cur_root = -1;
			break;
		}
		case GH_DUMP_POINTERS:
			if (cur_root >= 0)
				h.roots[cur_root][2] += rec.nptrs;
			else
				h.objptrs += rec.nptrs;
			break;
		case GH_DUMP_THREAD:
			h.threads++;
			break;
		case GH_DUMP_ROOT:
			cur_root = rec.u[0] < GH_DUMP_NROOTKINDS ? (int)rec.u[0] : 0;
			h.roots[cur_root][0]++;
			h.roots[cur_root][1] += rec.u[2] > rec.u[1] ? rec.u[2] - rec.u[1] : 0;
			break;
		case GH_DUMP_FINALIZER:
			if (rec.u[3])
				h.fin_queued++;
			else
				h.fin_set++;
			break;
		default:
			break; /* a later version's record */
		}
	}
out:
	if (progress)
		fprintf(stderr, "\r%*s\r", (int)strlen(file) + 16, "");
	if (rst < 0)
		die(read_status_exit(rst), "%s: %s", file, gh_read_strerror(rst));
	histo_print(&h, file, r.version);
	return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	stats_dir = getenv("GOHEAP_STATS_DIR");
	if (!stats_dir || !*stats_dir)
		stats_dir = GH_STATFILE_DEFAULT_DIR;
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+d:o:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			stats_dir = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "text") == 0)
				json = false;
			else
				die(EX_USAGE_, "-o takes json or text, not '%s'", optarg);
			break;
		case 't': {
			char *end;
			double t = strtod(optarg, &end);
			if (end == optarg || *end || !(t > 0 && t < 86400))
				die(EX_USAGE_, "-t takes seconds, not '%s'", optarg);
			timeout_ms = (int)(t * 1000);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("goheap-stat (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE_;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return cmd_list();
	const char *cmd = argv[0];
	if (strcmp(cmd, "gc") == 0 && argc == 2) {
		int64_t numgc;
		request(parse_pid(argv[1]), GH_OP_GC, 0, NULL, &numgc);
		printf("collected: numgc %" PRId64 "\n", numgc);
		return 0;
	}
	if (strcmp(cmd, "dump") == 0 && argc == 3)
		return cmd_write(parse_pid(argv[1]), argv[2], GH_OP_HEAPDUMP);
	if (strcmp(cmd, "profile") == 0 && argc == 3)
		return cmd_write(parse_pid(argv[1]), argv[2], GH_OP_HEAP_PROFILE);
	if (strcmp(cmd, "set-gc-percent") == 0 && argc == 3) {
		int64_t n = -1, old;
		if (strcmp(argv[2], "off") != 0) {
			char *end;
			errno = 0;
			long long v = strtoll(argv[2], &end, 10);
			if (errno || end == argv[2] || *end || v < -1 || v > INT32_MAX)
				die(EX_USAGE_, "set-gc-percent takes a percentage or off, not '%s'",
				    argv[2]);
			n = v;
		}
		request(parse_pid(argv[1]), GH_OP_SET_GC_PERCENT, n, NULL, &old);
		printf("gc percent: %s%" PRId64 " -> %s\n", old < 0 ? "off" : "",
		       old < 0 ? (int64_t)0 : old, argv[2]);
		return 0;
	}
	if (strcmp(cmd, "free-os-memory") == 0 && argc == 2) {
		int64_t released;
		request(parse_pid(argv[1]), GH_OP_FREE_OS_MEMORY, 0, NULL, &released);
		printf("heap_released: %" PRId64 " bytes\n", released);
		return 0;
	}
	if (strcmp(cmd, "histo") == 0 && argc == 2)
		return cmd_histo(argv[1]);
	if (isdigit((unsigned char)cmd[0]) && argc <= 3) {
		pid_t pid = parse_pid(cmd);
		double interval = 0;
		long count = 1;
		if (argc >= 2) {
			char *end;
			interval = strtod(argv[1], &end);
			if (end == argv[1] || *end || !(interval >= 0.01 && interval <= 86400))
				die(EX_USAGE_, "INTERVAL is in seconds, not '%s'", argv[1]);
			count = -1;
		}
		if (argc == 3) {
			char *end;
			count = strtol(argv[2], &end, 10);
			if (end == argv[2] || *end || count <= 0)
				die(EX_USAGE_, "COUNT must be a positive number, not '%s'", argv[2]);
		}
		return cmd_sample(pid, interval, count);
	}
	usage(stderr);
	return EX_USAGE_;
}
