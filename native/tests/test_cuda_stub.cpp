// The library as it is built without nvcc (src/cuda/stub.cpp), built here beside the CUDA one so
// that a change to w2s/cuda.h that the stubs do not follow fails to link where nvcc is present too
// (CI compiles with CUDA). Every CUDA entry point must throw Unavailable with the reason, which
// backend_info() reports too.
#include "../src/engine/device.h"
#include "check.h"
#include "w2s/cuda.h"
#include "w2s/kernels.h"

int main() {
  using w2s::cuda::Unavailable;
  const w2s::BackendInfo info = w2s::backend_info();
  CHECK(!info.cuda_compiled && !info.cuda_available, "the stub build must report CUDA as not compiled");
  CHECK(info.cuda_reason.find("nvcc was not found") != std::string::npos, "reason: %s", info.cuda_reason.c_str());
  CHECK(!w2s::cuda::available(), "available() must be false");
  const std::string reason = "CUDA is unavailable: " + info.cuda_reason;
  float x = 0.0f;
  w2s::AttentionShape shape{1, 1, 1, 1, 1, 16};
  w2s::ConstView4 view;
  w2s::View4 out;
  w2s_test::expect_throw<Unavailable>("DeviceBuffer", [] { w2s::cuda::DeviceBuffer b(16); }, reason);
  w2s_test::expect_throw<Unavailable>("copy_to_device", [&] { w2s::cuda::copy_to_device(&x, &x, 4); }, reason);
  w2s_test::expect_throw<Unavailable>("copy_to_host", [&] { w2s::cuda::copy_to_host(&x, &x, 4); }, reason);
  w2s_test::expect_throw<Unavailable>("copy_on_device", [&] { w2s::cuda::copy_on_device(&x, &x, 4); }, reason);
  w2s_test::expect_throw<Unavailable>("fill_bytes", [&] { w2s::cuda::fill_bytes(&x, 0, 4); }, reason);
  w2s_test::expect_throw<Unavailable>("synchronize", [] { w2s::cuda::synchronize(); }, reason);
  w2s_test::expect_throw<Unavailable>("device_description", [] { w2s::cuda::device_description(); }, reason);
  w2s_test::expect_throw<Unavailable>(
      "attention_forward",
      [&] { w2s::cuda::attention_forward(shape, view, view, view, {}, w2s::cuda::Precision::Float32, out, &x); }, reason);
  w2s_test::expect_throw<Unavailable>(
      "attention_backward",
      [&] {
        w2s::cuda::attention_backward(shape, view, view, view, view, &x, view, {}, w2s::cuda::Precision::BF16, out, out, out);
      },
      reason);
  w2s_test::expect_throw<Unavailable>("xent_loss", [&] { w2s::cuda::xent_loss(&x, &x, 1, 2, &x); }, reason);
  w2s_test::expect_throw<Unavailable>("logconf_loss", [&] { w2s::cuda::logconf_loss(&x, &x, 1, 2, 0.5f, &x); }, reason);
  w2s_test::expect_throw<Unavailable>("product_loss", [&] { w2s::cuda::product_loss(&x, &x, 1, 2, 1, 1, &x); }, reason);
  w2s_test::expect_throw<Unavailable>(
      "make_cuda_device", [] { w2s::engine::make_cuda_device(w2s::cuda::Precision::Float32); }, reason);
  return w2s_test::finish("cuda_stub");
}
