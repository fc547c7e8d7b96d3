// Time series files: one record per Interval, as JSON lines (.jsonl) or CSV (.csv), in the
// schema documented in docs/OBSERVE_OUTPUT.md (version kIntervalSchemaVersion). Experiments
// read the JSONL form back with read_intervals_jsonl.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "observe/metrics.hpp"

namespace syschaos {

// The "schema" field of every record. Bumped only for a change an existing reader would
// misread (a field renamed or changed in meaning); new fields do not bump it.
inline constexpr int kIntervalSchemaVersion = 1;

enum class IntervalFormat { jsonl, csv };

// From the file name: ".jsonl" (or ".json", ".ndjson") or ".csv"; anything else is an error
// naming the accepted extensions.
Result<IntervalFormat> interval_format_for_path(std::string_view path);

// One JSON object on one line, newline included.
std::string interval_to_jsonl(const Interval& interval, std::string_view target);
// The inverse; `target`, when given, receives the record's target. Errors name the field.
Result<Interval> interval_from_json(std::string_view line, std::string* target = nullptr);

// The CSV header line and an interval's rows (long format: one value per row), newlines
// included.
std::string interval_csv_header();
std::string interval_to_csv(const Interval& interval, std::string_view target);

class IntervalWriter {
 public:
  // Creates (or truncates) `path`; the format comes from its extension unless given. A CSV
  // file starts with its header.
  static Result<std::unique_ptr<IntervalWriter>> open(const std::string& path, std::string target,
                                                      std::optional<IntervalFormat> format = {});

  // Appends the interval's record(s) with one write, so a reader following the file (or a
  // crash) never sees half an interval unless the disk fills.
  Result<void> write(const Interval& interval);

  IntervalFormat format() const { return format_; }
  const std::string& path() const { return path_; }

 private:
  IntervalWriter(UniqueFd fd, std::string path, std::string target, IntervalFormat format)
      : fd_(std::move(fd)), path_(std::move(path)), target_(std::move(target)), format_(format) {}
  Result<void> write_all(std::string_view text);

  UniqueFd fd_;
  std::string path_;
  std::string target_;
  IntervalFormat format_;
};

// Every interval of a JSONL file, in file order. Errors carry the line number. A last line
// without its newline that does not parse is a record cut short (the writer was killed while
// the disk was full) and is skipped; any other bad line is an error.
Result<std::vector<Interval>> read_intervals_jsonl(const std::string& path);

}  // namespace syschaos
