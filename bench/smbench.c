/*
 * smbench - a small socketmap load generator: one connection, strictly
 * request/reply (as Postfix's trivial-rewrite uses a socketmap), keys
 * drawn round-robin from a file.  Prints requests, rps and p50/p99.
 *
 *   cc -O2 -o smbench bench/smbench.c
 *   smbench -n 200000 -k keys.txt unix:/path/to/socket [table]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = 100000;
    const char *keyfile = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:k:")) != -1) {
        if (opt == 'n')
            n = atol(optarg);
        else if (opt == 'k')
            keyfile = optarg;
    }
    if (optind >= argc || !keyfile || strncmp(argv[optind], "unix:", 5) != 0) {
        fprintf(stderr, "usage: smbench -n N -k KEYFILE unix:/path [table]\n");
        return 2;
    }
    const char *table = optind + 1 < argc ? argv[optind + 1] : "transport";

    /* keys */
    FILE *f = fopen(keyfile, "r");
    if (!f) {
        perror(keyfile);
        return 2;
    }
    size_t cap = 1024, count = 0;
    char **keys = malloc(cap * sizeof *keys), line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (count == cap)
            keys = realloc(keys, (cap *= 2) * sizeof *keys);
        keys[count++] = strdup(line);
    }
    fclose(f);

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", argv[optind] + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        perror("connect");
        return 2;
    }
    double *lat = malloc(n * sizeof *lat), start = now();
    long found = 0, errors = 0;
    char req[600], rep[600];
    for (long i = 0; i < n; i++) {
        const char *key = keys[i % count];
        int plen = snprintf(req + 8, sizeof req - 8, "%s %s", table, key);
        int hlen = snprintf(req, 8, "%d:", plen);
        memmove(req + hlen, req + 8, plen);
        req[hlen + plen] = ',';
        double t0 = now();
        if (write(fd, req, hlen + plen + 1) != hlen + plen + 1) {
            errors++;
            break;
        }
        size_t got = 0;
        for (;;) {
            ssize_t r = read(fd, rep + got, sizeof rep - 1 - got);
            if (r <= 0) {
                errors++;
                break;
            }
            got += r;
            if (rep[got - 1] == ',')
                break;
        }
        lat[i] = now() - t0;
        rep[got] = 0;
        found += strstr(rep, ":OK ") != NULL;
    }
    double secs = now() - start;
    qsort(lat, n, sizeof *lat, cmp);
    printf("requests=%ld errors=%ld found=%ld seconds=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f\n", n, errors,
           found, secs, n / secs, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6);
    return errors != 0;
}
