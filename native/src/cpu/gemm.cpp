// Matrix products. sgemm goes to the BLAS found at build time (oneDNN's sgemm, else OpenBLAS), run
// single-threaded on blocks of C that the kernels' pool hands to its threads: one pool owns every
// thread, so no BLAS threads spin on the cores the other kernels need (OpenBLAS's spun for 2^28
// cycles after each product), and a fixed thread count gives a fixed split, hence bit-identical
// results. Without a BLAS, sgemm is blocked_sgemm: the portable fallback built on the attention
// tiles' micro-kernel (src/cpu/tile_gemm.h), which splits its own work over the pool.
//
// Layouts (row-major, element strides): op(A) [M, K], op(B) [K, N], C [M, N] with row strides
// lda, ldb, ldc of the matrices as stored (A^T is stored [K, M], B^T is stored [N, K]).
// Blocking of the fallback: B is packed by blocks of kKBlock x kNBlock (zero-padded to 16 columns),
// rows of C are split into blocks of kMBlock handed to the threads; each thread packs its block of
// A, computes its block of C into a scratch tile and adds alpha times it into C.
// Split of sgemm over a BLAS: the larger of M and N is cut into one block per thread, a multiple of
// kSplitUnit rows (of op(A) and C) or columns (of op(B) and C) each; products under kSplitMacs
// multiply-adds run on the calling thread alone. bf16_gemm (the bf16 precision: inputs rounded to
// bfloat16, float32 sums) is at the end of the file.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/parallel.h"
#include "tile_gemm.h"
#include "w2s/kernels.h"

#if defined(W2S_HAVE_ONEDNN)
#include <dnnl.h>
#include <omp.h>
// The bf16 matmul below is written to oneDNN 2.x's API (matmul::desc, output scales), which 3.0
// removed; with 3.x, bf16_gemm takes the rounded-sgemm path.
#if DNNL_VERSION_MAJOR < 3
#define W2S_ONEDNN_BF16_MATMUL
#include <oneapi/dnnl/dnnl.hpp>
#endif
#elif defined(W2S_HAVE_OPENBLAS)
#include <cblas.h>
#endif

namespace w2s {
namespace {

constexpr int64_t kMBlock = 64;
constexpr int64_t kNBlock = 512;
constexpr int64_t kKBlock = 256;
constexpr int64_t kSplitUnit = 16;
constexpr double kSplitMacs = 1 << 21;

void check_gemm(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int64_t lda, int64_t ldb, int64_t ldc) {
  const auto fail = [](const std::string& msg) { throw InvalidArgument(InvalidArgument::Kind::Range, msg); };
  if (m < 0 || n < 0 || k < 0)
    fail("sgemm sizes must be >= 0, got M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k));
  if (lda < std::max<int64_t>(1, trans_a ? m : k)) fail("lda is smaller than a row of A: " + std::to_string(lda));
  if (ldb < std::max<int64_t>(1, trans_b ? k : n)) fail("ldb is smaller than a row of B: " + std::to_string(ldb));
  if (ldc < std::max<int64_t>(1, n)) fail("ldc is smaller than a row of C: " + std::to_string(ldc));
}

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  if (beta == 1.0f) return;
  parallel::for_each(m, [&](int64_t i, int) {
    float* row = c + i * ldc;
    if (beta == 0.0f)
      std::fill(row, row + n, 0.0f);
    else
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
  });
}

}  // namespace

void blocked_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  check_gemm(m, n, k, trans_a, trans_b, lda, ldb, ldc);
  scale_c(m, n, beta, c, ldc);
  if (m == 0 || n == 0 || k == 0 || alpha == 0.0f) return;
  const int64_t a_row = trans_a ? 1 : lda, a_col = trans_a ? lda : 1;
  std::vector<float> packed(kKBlock * kNBlock);
  for (int64_t jc = 0; jc < n; jc += kNBlock) {
    const int64_t nc = std::min(kNBlock, n - jc);
    const int64_t ncp = (nc + 15) / 16 * 16;
    for (int64_t pc = 0; pc < k; pc += kKBlock) {
      const int64_t kc = std::min(kKBlock, k - pc);
      for (int64_t p = 0; p < kc; ++p) {
        float* dst = packed.data() + p * ncp;
        for (int64_t j = 0; j < nc; ++j)
          dst[j] = trans_b ? b[(jc + j) * ldb + pc + p] : b[(pc + p) * ldb + jc + j];
        std::fill(dst + nc, dst + ncp, 0.0f);
      }
      parallel::for_each((m + kMBlock - 1) / kMBlock, [&](int64_t block, int) {
        thread_local std::vector<float> a_block, tile;
        a_block.resize(kMBlock * kKBlock);
        tile.resize(kMBlock * kNBlock);
        const int64_t i0 = block * kMBlock;
        const int64_t mc = std::min(kMBlock, m - i0);
        // A's block is packed too: read in place, its rows lie lda apart, one page each for large
        // lda, and the TLB misses halve the speed unless the pages happen to be huge pages.
        for (int64_t i = 0; i < mc; ++i)
          for (int64_t p = 0; p < kc; ++p) a_block[i * kc + p] = a[(i0 + i) * a_row + (pc + p) * a_col];
        cpu::tile_gemm<false>(mc, ncp, kc, a_block.data(), kc, 1, packed.data(), ncp, tile.data(), ncp);
        for (int64_t i = 0; i < mc; ++i) {
          float* dst = c + (i0 + i) * ldc + jc;
          const float* src = tile.data() + i * ncp;
          for (int64_t j = 0; j < nc; ++j) dst[j] += alpha * src[j];
        }
      });
    }
  }
}

#if defined(W2S_HAVE_ONEDNN) || defined(W2S_HAVE_OPENBLAS)
namespace {

// C = alpha·op(A)·op(B) + beta·C on the calling thread alone (M, N, K > 0).
void blas_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#if defined(W2S_HAVE_ONEDNN)
  omp_set_num_threads(1);  // this thread's OpenMP setting, which oneDNN reads: no OpenMP team
  const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                          beta, c, ldc);
  if (status != dnnl_success) throw std::runtime_error("oneDNN's sgemm failed with status " + std::to_string(status));
#else
  static const bool serial = [] {  // OpenBLAS starts one thread per core; the pool is the only one here
    openblas_set_num_threads(1);
    return true;
  }();
  (void)serial;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
#endif
}

}  // namespace
#endif

namespace {

// Runs product(begin, size, by_rows) on one block per thread of the pool (sgemm's split, in the
// header comment): by_rows, rows [begin, begin + size) of op(A) and C; else columns of op(B) and C.
template <typename Product>
void split_product(int64_t m, int64_t n, int64_t k, const Product& product) {
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  const bool small = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < kSplitMacs;
  const int64_t parts = small ? 1 : std::min<int64_t>(parallel::threads(), extent / kSplitUnit);
  if (parts <= 1) return product(0, extent, by_rows);
  const int64_t block = ((extent + parts - 1) / parts + kSplitUnit - 1) / kSplitUnit * kSplitUnit;
  parallel::for_each((extent + block - 1) / block, [&](int64_t part, int) {
    const int64_t begin = part * block;
    product(begin, std::min(block, extent - begin), by_rows);
  });
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#if defined(W2S_HAVE_ONEDNN) || defined(W2S_HAVE_OPENBLAS)
  check_gemm(m, n, k, trans_a, trans_b, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return scale_c(m, n, beta, c, ldc);
  split_product(m, n, k, [&](int64_t begin, int64_t size, bool by_rows) {
    if (by_rows)
      blas_sgemm(trans_a, trans_b, size, n, k, alpha, trans_a ? a + begin : a + begin * lda, lda, b, ldb, beta,
                 c + begin * ldc, ldc);
    else
      blas_sgemm(trans_a, trans_b, m, size, k, alpha, a, lda, trans_b ? b + begin * ldb : b + begin, ldb, beta,
                 c + begin, ldc);
  });
#else
  blocked_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

// bf16_gemm: A and B are rounded to bfloat16 (round to nearest even) into compact copies in their
// stored layouts (op(A)'s rows at stride ta ? 1 : K, B likewise), in parallel, then the product is
// split as sgemm's. With oneDNN on a CPU with AVX512-BF16 (or AMX), each block is a oneDNN bf16
// matmul accumulating in float32 (vdpbf16ps: twice the multiply-adds of an fp32 FMA per
// instruction); elsewhere the copies hold the rounded values as floats and go through sgemm (the
// same rounding, float32 sums in sgemm's order).
namespace {

// float -> bfloat16 bits, round to nearest even; a NaN stays a (quiet) NaN.
inline uint16_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// dst[r * cols + j] = round(src[r * ld + j]) for r < rows, j < cols, as bfloat16 bits (uint16_t)
// or as the float they stand for.
template <typename Out>
void round_rows(const float* src, int64_t rows, int64_t cols, int64_t ld, std::vector<Out>& dst) {
  dst.resize(static_cast<size_t>(rows * cols));
  Out* out = dst.data();
  parallel::for_ranges(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* in = src + r * ld;
      Out* o = out + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        if constexpr (std::is_same_v<Out, uint16_t>) {
          o[j] = bf16_bits(in[j]);
        } else {
          const uint32_t u = static_cast<uint32_t>(bf16_bits(in[j])) << 16;
          std::memcpy(&o[j], &u, sizeof u);
        }
      }
    }
  });
}

#if defined(W2S_ONEDNN_BF16_MATMUL)
bool cpu_has_bf16_matmul() {
  static const bool yes = (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
  return yes;
}

// C[M,N] = alpha·A·B + beta·C on the calling thread alone: A [M,K] and B [K,N] bfloat16 at the
// given element strides (rows, columns), C float32 with row stride ldc.
void onednn_bf16_matmul(int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a, const dnnl::memory::dims& a_strides,
                        const uint16_t* b, const dnnl::memory::dims& b_strides, float beta, float* c, int64_t ldc) {
  using dt = dnnl::memory::data_type;
  omp_set_num_threads(1);
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  thread_local dnnl::stream stream(engine);
  const dnnl::memory::desc a_md({m, k}, dt::bf16, a_strides), b_md({k, n}, dt::bf16, b_strides),
      c_md({m, n}, dt::f32, {ldc, 1});
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
  dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, dnnl::memory(a_md, engine, const_cast<uint16_t*>(a))},
                                    {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, engine, const_cast<uint16_t*>(b))},
                                    {DNNL_ARG_DST, dnnl::memory(c_md, engine, c)}});
  stream.wait();
}
#endif

}  // namespace

void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc, Bf16Scratch* scratch) {
  check_gemm(m, n, k, trans_a, trans_b, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return scale_c(m, n, beta, c, ldc);
  // Stored shapes: A is [K, M] when transposed, else [M, K]; B is [N, K] when transposed, else [K, N].
  const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  Bf16Scratch call_scratch;
  Bf16Scratch& copies = scratch ? *scratch : call_scratch;
#if defined(W2S_ONEDNN_BF16_MATMUL)
  if (cpu_has_bf16_matmul()) {
    round_rows(a, a_rows, a_cols, lda, copies.a16);
    round_rows(b, b_rows, b_cols, ldb, copies.b16);
    const uint16_t* a16 = copies.a16.data();
    const uint16_t* b16 = copies.b16.data();
    const dnnl::memory::dims a_strides = trans_a ? dnnl::memory::dims{1, m} : dnnl::memory::dims{k, 1};
    const dnnl::memory::dims b_strides = trans_b ? dnnl::memory::dims{1, k} : dnnl::memory::dims{n, 1};
    split_product(m, n, k, [&](int64_t begin, int64_t size, bool by_rows) {
      if (by_rows)
        onednn_bf16_matmul(size, n, k, alpha, a16 + (trans_a ? begin : begin * k), a_strides, b16, b_strides, beta,
                           c + begin * ldc, ldc);
      else
        onednn_bf16_matmul(m, size, k, alpha, a16, a_strides, b16 + (trans_b ? begin * k : begin), b_strides, beta,
                           c + begin, ldc);
    });
    return;
  }
#endif
  round_rows(a, a_rows, a_cols, lda, copies.a32);
  round_rows(b, b_rows, b_cols, ldb, copies.b32);
  sgemm(trans_a, trans_b, m, n, k, alpha, copies.a32.data(), a_cols, copies.b32.data(), b_cols, beta, c, ldc);
}

}  // namespace w2s
