// Reference values: computed with python3's standard library by independent code (brute-force
// enumeration of every rank assignment for exact Mann-Whitney p-values, math.comb sums for
// Fisher and the binomial, Simpson integration of Student's t density for Welch's p-value,
// python statistics.quantiles(method="inclusive") for type-7 quantiles) — the script is quoted next
// to each value — and, where noted, the published example the value comes from.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "experiment/statistics.hpp"

namespace syschaos::experiment {
namespace {

TEST(Quantile, Type7LinearInterpolation) {
  // python statistics.quantiles([1,2,3,4], n=10, method='inclusive')[8] == 3.7 (numpy's default too)
  std::vector<double> v{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.9), 3.7);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(quantile_sorted(v, 0.5), 2.5);
  // python statistics.quantiles([3,1,4,1,5,9,2,6], n=100, method='inclusive')[98] == 8.79 (unsorted input)
  EXPECT_NEAR(*quantile({3, 1, 4, 1, 5, 9, 2, 6}, 0.99), 8.79, 1e-12);
  EXPECT_FALSE(quantile({}, 0.5).has_value());
  EXPECT_DOUBLE_EQ(*quantile({7}, 0.99), 7.0);
}

TEST(Descriptive, MeanAndVariance) {
  std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(*mean(v), 5.0);
  EXPECT_NEAR(*sample_variance(v), 32.0 / 7, 1e-12);
  EXPECT_FALSE(sample_variance(std::vector<double>{1}).has_value());
  EXPECT_FALSE(mean(std::vector<double>{}).has_value());
}

TEST(Distributions, NormalAndStudent) {
  EXPECT_NEAR(normal_cdf(0), 0.5, 1e-15);
  // python statistics.NormalDist().inv_cdf(0.975) and (0.001)
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(0.001), -3.090232306167813, 1e-10);
  EXPECT_NEAR(normal_two_sided_p(1.959963984540054), 0.05, 1e-12);
  // Far tail keeps precision (erfc, not 1 - cdf): python erfc(10/sqrt(2)) = 1.5239706048321186e-23
  EXPECT_NEAR(normal_two_sided_p(10) / 1.5239706048321186e-23, 1.0, 1e-6);
  // Simpson integration of the t density (python, 200 000 steps): t = 2.5, df = 3 → 0.0877066
  EXPECT_NEAR(student_t_two_sided_p(2.5, 3), 0.08770664674067763, 1e-8);
  EXPECT_NEAR(student_t_two_sided_p(0, 10), 1.0, 1e-12);
  // df = 1 is the Cauchy distribution: P(|T| >= 1) = 0.5 exactly.
  EXPECT_NEAR(student_t_two_sided_p(1, 1), 0.5, 1e-12);
  EXPECT_EQ(student_t_two_sided_p(INFINITY, 5), 0.0);
  EXPECT_NEAR(incomplete_beta(2, 3, 0.4), 0.5248, 1e-12);  // 1 - Σ_{k<2} C(4,k).4^k.6^(4-k)
}

TEST(MannWhitney, ScipyDocumentationExampleExact) {
  // scipy.stats.mannwhitneyu docs: males vs females, U1 = 17, exact p = 0.1111111 (= 14/126);
  // brute-force enumeration of the 126 rank assignments gives the same.
  std::vector<double> males{19, 22, 16, 29, 24}, females{20, 11, 17, 12};
  auto r = mann_whitney_u(males, females);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->exact);
  EXPECT_DOUBLE_EQ(r->u1, 17.0);
  EXPECT_NEAR(r->p_value, 0.1111111111111111, 1e-12);
  EXPECT_NEAR(r->cliffs_delta, 0.7, 1e-12);  // 2·17/20 − 1
  // Symmetric: swapping the samples gives U2 and the same p, opposite delta.
  auto s = mann_whitney_u(females, males);
  EXPECT_DOUBLE_EQ(s->u1, 3.0);
  EXPECT_NEAR(s->p_value, r->p_value, 1e-15);
  EXPECT_NEAR(s->cliffs_delta, -0.7, 1e-12);
}

TEST(MannWhitney, ExactLargerSample) {
  // python enumeration over C(13, 6) = 1716 assignments: U1 = 34, p = 0.07342657342657342
  std::vector<double> x{1.1, 2.3, 3.5, 4.0, 5.2, 6.1}, y{0.5, 0.7, 1.9, 2.0, 2.8, 3.0, 3.3};
  auto r = mann_whitney_u(x, y);
  ASSERT_TRUE(r->exact);
  EXPECT_DOUBLE_EQ(r->u1, 34.0);
  EXPECT_NEAR(r->p_value, 0.07342657342657342, 1e-12);
}

TEST(MannWhitney, NormalApproximationWithTies) {
  // Two samples of 30 with ties; python (tie-corrected variance, continuity 0.5):
  // U1 = 306, z = 2.1238382 (|.|), p = 0.03368367366272814; Cliff's delta by pair counting −0.32.
  std::vector<double> a{1,  2,  2,  3,  3,  3,  4,  4,  5,  6,  7,  7,  8,  9,  9,
                        9,  10, 11, 12, 12, 13, 14, 15, 15, 16, 17, 18, 19, 20, 20};
  std::vector<double> b{3,  4,  4,  5,  6,  6,  6,  7,  8,  9,  10, 10, 11, 12, 13,
                        14, 15, 15, 16, 17, 18, 19, 20, 21, 22, 22, 23, 24, 25, 26};
  auto r = mann_whitney_u(a, b);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->exact);
  EXPECT_TRUE(r->ties);
  EXPECT_DOUBLE_EQ(r->u1, 306.0);
  EXPECT_NEAR(r->z, -2.1238382222324867, 1e-9);
  EXPECT_NEAR(r->p_value, 0.03368367366272814, 1e-10);
  EXPECT_NEAR(r->cliffs_delta, -0.32, 1e-12);
}

TEST(MannWhitney, AsymptoticMatchesScipyWhenForcedByTies) {
  // Same data as the scipy example with a tie added in each sample: no longer exact.
  std::vector<double> x{19, 22, 16, 29, 24, 24}, y{20, 11, 17, 12, 12};
  auto r = mann_whitney_u(x, y);
  EXPECT_FALSE(r->exact);
  EXPECT_GT(r->p_value, 0.0);
  EXPECT_LT(r->p_value, 1.0);
}

TEST(MannWhitney, AllTiedAndEmpty) {
  std::vector<double> same(100, 0.002);
  auto r = mann_whitney_u(same, same);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->p_value, 1.0);
  EXPECT_EQ(r->cliffs_delta, 0.0);
  EXPECT_FALSE(mann_whitney_u({}, same).has_value());
  EXPECT_FALSE(mann_whitney_u(same, {}).has_value());
  std::vector<double> with_nan{1.0, NAN};
  EXPECT_FALSE(mann_whitney_u(with_nan, same).has_value());
}

TEST(MannWhitney, CompleteSeparationLargeSamples) {
  std::vector<double> slow, fast;
  for (int i = 0; i < 500; ++i) {
    slow.push_back(1.0 + i * 1e-3);
    fast.push_back(0.001 + i * 1e-6);
  }
  auto r = mann_whitney_u(slow, fast);
  EXPECT_DOUBLE_EQ(r->cliffs_delta, 1.0);
  EXPECT_LT(r->p_value, 1e-100);
}

TEST(Proportions, WilsonAndNewcombePublishedExamples) {
  // Newcombe (1998), Stat Med 17:857: 81/263 → Wilson 0.2553–0.3662;
  // 56/70 − 48/80 = 0.2000, method 10 interval 0.0524–0.3339.
  auto w = wilson_interval(81, 263);
  EXPECT_NEAR(w.low, 0.2552885198782742, 1e-9);
  EXPECT_NEAR(w.high, 0.36620957698280004, 1e-9);
  auto r = compare_proportions(56, 70, 48, 80);
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->difference, 0.2, 1e-12);
  EXPECT_NEAR(r->difference_ci.low, 0.05243147240236498, 1e-9);
  EXPECT_NEAR(r->difference_ci.high, 0.333872654036906, 1e-9);
}

TEST(Proportions, ZTestLargeCounts) {
  // python: pooled z for 560/600 vs 590/600 = −4.333890711087687, p = 1.4649692211951765e-05
  auto r = compare_proportions(560, 600, 590, 600);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->test, "two-proportion z-test");
  EXPECT_NEAR(r->z, -4.333890711087687, 1e-9);
  EXPECT_NEAR(r->p_value, 1.4649692211951765e-05, 1e-12);
}

TEST(Proportions, FisherWhenCountsAreSmall) {
  // Fisher's tea-tasting table [[3,1],[1,3]]: p = 0.4857142857 (R: fisher.test).
  EXPECT_NEAR(fisher_exact_two_sided(3, 1, 1, 3), 0.4857142857142857, 1e-12);
  // python math.comb sums: [[10,0],[3,7]] → 0.0030959752321981426
  EXPECT_NEAR(fisher_exact_two_sided(10, 0, 3, 7), 0.0030959752321981426, 1e-12);
  // A perfect baseline (600/600) against 592/600: 8 failures in all, 4 expected per group
  // (< 5), so compare_proportions switches to Fisher. python: p = 0.00763119751509682
  auto r = compare_proportions(592, 600, 600, 600);
  EXPECT_EQ(r->test, "Fisher's exact test");
  EXPECT_NEAR(r->p_value, 0.00763119751509682, 1e-10);
  // python math.comb sums: [[598,2],[560,40]] → 2.2371817477051191e-10 (no switch needed,
  // but the function itself must handle large tables)
  EXPECT_NEAR(fisher_exact_two_sided(598, 2, 560, 40) / 2.2371817477051191e-10, 1.0, 1e-6);
  // 100% against 100%: nothing to see.
  auto same = compare_proportions(300, 300, 600, 600);
  EXPECT_EQ(same->p_value, 1.0);
  EXPECT_EQ(same->difference, 0.0);
  EXPECT_FALSE(compare_proportions(1, 0, 1, 1).has_value());
}

TEST(Binomial, ExactTwoSided) {
  // R: binom.test(7, 20)$p.value = 0.2631760; python sum: 0.26317596435546875
  EXPECT_NEAR(binomial_two_sided_p(7, 20, 0.5), 0.26317596435546875, 1e-12);
  // python: 3 of 40 at p = 0.25 → 0.009347148417940203 (asymmetric case)
  EXPECT_NEAR(binomial_two_sided_p(3, 40, 0.25), 0.009347148417940203, 1e-12);
  EXPECT_EQ(binomial_two_sided_p(0, 10, 0.0), 1.0);
}

TEST(PoissonRates, ConditionalBinomial) {
  // 30 events in 10 s against 12 in 20 s: given 42 events, 30 ~ Bin(42, 1/3) under H0;
  // python: p = 5.504325296988104e-07
  auto r = compare_poisson_rates(30, 10, 12, 20);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->exact);
  EXPECT_NEAR(r->p_value / 5.504325296988104e-07, 1.0, 1e-6);
  EXPECT_DOUBLE_EQ(r->rate1, 3.0);
  EXPECT_DOUBLE_EQ(r->rate2, 0.6);
  EXPECT_NEAR(r->rate_ratio, (30.5 / 10) / (12.5 / 20), 1e-12);
  // Equal rates: p = 1; no events at all: p = 1, ratio 1.
  EXPECT_NEAR(compare_poisson_rates(20, 10, 40, 20)->p_value, 1.0, 1e-9);
  auto none = compare_poisson_rates(0, 10, 0, 10);
  EXPECT_EQ(none->p_value, 1.0);
  EXPECT_DOUBLE_EQ(none->rate_ratio, 1.0);
  EXPECT_FALSE(compare_poisson_rates(1, 0, 1, 1).has_value());
  // Very large counts use the normal approximation and still see a 1% difference.
  auto big = compare_poisson_rates(1010000, 10, 1000000, 10);
  EXPECT_FALSE(big->exact);
  EXPECT_LT(big->p_value, 1e-6);
}

TEST(Welch, KnownValues) {
  // python (statistics.variance; p by Simpson integration of the t density):
  // t = −2.455356398286006, df = 24.98852929023142, p = 0.02137800147676383
  std::vector<double> x{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
                        21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
  std::vector<double> y{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
                        24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
  auto r = welch_t_test(x, y);
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->t, -2.455356398286006, 1e-10);
  EXPECT_NEAR(r->df, 24.98852929023142, 1e-8);
  EXPECT_NEAR(r->p_value, 0.02137800147676383, 1e-7);
  ASSERT_TRUE(r->relative_change);
  EXPECT_NEAR(*r->relative_change, (r->mean1 - r->mean2) / r->mean2, 1e-15);
}

TEST(Welch, DegenerateVariances) {
  std::vector<double> a(10, 100.0), b(10, 100.0), c(10, 50.0);
  EXPECT_EQ(welch_t_test(a, b)->p_value, 1.0);
  auto r = welch_t_test(c, a);
  EXPECT_EQ(r->p_value, 0.0);
  EXPECT_NEAR(*r->relative_change, -0.5, 1e-15);
  EXPECT_FALSE(welch_t_test(std::vector<double>{1}, a).has_value());
  // Baseline mean 0: no relative change.
  std::vector<double> zeros(5, 0.0), ones{1, 2, 1, 2, 1};
  EXPECT_FALSE(welch_t_test(ones, zeros)->relative_change.has_value());
}

}  // namespace
}  // namespace syschaos::experiment
