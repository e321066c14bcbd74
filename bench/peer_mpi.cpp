// peer-mpi: OpenMPI's collectives measured the way weft-bench measures weft's,
// one rank per process under mpirun:
//   mpirun -np 4 peer-mpi -b 64K -e 16M -f 4 --coll allreduce,allgather,reducescatter
// MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter_block and MPI_Alltoall, with
// the library's own algorithm choice (its "tuned" component picks per size);
// in place with MPI_IN_PLACE. weft-bench --peers mpi runs it and reads its table.
#include "bench_peer.hpp"
#include "bench_rank.hpp"

#include <mpi.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace weft_bench;

MPI_Op mpi_op(weft::redop r) {
  switch (r) {
    case weft::redop::prod: return MPI_PROD;
    case weft::redop::max: return MPI_MAX;
    case weft::redop::min: return MPI_MIN;
    default: return MPI_SUM;
  }
}

char const* mpi_name(coll c) {
  switch (c) {
    case coll::all_gather: return "MPI_Allgather";
    case coll::reduce_scatter: return "MPI_Reduce_scatter_block";
    case coll::all_to_all: return "MPI_Alltoall";
    default: return "MPI_Allreduce";
  }
}

template <class T>
bool measure_typed(peer_call const& pc, int me, int n, rank_buffers& buf, std::size_t max_bytes, measurement& m) {
  MPI_Datatype const dt = sizeof(T) == 8 ? MPI_DOUBLE : MPI_FLOAT;
  coll_spec const& s = pc.spec;
  int const count = int(s.count);
  MPI_Op const op = mpi_op(s.op.op);
  auto call = [&](T const* in, T* out) -> weft::status {
    void const* src = s.in_place ? MPI_IN_PLACE : static_cast<void const*>(in);
    int rc = MPI_SUCCESS;
    switch (s.kind) {
      case coll::all_gather: rc = MPI_Allgather(src, count, dt, out, count, dt, MPI_COMM_WORLD); break;
      case coll::reduce_scatter:
        // In place, MPI reads the whole input from and leaves rank r's block at the start of
        // the receive buffer; bench_rank's in-place layout puts it at recv + r * count.
        if (s.in_place) {
          T* const base = out - std::size_t(me) * s.count;
          rc = MPI_Reduce_scatter_block(MPI_IN_PLACE, base, count, dt, op, MPI_COMM_WORLD);
          if (me != 0) std::copy(base, base + s.count, out); // moving my block, as NCCL's layout wants
        } else {
          rc = MPI_Reduce_scatter_block(in, out, count, dt, op, MPI_COMM_WORLD);
        }
        break;
      case coll::all_to_all: rc = MPI_Alltoall(src, count, dt, out, count, dt, MPI_COMM_WORLD); break;
      default: rc = MPI_Allreduce(src, out, count, dt, op, MPI_COMM_WORLD); break;
    }
    return rc == MPI_SUCCESS ? weft::status::success : weft::status::internal_error;
  };
  auto barrier = [] {
    return MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS ? weft::status::success : weft::status::internal_error;
  };
  rank_result res;
  weft::status const st = measure_rank<T>(s, pc.how, me, n, buf, max_bytes, call, barrier, res);
  int ok = st == weft::status::success, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  m.rank_seconds.assign(std::size_t(n), 0.0);
  MPI_Gather(&res.seconds, 1, MPI_DOUBLE, m.rank_seconds.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  long long wrong = 0;
  MPI_Reduce(&res.wrong, &wrong, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  m.ok = all_ok != 0;
  if (!m.ok) m.error = std::string(mpi_name(s.kind)) + " failed on at least one rank";
  m.checked = pc.how.check_runs > 0;
  m.wrong = wrong;
  return true;
}

int run(int argc, char** argv) {
  int me = 0, n = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  options o;
  std::vector<std::string> algos;
  std::string err = parse_peer_args(argc, argv, o, algos, {"default"});
  if (err.empty() && !o.help) {
    for (coll c : o.colls)
      if (c != coll::all_reduce && c != coll::all_gather && c != coll::reduce_scatter && c != coll::all_to_all)
        err = std::string("peer-mpi measures allreduce, allgather, reducescatter and alltoall, not ") + to_string(c);
    if (o.nranks_given && o.nranks != n)
      err = "--ranks " + std::to_string(o.nranks) + " but mpirun started " + std::to_string(n) + " processes";
  }
  if (o.help || !err.empty()) {
    if (me == 0) {
      if (o.help)
        print_peer_usage(stdout, "peer-mpi", {"default"}, "allreduce,allgather,reducescatter,alltoall");
      else
        std::fprintf(stderr, "peer-mpi: %s\n", err.c_str());
      std::fflush(nullptr);
    }
    // Every rank reached the same verdict; leave together, so that mpirun does not
    // end the job (rank 0 included) before rank 0 has said why.
    MPI_Barrier(MPI_COMM_WORLD);
    return o.help ? 0 : 2;
  }
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, std::size_t(len));
  if (std::size_t const cut = v.find_first_of(",\n"); cut != std::string::npos) v.resize(cut);

  peer_info info{"peer-mpi", "openmpi", v, "processes under mpirun (one rank each)"};
  if (v.find("Open MPI") == std::string::npos) info.library = "mpi";
  std::vector<peer_table> tables;
  for (coll c : o.colls) tables.push_back({c, mpi_name(c)});
  rank_buffers buf(o.max_bytes);
  std::size_t const max_bytes = o.max_bytes;
  return peer_sweep(o, info, n, tables, me == 0, [&](peer_call const& pc, measurement& m) {
    return pc.spec.type == weft::dtype::f64 ? measure_typed<double>(pc, me, n, buf, max_bytes, m)
                                            : measure_typed<float>(pc, me, n, buf, max_bytes, m);
  });
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int const rc = run(argc, argv);
  MPI_Finalize();
  return rc;
}
