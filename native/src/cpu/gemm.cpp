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
// multiply-adds run on the calling thread alone.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/parallel.h"
#include "tile_gemm.h"
#include "w2s/kernels.h"

#if defined(W2S_HAVE_ONEDNN)
#include <dnnl.h>
#include <omp.h>
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

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#if defined(W2S_HAVE_ONEDNN) || defined(W2S_HAVE_OPENBLAS)
  check_gemm(m, n, k, trans_a, trans_b, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return scale_c(m, n, beta, c, ldc);
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  const bool small = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < kSplitMacs;
  const int64_t parts = small ? 1 : std::min<int64_t>(parallel::threads(), extent / kSplitUnit);
  if (parts <= 1) return blas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const int64_t block = ((extent + parts - 1) / parts + kSplitUnit - 1) / kSplitUnit * kSplitUnit;
  parallel::for_each((extent + block - 1) / block, [&](int64_t part, int) {
    const int64_t begin = part * block, size = std::min(block, extent - begin);
    if (by_rows)  // rows [begin, begin + size) of op(A) and C
      blas_sgemm(trans_a, trans_b, size, n, k, alpha, trans_a ? a + begin : a + begin * lda, lda, b, ldb, beta,
                 c + begin * ldc, ldc);
    else  // columns [begin, begin + size) of op(B) and C
      blas_sgemm(trans_a, trans_b, m, size, k, alpha, a, lda, trans_b ? b + begin * ldb : b + begin, ldb, beta,
                 c + begin, ldc);
  });
#else
  blocked_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace w2s
