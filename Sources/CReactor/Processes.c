// Child processes: posix_spawn, pidfd and reaping.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int cr_pipe_for_child(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

int cr_open_dev_null(void) {
    int fd;
    do fd = open("/dev/null", O_RDWR | O_CLOEXEC); while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

extern char **environ;

int cr_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, const int child_fds[3]) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return -result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -result;
    }
    for (int target = 0; target < 3 && result == 0; target++) {
        // dup2 onto itself clears close-on-exec (glibc 2.29 and later), so this covers it too.
        if (child_fds[target] >= 0) result = posix_spawn_file_actions_adddup2(&actions, child_fds[target], target);
    }
    if (result == 0 && cwd != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    // exec resets caught signals itself; an ignored one stays ignored, so reset those this
    // process may ignore (SIGPIPE: the reactor does; SIGXFSZ: as Python's restore_signals).
    // Each reset is a syscall in the child while this thread waits for its exec.
    sigset_t none, ignored;
    sigemptyset(&none);
    sigemptyset(&ignored);
    sigaddset(&ignored, SIGPIPE);
    sigaddset(&ignored, SIGXFSZ);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &ignored);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (result == 0) {
        char *const *environment = envp != NULL ? envp : environ;
        result = strchr(path, '/') != NULL ? posix_spawn(&pid, path, &actions, &attributes, argv, environment)
                                           : posix_spawnp(&pid, path, &actions, &attributes, argv, environment);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result != 0 ? -result : pid;
}

int cr_pidfd_open(int pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

static int cr_reap(idtype_t idtype, id_t id, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    do result = waitid(idtype, id, &info, WEXITED | WNOHANG); while (result < 0 && errno == EINTR);
    if (result < 0) return -errno;
    if (info.si_pid == 0) return 0;
    *status = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    return 1;
}

int cr_pidfd_reap(int pidfd, int *status) { return cr_reap(P_PIDFD, (id_t)pidfd, status); }

int cr_pid_reap(int pid, int *status) { return cr_reap(P_PID, (id_t)pid, status); }

int cr_kill(int pid, int signal) { return kill(pid, signal) < 0 ? -errno : 0; }

int cr_pidfd_send_signal(int pidfd, int signal) {
    return syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0) < 0 ? -errno : 0;
}
