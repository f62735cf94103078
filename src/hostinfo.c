/*
 * hostinfo.c: the host's figures for today's upstream server
 * (MetricsResponse, SystemInfoResponse), each measured as upstream's agent
 * measures it (gopsutil v3 on Linux; doc/PROTOCOL.md and
 * ../shared/UPSTREAM-HEAD.md say field by field), so that a server and
 * its web client see the same numbers from either agent.
 *
 * Reading every process of a large host takes tens of milliseconds: these
 * functions run in a thread of their own (head.c), never on the loop.
 * Every string they return is valid UTF-8.  Where a source is missing
 * (no /proc, another system) a figure is 0 or a list empty, as upstream's
 * are; only a failed memory reading is an error.
 */

#include "config.h"

#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#ifdef __linux__
#include <sys/sysinfo.h>
#endif

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* A copy of S (LEN bytes), repaired into valid UTF-8. */
static char *
host_utf8(const char *s, size_t len)
{
	struct buf b;

	if (utf8_valid(s, len))
		return xmemdup0(s, len);
	buf_init(&b);
	utf8_repair(s, len, &b, 1);
	buf_append(&b, "", 1);
	return b.data;
}

/* The first line of PATH, without its newline, into LINE; -1 if none. */
static int
host_first_line(const char *path, char *line, size_t size)
{
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(line, (int)size, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return 0;
}

/* -- CPU -------------------------------------------------------------- */

/*
 * The busy and total jiffies of the whole machine (the `cpu' line of
 * /proc/stat): total = user+nice+system+idle+iowait+irq+softirq+steal
 * (guest time is in user and nice already), busy = total - idle - iowait.
 */
int
host_cpu_sample(uint64_t *busy, uint64_t *total)
{
	unsigned long long v[8] = { 0 };
	char line[512];

	if (host_first_line("/proc/stat", line, sizeof line) != 0 ||
	    sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
	    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
		return -1;
	*total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	*busy = *total - v[3] - v[4];
	return 0;
}

/* -- memory ----------------------------------------------------------- */

struct host_meminfo {
	uint64_t total, free, available, buffers, cached, sreclaimable;
	uint64_t active_file, inactive_file;
	int has_available;
};

static int
host_meminfo(struct host_meminfo *mi)
{
	char line[256], name[64];
	unsigned long long kib;
	FILE *f;

	memset(mi, 0, sizeof *mi);
	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%63[^:]: %llu", name, &kib) != 2)
			continue;
		if (strcmp(name, "MemTotal") == 0)
			mi->total = kib * 1024;
		else if (strcmp(name, "MemFree") == 0)
			mi->free = kib * 1024;
		else if (strcmp(name, "MemAvailable") == 0) {
			mi->available = kib * 1024;
			mi->has_available = 1;
		} else if (strcmp(name, "Buffers") == 0)
			mi->buffers = kib * 1024;
		else if (strcmp(name, "Cached") == 0)
			mi->cached = kib * 1024;
		else if (strcmp(name, "SReclaimable") == 0)
			mi->sreclaimable = kib * 1024;
		else if (strcmp(name, "Active(file)") == 0)
			mi->active_file = kib * 1024;
		else if (strcmp(name, "Inactive(file)") == 0)
			mi->inactive_file = kib * 1024;
	}
	fclose(f);
	return mi->total != 0 ? 0 : -1;
}

/* As gopsutil: cached counts SReclaimable, and used is computed in
 * unsigned arithmetic (it can wrap, as there). */
static void
host_memory(struct host_metrics *hm, const struct host_meminfo *mi)
{
	uint64_t cached = mi->cached + mi->sreclaimable, used;

	used = mi->total - mi->free - mi->buffers - cached;
	hm->mem_total = (int64_t)mi->total;
	hm->mem_free = (int64_t)mi->free;
	hm->mem_available = (int64_t)(mi->has_available ? mi->available :
	    mi->free + mi->active_file + mi->inactive_file +
	    mi->sreclaimable);
	hm->mem_buffers = (int64_t)mi->buffers;
	hm->mem_cached = (int64_t)cached;
	hm->mem_used = (int64_t)used;
	hm->mem_used_percent = (double)used / (double)mi->total * 100.0;
}

/* -- disks ------------------------------------------------------------ */

/* The filesystems of /proc/filesystems that need a device ("nodev" not
 * set), and zfs, as one string " ext4 xfs ... ". */
static char *
host_real_filesystems(void)
{
	char line[256], kind[64], name[64];
	struct buf b;
	FILE *f;

	buf_init(&b);
	buf_append(&b, " zfs ", 5);
	if ((f = fopen("/proc/filesystems", "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			if (sscanf(line, "%63s %63s", kind, name) == 2)
				continue;	/* "nodev NAME" */
			if (sscanf(line, "%63s", name) == 1) {
				buf_append(&b, name, strlen(name));
				buf_append(&b, " ", 1);
			}
		}
		fclose(f);
	}
	buf_append(&b, "", 1);
	return b.data;
}

/* A mount point as the kernel escapes it (\040 for a space) unescaped. */
static void
host_unescape(char *s)
{
	char *out = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else
			*out++ = *s;
	}
	*out = '\0';
}

/* /dev/root's real name (from its major:minor), a /dev/mapper name's
 * /dev/dm-N; other devices as they are. */
static char *
host_device(const char *source, const char *majmin)
{
	char path[PATH_MAX + 16], link[PATH_MAX], *base;
	ssize_t n;

	if (strcmp(source, "/dev/root") == 0) {
		snprintf(path, sizeof path, "/sys/dev/block/%s", majmin);
		if ((n = readlink(path, link, sizeof link - 1)) > 0) {
			link[n] = '\0';
			base = strrchr(link, '/');
			snprintf(path, sizeof path, "/dev/%s",
			    base != NULL ? base + 1 : link);
			return host_utf8(path, strlen(path));
		}
	} else if (strncmp(source, "/dev/mapper/", 12) == 0 &&
	    realpath(source, path) != NULL)
		return host_utf8(path, strlen(path));
	return host_utf8(source, strlen(source));
}

/* One mountinfo line, if it is a real filesystem's: appended to HM. */
static void
host_disk_line(struct host_metrics *hm, char *line, const char *real)
{
	char *field[10], *sep, *p, *save = NULL, kind[80];
	struct statvfs sv;
	struct host_disk *d;
	uint64_t bsize, used, avail;
	size_t n = 0;

	if ((sep = strstr(line, " - ")) == NULL)
		return;
	*sep = '\0';
	for (p = strtok_r(line, " ", &save); p != NULL && n < 10;
	    p = strtok_r(NULL, " ", &save))
		field[n++] = p;
	if (n < 5)
		return;
	save = NULL;
	field[5] = strtok_r(sep + 3, " \n", &save);	/* fstype */
	field[6] = strtok_r(NULL, " \n", &save);	/* source */
	if (field[5] == NULL || field[6] == NULL ||
	    strcmp(field[6], "none") == 0)
		return;
	snprintf(kind, sizeof kind, " %s ", field[5]);
	if (strstr(real, kind) == NULL)
		return;
	host_unescape(field[4]);
	if (statvfs(field[4], &sv) != 0)
		return;
	bsize = sv.f_frsize != 0 ? sv.f_frsize : sv.f_bsize;
	used = ((uint64_t)sv.f_blocks - sv.f_bfree) * bsize;
	avail = (uint64_t)sv.f_bavail * bsize;
	hm->disks = xreallocarray(hm->disks, hm->n_disks + 1,
	    sizeof *hm->disks);
	d = &hm->disks[hm->n_disks++];
	d->device = host_device(field[6], field[2]);
	d->mountpoint = host_utf8(field[4], strlen(field[4]));
	d->fstype = host_utf8(field[5], strlen(field[5]));
	d->total = (int64_t)((uint64_t)sv.f_blocks * bsize);
	d->free = (int64_t)avail;
	d->used = (int64_t)used;
	d->used_percent = used + avail == 0 ? 0.0 :
	    (double)used / (double)(used + avail) * 100.0;
}

static void
host_disks(struct host_metrics *hm)
{
	char line[8192], *real;
	FILE *f;

	if ((f = fopen("/proc/1/mountinfo", "re")) == NULL &&
	    (f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return;
	real = host_real_filesystems();
	while (fgets(line, sizeof line, f) != NULL)
		host_disk_line(hm, line, real);
	fclose(f);
	free(real);
}

/* -- network ---------------------------------------------------------- */

static void
host_networks(struct host_metrics *hm)
{
	unsigned long long v[16];
	char line[1024], *colon, *name;
	struct host_net *n;
	FILE *f;
	int i;

	if ((f = fopen("/proc/net/dev", "re")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if ((colon = strchr(line, ':')) == NULL)
			continue;	/* the two header lines */
		*colon = '\0';
		for (name = line; *name == ' '; name++)
			;
		if (strcmp(name, "lo") == 0)
			continue;
		memset(v, 0, sizeof v);
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu "
		    "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		    &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) < 12)
			continue;
		hm->nets = xreallocarray(hm->nets, hm->n_nets + 1,
		    sizeof *hm->nets);
		n = &hm->nets[hm->n_nets++];
		n->name = host_utf8(name, strlen(name));
		for (i = 0; i < 12; i++)
			v[i] &= INT64_MAX;
		n->bytes_recv = (int64_t)v[0];
		n->packets_recv = (int64_t)v[1];
		n->errors_in = (int64_t)v[2];
		n->drops_in = (int64_t)v[3];
		n->bytes_sent = (int64_t)v[8];
		n->packets_sent = (int64_t)v[9];
		n->errors_out = (int64_t)v[10];
		n->drops_out = (int64_t)v[11];
	}
	fclose(f);
}

/* -- processes -------------------------------------------------------- */

static const char *
host_status_word(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
		return "sleep";
	case 'D':
		return "blocked";
	case 'I':
		return "idle";
	case 'T':
	case 't':
		return "stop";
	case 'Z':
		return "zombie";
	case 'W':
		return "wait";
	case 'L':
		return "lock";
	default:
		return "";
	}
}

/* The seconds since the epoch at boot (/proc/stat's btime). */
static uint64_t
host_boot_time(void)
{
	unsigned long long btime = 0;
	char line[512];
	FILE *f;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

/* A process's name: its comm, or, when comm is cut at 15 characters, the
 * basename of its argv[0] when that begins with it. */
static char *
host_proc_name(const char *dir, const char *comm)
{
	char path[96], argv0[4096], *base;
	ssize_t n;
	FILE *f;

	if (strlen(comm) == 15) {
		snprintf(path, sizeof path, "%s/cmdline", dir);
		if ((f = fopen(path, "re")) != NULL) {
			n = (ssize_t)fread(argv0, 1, sizeof argv0 - 1, f);
			fclose(f);
			argv0[n > 0 ? n : 0] = '\0';
			base = strrchr(argv0, '/');
			base = base != NULL ? base + 1 : argv0;
			if (strncmp(base, comm, 15) == 0)
				return host_utf8(base, strlen(base));
		}
	}
	return host_utf8(comm, strlen(comm));
}

/* One process, read into P; -1 if it is gone or has no readable name. */
static int
host_proc(const char *pid, struct host_proc *p, uint64_t boot, double now,
    long hz, long page)
{
	char dir[64], path[96], buf[2048], comm[64], *close_paren, state;
	unsigned long long utime, stime, start, blkio = 0, size, resident;
	unsigned long threads = 0;
	double created;
	FILE *f;

	snprintf(dir, sizeof dir, "/proc/%s", pid);
	snprintf(path, sizeof path, "%s/comm", dir);
	if (host_first_line(path, comm, sizeof comm) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/stat", dir);
	if (host_first_line(path, buf, sizeof buf) != 0 ||
	    (close_paren = strrchr(buf, ')')) == NULL)
		return -1;
	/* Fields after the name: 3 state ... 14 utime 15 stime ... 22
	 * starttime ... 42 delayacct_blkio_ticks. */
	if (sscanf(close_paren + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
	    "%*u %llu %llu %*d %*d %*d %*d %*d %*d %llu", &state, &utime,
	    &stime, &start) != 4)
		return -1;
	{
		/* (Counted from the state, field 3, to field 42.) */
		char *q = close_paren + 2;
		int i;

		for (i = 3; i < 42 && q != NULL; i++)
			if ((q = strchr(q, ' ')) != NULL)
				q++;
		if (q != NULL)
			blkio = strtoull(q, NULL, 10);
	}
	size = resident = 0;
	snprintf(path, sizeof path, "%s/statm", dir);
	if ((f = fopen(path, "re")) != NULL) {
		if (fscanf(f, "%llu %llu", &size, &resident) != 2)
			size = resident = 0;
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/status", dir);
	if ((f = fopen(path, "re")) != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL)
			if (sscanf(buf, "Threads: %lu", &threads) == 1)
				break;
		fclose(f);
	}
	if (threads == 0)
		return -1;	/* it ended while being read */
	p->pid = (int32_t)strtol(pid, NULL, 10);
	p->name = host_proc_name(dir, comm);
	p->status = host_status_word(state);
	/* Whole seconds, as gopsutil makes it. */
	p->create_time = (int64_t)(boot + start / (unsigned long long)hz) *
	    1000;
	created = (double)(boot + start / (unsigned long long)hz);
	p->cpu_percent = now - created > 0 ? (double)(utime + stime + blkio) /
	    (double)hz / (now - created) * 100.0 : 0.0;
	p->rss = (int64_t)resident * page;
	p->vms = (int64_t)size * page;
	p->threads = (int32_t)threads;
	return 0;
}

static int
host_proc_cmp(const void *a, const void *b)
{
	const struct host_proc *x = a, *y = b;

	return x->cpu_percent < y->cpu_percent ? 1 :
	    x->cpu_percent > y->cpu_percent ? -1 : 0;
}

/* The ten processes with the highest (lifetime) CPU percent. */
static void
host_processes(struct host_metrics *hm)
{
	struct host_proc *all = NULL, p;
	size_t n = 0, cap = 0, i;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	uint64_t boot = host_boot_time();
	struct timespec ts;
	struct dirent *de;
	double now;
	DIR *d;

	if (hz <= 0 || (d = opendir("/proc")) == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		memset(&p, 0, sizeof p);
		if (host_proc(de->d_name, &p, boot, now, hz, page) != 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			all = xreallocarray(all, cap, sizeof *all);
		}
		all[n++] = p;
	}
	closedir(d);
	if (n != 0)
		qsort(all, n, sizeof *all, host_proc_cmp);
	for (i = 0; i < n; i++) {
		if (i < HOST_TOP_PROCS)
			hm->procs[hm->n_procs++] = all[i];
		else
			free(all[i].name);
	}
	free(all);
}

/*
 * Everything of a MetricsResponse but the CPU percent (the caller's
 * sampler has it).  Returns 0, or -1 with *cause set if the memory
 * cannot be read (upstream's only error).
 */
int
host_metrics_read(struct host_metrics *hm, char **cause)
{
	struct host_meminfo mi;
	double load[3];

	memset(hm, 0, sizeof *hm);
	if (host_meminfo(&mi) != 0) {
		xasprintf(cause, "failed to get memory info: /proc/meminfo: %s",
		    strerror(errno != 0 ? errno : EINVAL));
		return -1;
	}
	host_memory(hm, &mi);
	host_disks(hm);
	host_networks(hm);
	host_processes(hm);
	if (getloadavg(load, 3) == 3)
		memcpy(hm->load, load, sizeof hm->load);
	hm->timestamp = (int64_t)time(NULL);
	return 0;
}

void
host_metrics_free(struct host_metrics *hm)
{
	size_t i;

	for (i = 0; i < hm->n_disks; i++) {
		free(hm->disks[i].device);
		free(hm->disks[i].mountpoint);
		free(hm->disks[i].fstype);
	}
	free(hm->disks);
	for (i = 0; i < hm->n_nets; i++)
		free(hm->nets[i].name);
	free(hm->nets);
	for (i = 0; i < hm->n_procs; i++)
		free(hm->procs[i].name);
	memset(hm, 0, sizeof *hm);
}

/* -- system info ------------------------------------------------------ */

/* KEY's value in a KEY=VALUE file (quotes taken off), or NULL. */
static char *
host_keyfile(const char *path, const char *key)
{
	char line[512], *v, *end;
	size_t klen = strlen(key);
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) != 0 || line[klen] != '=')
			continue;
		v = line + klen + 1;
		v[strcspn(v, "\n")] = '\0';
		if (*v == '"' || *v == '\'') {
			v++;
			if ((end = strrchr(v, v[-1])) != NULL)
				*end = '\0';
		}
		fclose(f);
		return host_utf8(v, strlen(v));
	}
	fclose(f);
	return NULL;
}

/* A Red Hat family release line's name and version, as gopsutil reads
 * them: the first word in lower case ("red" is redhat), the number after
 * "release". */
static void
host_redhat(const char *line, struct host_info *hi)
{
	char word[64], *lower, *rel;
	size_t i;

	if (sscanf(line, "%63s", word) != 1)
		word[0] = '\0';
	for (i = 0; word[i] != '\0'; i++)
		word[i] = (char)tolower((unsigned char)word[i]);
	lower = xstrdup(line);
	for (i = 0; lower[i] != '\0'; i++)
		lower[i] = (char)tolower((unsigned char)lower[i]);
	hi->platform = xstrdup(strcmp(word, "red") == 0 ? "redhat" : word);
	if (strstr(lower, "rawhide") != NULL)
		hi->os_version = xstrdup("rawhide");
	else if ((rel = strstr(lower, "release ")) != NULL &&
	    isdigit((unsigned char)rel[8]))
		hi->os_version = xstrndup(rel + 8, strspn(rel + 8,
		    "0123456789."));
	free(lower);
}

/* The distribution and its version, as gopsutil names them. */
static void
host_platform(struct host_info *hi)
{
	char line[256], *id;

	if (access("/etc/debian_version", F_OK) == 0) {
		id = host_keyfile("/etc/lsb-release", "DISTRIB_ID");
		if (id != NULL && (strcmp(id, "Ubuntu") == 0 ||
		    strcmp(id, "LinuxMint") == 0)) {
			hi->platform = xstrdup(strcmp(id, "Ubuntu") == 0 ?
			    "ubuntu" : "linuxmint");
			hi->os_version = host_keyfile("/etc/lsb-release",
			    "DISTRIB_RELEASE");
		} else {
			hi->platform = xstrdup(access("/usr/bin/raspi-config",
			    F_OK) == 0 ? "raspbian" : "debian");
			if (host_first_line("/etc/debian_version", line,
			    sizeof line) == 0)
				hi->os_version = host_utf8(line, strlen(line));
		}
		free(id);
	} else if (host_first_line("/etc/redhat-release", line,
	    sizeof line) == 0)
		host_redhat(line, hi);
	else if (host_first_line("/etc/alpine-release", line,
	    sizeof line) == 0) {
		hi->platform = xstrdup("alpine");
		hi->os_version = host_utf8(line, strlen(line));
	} else if (access("/etc/arch-release", F_OK) == 0) {
		hi->platform = xstrdup("arch");
		hi->os_version = host_keyfile("/etc/lsb-release",
		    "DISTRIB_RELEASE");
	} else {
		hi->platform = host_keyfile("/etc/os-release", "ID");
		hi->os_version = host_keyfile("/etc/os-release", "VERSION_ID");
		if (hi->platform != NULL && strcmp(hi->platform, "amzn") == 0) {
			free(hi->platform);
			hi->platform = xstrdup("amazon");
		}
	}
	if (hi->platform == NULL)
		hi->platform = xstrdup("");
	if (hi->os_version == NULL)
		hi->os_version = xstrdup("");
}

/* Go's name for the architecture the agent was built for (GOARCH). */
static const char *
host_goarch(const struct utsname *u)
{
#if defined(__x86_64__)
	(void)u;
	return "amd64";
#elif defined(__aarch64__)
	(void)u;
	return "arm64";
#elif defined(__arm__)
	(void)u;
	return "arm";
#elif defined(__i386__)
	(void)u;
	return "386";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	(void)u;
	return "ppc64le";
#elif defined(__s390x__)
	(void)u;
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	(void)u;
	return "riscv64";
#else
	return u->machine;
#endif
}

static void
host_interfaces(struct host_info *hi)
{
	struct if_nameindex *ifs, *i;

	if ((ifs = if_nameindex()) == NULL)
		return;
	for (i = ifs; i->if_index != 0 && i->if_name != NULL; i++) {
		if (strcmp(i->if_name, "lo") == 0)
			continue;
		hi->ifaces = xreallocarray(hi->ifaces, hi->n_ifaces + 1,
		    sizeof *hi->ifaces);
		hi->ifaces[hi->n_ifaces++] = host_utf8(i->if_name,
		    strlen(i->if_name));
	}
	if_freenameindex(ifs);
}

/* A SystemInfoResponse's figures; 0, or -1 with *cause set. */
int
host_info_read(struct host_info *hi, char **cause)
{
	struct host_meminfo mi;
	struct utsname u;
	char name[256];
#ifdef __linux__
	struct sysinfo si;
	cpu_set_t set;
#endif

	memset(hi, 0, sizeof *hi);
	if (uname(&u) != 0) {
		xasprintf(cause, "failed to get host info: uname: %s",
		    strerror(errno));
		return -1;
	}
	if (gethostname(name, sizeof name) != 0)
		snprintf(name, sizeof name, "%s", u.nodename);
	name[sizeof name - 1] = '\0';
	hi->hostname = host_utf8(name, strlen(name));
	host_platform(hi);
	hi->arch = xstrdup(host_goarch(&u));
	hi->kernel = host_utf8(u.release, strlen(u.release));
	hi->cpus = (int32_t)sysconf(_SC_NPROCESSORS_ONLN);
#ifdef __linux__
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		hi->cpus = (int32_t)CPU_COUNT(&set);
	if (sysinfo(&si) == 0)
		hi->uptime = (int64_t)si.uptime;
#endif
	if (host_meminfo(&mi) == 0)
		hi->total_memory = (int64_t)mi.total;
	host_interfaces(hi);
	return 0;
}

void
host_info_free(struct host_info *hi)
{
	size_t i;

	free(hi->hostname);
	free(hi->platform);
	free(hi->arch);
	free(hi->os_version);
	free(hi->kernel);
	for (i = 0; i < hi->n_ifaces; i++)
		free(hi->ifaces[i]);
	free(hi->ifaces);
	memset(hi, 0, sizeof *hi);
}
