/*
 * Times the cheapest syscall (getppid), to show what a profiler costs the
 * host's syscalls while it runs: an attached syscall tracepoint puts every
 * task on the kernel's slower syscall path. Prints the median over
 * REPEATS runs of CALLS calls, in nanoseconds of CPU time per call
 * (CPU time: a busy neighbour that preempts the loop does not count).
 *
 * usage: syscall_loop [CALLS] [REPEATS]   (default 2000000 15)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 2000000;
	int repeats = argc > 2 ? atoi(argv[2]) : 15;
	double per[64];

	if (calls < 1 || repeats < 1 || repeats > 64) {
		fprintf(stderr, "usage: syscall_loop [CALLS >= 1] [REPEATS 1-64]\n");
		return 1;
	}
	for (int r = 0; r < repeats; r++) {
		double t0 = now_ns();

		/* syscall(2), not getppid(3): nothing may answer from a cache */
		for (long i = 0; i < calls; i++)
			syscall(SYS_getppid);
		per[r] = (now_ns() - t0) / (double)calls;
	}
	qsort(per, (size_t)repeats, sizeof(per[0]), cmp_double);
	printf("%.1f\n", per[repeats / 2]);
	return 0;
}
