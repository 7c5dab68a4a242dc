// Argument and input checks shared by the CPU and CUDA losses.
#include "loss_checks.h"

#include <cmath>

#include "w2s/kernels.h"

namespace w2s::loss_checks {
namespace {

std::string describe(float x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  return std::to_string(x);
}

std::string element(const char* name, int64_t i, int64_t j) {
  return std::string(name) + "[" + std::to_string(i) + ", " + std::to_string(j) + "]";
}

}  // namespace

void check_sizes(int64_t n, int64_t c) {
  if (n < 1) throw InvalidArgument(InvalidArgument::Kind::Range, "N (rows of logits) must be >= 1, got " + std::to_string(n));
  if (c < 2) throw InvalidArgument(InvalidArgument::Kind::Range, "numClasses must be >= 2, got " + std::to_string(c));
  if (c > kMaxClasses)
    throw InvalidArgument(InvalidArgument::Kind::Range, "numClasses must be <= " + std::to_string(kMaxClasses) +
                                                            " (each thread holds 16 rows of every class), got " +
                                                            std::to_string(c));
}

void check_coefficient(const char* name, float value) {
  if (!std::isfinite(value) || value < 0.0f)
    throw InvalidArgument(InvalidArgument::Kind::Range,
                          std::string(name) + " must be a finite number >= 0, got " + std::to_string(value));
}

void check_unit_alpha(float alpha) {
  check_coefficient("alpha", alpha);
  if (alpha > 1.0f)
    throw InvalidArgument(InvalidArgument::Kind::Range, "alpha must be in [0, 1], got " + std::to_string(alpha));
}

Diagnosis diagnose_row(const float* z_row, const float* y_row, int64_t row, int64_t c, const char* targets) {
  for (int64_t j = 0; j < c; ++j)
    if (!std::isfinite(z_row[j])) return {true, element("logits", row, j) + " is " + describe(z_row[j])};
  double sum = 0.0;
  for (int64_t j = 0; j < c; ++j) {
    const float t = y_row[j];
    if (!std::isfinite(t)) return {true, element(targets, row, j) + " is " + describe(t)};
    if (t < 0.0f || t > 1.0f + kDistributionTolerance)
      return {false, element(targets, row, j) + " must be a probability in [0, 1], got " + describe(t)};
    sum += t;
  }
  if (std::fabs(sum - 1.0) > kDistributionTolerance)
    return {false, std::string(targets) + " row " + std::to_string(row) + " must sum to 1 (a distribution over the " +
                       std::to_string(c) + " classes, tolerance " + std::to_string(kDistributionTolerance) + "), got " +
                       std::to_string(sum)};
  return {};
}

void throw_diagnosis(const Diagnosis& diagnosis) {
  if (diagnosis.non_finite) throw NonFiniteInput(diagnosis.message);
  throw InvalidArgument(InvalidArgument::Kind::Range, diagnosis.message);
}

}  // namespace w2s::loss_checks
