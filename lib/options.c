/*
 * options.c - every tunable of libgoheap in one table: its environment
 * variable, default and meaning.  Read once at start-up.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "gh.h"

typedef struct gh_option_desc {
	const char *env;   /* environment variable */
	int64_t def;       /* default */
	int64_t min, max;  /* accepted range */
	const char *about; /* meaning, for the diagnostics */
} gh_option_desc;

static const gh_option_desc gh_option_table[GH_NUM_OPTIONS] = {
	[GH_OPT_SCAVENGE_DELAY] = {"GOHEAP_SCAVENGE_DELAY", 300000, 0, INT32_MAX,
				   "milliseconds a free span stays before its "
				   "memory is returned to the OS"},
};

static int64_t gh_option_value[GH_NUM_OPTIONS];

void gh_options_init(void)
{
	for (int i = 0; i < GH_NUM_OPTIONS; i++) {
		const gh_option_desc *d = &gh_option_table[i];
		int64_t v = d->def;
		const char *s = getenv(d->env);
		if (s && *s) {
			char *end;
			errno = 0;
			long long x = strtoll(s, &end, 10);
			if (errno || *end || x < d->min || x > d->max)
				fprintf(stderr,
					"goheap: ignoring %s=%s: want %lld..%lld, %s\n",
					d->env, s, (long long)d->min,
					(long long)d->max, d->about);
			else
				v = x;
		}
		gh_option_value[i] = v;
	}
}

int64_t gh_option(gh_option_id id)
{
	return gh_option_value[id];
}
