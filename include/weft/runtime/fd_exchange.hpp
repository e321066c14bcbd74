#pragma once
//! \file
//! Passing file descriptors between the processes of a communicator (Linux):
//! how CUDA VMM allocations exported as POSIX file descriptors reach their
//! peers. A descriptor is a per-process number, so it cannot travel through
//! the bootstrap's all-gather; it travels over a Unix-domain socket as
//! `SCM_RIGHTS` ancillary data, and the receiver gets its own descriptor for
//! the same open file.
//!
//! `exchange_fds` is collective over a `comm_bootstrap`: each rank listens on
//! an abstract socket named after a nonce from rank 0 and its rank, sends its
//! descriptor to every peer, then accepts one connection from each. Every
//! socket operation is non-blocking and bounded by the timeout; every rank
//! learns whether all ranks succeeded (one all-gather of statuses at the end).

#include <weft/runtime/bootstrap.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace weft {

namespace detail {

//! The abstract-namespace address "\0weft-fd-<nonce>-<rank>".
inline socklen_t fd_socket_address(std::uint64_t nonce, int rank, sockaddr_un& a) {
  std::memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  int const n = std::snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "weft-fd-%016llx-%d",
                              static_cast<unsigned long long>(nonce), rank);
  return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + std::size_t(n));
}

struct fd_closer {
  int fd = -1;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

inline int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : int(left.count() > 1000000 ? 1000000 : left.count());
}

//! Connect to rank `peer`'s listener and send (`my_rank`, `fd`).
inline status send_fd(std::uint64_t nonce, int peer, int my_rank, int fd, std::chrono::steady_clock::time_point deadline) {
  sockaddr_un a;
  socklen_t const len = fd_socket_address(nonce, peer, a);
  for (;;) {
    fd_closer s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) return status::system_error;
    if (::connect(s.fd, reinterpret_cast<sockaddr const*>(&a), len) != 0) {
      if ((errno == EAGAIN || errno == ECONNREFUSED || errno == EINTR) && remaining_ms(deadline) > 0) {
        ::usleep(1000); // the listener's backlog is full or not there yet: retry until the deadline
        continue;
      }
      return remaining_ms(deadline) > 0 ? status::system_error : status::timeout;
    }
    std::int32_t payload = my_rank;
    iovec io{&payload, sizeof payload};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
    std::memset(ctrl, 0, sizeof ctrl);
    msghdr m{};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = ctrl;
    m.msg_controllen = sizeof ctrl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do n = ::sendmsg(s.fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == ssize_t(sizeof payload) ? status::success : status::system_error;
  }
}

//! Accept `expected` connections on `listener`; each carries (rank, fd).
inline status receive_fds(int listener, int expected, int nranks, std::vector<int>& by_rank,
                          std::chrono::steady_clock::time_point deadline) {
  for (int got = 0; got < expected;) {
    pollfd p{listener, POLLIN, 0};
    int const ms = remaining_ms(deadline);
    int const pr = ::poll(&p, 1, ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return status::timeout;
    if (pr < 0) return status::system_error;
    fd_closer s{::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)};
    if (s.fd < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return status::system_error;
    }
    // The sender wrote its message before we accepted; wait for it within the bound.
    pollfd q{s.fd, POLLIN, 0};
    if (::poll(&q, 1, remaining_ms(deadline)) <= 0) return status::timeout;
    std::int32_t rank = -1;
    iovec io{&rank, sizeof rank};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = ctrl;
    m.msg_controllen = sizeof ctrl;
    ssize_t const n = ::recvmsg(s.fd, &m, MSG_CMSG_CLOEXEC);
    cmsghdr* c = n == ssize_t(sizeof rank) ? CMSG_FIRSTHDR(&m) : nullptr;
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return status::peer_failure;
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (rank < 0 || rank >= nranks || by_rank[std::size_t(rank)] >= 0) {
      ::close(fd);
      return status::peer_failure; // a stranger, or a rank that sent twice
    }
    by_rank[std::size_t(rank)] = fd;
    ++got;
  }
  return status::success;
}

} // namespace detail

//! Collective: give `fd` to every peer; `out[r]` receives rank r's descriptor as
//! a new descriptor of this process (`out[rank] = -1`). On failure every
//! received descriptor is closed, `out` is all -1, and every rank returns the
//! first failure in rank order. The caller closes the descriptors it receives.
inline status exchange_fds(comm_bootstrap& b, int fd, std::vector<int>& out,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  if (check_bootstrap(b) != status::success) return status::invalid_argument;
  int const n = b.size(), me = b.rank();
  out.assign(std::size_t(n), -1);
  auto const deadline = std::chrono::steady_clock::now() + timeout;
  // Rank 0's nonce names this exchange's sockets.
  std::uint64_t mine = std::random_device{}() ^ (std::uint64_t(::getpid()) << 32) ^
                       std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  std::vector<std::uint64_t> nonces(static_cast<std::size_t>(n));
  if (status s = b.all_gather(&mine, sizeof mine, nonces.data()); s != status::success) return s;
  std::uint64_t const nonce = nonces[0];
  // Listen, and learn that everyone listens (or that someone could not).
  detail::fd_closer l{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  status st = fd < 0 ? status::invalid_argument : l.fd < 0 ? status::system_error : status::success;
  if (st == status::success) {
    sockaddr_un a;
    socklen_t const len = detail::fd_socket_address(nonce, me, a);
    if (::bind(l.fd, reinterpret_cast<sockaddr const*>(&a), len) != 0 || ::listen(l.fd, SOMAXCONN) != 0)
      st = status::system_error;
  }
  std::vector<int> all(static_cast<std::size_t>(n));
  auto agree = [&](status local) -> status {
    int v = int(local);
    if (status s = b.all_gather(&v, sizeof v, all.data()); s != status::success) return s;
    for (int x : all)
      if (x != int(status::success)) return status(x);
    return status::success;
  };
  if (status s = agree(st); s != status::success) return s;
  for (int p = 0; p < n && st == status::success; ++p)
    if (p != me) st = detail::send_fd(nonce, p, me, fd, deadline);
  if (st == status::success) st = detail::receive_fds(l.fd, n - 1, n, out, deadline);
  st = agree(st);
  if (st != status::success)
    for (int& x : out)
      if (x >= 0) ::close(x), x = -1;
  return st;
}

} // namespace weft
