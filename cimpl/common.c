/* common.c - helpers shared by every lab library (linked in statically). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ll_pin_self(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return LL_ENOCPU;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* Fails with EINVAL when the CPU is offline or outside our cgroup's set. */
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0 ? LL_OK : LL_ENOCPU;
}

int ll_pid_alive(uint32_t pid)
{
    if (pid == 0)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    /* exists (or is another user's): a zombie is dead for our purpose */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')'); /* the command name may contain spaces */
    if (paren == NULL || paren[1] == 0)
        return 1;
    char state = paren[2];
    if (state != 'Z' && state != 'X')
        return 1;
    /* A zombie thread-group leader whose other threads are still exiting is
     * not dead yet: they still hold the process's files (and its role locks).
     * Dead once it is the last one: field 20, num_threads, 17 fields after
     * the state (field 3). */
    const char *p = paren + 2;
    for (int field = 3; field < 20 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    return p != NULL && strtol(p, NULL, 10) > 1;
}

int64_t ll_lookup_fact(const ll_fact *facts, size_t n, const char *key)
{
    if (key == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(facts[i].key, key) == 0)
            return facts[i].value;
    return -1;
}

int ll_ofd_reopen(int fd)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int nfd = open(path, O_RDWR | O_CLOEXEC);
    return nfd >= 0 ? nfd : -errno;
}

static struct flock ofd_range(int type, int64_t start, int64_t len)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl); /* l_pid must be 0 for OFD locks */
    fl.l_type = (short)type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)start;
    fl.l_len = (off_t)len;
    return fl;
}

int ll_ofd_lock(int fd, int64_t start, int64_t len, int type)
{
    struct flock fl = ofd_range(type, start, len);
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return LL_OK;
    return errno == EAGAIN || errno == EACCES ? LL_EBUSY : -errno;
}

int ll_ofd_held(int fd, int64_t start, int64_t len)
{
    struct flock fl = ofd_range(F_WRLCK, start, len);
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}
