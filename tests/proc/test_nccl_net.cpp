// The NCCL network leg on device buffers: one rank per visible GPU (ranks are
// threads, each on its own device), every collective checked against values
// computed here; refusals before anything moves. Needs a CUDA device (skips
// with a message otherwise); with one GPU the job has one rank.
#include <catch2/catch.hpp>
#include <weft/bootstrap/bootstrap.hpp>
#include <weft/team/cpu_team.hpp>
#include <weft/transport/nccl_net.hpp>

#include <cuda_runtime_api.h>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using weft::status;

namespace {

float in_f(int r, std::size_t i) { return float((r + 1) * int(i % 7 + 1)); }

template <class T>
struct device_buffer {
  T* p = nullptr;
  explicit device_buffer(std::size_t n) { cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T) + 16); }
  ~device_buffer() { cudaFree(p); }
  void put(std::vector<T> const& v) { cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> get(std::size_t n) const {
    std::vector<T> v(n);
    cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }
};

} // namespace

TEST_CASE("nccl_net: collectives on device buffers, one rank per GPU", "[proc][nccl]") {
  int ndev = 0;
  REQUIRE(cudaGetDeviceCount(&ndev) == cudaSuccess);
  int const n = ndev < 4 ? ndev : 4;
  weft::cpu_team team(n);
  std::mutex m;
  std::vector<std::string> failures;
  status s = team.run([&](weft::team_rank& tr) -> status {
    int const r = tr.rank();
    auto fail = [&](std::string const& what) {
      std::lock_guard<std::mutex> l(m);
      failures.push_back("rank " + std::to_string(r) + ": " + what);
      return status::internal_error;
    };
    weft::team_bootstrap boot(tr);
    std::unique_ptr<weft::nccl_net> net;
    std::string why;
    weft::nccl_net_options o;
    o.timeout_ns = 30'000'000'000ull;
    if (status e = weft::nccl_net::create(boot, r, o, net, &why); e != status::success) return fail(why);
    if (net->rank() != r || net->size() != n) return fail("rank or size");
    std::size_t const count = 100003;
    device_buffer<float> a(count * std::size_t(n)), b(count * std::size_t(n));
    std::vector<float> host(count);
    for (std::size_t i = 0; i < count; ++i) host[i] = in_f(r, i);
    a.put(host);
    if (net->all_reduce(a.p, b.p, count, weft::op::sum<float>{}) != status::success) return fail(net->last_error());
    auto got = b.get(count);
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += in_f(q, i);
      if (got[i] != want) return fail("all_reduce value at " + std::to_string(i));
    }
    if (net->all_gather(a.p, b.p, count) != status::success) return fail(net->last_error());
    got = b.get(count * std::size_t(n));
    for (int q = 0; q < n; ++q)
      for (std::size_t i = 0; i < count; i += 97)
        if (got[std::size_t(q) * count + i] != in_f(q, i)) return fail("all_gather value");
    std::vector<float> big(count * std::size_t(n));
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = in_f(r, i);
    a.put(big);
    if (net->reduce_scatter(a.p, b.p, count, weft::op::sum<float>{}) != status::success) return fail(net->last_error());
    got = b.get(count);
    for (std::size_t i = 0; i < count; i += 89) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += in_f(q, std::size_t(r) * count + i);
      if (got[i] != want) return fail("reduce_scatter value");
    }
    // Refused before anything moves; the net stays usable.
    if (net->all_reduce(a.p, b.p, 4, weft::op::premul_sum<float>{}) != status::unsupported)
      return fail("premul_sum not refused");
    if (net->all_reduce(static_cast<float const*>(nullptr), b.p, 4, weft::op::sum<float>{}) != status::invalid_argument)
      return fail("null buffer not refused");
    if (net->send(a.p, 16, r) != status::invalid_argument) return fail("send to self not refused");
    if (!net->healthy()) return fail("net broken by refusals");
    if (net->all_reduce(a.p, a.p, count, weft::op::max<float>{}) != status::success) return fail(net->last_error());
    return status::success;
  });
  for (auto const& f : failures) FAIL_CHECK(f);
  CHECK(s == status::success);

  // A net over no communicator refuses every call instead of touching NCCL.
  weft::nccl_net none(nullptr, nullptr);
  float x = 0;
  CHECK(!none.healthy());
  CHECK(none.all_reduce(&x, &x, 1, weft::op::sum<float>{}) == status::aborted);
  CHECK(none.last_error().find("all_reduce") != std::string::npos);
}
