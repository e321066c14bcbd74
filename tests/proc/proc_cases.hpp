// The collective checks every process-rank test runs: each collective on each
// protocol and channel count over a shm_comm, results checked element by element
// against values computed here (inputs differ by rank and index, never zero).
#pragma once

#include <weft/team/two_level_comm.hpp>
#include <weft/team/shm_comm.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace proc_test {

// Input element i of rank r: small integers, so float sums are exact.
inline float in_f(int r, std::size_t i) { return float((r + 1) * int(i % 13 + 1)); }
inline std::int32_t in_i(int r, std::size_t i) { return std::int32_t(r * 1000003 + int(i % 100003) * 7 + 1); }

struct checker {
  std::string why;
  bool fail(std::string const& what) {
    if (why.empty()) why = what;
    return false;
  }
};

inline std::string tag(char const* coll, weft::coll_options const& o, std::size_t count) {
  return std::string(coll) + " proto=" + to_string(o.proto) + " algo=" + to_string(o.algo) +
         " ch=" + std::to_string(o.nchannels) + " count=" + std::to_string(count);
}

// One round of every collective with options `o` and `count` elements; false with `c.why` on the first mismatch.
inline bool run_round(weft::shm_comm& comm, weft::proc_rank& me, weft::coll_options o, std::size_t count, checker& c) {
  int const n = comm.size(), r = me.rank();
  auto st_fail = [&](char const* coll, weft::status s) {
    return c.fail(tag(coll, o, count) + ": " + to_string(s) + ": " + comm.last_error());
  };
  // all-reduce (float sum)
  {
    std::vector<float> send(count), recv(count, -1.f);
    for (std::size_t i = 0; i < count; ++i) send[i] = in_f(r, i);
    if (auto s = weft::all_reduce(comm, me, send.data(), recv.data(), count, weft::op::sum<float>{}, o);
        s != weft::status::success)
      return st_fail("all_reduce", s);
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += in_f(q, i);
      if (recv[i] != want)
        return c.fail(tag("all_reduce", o, count) + ": element " + std::to_string(i) + " is " +
                      std::to_string(recv[i]) + ", want " + std::to_string(want));
    }
  }
  bool const hier = o.algo == weft::algorithm::hierarchical;
  if (o.algo != weft::algorithm::ring && !hier) return true; // all-reduce only
  // all-reduce (int32 max)
  {
    std::vector<std::int32_t> send(count), recv(count, -1);
    for (std::size_t i = 0; i < count; ++i) send[i] = in_i(r, i);
    if (auto s = weft::all_reduce(comm, me, send.data(), recv.data(), count, weft::op::max<std::int32_t>{}, o);
        s != weft::status::success)
      return st_fail("all_reduce max", s);
    for (std::size_t i = 0; i < count; ++i)
      if (recv[i] != in_i(n - 1, i)) return c.fail(tag("all_reduce max", o, count) + ": element " + std::to_string(i));
  }
  // all-gather
  {
    std::vector<std::int32_t> send(count), recv(count * std::size_t(n), -1);
    for (std::size_t i = 0; i < count; ++i) send[i] = in_i(r, i);
    if (auto s = weft::all_gather(comm, me, send.data(), recv.data(), count, o); s != weft::status::success)
      return st_fail("all_gather", s);
    for (int q = 0; q < n; ++q)
      for (std::size_t i = 0; i < count; ++i)
        if (recv[std::size_t(q) * count + i] != in_i(q, i))
          return c.fail(tag("all_gather", o, count) + ": block " + std::to_string(q) + " element " + std::to_string(i));
  }
  // reduce-scatter
  {
    std::vector<float> send(count * std::size_t(n)), recv(count, -1.f);
    for (std::size_t i = 0; i < send.size(); ++i) send[i] = in_f(r, i);
    if (auto s = weft::reduce_scatter(comm, me, send.data(), recv.data(), count, weft::op::sum<float>{}, o);
        s != weft::status::success)
      return st_fail("reduce_scatter", s);
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += in_f(q, std::size_t(r) * count + i);
      if (recv[i] != want) return c.fail(tag("reduce_scatter", o, count) + ": element " + std::to_string(i));
    }
  }
  if (hier) return true; // broadcast and reduce: ring (chain) only
  // broadcast from the last rank
  {
    int const root = n - 1;
    std::vector<std::int32_t> send(count), recv(count, -1);
    for (std::size_t i = 0; i < count; ++i) send[i] = in_i(r, i);
    if (auto s = weft::broadcast(comm, me, send.data(), recv.data(), count, root, o); s != weft::status::success)
      return st_fail("broadcast", s);
    for (std::size_t i = 0; i < count; ++i)
      if (recv[i] != in_i(root, i)) return c.fail(tag("broadcast", o, count) + ": element " + std::to_string(i));
  }
  // reduce to rank 1 (or 0)
  {
    int const root = 1 % n;
    std::vector<float> send(count), recv(count, -1.f);
    for (std::size_t i = 0; i < count; ++i) send[i] = in_f(r, i);
    if (auto s = weft::reduce(comm, me, send.data(), recv.data(), count, root, weft::op::sum<float>{}, o);
        s != weft::status::success)
      return st_fail("reduce", s);
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += in_f(q, i);
      if (r == root && recv[i] != want) return c.fail(tag("reduce", o, count) + ": element " + std::to_string(i));
      if (r != root && recv[i] != -1.f) return c.fail(tag("reduce", o, count) + ": non-root buffer written");
    }
  }
  return true;
}

// The whole matrix: every protocol, 1 and 2 channels, counts that fit one step and
// counts that wrap the slots many times; the recursive all-reduces on Simple.
inline bool run_matrix(weft::shm_comm& comm, weft::proc_rank& me, checker& c) {
  std::size_t const counts[] = {1, 1000, 40000};
  for (int pi = 0; pi < weft::protocol_count; ++pi)
    for (int ch = 1; ch <= 2 && ch <= comm.config().conn.max_channels; ++ch)
      for (std::size_t count : counts) {
        weft::coll_options o;
        o.proto = weft::protocol(pi);
        o.nchannels = ch;
        if (!run_round(comm, me, o, count, c)) return false;
      }
  for (auto a : {weft::algorithm::recursive_doubling, weft::algorithm::rabenseifner, weft::algorithm::tree,
                 weft::algorithm::hierarchical, weft::algorithm::rank_order}) {
    weft::coll_options o;
    o.algo = a;
    for (std::size_t count : counts)
      if (!run_round(comm, me, o, count, c)) return false;
  }
  // The deterministic mode: the same bits on every rank, whatever the protocol.
  {
    std::size_t const count = 3001;
    std::vector<float> send(count), first(count), again(count);
    for (std::size_t i = 0; i < count; ++i) send[i] = 1.0f / float(me.rank() + 3) + float(i % 5) * 1e-3f;
    weft::coll_options o;
    o.deterministic = true;
    if (weft::all_reduce(comm, me, send.data(), first.data(), count, weft::op::sum<float>{}, o) !=
        weft::status::success)
      return c.fail("deterministic all_reduce: " + comm.last_error());
    o.proto = weft::protocol::ll;
    o.nchannels = 2;
    if (weft::all_reduce(comm, me, send.data(), again.data(), count, weft::op::sum<float>{}, o) !=
        weft::status::success)
      return c.fail("deterministic all_reduce (ll): " + comm.last_error());
    std::vector<float> all(count * std::size_t(comm.size()));
    if (me.all_gather(first.data(), count * sizeof(float), all.data()) != weft::status::success)
      return c.fail("bootstrap all_gather");
    for (std::size_t i = 0; i < count; ++i) {
      if (std::memcmp(&first[i], &again[i], sizeof(float)) != 0) return c.fail("deterministic: protocols differ");
      for (int q = 0; q < comm.size(); ++q)
        if (std::memcmp(&first[i], &all[std::size_t(q) * count + i], sizeof(float)) != 0)
          return c.fail("deterministic: ranks differ");
    }
  }
  return true;
}

// A communicator configuration small enough for many processes on a small /dev/shm.
inline weft::shm_comm_config small_config() {
  weft::shm_comm_config cfg;
  cfg.conn.max_channels = 2;
  cfg.conn.nslots = 4;
  cfg.conn.simple_slot_bytes = 16 << 10;
  cfg.conn.ll_slot_bytes = 4 << 10;
  cfg.conn.ll128_slot_bytes = 8 << 10;
  cfg.timeout_ns = 20'000'000'000ull;
  return cfg;
}

} // namespace proc_test

namespace proc_test {

// Hierarchical collectives over any net: checked against values computed here.
// `world_rank` must equal h.rank() (the layout the split promised).
template <class Hier>
bool run_two_level_checks(Hier& h, int world_rank) {
  int const n = h.size(), g = h.rank();
  auto say = [&](std::string const& what) {
    std::fprintf(stderr, "rank %d: FAILED: %s: %s\n", g, what.c_str(), h.last_error().c_str());
    return false;
  };
  if (g != world_rank) return say("global rank " + std::to_string(g) + " is not the world rank");
  for (int pi = 0; pi < 2; ++pi) { // Simple and LL inside the node
    weft::coll_options o;
    o.proto = weft::protocol(pi);
    for (std::size_t count : {std::size_t(1), std::size_t(1001), std::size_t(40000)}) {
      std::string const t = std::string(" proto=") + to_string(o.proto) + " count=" + std::to_string(count);
      {
        std::vector<float> send(count), recv(count, -1.f);
        for (std::size_t i = 0; i < count; ++i) send[i] = in_f(g, i);
        if (weft::two_level_all_reduce(h, send.data(), recv.data(), count, weft::op::sum<float>{}, o) !=
            weft::status::success)
          return say("two_level_all_reduce" + t);
        for (std::size_t i = 0; i < count; ++i) {
          float want = 0;
          for (int q = 0; q < n; ++q) want += in_f(q, i);
          if (recv[i] != want) return say("two_level_all_reduce value" + t + " at " + std::to_string(i));
        }
        // in place, int32 max
        std::vector<std::int32_t> v(count);
        for (std::size_t i = 0; i < count; ++i) v[i] = in_i(g, i);
        if (weft::two_level_all_reduce(h, v.data(), v.data(), count, weft::op::max<std::int32_t>{}, o) !=
            weft::status::success)
          return say("two_level_all_reduce max" + t);
        for (std::size_t i = 0; i < count; ++i)
          if (v[i] != in_i(n - 1, i)) return say("two_level_all_reduce max value" + t);
      }
      {
        std::vector<std::int32_t> send(count), recv(count * std::size_t(n), -1);
        for (std::size_t i = 0; i < count; ++i) send[i] = in_i(g, i);
        if (weft::two_level_all_gather(h, send.data(), recv.data(), count, o) != weft::status::success)
          return say("two_level_all_gather" + t);
        for (int q = 0; q < n; ++q)
          for (std::size_t i = 0; i < count; ++i)
            if (recv[std::size_t(q) * count + i] != in_i(q, i)) return say("two_level_all_gather value" + t);
      }
      {
        std::vector<float> send(count * std::size_t(n)), recv(count, -1.f);
        for (std::size_t i = 0; i < send.size(); ++i) send[i] = in_f(g, i);
        if (weft::two_level_reduce_scatter(h, send.data(), recv.data(), count, weft::op::sum<float>{}, o) !=
            weft::status::success)
          return say("two_level_reduce_scatter" + t);
        for (std::size_t i = 0; i < count; ++i) {
          float want = 0;
          for (int q = 0; q < n; ++q) want += in_f(q, std::size_t(g) * count + i);
          if (recv[i] != want) return say("two_level_reduce_scatter value" + t);
        }
      }
    }
  }
  // Point-to-point over the network leg: node 0 and node 1 of each rail swap a message.
  if (h.nodes() >= 2 && h.node() < 2) {
    auto& net = h.outer();
    int const peer = 1 - h.node();
    std::vector<std::int32_t> mine(257), theirs(257, -1);
    for (std::size_t i = 0; i < mine.size(); ++i) mine[i] = in_i(g, i);
    bool const first = h.node() == 0;
    weft::status a = first ? net.send(mine.data(), mine.size() * 4, peer) : net.recv(theirs.data(), theirs.size() * 4, peer);
    weft::status b = first ? net.recv(theirs.data(), theirs.size() * 4, peer) : net.send(mine.data(), mine.size() * 4, peer);
    if (a != weft::status::success || b != weft::status::success) return say("net send/recv");
    int const pg = peer * h.local_size() + h.local_rank();
    for (std::size_t i = 0; i < theirs.size(); ++i)
      if (theirs[i] != in_i(pg, i)) return say("net send/recv value");
    if (net.send(mine.data(), 4, h.node()) != weft::status::invalid_argument) return say("send to self not refused");
  }
  // An operator the network leg cannot run is refused before anything moves.
  std::vector<float> a(16, 1.f), b(16, -1.f);
  if (weft::two_level_all_reduce(h, a.data(), b.data(), 16, weft::op::avg<float>{}) != weft::status::unsupported ||
      b[0] != -1.f || !h.inner().healthy())
    return say("avg was not refused cleanly");
  if (weft::two_level_all_reduce(h, static_cast<float const*>(nullptr), b.data(), 16, weft::op::sum<float>{}) !=
      weft::status::invalid_argument)
    return say("null buffer was not refused");
  std::printf("rank %d of %d (node %d, local %d): hierarchical collectives passed\n", g, n, h.node(), h.local_rank());
  return true;
}

} // namespace proc_test
