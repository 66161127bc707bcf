/*
 * error.c - the bottom of the library: one-line diagnostics and the abort
 * path.  Every layer may call these, the OS layer included; they call
 * nothing of the library but gh_os_write_stderr (os.h).
 *
 * A line is "goheap: " and the message, built in a buffer on the stack
 * with vsnprintf (which takes no stream lock and, for the integer, string
 * and pointer conversions used here, allocates nothing) and written with
 * one write(2), never through stdio: a diagnostic may be due while other
 * threads are stopped holding stdio's or malloc's locks (stw_linux.c), or
 * while the heap is broken (gh_throw).  A message longer than the buffer
 * is cut short, the newline kept.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gh.h"
#include "os.h"

static void vwarn(const char *fmt, va_list ap)
{
	char buf[1536]; /* a heap check's diagnostic may be long */
	int n = snprintf(buf, sizeof buf, "goheap: ");
	n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	gh_os_write_stderr(buf, (size_t)n);
}

void gh_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void gh_throw(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	abort();
}
