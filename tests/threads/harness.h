/* What the plain (non-Criterion) thread programs share: threads.c and paths.c run
 * where Criterion cannot start (ThreadSanitizer), so they bring their own checks, a
 * clock, a descriptor count and a TAP runner with a watchdog. One program per file:
 * the state here is per program. */
#ifndef SK_THREADS_HARNESS_H
#define SK_THREADS_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

static int g_failed_checks;

/* A failed check prints where and why, and ends the case (its function returns). */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            check_failed(__LINE__, #cond, __VA_ARGS__);                                   \
            return;                                                                       \
        }                                                                                 \
    } while (0)

static inline void check_failed(int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "#   line %d: %s: ", line, expr);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    g_failed_checks++;
}

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Open descriptors, but the three standard ones. */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3;
}

struct test_case {
    const char *name;
    void (*fn)(void);
    int check_fds; /* a case that leaves a descriptor open fails */
};

static inline void on_watchdog(int sig)
{
    static const char msg[] = "Bail out! the watchdog fired (a case hung)\n";
    (void)sig;
    (void)!write(STDOUT_FILENO, msg, sizeof msg - 1);
    _exit(2);
}

/* Runs every case, or those whose name contains an argument, in TAP; a watchdog of
 * watchdog_s seconds ends a hung run. Returns the exit status: 0 when all passed. */
static inline int run_cases(const char *program, const struct test_case *cases, size_t n, int argc, char **argv,
                            unsigned watchdog_s)
{
    int failed = 0, run = 0;

    signal(SIGALRM, on_watchdog);
    alarm(watchdog_s);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# libsockkit %s, %s\n", sk_version_string(), program);
    for (size_t i = 0; i < n; i++) {
        int selected = argc < 2, before = g_failed_checks, fds;
        int64_t t0;
        for (int a = 1; a < argc; a++)
            if (strstr(cases[i].name, argv[a]) != NULL)
                selected = 1;
        if (!selected)
            continue;
        run++;
        fds = count_fds();
        t0 = now_ms();
        cases[i].fn();
        if (cases[i].check_fds && g_failed_checks == before && count_fds() != fds) {
            printf("#   descriptors leaked: %d open before, %d after\n", fds, count_fds());
            g_failed_checks++;
        }
        if (g_failed_checks != before)
            failed++;
        printf("%s %d - %s (%lld ms)\n", g_failed_checks != before ? "not ok" : "ok", run, cases[i].name,
               (long long)(now_ms() - t0));
    }
    printf("1..%d\n", run);
    if (run == 0) {
        printf("# no case matched\n");
        return 1;
    }
    printf("# %d of %d cases failed\n", failed, run);
    return failed != 0;
}

#endif
