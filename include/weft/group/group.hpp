#pragma once
//! \file
//! The execution-group contract and the host group.
//!
//! A group is a set of threads that execute a piece of an algorithm together.
//! Every weft component takes a group instead of reading `threadIdx`; a group
//! offers exactly four methods (the same subset of Cooperative Groups that
//! NCCL 2.28's `ncclCoop*` types offer, so those satisfy it too):
//!
//!   int  thread_rank() const;   // 0 .. size()-1, this thread's index in the group
//!   int  size() const;          // number of threads in the group
//!   int  num_threads() const;   // same as size()
//!   void sync();                // barrier + memory ordering among the group's threads
//!
//! weft's prims also need a vote, `bool sync_any(G&, bool)`: a barrier that
//! returns whether any thread passed true. It is a free function, defined
//! for every weft group, so that a group satisfying only the four methods can
//! be given one.
//!
//! GPU groups live in `weft/group/cuda_groups.cuh`; the host group is below.

#include <weft/core/config.hpp>
#include <cuda/std/type_traits>
#include <cuda/std/utility>

namespace weft {

//! One host thread: the group a CPU-team rank runs its part of an algorithm with.
struct host_group {
  WEFT_HOST_DEVICE constexpr int thread_rank() const noexcept { return 0; }
  WEFT_HOST_DEVICE constexpr int size() const noexcept { return 1; }
  WEFT_HOST_DEVICE constexpr int num_threads() const noexcept { return 1; }
  WEFT_HOST_DEVICE void sync() noexcept {}
};

//! Synchronise the group and return whether `pred` held in any of its threads
//! (how a group agrees on a failure seen by one thread). One host thread: `pred`.
WEFT_HOST_DEVICE bool sync_any(host_group&, bool pred) noexcept { return pred; }

namespace detail {
template <class G, class = void>
struct is_group_impl : cuda::std::false_type {};
template <class G>
struct is_group_impl<G, cuda::std::void_t<decltype(int(cuda::std::declval<G const&>().thread_rank())),
                                          decltype(int(cuda::std::declval<G const&>().size())),
                                          decltype(int(cuda::std::declval<G const&>().num_threads())),
                                          decltype(cuda::std::declval<G&>().sync())>> : cuda::std::true_type {};
} // namespace detail

//! True when `G` satisfies the four-method group contract.
template <class G>
inline constexpr bool is_group_v = detail::is_group_impl<G>::value;

static_assert(is_group_v<host_group>);

} // namespace weft
