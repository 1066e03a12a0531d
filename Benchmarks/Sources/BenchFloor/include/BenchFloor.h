// What the C floors of the benchmark share.
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

// Reads `--host H` and `--port N` (0: the kernel picks) from the command line into *host and
// *port; on anything else prints the usage and returns -1.
int bench_parse_host_port(int argc, char **argv, const char **host, long *port);

#endif
