# boehm-page.awk - write a large HTML page for w3m -dump (the real-client
# check of the libgc.so.1 drop-in): SECTIONS sections (default 400), each a
# heading, paragraphs with links, a table nested three deep and nested
# lists, so that w3m builds and drops many small objects while it lays
# out the page.  Deterministic: the same page every time.
#	awk -v SECTIONS=400 -f tests/boehm-page.awk >page.html
function words(n, seed,    s, i) {
	s = ""
	for (i = 0; i < n; i++)
		s = s " " w[(seed * 7 + i * 13) % nw]
	return s
}
BEGIN {
	if (SECTIONS == "") SECTIONS = 400
	nw = split("heap span arena mark sweep cache class block pointer root " \
		"thread stack finalizer goal pause collector conservative " \
		"interior object garbage tiny large page scavenger monitor", w, " ")
	print "<html><head><title>libgoheap test page</title></head><body>"
	for (s = 1; s <= SECTIONS; s++) {
		printf "<h2>Section %d:%s</h2>\n", s, words(3, s)
		for (p = 0; p < 3; p++)
			printf "<p>%s <a href=\"s%d-%d.html\">link %d.%d</a>%s <b>bold%s</b> <i>%s</i>.</p>\n",
				words(25, s + p), s, p, s, p, words(20, s * p + 1), words(2, p), words(4, s)
		print "<table border=1 cellpadding=2>"
		for (r = 0; r < 6; r++) {
			print "<tr>"
			for (c = 0; c < 4; c++) {
				if ((r + c + s) % 5 == 0) {
					print "<td><table border=1>"
					for (r2 = 0; r2 < 3; r2++) {
						print "<tr>"
						for (c2 = 0; c2 < 3; c2++) {
							if ((r2 + c2) % 4 == 1)
								printf "<td><table><tr><td>%s</td><td><a href=\"#s%d\">%s</a></td></tr></table></td>\n", words(3, r2 + s), s, words(2, c2)
							else
								printf "<td>%s</td>\n", words(4, r2 * c2 + s)
						}
						print "</tr>"
					}
					print "</table></td>"
				} else {
					printf "<td>%d.%d.%d%s</td>\n", s, r, c, words(5, s + r + c)
				}
			}
			print "</tr>"
		}
		print "</table>"
		print "<ul>"
		for (i = 0; i < 5; i++) {
			printf "<li><a href=\"item%d-%d.html\">%s</a>\n", s, i, words(3, s + i)
			if (i % 2 == 0) {
				print "<ol>"
				for (j = 0; j < 4; j++)
					printf "<li>%s <a href=\"sub%d-%d-%d.html\">sub</a></li>\n", words(6, i + j + s), s, i, j
				print "</ol>"
			}
			print "</li>"
		}
		print "</ul>"
	}
	print "</body></html>"
}
