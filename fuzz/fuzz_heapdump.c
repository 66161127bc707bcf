/*
 * fuzz_heapdump - libFuzzer target for the heap dump reader (gh_dump_open,
 * gh_dump_next, gh_dump_named_get), walked as goheap-stat histo walks it.
 * Any input must end in END or a GH_READ_* error, never a crash.  Built and
 * run by fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static gh_dump_record rec;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	gh_dump_reader r;
	volatile uint64_t sink = 0;
	int st = gh_dump_open(&r, buf, size);
	while (st >= 0 && (st = gh_dump_next(&r, &rec)) > 0) {
		uint64_t x;
		if (gh_dump_named_get(&rec, "heap_objects", &x) == 0)
			sink += x;
		for (uint32_t i = 0; rec.tag == GH_DUMP_POINTERS && i < rec.nptrs; i++)
			sink += rec.ptr_off[i] + rec.ptr_to[i];
		sink += rec.u[0] + (uint64_t)strlen(rec.name);
	}
	(void)sink;
	free(buf);
	return 0;
}
