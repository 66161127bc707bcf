/*
 * msize.c - size classes.  The classes themselves are generated into
 * sizeclasses.h by tools/mksizeclasses.c, whose header comment gives the
 * rule and the bounds it keeps; gh_size_class() in gh.h maps a size to its
 * class with two table loads.
 */
#include "config.h"

#include "gh.h"

/* Blocks moved between a thread cache and its mcentral at once: about
 * 32 KiB worth, at least 2 and at most 128, so that the central lock is
 * taken once per 128 small blocks while a thread holds little memory for
 * large classes. */
uint32_t gh_class_batch(uint32_t cls)
{
	if (cls == 0)
		return 0; /* large objects are never cached */
	uint32_t n = 32768u / gh_class_size[cls];
	if (n < 2)
		n = 2;
	if (n > 128)
		n = 128;
	return n;
}
