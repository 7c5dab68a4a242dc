// Argument checking shared by the binding's files: every failure becomes a JS exception that
// names the argument and what was expected (TypeError for a wrong type, RangeError for a wrong
// value). `guarded` wraps every export so that no C++ exception ever reaches N-API.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "w2s/cuda.h"
#include "w2s/kernels.h"

namespace w2s::napi {

[[noreturn]] inline void type_error(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }
[[noreturn]] inline void range_error(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

inline std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "another typed array";
    }
  }
  if (v.IsArray()) return "an array";
  if (v.IsNumber()) return "the number " + v.ToString().Utf8Value();
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsFunction()) return "a function";
  return "an object";
}

inline std::string format_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", x);
  return buffer;
}

inline std::string join(const std::vector<int64_t>& xs) {
  std::string s = "[";
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? ", " : "") + std::to_string(xs[i]);
  return s + "]";
}

constexpr double kMaxSafeInteger = 9007199254740991.0;
constexpr int64_t kMaxElements = int64_t{1} << 40;  // far above any typed array; products stay in int64

// a * b for sizes and offsets, refusing what would overflow (a wrapped size could pass a bounds check).
inline int64_t checked_mul(Napi::Env env, int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > kMaxElements) range_error(env, what + " is too large");
  return r;
}
inline int64_t checked_add(Napi::Env env, int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r) || r > kMaxElements) range_error(env, what + " is too large");
  return r;
}
inline int64_t element_count(Napi::Env env, std::initializer_list<int64_t> dims, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) n = checked_mul(env, n, d, what);
  return n;
}

inline int64_t integer(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t min) {
  if (!v.IsNumber()) type_error(env, name + " must be an integer, got " + describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x) || std::floor(x) != x || std::fabs(x) > kMaxSafeInteger)
    range_error(env, name + " must be an integer, got " + describe(v));
  if (x < static_cast<double>(min)) range_error(env, name + " must be >= " + std::to_string(min) + ", got " + describe(v));
  return static_cast<int64_t>(x);
}

inline Napi::Float32Array float32_array(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    type_error(env, name + " must be a Float32Array, got " + describe(v));
  return v.As<Napi::Float32Array>();
}

inline Napi::Object object(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction())
    type_error(env, name + " must be an object, got " + describe(v));
  return v.As<Napi::Object>();
}

inline std::vector<int64_t> integer_list(Napi::Env env, const Napi::Value& v, const std::string& name, size_t rank, int64_t min) {
  if (!v.IsArray()) type_error(env, name + " must be an array of " + std::to_string(rank) + " integers, got " + describe(v));
  const auto arr = v.As<Napi::Array>();
  if (arr.Length() != rank)
    range_error(env, name + " must have " + std::to_string(rank) + " entries, got " + std::to_string(arr.Length()));
  std::vector<int64_t> out(rank);
  for (uint32_t i = 0; i < rank; ++i) out[i] = integer(env, arr.Get(i), name + "[" + std::to_string(i) + "]", min);
  return out;
}

// Rethrows the exception being handled as the JS error it stands for. Call only inside catch.
[[noreturn]] inline void rethrow_as_js(Napi::Env env) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const w2s::InvalidArgument& e) {
    if (e.kind == w2s::InvalidArgument::Kind::Type) throw Napi::TypeError::New(env, e.what());
    throw Napi::RangeError::New(env, e.what());
  } catch (const w2s::NonFiniteInput& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory in the w2s native addon");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("w2s native addon: ") + e.what());
  }
}

// Every export runs inside this guard: no C++ exception ever reaches N-API (which would abort).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (...) {
    rethrow_as_js(info.Env());
  }
}

// ---- shared by binding.cpp (host tensors) and device_binding.cpp (device tensors) -----------------

// B, Tq, Tk, H, Hkv, D from the shapes of q [B, Tq, H, D], k and v [B, Tk, Hkv, D] (checked).
AttentionShape attention_shape(Napi::Env env, const std::vector<int64_t>& q, const std::vector<int64_t>& k,
                               const std::vector<int64_t>& v);

// The opts {causal?, scale?, kvLengths?, precision?} of attentionForward/Backward, validated
// (validate_attention included) against the shape.
struct ParsedAttentionOptions {
  AttentionOptions base;
  std::vector<int32_t> kv_lengths;
  cuda::Precision precision = cuda::Precision::Float32;
  AttentionOptions options() const {
    AttentionOptions o = base;
    o.kv_lengths = kv_lengths.empty() ? nullptr : kv_lengths.data();
    return o;
  }
};
ParsedAttentionOptions attention_options(Napi::Env env, const Napi::Value& value, const AttentionShape& shape,
                                         const std::vector<int64_t>& q_shape, const std::vector<int64_t>& k_shape);

// device_binding.cpp: whether a value is a DeviceTensor, and the kernels on DeviceTensors.
bool is_device_tensor(Napi::Env env, const Napi::Value& value);
Napi::Value device_attention_forward(const Napi::CallbackInfo& info);
Napi::Value device_attention_backward(const Napi::CallbackInfo& info);
enum class DeviceLoss { Xent, Logconf, Product };
Napi::Value device_loss(const Napi::CallbackInfo& info, DeviceLoss kind, const char* targets_name, float alpha, float beta);
// Adds DeviceTensor, toDevice and toHost to the exports.
void register_device(Napi::Env env, Napi::Object exports);

}  // namespace w2s::napi

// Defined in engine_binding.cpp: adds the Engine class to the addon's exports.
void register_engine(Napi::Env env, Napi::Object exports);
