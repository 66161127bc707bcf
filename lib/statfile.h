/*
 * statfile.h - the on-disk formats of libgoheap's outside view: the stats
 * file each process publishes (statfile.c, monitor.c) and the heap dump
 * (heapdump.c), with the readers goheap-stat, the tests and the fuzzers
 * share (tools/statread.c).  This header is included by the library and by
 * the tool alike, so it holds formats and reader declarations, and the
 * writer's only where the library is built; of the library, the tool
 * links only the OS layer's os_ipc_linux.c (os.h).
 *
 * Both formats are specified for users in goheap-stat(1) and
 * goheap-heapdump(5); this comment is the implementer's summary.
 *
 * The stats file (format version 1)
 *
 *   <dir>/goheap-<uid>/<pid>, <dir> being $GOHEAP_STATS_DIR or /dev/shm; the
 *   directory is 0700, the file 0600, both owned by the process's user.
 *   Native byte order and alignment: the file never leaves its machine.
 *
 *   offset 0      gh_statfile_header: magic, version, sizes and the
 *                 offsets of the parts below; never changes once the file
 *                 is visible, except seq and kick.
 *   fields_off    nfields gh_statfile_field: the schema.  Each names a run
 *                 of count uint64 values starting at values[index].
 *   values_off    nvalues uint64 values, written under the seqlock.
 *   request_off   gh_statfile_request: the request slot (below).
 *
 *   Compatibility: readers find values by name, ignore names they do not
 *   know and show those they miss as absent.  A later library appends
 *   header fields (header_size grows), fields and request fields; it
 *   changes version only if this framing changes, and readers refuse a
 *   version they do not know.
 *
 *   Seqlock: the monitor thread is the only writer.  It makes seq odd,
 *   writes the values, and makes seq even again (release).  A reader copies
 *   the file with pread, between two reads of seq, and retries if seq was
 *   odd or changed.  Readers take no lock and write nothing, so no reader
 *   can make the target wait.
 *
 *   Requests: a requester of the same user maps the file read-write, takes
 *   the slot by swapping its pid into owner (0 = free; a slot held longer
 *   than GH_STATFILE_SLOT_STALE_NS is taken over), writes op, arg and path,
 *   increments req_seq, then increments the header's kick and wakes its
 *   waiters.  The monitor, which sleeps on kick, runs the request, stores
 *   the result, sets done_seq to req_seq and wakes done_seq's waiters.  The
 *   requester reads the result and frees the slot.  Waits and wakes are
 *   those of a word of a shared file mapping, across processes
 *   (gh_os_wait_shared in os.h; on Linux, keyed by file and offset).
 *
 * The heap dump (format version 1)
 *
 *   GH_DUMP_MAGIC (16 bytes), the format version as a uvarint, then
 *   records until an END record.  A record is a uvarint tag, a uvarint body
 *   length, and the body: uvarints (LEB128, as Go's heap dump) and strings
 *   (uvarint length, then bytes).  Readers skip records whose tag they do
 *   not know and bytes at the end of a body they do not expect, so later
 *   versions may add both without changing the version.
 */
#ifndef GH_STATFILE_H
#define GH_STATFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- The stats file ------------------------------------------------------ */

#define GH_STATFILE_MAGIC "GOHEAPST"
#define GH_STATFILE_VERSION 1u
#define GH_STATFILE_DEFAULT_DIR "/dev/shm"
/* Largest stats file a reader accepts. */
#define GH_STATFILE_MAX_SIZE (1u << 20)
/* A request slot held this long is abandoned: another requester may take
 * it. */
#define GH_STATFILE_SLOT_STALE_NS (60ull * 1000000000ull)

typedef struct gh_statfile_header {
	char magic[8];        /* GH_STATFILE_MAGIC, no NUL */
	uint32_t version;     /* GH_STATFILE_VERSION */
	uint32_t header_size; /* sizeof(gh_statfile_header) of the writer */
	uint64_t file_size;   /* bytes in the file */
	uint32_t seq;         /* seqlock: odd while the values change */
	uint32_t kick;        /* bumped, and woken, to wake the monitor */
	int32_t pid;
	uint32_t uid;
	uint64_t start_ticks; /* the process's start, /proc/PID/stat field 22 */
	uint64_t created_ns;  /* wall clock, ns since the Epoch */
	uint32_t nfields, fields_off;
	uint32_t nvalues, values_off;
	uint32_t request_off, request_size;
	char command[64]; /* the program's short name, NUL-terminated */
} gh_statfile_header;

enum gh_statfile_unit {
	GH_UNIT_COUNT = 0,
	GH_UNIT_BYTES = 1,
	GH_UNIT_NS = 2,        /* a duration */
	GH_UNIT_TIMESTAMP = 3, /* ns since the Epoch, 0 for never */
	GH_UNIT_PERCENT = 4,
};

typedef struct gh_statfile_field {
	char name[40]; /* NUL-terminated; "a.b" names an array of structures */
	uint32_t index; /* first value */
	uint32_t count; /* values (1 for a scalar) */
	uint32_t unit;  /* enum gh_statfile_unit */
	uint32_t flags; /* 0; reserved */
} gh_statfile_field;

enum gh_statfile_op {
	GH_OP_GC = 1,             /* collect now; value: numgc after */
	GH_OP_HEAPDUMP = 2,       /* dump to path (created, must not exist); value: bytes */
	GH_OP_SET_GC_PERCENT = 3, /* arg: percent, < 0 off; value: the old one, -1 off */
	GH_OP_FREE_OS_MEMORY = 4, /* value: heap_released after */
	GH_OP_HEAP_PROFILE = 5,   /* pprof heap profile to path (as HEAPDUMP); value: bytes */
};

typedef struct gh_statfile_request {
	uint32_t owner;    /* pid of the requester holding the slot, 0 if free */
	uint32_t req_seq;  /* bumped by the requester: a request is ready */
	uint32_t done_seq; /* set to req_seq by the monitor: the result is ready */
	uint32_t op;       /* enum gh_statfile_op */
	int64_t arg;
	int64_t result;    /* 0, or -errno */
	int64_t value;     /* the op's answer, if result is 0 */
	uint64_t taken_ns; /* wall clock when owner took the slot */
	char path[4096];   /* GH_OP_HEAPDUMP, _HEAP_PROFILE: absolute path, NUL-terminated */
} gh_statfile_request;

/* ---- The heap dump ----------------------------------------------------------- */

#define GH_DUMP_MAGIC "GOHEAP HEAPDUMP\n"
#define GH_DUMP_MAGIC_LEN 16
#define GH_DUMP_VERSION 1u
/* Writers keep bodies below this; readers reject longer ones. */
#define GH_DUMP_MAX_BODY (1u << 20)
/* Pointers per POINTERS record, at most. */
#define GH_DUMP_MAX_PTRS 4096

enum gh_dump_tag {
	GH_DUMP_END = 1,       /* empty; the last record */
	GH_DUMP_PARAMS = 2,    /* named values: ptr_size, page_size, pid, ... */
	GH_DUMP_MEMSTATS = 3,  /* named values: the goheap_memstats scalars */
	GH_DUMP_SIZECLASS = 4, /* class, size, nmalloc, nfree */
	GH_DUMP_OBJECT = 5,    /* addr, size, kind, class */
	GH_DUMP_POINTERS = 6,  /* n, n x (byte offset, target): of the last OBJECT or ROOT */
	GH_DUMP_THREAD = 7,    /* tid, stack_lo, stack_hi, sp */
	GH_DUMP_ROOT = 8,      /* kind, lo, hi, tid, name */
	GH_DUMP_FINALIZER = 9, /* obj, fn, arg, queued */
};

/* Kinds of objects, as the collector treats them. */
enum gh_dump_kind {
	GH_DUMP_KIND_SCAN = 0,   /* goheap_malloc: scanned conservatively */
	GH_DUMP_KIND_NOSCAN = 1, /* goheap_malloc_atomic */
	GH_DUMP_KIND_TYPED = 2,  /* goheap_malloc_typed */
	GH_DUMP_KIND_TINY = 3,   /* a 16-byte block of tiny allocations */
	GH_DUMP_NKINDS = 4,
};

/* Kinds of roots. */
enum gh_dump_root_kind {
	GH_DUMP_ROOT_DATA = 1,     /* writable segment of a loaded object; name: its path */
	GH_DUMP_ROOT_STACK = 2,    /* a registered thread's live stack; tid */
	GH_DUMP_ROOT_RANGE = 3,    /* a range given to goheap_add_roots */
	GH_DUMP_ROOT_PENDING = 4,  /* argument of a thread being started */
	GH_DUMP_NROOTKINDS = 5,
};

/* ---- Readers (tools/statread.c) -------------------------------------------------
 *
 * They work on bytes in memory, check every offset and length against the
 * buffer, and never trust a count: a malformed file gives an error code,
 * never a crash.  They are fuzzed (fuzz/). */

enum gh_read_status {
	GH_READ_OK = 0,
	GH_READ_NOT_OURS = -1,  /* wrong magic: not a stats file / heap dump */
	GH_READ_VERSION = -2,   /* a format version this reader does not know */
	GH_READ_TRUNCATED = -3, /* ends too early */
	GH_READ_CORRUPT = -4,   /* inconsistent */
	GH_READ_BUSY = -5,      /* no consistent snapshot: the writer never settled */
	GH_READ_SYSTEM = -6,    /* a system call failed: see errno */
	GH_READ_TIMEOUT = -7,   /* a request got no answer in time */
};

const char *gh_read_strerror(int status);

/* A checked view of a stats file in memory. */
typedef struct gh_statfile_view {
	const gh_statfile_header *h;
	const gh_statfile_field *fields;
	const uint64_t *values;
	size_t size;
} gh_statfile_view;

/* Check buf (len bytes, 8-byte aligned) and set up v.  GH_READ_*. */
int gh_statfile_parse(const void *buf, size_t len, gh_statfile_view *v);
/* The field named name, or NULL. */
const gh_statfile_field *gh_statfile_find(const gh_statfile_view *v, const char *name);
/* Value i of the field named name; 0 if found, -1 if not. */
int gh_statfile_get(const gh_statfile_view *v, const char *name, uint32_t i, uint64_t *out);
/* A consistent copy of the stats file open on fd, by pread under the
 * seqlock, into buf (cap bytes, 8-byte aligned); its size in *len.
 * GH_READ_*; the copy is not parsed. */
int gh_statfile_snapshot(int fd, void *buf, size_t cap, size_t *len);
/* Send a request through the stats file open read-write on fd and wait up
 * to timeout_ms for its result.  GH_READ_*; then *result is the target's
 * answer (0 or -errno) and *value the op's value. */
int gh_statfile_send(int fd, uint32_t op, int64_t arg, const char *path,
			int timeout_ms, int64_t *result, int64_t *value);

/* Heap dump records, one at a time. */
typedef struct gh_dump_named {
	char name[48];
	uint64_t value;
} gh_dump_named;

typedef struct gh_dump_record {
	uint64_t tag;
	const uint8_t *body;
	size_t len;
	/* Decoded, for the tags this reader knows.  u[] holds the record's
	 * leading uvarints in order (OBJECT: addr, size, kind, class; ...). */
	uint64_t u[8];
	char name[256];     /* ROOT: the name, truncated, NUL-terminated */
	uint32_t nnamed;    /* PARAMS, MEMSTATS */
	gh_dump_named named[160];
	uint32_t nptrs;     /* POINTERS */
	uint64_t ptr_off[GH_DUMP_MAX_PTRS], ptr_to[GH_DUMP_MAX_PTRS];
} gh_dump_record;

typedef struct gh_dump_reader {
	const uint8_t *base, *p, *end;
	uint64_t version;
	int done; /* END seen */
} gh_dump_reader;

/* Check the magic and version.  GH_READ_*. */
int gh_dump_open(gh_dump_reader *r, const void *buf, size_t len);
/* The next record: 1, 0 after END, or a negative GH_READ_* (a file
 * without END is GH_READ_TRUNCATED). */
int gh_dump_next(gh_dump_reader *r, gh_dump_record *rec);
/* Value of a named entry of a PARAMS or MEMSTATS record; 0 or -1. */
int gh_dump_named_get(const gh_dump_record *rec, const char *name, uint64_t *out);

/* ---- The writer (statfile.c) ------------------------------------------------------
 *
 * libgoheap's side, declared only where the library itself is built
 * (GOHEAP_BUILDING): the tool, the tests and the fuzzers share the formats
 * and the readers above, never the library's internals. */

#ifdef GOHEAP_BUILDING
#include "gh.h"

/* The uint64_t scalars of goheap_memstats, in order, with their units:
 * the stats file's schema and the heap dump's MEMSTATS record. */
#define GH_MEMSTATS_SCALARS(X)                                                     \
	X(alloc, BYTES) X(total_alloc, BYTES) X(sys, BYTES) X(nlookup, COUNT)      \
	X(nmalloc, COUNT) X(nfree, COUNT) X(heap_alloc, BYTES) X(heap_sys, BYTES)  \
	X(heap_idle, BYTES) X(heap_inuse, BYTES) X(heap_released, BYTES)           \
	X(heap_objects, COUNT) X(mspan_inuse, BYTES) X(mspan_sys, BYTES)           \
	X(mcache_inuse, BYTES) X(mcache_sys, BYTES) X(gc_sys, BYTES)               \
	X(other_sys, BYTES) X(next_gc, BYTES) X(last_gc, TIMESTAMP)                \
	X(pause_total_ns, NS)

/* Figures the monitor adds to goheap_memstats in the file. */
typedef struct gh_monitor_figures {
	uint64_t update_ns;      /* wall clock of this update */
	uint64_t nupdates;       /* updates so far */
	uint64_t forced_gc;      /* collections forced by the monitor */
	uint64_t scavenged;      /* bytes the monitor's scavenger released */
	uint64_t requests;       /* requests served */
	uint64_t start_ns;       /* process start, wall clock */
	uint64_t forcegc_period; /* ns; 0 never */
	uint64_t scavenge_delay; /* ns */
	uint64_t gc_mode;        /* marking: 0 with the world stopped, 1 concurrent
				  * with uffd write tracking, 2 with mprotect */
} gh_monitor_figures;

/* Remember where the stats file goes ($GOHEAP_STATS_DIR); at start-up,
 * before threads may change the environment. */
GH_INTERNAL void gh_statfile_configure(void);
/* Create and publish this process's stats file; 0, or -1 (nothing
 * published; a diagnostic was printed if something looked hostile). */
GH_INTERNAL int gh_statfile_create(void);
/* Write a new snapshot (the monitor thread only). */
GH_INTERNAL void gh_statfile_update(const goheap_memstats *m, const gh_monitor_figures *f);
/* The mapped header and request slot, or NULL if there is no file. */
GH_INTERNAL gh_statfile_header *gh_statfile_header_ptr(void);
GH_INTERNAL gh_statfile_request *gh_statfile_request_ptr(void);
/* Unlink the file if this process made it (at exit). */
GH_INTERNAL void gh_statfile_remove(void);
/* In the child of fork: forget the parent's file without touching it. */
GH_INTERNAL void gh_statfile_forget(void);
#endif /* GOHEAP_BUILDING */

#endif
