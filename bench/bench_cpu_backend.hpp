#pragma once
// weft-bench's CPU backend: every rank is a thread of this process (weft's CPU
// team), the collectives are weft::cpu_comm's, buffers are host memory. The
// collectives are called through bench_colls.hpp's interface (instantiated in
// bench_colls.cpp, shared with the MPI backend).
#include "bench_backend.hpp"
#include "bench_colls.hpp"
#include "bench_rank.hpp"
#include "bench_report.hpp"

#include <weft/core/status.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_team.hpp>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>
#include <unistd.h>

namespace weft_bench {

class cpu_backend final : public backend {
public:
  cpu_backend(int nranks, weft::cpu_comm_config const& cfg, long timeout_ms, std::size_t max_bytes)
      : n_(nranks), team_(nranks, team_options_for(timeout_ms)), cfg_(cfg), max_bytes_(max_bytes),
        comm_(std::make_unique<weft::cpu_comm>(nranks, cfg_)), model_(cpu_model()), host_(host_name()) {
    for (int r = 0; r < n_; ++r) bufs_.push_back(std::make_unique<rank_buffers>(max_bytes));
  }

  char const* name() const override { return "cpu"; }
  std::string description() const override {
    return std::to_string(n_) + " ranks as threads in one process (weft::cpu_team), host memory";
  }
  int nranks() const override { return n_; }
  std::vector<std::string> rank_lines() const override {
    std::vector<std::string> v;
    char buf[512];
    for (int r = 0; r < n_; ++r) {
      std::snprintf(buf, sizeof buf, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [cpu] host thread, %s", r, 0,
                    int(getpid()), host_.c_str(), r, model_.c_str());
      v.push_back(buf);
    }
    return v;
  }
  std::size_t scratch_bytes() const override { return comm_->scratch_bytes(); }

  std::string ranks_about() const override { return std::to_string(n_) + " threads, weft::cpu_team"; }

  bool supports(coll_spec const& s, std::string& why) const override {
    return host_supports(s, cfg_.max_channels, all_to_all_available, why);
  }

  measurement run(coll_spec const& s, run_settings const& how) override {
    measurement m;
    if (!start_measurement(*this, s, m)) return m;
    if (!comm_->healthy()) comm_ = std::make_unique<weft::cpu_comm>(n_, cfg_); // a failed call broke it
    std::atomic<long long> wrong{0};
    std::vector<weft::status> per_rank;
    weft::status const st = team_.run(
        [&](weft::team_rank& tr) -> weft::status {
          int const r = tr.rank();
          rank_result res;
          bound_rank<weft::cpu_comm, weft::team_rank> b(*comm_, tr);
          weft::status const rs = measure_collective(b, b, s, how, r, n_, *bufs_[std::size_t(r)], max_bytes_,
                                                     [&] { return tr.barrier(); }, res);
          m.rank_seconds[std::size_t(r)] = res.seconds;
          wrong += res.wrong;
          return rs;
        },
        &per_rank);
    if (st != weft::status::success) {
      int const who = first_failed_rank(per_rank);
      m.error = failure_message(s, who, who >= 0 ? per_rank[std::size_t(who)] : st,
                                who >= 0 ? comm_->last_error(who) : std::string(), how.inject_failure);
      return m;
    }
    m.ok = true;
    m.checked = how.check_runs > 0;
    m.wrong = wrong.load();
    return m;
  }

private:
  static weft::team_options team_options_for(long timeout_ms) {
    weft::team_options o;
    o.timeout_ns = std::uint64_t(timeout_ms) * 1000000ull;
    return o;
  }

  int n_;
  weft::cpu_team team_;
  weft::cpu_comm_config cfg_;
  std::size_t max_bytes_;
  std::unique_ptr<weft::cpu_comm> comm_;
  std::string model_, host_;
  std::vector<std::unique_ptr<rank_buffers>> bufs_;
};

} // namespace weft_bench
