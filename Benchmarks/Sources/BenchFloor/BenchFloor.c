#include "BenchFloor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_parse_host_port(int argc, char **argv, const char **host, long *port) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            *host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            *port = strtol(argv[++i], &end, 10);
            if (*end || *port < 0 || *port > 65535) {
                fprintf(stderr, "bad --port\n");
                return -1;
            }
        } else {
            fprintf(stderr, "usage: %s [--host 127.0.0.1] [--port N]\n", argv[0]);
            return -1;
        }
    }
    return 0;
}
