#include "experiment/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace syschaos::experiment {

namespace {

constexpr double kSqrt2 = 1.41421356237309504880;
// R's tolerance when collecting the tables/outcomes "no more likely than the observed one":
// without it, rounding can drop the observed outcome's mirror image from the sum.
constexpr double kRelativeTolerance = 1 + 1e-7;

double log_choose(double n, double k) {
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

// Lentz's continued fraction for the incomplete beta (Numerical Recipes, 2nd ed., §6.4).
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIterations = 500;
  constexpr double kEps = 1e-15;
  constexpr double kTiny = 1e-300;
  double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}

// Counts of the Mann-Whitney U statistic under H0 for samples of m and n distinct values:
// the coefficients of the Gaussian binomial [m+n choose m]_q, built as
// prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i). Every intermediate polynomial is itself a Gaussian
// binomial, so all coefficients stay integers below C(m+n, m) <= C(50, 25) ≈ 1.3e14 < 2^53,
// which doubles hold exactly.
std::vector<double> mann_whitney_null_counts(size_t m, size_t n) {
  std::vector<double> p(m * n + 1 + n + m, 0.0);
  p[0] = 1;
  size_t degree = 0;
  for (size_t i = 1; i <= m; ++i) {
    size_t s = n + i;
    for (size_t k = degree + s + 1; k-- > s;) p[k] -= p[k - s];  // × (1 - q^s)
    for (size_t k = i; k <= degree + s; ++k) p[k] += p[k - i];   // ÷ (1 - q^i)
    degree += n;
  }
  p.resize(m * n + 1);
  return p;
}

}  // namespace

// ---- Descriptive ----------------------------------------------------------------------

double quantile_sorted(std::span<const double> sorted, double q) {
  q = std::clamp(q, 0.0, 1.0);
  double h = static_cast<double>(sorted.size() - 1) * q;
  auto lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  double frac = h - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

std::optional<double> quantile(std::vector<double> values, double q) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  return quantile_sorted(values, q);
}

std::optional<double> mean(std::span<const double> values) {
  if (values.empty()) return std::nullopt;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

std::optional<double> sample_variance(std::span<const double> values) {
  if (values.size() < 2) return std::nullopt;
  double m = *mean(values);
  double ss = 0;
  for (double v : values) ss += (v - m) * (v - m);
  return ss / static_cast<double>(values.size() - 1);
}

// ---- Distributions --------------------------------------------------------------------

double normal_cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

double normal_two_sided_p(double z) {
  if (std::isnan(z)) return 1;
  return std::min(1.0, std::erfc(std::fabs(z) / kSqrt2));
}

double normal_quantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  // Acklam (2003): relative error < 1.15e-9 before the refinement step.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00, 2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  double x;
  if (p < p_low) {
    double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - p_low) {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step brings it to full double precision.
  double e = normal_cdf(x) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                          a * std::log(x) + b * std::log1p(-x));
  // The continued fraction converges fast only for x < (a+1)/(a+b+2); use the symmetry
  // I_x(a,b) = 1 - I_{1-x}(b,a) on the other side.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_two_sided_p(double t, double df) {
  if (std::isnan(t)) return 1;
  if (std::isinf(t)) return 0;
  if (df <= 0) return 1;
  return std::clamp(incomplete_beta(df / 2, 0.5, df / (df + t * t)), 0.0, 1.0);
}

// ---- Mann-Whitney U -------------------------------------------------------------------

std::optional<MannWhitneyResult> mann_whitney_u(std::span<const double> x,
                                                std::span<const double> y) {
  if (x.empty() || y.empty()) return std::nullopt;
  MannWhitneyResult r;
  r.n1 = x.size();
  r.n2 = y.size();
  const size_t n = r.n1 + r.n2;

  // Pool, sort, give tied values their average rank (1-based), sum the ranks of x.
  struct Item {
    double value;
    bool from_x;
  };
  std::vector<Item> pooled;
  pooled.reserve(n);
  for (double v : x) pooled.push_back({v, true});
  for (double v : y) pooled.push_back({v, false});
  // NaN has no rank (and would break the sort's ordering): refuse rather than guess.
  for (const auto& item : pooled)
    if (std::isnan(item.value)) return std::nullopt;
  std::sort(pooled.begin(), pooled.end(),
            [](const Item& a, const Item& b) { return a.value < b.value; });
  double rank_sum_x = 0;
  double tie_term = 0;  // Σ (t³ − t) over groups of t tied values
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && pooled[j].value == pooled[i].value) ++j;
    double t = static_cast<double>(j - i);
    double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k)
      if (pooled[k].from_x) rank_sum_x += average_rank;
    if (t > 1) {
      tie_term += t * t * t - t;
      r.ties = true;
    }
    i = j;
  }
  const double n1 = static_cast<double>(r.n1), n2 = static_cast<double>(r.n2);
  const double nn = static_cast<double>(n);
  r.u1 = rank_sum_x - n1 * (n1 + 1) / 2;
  r.cliffs_delta = 2 * r.u1 / (n1 * n2) - 1;

  if (!r.ties && n <= kMannWhitneyExactMax) {
    // Exact: P(U <= min(U1, U2)) doubled (the null distribution is symmetric).
    auto counts = mann_whitney_null_counts(r.n1, r.n2);
    double total = std::accumulate(counts.begin(), counts.end(), 0.0);
    auto u_min = static_cast<size_t>(std::llround(std::min(r.u1, n1 * n2 - r.u1)));
    double tail = 0;
    for (size_t u = 0; u <= u_min; ++u) tail += counts[u];
    r.p_value = std::min(1.0, 2 * tail / total);
    r.exact = true;
    return r;
  }

  const double mu = n1 * n2 / 2;
  const double variance = n1 * n2 / 12 * ((nn + 1) - tie_term / (nn * (nn - 1)));
  if (variance <= 0) {  // every value tied: no evidence of any difference
    r.z = 0;
    r.p_value = 1;
    return r;
  }
  double deviation = std::max(0.0, std::fabs(r.u1 - mu) - 0.5);  // continuity correction
  r.z = std::copysign(deviation / std::sqrt(variance), r.u1 - mu);
  r.p_value = normal_two_sided_p(r.z);
  return r;
}

// ---- Proportions ----------------------------------------------------------------------

ConfidenceInterval wilson_interval(uint64_t x, uint64_t n, double confidence) {
  if (n == 0) return {0, 1};
  double z = normal_quantile(1 - (1 - confidence) / 2);
  double nn = static_cast<double>(n), p = static_cast<double>(x) / nn;
  double denominator = 1 + z * z / nn;
  double centre = (p + z * z / (2 * nn)) / denominator;
  double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denominator;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double fisher_exact_two_sided(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  // Margins fixed: row 1 = a + b, column 1 = a + c. The table is determined by its cell a.
  const double row1 = static_cast<double>(a + b), row2 = static_cast<double>(c + d);
  const double col1 = static_cast<double>(a + c);
  const double total = row1 + row2;
  auto log_p = [&](double cell) {
    return log_choose(row1, cell) + log_choose(row2, col1 - cell) - log_choose(total, col1);
  };
  const double observed = log_p(static_cast<double>(a));
  const uint64_t lo = (a + c) > (c + d) ? (a + c) - (c + d) : 0;
  const uint64_t hi = std::min(a + b, a + c);
  double p = 0;
  for (uint64_t cell = lo; cell <= hi; ++cell) {
    double lp = log_p(static_cast<double>(cell));
    if (lp <= observed + std::log(kRelativeTolerance)) p += std::exp(lp);
  }
  return std::min(1.0, p);
}

std::optional<ProportionTestResult> compare_proportions(uint64_t x1, uint64_t n1, uint64_t x2,
                                                        uint64_t n2, double confidence) {
  if (n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2) return std::nullopt;
  ProportionTestResult r{.x1 = x1, .n1 = n1, .x2 = x2, .n2 = n2};
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  r.p1 = static_cast<double>(x1) / dn1;
  r.p2 = static_cast<double>(x2) / dn2;
  r.difference = r.p1 - r.p2;

  // Newcombe (1998) method 10: combine the two Wilson intervals; unlike the Wald interval it
  // stays sensible at 0% and 100%, where baselines of healthy services usually sit.
  auto w1 = wilson_interval(x1, n1, confidence), w2 = wilson_interval(x2, n2, confidence);
  r.difference_ci.low =
      r.difference - std::sqrt((r.p1 - w1.low) * (r.p1 - w1.low) + (w2.high - r.p2) * (w2.high - r.p2));
  r.difference_ci.high =
      r.difference + std::sqrt((w1.high - r.p1) * (w1.high - r.p1) + (r.p2 - w2.low) * (r.p2 - w2.low));

  const double successes = static_cast<double>(x1 + x2), total = dn1 + dn2;
  const double failures = total - successes;
  const double smallest_expected =
      std::min({dn1 * successes / total, dn1 * failures / total, dn2 * successes / total,
                dn2 * failures / total});
  if (smallest_expected < 5) {
    r.test = "Fisher's exact test";
    r.p_value = fisher_exact_two_sided(x1, n1 - x1, x2, n2 - x2);
    return r;
  }
  r.test = "two-proportion z-test";
  const double pooled = successes / total;
  const double se = std::sqrt(pooled * (1 - pooled) * (1 / dn1 + 1 / dn2));
  r.z = se > 0 ? r.difference / se : 0;
  r.p_value = normal_two_sided_p(r.z);
  return r;
}

// ---- Poisson rates --------------------------------------------------------------------

double binomial_two_sided_p(uint64_t k, uint64_t n, double p) {
  if (k > n) return 0;
  if (p <= 0) return k == 0 ? 1 : 0;
  if (p >= 1) return k == n ? 1 : 0;
  const double dn = static_cast<double>(n);
  auto log_pmf = [&](uint64_t i) {
    double di = static_cast<double>(i);
    return log_choose(dn, di) + di * std::log(p) + (dn - di) * std::log1p(-p);
  };
  const double observed = log_pmf(k) + std::log(kRelativeTolerance);
  double sum = 0;
  for (uint64_t i = 0; i <= n; ++i) {
    double lp = log_pmf(i);
    if (lp <= observed) sum += std::exp(lp);
  }
  return std::min(1.0, sum);
}

std::optional<PoissonRateResult> compare_poisson_rates(uint64_t c1, double t1, uint64_t c2,
                                                       double t2) {
  if (!(t1 > 0) || !(t2 > 0)) return std::nullopt;
  PoissonRateResult r{.c1 = c1, .c2 = c2, .t1 = t1, .t2 = t2};
  r.rate1 = static_cast<double>(c1) / t1;
  r.rate2 = static_cast<double>(c2) / t2;
  r.rate_ratio = ((static_cast<double>(c1) + 0.5) / t1) / ((static_cast<double>(c2) + 0.5) / t2);
  const uint64_t n = c1 + c2;
  const double share = t1 / (t1 + t2);  // expected share of the events in sample 1 under H0
  if (n == 0) {
    r.p_value = 1;
  } else if (n <= 100000) {
    r.p_value = binomial_two_sided_p(c1, n, share);
  } else {
    // Above this the exact sum costs more than it is worth; the normal approximation to a
    // binomial with n > 1e5 is accurate to far below any alpha anyone uses.
    r.exact = false;
    double dn = static_cast<double>(n);
    double sd = std::sqrt(dn * share * (1 - share));
    double deviation = std::max(0.0, std::fabs(static_cast<double>(c1) - dn * share) - 0.5);
    r.p_value = normal_two_sided_p(deviation / sd);
  }
  return r;
}

// ---- Welch ----------------------------------------------------------------------------

std::optional<WelchResult> welch_t_test(std::span<const double> x, std::span<const double> y) {
  if (x.size() < 2 || y.size() < 2) return std::nullopt;
  WelchResult r;
  r.n1 = x.size();
  r.n2 = y.size();
  r.mean1 = *mean(x);
  r.mean2 = *mean(y);
  if (r.mean2 != 0) r.relative_change = (r.mean1 - r.mean2) / std::fabs(r.mean2);
  const double v1 = *sample_variance(x) / static_cast<double>(r.n1);
  const double v2 = *sample_variance(y) / static_cast<double>(r.n2);
  if (v1 + v2 == 0) {
    r.df = static_cast<double>(r.n1 + r.n2 - 2);
    if (r.mean1 == r.mean2) {
      r.t = 0;
      r.p_value = 1;
    } else {
      r.t = std::copysign(std::numeric_limits<double>::infinity(), r.mean1 - r.mean2);
      r.p_value = 0;
    }
    return r;
  }
  r.t = (r.mean1 - r.mean2) / std::sqrt(v1 + v2);
  r.df = (v1 + v2) * (v1 + v2) /
         (v1 * v1 / static_cast<double>(r.n1 - 1) + v2 * v2 / static_cast<double>(r.n2 - 1));
  r.p_value = student_t_two_sided_p(r.t, r.df);
  return r;
}

}  // namespace syschaos::experiment
