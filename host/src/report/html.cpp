#include "nest/report/html.hpp"

#include "nest/report/svg.hpp"

namespace nest {

// HTML text and attribute values need what SVG's XML needs: one escaper for both.
std::string html_escape(const std::string& text) { return svg::escape(text); }

namespace {

// JSON inside <script type="application/json">: every '<' becomes \u003c (it can only occur
// inside JSON strings), so no "</script>" or "<!--" can end or confuse the element.
std::string script_safe_json(const std::string& json) {
  std::string out;
  out.reserve(json.size() + 64);
  for (char c : json) {
    if (c == '<')
      out += "\\u003c";
    else
      out.push_back(c);
  }
  return out;
}

// The SVG documents are inlined as they are (HTML5 takes <svg> elements in the body).
constexpr const char* kStyle = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1000px; color: #222222; }
h1 { font-size: 22px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #dddddd; padding-bottom: 4px; }
pre { background: #f6f6f6; padding: 12px; overflow-x: auto; font-size: 12px; line-height: 1.35; }
figure { margin: 12px 0; }
svg { max-width: 100%; height: auto; }
button { font-size: 14px; padding: 6px 14px; margin-right: 8px; }
.note { color: #555555; font-size: 13px; }
)";

constexpr const char* kScript = R"(
const PERFETTO = 'https://ui.perfetto.dev';
function traceText() { return document.getElementById('nest-trace').textContent; }
function say(text) { document.getElementById('trace-status').textContent = text; }
function openInPerfetto() {
  const buffer = new TextEncoder().encode(traceText()).buffer;
  const win = window.open(PERFETTO);
  if (!win) { say('The browser blocked the new window: save the trace and open it at ui.perfetto.dev.'); return; }
  say('Waiting for ui.perfetto.dev to load...');
  const timer = setInterval(function () { win.postMessage('PING', PERFETTO); }, 50);
  function onMessage(event) {
    if (event.origin !== PERFETTO || event.data !== 'PONG') return;
    clearInterval(timer);
    window.removeEventListener('message', onMessage);
    win.postMessage({perfetto: {buffer: buffer, title: document.title, fileName: TRACE_FILE}}, PERFETTO);
    say('Sent to ui.perfetto.dev.');
  }
  window.addEventListener('message', onMessage);
}
function saveTrace() {
  const url = URL.createObjectURL(new Blob([traceText()], {type: 'application/json'}));
  const a = document.createElement('a');
  a.href = url;
  a.download = TRACE_FILE;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
}
)";

}  // namespace

std::string html_report(const HtmlReport& r) {
  std::string o;
  std::size_t size = r.trace_json.size() + 8192;
  for (const auto& f : r.figures) size += f.second.size() + 256;
  for (const auto& t : r.texts) size += t.second.size() + 256;
  o.reserve(size);
  o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" + html_escape(r.title) +
       "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" + html_escape(r.title) + "</h1>\n";
  if (!r.trace_json.empty()) {
    o += "<p><button type=\"button\" onclick=\"openInPerfetto()\">Open the step in Perfetto</button>"
         "<button type=\"button\" onclick=\"saveTrace()\">Save the trace (" +
         html_escape(r.trace_file_name) +
         ")</button></p>\n<p class=\"note\" id=\"trace-status\">The predicted step is embedded in this page as a "
         "Chrome/Perfetto trace. The first button opens ui.perfetto.dev and hands it the trace (nothing is uploaded: the "
         "UI runs in the browser); or save it and drag it onto ui.perfetto.dev.</p>\n";
  }
  for (const auto& [heading, text] : r.texts)
    o += "<h2>" + html_escape(heading) + "</h2>\n<pre>" + html_escape(text) + "</pre>\n";
  for (const auto& [heading, svg] : r.figures) o += "<h2>" + html_escape(heading) + "</h2>\n<figure>\n" + svg + "</figure>\n";
  if (!r.trace_json.empty()) {
    o += "<script type=\"application/json\" id=\"nest-trace\">";
    o += script_safe_json(r.trace_json);
    o += "</script>\n<script>\nconst TRACE_FILE = \"" + html_escape(r.trace_file_name) + "\";" + kScript + "</script>\n";
  }
  o += "</body>\n</html>\n";
  return o;
}

}  // namespace nest
