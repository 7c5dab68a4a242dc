// Device tensors in the addon, and the kernels on them (src/cuda through include/w2s/cuda.h).
//
// A DeviceTensor is a float32 view {shape, strides, offset} of a device allocation. toDevice copies
// a host tensor's span there; toHost copies it back; view() makes another view of the same
// allocation. The allocation is freed when its last view is disposed (dispose()) or garbage
// collected (the finalizer: a safety net, not a schedule — dispose what you are done with).
// The kernels accept DeviceTensors in place of host tensors and return DeviceTensors, so data stays
// on the GPU between calls. Everything is validated here, on the main thread, before any launch.
#include <napi.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "args.h"
#include "w2s/cuda.h"

namespace w2s::napi {
namespace {

constexpr size_t kMaxRank = 8;

struct AddonData {
  Napi::FunctionReference device_tensor;
};

// Marks the objects the DeviceTensor constructor made (instanceof can be fooled from JS, a type
// tag cannot), so that no other object is ever taken for one.
constexpr napi_type_tag kDeviceTensorTag = {0x5732'5344'6576'5465ULL, 0x6e73'6f72'0000'0001ULL};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t step = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

// A device view as one call sees it: the allocation is held for the whole call, so a getter that
// disposes the JS object while the call reads its options cannot free memory the call uses.
struct Held {
  std::shared_ptr<cuda::DeviceBuffer> buffer;
  std::vector<int64_t> shape, strides;
  int64_t offset = 0;

  float* data() const { return buffer->floats() + offset; }
  bool contiguous() const { return strides == contiguous_strides(shape); }
  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  // Index (from the start of the allocation) one past the last element the view touches.
  int64_t span_end() const {
    int64_t last = offset;
    for (size_t i = 0; i < shape.size(); ++i) last += (shape[i] - 1) * strides[i];
    return last + 1;
  }
};

class DeviceTensor : public Napi::ObjectWrap<DeviceTensor> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "DeviceTensor",
                       {InstanceAccessor<&DeviceTensor::get_shape>("shape"),
                        InstanceAccessor<&DeviceTensor::get_strides>("strides"),
                        InstanceAccessor<&DeviceTensor::get_offset>("offset"),
                        InstanceAccessor<&DeviceTensor::get_size>("size"),
                        InstanceAccessor<&DeviceTensor::get_bytes>("bytes"),
                        InstanceAccessor<&DeviceTensor::get_disposed>("disposed"),
                        InstanceMethod<&DeviceTensor::guarded<&DeviceTensor::view>>("view"),
                        InstanceMethod<&DeviceTensor::dispose>("dispose")});
  }

  // Only create() makes one: it passes an External holding the pending state.
  explicit DeviceTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceTensor>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "DeviceTensor cannot be constructed directly: use toDevice(tensor)");
    view_ = std::move(*info[0].As<Napi::External<Held>>().Data());
    info.This().As<Napi::Object>().TypeTag(&kDeviceTensorTag);
  }

  static Napi::Object create(Napi::Env env, Held view) {
    return env.GetInstanceData<AddonData>()->device_tensor.New({Napi::External<Held>::New(env, &view)});
  }

  // A new contiguous allocation of this shape: the JS object, and the call's hold on it.
  static std::pair<Napi::Object, Held> allocate(Napi::Env env, const std::vector<int64_t>& shape) {
    int64_t size = 1;
    for (int64_t d : shape) size = checked_mul(env, size, d, "tensor size");
    Held view{std::make_shared<cuda::DeviceBuffer>(sizeof(float) * size), shape, contiguous_strides(shape), 0};
    return {create(env, view), view};
  }

  // The DeviceTensor behind a value, or nullptr for any other value.
  static DeviceTensor* unwrap_if(const Napi::Value& value) {
    if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kDeviceTensorTag)) return nullptr;
    return Napi::ObjectWrap<DeviceTensor>::Unwrap(value.As<Napi::Object>());
  }

  bool disposed() const { return view_.buffer == nullptr; }
  const Held& held() const { return view_; }

 private:
  static Napi::Array numbers(Napi::Env env, const std::vector<int64_t>& xs) {
    Napi::Array a = Napi::Array::New(env, xs.size());
    for (uint32_t i = 0; i < xs.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(xs[i])));
    return a;
  }

  template <Napi::Value (DeviceTensor::*Method)(const Napi::CallbackInfo&)>
  Napi::Value guarded(const Napi::CallbackInfo& info) {
    try {
      if (disposed()) throw Napi::Error::New(info.Env(), "this DeviceTensor was disposed");
      return (this->*Method)(info);
    } catch (...) {
      rethrow_as_js(info.Env());
    }
  }

  Napi::Value get_shape(const Napi::CallbackInfo& info) { return numbers(info.Env(), view_.shape); }
  Napi::Value get_strides(const Napi::CallbackInfo& info) { return numbers(info.Env(), view_.strides); }
  Napi::Value get_offset(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(view_.offset)); }
  Napi::Value get_size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(view_.size())); }
  Napi::Value get_bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), disposed() ? 0.0 : static_cast<double>(view_.buffer->bytes()));
  }
  Napi::Value get_disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed()); }

  // view(shape, strides?, offset?) -> a DeviceTensor of the same allocation; offset counts from this
  // view's first element.
  Napi::Value view(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Held self = view_;  // held before reading the arguments (their getters run JS)
    std::vector<int64_t> shape = dimensions(env, info[0], "shape");
    std::vector<int64_t> strides = info[1].IsUndefined() ? contiguous_strides(shape)
                                                         : integer_list(env, info[1], "strides", shape.size(), 0);
    const int64_t offset = checked_add(env, self.offset, info[2].IsUndefined() ? 0 : integer(env, info[2], "offset", 0), "offset");
    int64_t end = offset;
    for (size_t i = 0; i < shape.size(); ++i) end = checked_add(env, end, checked_mul(env, shape[i] - 1, strides[i], "view"), "view");
    const int64_t capacity = static_cast<int64_t>(self.buffer->bytes() / sizeof(float));
    if (end + 1 > capacity)
      range_error(env, "view (shape " + join(shape) + ", strides " + join(strides) + ", offset " + std::to_string(offset) +
                           " from the start of the allocation) reaches element " + std::to_string(end) +
                           " but the allocation has " + std::to_string(capacity));
    return create(env, Held{self.buffer, std::move(shape), std::move(strides), offset});
  }

  // dispose() -> void: drops this view's hold on the allocation (freed with its last view).
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    view_.buffer.reset();
    return info.Env().Undefined();
  }

 public:
  // A shape: 1 to kMaxRank integers >= 1.
  static std::vector<int64_t> dimensions(Napi::Env env, const Napi::Value& v, const std::string& name) {
    if (!v.IsArray()) type_error(env, name + " must be an array of integers, got " + describe(v));
    const uint32_t rank = v.As<Napi::Array>().Length();
    if (rank < 1 || rank > kMaxRank)
      range_error(env, name + " must have 1 to " + std::to_string(kMaxRank) + " entries, got " + std::to_string(rank));
    return integer_list(env, v, name, rank, 1);
  }

 private:
  Held view_;
};

// The DeviceTensor argument `name` (not disposed), or a TypeError saying what it is instead.
// The DeviceTensor argument `name`, held for the call. `like`: the argument that made the call a
// device call (nullptr: none).
Held device_tensor(const Napi::Value& value, const std::string& name, const char* like) {
  Napi::Env env = value.Env();
  DeviceTensor* t = DeviceTensor::unwrap_if(value);
  if (t == nullptr)
    type_error(env, name + " must be a DeviceTensor" +
                        (like ? std::string(" like ") + like + " (every tensor of a call on the same device: use toDevice)"
                              : std::string(" (from toDevice or a kernel)")) +
                        ", got " + describe(value));
  if (t->disposed()) range_error(env, name + " was disposed");
  return t->held();
}

// A rank-4 [B, T, H, D] DeviceTensor as a kernel view.
ConstView4 view4(Napi::Env env, const Held& t, const std::string& name, const char* layout) {
  if (t.shape.size() != 4) range_error(env, name + ".shape must have 4 entries " + layout + ", got " + join(t.shape));
  if (t.strides[3] != 1)
    range_error(env, name + ".strides[3] must be 1 (the head dimension D is contiguous), got " + std::to_string(t.strides[3]));
  ConstView4 v;
  v.data = t.data();
  for (int i = 0; i < 4; ++i) v.stride[i] = t.strides[i];
  return v;
}

View4 output4(const Held& t) {
  View4 v;
  v.data = t.data();
  for (int i = 0; i < 4; ++i) v.stride[i] = t.strides[i];
  return v;
}

// toDevice(tensor | Float32Array) -> DeviceTensor with the same shape, strides and offset
// (only the span the view touches is copied).
Napi::Value to_device(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (DeviceTensor::unwrap_if(info[0])) type_error(env, "tensor is already a DeviceTensor");
  Napi::Float32Array data;
  std::vector<int64_t> shape, strides;
  int64_t offset = 0;
  if (info[0].IsTypedArray()) {
    data = float32_array(env, info[0], "tensor");
    if (data.ElementLength() == 0) range_error(env, "tensor is empty");
    shape = {static_cast<int64_t>(data.ElementLength())};
    strides = {1};
  } else {
    const Napi::Object obj = object(env, info[0], "tensor");
    data = float32_array(env, obj.Get("data"), "tensor.data");
    shape = DeviceTensor::dimensions(env, obj.Get("shape"), "tensor.shape");
    const Napi::Value s = obj.Get("strides"), o = obj.Get("offset");
    strides = s.IsUndefined() ? contiguous_strides(shape) : integer_list(env, s, "tensor.strides", shape.size(), 0);
    if (!o.IsUndefined()) offset = integer(env, o, "tensor.offset", 0);
  }
  int64_t last = offset;
  for (size_t i = 0; i < shape.size(); ++i)
    last = checked_add(env, last, checked_mul(env, shape[i] - 1, strides[i], "tensor"), "tensor");
  const int64_t length = static_cast<int64_t>(data.ElementLength());
  if (last >= length)
    range_error(env, "tensor (shape " + join(shape) + ", strides " + join(strides) + ", offset " + std::to_string(offset) +
                         ") reaches element " + std::to_string(last) + " but data has " + std::to_string(length) + " elements");
  const int64_t span = last + 1 - offset;
  auto buffer = std::make_shared<cuda::DeviceBuffer>(sizeof(float) * span);
  cuda::copy_to_device(buffer->data(), data.Data() + offset, sizeof(float) * span);
  return DeviceTensor::create(env, Held{std::move(buffer), std::move(shape), std::move(strides), 0});
}

// toHost(deviceTensor) -> {data, shape} (contiguous), or {data, shape, strides, offset: 0} for a
// strided view (data holds the span the view touches).
Napi::Value to_host(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Held t = device_tensor(info[0], "deviceTensor", nullptr);
  const int64_t span = t.span_end() - t.offset;
  Napi::Float32Array data = Napi::Float32Array::New(env, static_cast<size_t>(span));
  cuda::copy_to_host(data.Data(), t.data(), sizeof(float) * span);
  Napi::Object result = Napi::Object::New(env);
  result.Set("data", data);
  Napi::Array shape = Napi::Array::New(env, t.shape.size());
  for (uint32_t i = 0; i < t.shape.size(); ++i) shape.Set(i, Napi::Number::New(env, static_cast<double>(t.shape[i])));
  result.Set("shape", shape);
  if (!t.contiguous()) {
    Napi::Array strides = Napi::Array::New(env, t.strides.size());
    for (uint32_t i = 0; i < t.strides.size(); ++i) strides.Set(i, Napi::Number::New(env, static_cast<double>(t.strides[i])));
    result.Set("strides", strides);
    result.Set("offset", Napi::Number::New(env, 0));
  }
  return result;
}

bool overlaps(const Held& a, const Held& b) {
  return a.buffer == b.buffer && a.offset < b.span_end() && b.offset < a.span_end();
}

}  // namespace

bool is_device_tensor(Napi::Env, const Napi::Value& value) { return DeviceTensor::unwrap_if(value) != nullptr; }

// attentionForward(q, k, v, opts) on DeviceTensors -> {out, lse} DeviceTensors.
Napi::Value device_attention_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Held q = device_tensor(info[0], "q", "q"), k = device_tensor(info[1], "k", "q"), v = device_tensor(info[2], "v", "q");
  const ConstView4 qv = view4(env, q, "q", "[B, Tq, H, D]"), kv = view4(env, k, "k", "[B, Tk, Hkv, D]"),
                   vv = view4(env, v, "v", "[B, Tk, Hkv, D]");
  const AttentionShape shape = attention_shape(env, q.shape, k.shape, v.shape);
  const ParsedAttentionOptions opts = attention_options(env, info[3], shape, q.shape, k.shape);
  const auto [out, out_held] = DeviceTensor::allocate(env, q.shape);
  const auto [lse, lse_held] = DeviceTensor::allocate(env, {shape.batch, shape.heads, shape.q_len});
  cuda::attention_forward(shape, qv, kv, vv, opts.options(), opts.precision, output4(out_held), lse_held.data());
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out);
  result.Set("lse", lse);
  return result;
}

// attentionBackward(dOut, q, k, v, out, lse, opts) on DeviceTensors -> {dq, dk, dv} DeviceTensors.
Napi::Value device_attention_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Held dout = device_tensor(info[0], "dOut", "q"), q = device_tensor(info[1], "q", "dOut"),
             k = device_tensor(info[2], "k", "dOut"), v = device_tensor(info[3], "v", "dOut"),
             out = device_tensor(info[4], "out", "dOut"), lse = device_tensor(info[5], "lse", "dOut");
  const ConstView4 qv = view4(env, q, "q", "[B, Tq, H, D]"), kv = view4(env, k, "k", "[B, Tk, Hkv, D]"),
                   vv = view4(env, v, "v", "[B, Tk, Hkv, D]"), dov = view4(env, dout, "dOut", "[B, Tq, H, D]"),
                   ov = view4(env, out, "out", "[B, Tq, H, D]");
  const AttentionShape shape = attention_shape(env, q.shape, k.shape, v.shape);
  if (dout.shape != q.shape) range_error(env, "dOut.shape must be " + join(q.shape) + " (the same as q), got " + join(dout.shape));
  if (out.shape != q.shape) range_error(env, "out.shape must be " + join(q.shape) + " (the same as q), got " + join(out.shape));
  const std::vector<int64_t> lse_shape = {shape.batch, shape.heads, shape.q_len};
  if (lse.shape != lse_shape || !lse.contiguous())
    range_error(env, "lse must be the contiguous [B, H, Tq] = " + join(lse_shape) +
                         " DeviceTensor returned by attentionForward, got shape " + join(lse.shape));
  const ParsedAttentionOptions opts = attention_options(env, info[6], shape, q.shape, k.shape);
  const auto [dq, dq_held] = DeviceTensor::allocate(env, q.shape);
  const auto [dk, dk_held] = DeviceTensor::allocate(env, k.shape);
  const auto [dv, dv_held] = DeviceTensor::allocate(env, k.shape);
  cuda::attention_backward(shape, qv, kv, vv, ov, lse.data(), dov, opts.options(), opts.precision, output4(dq_held),
                           output4(dk_held), output4(dv_held));
  Napi::Object result = Napi::Object::New(env);
  result.Set("dq", dq);
  result.Set("dk", dk);
  result.Set("dv", dv);
  return result;
}

// xentLoss / logconfLoss / productLoss on DeviceTensors: logits and targets contiguous, N*C
// elements each; opts.dLogits an optional DeviceTensor to write (N*C, not overlapping the inputs).
// Returns {loss, dLogits} with dLogits a DeviceTensor [N, C].
Napi::Value device_loss(const Napi::CallbackInfo& info, DeviceLoss kind, const char* targets_name, float alpha, float beta) {
  Napi::Env env = info.Env();
  const Held logits = device_tensor(info[0], "logits", "logits"), targets = device_tensor(info[1], targets_name, "logits");
  const int64_t c = integer(env, info[2], "numClasses", 2);
  if (!logits.contiguous()) range_error(env, "logits must be a contiguous DeviceTensor");
  if (!targets.contiguous()) range_error(env, std::string(targets_name) + " must be a contiguous DeviceTensor");
  const int64_t length = logits.size();
  if (length % c != 0)
    range_error(env, "logits has " + std::to_string(length) + " elements, not a multiple of numClasses = " + std::to_string(c));
  const int64_t n = length / c;
  if (targets.size() != length)
    range_error(env, std::string(targets_name) + " must have N*C = " + std::to_string(length) + " elements like logits, got " +
                         std::to_string(targets.size()));
  Napi::Value dlogits_value = env.Undefined();
  if (!info[3].IsUndefined()) dlogits_value = object(env, info[3], "opts").Get("dLogits");
  Napi::Object dlogits;
  Held dz;
  if (!dlogits_value.IsUndefined()) {
    dz = device_tensor(dlogits_value, "opts.dLogits", "logits");
    if (!dz.contiguous() || dz.size() != length)
      range_error(env, "opts.dLogits must be a contiguous DeviceTensor of N*C = " + std::to_string(length) + " elements, got shape " +
                           join(dz.shape));
    if (overlaps(dz, logits)) range_error(env, "opts.dLogits must not overlap logits");
    if (overlaps(dz, targets)) range_error(env, std::string("opts.dLogits must not overlap ") + targets_name);
    dlogits = dlogits_value.As<Napi::Object>();
  } else {
    std::tie(dlogits, dz) = DeviceTensor::allocate(env, {n, c});
  }
  double loss = 0.0;
  switch (kind) {
    case DeviceLoss::Xent: loss = cuda::xent_loss(logits.data(), targets.data(), n, c, dz.data(), targets_name); break;
    case DeviceLoss::Logconf: loss = cuda::logconf_loss(logits.data(), targets.data(), n, c, alpha, dz.data(), targets_name); break;
    case DeviceLoss::Product:
      loss = cuda::product_loss(logits.data(), targets.data(), n, c, alpha, beta, dz.data(), targets_name);
      break;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", Napi::Number::New(env, loss));
  result.Set("dLogits", dlogits);
  return result;
}

void register_device(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  const Napi::Function constructor = DeviceTensor::define(env);
  data->device_tensor = Napi::Persistent(constructor);
  env.SetInstanceData<AddonData>(data);
  exports.Set("DeviceTensor", constructor);
  exports.Set("toDevice", Napi::Function::New<guarded<to_device>>(env, "toDevice"));
  exports.Set("toHost", Napi::Function::New<guarded<to_host>>(env, "toHost"));
}

}  // namespace w2s::napi
