#pragma once
//! \file
//! Calibration check: predict each published measurement listed in
//! `data/topologies/calibration-published.json` and report the residual.
//!
//! A row is `checked` (the prediction must fall within `tolerance` of the
//! measurement) or `unavailable`: the measurement is of an algorithm weft does
//! not have yet (NVLS, hierarchical), and no prediction is made for it -- a
//! prediction for an algorithm that does not exist would be invented, not
//! modelled. An unavailable row may name `weft_algo`: what weft's existing
//! algorithm is predicted to do on that system, shown for information only.

#include <weft/sim/data_json.hpp>
#include <weft/sim/topology.hpp>
#include <weft/tune/tuner.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace weft::tune {

//! One published measurement.
struct calibration_row {
  std::string id;
  std::string system;        //!< as the reference names it
  std::string source;        //!< where the figure comes from
  std::string topology;      //!< weft topology spec
  int nranks = 0;
  sim::collective coll = sim::collective::all_reduce;
  std::size_t bytes = 0;     //!< nccl-tests size of the measurement
  std::string metric = "busbw"; //!< "busbw" (GB/s) or "time_us"
  double lo = 0, hi = 0;     //!< measured value, or range [lo, hi]
  double tolerance = 0.10;   //!< allowed relative residual
  bool checked = false;      //!< false: unavailable
  std::string algo;          //!< checked rows: the weft algorithm compared ("" = the tuner's choice)
  std::string weft_algo;     //!< unavailable rows: optional weft algorithm shown for information
  std::string compare;       //!< what is compared with what
  std::string needs;         //!< unavailable rows: the missing algorithm
};

//! A row's outcome.
struct calibration_result {
  calibration_row row;
  bool predicted = false;
  double value = 0;          //!< predicted metric
  double residual = 0;       //!< (predicted - nearest measured) / nearest measured; 0 inside a range
  bool pass = false;
  std::string error;
  prediction chosen;         //!< the candidate the tuner picked
};

//! Read the calibration rows file.
inline bool load_calibration_rows(std::string const& path, std::vector<calibration_row>& out, std::string* why = nullptr) {
  sim::data_json::value v;
  std::string err;
  if (!sim::data_json::parse_file(path, v, &err)) {
    if (why) *why = err;
    return false;
  }
  std::vector<calibration_row> rows;
  sim::data_json::object_reader r(v, "", &err);
  std::string kind;
  r.string("kind", kind, true);
  if (r.ok() && kind != "weft-calibration") r.fail(v, "\"kind\" must be \"weft-calibration\"");
  r.ignore("description");
  r.ignore("sources");
  r.ignore("notes");
  sim::data_json::value const* rs = r.get("rows");
  if (err.empty() && (rs == nullptr || !rs->is(sim::data_json::kind::array))) r.fail(v, "\"rows\" must be an array");
  if (err.empty()) r.finish();
  for (std::size_t i = 0; err.empty() && i < rs->items.size(); ++i) {
    calibration_row c;
    sim::data_json::object_reader rr(rs->items[i], "rows[" + std::to_string(i) + "]", &err);
    std::string coll, status;
    rr.string("id", c.id, true);
    rr.string("system", c.system, true);
    rr.string("source", c.source, true);
    rr.string("topology", c.topology, true);
    rr.integer("ranks", c.nranks, true, 1, sim::max_ranks);
    rr.string("coll", coll, true);
    double bytes = 0;
    rr.number("bytes", bytes, true, 1, 1e15);
    c.bytes = std::size_t(bytes);
    rr.string("metric", c.metric, false);
    rr.number("measured", c.lo, false, 0, 1e12);
    c.hi = c.lo;
    if (sim::data_json::value const* range = rr.get("measured_range")) {
      if (!range->is(sim::data_json::kind::array) || range->items.size() != 2 || !range->items[0].is(sim::data_json::kind::number) ||
          !range->items[1].is(sim::data_json::kind::number))
        rr.fail(*range, rr.member_path("measured_range") + " must be [low, high]");
      else
        c.lo = range->items[0].num, c.hi = range->items[1].num;
    }
    rr.number("tolerance", c.tolerance, false, 0, 1);
    rr.string("status", status, true);
    rr.string("algo", c.algo, false);
    rr.string("weft_algo", c.weft_algo, false);
    rr.string("compare", c.compare, false);
    rr.string("needs", c.needs, false);
    if (!err.empty()) break;
    if (!sim::parse_cli_collective(coll, c.coll)) rr.fail(rs->items[i], "unknown collective \"" + coll + "\"");
    else if (status != "checked" && status != "unavailable")
      rr.fail(rs->items[i], "status must be \"checked\" or \"unavailable\"");
    else if (c.metric != "busbw" && c.metric != "time_us") rr.fail(rs->items[i], "metric must be busbw or time_us");
    else if (!(c.hi > 0) || c.hi < c.lo) rr.fail(rs->items[i], "needs \"measured\" or \"measured_range\"");
    c.checked = status == "checked";
    if (err.empty()) rr.finish();
    rows.push_back(std::move(c));
  }
  if (!err.empty()) {
    if (why) *why = path + ": " + err;
    return false;
  }
  out = std::move(rows);
  return true;
}

//! Predict one row (`data_dir` resolves the topology).
inline calibration_result run_calibration_row(calibration_row const& row, std::string const& data_dir,
                                              tune_options const& o = {}) {
  calibration_result res;
  res.row = row;
  std::string const algo = row.checked ? row.algo : row.weft_algo;
  if (!row.checked && algo.empty()) return res; // nothing to show
  sim::topology t;
  std::string why;
  if (!sim::load_topology(row.topology, t, &why, data_dir)) {
    res.error = why;
    return res;
  }
  request rq;
  rq.coll = row.coll;
  rq.nranks = row.nranks;
  rq.bytes = row.bytes;
  rq.elem_bytes = 4;
  overrides ov;
  ov.algo = algo;
  choice const c = choose(t, rq, ov, o);
  if (!c.ok) {
    res.error = c.error;
    return res;
  }
  res.chosen = c.best;
  res.predicted = true;
  double const busbw = double(row.bytes) / (c.best.time_us * 1e-6) / 1e9 * sim::busbw_factor(row.coll, row.nranks);
  res.value = row.metric == "busbw" ? busbw : c.best.time_us;
  double const ref = res.value < row.lo ? row.lo : res.value > row.hi ? row.hi : res.value;
  res.residual = (res.value - ref) / ref;
  res.pass = row.checked && std::fabs(res.residual) <= row.tolerance + 1e-12;
  return res;
}

} // namespace weft::tune
