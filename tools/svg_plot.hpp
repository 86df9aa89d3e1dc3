#pragma once
/// @file tools/svg_plot.hpp
/// A small SVG line-plot writer (fmt for the numbers, nothing else) for loss curves: one figure with several panels (e.g.
/// validation loss against wall-clock seconds and against FLOPs), several series per panel, axes with
/// ticks, a legend. Enough for a person to open results/*.svg in a browser; nothing more.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace growth::report {

struct series {
  std::string label;
  std::vector<double> x, y;
};

struct panel {
  std::string title, x_label, y_label;
  std::vector<series> lines;
  bool log_x = false;
};

namespace detail {
inline std::string fmt_num(double v) {
  const double a = std::fabs(v);
  return a != 0 && (a >= 1e5 || a < 1e-2) ? fmt::format("{:.2g}", v) : fmt::format("{:.3g}", v);
}
inline std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}
/// "Nice" tick positions covering [lo, hi].
inline std::vector<double> ticks(double lo, double hi, int target = 5) {
  std::vector<double> t;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}
}  // namespace detail

/// Renders the panels side by side into one SVG document.
inline std::string render_svg(const std::vector<panel>& panels, const std::string& title) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  const double pw = 520, ph = 380, ml = 70, mr = 20, mt = 50, mb = 60;
  const double W = pw * static_cast<double>(panels.size()), H = ph + 30;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << W / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" << detail::esc(title) << "</text>\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const panel& pn = panels[p];
    const double x0 = static_cast<double>(p) * pw + ml, x1 = static_cast<double>(p + 1) * pw - mr;
    const double y0 = 30 + mt, y1 = 30 + ph - mb;
    double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
    auto tx = [&](double v) { return pn.log_x ? std::log10(std::max(v, 1e-300)) : v; };
    for (const auto& s : pn.lines)
      for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.y[i]) || (pn.log_x && s.x[i] <= 0)) continue;
        xmin = std::min(xmin, tx(s.x[i]));
        xmax = std::max(xmax, tx(s.x[i]));
        ymin = std::min(ymin, s.y[i]);
        ymax = std::max(ymax, s.y[i]);
      }
    if (!std::isfinite(xmin)) { xmin = 0; xmax = 1; ymin = 0; ymax = 1; }
    if (xmax == xmin) xmax = xmin + 1;
    if (ymax == ymin) ymax = ymin + 1;
    const double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    auto X = [&](double v) { return x0 + (tx(v) - xmin) / (xmax - xmin) * (x1 - x0); };
    auto Y = [&](double v) { return y1 - (v - ymin) / (ymax - ymin) * (y1 - y0); };
    o << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << y0 - 12 << "\" text-anchor=\"middle\" font-size=\"13\">" << detail::esc(pn.title) << "</text>\n";
    o << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << x1 - x0 << "\" height=\"" << y1 - y0 << "\" fill=\"none\" stroke=\"#333\"/>\n";
    for (double t : detail::ticks(xmin, xmax)) {
      const double px = x0 + (t - xmin) / (xmax - xmin) * (x1 - x0);
      o << "<line x1=\"" << px << "\" y1=\"" << y1 << "\" x2=\"" << px << "\" y2=\"" << y1 + 5 << "\" stroke=\"#333\"/>";
      o << "<text x=\"" << px << "\" y=\"" << y1 + 18 << "\" text-anchor=\"middle\">" << detail::fmt_num(pn.log_x ? std::pow(10.0, t) : t) << "</text>\n";
    }
    for (double t : detail::ticks(ymin, ymax)) {
      o << "<line x1=\"" << x0 - 5 << "\" y1=\"" << Y(t) << "\" x2=\"" << x1 << "\" y2=\"" << Y(t) << "\" stroke=\"#ddd\"/>";
      o << "<text x=\"" << x0 - 8 << "\" y=\"" << Y(t) + 4 << "\" text-anchor=\"end\">" << detail::fmt_num(t) << "</text>\n";
    }
    o << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << y1 + 40 << "\" text-anchor=\"middle\">" << detail::esc(pn.x_label) << "</text>\n";
    o << "<text transform=\"translate(" << x0 - 50 << "," << (y0 + y1) / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << detail::esc(pn.y_label) << "</text>\n";
    for (std::size_t si = 0; si < pn.lines.size(); ++si) {
      const auto& s = pn.lines[si];
      const char* c = colors[si % 8];
      o << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"2\" points=\"";
      for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.y[i]) || (pn.log_x && s.x[i] <= 0)) continue;
        o << X(s.x[i]) << ',' << Y(s.y[i]) << ' ';
      }
      o << "\"/>\n";
      const double ly = y0 + 16 + 16 * static_cast<double>(si);
      o << "<line x1=\"" << x1 - 150 << "\" y1=\"" << ly << "\" x2=\"" << x1 - 130 << "\" y2=\"" << ly << "\" stroke=\"" << c << "\" stroke-width=\"2\"/>";
      o << "<text x=\"" << x1 - 125 << "\" y=\"" << ly + 4 << "\">" << detail::esc(s.label) << "</text>\n";
    }
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace growth::report
