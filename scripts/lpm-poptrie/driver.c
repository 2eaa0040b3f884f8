/*
 * Same-run comparison driver for the Poptrie C reference (github pixos/poptrie).
 *
 * This file is ferroute's own code; it contains none of Poptrie's. It only
 * includes Poptrie's public header and is linked, by
 * scripts/bench-lpm-poptrie, against Poptrie sources from a checkout the user
 * supplies (Poptrie's licence allows evaluation only: it is never copied into
 * this repository).
 *
 * Usage: driver DIR PASSES
 *   DIR holds what `cargo run --release --example lpm_poptrie -- prepare DIR`
 *   wrote: v4.routes / v6.routes ("prefix/len next-hop" lines) and the query
 *   files {v4,v6}-{uniform,inside,sequential}.q (raw little-endian u32 / u128).
 * It builds one Poptrie per family, times PASSES passes over each query file,
 * and prints lines the script collects:
 *   BUILD poptrie FAMILY SECONDS
 *   MEM poptrie FAMILY BYTES          (direct array + reachable nodes + leaves)
 *   RESULT poptrie FAMILY TRACE MLPS CHECKSUM   (MLPS of the fastest pass)
 * and writes every answer to DIR/ans-poptrie-FAMILY-TRACE.bin (u32 LE,
 * 0xffffffff = no route) for the cross-check.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poptrie.h"

/* Poptrie's direct-pointing width is a compile-time constant of its header. */
#define DIRECT_ENTRIES ((size_t)1 << POPTRIE_S)

static const char *traces[] = {"uniform", "inside", "sequential"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "lpm-poptrie driver: %s: %s\n", what, detail);
    exit(1);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Next hops travel as pointers: id + 1, so that NULL means no route. */
static void *nh_ptr(unsigned long nh) { return (void *)(uintptr_t)(nh + 1); }

static struct poptrie *load(const char *dir, int v6) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.routes", dir, v6 ? "v6" : "v4");
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open", path);
    /* The sizes Poptrie's own tests use: 2^19 nodes, 2^22 leaves. */
    struct poptrie *pt = poptrie_init(NULL, 19, 22);
    if (!pt) die("poptrie_init failed", path);
    char line[256], addr[128];
    int len;
    unsigned long nh;
    long n = 0;
    double t0 = now();
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%127[^/]/%d %lu", addr, &len, &nh) != 3) die("bad route line", line);
        int ret;
        if (v6) {
            unsigned char b[16];
            if (inet_pton(AF_INET6, addr, b) != 1) die("bad IPv6 prefix", line);
            __uint128_t k = 0;
            for (int i = 0; i < 16; i++) k = (k << 8) | b[i];
            ret = poptrie6_route_add(pt, k, len, nh_ptr(nh));
        } else {
            struct in_addr a;
            if (inet_pton(AF_INET, addr, &a) != 1) die("bad IPv4 prefix", line);
            ret = poptrie_route_add(pt, ntohl(a.s_addr), len, nh_ptr(nh));
        }
        if (ret < 0) die("poptrie route_add failed", line);
        n++;
    }
    double t = now() - t0;
    fclose(f);
    printf("BUILD poptrie %s %.4f %ld\n", v6 ? "v6" : "v4", t, n);
    return pt;
}

/* Bytes a lookup can touch: the direct array plus the nodes and leaves
   reachable from it (buddy-allocator slack is not counted). */
static size_t lookup_bytes(const struct poptrie *pt) {
    size_t nodes = 0, leaves = 0;
    size_t cap = 1 << 16, top = 0;
    uint32_t *stack = malloc(cap * sizeof *stack);
    for (size_t i = 0; i < DIRECT_ENTRIES; i++)
        if (!(pt->dir[i] >> 31)) {
            if (top == cap) stack = realloc(stack, (cap *= 2) * sizeof *stack);
            stack[top++] = pt->dir[i];
        }
    while (top) {
        const poptrie_node_t *node = &pt->nodes[stack[--top]];
        nodes++;
        leaves += (size_t)__builtin_popcountll(node->leafvec);
        int kids = __builtin_popcountll(node->vector);
        for (int c = 0; c < kids; c++) {
            if (top == cap) stack = realloc(stack, (cap *= 2) * sizeof *stack);
            stack[top++] = node->base1 + (uint32_t)c;
        }
    }
    free(stack);
    return DIRECT_ENTRIES * sizeof(uint32_t) + nodes * sizeof(poptrie_node_t) +
           leaves * sizeof(poptrie_leaf_t);
}

static uint32_t answer(void *p) { return p ? (uint32_t)((uintptr_t)p - 1) : 0xffffffffu; }

/* One pass: the sum of (next hop + 1), misses counting 0, as ferroute's
   driver. Not inlined, so that callgrind can count one pass's instructions
   (Poptrie's lookup is still inlined into it). */
__attribute__((noinline)) static uint64_t pass_v4(struct poptrie *pt, const uint32_t *q, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += (uintptr_t)poptrie_lookup(pt, q[i]);
    return s;
}

__attribute__((noinline)) static uint64_t pass_v6(struct poptrie *pt, const __uint128_t *q, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += (uintptr_t)poptrie6_lookup(pt, q[i]);
    return s;
}

static void run(const char *dir, int v6, int passes) {
    const char *fam = v6 ? "v6" : "v4";
    struct poptrie *pt = load(dir, v6);
    printf("MEM poptrie %s %zu\n", fam, lookup_bytes(pt));
    for (int t = 0; t < 3; t++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s-%s.q", dir, fam, traces[t]);
        size_t bytes;
        void *q = read_file(path, &bytes);
        size_t n = bytes / (v6 ? 16 : 4);
        uint32_t *ans = malloc(n * sizeof *ans);
        for (size_t i = 0; i < n; i++)
            ans[i] = answer(v6 ? poptrie6_lookup(pt, ((__uint128_t *)q)[i])
                               : poptrie_lookup(pt, ((uint32_t *)q)[i]));
        snprintf(path, sizeof path, "%s/ans-poptrie-%s-%s.bin", dir, fam, traces[t]);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(ans, sizeof *ans, n, f) != n || fclose(f)) die("cannot write", path);
        /* The fastest pass, as ferroute's driver: a shared machine only adds time. */
        uint64_t sum = 0;
        double best = 1e30;
        for (int p = 0; p < passes; p++) {
            double t0 = now();
            sum = v6 ? pass_v6(pt, q, n) : pass_v4(pt, q, n);
            double secs = now() - t0;
            if (secs < best) best = secs;
        }
        printf("RESULT poptrie %s %s %.2f %llu\n", fam, traces[t], (double)n / best / 1e6,
               (unsigned long long)sum);
        free(ans);
        free(q);
    }
    poptrie_release(pt);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR PASSES\n", argv[0]);
        return 2;
    }
    int passes = atoi(argv[2]);
    if (passes < 1) die("PASSES must be at least 1", argv[2]);
    run(argv[1], 0, passes);
    run(argv[1], 1, passes);
    return 0;
}
