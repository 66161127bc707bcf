/*
 * fuzz_statfile - libFuzzer target for the stats file reader
 * (gh_statfile_parse and the lookups goheap-stat makes on a parsed file).
 * Any input must give a GH_READ_* code, never a crash or an out-of-bounds
 * read (AddressSanitizer checks).  Built and run by fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The tool reads into an 8-byte aligned buffer of exactly the
	 * file's size; so does this, so that ASan sees every overrun. */
	uint64_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	gh_statfile_view v;
	if (gh_statfile_parse(buf, size, &v) == GH_READ_OK) {
		volatile uint64_t sink = 0;
		for (uint32_t i = 0; i < v.h->nfields; i++) {
			const gh_statfile_field *f = gh_statfile_find(&v, v.fields[i].name);
			for (uint32_t k = 0; f && k < f->count; k++) {
				uint64_t x;
				if (gh_statfile_get(&v, f->name, k, &x) == 0)
					sink += x;
			}
		}
		uint64_t x;
		gh_statfile_get(&v, "numgc", 0, &x);
		gh_statfile_get(&v, "pause_ns", 255, &x);
		sink += (uint64_t)strlen(v.h->command);
		(void)sink;
	}
	free(buf);
	return 0;
}
