/*
 * A plain C reference for the VtdSim nested 4x4 walk: the same 24 dependent 8-byte loads (4 second-stage walks of
 * 4 levels for the first-stage table GPAs, 4 first-stage entry reads, and a final 4-level second-stage walk of the
 * output GPA), from a flat array standing for physical memory, with the index arithmetic, present and reserved-bit
 * checks, and the permission ANDs the model does. No A/D updates (warm tables), no tracing, no fault reporting.
 *
 * The table layout copies bench/VtdSim.Benchmarks/Setups.cs: host tables from HPA 1 MiB, guest memory at HPA 4 GiB
 * + GPA (here compressed: the flat array only holds the frames that exist), guest tables from GPA 1 MiB, data at
 * GPA 128 MiB, IOVA 0x70001000.
 *
 * Build and run: bench/c/run.sh
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 4096ULL
#define ADDR_MASK 0x000FFFFFFFFFF000ULL
/* second-stage entry bits */
#define SS_R 1ULL
#define SS_W 2ULL
#define SS_PS (1ULL << 7)
#define SS_RSVD_NONLEAF ((1ULL << 11) | (1ULL << 62) | 0x000FC00000000000ULL) /* SNP, TM, bits 51:46 (HAW 46) */
#define SS_RSVD_LEAF ((1ULL << 62) | 0x000FC00000000000ULL)
/* first-stage entry bits */
#define FS_P 1ULL
#define FS_RW 2ULL
#define FS_US 4ULL
#define FS_A (1ULL << 5)
#define FS_PS (1ULL << 7)
#define FS_XD (1ULL << 63)
#define FS_RSVD 0x000FC00000000000ULL

/* Physical memory: a flat array of frames; "HPA" here is an index into it (frame * 4096 + offset). */
#define FRAMES 64
static uint64_t *mem;
static unsigned next_frame = 1;
static uint64_t alloc_frame(void) { return (uint64_t)(next_frame++) * PAGE; }
static uint64_t *entry(uint64_t hpa) { return &mem[hpa >> 3]; }

static unsigned idx(uint64_t a, int level) { return (unsigned)((a >> (12 + 9 * (level - 1))) & 0x1FF); }

/* Builder: second stage GPA -> HPA (4 levels), allocating tables. */
static uint64_t ss_root;
static void ss_map(uint64_t gpa, uint64_t hpa)
{
    uint64_t table = ss_root;
    for (int level = 4; level > 1; level--) {
        uint64_t *e = entry(table + idx(gpa, level) * 8);
        if ((*e & (SS_R | SS_W)) == 0) *e = alloc_frame() | SS_R | SS_W | 4 /* X */;
        table = *e & ADDR_MASK;
    }
    *entry(table + idx(gpa, 1) * 8) = hpa | SS_R | SS_W;
}

/* Guest memory: GPA g lives in a frame we allocate on demand (the model's GuestBase + g). */
#define GUEST_PAGES 16
static uint64_t guest_gpa[GUEST_PAGES], guest_hpa[GUEST_PAGES];
static int guest_count;
static uint64_t guest_to_host(uint64_t gpa)
{
    for (int i = 0; i < guest_count; i++)
        if (guest_gpa[i] == (gpa & ~(PAGE - 1))) return guest_hpa[i] | (gpa & (PAGE - 1));
    guest_gpa[guest_count] = gpa & ~(PAGE - 1);
    guest_hpa[guest_count] = alloc_frame();
    ss_map(guest_gpa[guest_count], guest_hpa[guest_count]);
    return guest_hpa[guest_count++] | (gpa & (PAGE - 1));
}

static uint64_t next_guest_table = 0x100000;
static void fs_map(uint64_t fs_root_gpa, uint64_t va, uint64_t out_gpa)
{
    uint64_t table = fs_root_gpa;
    for (int level = 4; level > 1; level--) {
        uint64_t *e = entry(guest_to_host(table + idx(va, level) * 8));
        if ((*e & FS_P) == 0) {
            uint64_t t = next_guest_table;
            next_guest_table += PAGE;
            guest_to_host(t);
            *e = t | FS_P | FS_RW | FS_US | FS_A; /* warm: A already set */
        }
        table = *e & ADDR_MASK;
    }
    *entry(guest_to_host(table + idx(va, 1) * 8)) = out_gpa | FS_P | FS_RW | FS_US | FS_A;
}

/* One 4-level second-stage walk: 4 dependent loads. Returns the HPA, or ~0 on a fault. */
static inline __attribute__((always_inline)) uint64_t ss_walk(uint64_t gpa, uint64_t need, uint64_t *rights_out)
{
    uint64_t table = ss_root, rights = SS_R | SS_W, e = 0;
    for (int level = 4; level >= 1; level--) {
        e = mem[(table + idx(gpa, level) * 8) >> 3];
        rights &= e;
        if ((rights & (SS_R | SS_W)) == 0) return ~0ULL;                              /* not present */
        if (e & (level == 1 ? SS_RSVD_LEAF : SS_RSVD_NONLEAF)) return ~0ULL;           /* reserved */
        if (level > 1 && (e & SS_PS)) return ~0ULL;                                    /* (no large pages here) */
        table = e & ADDR_MASK;
    }
    if (need & ~rights) return ~0ULL;                                                  /* permission */
    *rights_out = rights;
    return (e & ADDR_MASK) | (gpa & (PAGE - 1));
}

/* The nested walk: 4 x (SS walk of the table GPA + FS entry read) + the final SS walk = 24 loads. */
static uint64_t nested_walk(uint64_t fs_root_gpa, uint64_t va, uint64_t *rights_out)
{
    uint64_t table = fs_root_gpa, e = 0, fs_rights = FS_RW | FS_US, ss_rights;
    for (int level = 4; level >= 1; level--) {
        uint64_t entry_hpa = ss_walk(table + idx(va, level) * 8, SS_R, &ss_rights);
        if (entry_hpa == ~0ULL) return ~0ULL;
        e = mem[entry_hpa >> 3];
        if ((e & FS_P) == 0) return ~0ULL;
        if (e & FS_RSVD) return ~0ULL;
        if (level > 1 && (e & FS_PS)) return ~0ULL;
        if ((e & FS_A) == 0) return ~0ULL; /* would need an A update: never taken with warm tables */
        fs_rights &= e;
        table = e & ADDR_MASK;
    }
    uint64_t out = ss_walk((e & ADDR_MASK) | (va & (PAGE - 1)), SS_R, &ss_rights);
    *rights_out = fs_rights & ss_rights;
    return out;
}

/* Times `iterations` walks; `chained` is a compile-time constant at each call site, so each loop is specialised. */
static inline __attribute__((always_inline)) double time_walks(const int chained, uint64_t fs_root, uint64_t iova,
                                                               long iterations, uint64_t zero, uint64_t *sink)
{
    struct timespec t0, t1;
    uint64_t out = 0, rights = 0, sum = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < iterations; i++) {
        uint64_t va = iova;
        if (chained) va += out & zero;
        __asm__ volatile("" : "+r"(va)); /* the compiler must not hoist the walk out of the loop */
        out = nested_walk(fs_root, va, &rights);
        sum += out ^ rights;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *sink += sum;
    return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (double)iterations;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 20000000L;
    mem = aligned_alloc(PAGE, FRAMES * PAGE);
    memset(mem, 0, FRAMES * PAGE);
    ss_root = alloc_frame();
    uint64_t fs_root = next_guest_table;
    next_guest_table += PAGE;
    guest_to_host(fs_root);
    const uint64_t data_gpa = 0x8000000, iova = 0x70001000;
    guest_to_host(data_gpa);
    fs_map(fs_root, iova, data_gpa);

    uint64_t rights = 0, check = nested_walk(fs_root, iova, &rights);
    if (check != guest_to_host(data_gpa)) {
        fprintf(stderr, "walk self-check failed: got 0x%llx\n", (unsigned long long)check);
        return 1;
    }

    /* Two loops. "independent": each walk starts from the same input, so the CPU may overlap consecutive walks, as it
     * may for the back-to-back calls BenchmarkDotNet makes; this is the like-for-like comparison. "chained": each walk's
     * input depends on the previous walk's output (through a mask the compiler cannot see is zero), so walks cannot
     * overlap and the time is the latency of 24 dependent loads. */
    uint64_t zero = 0;
    __asm__ volatile("" : "+r"(zero));
    double best[2] = {1e30, 1e30};
    uint64_t sink = 0;
    for (int round = 0; round < 7; round++) {
        for (int chained = 0; chained < 2; chained++) {
            double ns = chained ? time_walks(1, fs_root, iova, iterations, zero, &sink)
                                : time_walks(0, fs_root, iova, iterations, zero, &sink);
            printf("round %d %-11s: %.2f ns/walk\n", round, chained ? "chained" : "independent", ns);
            if (round > 0 && ns < best[chained]) best[chained] = ns; /* round 0 is warm-up */
        }
    }
    printf("nested 4x4 walk (24 dependent loads), best of 6 rounds of %ld walks (sink %llx):\n", iterations,
           (unsigned long long)(sink & 0xF));
    printf("  independent walks (like-for-like with BenchmarkDotNet): %.2f ns/walk\n", best[0]);
    printf("  chained walks (pure latency)                          : %.2f ns/walk\n", best[1]);
    free(mem);
    return 0;
}
