/* Reference for bench/file-passthrough.sh: the C ceiling of reading JSON lines and parsing each with yajl
 * callbacks (no records built, nothing written). Build: cc -O2 yajl_reference.c -lyajl */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

static int on_null(void *c) { (void)c; return 1; }
static int on_bool(void *c, int b) { (void)c; (void)b; return 1; }
static int on_number(void *c, const char *s, size_t l) { (void)c; (void)s; (void)l; return 1; }
static int on_string(void *c, const unsigned char *s, size_t l) { (void)c; (void)s; (void)l; return 1; }
static int on_map(void *c) { (void)c; return 1; }
static int on_key(void *c, const unsigned char *s, size_t l) { (void)c; (void)s; (void)l; return 1; }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FILE\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 1; }
    yajl_callbacks cb = { on_null, on_bool, NULL, NULL, on_number, on_string, on_map, on_key, on_map, on_map, on_map };
    yajl_handle h = yajl_alloc(&cb, NULL, NULL);
    yajl_config(h, yajl_allow_multiple_values, 1);
    char *line = NULL; size_t cap = 0; ssize_t n; long count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (yajl_parse(h, (unsigned char *)line, (size_t)n) != yajl_status_ok) { fprintf(stderr, "parse error\n"); return 1; }
        count++;
    }
    printf("%ld\n", count);
    return 0;
}
