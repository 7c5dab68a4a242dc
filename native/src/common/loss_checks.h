// Argument and input checks shared by the CPU and CUDA losses, so that both accept the same inputs
// and name a bad one with the same words.
#pragma once

#include <cstdint>
#include <string>

namespace w2s::loss_checks {

constexpr float kDistributionTolerance = 1e-3f;  // targets rows must sum to 1 within this
constexpr int64_t kMaxClasses = 1 << 17;

// N >= 1, 2 <= C <= kMaxClasses; throws InvalidArgument.
void check_sizes(int64_t n, int64_t c);
// A finite coefficient >= 0 (and <= 1 for logconf's alpha); throws InvalidArgument.
void check_coefficient(const char* name, float value);
void check_unit_alpha(float alpha);

struct Diagnosis {
  bool non_finite = false;  // NaN/Inf (NonFiniteInput) rather than a bad distribution (RangeError)
  std::string message;      // empty: nothing wrong
};

// Exact diagnosis of row `row` (z_row, y_row: its C logits and targets): the first NaN/Inf logit,
// then the first target that is NaN/Inf or outside [0, 1 + tolerance], then a sum off 1 (in double).
Diagnosis diagnose_row(const float* z_row, const float* y_row, int64_t row, int64_t c, const char* targets);

// Throws NonFiniteInput or InvalidArgument for a diagnosis with a message.
[[noreturn]] void throw_diagnosis(const Diagnosis& diagnosis);

}  // namespace w2s::loss_checks
