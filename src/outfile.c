// SPDX-License-Identifier: BSD-2-Clause
#include "outfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_open(struct pp_outfile *o, const char *path, char *why, size_t whylen)
{
	struct stat st;
	char *dir, *slash;
	int fd;

	memset(o, 0, sizeof(*o));
	if (!path || strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "cannot write the profile to %s: it is a directory; name a file", path);
		return -1;
	}
	dir = pp_xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash)
		slash[1] = '\0';
	else
		strcpy(dir, "");
	o->tmp = pp_xasprintf("%s.pybpfprof-%s.XXXXXX", dir, pp_basename(path));
	free(dir);
	fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "cannot write the profile to %s: %s; choose another --output", path,
			 strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	fchmod(fd, 0644);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		close(fd);
		outfile_abort(o);
		snprintf(why, whylen, "cannot write the profile to %s: out of memory", path);
		return -1;
	}
	o->path = pp_xstrdup(path);
	return 0;
}

int outfile_commit(struct pp_outfile *o, char *why, size_t whylen)
{
	int rc = 0;

	if (!o->path) {
		if (fflush(stdout) != 0) {
			snprintf(why, whylen, "cannot write the profile to standard output: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0) {
		snprintf(why, whylen, "cannot write the profile to %s: %s", o->path, strerror(errno));
		rc = -1;
	}
	if (fclose(o->f) != 0 && !rc) {
		snprintf(why, whylen, "cannot write the profile to %s: %s", o->path, strerror(errno));
		rc = -1;
	}
	o->f = NULL;
	if (!rc && rename(o->tmp, o->path) != 0) {
		snprintf(why, whylen, "cannot move the profile into place at %s: %s", o->path, strerror(errno));
		rc = -1;
	}
	if (rc)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return rc;
}

void outfile_abort(struct pp_outfile *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}
