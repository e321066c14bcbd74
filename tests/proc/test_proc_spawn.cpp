// Ranks as processes started by this test (posix_spawn of proc_worker):
//  - the TCP unique-id bootstrap with four processes, the root in this process,
//    strangers knocking while the job runs;
//  - the torchrun variables with four processes, rank 0 running the root;
//  - a process killed mid-collective: every survivor returns within the timeout
//    and names the collective, the lost rank and the step; nothing is left in /dev/shm.
#include <catch2/catch.hpp>
#include <weft/bootstrap/tcp.hpp>
#include <weft/bootstrap/wire.hpp>
#include <weft/transport/shm_segment.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

using weft::status;

namespace {

bool contains(std::string const& s, std::string const& part) { return s.find(part) != std::string::npos; }

struct child {
  pid_t pid = -1;
  std::string out; // file holding its stdout
  int code = -1;   // exit code, or 128 + signal
};

// A scratch directory for the children's output.
std::string scratch_dir() {
  char tmpl[] = "/tmp/weft-proc-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  return d ? d : "/tmp";
}

child spawn_worker(std::vector<std::string> const& args, std::vector<std::string> const& env_extra,
                   std::string const& out_path) {
  child c;
  c.out = out_path;
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (auto const& e : env_extra) env_store.push_back(e);
  std::vector<char*> envp, argv;
  for (auto& e : env_store) envp.push_back(&e[0]);
  envp.push_back(nullptr);
  std::string prog = WEFT_PROC_WORKER;
  argv.push_back(&prog[0]);
  std::vector<std::string> a = args;
  for (auto& s : a) argv.push_back(&s[0]);
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (::posix_spawn(&c.pid, prog.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) c.pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return c;
}

// Wait for every child, killing all after `limit`; fills each exit code.
bool wait_all(std::vector<child>& cs, std::chrono::seconds limit) {
  auto const end = std::chrono::steady_clock::now() + limit;
  bool in_time = true;
  for (;;) {
    bool running = false;
    for (auto& c : cs) {
      if (c.pid <= 0 || c.code >= 0) continue;
      int st = 0;
      pid_t const r = ::waitpid(c.pid, &st, WNOHANG);
      if (r == c.pid) c.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      else running = true;
    }
    if (!running) return in_time;
    if (std::chrono::steady_clock::now() > end) {
      in_time = false;
      for (auto& c : cs)
        if (c.pid > 0 && c.code < 0) ::kill(c.pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string slurp(std::string const& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Weft segments in /dev/shm created by any of these processes.
std::vector<std::string> segments_of(std::vector<child> const& cs) {
  std::vector<std::string> found;
  for (auto const& n : weft::shm_list())
    for (auto const& c : cs)
      if (weft::shm_creator_pid(n) == long(c.pid)) found.push_back(n);
  return found;
}

// `n` workers joining the TCP job of `id` with `scenario`; their output in `dir`.
std::vector<child> spawn_tcp_job(weft::tcp_unique_id const& id, int n, std::string const& scenario,
                                 std::string const& dir, std::vector<std::string> const& extra = {}) {
  std::vector<child> cs;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> env = {"WEFT_TEST_ID=" + weft::to_string(id), "WEFT_TEST_RANK=" + std::to_string(r),
                                    "WEFT_TEST_SIZE=" + std::to_string(n)};
    env.insert(env.end(), extra.begin(), extra.end());
    cs.push_back(spawn_worker({"tcp", scenario}, env, dir + "/" + scenario + std::to_string(r) + ".out"));
  }
  return cs;
}

int free_port() {
  int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  int const port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

} // namespace

TEST_CASE("TCP unique id: four processes run the collectives; strangers do not disturb them", "[proc][tcp]") {
  int const n = 4;
  // example-begin tcp-root
  weft::tcp_root_options ro;
  ro.nranks = n;
  ro.hello_timeout_ns = 500'000'000ull;
  std::unique_ptr<weft::tcp_root> root;
  weft::tcp_unique_id id;
  REQUIRE(weft::tcp_root::start(ro, id, root) == status::success);
  // example-end tcp-root
  std::string const dir = scratch_dir();
  std::vector<child> cs = spawn_tcp_job(id, n, "quick", dir);
  // Strangers: one with a forged secret for rank 0's slot, one that sends half a hello.
  sockaddr_storage a{};
  socklen_t al = 0;
  REQUIRE(weft::decode_unique_id(id, a, al, nullptr));
  for (int k = 0; k < 2; ++k) {
    int const fd = ::socket(a.ss_family, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), al) == 0) {
      weft::wire::hello h;
      h.rank = 0;
      h.size = n;
      unsigned char m[weft::wire::hello_bytes];
      weft::wire::encode_hello(h, m);
      ::send(fd, m, k == 0 ? sizeof m : 20, MSG_NOSIGNAL);
    }
    ::close(fd);
  }
  bool const in_time = wait_all(cs, std::chrono::seconds(90));
  CHECK(in_time);
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << " output:\n" << slurp(cs[r].out));
    CHECK(cs[r].code == 0);
  }
  CHECK(root->wait_done(5'000'000'000ull));
  CHECK(root->result() == status::success);
  CHECK(root->refused() == 2);
  CHECK(segments_of(cs).empty());
}

TEST_CASE("torchrun variables: four processes, rank 0 serves the root", "[proc][tcp]") {
  int const n = 4;
  std::string const dir = scratch_dir();
  std::string const port = std::to_string(free_port());
  std::vector<child> cs;
  for (int r = 0; r < n; ++r)
    cs.push_back(spawn_worker({"env", "quick"},
                              {"MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port, "RANK=" + std::to_string(r),
                               "WORLD_SIZE=" + std::to_string(n), "LOCAL_RANK=" + std::to_string(r),
                               "WEFT_BOOTSTRAP_SECRET=" + std::string(64, '5')},
                              dir + "/env" + std::to_string(r) + ".out"));
  CHECK(wait_all(cs, std::chrono::seconds(90)));
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << " output:\n" << slurp(cs[r].out));
    CHECK(cs[r].code == 0);
  }
  CHECK(segments_of(cs).empty());
}

TEST_CASE("a process killed mid-collective: survivors report it within the timeout", "[proc][fault]") {
  int const n = 4;
  int const timeout_ms = 2000;
  for (int victim : {2, 0}) { // 0 is also the segment's creator
    INFO("victim rank " << victim);
    weft::tcp_root_options ro;
    ro.nranks = n;
    std::unique_ptr<weft::tcp_root> root;
    weft::tcp_unique_id id;
    REQUIRE(weft::tcp_root::start(ro, id, root) == status::success);
    std::string const dir = scratch_dir();
    std::vector<child> cs =
        spawn_tcp_job(id, n, "fault", dir, {"WEFT_TEST_TIMEOUT_MS=" + std::to_string(timeout_ms)});
    // Kill the victim once every rank is looping over all-reduces.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool looping = false;
    while (!looping && std::chrono::steady_clock::now() < deadline) {
      looping = true;
      for (auto const& c : cs) looping = looping && contains(slurp(c.out), "LOOPING");
      if (!looping) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(looping);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(cs[std::size_t(victim)].pid, SIGKILL);
    CHECK(wait_all(cs, std::chrono::seconds(30)));
    CHECK(cs[std::size_t(victim)].code == 128 + SIGKILL);
    for (int r = 0; r < n; ++r) {
      if (r == victim) continue;
      std::string const out = slurp(cs[std::size_t(r)].out);
      INFO("rank " << r << " output:\n" << out);
      CHECK(cs[std::size_t(r)].code == 0);
      auto const at = out.find("RESULT ");
      REQUIRE(at != std::string::npos);
      std::string const line = out.substr(at, out.find('\n', at) - at);
      CHECK(!contains(line, "status=success"));
      CHECK(contains(line, "lost=" + std::to_string(victim)));
      CHECK(contains(line, "error=all_reduce: rank " + std::to_string(r)));
      CHECK(contains(line, "step "));
      CHECK(contains(line, "rank " + std::to_string(victim) + " (pid " + std::to_string(cs[std::size_t(victim)].pid) +
                               ") was lost"));
      double const call_ms = std::atof(line.substr(line.find("call_ms=") + 8).c_str());
      CHECK(call_ms < timeout_ms);
    }
    // The root saw the lost connection and told the others; nothing is left in /dev/shm.
    CHECK(root->wait_done(5'000'000'000ull));
    CHECK(root->result() == status::peer_failure);
    CHECK(segments_of(cs).empty());
  }
}
