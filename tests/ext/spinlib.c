// SPDX-License-Identifier: BSD-2-Clause
/*
 * A library the dlclose test loads, unloads and replaces with a twin built
 * with another NAME (-DNAME=a, -DNAME=b): it burns thread CPU time in
 * spin_NAME, so a profile says which of the two was running.
 */
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long CAT(spin_, NAME)(double seconds)
{
	double end = cpu_now() + seconds;
	volatile unsigned long x = 0;

	while (cpu_now() < end)
		for (int i = 0; i < 20000; i++)
			x += (unsigned long)i;
	return x;
}
