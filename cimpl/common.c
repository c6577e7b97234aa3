/* common.c - helpers shared by every lab library (linked in statically). */
#include "common.h"

#include <pthread.h>
#include <sched.h>

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
