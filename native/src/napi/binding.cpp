// The N-API binding: thin. It validates every argument (type, shape, length, bounds of strided
// views), allocates the outputs as new typed arrays, calls the C++ kernels and turns every failure
// into a JS exception (TypeError for a wrong type, RangeError for a wrong value, Error otherwise).
// Nothing here computes; see include/w2s/kernels.h for the kernels' contracts.
#include <napi.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "../common/parallel.h"
#include "args.h"
#include "w2s/kernels.h"

namespace w2s::napi {

AttentionShape attention_shape(Napi::Env env, const std::vector<int64_t>& q, const std::vector<int64_t>& k,
                               const std::vector<int64_t>& v) {
  const AttentionShape shape{q[0], q[1], k[1], q[2], k[2], q[3]};
  if (k[0] != shape.batch || k[3] != shape.head_dim)
    range_error(env, "k.shape " + join(k) + " must share B and D with q.shape " + join(q));
  if (v != k) range_error(env, "v.shape must be " + join(k) + " (the same as k), got " + join(v));
  return shape;
}

ParsedAttentionOptions attention_options(Napi::Env env, const Napi::Value& value, const AttentionShape& shape,
                                         const std::vector<int64_t>& q_shape, const std::vector<int64_t>& k_shape) {
  ParsedAttentionOptions parsed;
  if (!value.IsUndefined()) {
    const Napi::Object opts = object(env, value, "opts");
    const Napi::Value causal = opts.Get("causal"), scale = opts.Get("scale"), lengths = opts.Get("kvLengths"),
                      precision = opts.Get("precision");
    if (!causal.IsUndefined()) {
      if (!causal.IsBoolean()) type_error(env, "opts.causal must be a boolean, got " + describe(causal));
      parsed.base.causal = causal.As<Napi::Boolean>().Value();
    }
    if (!scale.IsUndefined()) {
      if (!scale.IsNumber()) type_error(env, "opts.scale must be a number, got " + describe(scale));
      const double s = scale.As<Napi::Number>().DoubleValue();
      if (!std::isfinite(s) || s <= 0.0 || s > std::numeric_limits<float>::max())
        range_error(env, "opts.scale must be a finite number > 0, got " + describe(scale));
      parsed.base.scale = static_cast<float>(s);
    }
    if (!lengths.IsUndefined()) {
      if (!lengths.IsTypedArray() || lengths.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        type_error(env, "opts.kvLengths must be an Int32Array, got " + describe(lengths));
      const auto arr = lengths.As<Napi::Int32Array>();
      if (static_cast<int64_t>(arr.ElementLength()) != shape.batch)
        range_error(env, "opts.kvLengths must have B = " + std::to_string(shape.batch) + " entries, got " +
                             std::to_string(arr.ElementLength()));
      parsed.kv_lengths.assign(arr.Data(), arr.Data() + arr.ElementLength());
    }
    if (!precision.IsUndefined()) {
      const std::string name = precision.IsString() ? precision.As<Napi::String>().Utf8Value() : "";
      if (name == "float32")
        parsed.precision = w2s::cuda::Precision::Float32;
      else if (name == "tf32")
        parsed.precision = w2s::cuda::Precision::TF32;
      else if (name == "bf16")
        parsed.precision = w2s::cuda::Precision::BF16;
      else
        range_error(env, "opts.precision must be \"float32\", \"tf32\" or \"bf16\", got " + describe(precision));
    }
  }
  try {
    w2s::validate_attention(shape, parsed.options());
  } catch (const w2s::InvalidArgument& e) {
    range_error(env, std::string(e.what()) + " (q.shape " + join(q_shape) + ", k.shape " + join(k_shape) + ")");
  }
  return parsed;
}

}  // namespace w2s::napi

namespace {

using namespace w2s::napi;

// A float32 tensor argument {data, shape, strides?, offset?} of rank 4, checked to lie within data.
struct Tensor4 {
  Napi::Float32Array array;
  std::vector<int64_t> shape, strides;
  int64_t offset = 0;
  const float* data() const { return array.Data() + offset; }
  w2s::ConstView4 view() const {
    w2s::ConstView4 v;
    v.data = data();
    for (int i = 0; i < 4; ++i) v.stride[i] = strides[i];
    return v;
  }
};

Tensor4 tensor4(Napi::Env env, const Napi::Value& value, const std::string& name, const char* layout) {
  const Napi::Object obj = object(env, value, name);
  Tensor4 t{float32_array(env, obj.Get("data"), name + ".data"),
            integer_list(env, obj.Get("shape"), name + ".shape (" + layout + ")", 4, 0),
            {}};
  const int64_t length = static_cast<int64_t>(t.array.ElementLength());
  const Napi::Value strides = obj.Get("strides"), offset = obj.Get("offset");
  if (strides.IsUndefined()) {
    const std::string what = name + " (shape " + join(t.shape) + ")";
    t.strides = {element_count(env, {t.shape[1], t.shape[2], t.shape[3]}, what),
                 element_count(env, {t.shape[2], t.shape[3]}, what), t.shape[3], 1};
  } else {
    t.strides = integer_list(env, strides, name + ".strides", 4, 0);
    if (t.strides[3] != 1)
      range_error(env, name + ".strides[3] must be 1 (the head dimension D is contiguous), got " + std::to_string(t.strides[3]));
  }
  if (!offset.IsUndefined()) t.offset = integer(env, offset, name + ".offset", 0);
  int64_t last = t.offset;  // index of the last element the view touches
  for (int i = 0; i < 4; ++i) {
    if (t.shape[i] == 0) range_error(env, name + ".shape " + join(t.shape) + " has a zero dimension");
    last = checked_add(env, last, checked_mul(env, t.shape[i] - 1, t.strides[i], name), name);
  }
  if (strides.IsUndefined() && offset.IsUndefined() && last + 1 != length)
    range_error(env, name + ".data has " + std::to_string(length) + " elements, expected " + std::to_string(last + 1) +
                         " for shape " + join(t.shape));
  if (last >= length)
    range_error(env, name + " (shape " + join(t.shape) + ", strides " + join(t.strides) + ", offset " +
                         std::to_string(t.offset) + ") reaches element " + std::to_string(last) + " but data has " +
                         std::to_string(length) + " elements");
  return t;
}

void expect_shape(Napi::Env env, const Tensor4& t, const std::string& name, const std::vector<int64_t>& expected,
                  const std::string& why) {
  if (t.shape != expected)
    range_error(env, name + ".shape must be " + join(expected) + " (" + why + "), got " + join(t.shape));
}

Napi::Float32Array new_float32(Napi::Env env, int64_t n) { return Napi::Float32Array::New(env, static_cast<size_t>(n)); }

// A view of a new contiguous output array of this [B, T, H, D] shape.
w2s::View4 output_view(Napi::Float32Array& a, const std::vector<int64_t>& shape) {
  return w2s::contiguous_view(a.Data(), shape[1], shape[2], shape[3]);
}

struct AttentionArgs {
  Tensor4 q, k, v;
  w2s::AttentionShape shape;
  ParsedAttentionOptions options;
};

// A host tensor argument must not be a DeviceTensor: one call runs on one device.
void expect_host(Napi::Env env, const Napi::Value& value, const std::string& name, const char* first) {
  if (is_device_tensor(env, value))
    type_error(env, name + " is a DeviceTensor but " + first +
                        " is a host tensor: pass every tensor of a call on the same device (toDevice or toHost)");
}

// Parses q, k, v and the options object (at index opts_index) shared by forward and backward.
AttentionArgs attention_args(const Napi::CallbackInfo& info, int first, int opts_index) {
  Napi::Env env = info.Env();
  AttentionArgs a{tensor4(env, info[first], "q", "[B, Tq, H, D]"), tensor4(env, info[first + 1], "k", "[B, Tk, Hkv, D]"),
                  tensor4(env, info[first + 2], "v", "[B, Tk, Hkv, D]"), {}, {}};
  a.shape = attention_shape(env, a.q.shape, a.k.shape, a.v.shape);
  a.options = attention_options(env, info[opts_index], a.shape, a.q.shape, a.k.shape);
  if (a.options.precision != w2s::cuda::Precision::Float32)
    range_error(env, std::string("opts.precision \"") + w2s::cuda::precision_name(a.options.precision) +
                         "\" needs DeviceTensors (toDevice): the CPU kernels compute in float32");
  return a;
}

Napi::Value attention_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (is_device_tensor(env, info[0])) return device_attention_forward(info);
  expect_host(env, info[1], "k", "q");
  expect_host(env, info[2], "v", "q");
  AttentionArgs a = attention_args(info, 0, 3);
  const auto& s = a.shape;
  Napi::Float32Array out = new_float32(env, element_count(env, {s.batch, s.q_len, s.heads, s.head_dim}, "out"));
  Napi::Float32Array lse = new_float32(env, element_count(env, {s.batch, s.heads, s.q_len}, "lse"));
  w2s::attention_forward(s, a.q.view(), a.k.view(), a.v.view(), a.options.options(), output_view(out, a.q.shape),
                         lse.Data());
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out);
  result.Set("lse", lse);
  return result;
}

// attentionBackward(dOut, q, k, v, out, lse, opts)
Napi::Value attention_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (is_device_tensor(env, info[0])) return device_attention_backward(info);
  const char* names[] = {"dOut", "q", "k", "v", "out", "lse"};
  for (int i = 1; i < 6; ++i) expect_host(env, info[i], names[i], "dOut");
  AttentionArgs a = attention_args(info, 1, 6);
  const auto& s = a.shape;
  const Tensor4 dout = tensor4(env, info[0], "dOut", "[B, Tq, H, D]");
  expect_shape(env, dout, "dOut", a.q.shape, "the same as q");
  const Tensor4 out = tensor4(env, info[4], "out", "[B, Tq, H, D]");
  expect_shape(env, out, "out", a.q.shape, "the same as q");
  const Napi::Float32Array lse = float32_array(env, info[5], "lse");
  const int64_t lse_size = element_count(env, {s.batch, s.heads, s.q_len}, "lse");
  if (static_cast<int64_t>(lse.ElementLength()) != lse_size)
    range_error(env, "lse must have B*H*Tq = " + std::to_string(lse_size) + " elements ([B, H, Tq]), got " +
                         std::to_string(lse.ElementLength()));
  for (size_t i = 0; i < lse.ElementLength(); ++i)
    if (!std::isfinite(lse[i])) range_error(env, "lse[" + std::to_string(i) + "] must be finite (the forward pass's lse), got " + std::to_string(lse[i]));

  Napi::Float32Array dq = new_float32(env, element_count(env, {s.batch, s.q_len, s.heads, s.head_dim}, "dq"));
  Napi::Float32Array dk = new_float32(env, element_count(env, {s.batch, s.kv_len, s.kv_heads, s.head_dim}, "dk"));
  Napi::Float32Array dv = new_float32(env, element_count(env, {s.batch, s.kv_len, s.kv_heads, s.head_dim}, "dv"));
  w2s::attention_backward(s, a.q.view(), a.k.view(), a.v.view(), out.view(), lse.Data(), dout.view(), a.options.options(),
                          output_view(dq, a.q.shape), output_view(dk, a.k.shape), output_view(dv, a.k.shape));
  Napi::Object result = Napi::Object::New(env);
  result.Set("dq", dq);
  result.Set("dk", dk);
  result.Set("dv", dv);
  return result;
}

struct LossArgs {
  Napi::Float32Array logits, targets;
  int64_t n = 0, c = 0;
};

LossArgs loss_args(const Napi::CallbackInfo& info, const char* targets_name) {
  Napi::Env env = info.Env();
  LossArgs a{float32_array(env, info[0], "logits"), float32_array(env, info[1], targets_name)};
  a.c = integer(env, info[2], "numClasses", 2);
  const int64_t length = static_cast<int64_t>(a.logits.ElementLength());
  if (length % a.c != 0)
    range_error(env, "logits has " + std::to_string(length) + " elements, not a multiple of numClasses = " + std::to_string(a.c));
  a.n = length / a.c;
  if (a.n == 0) range_error(env, "logits is empty: N (rows) must be >= 1");
  if (static_cast<int64_t>(a.targets.ElementLength()) != length)
    range_error(env, std::string(targets_name) + " must have N*C = " + std::to_string(length) + " elements like logits, got " +
                         std::to_string(a.targets.ElementLength()));
  return a;
}

float coefficient(Napi::Env env, const Napi::Object& opts, const char* key, double max) {
  const Napi::Value v = opts.Get(key);
  const std::string name = std::string("opts.") + key;
  if (!v.IsNumber()) type_error(env, name + " must be a number, got " + describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x) || x < 0.0 || x > max)
    range_error(env, name + " must be a finite number in [0, " + (max > 1e30 ? std::string("Infinity") : format_number(max)) +
                         "], got " + describe(v));
  return static_cast<float>(x);
}

bool overlaps(const Napi::Float32Array& a, const Napi::Float32Array& b) {
  const auto* a0 = reinterpret_cast<const char*>(a.Data());
  const auto* b0 = reinterpret_cast<const char*>(b.Data());
  return a0 < b0 + b.ByteLength() && b0 < a0 + a.ByteLength();
}

// opts.dLogits: an optional caller-owned output buffer (N*C floats, not overlapping the inputs),
// so that a training loop does not allocate (and page-fault in) a new gradient every step.
Napi::Float32Array loss_output(Napi::Env env, const Napi::Value& opts_value, const LossArgs& a, const char* targets_name) {
  if (!opts_value.IsUndefined()) {
    const Napi::Value out = object(env, opts_value, "opts").Get("dLogits");
    if (!out.IsUndefined()) {
      Napi::Float32Array dz = float32_array(env, out, "opts.dLogits");
      if (static_cast<int64_t>(dz.ElementLength()) != a.n * a.c)
        range_error(env, "opts.dLogits must have N*C = " + std::to_string(a.n * a.c) + " elements like logits, got " +
                             std::to_string(dz.ElementLength()));
      if (overlaps(dz, a.logits)) range_error(env, "opts.dLogits must not overlap logits");
      if (overlaps(dz, a.targets)) range_error(env, std::string("opts.dLogits must not overlap ") + targets_name);
      return dz;
    }
  }
  return new_float32(env, a.n * a.c);
}

Napi::Object loss_result(Napi::Env env, double loss, Napi::Float32Array dlogits) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", Napi::Number::New(env, loss));
  result.Set("dLogits", dlogits);
  return result;
}

Napi::Value xent_loss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (is_device_tensor(env, info[0])) return device_loss(info, DeviceLoss::Xent, "targets", 0.0f, 0.0f);
  expect_host(env, info[1], "targets", "logits");
  LossArgs a = loss_args(info, "targets");
  Napi::Float32Array dz = loss_output(env, info[3], a, "targets");
  const double loss = w2s::xent_loss(a.logits.Data(), a.targets.Data(), a.n, a.c, dz.Data(), "targets");
  return loss_result(env, loss, dz);
}

Napi::Value logconf_loss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const float alpha = coefficient(env, object(env, info[3], "opts"), "alpha", 1.0);
  if (is_device_tensor(env, info[0])) return device_loss(info, DeviceLoss::Logconf, "weakTargets", alpha, 0.0f);
  expect_host(env, info[1], "weakTargets", "logits");
  LossArgs a = loss_args(info, "weakTargets");
  const Napi::Object opts = info[3].As<Napi::Object>();
  Napi::Float32Array dz = loss_output(env, opts, a, "weakTargets");
  const double loss = w2s::logconf_loss(a.logits.Data(), a.targets.Data(), a.n, a.c, alpha, dz.Data(), "weakTargets");
  return loss_result(env, loss, dz);
}

Napi::Value product_loss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object opts = object(env, info[3], "opts");
  const float alpha = coefficient(env, opts, "alpha", std::numeric_limits<float>::max());
  const float beta = coefficient(env, opts, "beta", std::numeric_limits<float>::max());
  if (is_device_tensor(env, info[0])) return device_loss(info, DeviceLoss::Product, "weakTargets", alpha, beta);
  expect_host(env, info[1], "weakTargets", "logits");
  LossArgs a = loss_args(info, "weakTargets");
  Napi::Float32Array dz = loss_output(env, opts, a, "weakTargets");
  const double loss = w2s::product_loss(a.logits.Data(), a.targets.Data(), a.n, a.c, alpha, beta, dz.Data(), "weakTargets");
  return loss_result(env, loss, dz);
}

// sgemm(a, b, m, n, k, {transA?, transB?, impl?: "blas" | "blocked"}) -> c [M, N] = op(A) op(B)
Napi::Value sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Float32Array a = float32_array(env, info[0], "a");
  const Napi::Float32Array b = float32_array(env, info[1], "b");
  const int64_t m = integer(env, info[2], "m", 1), n = integer(env, info[3], "n", 1), k = integer(env, info[4], "k", 1);
  bool trans_a = false, trans_b = false, blocked = false;
  if (!info[5].IsUndefined()) {
    const Napi::Object opts = object(env, info[5], "opts");
    const auto flag = [&](const char* key) {
      const Napi::Value v = opts.Get(key);
      if (v.IsUndefined()) return false;
      if (!v.IsBoolean()) type_error(env, std::string("opts.") + key + " must be a boolean, got " + describe(v));
      return v.As<Napi::Boolean>().Value();
    };
    trans_a = flag("transA");
    trans_b = flag("transB");
    const Napi::Value impl = opts.Get("impl");
    if (!impl.IsUndefined()) {
      const std::string name = impl.IsString() ? impl.As<Napi::String>().Utf8Value() : "";
      if (name != "blas" && name != "blocked")
        range_error(env, "opts.impl must be \"blas\" or \"blocked\", got " + describe(impl));
      blocked = name == "blocked";
    }
  }
  const int64_t a_size = checked_mul(env, m, k, "m*k"), b_size = checked_mul(env, k, n, "k*n");
  if (static_cast<int64_t>(a.ElementLength()) != a_size)
    range_error(env, "a must have m*k = " + std::to_string(a_size) + " elements, got " + std::to_string(a.ElementLength()));
  if (static_cast<int64_t>(b.ElementLength()) != b_size)
    range_error(env, "b must have k*n = " + std::to_string(b_size) + " elements, got " + std::to_string(b.ElementLength()));
  Napi::Float32Array c = new_float32(env, checked_mul(env, m, n, "m*n"));
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  (blocked ? w2s::blocked_sgemm : w2s::sgemm)(trans_a, trans_b, m, n, k, 1.0f, a.Data(), lda, b.Data(), ldb, 0.0f, c.Data(), n);
  return c;
}

// copy(dst, src): the memory-bandwidth yardstick, split over the kernel threads like the kernels.
Napi::Value copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array dst = float32_array(env, info[0], "dst");
  const Napi::Float32Array src = float32_array(env, info[1], "src");
  if (dst.ElementLength() != src.ElementLength())
    range_error(env, "dst and src must have the same length, got " + std::to_string(dst.ElementLength()) + " and " +
                         std::to_string(src.ElementLength()));
  const int64_t n = static_cast<int64_t>(src.ElementLength());
  const int64_t parts = w2s::num_threads();
  float* d = dst.Data();
  const float* s = src.Data();
  w2s::parallel::for_each(parts, [&](int64_t part, int) {
    const int64_t begin = n * part / parts, end = n * (part + 1) / parts;
    std::memcpy(d + begin, s + begin, static_cast<size_t>(end - begin) * sizeof(float));
  });
  return env.Undefined();
}

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  const int64_t n = integer(info.Env(), info[0], "threads", 1);
  if (n > 4096) range_error(info.Env(), "threads must be <= 4096, got " + std::to_string(n));
  w2s::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value num_threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), w2s::num_threads()); }

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const w2s::BackendInfo b = w2s::backend_info();
  Napi::Object result = Napi::Object::New(env);
  result.Set("blas", b.blas);
  result.Set("blasNote", b.blas_note);
  result.Set("threads", b.threads);
  result.Set("simd", b.simd);
  result.Set("cudaCompiled", b.cuda_compiled);
  result.Set("cudaAvailable", b.cuda_available);
  result.Set("cudaReason", b.cuda_reason);
  result.Set("cudaDevice", b.cuda_device);
  return result;
}

// attentionWorkspaceBytes(headDim, threads) -> {forward, backward}: scratch the kernels allocate.
Napi::Value attention_workspace_bytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  w2s::AttentionShape s;
  s.head_dim = integer(env, info[0], "headDim", 1);
  const int64_t threads = integer(env, info[1], "threads", 1);
  if (threads > 4096) range_error(env, "threads must be <= 4096, got " + std::to_string(threads));
  Napi::Object result = Napi::Object::New(env);
  result.Set("forward", Napi::Number::New(env, static_cast<double>(w2s::attention_forward_workspace_bytes(s, static_cast<int>(threads)))));
  result.Set("backward", Napi::Number::New(env, static_cast<double>(w2s::attention_backward_workspace_bytes(s, static_cast<int>(threads)))));
  return result;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New<guarded<attention_forward>>(env, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New<guarded<attention_backward>>(env, "attentionBackward"));
  exports.Set("xentLoss", Napi::Function::New<guarded<xent_loss>>(env, "xentLoss"));
  exports.Set("logconfLoss", Napi::Function::New<guarded<logconf_loss>>(env, "logconfLoss"));
  exports.Set("productLoss", Napi::Function::New<guarded<product_loss>>(env, "productLoss"));
  exports.Set("sgemm", Napi::Function::New<guarded<sgemm>>(env, "sgemm"));
  exports.Set("copy", Napi::Function::New<guarded<copy>>(env, "copy"));
  exports.Set("setNumThreads", Napi::Function::New<guarded<set_num_threads>>(env, "setNumThreads"));
  exports.Set("numThreads", Napi::Function::New<guarded<num_threads>>(env, "numThreads"));
  exports.Set("backendInfo", Napi::Function::New<guarded<backend_info>>(env, "backendInfo"));
  exports.Set("attentionWorkspaceBytes", Napi::Function::New<guarded<attention_workspace_bytes>>(env, "attentionWorkspaceBytes"));
  register_device(env, exports);
  register_engine(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(w2s_native, init)
