/*
 * options.c - every tunable of libgoheap in one table: its environment
 * variable, default, range and meaning.  Read once, at start-up.
 *
 * Most options have a variable of their own.  Debugging switches share
 * GOHEAP_DEBUG, a comma-separated list of name=value pairs (as Go's
 * GODEBUG); they are the entries whose env starts with "GOHEAP_DEBUG:".
 * Most take numbers; an option with words takes one of them instead, and
 * its value is the word's index.  A value out of range or malformed is
 * reported on stderr and ignored.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "gh.h"
#include "os.h"

typedef struct gh_option_desc {
	const char *env;   /* environment variable, or GOHEAP_DEBUG:name */
	int64_t def;       /* default */
	int64_t min, max;  /* accepted range */
	const char *off;   /* a word that means -1, or NULL */
	const char *about; /* meaning, for the diagnostics */
	bool bytes;        /* a byte count: B, KiB, MiB, GiB or TiB may follow */
	const char *const *words; /* the values' names, NULL-terminated, or NULL */
} gh_option_desc;

/* GOHEAP_GC: the write tracking gh_wt_init is asked for (os.h). */
static const char *const gc_words[] = {
	[GH_WT_NONE] = "stw",
	[GH_WT_UFFD] = "concurrent",
	[GH_WT_MPROTECT] = "concurrent-mprotect",
	NULL,
};

static const gh_option_desc gh_option_table[GH_NUM_OPTIONS] = {
	[GH_OPT_GOGC] = {"GOHEAP_GOGC", 100, INT32_MIN, INT32_MAX, "off",
			 "heap growth percentage that triggers a collection, or off"},
	[GH_OPT_SCAVENGE_DELAY] = {"GOHEAP_SCAVENGE_DELAY", 300000, 0, INT32_MAX, NULL,
				   "milliseconds a free span stays before its "
				   "memory is returned to the OS"},
	[GH_OPT_SIGNAL] = {"GOHEAP_SIGNAL", SIGPWR, 1, 64, NULL,
			   "signal number that stops threads for a collection"},
	[GH_OPT_STOP_TIMEOUT] = {"GOHEAP_STOP_TIMEOUT", 10000, 10, INT32_MAX, NULL,
				 "milliseconds to wait for a thread to stop "
				 "before skipping the collection"},
	[GH_OPT_GCTRACE] = {"GOHEAP_DEBUG:gctrace", 0, 0, 2, NULL,
			    "1 prints a line per collection on stderr"},
	[GH_OPT_STATS] = {"GOHEAP_STATS", 1, 0, 1, NULL,
			  "0 turns off the stats file that goheap-stat reads and "
			  "the monitor thread (its directory: GOHEAP_STATS_DIR, "
			  "default /dev/shm, read by statfile.c)"},
	[GH_OPT_FORCEGC_PERIOD] = {"GOHEAP_FORCEGC_PERIOD", 120000, 0, INT32_MAX, NULL,
				   "milliseconds without a collection after which "
				   "the monitor thread forces one; 0 never"},
	[GH_OPT_GCPROCS] = {"GOHEAP_GCPROCS", 0, 0, 32, NULL,
			    "threads that mark in a collection; 0: one per online "
			    "CPU, at most 32"},
	[GH_OPT_MEMLIMIT] = {"GOHEAP_MEMLIMIT", -1, 0, INT64_MAX, "off",
			     "soft memory limit in bytes (suffix B, KiB, MiB, GiB or "
			     "TiB), or off", .bytes = true},
	[GH_OPT_PROFILE_RATE] = {"GOHEAP_PROFILE_RATE", 512 * 1024, 0, INT64_C(1) << 40, NULL,
				 "average bytes allocated per heap profile sample; "
				 "0 turns heap profiling off"},
	[GH_OPT_EFENCE] = {"GOHEAP_DEBUG:efence", 0, 0, 1, NULL,
			   "1 puts every block on pages of its own and makes freed "
			   "blocks inaccessible (slow, never gives memory back)"},
	[GH_OPT_ALLOCFREETRACE] = {"GOHEAP_DEBUG:allocfreetrace", 0, 0, 1, NULL,
				   "1 prints a line per allocation and free on stderr, "
				   "or in the file named by GOHEAP_TRACE_FILE"},
	[GH_OPT_POISON] = {"GOHEAP_DEBUG:poison", 0, 0, 1, NULL,
			   "1 fills freed blocks with 0xdeadbeefdeadbeef"},
	[GH_OPT_FAILSYS] = {"GOHEAP_DEBUG:failsys", 0, 0, INT32_MAX, NULL,
			    "N > 0 makes the Nth request for OS memory fail with "
			    "ENOMEM (fault injection; os.h)"},
	[GH_OPT_CHECK] = {"GOHEAP_DEBUG:check", 0, 0, 1, NULL,
			  "1 verifies the heap's invariants at every collection "
			  "and aborts naming a broken one (mcheck.c)"},
	[GH_OPT_MARKBUFS] = {"GOHEAP_DEBUG:markbufs", 0, 0, INT32_MAX, NULL,
			     "N > 0 caps marking's work list at N buffers, as if "
			     "the OS refused more (mgcmark.c)"},
	[GH_OPT_GC] = {"GOHEAP_GC", GH_WT_UFFD, GH_WT_NONE, GH_WT_MPROTECT, NULL,
		       "concurrent marks while the program runs where the kernel can "
		       "track writes (userfaultfd), stw with the world stopped, "
		       "concurrent-mprotect tracks writes with mprotect (a system call "
		       "writing into the heap fails with EFAULT)",
		       .words = gc_words},
	[GH_OPT_WTRACKDROP] = {"GOHEAP_DEBUG:wtrackdrop", 0, 0, 1, NULL,
			       "1 makes write tracking report no page, so that concurrent "
			       "marking misses what the program wrote while it marked: "
			       "for the test suite only (t-gc-concurrent)"},
};

/* The multiplier a byte-count suffix stands for, or 0 if s is none. */
static int64_t unit_of(const char *s)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	for (int i = 0; i < 5; i++)
		if (strcmp(s, units[i]) == 0)
			return (int64_t)1 << (10 * i);
	return *s ? 0 : 1;
}

static int64_t gh_option_value[GH_NUM_OPTIONS];

static void set_option(int i, const char *name, const char *s, size_t len)
{
	const gh_option_desc *d = &gh_option_table[i];
	char buf[64];
	if (len >= sizeof buf)
		len = sizeof buf - 1;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (d->off && strcmp(buf, d->off) == 0) {
		gh_option_value[i] = -1;
		return;
	}
	if (d->words) {
		for (int k = 0; d->words[k]; k++)
			if (strcmp(buf, d->words[k]) == 0) {
				gh_option_value[i] = k;
				return;
			}
		gh_warn("ignoring %s=%s: want %s%s%s%s%s (%s)", name, buf, d->words[0],
			d->words[1] ? ", " : "", d->words[1] ? d->words[1] : "",
			d->words[1] && d->words[2] ? ", " : "",
			d->words[1] && d->words[2] ? d->words[2] : "", d->about);
		return;
	}
	char *end;
	errno = 0;
	long long x = strtoll(buf, &end, 10);
	if (d->bytes && !errno && end != buf && *end) {
		int64_t u = unit_of(end);
		if (u == 0 || x > INT64_MAX / u || x < INT64_MIN / u)
			errno = EINVAL;
		else
			x *= u;
		end += strlen(end);
	}
	if (errno || end == buf || *end || x < d->min || x > d->max) {
		gh_warn("ignoring %s=%s: want %lld..%lld%s%s (%s)", name, buf,
			(long long)d->min, (long long)d->max, d->off ? " or " : "",
			d->off ? d->off : "", d->about);
		return;
	}
	gh_option_value[i] = x;
	if (d->off && x < 0)
		gh_option_value[i] = -1;
}

void gh_options_init(void)
{
	const char *debug = getenv("GOHEAP_DEBUG");
	for (int i = 0; i < GH_NUM_OPTIONS; i++) {
		const gh_option_desc *d = &gh_option_table[i];
		gh_option_value[i] = d->def;
		if (strncmp(d->env, "GOHEAP_DEBUG:", 13) != 0) {
			const char *s = getenv(d->env);
			if (s && *s)
				set_option(i, d->env, s, strlen(s));
		}
	}
	/* GOHEAP_DEBUG=name=value,name=value */
	for (const char *p = debug; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		int found = 0;
		for (int i = 0; eq && i < GH_NUM_OPTIONS; i++) {
			const char *env = gh_option_table[i].env;
			if (strncmp(env, "GOHEAP_DEBUG:", 13) == 0 &&
			    strlen(env + 13) == (size_t)(eq - p) &&
			    memcmp(env + 13, p, (size_t)(eq - p)) == 0) {
				set_option(i, env + 13, eq + 1, len - (size_t)(eq - p) - 1);
				found = 1;
			}
		}
		if (!found)
			gh_warn("ignoring unknown GOHEAP_DEBUG setting '%.*s'", (int)len, p);
		p = comma ? comma + 1 : NULL;
	}
}

int64_t gh_option(gh_option_id id)
{
	return gh_option_value[id];
}
