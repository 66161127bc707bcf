;; boehm-guile.scm - a GC-heavy Guile program for .ci/boehm-clients.sh:
;; Debian's guile-3.0 runs it on libgoheap's libgc.so.1 and on libgc1,
;; and must print the same.  Trees, hash tables, a weak table (mark
;; procedures and disappearing links), strings, closures, sorting and a
;; guardian (finalizers).
(use-modules (srfi srfi-1) (ice-9 format))
(define (make-tree d) (if (= d 0) '() (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (check t) (if (null? t) 1 (+ 1 (check (car t)) (check (cdr t)))))
(define total 0)
(do ((i 0 (+ i 1))) ((= i 40))
  (set! total (+ total (check (make-tree 14)))))
(format #t "trees ~a~%" total)
(define h (make-hash-table))
(do ((i 0 (+ i 1))) ((= i 200000)) (hash-set! h i (number->string i)))
(format #t "hash ~a ~a~%" (hash-count (const #t) h) (hash-ref h 199999))
(define w (make-weak-key-hash-table))
(do ((i 0 (+ i 1))) ((= i 100000)) (hash-set! w (list i) i))
(gc)
(format #t "weak ~a~%" (< (hash-fold (lambda (k v a) (+ a 1)) 0 w) 100000))
(define v (make-vector 100000 #f))
(do ((i 0 (+ i 1))) ((= i 100000)) (vector-set! v i (make-string 20 #\x)))
(format #t "strings ~a~%" (string-length (apply string-append (vector->list v))))
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(format #t "fib ~a~%" (fib 25))
(format #t "sorted ~a~%" (take (sort (map (lambda (i) (modulo (* i 7919) 10007)) (iota 100000 1)) <) 5))
(define g (make-guardian))
(do ((i 0 (+ i 1))) ((= i 1000)) (g (list i)))
(gc) (gc)
(let loop ((n 0)) (if (g) (loop (+ n 1)) (format #t "guarded ~a~%" (> n 900))))
