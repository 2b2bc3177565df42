// The one JSON layer: parsing with file:line errors, typed field access that reports
// "<file>: field '<path>': <problem>", and atomic writes (temporary file, then rename), so a
// failure never leaves a half-written output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace nest {

using Json = nlohmann::ordered_json;

Json parse_json(std::string_view text, const std::string& source);
Json read_json_file(const std::string& path);
std::string read_text_file(const std::string& path);
// Writes `content` to `path` atomically; "-" writes to standard output. `executable` adds the
// execute permissions (launch scripts).
void write_file_atomic(const std::string& path, std::string_view content, bool executable = false);
std::string dump_json(const Json& j);

// A field of a JSON input file set before the file is read (--cluster-set, a calibration row's
// model_set). PATH is object keys and array elements (an index, or the element's "name") joined
// by dots, e.g. networks.0.tiers.spine.oversubscription; VALUE is JSON (2, 36.5, true, "x"), or a
// string where it is not (h200). A key may be new in its object; `flag` names the setting in
// errors.
struct JsonSetting {
  std::string path, value;
  std::string flag;
};

// "PATH=VALUE" (bad input naming `flag` otherwise; `example` shows the form).
JsonSetting parse_json_setting(const std::string& text, const std::string& flag, const std::string& example);

// Sets each setting's field of `j` (the file's JSON) in turn; bad input naming the setting's flag
// and `file` for a path that is not in the file.
void apply_json_settings(Json& j, const std::vector<JsonSetting>& settings, const std::string& file);

// A JSON object plus where it came from, for error messages.
class JsonObject {
 public:
  JsonObject(const Json& j, std::string source, std::string path = "");

  bool has(const std::string& key) const;
  const Json& raw() const { return j_; }
  const std::string& source() const { return source_; }

  double number(const std::string& key) const;           // any finite number
  double positive_number(const std::string& key) const;  // > 0
  double non_negative_number(const std::string& key) const;
  double number_in(const std::string& key, double lo, double hi) const;  // lo <= x <= hi
  std::int64_t integer(const std::string& key) const;
  std::int64_t positive_integer(const std::string& key) const;
  std::int64_t non_negative_integer(const std::string& key) const;
  std::int64_t integer_in(const std::string& key, std::int64_t lo, std::int64_t hi) const;  // lo <= x <= hi
  std::string string(const std::string& key) const;
  bool boolean(const std::string& key) const;
  JsonObject object(const std::string& key) const;
  std::vector<JsonObject> objects(const std::string& key) const;  // array of objects
  std::vector<double> numbers(const std::string& key) const;      // array of finite numbers

  // Optional variants: the default when the key is absent or null.
  double number_or(const std::string& key, double dflt) const;
  double positive_number_or(const std::string& key, double dflt) const;
  std::int64_t integer_or(const std::string& key, std::int64_t dflt) const;
  std::int64_t positive_integer_or(const std::string& key, std::int64_t dflt) const;
  std::string string_or(const std::string& key, const std::string& dflt) const;
  bool boolean_or(const std::string& key, bool dflt) const;

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;
  [[noreturn]] void fail_here(const std::string& problem) const;
  std::string field_path(const std::string& key) const;

 private:
  const Json& at(const std::string& key) const;
  bool present(const std::string& key) const;

  const Json& j_;
  std::string source_;
  std::string path_;
};

}  // namespace nest
