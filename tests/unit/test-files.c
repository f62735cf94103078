/*
 * test-files.c: file transfer's pure parts and its confinement.  Upload
 * chunks are written, ignored (repeats), or fail (gaps, size); a path
 * is opened only beneath a root, with every way out refused.
 */

#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "agent.h"

static void
test_chunks(void)
{
	g_assert_cmpint(files_chunk_verdict(0, 0, 10, 100), ==, CHUNK_WRITE);
	g_assert_cmpint(files_chunk_verdict(10, 0, 10, 100), ==, CHUNK_REPEAT);
	g_assert_cmpint(files_chunk_verdict(10, 5, 5, 100), ==, CHUNK_REPEAT);
	g_assert_cmpint(files_chunk_verdict(10, 5, 10, 100), ==, CHUNK_GAP);
	g_assert_cmpint(files_chunk_verdict(10, 11, 1, 100), ==, CHUNK_GAP);
	g_assert_cmpint(files_chunk_verdict(10, 10, 0, 100), ==, CHUNK_WRITE);
	g_assert_cmpint(files_chunk_verdict(95, 95, 10, 100), ==,
	    CHUNK_OVER_MAX);
	g_assert_cmpint(files_chunk_verdict(0, 0, FILES_CHUNK_MAX + 1,
	    UINT64_MAX), ==, CHUNK_TOO_BIG);
}

static char *root;

static int
opens(const struct options *o, const char *rel, enum fail_reason *why,
    char **text)
{
	char *path;
	int fd;

	/* "~/x" is x in the test's tree; anything else is as given. */
	path = strncmp(rel, "~/", 2) == 0 ? g_strdup_printf("%s%s", root,
	    rel + 1) : g_strdup(rel);
	*text = NULL;
	fd = files_open_read(o, path, text, why);
	g_free(path);
	if (fd != -1)
		close(fd);
	return fd != -1;
}

static void
refused(const struct options *o, const char *rel, const char *words)
{
	enum fail_reason why = REASON_NONE;
	char *text;

	g_assert_false(opens(o, rel, &why, &text));
	g_assert_cmpint(why, ==, REASON_DENIED);
	if (strstr(text, words) == NULL)
		g_error("%s: '%s' lacks '%s'", rel, text, words);
	free(text);
}

static void
confinement(int openat2)
{
	struct options o;
	enum fail_reason why;
	const char *name;
	char *text, *path, cmd[1024];
	int fd;

	root = g_strdup("/tmp/nodelink-test-files-XXXXXX");
	g_assert_nonnull(g_mkdtemp(root));
	snprintf(cmd, sizeof cmd, "cd %s && mkdir -p root/a out && "
	    "echo x > root/a/f && echo secret > out/s && ln -s ../out "
	    "root/rel && ln -s %s/out root/abs && ln -s f root/a/inside && "
	    "mkfifo root/fifo", root, root);
	g_assert_cmpint(system(cmd), ==, 0);
	memset(&o, 0, sizeof o);
	files_use_openat2(openat2);
	refused(&o, "~/root/a/f", "file transfer is disabled");
	o.file_roots = g_strdup_printf("%s/root", root);
	g_assert_true(opens(&o, "~/root/a/f", &why, &text));
	/* A symlink inside the root: openat2 follows it, the walk does not. */
	if (!opens(&o, "~/root/a/inside", &why, &text)) {
		g_assert_cmpint(why, ==, REASON_DENIED);
		free(text);
	}
	refused(&o, "~/root/a/../a/f", "'..'");
	refused(&o, "~/out/s", "outside the file roots");
	refused(&o, "~/rootx/a/f", "outside the file roots");
	refused(&o, "relative", "not an absolute path");
	refused(&o, "~/root/rel/s", "symlink");
	refused(&o, "~/root/abs/s", "symlink");
	refused(&o, "~/root/fifo", "not a regular file");
	refused(&o, "~/root", "a file root itself");
	refused(&o, "/proc/self/environ", "outside the file roots");
	/* A parent directory beneath the root, and its last component. */
	path = g_strdup_printf("%s/root/a/new", root);
	text = NULL;
	fd = files_open_parent(&o, path, &name, &text, &why);
	g_assert_cmpint(fd, !=, -1);
	g_assert_cmpstr(name, ==, "new");
	close(fd);
	g_free(path);
	path = g_strdup_printf("%s/root/rel/new", root);
	g_assert_cmpint(files_open_parent(&o, path, &name, &text, &why), ==,
	    -1);
	g_assert_cmpint(why, ==, REASON_DENIED);
	free(text);
	g_free(path);
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(o.file_roots);
	g_free(root);
}

static void
test_confinement(void)
{
	confinement(1);		/* openat2, where the kernel has it */
}

static void
test_confinement_walk(void)
{
	confinement(0);		/* the component walk, everywhere else */
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_set_level(LOG_ERROR);
	g_test_add_func("/files/chunks", test_chunks);
	g_test_add_func("/files/confinement", test_confinement);
	g_test_add_func("/files/confinement-walk", test_confinement_walk);
	return g_test_run();
}
