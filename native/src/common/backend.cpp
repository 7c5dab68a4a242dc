// Thread settings and the backend description (BLAS, SIMD, CUDA status).
#include <string>

#include "../cpu/simd.h"
#include "../cuda/device_probe.h"
#include "parallel.h"
#include "w2s/kernels.h"

#ifdef W2S_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace w2s {

void set_num_threads(int n) {
  if (n < 1) throw InvalidArgument(InvalidArgument::Kind::Range, "threads must be an integer >= 1, got " + std::to_string(n));
  parallel::set_threads(n);
#ifdef W2S_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
}

int num_threads() { return parallel::threads(); }

BackendInfo backend_info() {
  BackendInfo info;
#ifdef W2S_HAVE_OPENBLAS
  info.blas = std::string("openblas (") + openblas_get_corename() + ", " + openblas_get_config() + ")";
#else
  info.blas = "blocked-gemm";
  info.blas_note =
      "no BLAS found at build time: large matrix products use the portable blocked GEMM; install OpenBLAS "
      "(Debian/Ubuntu: apt-get install libopenblas-dev) and rebuild for full speed";
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
