// Direct and NVLS collectives for every operator over several data types
// (fp64, fp32, fp16, bf16, int64, int32, uint8): all-reduce in each flavour and
// NVLS, reduce-scatter direct and NVLS, at 3 ranks and at 9 (more peers than one
// reduction pass takes, so partial results are folded). Exact checks: floating
// inputs are small integers, integer inputs wrap.
#include "test_direct_cases.hpp"

using namespace direct_test;

namespace {

template <class T, class Op>
void check_all(Op const& op, int n) {
  weft::cpu_window w(n, small_window());
  struct run {
    kind k;
    algo a;
  } const runs[] = {{kind::all_reduce, algo::one_shot},     {kind::all_reduce, algo::two_shot},
                    {kind::all_reduce, algo::ll},           {kind::all_reduce, algo::nvls},
                    {kind::reduce_scatter, algo::direct},   {kind::reduce_scatter, algo::nvls}};
  int i = 0;
  for (auto const& rr : runs) {
    case_spec c;
    c.k = rr.k;
    c.a = rr.a;
    c.nranks = n;
    c.count = 100;
    c.in_place = (i++ + n) % 2 == 1;
    c.nblocks = 2;
    std::string const e = run_case<T>(c, &w, nullptr, op);
    INFO(describe(c));
    REQUIRE(e == "");
  }
}

template <class T>
void check_ops() {
  for (int n : {3, 9}) {
    check_all<T>(weft::op::sum<T>{}, n);
    check_all<T>(weft::op::prod<T>{}, n);
    check_all<T>(weft::op::min<T>{}, n);
    check_all<T>(weft::op::max<T>{}, n);
    weft::op::avg<T> avg;
    avg.nranks = n;
    check_all<T>(avg, n);
    weft::op::premul_sum<T> pm;
    pm.scale = weft::acc_t<T>(2);
    check_all<T>(pm, n);
  }
}

} // namespace

TEMPLATE_TEST_CASE("direct and nvls: every operator", "[direct][types]", double, float, weft::half_t,
                   weft::bfloat16_t, std::int64_t, std::int32_t, std::uint8_t) {
  check_ops<TestType>();
}
