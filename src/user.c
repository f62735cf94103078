/*
 * user.c: the user a task asks to run as (ShellExecute.user).
 *
 * Only an agent running as root can switch, and only to a user its
 * settings list in --allowed-users (tasks.allowed_users; empty by
 * default, so switching is refused until an operator allows it).  The
 * user is looked up here, in the agent, before the task starts; the child
 * only makes the system calls (contain/spawn-fork.c).  Every refusal is a
 * one-line reason for the task's DENIED final.
 */

#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define USER_MAX_GROUPS 1024

/* True if NAME or UID is in the comma-separated LIST. */
static int
user_allowed(const char *list, const char *name, uid_t uid)
{
	const char *p, *end;
	char uidtext[32];
	size_t len;

	if (list == NULL)
		return 0;
	snprintf(uidtext, sizeof uidtext, "%lu", (unsigned long)uid);
	for (p = list; *p != '\0'; p = end + 1) {
		while (*p == ' ')
			p++;
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if ((len == strlen(name) && strncmp(p, name, len) == 0) ||
		    (len == strlen(uidtext) && strncmp(p, uidtext, len) == 0))
			return 1;
		if (end == NULL)
			break;
	}
	return 0;
}

/*
 * Looks SPEC (a name, or a number for a uid) up for a task.  Returns 0
 * with *u filled in, or -1 with *why set.
 */
int
user_resolve(const struct options *o, const char *spec, struct run_as *u,
    char **why)
{
	struct passwd *pw;
	char *end, *shown;
	unsigned long n;
	int ngroups;
	gid_t *groups;

	memset(u, 0, sizeof *u);
	shown = vis_strdup(spec, strlen(spec), 64);
	if (geteuid() != 0) {
		xasprintf(why, "cannot run as user '%s': the agent is not "
		    "running as root", shown);
		goto fail;
	}
	errno = 0;
	if ((pw = getpwnam(spec)) == NULL && *spec >= '0' && *spec <= '9') {
		n = strtoul(spec, &end, 10);
		if (*end == '\0' && n <= (unsigned long)(uid_t)-1 - 1)
			pw = getpwuid((uid_t)n);
	}
	if (pw == NULL) {
		xasprintf(why, "cannot run as user '%s': no such user%s%s",
		    shown, errno != 0 ? ": " : "", errno != 0 ?
		    strerror(errno) : "");
		goto fail;
	}
	if (!user_allowed(o->allowed_users, pw->pw_name, pw->pw_uid)) {
		xasprintf(why, "cannot run as user '%s': not in the agent's "
		    "allowed users (--allowed-users, tasks.allowed_users)",
		    shown);
		goto fail;
	}
	u->name = xstrdup(pw->pw_name);
	u->home = xstrdup(pw->pw_dir != NULL && *pw->pw_dir != '\0' ?
	    pw->pw_dir : "/");
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	ngroups = USER_MAX_GROUPS;
	groups = xcalloc(USER_MAX_GROUPS, sizeof *groups);
	if (getgrouplist(u->name, u->gid, groups, &ngroups) == -1)
		ngroups = USER_MAX_GROUPS;	/* more: the first ones */
	u->groups = groups;
	u->n_groups = (size_t)ngroups;
	free(shown);
	return 0;
fail:
	free(shown);
	return -1;
}

void
user_free(struct run_as *u)
{
	free(u->name);
	free(u->home);
	free(u->groups);
	memset(u, 0, sizeof *u);
}
