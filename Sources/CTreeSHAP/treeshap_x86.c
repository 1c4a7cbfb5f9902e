#include "CTreeSHAP.h"

#include <stddef.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

// Bit-equal to the Swift loop: no fused multiply-add.
#pragma STDC FP_CONTRACT OFF

int ctreeshap_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    // The OS saves the YMM registers (XCR0 bits 1 and 2).
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX2) != 0;
}

int ctreeshap_has_avx512(void) {
    if (!ctreeshap_has_avx2()) return 0;
    unsigned a, b, c, d;
    // The OS saves the opmask and ZMM registers too (XCR0 bits 5 to 7).
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE0) != 0xE0) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX512F) && (b & bit_AVX512VL);
}

// Up to 8 table entries of one leaf per lane: scalar loads (AVX2's gather instruction is slower on the AMD
// cores this runs on).
__attribute__((target("avx2"), always_inline)) static inline __m256 gather8(const float *h, __m256i i) {
    int32_t x[8];
    _mm256_storeu_si256((__m256i *)x, i);
    return _mm256_setr_ps(h[x[0]], h[x[1]], h[x[2]], h[x[3]], h[x[4]], h[x[5]], h[x[6]], h[x[7]]);
}

// The same from a table of 2^D entries held in registers (D ≤ 6: up to eight of them): `permuted` holds each
// register permuted by the index's low three bits, `high[b]` the index's bit b in each lane's sign; a blend per
// higher bit picks the register. `flip`: read with that bit of the index inverted (−1: none). No memory access
// per lane, and the permutes of one index serve every flip of a bit from 3 up.
__attribute__((target("avx2"), always_inline)) static inline __m256 pick(const __m256 *permuted, const __m256 *high, int D, int flip) {
    __m256 p[8];
    int n = D <= 3 ? 1 : 1 << (D - 3);
    for (int r = 0; r < n; r++) p[r] = permuted[r];
    for (int bit = 3; bit < D; bit++) {
        n /= 2;
        for (int r = 0; r < n; r++) {
            p[r] = bit == flip ? _mm256_blendv_ps(p[2 * r + 1], p[2 * r], high[bit]) : _mm256_blendv_ps(p[2 * r], p[2 * r + 1], high[bit]);
        }
    }
    return p[0];
}

__attribute__((target("avx2"), always_inline)) static inline void permute_all(__m256 *out, const __m256 *table, __m256i i, int D) {
    for (int r = 0; r < (D <= 3 ? 1 : 1 << (D - 3)); r++) out[r] = _mm256_permutevar8x32_ps(table[r], i);
}

// φ[feature] (eight lanes) += `entry`.
__attribute__((target("avx2"), always_inline)) static inline void add_to(float *out, size_t lanes, int32_t feature, __m256 entry) {
    float *p = out + (size_t)feature * lanes;
    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), entry));
}

// φ[feature] += path feature k's term: ratio · entry (H without k) where the record agrees on k, `own` (−H)
// where it does not. Bit k of the pattern moved to the sign bit, which blendv selects by.
__attribute__((target("avx2"), always_inline)) static inline void add_term(float *out, size_t lanes, int32_t feature, float ratio,
                                                                           __m256 entry, __m256 own, __m256i pattern, int k) {
    const __m256 agreed = _mm256_mul_ps(_mm256_set1_ps(ratio), entry);
    const __m256 agrees = _mm256_castsi256_ps(_mm256_sll_epi32(pattern, _mm_cvtsi32_si128(31 - k)));
    add_to(out, lanes, feature, _mm256_blendv_ps(own, agreed, agrees));
}

// One leaf (or pair of leaves) for one group of eight records, whose patterns are given. D: the leaf's distinct
// path features when its table fits in registers (1…6), else 0 (the reads go to memory; d is the count then).
// pair: the last feature's term is the second table's entry at the pattern (see TreeSHAPTables).
__attribute__((target("avx2"), always_inline)) static inline void leaf(const ctreeshap_tables *t, int32_t l, int32_t d, int D, int pair,
                                                                        __m256i pattern, size_t lanes, size_t lane0, float *phi) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const int32_t f0 = t->featureStart[l];
    const float *h = t->h + t->hStart[l];
    // Beyond a table of fewer than 8 entries lie the next table's (the last is padded): read, never selected.
    __m256 table[8];
    if (D > 0) {
        for (int r = 0; r < (D <= 3 ? 1 : 1 << (D - 3)); r++) table[r] = _mm256_loadu_ps(h + 8 * r);
    }
    const float *restrict ratios = t->ratios + f0;
    const int32_t *restrict features = t->features + f0;
    float *restrict out = phi + lane0;
    __m256 permuted[8], high[6];
    if (D > 0) {
        permute_all(permuted, table, pattern, D);
        for (int b = 3; b < D; b++) high[b] = _mm256_castsi256_ps(_mm256_sll_epi32(pattern, _mm_cvtsi32_si128(31 - b)));
    }
    // −H[pattern] by a sign flip (the Swift loops give −0 or +0 for a zero H; either adds the same to sums that
    // start at +0).
    const __m256 own = _mm256_xor_ps(D > 0 ? pick(permuted, high, D, -1) : gather8(h, pattern), sign);
    // A constant trip count where the size is: the loop unrolls and the shifts take immediates.
    const int32_t n = (D > 0 ? D : d) - pair;
    for (int32_t k = 0; k < n; k++) {
        __m256 entry;
        if (D == 0) {
            entry = gather8(h, _mm256_xor_si256(pattern, _mm256_set1_epi32(1 << k)));
        } else if (k < 3) {
            // Another low bit: other permutes, the same blends.
            __m256 other[8];
            permute_all(other, table, _mm256_xor_si256(pattern, _mm256_set1_epi32(1 << k)), D);
            entry = pick(other, high, D, -1);
        } else {
            entry = pick(permuted, high, D, k);
        }
        add_term(out, lanes, features[k], ratios[k], entry, own, pattern, k);
    }
    if (pair) {
        const int32_t size = 1 << (D > 0 ? D : d);
        __m256 entry;
        if (D > 0) {
            __m256 second[8], picked[8];
            for (int r = 0; r < (D <= 3 ? 1 : 1 << (D - 3)); r++) second[r] = _mm256_loadu_ps(h + size + 8 * r);
            permute_all(picked, second, pattern, D);
            entry = pick(picked, high, D, -1);
        } else {
            entry = gather8(h + size, pattern);
        }
        add_to(out, lanes, features[n], entry);
    }
}

// Up to this many groups' patterns are built split by split together (what a split costs to decode is paid
// once for all of them); more groups are taken this many at a time.
#define GROUPS_AT_ONCE 8

// How many leaves ahead the loop prefetches a leaf's tables.
#define PREFETCH_AHEAD 8

// The patterns of groups [g0, g0 + count) at entry l: bit k is cleared where a record leaves the path at a split
// on the entry's k-th feature. stack[depth] holds each group's pattern after the path's first `depth` splits
// (stack[0]: all ones); the entry shares its first prefix[l] splits with the one before it, so only its own are
// applied, each result kept for the entries after it. Bits from d up are never cleared on this path: masked.
__attribute__((target("avx2"), always_inline)) static inline void patterns_at(const ctreeshap_tables *t, int32_t l, int32_t d,
                                                                               const int32_t *left, int32_t groups, int32_t g0,
                                                                               int32_t count, __m256i *stack, __m256i *patterns) {
    size_t depth = t->prefix[l];
    for (int32_t j = t->stepStart[l]; j < t->stepStart[l + 1]; j++, depth++) {
        const uint32_t s = t->steps[j];
        // All ones where a record goes the other way than the entry (left: the entry lies left of the split).
        const __m256i away = _mm256_set1_epi32((s & 1) ? -1 : 0);
        const __m256i bit = _mm256_set1_epi32(1 << ((s >> 1) & 0xF));
        const int32_t *row = left + ((size_t)(s >> 5) * (size_t)groups + (size_t)g0) * 8;
        __m256i *from = stack + depth * (size_t)groups + (size_t)g0, *to = from + groups;
        for (int32_t i = 0; i < count; i++) {
            const __m256i goesLeft = _mm256_loadu_si256((const __m256i *)(row + (size_t)i * 8));
            _mm256_storeu_si256(to + i, _mm256_andnot_si256(_mm256_and_si256(_mm256_xor_si256(goesLeft, away), bit),
                                                            _mm256_loadu_si256(from + i)));
        }
    }
    const __m256i mask = _mm256_set1_epi32((1 << d) - 1);
    const __m256i *at = stack + depth * (size_t)groups + (size_t)g0;
    for (int32_t i = 0; i < count; i++) patterns[i] = _mm256_and_si256(_mm256_loadu_si256(at + i), mask);
}

// The tables of a leaf a few ahead (in the next tree near this one's end), on their way while this one is
// summed: between two batches of alerts the rest of the pipeline has pushed them out of the caches, and reading
// them from memory as each leaf is reached cost a third more time.
static inline void prefetch_ahead(const ctreeshap_tables *t, int32_t l) {
    if (l + PREFETCH_AHEAD >= t->leaves) return;
    const int32_t a = l + PREFETCH_AHEAD;
    const int32_t da = t->featureStart[a + 1] - t->featureStart[a];
    const char *h = (const char *)(t->h + t->hStart[a]);
    const int32_t bytes = (t->pairs[a] ? 8 : 4) << da;
    for (int32_t o = 0; o < bytes; o += 64) __builtin_prefetch(h + o);
    __builtin_prefetch(t->steps + t->stepStart[a]);
    __builtin_prefetch(t->features + t->featureStart[a]);
    __builtin_prefetch(t->ratios + t->featureStart[a]);
}

// The AVX-512 leaf: the same operations in the same order as `leaf`, eight lanes, but a table of up to 64 entries
// is read by one or two two-table permutes (vpermt2ps picks from 32 floats) instead of up to 15 AVX2 permutes
// and blends. The tables sit in zmm registers: T[r] holds entries 16r…16r+15.
#define AVX512 __attribute__((target("avx2,avx512f,avx512vl"), always_inline)) static inline

// Entry `i` (per lane) of a table of 2^D entries held in T.
AVX512 __m256 lookup512(const __m512 *T, int D, __m256i i) {
    const __m512i zi = _mm512_castsi256_si512(i);
    if (D <= 4) return _mm512_castps512_ps256(_mm512_permutexvar_ps(zi, T[0]));
    const __m256 low = _mm512_castps512_ps256(_mm512_permutex2var_ps(T[0], zi, T[1]));
    if (D == 5) return low;
    const __m256 high = _mm512_castps512_ps256(_mm512_permutex2var_ps(T[2], zi, T[3]));
    return _mm256_mask_blend_ps(_mm256_test_epi32_mask(i, _mm256_set1_epi32(32)), low, high);
}

AVX512 void load512(__m512 *T, const float *h, int D) {
    for (int r = 0; r < (D <= 4 ? 1 : 1 << (D - 4)); r++) T[r] = _mm512_loadu_ps(h + 16 * r);
}

AVX512 void leaf512(const ctreeshap_tables *t, int32_t l, int32_t d, int D, int pair, __m256i pattern, size_t lanes,
                    size_t lane0, float *phi) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const int32_t f0 = t->featureStart[l];
    const float *h = t->h + t->hStart[l];
    const float *restrict ratios = t->ratios + f0;
    const int32_t *restrict features = t->features + f0;
    float *restrict out = phi + lane0;
    // Beyond a table of fewer than 16 entries lie the next table's (the last is padded): read, never selected.
    __m512 T[4];
    if (D > 0) load512(T, h, D);
    const __m256 own = _mm256_xor_ps(D > 0 ? lookup512(T, D, pattern) : gather8(h, pattern), sign);
    const int32_t n = (D > 0 ? D : d) - pair;
    for (int32_t k = 0; k < n; k++) {
        const __m256i flipped = _mm256_xor_si256(pattern, _mm256_set1_epi32(1 << k));
        const __m256 entry = D > 0 ? lookup512(T, D, flipped) : gather8(h, flipped);
        add_term(out, lanes, features[k], ratios[k], entry, own, pattern, k);
    }
    if (pair) {
        const int32_t size = 1 << (D > 0 ? D : d);
        __m256 entry;
        if (D > 0) {
            __m512 M[4];
            load512(M, h + size, D);
            entry = lookup512(M, D, pattern);
        } else {
            entry = gather8(h + size, pattern);
        }
        add_to(out, lanes, features[n], entry);
    }
}

// Leaf l for every group, through the leaf function LEAF; the switch on its size is taken once per leaf, not
// once per group, and each case is one copy of the loop with its lookups unrolled.
#define LEAF_GROUPS(LEAF, D_, PAIR_)                                                                                  \
    for (int32_t g0 = 0; g0 < groups; g0 += GROUPS_AT_ONCE) {                                                         \
        const int32_t count = groups - g0 < GROUPS_AT_ONCE ? groups - g0 : GROUPS_AT_ONCE;                            \
        patterns_at(t, l, d, left, groups, g0, count, stack, patterns);                                               \
        for (int32_t i = 0; i < count; i++) LEAF(t, l, d, D_, PAIR_, patterns[i], lanes, (size_t)(g0 + i) * 8, phi);   \
    }

#define LEAVES(LEAF)                                                                                                  \
    const size_t lanes = (size_t)groups * 8;                                                                          \
    __m256i patterns[GROUPS_AT_ONCE];                                                                                 \
    __m256i *stack = (__m256i *)stack_;                                                                               \
    for (int32_t g = 0; g < groups; g++) _mm256_storeu_si256(stack + g, _mm256_set1_epi32(-1));                       \
    for (int32_t l = leaf_begin; l < leaf_end; l++) {                                                                 \
        const int32_t d = t->featureStart[l + 1] - t->featureStart[l];                                               \
        prefetch_ahead(t, l);                                                                                         \
        switch (t->pairs[l] ? d + 16 : d) {                                                                           \
        case 0: break;                                                                                                \
        case 1: LEAF_GROUPS(LEAF, 1, 0); break;                                                                       \
        case 2: LEAF_GROUPS(LEAF, 2, 0); break;                                                                       \
        case 3: LEAF_GROUPS(LEAF, 3, 0); break;                                                                       \
        case 4: LEAF_GROUPS(LEAF, 4, 0); break;                                                                       \
        case 5: LEAF_GROUPS(LEAF, 5, 0); break;                                                                       \
        case 6: LEAF_GROUPS(LEAF, 6, 0); break;                                                                       \
        case 17: LEAF_GROUPS(LEAF, 1, 1); break;                                                                      \
        case 18: LEAF_GROUPS(LEAF, 2, 1); break;                                                                      \
        case 19: LEAF_GROUPS(LEAF, 3, 1); break;                                                                      \
        case 20: LEAF_GROUPS(LEAF, 4, 1); break;                                                                      \
        case 21: LEAF_GROUPS(LEAF, 5, 1); break;                                                                      \
        case 22: LEAF_GROUPS(LEAF, 6, 1); break;                                                                      \
        default: if (t->pairs[l]) { LEAF_GROUPS(LEAF, 0, 1); } else { LEAF_GROUPS(LEAF, 0, 0); } break;               \
        }                                                                                                             \
    }

__attribute__((target("avx2")))
void ctreeshap_leaves_avx2(const ctreeshap_tables *t, int32_t leaf_begin, int32_t leaf_end,
                           const int32_t *left, int32_t groups, float *phi, int32_t *stack_) {
    LEAVES(leaf)
}

__attribute__((target("avx2,avx512f,avx512vl")))
void ctreeshap_leaves_avx512(const ctreeshap_tables *t, int32_t leaf_begin, int32_t leaf_end,
                             const int32_t *left, int32_t groups, float *phi, int32_t *stack_) {
    LEAVES(leaf512)
}

// The by-record pass, up to RECORDS_AT_ONCE records at a time. A record's decisions at a tree's splits are one
// 64-bit word (16 compares per instruction); an entry's pattern is then one test of that word against the
// splits on each of its features (bit k: no split on feature k disagrees), where the eight-record loops apply the
// path split by split. Lane k holds the entry's k-th feature's term, the same operations on the same values as
// leaf512's lane of that record; a permute moves it to lane `feature` of the record's sums for the tree. An
// entry's data is read once for all the records, and no branch depends on the entry: a table of up to 64
// entries is read as if it had 64 (what lies beyond is never selected).
#define RECORDS_AT_ONCE 8

__attribute__((target("avx2,avx512f,avx512vl")))
void ctreeshap_records_avx512(const ctreeshap_tables *t, const ctreeshap_record_tables *r, const float *rows,
                              int32_t count, int32_t width, double *phi) {
    const __m512i bits = _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i sign = _mm512_set1_epi32((int)0x80000000), bit5 = _mm512_set1_epi32(32);
    const __mmask16 features = (__mmask16)((1u << width) - 1);
    for (int32_t first = 0; first < count; first += RECORDS_AT_ONCE) {
        const int32_t n_records = count - first < RECORDS_AT_ONCE ? count - first : RECORDS_AT_ONCE;
        __m512 x[RECORDS_AT_ONCE];
        // Each record's totals over the trees: features 0-7, then 8-15.
        __m512d low[RECORDS_AT_ONCE], high[RECORDS_AT_ONCE];
        for (int32_t i = 0; i < n_records; i++) {
            x[i] = _mm512_maskz_loadu_ps(features, rows + (size_t)(first + i) * (size_t)width);
            low[i] = _mm512_setzero_pd();
            high[i] = _mm512_setzero_pd();
        }
        for (int32_t tree = 0; tree < r->trees; tree++) {
            // Bit j: the record goes left at split j (x < threshold; missing: the default).
            uint64_t left[RECORDS_AT_ONCE];
            __m512 sums[RECORDS_AT_ONCE];
            for (int32_t i = 0; i < n_records; i++) {
                left[i] = 0;
                sums[i] = _mm512_setzero_ps();
            }
            for (int32_t b = r->blockStart[tree], j = 0; b < r->blockStart[tree + 1]; b++, j += 16) {
                const __m512i splitFeatures = _mm512_loadu_si512(r->splitFeatures + 16 * (size_t)b);
                const __m512 thresholds = _mm512_loadu_ps(r->thresholds + 16 * (size_t)b);
                const __mmask16 defaultLeft = r->defaultLeft[b];
                for (int32_t i = 0; i < n_records; i++) {
                    const __m512 v = _mm512_permutexvar_ps(splitFeatures, x[i]);
                    const __mmask16 less = _mm512_cmp_ps_mask(v, thresholds, _CMP_LT_OQ);
                    const __mmask16 missing = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                    left[i] |= (uint64_t)(uint16_t)(less | (missing & defaultLeft)) << j;
                }
            }
            for (int32_t l = r->treeLeafStart[tree]; l < r->treeLeafStart[tree + 1]; l++) {
                const int32_t f0 = t->featureStart[l], d = t->featureStart[l + 1] - f0, pair = t->pairs[l], n = d - pair;
                const float *h = t->h + t->hStart[l];
                // The tables a few entries ahead (see prefetch_ahead): between two batches of alerts the rest
                // of the pipeline has pushed them out of the caches.
                if (l + PREFETCH_AHEAD < t->leaves) {
                    const char *ahead = (const char *)(t->h + t->hStart[l + PREFETCH_AHEAD]);
                    _mm_prefetch(ahead, _MM_HINT_T0);
                    _mm_prefetch(ahead + 64, _MM_HINT_T0);
                    _mm_prefetch(ahead + 128, _MM_HINT_T0);
                    _mm_prefetch(ahead + 192, _MM_HINT_T0);
                    _mm_prefetch((const char *)(r->featureSplits + 8 * (size_t)(l + PREFETCH_AHEAD)), _MM_HINT_T0);
                }
                const __m512 T0 = _mm512_loadu_ps(h), T1 = _mm512_loadu_ps(h + 16), T2 = _mm512_loadu_ps(h + 32), T3 = _mm512_loadu_ps(h + 48);
                const __m512i featureSplits = _mm512_loadu_si512(r->featureSplits + 8 * (size_t)l);
                const uint64_t side = r->sides[l];
                const __m512 ratios = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), t->ratios + f0);
                const __m512i lane = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(r->lane + 16 * (size_t)l)));
                const __mmask16 present = r->laneMask[l], own_term = (__mmask16)(pair << n);
                const int32_t dmask = (1 << d) - 1, second = pair << d;
                for (int32_t i = 0; i < n_records; i++) {
                    // Bit k: no split on the entry's feature k sends the record the other way.
                    const int32_t p = (int32_t)_mm512_testn_epi64_mask(_mm512_set1_epi64((long long)(left[i] ^ side)), featureSplits) & dmask;
                    const __m512i at = _mm512_set1_epi32(p), flipped = _mm512_xor_si512(at, bits);
                    const __m512 entry = _mm512_mask_blend_ps(_mm512_test_epi32_mask(flipped, bit5), _mm512_permutex2var_ps(T0, flipped, T1),
                                                              _mm512_permutex2var_ps(T2, flipped, T3));
                    // −H[p] as leaf512's: a sign flip.
                    const __m512 own = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_set1_ps(h[p])), sign));
                    __m512 term = _mm512_mask_blend_ps(_mm512_test_epi32_mask(at, bits), own, _mm512_mul_ps(ratios, entry));
                    // A pair's own split: lane n takes the second table's entry at p.
                    term = _mm512_mask_mov_ps(term, own_term, _mm512_set1_ps(h[second + p]));
                    sums[i] = _mm512_mask_add_ps(sums[i], present, sums[i], _mm512_permutexvar_ps(lane, term));
                }
            }
            // The tree's float sums into the double totals, as XGBoostModel.fold.
            for (int32_t i = 0; i < n_records; i++) {
                low[i] = _mm512_add_pd(low[i], _mm512_cvtps_pd(_mm512_castps512_ps256(sums[i])));
                high[i] = _mm512_add_pd(high[i], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sums[i]), 1))));
            }
        }
        for (int32_t i = 0; i < n_records; i++) {
            double out[16];
            _mm512_storeu_pd(out, low[i]);
            _mm512_storeu_pd(out + 8, high[i]);
            for (int32_t f = 0; f < width; f++) phi[(size_t)(first + i) * (size_t)width + (size_t)f] += out[f];
        }
    }
}

__attribute__((target("avx2")))
void ctreeshap_decide_avx2(const ctreeshap_split *splits, int32_t count, const float *columns, int32_t width,
                           int32_t groups, int32_t *left) {
    for (int32_t n = 0; n < count; n++) {
        const __m256 threshold = _mm256_set1_ps(splits[n].threshold);
        const __m256 defaultLeft = _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)splits[n].node >> 31));
        const size_t node = splits[n].node & 0x7FFFFFFFu, feature = (size_t)splits[n].feature;
        for (int32_t g = 0; g < groups; g++) {
            const __m256 v = _mm256_loadu_ps(columns + ((size_t)g * (size_t)width + feature) * 8);
            // Ordered and quiet: false for NaN, and −0 is not less than +0 (XGBoost's x < threshold).
            const __m256 less = _mm256_cmp_ps(v, threshold, _CMP_LT_OQ);
            const __m256 missing = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
            _mm256_storeu_ps((float *)(left + (node * (size_t)groups + (size_t)g) * 8), _mm256_or_ps(less, _mm256_and_ps(missing, defaultLeft)));
        }
    }
}

#else

int ctreeshap_has_avx2(void) { return 0; }
int ctreeshap_has_avx512(void) { return 0; }

void ctreeshap_leaves_avx512(const ctreeshap_tables *t, int32_t leaf_begin, int32_t leaf_end,
                             const int32_t *left, int32_t groups, float *phi, int32_t *stack) {
    (void)t; (void)leaf_begin; (void)leaf_end; (void)left; (void)groups; (void)phi; (void)stack;
    abort();
}

void ctreeshap_records_avx512(const ctreeshap_tables *t, const ctreeshap_record_tables *r, const float *rows,
                              int32_t count, int32_t width, double *phi) {
    (void)t; (void)r; (void)rows; (void)count; (void)width; (void)phi;
    abort();
}

void ctreeshap_decide_avx2(const ctreeshap_split *splits, int32_t count, const float *columns, int32_t width,
                           int32_t groups, int32_t *left) {
    (void)splits; (void)count; (void)columns; (void)width; (void)groups; (void)left;
    abort();
}

// Never called (ctreeshap_has_avx2 says no); a call would return wrong sums, so it stops the process instead.
void ctreeshap_leaves_avx2(const ctreeshap_tables *t, int32_t leaf_begin, int32_t leaf_end,
                           const int32_t *left, int32_t groups, float *phi, int32_t *stack) {
    (void)t; (void)leaf_begin; (void)leaf_end; (void)left; (void)groups; (void)phi; (void)stack;
    abort();
}

#endif
