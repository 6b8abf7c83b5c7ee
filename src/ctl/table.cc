// Column widths are measured in code points, so "≥" or a zone name in UTF-8 still aligns.
#include "skewless/ctl/table.h"

#include <algorithm>

namespace skewless::ctl {
namespace {

std::size_t DisplayWidth(const std::string& text) {
  // Count bytes that do not continue a UTF-8 sequence.
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<std::size_t> widths;
  for (const Column& column : columns_) widths.push_back(DisplayWidth(column.header));
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  auto render_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t pad = widths[i] - DisplayWidth(cells[i]);
      if (i > 0) line += "  ";
      if (columns_[i].align == Align::kRight) line.append(pad, ' ');
      line += cells[i];
      if (columns_[i].align == Align::kLeft) line.append(pad, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  std::vector<std::string> headers;
  for (const Column& column : columns_) headers.push_back(column.header);
  render_row(headers);
  for (const auto& row : rows_) render_row(row);
  return out;
}

}  // namespace skewless::ctl
