// The statistics behind the verdict: rank test on latencies, proportion tests on success
// rates, rate comparisons on counts and per-second values, and the quantiles every metric
// uses. All deterministic (no resampling), all with a stated definition, so a verdict can be
// reproduced by hand from results.json.
//
// Convention for two-sample functions: the FIRST sample is the one under study (the
// perturbation), the SECOND the reference (the baseline); effects are "first minus second"
// (or "first over second"), so a positive latency effect means "slower under perturbation".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace syschaos::experiment {

// ---- Descriptive ----------------------------------------------------------------------

// Quantile of SORTED values, Hyndman & Fan type 7 (linear interpolation between the order
// statistics at h = (n-1)q; the default of R, numpy and Excel's PERCENTILE.INC).
// q is clamped to [0, 1]. Precondition: !sorted.empty().
double quantile_sorted(std::span<const double> sorted, double q);
// Same on unsorted values (copied and sorted); nullopt when there are none.
std::optional<double> quantile(std::vector<double> values, double q);

std::optional<double> mean(std::span<const double> values);
// Sample variance (n-1 denominator); nullopt with fewer than two values.
std::optional<double> sample_variance(std::span<const double> values);

// ---- Distributions --------------------------------------------------------------------

double normal_cdf(double z);
// P(|Z| >= |z|) for a standard normal Z, accurate in the far tail (uses erfc).
double normal_two_sided_p(double z);
// z with normal_cdf(z) = p, 0 < p < 1 (Acklam's rational approximation, one Newton step).
double normal_quantile(double p);
// Regularized incomplete beta I_x(a, b) (continued fraction, Numerical Recipes' betacf).
double incomplete_beta(double a, double b, double x);
// P(|T| >= |t|) for Student's t with df degrees of freedom (df may be fractional).
double student_t_two_sided_p(double t, double df);

// ---- Mann-Whitney U (two-sided) -------------------------------------------------------

struct MannWhitneyResult {
  size_t n1 = 0, n2 = 0;
  double u1 = 0;           // U of the first sample: #(x > y) + 0.5·#(x == y) over all pairs
  double z = 0;            // normal approximation's statistic (0 when exact)
  double p_value = 1;
  // Cliff's delta = P(x > y) − P(x < y) = 2·U1/(n1·n2) − 1, in [-1, 1]; equal to the
  // rank-biserial correlation. |δ| < 0.147 negligible, < 0.33 small, < 0.474 medium, else
  // large (Romano et al. 2006).
  double cliffs_delta = 0;
  bool exact = false;      // exact null distribution used (no ties and n1 + n2 <= 50)
  bool ties = false;
};

// Exact p-value when there are no ties and n1 + n2 <= kMannWhitneyExactMax (the null
// distribution of U enumerated as a Gaussian binomial coefficient); otherwise the normal
// approximation with tie-corrected variance and continuity correction 0.5 (scipy's
// mannwhitneyu(..., method="asymptotic", use_continuity=True)). nullopt when a sample is empty
// or holds a NaN (infinities rank as the largest/smallest values).
inline constexpr size_t kMannWhitneyExactMax = 50;
std::optional<MannWhitneyResult> mann_whitney_u(std::span<const double> x,
                                                std::span<const double> y);

// ---- Proportions ----------------------------------------------------------------------

struct ConfidenceInterval {
  double low = 0, high = 0;
};

// Wilson score interval for x successes out of n (n > 0) at the given confidence.
ConfidenceInterval wilson_interval(uint64_t x, uint64_t n, double confidence = 0.95);

// Two-sided Fisher's exact test on the 2×2 table [[a, b], [c, d]]: the sum of the
// probabilities of all tables with the same margins that are no more likely than the one
// observed (relative tolerance 1e-7, as R's fisher.test).
double fisher_exact_two_sided(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

struct ProportionTestResult {
  uint64_t x1 = 0, n1 = 0, x2 = 0, n2 = 0;
  double p1 = 0, p2 = 0;
  double difference = 0;      // p1 − p2
  ConfidenceInterval difference_ci;  // Newcombe's hybrid score interval (method 10)
  std::string test;           // "two-proportion z-test" or "Fisher's exact test"
  double z = 0;               // z-test statistic (0 for Fisher)
  double p_value = 1;
};

// x1/n1 against x2/n2 (both n > 0). The pooled two-proportion z-test without continuity
// correction, unless an expected cell count of the 2×2 table is below 5 (Cochran's rule),
// where the normal approximation is poor and Fisher's exact test is used instead.
std::optional<ProportionTestResult> compare_proportions(uint64_t x1, uint64_t n1, uint64_t x2,
                                                        uint64_t n2, double confidence = 0.95);

// ---- Counts over exposure times (Poisson rates) ---------------------------------------

// Two-sided exact binomial test of k successes in n trials with success probability p (R's
// binom.test: sum of the probabilities no larger than the observed one, tolerance 1e-7).
double binomial_two_sided_p(uint64_t k, uint64_t n, double p);

struct PoissonRateResult {
  uint64_t c1 = 0, c2 = 0;
  double t1 = 0, t2 = 0;       // exposures (seconds)
  double rate1 = 0, rate2 = 0;  // c / t
  // (c1 + 0.5)/t1 ÷ (c2 + 0.5)/t2: the rate ratio with 0.5 added to each count so that a
  // zero count gives a finite ratio (Haldane's correction).
  double rate_ratio = 1;
  double p_value = 1;
  bool exact = true;           // false: normal approximation (c1 + c2 > 100000)
};

// c1 events in t1 against c2 events in t2, H0: equal Poisson rates. Conditional test: given
// n = c1 + c2, c1 ~ Binomial(n, t1/(t1+t2)) under H0 (exact binomial test; normal
// approximation with continuity correction above 100000 events). nullopt unless t1, t2 > 0.
std::optional<PoissonRateResult> compare_poisson_rates(uint64_t c1, double t1, uint64_t c2,
                                                       double t2);

// ---- Welch's t-test (per-second values) -----------------------------------------------

struct WelchResult {
  size_t n1 = 0, n2 = 0;
  double mean1 = 0, mean2 = 0;
  double t = 0, df = 0;
  double p_value = 1;
  // (mean1 − mean2) / |mean2|; nullopt when mean2 == 0
  std::optional<double> relative_change;
};

// Two-sided Welch's unequal-variance t-test, Welch–Satterthwaite degrees of freedom. Needs
// two values per sample. When both variances are 0 the test degenerates: p = 1 if the
// means are equal, else p = 0 (every value of one sample differs from every value of the
// other in the same direction).
std::optional<WelchResult> welch_t_test(std::span<const double> x, std::span<const double> y);

}  // namespace syschaos::experiment
