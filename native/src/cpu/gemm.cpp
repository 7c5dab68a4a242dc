// Matrix products. sgemm goes to the BLAS found at build time (OpenBLAS); blocked_sgemm is the
// portable fallback built on the attention tiles' micro-kernel (src/cpu/tile_gemm.h).
//
// Layouts (row-major, element strides): op(A) [M, K], op(B) [K, N], C [M, N] with row strides
// lda, ldb, ldc of the matrices as stored (A^T is stored [K, M], B^T is stored [N, K]).
// Blocking of the fallback: B is packed by blocks of kKBlock x kNBlock (zero-padded to 16 columns),
// rows of C are split into blocks of kMBlock handed to the threads; each thread packs its block of
// A, computes its block of C into a scratch tile and adds alpha times it into C.
#include <algorithm>
#include <string>
#include <vector>

#include "../common/parallel.h"
#include "tile_gemm.h"
#include "w2s/kernels.h"

#ifdef W2S_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace w2s {
namespace {

constexpr int64_t kMBlock = 64;
constexpr int64_t kNBlock = 512;
constexpr int64_t kKBlock = 256;

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

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#ifdef W2S_HAVE_OPENBLAS
  check_gemm(m, n, k, trans_a, trans_b, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  // OpenBLAS runs its own threads, sized by set_num_threads; never call it from inside a
  // parallel::for_each, where that would multiply the threads.
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
#else
  blocked_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace w2s
