// Well-formedness of the SVG (XML) and HTML nest writes, checked without a parser library: tags
// balanced and properly nested, attributes quoted, entity references valid, one root element
// (XML), the doctype and the raw-text elements (HTML). Python's xml.etree and html.parser and
// rsvg-convert / headless Chromium check the same files again where they are installed
// (tests/report/test_figures.cpp).
#pragma once

#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace nest::test {

namespace detail {

inline bool valid_entity(const std::string& s, std::size_t amp, std::size_t* end) {
  const std::size_t semi = s.find(';', amp);
  if (semi == std::string::npos || semi - amp > 10) return false;
  const std::string name = s.substr(amp + 1, semi - amp - 1);
  *end = semi + 1;
  static const std::set<std::string> named = {"amp", "lt", "gt", "quot", "apos", "nbsp"};
  if (named.count(name)) return true;
  if (name.size() > 1 && name[0] == '#') {
    const bool hex = name[1] == 'x';
    for (std::size_t i = hex ? 2 : 1; i < name.size(); ++i)
      if (!(hex ? std::isxdigit(static_cast<unsigned char>(name[i])) : std::isdigit(static_cast<unsigned char>(name[i]))))
        return false;
    return name.size() > (hex ? 2u : 1u);
  }
  return false;
}

inline std::vector<std::string> markup_problems(const std::string& s, bool html) {
  std::vector<std::string> out;
  auto bad = [&](std::size_t at, const std::string& what) {
    if (out.size() < 10) out.push_back("offset " + std::to_string(at) + ": " + what);
  };
  static const std::set<std::string> void_elements = {"area",  "base", "br",   "col",   "embed",  "hr",    "img",
                                                      "input", "link", "meta", "param", "source", "track", "wbr"};
  std::vector<std::string> stack;
  int roots = 0;
  std::size_t i = 0;
  if (html) {
    const std::size_t d = s.find("<!DOCTYPE html>");
    if (d != 0) bad(0, "does not start with <!DOCTYPE html>");
  }
  while (i < s.size()) {
    const char ch = s[i];
    if (ch == '&') {
      std::size_t end = 0;
      if (!valid_entity(s, i, &end)) {
        bad(i, "bad entity reference");
        ++i;
      } else {
        i = end;
      }
      continue;
    }
    if (ch != '<') {
      if (!html && stack.empty() && !std::isspace(static_cast<unsigned char>(ch))) bad(i, "text outside the root element");
      ++i;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      const std::size_t e = s.find("-->", i + 4);
      if (e == std::string::npos) return bad(i, "unterminated comment"), out;
      i = e + 3;
      continue;
    }
    if (s.compare(i, 2, "<!") == 0 || s.compare(i, 2, "<?") == 0) {
      const std::size_t e = s.find('>', i);
      if (e == std::string::npos) return bad(i, "unterminated declaration"), out;
      i = e + 1;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    const std::size_t name_start = j;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':' || s[j] == '_')) ++j;
    std::string name = s.substr(name_start, j - name_start);
    if (name.empty()) {
      bad(i, "'<' that starts no tag");
      ++i;
      continue;
    }
    if (html)
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (closing) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size() || s[j] != '>') return bad(i, "bad end tag"), out;
      if (stack.empty() || stack.back() != name)
        bad(i, "</" + name + "> closes " + (stack.empty() ? std::string("nothing") : "<" + stack.back() + ">"));
      else
        stack.pop_back();
      i = j + 1;
      continue;
    }
    // Attributes: name="value" or name='value'.
    bool self_closing = false;
    std::set<std::string> attrs;
    for (;;) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size()) return bad(i, "unterminated tag <" + name), out;
      if (s[j] == '>') {
        ++j;
        break;
      }
      if (s.compare(j, 2, "/>") == 0) {
        self_closing = true;
        j += 2;
        break;
      }
      const std::size_t a = j;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':' || s[j] == '_')) ++j;
      const std::string attr = s.substr(a, j - a);
      if (attr.empty()) return bad(j, "bad attribute in <" + name), out;
      if (!attrs.insert(attr).second) bad(a, "attribute " + attr + " twice in <" + name);
      if (j >= s.size() || s[j] != '=') {
        if (!html) bad(j, "attribute " + attr + " without a value");
        continue;
      }
      ++j;
      if (j >= s.size() || (s[j] != '"' && s[j] != '\'')) return bad(j, "unquoted attribute " + attr), out;
      const char q = s[j];
      const std::size_t e = s.find(q, j + 1);
      if (e == std::string::npos) return bad(j, "unterminated attribute " + attr), out;
      const std::string value = s.substr(j + 1, e - j - 1);
      if (value.find('<') != std::string::npos) bad(j, "'<' in attribute " + attr);
      for (std::size_t k = value.find('&'); k != std::string::npos; k = value.find('&', k + 1)) {
        std::size_t end = 0;
        if (!valid_entity(value, k, &end)) bad(j + 1 + k, "bad entity in attribute " + attr);
      }
      j = e + 1;
    }
    if (stack.empty()) ++roots;
    i = j;
    if (self_closing || (html && void_elements.count(name))) continue;
    if (html && (name == "script" || name == "style")) {  // raw text up to the end tag
      const std::size_t e = s.find("</" + name, i);
      if (e == std::string::npos) return bad(i, "unterminated <" + name + ">"), out;
      i = e;
    }
    stack.push_back(name);
  }
  for (const auto& n : stack) bad(s.size(), "<" + n + "> never closed");
  if (!html && roots != 1) bad(0, std::to_string(roots) + " root elements");
  return out;
}

}  // namespace detail

inline std::vector<std::string> xml_problems(const std::string& s) { return detail::markup_problems(s, false); }
inline std::vector<std::string> html_problems(const std::string& s) { return detail::markup_problems(s, true); }

}  // namespace nest::test
