// The transformer engine: decoder-only transformers described by an Architecture (GPT-2, Llama,
// GPT-NeoX, Qwen2, Mistral), trained and evaluated natively. One
// Model owns its parameters, gradients, AdamW state and activations on one device, and reuses
// them across steps. The mathematics and the canonical parameter table are those of
// packages/model/src/config.ts (the tfjs twin implements the same). Tensor layouts:
//   tokens [B, T] int32 (right-padded), lengths [B] (1 <= length <= T), positions 0..T-1;
//   LM logits [B, T, V] (or [B, V] at each sequence's last token); classifier logits [B, C] at
//   each sequence's last token; token targets [B, T] (−1 = ignored); soft targets [B, C].
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "w2s/layers.h"

namespace w2s::engine {

class Device;
class ProfilingDevice;

// An architecture as data: the features that tell one transformer family from another (the
// mirror of native/index.d.ts RawArchitecture; presets gpt2 and llama in packages/model/src/config.ts).
enum class Norm { LayerNorm, RmsNorm };          // LayerNorm carries a bias, RMSNorm does not
enum class Mlp { GeluTanh, GeluExact, SwiGlu };  // SwiGLU's first projection is [gate; up]
enum class Positions { Learned, Rope };

// Llama 3's RoPE frequency scaling (enabled when factor > 0).
struct RopeScaling {
  double factor = 0.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_context_length = 8192;
};

struct Architecture {
  Norm norm = Norm::LayerNorm;
  Mlp mlp = Mlp::GeluTanh;
  Positions positions = Positions::Learned;
  double rope_theta = 10000.0;
  double rotary_fraction = 1.0;  // RoPE rotates the first floor(head_dim · fraction) dims of each head
  RopeScaling rope_scaling;
  bool qkv_bias = true;       // the fused query/key/value projection
  bool attn_out_bias = true;  // the attention output projection
  bool mlp_bias = true;       // both MLP projections
  bool parallel_residual = false;  // x + attn(norm1(x)) + mlp(norm2(x)) instead of serial branches
  bool tied_embeddings = true;     // the LM head is the token embedding
};

struct ModelConfig {
  Architecture architecture;
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  int64_t d_model = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t d_ff = 0;
  float norm_eps = 1e-5f;
  int64_t num_classes = 0;  // 0: language-model head; >= 2: classifier head
  int64_t head_dim() const { return d_model / n_heads; }
  // The rotated dims of each head (even; 0 with learned positions).
  int64_t rotary_dim() const {
    return architecture.positions == Positions::Rope
               ? static_cast<int64_t>(static_cast<double>(head_dim()) * architecture.rotary_fraction)
               : 0;
  }
};

// Throws InvalidArgument naming the field and what was expected.
void validate_config(const ModelConfig& config);

struct ParameterInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // into the flat parameter (and gradient, and AdamW moment) buffer
  int64_t count = 0;
  float init_std = 0.0f;    // > 0: normal(0, init_std); else the constant init_value
  float init_value = 0.0f;
  bool decay = false;       // AdamW weight decay applies
  bool head = false;        // trains in linear-probe mode
};

// Where each parameter lives: indices into parameter_table's entries, −1 where the architecture
// has no such parameter. Built once with the table; the model addresses parameters through it.
struct ParameterSlots {
  struct Layer {
    int attn_norm_w = -1, attn_norm_b = -1, qkv_w = -1, qkv_b = -1, out_w = -1, out_b = -1;
    int mlp_norm_w = -1, mlp_norm_b = -1, up_w = -1, up_b = -1, down_w = -1, down_b = -1;  // up: [gate; up] for SwiGLU
  };
  int token_embedding = -1, position_embedding = -1, final_norm_w = -1, final_norm_b = -1;
  int lm_head = -1;      // the untied LM head
  int classifier = -1;
  std::vector<Layer> layers;
};
// The canonical parameter table, in memory order (names and layouts as in config.ts), and its slots.
std::vector<ParameterInfo> parameter_table(const ModelConfig& config, ParameterSlots& slots);

// RoPE's inverse frequencies θ_j, j < rotary_dim/2: theta^(−2j/rotary_dim), then Llama 3's scaling
// where enabled (transformers' _compute_llama3_parameters), in double.
std::vector<double> rope_inverse_frequencies(const ModelConfig& config);

struct Batch {
  const int32_t* tokens = nullptr;   // host [B, T], each in [0, V)
  const int32_t* lengths = nullptr;  // host [B], each in [1, T]
  int64_t batch = 0;
  int64_t seq_len = 0;
};

enum class LossKind { Token, Xent, Logconf, Product };

// Whether a loss is a mean of independent per-row terms (token, xent, product: computing it per
// minibatch and weighting the means gives the whole batch's loss exactly); logconf is not: its
// binary threshold is a quantile of the whole batch's predictions and its prior the batch's
// positive rate.
bool loss_is_rowwise(LossKind kind);

struct Loss {
  LossKind kind = LossKind::Token;
  const int32_t* token_targets = nullptr;  // host [B, T] for Token
  const float* soft_targets = nullptr;     // host [B, C] for the classifier losses
  float alpha = 0.0f;                      // Logconf: α; Product: exponent of the targets
  float beta = 1.0f;                       // Product: exponent of the student's probabilities
};

struct Minibatch {
  Batch batch;
  Loss loss;
};

struct OptimizerOptions {
  AdamWStep adamw;            // lr, betas, eps, weight decay (adamw.step is the model's counter)
  float max_grad_norm = 0.0f; // 0: no clipping
};

struct StepResult {
  double loss = 0.0;       // mean over the rows (or target tokens) of all minibatches
  double grad_norm = 0.0;  // global L2 norm of the trainable gradients, before clipping
  int64_t rows = 0;        // rows (classifier) or target tokens (LM) the loss averaged over
};

enum class LogitsAt { AllPositions, LastToken };

// The model's phase, to which a profile attributes each device call (Model::set_profiling).
// Outside: calls outside the profiled operations (reading parameters, say).
enum class Phase { Outside, Forward, Loss, Backward, Clip, Optimizer };

// Where the time of the profiled operations went (CPU device only; what is measured and what is
// not: src/engine/profiling_device.h).
struct ProfileEntry {
  std::string category;  // the kernel family: "matmul", "attention", "layer norm", "adamw", ...
  std::string phase;     // "forward", "loss", "backward", "clip", "optimizer", "outside"
  double seconds = 0.0;  // wall time inside the device's calls
  int64_t calls = 0;
};
struct Profile {
  double wall_seconds = 0.0;  // wall time of the profiled operations (trainStep, forward, ...)
  int64_t operations = 0;
  // The (category, phase) pairs with calls, then category "other", phase "step": the operations'
  // wall time outside any device call (host work: batch checks, the model's orchestration).
  std::vector<ProfileEntry> entries;
  // The kernels' thread pool over the same time (parallel.h Profile): its regions' wall time, that
  // time × threads, and the threads' time running items.
  int pool_threads = 1;
  int64_t pool_regions = 0;
  double pool_region_seconds = 0.0, pool_region_thread_seconds = 0.0, pool_busy_seconds = 0.0;
};

class Model {
 public:
  Model(const ModelConfig& config, std::unique_ptr<Device> device, uint64_t seed);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return config_; }
  const std::vector<ParameterInfo>& parameters() const { return params_; }
  // The device the model lives on: "cpu", "cpu (bf16 products)", or "cuda (<GPU> (sm_XY), <precision>)".
  std::string device_name() const;
  int64_t parameter_count() const { return total_params_; }
  int64_t steps_taken() const { return step_; }

  void read_parameter(const ParameterInfo& p, float* host) const;
  void write_parameter(const ParameterInfo& p, const float* host);
  void read_gradient(const ParameterInfo& p, float* host) const;
  // AdamW state, for exact resumption of training: a parameter's first and second moments
  // (each p.count floats), and the step counter that drives the bias correction.
  void read_optimizer_state(const ParameterInfo& p, float* host_m, float* host_v) const;
  void write_optimizer_state(const ParameterInfo& p, const float* host_m, const float* host_v);
  void set_steps_taken(int64_t steps);

  // Dropout on the embeddings and on both residual branches while training (0 <= p < 1).
  void set_dropout(float p);
  // Linear probe: only the head's parameters train and backward stops at the head.
  void set_linear_probe(bool on);
  bool linear_probe() const { return linear_probe_; }

  // Logits count for a batch: B·T·V or B·V (LM), B·C (classifier).
  int64_t logits_count(const Batch& batch, LogitsAt at) const;
  // Forward pass; writes the logits to host. training = true keeps what backward needs and
  // applies dropout; LogitsAt::LastToken only in evaluation.
  void forward(const Batch& batch, bool training, LogitsAt at, float* host_logits);
  // Generation with a key/value cache (LM heads only): runs the `count` tokens at positions
  // start..start+count−1 of one sequence whose first `start` positions are cached (start <=
  // cached_positions(), start + count <= contextLength), caches their keys and values (after
  // RoPE), and writes the logits [V] of the last one: each token costs its own position, not the
  // whole context. Changing the weights (write_parameter, optimizer_step) empties the cache. Uses
  // the activation buffers: a pending backward is lost.
  void decode(const int32_t* tokens, int64_t count, int64_t start, float* host_logits);
  int64_t cached_positions() const { return cached_; }
  // Accumulates the parameter gradients of Σ dlogits·logits of the last training forward.
  void backward(const float* host_dlogits);
  // Clips, applies AdamW to the trainable parameters, zeroes the gradients, counts the step.
  double optimizer_step(const OptimizerOptions& options);
  void zero_grad();
  // The gradients of the step's loss, accumulated; no optimizer step. The loss is that of the whole
  // step: the mean over all rows (or target tokens) of all minibatches, and a classifier loss is
  // computed once over the step's [rows, C] logits, so that batch statistics (logconf's quantile
  // and positive rate) are the whole batch's however it is split. Every minibatch of a classifier
  // step carries the same loss. Row-wise losses run minibatch by minibatch; the others run
  // forward_step, the loss on the device, then backward_step. Memory scales with the largest
  // minibatch (plus [rows, C] for the logits).
  StepResult accumulate_step(const std::vector<Minibatch>& minibatches, float* host_logits);
  // A classifier step in two halves, for a loss computed outside the engine: forward_step runs the
  // training forward of every batch and writes their logits, concatenated, [rows, C];
  // backward_step takes the gradient of the step's loss with respect to those logits and
  // accumulates the parameter gradients. It needs the same batches, and recomputes the forward of
  // every batch but the last with the same dropout masks (the activations of one minibatch are
  // kept at a time): the cost of a whole-batch loss is one extra forward per minibatch but one.
  void forward_step(const std::vector<Batch>& batches, float* host_logits);
  void backward_step(const std::vector<Batch>& batches, const float* host_dlogits);
  // accumulate_step, then optimizer_step: one training step.
  StepResult train_step(const std::vector<Minibatch>& minibatches, const OptimizerOptions& options,
                        float* host_logits);

  // Profiling (CPU device; a CUDA model refuses, its launches being asynchronous). on: resets the
  // counters and starts counting (the kernel pool's too, process-wide); off: stops. Off by
  // default, when no clock is read. The first `on` puts a ProfilingDevice in front of the device
  // (it stays, counting nothing while off); it changes no computation.
  void set_profiling(bool on);
  bool profiling() const;
  Profile profile() const;
  // Runs `work` (a call of the methods above) as one profiled operation: while profiling, its wall
  // time is the time the profile divides.
  void run_profiled(const std::function<void()>& work);

 private:
  struct Buffers;
  void ensure_capacity(int64_t batch, int64_t seq_len);
  void ensure_step_capacity(int64_t rows);
  void forward_pass(const Batch& batch, bool training, LogitsAt at, float* host_logits, uint64_t dropout_seed);
  // The forward pieces shared by forward_pass and decode, on n rows (model.cpp).
  struct LayerActivations;
  using Attend = std::function<void(const float* qkv, float* attn, float* lse)>;
  void linear_forward(const float* x, int64_t n, int64_t in, int weight, int bias, int64_t out, float* y);
  void norm_forward(const float* x, int64_t n, int weight, int bias, float* y, float* mean, float* rstd);
  void layer_forward(int64_t layer, int64_t n, int64_t seq_len, int64_t first_position, const LayerActivations& t,
                     float dropout, uint64_t dropout_seed, const Attend& attend);
  // forward_step's and backward_step's work on device logits and their gradient, [rows, C].
  struct StepMinibatch;
  void forward_minibatches(const std::vector<Batch>& batches);
  std::vector<StepMinibatch> take_step_minibatches(const std::vector<Batch>& batches);
  void backward_minibatches(const std::vector<Batch>& batches, const std::vector<StepMinibatch>& saved,
                            const float* dlogits);
  std::pair<double, int64_t> accumulate_rowwise(const Minibatch& minibatch, double weight, float* host_logits);
  StepResult accumulate_whole_batch(const std::vector<Minibatch>& minibatches, float* host_logits);
  void upload_batch(const Batch& batch);
  void backward_pass();
  bool head_backward();
  // A classifier without dropout runs its last layer on each sequence's last token alone (its keys
  // and values on every token): only those rows reach the head (model.cpp).
  void last_layer_forward(int64_t batch, int64_t seq_len);
  void last_layer_backward(int64_t batch, int64_t seq_len, float* d_resid);
  LayerActivations layer_activations(int64_t layer, int64_t n) const;
  // The backward pieces on `rows` rows (model.cpp).
  void linear_backward(const float* dy, int64_t rows, int64_t out, const float* x, int64_t in, int weight, int bias,
                       float* dx);
  void norm_backward(const float* dy, const float* x, int64_t rows, int weight, int bias, const float* mean,
                     const float* rstd, float* dx);
  bool trainable(const ParameterInfo& p) const { return !linear_probe_ || p.head; }
  // Tells the profiler (if any) the phase of the next device calls; token_embedding: they touch
  // the token embedding's parameter alone (its update covers the whole [V, d] table).
  void tag(Phase phase, bool token_embedding = false);

  ModelConfig config_;
  std::unique_ptr<Device> device_;
  ProfilingDevice* profiler_ = nullptr;  // device_ itself, once profiling was turned on
  double profile_wall_ = 0.0;            // run_profiled's wall time since profiling was turned on
  int64_t profile_operations_ = 0;
  ParameterSlots slots_;  // filled with params_
  std::vector<ParameterInfo> params_;
  int64_t total_params_ = 0;
  std::unique_ptr<Buffers> buf_;
  float dropout_ = 0.0f;
  bool linear_probe_ = false;
  int64_t step_ = 0;
  uint64_t seed_ = 0;
  uint64_t dropout_seed_ = 0;  // of the last training forward, replayed by backward
  uint64_t forwards_ = 0;
  Batch last_batch_;           // shape of the last training forward (data pointers not kept)
  bool last_layer_at_last_tokens_ = false;  // how the last training forward ran its last layer
  bool backward_ready_ = false;
  int64_t cached_ = 0;         // positions held by the key/value cache (decode)
  // forward_step's minibatches, for backward_step: each one's dropout seed and a fingerprint of its
  // shape and tokens (empty when no forward_step awaits its backward_step).
  struct StepMinibatch {
    uint64_t dropout_seed;
    uint64_t fingerprint;
  };
  std::vector<StepMinibatch> step_minibatches_;
};

}  // namespace w2s::engine
