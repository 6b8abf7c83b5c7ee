// The text table: alignment, padding, no trailing spaces.
#include "skewless/ctl/table.h"

#include "gtest/gtest.h"

namespace skewless::ctl {
namespace {

TEST(CtlTable, AlignsColumnsAndTrimsTrailingSpace) {
  Table table({{"NAME"}, {"COUNT", Table::Align::kRight}, {"NOTE"}});
  table.AddRow({"a", "1", ""});
  table.AddRow({"longer", "1234", "x"});
  EXPECT_EQ(table.Render(),
            "NAME    COUNT  NOTE\n"
            "a           1\n"
            "longer   1234  x\n");
}

TEST(CtlTable, MissingCellsRenderEmptyAndUtf8CountsAsOneColumnPerCharacter) {
  Table table({{"A"}, {"B"}});
  table.AddRow({"≥8"});
  table.AddRow({"abc", "z"});
  EXPECT_EQ(table.Render(),
            "A    B\n"
            "≥8\n"
            "abc  z\n");
}

TEST(CtlTable, HeaderOnlyWhenEmpty) {
  Table table({{"A"}});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "A\n");
}

}  // namespace
}  // namespace skewless::ctl
