// Calibration: every checkable published figure is predicted within its
// tolerance (10 %); rows for algorithms weft does not have are not predicted.
// The table printed here is the one in docs/calibration.md.
#include <weft/tune/calibration.hpp>

#include <catch2/catch.hpp>

#include <cstdio>

using namespace weft;

TEST_CASE("published measurements are predicted within tolerance", "[sim][calibration]") {
  std::string const data = sim::default_data_dir();
  std::vector<tune::calibration_row> rows;
  std::string why;
  INFO(why);
  REQUIRE(tune::load_calibration_rows(data + "/calibration-published.json", rows, &why));
  int checked = 0, unavailable = 0;
  for (auto const& row : rows) {
    tune::calibration_result const r = tune::run_calibration_row(row, data);
    std::printf("%-17s %-14s n=%-3d %12zu B  measured %g..%g  predicted %s%.1f  residual %+.1f%%  %s\n", row.id.c_str(),
                row.topology.c_str(), row.nranks, row.bytes, row.lo, row.hi, r.predicted ? "" : "(none) ", r.value,
                100 * r.residual, row.checked ? (r.pass ? "PASS" : "FAIL") : ("unavailable: needs " + row.needs).c_str());
    INFO(row.id << ": " << r.error);
    if (row.checked) {
      ++checked;
      REQUIRE(r.predicted);
      REQUIRE(std::fabs(r.residual) <= row.tolerance);
    } else {
      ++unavailable;
      REQUIRE_FALSE(row.needs.empty());
      REQUIRE_FALSE(r.pass);
    }
  }
  REQUIRE(checked >= 14); // every row of the file is checked today
  REQUIRE(checked + unavailable == int(rows.size()));
}

TEST_CASE("a broken calibration file is refused", "[sim][calibration]") {
  std::vector<tune::calibration_row> rows;
  std::string why;
  REQUIRE_FALSE(tune::load_calibration_rows("/nonexistent/calibration.json", rows, &why));
  REQUIRE(why.find("cannot open") != std::string::npos);
}
