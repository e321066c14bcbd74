#pragma once
// weft-bench's MPI backend: one rank per process under mpirun.
//
//   mpirun -np 4 weft-bench --backend mpi -b 8 -e 16M -f 4
//
// Every process runs the driver with the same flags; MPI only starts the ranks
// and carries the setup and the results (weft::mpi_bootstrap, bounded waits).
// The collectives are weft's process communicator, weft::shm_comm: the same
// prims and algorithms as the CPU team's, over POSIX shared memory between the
// processes of this host; so are the barriers of the timed loop (a one-element
// all-reduce). Every process times its own rank; after each measurement every
// rank learns every rank's time, #wrong and failure, and rank 0 prints.
//
// Implemented in bench_mpi_backend.cpp, which CMake compiles into weft-bench
// (with WEFT_BENCH_HAVE_MPI=1) only where it finds MPI; this header needs no MPI.
#include "bench_args.hpp"
#include "bench_backend.hpp"

#include <memory>
#include <string>

namespace weft_bench {

#if WEFT_BENCH_HAVE_MPI
//! Initialises MPI (unless the program did), checks that the world is
//! `o.nranks` processes on one host, allocates this rank's buffers and builds
//! the communicator; every rank gets the same outcome. On failure returns null
//! with `why` (the same text on every rank), after finalising MPI. The
//! backend finalises MPI when it is destroyed.
std::unique_ptr<backend> make_mpi_backend(options const& o, std::string& why);

#if WEFT_BENCH_HAVE_CUDA
//! --backend cuda under mpirun: initialises MPI (unless the program did) and
//! hands an MPI bootstrap to the CUDA backend (make_comm_process_backend): one
//! weft::comm rank per process, one GPU each. MPI is finalised when the backend
//! goes (or at once on failure, with `why`, the same text on every rank).
std::unique_ptr<backend> make_mpi_cuda_backend(options const& o, std::string& why);
#endif
#endif

} // namespace weft_bench
