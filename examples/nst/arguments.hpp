// arguments.hpp — a small table-driven parser for the nst command's options.
//
// Each option is declared once with its name, a value hint, its help text and what to do with
// the value; the same table prints the help. Values are checked as they are parsed, and every
// problem becomes one clear line: "option --iterations: 'abc' is not an integer".
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst_cli {

// A mistake in how the command was called (exit status 2, as is usual for usage errors).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct option {
  std::string name;   // "--iterations"
  std::string value;  // value hint ("N"); empty for a flag
  std::string help;
  std::function<void(const std::string&)> apply;
};

inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) throw usage_error("empty item in the list '" + text + "'");
    items.push_back(item);
  }
  if (items.empty()) throw usage_error("empty list");
  return items;
}

inline long long parse_integer(const std::string& name, const std::string& text, long long min, long long max) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw usage_error("option " + name + ": '" + text + "' is not an integer");
  if (v < min || v > max)
    throw usage_error("option " + name + ": " + text + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  return v;
}

inline double parse_number(const std::string& name, const std::string& text, double min, double max) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw usage_error("option " + name + ": '" + text + "' is not a finite number");
  if (v < min || v > max) {
    std::ostringstream out;
    out << "option " << name << ": " << text << " is outside " << min << ".." << max;
    throw usage_error(out.str());
  }
  return v;
}

inline std::vector<double> parse_numbers(const std::string& name, const std::string& text, double min, double max) {
  std::vector<double> values;
  for (const std::string& item : split_list(text)) values.push_back(parse_number(name, item, min, max));
  return values;
}

inline std::vector<long long> parse_integers(const std::string& name, const std::string& text, long long min,
                                             long long max) {
  std::vector<long long> values;
  for (const std::string& item : split_list(text)) values.push_back(parse_integer(name, item, min, max));
  return values;
}

inline std::string choice(const std::string& name, const std::string& text, const std::vector<std::string>& allowed) {
  for (const std::string& a : allowed)
    if (a == text) return text;
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : "|") + a;
  throw usage_error("option " + name + ": '" + text + "' is not one of " + list);
}

// Applies the options in args[first..] against the table.
inline void parse(const std::vector<option>& table, const std::vector<std::string>& args, std::size_t first) {
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const option* match = nullptr;
    for (const option& o : table)
      if (o.name == arg) match = &o;
    if (!match) throw usage_error("unknown option '" + arg + "' (see --help)");
    if (match->value.empty()) {
      match->apply("");
    } else {
      if (i + 1 >= args.size()) throw usage_error("option " + arg + " needs a value (" + match->value + ")");
      match->apply(args[++i]);
    }
  }
}

inline std::string help_text(const std::vector<option>& table) {
  std::ostringstream out;
  for (const option& o : table) {
    std::string head = "  " + o.name + (o.value.empty() ? "" : " " + o.value);
    out << head << std::string(head.size() < 34 ? 34 - head.size() : 1, ' ') << o.help << "\n";
  }
  return out.str();
}

}  // namespace nst_cli
