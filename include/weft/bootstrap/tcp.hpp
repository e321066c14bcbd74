#pragma once
//! \file
//! The TCP unique-id bootstrap.
//!
//! A root (`tcp_root`, one thread in any process: the launcher, or rank 0) listens
//! on one port. Its *unique id* (`tcp_unique_id`, 128 bytes, or 256 hex digits
//! for a command line or an environment variable) carries the root's address,
//! its port and a random 32-byte secret. Every rank connects with that id
//! (`tcp_bootstrap::connect`) and introduces itself with a hello that carries the
//! secret; the root refuses (closes) any connection whose hello is malformed,
//! truncated, late, or carries another secret, and goes on serving the job.
//!
//! ```
//!   rank r --- hello(rank, size, secret) ---> root      (once)
//!   rank r --- gather(seq, my bytes)     ---> root      (each all_gather / barrier)
//!   rank r <-- result(seq, all bytes)    --- root      (when every rank's part is in)
//!   rank r <-- error(status, text)       --- root      (a rank was lost, sizes disagree, ...)
//!   rank r --- bye                       ---> root      (on destruction)
//! ```
//! Messages are bounded (`max_message_bytes` per rank and call), every socket
//! wait has a deadline, and the root tells every rank when another is lost.
//!
//! With torchrun-style variables (`tcp_bootstrap::from_env`): MASTER_ADDR,
//! MASTER_PORT (or WEFT_BOOTSTRAP_PORT), RANK, WORLD_SIZE, LOCAL_RANK, and the
//! secret in WEFT_BOOTSTRAP_SECRET (64 hex digits); rank 0 runs the root.

#include <weft/bootstrap/bootstrap.hpp>
#include <weft/bootstrap/wire.hpp>
#include <weft/core/clock.hpp>
#include <weft/core/status.hpp>
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace weft {

//! Address, port and secret of a TCP bootstrap root: what every rank needs to join.
struct tcp_unique_id {
  static constexpr int bytes = int(wire::unique_id_bytes);
  unsigned char data[bytes] = {};
};

//! Options of a `tcp_root`.
struct tcp_root_options {
  int nranks = 1;
  std::string bind_address = "127.0.0.1"; //!< numeric address or host name to listen on
  std::uint16_t port = 0;                 //!< 0: any free port
  cuda::std::uint64_t join_timeout_ns = 60'000'000'000ull;   //!< every rank must have joined by then
  cuda::std::uint64_t hello_timeout_ns = 2'000'000'000ull;   //!< a connection must introduce itself by then
  cuda::std::uint64_t send_timeout_ns = 30'000'000'000ull;   //!< bound of each reply the root writes
  cuda::std::uint64_t max_message_bytes = 1ull << 20;        //!< per rank and all_gather
  int max_pending = 64;                                      //!< connections not yet introduced
};

//! Options of a `tcp_bootstrap` member.
struct tcp_options {
  cuda::std::uint64_t timeout_ns = 60'000'000'000ull; //!< connect, and each all_gather / barrier
  cuda::std::uint64_t max_message_bytes = 1ull << 20; //!< must match the root's
};

namespace detail {

inline int set_nonblocking(int fd) noexcept {
  int const fl = ::fcntl(fd, F_GETFL, 0);
  return fl < 0 ? -1 : ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

inline int poll_ms_until(cuda::std::uint64_t deadline, int cap_ms) noexcept {
  cuda::std::uint64_t const t = now_ns();
  if (t >= deadline) return 0;
  cuda::std::uint64_t const ms = (deadline - t + 999'999ull) / 1'000'000ull;
  return ms > cuda::std::uint64_t(cap_ms) ? cap_ms : int(ms);
}

//! Write all of `n` bytes to a non-blocking socket before `deadline`.
inline status send_all(int fd, void const* p, cuda::std::size_t n, cuda::std::uint64_t deadline) noexcept {
  auto const* b = static_cast<unsigned char const*>(p);
  while (n > 0) {
    ssize_t const w = ::send(fd, b, n, MSG_NOSIGNAL);
    if (w > 0) {
      b += w;
      n -= cuda::std::size_t(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (now_ns() >= deadline) return status::timeout;
      pollfd pf{fd, POLLOUT, 0};
      ::poll(&pf, 1, poll_ms_until(deadline, 100));
      continue;
    }
    return status::peer_failure;
  }
  return status::success;
}

//! Read exactly `n` bytes from a non-blocking socket before `deadline`.
inline status recv_all(int fd, void* p, cuda::std::size_t n, cuda::std::uint64_t deadline) noexcept {
  auto* b = static_cast<unsigned char*>(p);
  while (n > 0) {
    ssize_t const r = ::recv(fd, b, n, 0);
    if (r > 0) {
      b += r;
      n -= cuda::std::size_t(r);
      continue;
    }
    if (r == 0) return status::peer_failure;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (now_ns() >= deadline) return status::timeout;
      pollfd pf{fd, POLLIN, 0};
      ::poll(&pf, 1, poll_ms_until(deadline, 100));
      continue;
    }
    return status::peer_failure;
  }
  return status::success;
}

inline status send_frame(int fd, wire::frame_kind k, cuda::std::uint64_t seq, void const* payload,
                         cuda::std::size_t n, cuda::std::uint64_t deadline) noexcept {
  unsigned char h[wire::frame_header_bytes];
  wire::encode_frame_header({k, seq, n}, h);
  if (status s = send_all(fd, h, sizeof h, deadline); s != status::success) return s;
  return n > 0 ? send_all(fd, payload, n, deadline) : status::success;
}

inline bool random_bytes(unsigned char* p, cuda::std::size_t n) noexcept {
  while (n > 0) {
    ssize_t const r = ::getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= cuda::std::size_t(r);
  }
  return true;
}

//! Resolve `host` (numeric or a name) to a TCP address with `port`.
inline bool resolve(std::string const& host, std::uint16_t port, sockaddr_storage& out, socklen_t& len) noexcept {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return false;
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  ::freeaddrinfo(res);
  if (out.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(out).sin_port = htons(port);
  else if (out.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6&>(out).sin6_port = htons(port);
  else return false;
  return true;
}

inline void encode_unique_id(sockaddr_storage const& a, unsigned char const* secret, tcp_unique_id& id) noexcept {
  wire::id_fields f;
  if (a.ss_family == AF_INET) {
    auto const& in = reinterpret_cast<sockaddr_in const&>(a);
    f.family = 4;
    f.port = ntohs(in.sin_port);
    std::memcpy(f.addr, &in.sin_addr, 4);
  } else {
    auto const& in6 = reinterpret_cast<sockaddr_in6 const&>(a);
    f.family = 6;
    f.port = ntohs(in6.sin6_port);
    std::memcpy(f.addr, &in6.sin6_addr, 16);
  }
  std::memcpy(f.secret, secret, bootstrap_secret_bytes);
  wire::encode_id(f, id.data);
}

} // namespace detail

//! Read a unique id back into an address and a secret; false when it is not one.
inline bool decode_unique_id(tcp_unique_id const& id, sockaddr_storage& addr, socklen_t& len,
                             unsigned char* secret) noexcept {
  wire::id_fields f;
  if (wire::parse_id(id.data, tcp_unique_id::bytes, f) != wire::parse::ok) return false;
  std::memset(&addr, 0, sizeof addr);
  if (f.family == 4) {
    auto& in = reinterpret_cast<sockaddr_in&>(addr);
    in.sin_family = AF_INET;
    in.sin_port = htons(f.port);
    std::memcpy(&in.sin_addr, f.addr, 4);
    len = sizeof(sockaddr_in);
  } else {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(addr);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(f.port);
    std::memcpy(&in6.sin6_addr, f.addr, 16);
    len = sizeof(sockaddr_in6);
  }
  if (secret) std::memcpy(secret, f.secret, bootstrap_secret_bytes);
  return true;
}

//! 256 hex digits.
inline std::string to_string(tcp_unique_id const& id) {
  std::string s(2 * tcp_unique_id::bytes, '0');
  wire::to_hex(id.data, tcp_unique_id::bytes, &s[0]);
  return s;
}

//! Parse `to_string`'s text; `invalid_argument` for anything else.
inline status parse_unique_id(std::string const& text, tcp_unique_id& id) noexcept {
  tcp_unique_id t;
  if (!wire::from_hex(text.c_str(), text.size(), t.data, tcp_unique_id::bytes)) return status::invalid_argument;
  sockaddr_storage a;
  socklen_t l;
  if (!decode_unique_id(t, a, l, nullptr)) return status::invalid_argument;
  id = t;
  return status::success;
}

//! The rendezvous server: one thread that admits members and serves their all-gathers.
class tcp_root {
public:
  //! Listen, make the unique id, and start serving. `secret` (32 bytes) may be given; else it is random.
  [[nodiscard]] static status start(tcp_root_options const& o, tcp_unique_id& id, std::unique_ptr<tcp_root>& out,
                                    unsigned char const* secret = nullptr) {
    if (o.nranks < 1 || o.nranks > wire::max_world || o.max_pending < 1) return status::invalid_argument;
    std::unique_ptr<tcp_root> r(new tcp_root(o));
    if (secret) std::memcpy(r->secret_, secret, bootstrap_secret_bytes);
    else if (!detail::random_bytes(r->secret_, bootstrap_secret_bytes)) return status::system_error;
    sockaddr_storage a{};
    socklen_t al = 0;
    if (!detail::resolve(o.bind_address, o.port, a, al)) return status::invalid_argument;
    r->listen_ = ::socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (r->listen_ < 0) return status::system_error;
    int one = 1;
    ::setsockopt(r->listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(r->listen_, reinterpret_cast<sockaddr*>(&a), al) != 0 || ::listen(r->listen_, 128) != 0)
      return status::system_error;
    al = sizeof a;
    if (::getsockname(r->listen_, reinterpret_cast<sockaddr*>(&a), &al) != 0) return status::system_error;
    if (::pipe2(r->wake_, O_CLOEXEC | O_NONBLOCK) != 0) return status::system_error;
    detail::encode_unique_id(a, r->secret_, id);
    try {
      r->thread_ = std::thread([p = r.get()] { p->serve(); });
    } catch (...) {
      return status::system_error;
    }
    out = std::move(r);
    return status::success;
  }

  tcp_root(tcp_root const&) = delete;
  tcp_root& operator=(tcp_root const&) = delete;
  ~tcp_root() {
    stop();
    if (thread_.joinable()) thread_.join();
    for (int fd : {listen_, wake_[0], wake_[1]})
      if (fd >= 0) ::close(fd);
  }

  //! Ask the server to end now (members still waiting get an error frame).
  void stop() noexcept {
    stop_.store(true, std::memory_order_release);
    if (wake_[1] >= 0) {
      char c = 1;
      [[maybe_unused]] ssize_t w = ::write(wake_[1], &c, 1);
    }
  }
  //! Wait until the job ended (every member said bye, or a failure) or `timeout_ns` passed.
  bool wait_done(cuda::std::uint64_t timeout_ns) const noexcept {
    cuda::std::uint64_t const end = now_ns() + timeout_ns;
    while (!done_.load(std::memory_order_acquire)) {
      if (now_ns() >= end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }
  //! success once every member said bye; otherwise why the job failed (valid after `wait_done`).
  status result() const noexcept { return status(result_.load(std::memory_order_acquire)); }
  //! Connections refused so far (wrong secret, malformed, truncated, late, duplicate rank, over the limit).
  int refused() const noexcept { return refused_.load(std::memory_order_acquire); }
  //! One line per refused connection or failure, oldest first.
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> l(log_mutex_);
    return log_;
  }

private:
  explicit tcp_root(tcp_root_options const& o) : o_(o), members_(std::size_t(o.nranks)) {}

  struct pending {
    int fd;
    cuda::std::uint64_t deadline;
    cuda::std::size_t have = 0;
    unsigned char buf[wire::hello_bytes] = {};
  };
  struct member {
    int fd = -1;
    bool bye = false;
    bool sent = false; // this round's part is in
    std::unique_ptr<wire::frame_reader> rd;
    std::vector<unsigned char> part;
  };

  void note(std::string s) {
    std::lock_guard<std::mutex> l(log_mutex_);
    if (log_.size() < 1000) log_.push_back(std::move(s));
  }
  void refuse(pending& p, char const* why) {
    ::close(p.fd);
    p.fd = -1;
    refused_.fetch_add(1, std::memory_order_acq_rel);
    note(std::string("refused a connection: ") + why);
  }

  // Tell every member still connected why the job stops, and stop.
  void fail_all(status s, std::string const& why) {
    note("job failed: " + why);
    std::vector<unsigned char> payload(4 + why.size());
    wire::put_u32(payload.data(), cuda::std::uint32_t(s));
    std::memcpy(payload.data() + 4, why.data(), why.size());
    cuda::std::uint64_t const deadline = now_ns() + 1'000'000'000ull;
    for (member& m : members_)
      if (m.fd >= 0 && !m.bye)
        (void)detail::send_frame(m.fd, wire::frame_kind::error, seq_, payload.data(), payload.size(), deadline);
    result_.store(int(s), std::memory_order_release);
    finished_ = true;
  }

  void on_frame(int r) {
    member& m = members_[std::size_t(r)];
    wire::frame_header const h = m.rd->header();
    if (h.kind == wire::frame_kind::bye) {
      m.bye = true;
      if (got_ > 0 && !m.sent) fail_all(status::peer_failure, "rank " + std::to_string(r) + " left during an all_gather");
      return;
    }
    if (h.kind != wire::frame_kind::gather || h.seq != seq_ || m.sent)
      return fail_all(status::internal_error, "rank " + std::to_string(r) + " sent an unexpected frame");
    for (member const& o : members_)
      if (o.bye)
        return fail_all(status::peer_failure, "a rank left before an all_gather of rank " + std::to_string(r));
    if (got_ > 0 && h.length != len_)
      return fail_all(status::invalid_argument, "ranks passed different sizes to all_gather");
    len_ = h.length;
    m.part.swap(m.rd->payload());
    m.sent = true;
    if (++got_ < o_.nranks) return;
    std::vector<unsigned char> all;
    try {
      all.resize(std::size_t(len_) * std::size_t(o_.nranks));
    } catch (...) {
      return fail_all(status::out_of_memory, "root could not hold an all_gather result");
    }
    for (int i = 0; i < o_.nranks; ++i)
      if (len_ > 0) std::memcpy(all.data() + std::size_t(i) * std::size_t(len_), members_[std::size_t(i)].part.data(), std::size_t(len_));
    cuda::std::uint64_t const deadline = now_ns() + o_.send_timeout_ns;
    for (int i = 0; i < o_.nranks; ++i) {
      member& x = members_[std::size_t(i)];
      if (detail::send_frame(x.fd, wire::frame_kind::result, seq_, all.data(), all.size(), deadline) != status::success)
        return fail_all(status::peer_failure, "rank " + std::to_string(i) + " did not take its all_gather result");
      x.sent = false;
      x.part.clear();
    }
    got_ = 0;
    ++seq_;
  }

  void serve() {
    std::vector<pending> pend;
    int joined = 0;
    cuda::std::uint64_t const join_deadline = now_ns() + o_.join_timeout_ns;
    std::vector<unsigned char> rbuf(64 << 10);
    std::vector<pollfd> pfds;
    while (!finished_) {
      if (stop_.load(std::memory_order_acquire)) {
        if (!done_members()) fail_all(status::aborted, "the root was stopped");
        break;
      }
      pfds.clear();
      pfds.push_back({wake_[0], POLLIN, 0});
      pfds.push_back({listen_, POLLIN, 0});
      for (pending const& p : pend) pfds.push_back({p.fd, POLLIN, 0});
      for (member const& m : members_) pfds.push_back({m.fd >= 0 && !m.bye ? m.fd : -1, POLLIN, 0});
      int const rc = ::poll(pfds.data(), nfds_t(pfds.size()), 50);
      if (rc < 0 && errno != EINTR) {
        fail_all(status::system_error, "poll failed");
        break;
      }
      cuda::std::uint64_t const t = now_ns();
      if (pfds[0].revents) {
        char c[16];
        while (::read(wake_[0], c, sizeof c) > 0) {
        }
      }
      if (pfds[1].revents & POLLIN) {
        for (;;) {
          int const fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          if (int(pend.size()) >= o_.max_pending) {
            pending p{fd, 0};
            refuse(p, "too many connections waiting to introduce themselves");
            continue;
          }
          pend.push_back(pending{fd, t + o_.hello_timeout_ns});
        }
      }
      // Pending connections: read the hello, admit or refuse. (Indices of pfds: 2.. for pend.)
      for (std::size_t i = 0; i < pend.size(); ++i) {
        pending& p = pend[i];
        if (pfds[2 + i].revents) {
          ssize_t const n = ::recv(p.fd, p.buf + p.have, wire::hello_bytes - p.have, 0);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            refuse(p, "closed before a whole hello (truncated)");
            continue;
          }
          if (n > 0) p.have += cuda::std::size_t(n);
          wire::hello h;
          wire::parse r = wire::parse_hello(p.buf, p.have, h);
          if (r == wire::parse::ok) r = wire::admit_hello(h, secret_, o_.nranks);
          if (r == wire::parse::need_more) continue;
          if (r != wire::parse::ok) {
            refuse(p, wire::to_string(r));
            continue;
          }
          member& m = members_[std::size_t(h.rank)];
          if (m.fd >= 0) {
            refuse(p, "rank already joined");
            continue;
          }
          m.fd = p.fd;
          m.rd = std::make_unique<wire::frame_reader>(o_.max_message_bytes);
          p.fd = -1;
          ++joined;
        } else if (t >= p.deadline) {
          refuse(p, "no hello in time");
        }
      }
      std::size_t const member_base = 2 + pend.size();
      pend.erase(std::remove_if(pend.begin(), pend.end(), [](pending const& p) { return p.fd < 0; }), pend.end());
      for (int r = 0; r < o_.nranks && !finished_; ++r) {
        member& m = members_[std::size_t(r)];
        if (m.fd < 0 || m.bye || !pfds[member_base + std::size_t(r)].revents) continue;
        ssize_t const n = ::recv(m.fd, rbuf.data(), rbuf.size(), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          fail_all(status::peer_failure, "rank " + std::to_string(r) + " disconnected without a bye");
          break;
        }
        cuda::std::size_t off = 0;
        while (n > 0 && off < cuda::std::size_t(n) && !finished_) {
          off += m.rd->feed(rbuf.data() + off, cuda::std::size_t(n) - off);
          if (m.rd->failed()) {
            fail_all(status::peer_failure,
                     "rank " + std::to_string(r) + " sent a bad frame (" + wire::to_string(m.rd->error()) + ")");
            break;
          }
          if (m.rd->complete()) {
            on_frame(r);
            if (m.rd) m.rd->next();
          }
        }
      }
      if (finished_) break;
      if (joined < o_.nranks && t >= join_deadline) {
        fail_all(status::timeout, "only " + std::to_string(joined) + " of " + std::to_string(o_.nranks) +
                                      " ranks joined in time");
        break;
      }
      if (joined == o_.nranks && done_members()) {
        result_.store(int(status::success), std::memory_order_release);
        break;
      }
    }
    for (pending& p : pend)
      if (p.fd >= 0) ::close(p.fd);
    close_members();
    done_.store(true, std::memory_order_release);
  }

  // Close gracefully: closing a socket with unread bytes sends a reset, and a reset
  // can make the peer drop the error frame it has not read yet. So stop writing,
  // read until each member hangs up (they do once they read the error), bounded.
  void close_members() noexcept {
    cuda::std::uint64_t const deadline = now_ns() + 1'000'000'000ull;
    for (member& m : members_)
      if (m.fd >= 0) ::shutdown(m.fd, SHUT_WR);
    char sink[4096];
    for (member& m : members_) {
      while (m.fd >= 0) {
        ssize_t const r = ::recv(m.fd, sink, sizeof sink, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
        if (r < 0) {
          if (now_ns() >= deadline) break;
          pollfd pf{m.fd, POLLIN, 0};
          ::poll(&pf, 1, detail::poll_ms_until(deadline, 100));
        }
      }
      if (m.fd >= 0) ::close(m.fd), m.fd = -1;
    }
  }

  bool done_members() const noexcept {
    for (member const& m : members_)
      if (m.fd < 0 || !m.bye) return false;
    return true;
  }

  tcp_root_options o_;
  unsigned char secret_[bootstrap_secret_bytes] = {};
  int listen_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::vector<member> members_;
  cuda::std::uint64_t seq_ = 0, len_ = 0;
  int got_ = 0;
  bool finished_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> result_{int(status::success)};
  std::atomic<int> refused_{0};
  mutable std::mutex log_mutex_;
  std::vector<std::string> log_;
};

//! Variables a torchrun-style launcher sets.
struct torchrun_env {
  std::string master_addr;
  std::uint16_t master_port = 0;
  int rank = -1, world_size = 0, local_rank = -1;
  bool has_secret = false;
  unsigned char secret[bootstrap_secret_bytes] = {};
};

//! Read MASTER_ADDR, MASTER_PORT (or WEFT_BOOTSTRAP_PORT, which wins when set),
//! RANK, WORLD_SIZE, LOCAL_RANK (optional) and WEFT_BOOTSTRAP_SECRET (optional,
//! 64 hex digits). `why` names a missing or bad one.
inline status read_torchrun_env(torchrun_env& e, std::string* why = nullptr) {
  auto get_int = [&](char const* name, long lo, long hi, long& v, bool required) -> bool {
    char const* s = std::getenv(name);
    if (!s || !*s) {
      if (required && why) *why = std::string(name) + " is not set";
      return !required;
    }
    char* end = nullptr;
    errno = 0;
    v = std::strtol(s, &end, 10);
    if (errno != 0 || *end != 0 || v < lo || v > hi) {
      if (why) *why = std::string(name) + " is not an integer in range";
      return false;
    }
    return true;
  };
  long port = 0, rank = 0, size = 0, local = -1;
  char const* addr = std::getenv("MASTER_ADDR");
  if (!addr || !*addr) {
    if (why) *why = "MASTER_ADDR is not set";
    return status::invalid_argument;
  }
  // torchrun's own store may hold MASTER_PORT already: WEFT_BOOTSTRAP_PORT, when set, takes its place.
  bool const own_port = std::getenv("WEFT_BOOTSTRAP_PORT") && *std::getenv("WEFT_BOOTSTRAP_PORT");
  if (!get_int(own_port ? "WEFT_BOOTSTRAP_PORT" : "MASTER_PORT", 1, 65535, port, true) || !get_int("WORLD_SIZE", 1, wire::max_world, size, true) ||
      !get_int("RANK", 0, size - 1, rank, true) || !get_int("LOCAL_RANK", 0, wire::max_world, local, false))
    return status::invalid_argument;
  e.master_addr = addr;
  e.master_port = std::uint16_t(port);
  e.rank = int(rank);
  e.world_size = int(size);
  e.local_rank = int(local);
  e.has_secret = false;
  if (char const* sec = std::getenv("WEFT_BOOTSTRAP_SECRET")) {
    if (!wire::from_hex(sec, std::strlen(sec), e.secret, bootstrap_secret_bytes)) {
      if (why) *why = "WEFT_BOOTSTRAP_SECRET is not 64 hex digits";
      return status::invalid_argument;
    }
    e.has_secret = true;
  }
  return status::success;
}

//! One member of a TCP-bootstrapped job.
class tcp_bootstrap final : public bootstrap {
public:
  //! Join the job of `id` as `rank` of `size` (retries while the root is not up yet, until the timeout).
  [[nodiscard]] static status connect(tcp_unique_id const& id, int rank, int size, tcp_options const& o,
                                      std::unique_ptr<tcp_bootstrap>& out) {
    if (size < 1 || size > wire::max_world || rank < 0 || rank >= size) return status::invalid_argument;
    sockaddr_storage a;
    socklen_t al;
    wire::hello h;
    if (!decode_unique_id(id, a, al, h.secret)) return status::invalid_argument;
    h.rank = rank;
    h.size = size;
    std::unique_ptr<tcp_bootstrap> b(new tcp_bootstrap(rank, size, o));
    cuda::std::uint64_t const deadline = now_ns() + o.timeout_ns;
    for (;;) {
      int const fd = ::socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) return status::system_error;
      int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), al);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd pf{fd, POLLOUT, 0};
        rc = ::poll(&pf, 1, detail::poll_ms_until(deadline, 1000)) == 1 ? 0 : -1;
        int err = 0;
        socklen_t el = sizeof err;
        if (rc == 0 && (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)) rc = -1;
      }
      if (rc == 0) {
        b->fd_ = fd;
        break;
      }
      ::close(fd);
      if (now_ns() >= deadline) return b->fail(status::timeout, "could not reach the bootstrap root");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    int one = 1;
    ::setsockopt(b->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char msg[wire::hello_bytes];
    wire::encode_hello(h, msg);
    if (status s = detail::send_all(b->fd_, msg, sizeof msg, deadline); s != status::success)
      return b->fail(s, "could not send the hello");
    out = std::move(b);
    return status::success;
  }

  //! Join with torchrun-style variables; rank 0 also runs the root on MASTER_ADDR:MASTER_PORT.
  //! Without WEFT_BOOTSTRAP_SECRET the call is refused unless `allow_without_secret`
  //! (then the secret is all zeros and only the address guards the job).
  [[nodiscard]] static status from_env(tcp_options const& o, std::unique_ptr<tcp_bootstrap>& out,
                                       int* local_rank = nullptr, bool allow_without_secret = false,
                                       std::string* why = nullptr) {
    torchrun_env e;
    if (status s = read_torchrun_env(e, why); s != status::success) return s;
    if (!e.has_secret && !allow_without_secret) {
      if (why) *why = "WEFT_BOOTSTRAP_SECRET is not set";
      return status::invalid_argument;
    }
    tcp_unique_id id;
    std::unique_ptr<tcp_root> root;
    if (e.rank == 0) {
      tcp_root_options ro;
      ro.nranks = e.world_size;
      ro.bind_address = e.master_addr;
      ro.port = e.master_port;
      ro.join_timeout_ns = o.timeout_ns;
      ro.max_message_bytes = o.max_message_bytes;
      if (status s = tcp_root::start(ro, id, root, e.secret); s != status::success) {
        if (why) *why = "could not listen on MASTER_ADDR:MASTER_PORT";
        return s;
      }
    } else {
      sockaddr_storage a;
      socklen_t al;
      if (!detail::resolve(e.master_addr, e.master_port, a, al)) {
        if (why) *why = "MASTER_ADDR does not resolve";
        return status::invalid_argument;
      }
      detail::encode_unique_id(a, e.secret, id);
    }
    if (status s = connect(id, e.rank, e.world_size, o, out); s != status::success) return s;
    out->root_ = std::move(root);
    if (local_rank) *local_rank = e.local_rank;
    return status::success;
  }

  ~tcp_bootstrap() override {
    if (fd_ >= 0) {
      if (!failed_) (void)detail::send_frame(fd_, wire::frame_kind::bye, seq_, nullptr, 0, now_ns() + 1'000'000'000ull);
      if (root_) root_->wait_done(o_.timeout_ns); // rank 0 of from_env: serve the others until they leave
      ::close(fd_);
    }
  }

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }

  status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept override {
    if (bytes > 0 && (mine == nullptr || out == nullptr)) return fail(status::invalid_argument, "null buffer");
    if (bytes > o_.max_message_bytes) return fail(status::invalid_argument, "message larger than max_message_bytes");
    if (failed_ || fd_ < 0) return fail(status::aborted, "the bootstrap failed earlier");
    cuda::std::uint64_t const deadline = now_ns() + o_.timeout_ns;
    if (status s = detail::send_frame(fd_, wire::frame_kind::gather, seq_, mine, bytes, deadline);
        s != status::success)
      return broken(s, "could not send to the root");
    unsigned char hb[wire::frame_header_bytes];
    if (status s = detail::recv_all(fd_, hb, sizeof hb, deadline); s != status::success)
      return broken(s, s == status::timeout ? "no all_gather result in time" : "the root closed the connection");
    wire::frame_header h;
    cuda::std::uint64_t const total = cuda::std::uint64_t(bytes) * cuda::std::uint64_t(size_);
    wire::parse const r = wire::parse_frame_header(hb, sizeof hb, total > 4096 ? total : 4096, h);
    if (r != wire::parse::ok) return broken(status::internal_error, "malformed frame from the root");
    if (h.kind == wire::frame_kind::error) {
      std::string text(std::size_t(h.length), '\0');
      if (h.length > 0 && detail::recv_all(fd_, &text[0], text.size(), deadline) != status::success)
        return broken(status::peer_failure, "the root failed the job");
      status s = status::peer_failure;
      if (text.size() >= 4) {
        cuda::std::uint32_t const code = wire::get_u32(reinterpret_cast<unsigned char const*>(text.data()));
        if (code > 0 && code <= cuda::std::uint32_t(status::system_error)) s = status(code);
        text.erase(0, 4);
      }
      return broken(s, text.c_str());
    }
    if (h.kind != wire::frame_kind::result || h.seq != seq_ || h.length != total)
      return broken(status::internal_error, "unexpected frame from the root");
    if (total > 0 && detail::recv_all(fd_, out, std::size_t(total), deadline) != status::success)
      return broken(status::peer_failure, "the root closed the connection mid-result");
    ++seq_;
    return status::success;
  }

  status barrier() noexcept override {
    unsigned char one = 1;
    try {
      std::vector<unsigned char> all(static_cast<std::size_t>(size_));
      return all_gather(&one, 1, all.data());
    } catch (...) {
      return fail(status::out_of_memory, "barrier buffer");
    }
  }

  std::string last_error() const override { return err_.empty() ? "no error" : err_; }

private:
  tcp_bootstrap(int rank, int size, tcp_options const& o) : rank_(rank), size_(size), o_(o) {}
  status fail(status s, char const* why) noexcept {
    try {
      err_ = std::string("tcp bootstrap (rank ") + std::to_string(rank_) + "): " + why;
    } catch (...) {
    }
    return s;
  }
  status broken(status s, char const* why) noexcept {
    failed_ = true;
    if (fd_ >= 0) ::close(fd_); // the root reads until members hang up
    fd_ = -1;
    return fail(s, why);
  }

  int rank_, size_;
  tcp_options o_;
  int fd_ = -1;
  cuda::std::uint64_t seq_ = 0;
  bool failed_ = false;
  std::string err_;
  std::unique_ptr<tcp_root> root_;
};

} // namespace weft
