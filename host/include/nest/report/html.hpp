// A small static HTML report in one self-contained file: the summary, the figures inline and
// the predicted step's trace embedded, with a button that opens it in ui.perfetto.dev (through
// the UI's postMessage protocol) and one that saves it. docs/visuals.md §3.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nest {

struct HtmlReport {
  std::string title;
  std::vector<std::pair<std::string, std::string>> texts;    // heading, preformatted text
  std::vector<std::pair<std::string, std::string>> figures;  // heading, SVG document
  std::string trace_json;                                    // empty: no trace section
  std::string trace_file_name = "nest-step.json";
};

std::string html_report(const HtmlReport& report);

// Text for HTML element content and attribute values: svg::escape (&, <, >, ", ' escaped,
// control characters dropped).
std::string html_escape(const std::string& text);

}  // namespace nest
