#!/bin/sh
# Run one test program under memcheck for "make check-valgrind".  Every
# memcheck error fails the test.  Leaks fail it too, except in the
# collector's tests: there a block the program dropped is freed only when
# a collection gets to it, and a conservative collector may never (a stale
# word on a stack keeps it), so memcheck's "definitely lost" at exit is
# expected there; it is still reported.
case ${1##*/} in
t-gc-* | t-boehm-* | t-heapdump | t-profile | t-signal) leaks=none ;;
*) leaks=definite ;;
esac
exec ${VALGRIND:-valgrind} --tool=memcheck --error-exitcode=99 --quiet \
	--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=$leaks "$@"
