// The block-quantized weights repacked at load time (ops.h pack_weights): their layouts, the
// packing, and the decode and small-batch kernels that read them (packed_qmatmul). Part of
// quant_simd.h, which includes it between its prefill panels (packed blocks are made through
// them) and qmatmul_rows (which picks the packed blocks, the panels or the per-row products).
// Not a normal header: included once per ISA translation unit.

#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/page_prefetch.h"
#include "kernels/quant.h"

namespace r1::kernels::R1_SIMD_NS {
namespace {

// The prefill panels of quant_simd.h, made once and kept: 16 rows per super-block with the codes
// interleaved as in a panel (one int32 lane per row), but still 4 to 6 bits wide and beside the
// blocks' own scale bytes, so a packed matrix has exactly the bytes of the file's layout (plus zero
// rows up to a multiple of 16). Decode then multiplies 16 rows per vector instead of reducing one
// row at a time (about a quarter of the instructions per weight byte). The layout is the same for
// AVX2 and AVX-512. Batches of up to a few dozen rows read it (packed_max_t): larger ones stay on
// the per-call panels of the file's rows, which measured 10-45% faster than these narrower blocks
// at T = 512 (bench_kernels --packed), the packed codes being widened again for every few rows.

// Q4_K: four parts of 64 + 512 bytes. Vector u of part k holds group 16k + u (4 elements of each
// row) in its low nibbles and group 16k + 8 + u in its high nibbles: sub-blocks 2k and 2k + 1.
// Parts of one size let a decode loop over them (packed_q45k_row) read every line with loads that
// step a fixed 576 bytes per pass, which the hardware prefetchers follow (page_prefetch.h).
struct KScaleWords {
  union {
    uint32_t scales[kKPanelCols];  // parts 0-2: word k of each row's 12 scale bytes (unpack_k_scales16's words)
    struct {
      uint16_t d[kKPanelCols], dmin[kKPanelCols];
    } dm;  // part 3
  };
};
struct K4Part : KScaleWords {
  uint8_t codes[8][4 * kKPanelCols];
  const uint8_t* qs(int u) const { return codes[u]; }
  uint8_t* qs(int u) { return codes[u]; }
};
struct PackQ4K {
  using Part = K4Part;
  Part part[4];
};
static_assert(sizeof(PackQ4K) == kKPanelCols * sizeof(BlockQ4_K));

// Q5_K: PackQ4K's parts with the fifth bits of their codes: in byte 4c + i of qh vector h, bit j
// is that of element i of group 16k + 4h + j of row c (the low nibbles of qs vector 4h + j) and
// bit 4 + j that of group 16k + 8 + 4h + j (its high nibbles). qh vector h sits right before the
// qs vectors 4h .. 4h + 3 it completes, so that a part's lines are first read in ascending order
// (page_prefetch.h): with both qh vectors after all eight qs vectors, a Q5_K matrix streamed at
// 77-81% of the read bandwidth on one Zen 4 core, this way at 86-89% (Q4_K: 91-98%). Parts of 704
// bytes, read as PackQ4K's.
struct PackQ5K {
  struct Part : KScaleWords {
    struct {
      uint8_t bits[4 * kKPanelCols], codes[4][4 * kKPanelCols];
    } half[2];  // qh vector h, then qs vectors 4h .. 4h + 3
    const uint8_t* qs(int u) const { return half[u / 4].codes[u % 4]; }
    uint8_t* qs(int u) { return half[u / 4].codes[u % 4]; }
    const uint8_t* qh(int h) const { return half[h].bits; }
    uint8_t* qh(int h) { return half[h].bits; }
  } part[4];
};
static_assert(sizeof(PackQ5K::Part) == 704 && sizeof(PackQ5K) == kKPanelCols * sizeof(BlockQ5_K));
static_assert(offsetof(BlockQ4_K, scales) == offsetof(BlockQ5_K, scales));

// Q6_K: four parts of 832 bytes and the rows' half-float scales d (ScaledBlock: first or last, so
// that the parts start on a cache line). Part k holds sub-blocks 4k .. 4k + 3 (groups 16k ..
// 16k + 15) in the order the decode loop (packed_q6k_row) reads them, so that each load steps a
// fixed 832 bytes per pass and each pass reads its lines in ascending order (page_prefetch.h). ql
// vector u pairs the low four bits as PackQ4K::qs (group 16k + u in the low nibbles, 16k + 8 + u
// in the high ones); qh vector s holds in bits 2u, 2u + 1 the top two bits of group
// 16k + s + {0, 8, 4, 12}[u] (the groups of ql vectors s and 4 + s), and sits after ql vector s.
struct Q6Parts {
  struct Part {
    struct {
      uint8_t ql[4 * kKPanelCols], qh[4 * kKPanelCols];
    } low[4];                            // ql vectors 0-3, each with qh vector s = u
    uint8_t ql_high[4][4 * kKPanelCols];  // ql vectors 4-7
    int8_t sc[2][2 * kKPanelCols];        // [j][2c + i]: scale of sub-block 4k + 2j + i of row c
    const uint8_t* ql(int u) const { return u < 4 ? low[u].ql : ql_high[u - 4]; }
    uint8_t* ql(int u) { return u < 4 ? low[u].ql : ql_high[u - 4]; }
  } part[4];
};
using PackQ6K = ScaledBlock<Q6Parts>;
static_assert(sizeof(Q6Parts::Part) == 832 && sizeof(PackQ6K) == kKPanelCols * sizeof(BlockQ6_K));

bool packable_blocks(DType t) {
  return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K;
}
bool packable(const WeightView& w) { return packable_blocks(w.dtype) || packs_floats(w); }

// Through the prefill packing (pack_k_panel / pack_a_panel), then narrowed back to the file's bits.
void pack_weights(const WeightView& w, uint8_t* out) {
  if (!is_block_quantized(w.dtype)) return pack_float_weights(w, out);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes(), nb = w.cols / act_block_elems(w.dtype), bb = rb / nb;
  const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
  auto store = [](void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); };
  auto half_bits = [&](int64_t row, int64_t b, size_t off) {
    uint16_t h;
    std::memcpy(&h, base + row * rb + b * bb + off, 2);
    return h;
  };
  if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0) {
    std::vector<APanelBlock> panel(static_cast<size_t>(nb));
    auto* q8 = reinterpret_cast<PackQ8_0*>(out);
    auto* q4 = reinterpret_cast<PackQ4_0*>(out);
    const __m256i flip = _mm256_set1_epi8(kSignedQ8Panel ? 0 : char(0x80));
    for (int64_t o0 = 0; o0 < w.rows; o0 += kKPanelCols) {
      const int64_t n = min_of<int64_t>(kKPanelCols, w.rows - o0);
      pack_a_panel(w, o0, n, nb, panel.data());
      for (int64_t b = 0; b < nb; ++b) {
        auto code = [&](int g, int h) { return loadu256(&panel[b].codes[g][32 * h]); };
        uint16_t* d = nullptr;
        if (w.dtype == DType::kQ8_0) {
          for (int g = 0; g < kQK8_0 / 4; ++g)
            for (int h = 0; h < 2; ++h) store(&q8->codes().codes[g][32 * h], _mm256_xor_si256(code(g, h), flip));
          d = (q8++)->d();
        } else {  // the nibbles of pack_a_panel's bytes: groups u and 4 + u in one byte
          for (int u = 0; u < kQK4_0 / 8; ++u)
            for (int h = 0; h < 2; ++h) store(&q4->codes().qs[u][32 * h], _mm256_or_si256(code(u, h), _mm256_slli_epi16(code(u + 4, h), 4)));
          d = (q4++)->d();
        }
        for (int64_t c = 0; c < kKPanelCols; ++c) d[c] = c < n ? half_bits(o0 + c, b, 0) : 0;  // d leads both blocks
      }
    }
    return;
  }
  const bool q6 = w.dtype == DType::kQ6_K;
  std::vector<KPanelBlock> panel(static_cast<size_t>(nb));
  for (int64_t o0 = 0; o0 < w.rows; o0 += kKPanelCols) {
    const int64_t n = min_of<int64_t>(kKPanelCols, w.rows - o0);
    pack_k_panel(w, o0, n, nb, panel.data());
    for (int64_t b = 0; b < nb; ++b) {
      const KPanelBlock& p = panel[b];
      auto code = [&](int g, int h) { return loadu256(&p.codes[g][32 * h]); };
      // groups g and g + 8 as the low and high nibbles of one byte (their low four bits)
      auto nibbles = [&](int g, int h) {
        return _mm256_or_si256(_mm256_and_si256(code(g, h), m4), _mm256_slli_epi16(_mm256_and_si256(code(g + 8, h), m4), 4));
      };
      if (q6) {
        PackQ6K& x = reinterpret_cast<PackQ6K*>(out)[b];
        for (int k = 0; k < 4; ++k) {
          Q6Parts::Part& part = x.codes().part[k];
          for (int h = 0; h < 2; ++h) {
            for (int u = 0; u < 8; ++u) store(part.ql(u) + 32 * h, nibbles(16 * k + u, h));
            for (int s = 0; s < 4; ++s) {
              const int g = 16 * k + s, from[4] = {g, g + 8, g + 4, g + 12};
              __m256i bits = _mm256_setzero_si256();
              for (int u = 0; u < 4; ++u)
                bits = _mm256_or_si256(bits, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(code(from[u], h), 4), m3), 2 * u));
              store(&part.low[s].qh[32 * h], bits);
            }
          }
        }
        for (int64_t c = 0; c < kKPanelCols; ++c) {
          const auto* blk = reinterpret_cast<const BlockQ6_K*>(base + (o0 + c) * rb + b * bb);
          for (int j = 0; j < 16; ++j) x.codes().part[j / 4].sc[j / 2 % 2][2 * c + j % 2] = c < n ? blk->scales[j] : 0;
          x.d()[c] = c < n ? half_bits(o0 + c, b, offsetof(BlockQ6_K, d)) : 0;
        }
      } else {
        auto fill = [&](auto& x) {
          constexpr bool k5 = std::is_same_v<std::remove_cvref_t<decltype(x)>, PackQ5K>;
          for (int k = 0; k < 4; ++k)
            for (int h = 0; h < 2; ++h) {
              for (int u = 0; u < 8; ++u) store(x.part[k].qs(u) + 32 * h, nibbles(16 * k + u, h));
              if constexpr (k5) {
                auto bit4 = [&](int g) { return _mm256_and_si256(_mm256_srli_epi16(code(g, h), 4), _mm256_set1_epi8(1)); };
                for (int v = 0; v < 2; ++v) {
                  __m256i bits = _mm256_setzero_si256();
                  for (int j = 0; j < 4; ++j) {
                    const int g = 16 * k + 4 * v + j;
                    bits = _mm256_or_si256(bits, _mm256_or_si256(_mm256_slli_epi16(bit4(g), j), _mm256_slli_epi16(bit4(g + 8), 4 + j)));
                  }
                  store(x.part[k].qh(v) + 32 * h, bits);
                }
              }
            }
          for (int64_t c = 0; c < kKPanelCols; ++c) {
            uint32_t words[3] = {0, 0, 0};  // d and dmin lead both blocks, the 12 scale bytes follow
            if (c < n) std::memcpy(words, base + (o0 + c) * rb + b * bb + offsetof(BlockQ4_K, scales), 12);
            for (int i = 0; i < 3; ++i) x.part[i].scales[c] = words[i];
            x.part[3].dm.d[c] = c < n ? half_bits(o0 + c, b, 0) : 0;
            x.part[3].dm.dmin[c] = c < n ? half_bits(o0 + c, b, 2) : 0;
          }
        };
        if (w.dtype == DType::kQ5_K)
          fill(reinterpret_cast<PackQ5K*>(out)[b]);
        else
          fill(reinterpret_cast<PackQ4K*>(out)[b]);
      }
    }
    out += kKPanelCols * rb;  // a panel: the file's bytes of its 16 rows
  }
}

// The scale words of a packed Q4_K block unpacked per row, as unpack_k_scales16: sw[0] = sc0..3,
// sw[1] = sc4..7, sw[2] = m0..3, sw[3] = m4..7 (a byte each).
R1_SIMD_INLINE void q4k_scales(I16 w0, I16 w1, I16 w2, I16 (&sw)[4]) {
  const I16 m4 = iset1(0x0f0f0f0f), m6 = iset1(0x3f3f3f3f), m30 = iset1(0x30303030);
  sw[0] = iand(w0, m6);
  sw[1] = ior(iand(w2, m4), iand(isrl32(w0, 2), m30));
  sw[2] = iand(w1, m6);
  sw[3] = ior(iand(isrl32(w2, 4), m4), iand(isrl32(w1, 2), m30));
}

// Q4_K codes with kWideU8Dot take their high nibbles in place, 16 × their value (the sums of
// those products are scaled back); Q5_K codes do not fit a byte that way.
template <typename Pack>
constexpr bool kHighX16 = kWideU8Dot && std::is_same_v<Pack, PackQ4K>;

// The fifth bits that qs vectors 4h .. 4h + 3 of a packed part need (Q5_K: qh vector h; Q4_K: none).
template <typename Part>
R1_SIMD_INLINE I16 k45_fifth_bits(const Part& part, int h) {
  if constexpr (std::is_same_v<Part, PackQ5K::Part>) {
    return iload_once(part.qh(h));
  } else {
    return izero();
  }
}

// The codes of qs vector u of a packed Q4_K / Q5_K part: lo from its low nibbles (group 16k + u),
// hi from its high ones (group 16k + 8 + u; kHighX16: 16 × the code), with their fifth bits (Q5_K:
// qh = k45_fifth_bits(part, u / 4)).
template <typename Part>
R1_SIMD_INLINE void k45_codes(const Part& part, int u, I16 qh, I16& lo, I16& hi) {
  const I16 v = iload_once(part.qs(u)), m4 = iset1(0x0f0f0f0f);
  lo = iand(v, m4);
  if constexpr (std::is_same_v<Part, PackQ5K::Part>) {
    const I16 bit4 = iset1(0x10101010);
    const int j = u % 4;
    lo = ior(lo, iand(isll16(qh, 4 - j), bit4));
    hi = ior(iand(isrl16(v, 4), m4), iand(isrl16(qh, j), bit4));
  } else {
    hi = kWideU8Dot ? iand(v, iset1(int32_t(0xf0f0f0f0u))) : iand(isrl16(v, 4), m4);
  }
}

// The products of k_panel_rows on packed Q4_K / Q5_K blocks (the same integer totals and chains).
template <int MR, typename Pack>
R1_SIMD_INLINE void packed_q45k_rows(const Pack* panel, int64_t nb, const BlockQ8_K* const (&a)[MR],
                                     float (*out)[kKPanelCols], bool fetch) {
  V16 acc[MR], macc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = macc[r] = zero();
  for (int64_t b = 0; b < nb; ++b) {
    const Pack& p = panel[b];
    I16 sw[4];
    q4k_scales(iload(p.part[0].scales), iload(p.part[1].scales), iload(p.part[2].scales), sw);
    I16 s[MR], m[MR];
    for (int r = 0; r < MR; ++r) s[r] = m[r] = izero();
    R1_UNROLL for (int k = 0; k < 4; ++k) {
      I16 t0[MR], t1[MR];
      for (int r = 0; r < MR; ++r) t0[r] = t1[r] = izero();
      I16 qh = izero();
      R1_UNROLL for (int u = 0; u < 8; ++u) {
        if (u % 4 == 0) {
          if (fetch) prefetch_packed_part<8>(&p, 2 * k + u / 4);
          qh = k45_fifth_bits(p.part[k], u / 4);
        }
        I16 lo, hi;
        k45_codes(p.part[k], u, qh, lo, hi);
        R1_UNROLL for (int r = 0; r < MR; ++r) {
          t0[r] = idot_u8s8(t0[r], lo, ibcast(a[r][b].qs + 4 * (16 * k + u)));
          t1[r] = idot_u8s8(t1[r], hi, ibcast(a[r][b].qs + 4 * (16 * k + 8 + u)));
        }
      }
      const I16 sc0 = ibyte(sw[k / 2], (2 * k) % 4), sc1 = ibyte(sw[k / 2], (2 * k + 1) % 4);
      if constexpr (kHighX16<Pack>)
        for (int r = 0; r < MR; ++r) t1[r] = isra32(t1[r], 4);  // exact: every product had the factor 16
      for (int r = 0; r < MR; ++r) s[r] = iadd_mul(iadd_mul(s[r], t0[r], sc0), t1[r], sc1);
    }
    // m_j · bsums[2j] + m_j · bsums[2j + 1]: m_j in both int16 halves against the pair
    R1_UNROLL for (int j = 0; j < 8; ++j) {
      const I16 mj = ibyte_twice16(sw[2 + j / 4], j % 4);
      for (int r = 0; r < MR; ++r) m[r] = idot_s16(m[r], mj, ibcast(a[r][b].bsums + 2 * j));
    }
    const V16 d = load_f16(p.part[3].dm.d), dmin = load_f16(p.part[3].dm.dmin);
    for (int r = 0; r < MR; ++r) {
      const V16 ad = set1(a[r][b].d);
      acc[r] = fma(itof(s[r]), mul(d, ad), acc[r]);
      macc[r] = fma(itof(m[r]), mul(dmin, ad), macc[r]);
    }
  }
  for (int r = 0; r < MR; ++r) store(out[r], sub(acc[r], macc[r]));
}

// packed_q45k_rows for one activation row (decode): a loop over the four parts of a block, not
// unrolled, that keeps each part's integer sums and scale word in memory; the scales and sums are
// then combined in the same order as packed_q45k_rows (the same totals and chains). Each load
// thus steps a part (576 or 704 bytes) per pass, and the stream is left to the hardware
// prefetchers after a request for each page's first line (page_prefetch.h).
template <typename Pack>
R1_SIMD_INLINE void packed_q45k_row(const Pack* panel, int64_t nb, const BlockQ8_K* a, float* out) {
  V16 acc = zero(), macc = zero();
  for (int64_t b = 0; b < nb; ++b) {
    const Pack& p = panel[b];
    prefetch_page_ahead(&p);
    I16 t0[4], t1[4], w[4];
#pragma GCC unroll 1
    for (int k = 0; k < 4; ++k) {
      const typename Pack::Part& part = p.part[k];
      w[k] = iload(part.scales);
      // even and odd u in separate sums (shorter chains; integer sums, so the same totals)
      I16 lo0 = izero(), lo1 = izero(), hi0 = izero(), hi1 = izero();
      I16 qh = izero();
      R1_UNROLL for (int u = 0; u < 8; u += 2) {
        if (u % 4 == 0) qh = k45_fifth_bits(part, u / 4);
        I16 l0, h0, l1, h1;
        k45_codes(part, u, qh, l0, h0);
        k45_codes(part, u + 1, qh, l1, h1);
        lo0 = idot_u8s8(lo0, l0, ibcast(a[b].qs + 4 * (16 * k + u)));
        lo1 = idot_u8s8(lo1, l1, ibcast(a[b].qs + 4 * (16 * k + u + 1)));
        hi0 = idot_u8s8(hi0, h0, ibcast(a[b].qs + 4 * (16 * k + 8 + u)));
        hi1 = idot_u8s8(hi1, h1, ibcast(a[b].qs + 4 * (16 * k + 9 + u)));
      }
      t0[k] = iadd(lo0, lo1);
      t1[k] = kHighX16<Pack> ? isra32(iadd(hi0, hi1), 4) : iadd(hi0, hi1);  // exact: every product had the factor 16
    }
    I16 sw[4];
    q4k_scales(w[0], w[1], w[2], sw);
    I16 s = izero(), m = izero();
    R1_UNROLL for (int k = 0; k < 4; ++k)
      s = iadd_mul(iadd_mul(s, t0[k], ibyte(sw[k / 2], (2 * k) % 4)), t1[k], ibyte(sw[k / 2], (2 * k + 1) % 4));
    R1_UNROLL for (int j = 0; j < 8; ++j) m = idot_s16(m, ibyte_twice16(sw[2 + j / 4], j % 4), ibcast(a[b].bsums + 2 * j));
    const V16 ad = set1(a[b].d);
    acc = fma(itof(s), mul(load_f16(p.part[3].dm.d), ad), acc);
    macc = fma(itof(m), mul(load_f16(p.part[3].dm.dmin), ad), macc);
  }
  store(out, sub(acc, macc));
}

// Bits 2u, 2u + 1 of each qh byte moved to bits 4, 5.
R1_SIMD_INLINE I16 q6_top(I16 qh, int u) {
  const I16 v = u == 0 ? isll16(qh, 4) : u == 1 ? isll16(qh, 2) : u == 2 ? qh : isrl16(qh, 2);
  return iand(v, iset1(0x30303030));
}

// The 6-bit codes of ql vector 4h + q of a packed Q6_K part: lo from its low nibbles (group
// 16k + 4h + q), hi from its high ones (group 16k + 8 + 4h + q), each with its top two bits.
R1_SIMD_INLINE void q6k_codes(const Q6Parts::Part& part, int h, int q, I16& lo, I16& hi) {
  const I16 m4 = iset1(0x0f0f0f0f);
  const I16 v = iload(part.ql(4 * h + q)), top = iload(part.low[q].qh);
  lo = ior(iand(v, m4), q6_top(top, 2 * h));
  hi = ior(iand(isrl16(v, 4), m4), q6_top(top, 2 * h + 1));
}

template <int MR>
R1_SIMD_INLINE void packed_q6k_rows(const PackQ6K* panel, int64_t nb, const BlockQ8_K* const (&a)[MR],
                                    float (*out)[kKPanelCols], bool fetch) {
  V16 acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = zero();
  for (int64_t b = 0; b < nb; ++b) {
    const PackQ6K& p = panel[b];
    I16 s[MR], m[MR];
    for (int r = 0; r < MR; ++r) s[r] = m[r] = izero();
    R1_UNROLL for (int k = 0; k < 4; ++k) {
      const Q6Parts::Part& part = p.codes().part[k];
      // half h: groups 16k + 4h + s (sub-block 4k + h, low nibbles) and 16k + 8 + 4h + s (4k + 2 + h)
      R1_UNROLL for (int h = 0; h < 2; ++h) {
        if (fetch) prefetch_packed_part<8>(&p, 2 * k + h);
        I16 t0[MR], t1[MR];
        for (int r = 0; r < MR; ++r) t0[r] = t1[r] = izero();
        R1_UNROLL for (int q = 0; q < 4; ++q) {
          I16 lo, hi;
          q6k_codes(part, h, q, lo, hi);
          const int g = 16 * k + 4 * h + q;
          R1_UNROLL for (int r = 0; r < MR; ++r) {
            t0[r] = idot_u8s8(t0[r], lo, ibcast(a[r][b].qs + 4 * g));
            t1[r] = idot_u8s8(t1[r], hi, ibcast(a[r][b].qs + 4 * (g + 8)));
          }
        }
        const I16 p0 = iload_s8_pairs(part.sc[0]), p1 = iload_s8_pairs(part.sc[1]);
        const I16 sc0 = h ? ihigh16(p0) : ilow16(p0), sc1 = h ? ihigh16(p1) : ilow16(p1);
        for (int r = 0; r < MR; ++r) s[r] = iadd_mul(iadd_mul(s[r], t0[r], sc0), t1[r], sc1);
      }
    }
    for (int j = 0; j < 8; ++j) {
      const I16 pr = iload_s8_pairs(p.codes().part[j / 2].sc[j % 2]);
      for (int r = 0; r < MR; ++r) m[r] = idot_s16(m[r], pr, ibcast(a[r][b].bsums + 2 * j));
    }
    const V16 d = block_d(p);
    for (int r = 0; r < MR; ++r) acc[r] = fma(itof(isub_shl5(s[r], m[r])), mul(d, set1(a[r][b].d)), acc[r]);
  }
  for (int r = 0; r < MR; ++r) store(out[r], acc[r]);
}

// packed_q6k_rows for one activation row (decode): a loop over the four parts of a block, not
// unrolled, as packed_q45k_row, so each load steps 832 bytes per pass and the stream is left to the
// hardware prefetchers after a request for each page's first line (page_prefetch.h). The integer
// sums are those of packed_q6k_rows taken in another order (the same totals and chain).
R1_SIMD_INLINE void packed_q6k_row(const PackQ6K* panel, int64_t nb, const BlockQ8_K* a, float* out) {
  V16 acc = zero();
  for (int64_t b = 0; b < nb; ++b) {
    const PackQ6K& p = panel[b];
    prefetch_page_ahead(&p);
    I16 s = izero(), m = izero();
#pragma GCC unroll 1
    for (int k = 0; k < 4; ++k) {
      const Q6Parts::Part& part = p.codes().part[k];
      const int8_t* qs = a[b].qs + 4 * 16 * k;  // group 16k
      I16 t0[2], t1[2];
      R1_UNROLL for (int h = 0; h < 2; ++h) {
        t0[h] = t1[h] = izero();
        R1_UNROLL for (int q = 0; q < 4; ++q) {
          I16 lo, hi;
          q6k_codes(part, h, q, lo, hi);
          t0[h] = idot_u8s8(t0[h], lo, ibcast(qs + 4 * (4 * h + q)));
          t1[h] = idot_u8s8(t1[h], hi, ibcast(qs + 4 * (8 + 4 * h + q)));
        }
      }
      const I16 p0 = iload_s8_pairs(part.sc[0]), p1 = iload_s8_pairs(part.sc[1]);
      s = iadd_mul(iadd_mul(s, t0[0], ilow16(p0)), t1[0], ilow16(p1));
      s = iadd_mul(iadd_mul(s, t0[1], ihigh16(p0)), t1[1], ihigh16(p1));
      m = idot_s16(idot_s16(m, p0, ibcast(a[b].bsums + 4 * k)), p1, ibcast(a[b].bsums + 4 * k + 2));
    }
    acc = fma(itof(isub_shl5(s, m)), mul(block_d(p), set1(a[b].d)), acc);
  }
  store(out, acc);
}

// qmatmul_rows on packed weights: each 16-row panel against the activation rows kKPanelRows at a
// time (decode: one), writing the panel's rows in [o_begin, o_end).
void packed_qmatmul(const uint8_t* xq, int64_t xq_row_bytes, int64_t T, const WeightView& w, const MatView& y,
                    int64_t o_begin, int64_t o_end) {
  const int64_t nb = w.cols / act_block_elems(w.dtype);
  const int64_t panel_bytes = kKPanelCols * w.row_bytes();
  const auto* packed = static_cast<const uint8_t*>(w.packed);
  auto each_panel = [&]<typename Act>(auto rows) {
    for (int64_t o0 = o_begin / kKPanelCols * kKPanelCols; o0 < o_end; o0 += kKPanelCols) {
      const uint8_t* panel = packed + o0 / kKPanelCols * panel_bytes;
      const int64_t c0 = max_of<int64_t>(o_begin - o0, 0), c1 = min_of<int64_t>(o_end - o0, kKPanelCols);
      bool first = true;  // the first rows stream the panel in; the others find it in L2
      rows_on_panel<Act>(xq, xq_row_bytes, T, y, o0, c0, c1, [&]<int MR>(const Act* const (&a)[MR], float (*out)[kKPanelCols]) {
        rows.template operator()<MR>(panel, a, out, first);
        first = false;
      });
    }
  };
  switch (w.dtype) {
    case DType::kQ4_K:
    case DType::kQ5_K: {
      auto rows = [&]<typename Pack>() {
        return each_panel.template operator()<BlockQ8_K>([&]<int MR>(const uint8_t* panel, const BlockQ8_K* const (&a)[MR],
                                                                     float (*out)[kKPanelCols], bool fetch) {
          if constexpr (MR == 1) {
            if (fetch) return packed_q45k_row(reinterpret_cast<const Pack*>(panel), nb, a[0], out[0]);
          }
          packed_q45k_rows<MR>(reinterpret_cast<const Pack*>(panel), nb, a, out, fetch);
        });
      };
      return w.dtype == DType::kQ4_K ? rows.template operator()<PackQ4K>() : rows.template operator()<PackQ5K>();
    }
    case DType::kQ6_K:
      return each_panel.template operator()<BlockQ8_K>([&]<int MR>(const uint8_t* panel, const BlockQ8_K* const (&a)[MR],
                                                                   float (*out)[kKPanelCols], bool fetch) {
        if constexpr (MR == 1) {
          if (fetch) return packed_q6k_row(reinterpret_cast<const PackQ6K*>(panel), nb, a[0], out[0]);
        }
        packed_q6k_rows<MR>(reinterpret_cast<const PackQ6K*>(panel), nb, a, out, fetch);
      });
    case DType::kQ4_0:
      return each_panel.template operator()<BlockA8>([&]<int MR>(const uint8_t* panel, const BlockA8* const (&a)[MR],
                                                                 float (*out)[kKPanelCols], bool fetch) {
        NextPanel none{nullptr, 0, 0};  // a packed block prefetches its own lines
        a_panel_rows<MR, false>(reinterpret_cast<const PackQ4_0*>(panel), nb, 8, a, out, none, fetch);
      });
    default:
      return each_panel.template operator()<BlockA8>([&]<int MR>(const uint8_t* panel, const BlockA8* const (&a)[MR],
                                                                 float (*out)[kKPanelCols], bool fetch) {
        NextPanel none{nullptr, 0, 0};
        a_panel_rows<MR, kSignedQ8Panel, !kSignedQ8Panel>(reinterpret_cast<const PackQ8_0*>(panel), nb,
                                                          kSignedQ8Panel ? 0 : 128, a, out, none, fetch);
      });
  }
}

}  // namespace
}  // namespace r1::kernels::R1_SIMD_NS
