/*
 * smbench - a small socketmap load generator: C connections (one thread
 * each, default 1), each strictly request/reply as Postfix's
 * trivial-rewrite uses a socketmap, keys drawn round-robin from a file.
 * Prints requests, rps and p50/p99 over all connections.
 *
 *   cc -O2 -pthread -o smbench bench/smbench.c
 *   smbench -n 200000 [-c 10] -k keys.txt unix:/path/to/socket [table]
 */
#include <pthread.h>
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

typedef struct {
    const struct sockaddr_un *sun;
    const char *table;
    char **keys;
    size_t count;
    double *lat;
    long from, to, found, errors;
} Worker;

static void *work(void *arg)
{
    Worker *w = arg;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (const struct sockaddr *)w->sun, sizeof *w->sun) < 0) {
        perror("connect");
        w->errors = w->to - w->from;
        return NULL;
    }
    char req[600], rep[600];
    for (long i = w->from; i < w->to; i++) {
        const char *key = w->keys[i % w->count];
        int plen = snprintf(req + 8, sizeof req - 8, "%s %s", w->table, key);
        int hlen = snprintf(req, 8, "%d:", plen);
        memmove(req + hlen, req + 8, plen);
        req[hlen + plen] = ',';
        double t0 = now();
        if (write(fd, req, hlen + plen + 1) != hlen + plen + 1) {
            w->errors++;
            break;
        }
        size_t got = 0;
        for (;;) {
            ssize_t r = read(fd, rep + got, sizeof rep - 1 - got);
            if (r <= 0) {
                w->errors++;
                break;
            }
            got += r;
            if (rep[got - 1] == ',')
                break;
        }
        w->lat[i] = now() - t0;
        rep[got] = 0;
        w->found += strstr(rep, ":OK ") != NULL;
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    long n = 100000;
    int conns = 1;
    const char *keyfile = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:k:c:")) != -1) {
        if (opt == 'n')
            n = atol(optarg);
        else if (opt == 'k')
            keyfile = optarg;
        else if (opt == 'c')
            conns = atoi(optarg) > 0 ? atoi(optarg) : 1;
    }
    if (optind >= argc || !keyfile || strncmp(argv[optind], "unix:", 5) != 0) {
        fprintf(stderr, "usage: smbench -n N [-c CONNECTIONS] -k KEYFILE unix:/path [table]\n");
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
    double *lat = malloc(n * sizeof *lat);
    pthread_t *threads = malloc(conns * sizeof *threads);
    Worker *w = calloc(conns, sizeof *w);
    double start = now();
    for (int c = 0; c < conns; c++) {
        w[c] = (Worker){.sun = &sun, .table = table, .keys = keys, .count = count, .lat = lat,
                        .from = n * c / conns, .to = n * (c + 1) / conns};
        pthread_create(&threads[c], NULL, work, &w[c]);
    }
    long found = 0, errors = 0;
    for (int c = 0; c < conns; c++) {
        pthread_join(threads[c], NULL);
        found += w[c].found;
        errors += w[c].errors;
    }
    double secs = now() - start;
    qsort(lat, n, sizeof *lat, cmp);
    printf("requests=%ld errors=%ld found=%ld seconds=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f\n", n, errors,
           found, secs, n / secs, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6);
    return errors != 0;
}
