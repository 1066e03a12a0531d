// What Swift's Glibc module does not show of string.h.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <string.h>

const char *cr_strerror(int err) {
    return strerror(err);
}

void *cr_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}
