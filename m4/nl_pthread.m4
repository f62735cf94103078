# NL_PTHREAD
# -----------
# Find the flags for POSIX threads: the completion-queue thread needs them.
# Tries -pthread first (gcc, clang), then plain -lpthread.  Sets and
# substitutes PTHREAD_CFLAGS and PTHREAD_LIBS.
AC_DEFUN([NL_PTHREAD], [
  AC_CACHE_CHECK([for the POSIX threads flags], [nl_cv_pthread_flags], [
    nl_cv_pthread_flags=no
    nl_save_CFLAGS=$CFLAGS
    nl_save_LIBS=$LIBS
    for nl_flag in -pthread -lpthread; do
      CFLAGS="$nl_save_CFLAGS $nl_flag"
      LIBS="$nl_save_LIBS $nl_flag"
      AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *f(void *a) { return a; }]],
          [[pthread_t t; if (pthread_create(&t, 0, f, 0) == 0) pthread_join(t, 0);]])],
        [nl_cv_pthread_flags=$nl_flag; break])
    done
    CFLAGS=$nl_save_CFLAGS
    LIBS=$nl_save_LIBS])
  AS_IF([test "x$nl_cv_pthread_flags" = xno],
    [AC_MSG_ERROR([POSIX threads are required])])
  AS_CASE([$nl_cv_pthread_flags],
    [-pthread], [PTHREAD_CFLAGS=-pthread; PTHREAD_LIBS=-pthread],
    [PTHREAD_CFLAGS=; PTHREAD_LIBS=$nl_cv_pthread_flags])
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
