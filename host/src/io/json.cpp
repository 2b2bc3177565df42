#include "nest/io/json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "nest/core/error.hpp"
#include "nest/io/text.hpp"

namespace nest {

namespace {

std::string describe(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// Outputs are written to a temporary file beside the target and renamed over it, so a reader
// never sees half a file. That replaces the target, which is only right for a regular file: a
// FIFO, a device (/dev/full), a directory or a symlink would be replaced rather than written, and
// a read-only file would lose its protection. Those are refused.
void refuse_non_regular_output(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // does not exist yet: created
  if (S_ISDIR(st.st_mode)) throw_bad_input(path, "is a directory; give a file name to write");
  if (S_ISLNK(st.st_mode))
    throw_bad_input(path, "is a symbolic link; nest writes regular files only (give the link's target instead)");
  if (!S_ISREG(st.st_mode))
    throw_bad_input(path, "is not a regular file (a device, FIFO or socket); nest writes regular files only (use - for stdout)");
  if (::access(path.c_str(), W_OK) != 0) throw_bad_input(path, std::string("cannot write file (") + std::strerror(errno) + ")");
}

}  // namespace

Json parse_json(std::string_view text, const std::string& source) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::out_of_range& e) {
    // A number literal beyond double's range (1e400): nlohmann reports no position for it.
    throw_bad_input(source, std::string("malformed JSON: a number is out of range (") + e.what() + ")");
  } catch (const Json::parse_error& e) {
    // Turn the byte offset into line:column, the way editors count.
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    const auto pos = what.find("syntax error");
    if (pos != std::string::npos) what = what.substr(pos);
    throw_bad_input(source + ":" + std::to_string(line) + ":" + std::to_string(col), "malformed JSON: " + what);
  }
}

std::string read_text_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw_bad_input(path, "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input(path, std::string("cannot read file (") + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

void write_file_atomic(const std::string& path, std::string_view content, bool executable) {
  if (path == "-") {
    std::cout << content;
    std::cout.flush();
    return;
  }
  refuse_non_regular_output(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_bad_input(path, std::string("cannot write file (") + std::strerror(errno) + ")");
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw_runtime(path + ": write failed");
    }
  }
  if (executable) {
    std::error_code ec;
    namespace fs = std::filesystem;
    fs::permissions(tmp, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add, ec);
    if (ec) {
      std::remove(tmp.c_str());
      throw_runtime(path + ": cannot make the file executable (" + ec.message() + ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    throw_runtime(path + ": cannot rename temporary file (" + err + ")");
  }
}

std::string dump_json(const Json& j) { return j.dump(2) + "\n"; }

JsonObject::JsonObject(const Json& j, std::string source, std::string path)
    : j_(j), source_(std::move(source)), path_(std::move(path)) {
  if (!j_.is_object()) {
    if (path_.empty()) throw_bad_input(source_, "expected a JSON object at the top level");
    throw_bad_input(source_, "field '" + path_ + "': expected an object");
  }
}

std::string JsonObject::field_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void JsonObject::fail(const std::string& key, const std::string& problem) const {
  throw_bad_input(source_, "field '" + field_path(key) + "': " + problem);
}

void JsonObject::fail_here(const std::string& problem) const {
  if (path_.empty()) throw_bad_input(source_, problem);
  throw_bad_input(source_, "field '" + path_ + "': " + problem);
}

bool JsonObject::present(const std::string& key) const {
  auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

bool JsonObject::has(const std::string& key) const { return present(key); }

const Json& JsonObject::at(const std::string& key) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) fail(key, "missing");
  return *it;
}

double JsonObject::number(const std::string& key) const {
  const Json& v = at(key);
  if (!v.is_number()) fail(key, "must be a number (got " + describe(v) + ")");
  const double x = v.get<double>();
  if (!std::isfinite(x)) fail(key, "must be finite (got " + describe(v) + ")");
  return x;
}

double JsonObject::positive_number(const std::string& key) const {
  const double x = number(key);
  if (!(x > 0)) fail(key, "must be positive (got " + describe(at(key)) + ")");
  return x;
}

double JsonObject::non_negative_number(const std::string& key) const {
  const double x = number(key);
  if (x < 0) fail(key, "must not be negative (got " + describe(at(key)) + ")");
  return x;
}

double JsonObject::number_in(const std::string& key, double lo, double hi) const {
  const double x = number(key);
  if (x < lo || x > hi) {
    std::ostringstream ss;
    ss << "must be between " << lo << " and " << hi << " (got " << describe(at(key)) << ")";
    fail(key, ss.str());
  }
  return x;
}

std::int64_t JsonObject::integer(const std::string& key) const {
  const Json& v = at(key);
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9e15) return static_cast<std::int64_t>(x);
  }
  fail(key, "must be an integer (got " + describe(v) + ")");
}

std::int64_t JsonObject::positive_integer(const std::string& key) const {
  const std::int64_t x = integer(key);
  if (x <= 0) fail(key, "must be a positive integer (got " + describe(at(key)) + ")");
  return x;
}

std::int64_t JsonObject::non_negative_integer(const std::string& key) const {
  const std::int64_t x = integer(key);
  if (x < 0) fail(key, "must not be negative (got " + describe(at(key)) + ")");
  return x;
}

std::int64_t JsonObject::integer_in(const std::string& key, std::int64_t lo, std::int64_t hi) const {
  const Json& v = at(key);
  // Integers beyond int64 (read as unsigned) are out of range, not wrapped.
  const bool too_big = v.is_number_unsigned() ? v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi) : integer(key) > hi;
  if (too_big) fail(key, "must be at most " + std::to_string(hi) + " (got " + describe(v) + ")");
  const std::int64_t x = integer(key);
  if (x < lo)
    fail(key, (lo == 1   ? std::string("must be a positive integer")
               : lo == 0 ? std::string("must not be negative")
                         : "must be at least " + std::to_string(lo)) +
                  " (got " + describe(v) + ")");
  return x;
}

std::string JsonObject::string(const std::string& key) const {
  const Json& v = at(key);
  if (!v.is_string()) fail(key, "must be a string (got " + describe(v) + ")");
  return v.get<std::string>();
}

bool JsonObject::boolean(const std::string& key) const {
  const Json& v = at(key);
  if (!v.is_boolean()) fail(key, "must be true or false (got " + describe(v) + ")");
  return v.get<bool>();
}

JsonObject JsonObject::object(const std::string& key) const { return JsonObject(at(key), source_, field_path(key)); }

std::vector<JsonObject> JsonObject::objects(const std::string& key) const {
  const Json& v = at(key);
  if (!v.is_array()) fail(key, "must be an array (got " + describe(v) + ")");
  std::vector<JsonObject> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.emplace_back(v[i], source_, field_path(key) + "[" + std::to_string(i) + "]");
  return out;
}

std::vector<double> JsonObject::numbers(const std::string& key) const {
  const Json& v = at(key);
  if (!v.is_array()) fail(key, "must be an array of numbers (got " + describe(v) + ")");
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number() || !std::isfinite(v[i].get<double>()))
      fail(key + "[" + std::to_string(i) + "]", "must be a finite number (got " + describe(v[i]) + ")");
    out.push_back(v[i].get<double>());
  }
  return out;
}

double JsonObject::number_or(const std::string& key, double dflt) const { return present(key) ? number(key) : dflt; }
double JsonObject::positive_number_or(const std::string& key, double dflt) const {
  return present(key) ? positive_number(key) : dflt;
}
std::int64_t JsonObject::integer_or(const std::string& key, std::int64_t dflt) const {
  return present(key) ? integer(key) : dflt;
}
std::int64_t JsonObject::positive_integer_or(const std::string& key, std::int64_t dflt) const {
  return present(key) ? positive_integer(key) : dflt;
}
std::string JsonObject::string_or(const std::string& key, const std::string& dflt) const {
  return present(key) ? string(key) : dflt;
}
bool JsonObject::boolean_or(const std::string& key, bool dflt) const { return present(key) ? boolean(key) : dflt; }

JsonSetting parse_json_setting(const std::string& text, const std::string& flag, const std::string& example) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw_bad_input(flag, "'" + text + "' is not PATH=VALUE (e.g. " + example + ")");
  return {text.substr(0, eq), text.substr(eq + 1), flag};
}

void apply_json_settings(Json& j, const std::vector<JsonSetting>& settings, const std::string& file) {
  for (const JsonSetting& s : settings) {
    auto fail = [&](const std::string& problem) { throw_bad_input(s.flag, "'" + s.path + "': " + problem); };
    const std::vector<std::string> parts = split(s.path, '.');
    Json* at = &j;
    std::string walked;  // the path so far, for messages
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const std::string& k = parts[i];
      if (k.empty()) fail("an empty name in the path");
      const std::string here = walked.empty() ? k : walked + "." + k;
      if (at->is_object()) {
        // The last key may be new (an optional field the file leaves out); one above it may not.
        if (!at->contains(k) && i + 1 < parts.size()) fail(file + " has no '" + here + "'");
        at = &(*at)[k];
      } else if (at->is_array()) {
        std::size_t index = at->size();
        if (k.find_first_not_of("0123456789") == std::string::npos && k.size() < 10) {
          index = static_cast<std::size_t>(std::stoul(k));
        } else {
          for (std::size_t e = 0; e < at->size(); ++e)
            if ((*at)[e].is_object() && (*at)[e].contains("name") && (*at)[e]["name"] == k) index = e;
        }
        if (index >= at->size())
          fail("'" + walked + "' in " + file + " has " + std::to_string(at->size()) + " elements and none is '" + k +
               "' (an index from 0, or an element's name)");
        at = &(*at)[index];
      } else {
        fail("'" + walked + "' in " + file + " is a value, not an object or a list");
      }
      walked = here;
    }
    Json value = Json::parse(s.value, nullptr, false);
    if (value.is_discarded()) value = s.value;  // not JSON: a string (a preset's name)
    *at = std::move(value);
  }
}

}  // namespace nest
