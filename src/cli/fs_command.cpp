// syschaos fs mount | rules | recover: ChaosFS, the fault-injecting FUSE file system, in
// standalone mode (a backing directory mirrored at a mountpoint). `fs inject`/`fs restore`
// (container mode) register under the same `fs` parent from their own file.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "fs/chaos_fs.hpp"
#include "fs/fs_control_server.hpp"
#include "fs/mount_recovery.hpp"

namespace syschaos::cli {

namespace {

struct MountOptions {
  std::string backing;
  std::string mountpoint;
  std::string faults;
  std::string control;
  uint64_t seed = 0;
  unsigned threads = 0;
  double entry_timeout = 1.0;
  double attr_timeout = 1.0;
  bool no_guardian = false;
  bool passthrough = false;
};

std::atomic<fs::ChaosFs*> g_mounted{nullptr};

void on_stop_signal(int) {
  if (auto* f = g_mounted.load()) f->stop();  // one write(2) to an eventfd
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "syschaos: %s\n", msg.c_str());
  return kExitUsage;
}

int runtime_error(const std::string& msg) {
  std::fprintf(stderr, "syschaos: %s\n", msg.c_str());
  return kExitFailure;
}

int run_mount(const MountOptions& o) {
  fs::ChaosFsOptions opts;
  opts.backing_path = o.backing;
  opts.mountpoint = o.mountpoint;
  opts.control_path = o.control;
  opts.seed = o.seed;
  opts.threads = o.threads;
  opts.entry_timeout = o.entry_timeout;
  opts.attr_timeout = o.attr_timeout;
  opts.unmount_guardian = !o.no_guardian;
  opts.passthrough = o.passthrough;
  if (o.entry_timeout < 0 || o.attr_timeout < 0) return usage_error("timeouts must not be negative");
  if (!o.faults.empty()) {
    auto rules = fs::load_fs_rules_file(o.faults);
    if (!rules) return usage_error(rules.error().message());
    opts.rules = std::move(*rules);
  }
  struct stat st;
  if (::stat(o.backing.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return usage_error(fmt::format("--backing {} is not a directory", o.backing));
  // A dead ChaosFS mount there (ENOTCONN) is replaced by mount(); anything else must be a
  // directory.
  if (::stat(o.mountpoint.c_str(), &st) != 0 ? errno != ENOTCONN : !S_ISDIR(st.st_mode))
    return usage_error(fmt::format("--mountpoint {} is not a directory", o.mountpoint));
  // Checked here too (ChaosFs::mount checks it again), so the mistake is found before the
  // unmount guardian is forked and anything is mounted.
  if (!o.control.empty() && ::lstat(o.control.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
    return usage_error(fmt::format("--control {} exists and is not a socket", o.control));

  // Signals first (blocked while mounting), so a Ctrl-C during the mount cannot kill us
  // between mounting and serving.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  auto fs = fs::ChaosFs::mount(opts);
  if (!fs) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return runtime_error(fs.error().message());
  }
  g_mounted.store(fs->get());
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  std::fprintf(stderr, "syschaos: ChaosFS mounted at %s (backing %s), %zu rule(s), seed %llu%s%s\n",
               (*fs)->mountpoint().c_str(), o.backing.c_str(), opts.rules.size(),
               static_cast<unsigned long long>((*fs)->seed()), o.control.empty() ? "" : ", control ",
               o.control.c_str());
  for (const auto& r : (*fs)->rules())
    std::fprintf(stderr, "syschaos:   rule %llu: %s\n", static_cast<unsigned long long>(r.rule.id),
                 r.rule.describe().c_str());
  auto ran = (*fs)->run();
  for (const auto& r : (*fs)->rules()) {
    const auto& c = r.counters;
    std::fprintf(stderr,
                 "syschaos: rule %llu (%s): matched %llu, fired %llu, delayed %llu, failed %llu, "
                 "attr %llu, corrupted %llu\n",
                 static_cast<unsigned long long>(r.rule.id), r.rule.describe().c_str(),
                 (unsigned long long)c.matched, (unsigned long long)c.fired, (unsigned long long)c.delayed,
                 (unsigned long long)c.failed, (unsigned long long)c.attr_overridden,
                 (unsigned long long)c.corrupted);
  }
  g_mounted.store(nullptr);
  fs->reset();  // answers delayed requests, unmounts
  std::fprintf(stderr, "syschaos: ChaosFS unmounted from %s\n", opts.mountpoint.c_str());
  if (!ran) return runtime_error(ran.error().message());
  return 0;
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::sys(fmt::format("open {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sends one control request; prints the answer (list as a table, or --json raw).
int control(const std::string& socket, const nlohmann::json& req, bool json_out) {
  // A wrong path is the user's mistake (exit 2); a socket that does not answer is not.
  struct stat st;
  if (::stat(socket.c_str(), &st) != 0)
    return usage_error(fmt::format("--control {}: {}", socket, std::strerror(errno)));
  if (!S_ISSOCK(st.st_mode)) return usage_error(fmt::format("--control {}: not a socket", socket));
  auto resp = fs::control_request(socket, req.dump());
  if (!resp) return runtime_error(resp.error().message());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*resp);
  } catch (const nlohmann::json::exception&) {
    return runtime_error("bad answer from " + socket + ": " + *resp);
  }
  if (!j.value("ok", false)) {
    std::string err = j.value("error", std::string("unknown error"));
    // The server refuses bad input the same way the CLI does.
    return usage_error(err);
  }
  if (json_out) {
    std::printf("%s\n", resp->c_str());
    return 0;
  }
  if (req["cmd"] == "list") {
    std::printf("%-4s %-9s %-9s %-9s %-9s %-6s %-9s %s\n", "ID", "MATCHED", "FIRED", "DELAYED", "FAILED",
                "ATTR", "CORRUPTED", "RULE");
    for (const auto& r : j["rules"]) {
      const auto& c = r["counters"];
      std::printf("%-4llu %-9llu %-9llu %-9llu %-9llu %-6llu %-9llu %s\n",
                  r["id"].get<unsigned long long>(), c["matched"].get<unsigned long long>(),
                  c["fired"].get<unsigned long long>(), c["delayed"].get<unsigned long long>(),
                  c["failed"].get<unsigned long long>(), c["attr_overridden"].get<unsigned long long>(),
                  c["corrupted"].get<unsigned long long>(), r["description"].get<std::string>().c_str());
    }
  } else if (j.contains("ids")) {
    for (const auto& id : j["ids"]) std::printf("%llu\n", id.get<unsigned long long>());
  }
  if (j.contains("warning") && j["warning"].is_string())
    std::fprintf(stderr, "syschaos: warning: %s\n", j["warning"].get<std::string>().c_str());
  return 0;
}

int run_rules_with_file(const std::string& socket, const std::string& cmd, const std::string& file, bool json_out) {
  auto text = read_text(file);
  if (!text) return usage_error(text.error().message());
  // Validate here too: bad input is refused before anything is sent.
  auto parsed = fs::parse_fs_rules(*text);
  if (!parsed) return usage_error(fmt::format("{}: {}", file, parsed.error().message()));
  return control(socket, {{"cmd", cmd}, {"rules", *text}}, json_out);
}

int run_recover(const std::string& mountpoint) {
  auto mp = fs::resolve_mountpoint(mountpoint);
  if (!mp) return usage_error(mp.error().message());
  auto state = fs::chaosfs_mount_state(*mp);
  if (!state) return runtime_error(state.error().message());
  switch (*state) {
    case fs::MountState::kNotMounted:
      std::fprintf(stderr, "syschaos: nothing mounted at %s; nothing to do\n", mp->c_str());
      return 0;
    case fs::MountState::kOtherFs:
      return usage_error(fmt::format("{} is not a ChaosFS mount; left alone", *mp));
    case fs::MountState::kAlive:
      return usage_error(fmt::format("{} is a live ChaosFS mount; stop its server (SIGTERM) to unmount", *mp));
    case fs::MountState::kDead:
      break;
  }
  auto r = fs::recover_dead_mount(*mp);
  if (!r) return runtime_error(r.error().message());
  std::fprintf(stderr, "syschaos: unmounted the dead ChaosFS mount at %s\n", mp->c_str());
  return 0;
}

}  // namespace

void register_fs(CLI::App& app, Action& action) {
  CLI::App* fs = nullptr;
  try {
    fs = app.get_subcommand("fs");
  } catch (const CLI::OptionNotFound&) {
    fs = app.add_subcommand("fs", "ChaosFS: a FUSE file system that injects I/O faults");
  }
  fs->require_subcommand(1);

  auto mo = std::make_shared<MountOptions>();
  auto* mount = fs->add_subcommand("mount", "Mirror a backing directory at a mountpoint, with faults "
                                             "(foreground; Ctrl-C or SIGTERM unmounts)");
  mount->add_option("--backing", mo->backing, "Directory holding the real files")->required();
  mount->add_option("--mountpoint", mo->mountpoint, "Where the file system appears")->required();
  mount->add_option("--faults", mo->faults, "Rules: syschaos YAML or a Chaos Mesh IOChaos manifest");
  mount->add_option("--control", mo->control, "Unix socket for changing rules live (fs rules)");
  mount->add_option("--seed", mo->seed, "Random seed (0: random; printed)");
  mount->add_option("--threads", mo->threads, "FUSE worker threads (default max(4, CPUs))");
  mount->add_option("--entry-timeout", mo->entry_timeout,
                    "Seconds the kernel caches lookups while no rule acts on lookup/getattr (1)");
  mount->add_option("--attr-timeout", mo->attr_timeout,
                    "Seconds the kernel caches attributes while no rule acts on lookup/getattr (1)");
  mount->add_flag("--no-unmount-guardian", mo->no_guardian,
                  "Do not fork the process that unmounts if this one is SIGKILLed");
  mount->add_flag("--passthrough", mo->passthrough,
                  "Kernel passthrough (Linux 6.9+) for files no rule touches when opened: native-speed "
                  "reads and writes; rules added later reach such a file once it is reopened");
  mount->callback([mo, &action] { action = [mo] { return run_mount(*mo); }; });

  auto socket = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto* rules = fs->add_subcommand("rules", "List or change the rules of a mounted ChaosFS");
  rules->add_option("--control", *socket, "The control socket given to fs mount")->required();
  rules->add_flag("--json", *json_out, "Print the server's JSON answer");
  rules->require_subcommand(1);
  rules->add_subcommand("list", "Rules with their ids and counters")->callback([=, &action] {
    action = [=] { return control(*socket, {{"cmd", "list"}}, *json_out); };
  });
  auto add_file = std::make_shared<std::string>();
  rules->add_subcommand("add", "Add the rules of FILE (prints their ids)")
      ->callback([=, &action] { action = [=] { return run_rules_with_file(*socket, "add", *add_file, *json_out); }; })
      ->add_option("FILE", *add_file, "Rules file")->required();
  auto replace_file = std::make_shared<std::string>();
  rules->add_subcommand("replace", "Replace all rules by those of FILE")
      ->callback([=, &action] {
        action = [=] { return run_rules_with_file(*socket, "replace", *replace_file, *json_out); };
      })
      ->add_option("FILE", *replace_file, "Rules file")->required();
  auto remove_id = std::make_shared<uint64_t>(0);
  rules->add_subcommand("remove", "Remove the rule with this id")
      ->callback([=, &action] {
        action = [=] { return control(*socket, {{"cmd", "remove"}, {"id", *remove_id}}, *json_out); };
      })
      ->add_option("ID", *remove_id, "Rule id (from list)")->required();
  rules->add_subcommand("clear", "Remove every rule")->callback([=, &action] {
    action = [=] { return control(*socket, {{"cmd", "clear"}}, *json_out); };
  });

  auto recover_mp = std::make_shared<std::string>();
  auto* recover = fs->add_subcommand("recover", "Unmount a dead ChaosFS mount (its server was killed)");
  recover->add_option("--mountpoint", *recover_mp, "The mountpoint")->required();
  recover->callback([=, &action] { action = [=] { return run_recover(*recover_mp); }; });
}

}  // namespace syschaos::cli
