// validate(HttpWorkloadSpec): what the built-in load generator accepts, and that a refusal is
// one clear line. Nothing here sends a request.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cmath>

#include "experiment/http_workload.hpp"

namespace syschaos::experiment {
namespace {

HttpWorkloadSpec spec_with(std::vector<std::string> urls, double rate = 10, int concurrency = 0) {
  HttpWorkloadSpec spec;
  spec.urls = std::move(urls);
  spec.rate_per_s = rate;
  spec.concurrency = concurrency;
  return spec;
}

std::string refusal(const HttpWorkloadSpec& spec) {
  auto result = validate(spec);
  if (result.ok()) return "";
  EXPECT_EQ(result.error().message().find('\n'), std::string::npos) << result.error().message();
  EXPECT_TRUE(result.error().message().starts_with("HTTP workload: "));
  return result.error().message();
}

TEST(HttpWorkloadSpec, AcceptsLoopbackUrls) {
  for (const char* url : {"http://127.0.0.1:8080/", "http://127.1.2.3/x?y=1", "http://[::1]:80/",
                          "http://localhost:18080/index.html", "http://LOCALHOST/",
                          "http://[::ffff:127.0.0.1]/", "http://user:pw@127.0.0.1:1/"}) {
    EXPECT_EQ(refusal(spec_with({url})), "") << url;
  }
}

TEST(HttpWorkloadSpec, RefusesEverythingOffTheMachine) {
  for (const char* url :
       {"http://10.0.0.1/", "http://192.168.1.1:80/", "http://example.com/", "http://[::2]/",
        "http://[fe80::1%25lo]/", "http://0.0.0.0/", "http://128.0.0.1/",
        "http://localhost.example.com/", "http://foo.localhost/", "http://[::ffff:10.0.0.1]/",
        "http://0x0a000001/", "http://167772161/"}) {
    auto message = refusal(spec_with({url}));
    EXPECT_NE(message.find("not on loopback"), std::string::npos) << url << ": " << message;
  }
}

TEST(HttpWorkloadSpec, RefusesOtherSchemesAndBadUrls) {
  EXPECT_NE(refusal(spec_with({"https://127.0.0.1/"})).find("only http://"), std::string::npos);
  EXPECT_NE(refusal(spec_with({"ftp://127.0.0.1/"})).find("only http://"), std::string::npos);
  EXPECT_NE(refusal(spec_with({"127.0.0.1:80/"})), "");  // no scheme: not guessed
  EXPECT_NE(refusal(spec_with({"http://"})), "");
  EXPECT_NE(refusal(spec_with({"not a url"})), "");
  // One bad URL among good ones is enough, and the message names it.
  EXPECT_NE(refusal(spec_with({"http://127.0.0.1/", "http://10.9.9.9/"})).find("10.9.9.9"),
            std::string::npos);
}

TEST(HttpWorkloadSpec, ExactlyOneLoadModel) {
  EXPECT_NE(refusal(spec_with({}, 10)).find("no URL"), std::string::npos);
  EXPECT_NE(refusal(spec_with({"http://127.0.0.1/"}, 0, 0)).find("rate"), std::string::npos);
  EXPECT_NE(refusal(spec_with({"http://127.0.0.1/"}, 10, 4)).find("not both"), std::string::npos);
  EXPECT_EQ(refusal(spec_with({"http://127.0.0.1/"}, 0, 4)), "");
  EXPECT_EQ(refusal(spec_with({"http://127.0.0.1/"}, 0.5, 0)), "");
}

TEST(HttpWorkloadSpec, RefusesNumbersOutOfRange) {
  const std::string url = "http://127.0.0.1/";
  EXPECT_NE(refusal(spec_with({url}, -1)), "");
  EXPECT_NE(refusal(spec_with({url}, std::nan(""))), "");
  EXPECT_NE(refusal(spec_with({url}, INFINITY)), "");
  EXPECT_NE(refusal(spec_with({url}, 1e6)).find("limit"), std::string::npos);
  EXPECT_NE(refusal(spec_with({url}, 0, -3)), "");
  EXPECT_NE(refusal(spec_with({url}, 0, 100000)).find("limit"), std::string::npos);
  auto spec = spec_with({url});
  spec.timeout = std::chrono::milliseconds(0);
  EXPECT_NE(refusal(spec).find("timeout"), std::string::npos);
  spec.timeout = std::chrono::hours(2);
  EXPECT_NE(refusal(spec).find("timeout"), std::string::npos);
  spec = spec_with({url});
  spec.max_in_flight = 0;
  EXPECT_NE(refusal(spec).find("max_in_flight"), std::string::npos);
}

TEST(HttpWorkloadSpec, RefusesMoreConnectionsThanFileDescriptors) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit lower = saved;
  lower.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lower), 0);
  auto closed = spec_with({"http://127.0.0.1/"}, 0, 1000);
  const std::string message = refusal(closed);
  auto open = spec_with({"http://127.0.0.1/"}, 100);
  open.max_in_flight = 100;
  const std::string open_message = refusal(open);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_NE(message.find("ulimit -n"), std::string::npos) << message;
  EXPECT_EQ(open_message, "");
}

TEST(HttpWorkload, CreateRefusesWhatValidateRefuses) {
  auto workload = HttpWorkload::create(spec_with({"http://192.0.2.1/"}));
  ASSERT_FALSE(workload.ok());
  EXPECT_NE(workload.error().message().find("not on loopback"), std::string::npos);
}

}  // namespace
}  // namespace syschaos::experiment
