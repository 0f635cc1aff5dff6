// SPDX-License-Identifier: BSD-2-Clause
#include "procmem.h"

#include <sys/uio.h>

int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	return procmem_read_partial(pid, addr, buf, len) == len ? 0 : -1;
}

size_t procmem_read_partial(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
	ssize_t n;

	if (!len)
		return 0;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return n > 0 ? (size_t)n : 0;
}

int procmem_read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	return procmem_read(pid, addr, v, sizeof(*v));
}
