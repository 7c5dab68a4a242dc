// The weak-to-strong losses on NVIDIA GPUs: value and gradient together, with the contract and the
// arithmetic of the CPU kernels (src/cpu/losses.cpp), on logits z [N, C] and soft targets y [N, C]
// (row-major device arrays), writing dz [N, C] = d(mean loss)/dz.
//
// Every loss is CE(z, t) = mean_i sum_c t_ic (lse_i - z_ic) for a stop-gradient target t, whose
// gradient is dz = (softmax(z) - t) / N:
//   xent     t = y
//   logconf  t = (1 - alpha) y + alpha yhat     (yhat: hardened student predictions)
//   product  t = normalise(softmax(z)^beta * y^alpha)
// One thread per row (grid-stride); binary rows are read as float2 where the arrays allow it.
// The loss is summed in double per thread, per block (a fixed shuffle tree), and over the blocks by
// the last block to finish (a fixed order), so a call's value does not change from run to run.
// Inputs are validated in the same pass, exactly as on the CPU; the first bad row is reported
// (atomicMax of N - row) and diagnosed on the host from a copy of that row.
//
// Binary logconf needs the quantile t = quantile(p0, mean(y[:, 1])) first. As on the CPU the order
// statistics are taken on the logit margin d = z0 - z1 (p0 saturates in float32, d does not), as
// sort keys (unsigned integers that order like the floats): pass 1 validates, sums y[:, 1] and
// histograms the top 11 bits of the keys; pass 2 histograms the next 11 bits of the keys in the bin
// of rank lo = floor(q (N - 1)); pass 3 the last 10 bits, which gives d_lo exactly, and whether
// rank lo + 1 has the same key; pass 4 computes the loss. The last block of each pass finds the bin
// for the next one. Rows with d > d_lo harden to class 0, rows with d == d_lo only when t = p_lo
// (q (N - 1) is an integer, or d_lo+1 == d_lo), as torch.quantile with linear interpolation and
// p0 >= t.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../common/loss_checks.h"
#include "check.h"
#include "reduce.cuh"

namespace w2s::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;
constexpr int kWarps = kThreads / 32;

enum class Kind { Xent, Logconf, Product };

struct Spec {
  Kind kind;
  float alpha = 0.0f;
  float beta = 0.0f;
};

// Radix-selection levels of binary logconf: bins of the key bits [shift, shift + bits).
__host__ __device__ constexpr int level_bits(int level) { return level == 2 ? 10 : 11; }
__host__ __device__ constexpr int level_shift(int level) { return level == 0 ? 21 : level == 1 ? 10 : 0; }
constexpr int kMaxBins = 2048;

// Device state of one call, zeroed before the first launch. `loss` and `bad` come back to the host.
struct State {
  double loss;
  unsigned long long bad;  // N - (first bad row); 0 when every row is valid
  unsigned int done[4];    // blocks finished, per pass
  long long lo;            // binary logconf: rank floor(q (N - 1))
  long long rank;          // rank of lo within the bin selected so far
  unsigned int prefix;     // key bits selected so far
  int integral;            // q (N - 1) is an integer
  float margin_lo;         // d of rank lo
  int ties_are_class0;
  unsigned long long histogram[3][kMaxBins];
  double loss_partials[kMaxBlocks];
};

struct Result {
  double loss;
  unsigned long long bad;
};

__device__ __forceinline__ unsigned int key_of(float x) {
  const unsigned int bits = __float_as_uint(x);
  const unsigned int negative = 0u - (bits >> 31);
  return bits ^ (negative | 0x80000000u);
}

__device__ __forceinline__ float float_of_key(unsigned int key) {
  return __uint_as_float((key & 0x80000000u) ? key & 0x7fffffffu : ~key);
}

// The margin z0 - z1 (+ 0 turns -0 into +0, so that equal margins have equal keys).
__device__ __forceinline__ float margin(float z0, float z1) { return z0 - z1 + 0.0f; }

// The CPU's acceptance test: a fast float check (sum in float), confirmed by the exact one.
__device__ bool row_is_bad(const float* zr, const float* yr, int c) {
  constexpr float tol = loss_checks::kDistributionTolerance;
  bool fast_bad = false;
  float sum = 0.0f;
  for (int j = 0; j < c; ++j) {
    fast_bad |= (zr[j] - zr[j]) != 0.0f || !(yr[j] >= 0.0f) || yr[j] > 1.0f + tol;
    sum += yr[j];
  }
  const float dev = sum - 1.0f;
  fast_bad |= !(dev <= tol && dev >= -tol);
  if (!fast_bad) return false;
  for (int j = 0; j < c; ++j)
    if (!isfinite(zr[j])) return true;
  double exact = 0.0;
  for (int j = 0; j < c; ++j) {
    if (!isfinite(yr[j]) || yr[j] < 0.0f || yr[j] > 1.0f + tol) return true;
    exact += yr[j];
  }
  return fabs(exact - 1.0) > tol;
}

// Thread 0 stores the block's partial; returns (in every thread) whether this block finished last,
// after which every block's partials and global writes are visible to it. All threads call it.
__device__ bool finish_block(double partial, double* partials, unsigned int* done) {
  __shared__ bool last;
  __threadfence();  // this thread's global writes and atomics (histograms) ...
  __syncthreads();  // ... all issued before thread 0 signals the block done
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = partial;
    __threadfence();
    last = atomicAdd(done, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (last) __threadfence();
  return last;
}

// Sum of the blocks' partials in block order (call in the last block, all threads; valid in thread 0).
__device__ double sum_partials(const double* partials) {
  double s = 0.0;
  if (threadIdx.x == 0)
    for (unsigned int b = 0; b < gridDim.x; ++b) s += const_cast<const volatile double*>(partials)[b];
  return s;
}

// Bin of the element of rank k among `bins` counts, and how many lie in lower bins (thread 0).
__device__ void find_rank(const unsigned long long* histogram, int bins, long long k, int& bin, long long& below) {
  long long count = 0;
  for (int b = 0; b < bins; ++b) {
    const long long here = static_cast<long long>(const_cast<const volatile unsigned long long*>(histogram)[b]);
    if (count + here > k) {
      bin = b;
      below = count;
      return;
    }
    count += here;
  }
  bin = bins - 1;  // only when rows were invalid (the call then throws)
  below = count;
}

struct Rows {
  const float* z;
  const float* y;
  float* dz;
  long long n;
  int c;
  bool pairs;  // C == 2 and every array 8-byte aligned: rows move as float2
};

__device__ __forceinline__ void load_pair(const Rows& r, long long i, float& z0, float& z1, float& y0, float& y1) {
  if (r.pairs) {
    const float2 z = reinterpret_cast<const float2*>(r.z)[i], y = reinterpret_cast<const float2*>(r.y)[i];
    z0 = z.x, z1 = z.y, y0 = y.x, y1 = y.y;
  } else {
    z0 = r.z[2 * i], z1 = r.z[2 * i + 1], y0 = r.y[2 * i], y1 = r.y[2 * i + 1];
  }
}

// Loss and gradient of a binary row (the CPU's C == 2 arithmetic). hard0: logconf's yhat is class 0.
__device__ __forceinline__ double binary_row(const Rows& r, long long i, const Spec& spec, float inv_n, float lo,
                                             bool ties_are_class0) {
  float z0, z1, y0, y1;
  load_pair(r, i, z0, z1, y0, y1);
  const bool first_is_max = !(z1 > z0);
  const float zmax = first_is_max ? z0 : z1;
  const float d = z0 - z1;
  const float others = expf(-fabsf(d));
  const float e0 = first_is_max ? 1.0f : others, e1 = first_is_max ? others : 1.0f;
  const float log_norm = log1pf(others), inv_norm = 1.0f / (1.0f + others);
  float t0 = y0, t1 = y1;
  if (spec.kind == Kind::Logconf) {
    const float m = margin(z0, z1);
    const float yhat0 = m > lo || (m == lo && ties_are_class0) ? 1.0f : 0.0f;
    const float keep = 1.0f - spec.alpha;
    t0 = keep * y0 + spec.alpha * yhat0;
    t1 = keep * y1 + spec.alpha * (1.0f - yhat0);
  } else if (spec.kind == Kind::Product) {
    // t1 / t0 = exp(delta), delta = beta (z1 - z0) + alpha log(y1 / y0).
    float delta = spec.beta * (z1 - z0);
    if (spec.alpha != 0.0f) delta += spec.alpha * logf(y1 / y0);
    const float e = expf(-fabsf(delta));
    const float big = 1.0f / (1.0f + e), small = e * big;
    t0 = delta > 0.0f ? small : big;
    t1 = delta > 0.0f ? big : small;
  }
  double loss = 0.0;
  if (t0 > 0.0f) loss += t0 * (log_norm + (zmax - z0));
  if (t1 > 0.0f) loss += t1 * (log_norm + (zmax - z1));
  const float g0 = (first_is_max ? (1.0f - t0) - others * inv_norm : e0 * inv_norm - t0) * inv_n;
  const float g1 = (first_is_max ? e1 * inv_norm - t1 : (1.0f - t1) - others * inv_norm) * inv_n;
  if (r.pairs)
    reinterpret_cast<float2*>(r.dz)[i] = make_float2(g0, g1);
  else
    r.dz[2 * i] = g0, r.dz[2 * i + 1] = g1;
  return loss;
}

// Loss and gradient of a row of C > 2 classes (the CPU's general arithmetic), in passes over the row.
__device__ double general_row(const Rows& r, long long i, const Spec& spec, float inv_n) {
  const int c = r.c;
  const float* zr = r.z + i * c;
  const float* yr = r.y + i * c;
  float* dzr = r.dz + i * c;
  float zmax = zr[0];
  int argmax = 0;
  for (int j = 1; j < c; ++j)
    if (zr[j] > zmax) zmax = zr[j], argmax = j;
  float others = 0.0f;
  for (int j = 0; j < c; ++j)
    if (j != argmax) others += expf(zr[j] - zmax);
  const float log_norm = log1pf(others), inv_norm = 1.0f / (1.0f + others);
  // product: log t_j = beta log p_j + alpha log y_j (0^0 = 1), normalised by its own log-sum-exp.
  const auto log_product = [&](int j) {
    float lt = spec.beta * (zr[j] - zmax - log_norm);
    if (spec.alpha != 0.0f) lt += spec.alpha * logf(yr[j]);
    return lt;
  };
  float tmax = -INFINITY, inv_tsum = 1.0f;
  if (spec.kind == Kind::Product) {
    for (int j = 0; j < c; ++j) tmax = fmaxf(tmax, log_product(j));
    float tsum = 0.0f;
    for (int j = 0; j < c; ++j) tsum += expf(log_product(j) - tmax);
    inv_tsum = 1.0f / tsum;
  }
  const float keep = 1.0f - spec.alpha;
  double loss = 0.0;
  for (int j = 0; j < c; ++j) {
    float t = yr[j];
    if (spec.kind == Kind::Logconf) t = keep * yr[j] + spec.alpha * (j == argmax ? 1.0f : 0.0f);
    if (spec.kind == Kind::Product) t = expf(log_product(j) - tmax) * inv_tsum;
    if (t > 0.0f) loss += t * (log_norm + (zmax - zr[j]));
    const float e = expf(zr[j] - zmax);
    dzr[j] = (j == argmax ? (1.0f - t) - others * inv_norm : e * inv_norm - t) * inv_n;
  }
  return loss;
}

// The loss pass (the only pass, or binary logconf's pass 4, which reads the threshold from state
// and skips the validation pass 1 did).
__global__ void __launch_bounds__(kThreads) loss_kernel(const Rows rows, const Spec spec, State* state, bool validate,
                                                        bool binary_threshold) {
  const float inv_n = static_cast<float>(1.0 / static_cast<double>(rows.n));
  const float lo = binary_threshold ? state->margin_lo : 0.0f;
  const bool ties = binary_threshold && state->ties_are_class0;
  double acc = 0.0;
  for (long long i = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x; i < rows.n;
       i += static_cast<long long>(gridDim.x) * kThreads) {
    if (validate && row_is_bad(rows.z + i * rows.c, rows.y + i * rows.c, rows.c)) {
      atomicMax(&state->bad, static_cast<unsigned long long>(rows.n - i));
      continue;
    }
    acc += rows.c == 2 ? binary_row(rows, i, spec, inv_n, lo, ties) : general_row(rows, i, spec, inv_n);
  }
  const double block = block_sum<kWarps>(acc);
  if (finish_block(block, state->loss_partials, &state->done[3])) {
    const double total = sum_partials(state->loss_partials);
    if (threadIdx.x == 0) state->loss = total / static_cast<double>(rows.n);
  }
}

// Binary logconf, pass 1: validation, the sum of y[:, 1], the first-level histogram of the keys;
// the last block computes lo and finds its first-level bin. The sum decides the quantile's rank, so
// it is taken in exactly the CPU's order (src/cpu/losses.cpp, LaneSum): one block per chunk of
// kChunkRows rows; within a chunk, lane l (of 16) adds in float the rows l, l + 16, ... of each
// group of 256 rows, the groups' float sums are added per lane in double, the 16 lanes in order,
// and the chunks in order.
constexpr int kChunkRows = 4096, kLanes = 16, kGroupRows = kLanes * kLanes;
static_assert(kThreads * kLanes == kChunkRows, "one thread per (group, lane) of a chunk");

__global__ void __launch_bounds__(kThreads) margin_statistics_kernel(const Rows rows, State* state, double* chunk_sums) {
  __shared__ unsigned int histogram[kMaxBins];
  __shared__ float group_sums[kThreads];
  __shared__ double lane_sums[kLanes];
  for (int b = threadIdx.x; b < kMaxBins; b += kThreads) histogram[b] = 0;
  __syncthreads();
  const int group = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const long long first = static_cast<long long>(blockIdx.x) * kChunkRows + group * kGroupRows + lane;
  float target1 = 0.0f;
  for (int block = 0; block < kLanes; ++block) {
    const long long i = first + block * kLanes;
    if (i >= rows.n) break;
    if (row_is_bad(rows.z + 2 * i, rows.y + 2 * i, 2)) {
      atomicMax(&state->bad, static_cast<unsigned long long>(rows.n - i));
      continue;
    }
    float z0, z1, y0, y1;
    load_pair(rows, i, z0, z1, y0, y1);
    target1 += y1;
    atomicAdd(&histogram[key_of(margin(z0, z1)) >> level_shift(0)], 1u);
  }
  group_sums[threadIdx.x] = target1;
  __syncthreads();
  for (int b = threadIdx.x; b < kMaxBins; b += kThreads)
    if (histogram[b] != 0) atomicAdd(&state->histogram[0][b], static_cast<unsigned long long>(histogram[b]));
  if (threadIdx.x < kLanes) {
    double sum = 0.0;
    for (int g = 0; g < kThreads / kLanes; ++g) sum += group_sums[g * kLanes + threadIdx.x];
    lane_sums[threadIdx.x] = sum;
  }
  __syncthreads();
  double chunk = 0.0;
  if (threadIdx.x == 0)
    for (int l = 0; l < kLanes; ++l) chunk += lane_sums[l];
  if (finish_block(chunk, chunk_sums, &state->done[0])) {
    const double total = sum_partials(chunk_sums);
    if (threadIdx.x == 0) {
      // torch.quantile(p0, q): position q (N - 1) between the sorted values, linear interpolation.
      const double q = fmin(fmax(total / static_cast<double>(rows.n), 0.0), 1.0);
      const double position = q * static_cast<double>(rows.n - 1);
      const long long lo = min(static_cast<long long>(floor(position)), rows.n - 1);
      int bin;
      long long below;
      find_rank(state->histogram[0], kMaxBins, lo, bin, below);
      state->lo = lo;
      state->integral = position == static_cast<double>(lo);
      state->prefix = static_cast<unsigned int>(bin);
      state->rank = lo - below;
    }
  }
}

// Binary logconf, passes 2 and 3 (level 1 or 2): the histogram of the next bits of the keys in the
// bin selected so far; the last block narrows the selection (and after the last level, finds d_lo).
__global__ void __launch_bounds__(kThreads) margin_select_kernel(const Rows rows, State* state, int level) {
  __shared__ unsigned int histogram[kMaxBins];
  const int bins = 1 << level_bits(level), shift = level_shift(level), above = level_shift(level - 1);
  for (int b = threadIdx.x; b < bins; b += kThreads) histogram[b] = 0;
  __syncthreads();
  const unsigned int prefix = state->prefix;
  for (long long i = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x; i < rows.n;
       i += static_cast<long long>(gridDim.x) * kThreads) {
    float z0, z1, y0, y1;
    load_pair(rows, i, z0, z1, y0, y1);
    const unsigned int key = key_of(margin(z0, z1));
    if (key >> above == prefix) atomicAdd(&histogram[(key >> shift) & (bins - 1)], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += kThreads)
    if (histogram[b] != 0) atomicAdd(&state->histogram[level][b], static_cast<unsigned long long>(histogram[b]));
  if (finish_block(0.0, state->loss_partials, &state->done[level]) && threadIdx.x == 0) {
    int bin;
    long long below;
    find_rank(state->histogram[level], bins, state->rank, bin, below);
    state->prefix = (prefix << level_bits(level)) | static_cast<unsigned int>(bin);
    state->rank -= below;
    if (level == 2) {
      // The key of rank lo is now complete; rank lo + 1 has the same key when the bin holds more.
      const long long equal =
          static_cast<long long>(const_cast<const volatile unsigned long long*>(state->histogram[level])[bin]);
      state->margin_lo = float_of_key(state->prefix);
      state->ties_are_class0 = state->integral || state->lo + 1 >= rows.n || state->rank + 1 < equal;
    }
  }
}

double run_loss(const float* z, const float* y, int64_t n, int64_t c, const Spec& spec, float* dz,
                const char* targets_name) {
  require_device();
  DeviceBuffer state(sizeof(State));
  State* s = static_cast<State*>(state.data());
  check(cudaMemsetAsync(s, 0, sizeof(State), 0), "loss: cudaMemsetAsync (state)");
  const Rows rows{z, y, dz, n, static_cast<int>(c),
                  c == 2 && ((reinterpret_cast<uintptr_t>(z) | reinterpret_cast<uintptr_t>(y) |
                              reinterpret_cast<uintptr_t>(dz)) % 8) == 0};
  const int blocks = static_cast<int>(std::min<int64_t>(kMaxBlocks, (n + kThreads - 1) / kThreads));
  const char* name = spec.kind == Kind::Xent ? "xent_loss" : spec.kind == Kind::Logconf ? "logconf_loss" : "product_loss";
  const bool binary_threshold = spec.kind == Kind::Logconf && c == 2;
  DeviceBuffer chunk_sums;
  if (binary_threshold) {
    const int64_t chunks = (n + kChunkRows - 1) / kChunkRows;
    chunk_sums = DeviceBuffer(sizeof(double) * chunks);
    W2S_LAUNCH(margin_statistics_kernel, static_cast<unsigned int>(chunks), kThreads, 0, rows, s,
               static_cast<double*>(chunk_sums.data()));
    check_launch((std::string(name) + " (margin statistics)").c_str());
    for (int level = 1; level <= 2; ++level) {
      W2S_LAUNCH(margin_select_kernel, blocks, kThreads, 0, rows, s, level);
      check_launch((std::string(name) + " (margin selection)").c_str());
    }
  }
  W2S_LAUNCH(loss_kernel, blocks, kThreads, 0, rows, spec, s, !binary_threshold, binary_threshold);
  check_launch(name);
  Result result{};
  check(cudaMemcpy(&result, s, sizeof result, cudaMemcpyDeviceToHost), name);
  if (result.bad != 0) {
    const int64_t row = n - static_cast<int64_t>(result.bad);
    std::vector<float> zr(c), yr(c);
    check(cudaMemcpy(zr.data(), z + row * c, sizeof(float) * c, cudaMemcpyDeviceToHost), name);
    check(cudaMemcpy(yr.data(), y + row * c, sizeof(float) * c, cudaMemcpyDeviceToHost), name);
    const auto diagnosis = loss_checks::diagnose_row(zr.data(), yr.data(), row, c, targets_name);
    if (diagnosis.message.empty()) throw std::runtime_error("logits or targets changed while the loss was being computed");
    loss_checks::throw_diagnosis(diagnosis);
  }
  return result.loss;
}

}  // namespace

double xent_loss(const float* z, const float* y, int64_t n, int64_t c, float* dz, const char* targets_name) {
  loss_checks::check_sizes(n, c);
  return run_loss(z, y, n, c, Spec{Kind::Xent}, dz, targets_name);
}

double logconf_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float* dz,
                     const char* targets_name) {
  loss_checks::check_sizes(n, c);
  loss_checks::check_unit_alpha(alpha);
  return run_loss(z, y, n, c, Spec{Kind::Logconf, alpha}, dz, targets_name);
}

double product_loss(const float* z, const float* y, int64_t n, int64_t c, float alpha, float beta, float* dz,
                    const char* targets_name) {
  loss_checks::check_sizes(n, c);
  loss_checks::check_coefficient("alpha", alpha);
  loss_checks::check_coefficient("beta", beta);
  return run_loss(z, y, n, c, Spec{Kind::Product, alpha, beta}, dz, targets_name);
}

}  // namespace w2s::cuda
