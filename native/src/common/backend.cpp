// Thread settings and the backend description (BLAS, SIMD, CUDA status).
#include <string>

#include "../cpu/simd.h"
#include "../cuda/device_probe.h"
#include "parallel.h"
#include "w2s/kernels.h"

#if defined(W2S_HAVE_ONEDNN)
#include <dnnl.h>
#elif defined(W2S_HAVE_OPENBLAS)
#include <cblas.h>
#endif

namespace w2s {

void set_num_threads(int n) {
  if (n < 1) throw InvalidArgument(InvalidArgument::Kind::Range, "threads must be an integer >= 1, got " + std::to_string(n));
  parallel::set_threads(n);  // the BLAS runs single-threaded on the pool's threads (src/cpu/gemm.cpp)
}

int num_threads() { return parallel::threads(); }

BackendInfo backend_info() {
  BackendInfo info;
#if defined(W2S_HAVE_ONEDNN)
  const dnnl_version_t* v = dnnl_version();
  // gemm.cpp holds oneDNN to one thread per block through OpenMP; another runtime would not listen.
  const bool openmp = v->cpu_runtime == DNNL_RUNTIME_OMP;
  info.blas = "onednn " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
              (openmp ? " (sgemm, one thread per block of a product)"
                      : " (sgemm; its CPU runtime is not OpenMP, so its own threads are not held to one per block)");
#elif defined(W2S_HAVE_OPENBLAS)
  info.blas = std::string("openblas (") + openblas_get_corename() + ", " + openblas_get_config() +
              "; one thread per block of a product)";
#else
  info.blas = "blocked-gemm";
  info.blas_note =
      "no BLAS found at build time: large matrix products use the portable blocked GEMM; install oneDNN or OpenBLAS "
      "(Debian/Ubuntu: apt-get install libdnnl-dev, or libopenblas-dev) and rebuild for full speed";
#endif
  info.threads = num_threads();
  info.simd = simd::isa_name();
  const cuda::DeviceProbe probe = cuda::probe_device();
  info.cuda_compiled = probe.compiled;
  info.cuda_available = probe.available;
  info.cuda_reason = probe.reason;
  info.cuda_device = probe.device;
  return info;
}

}  // namespace w2s
