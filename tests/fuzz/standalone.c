/* A main() for the fuzz harnesses where libFuzzer is not there (gcc, or SOCKKIT_FUZZ
 * off): runs LLVMFuzzerTestOneInput once on each file named, or on every file of each
 * directory named, so that the seed corpus is a regression test in every build (and
 * under the sanitizers and Valgrind). Exit status 0 when every input passed (a failed
 * check aborts), 1 when an input could not be read or none was found. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t size = 0, cap = 0;
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t k;
        if (size == cap) {
            unsigned char *p = realloc(data, cap ? cap * 2 : 4096);
            if (p == NULL) {
                free(data);
                fclose(f);
                return -1;
            }
            data = p;
            cap = cap ? cap * 2 : 4096;
        }
        k = fread(data + size, 1, cap - size, f);
        size += k;
        if (k == 0)
            break;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int inputs = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            if (d == NULL) {
                failed = 1;
                continue;
            }
            while ((e = readdir(d)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                if (run_file(path) != 0)
                    failed = 1;
                else
                    inputs++;
            }
            closedir(d);
        } else if (run_file(argv[i]) != 0) {
            failed = 1;
        } else {
            inputs++;
        }
    }
    printf("%d inputs passed\n", inputs);
    return failed || inputs == 0;
}
