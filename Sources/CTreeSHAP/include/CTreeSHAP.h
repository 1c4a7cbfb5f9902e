// The leaf loop of ModelCore's eight-records-at-a-time TreeSHAP (XGBoostModel+TreeSHAP.swift) in AVX2. A
// leaf's table (up to 64 floats) is held in registers and read by permutes instead of one load per record and
// entry; patterns, selections and sums are one 256-bit instruction each where Swift's SIMD types compile to SSE
// here. Same operations in the same order as the Swift loop, so the results are equal bit for bit; a CPU
// without AVX2 takes the Swift loop.
#pragma once
#include <stdint.h>

/// The per-leaf tables (TreeSHAPTables), flat, as the Swift side holds them.
typedef struct {
    const int32_t *features;
    const float *ratios;
    const int32_t *featureStart;
    const int32_t *hStart;
    const float *h;
    /// 1 where the entry is two sibling leaves: its last feature's term is read from a second table (M) after H.
    const uint8_t *pairs;
    /// Each entry's path splits after the first prefix[l], which it shares with the entry before it in its tree:
    /// steps[stepStart[l]] up to steps[stepStart[l + 1]], each `node << 5 | slot << 1 | left` (node relative to
    /// its tree's first; slot: the split's feature's position among the entry's features; left: the entry lies
    /// left of it).
    const uint32_t *steps;
    const int32_t *stepStart;
    const uint8_t *prefix;
    /// How many leaves (and pairs) all trees have.
    int32_t leaves;
} ctreeshap_tables;

/// What the one-record pass (ctreeshap_records_avx512) adds to the tables, for models it can take: 16 features
/// or fewer, numeric splits only, at most 64 splits per tree, at most 6 distinct features per entry.
typedef struct {
    /// Per tree t, its splits in blocks of 16 (padded with thresholds of NaN, which no value is less than):
    /// blocks [blockStart[t], blockStart[t + 1]); split j of a tree is lane j % 16 of its block j / 16.
    const int32_t *blockStart;
    const float *thresholds;
    const int32_t *splitFeatures;
    /// Per block, bit i set where lane i's missing values go left.
    const uint16_t *defaultLeft;
    /// Per entry: bit j set where the entry lies left of its tree's split j (on its path), and for each of its
    /// (up to 8) features k, the splits of its path on that feature (bit j: split j).
    const uint64_t *sides;
    const uint64_t *featureSplits;
    /// Per entry: lane[16 l + f] = k where the entry's k-th feature is feature f; bit f of laneMask[l] set where
    /// the entry has feature f.
    const uint8_t *lane;
    const uint16_t *laneMask;
    /// Per tree, its entries: [treeLeafStart[t], treeLeafStart[t + 1]).
    const int32_t *treeLeafStart;
    int32_t trees;
} ctreeshap_record_tables;

/// Contributions of `count` records, their `width` (≤ 16) values each one after another in `rows` (NaN: missing),
/// added to `phi` (per record, `width` doubles): every tree's float sums folded into double as the other loops
/// do, and equal to theirs bit for bit. Each record is computed on its own, with an entry's path features in the
/// lanes, and an entry's data is read once for up to eight records: an entry costs each record a few
/// instructions, where the eight-record loops pay a whole group's however few records a pass has. For passes of
/// few records.
void ctreeshap_records_avx512(const ctreeshap_tables *t, const ctreeshap_record_tables *r, const float *rows,
                              int32_t count, int32_t width, double *phi);

/// A numeric split as the decisions need it: `node` relative to its tree's first, with bit 31 set where missing
/// values go left.
typedef struct {
    float threshold;
    int32_t feature;
    uint32_t node;
} ctreeshap_split;

/// 1 when this CPU and OS run AVX2 code.
int ctreeshap_has_avx2(void);

/// 1 when they also run AVX-512 (F and VL) code.
int ctreeshap_has_avx512(void);

/// Adds the contributions of the entries [leaf_begin, leaf_end) of one tree, all of them from its first, to that
/// tree's sums `phi` (by feature, then lane; 8 × groups lanes). `left` holds, per node of the tree (relative to
/// its first) and group, eight int32 lanes, all ones where that record goes left. `stack`: room for (the longest
/// path's splits + 1) × groups × 8 int32, the patterns after each depth of the current path.
void ctreeshap_leaves_avx2(const ctreeshap_tables *t, int32_t leaf_begin, int32_t leaf_end,
                           const int32_t *left, int32_t groups, float *phi, int32_t *stack);

/// ctreeshap_leaves_avx2 with AVX-512's two-table permutes for the table reads: the same sums, bit for bit.
void ctreeshap_leaves_avx512(const ctreeshap_tables *t, int32_t leaf_begin, int32_t leaf_end,
                             const int32_t *left, int32_t groups, float *phi, int32_t *stack);

/// Which way eight records per group go at a tree's `count` numeric splits: `columns` holds, per group and
/// feature, the eight records' values (NaN: missing); `left` gets, per node and group, eight int32 lanes, all ones
/// where the record goes left (x < threshold, or missing with the default left). Other nodes are untouched.
void ctreeshap_decide_avx2(const ctreeshap_split *splits, int32_t count, const float *columns, int32_t width,
                           int32_t groups, int32_t *left);
