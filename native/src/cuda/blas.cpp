// cuBLAS, loaded at run time (see blas.h). Only the handful of its C entry points used here are
// declared, with the types and values of cublas_api.h (CUDA 12 and 13).
#include "blas.h"

#include <dlfcn.h>

#include <climits>
#include <string>

#include "check.h"

namespace w2s::cuda {
namespace {

using Handle = void*;
using Status = int;  // cublasStatus_t: 0 is CUBLAS_STATUS_SUCCESS
constexpr int kOpN = 0, kOpT = 1;                 // cublasOperation_t
constexpr int kReal32F = 0;                       // cudaDataType_t CUDA_R_32F
constexpr int kCompute32F = 68, kCompute32FFastBF16 = 75, kCompute32FFastTF32 = 77;  // cublasComputeType_t
constexpr int kGemmDefault = -1;                  // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT

using CreateFn = Status (*)(Handle*);
using GemmExFn = Status (*)(Handle, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                            const void*, void*, int, int, int, int);
using StatusStringFn = const char* (*)(Status);

struct Library {
  CreateFn create = nullptr;
  GemmExFn gemm_ex = nullptr;
  StatusStringFn status_string = nullptr;
  std::string error;  // why cuBLAS cannot be used (empty when it can)
};

const Library& library() {
  static const Library lib = [] {
    Library l;
    void* handle = nullptr;
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"})
      if ((handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    if (handle == nullptr) {
      l.error = std::string("cuBLAS was not found (libcublas.so.13, .12 or libcublas.so): ") + dlerror();
      return l;
    }
    l.create = reinterpret_cast<CreateFn>(dlsym(handle, "cublasCreate_v2"));
    l.gemm_ex = reinterpret_cast<GemmExFn>(dlsym(handle, "cublasGemmEx"));
    l.status_string = reinterpret_cast<StatusStringFn>(dlsym(handle, "cublasGetStatusString"));
    if (!l.create || !l.gemm_ex) l.error = "cuBLAS lacks cublasCreate_v2 or cublasGemmEx";
    return l;
  }();
  return lib;
}

void check_status(Status status, const char* what) {
  if (status == 0) return;
  const Library& l = library();
  throw CudaError(std::string(what) + ": cuBLAS status " + std::to_string(status) +
                  (l.status_string ? std::string(" (") + l.status_string(status) + ")" : std::string()));
}

// One handle per thread (a handle must not be used by two threads at once).
Handle handle() {
  thread_local Handle h = nullptr;
  if (h == nullptr) {
    const Library& l = library();
    if (!l.error.empty()) throw Unavailable("CUDA matrix products are unavailable: " + l.error);
    check_status(l.create(&h), "cublasCreate");
  }
  return h;
}

int as_int(int64_t x, const char* name) {
  if (x > INT_MAX) throw InvalidArgument(InvalidArgument::Kind::Range, std::string("gemm: ") + name + " exceeds cuBLAS's int range");
  return static_cast<int>(x);
}

}  // namespace

void gemm(Precision precision, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  require_device();
  const int compute = precision == Precision::TF32   ? kCompute32FFastTF32
                      : precision == Precision::BF16 ? kCompute32FFastBF16
                                                     : kCompute32F;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  check_status(library().gemm_ex(handle(), trans_b ? kOpT : kOpN, trans_a ? kOpT : kOpN, as_int(n, "n"), as_int(m, "m"),
                                 as_int(k, "k"), &alpha, b, kReal32F, as_int(ldb, "ldb"), a, kReal32F, as_int(lda, "lda"),
                                 &beta, c, kReal32F, as_int(ldc, "ldc"), compute, kGemmDefault),
               "cublasGemmEx");
  check_launch("gemm");
}

}  // namespace w2s::cuda
