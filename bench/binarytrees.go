// binarytrees.go - the binary-trees workload of bench/binarytrees.c in Go,
// written afresh from the benchmark's description, for comparison with Go's
// own runtime (the design libgoheap follows).
//
//	binarytrees [DEPTH [THREADS]]        (defaults 21 and 1)
//
// The same trees, depths and counts as binarytrees.c; with THREADS > 1 the
// trees of each depth are split between THREADS goroutines.  How many run at
// once is GOMAXPROCS (the runner sets it to THREADS).  Prints the same text,
// then "TIME seconds=..." and a "GC ..." line from runtime.MemStats.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const minDepth = 4

type node struct {
	left, right *node
}

func bottomUp(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	return &node{bottomUp(depth - 1), bottomUp(depth - 1)}
}

func (n *node) check() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func main() {
	n, threads := 21, 1
	var err error
	if len(os.Args) > 1 {
		if n, err = strconv.Atoi(os.Args[1]); err != nil || n < 0 || n > 30 {
			fmt.Fprintln(os.Stderr, "usage: binarytrees [DEPTH [THREADS]]")
			os.Exit(1)
		}
	}
	if len(os.Args) > 2 {
		if threads, err = strconv.Atoi(os.Args[2]); err != nil || threads < 1 || threads > 64 {
			fmt.Fprintln(os.Stderr, "usage: binarytrees [DEPTH [THREADS]]")
			os.Exit(1)
		}
	}
	if n < minDepth+2 {
		n = minDepth + 2
	}
	t0 := time.Now()

	stretch := bottomUp(n + 1)
	fmt.Printf("stretch tree of depth %d\t check: %d\n", n+1, stretch.check())
	stretch = nil

	longLived := bottomUp(n)

	for d := minDepth; d <= n; d += 2 {
		iters := 1 << uint(n-d+minDepth)
		sums := make([]int, threads)
		var wg sync.WaitGroup
		for k := 0; k < threads; k++ {
			share := iters / threads
			if k < iters%threads {
				share++
			}
			wg.Add(1)
			go func(k, share int) {
				defer wg.Done()
				s := 0
				for i := 0; i < share; i++ {
					s += bottomUp(d).check()
				}
				sums[k] = s
			}(k, share)
		}
		wg.Wait()
		sum := 0
		for _, s := range sums {
			sum += s
		}
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iters, d, sum)
	}
	fmt.Printf("long lived tree of depth %d\t check: %d\n", n, longLived.check())
	fmt.Printf("TIME seconds=%.4f\n", time.Since(t0).Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var mx uint64
	for _, p := range ms.PauseNs {
		if p > mx {
			mx = p
		}
	}
	fmt.Printf("GC numgc=%d pause_total_ms=%.3f pause_max_ms=%.3f\n",
		ms.NumGC, float64(ms.PauseTotalNs)/1e6, float64(mx)/1e6)
}
