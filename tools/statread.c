/*
 * statread.c - readers of the stats file and of the heap dump, shared by
 * goheap-stat, the tests and the fuzz targets.  The formats are in
 * lib/statfile.h (and goheap-stat(1), goheap-heapdump(5)).
 *
 * Everything read may be hostile or torn: a file of another version, one
 * cut short, one a buggy or malicious process of the same user wrote.  So
 * every offset and count is checked against the bytes at hand before it is
 * used, with 64-bit arithmetic that cannot overflow, and a failure is a
 * GH_READ_* code, never a crash.  Readers hold no lock and write nothing to
 * the stats file (requests aside), so the target never waits for them.
 * Waits and wakes on the file's words are the OS layer's
 * (lib/os_ipc_linux.c, linked in).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os.h"
#include "statfile.h"

const char *gh_read_strerror(int status)
{
	switch (status) {
	case GH_READ_OK:
		return "success";
	case GH_READ_NOT_OURS:
		return "not a libgoheap file (bad magic)";
	case GH_READ_VERSION:
		return "unknown format version";
	case GH_READ_TRUNCATED:
		return "file is truncated";
	case GH_READ_CORRUPT:
		return "file is corrupt";
	case GH_READ_BUSY:
		return "no consistent snapshot (the writer never settled)";
	case GH_READ_SYSTEM:
		return strerror(errno);
	case GH_READ_TIMEOUT:
		return "no answer in time";
	default:
		return "unknown error";
	}
}

/* A short file is truncated if what there is matches the magic, else not
 * ours. */
static int short_magic(const void *buf, size_t len, const char *magic)
{
	return memcmp(buf, magic, len) == 0 ? GH_READ_TRUNCATED : GH_READ_NOT_OURS;
}

/* ---- The stats file ---- */

/* The version-1 header and request slot: later ones may only be larger. */
#define V1_HEADER_SIZE (offsetof(gh_statfile_header, command) + 64)
#define V1_REQUEST_SIZE sizeof(gh_statfile_request)

static bool fits(uint64_t off, uint64_t n, uint64_t size, uint64_t elem)
{
	return off <= size && n <= (size - off) / elem;
}

int gh_statfile_parse(const void *buf, size_t len, gh_statfile_view *v)
{
	memset(v, 0, sizeof *v);
	if (len < 8)
		return short_magic(buf, len, GH_STATFILE_MAGIC);
	if (memcmp(buf, GH_STATFILE_MAGIC, 8) != 0)
		return GH_READ_NOT_OURS;
	if (len < 16)
		return GH_READ_TRUNCATED;
	const gh_statfile_header *h = buf;
	if (h->version != GH_STATFILE_VERSION)
		return GH_READ_VERSION;
	if (h->header_size < V1_HEADER_SIZE || h->header_size > GH_STATFILE_MAX_SIZE)
		return GH_READ_CORRUPT;
	if (len < h->header_size || len < sizeof *h)
		return GH_READ_TRUNCATED;
	if (h->file_size < h->header_size || h->file_size > GH_STATFILE_MAX_SIZE)
		return GH_READ_CORRUPT;
	if (h->file_size > len)
		return GH_READ_TRUNCATED;
	uint64_t size = h->file_size;
	if (h->fields_off % 8 || h->values_off % 8 || h->request_off % 8 ||
	    !fits(h->fields_off, h->nfields, size, sizeof(gh_statfile_field)) ||
	    !fits(h->values_off, h->nvalues, size, sizeof(uint64_t)) ||
	    !fits(h->request_off, h->request_size, size, 1) || h->request_size < V1_REQUEST_SIZE ||
	    !memchr(h->command, 0, sizeof h->command))
		return GH_READ_CORRUPT;
	const gh_statfile_field *f = (const gh_statfile_field *)((const char *)buf + h->fields_off);
	for (uint32_t i = 0; i < h->nfields; i++)
		if (!memchr(f[i].name, 0, sizeof f[i].name) ||
		    (uint64_t)f[i].index + f[i].count > h->nvalues)
			return GH_READ_CORRUPT;
	v->h = h;
	v->fields = f;
	v->values = (const uint64_t *)((const char *)buf + h->values_off);
	v->size = size;
	return GH_READ_OK;
}

const gh_statfile_field *gh_statfile_find(const gh_statfile_view *v, const char *name)
{
	for (uint32_t i = 0; v->h && i < v->h->nfields; i++)
		if (strcmp(v->fields[i].name, name) == 0)
			return &v->fields[i];
	return NULL;
}

int gh_statfile_get(const gh_statfile_view *v, const char *name, uint32_t i, uint64_t *out)
{
	const gh_statfile_field *f = gh_statfile_find(v, name);
	if (!f || i >= f->count)
		return -1;
	*out = v->values[f->index + i];
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

int gh_statfile_snapshot(int fd, void *buf, size_t cap, size_t *len)
{
	const off_t seq_off = offsetof(gh_statfile_header, seq);
	for (int tries = 0; tries < 500; tries++) {
		uint32_t s1, s2;
		ssize_t a = pread(fd, &s1, sizeof s1, seq_off);
		ssize_t n = pread(fd, buf, cap, 0);
		ssize_t b = pread(fd, &s2, sizeof s2, seq_off);
		if (a < 0 || n < 0 || b < 0)
			return GH_READ_SYSTEM;
		*len = (size_t)n;
		if (a < (ssize_t)sizeof s1 || (size_t)n < seq_off + sizeof s1)
			return GH_READ_OK; /* too short for a seqlock: parse says why */
		uint32_t s;
		memcpy(&s, (char *)buf + seq_off, sizeof s);
		if (!(s1 & 1) && s1 == s2 && s == s1)
			return GH_READ_OK;
		sleep_ms(tries < 10 ? 0 : 2);
	}
	return GH_READ_BUSY;
}

static uint64_t walltime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t monotime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int gh_statfile_send(int fd, uint32_t op, int64_t arg, const char *path, int timeout_ms,
		     int64_t *result, int64_t *value)
{
	static uint64_t snap[GH_STATFILE_MAX_SIZE / 8];
	size_t len;
	gh_statfile_view v;
	int st = gh_statfile_snapshot(fd, snap, sizeof snap, &len);
	if (st == GH_READ_OK)
		st = gh_statfile_parse(snap, len, &v);
	if (st != GH_READ_OK)
		return st;
	if (path && strlen(path) >= sizeof(((gh_statfile_request *)0)->path)) {
		errno = ENAMETOOLONG;
		return GH_READ_SYSTEM;
	}
	size_t size = v.size;
	uint32_t roff = v.h->request_off;
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return GH_READ_SYSTEM;
	gh_statfile_header *h = (gh_statfile_header *)m;
	gh_statfile_request *r = (gh_statfile_request *)(m + roff);
	uint32_t me = (uint32_t)getpid();
	uint64_t deadline = monotime() + (uint64_t)timeout_ms * 1000000u;

	/* Take the slot; take it over from a requester gone or stuck. */
	for (;;) {
		uint32_t owner = 0;
		if (__atomic_compare_exchange_n(&r->owner, &owner, me, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			break;
		uint64_t taken = __atomic_load_n(&r->taken_ns, __ATOMIC_RELAXED);
		if ((kill((pid_t)owner, 0) != 0 && errno == ESRCH) ||
		    walltime() - taken > GH_STATFILE_SLOT_STALE_NS) {
			if (__atomic_compare_exchange_n(&r->owner, &owner, me, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				break;
			continue;
		}
		if (monotime() > deadline) {
			munmap(m, size);
			return GH_READ_TIMEOUT;
		}
		sleep_ms(10);
	}
	__atomic_store_n(&r->taken_ns, walltime(), __ATOMIC_RELAXED);
	__atomic_store_n(&r->op, op, __ATOMIC_RELAXED);
	__atomic_store_n(&r->arg, arg, __ATOMIC_RELAXED);
	memset(r->path, 0, sizeof r->path);
	if (path)
		memcpy(r->path, path, strlen(path));
	uint32_t seq = __atomic_load_n(&r->req_seq, __ATOMIC_RELAXED) + 1;
	__atomic_store_n(&r->req_seq, seq, __ATOMIC_RELEASE);
	__atomic_add_fetch(&h->kick, 1, __ATOMIC_RELEASE);
	gh_os_wake_shared(&h->kick);

	st = GH_READ_TIMEOUT;
	for (;;) {
		uint32_t done = __atomic_load_n(&r->done_seq, __ATOMIC_ACQUIRE);
		if (done == seq) {
			*result = __atomic_load_n(&r->result, __ATOMIC_RELAXED);
			*value = __atomic_load_n(&r->value, __ATOMIC_RELAXED);
			st = GH_READ_OK;
			break;
		}
		uint64_t now = monotime();
		if (now >= deadline)
			break;
		uint64_t wait = deadline - now;
		gh_os_wait_shared(&r->done_seq, done, wait < 100000000u ? wait : 100000000u);
	}
	__atomic_store_n(&r->owner, 0, __ATOMIC_RELEASE);
	munmap(m, size);
	return st;
}

/* ---- The heap dump ---- */

static int uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *v, int short_err)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (p == end)
			return short_err;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return GH_READ_CORRUPT;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = x;
			return GH_READ_OK;
		}
	}
	return GH_READ_CORRUPT;
}

int gh_dump_open(gh_dump_reader *r, const void *buf, size_t len)
{
	memset(r, 0, sizeof *r);
	if (len < GH_DUMP_MAGIC_LEN)
		return short_magic(buf, len, GH_DUMP_MAGIC);
	if (memcmp(buf, GH_DUMP_MAGIC, GH_DUMP_MAGIC_LEN) != 0)
		return GH_READ_NOT_OURS;
	r->base = buf;
	r->p = r->base + GH_DUMP_MAGIC_LEN;
	r->end = r->base + len;
	int st = uvarint(&r->p, r->end, &r->version, GH_READ_TRUNCATED);
	if (st != GH_READ_OK)
		return st;
	if (r->version != GH_DUMP_VERSION)
		return GH_READ_VERSION;
	return GH_READ_OK;
}

/* Leading uvarints of a body: n of them, all required. */
static int body_uvarints(const uint8_t **p, const uint8_t *end, uint64_t *u, int n)
{
	for (int i = 0; i < n; i++)
		if (uvarint(p, end, &u[i], GH_READ_CORRUPT) != GH_READ_OK)
			return GH_READ_CORRUPT;
	return GH_READ_OK;
}

static int body_string(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	uint64_t n;
	if (uvarint(p, end, &n, GH_READ_CORRUPT) != GH_READ_OK || n > (uint64_t)(end - *p))
		return GH_READ_CORRUPT;
	size_t k = n < cap - 1 ? (size_t)n : cap - 1;
	memcpy(out, *p, k);
	out[k] = 0;
	*p += n;
	return GH_READ_OK;
}

static int decode(gh_dump_record *rec)
{
	const uint8_t *p = rec->body, *end = rec->body + rec->len;
	switch (rec->tag) {
	case GH_DUMP_PARAMS:
	case GH_DUMP_MEMSTATS: {
		uint64_t n;
		if (uvarint(&p, end, &n, GH_READ_CORRUPT) != GH_READ_OK)
			return GH_READ_CORRUPT;
		rec->nnamed = 0;
		for (uint64_t i = 0; i < n; i++) {
			char name[sizeof rec->named[0].name];
			uint64_t val;
			if (body_string(&p, end, name, sizeof name) != GH_READ_OK ||
			    uvarint(&p, end, &val, GH_READ_CORRUPT) != GH_READ_OK)
				return GH_READ_CORRUPT;
			if (rec->nnamed < sizeof rec->named / sizeof rec->named[0]) {
				memcpy(rec->named[rec->nnamed].name, name, sizeof name);
				rec->named[rec->nnamed++].value = val;
			}
		}
		return GH_READ_OK;
	}
	case GH_DUMP_SIZECLASS:
	case GH_DUMP_OBJECT:
	case GH_DUMP_THREAD:
	case GH_DUMP_FINALIZER:
		return body_uvarints(&p, end, rec->u, 4);
	case GH_DUMP_ROOT:
		if (body_uvarints(&p, end, rec->u, 4) != GH_READ_OK)
			return GH_READ_CORRUPT;
		return body_string(&p, end, rec->name, sizeof rec->name);
	case GH_DUMP_POINTERS: {
		uint64_t n;
		if (uvarint(&p, end, &n, GH_READ_CORRUPT) != GH_READ_OK || n > GH_DUMP_MAX_PTRS)
			return GH_READ_CORRUPT;
		for (uint64_t i = 0; i < n; i++)
			if (uvarint(&p, end, &rec->ptr_off[i], GH_READ_CORRUPT) != GH_READ_OK ||
			    uvarint(&p, end, &rec->ptr_to[i], GH_READ_CORRUPT) != GH_READ_OK)
				return GH_READ_CORRUPT;
		rec->nptrs = (uint32_t)n;
		return GH_READ_OK;
	}
	default:
		return GH_READ_OK; /* a later version's record: the caller skips it */
	}
}

int gh_dump_next(gh_dump_reader *r, gh_dump_record *rec)
{
	if (r->done)
		return 0;
	if (r->p == r->end)
		return GH_READ_TRUNCATED; /* no END */
	uint64_t tag, len;
	int st = uvarint(&r->p, r->end, &tag, GH_READ_TRUNCATED);
	if (st == GH_READ_OK)
		st = uvarint(&r->p, r->end, &len, GH_READ_TRUNCATED);
	if (st != GH_READ_OK)
		return st;
	if (tag == 0 || len > GH_DUMP_MAX_BODY)
		return GH_READ_CORRUPT;
	if (len > (uint64_t)(r->end - r->p))
		return GH_READ_TRUNCATED;
	rec->tag = tag;
	rec->body = r->p;
	rec->len = (size_t)len;
	r->p += len;
	if (tag == GH_DUMP_END) {
		r->done = 1;
		return 0;
	}
	st = decode(rec);
	return st == GH_READ_OK ? 1 : st;
}

int gh_dump_named_get(const gh_dump_record *rec, const char *name, uint64_t *out)
{
	for (uint32_t i = 0; i < rec->nnamed; i++)
		if (strcmp(rec->named[i].name, name) == 0) {
			*out = rec->named[i].value;
			return 0;
		}
	return -1;
}
