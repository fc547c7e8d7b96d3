// syschaos info: which kernel features this machine offers syschaos, one line each, with
// what was found or what is missing. Exit 0 whatever is missing: the answer is the output.
#include <fmt/format.h>
#include <sys/utsname.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "inject/kernel_probe.hpp"

namespace syschaos::cli {

namespace {

void print_table(const std::vector<Feature>& features) {
  utsname system{};
  if (::uname(&system) == 0)
    fmt::print("kernel: {} {} {}\n\n", system.sysname, system.release, system.machine);
  size_t name_width = std::string_view("FEATURE").size();
  for (const Feature& feature : features) name_width = std::max(name_width, feature.name.size());
  fmt::print("{:<{}}  {:<9}  {}\n", "FEATURE", name_width, "AVAILABLE", "DETAIL");
  for (const Feature& feature : features)
    fmt::print("{:<{}}  {:<9}  {}\n", feature.name, name_width, feature.available ? "yes" : "no",
               feature.detail);
}

void print_json(const std::vector<Feature>& features) {
  // ordered_json keeps name, available, detail in that order for people reading it.
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const Feature& feature : features)
    array.push_back(
        {{"name", feature.name}, {"available", feature.available}, {"detail", feature.detail}});
  fmt::print("{}\n", array.dump(2));
}

int run_info(bool json) {
  const std::vector<Feature>& features = system_kernel_probe().features();
  if (json)
    print_json(features);
  else
    print_table(features);
  std::fflush(stdout);
  return 0;
}

}  // namespace

void register_info(CLI::App& app, Action& action) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("info", "Show which kernel features syschaos can use here");
  sub->add_flag("--json", *json, "Print a JSON array of {name, available, detail}");
  sub->callback([json, &action] { action = [json] { return run_info(*json); }; });
}

}  // namespace syschaos::cli
