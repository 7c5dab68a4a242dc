// The Engine class of the addon: a thin wrapper over w2s::engine::Model. It validates every
// argument (names, types, lengths, ranges) on the main thread, copies the batch into memory it
// owns, and runs forward/backward/trainStep on a libuv worker thread behind a promise, so the
// event loop (progress output, Ctrl-C) keeps running during a step. One operation at a time per
// engine: a call while another is in flight throws.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../engine/device.h"
#include "args.h"
#include "w2s/engine.h"

namespace {

using namespace w2s::napi;
namespace eng = w2s::engine;

Napi::Int32Array int32_array(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    type_error(env, name + " must be an Int32Array, got " + describe(v));
  return v.As<Napi::Int32Array>();
}

double number(Napi::Env env, const Napi::Value& v, const std::string& name, double fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) type_error(env, name + " must be a number, got " + describe(v));
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) range_error(env, name + " must be finite, got " + describe(v));
  return x;
}

bool boolean(Napi::Env env, const Napi::Value& v, const std::string& name, bool fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) type_error(env, name + " must be a boolean, got " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string string_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsString()) type_error(env, name + " must be a string, got " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

// One of `names` (a string field), as its index.
size_t choice(Napi::Env env, const Napi::Value& v, const std::string& name, const std::vector<std::string>& names) {
  const std::string got = string_value(env, v, name);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == got) return i;
  std::string expected;
  for (size_t i = 0; i < names.size(); ++i) expected += (i ? ", \"" : "\"") + names[i] + "\"";
  range_error(env, name + " must be one of " + expected + ", got \"" + got + "\"");
}

bool required_boolean(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsBoolean()) type_error(env, name + " must be a boolean, got " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

double required_number(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsUndefined()) type_error(env, name + " must be a number, got undefined");
  return number(env, v, name, 0.0);
}

// config.architecture: the feature record RawArchitecture of native/index.d.ts.
eng::Architecture parse_architecture(Napi::Env env, const Napi::Value& value) {
  const std::string name = "config.architecture";
  const Napi::Object o = object(env, value, name);
  eng::Architecture a;
  a.norm = static_cast<eng::Norm>(choice(env, o.Get("norm"), name + ".norm", {"layerNorm", "rmsNorm"}));
  a.mlp = static_cast<eng::Mlp>(choice(env, o.Get("mlp"), name + ".mlp", {"geluTanh", "geluExact", "swiglu"}));
  const Napi::Object positions = object(env, o.Get("positions"), name + ".positions");
  a.positions = static_cast<eng::Positions>(choice(env, positions.Get("kind"), name + ".positions.kind", {"learned", "rope"}));
  if (a.positions == eng::Positions::Rope) {
    a.rope_theta = required_number(env, positions.Get("theta"), name + ".positions.theta");
    a.rotary_fraction = required_number(env, positions.Get("rotaryFraction"), name + ".positions.rotaryFraction");
    const Napi::Value scaling = positions.Get("scaling");
    if (!scaling.IsNull()) {
      const std::string sname = name + ".positions.scaling";
      const Napi::Object so = object(env, scaling, sname);
      choice(env, so.Get("kind"), sname + ".kind", {"llama3"});
      a.rope_scaling.factor = required_number(env, so.Get("factor"), sname + ".factor");
      a.rope_scaling.low_freq_factor = required_number(env, so.Get("lowFreqFactor"), sname + ".lowFreqFactor");
      a.rope_scaling.high_freq_factor = required_number(env, so.Get("highFreqFactor"), sname + ".highFreqFactor");
      a.rope_scaling.original_context_length =
          integer(env, so.Get("originalContextLength"), sname + ".originalContextLength", 1);
    }
  }
  const Napi::Object biases = object(env, o.Get("biases"), name + ".biases");
  a.qkv_bias = required_boolean(env, biases.Get("qkv"), name + ".biases.qkv");
  a.attn_out_bias = required_boolean(env, biases.Get("attnOut"), name + ".biases.attnOut");
  a.mlp_bias = required_boolean(env, biases.Get("mlp"), name + ".biases.mlp");
  a.parallel_residual = required_boolean(env, o.Get("parallelResidual"), name + ".parallelResidual");
  a.tied_embeddings = required_boolean(env, o.Get("tiedEmbeddings"), name + ".tiedEmbeddings");
  return a;
}

eng::ModelConfig parse_config(Napi::Env env, const Napi::Value& value) {
  const Napi::Object o = object(env, value, "config");
  eng::ModelConfig c;
  c.architecture = parse_architecture(env, o.Get("architecture"));
  c.vocab_size = integer(env, o.Get("vocabSize"), "config.vocabSize", 1);
  c.context_length = integer(env, o.Get("contextLength"), "config.contextLength", 1);
  c.d_model = integer(env, o.Get("dModel"), "config.dModel", 1);
  c.n_layers = integer(env, o.Get("nLayers"), "config.nLayers", 1);
  c.n_heads = integer(env, o.Get("nHeads"), "config.nHeads", 1);
  c.n_kv_heads = integer(env, o.Get("nKvHeads"), "config.nKvHeads", 1);
  c.d_ff = integer(env, o.Get("dFf"), "config.dFf", 1);
  c.norm_eps = static_cast<float>(number(env, o.Get("normEps"), "config.normEps", 1e-5));
  const Napi::Object head = object(env, o.Get("head"), "config.head");
  const std::string kind = string_value(env, head.Get("kind"), "config.head.kind");
  if (kind == "classifier")
    c.num_classes = integer(env, head.Get("numClasses"), "config.head.numClasses", 2);
  else if (kind != "lm")
    range_error(env, "config.head.kind must be \"lm\" or \"classifier\", got \"" + kind + "\"");
  eng::validate_config(c);  // InvalidArgument becomes a RangeError in guarded
  return c;
}

// A batch copied out of JS: the worker thread reads only memory owned here.
struct OwnedMinibatch {
  std::vector<int32_t> tokens, lengths, targets;
  std::vector<float> soft_targets;
  eng::Minibatch view;
};

void parse_batch(Napi::Env env, const Napi::Object& o, const std::string& name, const eng::ModelConfig& config,
                 OwnedMinibatch& out) {
  const int64_t batch = integer(env, o.Get("batch"), name + ".batch", 1);
  const int64_t seq_len = integer(env, o.Get("seqLen"), name + ".seqLen", 1);
  if (seq_len > config.context_length)
    range_error(env, name + ".seqLen must be <= the model's contextLength " + std::to_string(config.context_length) +
                         ", got " + std::to_string(seq_len));
  const int64_t n = checked_mul(env, batch, seq_len, name + ".batch * seqLen");
  const auto tokens = int32_array(env, o.Get("tokens"), name + ".tokens");
  if (static_cast<int64_t>(tokens.ElementLength()) != n)
    range_error(env, name + ".tokens must hold batch * seqLen = " + std::to_string(n) + " ids, got " +
                         std::to_string(tokens.ElementLength()));
  const auto lengths = int32_array(env, o.Get("lengths"), name + ".lengths");
  if (static_cast<int64_t>(lengths.ElementLength()) != batch)
    range_error(env, name + ".lengths must hold batch = " + std::to_string(batch) + " lengths, got " +
                         std::to_string(lengths.ElementLength()));
  out.tokens.assign(tokens.Data(), tokens.Data() + n);
  out.lengths.assign(lengths.Data(), lengths.Data() + batch);
  for (int64_t i = 0; i < n; ++i)
    if (out.tokens[i] < 0 || out.tokens[i] >= config.vocab_size)
      range_error(env, name + ".tokens[" + std::to_string(i) + "] must be in [0, " + std::to_string(config.vocab_size) +
                           "), got " + std::to_string(out.tokens[i]));
  for (int64_t i = 0; i < batch; ++i)
    if (out.lengths[i] < 1 || out.lengths[i] > seq_len)
      range_error(env, name + ".lengths[" + std::to_string(i) + "] must be in [1, seqLen = " + std::to_string(seq_len) +
                           "], got " + std::to_string(out.lengths[i]));
  out.view.batch = {out.tokens.data(), out.lengths.data(), batch, seq_len};
}

void parse_loss(Napi::Env env, const Napi::Object& o, const std::string& name, const eng::ModelConfig& config,
                OwnedMinibatch& out) {
  const std::string loss = string_value(env, o.Get("loss"), name + ".loss");
  const int64_t batch = out.view.batch.batch, n = batch * out.view.batch.seq_len;
  eng::Loss& l = out.view.loss;
  if (loss == "token") {
    if (config.num_classes > 0) range_error(env, name + ".loss \"token\" needs a language-model head; this model has a classifier");
    const auto targets = int32_array(env, o.Get("targets"), name + ".targets");
    if (static_cast<int64_t>(targets.ElementLength()) != n)
      range_error(env, name + ".targets must hold batch * seqLen = " + std::to_string(n) + " ids, got " +
                           std::to_string(targets.ElementLength()));
    out.targets.assign(targets.Data(), targets.Data() + n);
    for (int64_t i = 0; i < n; ++i)
      if (out.targets[i] < -1 || out.targets[i] >= config.vocab_size)
        range_error(env, name + ".targets[" + std::to_string(i) + "] must be -1 (ignored) or in [0, " +
                             std::to_string(config.vocab_size) + "), got " + std::to_string(out.targets[i]));
    l.kind = eng::LossKind::Token;
    l.token_targets = out.targets.data();
    return;
  }
  if (loss == "xent")
    l.kind = eng::LossKind::Xent;
  else if (loss == "logconf")
    l.kind = eng::LossKind::Logconf;
  else if (loss == "product")
    l.kind = eng::LossKind::Product;
  else
    range_error(env, name + ".loss must be \"token\", \"xent\", \"logconf\" or \"product\", got \"" + loss + "\"");
  if (config.num_classes == 0) range_error(env, name + ".loss \"" + loss + "\" needs a classifier head; this model is a language model");
  const auto soft = float32_array(env, o.Get("softTargets"), name + ".softTargets");
  const int64_t expected = batch * config.num_classes;
  if (static_cast<int64_t>(soft.ElementLength()) != expected)
    range_error(env, name + ".softTargets must hold batch * numClasses = " + std::to_string(expected) + " floats, got " +
                         std::to_string(soft.ElementLength()));
  out.soft_targets.assign(soft.Data(), soft.Data() + expected);
  l.soft_targets = out.soft_targets.data();
  l.alpha = static_cast<float>(number(env, o.Get("alpha"), name + ".alpha", l.kind == eng::LossKind::Product ? 1.0 : 0.0));
  l.beta = static_cast<float>(number(env, o.Get("beta"), name + ".beta", 1.0));
  if (l.kind == eng::LossKind::Logconf && !(l.alpha >= 0.0f && l.alpha <= 1.0f))
    range_error(env, name + ".alpha must be in [0, 1] for logconf, got " + format_number(l.alpha));
  if (l.kind == eng::LossKind::Product && (l.alpha < 0.0f || l.beta < 0.0f))
    range_error(env, name + ".alpha and .beta must be >= 0 for product");
}

eng::OptimizerOptions parse_optimizer(Napi::Env env, const Napi::Value& value) {
  const Napi::Object o = object(env, value, "optimizer");
  eng::OptimizerOptions opt;
  const auto lr = o.Get("lr");
  if (lr.IsUndefined()) type_error(env, "optimizer.lr must be a number, got undefined");
  opt.adamw.lr = static_cast<float>(number(env, lr, "optimizer.lr", 0.0));
  opt.adamw.beta1 = static_cast<float>(number(env, o.Get("beta1"), "optimizer.beta1", 0.9));
  opt.adamw.beta2 = static_cast<float>(number(env, o.Get("beta2"), "optimizer.beta2", 0.999));
  opt.adamw.eps = static_cast<float>(number(env, o.Get("eps"), "optimizer.eps", 1e-8));
  opt.adamw.weight_decay = static_cast<float>(number(env, o.Get("weightDecay"), "optimizer.weightDecay", 0.0));
  opt.max_grad_norm = static_cast<float>(number(env, o.Get("maxGradNorm"), "optimizer.maxGradNorm", 0.0));
  if (opt.adamw.lr < 0.0f) range_error(env, "optimizer.lr must be >= 0, got " + format_number(opt.adamw.lr));
  if (!(opt.adamw.beta1 >= 0.0f && opt.adamw.beta1 < 1.0f)) range_error(env, "optimizer.beta1 must be in [0, 1)");
  if (!(opt.adamw.beta2 >= 0.0f && opt.adamw.beta2 < 1.0f)) range_error(env, "optimizer.beta2 must be in [0, 1)");
  if (!(opt.adamw.eps > 0.0f)) range_error(env, "optimizer.eps must be > 0");
  if (opt.adamw.weight_decay < 0.0f) range_error(env, "optimizer.weightDecay must be >= 0");
  if (opt.max_grad_norm < 0.0f) range_error(env, "optimizer.maxGradNorm must be >= 0 (0: no clipping)");
  return opt;
}

class Engine;

// Runs one engine operation on a worker thread and settles a promise with its result.
class EngineWorker : public Napi::AsyncWorker {
 public:
  EngineWorker(Napi::Env env, Engine* engine, Napi::Object self, std::function<void()> work,
               std::function<Napi::Value(Napi::Env)> result);
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const w2s::InvalidArgument& e) {
      fail(e.what(), true);
    } catch (const w2s::NonFiniteInput& e) {
      fail(e.what(), true);
    } catch (const std::bad_alloc&) {
      fail("out of memory in the w2s engine", false);
    } catch (const std::exception& e) {
      fail(std::string("w2s engine: ") + e.what(), false);
    }
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  void fail(const std::string& message, bool range) {
    range_error_ = range;
    SetError(message);
  }
  Engine* engine_;
  Napi::ObjectReference self_;
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  bool range_error_ = false;
};

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod<&Engine::guarded<&Engine::parameters>>("parameters"),
                        InstanceMethod<&Engine::guarded<&Engine::read_parameter>>("readParameter"),
                        InstanceMethod<&Engine::guarded<&Engine::write_parameter>>("writeParameter"),
                        InstanceMethod<&Engine::guarded<&Engine::read_gradient>>("readGradient"),
                        InstanceMethod<&Engine::guarded<&Engine::read_optimizer_state>>("readOptimizerState"),
                        InstanceMethod<&Engine::guarded<&Engine::write_optimizer_state>>("writeOptimizerState"),
                        InstanceMethod<&Engine::guarded<&Engine::set_steps_taken>>("setStepsTaken"),
                        InstanceMethod<&Engine::guarded<&Engine::set_dropout>>("setDropout"),
                        InstanceMethod<&Engine::guarded<&Engine::set_linear_probe>>("setLinearProbe"),
                        InstanceMethod<&Engine::guarded<&Engine::zero_grad>>("zeroGrad"),
                        InstanceMethod<&Engine::guarded<&Engine::steps_taken>>("stepsTaken"),
                        InstanceMethod<&Engine::guarded<&Engine::forward>>("forward"),
                        InstanceMethod<&Engine::guarded<&Engine::decode>>("decode"),
                        InstanceMethod<&Engine::guarded<&Engine::cached_positions>>("cachedPositions"),
                        InstanceMethod<&Engine::guarded<&Engine::backward>>("backward"),
                        InstanceMethod<&Engine::guarded<&Engine::train_step>>("trainStep"),
                        InstanceMethod<&Engine::guarded<&Engine::accumulate>>("accumulate"),
                        InstanceMethod<&Engine::guarded<&Engine::forward_step>>("forwardStep"),
                        InstanceMethod<&Engine::guarded<&Engine::backward_step>>("backwardStep"),
                        InstanceMethod<&Engine::guarded<&Engine::optimizer_step>>("optimizerStep"),
                        InstanceMethod<&Engine::guarded<&Engine::device_name>>("deviceName"),
                        InstanceMethod<&Engine::guarded<&Engine::set_profiling>>("setProfiling"),
                        InstanceMethod<&Engine::guarded<&Engine::profile>>("profile"),
                        InstanceMethod<&Engine::dispose>("dispose")});
  }

  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    Napi::Env env = info.Env();
    try {
      const eng::ModelConfig config = parse_config(env, info[0]);
      uint64_t seed = 0;
      std::string device = "cpu", precision = "float32";
      if (!info[1].IsUndefined()) {
        const Napi::Object opts = object(env, info[1], "opts");
        if (!opts.Get("seed").IsUndefined()) seed = static_cast<uint64_t>(integer(env, opts.Get("seed"), "opts.seed", 0));
        if (!opts.Get("device").IsUndefined()) device = string_value(env, opts.Get("device"), "opts.device");
        if (!opts.Get("precision").IsUndefined()) precision = string_value(env, opts.Get("precision"), "opts.precision");
      }
      if (device != "cpu" && device != "cuda") range_error(env, "opts.device must be \"cpu\" or \"cuda\", got \"" + device + "\"");
      w2s::cuda::Precision cuda_precision = w2s::cuda::Precision::Float32;
      if (precision == "tf32")
        cuda_precision = w2s::cuda::Precision::TF32;
      else if (precision == "bf16")
        cuda_precision = w2s::cuda::Precision::BF16;
      else if (precision != "float32")
        range_error(env, "opts.precision must be \"float32\", \"tf32\" or \"bf16\", got \"" + precision + "\"");
      if (device == "cpu" && precision == "tf32")
        range_error(env, "opts.precision \"tf32\" needs opts.device \"cuda\" (a tensor-core format): on the CPU, precision is \"float32\" or \"bf16\"");
      const eng::CpuProducts cpu_products = precision == "bf16" ? eng::CpuProducts::BF16 : eng::CpuProducts::Float32;
      model_ = std::make_unique<eng::Model>(
          config, device == "cuda" ? eng::make_cuda_device(cuda_precision) : eng::make_cpu_device(cpu_products), seed);
    } catch (...) {
      rethrow_as_js(env);
    }
  }

  void finish() { busy_ = false; }

 private:
  template <Napi::Value (Engine::*Method)(const Napi::CallbackInfo&)>
  Napi::Value guarded(const Napi::CallbackInfo& info) {
    try {
      if (!model_) throw Napi::Error::New(info.Env(), "the engine was disposed: create a new one");
      return (this->*Method)(info);
    } catch (...) {
      rethrow_as_js(info.Env());
    }
  }

  // dispose() -> void: frees the parameters, gradients, optimizer state and activations now
  // instead of at garbage collection; a second call does nothing, any other call then throws.
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    try {
      check_idle(info.Env());
      model_.reset();
      return info.Env().Undefined();
    } catch (...) {
      rethrow_as_js(info.Env());
    }
  }

  void check_idle(Napi::Env env) {
    if (busy_) throw Napi::Error::New(env, "the engine is busy: wait for the previous forward/backward/trainStep to settle");
  }

  const eng::ParameterInfo& find(Napi::Env env, const Napi::Value& name_value) {
    const std::string name = string_value(env, name_value, "name");
    for (const auto& p : model_->parameters())
      if (p.name == name) return p;
    range_error(env, "no parameter named \"" + name + "\" (see parameters() for the names)");
  }

  // deviceName() -> "cpu", "cpu (bf16 products)", or "cuda (<GPU> (sm_XY), <precision>)".
  Napi::Value device_name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model_->device_name()); }

  Napi::Value parameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& params = model_->parameters();
    Napi::Array out = Napi::Array::New(env, params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& p = params[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", p.name);
      Napi::Array shape = Napi::Array::New(env, p.shape.size());
      for (size_t k = 0; k < p.shape.size(); ++k) shape.Set(k, Napi::Number::New(env, static_cast<double>(p.shape[k])));
      o.Set("shape", shape);
      o.Set("size", Napi::Number::New(env, static_cast<double>(p.count)));
      Napi::Object init = Napi::Object::New(env);
      if (p.init_std > 0.0f) {
        init.Set("kind", "normal");
        init.Set("std", Napi::Number::New(env, p.init_std));
      } else {
        init.Set("kind", "constant");
        init.Set("value", Napi::Number::New(env, p.init_value));
      }
      o.Set("init", init);
      o.Set("decay", p.decay);
      o.Set("head", p.head);
      out.Set(i, o);
    }
    return out;
  }

  // A Float32Array of p.count finite values (and >= 0 where nonnegative) to write into parameter p's storage.
  static Napi::Float32Array parameter_values(Napi::Env env, const Napi::Value& value, const std::string& label,
                                             const eng::ParameterInfo& p, bool nonnegative) {
    const auto data = float32_array(env, value, label);
    if (static_cast<int64_t>(data.ElementLength()) != p.count)
      range_error(env, label + " for " + p.name + " must hold " + std::to_string(p.count) + " floats (shape " + join(p.shape) +
                           "), got " + std::to_string(data.ElementLength()));
    for (size_t i = 0; i < data.ElementLength(); ++i)
      if (!std::isfinite(data[i]) || (nonnegative && data[i] < 0.0f))
        range_error(env, label + " for " + p.name + " holds a " + (nonnegative ? "negative or " : "") +
                             "non-finite value at index " + std::to_string(i));
    return data;
  }

  Napi::Value read_parameter(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    const auto& p = find(info.Env(), info[0]);
    auto out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(p.count));
    model_->read_parameter(p, out.Data());
    return out;
  }

  Napi::Value write_parameter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const auto& p = find(env, info[0]);
    const auto data = parameter_values(env, info[1], "data", p, false);
    model_->write_parameter(p, data.Data());
    return env.Undefined();
  }

  Napi::Value read_gradient(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    const auto& p = find(info.Env(), info[0]);
    auto out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(p.count));
    model_->read_gradient(p, out.Data());
    return out;
  }

  // readOptimizerState(name) -> {m, v}: the parameter's AdamW moments.
  Napi::Value read_optimizer_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const auto& p = find(env, info[0]);
    auto m = Napi::Float32Array::New(env, static_cast<size_t>(p.count));
    auto v = Napi::Float32Array::New(env, static_cast<size_t>(p.count));
    model_->read_optimizer_state(p, m.Data(), v.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("m", m);
    out.Set("v", v);
    return out;
  }

  // writeOptimizerState(name, m, v): finite moments, v >= 0, p.count floats each.
  Napi::Value write_optimizer_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const auto& p = find(env, info[0]);
    const auto m = parameter_values(env, info[1], "m", p, false);
    const auto v = parameter_values(env, info[2], "v", p, true);
    model_->write_optimizer_state(p, m.Data(), v.Data());
    return env.Undefined();
  }

  // setStepsTaken(n): the AdamW step counter (bias correction), for resuming.
  Napi::Value set_steps_taken(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    model_->set_steps_taken(integer(env, info[0], "steps", 0));
    return env.Undefined();
  }

  Napi::Value set_dropout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const double p = number(env, info[0], "p", 0.0);
    if (!(p >= 0.0 && p < 1.0)) range_error(env, "p must be in [0, 1), got " + format_number(p));
    model_->set_dropout(static_cast<float>(p));
    return env.Undefined();
  }

  Napi::Value set_linear_probe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    if (!info[0].IsBoolean()) type_error(env, "on must be a boolean, got " + describe(info[0]));
    model_->set_linear_probe(info[0].As<Napi::Boolean>().Value());
    return env.Undefined();
  }

  // setProfiling(on): on resets the profile's counters and starts them (CPU device only: a CUDA
  // engine throws); off stops them. Off by default.
  Napi::Value set_profiling(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    if (!info[0].IsBoolean()) type_error(env, "on must be a boolean, got " + describe(info[0]));
    model_->set_profiling(info[0].As<Napi::Boolean>().Value());
    return env.Undefined();
  }

  // profile() -> {wallSeconds, operations, entries: [{category, phase, seconds, calls}], pool}
  // (index.d.ts EngineProfile): the counters since setProfiling(true).
  Napi::Value profile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const eng::Profile p = model_->profile();
    Napi::Array entries = Napi::Array::New(env, p.entries.size());
    for (size_t i = 0; i < p.entries.size(); ++i) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("category", p.entries[i].category);
      e.Set("phase", p.entries[i].phase);
      e.Set("seconds", p.entries[i].seconds);
      e.Set("calls", Napi::Number::New(env, static_cast<double>(p.entries[i].calls)));
      entries.Set(static_cast<uint32_t>(i), e);
    }
    Napi::Object pool = Napi::Object::New(env);
    pool.Set("threads", p.pool_threads);
    pool.Set("regions", Napi::Number::New(env, static_cast<double>(p.pool_regions)));
    pool.Set("regionSeconds", p.pool_region_seconds);
    pool.Set("regionThreadSeconds", p.pool_region_thread_seconds);
    pool.Set("busySeconds", p.pool_busy_seconds);
    Napi::Object out = Napi::Object::New(env);
    out.Set("wallSeconds", p.wall_seconds);
    out.Set("operations", Napi::Number::New(env, static_cast<double>(p.operations)));
    out.Set("entries", entries);
    out.Set("pool", pool);
    return out;
  }

  Napi::Value zero_grad(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    model_->zero_grad();
    return info.Env().Undefined();
  }

  Napi::Value steps_taken(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(model_->steps_taken()));
  }

  // forward(batch, {training?, logitsAt?: 'all' | 'last'}) -> Promise<Float32Array>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    auto mb = std::make_shared<OwnedMinibatch>();
    parse_batch(env, object(env, info[0], "batch"), "batch", model_->config(), *mb);
    bool training = false;
    eng::LogitsAt at = eng::LogitsAt::AllPositions;
    if (!info[1].IsUndefined()) {
      const Napi::Object opts = object(env, info[1], "opts");
      training = boolean(env, opts.Get("training"), "opts.training", false);
      const Napi::Value at_value = opts.Get("logitsAt");
      if (!at_value.IsUndefined()) {
        const std::string s = string_value(env, at_value, "opts.logitsAt");
        if (s == "last")
          at = eng::LogitsAt::LastToken;
        else if (s != "all")
          range_error(env, "opts.logitsAt must be \"all\" or \"last\", got \"" + s + "\"");
      }
    }
    if (training && at == eng::LogitsAt::LastToken && model_->config().num_classes == 0)
      range_error(env, "opts.logitsAt \"last\" is for evaluation: a training forward computes every position");
    auto logits = std::make_shared<std::vector<float>>(static_cast<size_t>(model_->logits_count(mb->view.batch, at)));
    eng::Model* model = model_.get();
    step_batches_.reset();
    return launch(info, [=] { model->forward(mb->view.batch, training, at, logits->data()); },
                  [this, logits, training](Napi::Env e) -> Napi::Value {
                    expected_dlogits_ = training ? static_cast<int64_t>(logits->size()) : -1;
                    auto out = Napi::Float32Array::New(e, logits->size());
                    std::copy(logits->begin(), logits->end(), out.Data());
                    return out;
                  });
  }

  // decode(tokens, start) -> Promise<Float32Array [V]>: the tokens at positions start.. of the
  // sequence whose first `start` positions the key/value cache holds; the logits of the last
  // (Model::decode). A pending backward or backwardStep is lost.
  Napi::Value decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const eng::ModelConfig& c = model_->config();
    if (c.num_classes > 0) range_error(env, "decode needs a language-model head; this model has a classifier");
    const auto tokens = int32_array(env, info[0], "tokens");
    const int64_t count = static_cast<int64_t>(tokens.ElementLength());
    const int64_t start = integer(env, info[1], "start", 0);
    if (start > model_->cached_positions())
      range_error(env, "start must be <= cachedPositions() = " + std::to_string(model_->cached_positions()) + ", got " +
                           std::to_string(start));
    if (count < 1 || start + count > c.context_length)
      range_error(env, "tokens must hold 1 to contextLength - start = " + std::to_string(c.context_length - start) +
                           " ids, got " + std::to_string(count));
    auto owned = std::make_shared<std::vector<int32_t>>(tokens.Data(), tokens.Data() + count);
    for (int64_t i = 0; i < count; ++i)
      if ((*owned)[i] < 0 || (*owned)[i] >= c.vocab_size)
        range_error(env, "tokens[" + std::to_string(i) + "] must be in [0, " + std::to_string(c.vocab_size) + "), got " +
                             std::to_string((*owned)[i]));
    auto logits = std::make_shared<std::vector<float>>(static_cast<size_t>(c.vocab_size));
    eng::Model* model = model_.get();
    step_batches_.reset();
    expected_dlogits_ = -1;
    return launch(info, [=] { model->decode(owned->data(), count, start, logits->data()); },
                  [logits](Napi::Env e) -> Napi::Value {
                    auto out = Napi::Float32Array::New(e, logits->size());
                    std::copy(logits->begin(), logits->end(), out.Data());
                    return out;
                  });
  }

  // cachedPositions() -> the positions decode's key/value cache holds (0 after a weight change).
  Napi::Value cached_positions(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(model_->cached_positions()));
  }

  // backward(dLogits) -> Promise<void>: accumulates gradients of the last training forward.
  Napi::Value backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const auto d = float32_array(env, info[0], "dLogits");
    auto data = std::make_shared<std::vector<float>>(d.Data(), d.Data() + d.ElementLength());
    for (size_t i = 0; i < data->size(); ++i)
      if (!std::isfinite((*data)[i])) range_error(env, "dLogits holds a non-finite value at index " + std::to_string(i));
    eng::Model* model = model_.get();
    const int64_t expected = expected_dlogits_;
    if (expected < 0) range_error(env, "backward needs a training forward pass first (forward(batch, {training: true}))");
    if (static_cast<int64_t>(data->size()) != expected)
      range_error(env, "dLogits must hold " + std::to_string(expected) + " floats (the last training forward's logits), got " +
                           std::to_string(data->size()));
    expected_dlogits_ = -1;
    step_batches_.reset();
    return launch(info, [=] { model->backward(data->data()); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  }

  // forwardStep(batches) -> Promise<Float32Array [rows, C]>: the training forward of every batch of a
  // classifier step, their logits concatenated; the batches are kept here for backwardStep.
  Napi::Value forward_step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    if (model_->config().num_classes == 0) range_error(env, "forwardStep needs a classifier head; this model is a language model");
    if (!info[0].IsArray()) type_error(env, "batches must be an array of batch objects, got " + describe(info[0]));
    const auto arr = info[0].As<Napi::Array>();
    if (arr.Length() == 0) range_error(env, "batches must hold at least one batch");
    auto owned = std::make_shared<std::vector<OwnedMinibatch>>(arr.Length());
    int64_t rows = 0;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string name = "batches[" + std::to_string(i) + "]";
      parse_batch(env, object(env, arr.Get(i), name), name, model_->config(), (*owned)[i]);
      rows += (*owned)[i].view.batch.batch;
    }
    auto logits = std::make_shared<std::vector<float>>(static_cast<size_t>(rows * model_->config().num_classes));
    eng::Model* model = model_.get();
    step_batches_.reset();
    expected_dlogits_ = -1;
    return launch(
        info, [=] { model->forward_step(batch_views(*owned), logits->data()); },
        [this, owned, logits](Napi::Env e) -> Napi::Value {
          step_batches_ = owned;
          auto out = Napi::Float32Array::New(e, logits->size());
          std::copy(logits->begin(), logits->end(), out.Data());
          return out;
        });
  }

  // backwardStep(dLogits [rows, C]) -> Promise<void>: accumulates the gradients of the step's loss
  // for the last forwardStep's batches (see Model::backward_step).
  Napi::Value backward_step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    if (!step_batches_) range_error(env, "backwardStep needs forwardStep first (and no other forward, backward or step in between)");
    const auto d = float32_array(env, info[0], "dLogits");
    int64_t rows = 0;
    for (const auto& mb : *step_batches_) rows += mb.view.batch.batch;
    const int64_t expected = rows * model_->config().num_classes;
    if (static_cast<int64_t>(d.ElementLength()) != expected)
      range_error(env, "dLogits must hold " + std::to_string(expected) + " floats (forwardStep's logits), got " +
                           std::to_string(d.ElementLength()));
    auto data = std::make_shared<std::vector<float>>(d.Data(), d.Data() + d.ElementLength());
    for (size_t i = 0; i < data->size(); ++i)
      if (!std::isfinite((*data)[i])) range_error(env, "dLogits holds a non-finite value at index " + std::to_string(i));
    auto owned = std::move(step_batches_);
    eng::Model* model = model_.get();
    return launch(info, [=] { model->backward_step(batch_views(*owned), data->data()); },
                  [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  }

  static std::vector<eng::Batch> batch_views(const std::vector<OwnedMinibatch>& owned) {
    std::vector<eng::Batch> views;
    for (const auto& mb : owned) views.push_back(mb.view.batch);
    return views;
  }

  // trainStep(minibatches, optimizer) -> Promise<{loss, gradNorm, rows, step, logits?}>
  Napi::Value train_step(const Napi::CallbackInfo& info) { return run_minibatches(info, true); }
  // accumulate(minibatches) -> Promise<{loss, rows, logits?}>: gradients only, no optimizer step.
  Napi::Value accumulate(const Napi::CallbackInfo& info) { return run_minibatches(info, false); }

  // optimizerStep(optimizer) -> Promise<{gradNorm, step}>: clip, AdamW, zero the gradients.
  Napi::Value optimizer_step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const eng::OptimizerOptions optimizer = parse_optimizer(env, info[0]);
    auto norm = std::make_shared<double>(0.0);
    eng::Model* model = model_.get();
    return launch(info, [=] { *norm = model->optimizer_step(optimizer); },
                  [=](Napi::Env e) -> Napi::Value {
                    Napi::Object out = Napi::Object::New(e);
                    out.Set("gradNorm", *norm);
                    out.Set("step", Napi::Number::New(e, static_cast<double>(model->steps_taken())));
                    return out;
                  });
  }

  Napi::Value run_minibatches(const Napi::CallbackInfo& info, bool step) {
    Napi::Env env = info.Env();
    check_idle(env);
    if (!info[0].IsArray()) type_error(env, "minibatches must be an array of minibatch objects, got " + describe(info[0]));
    const auto arr = info[0].As<Napi::Array>();
    if (arr.Length() == 0) range_error(env, "minibatches must hold at least one minibatch");
    auto owned = std::make_shared<std::vector<OwnedMinibatch>>(arr.Length());
    int64_t logit_count = 0;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string name = "minibatches[" + std::to_string(i) + "]";
      const Napi::Object o = object(env, arr.Get(i), name);
      parse_batch(env, o, name, model_->config(), (*owned)[i]);
      parse_loss(env, o, name, model_->config(), (*owned)[i]);
      if (model_->config().num_classes > 0) logit_count += (*owned)[i].view.batch.batch * model_->config().num_classes;
    }
    eng::OptimizerOptions optimizer;
    if (step) optimizer = parse_optimizer(env, info[1]);
    auto logits = std::make_shared<std::vector<float>>(static_cast<size_t>(logit_count));
    auto result = std::make_shared<eng::StepResult>();
    eng::Model* model = model_.get();
    expected_dlogits_ = -1;
    step_batches_.reset();
    return launch(
        info,
        [=] {
          std::vector<eng::Minibatch> views;
          for (const auto& mb : *owned) views.push_back(mb.view);
          float* out = logits->empty() ? nullptr : logits->data();
          *result = step ? model->train_step(views, optimizer, out) : model->accumulate_step(views, out);
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          out.Set("loss", result->loss);
          out.Set("rows", Napi::Number::New(e, static_cast<double>(result->rows)));
          if (step) {
            out.Set("gradNorm", result->grad_norm);
            out.Set("step", Napi::Number::New(e, static_cast<double>(model->steps_taken())));
          }
          if (!logits->empty()) {
            auto l = Napi::Float32Array::New(e, logits->size());
            std::copy(logits->begin(), logits->end(), l.Data());
            out.Set("logits", l);
          }
          return out;
        });
  }

  Napi::Value launch(const Napi::CallbackInfo& info, std::function<void()> work,
                     std::function<Napi::Value(Napi::Env)> result) {
    busy_ = true;
    eng::Model* model = model_.get();
    auto profiled = [model, work = std::move(work)] { model->run_profiled(work); };
    auto* worker = new EngineWorker(info.Env(), this, info.This().As<Napi::Object>(), std::move(profiled), std::move(result));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  friend class EngineWorker;
  std::unique_ptr<eng::Model> model_;
  bool busy_ = false;
  int64_t expected_dlogits_ = -1;
  std::shared_ptr<std::vector<OwnedMinibatch>> step_batches_;  // forwardStep's, until backwardStep
};

EngineWorker::EngineWorker(Napi::Env env, Engine* engine, Napi::Object self, std::function<void()> work,
                           std::function<Napi::Value(Napi::Env)> result)
    : Napi::AsyncWorker(env, "w2s-engine"),
      engine_(engine),
      self_(Napi::Persistent(self)),
      deferred_(Napi::Promise::Deferred::New(env)),
      work_(std::move(work)),
      result_(std::move(result)) {}

void EngineWorker::OnOK() {
  engine_->finish();
  Napi::Env env = Env();
  try {
    deferred_.Resolve(result_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void EngineWorker::OnError(const Napi::Error& e) {
  engine_->finish();
  Napi::Env env = Env();
  const std::string message = e.Message();
  deferred_.Reject(range_error_ ? Napi::RangeError::New(env, message).Value() : Napi::Error::New(env, message).Value());
}

}  // namespace

void register_engine(Napi::Env env, Napi::Object exports) { exports.Set("Engine", Engine::define(env)); }
