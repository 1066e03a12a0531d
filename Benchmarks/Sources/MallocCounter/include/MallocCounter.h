// An LD_PRELOAD counter of heap allocations for a whole server process (reactor-bench
// redis): malloc, calloc, realloc and the aligned allocations are counted, and SIGUSR2
// writes the count so far to the file named by $MALLOC_COUNTER_FILE.
#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#endif
