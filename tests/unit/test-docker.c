/*
 * test-docker.c: Docker's grammar as the agent checks it, and the argument
 * vectors it builds: what must pass passes, what could inject an option or
 * a command is refused with the field named, and the vectors are exact.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "agent.h"

static void
test_images(void)
{
	static const char *const good[] = {
		"alpine", "alpine:3.19", "library/alpine:latest",
		"docker.io/library/alpine", "ghcr.io/owner/repo/sub:v1.2.3",
		"localhost/app", "localhost:5000/app:dev",
		("registry.example.com:5000/team/app@sha256:"
		"0123456789abcdef0123456789abcdef"),
		"my-app__x.y", "a-----b", "app:TAG_1.0-rc",
	};
	static const char *const bad[] = {
		"", "--privileged", "-x", "Alpine", "alpine;id", "alpine latest",
		"alpine:", ":tag", "alpine@sha256:short", "a..b", "a/", "/a",
		"-alpine", "alpine:-x", "host:notaport/app", "a_-b",
		"alpine\nid", "registry.example.com./app",
	};
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(good); i++)
		if (!docker_check_image(good[i]))
			g_error("'%s' refused", good[i]);
	for (i = 0; i < G_N_ELEMENTS(bad); i++)
		if (docker_check_image(bad[i]))
			g_error("'%s' accepted", bad[i]);
}

static void
test_names_ports_volumes(void)
{
	g_assert_true(docker_check_name("web"));
	g_assert_true(docker_check_name("web_1.blue-green"));
	g_assert_true(docker_check_container("4f9d1c2e8a7b"));
	g_assert_false(docker_check_name(""));
	g_assert_false(docker_check_name("-x"));
	g_assert_false(docker_check_name("_x"));
	g_assert_false(docker_check_container("abc; rm -rf /"));
	g_assert_false(docker_check_container("web --follow"));
	g_assert_false(docker_check_container("web/x"));

	g_assert_true(docker_check_port("80"));
	g_assert_true(docker_check_port("8080:80"));
	g_assert_true(docker_check_port("127.0.0.1:53:53/udp"));
	g_assert_true(docker_check_port("8000-8010:8000-8010/tcp"));
	g_assert_false(docker_check_port("80:80,--privileged"));
	g_assert_false(docker_check_port("--publish-all"));
	g_assert_false(docker_check_port("80/http"));
	g_assert_false(docker_check_port("1:2:3:4"));

	g_assert_true(docker_check_volume("/data:/data"));
	g_assert_true(docker_check_volume("named:/var/lib/x:ro"));
	g_assert_true(docker_check_volume("/a:/b:ro,z"));
	g_assert_false(docker_check_volume("--privileged:/x"));
	g_assert_false(docker_check_volume("/data"));
	g_assert_false(docker_check_volume("/a:relative"));
	g_assert_false(docker_check_volume("/a:/b:r o"));

	g_assert_true(docker_check_env("A=1"));
	g_assert_true(docker_check_env("A="));
	g_assert_false(docker_check_env("A"));
	g_assert_false(docker_check_env("=1"));
	g_assert_false(docker_check_env("--privileged"));

	g_assert_true(docker_check_tail("all"));
	g_assert_true(docker_check_tail("100"));
	g_assert_false(docker_check_tail("-1"));
	g_assert_false(docker_check_tail("10 --follow"));
}

static char *
joined(char **v)
{
	char *s = g_strjoinv("|", v);

	docker_argv_free(v);
	return s;
}

static void
test_run_argv(void)
{
	char *args[] = { (char *)"sh", (char *)"-c", (char *)"echo $A", NULL };
	char *env[] = { (char *)"A=1", NULL };
	char *ports[] = { (char *)"8080:80", NULL };
	char *vols[] = { (char *)"/d:/d:ro", NULL };
	struct docker_op d;
	char *cause = NULL, *s;

	memset(&d, 0, sizeof d);
	d.kind = DOCKER_RUN;
	d.img = (char *)"alpine:3.19";
	d.name = (char *)"";
	d.args = args;
	d.n_args = 3;
	d.env = env;
	d.n_env = 1;
	d.ports = ports;
	d.n_ports = 1;
	d.volumes = vols;
	d.n_volumes = 1;
	d.remove = 1;
	s = joined(docker_argv(&d, "docker", "task 1; x", "gen-name",
	    "/tmp/c.cid", &cause));
	g_assert_cmpstr(s, ==, "docker|run|--rm|--name=gen-name|"
	    "--label=nodelink.task-id=task 1; x|--cidfile=/tmp/c.cid|--env=A=1|"
	    "--publish=8080:80|--volume=/d:/d:ro|alpine:3.19|sh|-c|echo $A");
	g_free(s);

	d.img = (char *)"--privileged";
	g_assert_null(docker_argv(&d, "docker", "t", NULL, NULL, &cause));
	g_assert_cmpstr(cause, ==, "docker_run.img '--privileged' is not an "
	    "image reference");
	free(cause);
}

static void
test_other_argv(void)
{
	struct docker_op d;
	char *cause = NULL, *s;

	memset(&d, 0, sizeof d);
	d.kind = DOCKER_LOGS;
	d.id = (char *)"web";
	d.tail = (char *)"10";
	d.follow = 1;
	d.timestamps = 1;
	s = joined(docker_argv(&d, "podman", "t", NULL, NULL, &cause));
	g_assert_cmpstr(s, ==, "podman|logs|--follow|--tail=10|--timestamps|web");
	g_free(s);

	memset(&d, 0, sizeof d);
	d.kind = DOCKER_STOP;
	d.id = (char *)"web";
	d.stop_timeout = 7;
	s = joined(docker_argv(&d, "docker", "t", NULL, NULL, &cause));
	g_assert_cmpstr(s, ==, "docker|stop|--time=7|web");
	g_free(s);

	d.id = (char *)"web; reboot";
	g_assert_null(docker_argv(&d, "docker", "t", NULL, NULL, &cause));
	g_assert_nonnull(strstr(cause, "docker_stop.id"));
	free(cause);

	memset(&d, 0, sizeof d);
	d.kind = DOCKER_LIST;
	d.all = 1;
	s = joined(docker_argv(&d, "docker", "t", NULL, NULL, &cause));
	g_assert_cmpstr(s, ==, "docker|ps|--all");
	g_free(s);

	memset(&d, 0, sizeof d);
	d.kind = DOCKER_NONE;
	g_assert_null(docker_argv(&d, "docker", "t", NULL, NULL, &cause));
	g_assert_cmpstr(cause, ==, "docker_operation has no operation set");
	free(cause);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/docker/images", test_images);
	g_test_add_func("/docker/names-ports-volumes",
	    test_names_ports_volumes);
	g_test_add_func("/docker/run-argv", test_run_argv);
	g_test_add_func("/docker/other-argv", test_other_argv);
	return g_test_run();
}
