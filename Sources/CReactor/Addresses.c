// Socket addresses, and name resolution (getaddrinfo).
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int cr_make_inet_address(const char *host, uint16_t port,
                         struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof *v4;
        return AF_INET;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
        return AF_INET6;
    }
    return -EINVAL;
}

int cr_make_unix_address(const char *path, struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path) return -ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return AF_UNIX;
}

int cr_address_host(const struct sockaddr_storage *addr, char *out, size_t cap) {
    const void *src;
    switch (addr->ss_family) {
    case AF_INET: src = &((const struct sockaddr_in *)addr)->sin_addr; break;
    case AF_INET6: src = &((const struct sockaddr_in6 *)addr)->sin6_addr; break;
    default: return -EAFNOSUPPORT;
    }
    return inet_ntop(addr->ss_family, src, out, (socklen_t)cap) ? 0 : -errno;
}

int cr_address_port(const struct sockaddr_storage *addr) {
    switch (addr->ss_family) {
    case AF_INET: return ntohs(((const struct sockaddr_in *)addr)->sin_port);
    case AF_INET6: return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    default: return -EAFNOSUPPORT;
    }
}

int cr_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *lens,
               int max, int *gai_error) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo *list = NULL;
    int err = getaddrinfo(host, service, &hints, &list);
    if (err) {
        *gai_error = err;
        return -1;
    }
    int count = 0;
    for (struct addrinfo *ai = list; ai && count < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof *out) continue;
        memcpy(&out[count], ai->ai_addr, ai->ai_addrlen);
        lens[count] = ai->ai_addrlen;
        count++;
    }
    freeaddrinfo(list);
    return count;
}

const char *cr_gai_strerror(int gai_error) {
    return gai_strerror(gai_error);
}
